"""Pipes at both ends: a reader that leaves (``| head``), and streams as input (``<(...)``, FIFOs).

Every case runs the real command in a child interpreter with real pipes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = {
    "panorama-top": "panorama_tui.cli",
    "panorama-collect": "panorama_tui.collect",
    "panorama-monitor": "collectors.monitor",
    "panorama-darshan": "collectors.darshan",
    "panorama-globus": "collectors.globus",
}


def run_into_closed_pipe(module, args, repo_root, env, tmp_path, timeout=120):
    """Run ``python -m module args`` with stdout a pipe whose reader has already gone."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=str(repo_root), env=env | {"TMPDIR": str(tmp_path)}, stdout=w, stderr=subprocess.PIPE,
            text=True, timeout=timeout,
        )
    finally:
        os.close(w)


def error_files(tmp_path) -> list[str]:
    return [f for f in os.listdir(tmp_path) if f.startswith("panorama-top-error-")]


# -- a reader that leaves -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--once"], ["--once", "--json"]])
def test_once_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path, replay_dir, args):
    proc = run_into_closed_pipe("panorama_tui.cli", [*args, replay_dir / "process_wf_failure" / "events.json"],
                                repo_root, child_env(), tmp_path)
    assert proc.stderr == ""
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports any filter whose reader left
    assert error_files(tmp_path) == []


def test_stats_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path, replay_dir):
    db = replay_dir / "process_wf_failure" / "process-0.stampede.db"
    proc = run_into_closed_pipe("panorama_tui.cli", ["--stats", "--json", db], repo_root, child_env(), tmp_path)
    assert (proc.returncode, proc.stderr) == (141, "")
    assert error_files(tmp_path) == []


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_help_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path, prog):
    proc = run_into_closed_pipe(COMMANDS[prog], ["--help"], repo_root, child_env(), tmp_path)
    assert proc.stderr == ""
    assert proc.returncode in (0, 141)  # argparse itself ignores a failed write of the help


def test_once_piped_to_head(repo_root, child_env, tmp_path, replay_dir):
    """The shell's own pipeline: whichever of the two ends first, nothing on stderr."""
    events = replay_dir / "hierarchical_wf_success" / "events.json"
    proc = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m panorama_tui.cli --once --json "{events}" | head -1; '
                       'echo "status ${PIPESTATUS[0]}"'],
        cwd=str(repo_root), env=child_env() | {"TMPDIR": str(tmp_path)}, capture_output=True, text=True, timeout=120,
    )
    assert proc.stderr == ""
    first, status = proc.stdout.splitlines()
    assert first == "{"
    assert status in ("status 0", "status 141")  # the whole answer fitted the pipe, or head left first
    assert error_files(tmp_path) == []


def test_darshan_payload_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path):
    import darshan  # a test dependency: its absence fails the test

    log = os.path.join(os.path.dirname(darshan.__file__), "tests", "input", "sample.darshan")
    proc = run_into_closed_pipe("collectors.darshan", ["--payload", log], repo_root, child_env(), tmp_path)
    assert (proc.returncode, proc.stderr) == (141, "")
