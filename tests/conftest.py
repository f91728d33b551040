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

# -- the real home directory is never written ----------------------------------
# Every test (and every child process it starts: they inherit the environment)
# gets a HOME and XDG dirs of its own.  The session gets one at configure time,
# so session-scoped fixtures are covered too; each test then gets a fresh one.
# pegasus-monitord registers runs in $HOME/.pegasus/workflow.db and panorama-top
# records into $XDG_DATA_HOME: both went to the user's real home before.
REAL_HOME = Path(os.path.expanduser("~")).resolve()
HOME_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR")
# What panorama-top or the Pegasus tools would write under a home directory.
WATCHED = (".pegasus", ".config/panorama-top", ".local/share/panorama-top", ".local/state/panorama-top",
           ".cache/panorama-top")


def _point_home_at(home: Path) -> dict:
    env = {"HOME": str(home)}
    for var in HOME_VARS:
        env[var] = str(home / var.lower())
    for v in env.values():
        Path(v).mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def _home_state(home: Path) -> dict:
    out = {}
    for rel in WATCHED:
        top = home / rel
        if not top.exists():
            continue
        for f in [top, *top.rglob("*")]:
            try:
                st = f.stat()
            except OSError:
                continue
            out[str(f)] = (st.st_mtime_ns, st.st_size)
    return out


def pytest_configure(config):
    import tempfile

    session_home = Path(tempfile.mkdtemp(prefix="panorama-test-home-"))
    os.environ.update(_point_home_at(session_home))
    config._panorama_real_home_state = _home_state(REAL_HOME)


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_panorama_real_home_state", None)
    if before is None:
        return
    after = _home_state(REAL_HOME)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        print(f"\nERROR: the test run wrote into the real home directory: {', '.join(changed[:5])}", file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _temporary_home(tmp_path_factory, monkeypatch):
    for k, v in _point_home_at(tmp_path_factory.mktemp("home")).items():
        monkeypatch.setenv(k, v)

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
    from panorama_tui.stats.counts import summarize

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
