"""Where panorama-top keeps its files: one place, through ``platformdirs``.

Every command asks here; none builds a path from ``XDG_*`` or ``~`` itself.
On Linux platformdirs follows the XDG base directories (``XDG_CONFIG_HOME``,
``XDG_STATE_HOME``, ... when set and not empty), so the places are the ones
panorama-top has always used:

=========  ======================================  ==========================================
 kind       Linux default                           what lives there
=========  ======================================  ==========================================
 config     ~/.config/panorama-top                  config.toml, globus-tokens.json
 state      ~/.local/state/panorama-top             logs, spools of unsent events, watch state
 data       ~/.local/share/panorama-top             recordings/
 cache      ~/.cache/panorama-top                   nothing that cannot be made again
=========  ======================================  ==========================================

Unsent events are state, never cache: a cache may be wiped by a user or a
site's cleaner at any time, and whatever waited there for the broker would be
lost (:func:`spool_dir`; :func:`old_cache_spool_dir` is where versions before
0.2 spooled, still drained so nothing collected is lost).

platformdirs is imported on first use: panorama-monitor starts with every job
and most runs never ask for a path (it costs ~3 ms, measured with -X importtime).
"""

from __future__ import annotations

import os

__all__ = [
    "APP",
    "config_dir",
    "config_file",
    "state_dir",
    "data_dir",
    "cache_dir",
    "log_dir",
    "spool_dir",
    "default_spool_dir",
    "old_cache_spool_dir",
    "recordings_dir",
]

APP = "panorama-top"
SPOOL_DIR_VAR = "PANORAMA_SPOOL_DIR"


def _dirs():
    import platformdirs

    # appauthor=False: no vendor level (Windows would otherwise nest one); no version: one place across upgrades.
    return platformdirs.PlatformDirs(APP, appauthor=False)


def config_dir() -> str:
    return _dirs().user_config_dir


def config_file() -> str:
    """The TOML config file every command reads (:mod:`panorama_tui.core.settings`)."""
    return os.path.join(config_dir(), "config.toml")


def state_dir() -> str:
    return _dirs().user_state_dir


def data_dir() -> str:
    return _dirs().user_data_dir


def cache_dir() -> str:
    return _dirs().user_cache_dir


def log_dir() -> str:
    """Logs sit at the top of the state dir, where they always were (platformdirs' own
    ``user_log_dir`` would be ``state/log``: a move users and their scripts would not expect)."""
    return state_dir()


def spool_dir() -> str:
    """Where collectors spool events until the broker confirms them: ``$PANORAMA_SPOOL_DIR``, else state."""
    return os.environ.get(SPOOL_DIR_VAR) or default_spool_dir()


def default_spool_dir() -> str:
    return os.path.join(state_dir(), "spool")


def old_cache_spool_dir() -> str:
    """Where collectors spooled before (under cache): read so its unsent events still go out."""
    return os.path.join(cache_dir(), "spool")


def recordings_dir() -> str:
    return os.path.join(data_dir(), "recordings")
