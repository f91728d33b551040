"""A run that stopped without saying so: DAGMan exited and monitord recorded no end, or no event
for far longer than the run's own pace while nothing is queued or running.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from ..core.fmt import human_duration
from ..model.entities import Workflow
from ..model.handlers import parsl
from ..model.states import ACTIVE_STATES as _ACTIVE
from ..model.store import Store
from .progress import dag_scope

_PACE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> {wf_uuid: (version, pace, last)}

# -- stalls -------------------------------------------------------------------------------
# A run is stalled when (a) DAGMan's log says DAGMan exited but monitord recorded
# no end (said by the submit dir's source: Workflow.stalled), or (b) nothing is
# queued or running and no event came for far longer than the run's own pace:
# STALL_FACTOR times the 90th percentile of the gaps between its distinct event
# times, and at least STALL_FLOOR.  Why: with nothing queued, DAGMan submits the
# next ready node within one log scan (DAGMAN_USER_LOG_SCAN_INTERVAL, 5 s in the
# shared runs, whose p90 gap is exactly 5 s), and monitord commits to the DB at
# least every 30 s; 120 s (four commit intervals) is beyond any healthy lag, and
# 10x the run's own pace covers a slow schedd.  A long job is not a stall: it
# is running.
STALL_FACTOR = 10

STALL_FLOOR = 120.0


@dataclass(frozen=True)
class Stall:
    reason: str  # one line
    since: float | None  # the last activity (epoch s): where "elapsed" stops
    kind: str = "stalled"  # or "killed": a Parsl run whose writer's process is gone


def stall(store: Store, wf: Workflow, now: float | None) -> Stall | None:
    """Why the workflow's run has stopped without an end, or None (see above).
    ``now``: the clock (None: only what the sources said)."""
    if wf.stalled is not None:
        return Stall(*wf.stalled)
    run = parsl.run_of(wf)
    if run is not None:
        st = parsl.stall(run, now)
        return None if st is None else Stall(st.reason, st.since, st.kind)
    if now is None or wf.ended:
        return None
    scope = dag_scope(store, wf)
    for w in scope:
        t = w.dagman
        if any(w.counts[s] for s in _ACTIVE) or (t is not None and (t.get("queued") or t.get("pre") or t.get("post"))):
            return None
    pace, last = run_pace(store, wf, scope)
    if last is None or now - last <= max(STALL_FLOOR, STALL_FACTOR * pace):
        return None
    return Stall(f"no event for {human_duration(now - last)}, nothing queued or running (usual gap {pace:g}s)", last)


def quiet_for(store: Store, wf: Workflow, now: float | None) -> float | None:
    """Seconds since the store's last event when that is more than STALL_FLOOR and jobs of the
    workflow's DAGs are queued or running, else None.  Not a stall (a long job is not one), but
    what the header says of a run whose jobs "run" in a DB nothing has written to for days."""
    if now is None or wf.ended or store.latest_ts is None or now - store.latest_ts <= STALL_FLOOR:
        return None
    if parsl.run_of(wf) is not None:
        return None  # a Parsl run's own rule judges its writer (parsl.stall)
    if not any(w.counts[s] for w in dag_scope(store, wf) for s in _ACTIVE):
        return None
    return now - store.latest_ts


def run_pace(store: Store, wf: Workflow, scope: list[Workflow] | None = None) -> tuple[float, float | None]:
    """(the run's pace, its last activity): the 90th percentile of the gaps
    between the distinct event times of the DAGs in scope (the workflow's
    dag_scope by default), and the latest of them.  Computed again only when
    the store has changed."""
    if scope is None:
        scope = dag_scope(store, wf)
    cache = _PACE.setdefault(store, {})
    hit = cache.get(wf.wf_uuid)
    if hit is not None and hit[0] == store.version:
        return hit[1], hit[2]
    times: set[float] = set()
    for w in scope:
        times.update(v for v in (w.start_ts, w.end_ts, (w.dagman or {}).get("ts")) if v is not None)
        for job in w.jobs.values():
            for t in job.tries.values():
                times.update(t.state_times())
    ordered = sorted(times)
    gaps = sorted(b - a for a, b in zip(ordered, ordered[1:]))
    pace = gaps[int(0.9 * (len(gaps) - 1))] if gaps else 0.0
    last = ordered[-1] if ordered else None
    cache[wf.wf_uuid] = (store.version, pace, last)
    return pace, last
