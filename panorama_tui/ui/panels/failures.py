"""The Failures panel's report of the failed job under its list's cursor.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...model.entities import Job
from ...stats.job_report import failure_report
from .base import Panel


class FailureText(Static):

    def show(self, job: Job | None) -> None:
        if job is None:
            self.update(Text("no failed jobs", style="green"))
        else:
            self.update(Text(failure_report(job)))


class FailedJobsPanel(Panel):
    """The failed-jobs list: its membership stays current whether shown or not."""

    def refresh_from(self, changes: set[Job], full: bool) -> None:
        fail_list = self.app.query_one("#fail-list")
        if full:
            fail_list.rebuild()
        fail_list.update_dirty(changes)


class FailurePanel(Panel):
    """The Failures tab's report of the failed job under its list's cursor."""

    tab = "failures"

    def __init__(self, app):
        super().__init__(app)
        self.job: Job | None = None  # the job reported

    def highlighted(self, job: Job | None) -> None:
        """The list's cursor moved: report its job now (store lock held)."""
        self.app.query_one("#fail-view", FailureText).show(job)
        self.job = job

    def refresh_from(self, changes: set[Job], full: bool) -> bool | None:
        job = self.app.query_one("#fail-list").current
        if not (full or job is not self.job or job in changes):
            return False
        self.highlighted(job)
        return None
