"""Tests never write into the user's real home directory (issue: phantom
workflows in ~/.pegasus/workflow.db after the test command)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import REAL_HOME


def test_home_and_xdg_dirs_are_temporary():
    home = Path(os.environ["HOME"]).resolve()
    assert home != REAL_HOME
    assert REAL_HOME not in home.parents
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert Path(os.environ[var]).resolve().is_relative_to(home), var


def test_a_child_process_sees_the_temporary_home(child_env):
    out = subprocess.run([sys.executable, "-c", "import os; print(os.path.expanduser('~'))"],
                         env=child_env(), capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out).resolve() != REAL_HOME
