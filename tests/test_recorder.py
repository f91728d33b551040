"""The recording: append, read back, survive a SIGKILL mid-write."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from panorama_tui.events import decode_line
from panorama_tui.ingest import Ingest
from panorama_tui.recorder import FORMAT, Recorder, default_recording_path, is_recording
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.store import Store


def rows(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT seq, recv_ts, name, body FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


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
    assert [r[0] for r in got] == list(range(1, 15))
    assert [r[1] for r in got] == [1000.0] * 10 + [1001.5] * 4
    # raw bytes are kept as the text that arrived
    assert [r[3] for r in got[:10]] == [ln.decode() for ln in lines[:10]]
    assert [r[2] for r in got[:10]] == [None] * 10
    # events and dicts carry their name and round-trip
    assert got[10][2] == ev.name
    again = decode_line(got[10][3])
    assert again.name == ev.name and again.data == ev.data
    assert got[11][2] == "custom.thing"
    assert json.loads(got[11][3]) == {"event": "custom.thing", "x": 1}
    assert got[12][3] == "plain text"
    assert got[13][3] == "\ufffd\ufffdbinary"

    m = meta(path)
    assert m["format"] == FORMAT
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
    assert [r[3] for r in rows(path)] == ['{"event":"a"}', '{"event":"b"}', '{"event":"c"}']
    assert meta(path)["source"] == "first"


def test_append_timed(tmp_path):
    path = str(tmp_path / "rec.db")
    r = Recorder(path)
    assert r.append_timed([(5.0, "x", "{}"), (7.5, None, "junk")]) == 2
    r.close()
    assert [(t, n, b) for _, t, n, b in rows(path)] == [(5.0, "x", "{}"), (7.5, None, "junk")]


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
    got = [r[3] for r in rows(rec_path)]
    assert len(got) == len(lines) + 1
    assert got[20] == "not json at all\n"
    assert got[:20] == [ln.decode() for ln in lines[:20]]


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
from panorama_tui.recorder import Recorder
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
        n = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        assert n >= 20 * BATCH
        assert n % BATCH == 0
        per_batch = conn.execute("SELECT recv_ts, COUNT(*) FROM events GROUP BY recv_ts ORDER BY recv_ts").fetchall()
        # whole batches, in order, none missing in the middle
        assert [int(t) for t, _ in per_batch] == list(range(len(per_batch)))
        assert all(c == BATCH for _, c in per_batch)
        # every body is intact JSON of its batch
        for recv_ts, body in conn.execute("SELECT recv_ts, body FROM events"):
            d = json.loads(body)
            assert d["batch"] == int(recv_ts)
    finally:
        conn.close()
    # and the file takes more appends after the crash
    r = Recorder(path)
    r.append([b'{"event":"after.crash"}'])
    r.close()
    assert rows(path)[-1][3] == '{"event":"after.crash"}'
    assert decode_line(rows(path)[-1][3]).name == "after.crash"
