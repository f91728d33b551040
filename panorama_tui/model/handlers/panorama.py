"""Panorama's own events about a run: DAGMan's progress, a stall, a gap in a live stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.events import Event
from ...core.fmt import clock_time, human_duration
from ..coerce import _float, _str
from . import handles, ignores

if TYPE_CHECKING:
    from ..store import Store


@handles('dagman.progress')
def _h_dagman_progress(s: Store, ev: Event, d: dict) -> None:
    """DAGMan's progress table (sources/dagman_out.py): the latest replaces the last."""
    wf = s._wf_of(d)
    if wf is not None:
        wf.dagman = {k: v for k, v in d.items() if k not in ("xwf_id", "provisional")}


@handles('panorama.wf.stalled')
def _h_stalled(s: Store, ev: Event, d: dict) -> None:
    """The run stopped without an end monitord recorded (``reason`` None: it came after all)."""
    wf = s._wf_of(d)
    if wf is None:
        return
    reason = _str(d.get("reason"))
    since = _float(d.get("since"))
    wf.stalled = (reason, since if since is not None else ev.ts) if reason else None


@handles('panorama.gap')
def _h_gap(s: Store, ev: Event, d: dict) -> None:
    """panorama-top's own marker (sources/amqp.py): its link was down, what was published meanwhile is missing."""
    start, end = _float(d.get("start")), _float(d.get("end"))
    span = f"{clock_time(start)} to {clock_time(end)[-8:]} ({human_duration(end - start)})" if start and end else "?"
    s.warn(f"gap {span}: events sent meanwhile are missing ({d.get('reason') or 'the link was down'})"[:200])


ignores('collector.status')
