"""The core never imports the UI toolkit: --once, collectors and scripts stay light."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "panorama_tui",
    "panorama_tui.events",
    "panorama_tui.states",
    "panorama_tui.store",
    "panorama_tui.series",
    "panorama_tui.stats",
    "panorama_tui.sqlstats",
    "panorama_tui.recorder",
    "panorama_tui.ingest",
    "panorama_tui.detect",
    "panorama_tui.summary",
    "panorama_tui.cli",
    "panorama_tui.sources",
    "panorama_tui.sources.base",
    "panorama_tui.sources.jsonlog",
    "panorama_tui.sources.replay",
]

CHILD = r"""
import importlib, json, pkgutil, runpy, sys, warnings

core = json.loads(sys.argv[1])
for name in core:
    importlib.import_module(name)
import panorama_tui
import panorama_tui.sources as sources
import collectors
found = sorted(m.name for m in pkgutil.iter_modules(sources.__path__, "panorama_tui.sources."))
# Every other module of the package but the UI, and every collector, too.
found += sorted(m.name for m in pkgutil.iter_modules(panorama_tui.__path__, "panorama_tui.")
                if m.name != "panorama_tui.ui")
found += sorted(m.name for m in pkgutil.iter_modules(collectors.__path__, "collectors."))
for name in found:
    importlib.import_module(name)
after_import = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))

# `python -m panorama_tui.cli --demo --once`, in this same interpreter
sys.argv = ["panorama_tui.cli", "--demo", "--once"]
warnings.simplefilter("ignore", RuntimeWarning)  # cli is already imported: runpy says so
try:
    runpy.run_module("panorama_tui.cli", run_name="__main__", alter_sys=True)
    code = None
except SystemExit as exc:
    code = exc.code
after_once = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print("RESULT " + json.dumps({"sources": found, "after_import": after_import,
                              "after_once": after_once, "exit": code}))
"""


def test_core_and_once_do_not_import_textual(repo_root, child_env):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(CORE)],
        cwd=str(repo_root),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    result_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert result_lines, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    result = json.loads(result_lines[-1][len("RESULT ") :])
    assert {"panorama_tui.sources.base", "panorama_tui.sources.jsonlog", "panorama_tui.sources.replay"} <= set(
        result["sources"]
    )
    assert {"panorama_tui.store", "panorama_tui.publisher", "panorama_tui.pegstats", "panorama_tui.sqlstats",
            "panorama_tui.timeline",
            "collectors.monitor", "collectors.darshan", "collectors.globus"} <= set(result["sources"])
    assert result["after_import"] == [], "importing the core pulled in textual"
    assert result["after_once"] == [], "--demo --once pulled in textual"
    # --once ran for real: a summary of the demo's workflows and a workflow exit status
    assert result["exit"] in (0, 1, 2), proc.stderr
    assert "events:" in proc.stdout
    assert "Jobs" in proc.stdout


def test_textual_is_installed_for_the_ui(repo_root, child_env):
    """The check above means something only if textual could have been imported."""
    proc = subprocess.run(
        [sys.executable, "-c", "import textual; print('ok')"],
        cwd=str(repo_root),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "ok"
