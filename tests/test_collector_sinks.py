"""Collector sinks: JSON-lines files shared by processes, a full disk, spool slots,
and AMQP end to end through the spooling publisher and the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from collectors import sinks
from panorama_tui.core.events import decode

PY = sys.executable
BASE = os.environ.get("PANORAMA_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672").rstrip("/")


def test_processes_appending_to_one_file_never_tear_lines(tmp_path, child_env):
    path = tmp_path / "shared.jsonl"
    code = (
        "import sys\nfrom panorama_tui.collectors.sinks import JsonlSink\n"
        "s = JsonlSink(sys.argv[1])\n"
        "for i in range(200):\n"
        "    s.emit([{'event': 'x', 'w': sys.argv[2], 'i': i, 'pad': 'p' * 3000} for _ in range(5)])\n"
        "s.close()\n"
    )
    procs = [subprocess.Popen([PY, "-c", code, str(path), str(w)], env=child_env()) for w in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    events = [json.loads(x) for x in lines[:-1]]  # every line whole
    assert len(events) == 4 * 200 * 5
    assert all(decode(e).name == "x" for e in events)


def test_full_disk_is_reported_once_and_events_kept(capsys):
    s = sinks.JsonlSink("/dev/full", prog="t")
    s.emit([{"event": "a", "ts": 1.0}])
    s.emit([{"event": "b", "ts": 2.0}])
    assert s.flush() == 2  # both still waiting
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write events to /dev/full" in err
    s.close()


def test_nan_becomes_null():
    assert sinks.dumps({"event": "e", "x": float("nan"), "y": [float("inf")]}) == '{"event":"e","x":null,"y":[null]}'


def test_spool_slots(tmp_path, monkeypatch):
    monkeypatch.setenv("PANORAMA_SPOOL_DIR", str(tmp_path))
    a = sinks.default_spool("ptest")
    b = sinks.default_spool("ptest")
    assert a != b and a.endswith(".0.sqlite") and b.endswith(".1.sqlite")
    # Another process cannot take a slot this one holds; it gets the next free one.
    code = "from panorama_tui.collectors.sinks import default_spool; print(default_spool('ptest'))"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    other = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert other.endswith(".2.sqlite")


def test_open_sink_errors_are_one_line(tmp_path):
    class A:
        out = str(tmp_path / "no" / "such" / "\0bad")
        amqp = None
        spool = None

    with pytest.raises(sinks.SinkError):
        sinks.open_sink(A, "t")

    class B:
        out = None
        amqp = "amqp://guest:secret@127.0.0.1:1/%2F/x?heartbeat=notanumber"
        spool = str(tmp_path / "s.sqlite")

    try:
        sink = sinks.open_sink(B, "t")
    except sinks.SinkError as exc:
        assert "secret" not in str(exc) and "\n" not in str(exc)
    else:  # the publisher took the URL; it must not block or raise on close
        sink.close(timeout=0.5)


def _broker():
    pika = pytest.importorskip("pika")
    pytest.importorskip("panorama_tui.transport.publisher")
    try:
        conn = pika.BlockingConnection(pika.URLParameters(f"{BASE}/%2F?connection_attempts=1&socket_timeout=3"))
    except Exception:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ not reachable at {BASE.split('@')[-1]} (CI=true: broker tests must run)")
        pytest.skip(f"RabbitMQ not reachable at {BASE.split('@')[-1]}")
    return conn


@pytest.mark.broker
def test_monitor_publishes_through_the_spooling_publisher(tmp_path, child_env, panorama_dir):
    conn = _broker()
    ch = conn.channel()
    exchange = f"ptest-collect-{uuid.uuid4().hex[:8]}"
    queue = f"{exchange}-q"
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ch.queue_declare(queue, durable=True)
    for key in ("kickstart.#", "darshan.#"):
        ch.queue_bind(queue, exchange, key)
    try:
        env = child_env()
        out = tmp_path / "copy.jsonl"
        p = subprocess.run(
            [PY, "-m", "panorama_tui.collectors.monitor", "-i", "0.2", "--out", str(out), "--amqp", f"{BASE}/%2F/{exchange}",
             "--spool", str(tmp_path / "spool.sqlite"), "--wf-uuid", "w-1", "--dag-job-id", "j-1", "--",
             "sh", "-c", f"sleep 0.5; cat {panorama_dir / 'monitoring-payload-darshan.txt'}"],
            env=env, capture_output=True, timeout=60,
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout == b""
        written = [json.loads(x) for x in out.read_text().splitlines()]
        got = []
        for _ in range(200):
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                if len(got) >= len(written):
                    break
                conn.sleep(0.05)
                continue
            got.append((method.routing_key, json.loads(body)))
        assert [rk for rk, _ in got] == [e["event"] for e in written]  # routing key = event name, in order
        assert [b for _, b in got] == written
        assert {rk for rk, _ in got} == {"kickstart.inv.online", "kickstart.inv.summary", "darshan.perf"}
    finally:
        ch.queue_delete(queue)
        ch.exchange_delete(exchange)
        conn.close()


@pytest.mark.broker
def test_collector_output_relayed_by_panorama_collect(tmp_path, child_env):
    """A collector's JSON lines, relayed to the broker by ``panorama-collect relay``."""
    pytest.importorskip("panorama_tui.cli.collect")
    conn = _broker()
    ch = conn.channel()
    exchange = f"ptest-relay-{uuid.uuid4().hex[:8]}"
    queue = f"{exchange}-q"
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ch.queue_declare(queue, durable=True)
    ch.queue_bind(queue, exchange, "kickstart.#")
    try:
        env = child_env()
        out = tmp_path / "mon.jsonl"
        subprocess.run([PY, "-m", "panorama_tui.collectors.monitor", "--out", str(out), "--wf-uuid", "w-2", "--dag-job-id", "j-2",
                        "--", "sh", "-c", "exit 4"], env=env, timeout=60)
        written = [json.loads(x) for x in out.read_text().splitlines()]
        p = subprocess.run([PY, "-m", "panorama_tui.cli.collect", "relay", "--no-follow", "--amqp",
                            f"{BASE}/%2F/{exchange}", "--spool", str(tmp_path / "relay.sqlite"), str(out)],
                           env=env, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        got = []
        for _ in range(100):
            method, _props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                if len(got) >= len(written):
                    break
                conn.sleep(0.05)
                continue
            got.append((method.routing_key, json.loads(body)))
        assert [rk for rk, _ in got] == [e["event"] for e in written]
        assert [b for _, b in got] == written
        assert got[-1][1]["exitcode"] == 4
    finally:
        ch.queue_delete(queue)
        ch.exchange_delete(exchange)
        conn.close()
