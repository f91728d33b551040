"""panorama-monitor against real commands: real processes, real files, real /proc.

The reference figures come from the wrapped programs themselves (their own
``getrusage`` and ``/proc/self/io`` at the end, written to a file), measured in
the same run, so the comparisons hold on a loaded machine: no timing, only
accounting, is compared.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from panorama_tui.collectors.monitor.wrapper import PayloadFilter, payload_events
from panorama_tui.core.events import decode
from panorama_tui.model.store import Store

PY = sys.executable  # the real interpreter, not a pyenv shim (whose helpers would be counted too)
WF = "0a114f53-f208-44da-9b5c-9c30edcf49c6"
CTX_VARS = ("PEGASUS_", "CONDOR_JOBID", "_CONDOR_JOB_AD", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
            "MV2_COMM_WORLD_RANK", "SLURM_PROCID", "KICKSTART_MON", "PANORAMA_MONITOR_")


@pytest.fixture
def env(child_env):
    e = child_env()
    for k in list(e):
        if k.startswith(CTX_VARS):
            del e[k]
    return e


def monitor(tmp_path, cmd, *opts, env=None, timeout=90, input=None):
    out = tmp_path / "events.jsonl"
    if out.exists():
        out.unlink()
    args = [PY, "-m", "panorama_tui.collectors.monitor", "--out", str(out), *opts, "--", *cmd]
    p = subprocess.run(args, env=env, capture_output=True, timeout=timeout, input=input, cwd=tmp_path)
    events = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return p, events


def script(tmp_path, name, body) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def online(events):
    return [e for e in events if e["event"] == "kickstart.inv.online"]


def summary(events):
    s = [e for e in events if e["event"] == "kickstart.inv.summary"]
    assert len(s) == 1, events[-3:]
    return s[0]


REPORT = """
import json, os, resource
def report(path):
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    io = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines())
    with open(path, "w") as f:
        json.dump({"cpu": s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime,
                   "io": {k: int(v) for k, v in io.items()}}, f)
"""

SAMPLE_FIELDS = {
    "site", "xformation", "bread", "ts", "rss", "procs", "pid", "bwrite", "threads", "exe", "iowait", "vm",
    "brecv", "bsend", "event", "wf_uuid", "dag_job_id", "utime", "rank", "task_id", "syscr", "hostname",
    "rchar", "wchar", "condor_job_id", "syscw", "stime", "type", "wf_label",
}


def test_online_fields_match_kickstart_sample(panorama_dir):
    sample = json.loads((panorama_dir / "kickstart.inv.online.json").read_text())
    # Everything but what Elasticsearch added is a field we emit.
    assert set(sample) - {"@version", "@timestamp"} == SAMPLE_FIELDS


def test_cpu_burn_series_and_store(tmp_path, env, panorama_dir):
    body = REPORT + """
import sys, time
t = time.process_time()
x = 0
while time.process_time() - t < 0.8:
    x += 1
report(sys.argv[1])
os._exit(0)
"""
    ref = tmp_path / "ref.json"
    p, events = monitor(
        tmp_path, [PY, script(tmp_path, "burn.py", body), str(ref)], "-i", "0.2",
        "--wf-uuid", WF, "--wf-label", "demo", "--dag-job-id", "burn_ID0000001", "--xformation", "burn",
        "--task-id", "ID0000001", "--site", "local", "--condor-job-id", "12.0", env=env,
    )
    assert p.returncode == 0, p.stderr
    on = online(events)
    assert len(on) >= 3
    for ev in on:
        assert set(ev) >= SAMPLE_FIELDS, SAMPLE_FIELDS - set(ev)
        assert ev["wf_uuid"] == WF and ev["dag_job_id"] == "burn_ID0000001" and ev["rank"] == 0
        assert ev["xformation"] == "burn" and ev["task_id"] == "ID0000001" and ev["site"] == "local"
        assert ev["condor_job_id"] == "12.0" and ev["wf_label"] == "demo" and ev["type"] == "kickstart"
        assert isinstance(ev["ts"], float) and isinstance(ev["utime"], float)
    for a, b in zip(on, on[1:]):
        for key in ("utime", "stime", "rchar", "wchar", "syscr", "syscw", "bread", "bwrite"):
            assert b[key] >= a[key], (key, a[key], b[key])
        assert b["ts"] > a["ts"]
    live = [e for e in on if e["procs"] >= 1]
    assert live and all(e["threads"] >= 1 for e in live)
    # rss and vm in kB, as kickstart: a Python interpreter is some MB, not GB, not bytes.
    assert all(2_000 < e["rss"] < 500_000 and e["vm"] > e["rss"] for e in live)
    s = summary(events)
    truth = json.loads(ref.read_text())["cpu"]
    assert s["cpu"] == pytest.approx(truth, rel=0.02, abs=0.01)
    assert s["exitcode"] == 0 and s["signal"] is None and s["duration"] > 0.8
    assert s["rss_peak"] >= max(e["rss"] for e in on)
    # The store gets a series for the job and its summary.
    store = Store()
    store.apply_many(decode(e) for e in events)
    job = store.find_job(WF, "burn_ID0000001")
    assert job is not None and job.series is not None
    assert len(job.series.ranks[0].samples) == len(on)
    assert job.summary["exitcode"] == 0
    assert store.unknown == {} and store.warning_count == 0


def test_memory_growth(tmp_path, env):
    body = """
import time
blocks = []
for i in range(12):
    blocks.append(bytearray(8 * 1024 * 1024))  # zero-filled: every page touched
    time.sleep(0.08)
time.sleep(0.4)
import os
os._exit(0)  # no teardown freeing the blocks before the last sample
"""
    p, events = monitor(tmp_path, [PY, script(tmp_path, "mem.py", body)], "-i", "0.1", env=env)
    assert p.returncode == 0, p.stderr
    rss = [e["rss"] for e in online(events) if e["procs"]]
    assert len(rss) >= 6
    assert max(rss) >= 96 * 1024  # 96 MiB in kB
    assert max(rss) < 400 * 1024
    assert max(rss) > rss[0] + 48 * 1024  # it grew while we watched
    # (The last samples may catch the exit tearing memory down: compare with the start only.)
    assert rss.index(max(rss)) > 0
    assert summary(events)["rss_peak"] >= 96 * 1024


def test_file_io_counts_match_the_process_own_counters(tmp_path, env):
    body = REPORT + """
import sys
data = b"x" * (1 << 20)
with open(sys.argv[2], "wb") as f:
    for _ in range(4):
        f.write(data)
    f.flush()
    os.fsync(f.fileno())
with open(sys.argv[2], "rb") as f:
    while f.read(1 << 16):
        pass
report(sys.argv[1])
os._exit(0)
"""
    ref = tmp_path / "ref.json"
    p, events = monitor(tmp_path, [PY, script(tmp_path, "io.py", body), str(ref), str(tmp_path / "data")],
                        "-i", "0.5", env=env)
    assert p.returncode == 0, p.stderr
    s = summary(events)
    io = json.loads(ref.read_text())["io"]
    assert s["wchar"] >= 4 << 20 and s["rchar"] >= 4 << 20
    # What the process counted for itself up to its report (a few reads later are the report's own).
    for ours, theirs in (("wchar", "wchar"), ("syscw", "syscw"), ("bwrite", "write_bytes"), ("bread", "read_bytes")):
        assert theirs in io
        assert io[theirs] <= s[ours] <= io[theirs] * 1.02 + 4096, (ours, s[ours], io[theirs])
    assert io["rchar"] <= s["rchar"] <= io["rchar"] * 1.02 + 4096


def test_failing_command_exit_code(tmp_path, env):
    p, events = monitor(tmp_path, ["sh", "-c", "echo failing; exit 3"], env=env)
    assert p.returncode == 3
    assert p.stdout == b"failing\n"
    s = summary(events)
    assert (s["exitcode"], s["raw_status"], s["signal"]) == (3, 3 << 8, None)


def test_death_by_signal(tmp_path, env):
    p, events = monitor(tmp_path, ["sh", "-c", "kill -KILL $$"], env=env)
    assert p.returncode == 128 + 9
    s = summary(events)
    assert s["exitcode"] == 137 and s["signal"] == 9 and s["signal_name"] == "SIGKILL"


def test_command_not_found(tmp_path, env):
    p, events = monitor(tmp_path, ["/nonexistent/program", "x"], env=env)
    assert p.returncode == 127
    assert p.stderr.decode().count("\n") == 1 and "cannot run" in p.stderr.decode()
    s = summary(events)
    assert s["exitcode"] == 127 and "error" in s


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_are_forwarded(tmp_path, env, sig):
    body = """
import signal, sys, time
def handler(signum, frame):
    print("got", signum, flush=True)
    sys.exit(7)
signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
print("ready", flush=True)
time.sleep(30)
"""
    out = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [PY, "-m", "panorama_tui.collectors.monitor", "--out", str(out), "-i", "0.2", "--", PY, script(tmp_path, "sig.py", body)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest == f"got {int(sig)}\n".encode()
    assert proc.returncode == 7, err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    s = summary(events)
    assert s["exitcode"] == 7 and s["signals_forwarded"] == [sig.name]


def test_200_short_lived_children_totals(tmp_path, env):
    """Totals of 200 children that each live a few ms: CPU within 2 % of the
    driver's own getrusage (self + children), I/O within 2 % of the bytes written."""
    body = REPORT + """
import subprocess, sys
n, out = int(sys.argv[2]), sys.argv[3]
burn = 'i=0; while [ $i -lt 1500 ]; do i=$((i+1)); done; head -c 65536 /dev/zero > "$1"; cat "$1" > /dev/null'
for k in range(n):
    subprocess.run(["/bin/sh", "-c", burn, "sh", f"{out}.{k % 4}"], check=True)
report(sys.argv[1])
os._exit(0)
"""
    ref = tmp_path / "ref.json"
    p, events = monitor(tmp_path, [PY, script(tmp_path, "many.py", body), str(ref), "200", str(tmp_path / "f")],
                        "-i", "0.1", env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    s = summary(events)
    truth = json.loads(ref.read_text())
    assert s["cpu"] == pytest.approx(truth["cpu"], rel=0.02)
    expected_written = 200 * 2 * 65536  # head into the file, cat into /dev/null
    assert expected_written <= s["wchar"] <= expected_written * 1.02
    assert s["rchar"] >= 200 * 65536  # cat read every file back
    assert s["syscw"] >= 200 * 2
    on = online(events)
    assert len(on) >= 5
    for a, b in zip(on, on[1:]):
        assert b["utime"] >= a["utime"] and b["wchar"] >= a["wchar"]
    # The last online sample is the final total, not a last-seen sum.
    assert on[-1]["wchar"] == s["wchar"] and on[-1]["utime"] == s["utime"]


def test_double_forked_orphan_is_counted(tmp_path, env):
    body = REPORT + """
import sys, time
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(0.3)           # the main process is gone by then
        t = time.process_time()
        x = 0
        while time.process_time() - t < 0.5:
            x += 1
        report(sys.argv[2])
        os._exit(0)
    os._exit(0)
os.wait()
report(sys.argv[1])
os._exit(0)
"""
    main_ref, orphan_ref = tmp_path / "main.json", tmp_path / "orphan.json"
    p, events = monitor(tmp_path, [PY, script(tmp_path, "orphan.py", body), str(main_ref), str(orphan_ref)],
                        "-i", "0.2", env=env)
    assert p.returncode == 0, p.stderr
    s = summary(events)
    truth = json.loads(main_ref.read_text())["cpu"] + json.loads(orphan_ref.read_text())["cpu"]
    assert s["orphans_left"] == []
    assert s["cpu"] == pytest.approx(truth, rel=0.02, abs=0.01)
    # The orphan re-parented to the monitor: it shows in the samples after the main process ended.
    assert any(e["procs"] == 1 and e["utime"] + e["stime"] > 0.3 for e in online(events))


def test_orphan_left_behind_is_reported(tmp_path, env):
    p, events = monitor(tmp_path, ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo started"],
                        "--orphan-wait", "0.3", env=env)
    assert p.returncode == 0
    s = summary(events)
    assert s["orphans_left"] == []  # killed (the default)
    second = tmp_path / "second"
    second.mkdir()
    p, events = monitor(second, ["sh", "-c", "sleep 30 >/dev/null 2>&1 &"], "--orphan-wait", "0.2", "--keep-orphans",
                        env=env)
    s = summary(events)
    try:
        assert len(s["orphans_left"]) == 1
    finally:
        for pid in s["orphans_left"]:
            os.kill(pid, signal.SIGKILL)


def test_interval_0_1_fixed_deadlines(tmp_path, env):
    p, events = monitor(tmp_path, [PY, "-c", "import time; time.sleep(1.55)"], "-i", "0.1", env=env)
    assert p.returncode == 0
    on = [e for e in online(events) if e["procs"]]
    assert len(on) >= 12  # 15 ticks in 1.55 s; a loaded machine may skip one or two
    ts = [e["ts"] for e in on]
    gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
    assert 0.08 <= gaps[len(gaps) // 2] <= 0.13
    # No drift: samples stay on the grid start + k * interval (a late one does not
    # shift the ones after it; ticks we are late for are skipped, not bunched).
    first = on[0]["ts"]
    offsets = sorted(abs((e["ts"] - first) - 0.1 * round((e["ts"] - first) / 0.1)) for e in on)
    assert offsets[len(offsets) // 2] < 0.02
    assert sum(o < 0.035 for o in offsets) >= 0.7 * len(offsets)
    assert min(gaps) > 0.01  # never two samples back to back for missed ticks
    assert all(e["interval"] == 0.1 for e in on)


# ---------------------------------------------------------------------------
# stdout and payload blocks


def _kickstart_stdout(shared_data: Path) -> bytes:
    """The real stdout of pegasus-transfer from the stage_out kickstart record."""
    text = (shared_data / "pegasus/submitdirs/process_wf_success/00/00/stage_out_local_local_0_0.out.000").read_text()
    lines = text.split("      data: |\n", 1)[1].splitlines()
    out = []
    for line in lines:
        if not line.startswith("        "):
            break
        out.append(line[8:])
    return ("\n".join(out) + "\n").encode()


def _expected_passthrough(shared_data: Path, panorama_dir: Path) -> tuple[bytes, bytes]:
    transfer = _kickstart_stdout(shared_data)
    darshan = (panorama_dir / "monitoring-payload-darshan.txt").read_bytes()
    head = b"first line\n\xff\xfe binary \x00 bytes\n@@@ not a marker @@@MONITORING\n"
    data = head + transfer + darshan + b"after the block\nno newline at the end"
    # The multi-line block goes whole; the one-line block leaves its log prefix and newline.
    t_start = transfer.index(b"@@@MONITORING_PAYLOAD - START@@@")
    t_end = transfer.index(b"@@@MONITORING_PAYLOAD - END@@@") + len(b"@@@MONITORING_PAYLOAD - END@@@")
    expected = head + transfer[:t_start] + transfer[t_end:] + b"after the block\nno newline at the end"
    return data, expected


@pytest.mark.parametrize("writer", ["cat", "bytewise"])
def test_payload_blocks_published_and_stdout_byte_exact(tmp_path, env, shared_data, panorama_dir, writer):
    data, expected = _expected_passthrough(shared_data, panorama_dir)
    src = tmp_path / "stdout.bin"
    src.write_bytes(data)
    if writer == "cat":
        cmd = ["cat", str(src)]
    else:  # one byte per write: markers arrive split across reads
        cmd = [PY, "-c", "import os,sys\nfor b in open(sys.argv[1],'rb').read(): os.write(1, bytes([b]))", str(src)]
    p, events = monitor(tmp_path, cmd, "--wf-uuid", WF, "--dag-job-id", "namd_ID0000002",
                        "--condor-job-id", "10469.0", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected
    darshan = [e for e in events if e["event"] == "darshan.perf"]
    metric = [e for e in events if e["event"] == "int.metric"]
    assert len(darshan) == 1 and len(metric) == 1
    d = darshan[0]
    assert d["POSIX_module_data"]["total_bytes"] == 403761 and d["ts"] == 1552878285
    assert (d["xwf_id"], d["job_id"], d["sched_id"]) == (WF, "namd_ID0000002", "10469.0")
    assert d["monitoring_event"] == "darshan.perf"
    m = metric[0]
    assert m["payload_event"] == "check" and m["succeeded"] == 1 and m["duration"] == "0.141" and m["ts"] == 1677911077
    assert summary(events)["payload_events"] == 2
    store = Store()
    store.apply_many(decode(e) for e in events)
    job = store.find_job(WF, "namd_ID0000002")
    assert job is not None and job.darshan and len(job.darshan) == 1


def test_large_binary_stdout_passes_unchanged(tmp_path, env):
    blob = random.Random(5).randbytes(3 << 20)
    src = tmp_path / "blob"
    src.write_bytes(blob)
    p, events = monitor(tmp_path, ["cat", str(src)], env=env)
    assert p.returncode == 0 and p.stdout == blob


def test_bad_blocks_pass_through(tmp_path, env):
    text = (b"a\n@@@MONITORING_PAYLOAD - START@@@\n{not json\n@@@MONITORING_PAYLOAD - END@@@\n"
            b"b\n@@@MONITORING_PAYLOAD - START@@@ never ends\n")
    src = tmp_path / "o"
    src.write_bytes(text)
    p, events = monitor(tmp_path, ["cat", str(src)], env=env)
    assert p.stdout == text
    assert [e["event"] for e in events] == ["kickstart.inv.online", "kickstart.inv.summary"]
    assert b"not JSON" in p.stderr and b"without END" in p.stderr


def test_payload_filter_any_split():
    """In process: every way of cutting the stream in two gives the same result."""
    block = b'@@@MONITORING_PAYLOAD - START@@@{"monitoring_event": "x", "payload": [{"a": 1}]}@@@MONITORING_PAYLOAD - END@@@'
    data = b"pre " + block + b"\n" + block + b"\nmid\n@@@MONITO\n" + block + b"post"
    expected = b"pre \n" + b"mid\n@@@MONITO\npost"
    for cut in range(len(data) + 1):
        got_blocks = []
        f = PayloadFilter(got_blocks.append)
        out = f.feed(data[:cut]) + f.feed(data[cut:]) + f.finish()
        assert out == expected, cut
        assert len(got_blocks) == 3, cut


def test_payload_events_keep_item_fields():
    block = {"monitoring_event": "darshan.perf", "payload": [{"jobid": "7", "job_id": "own"}], "ts": 5}
    (ev,) = payload_events(block, {"wf_uuid": WF, "dag_job_id": "j", "rank": 2}, "h", now=9.0)
    assert ev["event"] == "darshan.perf" and ev["job_id"] == "own" and ev["xwf_id"] == WF
    assert ev["ts"] == 5 and ev["rank"] == 2 and ev["hostname"] == "h"
    (ev,) = payload_events({"payload": [{}]}, {}, None, now=9.0)
    assert ev["event"] == "monitoring.additional" and ev["ts"] == 9.0


# ---------------------------------------------------------------------------
# context, MPI, arguments


def test_context_from_pegasus_condor_and_mpi_env(tmp_path, env):
    e = dict(env, PEGASUS_WF_UUID=WF, PEGASUS_WF_LABEL="1000genome", PEGASUS_DAG_JOB_ID="individuals_ID0000001",
             PEGASUS_SITE="condorpool", PEGASUS_XFORMATION="individuals", PEGASUS_TASK_ID="ID0000001",
             CONDOR_JOBID="14988.0", OMPI_COMM_WORLD_RANK="3")
    p, events = monitor(tmp_path, ["true"], env=e)
    s = summary(events)
    assert (s["wf_uuid"], s["wf_label"], s["dag_job_id"], s["site"], s["xformation"], s["task_id"],
            s["condor_job_id"], s["rank"]) == (WF, "1000genome", "individuals_ID0000001", "condorpool",
                                               "individuals", "ID0000001", "14988.0", 3)
    ad = tmp_path / ".job.ad"
    ad.write_text('ClusterId = 42\nProcId = 1\npegasus_wf_uuid = "%s"\npegasus_wf_dag_job_id = "ls_ID0000001"\n'
                  'pegasus_site = "condorpool"\npegasus_wf_xformation = "ls"\n' % WF)
    p, events = monitor(tmp_path, ["true"], "--rank", "5", env=dict(env, _CONDOR_JOB_AD=str(ad), SLURM_PROCID="1"))
    s = summary(events)
    assert (s["wf_uuid"], s["dag_job_id"], s["condor_job_id"], s["site"], s["xformation"], s["rank"]) == (
        WF, "ls_ID0000001", "42.1", "condorpool", "ls", 5)


def test_one_trace_per_rank(tmp_path, env):
    """As under mpirun: one wrapper per rank, each with its rank, in per-rank files."""
    procs = []
    for rank in (0, 1):
        e = dict(env, PMI_RANK=str(rank), PEGASUS_WF_UUID=WF, PEGASUS_DAG_JOB_ID="mpi_ID0000009")
        procs.append(subprocess.Popen(
            [PY, "-m", "panorama_tui.collectors.monitor", "-i", "0.1", "--out", str(tmp_path / "ev.{rank}.jsonl"), "--",
             PY, "-c", "import time; time.sleep(0.6)"], env=e, cwd=tmp_path))
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    store = Store()
    for rank in (0, 1):
        events = [json.loads(x) for x in (tmp_path / f"ev.{rank}.jsonl").read_text().splitlines()]
        assert {e["rank"] for e in events} == {rank}
        store.apply_many(decode(e) for e in events)
    job = store.find_job(WF, "mpi_ID0000009")
    assert sorted(job.series.ranks) == [0, 1]


def test_default_output_file_in_working_dir(tmp_path, env):
    p = subprocess.run([PY, "-m", "panorama_tui.collectors.monitor", "--", "true"], env=env, cwd=tmp_path, capture_output=True)
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b""
    files = list(tmp_path.glob("panorama-monitor.*.jsonl"))
    assert len(files) == 1
    pid = int(files[0].name.split(".")[1])
    assert json.loads(files[0].read_text().splitlines()[-1])["monitor_pid"] == pid
    e = dict(env, PANORAMA_MONITOR_OUT=str(tmp_path / "env-{host}.jsonl"))
    subprocess.run([PY, "-m", "panorama_tui.collectors.monitor", "--", "true"], env=e, cwd=tmp_path, check=True)
    assert len(list(tmp_path.glob("env-*.jsonl"))) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "no command given"),
        (["-i", "0.05", "--", "true"], "must be a number >= 0.1"),
        (["-i", "soon", "--", "true"], "not a number"),
        (["--out", "-", "--", "true"], "stdout carries the command's output"),
        (["--bogus", "--", "true"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_one_line(tmp_path, env, args, message):
    p = subprocess.run([PY, "-m", "panorama_tui.collectors.monitor", *args], env=env, cwd=tmp_path, capture_output=True)
    assert p.returncode == 125  # the wrapper's own failure, distinct from any the command gives
    err = p.stderr.decode()
    assert err.count("\n") == 1 and message in err and err.startswith("panorama-monitor: error:")
    assert not list(tmp_path.glob("*.jsonl"))


def test_unwritable_output_is_a_clear_error(tmp_path, env):
    p = subprocess.run([PY, "-m", "panorama_tui.collectors.monitor", "--out", "/proc/no/such/dir/x.jsonl", "--", "true"],
                       env=env, capture_output=True)
    assert p.returncode == 125 and p.stderr.decode().count("\n") == 1


# -- SIGTERM takes the job's whole tree by default, as kickstart does (#12 item 11) ---------------

DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()                   # a daemon's double fork: out of the job's process group
    if os.fork() == 0:
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.wait()
print("ready", flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _terminated(tmp_path, env, *opts):
    pidfile = tmp_path / "daemon.pid"
    proc = subprocess.Popen(
        [PY, "-m", "panorama_tui.collectors.monitor", "--out", str(tmp_path / "events.jsonl"), "-i", "0.2", *opts, "--",
         PY, script(tmp_path, "daemon.py", DAEMON), str(pidfile)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 10
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "the daemon never started"
            time.sleep(0.02)
        orphan = int(pidfile.read_text())
        assert _alive(orphan)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)  # not communicate(): a child left running holds the stderr pipe
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    return proc, orphan, summary([json.loads(ln) for ln in (tmp_path / "events.jsonl").read_text().splitlines()])


def test_sigterm_ends_the_jobs_double_forked_children_by_default(tmp_path, env):
    proc, orphan, s = _terminated(tmp_path, env)
    try:
        assert proc.returncode == 128 + signal.SIGTERM
        assert wait_gone(orphan), "the job's background child survived the SIGTERM"
        assert s["orphans_left"] == [] and s["signals_forwarded"] == ["SIGTERM"]
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_keep_orphans_leaves_them_running(tmp_path, env):
    proc, orphan, s = _terminated(tmp_path, env, "--keep-orphans", "--orphan-wait", "0.2")
    try:
        assert proc.returncode == 128 + signal.SIGTERM
        assert _alive(orphan)
        assert s["orphans_left"] == [orphan]
    finally:
        os.kill(orphan, signal.SIGKILL)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False
