"""panorama-collect end to end, as a real process against the real broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

try:
    from broker import BASE, require_broker, unique, url_for, wait_until
except ImportError:  # pragma: no cover
    from tests.broker import BASE, require_broker, unique, url_for, wait_until

from panorama_tui.pipeline.ingest import decode_batch, run_to_end
from panorama_tui.core.recorder import read_records
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store

pytestmark = pytest.mark.broker
SECRET = "s3cr3t-PW"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no user config file
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.pop("PANORAMA_AMQP_URL", None)
    env.update(extra)
    return env


def _collect(tmp_path, *args, timeout=60, **env):
    return subprocess.run(
        [sys.executable, "-m", "panorama_tui.cli.collect", *args],
        env=_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout,
    )


def _spawn(tmp_path, *args, **env):
    return subprocess.Popen(
        [sys.executable, "-m", "panorama_tui.cli.collect", *args],
        env=_env(tmp_path, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recorded_store(path) -> tuple[Store, int]:
    bodies = [b for _, b in read_records(str(path))]
    store = Store()
    bad: list[str] = []
    for ev in decode_batch(bodies, bad):
        store.apply(ev)
    for r in bad:
        store.note_bad(r)
    return store, len(bodies)


# -- arguments and one-line errors --------------------------------------------------


def test_usage_errors_exit_64(tmp_path):
    r = _collect(tmp_path)
    assert r.returncode == 64 and r.stderr.count("\n") == 1
    r = _collect(tmp_path, "record", "--out", str(tmp_path / "x.panorama.db"))
    assert r.returncode == 64 and "no broker URL" in r.stderr
    r = _collect(tmp_path, "--help")
    assert r.returncode == 0 and "Exit status" in r.stdout and "69" in r.stdout


def test_bad_input_exits_3_with_the_password_masked(tmp_path):
    r = _collect(tmp_path, "record", "--amqp", f"amqp://u:{SECRET}@h/a/b/c", "--out", str(tmp_path / "x.db"))
    assert r.returncode == 3 and SECRET not in r.stderr and "****" in r.stderr
    # (followed, a missing log is waited for, as tail -F does: see test_jsonlog_source)
    r = _collect(tmp_path, "relay", str(tmp_path / "missing.json"), "--no-follow", "--amqp", f"amqp://u:{SECRET}@h/v/e")
    assert r.returncode == 3 and "no such file" in r.stderr
    notlog = tmp_path / "x.txt"
    notlog.write_text("hello\n")
    r = _collect(tmp_path, "relay", str(notlog), "--amqp", "amqp://h/v/e")
    assert r.returncode == 3 and r.stderr.count("\n") == 1


def test_no_wait_exits_69_when_the_broker_is_away(tmp_path):
    url = f"amqp://panorama:{SECRET}@127.0.0.1:{_dead_port()}/panorama/monitoring"
    r = _collect(tmp_path, "record", "--amqp", url, "--out", str(tmp_path / "r.panorama.db"), "--no-wait")
    assert r.returncode == 69, r.stderr
    assert "unavailable" in r.stderr and SECRET not in r.stderr + r.stdout


def test_url_from_the_environment(tmp_path):
    url = f"amqp://panorama:{SECRET}@127.0.0.1:{_dead_port()}/panorama/monitoring"
    r = _collect(tmp_path, "record", "--out", str(tmp_path / "r.panorama.db"), "--no-wait", PANORAMA_AMQP_URL=url)
    assert r.returncode == 69 and SECRET not in r.stderr


# -- relay -> broker -> record -------------------------------------------------------


@pytest.mark.parametrize("fmt", ["events.json", "events.bp"])
def test_relay_and_record_make_the_same_store(admin, tmp_path, replay_dir, fmt):
    ex = admin.exchange()
    url = url_for(ex)
    out = tmp_path / "r.panorama.db"
    log = tmp_path / "record.log"
    rec = _spawn(tmp_path, "record", "--amqp", url, "--out", str(out), "--log", str(log), "--stats-every", "0.5")
    try:
        assert wait_until(lambda: log.exists() and "link connected" in log.read_text(), 20), (
            log.read_text() if log.exists() else ""
        )
        src = replay_dir / "hierarchical_wf_success" / fmt
        r = _collect(tmp_path, "relay", str(src), "--amqp", url, "--no-follow", "--spool", str(tmp_path / "s.db"))
        assert r.returncode == 0, r.stderr
        n = len([ln for ln in src.read_text().splitlines() if ln.strip()])
        assert wait_until(lambda: f"recorded {n}," in log.read_text(), 20), log.read_text()[-2000:]
    finally:
        rec.send_signal(signal.SIGTERM)
        assert rec.wait(20) == 0, rec.stderr.read()
    text = log.read_text()
    assert "SIGTERM: stopping" in text and "stopped;" in text
    store, rows = _recorded_store(out)
    assert rows == n and store.bad_count == 0
    ref = run_to_end(JsonLogSource(str(replay_dir / "hierarchical_wf_success" / "events.json"), follow=False), Store())
    root = ref.roots[0]
    assert summarize(store, store.workflows[root.wf_uuid]) == summarize(ref, root)
    # The recording replays in panorama-top.
    once = subprocess.run(
        [sys.executable, "-m", "panorama_tui.cli.top", "--once", str(out)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode in (0, 1, 2) and "hierarchical-workflow" in once.stdout


def test_relay_spools_while_the_broker_is_away_and_sends_on_restart(admin, tmp_path, replay_dir):
    """Stopped by SIGTERM before the broker was reachable: exit 75, then the next start sends all."""
    ex = admin.exchange()
    q = admin.queue(ex, keys=["stampede.#"])
    spool = str(tmp_path / "spool.db")
    src = replay_dir / "process_wf_failure" / "events.json"
    n = len(src.read_text().splitlines())
    dead = f"amqp://guest:{SECRET}@127.0.0.1:{_dead_port()}/%2F/{ex}"
    log = tmp_path / "relay.log"
    p = _spawn(tmp_path, "relay", str(src), "--amqp", dead, "--spool", spool, "--log", str(log), "--drain-timeout", "1")
    try:
        assert wait_until(lambda: log.exists() and "retrying" in log.read_text(), 20)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
    assert rc == 75, p.stderr.read()
    assert SECRET not in log.read_text()
    assert admin.count(q) == 0
    r = _collect(tmp_path, "relay", str(src), "--amqp", url_for(ex), "--spool", spool, "--no-follow")
    assert r.returncode == 0, r.stderr
    bodies = admin.drain(q)
    # The first run spooled them all and kept its read position: the second sends them, once.
    assert len(bodies) == n
    assert len(set(bodies)) == n


def test_record_on_a_named_queue_stops_without_losing_anything(admin, tmp_path):
    ex = admin.exchange()
    qname = unique("ptest-archive")
    admin.track_queue(qname)
    out = tmp_path / "r.panorama.db"
    log = tmp_path / "record.log"
    rec = _spawn(tmp_path, "record", "--amqp", url_for(ex), "--queue", qname, "--out", str(out), "--log", str(log))
    assert wait_until(lambda: log.exists() and "link connected" in log.read_text(), 20)
    n = 3000
    for i in range(n):
        admin.publish(ex, "stampede.inv.end", json.dumps({"event": "stampede.inv.end", "xwf_id": "w", "i": i}))
        if i == n // 2:
            rec.send_signal(signal.SIGTERM)
    assert rec.wait(20) == 0
    recorded = {json.loads(b)["i"] for _, b in read_records(str(out))}
    left = {json.loads(b)["i"] for b in admin.drain(qname)}
    assert recorded | left == set(range(n))  # every event is either recorded or still queued


def test_wrong_password_never_reaches_the_log(tmp_path):
    require_broker()
    host = BASE.split("@")[-1]
    url = f"amqp://guest:{SECRET}@{host}/%2F/{unique('ptest-ex')}"
    r = _collect(tmp_path, "record", "--amqp", url, "--out", str(tmp_path / "r.db"), "--no-wait")
    assert r.returncode == 69 and "access refused" in r.stderr and SECRET not in r.stderr
    log = tmp_path / "r.log"
    p = _spawn(tmp_path, "record", "--amqp", url, "--out", str(tmp_path / "r.db"), "--log", str(log), "-v")
    try:
        assert wait_until(lambda: log.exists() and "access refused" in log.read_text(), 20)
        time.sleep(1)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 0
    assert SECRET not in log.read_text() + p.stderr.read() + p.stdout.read()


def test_unwritable_recording_is_bad_input(tmp_path, admin):
    ex = admin.exchange()
    r = _collect(tmp_path, "record", "--amqp", url_for(ex), "--out", "/proc/panorama/x.panorama.db")
    assert r.returncode == 3 and "cannot write the recording" in r.stderr


def test_a_relay_restarted_mid_file_sends_nothing_twice(admin, tmp_path, replay_dir):
    """#12 item 11: the read position is kept with the spool; a SIGTERM and a kill -9 between
    growths of a followed file give 0 duplicates on the real broker (7,035 before)."""
    ex = admin.exchange()
    q = admin.queue(ex, keys=["stampede.#"])
    spool = tmp_path / "spool.db"
    lines = (replay_dir / "hierarchical_wf_success" / "events.json").read_bytes().splitlines(keepends=True)
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3], lines[2 * len(lines) // 3 :]]
    src = tmp_path / "events.json"
    src.write_bytes(b"".join(thirds[0]))

    def spool_empty():
        conn = sqlite3.connect(f"file:{spool}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0] == 0
        finally:
            conn.close()

    sent = 0
    for third, stop in zip(thirds, (signal.SIGTERM, signal.SIGKILL, signal.SIGTERM)):
        if sent:
            with open(src, "ab") as f:
                f.write(b"".join(third))
        sent += len(third)
        p = _spawn(tmp_path, "relay", str(src), "--amqp", url_for(ex), "--spool", str(spool))
        try:
            assert wait_until(lambda sent=sent: admin.count(q) == sent and spool_empty(), 30), admin.count(q)
        finally:
            p.send_signal(stop)
            p.wait(30)
            p.stdout.close()
            p.stderr.close()
    bodies = admin.drain(q)
    assert len(bodies) == len(lines)
    canon = lambda text: json.dumps(json.loads(text), sort_keys=True)  # noqa: E731 (the relay re-encodes)
    assert sorted(map(canon, bodies)) == sorted(map(canon, lines))  # each line once


def test_the_relay_log_says_where_a_skipped_record_was(admin, tmp_path, replay_dir):
    ex = admin.exchange()
    admin.queue(ex, keys=["stampede.#"])  # somewhere to route to: the relay waits for the confirms
    lines = (replay_dir / "process_wf_failure" / "events.json").read_bytes().splitlines(keepends=True)
    src = tmp_path / "events.json"
    src.write_bytes(b"".join(lines[:2]) + b"garbage\n" + b"".join(lines[2:]))
    log = tmp_path / "relay.log"
    r = _collect(tmp_path, "relay", str(src), "--amqp", url_for(ex), "--no-follow", "--spool", str(tmp_path / "s.db"),
                 "--log", str(log))
    assert r.returncode == 0, r.stderr
    assert "skipped a record: events.json:3: not JSON: Expecting value: line 1 column 1 (char 0) «garbage»" in (
        log.read_text())


def test_the_relay_skips_a_record_it_cannot_encode_again(admin, tmp_path, replay_dir):
    """A record nested ~1,000 deep decodes (orjson) but json.dumps cannot write it
    again: it made the relay exit 70; it is counted and skipped, the rest sent."""
    ex = admin.exchange()
    q = admin.queue(ex, keys=["stampede.#"])
    lines = (replay_dir / "process_wf_failure" / "events.json").read_bytes().splitlines(keepends=True)
    deep = b'{"event": "stampede.job.info", "job_id": ' + b"[" * 1000 + b"]" * 1000 + b"}\n"
    src = tmp_path / "events.json"
    src.write_bytes(b"".join(lines[:2]) + deep + b"".join(lines[2:]))
    log = tmp_path / "relay.log"
    r = _collect(tmp_path, "relay", str(src), "--amqp", url_for(ex), "--no-follow", "--spool", str(tmp_path / "s.db"),
                 "--log", str(log))
    assert r.returncode == 0, r.stderr + log.read_text()[-2000:]
    assert "skipped a record: events.json:3: cannot encode it again" in log.read_text()
    assert wait_until(lambda: admin.count(q) == len(lines), 10), admin.count(q)
