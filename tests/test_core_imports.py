"""The core never imports the UI toolkit: --once, collectors and scripts stay light."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "panorama_tui",
    "panorama_tui.core.events",
    "panorama_tui.model.states",
    "panorama_tui.model.store",
    "panorama_tui.model.series",
    "panorama_tui.stats.counts",
    "panorama_tui.stats.sql_stats",
    "panorama_tui.core.recorder",
    "panorama_tui.pipeline.ingest",
    "panorama_tui.sources.detect",
    "panorama_tui.stats.once",
    "panorama_tui.cli.top",
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
import panorama_tui.collectors as collectors
# Every module of the package but the UI's, and every collector, too.
found = sorted(m.name for m in pkgutil.walk_packages(panorama_tui.__path__, "panorama_tui.")
               if not (m.name == "panorama_tui.ui" or m.name.startswith("panorama_tui.ui.")))
found += sorted(m.name for m in pkgutil.walk_packages(collectors.__path__, "panorama_tui.collectors."))
for name in found:
    importlib.import_module(name)
after_import = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))

# `python -m panorama_tui.cli.top --demo --once`, in this same interpreter
sys.argv = ["panorama_tui.cli.top", "--demo", "--once"]
warnings.simplefilter("ignore", RuntimeWarning)  # cli is already imported: runpy says so
try:
    runpy.run_module("panorama_tui.cli.top", run_name="__main__", alter_sys=True)
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
    found = set(result["sources"])
    for room in ("core", "model", "model.handlers", "pipeline", "sources", "sources.pegasus", "stats", "views",
                 "transport", "cli"):
        assert f"panorama_tui.{room}" in found, room  # every room below the UI is walked
    assert {"panorama_tui.model.store", "panorama_tui.transport.publisher", "panorama_tui.stats.sql_stats",
            "panorama_tui.views.timeline", "panorama_tui.collectors.monitor",
            "panorama_tui.collectors.darshan", "panorama_tui.collectors.globus"} <= found
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
