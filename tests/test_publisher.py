"""SpoolingPublisher against real RabbitMQ: confirms, unroutable, restarts, broker faults."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

try:
    from broker import Admin, PrivateNode, in_ci, require_broker, url_for, wait_until
except ImportError:  # pragma: no cover
    from tests.broker import Admin, PrivateNode, in_ci, require_broker, url_for, wait_until

from panorama_tui.transport.publisher import SpoolingPublisher, encode_event
from panorama_tui.sources.amqp import AmqpSource

pytestmark = pytest.mark.broker
SECRET = "s3cr3t-PW"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_events_arrive_persistent_and_leave_the_spool(admin, tmp_path):
    ex = admin.exchange()
    q = admin.queue(ex, keys=["stampede.#"])
    spool = str(tmp_path / "spool.db")
    with SpoolingPublisher(url_for(ex), spool, confirm_window=100) as pub:
        for i in range(500):
            pub.publish({"event": "stampede.job_inst.main.start", "xwf_id": "w", "i": i})
        pub.publish_many([{"event": "stampede.xwf.end", "i": 500 + i} for i in range(100)])
        assert pub.flush(30) == 0
        st = pub.status()
        assert st["confirmed"] == 600 and st["spooled"] == 0 and st["state"] == "connected"
    method, props, body = admin.ch.basic_get(q, auto_ack=False)
    assert props.delivery_mode == 2 and props.content_type == "application/json"
    assert method.routing_key == "stampede.job_inst.main.start"
    admin.ch.basic_nack(method.delivery_tag, requeue=True)
    ids = [json.loads(b)["i"] for b in admin.drain(q)]
    assert sorted(ids) == list(range(600))
    assert ids[:500] == list(range(500))  # in order on one connection


def test_unroutable_events_stay_spooled_until_a_queue_takes_them(admin, tmp_path):
    ex = admin.exchange()
    pub = SpoolingPublisher(url_for(ex), str(tmp_path / "spool.db"), retry_cap=0.5)
    try:
        pub.publish({"event": "darshan.perf", "n": 1})
        assert pub.flush(3) == 1
        st = pub.status()
        assert st["unroutable"] == 1 and st["returned"] >= 1 and st["confirmed"] == 0
        assert "unroutable" in st["message"]
        q = admin.queue(ex, keys=["darshan.#"])
        assert pub.flush(15) == 0
        assert pub.status()["unroutable"] == 0
        assert [json.loads(b)["n"] for b in admin.drain(q)] == [1]
    finally:
        pub.close(1)


def test_publish_is_thread_safe(admin, tmp_path):
    ex = admin.exchange()
    q = admin.queue(ex, keys=["stampede.#"])
    pub = SpoolingPublisher(url_for(ex), str(tmp_path / "spool.db"))
    try:
        def work(k):
            for i in range(250):
                pub.publish({"event": "stampede.inv.end", "i": k * 1000 + i})

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pub.flush(30) == 0
    finally:
        pub.close(1)
    ids = {json.loads(b)["i"] for b in admin.drain(q)}
    assert ids == {k * 1000 + i for k in range(4) for i in range(250)}


def test_spool_survives_a_killed_publishing_process(admin, tmp_path):
    """Spooled while the broker is unreachable, killed -9, restarted: every event is sent."""
    ex = admin.exchange()
    q = admin.queue(ex, keys=["stampede.#"])
    spool = str(tmp_path / "spool.db")
    code = (
        "import sys, time\n"
        "from panorama_tui.transport.publisher import SpoolingPublisher\n"
        f"p = SpoolingPublisher('amqp://guest:guest@127.0.0.1:{_dead_port()}/%2F/{ex}', {spool!r})\n"
        "for i in range(300): p.publish({'event': 'stampede.task.info', 'i': i})\n"
        "print('spooled', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "spooled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    pub = SpoolingPublisher(url_for(ex), spool)
    try:
        assert pub.flush(30) == 0
    finally:
        pub.close(1)
    assert sorted(json.loads(b)["i"] for b in admin.drain(q)) == list(range(300))


def test_close_keeps_what_the_broker_did_not_confirm(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    spool = str(tmp_path / "spool.db")
    url = f"amqp://panorama:{SECRET}@127.0.0.1:{_dead_port()}/panorama/monitoring"
    pub = SpoolingPublisher(url, spool, backoff_cap=0.2)
    for i in range(10):
        pub.publish({"event": "stampede.xwf.start", "i": i})
    assert wait_until(lambda: pub.status()["state"] == "down", 10)
    st = pub.status()
    t = time.monotonic()
    assert pub.close(0.2) == 10
    assert time.monotonic() - t < 3
    with pytest.raises(RuntimeError):
        pub.publish({"event": "stampede.xwf.start"})
    texts = [repr(st), pub.label] + [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if SECRET in t]
    assert "****" in pub.label


def test_events_need_a_routing_key():
    with pytest.raises(ValueError):
        encode_event({"no": "name"})
    with pytest.raises(ValueError):
        encode_event(b"raw")
    assert encode_event(b"raw", "stampede.x") == ("stampede.x", b"raw")
    assert encode_event({"event": "a.b", "x": 1}, "c.d")[0] == "c.d"


# -- broker faults on a node of the test's own ---------------------------------------


def _private_node(tmp_path):
    try:
        node = PrivateNode(tmp_path / "rabbit")
        node.start()
        return node
    except Exception as exc:
        msg = f"cannot start a private RabbitMQ node: {exc}"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)


def _fault_run(tmp_path, fault, n=2000):
    node = _private_node(tmp_path)
    src = pub = None
    got: list[int] = []
    consumer = None
    try:
        admin = Admin(base=node.base)
        ex = admin.exchange()
        q = admin.queue(ex, keys=["stampede.#"])
        admin.conn.close()
        src = AmqpSource(node.url(ex), queue=q, backoff_cap=1.0)

        def consume():
            for batch in src.batches():
                got.extend(json.loads(b)["i"] for b in batch)

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        assert wait_until(lambda: src.status.state == "connected", 20)
        pub = SpoolingPublisher(node.url(ex), str(tmp_path / "spool.db"), backoff_cap=1.0)

        def produce():
            for i in range(n):
                pub.publish({"event": "stampede.job_inst.main.end", "xwf_id": "fault", "i": i})
                time.sleep(0.002)

        producer = threading.Thread(target=produce)
        producer.start()
        assert wait_until(lambda: len(got) >= n // 4, 30), len(got)
        fault(node)
        seen_down = src.status.state
        producer.join(120)
        assert pub.flush(120) == 0, pub.status()
        assert wait_until(lambda: len(set(got)) == n, 60), (len(set(got)), n)
        assert set(got) == set(range(n))  # 0 lost; duplicates allowed
        assert src.status.detail["reconnects"] >= 1
        assert src.status.state == "connected"
        assert pub.status()["reconnects"] >= 1
        return seen_down, len(got) - n
    finally:
        if src is not None:
            src.stop()
        if consumer is not None:
            consumer.join(5)
        if pub is not None:
            pub.close(1)
        node.shutdown()  # always: the node is ours, the shared broker was never touched


def test_broker_stop_app_loses_nothing(tmp_path):
    require_broker()  # the installation is the shared one's

    def fault(node):
        node.stop_app()
        time.sleep(2)
        node.start_app()

    _fault_run(tmp_path, fault)


@pytest.mark.skipif(
    not (os.environ.get("PANORAMA_DESTRUCTIVE_TESTS") == "1" or os.environ.get("CI") == "true"),
    reason="kills a broker process: set PANORAMA_DESTRUCTIVE_TESTS=1 (always on under CI=true)",
)
def test_broker_kill9_loses_nothing(tmp_path):
    require_broker()

    def fault(node):
        node.kill9()
        time.sleep(1)
        node.start()

    _fault_run(tmp_path, fault)
