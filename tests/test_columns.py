"""The job list's columns: what each shows, how wide, which way it sorts,
and the timeline chart (issue #11 items 7, 8, 9, 23, 24, 26, 29), on the
real demo recording."""

from __future__ import annotations

import asyncio

from panorama_tui.ui.joblist import JobList

from .test_ui import text_of
from .ui_helpers import finished_demo, fixed_timezone

fixed_timezone()


def run(coro):
    return asyncio.run(coro)


def test_the_sort_arrow_points_up_for_ascending_in_the_header_and_the_status_line():
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            status = app.query_one("#status")
            assert "STATE▲" in jobs.header_text() and "by state▲" in text_of(status)  # problems first: ascending
            await pilot.press("s")  # by id, ascending
            await pilot.pause()
            assert "JOB▲" in jobs.header_text() and "by id▲" in text_of(status)
            await pilot.press("r")
            await pilot.pause()
            assert "JOB▼" in jobs.header_text() and "by id▼" in text_of(status)
            jobs.sort_by("dur")  # longest first: descending
            app._refresh_status()
            assert "TIME▼" in jobs.header_text() and "by dur▼" in text_of(status)

    run(go())


def _number(text: str) -> float:
    """A CPU %, RSS or I/O cell back to a number ("" -> -1)."""
    text = text.strip().removesuffix("/s")
    if not text:
        return -1.0
    scale = {"B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    return float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)


def test_the_cpu_rss_and_io_columns_sort_by_the_numbers_they_show():
    """A finished job shows what it did over its trace (its last sample is
    taken as it exits): the sort follows the shown figure, not that sample."""
    async def go():
        async with finished_demo() as (app, store, pilot):
            jobs = app.query_one("#jobs", JobList)
            now = app.now()
            for col in ("cpu", "rss", "io"):
                jobs.sort_by(col)  # biggest first
                await pilot.pause()
                shown = [_number(jobs._cell(col, j, now)[0]) for j in jobs.rows]
                assert sum(x > 0 for x in shown) >= 2, col
                assert shown == sorted(shown, reverse=True), (col, shown)

    run(go())
