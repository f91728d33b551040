"""#11 item 28 / #12 item 11: what a screen session records, where, how big, and that it says so."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import pytest

from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.core.recorder import SettingsError, read_records, recordings_dir, session_recorder
from panorama_tui.sources.amqp import AmqpSource
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.replay import ReplaySource
from panorama_tui.model.store import Store
from panorama_tui.ui.app import PanoramaApp

from .test_ui import text_of

URL = "amqp://guest:guest@127.0.0.1:5672/panorama/monitoring"


def test_a_followed_log_is_its_own_recording(tmp_path, replay_dir):
    log = str(replay_dir / "process_wf_failure" / "events.json")
    assert session_recorder(JsonLogSource(log, follow=True)) is None
    assert not os.path.exists(recordings_dir())  # nothing copied into the home directory
    asked = session_recorder(JsonLogSource(log, follow=True), str(tmp_path / "asked.panorama.db"))
    assert asked is not None
    asked.close()
    assert session_recorder(JsonLogSource(log, follow=False), str(tmp_path / "x.db")) is None  # read whole
    assert session_recorder(ReplaySource(str(tmp_path / "x.db")), str(tmp_path / "y.db")) is None
    assert session_recorder(AmqpSource(URL), off=True) is None


def test_a_followed_parsl_db_is_its_own_recording(tmp_path, shared_data):
    from panorama_tui.sources.parsl.monitoring_db import ParslDbSource

    db = tmp_path / "monitoring.db"
    shutil.copy(shared_data / "parsl" / "monitoring.db", db)
    src = ParslDbSource(str(db), follow=True, writers=lambda p: None)
    assert session_recorder(src) is None
    assert not os.path.exists(recordings_dir())
    asked = session_recorder(src, str(tmp_path / "asked.panorama.db"))
    assert asked is not None
    asked.close()


def test_a_live_stream_is_recorded_and_old_recordings_are_pruned_first(monkeypatch):
    directory = recordings_dir()
    os.makedirs(directory)
    old = os.path.join(directory, "20200101T000000-1.panorama.db")
    open(old, "wb").close()
    os.utime(old, (time.time() - 30 * 86400,) * 2)
    kept = os.path.join(directory, "20200102T000000-2.panorama.db")
    open(kept, "wb").close()
    os.utime(kept, (time.time() - 5 * 86400,) * 2)
    monkeypatch.setenv("PANORAMA_RECORDING_KEEP_DAYS", "7")
    rec = session_recorder(AmqpSource(URL))
    try:
        assert os.path.dirname(rec.path) == directory
        left = [n for n in os.listdir(directory) if n.endswith(".panorama.db")]
        assert sorted(left) == sorted([os.path.basename(kept), os.path.basename(rec.path)])
    finally:
        rec.close()


def test_bad_retention_settings_are_one_line(monkeypatch):
    monkeypatch.setenv("PANORAMA_RECORDING_KEEP_MB", "lots")
    with pytest.raises(SettingsError, match="PANORAMA_RECORDING_KEEP_MB must be a number, not 'lots'"):
        session_recorder(AmqpSource(URL))


def test_the_status_line_says_the_session_is_recorded_where_and_how_big(tmp_path, replay_dir):
    events = tmp_path / "events.json"
    events.write_bytes((replay_dir / "process_wf_failure" / "events.json").read_bytes())
    path = os.path.join(os.path.expanduser("~"), "runs", "a-long-directory-name", "session.panorama.db")
    src = JsonLogSource(str(events), follow=True, poll=0.05)
    store = Store()
    ingest = Ingest(src, store, recorder=session_recorder(src, path)).start()

    async def go():
        app = PanoramaApp(store, ingest=ingest, live=True, monotonic=lambda: 0.0)
        # wide enough for every field: a narrower line drops the path first (test_columns.py)
        async with app.run_test(size=(180, 30)) as pilot:
            deadline = time.monotonic() + 15
            while store.event_count < 75 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            app.refresh_all(full=True)
            await pilot.pause()
            text = text_of(app.query_one("#status"))
            assert text.split(" │ ")[1].startswith("● REC ") and text.split(" │ ")[1].endswith("K"), text
            assert text.rstrip().endswith(" │ rec …/session.panorama.db"), text

    try:
        asyncio.run(go())
    finally:
        ingest.stop()
    assert len(read_records(path)) == 75
