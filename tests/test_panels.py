"""The panel protocol: the App refreshes its panels; heavy ones redraw in a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time

from panorama_tui.ui.panels.base import OffThreadPanel

from .test_ui import text_of
from .ui_helpers import finished_demo


def run(coro):
    return asyncio.run(coro)


def test_every_tab_has_a_panel_and_each_panel_its_own_state():
    """The App knows its panels, not what they draw: each tab is some panel's."""
    async def go():
        async with finished_demo() as (app, store, pilot):
            tabs = {p.tab for p in app.panels.values()} - {None}
            assert tabs == {"detail", "failures", "transfers", "warnings", "timeline", "statistics"}
            for name in ("_detail_job", "_plot_job", "_last_plot", "_last_stats", "_last_timeline", "_fail_job"):
                assert not hasattr(app, name), name

    run(go())


def _blocked(panel: OffThreadPanel, step: str):
    """Make ``panel``'s ``step`` (read: the store's part, under its lock; render:
    the drawing, outside it) wait for a go: (started, go)."""
    started, go = threading.Event(), threading.Event()
    original = getattr(panel, step)

    def waiting(*args):
        started.set()
        assert go.wait(10)
        return original(*args)

    setattr(panel, step, waiting)
    return started, go


async def _until(event: threading.Event) -> None:
    """Wait for a worker's sign, the event loop running (it starts the worker)."""
    deadline = time.monotonic() + 10
    while not event.is_set():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


def test_the_timeline_redraws_in_a_worker_and_the_tick_does_not_wait():
    async def go():
        async with finished_demo((140, 50)) as (app, store, pilot):
            await pilot.press("5")
            await pilot.pause()
            panel = app.panels["timeline"]
            view = app.query_one("#timeline-view")
            view.update("")
            started, release = _blocked(panel, "read")
            panel.refreshed_at = float("-inf")  # the budget is spent
            began = time.monotonic()
            app.refresh_all()
            assert time.monotonic() - began < 2.0  # the tick did not wait for the reading
            await _until(started)  # the worker is reading, its snapshot
            assert store.lock.acquire(timeout=1)  # not the store: ingest goes on meanwhile
            store.lock.release()
            assert text_of(view).strip() == ""
            assert panel.refresh_from(set(), False) is False  # a second worker does not start
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = text_of(view)
            assert "running" in text and "Gantt" in text and "ls_ID0000001" in text
            assert not panel._running

    run(go())


def test_a_draw_made_after_a_worker_started_wins():
    """The tab shown again (a full redraw, at once) while a worker reads: the
    worker's older figures are not put over the newer ones."""
    async def go():
        async with finished_demo((140, 50)) as (app, store, pilot):
            await pilot.press("6")
            await pilot.pause()
            panel = app.panels["statistics"]
            assert panel.in_worker()  # the demo has no Stampede DB: the store's figures
            shown = []
            show = panel.show
            panel.show = lambda renderable: shown.append(renderable) or show(renderable)
            render = panel.render
            started, release = _blocked(panel, "render")
            panel.refreshed_at = float("-inf")
            app.refresh_all()
            await _until(started)  # read: the lock is free again
            panel.render = render
            app.refresh_panels()  # full: drawn now, on the UI thread
            assert len(shown) == 1
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert len(shown) == 1  # the worker's answer was dropped
            assert "per transformation" in text_of(app.query_one("#statistics-view"))

    run(go())


def test_a_failing_worker_is_reported_as_a_refresh_error():
    async def go():
        async with finished_demo((140, 50)) as (app, store, pilot):
            await pilot.press("5")
            await pilot.pause()
            panel = app.panels["timeline"]

            def broken(*args):
                raise RuntimeError("drawing failed")

            panel.read = broken
            panel.refreshed_at = float("-inf")
            app.refresh_all()
            for _ in range(500):
                if not panel._running:
                    break
                await pilot.pause(0.02)
            assert any("screen refresh failed: RuntimeError: drawing failed" in w for w in store.warnings)
            assert not panel._running

    run(go())
