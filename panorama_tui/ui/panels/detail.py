"""The selected job's facts and its /proc chart (the Detail panel and the job screen).
"""

from __future__ import annotations

import plotext as plt
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from ...core.events import describe_exitcode
from ...core.fmt import human_bytes, human_duration
from ...model.entities import Job
from ...model.states import JobState
from ...model.store import Store
from ...stats.job_report import darshan_report, tries_report
from ..theme import STATE_MARKUP
from .base import CHART_LOCK, Panel


def render_plot(job: Job, width: int, height: int, no_color: bool = False) -> Text:
    """CPU, memory and I/O over time as a plotext chart (ANSI -> Rich Text)."""
    rates = job.series.rates() if job.series else []
    if len(rates) < 2 or width < 20 or height < 5:
        if not rates:
            msg = "no /proc trace for this job"
        elif job.state in (JobState.RUNNING, JobState.RETRYING):
            msg = "collecting samples…"
        else:
            msg = "the trace is too short to chart (it ran between two samples)"
        return Text(msg, style="dim")
    with CHART_LOCK:  # plotext draws on one global figure
        return _render_rates(rates, width, height, no_color)


def _render_rates(rates: list, width: int, height: int, no_color: bool) -> Text:
    t0 = rates[0][0]
    xs = [r[0] - t0 for r in rates]
    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear" if no_color else "pro")
    plt.plot(xs, [r[1] for r in rates], label="CPU %")
    rss_mb = [r[2] / 2**20 for r in rates]
    io_mb = [(r[3] + r[4]) / 2**20 for r in rates]
    plt.plot(xs, rss_mb, label="RSS MiB", yside="right")
    if any(io_mb):
        plt.plot(xs, io_mb, label="I/O MiB/s", yside="right")
    plt.xlabel("seconds")
    return Text.from_ansi(plt.build())

# A chart costs ~30 ms to draw (FIELD-NOTES): at most once a second, and only when shown.
PLOT_SECONDS = 1.0
FACT_PAIRS_FROM = 64  # cells from which the detail's facts go two pairs a line (labels 14 + 12, values 16)


def _facts_grid(rows: list[tuple], width: int) -> Table:
    """Label / value pairs, two a line when ``width`` has room, else one:
    labels are never cut (values end in … instead)."""
    if width < FACT_PAIRS_FROM:
        rows = [pair for row in rows for pair in (row[:2], row[2:])]
    grid = Table.grid(padding=(0, 2))
    for _ in range(len(rows[0]) // 2):
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
    for row in rows:
        grid.add_row(*row)
    return grid


class JobDetail(Static):
    """The selected job: facts, tries and invocations, Darshan, transfers."""

    _width: int | None = None
    _drawn: tuple | None = None  # the last show()'s arguments, and whether its facts went two pairs a line

    def on_resize(self, event) -> None:
        # First drawn before any layout (no width yet), or its pane changed:
        # the facts may go two pairs a line now, or one.
        if self._drawn is not None and (event.size.width - 2 >= FACT_PAIRS_FROM) != self._drawn[1]:
            self.show(*self._drawn[0])

    def _update_sized(self, parts: list) -> None:
        """Update, laying the screen out again only when the new text does not
        fit the space it has (or a scrollbar would be wrong): a layout costs
        tens of ms at 160x50, and a running job's detail is redrawn every tick
        and whenever the cursor rests.  Shorter text leaves blank lines."""
        group = Group(*parts)
        width = max(1, self.size.width - 2)  # the padding
        console = self.app.console
        height = len(console.render_lines(group, console.options.update_width(width), pad=False))
        have = self.size.height
        view = self.parent.size.height if isinstance(self.parent, Widget) else have
        relayout = width != self._width or height > have or (have > view and height < have)
        self.update(group, layout=relayout)
        self._width = width

    def show(self, store: Store, job: Job | None, now: float | None) -> None:
        if job is None:
            self.update(Text("no job selected", style="dim"))
            return
        t = job.latest
        rows = [
            ("job", job.job_id, "state", Text(job.state_label, style=STATE_MARKUP[job.state])),
            ("transformation", job.transformation or "-", "type", job.type_desc or "-"),
            ("site", job.site or "-", "host", job.host or "-"),
            ("tries", str(len(job.tries)), "exit", describe_exitcode(job.exit_raw)),
            ("duration", human_duration(job.duration(now)), "sched id", (t.sched_id if t else None) or "-"),
        ]
        if job.series is not None:
            cpu, peak, rd, wr = job.series.totals()
            rows.append(("cpu time", human_duration(cpu), "peak rss", human_bytes(peak)))
            rows.append(("read", human_bytes(rd), "written", human_bytes(wr)))
        if job.summary:
            s = job.summary
            rows.append(("monitor exit", str(s.get("exitcode", "-")), "monitor dur", human_duration(s.get("duration"))))
        parts: list = [_facts_grid(rows, self.size.width - 2)]
        self._drawn = ((store, job, now), self.size.width - 2 >= FACT_PAIRS_FROM)
        lines = tries_report(job)
        if job.partial:  # loaded in bulk: its history is being read (pipeline/history.py)
            history = self.app.history
            lines.insert(0, history.error or ("history: reading from the DB…" if history.can_read()
                                              else "history: not here (loaded in bulk: the latest state only)"))
        lines += darshan_report(job)
        for tid in job.transfers or []:
            tr = store.transfers.get(tid)
            if tr is not None:
                lines.append(f"transfer {tr.task_id[:8]}: {tr.status} {human_bytes(tr.get('bytes_transferred'))}")
        if job.is_subwf and job.subwf_uuid:
            sub = store.workflows.get(job.subwf_uuid)
            lines.append(f"sub-workflow: {sub.name if sub else job.subwf_uuid}")
        if lines:
            parts.append(Text("\n".join(lines)))
        self._update_sized(parts)


DETAIL_DELAY = 0.15  # seconds the cursor must rest before the detail panel redraws


class DetailPanel(Panel):
    """The Detail tab's facts of the job under the job list's cursor.  A refresh
    tick redraws it for its own job's changes only: another job under the cursor
    is drawn once the cursor (and the keys) rest, not inside a key's frame."""

    tab = "detail"

    def __init__(self, app):
        super().__init__(app)
        self.job: Job | None = None  # the job drawn
        self._clock: str | None = None  # the running job's duration as last drawn
        self._rest_timer = None  # runs while the cursor moves
        self.resting = False  # the refresh the rest timer asked for

    def cursor_moved(self) -> None:
        # Redraw once the cursor rests: scrolling through jobs should move a
        # highlight, not re-lay-out the screen per key.
        if self._rest_timer is not None:
            self._rest_timer.stop()
        self._rest_timer = self.app.set_timer(DETAIL_DELAY, self._rested)

    def key_pressed(self) -> None:
        if self._rest_timer is not None:
            # The panel waits until the keys stop, not just the cursor: its
            # redraw (a chart, often a layout) would land in the next key's frame.
            self._rest_timer.reset()

    def _rested(self) -> None:
        self._rest_timer = None
        self.app.refresh_panels(rested=True)

    def _current(self) -> Job | None:
        return self.app.query_one("#jobs").current

    def moving(self, full: bool) -> bool:
        """The cursor moved and has not rested: the rest timer redraws the tab."""
        return not (full or self.resting) and (self._rest_timer is not None or self._current() is not self.job)

    def refresh_from(self, changes: set[Job], full: bool) -> bool | None:
        if self.moving(full):
            return False
        job = self._current()
        now = self.app.now()
        # A running job's detail moves with the clock only through its duration:
        # redrawn when that text changes, not every tick (4.5 % of a core idle, 0.4 % so).
        running = job is not None and job.state in (JobState.RUNNING, JobState.RETRYING)
        clock = human_duration(job.duration(now)) if running else None
        if job is not None and job.partial:
            self.app.history.ask(job)  # a big DB's job: its tries' history, read now
        if full or job is not self.job or job in changes or clock != self._clock:
            self.job = job
            self._clock = clock
            self.app.query_one("#detail-view", JobDetail).show(self.store, job, now)
        return None


class TracePlotPanel(Panel):
    """The Detail tab's /proc chart of the job the detail shows."""

    tab = "detail"
    budget = PLOT_SECONDS  # for a change of its job; another job, or another size, now

    def __init__(self, app, detail: DetailPanel):
        super().__init__(app)
        self.detail = detail
        self.job: Job | None = None
        self._size = (0, 0)

    def _plot(self) -> Static:
        return self.app.query_one("#plot", Static)

    def urgent(self) -> bool:
        plot = self._plot()
        # a new job, or first drawn before layout, or resized
        return self.detail._current() is not self.job or (plot.size.width, plot.size.height) != self._size

    def refresh_from(self, changes: set[Job], full: bool) -> bool | None:
        if self.detail.moving(full):
            return False
        job = self.detail._current()
        plot = self._plot()
        size = (plot.size.width, plot.size.height)
        if job is None or not (full or job is not self.job or size != self._size or job in changes):
            return False
        self.job = job
        self._size = size
        plot.update(render_plot(job, max(20, size[0]), max(5, size[1]), self.app.no_color), layout=False)
        return None
