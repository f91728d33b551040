"""A submit dir around a generated Stampede DB, and the probe that times opening it (issue #14).

``generate.py`` writes DBs, not submit dirs.  :func:`write_submit_dir` makes one: a
``braindump.yml`` naming the workflow and its DAG, the DB under the name Pegasus gives it
(``<dag stem>.stampede.db``, a symlink), and a ``jobstate.log`` written from the DB's
jobstate rows in pegasus-monitord's format (as the shared submit dirs show it)::

    1677911025 INTERNAL *** MONITORD_STARTED ***
    1677911023 INTERNAL *** DAGMAN_STARTED 1.0 ***
    1677911024 create_dir_process_0_local SUBMIT 2.0 local - 1
    1677911034 create_dir_process_0_local JOB_SUCCESS 0 local - 1

Each instance's lines are in its ``jobstate_submit_seq`` order (monitord numbers the lines
it writes), each line at the later of its own time and its instance's previous line's (as
monitord writes a line when it reads DAGMan's, never going back), the file ordered by
those times.

``python -m benchmarks.submit_dir DIR whole|resume|db`` (run by ``bench_scale``, one process a
figure) prints ``{"first": s, "loaded": s}``: the seconds to the source's first batch (the
first rows) and to the end of its reading, with the jobstate.log overlay read whole (the
previous way) or from where the DB leaves off, or of the DB alone.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

DAG = "gen-0.dag"
# DB state names that jobstate.log spells otherwise (jobstate_log.LOG_STATES, the other way round)
_LOG_NAME = {"POST_SCRIPT_FAILED": "POST_SCRIPT_FAILURE"}
_STATUS = frozenset({"JOB_SUCCESS", "JOB_FAILURE", "POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILURE",
                     "PRE_SCRIPT_SUCCESS", "PRE_SCRIPT_FAILURE"})


def write_submit_dir(db: str, d: str) -> str:
    """``d`` made a submit dir of the DB's root workflow (kept when it is there already)."""
    log = os.path.join(d, "jobstate.log")
    if os.path.exists(log):
        return d
    os.makedirs(d, exist_ok=True)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        wf_id, uuid = conn.execute("SELECT wf_id, wf_uuid FROM workflow WHERE parent_wf_id IS NULL "
                                   "ORDER BY wf_id LIMIT 1").fetchone()
        lines = _lines(conn, wf_id)
    finally:
        conn.close()
    with open(os.path.join(d, "braindump.yml"), "w") as f:
        f.write(f'wf_uuid: "{uuid}"\nroot_wf_uuid: "{uuid}"\ndag: "{DAG}"\nsubmit_dir: "{d}"\n')
    name = os.path.join(d, DAG[: -len(".dag")] + ".stampede.db")
    if not os.path.exists(name):
        os.symlink(os.path.abspath(db), name)
    with open(log + ".part", "w") as f:
        f.writelines(text for _, _, text in sorted(lines))
    os.replace(log + ".part", log)
    return d


def _lines(conn, wf_id: int) -> list[tuple]:
    """(time written, order, line) of every jobstate.log line."""
    out: list[tuple] = []
    first = None
    for state, ts, restart, status in conn.execute(
            "SELECT state, timestamp, restart_count, status FROM workflowstate WHERE wf_id = ? "
            "ORDER BY timestamp", (wf_id,)):
        ts = int(float(ts))
        first = ts if first is None else first
        if state == "WORKFLOW_STARTED":
            out.append((ts, 0, f"{ts} INTERNAL *** DAGMAN_STARTED {restart + 1}.0 ***\n"))
        elif state == "WORKFLOW_TERMINATED":
            out.append((ts, 2, f"{ts} INTERNAL *** DAGMAN_FINISHED {status or 0} ***\n"))
    if first is not None:
        out.append((first - 1, 0, f"{first} INTERNAL *** MONITORD_STARTED ***\n"))
    rows = conn.execute(
        "SELECT ji.job_instance_id, j.exec_job_id, ji.job_submit_seq, ji.sched_id, ji.site, ji.exitcode, "
        "js.state, js.timestamp FROM jobstate js "
        "JOIN job_instance ji ON ji.job_instance_id = js.job_instance_id JOIN job j ON j.job_id = ji.job_id "
        "WHERE j.wf_id = ? ORDER BY js.job_instance_id, js.jobstate_submit_seq", (wf_id,))
    last_ji, written = None, 0
    for jiid, job, seq, sched, site, exitcode, state, ts in rows:
        ts = int(float(ts))
        written = max(written, ts) if jiid == last_ji else ts
        last_ji = jiid
        state = _LOG_NAME.get(state, state)
        if state in _STATUS:
            col4 = "0" if state.endswith("SUCCESS") else str(max((exitcode or 256) >> 8, 1))
        else:
            col4 = sched or "-"
        out.append((written, 1, f"{written} {job} {state} {col4} {site or 'local'} - {seq}\n"))
    return out


def probe(d: str, how: str) -> dict:
    """Seconds to the first batch and to the end of the submit dir source's reading."""
    t0 = time.perf_counter()
    from panorama_tui.model.store import Store
    from panorama_tui.sources.base import RESET
    from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir

    if how == "whole":
        SubmitDirSource._resumer = lambda self: None  # the previous way: jobstate.log from the top
    from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource

    sd = find_submit_dir(d)
    # "db": the DB alone, what the submit dir is to open as fast as
    src = StampedeDbSource(sd.db_path, follow=False) if how == "db" else SubmitDirSource(sd, follow=False)
    store = Store()
    first = None
    for batch in src.batches():
        if batch is RESET:
            store.reset()
        else:
            store.apply_many(batch)
        if first is None:
            first = time.perf_counter() - t0
    return {"first": first, "loaded": time.perf_counter() - t0}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], sys.argv[2])))
