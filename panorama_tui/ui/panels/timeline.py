"""The Timeline panel: jobs over time by state (plotext), then a Gantt.
"""

from __future__ import annotations

import plotext as plt
from rich.console import Group
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from ...core.fmt import clock_time
from ...model.entities import Workflow
from ...model.states import JobState
from ...model.store import Store
from ...stats.progress import scope_workflow
from ...stats.stall import quiet_for
from ..theme import STATE_MARKUP, STATE_STYLES
from .base import CHART_LOCK, OffThreadPanel

# The timeline chart's lines: the job list's states, in its colours and glyphs.
TIMELINE_STATES = (JobState.RUNNING, JobState.QUEUED, JobState.DONE, JobState.FAILED)

CHART_HEIGHT = 12  # lines, legend included, when the panel has them

FRAMED_FROM = 8  # below this many lines the chart has no frame: its rows go to the data


def _plot_color(state: JobState):
    """The state's theme colour as plotext takes it (an ANSI number)."""
    color = STATE_STYLES[state].color
    return color.number if color is not None and color.number is not None else "default"


def render_timeline(occ, width: int, height: int, no_color: bool = False) -> Text:
    """Jobs running / queued / done / failed over time: a legend line, then
    a plotext chart of ``height - 1`` lines on one axis of whole counts,
    with clock times (local) along x."""
    with CHART_LOCK:  # plotext draws on one global figure
        return _render_timeline(occ, width, height, no_color)


def _render_timeline(occ, width: int, height: int, no_color: bool) -> Text:
    from ...views.timeline import clock_ticks, count_ticks

    counts = {JobState.RUNNING: occ.running, JobState.QUEUED: occ.queued, JobState.DONE: occ.done,
              JobState.FAILED: occ.failed}
    lines = [(st, counts[st]) for st in TIMELINE_STATES if st != JobState.FAILED or any(occ.failed)]
    xs = [t - occ.t0 for t in occ.times]
    chart_h = max(4, height - 1)
    framed = chart_h >= FRAMED_FROM
    plt.clf()
    plt.limitsize(False, False)  # the panel's size, not the terminal's plotext guesses (80 off a tty)
    plt.plotsize(width, chart_h)
    plt.theme("clear" if no_color else "pro")
    plt.frame(framed)
    for st, ys in lines:
        if no_color:
            # Each line's points are its state's glyph, where its count is not 0
            # (four lines along 0 would read as the last one drawn).
            points = [(x, y) for x, y in zip(xs, ys) if y]
            if points:
                plt.scatter(*zip(*points), marker=st.glyph)
        else:
            plt.plot(xs, ys, color=_plot_color(st))
    rows = chart_h - (3 if framed else 1)  # the frame's two lines and the clock labels
    yt = count_ticks(max(max(ys) for _, ys in lines), rows)
    plt.ylim(0, yt[-1])
    plt.yticks(yt, [str(y) for y in yt])
    plot_w = width - len(str(yt[-1])) - (3 if framed else 1)  # the counts, the axis and the frame
    ticks = clock_ticks(occ.t0, occ.t1, plot_w)
    plt.xticks([t - occ.t0 for t, _ in ticks], [label for _, label in ticks])
    plt.xlim(0, occ.t1 - occ.t0)
    legend = Text(" ", no_wrap=True)
    for st, _ in lines:
        legend.append(f"{st.glyph} {st.label}", style=STATE_STYLES[st])
        legend.append("  ")
    span = f"jobs, {clock_time(occ.t0)} → {clock_time(occ.t1)[-8:]}"
    if legend.cell_len + len(span) <= width:  # whole or not at all
        legend.append(span, style="dim")
    return Text("\n").join([legend, Text.from_ansi(plt.build())])


class TimelineView(Static):
    """Jobs running / queued / done over time (plotext), then a Gantt."""

    def show(self, store: Store, wf: Workflow | None, now: float | None, width: int, no_color: bool = False) -> None:
        self.update(render_figures(read_figures(store, wf, now, width), width, self.chart_lines(), no_color))

    def chart_lines(self) -> int:
        """The lines the panel shows (6 at 80x24): the chart fits them; the Gantt scrolls below."""
        return self.parent.size.height if isinstance(self.parent, Widget) else 0


def read_figures(store: Store, wf: Workflow | None, now: float | None, width: int):
    """The timeline's figures (store lock held): (occupancy, gantt), or None before any submit."""
    from ...views.timeline import gantt, occupancy

    occ = occupancy(store, wf, bins=max(20, min(200, width - 12)), now=now)
    if occ is None:
        return None
    return occ, gantt(store, wf, max(10, width - _label_width(width) - 2), max_rows=40, now=now)


def _label_width(width: int) -> int:
    return max(12, min(52, width // 3))  # job ids run to ~50: a third of the width, the rest for time


def render_figures(figures, width: int, shown: int, no_color: bool = False):
    """The chart and the Gantt of :func:`read_figures`' answer; no store lock needed."""
    if figures is None:
        return Text("no job has been submitted yet", style="dim")
    occ, g = figures
    parts: list = [render_timeline(occ, width, min(CHART_HEIGHT, shown) if shown else CHART_HEIGHT, no_color)]
    label_w = _label_width(width)
    if g is not None:
        rows, t0, t1 = g
        title = "one row per job" if rows and rows[0].state is not None else "jobs per transformation (shade: how many ran)"
        parts.append(Text(f"Gantt {clock_time(t0)} → {clock_time(t1)}  ({title})", style="bold"))
        for r in rows:
            line = Text(f"{r.label[:label_w - 1]:<{label_w}}", no_wrap=True)
            line.append(r.cells, style=STATE_MARKUP[r.state] if r.state is not None else "cyan")
            parts.append(line)
    return Group(*parts)


TIMELINE_SECONDS = 2.0  # a chart over every try: redrawn at most every few seconds


class TimelinePanel(OffThreadPanel):
    tab = "timeline"
    budget = TIMELINE_SECONDS
    # The walk over every try (~120 ms for 2,000 jobs on the loaded test machine)
    # runs on a copy: the store's lock is held only to copy the jobs that changed.
    uses_snapshot = True

    def __init__(self, app):
        super().__init__(app)
        self._width = 0  # first drawn before layout: redrawn at the real width

    def _view(self) -> TimelineView:
        return self.app.query_one("#timeline-view", TimelineView)

    def urgent(self) -> bool:
        return self._view().size.width != self._width

    def arguments(self) -> tuple:
        view = self._view()
        self._width = view.size.width
        return (self.app.scope_wf, self._chart_end(), max(40, self._width - 2), view.chart_lines(), self.app.no_color)

    def _chart_end(self) -> float | None:
        """Where the chart ends: now, or the last event when jobs "run" in a run quiet for longer
        than the stall floor (the header's "last event N ago"): a 2023 run read in 2026 drew its
        hours in the first of the chart's columns and years of nothing after."""
        app = self.app
        wf = scope_workflow(self.store, app.scope_wf)
        if wf is not None and quiet_for(self.store, wf, app.stall_clock()) is not None:
            return self.store.latest_ts
        return app.now()

    def read(self, source, wf, now, width, shown, no_color):
        if source is not self.store:
            wf = source.workflow(wf)  # the scope's copy
        return read_figures(source, wf, now, width)

    def render(self, figures, wf, now, width, shown, no_color):
        return render_figures(figures, width, shown, no_color)

    def show(self, renderable) -> None:
        self._view().update(renderable)
