"""Real test peers that cannot live in the project's own environment.

The real Parsl: ``parsl[monitoring]`` needs SQLAlchemy 2, and the real
pegasus-wms 5.1.3 (the Pegasus peer) pins SQLAlchemy 1.3, so Parsl gets a venv
of its own, ``<repo>/.peers/parsl`` (git-ignored), made once with ``python3
-m venv`` and ``pip install 'parsl[monitoring]==PARSL_VERSION'`` and reused
by every later session (a file lock keeps two sessions from building it at
once).  Making it took 22 s here (2 cores, the package index on the local
network).  Workflow scripts run as subprocesses of its interpreter, in a
session of their own, so a test can kill a run and every process it started
(HTEX starts its workers in another process group of the same session).

Without a way to build it a test skips; with CI=true it fails.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARSL_VERSION = "2026.10.26"
REPO_ROOT = Path(__file__).resolve().parents[1]
PEERS = REPO_ROOT / ".peers"
PARSL_VENV = PEERS / "parsl"
WORKFLOW = Path(__file__).resolve().parent / "data" / "parsl" / "small_workflow.py"
BUILD_TIMEOUT = 900


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _has_parsl(python: Path) -> bool:
    if not python.exists():
        return False
    check = f"import parsl, sqlalchemy; assert parsl.__version__ == {PARSL_VERSION!r}"
    return subprocess.run([str(python), "-c", check], capture_output=True, timeout=120).returncode == 0


def build_parsl_venv() -> Path:
    """The interpreter of the Parsl venv, made (once) if it is not there; RuntimeError saying why not."""
    PEERS.mkdir(exist_ok=True)
    python = _venv_python(PARSL_VENV)
    with open(PEERS / "parsl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building it
        if _has_parsl(python):
            return python
        shutil.rmtree(PARSL_VENV, ignore_errors=True)  # half-made or another version: start over
        steps = ([sys.executable, "-m", "venv", str(PARSL_VENV)],
                 [str(python), "-m", "pip", "install", "-q", f"parsl[monitoring]=={PARSL_VERSION}"])
        for cmd in steps:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{' '.join(cmd[:4])}: no result in {BUILD_TIMEOUT} s") from None
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise RuntimeError(f"{' '.join(cmd[:4])} failed: {' | '.join(tail)}")
        if not _has_parsl(python):
            raise RuntimeError(f"the venv at {PARSL_VENV} has no parsl {PARSL_VERSION} after pip install")
    return python


@pytest.fixture(scope="session")
def parsl_python() -> Path:
    """The real Parsl's interpreter (see the module's doc)."""
    try:
        return build_parsl_venv()
    except (RuntimeError, OSError) as exc:
        msg = f"the real Parsl {PARSL_VERSION} could not be installed: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


class ParslRun:
    """A workflow script run by the real Parsl, in a session of its own."""

    def __init__(self, python: Path, run_dir: Path, *args: str, script: Path = WORKFLOW):
        self.run_dir = run_dir
        self.db = run_dir / "runinfo" / "monitoring.db"
        env = dict(os.environ)
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"  # HTEX runs interchange.py by name
        env.pop("PYTHONPATH", None)  # the venv's own packages, not the project's
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "parsl-script.log", "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([str(python), str(script), str(run_dir), *args], cwd=run_dir, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        return (self.run_dir / "parsl-script.log").read_text(errors="replace")

    def session_pids(self) -> list[int]:
        """The processes of the run's session: the script and all it started (workers included)."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getsid(int(pid)) == self.proc.pid:
                    out.append(int(pid))
            except OSError:
                continue
        return out

    def kill(self) -> None:
        """SIGKILL every process of the run (by pid: the script's session only), as the OOM killer
        or a lost node would end it: nothing records the end."""
        for pid in self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in self.session_pids()):
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None or self.session_pids():
            self.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie holds nothing open
    except OSError:
        return False
