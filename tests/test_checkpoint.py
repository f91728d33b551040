"""Checkpoints of the store in recordings (issue #14): a seek restores the latest one at or
before its time and replays the rest; the store equals a replay from zero to the same time."""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import time
import zlib

import msgspec
import pytest

from panorama_tui.core.recorder import Recorder, list_checkpoints
from panorama_tui.model import checkpoint as ck
from panorama_tui.model.entities import Invocation, Job, Task, Transfer, Try, Workflow
from panorama_tui.model.series import RankSeries, ResourceSeries
from panorama_tui.model.store import Store
from panorama_tui.pipeline.checkpoints import Cadence, Checkpointer
from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.sources.base import CheckpointPlace
from panorama_tui.sources.replay import ReplayControl, ReplaySource

DEMO = os.path.join(os.path.dirname(ck.__file__), "..", "data", "demo.panorama.db")
DEADLINE = 30.0


# -- the whole store, every field --------------------------------------------------------


def _fields(obj, skip=()) -> tuple:
    return tuple((n, _value(getattr(obj, n))) for n in type(obj).__slots__ if n not in skip)


def _value(v):
    if isinstance(v, (Try, Invocation, Task, Transfer)):
        return _fields(v)
    if isinstance(v, ResourceSeries):
        return (_fields(v, ("_rs", "_more")), {k: (r._a.tobytes(), r.capacity) for k, r in v.ranks.items()})
    if isinstance(v, RankSeries):
        return (v._a.tobytes(), v.capacity)
    if isinstance(v, dict):
        return tuple((repr(k), _value(x)) for k, x in v.items())  # in order: the views' order
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_value(x) for x in v))
    return (type(v).__name__, repr(v))


def full_state(store: Store) -> dict:
    """Every field of every object of the store, in its order, and its counters."""
    out = {
        "counters": (store.event_count, dict(store.event_names), dict(store.unknown), store.bad_count,
                     store.warning_count, list(store.warnings), repr(store.latest_ts), store._order, store.version),
        "failed": [j.key for j in store.failed_jobs()],
        "active": sorted(j.key for j in store.active),
        "transfers": _value(store.transfers),
    }
    for uuid, wf in store.workflows.items():
        out[uuid] = (_fields(wf, ("jobs",)), [
            (_fields(j, ("wf", "latest")), j.latest.seq if j.latest else None, j.wf is wf) for j in wf.jobs.values()
        ])
    return out


def views_figures(store: Store) -> dict:
    """What the brief names: every job's state and tries, counts, failures, warnings, bad records, series."""
    return {
        "jobs": {(j.wf.wf_uuid, j.job_id): (j.state, len(j.tries), j.series.sample_count if j.series else 0)
                 for j in store.jobs()},
        "counts": {u: list(wf.counts) for u, wf in store.workflows.items()},
        "failed": [j.key for j in store.failed_jobs()],
        "warnings": store.warning_count,
        "bad": store.bad_count,
    }


# -- driving a replay --------------------------------------------------------------------


class Replay:
    """A paused replay feeding a store on the ingest thread; ``seek`` returns once its records are in."""

    def __init__(self, path: str, every_batch: bool = False):
        self.store = Store()
        self.control = ReplayControl(speed=1.0, paused=True)
        self.source = ReplaySource(path, self.control)
        self.ingest = Ingest(self.source, self.store)
        if every_batch and self.ingest.checkpointer is not None:  # a checkpoint at every row's end it may
            self.ingest.checkpointer.cadence = Cadence(share=1e9, min_gap=0.0)
        self.ingest.start()

    def seek(self, t: float) -> None:
        self.control.seek(t)
        deadline = time.monotonic() + DEADLINE
        while self.control.seeking or self.control.start is None:
            assert self.ingest.error is None, self.ingest.error
            assert time.monotonic() < deadline, "the seek did not finish"
            time.sleep(0.005)

    def stop(self) -> None:
        self.ingest.stop(timeout=5.0)
        assert self.ingest.error is None


def time_range(path: str) -> tuple[float, float]:
    from panorama_tui.sources.replay import RecordingReader

    conn = sqlite3.connect(path)
    try:
        return RecordingReader(conn, "").time_range()
    finally:
        conn.close()


def from_zero(path: str, t: float) -> Store:
    r = Replay(path)
    try:
        r.seek(t)
        return r.store
    finally:
        r.stop()


@pytest.fixture
def demo(tmp_path) -> str:
    """The bundled demo (a recording of format 1, a row a record)."""
    path = str(tmp_path / "demo.panorama.db")
    shutil.copy(DEMO, path)
    return path


def recorded_live(records: list, path: str, batch: int) -> Store:
    """``records`` (receive time, body) through a live session's ingest and recorder, ``batch``
    at a time, each received at its last record's time, a checkpoint after each; its store."""
    from panorama_tui.sources.base import Batch, Source

    parts = [records[i:i + batch] for i in range(0, len(records), batch)]

    class Feed(Source):
        live = True
        label = "feed"

        def batches(self):
            for part in parts:
                yield Batch([b for _, b in part])

    class TimedRecorder(Recorder):
        times = iter([part[-1][0] for part in parts])

        def append(self, recs, recv_ts=None):
            return super().append(recs, recv_ts=next(self.times))

    recorder = TimedRecorder(path, source="test")
    store = Store()
    ing = Ingest(Feed(), store, recorder)
    ing.checkpointer.cadence = Cadence(share=1e9, min_gap=0.0)
    ing.run()
    recorder.close()
    return store


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> str:
    from benchmarks import generate

    path = str(tmp_path_factory.mktemp("gen") / "gen.panorama.db")
    generate.write_recording(path, 150, batch=700)
    return path


# -- the format ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls, kept", [
    (Job, ck._JOB_PLAIN + ck._JOB_RICH + ck._JOB_OWN),
    (Try, ck._TRY_PLAIN + ck._TRY_OWN),
    (Workflow, ck._WF_PLAIN + ck._WF_RICH + ck._WF_OWN),
    (Invocation, ck._INV),
    (Task, ck._TASK),
    (Transfer, ck._TRANSFER_PLAIN + ("data", "rank")),
    (ResourceSeries, ck._SERIES_PLAIN + ("_rank", "_rs", "_more")),
])
def test_every_field_of_every_entity_is_kept(cls, kept):
    """A field added to an entity must be added to the checkpoint (or it would come back empty)."""
    assert sorted(kept) == sorted(cls.__slots__)
    assert len(set(kept)) == len(kept)


def test_a_store_comes_back_whole(demo):
    store = from_zero(demo, time_range(demo)[1])
    assert store.event_count > 500
    assert store.job_count() > 0 and store.failed_jobs()
    body = ck.encode(store)
    again = Store()
    again.restore(ck.decode(body))
    assert full_state(again) == full_state(store)
    assert again.structure_version == 1  # the views rebuild


def test_the_body_holds_no_code_and_a_pickle_is_refused(tmp_path):
    """A recording is shared: a body that would run code when unpickled is only unreadable here."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for body in (pickle.dumps(Evil()), zlib.compress(pickle.dumps(Evil())), b"", b"\x00garbage",
                 zlib.compress(msgspec.msgpack.encode([ck.VERSION, "little", "not a number"])),
                 zlib.compress(msgspec.msgpack.encode([99, "little"])), "text", None):
        with pytest.raises(ck.CheckpointError):
            ck.decode(body)
    assert not marker.exists()


def test_a_damaged_body_is_an_error_not_a_crash(demo):
    body = bytearray(zlib.decompress(ck.encode(from_zero(demo, time_range(demo)[1]))))
    for at in range(7, len(body), max(1, len(body) // 40)):
        damaged = bytes(body[:at]) + bytes([body[at] ^ 0x5A]) + bytes(body[at + 1:])
        try:
            ck.decode(zlib.compress(damaged))
        except ck.CheckpointError:
            pass
    with pytest.raises(ck.CheckpointError):
        ck.decode(zlib.compress(bytes(body[: len(body) // 2])))


def test_a_store_with_a_parsl_run_has_no_checkpoint():
    from panorama_tui.model.handlers.parsl import RUN_KEY, ParslRun

    store = Store()
    wf = store.workflow("run-1")
    wf.meta[RUN_KEY] = ParslRun(wf)
    with pytest.raises(ck.Unsupported):
        ck.encode(store)


# -- seeking ---------------------------------------------------------------------------------


def _times(path: str) -> list[float]:
    """Times through the recording's rows (not its time range: a generated run's first rows
    are its plan, received decades before the rest)."""
    conn = sqlite3.connect(path)
    ends = [r[0] for r in conn.execute("SELECT last_ts FROM chunks ORDER BY seq")]
    conn.close()
    return [ends[int(f * (len(ends) - 1))] + 0.3 for f in (0.9, 0.55, 0.3, 0.05, 0.75)]


@pytest.mark.parametrize("which", ["demo", "generated"])
def test_a_seek_through_a_checkpoint_equals_a_replay_from_zero(which, tmp_path, demo, generated):
    """Checkpoints the replay takes itself (its file has none), at the end of each batch it may."""
    from panorama_tui.core.recorder import read_records

    path = str(tmp_path / "v2.panorama.db")
    rec = Recorder(path)  # in chunks of 40 records (format 2)
    records = read_records(demo if which == "demo" else generated)
    for i in range(0, len(records), 40):
        rec.append_timed((t, "", body) for t, body in records[i:i + 40])
    rec.close()
    conn = sqlite3.connect(path)
    ends = [r[0] for r in conn.execute("SELECT last_ts FROM chunks ORDER BY seq")]
    conn.close()
    r = Replay(path, every_batch=True)
    try:
        for t in ends[:: max(1, len(ends) // 30)]:  # forward, a row or a few at a time: it keeps checkpoints
            r.seek(t)
        kept = len(r.source.memory_checkpoints)
        assert kept >= 2
        for t in _times(path):
            before = r.source.restores
            r.seek(t)
            expected = from_zero(path, t)
            with r.store.lock:
                assert full_state(r.store) == full_state(expected), t
                assert views_figures(r.store) == views_figures(expected)
            assert r.source.restores >= before  # a seek to before the first checkpoint replays from zero
        assert r.source.restores >= 3
    finally:
        r.stop()


@pytest.mark.parametrize("which", ["demo", "generated"])
def test_a_live_session_writes_checkpoints_a_replay_restores(which, tmp_path, demo, generated, monkeypatch):
    """The recorder's checkpoints: in the file, used by a seek back and far forward, and the store is the same."""
    from panorama_tui.core.recorder import read_records
    from panorama_tui.sources import replay

    monkeypatch.setattr(replay, "FORWARD_GAIN", 1)  # "far ahead": a row ahead will do here

    records = read_records(demo if which == "demo" else generated)
    path = str(tmp_path / "live.panorama.db")
    live = recorded_live(records, path, 37 if which == "demo" else 900)
    conn = sqlite3.connect(path)
    places = list_checkpoints(conn)
    conn.close()
    assert len(places) >= 5
    assert places[-1][2] == len(records)

    r = Replay(path)
    try:
        r.seek(time_range(path)[1])
        with r.store.lock:
            assert full_state(r.store) == full_state(live)
        lo, hi = time_range(path)
        for t in (places[len(places) // 2][1], places[1][1] + 0.5, lo + 0.1 * (hi - lo), places[-2][1]):
            r.seek(t)
            expected = from_zero(path, t)
            with r.store.lock:
                assert full_state(r.store) == full_state(expected)
                assert views_figures(r.store) == views_figures(expected)
        assert r.source.restores >= 3  # two back, one forward
        assert not r.source.memory_checkpoints  # the file has its own
    finally:
        r.stop()


def test_a_damaged_checkpoint_is_a_warning_and_an_earlier_one_serves(tmp_path, generated):
    from panorama_tui.core.recorder import read_records

    path = str(tmp_path / "live.panorama.db")
    recorded_live(read_records(generated), path, 900)
    conn = sqlite3.connect(path)
    places = list_checkpoints(conn)
    assert len(places) >= 3
    newest = CheckpointPlace(*places[-2])  # the newest a seek back from the end would take
    with conn:
        conn.execute("UPDATE checkpoints SET body = ? WHERE seq = ?", (b"\x78\x9c broken", newest.seq))
    conn.close()

    r = Replay(path)
    try:
        t = time_range(path)[1]
        r.seek(t)
        r.seek(newest.ts)  # back: the newest checkpoint is damaged, the one before serves
        assert r.source.unreadable == {newest.seq}
        assert r.source.restores == 1
        expected = from_zero(path, newest.ts)
        with r.store.lock:
            assert r.store.warning_count == expected.warning_count + 1
            assert any("checkpoint after row" in w and "unreadable" in w for w in r.store.warnings)
            got = views_figures(r.store)
            want = views_figures(expected)
            got["warnings"] -= 1
            assert got == want
    finally:
        r.stop()


def test_an_old_recording_without_checkpoints_replays_as_before(demo):
    conn = sqlite3.connect(demo)
    assert "checkpoints" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    r = Replay(demo)
    try:
        lo, hi = time_range(demo)
        r.seek(hi)
        r.seek(lo + (hi - lo) / 2)
        assert r.source.restores == 0  # its checkpointer's gap (2 s of CPU) is longer than the demo
        with r.store.lock:
            assert full_state(r.store) == full_state(from_zero(demo, lo + (hi - lo) / 2))
    finally:
        r.stop()


def test_a_recorder_appending_to_an_older_file_writes_no_checkpoints(tmp_path, demo):
    rec = Recorder(demo)
    rec.append([b'{"event": "x"}'])
    assert rec.checkpoint_place() is None
    rec.close()
    fresh = Recorder(str(tmp_path / "new.panorama.db"))
    assert fresh.checkpoint_place() is None  # nothing written yet
    fresh.append([b'{"event": "x"}'], recv_ts=5.0)
    assert fresh.checkpoint_place() == (1, 5.0, 1)
    fresh.close()


def test_checkpointer_stops_on_a_store_it_cannot_keep(tmp_path):
    from panorama_tui.model.handlers.parsl import RUN_KEY, ParslRun

    store = Store()
    wf = store.workflow("run-1")
    wf.meta[RUN_KEY] = ParslRun(wf)
    got = []

    class Sink:
        def checkpoint_place(self, batch):
            return (1, 1.0, 1)

        def add_checkpoint(self, *a):
            got.append(a)

    cp = Checkpointer(store, Sink(), Cadence(share=1e9, min_gap=0.0))
    cp.after_batch(None)
    assert cp.off and not got


# -- the screen after a restore ----------------------------------------------------------------


def test_the_screen_shows_the_restored_store(tmp_path, demo):
    """Job list, tree, failures panel and header after a seek that restored a checkpoint are
    what the screen shows of a replay from zero to the same time."""
    import asyncio

    from panorama_tui.core.recorder import read_records
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.panels.header import HeaderBar
    from panorama_tui.ui.panels.tree import WorkflowTree
    from panorama_tui.ui.widgets.joblist import JobList

    from .test_ui import text_of, wait_for
    from .ui_helpers import demo_app, fixed_timezone, wait_finished

    fixed_timezone()
    path = str(tmp_path / "live.panorama.db")
    recorded_live(read_records(demo), path, 37)
    conn = sqlite3.connect(path)
    places = list_checkpoints(conn)
    conn.close()
    t = places[len(places) // 2][1] + 1.0
    expected = from_zero(path, t)
    assert expected.job_count() > 0

    def shown(app) -> dict:
        tree = app.query_one("#tree", WorkflowTree)
        return {
            "jobs": sorted(j.key for j in app.query_one("#jobs", JobList).rows),
            "failed": [j.key for j in app.query_one("#fail-list", JobList).rows],
            "header": text_of(app.query_one("#header", HeaderBar)).splitlines()[1:],  # not "elapsed": the clock's
            "tree": sorted(str(n.label) for n in tree.root.children) if tree.root.children else [],
        }

    async def restored() -> dict:
        app, store, control, ingest = demo_app(speed=0.0, path=path)
        try:
            async with app.run_test(size=(140, 42)) as pilot:
                await wait_finished(app, control, pilot)
                await pilot.press("2")
                at_end = shown(app)
                control.toggle_pause()  # else, at full speed, it plays on to the end again
                control.seek(t)
                await wait_for(lambda: not control.seeking)
                assert ingest.source.restores == 1
                await asyncio.sleep(app.tick_seconds * 2)
                app.refresh_all(full=True)
                await pilot.pause()
                return {"at_end": at_end, "now": shown(app)}
        finally:
            ingest.stop()

    async def reference() -> dict:
        app = PanoramaApp(expected, source_label="demo", live=False, monotonic=lambda: 0.0)
        async with app.run_test(size=(140, 42)) as pilot:
            await pilot.pause()
            await pilot.press("2")
            app.refresh_all(full=True)
            await pilot.pause()
            return shown(app)

    got = asyncio.run(restored())
    want = asyncio.run(reference())
    assert got["at_end"] != want  # the seek changed what is shown
    assert got["now"] == want
    assert got["now"]["jobs"] == want["jobs"] == sorted(j.key for j in expected.jobs())
    assert got["now"]["failed"] == want["failed"]
    assert got["now"]["tree"] == want["tree"]


# -- panorama-collect checkpoint ----------------------------------------------------------------


def test_checkpoints_added_to_an_existing_recording_serve_its_seeks(tmp_path, generated, monkeypatch):
    from panorama_tui.pipeline.checkpoints import add_to_recording
    from panorama_tui.sources import replay

    monkeypatch.setattr(replay, "CHUNK", 1000)  # batches of 1,000 records: a place for a checkpoint each

    path = str(tmp_path / "gen.panorama.db")
    shutil.copy(generated, path)
    got = add_to_recording(path, Cadence(share=1e9, min_gap=0.0))
    assert got["checkpoints"] >= 2 and got["off"] is None and got["bytes_added"] > 0
    assert 0 < got["checkpoint_cpu"] < got["ingest_cpu"]
    again = add_to_recording(path, Cadence(share=1e9, min_gap=0.0))  # in place of the first ones
    assert again["checkpoints"] == got["checkpoints"]
    conn = sqlite3.connect(path)
    places = list_checkpoints(conn)
    conn.close()
    assert len(places) == got["checkpoints"]
    r = Replay(path)
    try:
        r.seek(time_range(path)[1])
        t = places[0][1] + 0.5
        r.seek(t)
        assert r.source.restores >= 1
        with r.store.lock:
            assert full_state(r.store) == full_state(from_zero(path, t))
    finally:
        r.stop()


def test_panorama_collect_checkpoint(tmp_path, demo, capsys):
    from panorama_tui.cli.collect import main

    assert main(["checkpoint", demo]) == 0
    out = capsys.readouterr().out
    assert "checkpoint(s)" in out and demo in out
    conn = sqlite3.connect(demo)
    assert "checkpoints" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    other = tmp_path / "not.panorama.db"
    other.write_text("hello")
    assert main(["checkpoint", str(other)]) == 3
    assert main(["checkpoint", str(tmp_path / "missing.db")]) == 3
    err = capsys.readouterr().err
    assert "not a panorama-top recording" in err and "no such file" in err
