"""panorama-darshan on the real logs the ``darshan`` wheel ships.

The expected numbers are the real ``darshan-parser --perf`` output of
darshan-util 3.3.1 on the same logs (shared data ``darshan/``).  Damaged logs
are made here from the real ones: cut short, a wrong version, a module map
removed, and one whose nprocs is smaller than its records' ranks (which makes
libdarshan-util's accumulator abort the process).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

darshan = pytest.importorskip("darshan")

from panorama_tui.collectors.darshan.collector import find_logs, payload_block  # noqa: E402
from panorama_tui.collectors.monitor.wrapper import PayloadFilter, payload_events  # noqa: E402
from panorama_tui.core.events import decode  # noqa: E402
from panorama_tui.model.store import Store  # noqa: E402

PY = sys.executable
WHEEL = Path(darshan.__file__).parent
INPUT = WHEEL / "tests" / "input"
WF = "e8c30de5-6bb2-4b38-a000-2b719e688e38"


@pytest.fixture
def env(child_env):
    e = child_env()
    for k in list(e):
        if k.startswith(("PEGASUS_", "CONDOR_JOBID", "_CONDOR_JOB_AD")):
            del e[k]
    return e


def run(args, env, cwd=None, timeout=120):
    return subprocess.run([PY, "-m", "panorama_tui.collectors.darshan", *args], env=env, cwd=cwd, capture_output=True,
                          timeout=timeout)


def run_events(tmp_path, args, env):
    out = tmp_path / "events.jsonl"
    if out.exists():
        out.unlink()
    p = run(["--out", str(out), *args], env)
    events = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return p, events


def expected_perf(path: Path) -> tuple[dict, dict]:
    """(job fields, {module: {field: printed text}}) from darshan-parser --perf output."""
    job, mods, mod = {}, {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"# (darshan log version|compression method|exe|uid|jobid|start_time|end_time|nprocs|run time"
                     r"|start_time_asci|end_time_asci): (.*)$", line)
        if m and mod is None:
            job[m.group(1)] = m.group(2)
            continue
        m = re.match(r"# metadata: (\S+) = (.*)$", line)
        if m:
            job.setdefault("metadata", {})[m.group(1)] = m.group(2)
            continue
        m = re.match(r"# (\S+) module data$", line)
        if m:
            mod = m.group(1)
            mods[mod] = {}
            continue
        m = re.match(r"# (total_bytes|agg_perf_by_\w+|unique files: \w+|shared files: \w+): (\S+)$", line)
        if m and mod:
            mods[mod][m.group(1)] = m.group(2)
    return job, mods


@pytest.fixture(scope="module")
def sample_events(tmp_path_factory, child_env):
    """One collector run on the two logs with expected output, with workflow context."""
    e = child_env()
    for k in list(e):
        if k.startswith(("PEGASUS_", "CONDOR_JOBID", "_CONDOR_JOB_AD")):
            del e[k]
    tmp = tmp_path_factory.mktemp("darshan-samples")
    p, events = run_events(tmp, [str(INPUT / "sample.darshan"), str(INPUT / "sample-goodost.darshan"),
                                 "--wf-uuid", WF, "--dag-job-id", "namd_ID0000002", "--condor-job-id", "10469.0"], e)
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    return {Path(ev["log_file"]).stem: ev for ev in events}


@pytest.mark.parametrize("name", ["sample", "sample-goodost"])
def test_every_field_equals_darshan_parser_3_3_1(sample_events, shared_data, name):
    job, mods = expected_perf(shared_data / "darshan" / f"darshan-parser-3.3.1_perf_{name}.txt")
    ev = sample_events[name]
    assert ev["event"] == "darshan.perf"
    assert ev["darshan_log_version"] == job["darshan log version"]
    assert ev["compression_method"] == job["compression method"]
    assert ev["exe"] == job["exe"]
    assert ev["uid"] == job["uid"] and ev["jobid"] == job["jobid"]
    assert ev["start_time"] == int(job["start_time"]) and ev["end_time"] == int(job["end_time"])
    assert ev["start_time_ascii"] == job["start_time_asci"] and ev["end_time_ascii"] == job["end_time_asci"]
    assert ev["nprocs"] == int(job["nprocs"]) and ev["run_time"] == int(job["run time"])
    assert ev["metadata"] == job["metadata"]
    assert sorted(k for k in ev if k.endswith("_module_data")) == sorted(f"{m}_module_data" for m in mods)
    checked = 0
    for mod, fields in mods.items():
        data = ev[f"{mod}_module_data"]
        for key, text in fields.items():
            if key == "total_bytes":
                got = str(data["total_bytes"])
            elif key.startswith("agg_perf"):
                got = f"{data[key]:.6f}"
            else:
                group, field = key.split(": ")
                value = data[group.replace(" ", "_")][field]
                got = str(value) if field == "slowest_rank" else f"{value:.6f}"
            assert got == text, (mod, key)
            checked += 1
    assert checked == 13 * len(mods)


def test_shape_as_stored_and_store(sample_events, panorama_dir):
    stored = json.loads((panorama_dir / "darshan.perf.as-stored.json").read_text())
    ev = sample_events["sample"]
    added_by_the_pipeline = {"@version", "@timestamp", "type", "event", "job_inst_id"}
    missing = set(stored) - added_by_the_pipeline - set(ev)
    assert not missing
    for mod in ("POSIX", "STDIO"):
        ours = ev[f"{mod}_module_data"]
        theirs = stored[f"{mod}_module_data"]
        assert set(theirs) <= set(ours)
        assert set(ours["shared_files"]) == set(theirs["shared_files"])
        assert set(ours["unique_files"]) == set(theirs["unique_files"])
    assert (ev["xwf_id"], ev["job_id"], ev["sched_id"]) == (WF, "namd_ID0000002", "10469.0")
    assert isinstance(ev["uid"], str) and isinstance(ev["jobid"], str)  # as stored
    store = Store()
    store.apply_many(decode(e) for e in sample_events.values())
    job = store.find_job(WF, "namd_ID0000002")
    assert job is not None and len(job.darshan) == 2  # two logs of the same job


def all_wheel_logs() -> list[Path]:
    return sorted(set(INPUT.glob("*.darshan")) | set((WHEEL / "examples").rglob("*.darshan")))


def test_all_wheel_logs_and_derived_metrics(tmp_path, env):
    logs = all_wheel_logs()
    assert len(logs) >= 15
    p, events = run_events(tmp_path, [str(x) for x in logs], env)
    assert len(events) == len(logs)
    perf = [e for e in events if e["event"] == "darshan.perf"]
    assert len(perf) >= len(logs) - 2, [e.get("reason") for e in events if e["event"] != "darshan.perf"]
    compared = 0
    for ev in perf:
        for key, data in ev.items():
            if not key.endswith("_module_data") or "derived_metrics" not in data:
                continue
            dm = data["derived_metrics"]
            assert dm["total_bytes"] == data["total_bytes"]
            assert set(dm["category_counters"]) == {"all", "read_only", "write_only", "read_write", "unique",
                                                    "shared", "part_shared"}
            # The legacy by_slowest estimate and the accumulator agree (darshan's own finding).
            if dm["agg_perf_by_slowest"] is not None:
                assert data["agg_perf_by_slowest"] == pytest.approx(dm["agg_perf_by_slowest"], rel=1e-6, abs=1e-6)
                compared += 1
    assert compared >= 15


# ---------------------------------------------------------------------------
# damaged logs


def _header_maps(data: bytes):
    name_off, name_len = struct.unpack("<QQ", data[24:40])
    mods = [list(struct.unpack("<QQ", data[40 + 16 * i : 56 + 16 * i])) for i in range(16)]
    return name_off, mods


def with_nprocs(src: Path, dst: Path, nprocs: int) -> None:
    """Rewrite the job record's nprocs (3.10 layout: uid, start, end, nprocs, jobid)."""
    data = bytearray(src.read_bytes())
    name_off, mods = _header_maps(data)
    raw = bytearray(zlib.decompress(bytes(data[360:name_off])))
    struct.pack_into("<q", raw, 24, nprocs)
    job = zlib.compress(bytes(raw))
    delta = len(job) - (name_off - 360)
    out = bytearray(data[:360]) + job + data[name_off:]
    struct.pack_into("<Q", out, 24, name_off + delta)
    for i, (off, ln) in enumerate(mods):
        if ln:
            struct.pack_into("<Q", out, 40 + 16 * i, off + delta)
    dst.write_bytes(bytes(out))


def without_modules(src: Path, dst: Path, keep: set[int]) -> None:
    data = bytearray(src.read_bytes())
    for i in range(16):
        if i not in keep:
            struct.pack_into("<QQ", data, 40 + 16 * i, 0, 0)
    dst.write_bytes(bytes(data))


@pytest.fixture
def bad_logs(tmp_path) -> dict[str, Path]:
    good = (INPUT / "sample.darshan").read_bytes()
    d = tmp_path / "bad"
    d.mkdir()
    logs = {}
    logs["truncated"] = d / "truncated.darshan"
    logs["truncated"].write_bytes(good[: len(good) * 6 // 10])
    v = bytearray(good)
    v[0:8] = b"2.06\0\0\0\0"
    logs["version"] = d / "version.darshan"
    logs["version"].write_bytes(bytes(v))
    logs["not_darshan"] = d / "garbage.darshan"
    logs["not_darshan"].write_bytes(b"this is a text file, not a log\n" * 20)
    logs["empty"] = d / "empty.darshan"
    logs["empty"].write_bytes(b"")
    logs["missing"] = d / "missing.darshan"
    logs["aborted"] = d / "rank-beyond-nprocs.darshan"
    with_nprocs(INPUT / "sample.darshan", logs["aborted"], 1)
    logs["no_modules"] = d / "lustre-only.darshan"
    without_modules(INPUT / "sample.darshan", logs["no_modules"], keep={6})
    return logs


def test_damaged_logs_give_error_events_and_the_collector_goes_on(tmp_path, env, bad_logs):
    order = ["truncated", "aborted", "version", "not_darshan", "empty", "missing", "no_modules"]
    args = []
    for kind in order:
        args += [str(bad_logs[kind]), str(INPUT / "sample-goodost.darshan")]
    p, events = run_events(tmp_path, args, env)
    assert p.returncode == 1
    assert len(events) == 2 * len(order)
    expected_kind = {"empty": "not_darshan"}
    for i, kind in enumerate(order):
        err, good = events[2 * i], events[2 * i + 1]
        assert err["event"] == "darshan.error", (kind, err)
        assert err["kind"] == expected_kind.get(kind, kind), (kind, err)
        assert err["log_file"] == str(bad_logs[kind])
        assert good["event"] == "darshan.perf" and good["STDIO_module_data"]["total_bytes"] == 1584
    lines = p.stderr.decode().splitlines()
    assert len(lines) == len(order)  # one clear line per bad log
    by_kind = dict(zip(order, lines))
    assert "truncated" in by_kind["truncated"]
    assert "SIGABRT" in by_kind["aborted"] and "rank < acc->job_nprocs" in by_kind["aborted"]
    assert "version 2.06" in by_kind["version"]
    assert "not a Darshan log" in by_kind["not_darshan"] and "No such file" in by_kind["missing"]
    assert "no POSIX, MPI-IO or STDIO data" in by_kind["no_modules"]
    for line in lines:
        assert line.startswith("panorama-darshan: ")
    # The store takes error events without complaint.
    store = Store()
    store.apply_many(decode(e) for e in events)
    assert store.unknown == {}


# ---------------------------------------------------------------------------
# payload mode, watch mode


def test_payload_block_for_pegasus_and_panorama_monitor(tmp_path, env):
    log = str(INPUT / "sample.darshan")
    p = run(["--payload", log], env)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert out.startswith("@@@MONITORING_PAYLOAD - START@@@\n{\n    \"monitoring_event\": \"darshan.perf\"")
    assert out.endswith("}\n@@@MONITORING_PAYLOAD - END@@@\n")
    blocks = []
    f = PayloadFilter(blocks.append)
    assert f.feed(p.stdout) + f.finish() == b""
    (block,) = blocks
    assert list(block) == ["monitoring_event", "payload", "ts"]  # ts after the payload, as pegasus-darshan
    (item,) = block["payload"]
    assert "event" not in item and item["POSIX_module_data"]["agg_perf_by_slowest"] == 24535.281934
    (ev,) = payload_events(block, {"wf_uuid": WF, "dag_job_id": "namd_ID0000002"})
    assert ev["event"] == "darshan.perf" and ev["xwf_id"] == WF

    # As a post-job step under panorama-monitor: the block becomes an event with the job's context.
    mon_out = tmp_path / "mon.jsonl"
    e = dict(env, PEGASUS_WF_UUID=WF, PEGASUS_DAG_JOB_ID="namd_ID0000002", CONDOR_JOBID="10469.0")
    p = subprocess.run([PY, "-m", "panorama_tui.collectors.monitor", "--out", str(mon_out), "--",
                        PY, "-m", "panorama_tui.collectors.darshan", "--payload", log], env=e, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b""
    events = [json.loads(x) for x in mon_out.read_text().splitlines()]
    (d,) = [x for x in events if x["event"] == "darshan.perf"]
    assert (d["xwf_id"], d["job_id"], d["sched_id"]) == (WF, "namd_ID0000002", "10469.0")
    assert d["MPI-IO_module_data"]["agg_perf_by_open"] == 18747.934285
    store = Store()
    store.apply_many(decode(x) for x in events)
    job = store.find_job(WF, "namd_ID0000002")
    assert job.darshan and job.series is not None and job.summary["exitcode"] == 0


def _dated(root: Path, t: float) -> Path:
    lt = time.localtime(t)
    d = root / str(lt.tm_year) / str(lt.tm_mon) / str(lt.tm_mday)
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_watch_dated_directory(tmp_path, env):
    root = tmp_path / "darshan-logs"
    today = _dated(root, time.time())
    src = INPUT / "sample-goodost.darshan"
    shutil.copy(src, today / "alice_ior_id6909118_8-4-84472-1234_1.darshan")
    shutil.copy(src, today / "bob_ior_id6909119_8-4-84472-1235_1.darshan")
    shutil.copy(src, today / "alice_ior_id6909120_8-4-84472-1236_1.darshan_partial")
    state = tmp_path / "state.json"
    args = ["--watch", str(root), "--user", "alice", "--poll", "0.1", "--settle", "0", "--state", str(state),
            "--max-polls", "2"]
    p, events = run_events(tmp_path, args, env)
    assert p.returncode == 0, p.stderr
    assert [Path(e["log_file"]).name for e in events] == ["alice_ior_id6909118_8-4-84472-1234_1.darshan"]
    # The writer finished the partial log (renamed it); a second run only sees what is new.
    os.rename(today / "alice_ior_id6909120_8-4-84472-1236_1.darshan_partial",
              today / "alice_ior_id6909120_8-4-84472-1236_1.darshan")
    p, events = run_events(tmp_path, args, env)
    assert [Path(e["log_file"]).name for e in events] == ["alice_ior_id6909120_8-4-84472-1236_1.darshan"]
    assert events[0]["event"] == "darshan.perf"
    p, events = run_events(tmp_path, args, env)
    assert events == []
    # One job's logs, once, by scheduler job id.
    assert [Path(x).name for x in find_logs(str(root), jobid="6909119")] == [
        "bob_ior_id6909119_8-4-84472-1235_1.darshan"]
    p, events = run_events(tmp_path, ["--log-dir", str(root), "--jobid", "6909119"], env)
    assert p.returncode == 0 and len(events) == 1 and events[0]["jobid"] == "6909118"  # the log's own jobid


def test_watch_runs_until_sigterm(tmp_path, env):
    root = tmp_path / "logs"
    root.mkdir()
    out = tmp_path / "w.jsonl"
    proc = subprocess.Popen([PY, "-m", "panorama_tui.collectors.darshan", "--watch", str(root), "--poll", "0.1", "--settle", "0",
                             "--state", str(tmp_path / "s.json"), "--out", str(out)], env=env,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        shutil.copy(INPUT / "sample.darshan", _dated(root, time.time()) / "carol_vpic_id4478544_3-20-1-1_1.darshan")
        deadline = time.time() + 60
        while time.time() < deadline and not (out.exists() and out.read_text().strip()):
            time.sleep(0.1)
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    (ev,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert ev["event"] == "darshan.perf" and ev["nprocs"] == 2048


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give LOG files"),
        (["--watch", "/no/such/dir"], "not a directory"),
        (["--payload", "--out", "-", "x.darshan"], "--payload prints the block on stdout"),
        (["--watch", ".", "x.darshan"], "cannot be combined"),
        (["--timeout", "0", "x.darshan"], "must be a number"),
    ],
)
def test_bad_arguments(env, args, message):
    p = run(args, env)
    assert p.returncode == 64
    err = p.stderr.decode()
    assert err.count("\n") == 1 and message in err, err


def test_payload_block_function():
    text = payload_block([{"event": "darshan.perf", "ts": 1.0, "monitoring_event": "darshan.perf", "a": float("nan")}],
                         ts=1552878285)
    assert '"a": null' in text and '"ts": 1552878285' in text
