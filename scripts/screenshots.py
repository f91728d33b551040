"""Save SVG and PNG screenshots of the main views from the real app.

Runs panorama-top headless on the bundled demo recording (real Pegasus runs),
presses the keys a user would, and writes screenshots/<name>.svg and .png
(PNG via rsvg-convert from Debian's librsvg2-bin, if installed).

    python scripts/screenshots.py
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

from panorama_tui.cli import DEMO_RECORDING  # noqa: E402
from panorama_tui.ingest import Ingest  # noqa: E402
from panorama_tui.sources.replay import ReplayControl, ReplaySource  # noqa: E402
from panorama_tui.store import Store  # noqa: E402
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


async def shoot(name, size, keys) -> str:
    store = Store()
    control = ReplayControl(speed=0.0)
    ingest = Ingest(ReplaySource(DEMO_RECORDING, control), store).start()
    app = PanoramaApp(store, ingest=ingest, control=control, source_label="demo")
    async with app.run_test(size=size) as pilot:
        for _ in range(100):
            if control.finished:
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
    for name, size, keys in SHOTS:
        svg = asyncio.run(shoot(name, size, keys))
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
