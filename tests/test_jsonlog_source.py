"""monitord's event log read whole and followed like ``tail -F``.

Real files, written by the test while the source follows them: growth with a
line completed later, truncation, rotation.  Each ends with the store equal
to one built from the final content: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import os
import time

import pytest

from panorama_tui.core.events import decode_line
from panorama_tui.pipeline.ingest import Ingest, run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store

POLL = 0.02
DEADLINE = 15.0


def _lines(path) -> list[bytes]:
    return [ln + b"\n" for ln in path.read_bytes().splitlines() if ln.strip()]


def _reference(lines, snapshot) -> dict:
    s = Store()
    s.apply_many(decode_line(ln) for ln in lines)
    return snapshot(s)


def wait_for(store: Store, pred, what: str, ingest: Ingest | None = None):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with store.lock:
            if pred(store):
                return
        if ingest is not None and ingest.error:
            pytest.fail(f"ingest failed while waiting for {what}: {ingest.error}")
        time.sleep(0.005)
    with store.lock:
        pytest.fail(f"timed out waiting for {what} (events={store.event_count}, bad={store.bad_count})")


def _append(path, data: bytes):
    with open(path, "ab") as f:
        f.write(data)
        f.flush()


@pytest.fixture
def failure_lines(replay_dir):
    return _lines(replay_dir / "process_wf_failure" / "events.json")


@pytest.fixture
def hier_lines(replay_dir):
    return _lines(replay_dir / "hierarchical_wf_success" / "events.json")


# -- reading whole -------------------------------------------------------------------


@pytest.mark.parametrize("name,bp", [("events.json", False), ("events.bp", True)])
def test_read_whole(replay_dir, name, bp, expected_summary, store_snapshot):
    run = replay_dir / "hierarchical_wf_success"
    src = JsonLogSource(str(run / name), follow=False, bp=bp)
    assert not src.live and not src.recordable
    s = run_to_end(src, Store())
    assert src.status.state == "ended"
    assert s.bad_count == 0
    assert s.event_count == len(_lines(run / name))
    assert store_snapshot(s) == _reference(_lines(run / "events.json"), store_snapshot)
    root = s.roots[0]
    sm = summarize(s, root)
    assert {"tasks": sm.tasks.as_dict(), "jobs": sm.jobs.as_dict(), "sub_workflows": sm.sub_workflows.as_dict()} == (
        expected_summary(run / "statistics-csv" / "summary.csv")
    )


@pytest.mark.parametrize("name,bp", [("events.json", False), ("events.bp", True)])
def test_read_whole_last_line_without_newline(tmp_path, replay_dir, name, bp):
    lines = _lines(replay_dir / "process_wf_failure" / name)
    p = tmp_path / name
    p.write_bytes(b"".join(lines).rstrip(b"\n"))  # the writer died before the last newline
    s = run_to_end(JsonLogSource(str(p), follow=False, bp=bp), Store())
    assert s.bad_count == 0, list(s.warnings)
    assert s.event_count == len(lines)
    assert s.event_names["stampede.xwf.end"] == 1


def test_blank_lines_and_crlf_are_harmless(tmp_path, failure_lines, store_snapshot):
    p = tmp_path / "events.json"
    p.write_bytes(b"\n\n".join(ln.rstrip(b"\n") + b"\r" for ln in failure_lines) + b"\n\n")
    s = run_to_end(JsonLogSource(str(p), follow=False), Store())
    assert s.bad_count == 0
    assert store_snapshot(s) == _reference(failure_lines, store_snapshot)


def test_missing_file_is_a_source_error(tmp_path):
    src = JsonLogSource(str(tmp_path / "nope.json"), follow=False)
    ing = Ingest(src, Store())
    ing.run()
    assert src.status.state == "error"
    assert "cannot open" in src.status.message


def test_garbage_lines_are_counted_not_fatal(tmp_path, failure_lines, store_snapshot):
    p = tmp_path / "events.json"
    mixed = []
    for i, ln in enumerate(failure_lines):
        mixed.append(ln)
        if i % 10 == 0:
            mixed.append(b"this is not json\n")
        if i % 25 == 0:
            mixed.append(b"[1, 2]\n")
    p.write_bytes(b"".join(mixed))
    s = run_to_end(JsonLogSource(str(p), follow=False), Store())
    assert s.bad_count == len(mixed) - len(failure_lines)
    assert s.event_count == len(failure_lines)
    assert store_snapshot(s) == _reference(failure_lines, store_snapshot)


# -- following ---------------------------------------------------------------------------


def _follow(path, store, bp=False) -> tuple[JsonLogSource, Ingest]:
    src = JsonLogSource(str(path), follow=True, poll=POLL, bp=bp)
    assert src.live and src.recordable
    return src, Ingest(src, store).start()


def _stop(src, ing):
    ing.stop(timeout=5.0)
    assert not ing.thread.is_alive()
    assert ing.error is None
    assert src.status.state == "ended"


def test_follow_a_growing_file_with_a_partial_line(tmp_path, hier_lines, store_snapshot):
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(hier_lines[:50]))
    store = Store()
    src, ing = _follow(p, store)
    try:
        wait_for(store, lambda s: s.event_count == 50, "the first 50 lines", ing)
        # grow in pieces, one of them cut in the middle of a line
        _append(p, b"".join(hier_lines[50:120]))
        line = hier_lines[120]
        _append(p, line[: len(line) // 2])
        wait_for(store, lambda s: s.event_count == 120, "lines up to the partial one", ing)
        time.sleep(5 * POLL)  # several polls see the half line: it must wait
        with store.lock:
            assert store.event_count == 120
            assert store.bad_count == 0
        _append(p, line[len(line) // 2 :])
        wait_for(store, lambda s: s.event_count == 121, "the completed line", ing)
        # the rest, byte-sized dribbles at the end
        _append(p, b"".join(hier_lines[121:-1]))
        last = hier_lines[-1]
        for i in range(0, len(last), 97):
            _append(p, last[i : i + 97])
        wait_for(store, lambda s: s.event_count == len(hier_lines), "every line", ing)
        assert src.status.state == "following"
    finally:
        _stop(src, ing)
    assert store.bad_count == 0
    assert store_snapshot(store) == _reference(hier_lines, store_snapshot)


def test_follow_bp_file(tmp_path, replay_dir, store_snapshot):
    lines = _lines(replay_dir / "process_wf_success" / "events.bp")
    p = tmp_path / "events.bp"
    p.write_bytes(b"".join(lines[:10]))
    store = Store()
    src, ing = _follow(p, store, bp=True)
    try:
        wait_for(store, lambda s: s.event_count == 10, "10 BP lines", ing)
        _append(p, b"".join(lines[10:]))
        wait_for(store, lambda s: s.event_count == len(lines), "all BP lines", ing)
    finally:
        _stop(src, ing)
    assert store.bad_count == 0
    assert store_snapshot(store) == _reference(_lines(replay_dir / "process_wf_success" / "events.json"), store_snapshot)


def test_follow_a_file_truncated_and_rewritten(tmp_path, hier_lines, store_snapshot):
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(hier_lines[:200]))
    store = Store()
    src, ing = _follow(p, store)
    try:
        wait_for(store, lambda s: s.event_count == 200, "the first 200 lines", ing)
        # the writer starts over: the file is rewritten shorter, in place
        with open(p, "r+b") as f:
            f.truncate(0)
            f.write(b"".join(hier_lines[:30]))
        # idempotent store: the 30 re-read lines change nothing but the count
        wait_for(store, lambda s: s.event_count == 230, "the re-read start of the file", ing)
        with store.lock:
            assert store.bad_count == 0
        _append(p, b"".join(hier_lines[30:]))
        wait_for(store, lambda s: s.event_count == 230 + len(hier_lines) - 30, "the rest", ing)
    finally:
        _stop(src, ing)
    assert store.bad_count == 0
    assert store_snapshot(store) == _reference(hier_lines, store_snapshot)


def test_follow_a_rotated_file(tmp_path, hier_lines, store_snapshot):
    p = tmp_path / "events.json"
    rotated = tmp_path / "events.json.1"
    p.write_bytes(b"".join(hier_lines[:100]))
    store = Store()
    src, ing = _follow(p, store)
    try:
        wait_for(store, lambda s: s.event_count == 100, "the first 100 lines", ing)
        # rename away; the old writer still finishes its lines into the old file
        os.rename(p, rotated)
        _append(rotated, b"".join(hier_lines[100:150]))
        time.sleep(3 * POLL)  # no file at the path for a while: keep the old one
        wait_for(store, lambda s: s.event_count == 150, "lines written to the renamed file", ing)
        # the new file appears and grows
        p.write_bytes(b"".join(hier_lines[150:250]))
        wait_for(store, lambda s: s.event_count == 250, "the new file", ing)
        _append(p, b"".join(hier_lines[250:]))
        wait_for(store, lambda s: s.event_count == len(hier_lines), "every line", ing)
    finally:
        _stop(src, ing)
    assert store.bad_count == 0
    assert store_snapshot(store) == _reference(hier_lines, store_snapshot)


def test_rotation_yields_old_lines_then_new_lines_in_order(tmp_path, hier_lines):
    """Driving the source by hand: lines that reach the old file after it was
    renamed come before the new file's, each exactly once."""
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(hier_lines[:100]))
    src = JsonLogSource(str(p), follow=True, poll=POLL)
    gen = src.batches()
    got = list(next(gen))
    assert len(got) == 100
    # drive the generator by hand: do the rotation while it is parked at EOF
    os.rename(p, tmp_path / "events.json.1")
    with open(tmp_path / "events.json.1", "ab") as f:
        f.write(b"".join(hier_lines[100:110]))
    p.write_bytes(b"".join(hier_lines[110:]))
    for batch in gen:
        got.extend(batch)
        if len(got) >= len(hier_lines):
            break
    src.stop()
    gen.close()
    assert got == hier_lines


def test_rotation_old_partial_last_line_is_not_lost(tmp_path, hier_lines, store_snapshot):
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(hier_lines[:100]) + hier_lines[100].rstrip(b"\n"))
    store = Store()
    src, ing = _follow(p, store)
    try:
        wait_for(store, lambda s: s.event_count == 100, "100 complete lines", ing)
        os.rename(p, tmp_path / "events.json.1")
        p.write_bytes(b"".join(hier_lines[101:]))
        wait_for(store, lambda s: s.event_count + s.bad_count >= len(hier_lines), "every line", ing)
    finally:
        _stop(src, ing)
    assert store.bad_count == 0
    assert store_snapshot(store) == _reference(hier_lines, store_snapshot)


def test_follow_an_empty_file_then_stop(tmp_path):
    p = tmp_path / "events.json"
    p.write_bytes(b"")
    store = Store()
    src, ing = _follow(p, store)
    wait_for(store, lambda s: src.status.state == "following", "following state", ing)
    _stop(src, ing)
    assert store.event_count == 0


# -- not there yet, and pipes ----------------------------------------------------------


def test_a_log_not_there_yet_is_waited_for_visibly(tmp_path, hier_lines, store_snapshot):
    """tail -F: the source says it is waiting, then reads the log once monitord creates it."""
    p = tmp_path / "later" / "events.json"
    store = Store()
    src = JsonLogSource(str(p), follow=True, poll=POLL, bp=None)  # JSON or BP: told by the first line
    ing = Ingest(src, store).start()
    try:
        wait_for(store, lambda s: src.status.state == "waiting", "the waiting state", ing)
        assert src.status.message == f"waiting for {p}"
        p.parent.mkdir()
        p.write_bytes(b"".join(hier_lines))
        wait_for(store, lambda s: s.event_count == len(hier_lines), "every event", ing)
    finally:
        _stop(src, ing)
    assert store_snapshot(store) == _reference(hier_lines, store_snapshot)


def test_a_bp_log_not_there_yet_is_read_as_bp(tmp_path, replay_dir, store_snapshot):
    p = tmp_path / "events.bp"
    store = Store()
    src = JsonLogSource(str(p), follow=True, poll=POLL, bp=None)
    ing = Ingest(src, store).start()
    try:
        wait_for(store, lambda s: src.status.state == "waiting", "the waiting state", ing)
        p.write_bytes((replay_dir / "process_wf_failure" / "events.bp").read_bytes())
        wait_for(store, lambda s: s.event_count == 75, "every event", ing)
    finally:
        _stop(src, ing)
    assert store.bad_count == 0


def test_a_fifo_waits_for_its_writer_then_reads_to_the_end(tmp_path, failure_lines, store_snapshot):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    store = Store()
    src = JsonLogSource(str(fifo), follow=True, poll=POLL, bp=None)
    ing = Ingest(src, store).start()
    wait_for(store, lambda s: src.status.state == "waiting", "the waiting state", ing)
    assert src.status.message == f"waiting for a writer on {fifo}"
    with open(fifo, "wb") as w:  # opens once the source is reading: a real writer
        for ln in failure_lines:
            w.write(ln)
    ing.thread.join(DEADLINE)
    assert not ing.thread.is_alive()  # the writer closed: the stream ended
    assert src.status.state == "ended"
    assert store_snapshot(store) == _reference(failure_lines, store_snapshot)


def test_a_fifo_without_a_writer_fails_at_once_when_not_waiting(tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    src = JsonLogSource(str(fifo), follow=False, poll=POLL, bp=None, wait_for_writer=False)
    ing = Ingest(src, Store())
    t0 = time.monotonic()
    ing.run()
    assert time.monotonic() - t0 < 5
    assert src.status.state == "error"
    assert src.status.message == f"{fifo}: a FIFO with no writer (--no-follow waits for none)"


def test_a_fifo_stops_while_waiting(tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    store = Store()
    src = JsonLogSource(str(fifo), follow=True, poll=POLL, bp=None)
    ing = Ingest(src, store).start()
    wait_for(store, lambda s: src.status.state == "waiting", "the waiting state", ing)
    _stop(src, ing)
