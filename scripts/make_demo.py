"""Build the bundled demo recording from the real runs in ../shared/data.

The demo is the failed and the hierarchical Pegasus workflows as
pegasus-monitord emitted them (their events.json, unchanged), and the
hierarchical run's sub-workflow as the run's committed Stampede DB holds it:
monitord's replay saw only the root (the sub-workflow's dagman.out is not in
the upstream submit dir), so its sub-workflow jobs would wait forever under a
root that succeeded.  StampedeDbSource turns the DB's rows into the same
events.  Each event is stamped with the time it would have been received: its
own ``ts`` when that is a real time, else the latest real time seen (static
planning events carry 1970-era stamps; for the DB's rows see db_rows).  The
runs are merged in time order; replay shortens the two-hour idle gap between
them.

Added to them: the real output of this project's collectors
(``scripts.demo_events``: panorama-monitor sampling commands that re-enact
what kickstart recorded for the job's task, panorama-darshan on an IOR log of
the darshan wheel, panorama-globus on canned Transfer API responses), moved in
time onto the jobs (the 2023 runs had no such collectors): a trace starts when
kickstart started the task and lasts as long as kickstart says it ran (scaled
when the build machine was busier), a transfer task starts with its stage
job's task, a Darshan record ends with its job's trace.  Nothing in them is
edited but the times, and the build stops if a job's output does not fit its
run (EXECUTE to JOB_TERMINATED, whole seconds).  tests/test_demo.py checks the
result against the Pegasus tools and kickstart's figures.

    python scripts/make_demo.py [SHARED_DATA_DIR] [OUT] [--collector-events FILE.jsonl]
"""

from __future__ import annotations

import bisect
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.demo_events import globus_time  # noqa: E402
from panorama_tui.core.events import to_epoch  # noqa: E402
from panorama_tui.core.recorder import Recorder  # noqa: E402
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource  # noqa: E402

RUNS = ("process_wf_failure", "hierarchical_wf_success")
# The hierarchical run's committed DB, and the sub-workflow taken from it.
COMMITTED_DB = ("pegasus", "submitdirs", "hierarchical_wf_success", "hierarchical-workflow-0.stampede.db")
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"
TIME_KEYS = ("ts", "start_ts", "end_ts")
ISO_KEYS = ("request_time", "completion_time", "deadline")  # a Globus task's times
DAGMAN_SECOND = 1.0  # DAGMan logs whole seconds: a job's run ends before its JOB_TERMINATED second is over
CPU_BOUND = 0.9  # kickstart's avg_cpu (CPU time over duration) of a task that kept a CPU busy


def timed_rows(path: str) -> list[tuple[float, str, str]]:
    rows = []
    with open(path) as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    # Planning events precede the first real time: use the first one seen.
    first = next(t for t in (to_epoch(json.loads(ln).get("ts")) for ln in lines) if t is not None)
    latest = first
    for ln in lines:
        d = json.loads(ln)
        t = to_epoch(d.get("ts"))
        if t is not None and t > latest:
            latest = t
        rows.append((latest, d.get("event"), ln))
    return rows


def _instance(ev) -> tuple | None:
    d = ev.data
    return (d["xwf_id"], d["job_id"], d["job_inst_id"]) if "job_inst_id" in d else None


def db_rows(path: str, wf_uuid: str) -> list[tuple[float, str, str]]:
    """A workflow (and its sub-workflows) from a Stampede DB, as monitord's events.

    The source reads table by table, and a DB row keeps no time for some of
    them; each gets the time monitord sends it at: a job or task when its
    workflow was planned, an instance's submit.start with its first state,
    its host and integrity figures (from the kickstart record) with its last."""
    source = StampedeDbSource(path, follow=False, root_uuid=wf_uuid)
    events = [ev for batch in source.batches() for ev in batch]
    if source.status.state == "error" or not events:
        raise SystemExit(f"{path}: {source.status.message or f'no workflow {wf_uuid}'}")
    planned = min(t for t in (to_epoch(ev.ts) for ev in events) if t is not None)
    span: dict = {}
    for ev in events:
        key, t = _instance(ev), to_epoch(ev.ts)
        if key is not None and t is not None:
            first, last = span.get(key, (t, t))
            span[key] = (min(first, t), max(last, t))

    def when(ev) -> float:
        t = to_epoch(ev.ts)
        if t is not None:
            return t
        first, last = span.get(_instance(ev), (planned, planned))
        return first if ev.name == "stampede.job_inst.submit.start" else last

    return [(when(ev), ev.name, ev.to_json()) for ev in events]


def job_runs(rows) -> dict:
    """(wf_uuid, job_id) -> the latest try's run: its task's start and
    duration (kickstart's), its EXECUTE and JOB_TERMINATED times (DAGMan's)."""
    tries: dict = {}
    for _, name, line in rows:
        if name not in ("stampede.inv.end", "stampede.job_inst.main.start", "stampede.job_inst.main.term"):
            continue
        d = json.loads(line)
        run = tries.setdefault((d["xwf_id"], d["job_id"]), {}).setdefault(int(d["job_inst_id"]), {})
        if name == "stampede.inv.end":
            if int(d["inv_id"]) >= 0:  # the task, not DAGMan's PRE/POST script
                run["task_start"], run["task_dur"] = float(d["start_time"]), float(d["dur"])
                run["task_cpus"] = float(d.get("avg_cpu") or 0.0)
        else:
            run["execute" if name.endswith("start") else "terminated"] = float(d["ts"])
    return {k: v[max(v)] for k, v in tries.items()}


def _move(e: dict, to) -> None:
    """Every time in a collector event, through ``to`` (epoch -> epoch)."""
    for k in TIME_KEYS:
        if isinstance(e.get(k), (int, float)):
            e[k] = to(e[k])
    for k in ISO_KEYS:
        if e.get(k):
            e[k] = globus_time(to(to_epoch(e[k])))
    for item in e.get("transfer_events") or ():
        if item.get("time"):
            item["time"] = globus_time(to(to_epoch(item["time"])))


def _cpu_clock(evs: list, summary: dict) -> tuple[list, list]:
    """A trace's (times, CPU seconds so far): its start, its samples, its end."""
    pts = [(summary["start_ts"], 0.0)]
    pts += sorted((e["ts"], e["utime"] + e["stime"]) for e in evs if e["event"] == "kickstart.inv.online")
    pts.append((summary["end_ts"], summary["utime"] + summary["stime"]))
    return [t for t, _ in pts], [c for _, c in pts]


def _onto_task(evs: list, run: dict):
    """The map from collection time onto the task's run, and its scale.

    A traced command starts when kickstart started the task and lasts as long
    as kickstart says the task ran.  The build machine may be busier than the
    run's node was (8 jobs on 2 shared cores against a 24-core node at load
    0.6): a task that kept a CPU busy (kickstart's avg_cpu from 0.9) then
    takes longer for the same CPU time, and its progress is its CPU time, so
    its trace is laid on the run by CPU time; another by wall time, scaled.
    Other output (a transfer task) starts with the task, its times as they
    were."""
    summary = next((e for e in evs if e["event"] == "kickstart.inv.summary"), None)
    start, dur = run["task_start"], run["task_dur"]
    if summary is None:
        times = [e[k] for e in evs for k in TIME_KEYS if isinstance(e.get(k), (int, float))]
        first = min(times + [to_epoch(e["request_time"]) for e in evs if e.get("request_time")])
        return (lambda t: start + t - first), 1.0
    t0, t1 = summary["start_ts"], summary["end_ts"]
    scale = dur / (t1 - t0)
    if run["task_cpus"] < CPU_BOUND:
        return (lambda t: start + (t - t0) * scale), scale
    times, cpu = _cpu_clock(evs, summary)

    def by_cpu(t: float) -> float:
        if not t0 <= t <= t1:  # before or after the command: at the pace it had
            return start + (t - t0 if t < t0 else dur + t - t1)
        i = max(1, bisect.bisect_left(times, t))
        a, b = times[i - 1], times[i]
        c = cpu[i - 1] + (cpu[i] - cpu[i - 1]) * ((t - a) / (b - a) if b > a else 1.0)
        return start + dur * c / cpu[-1]

    return by_cpu, scale


def _end_darshan_with_trace(evs: list) -> None:
    """Darshan records the I/O its job's task did last: the record ends when the trace does."""
    trace_end = max((e["end_ts"] for e in evs if e["event"] == "kickstart.inv.summary"), default=None)
    for e in evs:
        if e["event"] != "darshan.perf":
            continue
        if trace_end is None:
            raise SystemExit(f"a Darshan record for {e.get('dag_job_id')}, a job without a trace to place it in")
        delta = int(trace_end) - e["end_time"]
        for k in ("start_time", "end_time"):
            e[k] += delta
            e[k + "_ascii"] = time.asctime(time.gmtime(e[k]))


def _check_fit(key, evs: list, run: dict) -> None:
    """Every time the collectors give for a job lies in its run, or the build stops."""
    lo, hi = run["execute"], run["terminated"] + DAGMAN_SECOND
    times = [e[k] for e in evs if e["event"].startswith("kickstart.") for k in TIME_KEYS if e.get(k) is not None]
    times += [e["ts"] for e in evs if e["event"] == "transfer.inv.go"]
    times += [to_epoch(e[k]) for e in evs for k in ("request_time", "completion_time") if e.get(k)]
    times += [e[k] for e in evs if e["event"] == "darshan.perf" for k in ("start_time", "end_time")]
    bad = [t for t in times if not lo <= t < hi]
    if bad:
        raise SystemExit(f"collector output for {key} does not fit its run {lo:.0f}..{hi:.0f}: {min(bad)}..{max(bad)}")


def collector_rows(path: str, runs: dict) -> list[tuple[float, str, str]]:
    with open(path) as f:
        events = [json.loads(ln) for ln in f if ln.strip()]
    groups: dict = {}
    for e in events:
        wf = e.get("wf_uuid") or e.get("xwf_id")
        job = e.get("dag_job_id") or e.get("job_id")
        if wf and job:  # collector status lines belong to no job
            groups.setdefault((wf, job), []).append(e)
    rows = []
    for key, evs in groups.items():
        run = runs.get(key)
        if run is None or "task_start" not in run:
            raise SystemExit(f"collector events for {key}, a job that ran no task in the demo runs")
        to, scale = _onto_task(evs, run)
        for e in evs:
            _move(e, to)
            if e["event"] == "kickstart.inv.summary":
                e["duration"] *= scale
        _end_darshan_with_trace(evs)
        _check_fit(key, evs, run)
        print(f"{key[1]}: {len(evs)} collector events, {scale:.2f} s of the run for 1 s of the build")
        rows.extend((e["ts"], e["event"], json.dumps(e, separators=(",", ":"))) for e in evs)
    return rows


def main(argv: list[str]) -> int:
    collector_file = None
    if "--collector-events" in argv:
        i = argv.index("--collector-events")
        collector_file = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    data = argv[1] if len(argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    out = argv[2] if len(argv) > 2 else os.path.join(ROOT, "panorama_tui", "data", "demo.panorama.db")
    rows = []
    for run in RUNS:
        rows.extend(timed_rows(os.path.join(data, "pegasus", "monitord-replay", run, "events.json")))
    rows.extend(db_rows(os.path.join(data, *COMMITTED_DB), SUB_WF))
    if collector_file is None:
        import subprocess
        import tempfile

        collector_file = os.path.join(tempfile.mkdtemp(prefix="panorama-demo-"), "collectors.jsonl")
        subprocess.run([sys.executable, "-m", "scripts.demo_events", collector_file], check=True, cwd=ROOT)
    rows.extend(collector_rows(collector_file, job_runs(rows)))
    rows.sort(key=lambda r: r[0])  # stable: each run keeps its own order
    if os.path.exists(out):
        os.remove(out)
    rec = Recorder(out, source="demo: " + ", ".join(RUNS))
    rec.append_timed(rows)
    rec.set_meta("description", "pegasus-monitord events of two real Pegasus 5.0.5 runs, the hierarchical run's "
                 "sub-workflow from its committed Stampede DB, and collector output (see scripts/make_demo.py)")
    rec.close()
    # Shipped inside the package, possibly in a directory the user cannot
    # write: a rollback-journal DB opens read-only there, a WAL one may not.
    import sqlite3

    with sqlite3.connect(out) as db:
        db.execute("PRAGMA journal_mode=DELETE")
    print(f"wrote {len(rows)} events to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
