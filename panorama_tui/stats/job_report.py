"""Plain-text reports about one job: what pegasus-analyzer prints, and more.

Shared by the failed-jobs panel, the job screen, the pager view and
``panorama-top --report``, so the text a user reads on screen is the text
they get in ``$PAGER`` and in a CI log.
"""

from __future__ import annotations

from ..core.events import describe_exitcode
from ..core.fmt import clock_time, human_bytes, human_duration
from ..model.entities import Job, Try, Workflow
from ..model.handlers import parsl
from ..model.states import JobState, WorkflowState
from ..model.store import Store
from ..model.workflows import workflow_order
from .counts import _job_counts, _planned, held_jobs, hold_reason
from .once import overall_exit

TAIL_LINES = 12
# pegasus-analyzer's words for a workflow's state (WORKFLOW_STATUS)
ANALYZER_STATUS = {
    WorkflowState.SUCCEEDED: "success",
    WorkflowState.FAILED: "failure",
    WorkflowState.RUNNING: "running",
    WorkflowState.PLANNED: "unknown",
}


def _tail(text: str | None, lines: int) -> list[str]:
    if not text:
        return []
    rows = text.rstrip("\n").splitlines()
    return rows[-lines:] if lines else rows


def last_state(job: Job) -> str:
    t = job.latest
    return (t.state_name if t else None) or "UNSUBMITTED"


def job_facts(job: Job) -> dict:
    """Everything a job's report says, as data (``--report --json``); :func:`failure_report`
    is its text.  Exit codes as :func:`~panorama_tui.core.events.describe_exitcode` gives them
    (``*_raw``: the wait status monitord recorded); times in seconds, ``maxrss_kb`` in KiB
    (as kickstart reports it); ``stdout_text`` / ``stderr_text`` whole.  A Parsl task's
    are :func:`~panorama_tui.model.handlers.parsl.task_facts`."""
    facts = parsl.task_facts(job)
    if facts is not None:
        return facts
    t = job.latest
    removed = t is not None and t.removed
    facts = {
        "job_id": job.job_id, "wf_uuid": job.wf.wf_uuid, "workflow": job.wf.name, "state": job.state.label,
        "exitcode": describe_exitcode(job.exit_raw), "last_state": last_state(job), "site": job.site,
        "host": job.host, "tries": len(job.tries), "max_retries": job.max_retries, "removed": removed,
        "job_exit": None, "job_exit_raw": None, "post_exit": None, "post_exit_raw": None,
        "hold_reason": hold_reason(job), "stdout_text": None, "stderr_text": None, "tasks": [],
        "submit_file": job.submit_file, "stdout_file": None, "stderr_file": None, "work_dir": None,
    }
    if t is None:
        return facts
    if t.main_exitcode is not None:
        facts["job_exit"], facts["job_exit_raw"] = describe_exitcode(t.main_exitcode, removed), t.main_exitcode
    if t.post_exitcode is not None:
        facts["post_exit"], facts["post_exit_raw"] = describe_exitcode(t.post_exitcode), t.post_exitcode
    facts["tasks"] = [
        {"transformation": inv.transformation, "task_id": inv.task_id, "executable": inv.executable,
         "arguments": inv.argv, "exitcode": describe_exitcode(inv.exitcode, removed), "duration": inv.dur,
         "cpu_time": inv.remote_cpu_time, "maxrss_kb": inv.maxrss}
        for inv in t.task_invocations()
    ]
    facts.update(stdout_text=t.stdout_text, stderr_text=t.stderr_text, stdout_file=t.stdout_file,
                 stderr_file=t.stderr_file, work_dir=t.work_dir)
    return facts


def failure_report(job: Job, tail: int | None = TAIL_LINES) -> str:
    """An analyzer-style account of a job: why it failed first, then where
    (``tail``: the last lines of its output shown, None for all)."""
    return render_facts(job_facts(job), tail)


def render_facts(f: dict, tail: int | None = TAIL_LINES) -> str:
    """:func:`job_facts` as text."""
    if "task_id" in f and "run_id" in f:
        return parsl.render_task_facts(f, tail)
    out = []
    where = " on ".join(x for x in (f["host"], f["site"]) if x) or "-"
    out.append(f"=== {f['job_id']}  {f['state'].upper()}  exit {f['exitcode']}  {where} ===")
    out.append(f" last state: {f['last_state']}")
    out.append(f"       site: {f['site'] or '-'}")
    out.append(f"   hostname: {f['host'] or '-'}")
    out.append(f"      tries: {f['tries']}" + (f" (max retries {f['max_retries']})" if f["max_retries"] is not None else ""))
    if f["tries"]:
        if f["job_exit"] is not None:
            out.append(f"   job exit: {f['job_exit']} (raw status {f['job_exit_raw']})")
        if f["post_exit"] is not None:
            out.append(f"  post exit: {f['post_exit']} (raw status {f['post_exit_raw']})")
        if f["hold_reason"]:
            out.append(f"held reason: {f['hold_reason']}")
        # monitord's stdout_text is kickstart's record of the task's own output
        # ("#@ 1 stderr" sections): the failure reason is usually there, so it
        # comes first; stderr_text is the job wrapper's (PegasusLite) log.
        for title, text in (("Task output (kickstart)", f["stdout_text"]), ("Job wrapper stderr", f["stderr_text"])):
            rows = _tail(text, tail or 0)
            if rows:
                out.append("")
                more = "" if not tail or len((text or "").splitlines()) <= tail else f" (last {tail} lines; o opens all)"
                out.append(f"--- {title}{more} ---")
                out.extend(" " + r for r in rows)
        for n, task in enumerate(f["tasks"], 1):
            out.append("")
            out.append(f"--- Task #{n} - {task['transformation'] or '?'} - {task['task_id'] or '-'} ---")
            out.append(f"  executable : {task['executable'] or '-'}")
            out.append(f"  arguments  : {task['arguments'] or '-'}")
            out.append(f"  exitcode   : {task['exitcode']}")
            maxrss = task["maxrss_kb"]
            out.append(f"  duration   : {human_duration(task['duration'])}   cpu {human_duration(task['cpu_time'])}"
                       f"   maxrss {human_bytes(maxrss * 1024) if maxrss else '-'}")
        out.append("")
        for label, key in (("submit file", "submit_file"), ("output file", "stdout_file"),
                           (" error file", "stderr_file"), ("working dir", "work_dir")):
            if f[key]:
                out.append(f"{label}: {f[key]}")
    out.append(f"   workflow: {f['workflow']} ({f['wf_uuid']})")
    return "\n".join(out)


# -- panorama-top --report: pegasus-analyzer's report of a run -----------------------------------


def analyzer_counts(wf: Workflow) -> dict:
    """pegasus-analyzer's summary of a workflow's own jobs (not its sub-workflows'):
    a job's outcome is its latest try's, as pegasus-statistics says; ``held`` is
    :func:`~panorama_tui.stats.counts.held_jobs`; ``unsubmitted`` the rest."""
    c = _job_counts([j for j in wf.jobs.values() if _planned(j)])
    return {"total": c.total, "succeeded": c.succeeded, "failed": c.failed, "held": len(held_jobs(wf)),
            "unsubmitted": c.incomplete}


def run_report(store: Store, source: str = "") -> dict:
    """``--report --json``: per workflow (roots, each followed by its sub-workflows),
    pegasus-analyzer's summary and the :func:`job_facts` of its held jobs and of its
    failed jobs, in the order the analyzer lists them (a Parsl run:
    :func:`~panorama_tui.model.handlers.parsl.report_entry`)."""
    return {
        "source": source,
        "exit_status": overall_exit(store),
        "workflows": [_report_entry(wf) for wf in workflow_order(store)],
    }


def _report_entry(wf: Workflow) -> dict:
    run = parsl.run_of(wf)
    if run is not None:
        return parsl.report_entry(run)
    return {
        "wf_uuid": wf.wf_uuid, "label": wf.label, "submit_dir": wf.submit_dir,
        "status": ANALYZER_STATUS.get(wf.state, wf.state), "jobs": analyzer_counts(wf),
        "held_jobs": [job_facts(j) for j in held_jobs(wf)],
        "failed_jobs": [job_facts(j) for j in wf.jobs.values() if j.state == JobState.FAILED],
    }


def render_run_report(report: dict) -> str:
    """:func:`run_report` as pegasus-analyzer prints it: its summary lines, then its
    "Held jobs' details" and "Failed jobs' details", each job's block the report the
    ``o`` key opens.  A held job that failed is told in full once, among the failed."""
    out = []
    if not report["workflows"]:
        out.append("no workflow found in the input yet")
    for w in report["workflows"]:
        if w.get("kind") == "parsl":
            out += parsl.report_lines(w)
            continue
        c = w["jobs"]
        total = c["total"] or 1
        out += ["", "Summary".center(80, "*"), "",
                f" Workflow           : {w['label'] or '-'} ({w['wf_uuid']})",
                f" Submit Directory   : {w['submit_dir'] or '-'}",
                f" Workflow Status    : {w['status']}"]
        for label, key in (("Total jobs        ", "total"), ("# jobs succeeded  ", "succeeded"),
                           ("# jobs failed     ", "failed"), ("# jobs held       ", "held"),
                           ("# jobs unsubmitted", "unsubmitted")):
            out.append(f" {label} : {c[key]:6d} ({100 * c[key] / total:3.2f}%)")
        if w["held_jobs"]:
            out += ["", "Held jobs' details".center(80, "*")]
            for f in w["held_jobs"]:
                out.append("")
                out += _held_entry(f) if f["state"] == JobState.FAILED.label else [render_facts(f, None)]
        if w["failed_jobs"]:
            out += ["", "Failed jobs' details".center(80, "*")]
            for f in w["failed_jobs"]:
                out += ["", render_facts(f, None)]
    return "\n".join(out)


def _held_entry(f: dict) -> list[str]:
    """A held job that failed, among the held: what pegasus-analyzer says of it there."""
    how = "held, then removed by DAGMan" if f["removed"] else "held"
    return [
        f"=== {f['job_id']}  {f['state'].upper()}  {how} ===",
        f"submit file : {f['submit_file'] or '-'}",
        f"      tries : {f['tries']}",
        f"     reason : {f['hold_reason'] or '-'}",
        "(its report is under Failed jobs' details)",
    ]


def tries_report(job: Job) -> list[str]:
    if parsl.task_of(job) is not None:
        return parsl.tries_report(job)
    out = []
    for n, seq in enumerate(sorted(job.tries), 1):
        t: Try = job.tries[seq]
        where = t.host or t.site or "-"
        removed = t.removed
        out.append(f"try #{n} {t.state_name or '-'}  exit {describe_exitcode(t.main_exitcode, removed)}  on {where}")
        out.append(f"    condor id {t.sched_id or '-'}  site {t.site or '-'}  instance {seq}")
        for ts, _, state in t.ordered_states():
            out.append(f"    {clock_time(ts)}  {state}")
        for inv in sorted(t.invocations.values(), key=lambda i: i.inv_id):
            kind = "PRE" if inv.inv_id == -1 else "POST" if inv.inv_id < 0 else f"inv {inv.inv_id}"
            out.append(
                f"    {kind}: {inv.transformation or '-'} exit {describe_exitcode(inv.exitcode, removed and not inv.is_script)}"
                f" dur {human_duration(inv.dur)}"
            )
    return out


def _mib_per_s(rate) -> str:
    """A darshan-parser --perf rate (agg_perf_by_*: MiB/s, as the parser prints it) with its unit."""
    return f"{rate} MiB/s" if isinstance(rate, (int, float)) else "-"


def darshan_report(job: Job) -> list[str]:
    out = []
    for rec in (job.darshan or {}).values():
        out.append(
            f"darshan: {rec.get('exe') or '-'}  nprocs {rec.get('nprocs', '-')}  run {rec.get('run_time', '-')}s"
        )
        for key, val in rec.items():
            if key.endswith("_module_data") and isinstance(val, dict):
                mod = key[: -len("_module_data")]
                rates = "  ".join(f"by_{k} {_mib_per_s(val.get('agg_perf_by_' + k))}" for k in ("slowest", "cumul", "open"))
                out.append(f"  {mod:<6} {human_bytes(val.get('total_bytes'))}  {rates}")
    return out
