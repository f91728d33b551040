"""The recording: append, read back, survive a SIGKILL mid-write."""

from __future__ import annotations

import json
import os
from collections import Counter
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from panorama_tui.core.events import decode_line
from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.core.recorder import (
    CHUNK_ROWS, FORMAT, VERSION, Recorder, Retention, SettingsError, default_recording_path, is_recording, prune,
    read_records, retention,
)
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.model.store import Store

DEMO = os.path.join(os.path.dirname(__file__), "..", "panorama_tui", "data", "demo.panorama.db")


def rows(path) -> list[tuple]:
    """(receive time, body) of every record, whatever the recording's format."""
    return read_records(path)


def meta(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


def test_append_and_read_back(tmp_path, replay_dir):
    path = str(tmp_path / "sub" / "dir" / "rec.panorama.db")  # parent dirs are made
    lines = [ln for ln in (replay_dir / "process_wf_failure" / "events.json").read_bytes().splitlines() if ln]
    rec = Recorder(path, source="events.json")
    assert rec.append([]) == 0
    assert rec.append(lines[:10], recv_ts=1000.0) == 10
    ev = decode_line(lines[10])
    assert rec.append([ev, {"event": "custom.thing", "x": 1}, "plain text", b"\xff\xfebinary"], recv_ts=1001.5) == 4
    assert rec.count == 14
    rec.set_meta("note", "hello")
    rec.close()

    got = rows(path)
    assert [r[0] for r in got] == [1000.0] * 10 + [1001.5] * 4
    # raw bytes are kept as they arrived (a replay meets the same bytes)
    assert [r[1] for r in got[:10]] == lines[:10]
    # events and dicts round-trip
    again = decode_line(got[10][1])
    assert again.name == ev.name and again.data == ev.data
    assert json.loads(got[11][1]) == {"event": "custom.thing", "x": 1}
    assert got[12][1] == b"plain text"
    assert got[13][1] == b"\xff\xfebinary"

    m = meta(path)
    assert m["format"] == FORMAT
    assert m["version"] == VERSION == "2"
    assert m["source"] == "events.json"
    assert m["note"] == "hello"
    assert float(m["created"]) > 0


def test_reopen_appends_and_keeps_meta(tmp_path):
    path = str(tmp_path / "rec.db")
    r1 = Recorder(path, source="first")
    r1.append([b'{"event":"a"}'], recv_ts=1.0)
    r1.close()
    r2 = Recorder(path, source="second")
    r2.append([b'{"event":"b"}', b'{"event":"c"}'], recv_ts=2.0)
    r2.close()
    assert [r[1] for r in rows(path)] == [b'{"event":"a"}', b'{"event":"b"}', b'{"event":"c"}']
    assert meta(path)["source"] == "first"


def test_append_timed(tmp_path):
    path = str(tmp_path / "rec.db")
    r = Recorder(path)
    assert r.append_timed([(5.0, "x", "{}"), (7.5, None, "junk")]) == 2
    r.close()
    assert rows(path) == [(5.0, b"{}"), (7.5, b"junk")]


def test_wal_mode_and_closed_file_has_no_wal_left(tmp_path):
    path = str(tmp_path / "rec.db")
    r = Recorder(path)
    assert r.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    r.append([b"{}"] * 100)
    r.close()
    wal = path + "-wal"
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0


def test_is_recording(tmp_path, replay_dir, shared_data):
    path = str(tmp_path / "rec.db")
    Recorder(path).close()
    assert is_recording(path)
    # an open recording (WAL, being written) is one too
    live = Recorder(str(tmp_path / "live.db"))
    live.append([b"{}"])
    assert is_recording(str(tmp_path / "live.db"))
    live.close()
    assert not is_recording(str(tmp_path / "missing.db"))
    assert not is_recording(str(tmp_path))
    assert not is_recording(str(replay_dir / "process_wf_failure" / "events.json"))
    # real SQLite files that are not recordings: a Stampede DB, a Parsl DB
    stampede = tmp_path / "stampede.db"
    shutil.copy(replay_dir / "process_wf_failure" / "process-0.stampede.db", stampede)
    assert not is_recording(str(stampede))
    parsl = tmp_path / "parsl.db"
    shutil.copy(shared_data / "parsl" / "monitoring-run000-only.db", parsl)
    assert not is_recording(str(parsl))
    # an SQLite file with a meta table of another format
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    c.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    c.commit()
    c.close()
    assert not is_recording(str(other))
    # a file with the SQLite header and garbage after it
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 600)
    assert not is_recording(str(broken))


def test_default_recording_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    p = default_recording_path()
    assert p.startswith(str(tmp_path / "panorama-top" / "recordings"))
    assert p.endswith(".panorama.db")


def test_ingest_records_what_a_followed_source_received(tmp_path, replay_dir):
    """Garbage included: a replay meets the same bytes the live session met."""
    lines = [ln + b"\n" for ln in (replay_dir / "process_wf_success" / "events.json").read_bytes().splitlines() if ln]
    src_path = tmp_path / "events.json"
    src_path.write_bytes(b"".join(lines[:20]) + b"not json at all\n" + b"".join(lines[20:]))
    rec_path = str(tmp_path / "rec.db")
    store = Store()
    src = JsonLogSource(str(src_path), follow=True, poll=0.02)
    ing = Ingest(src, store, recorder=Recorder(rec_path)).start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with store.lock:
            if store.event_count == len(lines):
                break
        time.sleep(0.01)
    ing.stop()
    assert store.event_count == len(lines)
    assert store.bad_count == 1
    got = [r[1] for r in rows(rec_path)]
    assert len(got) == len(lines) + 1
    assert got[20] == b"not json at all\n"
    assert got[:20] == lines[:20]


def test_reading_whole_is_not_recorded(tmp_path, replay_dir):
    rec_path = str(tmp_path / "rec.db")
    src = JsonLogSource(str(replay_dir / "process_wf_success" / "events.json"), follow=False)
    ing = Ingest(src, Store(), recorder=Recorder(rec_path))
    ing.run()
    ing.stop()
    assert rows(rec_path) == []


# -- crash safety ---------------------------------------------------------------------

BATCH = 250

CHILD = r"""
import sys
from panorama_tui.core.recorder import Recorder
path, batch = sys.argv[1], int(sys.argv[2])
rec = Recorder(path, source="crash-test")
pad = "x" * 200
n = 0
while True:
    rec.append([('{"event":"test.row","batch":%d,"i":%d,"pad":"%s"}' % (n, i, pad)) for i in range(batch)],
               recv_ts=float(n))
    n += 1
    if n == 20:
        print("ready", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_sigkill_mid_write_loses_at_most_the_batch_in_flight(tmp_path, delay, child_env, repo_root):
    path = str(tmp_path / "crash.panorama.db")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, str(BATCH)],
        cwd=str(repo_root),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == b"ready", child.stderr.read().decode(errors="replace")
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()

    # killed, not closed: the WAL was never checkpointed, recovery is tested
    assert os.path.getsize(path + "-wal") > 0
    assert is_recording(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    got = rows(path)
    n = len(got)
    assert n >= 20 * BATCH
    assert n % BATCH == 0
    per_batch = Counter(int(t) for t, _ in got)
    # whole batches, in order, none missing in the middle
    assert sorted(per_batch) == list(range(len(per_batch)))
    assert set(per_batch.values()) == {BATCH}
    # every body is intact JSON of its batch
    for recv_ts, body in got:
        assert json.loads(body)["batch"] == int(recv_ts)
    # and the file takes more appends after the crash
    r = Recorder(path)
    r.append([b'{"event":"after.crash"}'])
    r.close()
    assert rows(path)[-1][1] == b'{"event":"after.crash"}'
    assert decode_line(rows(path)[-1][1]).name == "after.crash"


# -- format 2: compressed chunks; format 1 still appended to ---------------------------------


def test_batches_are_stored_compressed(tmp_path):
    """#11 item 28: the demo's bodies, recorded as live batches, take a tenth of their size or less."""
    bodies = [b for _, b in read_records(DEMO)] * 3
    path = str(tmp_path / "rec.panorama.db")
    rec = Recorder(path)
    for i in range(0, len(bodies), 500):  # an AMQP source's batch
        rec.append(bodies[i:i + 500], recv_ts=1000.0 + i)
    rec.close()
    raw = sum(map(len, bodies))
    size = os.path.getsize(path)
    assert raw / size >= 8, f"{raw} bytes of records took {size} on disk"
    conn = sqlite3.connect(path)
    try:
        n_rows = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    finally:
        conn.close()
    assert n_rows == sum(-(-len(bodies[i:i + 500]) // CHUNK_ROWS) for i in range(0, len(bodies), 500))
    assert [b for _, b in rows(path)] == bodies


def test_a_version_1_recording_goes_on_in_version_1(tmp_path):
    path = tmp_path / "old.panorama.db"
    shutil.copy(DEMO, path)
    before = rows(str(path))
    rec = Recorder(str(path))
    rec.append([b'{"event":"later"}'], recv_ts=2e9)
    rec.close()
    assert meta(str(path))["version"] == "1"
    assert rows(str(path)) == [*before, (2e9, b'{"event":"later"}')]


# -- pruning --------------------------------------------------------------------------------


def _recording(directory, name: str, size: int, age_days: float, now: float) -> str:
    path = directory / name
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    return str(path)


def test_prune_by_age_and_size_oldest_first_never_the_current(tmp_path):
    now = time.time()
    mb = 2**20
    old = _recording(tmp_path, "a.panorama.db", mb, 20, now)
    mid = _recording(tmp_path, "b.panorama.db", 2 * mb, 3, now)
    new = _recording(tmp_path, "c.panorama.db", 2 * mb, 1, now)
    cur = _recording(tmp_path, "d.panorama.db", mb, 30, now)  # the current one, oldest of all
    other = _recording(tmp_path, "notes.txt", 10 * mb, 90, now)  # not a recording: never touched
    assert prune(str(tmp_path), Retention(keep_days=14, keep_mb=100), current=cur, now=now) == [old]
    assert prune(str(tmp_path), Retention(keep_days=14, keep_mb=3.5), current=cur, now=now) == [mid]
    assert os.path.exists(new) and os.path.exists(cur) and os.path.exists(other)
    assert prune(str(tmp_path), Retention(keep_days=0, keep_mb=0), current=cur, now=now) == [new]
    assert os.path.exists(cur)


def test_prune_leaves_a_recording_another_session_writes(tmp_path):
    now = time.time()
    busy = _recording(tmp_path, "busy.panorama.db", 2**20, 20, now)
    (tmp_path / "busy.panorama.db-wal").write_bytes(b"w")  # a live write-ahead log
    assert prune(str(tmp_path), Retention(keep_days=1, keep_mb=0), now=now) == []
    os.utime(busy + "-wal", (now - 5 * 86400, now - 5 * 86400))  # a crashed session's, aged out
    assert prune(str(tmp_path), Retention(keep_days=1, keep_mb=0), now=now) == [busy]
    assert not os.path.exists(busy + "-wal")


def test_retention_settings(tmp_path):
    cfg = tmp_path / "config.toml"
    assert retention(env={}, config=str(cfg)) == Retention(14, 2048)
    cfg.write_text("[recording]\nkeep_days = 3\nkeep_mb = 500\n")
    assert retention(env={}, config=str(cfg)) == Retention(3, 500)
    assert retention(env={"PANORAMA_RECORDING_KEEP_MB": "50"}, config=str(cfg)) == Retention(3, 50)
    cfg.write_text("[recording]\nkeep_days = 'soon'\n")
    with pytest.raises(SettingsError, match="keep_days must be a number"):
        retention(env={}, config=str(cfg))
    with pytest.raises(SettingsError, match="PANORAMA_RECORDING_KEEP_DAYS must be 0 or more"):
        retention(env={"PANORAMA_RECORDING_KEEP_DAYS": "-1"}, config=str(cfg))


def test_a_chunk_reads_as_text_when_all_ascii_and_as_its_bytes_otherwise():
    from panorama_tui.core.recorder import pack_chunk, unpack_chunk

    ascii_ = [b'{"event":"a"}', b"", b'{"x":"\\u00e9"}']
    for times in (None, [1.0, 2.0, 3.0]):
        got, t = unpack_chunk(pack_chunk(ascii_, times), 3, text=True)
        assert got == [r.decode("ascii") for r in ascii_] and all(type(r) is str for r in got) and t == times
        for other in ([b'{"x":"caf\xc3\xa9"}', b"{}"], [b"\xff\xfe", b"{}"], [b"{}", b"\x80"]):
            got, _ = unpack_chunk(pack_chunk(other, times and times[:2]), 2, text=True)
            assert got == other and all(type(r) is bytes for r in got)
        assert unpack_chunk(pack_chunk(ascii_, times), 3)[0] == ascii_  # bytes unless text is asked for
