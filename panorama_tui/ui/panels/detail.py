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

    DEFAULT_CSS = """
    JobDetail { height: auto; padding: 0 1; }
    """

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
