"""Replay of a recording under an injected clock: 1x, speed, pause, step, seek."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from panorama_tui.core.events import decode_line
from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.core.recorder import Recorder
from panorama_tui.sources.base import RESET
from panorama_tui.sources.replay import IDLE_SKIP_TO, SPEEDS, ReplayControl, ReplaySource
from panorama_tui.model.store import Store

T0 = 1677913774.0
GROUP = 5  # events per receive time
QUIET = 0.3  # real seconds to watch for emissions that must not happen
DEADLINE = 15.0


class FakeClock:
    """A monotonic clock the test moves; moving it wakes the replay thread."""

    def __init__(self, t: float = 5000.0):
        self.t = t
        self.control: ReplayControl | None = None
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.t

    def advance(self, dt: float) -> None:
        with self.control.cond:
            with self._lock:
                self.t += dt
            self.control.cond.notify_all()


def make_control(**kw) -> tuple[ReplayControl, FakeClock]:
    clock = FakeClock()
    control = ReplayControl(clock=clock, **kw)
    clock.control = control
    return control, clock


@pytest.fixture(scope="module")
def lines(replay_dir) -> list[str]:
    return [ln for ln in (replay_dir / "process_wf_failure" / "events.json").read_text().splitlines() if ln.strip()]


@pytest.fixture
def recording(tmp_path, lines) -> str:
    """The failure run, GROUP events per second of receive time."""
    path = str(tmp_path / "rec.panorama.db")
    rec = Recorder(path, source="test")
    rec.append_timed((T0 + i // GROUP, json.loads(ln)["event"], ln) for i, ln in enumerate(lines))
    rec.close()
    return path


def n_groups(lines) -> int:
    return (len(lines) + GROUP - 1) // GROUP


def reference(lines, store_snapshot, n=None):
    s = Store()
    s.apply_many(decode_line(ln) for ln in lines[:n])
    return store_snapshot(s)


class Running:
    """A replay feeding a store on the ingest thread."""

    def __init__(self, path, control):
        self.store = Store()
        self.source = ReplaySource(path, control)
        self.control = control
        self.resets = 0
        self.ingest = Ingest(self.source, self.store)
        orig_reset = self.store.reset

        def counting_reset():
            self.resets += 1
            orig_reset()

        self.store.reset = counting_reset
        self.ingest.start()

    @property
    def count(self) -> int:
        with self.store.lock:
            return self.store.event_count

    def wait_count(self, n: int, what: str = "") -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if self.count == n:
                return
            if self.ingest.error:
                pytest.fail(self.ingest.error)
            time.sleep(0.003)
        pytest.fail(f"timed out waiting for {n} events {what} (have {self.count})")

    def wait_for(self, pred, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.003)
        pytest.fail(f"timed out waiting for {what}")

    def stays(self, n: int) -> None:
        time.sleep(QUIET)
        assert self.count == n

    def stop(self) -> None:
        self.ingest.stop(timeout=5.0)
        assert not self.ingest.thread.is_alive()
        assert self.ingest.error is None


@pytest.fixture
def running():
    started = []

    def start(path, control):
        r = Running(path, control)
        started.append(r)
        return r

    yield start
    for r in started:
        r.source.stop()
        r.ingest.thread.join(5.0)


# -- playback ----------------------------------------------------------------------------


def test_1x_emits_only_as_the_clock_advances(recording, lines, running, store_snapshot):
    control, clock = make_control(speed=1.0)
    r = running(recording, control)
    r.wait_count(GROUP, "of the first receive time")
    assert control.start == T0 and control.end == T0 + n_groups(lines) - 1
    r.stays(GROUP)  # the clock has not moved: nothing more
    clock.advance(1.0)
    r.wait_count(2 * GROUP, "after 1 s")
    clock.advance(0.5)
    r.stays(2 * GROUP)
    r.wait_for(lambda: control.position == pytest.approx(T0 + 1.5), "position at 1.5 s")
    clock.advance(0.5)
    r.wait_count(3 * GROUP, "after 2 s")
    clock.advance(2.0)
    r.wait_count(5 * GROUP, "after 4 s")
    assert not control.finished
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot, 5 * GROUP)
    r.stop()


def test_speed_change(recording, lines, running):
    control, clock = make_control(speed=1.0)
    r = running(recording, control)
    r.wait_count(GROUP)
    control.set_speed(4.0)
    assert control.speed_label == "4x"
    clock.advance(0.5)  # 2 s of recording
    r.wait_count(3 * GROUP, "at 4x")
    control.set_speed(0.5)
    clock.advance(1.0)  # 0.5 s of recording
    r.stays(3 * GROUP)
    clock.advance(1.0)  # 1 s in all
    r.wait_count(4 * GROUP, "at 0.5x")
    r.stop()


def test_pause_stops_and_step_emits_the_next_group(recording, lines, running):
    control, clock = make_control(speed=1.0)
    r = running(recording, control)
    r.wait_count(GROUP)
    assert control.toggle_pause() is True
    clock.advance(10.0)
    r.stays(GROUP)
    r.wait_for(lambda: r.source.status.state == "paused", "paused state")
    control.step()
    r.wait_count(2 * GROUP, "after one step")
    r.stays(2 * GROUP)
    control.step()
    control.step()
    r.wait_count(4 * GROUP, "after two more steps")
    assert control.paused
    # time that passed while paused does not count
    assert control.toggle_pause() is False
    r.stays(4 * GROUP)
    clock.advance(1.0)
    r.wait_count(5 * GROUP, "after resuming")
    r.stop()


def test_start_paused_then_step(recording, running):
    control, clock = make_control(speed=1.0, paused=True)
    r = running(recording, control)
    r.wait_for(lambda: r.source.status.state == "paused", "paused state")
    clock.advance(5.0)
    r.stays(0)  # paused from the start: nothing until a step
    control.step()
    r.wait_count(GROUP, "after the first step")
    control.step()
    r.wait_count(2 * GROUP, "after the second step")
    r.stop()


def test_seek_before_anything_was_shown(recording, lines, running, store_snapshot):
    """A seek that arrives before the replay has placed itself must not kill it."""
    control, clock = make_control(speed=1.0, paused=True)
    control.seek(T0 + 4.0)
    r = running(recording, control)
    r.wait_count(5 * GROUP, "after the early seek")
    assert r.resets == 0
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot, 5 * GROUP)
    r.stop()


def test_seek_forward_fast_forwards(recording, lines, running, store_snapshot):
    control, clock = make_control(speed=1.0)
    r = running(recording, control)
    r.wait_count(GROUP)
    control.seek(T0 + 7.0)
    r.wait_count(8 * GROUP, "after seeking to 7 s")
    assert r.resets == 0
    r.stays(8 * GROUP)
    assert control.position == T0 + 7.0
    control.seek_relative(2.0)
    r.wait_count(10 * GROUP, "after seeking 2 s on")
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot, 10 * GROUP)
    r.stop()


def test_seek_backward_resets_and_rebuilds(recording, lines, running, store_snapshot):
    control, clock = make_control(speed=1.0)
    r = running(recording, control)
    control.seek(T0 + 12.0)
    r.wait_count(13 * GROUP, "after seeking to 12 s")
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot, 13 * GROUP)
    control.seek(T0 + 2.0)
    r.wait_for(lambda: r.resets == 1, "a RESET")
    r.wait_count(3 * GROUP, "rebuilt up to 2 s")
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot, 3 * GROUP)
        assert r.store.event_count == 3 * GROUP
    # and playback goes on from there
    clock.advance(1.0)
    r.wait_count(4 * GROUP, "1 s after the backward seek")
    # seek back to the very start, then forward past the end
    control.seek(0.0)
    r.wait_for(lambda: r.resets == 2, "a second RESET")
    r.wait_count(GROUP, "rebuilt to the start")
    control.seek(T0 + 10_000)
    r.wait_count(len(lines), "everything")
    r.wait_for(lambda: control.finished, "finished")
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot)
    r.stop()


def test_seek_back_after_the_end_replays_again(recording, lines, running, store_snapshot):
    control, clock = make_control(speed=0.0)
    r = running(recording, control)
    r.wait_count(len(lines))
    r.wait_for(lambda: control.finished, "finished")
    control.seek(T0)
    r.wait_for(lambda: r.resets == 1, "a RESET")
    r.wait_for(lambda: control.finished, "finished again")
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot)


def test_speed_0_emits_everything_and_finishes(recording, lines, running, store_snapshot):
    control, clock = make_control(speed=0.0)
    assert control.speed_label == "max"
    r = running(recording, control)
    r.wait_count(len(lines), "at full speed")
    r.wait_for(lambda: control.finished, "finished")
    assert control.position == control.end
    assert r.source.status.state == "ended"
    with r.store.lock:
        assert store_snapshot(r.store) == reference(lines, store_snapshot)
        assert r.store.bad_count == 0
    r.stop()


def test_1x_to_the_end_finishes(recording, lines, running):
    control, clock = make_control(speed=1.0)
    r = running(recording, control)
    r.wait_count(GROUP)
    for _ in range(n_groups(lines) - 1):
        clock.advance(1.0)
    r.wait_count(len(lines), "all groups")
    r.wait_for(lambda: control.finished, "finished")
    assert control.position == T0 + n_groups(lines) - 1
    r.stop()


def test_long_idle_gaps_are_shortened(tmp_path, lines, running):
    path = str(tmp_path / "gap.db")
    rec = Recorder(path)
    rec.append_timed([(T0, None, lines[0]), (T0 + 3600.0, None, lines[1])])
    rec.close()
    control, clock = make_control(speed=1.0)
    r = running(path, control)
    r.wait_count(1)
    clock.advance(IDLE_SKIP_TO + 0.01)  # an hour of nothing takes half a second
    r.wait_count(2, "after the shortened gap")
    r.wait_for(lambda: control.finished, "finished")
    r.stop()


def test_garbage_in_a_recording_is_counted(tmp_path, lines, running):
    path = str(tmp_path / "garbage.db")
    rec = Recorder(path)
    rec.append_timed([(T0, None, lines[0]), (T0, None, "not json"), (T0, None, "[1]"), (T0, None, lines[1])])
    rec.close()
    control, _ = make_control(speed=0.0)
    r = running(path, control)
    r.wait_count(2)
    r.wait_for(lambda: control.finished, "finished")
    with r.store.lock:
        assert r.store.bad_count == 2
    r.stop()


# -- ends and errors -------------------------------------------------------------------------


def test_empty_recording(tmp_path):
    path = str(tmp_path / "empty.db")
    Recorder(path).close()
    control, _ = make_control()
    src = ReplaySource(path, control)
    assert list(src.batches()) == []
    assert src.status.state == "ended"
    assert "empty" in src.status.message


def test_not_a_recording_is_a_source_error(tmp_path):
    path = tmp_path / "other.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE x (y)")
    c.commit()
    c.close()
    src = ReplaySource(str(path), make_control()[0])
    assert list(src.batches()) == []
    assert src.status.state == "error"
    assert "cannot read recording" in src.status.message


def test_generator_yields_reset_object_on_backward_seek(recording, lines):
    """Driven by hand: the source itself yields RESET, then the rebuilt batch."""
    control, clock = make_control(speed=0.0)
    src = ReplaySource(recording, control)
    gen = src.batches()
    got = []
    while len(got) < len(lines):
        got.extend(next(gen))
    assert got == lines  # ASCII records come back as text
    control.seek(T0 + 1.0)
    assert next(gen) is RESET
    assert next(gen) == lines[: 2 * GROUP]
    src.stop()
    gen.close()


# -- the control ----------------------------------------------------------------------------------


def test_control_faster_slower_and_labels():
    c, _ = make_control(speed=1.0)
    assert c.speed_label == "1x"
    assert c.faster() == 2.0
    assert c.faster() == 5.0
    assert c.slower() == 2.0
    c.set_speed(1000.0)
    assert c.faster() == 0.0
    assert c.speed_label == "max"
    assert c.faster() == 0.0
    assert c.slower() == SPEEDS[-2]
    c.set_speed(0.25)
    assert c.slower() == 0.25
    c.set_speed(-3)
    assert c.speed == 0.0


def test_control_pause_step_seek_flags():
    c, _ = make_control()
    assert c.toggle_pause() is True
    assert c.toggle_pause() is False
    c.step()
    assert c.paused and c.step_requests == 1
    c.seek(12)
    assert c.seek_to == 12.0
    c.start, c.position = 100.0, None
    c.seek_relative(5)
    assert c.seek_to == 105.0
    c.position = 200.0
    c.seek_relative(-30)
    assert c.seek_to == 170.0


# -- damaged recordings: a bad row is skipped and counted, the rest replays (#12 item 9) ----------

DEMO = os.path.join(os.path.dirname(__file__), "..", "panorama_tui", "data", "demo.panorama.db")


def replay_to_end(path) -> Store:
    store = Store()
    ing = Ingest(ReplaySource(path, ReplayControl(speed=0.0)), store).start()
    deadline = time.monotonic() + DEADLINE
    while not ing.source.control.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    ing.stop()
    assert ing.error is None, ing.error
    assert ing.source.control.finished
    return store


def integrity(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_a_bad_byte_in_one_row_of_the_demo_costs_that_row_only(tmp_path):
    path = str(tmp_path / "demo.panorama.db")
    shutil.copy(DEMO, path)
    conn = sqlite3.connect(path)
    total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    seq, body = conn.execute("SELECT seq, body FROM events WHERE seq = 100").fetchone()
    conn.close()
    data = bytearray(Path(path).read_bytes())
    at = data.find(body.encode())
    assert at > 0 and data.count(body.encode()) == 1
    data[at] = 0xFF  # '{' -> a byte that is not UTF-8
    Path(path).write_bytes(bytes(data))
    assert integrity(path) == "ok"  # SQLite sees nothing wrong

    store = replay_to_end(path)
    assert store.bad_count == 1
    assert store.event_count == total - 1
    [warning] = list(store.warnings)
    assert warning.startswith(f"demo.panorama.db row {seq}: not JSON")
    assert "«\ufffd" in warning  # the start of the bad text, as it is


def v2_recording(tmp_path, lines) -> str:
    path = str(tmp_path / "v2.panorama.db")
    rec = Recorder(path)
    for i in range(0, len(lines), 10):
        rec.append(lines[i:i + 10], recv_ts=T0 + i)
    rec.close()
    return path


def test_a_damaged_chunk_or_a_body_of_the_wrong_type_is_skipped_and_counted(tmp_path, lines):
    path = v2_recording(tmp_path, lines)
    conn = sqlite3.connect(path)
    body = conn.execute("SELECT body FROM chunks WHERE seq = 2").fetchone()[0]
    flipped = bytearray(body)
    flipped[len(body) // 2] ^= 0x40
    conn.execute("UPDATE chunks SET body = ? WHERE seq = 2", (bytes(flipped),))
    conn.execute("UPDATE chunks SET body = 42 WHERE seq = 4")
    conn.commit()
    conn.close()
    assert integrity(path) == "ok"

    store = replay_to_end(path)
    assert store.bad_count == 2
    assert store.event_count == len(lines) - 20
    warnings = list(store.warnings)
    assert warnings[0].startswith("v2.panorama.db row 2: unreadable chunk (zlib: ")
    assert warnings[0].endswith("its 10 records skipped")
    assert warnings[1].startswith("v2.panorama.db row 4: unreadable chunk (not a chunk (int body")


def test_a_bad_record_names_its_row_and_place_in_the_chunk(tmp_path, lines):
    path = v2_recording(tmp_path, [*lines[:13], "not json\x1b[2J", *lines[13:]])
    store = replay_to_end(path)
    assert list(store.warnings) == ["v2.panorama.db row 2 record 4: not JSON: Expecting value: line 1 column 1 "
                                    "(char 0) «not json^[[2J»"]
    # a recording of the first format names the row
    old = str(tmp_path / "v1.panorama.db")
    conn = sqlite3.connect(old)
    conn.executescript("CREATE TABLE events (seq INTEGER PRIMARY KEY, recv_ts REAL, name TEXT, body TEXT);"
                       "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                       "INSERT INTO meta VALUES ('format', 'panorama-recording'), ('version', '1');")
    conn.executemany("INSERT INTO events (seq, recv_ts, body) VALUES (?, ?, ?)",
                     [(10, T0, lines[0]), (12, T0, lines[1]), (15, T0, "[1, 2"), (16, T0, lines[2])])
    conn.commit()
    conn.close()
    store = replay_to_end(old)
    assert store.event_count == 3
    assert list(store.warnings) == ["v1.panorama.db row 15: not JSON: Expecting ',' delimiter: line 1 column 6 "
                                    "(char 5) «[1, 2»"]
