"""Which room may use which (pyproject's [tool.importlinter]) holds in the test command too,
not only in .ci/run."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_import_contracts_are_kept(repo_root, child_env):
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    proc = subprocess.run([lint, "--no-cache"], cwd=str(repo_root), env=child_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
