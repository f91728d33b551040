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

from .broker import admin  # noqa: E402,F401  (the broker tests' fixture, defined once)

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")


@pytest.fixture(scope="session")
def runs() -> tuple[str, ...]:
    return RUNS


def shared_data_dir() -> Path:
    env = os.environ.get("PANORAMA_SHARED_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not (d / "pegasus" / "monitord-replay").is_dir():
        msg = f"shared data not found at {d} (set PANORAMA_SHARED_DATA)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)  # CI has shared/ beside the checkout: its absence is a failure
        pytest.skip(msg)
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


@pytest.fixture(scope="session")
def expected_summary():
    """``expected_summary(path)``: pegasus-statistics' summary.csv as a dict."""
    return read_expected_summary


@pytest.fixture(scope="session")
def child_env():
    """``child_env()``: environment for a child interpreter running the package."""
    return subprocess_env


@pytest.fixture(scope="session")
def store_snapshot():
    """``store_snapshot(store)``: the store's contents, independent of arrival order."""
    return snapshot


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


def snapshot(store) -> dict:
    """Everything a view shows, in a form that does not depend on arrival order
    (but does on content): equal snapshots mean equal stores for the user."""
    from panorama_tui.stats import summarize

    def counts(wf):
        sm = summarize(store, wf)
        return {"tasks": sm.tasks.as_dict(), "jobs": sm.jobs.as_dict(), "sub_workflows": sm.sub_workflows.as_dict()}

    out = {}
    for wf in store.workflows.values():
        jobs = {}
        for job in wf.jobs.values():
            tries = {}
            for seq, t in sorted(job.tries.items()):
                tries[seq] = (
                    t.sched_id, t.site, t.host, t.ip, t.user, t.work_dir,
                    t.main_exitcode, t.post_exitcode, t.local_dur, t.cluster_dur,
                    t.stdout_file, t.stderr_file, t.stdout_text, t.stderr_text,
                    t.last, sorted(t.states.values(), key=lambda v: (v[0] or 0, v[1], v[2])),
                    sorted(
                        (i.inv_id, i.task_id, i.transformation, i.exitcode, i.dur, i.start_time, i.maxrss)
                        for i in t.invocations.values()
                    ),
                )
            jobs[job.job_id] = {
                "state": job.state,
                "type_desc": job.type_desc,
                "transformation": job.transformation,
                "max_retries": job.max_retries,
                "subwf_uuid": job.subwf_uuid,
                "task_ids": sorted(job.task_ids),
                "exit_raw": job.exit_raw,
                "exit_code": job.exit_code,
                "tries": tries,
            }
        out[wf.wf_uuid] = {
            "label": wf.label,
            "state": wf.state,
            "status": wf.status,
            "start_ts": wf.start_ts,
            "end_ts": wf.end_ts,
            "parent": wf.parent_uuid,
            "parent_job": wf.parent_job_id,
            "children": sorted(wf.children),
            "counts": list(wf.counts),
            "tree_counts": store.tree_counts(wf),
            "jobs": jobs,
            "integrity": dict(wf.integrity or {}),
            "summary": counts(wf),
        }
    out["_failed"] = sorted(j.key for j in store.failed_jobs())
    out["_transfers"] = {k: (t.status, t.wf_uuid, t.job_id, t.rank) for k, t in store.transfers.items()}
    return out
