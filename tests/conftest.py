"""Shared fixtures for the core test suite.

The tests read the real shared data (monitord replays of real Pegasus runs,
Panorama 360 event shapes).  Its location is ``../shared/data`` next to the
repository, or whatever ``PANORAMA_SHARED_DATA`` names.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` does not put the repo root on sys.path
    sys.path.insert(0, str(REPO_ROOT))

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")


def shared_data_dir() -> Path:
    env = os.environ.get("PANORAMA_SHARED_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not (d / "pegasus" / "monitord-replay").is_dir():
        pytest.skip(f"shared data not found at {d} (set PANORAMA_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def replay_dir(shared_data) -> Path:
    return shared_data / "pegasus" / "monitord-replay"


@pytest.fixture(scope="session")
def panorama_dir(shared_data) -> Path:
    return shared_data / "panorama"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def read_expected_summary(path: Path) -> dict:
    """pegasus-statistics' summary.csv as {"tasks"|"jobs"|"sub_workflows": {...}}."""
    text = "\n".join(ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#"))
    keys = {"Tasks": "tasks", "Jobs": "jobs", "Sub-Workflows": "sub_workflows"}
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["Type"] in keys:
            out[keys[row["Type"]]] = {
                "succeeded": int(row["Succeeded"]),
                "failed": int(row["Failed"]),
                "incomplete": int(row["Incomplete"]),
                "total": int(row["Total"]),
                "retries": int(row["Retries"]),
            }
    assert set(out) == set(keys.values()), f"unexpected summary.csv layout in {path}"
    return out


def subprocess_env() -> dict:
    """Environment for child interpreters: the repo importable, no stray output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env
