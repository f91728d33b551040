"""Jobs over time and the Gantt view, on the real hierarchical run."""

from __future__ import annotations

import re
import time

import pytest

from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.model.store import Store
from panorama_tui.views.timeline import SHADES, gantt, intervals, occupancy


def _store(shared_data, run="hierarchical_wf_success"):
    path = shared_data / "pegasus" / "monitord-replay" / run / "events.json"
    return run_to_end(JsonLogSource(str(path), follow=False), Store())


def test_occupancy_counts(shared_data):
    s = _store(shared_data)
    root = s.roots[0]
    occ = occupancy(s, root, bins=50)
    assert len(occ.times) == len(occ.running) == 50
    # 13 jobs of the root ran once each; all end done, none failed.
    assert occ.done[-1] == 13 and occ.failed[-1] == 0
    assert max(occ.running) >= 1
    assert occ.done == sorted(occ.done)  # cumulative
    assert len(intervals(s, root)) == 13


def test_failed_run_counts_retries_and_failure(shared_data):
    s = _store(shared_data, "process_wf_failure")
    occ = occupancy(s, s.roots[0], bins=30)
    assert occ.failed[-1] == 1 and occ.done[-1] == 1
    assert len(intervals(s, s.roots[0])) == 3  # create_dir + two tries of ls


def test_gantt_one_row_per_job_then_aggregated(shared_data):
    s = _store(shared_data)
    rows, t0, t1 = gantt(s, s.roots[0], width=60, max_rows=20)
    assert len(rows) == 13 and all(r.state is not None for r in rows)
    assert all(len(r.cells) == 60 and r.cells.strip() for r in rows)
    rows, _, _ = gantt(s, s.roots[0], width=60, max_rows=5)
    assert len(rows) <= 5 and all(r.state is None for r in rows)
    assert rows[0].label.startswith("pegasus::transfer (5)")
    assert set("".join(r.cells for r in rows)) <= set(SHADES)


def test_nothing_submitted_yet():
    assert occupancy(Store()) is None
    assert gantt(Store(), None, 40, 10) is None


# -- the chart (TimelineView): state colours, one axis of whole counts, clock times, fits ----------

def _chart(store, width, height, no_color=False):
    from panorama_tui.views.timeline import occupancy
    from panorama_tui.ui.panels.timeline import render_timeline

    occ = occupancy(store, None, bins=max(20, width - 12))
    return occ, render_timeline(occ, width, height, no_color)


@pytest.mark.parametrize("width,height", [(76, 6), (116, 12), (196, 12)])
def test_the_chart_has_one_axis_of_whole_counts_and_clock_times(shared_data, width, height):
    """At 80x24 the panel shows 6 lines, at 120x40 12: the chart fits them,
    counts are whole numbers on one axis, the x axis is clock time."""
    s = _store(shared_data, "process_wf_failure")
    occ, text = _chart(s, width, height)
    lines = text.plain.splitlines()
    assert len(lines) <= height and all(len(line.rstrip()) <= width for line in lines), lines
    assert max(len(line.rstrip()) for line in lines) >= width - 2  # the width it has, not plotext's guess
    plain = text.plain
    assert "⅃" not in plain and " L " not in plain and "seconds" not in plain
    assert not re.search(r"\d\.\d", plain), plain  # no fractional counts or raw seconds
    ylabels = [m.group(1) for m in (re.match(r"^\s*(\d+)\D", line) for line in lines[1:-1]) if m]
    assert len(ylabels) >= 2 and int(ylabels[0]) >= max(max(occ.running), max(occ.queued), max(occ.done))
    xlabels = lines[-1].split()
    assert len(xlabels) >= 2 and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", x) for x in xlabels), lines[-1]
    first = time.strftime("%H:%M:%S", time.localtime(occ.t0))[:len(xlabels[0])]
    last = time.strftime("%H:%M:%S", time.localtime(occ.t1))[:len(xlabels[-1])]
    assert first <= xlabels[0] and xlabels[-1] <= last  # run at 07:09:48 .. 07:11:24 UTC
    for name in ("running", "queued", "done", "failed"):
        assert name in lines[0]


def test_the_chart_uses_the_job_lists_state_colours(shared_data):
    from panorama_tui.model.states import JobState
    from panorama_tui.ui.theme import STATE_STYLES

    s = _store(shared_data, "process_wf_failure")
    _, text = _chart(s, 116, 12)
    legend = text.plain.splitlines()[0]
    for state in (JobState.RUNNING, JobState.QUEUED, JobState.DONE, JobState.FAILED):
        at = legend.index(state.label)
        styles = [sp.style for sp in text.spans if sp.start <= at < sp.end]
        want = STATE_STYLES[state].color
        assert any(getattr(st, "color", None) == want for st in styles), state
    drawn = {sp.style.color.number for sp in text.spans
             if hasattr(sp.style, "color") and sp.style.color is not None and sp.start > len(legend)}
    states = {STATE_STYLES[st].color.number for st in (JobState.RUNNING, JobState.QUEUED, JobState.DONE, JobState.FAILED)}
    assert drawn and drawn <= states, (drawn, states)
    assert STATE_STYLES[JobState.DONE].color.number in drawn and STATE_STYLES[JobState.FAILED].color.number in drawn


def test_without_colour_the_lines_are_told_apart_by_the_state_glyphs(shared_data):
    from panorama_tui.model.states import JobState

    s = _store(shared_data, "process_wf_failure")
    _, text = _chart(s, 116, 12, no_color=True)
    body = "\n".join(text.plain.splitlines()[1:])
    assert JobState.DONE.glyph in body and JobState.FAILED.glyph in body


def test_clock_ticks_are_round_times_that_fit():
    from panorama_tui.views.timeline import clock_ticks, count_ticks

    t0 = time.mktime((2023, 3, 4, 7, 9, 48, 0, 0, -1))
    ticks = clock_ticks(t0, t0 + 96, 60)  # 6 labels of 8, 2 apart
    assert 2 <= len(ticks) <= 6 and [lb for _, lb in ticks][0] == "07:10:00"
    assert all(t0 <= t <= t0 + 96 for t, _ in ticks)
    ticks = clock_ticks(t0, t0 + 7000, 56)  # 8 labels of 5
    assert [lb for _, lb in ticks] == ["07:30", "08:00", "08:30", "09:00"]
    assert [lb for _, lb in clock_ticks(t0, t0 + 0.5, 80)] == [time.strftime("%H:%M:%S", time.localtime(t0))]
    # a day or more apart: dates (a run read years later labelled every tick "00:00")
    days = clock_ticks(t0, t0 + 20 * 86400, 60)
    assert len(days) >= 3 and all(len(lb) == 10 and lb.startswith("2023-03-") for _, lb in days), days
    assert len({lb for _, lb in days}) == len(days)
    assert count_ticks(14, 4) == [0, 5, 10, 15]
    assert count_ticks(0, 4) == [0, 1]
    assert count_ticks(3, 12) == [0, 1, 2, 3]
