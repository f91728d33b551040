"""Build the bundled demo recording from the real runs in ../shared/data.

The demo is the failed and the hierarchical Pegasus workflows as
pegasus-monitord emitted them (their events.json, unchanged).  Each event is
stamped with the time it would have been received: its own ``ts`` when that
is a real time, else the latest real time seen (static planning events carry
1970-era stamps).  The two runs are merged in time order; replay shortens the
two-hour idle gap between them.

Added to them: the real output of this project's collectors
(``collectors.demo_events``: panorama-monitor sampling real commands,
panorama-darshan on the darshan wheel's sample log, panorama-globus on canned
Transfer API responses), each job's events moved in time as a block so the
first lands at that job's EXECUTE time in the replayed run (the 2023 runs had
no such collectors).  Nothing in them is edited but the times.

    python scripts/make_demo.py [SHARED_DATA_DIR] [OUT] [--collector-events FILE.jsonl]
"""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from panorama_tui.events import to_epoch  # noqa: E402
from panorama_tui.recorder import Recorder  # noqa: E402

RUNS = ("process_wf_failure", "hierarchical_wf_success")


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


# The CPU burn printing pegasus-transfer's output was taken for the failed
# run's stage-out job, which never ran there; its namesake ran in the
# hierarchical run, so that is where the demo shows it.
RETARGET = {
    ("f84f05fc-a8d0-42b5-bac5-52d6f41a77e3", "stage_out_local_local_0_0"):
        ("48f759a4-165f-47d6-8c32-571649ce311b", "stage_out_local_local_0_0"),
}
TIME_KEYS = ("ts", "start_ts", "end_ts")


def execute_times(rows) -> dict:
    """(wf_uuid, job_id) -> EXECUTE time of the job's latest try."""
    latest: dict = {}
    for _, name, line in rows:
        if name != "stampede.job_inst.main.start":
            continue
        d = json.loads(line)
        key = (d["xwf_id"], d["job_id"])
        seq = int(d["job_inst_id"])
        if key not in latest or seq > latest[key][0]:
            latest[key] = (seq, float(d["ts"]))
    return {k: v[1] for k, v in latest.items()}


def collector_rows(path: str, starts: dict) -> list[tuple[float, str, str]]:
    with open(path) as f:
        events = [json.loads(ln) for ln in f if ln.strip()]
    groups: dict = {}
    for e in events:
        wf = e.get("wf_uuid") or e.get("xwf_id")
        job = e.get("dag_job_id") or e.get("job_id")
        if not wf or not job:
            continue  # collector status lines belong to no job
        wf, job = RETARGET.get((wf, job), (wf, job))
        for k, v in (("wf_uuid", wf), ("xwf_id", wf), ("dag_job_id", job), ("job_id", job)):
            if k in e:
                e[k] = v
        groups.setdefault((wf, job), []).append(e)
    rows = []
    for key, evs in groups.items():
        if key not in starts:
            raise SystemExit(f"collector events for {key}, a job that never ran in the demo runs")
        first = min(e["ts"] for e in evs if isinstance(e.get("ts"), (int, float)))
        delta = starts[key] - first
        for e in evs:
            for k in TIME_KEYS:
                if isinstance(e.get(k), (int, float)):
                    e[k] = e[k] + delta
            rows.append((e["ts"], e["event"], json.dumps(e, separators=(",", ":"))))
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
    if collector_file is None:
        import subprocess
        import tempfile

        collector_file = os.path.join(tempfile.mkdtemp(prefix="panorama-demo-"), "collectors.jsonl")
        subprocess.run([sys.executable, "-m", "collectors.demo_events", collector_file], check=True, cwd=ROOT)
    rows.extend(collector_rows(collector_file, execute_times(rows)))
    rows.sort(key=lambda r: r[0])  # stable: each run keeps its own order
    if os.path.exists(out):
        os.remove(out)
    rec = Recorder(out, source="demo: " + ", ".join(RUNS))
    rec.append_timed(rows)
    rec.set_meta("description", "pegasus-monitord events of two real Pegasus 5.0.5 runs (see shared/data/README.md)")
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
