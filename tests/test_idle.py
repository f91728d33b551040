"""#11 item 28: a screen whose input went quiet paints nothing the clock does not change
(it used 3.3-4.1 % of a core after a soak; idle means <= 1 %)."""

from __future__ import annotations

import asyncio

from panorama_tui.core.events import decode_line
from panorama_tui.model.store import Store
from panorama_tui.ui.app import PanoramaApp
from panorama_tui.ui.widgets.joblist import JobList
from panorama_tui.ui.panels.detail import JobDetail
from panorama_tui.ui.panels.warnings import WarningsView


def running_store(replay_dir) -> Store:
    """The failure run up to its first running job (a real monitord event log, cut short)."""
    store = Store()
    for line in (replay_dir / "process_wf_failure" / "events.json").read_text().splitlines():
        store.apply(decode_line(line))
        if store.active:
            break
    store.note_bad("events.json:3: not JSON: Expecting value «oops»")
    return store


def test_quiet_input_repaints_only_what_the_clock_changes(replay_dir):
    store = running_store(replay_dir)
    (job,) = store.active
    clock = [job.latest.start_ts + 3 * 86400]  # running for three days: its TIME text moves hourly

    async def go():
        app = PanoramaApp(store, live=True, clock=lambda: clock[0], monotonic=lambda: 0.0)
        async with app.run_test(size=(120, 40)) as pilot:
            app._timer.pause()  # the test drives the ticks
            jobs = app.query_one("#jobs", JobList)
            assert jobs.current is job
            calls = {"detail": 0, "rows": 0, "warnings": 0}

            def counting(name, fn):
                def wrapped(*a, **kw):
                    calls[name] += 1
                    return fn(*a, **kw)
                return wrapped

            detail = app.query_one("#detail-view", JobDetail)
            detail.show = counting("detail", detail.show)
            jobs.refresh_line = counting("rows", jobs.refresh_line)
            for panel in ("detail", "warnings"):
                await pilot.press("1" if panel == "detail" else "4")
                await pilot.pause()
                app.refresh_all()  # the first tick may paint: it sees the panel, the clock
                warnings = app.query_one("#warnings-view", WarningsView)
                warnings.update = counting("warnings", warnings.update)
                for k in calls:
                    calls[k] = 0
                for _ in range(10):  # five seconds of ticks with nothing new
                    clock[0] += 0.5
                    app.refresh_all()
                    await pilot.pause()
                assert calls == {"detail": 0, "rows": 0, "warnings": 0}, (panel, calls)
            # An hour later the TIME text moves: its row and the detail are painted once.
            await pilot.press("1")
            await pilot.pause()
            calls.update(detail=0, rows=0)
            clock[0] += 3600
            app.refresh_all()
            await pilot.pause()
            assert calls["detail"] == 1 and calls["rows"] == 1, calls

    asyncio.run(go())


def test_a_quiet_input_repaints_for_the_clock_every_few_seconds(replay_dir, monkeypatch):
    """The timer still ticks every 0.5 s; with nothing new it repaints every QUIET_CLOCK_SECONDS."""
    import panorama_tui.ui.app as app_module

    store = running_store(replay_dir)
    app = PanoramaApp(store, live=True)
    painted = []
    app.refresh_all = lambda full=False: painted.append(t[0])
    t = [1000.0]
    monkeypatch.setattr(app_module.time, "monotonic", lambda: t[0])
    for _ in range(13):  # 6 s of ticks, nothing new
        app._tick()
        t[0] += 0.5
    assert painted == [1000.0, 1000.0 + app_module.QUIET_CLOCK_SECONDS, 1000.0 + 2 * app_module.QUIET_CLOCK_SECONDS]
    store.note_bad("a new bad record")  # anything arriving is painted on the next tick
    app._tick()
    assert painted[-1] == t[0]
