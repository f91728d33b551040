"""Where a jobstate.log overlay starts reading: where the Stampede DB leaves off.

The overlay (:mod:`.jobstate_log`) only adds what the DB does not have yet,
so reading the whole log (281 MB at 1M jobs) before the first rows is wasted
work when the DB is nearly caught up.  monitord writes the log and the DB
from the same stream of dagman.out lines, in order, and commits the DB in
batches: the DB holds a prefix of that stream.  So every log line older than
the DB's latest jobstate (less a margin) is in the DB already, and the log
is read from the first line at or after that time (found by bisecting the
file's byte offsets, one line read per probe: the lines are time-ordered).

What the skipped lines would have told the overlay comes from the DB
instead: for each job instance met in the tail, how many states it had
before the cut (the highest ``jobstate_submit_seq`` of its rows older than
the cut: the overlay's ``js_id`` numbering goes on from there), its site and
scheduler id; and for the workflow, its DAGMan restarts and whether it
ended.

The whole log is read (``None`` here) when there is no DB or it has no
jobstates for the workflow, when the log holds more than one monitord
session (a restarted monitord numbers states afresh), or when the cut is
at the top anyway.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from ...core.sqlite import connect_ro

# Lines are written in dagman.out's order with its times; the only lines out
# of time order in monitord's logs are its own MONITORD_STARTED line against
# DAGMAN_STARTED, 2 s apart in the shared submit dirs.  10 s earlier is well
# beyond that, and costs only re-reading lines the DB has (the overlay is
# idempotent): on the generated 100k run (320 lines/s) 60 s meant 23,600 lines
# and 0.5 s before the first rows, 10 s about a sixth of it.
MARGIN_SECONDS = 10
# The DB's latest time is the highest of its last rows for the workflow:
# monitord defers a job's main.end row past its POST script's first states,
# so the very last row is not always the latest one.
LAST_ROWS = 1000

# CROSS JOIN keeps SQLite's join order: jobstate read backwards by rowid, stopping after
# LAST_ROWS of the workflow's (1 ms on the generated 100k DB; with JOIN the planner starts
# from the workflow's jobs and sorts all their states: 476 ms).
_LATEST = """SELECT MAX(t) FROM (SELECT js.timestamp AS t FROM jobstate js
  CROSS JOIN job_instance ji ON ji.job_instance_id = js.job_instance_id
  CROSS JOIN job j ON j.job_id = ji.job_id
  WHERE j.wf_id = ? ORDER BY js.rowid DESC LIMIT ?)"""
_BEFORE = """SELECT ji.site, ji.sched_id, (SELECT MAX(js.jobstate_submit_seq) FROM jobstate js
    WHERE js.job_instance_id = ji.job_instance_id AND js.timestamp < ?)
  FROM job_instance ji JOIN job j ON j.job_id = ji.job_id
  WHERE j.wf_id = ? AND j.exec_job_id = ? AND ji.job_submit_seq = ?"""
_RESTARTS = """SELECT MAX(restart_count), SUM(state = 'WORKFLOW_TERMINATED') FROM workflowstate
  WHERE wf_id = ? AND timestamp < ?"""


@dataclass
class ResumePoint:
    """Read the log from ``offset``; ``restart`` and ``finished`` are what the lines above it said."""

    offset: int
    cut: float
    restart: int
    finished: bool
    _conn: sqlite3.Connection | None = field(default=None, repr=False)
    _wf_id: int = 0

    def before(self, job_id: str, seq: int) -> tuple[int, str | None, str | None]:
        """(states of this job instance above the cut, its site, its sched id) as the DB has them."""
        if self._conn is None:
            return 0, None, None
        try:
            row = self._conn.execute(_BEFORE, (self.cut, self._wf_id, job_id, seq)).fetchone()
        except sqlite3.Error:
            return 0, None, None
        if row is None:
            return 0, None, None
        site, sched, js = row
        return int(js or 0), site, None if sched is None else str(sched)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def line_time(line: bytes) -> float | None:
    """The leading epoch seconds of a jobstate.log line (None if it has none)."""
    head = line.split(None, 1)
    if not head:
        return None
    try:
        return float(head[0])
    except ValueError:
        return None


def _line_start(f, pos: int) -> int:
    """The offset of the first line that starts at or after ``pos``."""
    if pos == 0:
        return 0
    f.seek(pos - 1)
    f.readline()
    return f.tell()


def first_line_at(f, size: int, cut: float) -> int:
    """The offset of the first line whose time is >= ``cut`` (``size`` when none),
    bisecting on byte offsets: each probe reads the first whole line after it."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        start = _line_start(f, mid)
        ts = line_time(f.readline()) if start < size else None
        if start >= size or (ts is not None and ts >= cut):
            hi = mid
        else:
            lo = mid + 1
    return _line_start(f, lo)


def _one_session(f, size: int) -> bool:
    """The log holds one monitord session (no MONITORD_STARTED after its first line)."""
    if size == 0:
        return True
    with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as m:
        first = m.find(b"MONITORD_STARTED")
        return first < 0 or m.find(b"MONITORD_STARTED", first + 1) < 0


def resume_point(db_path: str | None, wf_uuid: str, f) -> ResumePoint | None:
    """Where to start reading the open log ``f`` (binary), or None to read it all."""
    if not db_path or not os.path.isfile(db_path):
        return None
    size = os.fstat(f.fileno()).st_size
    try:
        conn = connect_ro(db_path)
    except (sqlite3.Error, OSError):
        return None
    try:
        row = conn.execute("SELECT wf_id FROM workflow WHERE wf_uuid = ?", (wf_uuid,)).fetchone()
        latest = conn.execute(_LATEST, (row[0], LAST_ROWS)).fetchone()[0] if row else None
        if latest is None:
            conn.close()
            return None
        wf_id = row[0]
        cut = float(latest) - MARGIN_SECONDS
        if not _one_session(f, size):
            conn.close()
            return None
        offset = first_line_at(f, size, cut)
        f.seek(0)
        if offset == 0:
            conn.close()
            return None
        restart, ended = conn.execute(_RESTARTS, (wf_id, cut)).fetchone()
    except (sqlite3.Error, OSError, ValueError):
        conn.close()
        return None
    return ResumePoint(offset, cut, -1 if restart is None else int(restart), bool(ended), conn, wf_id)


def resumer(db_path: str | None) -> Callable:
    """``resume(wf_uuid, f)`` for :class:`.jobstate_log.JobstateLog`, reading ``db_path``."""
    return lambda wf_uuid, f: resume_point(db_path, wf_uuid, f)
