"""The job list as a panel: the tick's changes re-key, re-sort and repaint its rows."""

from __future__ import annotations

from .base import Panel


class JobsPanel(Panel):
    """The main job list (its widget: ui/widgets/joblist.py)."""

    def refresh_from(self, changes, full: bool) -> None:
        jobs = self.app.query_one("#jobs")
        if full:
            jobs.rebuild()
        else:
            jobs.update_dirty(changes)
        # The store's current object of the scope, after a replay's backward seek:
        # the panels after this one show the list's scope.
        self.app.scope_wf = jobs.scope_wf
