"""Real collector output for the demo recording: ``python -m scripts.demo_events OUT.jsonl``.

Runs the collectors for real and writes every event they emit (JSON lines,
in time order) so the demo can show job traces, a Darshan record and Globus
transfers from genuine output, each attached to a job of the two Pegasus runs
the demo replays (the 2023 runs had no such collectors).  What runs under
panorama-monitor re-enacts what kickstart recorded for that job's task (its
duration, CPU time, memory and exit code), so the figures on one screen agree:

* ``stage_out_local_local_0_0`` (hierarchical root): pegasus-transfer's real
  stdout, with its ``int.metric`` block, at the pace of its own log times and
  with about the CPU kickstart counted (2.375 s, 0.38 s of CPU, 19 MiB);
* ``register_local_0_0``: pegasus-rc-client's JVM, as two busy CPUs beside
  memory growing to about its 153 MiB (2.6 s, 3.9 s of CPU);
* the sub-workflow's ``preprocess_ID0000001``: pegasus-keg ``-T 20``, one busy
  CPU for 20 s in a process of a few MiB; its ``analyze_ID0000004`` the same,
  then the I/O of the darshan wheel's IOR log (``ior_hdf5_example.darshan``: 4
  MiB written, then read back from disk), whose record panorama-darshan then
  reads, as pegasus-darshan did after a job;
* panorama-globus on canned Transfer API responses (the real SDK; needs the
  ``responses`` package) for the root's ``stage_in_local_local_1_0`` (its three
  catalog files, one fault and a retry) and ``stage_out_local_local_1_0``
  (``f.d``): the files and sizes those jobs moved (their ``.in`` and ``.meta``
  files in the submit dir).

The failed run's ``ls -z /`` ran 3 ms: too short for a trace, it has none.
The busy CPUs use the CPU time kickstart counted, however long that takes on
a busy machine; scripts/make_demo.py maps each trace onto the task's run.

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
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"  # its sub-workflow (blackdiamond)

DARSHAN_LOG = ("examples", "example_logs", "ior_hdf5_example.darshan")  # in the darshan wheel: 4 procs, 1 s, 8 MiB

# pegasus-transfer's stdout for the hierarchical root's stage_out_local_local_0_0
# (submitdirs/hierarchical_wf_success/00/00/stage_out_local_local_0_0.out.000).
TRANSFER_STDOUT = """\
2023-03-04 01:02:17,291    INFO:  Reading URL pairs from stdin
2023-03-04 01:02:17,291    INFO:  1 transfers loaded
2023-03-04 01:02:17,292    INFO:  PATH=/home/mzalam/pegasus-5.0.5/bin:/home/mzalam/pegasus-5.0.5/bin:\
/home/mzalam/wf/condor/bin:/home/mzalam/wf/condor/sbin:/home/mzalam/wf/bin:/home/mzalam/.local/bin:/home/mzalam/bin:\
/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/bin:/usr/bin:/usr/local/bin:/opt/local/bin
2023-03-04 01:02:17,292    INFO:  LD_LIBRARY_PATH=
2023-03-04 01:02:17,339    INFO:  --------------------------------------------------------------------------------
2023-03-04 01:02:17,339    INFO:  Starting transfers - attempt 1
2023-03-04 01:02:19,342    INFO:  /bin/cp -f -R -L \
'/home/mzalam/hierar/hierarichal-sample-wf/work/local-site/scratch/mzalam/pegasus/hierarchical-workflow/run0001/./pegasus.html' \
'/home/mzalam/hierar/hierarichal-sample-wf/outputs/local-site/pegasus.html'
2023-03-04 01:02:19,354    INFO:  Tool found: pegasus-integrity   Version: N/A   Path: \
/home/mzalam/pegasus-5.0.5/bin/pegasus-integrity
2023-03-04 01:02:19,354    INFO:  /home/mzalam/pegasus-5.0.5/bin/pegasus-integrity \
--verify="pegasus.html=/home/mzalam/hierar/hierarichal-sample-wf/outputs/local-site/pegasus.html"
2023-03-04 01:02:19,502    INFO:  --------------------------------------------------------------------------------
2023-03-04 01:02:19,502    INFO:  @@@MONITORING_PAYLOAD - START@@@{"ts": 1677920539, "monitoring_event": "int.metric", \
"payload": [{"event": "check", "file_type": "output", "succeeded": 1, "failed": 0, "duration": "0.146"}]}\
@@@MONITORING_PAYLOAD - END@@@
2023-03-04 01:02:19,502    INFO:  Stats: Total 1 transfers, 313.0 B transferred in 2 seconds. Rate: 141.5 B/s (1.1 Kb/s)
2023-03-04 01:02:19,502    INFO:         Between sites local->local : 1 transfers, 313.0 B transferred in 2 seconds. \
Rate: 141.5 B/s (1.1 Kb/s)
2023-03-04 01:02:19,502    INFO:  All transfers completed successfully.
"""

# Prints a log's lines at the pace of their own "YYYY-mm-dd HH:MM:SS,mmm"
# stamps, using argv[2] seconds of CPU while it waits (pegasus-transfer's
# imports, threads and checksums).
AT_LOG_PACE = """
import re, sys, time
stamp = re.compile(r"^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d),(\\d{3})")
def when(line):
    m = stamp.match(line)
    return time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1000
lines = open(sys.argv[1]).read().splitlines(keepends=True)
cpu = float(sys.argv[2])
first, start = when(lines[0]), time.monotonic()
for line in lines:
    due = start + when(line) - first
    while time.process_time() < cpu and time.monotonic() < due:
        pass
    time.sleep(max(0.0, due - time.monotonic()))
    sys.stdout.write(line)
    sys.stdout.flush()
"""

# 17 blocks of 8 MiB over 2 s, held until the processes named in argv (the
# busy CPUs beside it) end: with the interpreter, about the 153 MiB (maxrss
# 156876 kB) pegasus-rc-client's JVM reached in its 2.6 s.
MEMORY = """
import os, sys, time
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
blocks = []
for i in range(17):
    blocks.append(bytearray(8 << 20))
    time.sleep(0.12)
time.sleep(0.4)
while any(alive(int(p)) for p in sys.argv[1:]):
    time.sleep(0.05)
"""

# A busy CPU in a process of a few MiB (bash: no fork, the shell reads the
# clock and its own CPU time itself): burn CS WALL_US uses CS hundredths of a
# second of CPU, or stops after WALL_US microseconds (a machine far too busy).
BURN = """
tck=$(getconf CLK_TCK)
burn() {
  local ticks=$(( $1 * tck / 100 )) end=$(( ${EPOCHREALTIME/[.,]/} + $2 )) st i
  while :; do
    for ((i = 0; i < 2000; i++)); do :; done
    read -r -a st < /proc/$BASHPID/stat
    (( st[13] + st[14] >= ticks || ${EPOCHREALTIME/[.,]/} >= end )) && break
  done
}
"""

# Write the bytes, drop them from the page cache, read them back from disk:
# /proc's read_bytes / write_bytes (what the screen shows) then count the I/O
# Darshan recorded.
DISK_IO = ("dd if=/dev/zero of={f} bs={n} count=1 conv=fsync status=none"
           " && dd of={f} oflag=nocache conv=notrunc,fdatasync count=0 status=none"
           " && dd if={f} iflag=nocache bs=1M of=/dev/null status=none && rm -f {f}")


def burn(cpu: float) -> str:
    """The ``burn`` call for ``cpu`` seconds of CPU (however long a busy machine takes, up to ten times that)."""
    return f"burn {int(cpu * 100)} {int((10 * cpu + 10) * 1e6)}"


def _env() -> dict:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for k in list(env):
        if k.startswith(("PEGASUS_", "CONDOR_JOBID", "_CONDOR_JOB_AD", "PANORAMA_MONITOR_", "KICKSTART_MON")):
            del env[k]
    return env


def _context(wf: str, job: str, xformation: str) -> list[str]:
    return ["--wf-uuid", wf, "--dag-job-id", job, "--xformation", xformation, "--site", "local"]


def run_monitor(out: str, wf: str, job: str, xformation: str, cmd: list[str], interval: float, cwd: str) -> int:
    args = [sys.executable, "-m", "panorama_tui.collectors.monitor", "-i", str(interval), "--out", out,
            *_context(wf, job, xformation), "--"] + cmd
    p = subprocess.run(args, env=_env(), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode


def darshan_log() -> tuple[str, int] | None:
    """The IOR log in the darshan wheel and the bytes its POSIX layer wrote, or None without darshan."""
    try:
        import darshan
    except ImportError as exc:
        sys.stderr.write(f"demo_events: no Darshan part ({exc}); install darshan\n")
        return None
    log = os.path.join(os.path.dirname(darshan.__file__), *DARSHAN_LOG)
    report = darshan.DarshanReport(log, read_all=False)
    report.mod_read_all_records("POSIX")
    written = int(report.records["POSIX"].to_df()["counters"]["POSIX_BYTES_WRITTEN"].sum())
    return log, written


def monitor_runs(out: str, interval: float, tmp: str) -> None:
    py = sys.executable
    stdout_file = os.path.join(tmp, "transfer.out")
    with open(stdout_file, "w") as f:
        f.write(TRANSFER_STDOUT)
    scripts = {}
    for name, body in (("pace", AT_LOG_PACE), ("memory", MEMORY)):
        scripts[name] = os.path.join(tmp, f"{name}.py")
        with open(scripts[name], "w") as f:
            f.write(body)
    # kickstart: 2.375 s, 0.376 s of CPU
    run_monitor(out, HIER_WF, "stage_out_local_local_0_0", "pegasus::transfer",
                [py, scripts["pace"], stdout_file, "0.35"], interval, tmp)
    # kickstart: 2.606 s, 3.924 s of CPU (the JVM's threads), 153 MiB
    run_monitor(out, HIER_WF, "register_local_0_0", "pegasus::rc-client",
                ["bash", "-c", f"{BURN}\n{burn(1.95)} & a=$!; {burn(1.95)} & b=$!; {py} {scripts['memory']} $a $b; wait"],
                interval, tmp)
    # pegasus-keg -T 20; kickstart: 20.006 s and 20.005 s, 19.97 s of CPU, 3.2 MiB.  Sampled once a
    # second, as kickstart's own traces are.
    run_monitor(out, SUB_WF, "preprocess_ID0000001", "preprocess", ["bash", "-c", f"{BURN}\n{burn(19.9)}"],
                1.0, tmp)
    io = darshan_log()
    if io is None:
        return
    log, written = io
    disk = DISK_IO.format(f=os.path.join(tmp, "ior.h5"), n=written)
    run_monitor(out, SUB_WF, "analyze_ID0000004", "analyze", ["bash", "-c", f"{BURN}\n{burn(19.8)} && {disk}"],
                1.0, tmp)
    subprocess.run([py, "-m", "panorama_tui.collectors.darshan", "--out", out, *_context(SUB_WF, "analyze_ID0000004", "analyze"),
                    log], env=_env(), cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def globus_time(ts: float) -> str:
    """An epoch time as the Transfer API writes its times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def _task(task_id: str, label: str, sizes: list[int], requested: float) -> dict:
    files = len(sizes)
    return {
        "DATA_TYPE": "task", "task_id": task_id, "type": "TRANSFER", "label": label, "status": "ACTIVE",
        "nice_status": "Queued", "nice_status_details": None, "nice_status_expires_in": None,
        "nice_status_short_description": None, "command": "API 0.10", "username": "demo",
        "owner_id": "b821e4e5-52df-41b7-a27c-4881691d259a", "request_time": globus_time(requested),
        "completion_time": None, "deadline": globus_time(requested + 86400), "files": files, "files_transferred": 0,
        "files_skipped": 0, "directories": 0, "symlinks": 0, "bytes_transferred": 0, "bytes_checksummed": 0,
        "effective_bytes_per_second": 0, "faults": 0, "subtasks_total": files * 2, "subtasks_pending": files * 2,
        "subtasks_retrying": 0, "subtasks_succeeded": 0, "subtasks_failed": 0, "subtasks_canceled": 0,
        "subtasks_expired": 0, "is_ok": True, "is_paused": False, "fatal_error": None, "canceled_by_admin": None,
        "canceled_by_admin_message": None, "history_deleted": False, "sync_level": None, "verify_checksum": True,
        "encrypt_data": False, "preserve_timestamp": False, "delete_destination_extra": False,
        "recursive_symlinks": "ignore", "source_endpoint": "demo#data", "destination_endpoint": "demo#scratch",
        "source_endpoint_display_name": "demo data", "destination_endpoint_display_name": "demo scratch",
        "source_endpoint_id": "1baf5918-f813-11e8-8cda-0a1d4c5c824a",
        "destination_endpoint_id": "00a7def6-f813-11e8-8cda-0a1d4c5c824a", "_sizes": sizes, "_requested": requested,
    }


def _progress(doc: dict, done: int, elapsed: float, **more) -> dict:
    """The task as a poll ``elapsed`` seconds after its request sees it, ``done`` files moved."""
    d = copy.deepcopy(doc)
    sizes, requested = d.pop("_sizes"), d.pop("_requested")
    moved = sum(sizes[:done])
    d.update(nice_status="OK", files_transferred=done, bytes_transferred=moved,
             subtasks_succeeded=done * 2, subtasks_pending=(d["files"] - done) * 2,
             effective_bytes_per_second=int(moved / elapsed) if elapsed > 0 else 0)
    if done == d["files"]:
        d.update(status="SUCCEEDED", nice_status=None, completion_time=globus_time(requested + elapsed),
                 bytes_checksummed=moved)
    d.update(more)
    return d


def _events(requested: float, fault_at: float | None, done_at: float, files: int) -> list[dict]:
    """The task's event list, newest first (as the Transfer API gives it)."""
    out = [{"code": "STARTED", "is_error": False, "description": "started", "details": "{}", "time": globus_time(requested)}]
    if fault_at is not None:
        out.append({"code": "CONNECTION_RESET", "is_error": True, "description": "connection reset",
                    "details": "Connection reset by peer; retrying", "time": globus_time(requested + fault_at)})
    out.append({"code": "SUCCEEDED", "is_error": False, "description": "succeeded",
                "details": json.dumps({"files_succeeded": files}), "time": globus_time(requested + done_at)})
    return out[::-1]


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
    from panorama_tui.collectors.globus import collector

    base = "https://transfer.api.globus.org/v0.10/"
    poll = 0.3  # the collector's interval: the n-th response is read about n polls after the request
    now = time.time()
    # sites.yml, inner_diamond_workflow_tc.yml, inner_diamond_workflow.pegasus.properties; then f.d
    a = _task("68df23b8-4916-11e9-9e69-0266b1fe9f9e", f"{HIER_WF} - stage_in_local_local_1_0", [843, 406, 130], now)
    b = _task("7a1e40c2-4916-11e9-9e69-0266b1fe9f9e", f"{HIER_WF} - stage_out_local_local_1_0", [1173], now)
    responses.start()
    try:
        for doc in (_progress(a, 0, 0), _progress(a, 1, poll), _progress(a, 1, 2 * poll, faults=1, subtasks_retrying=1),
                    _progress(a, 2, 3 * poll, faults=1), _progress(a, 3, 4 * poll, faults=1)):
            load_response(RegisteredResponse(service=None, path=f"{base}task/{a['task_id']}", json=doc))
        for doc in (_progress(b, 0, 0), _progress(b, 1, poll)):
            load_response(RegisteredResponse(service=None, path=f"{base}task/{b['task_id']}", json=doc))
        load_response(RegisteredResponse(service=None, path=f"{base}task/{a['task_id']}/event_list", json={
            "DATA_TYPE": "event_list", "DATA": _events(now, 2 * poll, 4 * poll, 3)}))
        load_response(RegisteredResponse(service=None, path=f"{base}task/{b['task_id']}/event_list", json={
            "DATA_TYPE": "event_list", "DATA": _events(now, None, poll, 1)}))
        tokens = os.path.join(tmp, "tokens.json")
        collector.save_tokens(tokens, {"client_id": "8f2d7e6b-1c3a-4b5d-9e0f-123456789abc", "tokens": {
            collector.TRANSFER_RS: {"access_token": "demo", "refresh_token": "demo",
                                 "expires_at_seconds": int(time.time()) + 3600}}})
        old = {k: os.environ.pop(k) for k in ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET") if k in os.environ}
        try:
            rc = collector.main(["--task", a["task_id"], "--task", b["task_id"], "--interval", str(poll),
                              "--tokens", tokens, "--out", out])
        finally:
            os.environ.update(old)
        return rc == 0
    finally:
        responses.stop()
        responses.reset()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.demo_events", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="JSON-lines file to write (replaced)")
    ap.add_argument("--interval", type=float, default=0.2, help="panorama-monitor interval of the short jobs (default 0.2)")
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
    # in the demo they appear when their job ran, not before it.
    started: dict = {}
    for e in events:
        if e["event"].startswith("kickstart."):
            key = (e.get("wf_uuid"), e.get("dag_job_id"))
            started[key] = min(started.get(key, e["ts"]), e["ts"])
    for e in events:
        start = started.get((e.get("wf_uuid"), e.get("dag_job_id")))
        if start is not None and isinstance(e.get("ts"), (int, float)) and e["ts"] < start:
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
