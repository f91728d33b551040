"""#11 item 27: a bad record's warning names where it was (file:line, delivery, recording row)
and shows the start of its text, control characters made visible."""

from __future__ import annotations

import json

import pytest

try:
    from broker import url_for, wait_until
except ImportError:  # pragma: no cover - tests run as a package
    from tests.broker import url_for, wait_until

from panorama_tui.pipeline.ingest import Ingest, decode_batch, run_to_end
from panorama_tui.sources.amqp import AmqpSource
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.model.store import Store


def _lines(replay_dir, name="events.json") -> list[bytes]:
    return (replay_dir / "process_wf_failure" / name).read_bytes().splitlines(keepends=True)


def test_a_bad_line_of_an_event_log_names_its_line(tmp_path, replay_dir):
    lines = _lines(replay_dir)
    bad = b'{"event": "stampede.job_inst.main.end", "xwf_id": \x1b[2J truncated here' + b"x" * 80 + b"\n"
    # blank lines count in the numbering, as an editor's do
    text = b"".join(lines[:3]) + b"\n  \n" + b"".join(lines[3:30]) + bad + b"".join(lines[30:]) + b"[1, 2"
    path = tmp_path / "events.json"
    path.write_bytes(text)
    store = run_to_end(JsonLogSource(str(path), follow=False), Store())
    assert store.event_count == len(lines)
    first, last = list(store.warnings)
    assert first == ('events.json:33: not JSON: Expecting value: line 1 column 51 (char 50) '
                     '«{"event": "stampede.job_inst.main.end", "xwf_id": ^[[2J tru…»')
    assert last.startswith(f"events.json:{len(lines) + 4}: not JSON: ") and last.endswith("«[1, 2»")


def test_a_followed_log_counts_lines_across_reads(tmp_path, replay_dir):
    lines = _lines(replay_dir)
    path = tmp_path / "events.json"
    path.write_bytes(b"".join(lines[:10]))
    store = Store()
    ing = Ingest(JsonLogSource(str(path), follow=True, poll=0.02), store).start()
    try:
        assert wait_until(lambda: store.event_count == 10, 10)
        with open(path, "ab") as f:
            f.write(lines[10] + b"oops\n")
        assert wait_until(lambda: store.bad_count == 1, 10)
    finally:
        ing.stop()
    assert list(store.warnings) == ["events.json:12: not JSON: Expecting value: line 1 column 1 (char 0) «oops»"]


def test_a_bad_line_of_a_bp_log_names_its_line(tmp_path, replay_dir):
    lines = _lines(replay_dir, "events.bp")
    path = tmp_path / "events.bp"
    path.write_bytes(b"".join(lines[:7]) + b"this is no BP line\tat all\n" + b"".join(lines[7:]))
    store = run_to_end(JsonLogSource(str(path), follow=False, bp=True), Store())
    assert store.event_count == len(lines)
    [warning] = list(store.warnings)
    assert warning.startswith("events.bp:8: ")
    assert warning.endswith("«this is no BP line^Iat all»")


def test_good_records_never_ask_where_they_came_from(replay_dir):
    asked = []

    def where(i):
        asked.append(i)
        return f"place {i}"

    lines = [ln.rstrip(b"\n") for ln in _lines(replay_dir)]
    bad: list = []
    events = decode_batch([*lines[:5], b"nope", *lines[5:9], b"", {"no": "name"}], bad, samples=True, where=where)
    assert len(events) == 9
    assert asked == [5, 10, 11]
    assert bad == [
        "place 5: not JSON: Expecting value: line 1 column 1 (char 0) «nope»",
        "place 10: not JSON: Expecting value: line 1 column 1 (char 0) «»",
        "place 11: record has no event name «{'no': 'name'}»",
    ]


@pytest.mark.broker
def test_a_bad_message_names_its_delivery(admin, replay_dir):
    ex = admin.exchange()
    src = AmqpSource(url_for(ex))
    store = Store()
    ing = Ingest(src, store).start()
    try:
        assert wait_until(lambda: src.status.state == "connected", 15), src.status
        lines = [ln.rstrip(b"\n") for ln in _lines(replay_dir)[:6]]
        for ln in lines[:3]:
            admin.publish(ex, json.loads(ln)["event"], ln)
        admin.publish(ex, "stampede.job_inst.main.end", b"\x00\x01 binary junk")
        for ln in lines[3:]:
            admin.publish(ex, json.loads(ln)["event"], ln)
        assert wait_until(lambda: store.event_count == 6 and store.bad_count == 1, 15)
    finally:
        src.stop()
        ing.thread.join(10)
    q = src.status.detail["queue"]
    assert list(store.warnings) == [f"{ex} queue {q} delivery #4: not JSON: Expecting value: line 1 column 1 "
                                    f"(char 0) «^@^A binary junk»"]
