"""core/paths.py: one place for our dirs; unsent events spool under state, and an old cache spool is kept."""

from __future__ import annotations

import os
import sqlite3

from panorama_tui.collectors import sinks
from panorama_tui.collectors.common import hostname
from panorama_tui.core import paths


def test_dirs_follow_xdg(monkeypatch, tmp_path):
    for var, fn in (("XDG_CONFIG_HOME", paths.config_dir), ("XDG_STATE_HOME", paths.state_dir),
                    ("XDG_DATA_HOME", paths.data_dir), ("XDG_CACHE_HOME", paths.cache_dir)):
        monkeypatch.setenv(var, str(tmp_path / var))
        assert fn() == str(tmp_path / var / "panorama-top")
    assert paths.config_file() == str(tmp_path / "XDG_CONFIG_HOME" / "panorama-top" / "config.toml")
    assert paths.recordings_dir() == str(tmp_path / "XDG_DATA_HOME" / "panorama-top" / "recordings")
    assert paths.log_dir() == paths.state_dir()


def test_unsent_events_spool_under_state_not_cache(monkeypatch):
    monkeypatch.delenv("PANORAMA_SPOOL_DIR", raising=False)
    spool = sinks.default_spool("ptest-state")
    assert spool.startswith(os.path.join(paths.state_dir(), "spool") + os.sep)
    assert not spool.startswith(paths.cache_dir())


def test_an_old_cache_spool_is_moved_not_lost(monkeypatch):
    monkeypatch.delenv("PANORAMA_SPOOL_DIR", raising=False)
    host = hostname().split(".")[0]
    old_dir = paths.old_cache_spool_dir()
    os.makedirs(old_dir)
    old = os.path.join(old_dir, f"ptest-old.{host}.0.sqlite")
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE spool (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO spool (body) VALUES ('unsent')")
    db.close()
    spool = sinks.default_spool("ptest-old")
    assert spool.startswith(paths.state_dir()) and not os.path.exists(old)
    db = sqlite3.connect(spool)
    assert db.execute("SELECT body FROM spool").fetchall() == [("unsent",)]
    db.close()
