"""``panorama-top --once``: a plain summary for scripts, in text or JSON; and
the DAG progress every view shows (pegasus-status's definition, one for all).

Exit status: 0 every workflow succeeded, 1 one failed, 2 still running (or
nothing has started yet), 4 stalled (see :func:`stall`).  A Parsl run is
read by ``parsl_model``: failed as soon as a task failed, stalled or killed by
its own rule.
"""

from __future__ import annotations

import json
import time
import weakref
from dataclasses import dataclass

from . import parsl_model
from .events import describe_exitcode
from .fmt import human_duration
from .sources.dagman_out import NODE_COLUMNS, percent_done
from .states import FAILED_STATES, JobState, WorkflowState
from .stats import held_jobs, hold_reason, summarize
from .store import Store, Workflow

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_RUNNING, EXIT_STALLED = 0, 1, 2, 4
_ACTIVE = (JobState.QUEUED, JobState.RUNNING, JobState.HELD, JobState.RETRYING)


def overall_exit(store: Store, now: float | None = None) -> int:
    """Failed before stalled (the run's outcome is known), stalled before
    succeeded (monitord's record of it is not complete) or running."""
    roots = store.roots
    if not roots:
        return EXIT_RUNNING
    if any(workflow_state(w) == WorkflowState.FAILED for w in store.workflows.values()):
        return EXIT_FAILED
    if any(stall(store, w, now) for w in roots):
        return EXIT_STALLED
    if all(workflow_state(w) == WorkflowState.SUCCEEDED for w in roots):
        return EXIT_SUCCEEDED
    return EXIT_RUNNING


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
_PACE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> {wf_uuid: (version, pace, last)}


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
    run = parsl_model.run_of(wf)
    if run is not None:
        st = parsl_model.stall(run, now)
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
    times = set()
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


# -- DAG progress: pegasus-status's definition --------------------------------------------
# A DAG's % done is Done / its nodes (every job of the workflow, a sub-workflow's
# job included, counts as one node of its parent's DAG); a tree adds up the DAGs
# DAGMan has started, as pegasus-status adds up the dagman.out files it finds.
# DAGMan's own latest table is used when its log is read (sources/dagman_out.py);
# otherwise the jobs' states stand in for it.


def workflow_state(wf: Workflow) -> str:
    """monitord's record of the run's end when it has one; before that, DAGMan's
    own table (pegasus-status's state: a failed node fails the DAG, all nodes
    done succeed it), else running or planned.  A Parsl run fails as a DAG
    does: with its first failed task."""
    run = parsl_model.run_of(wf)
    if run is not None:
        return parsl_model.outcome(run)
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
    out = dict.fromkeys((*NODE_COLUMNS, "total"), 0)
    for row in rows:
        for k in out:
            out[k] += row[k]
    out["percent_done"] = percent_done(out["done"], out["total"])
    return out


def tree_progress(store: Store, wf: Workflow, detail: bool = False) -> dict:
    """A workflow's DAG and its started sub-DAGs, added up: what the header, the
    tree and --once show as its progress."""
    return dag_totals(dag_row(w, detail) for w in dag_scope(store, wf))


def _dag_json(store: Store, wf: Workflow) -> dict | None:
    """A workflow's own DAG row for --json; None for a sub-workflow DAGMan has not started."""
    if wf.parent_uuid in store.workflows and not dag_started(wf):
        return None
    row = dag_row(wf)
    row["dagname"] = (wf.dagman or {}).get("dagname") or wf.dag_file
    row["from"] = "dagman.out" if wf.dagman is not None else "jobs"
    return row


def _iso(ts) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def workflow_order(store: Store) -> list[Workflow]:
    """Roots, each followed by its sub-workflows, depth first."""
    out: list[Workflow] = []
    seen: set[str] = set()
    stack = list(reversed(store.roots))
    while stack:  # not recursive: an input may nest workflows thousands deep
        wf = stack.pop()
        if wf.wf_uuid in seen:
            continue
        seen.add(wf.wf_uuid)
        out.append(wf)
        stack.extend(c for c in map(store.workflows.get, reversed(wf.children)) if c is not None)
    return out


def unique_names(workflows) -> dict[str, str]:
    """wf_uuid -> a name that tells the workflow apart from the others: its
    label, and where labels repeat (two runs of one workflow) the tail of its
    submit dir (run0002) when those differ, else its uuid's first 8."""
    workflows = list(workflows)
    by_name: dict[str, list[Workflow]] = {}
    for wf in workflows:
        by_name.setdefault(wf.name, []).append(wf)
    out = {}
    for name, same in by_name.items():
        if len(same) == 1:
            out[same[0].wf_uuid] = name
            continue
        tails = [(w.submit_dir or "").rstrip("/").rsplit("/", 1)[-1] for w in same]
        distinct = all(tails) and len(set(tails)) == len(tails)
        for wf, tail in zip(same, tails):
            out[wf.wf_uuid] = f"{name} {tail if distinct else wf.wf_uuid[:8]}"
    return out


def _stall_json(store: Store, wf: Workflow, now: float | None) -> dict | None:
    st = stall(store, wf, now)
    return None if st is None else {"reason": st.reason, "since": _iso(st.since)}


_COUNTED = ("tasks", "jobs", "sub_workflows")


def _rolled_up(store: Store, wf: Workflow, own: dict) -> dict | None:
    """pegasus-statistics' counts of ``wf`` and its sub-workflows from ``own``
    (wf_uuid -> that workflow's own counts, as the Stampede DB has them), or
    None when the DB does not hold ``wf``."""
    if wf.wf_uuid not in own:
        return None
    out = {k: dict(own[wf.wf_uuid][k]) for k in _COUNTED}
    for sub in store.descendants(wf):
        for k in _COUNTED:
            for field, v in own.get(sub.wf_uuid, {}).get(k, {}).items():
                out[k][field] = out[k].get(field, 0) + v
    return out


def as_dict(store: Store, source: str = "", now: float | None = None, db_counts: dict | None = None) -> dict:
    """``now``: the clock stalls are judged by (None: only what the sources said).
    ``db_counts``: each workflow's own counts as its Stampede DB has them
    (wf_uuid -> {"tasks", "jobs", "sub_workflows"}): pegasus-statistics' numbers,
    which the counts then are; what the store has beyond them (jobstate.log's
    overlay, ahead of the DB) shows beside them as ``provisional``."""
    wfs = []
    for wf in workflow_order(store):
        run = parsl_model.run_of(wf)
        if run is not None:
            wfs.append(parsl_model.run_json(run, now))
            continue
        sm = summarize(store, wf)
        counts = {k: getattr(sm, k).as_dict() for k in _COUNTED}
        from_db = _rolled_up(store, wf, db_counts) if db_counts else None
        provisional = None
        if from_db is not None:
            from_db = {k: {f: from_db[k].get(f, 0) for f in counts[k]} for k in _COUNTED}
            provisional = counts if from_db != counts else None
            counts = from_db
        wfs.append(
            {
                "wf_uuid": wf.wf_uuid,
                "label": wf.label,
                "state": workflow_state(wf),
                "parent_wf_uuid": wf.parent_uuid,
                "start": _iso(wf.start_ts),
                "end": _iso(wf.end_ts),
                **counts,
                "provisional": provisional,
                "held": len(held_jobs(wf)),
                "held_now": wf.counts[JobState.HELD],
                "dag": _dag_json(store, wf),
                "stalled": _stall_json(store, wf, now),
                "failed_jobs": [
                    {
                        "job_id": j.job_id,
                        "transformation": j.transformation,
                        "exitcode": describe_exitcode(j.exit_raw),
                        "site": j.site,
                        "host": j.host,
                        "tries": len(j.tries),
                        "hold_reason": hold_reason(j),
                    }
                    for j in wf.jobs.values()
                    if j.state == JobState.FAILED
                ],
            }
        )
    return {
        "source": source,
        "exit_status": overall_exit(store, now),
        "events": store.event_count,
        "bad_records": store.bad_count,
        "unknown_events": sum(store.unknown.values()),
        "warnings": store.warning_count,
        "dag_totals": dag_totals(row for r in store.roots for row in
                                 (dag_row(w) for w in dag_scope(store, r))),
        "workflows": wfs,
    }


def _dag_text(row: dict) -> str:
    """``DAG x.dag: 20% done of 5 nodes (1 done, 1 failed, 3 futile)``: pegasus-status's columns that are not 0."""
    parts = ", ".join(f"{row[k]} {k}" for k in NODE_COLUMNS if row[k])
    return f"DAG {row['dagname'] or '?'}: {percent_text(row['percent_done'])} done of {row['total']} nodes" + (
        f" ({parts})" if parts else "")


def render_json(store: Store, source: str = "", now: float | None = None, db_counts: dict | None = None) -> str:
    return json.dumps(as_dict(store, source, now, db_counts), indent=2)


def _count_columns(c: dict) -> str:
    return f"{c['succeeded']:>10}{c['failed']:>8}{c['incomplete']:>12}{c['total']:>7}{c['retries']:>9}"


def render_text(store: Store, source: str = "", now: float | None = None, db_counts: dict | None = None) -> str:
    d = as_dict(store, source, now, db_counts)
    lines = [f"source: {source}" if source else "source: -"]
    lines.append(
        f"events: {d['events']}  bad records: {d['bad_records']}  unknown events: {d['unknown_events']}"
        f"  warnings: {d['warnings']}"
    )
    if not d["workflows"]:
        lines.append("no workflow found in the input yet")
    for w in d["workflows"]:
        if w.get("kind") == "parsl":
            lines.append("")
            lines.extend(parsl_model.run_text(store.workflows[w["run_id"]].meta[parsl_model.RUN_KEY], now))
            continue
        depth = 0
        p = w["parent_wf_uuid"]
        while p and p in store.workflows:
            depth += 1
            p = store.workflows[p].parent_uuid
        ind = "  " * depth
        lines.append("")
        lines.append(f"{ind}{w['label'] or '?'} {w['wf_uuid']}  {w['state'].upper()}")
        if w["stalled"]:
            lines.append(f"{ind}  STALLED: {w['stalled']['reason']} (last activity {w['stalled']['since'] or '-'})")
        if w["dag"]:
            lines.append(f"{ind}  {_dag_text(w['dag'])}")
        lines.append(f"{ind}  {'':<14}{'succeeded':>10}{'failed':>8}{'incomplete':>12}{'total':>7}{'retries':>9}")
        for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
            lines.append(f"{ind}  {title:<14}{_count_columns(w[key])}")
        if w["provisional"]:
            lines.append(f"{ind}  provisional, with jobstate.log (ahead of the Stampede DB):")
            for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
                lines.append(f"{ind}  {title:<14}{_count_columns(w['provisional'][key])}")
        if w["held"]:
            lines.append(f"{ind}  held {w['held']} ({w['held_now']} now)")
        for fj in w["failed_jobs"]:
            lines.append(
                f"{ind}  FAILED {fj['job_id']}  exit {fj['exitcode']}  site {fj['site'] or '-'}"
                f"  host {fj['host'] or '-'}  tries {fj['tries']}"
            )
            if fj["hold_reason"]:
                lines.append(f"{ind}    held: {fj['hold_reason']}")
        for job in store.workflows[w["wf_uuid"]].jobs.values():
            if job.state == JobState.HELD:
                lines.append(f"{ind}  HELD {job.job_id}  {hold_reason(job) or '(no reason given yet)'}")
    return "\n".join(lines)
