"""The user's Pegasus master DB (``~/.pegasus/workflow.db``): their workflows.

pegasus-monitord registers every root workflow it follows there
(``master_workflow``: braindump's facts and the workflow's own DB URL;
``master_workflowstate``: start/end with restart count and status), which is
what pegasus-dashboard's first page lists.  :func:`list_workflows` gives the
same list as plain data for a workflows screen; the state follows the
dashboard's rule (the latest state row: no status = running, 0 = successful,
else failed).  Progress is not in the master DB; ``progress=True`` counts
jobs in each workflow's own Stampede DB (SQLite only, read-only, skipped
when busy or missing), with pegasus-status's definition of % done.

Read-only (``mode=ro``), short transactions: pegasus-monitord may be writing.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import unquote

from ...core.events import to_epoch
from ...core.fmt import visible
from ...core.dagman import percent_done
from ...core.sqlite import MAGIC, SQL_ERRORS, connect_ro, text_reader
from .stampede_db import StampedeDbError, check_schema

DEFAULT_PATH = os.path.join("~", ".pegasus", "workflow.db")


def default_path() -> str:
    return os.path.expanduser(DEFAULT_PATH)


def _open(path: str) -> sqlite3.Connection:
    if not os.path.exists(path):
        raise StampedeDbError(f"{path}: no such file (no workflow has been run with monitord as this user?)")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise StampedeDbError(f"{path}: empty (monitord has not registered a workflow yet)")
    if head != MAGIC:
        raise StampedeDbError(f"{path}: not an SQLite DB")
    try:
        conn = connect_ro(path, busy_ms=500)
        # Its strings go to the screen as they are: what is not UTF-8 with U+FFFD, control
        # characters made visible (a few dozen rows: no cost worth a fast path).
        read = text_reader()
        conn.text_factory = lambda raw: visible(read(raw))
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except SQL_ERRORS as exc:
        raise StampedeDbError(f"{path}: not a readable SQLite DB ({exc})") from None
    for t in ("master_workflow", "master_workflowstate"):
        if t not in tables:
            conn.close()
            raise StampedeDbError(f"{path}: not a Pegasus master DB (no {t} table)")
    return conn


def list_workflows(path: str | None = None, progress: bool = False, include_archived: bool = True) -> list[dict]:
    """The workflows in a master DB, newest first.

    Each: ``wf_uuid, label, state ("running" | "succeeded" | "failed" |
    "planned"), status, start, end (epoch s or None), restart_count,
    submit_dir, submit_host, user, planner_version, db_url, db_path,
    archived, reason`` and, with ``progress=True``, ``progress``: a dict of
    job counts (:func:`workflow_progress`) or None.
    """
    path = os.path.expanduser(path) if path else default_path()
    conn = _open(path)
    try:
        conn.execute("BEGIN")
        rows = conn.execute(
            "SELECT wf_id, wf_uuid, dax_label, dax_version, dag_file_name, timestamp, submit_hostname, submit_dir,"
            " planner_arguments, user, planner_version, db_url, archived FROM master_workflow"
        ).fetchall()
        states: dict[int, list] = {}
        for wf_id, state, ts, restart, status, reason in conn.execute(
            "SELECT wf_id, state, timestamp, restart_count, status, reason FROM master_workflowstate"
        ):
            # a time that is not one is no time; a restart count that is no integer counts as 0
            restart = restart if type(restart) is int else 0
            states.setdefault(wf_id, []).append((to_epoch(ts), restart, state, status, reason))
        conn.execute("COMMIT")
    except SQL_ERRORS as exc:
        raise StampedeDbError(f"{path}: {exc}") from None
    finally:
        conn.close()
    out = []
    for (wf_id, uuid, label, dver, dag, ts, host, sdir, pargs, user, pver, db_url, archived) in rows:
        if archived and not include_archived:
            continue
        st = sorted(states.get(wf_id, []), key=lambda r: (r[0] or 0, r[1] or 0, r[2] == "WORKFLOW_TERMINATED"))
        starts = [r[0] for r in st if r[2] == "WORKFLOW_STARTED" and r[0] is not None]
        last = st[-1] if st else None
        if last is None:
            state, status = "planned", None
        elif last[3] is None:
            state, status = "running", None
        else:
            status = last[3]
            state = "succeeded" if status == 0 else "failed"
        end = last[0] if last is not None and last[2] == "WORKFLOW_TERMINATED" else None
        d = {
            "wf_uuid": uuid,
            "label": label,
            "dax_version": dver,
            "dag_file": dag,
            "planned": to_epoch(ts),
            "state": state,
            "status": status,
            "start": min(starts) if starts else None,
            "end": end,
            "restart_count": last[1] if last else None,
            "reason": last[4] if last else None,
            "submit_dir": sdir,
            "submit_host": host,
            "user": user,
            "planner_version": pver,
            "planner_arguments": pargs,
            "db_url": db_url,
            "db_path": sqlite_file(db_url),
            "archived": bool(archived),
        }
        if progress:
            d["progress"] = workflow_progress(d["db_path"], uuid) if d["db_path"] else None
        out.append(d)
    out.sort(key=lambda d: (d["start"] or d["planned"] or 0), reverse=True)
    return out


def sqlite_file(url: str | None) -> str | None:
    if not url or not url.startswith("sqlite:"):
        return None
    rest = url[len("sqlite:"):]
    if rest.startswith("///"):
        rest = rest[3:]
    elif rest.startswith("//"):
        rest = rest[2:]
    rest = unquote(rest.split("?", 1)[0])
    return rest or None


def workflow_progress(db_path: str, wf_uuid: str) -> dict | None:
    """A root workflow's DAG nodes and those of the sub-workflows it has started
    (a workflow state or a job instance), as pegasus-status adds them up (every
    job is a node: a sub-workflow's job too), and their outcome by the latest
    instance's exitcode; % done = done / nodes (summary.tree_progress's
    definition).  None when the DB cannot be read now."""
    if not db_path or not os.path.exists(db_path):
        return None
    try:
        conn = connect_ro(db_path, busy_ms=200)
    except SQL_ERRORS:
        return None
    try:
        check_schema(conn, db_path)
        conn.execute("BEGIN")
        row = conn.execute("SELECT wf_id FROM workflow WHERE wf_uuid = ?", (wf_uuid,)).fetchone()
        if row is None:
            return None
        wfs = """SELECT w.wf_id FROM workflow w WHERE w.wf_id = :root OR (w.root_wf_id = :root AND (
                   EXISTS (SELECT 1 FROM workflowstate s WHERE s.wf_id = w.wf_id)
                   OR EXISTS (SELECT 1 FROM job j JOIN job_instance i ON i.job_id = j.job_id WHERE j.wf_id = w.wf_id)))"""
        total = conn.execute(f"SELECT count(*) FROM job WHERE wf_id IN ({wfs})", {"root": row[0]}).fetchone()[0]
        ok, bad, running = conn.execute(
            f"""SELECT sum(ji.exitcode = 0), sum(ji.exitcode != 0), sum(ji.exitcode IS NULL)
                FROM job_instance ji JOIN job j ON j.job_id = ji.job_id
                WHERE j.wf_id IN ({wfs})
                  AND ji.job_submit_seq = (SELECT max(job_submit_seq) FROM job_instance x WHERE x.job_id = ji.job_id)""",
            {"root": row[0]},
        ).fetchone()
        conn.execute("COMMIT")
    except (*SQL_ERRORS, StampedeDbError):
        return None
    finally:
        conn.close()
    ok, bad, running = ok or 0, bad or 0, running or 0
    return {
        "total": total,
        "succeeded": ok,
        "failed": bad,
        "running": running,  # submitted, no result yet
        "unsubmitted": max(0, total - ok - bad - running),
        "percent": percent_done(ok, total) if total else None,
    }
