"""``panorama-top --once``: a plain summary for scripts, in text or JSON.

Exit status: 0 every workflow succeeded, 1 one failed, 2 still running (or
nothing has started yet).
"""

from __future__ import annotations

import json
import time

from .events import describe_exitcode
from .states import JobState, WorkflowState
from .stats import summarize
from .store import Store, Workflow

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_RUNNING = 0, 1, 2


def overall_exit(store: Store) -> int:
    roots = store.roots
    if not roots:
        return EXIT_RUNNING
    if any(w.state == WorkflowState.FAILED for w in store.workflows.values()):
        return EXIT_FAILED
    if all(w.state == WorkflowState.SUCCEEDED for w in roots):
        return EXIT_SUCCEEDED
    return EXIT_RUNNING


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


def as_dict(store: Store, source: str = "") -> dict:
    wfs = []
    for wf in workflow_order(store):
        sm = summarize(store, wf)
        wfs.append(
            {
                "wf_uuid": wf.wf_uuid,
                "label": wf.label,
                "state": wf.state,
                "parent_wf_uuid": wf.parent_uuid,
                "start": _iso(wf.start_ts),
                "end": _iso(wf.end_ts),
                "jobs": sm.jobs.as_dict(),
                "tasks": sm.tasks.as_dict(),
                "sub_workflows": sm.sub_workflows.as_dict(),
                "failed_jobs": [
                    {
                        "job_id": j.job_id,
                        "transformation": j.transformation,
                        "exitcode": describe_exitcode(j.exit_raw),
                        "site": j.site,
                        "host": j.host,
                        "tries": len(j.tries),
                    }
                    for j in wf.jobs.values()
                    if j.state == JobState.FAILED
                ],
            }
        )
    return {
        "source": source,
        "exit_status": overall_exit(store),
        "events": store.event_count,
        "bad_records": store.bad_count,
        "unknown_events": sum(store.unknown.values()),
        "warnings": store.warning_count,
        "workflows": wfs,
    }


def render_json(store: Store, source: str = "") -> str:
    return json.dumps(as_dict(store, source), indent=2)


def render_text(store: Store, source: str = "") -> str:
    d = as_dict(store, source)
    lines = [f"source: {source}" if source else "source: -"]
    lines.append(
        f"events: {d['events']}  bad records: {d['bad_records']}  unknown events: {d['unknown_events']}"
        f"  warnings: {d['warnings']}"
    )
    if not d["workflows"]:
        lines.append("no workflow found in the input yet")
    for w in d["workflows"]:
        depth = 0
        p = w["parent_wf_uuid"]
        while p and p in store.workflows:
            depth += 1
            p = store.workflows[p].parent_uuid
        ind = "  " * depth
        lines.append("")
        lines.append(f"{ind}{w['label'] or '?'} {w['wf_uuid']}  {w['state'].upper()}")
        lines.append(f"{ind}  {'':<14}{'succeeded':>10}{'failed':>8}{'incomplete':>12}{'total':>7}{'retries':>9}")
        for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
            c = w[key]
            lines.append(
                f"{ind}  {title:<14}{c['succeeded']:>10}{c['failed']:>8}{c['incomplete']:>12}{c['total']:>7}{c['retries']:>9}"
            )
        for fj in w["failed_jobs"]:
            lines.append(
                f"{ind}  FAILED {fj['job_id']}  exit {fj['exitcode']}  site {fj['site'] or '-'}"
                f"  host {fj['host'] or '-'}  tries {fj['tries']}"
            )
    return "\n".join(lines)
