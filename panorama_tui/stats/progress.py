"""pegasus-status's definitions: a DAG's node counts (Done, Pre, Queued, Post, Ready, Un-Ready,
Failed), % done = Done / total nodes, and the state DAGMan's table says.
"""

from __future__ import annotations

from ..model.entities import Workflow
from ..model.handlers import parsl
from ..model.states import ACTIVE_STATES as _ACTIVE
from ..model.states import FAILED_STATES, HELD_STATES, MAIN_DONE_STATES, QUEUED_STATES, SUCCESS_STATES, JobState, WorkflowState
from ..model.store import Store
from ..core.dagman import NODE_COLUMNS, percent_done


def workflow_state(wf: Workflow) -> str:
    """monitord's record of the run's end when it has one; before that, DAGMan's
    own table (pegasus-status's state: a failed node fails the DAG, all nodes
    done succeed it), else running or planned.  A Parsl run fails as a DAG
    does: with its first failed task."""
    run = parsl.run_of(wf)
    if run is not None:
        return parsl.outcome(run)
    if not wf.ended and wf.dagman is not None:
        return wf.dagman.get("state") or wf.state
    return wf.state


def dag_started(wf: Workflow) -> bool:
    """DAGMan has started this workflow's DAG (pegasus-status counts a DAG once it has a dagman.out)."""
    return wf.dagman is not None or wf.state != WorkflowState.PLANNED or wf.counts[JobState.WAITING] < len(wf.jobs)


def dag_scope(store: Store, wf: Workflow) -> list[Workflow]:
    """The workflow and those of its sub-workflows whose DAG DAGMan has started."""
    return [wf] + [d for d in store.descendants(wf) if dag_started(d)]


def dag_row(wf: Workflow, detail: bool = True) -> dict:
    """One DAG's nodes in DAGMan's columns, its total and % done: its latest
    table when DAGMan's log is read, else counted from its jobs (``detail``:
    telling PRE and POST scripts and retries waiting to be submitted from jobs
    in the queue, a pass over the jobs; without it they count as queued)."""
    t = wf.dagman
    if t is not None:
        row = {k: t.get(k, 0) for k in NODE_COLUMNS}
        row["total"] = t.get("total", 0)
    else:
        row = _row_of_jobs(wf, detail)
    row["percent_done"] = percent_done(row["done"], row["total"])
    return row


def _row_of_jobs(wf: Workflow, detail: bool) -> dict:
    c = wf.counts
    waiting = c[JobState.WAITING]
    aborted = wf.state == WorkflowState.FAILED  # what never ran will not: DAGMan's "futile"
    row = dict.fromkeys(NODE_COLUMNS, 0)
    row.update(done=c[JobState.DONE], failed=c[JobState.FAILED], queued=sum(c[s] for s in _ACTIVE),
               unready=0 if aborted else waiting, futile=waiting if aborted else 0, total=len(wf.jobs))
    if detail and row["queued"]:
        for job in wf.jobs.values():
            if job.state not in _ACTIVE:
                continue
            phase = job.phase
            if phase is not None:
                key = phase.lower()
            elif job.state == JobState.RETRYING and job.latest.state_name in FAILED_STATES:
                key = "ready"  # its try failed; DAGMan submits the next
            else:
                continue
            row[key] += 1
            row["queued"] -= 1
    return row


def percent_text(p: float) -> str:
    """A % done as pegasus-status prints it, without a useless ``.0``: 20%, 33.33%."""
    return f"{p:.2f}".rstrip("0").rstrip(".") + "%"


def dag_totals(rows) -> dict:
    """Rows added up, with their % done (pegasus-status's totals)."""
    out: dict = dict.fromkeys((*NODE_COLUMNS, "total"), 0)  # counts, then a float % done
    for row in rows:
        for k in out:
            out[k] += row[k]
    out["percent_done"] = percent_done(out["done"], out["total"])
    return out


def scope_workflow(store: Store, wf: Workflow | None) -> Workflow | None:
    """The workflow a view of the scope speaks of: the scope's, else the store's only root."""
    if wf is None and len(store.roots) == 1:
        return store.roots[0]
    return wf


def tree_progress(store: Store, wf: Workflow, detail: bool = False) -> dict:
    """A workflow's DAG and its started sub-DAGs, added up: what the header, the
    tree and --once show as its progress."""
    return dag_totals(dag_row(w, detail) for w in dag_scope(store, wf))


# -- a big DB while it loads (issue #14): its own counts stand in for the store's -----------------


def _db_state(last, retried, retry_left, ec_zero, ended: bool) -> JobState:
    """``Store._derive_state`` for one group of a source's DB counts (the columns of
    ``stampede_db.DB_COUNTS_SQL``); ``retried`` is None for jobs not submitted yet."""
    if retried is None:
        return JobState.WAITING
    last = last or "SUBMIT"  # a try's row without states yet: its submit
    if last in SUCCESS_STATES:
        return JobState.DONE
    failed = last in FAILED_STATES
    if last in MAIN_DONE_STATES and ended:
        if ec_zero:
            return JobState.DONE
        failed = True
    if failed:
        return JobState.RETRYING if retry_left and not ended else JobState.FAILED
    if last in HELD_STATES:
        return JobState.HELD
    if last in QUEUED_STATES:
        return JobState.RETRYING if retried else JobState.QUEUED
    return JobState.RETRYING if retried else JobState.RUNNING


def db_counts(rows, scope: list[Workflow]) -> tuple[list[int], int]:
    """The job counts and retries of the workflows in ``scope`` as the DB has them (a
    source's ``db_counts`` rows), while the store still fills in."""
    ended = {w.wf_uuid: w.ended for w in scope}
    counts = [0] * len(JobState)
    retries = 0
    for uuid, last, retried, retry_left, ec_zero, n, more in rows:
        if uuid in ended:
            counts[_db_state(last, retried, retry_left, ec_zero, ended[uuid])] += n
            retries += more or 0
    return counts, retries


def loading_percent(detail: dict | None) -> int | None:
    """How much of a big read a source has done (its ``loaded_rows`` of ``total_rows``),
    or None when it is not loading; 99 at most until it says it is done."""
    if not detail:
        return None
    total = detail.get("total_rows")
    loaded = detail.get("loaded_rows")
    if not isinstance(total, int) or not isinstance(loaded, int) or total <= 0:
        return None
    return min(99, loaded * 100 // total)


def loading_db_counts(detail: dict | None) -> list | None:
    """The DB's own job counts a source gives while it loads a big DB (its ``db_counts`` rows,
    for :func:`db_counts`), or None: not loading, or not counted (yet)."""
    return detail.get("db_counts") if detail and loading_percent(detail) is not None else None
