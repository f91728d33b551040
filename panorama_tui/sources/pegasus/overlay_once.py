"""What a submit dir adds to its Stampede DB when read once, without reading the DB's rows.

``--once`` of a submit dir is its DB's summary (computed in the DB: stats/sql_once.py) plus
what :class:`.submitdir.SubmitDirSource` reads beside the DB: the jobstate.log overlays (the
lines the DB has not got), DAGMan's logs (its progress tables, start and end) and its own
word on a run monitord stopped short of.  Read once, the source polls those only after the
whole DB is in (``SubmitDirSource._round``), against what the DB holds: ``js_seen``, the
jobstate rows per job instance, and ``wf_seen``, the workflow starts and ends.

:func:`overlay_events` runs the submit dir's own source with a stand-in for its DB reader
that answers those from the DB directly: a job instance's rows are looked up only when the
overlay meets one of its lines (the jobstate.log tail, ~4,000 lines at 100k jobs, read from
where the DB leaves off: :mod:`.jobstate_resume`), instead of 700,000 rows turned into
events.  So the events are those the store path gets, by the same code.

:func:`job_histories` gives the jobs those events change (a DB that lags its jobstate.log)
with their whole history from the DB, read by StampedeDbSource's own code narrowed to them:
the SQL path builds a store of those jobs alone and takes their answers from it.
"""

from __future__ import annotations

import os

from ...core.events import Event
from ...core.sqlite import SQL_ERRORS, connect_ro
from ..base import SourceStatus
from .stampede_db import StampedeDbSource
from .submitdir import SubmitDir, SubmitDirSource

_JS_OF = """SELECT s.jobstate_submit_seq FROM jobstate s
  JOIN job_instance ji ON ji.job_instance_id = s.job_instance_id
  JOIN job j ON j.job_id = ji.job_id
  WHERE j.wf_id = ? AND j.exec_job_id = ? AND ji.job_submit_seq = ?"""


class OverlayUnsupported(Exception):
    """The DB cannot stand in this way (the message says why): read the submit dir whole."""


class _Seen:
    """``StampedeDbSource.js_seen`` for one key at a time: {(wf_uuid, job_id, job_submit_seq):
    bit mask of the instance's jobstate_submit_seq values}, read from the DB when asked."""

    def __init__(self, conn, wf_ids: dict[str, int]):
        self._conn = conn
        self._wf_ids = wf_ids
        self._got: dict[tuple, int] = {}

    def __bool__(self) -> bool:
        return True

    def get(self, key: tuple, default: int = 0) -> int:
        got = self._got.get(key)
        if got is None:
            uuid, job_id, seq = key
            wf_id = self._wf_ids.get(uuid)
            got = 0
            if wf_id is not None:
                for (js,) in self._conn.execute(_JS_OF, (wf_id, job_id, seq)):
                    if type(js) is int and 0 <= js < 4096:  # as StampedeDbSource keeps them
                        got |= 1 << js
            self._got[key] = got
        return got or default


class _WholeDb:
    """Stands in for the submit dir's StampedeDbSource once the DB is read to its end: no
    events of its own (the summary is computed in the DB), what the overlay asks of it
    answered from the DB."""

    def __init__(self, path: str, root_uuid: str | None):
        self.path = path
        self.caught_up = True
        self.in_bulk = False  # read to its end: the overlay waits for nothing
        self.status = SourceStatus(state="following")
        self.warnings: list[str] = []
        try:
            self.conn = connect_ro(path)
            rows = self.conn.execute("SELECT wf_id, wf_uuid, parent_wf_id, submit_dir FROM workflow "
                                     "ORDER BY wf_id").fetchall()
            states = self.conn.execute("SELECT w.wf_uuid, s.restart_count, s.state FROM workflowstate s "
                                       "JOIN workflow w ON w.wf_id = s.wf_id").fetchall()
        except (*SQL_ERRORS, OSError) as exc:
            raise OverlayUnsupported(f"cannot read the DB: {exc}") from None
        roots = [uuid for _, uuid, parent, _ in rows if parent is None]
        if root_uuid is not None and roots != [root_uuid]:
            raise OverlayUnsupported("the DB holds other workflows than the submit dir's tree")
        self.wf_dirs = {uuid: sdir for _, uuid, _, sdir in rows if uuid is not None and sdir}
        self.wf_seen: dict[str, set] = {}
        for uuid, restart, state in states:
            self.wf_seen.setdefault(uuid, set()).add((restart, state == "WORKFLOW_TERMINATED"))
        self.js_seen = _Seen(self.conn, {uuid: wf_id for wf_id, uuid, _, _ in rows if uuid is not None})

    def step(self):
        return []

    def close(self) -> None:
        self.conn.close()


class _Overlay(SubmitDirSource):
    """The submit dir's source with its DB already read: only what it reads beside the DB."""

    def _setup(self) -> str:
        got = super()._setup()
        if self.db is not None:
            self.db.close()
            self.db = _WholeDb(self.sd.db_path, self.sd.root_wf_uuid)  # type: ignore[assignment]
        return got


def overlay_events(sd: SubmitDir) -> tuple[list[Event], str]:
    """(the events the submit dir's source adds to its DB's, read once; its status line).
    Raises OverlayUnsupported when the DB cannot stand in (no DB, another tree in it)."""
    if not sd.db_path or not os.path.isfile(sd.db_path):
        raise OverlayUnsupported("no Stampede DB")
    src = _Overlay(sd, follow=False)
    events: list[Event] = []
    for batch in src.batches():
        if not isinstance(batch, list):
            raise OverlayUnsupported("the DB was replaced while read")
        events.extend(batch)
    if src.status.state == "error":
        raise OverlayUnsupported(src.status.message)
    return events, src.status.message


# The events of jobstate.log's lines: a job instance's states (and what main.end and post.end
# carry).  Any other event of the overlay is the workflow's (DAGMan's table, a stall, a start or
# end: those change its jobs' states too, so the jobs' store gets them as well).
_JOB_EVENT = "stampede.job_inst."
_WF_STATES = ("stampede.xwf.start", "stampede.xwf.end")
_JOB_OF = """SELECT j.job_id FROM job j JOIN workflow w ON w.wf_id = j.wf_id
  WHERE w.wf_uuid = ? AND j.exec_job_id = ?"""


def job_histories(sd: SubmitDir, events: list[Event]) -> tuple[dict, list[Event]]:
    """The jobs the overlay's ``events`` change, for the store's rules to decide them
    (stats/sql_once.py): ({(wf_uuid, job_id): the job's row id in the DB}, the events a store
    of those jobs alone is built from: the DB's workflows and their states, each job's
    history as the DB read gives it (StampedeDbSource._history: the read's own code), then
    the overlay's events of those jobs and its workflows' starts and ends, in their order, as
    the store path applies them after the DB's).  ({}, []) when no event is a job's.  Raises OverlayUnsupported for a job the
    DB has not got (the store path counts it otherwise: no type, not planned)."""
    keys: dict[tuple, int] = {}
    mine: list[Event] = []
    for ev in events:
        if ev.name.startswith(_JOB_EVENT):
            d = ev.data
            keys.setdefault((d.get("xwf_id"), d.get("job_id")), 0)
            mine.append(ev)
        elif ev.name in _WF_STATES:
            mine.append(ev)
    if not keys:
        return {}, []
    src = StampedeDbSource(sd.db_path, follow=False, root_uuid=sd.root_wf_uuid, bulk_min=None)
    out: list[Event] = []
    try:
        conn = connect_ro(sd.db_path)
        try:
            conn.execute("BEGIN")  # one snapshot: the workflows and the jobs' rows
            while src._read_workflows(conn, out) | src._read_wfstates(conn, out):
                pass
            for key in keys:
                if type(key[0]) is not str or type(key[1]) is not str:
                    raise OverlayUnsupported("a job line without a workflow or job id")
                row = conn.execute(_JOB_OF, key).fetchone()
                if row is None:
                    raise OverlayUnsupported(f"job {key[1]} is in jobstate.log, not in the DB")
                keys[key] = row[0]
            out.extend(src._history(conn, sorted(keys.values())))
        finally:
            conn.close()
    except (*SQL_ERRORS, OSError) as exc:
        raise OverlayUnsupported(f"cannot read the DB: {exc}") from None
    if src.warnings:
        raise OverlayUnsupported(src.warnings[0])
    return keys, out + mine


__all__ = ["overlay_events", "job_histories", "OverlayUnsupported"]
