"""The Failures panel's report of the failed job under its list's cursor.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...model.entities import Job
from ...stats.job_report import failure_report


class FailureText(Static):
    DEFAULT_CSS = """
    FailureText { height: auto; padding: 0 1; }
    """

    def show(self, job: Job | None) -> None:
        if job is None:
            self.update(Text("no failed jobs", style="green"))
        else:
            self.update(Text(failure_report(job)))
