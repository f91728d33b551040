"""Save SVG and PNG screenshots of the main views from the real app.

Runs panorama-top headless on the bundled demo recording (real Pegasus runs),
presses the keys a user would, and writes screenshots/<name>.svg and .png
(PNG via rsvg-convert from Debian's librsvg2-bin, if installed).

    python scripts/screenshots.py [NAME ...]     (only these shots)
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from panorama_tui.cli.top import DEMO_RECORDING  # noqa: E402
from panorama_tui.pipeline.ingest import Ingest  # noqa: E402
from panorama_tui.sources.replay import ReplayControl, ReplaySource  # noqa: E402
from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir  # noqa: E402
from panorama_tui.model.store import Store  # noqa: E402
from panorama_tui.ui.app import PanoramaApp  # noqa: E402

OUT = os.path.join(ROOT, "screenshots")

# (name, size, keys pressed after the replay has finished)
SHOTS = [
    ("main", (140, 42), []),
    ("failures", (140, 42), ["2"]),
    ("job-detail", (140, 42), ["enter"]),
    ("filter", (140, 42), ["slash", *"state=done host~workflow", "enter"]),
    ("problems-only", (120, 40), ["exclamation_mark"]),
    ("proc-trace", (140, 42), ["slash", *"register_local_0_0 state=done", "enter"]),
    ("proc-trace-job", (140, 42), ["slash", *"register_local_0_0 state=done", "enter", "enter"]),
    ("darshan", (140, 42), ["slash", *"^analyze", "enter", "enter"]),
    ("transfers", (140, 42), ["3"]),
    ("timeline", (140, 50), ["5"]),
    ("statistics", (140, 50), ["6"]),
    ("help", (120, 40), ["question_mark"]),
    ("small-80x24", (80, 24), []),
    ("too-small", (70, 20), []),
]
# Real Pegasus submit dirs from ../shared/data (PANORAMA_SHARED_DATA): (name, size, keys, submit dir, env)
SHARED = os.environ.get("PANORAMA_SHARED_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data")
SUBMIT_DIRS = os.path.join(SHARED, "pegasus", "submitdirs")
RUN_SHOTS = [
    # a failed run on a small terminal without colour: failed stays the loudest thing on screen
    ("failed-80x24-no-color", (80, 24), [], "process_wf_failure", {"NO_COLOR": "1"}),
    # monitord's DB and jobstate.log stop before DAGMan's end: the run is stalled, not RUNNING
    ("stalled", (120, 40), ["4"], "hierarchical_wf_success", {}),
]


# The shared Parsl DB (two real runs): the Parsl views (d, b, u) and the runs list (w)
PARSL_DB = os.path.join(SHARED, "parsl", "monitoring.db")
PARSL_SHOTS = [
    ("parsl-dag", (120, 40), ["slash", *"downstream", "enter", "d"]),
    ("parsl-dag-80x24", (80, 24), ["d"]),
    ("parsl-gantt", (140, 42), ["b"]),
    ("parsl-gantt-tasks", (140, 62), ["b"]),
    ("parsl-resources", (150, 42), ["u"]),
    ("parsl-runs", (140, 30), ["w"]),
]

# A big DB a few seconds into its load (issue #14): the header's counts are the DB's, said to be
# such, and the status line says how much is loaded (kept at 80 columns)
LOADING = "loading"
LOADING_SHOTS = [
    ("loading", (140, 42), []),
    ("loading-80x24", (80, 24), []),
]


def _half_loaded(percent: int):
    """(source, store, the time it stopped at): a run stopped half-way (3,000 jobs from benchmarks.generate, 3 sub-workflows)
    read in small chunks, as a 1M-job DB is, until the source says ``percent`` % is loaded."""
    import tempfile

    from benchmarks.generate import SEED, until_ts, write_stampede_db
    from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
    from panorama_tui.stats.progress import loading_percent

    path = os.path.join(tempfile.mkdtemp(), "run0042.stampede.db")
    until = until_ts(3000, 0.5, SEED)
    write_stampede_db(path, 3000, until=until, seed=SEED, subwfs=3)
    source = StampedeDbSource(path, follow=False, chunk=400)
    store = Store()
    for batch in source.batches():
        store.apply_many(batch)
        if (loading_percent(source.status.detail) or 0) >= percent:
            break
    return source, store, until


async def shoot(name, size, keys, submit_dir: str | None = None) -> str:
    store = Store()
    if submit_dir == LOADING:  # the rest of the read never comes: the screen stays as it is
        control = None
        source, store, until = _half_loaded(40)
        ingest = Ingest(source, store)
        # the clock at the run's last event, as when a running workflow's DB is opened
        app = PanoramaApp(store, ingest=ingest, source_label=source.label, live=True, clock=lambda: until + 5.0)
    elif submit_dir is not None and submit_dir.endswith(".db"):
        from panorama_tui.sources.parsl.monitoring_db import ParslDbSource

        control = None
        source = ParslDbSource(submit_dir, follow=False)
        ingest = Ingest(source, store).start()
        app = PanoramaApp(store, ingest=ingest, source_label=source.label, live=False)
    elif submit_dir is None:
        control = ReplayControl(speed=0.0)
        ingest = Ingest(ReplaySource(DEMO_RECORDING, control), store).start()
        app = PanoramaApp(store, ingest=ingest, control=control, source_label="demo")
    else:
        control = None
        source = SubmitDirSource(find_submit_dir(submit_dir), follow=False)
        ingest = Ingest(source, store).start()
        app = PanoramaApp(store, ingest=ingest, source_label=source.label, live=False)
    async with app.run_test(size=size) as pilot:
        for _ in range(100):
            if submit_dir == LOADING or (control.finished if control is not None else ingest.done.is_set()):
                break
            await asyncio.sleep(0.05)
        app.refresh_all(full=True)
        await pilot.pause()
        for k in keys:
            await pilot.press(k)
        await pilot.pause(0.3)
        app.refresh_all()
        await pilot.pause()
        path = app.save_screenshot(filename=f"{name}.svg", path=OUT)
    if ingest.thread is not None:
        ingest.stop()
    return path


_RUN = re.compile(r'(<text [^>]*?x=")([\d.]+)("[^>]*?textLength=")([\d.]+)("[^>]*>)((?:&#160;)+)')


def _for_rsvg(svg_text: str) -> str:
    """rsvg-convert drops leading no-break spaces in a text run and stretches
    the rest over textLength, gluing words together; move such runs right
    by the spaces' width instead (the SVG itself is left as Textual wrote it)."""

    def fix(m):
        n = m.group(6).count("&#160;")
        x, length = float(m.group(2)), float(m.group(4))
        cell = 12.2  # Textual's SVG cell width
        return f"{m.group(1)}{x + n * cell:.1f}{m.group(3)}{max(0.0, length - n * cell):.1f}{m.group(5)}"

    return _RUN.sub(fix, svg_text)


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    rsvg = shutil.which("rsvg-convert")
    shots = [(name, size, keys, None, {}) for name, size, keys in SHOTS]
    shots += [(name, size, keys, LOADING, {}) for name, size, keys in LOADING_SHOTS]
    if os.path.isdir(SUBMIT_DIRS):
        shots += [(name, size, keys, os.path.join(SUBMIT_DIRS, d), env) for name, size, keys, d, env in RUN_SHOTS]
    else:
        print(f"{SUBMIT_DIRS}: not there (set PANORAMA_SHARED_DATA): the real runs' shots are left out", file=sys.stderr)
    if os.path.isfile(PARSL_DB):
        shots += [(name, size, keys, PARSL_DB, {}) for name, size, keys in PARSL_SHOTS]
    only = [a for a in sys.argv[1:] if not a.startswith("-")]
    if only:  # e.g. python scripts/screenshots.py parsl-dag parsl-runs
        shots = [s for s in shots if s[0] in only]
    for name, size, keys, submit_dir, env in shots:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            svg = asyncio.run(shoot(name, size, keys, submit_dir))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        line = f"{svg}"
        if rsvg:
            png = svg[:-4] + ".png"
            with open(svg) as f:
                fixed = _for_rsvg(f.read())
            subprocess.run([rsvg, "-w", str(size[0] * 12), "-o", png], input=fixed.encode(), check=True)
            line += f" + {os.path.basename(png)}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
