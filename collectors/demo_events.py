"""Real collector output for the demo recording: ``python -m collectors.demo_events OUT.jsonl``.

Runs the collectors for real and writes every event they emit (JSON lines,
in time order) so the demo can show the job sparklines, the Darshan figures and
the transfer bars from genuine output, attached to jobs that ran in the two
Pegasus runs the demo replays:

* panorama-monitor (0.2 s) on real commands: a CPU burn that prints the real
  pegasus-transfer stdout with its ``int.metric`` payload block
  (process_wf_failure ``stage_out_local_local_0_0``), memory growth
  (hierarchical ``curl_ID0000001``), file I/O followed by ``panorama-darshan
  --payload`` on the darshan wheel's ``sample.darshan`` (hierarchical
  ``wc_ID0000002``), and a failure: ``ls -z /`` exits 2 (process_wf_failure
  ``ls_ID0000001``, the job that failed in the real run);
* panorama-globus on canned Transfer API responses (the real SDK; needs the
  ``responses`` package): two tasks labelled as Pegasus labels them, one with a
  fault and a retry.

``--rebase EPOCH`` shifts every ``ts`` / ``start_ts`` / ``end_ts`` so the first
event is at EPOCH (relative times kept), to line up with a replayed run.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

FAILED_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"  # process_wf_failure
HIER_WF = "48f759a4-165f-47d6-8c32-571649ce311b"  # hierarchical_wf_success (root)

TRANSFER_STDOUT = """\
2023-03-03 22:24:34,883    INFO:  Reading URL pairs from stdin
2023-03-03 22:24:34,883    INFO:  1 transfers loaded
2023-03-03 22:24:34,932    INFO:  Starting transfers - attempt 1
2023-03-03 22:24:37,088    INFO:  @@@MONITORING_PAYLOAD - START@@@{"ts": 1677911077, "monitoring_event": \
"int.metric", "payload": [{"event": "check", "file_type": "output", "succeeded": 1, "failed": 0, \
"duration": "0.141"}]}@@@MONITORING_PAYLOAD - END@@@
2023-03-03 22:24:37,088    INFO:  All transfers completed successfully.
"""

CPU_BURN = """
import sys, time
t = time.process_time()
x = 0
while time.process_time() - t < 2.0:
    x += 1
sys.stdout.write(open(sys.argv[1]).read())
"""

MEMORY = """
import time
blocks = []
for i in range(25):
    blocks.append(bytearray(8 << 20))
    time.sleep(0.08)
time.sleep(0.5)
"""

FILE_IO = """
import os, sys
data = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for i in range(96):
        f.write(data)
        if i % 16 == 15:
            f.flush(); os.fsync(f.fileno())
with open(sys.argv[1], "rb") as f:
    while f.read(1 << 20):
        pass
os.unlink(sys.argv[1])
"""


def _env() -> dict:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for k in list(env):
        if k.startswith(("PEGASUS_", "CONDOR_JOBID", "_CONDOR_JOB_AD", "PANORAMA_MONITOR_", "KICKSTART_MON")):
            del env[k]
    return env


def run_monitor(out: str, wf: str, job: str, xformation: str, cmd: list[str], interval: float, cwd: str) -> int:
    args = [sys.executable, "-m", "collectors.monitor", "-i", str(interval), "--out", out, "--wf-uuid", wf,
            "--dag-job-id", job, "--xformation", xformation, "--site", "local", "--"] + cmd
    p = subprocess.run(args, env=_env(), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode


def monitor_runs(out: str, interval: float, tmp: str) -> None:
    py = sys.executable
    stdout_file = os.path.join(tmp, "transfer.out")
    with open(stdout_file, "w") as f:
        f.write(TRANSFER_STDOUT)
    scripts = {}
    for name, body in (("burn", CPU_BURN), ("memory", MEMORY), ("io", FILE_IO)):
        scripts[name] = os.path.join(tmp, f"{name}.py")
        with open(scripts[name], "w") as f:
            f.write(body)
    try:
        import darshan

        log = os.path.join(os.path.dirname(darshan.__file__), "tests", "input", "sample.darshan")
        post = f" && {py} -m collectors.darshan --payload {log}"
    except ImportError:
        post = ""
    run_monitor(out, FAILED_WF, "stage_out_local_local_0_0", "pegasus::transfer",
                [py, scripts["burn"], stdout_file], interval, tmp)
    run_monitor(out, HIER_WF, "curl_ID0000001", "curl", [py, scripts["memory"]], interval, tmp)
    run_monitor(out, HIER_WF, "wc_ID0000002", "wc",
                ["sh", "-c", f"{py} {scripts['io']} {os.path.join(tmp, 'data.bin')}{post}"], interval, tmp)
    run_monitor(out, FAILED_WF, "ls_ID0000001", "ls",
                ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec ls -z /"], interval, tmp)


def _task(task_id: str, label: str, files: int, size: int) -> dict:
    return {
        "DATA_TYPE": "task", "task_id": task_id, "type": "TRANSFER", "label": label, "status": "ACTIVE",
        "nice_status": "Queued", "nice_status_details": None, "nice_status_expires_in": None,
        "nice_status_short_description": None, "command": "API 0.10", "username": "demo",
        "owner_id": "b821e4e5-52df-41b7-a27c-4881691d259a", "request_time": "2023-03-04T06:24:21+00:00",
        "completion_time": None, "deadline": "2023-03-05T06:24:21+00:00", "files": files, "files_transferred": 0,
        "files_skipped": 0, "directories": 0, "symlinks": 0, "bytes_transferred": 0, "bytes_checksummed": 0,
        "effective_bytes_per_second": 0, "faults": 0, "subtasks_total": files * 2, "subtasks_pending": files * 2,
        "subtasks_retrying": 0, "subtasks_succeeded": 0, "subtasks_failed": 0, "subtasks_canceled": 0,
        "subtasks_expired": 0, "is_ok": True, "is_paused": False, "fatal_error": None, "canceled_by_admin": None,
        "canceled_by_admin_message": None, "history_deleted": False, "sync_level": None, "verify_checksum": True,
        "encrypt_data": False, "preserve_timestamp": False, "delete_destination_extra": False,
        "recursive_symlinks": "ignore", "source_endpoint": "demo#data", "destination_endpoint": "demo#scratch",
        "source_endpoint_display_name": "demo data", "destination_endpoint_display_name": "demo scratch",
        "source_endpoint_id": "1baf5918-f813-11e8-8cda-0a1d4c5c824a",
        "destination_endpoint_id": "00a7def6-f813-11e8-8cda-0a1d4c5c824a", "_size": size,
    }


def _progress(doc: dict, done: int, **more) -> dict:
    d = copy.deepcopy(doc)
    size = d.pop("_size")
    per = size // d["files"]
    d.update(nice_status="OK", files_transferred=done, bytes_transferred=per * done,
             subtasks_succeeded=done * 2, subtasks_pending=(d["files"] - done) * 2,
             effective_bytes_per_second=per // 2 if done else 0)
    if done == d["files"]:
        d.update(status="SUCCEEDED", nice_status=None, completion_time="2023-03-04T06:24:48+00:00",
                 bytes_checksummed=size)
    d.update(more)
    return d


def globus_run(out: str, tmp: str) -> bool:
    try:
        import responses

        try:
            from globus_sdk.testing import RegisteredResponse, load_response
        except ImportError:
            from globus_sdk._testing import RegisteredResponse, load_response
    except ImportError as exc:
        sys.stderr.write(f"demo_events: no Globus part ({exc}); install globus-sdk and responses\n")
        return False
    from . import globus

    base = "https://transfer.api.globus.org/v0.10/"
    a = _task("68df23b8-4916-11e9-9e69-0266b1fe9f9e", f"{HIER_WF} - stage_in_local_local_1_0", 3, 3 * 48 << 20)
    b = _task("7a1e40c2-4916-11e9-9e69-0266b1fe9f9e", f"{HIER_WF} - stage_out_local_local_1_0", 2, 2 * 12 << 20)
    fault_events = [
        {"code": "STARTED", "is_error": False, "description": "started", "details": "{}",
         "time": "2023-03-04T06:24:22+00:00"},
        {"code": "CONNECTION_RESET", "is_error": True, "description": "connection reset",
         "details": "Connection reset by peer; retrying", "time": "2023-03-04T06:24:30+00:00"},
        {"code": "SUCCEEDED", "is_error": False, "description": "succeeded", "details": "{\"files_succeeded\": 3}",
         "time": "2023-03-04T06:24:48+00:00"},
    ]
    responses.start()
    try:
        for doc in (_progress(a, 0), _progress(a, 1), _progress(a, 1, faults=1, subtasks_retrying=1),
                    _progress(a, 2, faults=1), _progress(a, 3, faults=1)):
            load_response(RegisteredResponse(service=None, path=f"{base}task/{a['task_id']}", json=doc))
        for doc in (_progress(b, 0), _progress(b, 1), _progress(b, 2)):
            load_response(RegisteredResponse(service=None, path=f"{base}task/{b['task_id']}", json=doc))
        load_response(RegisteredResponse(service=None, path=f"{base}task/{a['task_id']}/event_list",
                                         json={"DATA_TYPE": "event_list", "DATA": fault_events[::-1]}))
        load_response(RegisteredResponse(service=None, path=f"{base}task/{b['task_id']}/event_list",
                                         json={"DATA_TYPE": "event_list", "DATA": [fault_events[0]]}))
        tokens = os.path.join(tmp, "tokens.json")
        globus.save_tokens(tokens, {"client_id": "8f2d7e6b-1c3a-4b5d-9e0f-123456789abc", "tokens": {
            globus.TRANSFER_RS: {"access_token": "demo", "refresh_token": "demo",
                                 "expires_at_seconds": int(time.time()) + 3600}}})
        old = {k: os.environ.pop(k) for k in ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET") if k in os.environ}
        try:
            rc = globus.main(["--task", a["task_id"], "--task", b["task_id"], "--interval", "0.3",
                              "--tokens", tokens, "--out", out])
        finally:
            os.environ.update(old)
        return rc == 0
    finally:
        responses.stop()
        responses.reset()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m collectors.demo_events", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="JSON-lines file to write (replaced)")
    ap.add_argument("--interval", type=float, default=0.2, help="panorama-monitor interval (default 0.2)")
    ap.add_argument("--rebase", type=float, default=None, metavar="EPOCH",
                    help="shift all times so the first event is at EPOCH")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="panorama-demo-") as tmp:
        part = os.path.join(tmp, "events.jsonl")
        monitor_runs(part, args.interval, tmp)
        globus_run(part, tmp)
        with open(part) as f:
            events = [json.loads(line) for line in f if line.strip()]
    # Payload items keep the time their tool stamped (pegasus-transfer's block says 2023);
    # in the demo they appear when their job printed them, not before the run.
    start = min((e["ts"] for e in events if e["event"].startswith("kickstart.")), default=0)
    for e in events:
        if isinstance(e.get("ts"), (int, float)) and e["ts"] < start:
            e["ts"] = start
    events.sort(key=lambda e: e.get("ts") or 0)
    if args.rebase is not None and events:
        delta = args.rebase - events[0]["ts"]
        for e in events:
            for key in ("ts", "start_ts", "end_ts"):
                if isinstance(e.get(key), (int, float)):
                    e[key] = e[key] + delta
    with open(args.out, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    names = {}
    for e in events:
        names[e["event"]] = names.get(e["event"], 0) + 1
    print(f"wrote {len(events)} events to {args.out}: " + ", ".join(f"{n} {k}" for k, n in sorted(names.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
