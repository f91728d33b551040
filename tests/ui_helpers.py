"""Building a PanoramaApp on real recorded data for UI tests."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import asynccontextmanager

from panorama_tui.cli.top import DEMO_RECORDING
from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.sources.replay import ReplayControl, ReplaySource
from panorama_tui.model.store import Store
from panorama_tui.ui.app import PanoramaApp


def fixed_timezone() -> None:
    """Snapshots show local clock times: pin the zone."""
    os.environ["TZ"] = "UTC"
    time.tzset()


def demo_app(speed: float = 0.0, paused: bool = False, path: str = DEMO_RECORDING):
    store = Store()
    control = ReplayControl(speed=speed, paused=paused)
    ingest = Ingest(ReplaySource(path, control), store).start()
    # A frozen monotonic clock keeps the events/s figure out of snapshots.
    app = PanoramaApp(store, ingest=ingest, control=control, source_label="demo", monotonic=lambda: 0.0)
    return app, store, control, ingest


async def wait_finished(app, control, pilot, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not control.finished:
        if time.monotonic() > deadline:
            raise TimeoutError("replay did not finish")
        await asyncio.sleep(0.02)
    app.refresh_all(full=True)
    await pilot.pause()


@asynccontextmanager
async def finished_demo(size: tuple[int, int] = (120, 40)):
    """The demo app at ``size`` once its replay has ended: ``(app, store,
    pilot)``; the ingest thread stops after."""
    app, store, control, ingest = demo_app()
    try:
        async with app.run_test(size=size) as pilot:
            await wait_finished(app, control, pilot)
            yield app, store, pilot
    finally:
        ingest.stop()
