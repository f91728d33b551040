"""AmqpSource against the real broker: events, garbage, filter, queues, stop, status, secrets."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

try:
    from broker import BASE, require_broker, unique, url_for, wait_until
except ImportError:  # pragma: no cover - tests run as a package
    from tests.broker import BASE, require_broker, unique, url_for, wait_until

from panorama_tui.core.events import MAX_LINE_BYTES
from panorama_tui.pipeline.ingest import Ingest, run_to_end
from panorama_tui.sources.amqp import AmqpSource
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store

pytestmark = pytest.mark.broker
SECRET = "s3cr3t-PW"


def _lines(replay_dir, run="process_wf_failure"):
    return (replay_dir / run / "events.json").read_bytes().splitlines()


def _start(source):
    store = Store()
    ing = Ingest(source, store).start()
    assert wait_until(lambda: source.status.state == "connected", 15), source.status
    return store, ing


def _stop(source, ing, within=2.0):
    t = time.monotonic()
    source.stop()
    ing.thread.join(10)
    took = time.monotonic() - t
    assert not ing.thread.is_alive()
    assert took < within, f"stop took {took:.2f} s"


def test_events_build_the_same_store_as_the_event_log(admin, replay_dir):
    ex = admin.exchange()
    src = AmqpSource(url_for(ex))
    assert src.label == src.status.detail["url"] and "****" in src.label
    store, ing = _start(src)
    try:
        lines = _lines(replay_dir)
        for ln in lines:
            admin.publish(ex, json.loads(ln)["event"], ln)
        assert wait_until(lambda: store.event_count == len(lines), 15), store.event_count
    finally:
        _stop(src, ing)
    ref = run_to_end(JsonLogSource(str(replay_dir / "process_wf_failure" / "events.json"), follow=False), Store())
    (wf,) = store.roots
    assert summarize(store, wf) == summarize(ref, ref.roots[0])
    d = src.status.detail
    assert d["received"] == len(lines) and d["filtered"] == 0 and d["reconnects"] == 0
    assert d["queue"].startswith("amq.gen-")
    assert src.status.state == "stopped"
    # 2023 events replayed now: a lag of years, reported as it is
    assert d["lag"]["last"] > 86400 * 365


def test_rate_and_lag_of_live_events(admin):
    ex = admin.exchange()
    src = AmqpSource(url_for(ex), bindings=["kickstart.#"])
    store, ing = _start(src)
    try:
        for i in range(200):
            admin.publish(ex, "kickstart.inv.online", json.dumps(
                {"event": "kickstart.inv.online", "ts": time.time(), "wf_uuid": "w", "dag_job_id": f"j{i}", "utime": 1.0}))
        admin.publish(ex, "stampede.job_inst.main.end", b'{"event": "stampede.job_inst.main.end"}')  # not bound
        assert wait_until(lambda: src.status.detail["received"] == 200, 10)
        d = src.status.detail
        assert d["rate"] > 0
        assert 0 <= d["lag"]["last"] < 5 and 0 <= d["lag"]["p50"] < 5
        assert wait_until(lambda: src.status.detail["rate"] == 0, 8)  # decays when nothing arrives
    finally:
        _stop(src, ing)
    assert store.event_names["kickstart.inv.online"] == 200
    assert "stampede.job_inst.main.end" not in store.event_names


def test_garbage_is_counted_never_a_crash(admin, replay_dir):
    ex = admin.exchange()
    src = AmqpSource(url_for(ex))
    store, ing = _start(src)
    garbage = [
        b"not json at all",
        b"\xff\xfe\x00 binary",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"no": "event name"}',
        b'{"event": 42}',
        b"",
        b"x" * (10 * 1024 * 1024),  # 10 MB of nothing
    ]
    wrong_types = [
        {"event": "stampede.job_inst.main.end", "xwf_id": "w", "job_id": ["a"], "job_inst_id": "x", "ts": "soon"},
        {"event": "stampede.job.info", "xwf_id": 5, "job_id": {"a": 1}, "ts": None},
        {"event": "kickstart.inv.online", "wf_uuid": None, "utime": "fast", "ts": 1e400},
    ]
    try:
        for body in garbage:
            admin.publish(ex, "stampede.junk", body)
        for ev in wrong_types:
            admin.publish(ex, ev["event"], json.dumps(ev))
        big = b'{"event": "stampede.huge", "pad": "' + b"y" * (MAX_LINE_BYTES + 10) + b'"}'
        admin.publish(ex, "stampede.huge", big)
        lines = _lines(replay_dir)
        for ln in lines:
            admin.publish(ex, json.loads(ln)["event"], ln)
        assert wait_until(lambda: src.status.detail["received"] == len(garbage) + len(wrong_types) + 1 + len(lines), 60)
        assert wait_until(lambda: store.event_count >= len(lines), 10)
    finally:
        _stop(src, ing, within=5)
    assert store.bad_count == len(garbage) + 1  # the oversized one is refused by the decoder
    assert src.status.detail["oversized"] == 1
    assert ing.error is None
    ref = run_to_end(JsonLogSource(str(replay_dir / "process_wf_failure" / "events.json"), follow=False), Store())
    wf = store.workflows[ref.roots[0].wf_uuid]
    assert summarize(store, wf) == summarize(ref, ref.roots[0])


def test_workflow_filter(admin, replay_dir):
    ex = admin.exchange()
    a = _lines(replay_dir, "process_wf_failure")
    b = _lines(replay_dir, "process_wf_success")
    wf_a = json.loads(a[0])["xwf_id"]
    src = AmqpSource(url_for(ex), wf=wf_a)
    store, ing = _start(src)
    try:
        for ln in a + b:
            admin.publish(ex, json.loads(ln)["event"], ln)
        assert wait_until(lambda: src.status.detail["received"] == len(a) + len(b), 15)
        assert wait_until(lambda: store.event_count == len(a), 5)
    finally:
        _stop(src, ing)
    assert list(store.workflows) == [wf_a]
    assert src.status.detail["filtered"] == len(b)


def test_named_durable_queue_keeps_events_while_nobody_listens(admin):
    ex = admin.exchange()
    q = unique("ptest-archive")
    admin.track_queue(q)
    src = AmqpSource(url_for(ex), queue=q, max_length=50)
    store, ing = _start(src)
    _stop(src, ing)
    # Nobody consumes now; the queue outlives the viewer and keeps what comes.
    for i in range(30):
        body = {"event": "stampede.xwf.start", "xwf_id": f"wf{i}", "ts": time.time()}
        admin.publish(ex, "stampede.xwf.start", json.dumps(body))
    assert wait_until(lambda: admin.count(q) == 30, 5)
    src2 = AmqpSource(url_for(ex), queue=q, max_length=50)
    store2, ing2 = _start(src2)
    try:
        assert wait_until(lambda: len(store2.workflows) == 30, 10)
    finally:
        _stop(src2, ing2)
    assert admin.count(q) == 0  # acknowledged once taken
    # Bounded with reject-publish: the 51st message is refused, not the oldest dropped.
    for i in range(60):
        admin.publish(ex, "stampede.xwf.start", json.dumps({"event": "stampede.xwf.start", "xwf_id": f"x{i}"}))
    assert wait_until(lambda: admin.count(q) == 50, 5)
    first = json.loads(admin.drain(q)[0])
    assert first["xwf_id"] == "x0"
    # Declared again with other arguments: used as it is, and said so.
    src3 = AmqpSource(url_for(ex), queue=q, max_length=10)
    store3, ing3 = _start(src3)
    assert "other arguments" in src3.status.message
    _stop(src3, ing3)


def test_exchange_declared_otherwise_is_used_passively(admin):
    name = unique("ptest-fanout")
    admin.ch.exchange_declare(name, exchange_type="fanout", durable=False)
    admin.exchanges.append(name)
    src = AmqpSource(url_for(name))
    store, ing = _start(src)
    try:
        admin.publish(name, "anything", b'{"event": "stampede.xwf.start", "xwf_id": "f"}')
        assert wait_until(lambda: store.event_count == 1, 10)
    finally:
        _stop(src, ing)


def test_stop_is_prompt_and_down_broker_never_raises(caplog):
    caplog.set_level(logging.DEBUG)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    src = AmqpSource(f"amqp://panorama:{SECRET}@127.0.0.1:{port}/panorama/monitoring", backoff_cap=0.5)
    store = Store()
    ing = Ingest(src, store).start()
    assert wait_until(lambda: src.status.state == "down", 10), src.status
    assert "retrying" in src.status.message
    t = time.monotonic()
    src.stop()
    ing.thread.join(5)
    assert time.monotonic() - t < 1.0 and not ing.thread.is_alive()
    assert ing.error is None and src.status.state == "stopped"
    _assert_no_secret(src, caplog)


def test_wrong_password_is_reported_without_it(caplog):
    require_broker()
    caplog.set_level(logging.DEBUG)
    host = BASE.split("@")[-1]
    src = AmqpSource(f"amqp://guest:{SECRET}@{host}/%2F/{unique('ptest-ex')}", backoff_cap=0.5)
    store = Store()
    ing = Ingest(src, store).start()
    try:
        assert wait_until(lambda: "access refused" in src.status.message, 15), src.status
    finally:
        src.stop()
        ing.thread.join(5)
    _assert_no_secret(src, caplog)


def _assert_no_secret(src, caplog):
    texts = [src.label, src.status.message, repr(src.status.detail)] + [r.getMessage() for r in caplog.records]
    texts += [str(r.exc_info) for r in caplog.records if r.exc_info]
    for t in texts:
        assert SECRET not in t


def test_stop_while_the_ingest_is_busy_acks_what_it_took(admin):
    """A batch handed over is acknowledged; one not handed over goes back to the queue."""
    ex = admin.exchange()
    q = unique("ptest-q")
    admin.track_queue(q)
    src = AmqpSource(url_for(ex), queue=q, batch_max=10, prefetch=10)
    got = []
    gate = threading.Event()

    def consume():
        for batch in src.batches():
            got.extend(batch)
            gate.wait(5)
            src.stop()

    t = threading.Thread(target=consume)
    t.start()
    assert wait_until(lambda: src.status.state == "connected", 10)
    for i in range(25):
        admin.publish(ex, "stampede.x", json.dumps({"event": "stampede.x", "i": i}))
    assert wait_until(lambda: len(got) > 0, 10)
    gate.set()
    t.join(5)
    assert not t.is_alive()
    assert wait_until(lambda: admin.count(q) == 25 - len(got), 5), (admin.count(q), len(got))


def test_fast_reader_and_plain_pika_path_agree(admin, replay_dir):
    lines = _lines(replay_dir, "hierarchical_wf_success")
    stores = []
    for fast in (True, False):
        ex = admin.exchange()
        src = AmqpSource(url_for(ex), fast=fast)
        store, ing = _start(src)
        try:
            for ln in lines:
                admin.publish(ex, json.loads(ln)["event"], ln)
            admin.publish(ex, "stampede.big", b'{"event": "stampede.big", "pad": "' + b"z" * 300_000 + b'"}')
            assert wait_until(lambda store=store: store.event_count == len(lines) + 1, 15)
        finally:
            _stop(src, ing)
        stores.append(store)
    a, b = stores
    assert set(a.workflows) == set(b.workflows)
    for uuid_ in a.workflows:
        assert summarize(a, a.workflows[uuid_]) == summarize(b, b.workflows[uuid_])


def test_queue_deleted_under_the_consumer_is_declared_again(admin):
    ex = admin.exchange()
    q = unique("ptest-q")
    admin.track_queue(q)
    src = AmqpSource(url_for(ex), queue=q)
    store, ing = _start(src)
    try:
        admin.publish(ex, "stampede.xwf.start", b'{"event": "stampede.xwf.start", "xwf_id": "a"}')
        assert wait_until(lambda: store.event_count == 1, 10)
        admin.ch.queue_delete(q)
        assert wait_until(lambda: src.status.detail["reconnects"] == 1 and src.status.state == "connected", 15), (
            src.status
        )
        admin.publish(ex, "stampede.xwf.start", b'{"event": "stampede.xwf.start", "xwf_id": "b"}')
        assert wait_until(lambda: store.event_count == 2, 10)
    finally:
        _stop(src, ing)


def test_delivery_reader_parses_any_chunking_and_passes_other_frames_in_order():
    """The frame reader on its own: real pika-marshalled frames cut at random places."""
    import random

    import pika.frame
    import pika.spec as spec

    from panorama_tui.compat.pika import DeliveryReader

    class Impl:  # the two attributes the reader uses of pika's connection
        def __init__(self):
            self._frame_buffer = b""
            self.bytes_received = 0
            self.is_closed = False
            self.handed = []

        def _on_data_available(self, data):
            self.handed.append(data)
            self.bytes_received += len(data)

    def delivery(tag, body, channel=1, frame_max=4096):
        out = pika.frame.Method(channel, spec.Basic.Deliver("ctag1.abc", tag, False, "ex", "stampede.x")).marshal()
        out += pika.frame.Header(
            channel, len(body), spec.BasicProperties(delivery_mode=2, message_id=str(tag))
        ).marshal()
        for i in range(0, len(body), frame_max):
            out += pika.frame.Body(channel, body[i : i + frame_max]).marshal()
        return out

    rng = random.Random(7)
    others = [
        pika.frame.Heartbeat().marshal(),
        pika.frame.Method(1, spec.Basic.ConsumeOk("ctag1.abc")).marshal(),
        pika.frame.Method(2, spec.Basic.Deliver("other", 1, False, "ex", "rk")).marshal(),  # another channel
    ]
    stream, expected, passed = b"", [], []
    for tag in range(1, 200):
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 50, 900, 5000, 20000])))
        stream += delivery(tag, body)
        expected.append((tag, body))
        if tag % 17 == 0:
            f = others[tag % len(others)]
            stream += f
            passed.append(f)
    impl = Impl()
    got = []
    DeliveryReader(impl, 1, lambda tag, body: got.append((tag, body)))
    pos = 0
    while pos < len(stream):
        n = rng.choice([1, 7, 100, 4096, 10000])
        impl._on_data_available(stream[pos : pos + n])  # now the reader
        pos += n
    assert got == expected
    assert impl.handed == passed  # whole frames, in order
    assert impl.bytes_received == len(stream)

    bad = Impl()
    DeliveryReader(bad, 1, lambda tag, body: None)
    with pytest.raises(ConnectionError):
        bad._on_data_available(delivery(1, b"x")[:-1] + b"\x00")  # a broken frame end


# -- a link lost and made again: the gap is marked (#12 item 11) ------------------------------------------------


def test_an_outage_is_marked_as_a_gap_live_in_the_recording_and_in_its_replay(tmp_path):
    """The default exclusive queue goes with the link: what was published meanwhile is
    missing, and the screen, the recording and a replay of it say so, with the time span."""
    from panorama_tui.core.recorder import Recorder, read_records
    from panorama_tui.sources.replay import ReplayControl, ReplaySource

    try:
        from broker import PrivateNode, in_ci, require_broker
    except ImportError:  # pragma: no cover
        from tests.broker import PrivateNode, in_ci, require_broker

    require_broker()  # the installation is the shared one's
    try:
        node = PrivateNode(tmp_path / "rabbit")
        node.start()
    except Exception as exc:
        if in_ci():
            pytest.fail(f"cannot start a private RabbitMQ node: {exc}")
        pytest.skip(f"cannot start a private RabbitMQ node: {exc}")
    rec_path = str(tmp_path / "live.panorama.db")
    src = AmqpSource(node.url("monitoring"), backoff_cap=1.0)
    store = Store()
    ing = Ingest(src, store, recorder=Recorder(rec_path, source=src.label)).start()
    try:
        assert wait_until(lambda: src.status.state == "connected", 30), src.status
        node.stop_app()
        assert wait_until(lambda: src.status.state in ("reconnecting", "down"), 30), src.status
        time.sleep(1.5)
        node.start_app()
        assert wait_until(lambda: src.status.state == "connected" and store.warning_count == 1, 60), src.status
    finally:
        ing.stop()
        node.shutdown()
    assert src.status.detail["gaps"] == 1
    [warning] = list(store.warnings)
    assert warning.startswith("gap ") and ": events sent meanwhile are missing (lost amqp://guest:****@127.0.0.1" in warning
    [(_, body)] = read_records(rec_path)
    marker = json.loads(body)
    assert marker["event"] == "panorama.gap" and 1.5 < marker["end"] - marker["start"] < 60
    assert "guest:guest" not in body.decode()

    replayed = Store()
    rsrc = ReplaySource(rec_path, ReplayControl(speed=0.0))
    ring = Ingest(rsrc, replayed).start()
    assert wait_until(lambda: rsrc.control.finished, 15)
    ring.stop()
    assert list(replayed.warnings) == [warning]
    assert store.unknown == replayed.unknown == {}
