"""``panorama-top --once``: a plain summary for scripts, in text or JSON; and
the DAG progress every view shows (pegasus-status's definition, one for all).

Exit status: 0 every workflow succeeded, 1 one failed, 2 still running (or
nothing has started yet), 4 stalled (see :func:`stall`).  A Parsl run is
read by ``parsl``: failed as soon as a task failed, stalled or killed by
its own rule.
"""

from __future__ import annotations

import json

from ..core.dagman import NODE_COLUMNS
from ..core.events import describe_exitcode
from ..core.fmt import iso_utc
from ..model.entities import Workflow
from ..model.handlers import parsl
from ..model.states import JobState, WorkflowState
from ..model.store import Store
from ..model.workflows import workflow_order
from .counts import held_jobs, hold_reason, summarize
from .progress import dag_row, dag_scope, dag_started, dag_totals, percent_text, workflow_state
from .stall import stall

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_RUNNING, EXIT_STALLED = 0, 1, 2, 4


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



def _dag_json(store: Store, wf: Workflow) -> dict | None:
    """A workflow's own DAG row for --json; None for a sub-workflow DAGMan has not started."""
    if wf.parent_uuid in store.workflows and not dag_started(wf):
        return None
    row = dag_row(wf)
    row["dagname"] = (wf.dagman or {}).get("dagname") or wf.dag_file
    row["from"] = "dagman.out" if wf.dagman is not None else "jobs"
    return row


_iso = iso_utc  # (in core.fmt: the Parsl handler's run_json prints times the same way)


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
        run = parsl.run_of(wf)
        if run is not None:
            wfs.append(parsl.run_json(run, now))
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

    def depth(wf_uuid: str) -> int:
        n = 0
        p = store.workflows[wf_uuid].parent_uuid
        while p and p in store.workflows:
            n += 1
            p = store.workflows[p].parent_uuid
        return n

    def held_now(wf_uuid: str):
        for job in store.workflows[wf_uuid].jobs.values():
            if job.state == JobState.HELD:
                yield job.job_id, hold_reason(job)

    def parsl_lines(w: dict) -> list[str]:
        return parsl.run_text(store.workflows[w["run_id"]].meta[parsl.RUN_KEY], now)

    return text_of(d, source, depth, held_now, parsl_lines)


def text_of(d: dict, source: str, depth, held_now, parsl_lines=None) -> str:
    """The text form of :func:`as_dict`'s dict; ``depth(wf_uuid)``: how deep the workflow
    is in its tree, ``held_now(wf_uuid)``: (job_id, hold reason) of its jobs held now
    (what the dict does not hold), ``parsl_lines(w)``: a Parsl run's lines."""
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
            lines.extend(parsl_lines(w))
            continue
        ind = "  " * depth(w["wf_uuid"])
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
        for job_id, reason in held_now(w["wf_uuid"]):
            lines.append(f"{ind}  HELD {job_id}  {reason or '(no reason given yet)'}")
    return "\n".join(lines)
