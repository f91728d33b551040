"""Files that hold a site's job data are created 0600, their new directories 0700, whatever the umask.

Recordings, spools, event files, the Darshan watch state, Globus tokens, logs and internal-error
reports: each made by the real writer, under the common umask 022.
"""

from __future__ import annotations

import os
import stat

import pytest


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_recording_and_its_wal(tmp_path):
    from panorama_tui.core.recorder import Recorder

    path = tmp_path / "new" / "run.panorama.db"
    rec = Recorder(str(path))
    rec.append([b'{"event": "stampede.wf.plan", "ts": 1677913774}'])
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    assert mode(f"{path}-wal") == 0o600  # SQLite gives its journal the database's mode
    rec.close()


def test_default_recording_directory(tmp_path):
    from panorama_tui.core.recorder import Recorder, default_recording_path

    path = default_recording_path()
    Recorder(path).close()
    assert mode(os.path.dirname(path)) == 0o700
    assert mode(path) == 0o600


def test_publisher_spool(tmp_path):
    from panorama_tui.transport.publisher import SpoolingPublisher

    spool = tmp_path / "spool" / "relay.db"
    pub = SpoolingPublisher("amqp://guest:guest@127.0.0.1:1/panorama/monitoring", str(spool), start=False)
    pub.publish({"event": "stampede.wf.plan", "ts": 1677913774})
    assert mode(spool.parent) == 0o700
    assert mode(spool) == 0o600
    assert mode(f"{spool}-wal") == 0o600


def test_collector_spool_directory_and_event_file(tmp_path, monkeypatch):
    from panorama_tui.collectors.sinks import JsonlSink, default_spool

    monkeypatch.setenv("PANORAMA_SPOOL_DIR", str(tmp_path / "spools"))
    default_spool("panorama-test")
    assert mode(tmp_path / "spools") == 0o700
    out = tmp_path / "events" / "monitor.jsonl"
    sink = JsonlSink(str(out))
    sink.emit([{"event": "kickstart.inv.online", "ts": 1677913774}])
    sink.close()
    assert mode(out.parent) == 0o700
    assert mode(out) == 0o600


def test_darshan_watch_state(tmp_path):
    from panorama_tui.collectors.darshan.collector import SeenState

    log = tmp_path / "x.darshan"
    log.write_bytes(b"x")
    state = SeenState(str(tmp_path / "state" / "darshan-watch.json"))
    state.mark(str(log))
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "darshan-watch.json") == 0o600


def test_globus_tokens(tmp_path):
    from panorama_tui.collectors.globus.collector import save_tokens

    path = tmp_path / "conf" / "globus-tokens.json"
    save_tokens(str(path), {"client_id": "x", "tokens": {}})
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path):
    """A file the site made (group-readable on purpose) is appended to, not re-moded."""
    from panorama_tui.collectors.sinks import JsonlSink

    out = tmp_path / "shared.jsonl"
    out.write_text("")
    os.chmod(out, 0o640)
    JsonlSink(str(out)).close()
    assert mode(out) == 0o640


def test_internal_error_report(tmp_path, monkeypatch):
    import tempfile

    from panorama_tui.cli.top import _log_internal_error

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        where = _log_internal_error(exc)
    with open(where) as f:
        assert "boom" in f.read()
    assert mode(where) == 0o600
