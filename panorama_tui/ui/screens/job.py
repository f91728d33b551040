"""The job screen: everything about one job (tries, invocations, states, output, chart); esc goes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...model.entities import Job
from ...stats.job_report import failure_report
from ..panels.detail import PLOT_SECONDS, JobDetail, render_plot
from ..widgets.keybar import KeyBar

if TYPE_CHECKING:
    from ..app import PanoramaApp


class JobScreen(Screen):
    """Everything about one job; esc goes back."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("o", "app.pager", "Open in pager"),
    ]

    def __init__(self, job: Job):
        super().__init__()
        self.job = job

    def compose(self) -> ComposeResult:
        yield Static(id="job-title")
        with VerticalScroll():
            yield JobDetail(id="job-detail")
            yield Static(id="plot")
            yield Static(id="job-report")
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_job()
        self.set_interval(PLOT_SECONDS, self.refresh_job)

    def refresh_job(self) -> None:
        app: PanoramaApp = self.app  # type: ignore[assignment]
        if app.view_paused:
            return
        with app.store.lock:
            self.query_one("#job-title", Static).update(
                Text(f" {self.job.job_id}  ({self.job.wf.name})", style="bold reverse")
            )
            self.query_one(JobDetail).show(app.store, self.job, app.now())
            w = max(40, self.size.width - 4)
            self.query_one("#plot", Static).update(render_plot(self.job, w, 14, app.no_color))
            self.query_one("#job-report", Static).update(Text(failure_report(self.job, tail=40)))
