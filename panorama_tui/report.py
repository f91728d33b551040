"""Plain-text reports about one job: what pegasus-analyzer prints, and more.

Shared by the failed-jobs panel, the job screen and the pager view, so the
text a user reads on screen is the text they get in ``$PAGER``.
"""

from __future__ import annotations

from .events import describe_exitcode
from .fmt import clock_time, human_bytes, human_duration
from .store import Job, Try

TAIL_LINES = 12


def _tail(text: str | None, lines: int) -> list[str]:
    if not text:
        return []
    rows = text.rstrip("\n").splitlines()
    return rows[-lines:] if lines else rows


def last_state(job: Job) -> str:
    t = job.latest
    return (t.state_name if t else None) or "UNSUBMITTED"


def failure_report(job: Job, tail: int | None = TAIL_LINES) -> str:
    """An analyzer-style account of a job: why it failed first, then where."""
    out = []
    t = job.latest
    where = " on ".join(x for x in (job.host, job.site) if x) or "-"
    out.append(f"=== {job.job_id}  {job.state.label.upper()}  exit {describe_exitcode(job.exit_raw)}  {where} ===")
    out.append(f" last state: {last_state(job)}")
    out.append(f"       site: {job.site or '-'}")
    out.append(f"   hostname: {job.host or '-'}")
    out.append(f"      tries: {len(job.tries)}" + (f" (max retries {job.max_retries})" if job.max_retries is not None else ""))
    if t is not None:
        if t.main_exitcode is not None:
            out.append(f"   job exit: {describe_exitcode(t.main_exitcode)} (raw status {t.main_exitcode})")
        if t.post_exitcode is not None:
            out.append(f"  post exit: {describe_exitcode(t.post_exitcode)} (raw status {t.post_exitcode})")
        if t.reason:
            out.append(f"held reason: {t.reason}")
        # monitord's stdout_text is kickstart's record of the task's own output
        # ("#@ 1 stderr" sections): the failure reason is usually there, so it
        # comes first; stderr_text is the job wrapper's (PegasusLite) log.
        for title, text in (("Task output (kickstart)", t.stdout_text), ("Job wrapper stderr", t.stderr_text)):
            rows = _tail(text, tail or 0)
            if rows:
                out.append("")
                more = "" if not tail or len((text or "").splitlines()) <= tail else f" (last {tail} lines; o opens all)"
                out.append(f"--- {title}{more} ---")
                out.extend(" " + r for r in rows)
        for n, inv in enumerate(t.task_invocations(), 1):
            out.append("")
            out.append(f"--- Task #{n} - {inv.transformation or '?'} - {inv.task_id or '-'} ---")
            out.append(f"  executable : {inv.executable or '-'}")
            out.append(f"  arguments  : {inv.argv or '-'}")
            out.append(f"  exitcode   : {describe_exitcode(inv.exitcode)}")
            out.append(f"  duration   : {human_duration(inv.dur)}   cpu {human_duration(inv.remote_cpu_time)}"
                       f"   maxrss {human_bytes((inv.maxrss or 0) * 1024) if inv.maxrss else '-'}")
        out.append("")
        if job.submit_file:
            out.append(f"submit file: {job.submit_file}")
        if t.stdout_file:
            out.append(f"output file: {t.stdout_file}")
        if t.stderr_file:
            out.append(f" error file: {t.stderr_file}")
        if t.work_dir:
            out.append(f"working dir: {t.work_dir}")
    out.append(f"   workflow: {job.wf.name} ({job.wf.wf_uuid})")
    return "\n".join(out)


def tries_report(job: Job) -> list[str]:
    out = []
    for n, seq in enumerate(sorted(job.tries), 1):
        t: Try = job.tries[seq]
        where = t.host or t.site or "-"
        out.append(f"try #{n} {t.state_name or '-'}  exit {describe_exitcode(t.main_exitcode)}  on {where}")
        out.append(f"    condor id {t.sched_id or '-'}  site {t.site or '-'}  instance {seq}")
        for ts, _, state in t.ordered_states():
            out.append(f"    {clock_time(ts)}  {state}")
        for inv in sorted(t.invocations.values(), key=lambda i: i.inv_id):
            kind = "PRE" if inv.inv_id == -1 else "POST" if inv.inv_id < 0 else f"inv {inv.inv_id}"
            out.append(
                f"    {kind}: {inv.transformation or '-'} exit {describe_exitcode(inv.exitcode)}"
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
