"""The workflows screen: every workflow in the user's master DB, or every
run of the Parsl DB being shown.

Like pegasus-dashboard's first page: state, progress and start time per
workflow, newest first; ``enter`` opens one in the main screen.  A few
hundred rows at most, refreshed every few seconds: a DataTable is right here.

For Parsl (:class:`ParslRunsScreen`), parsl-visualize's first page and more:
every run with its state (killed, not "Running", when its writer died), task
counts, start, duration, user and host, runs of the same program side by side
with their re-runs marked and their memo_done counted (views/parsl_runs.py);
``enter`` scopes the main screen to the run.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...core.fmt import clock_time, human_duration
from ...model.states import JobState
from ...stats.progress import percent_text
from ..theme import SIGNAL_MARKUP, STATE_MARKUP, WF_STATE_MARKUP

REFRESH_SECONDS = 5.0


class ParslRunsScreen(Screen):
    """Every Parsl run in the store, grouped by program; enter scopes the main screen to one."""

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    ParslRunsScreen #wf-title { height: 1; background: $panel; text-style: bold; }
    ParslRunsScreen DataTable { height: 1fr; }
    ParslRunsScreen #wf-status { height: 1; background: $panel; }
    """
    COLUMNS = ("state", "workflow", "run", "tasks", "done", "memo", "failed", "dep_fail", "active", "started",
               "duration", "user", "host", "re-run of")

    def __init__(self, title: str = "Parsl runs"):
        super().__init__()
        self.title_text = title
        self.rows: list = []

    def compose(self) -> ComposeResult:
        yield Static(f" {self.title_text}", id="wf-title")
        yield DataTable(id="wf-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="wf-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*self.COLUMNS)
        self.action_reload()
        self.set_interval(REFRESH_SECONDS, self.action_reload)
        table.focus()

    def action_reload(self) -> None:
        from ...views.parsl_runs import run_rows

        app = self.app
        with app.store.lock:  # type: ignore[attr-defined]
            self.rows = run_rows(app.store, app.stall_clock())  # type: ignore[attr-defined]
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        failed = STATE_MARKUP[JobState.FAILED]
        for r in self.rows:
            c = r.tasks
            rerun = "" if r.rerun_of is None else f"#{r.nth} ← {r.rerun_of[:8]}"
            table.add_row(
                Text(r.state, style=WF_STATE_MARKUP.get(r.state, SIGNAL_MARKUP["stalled"] if r.state == "stalled"
                                                       else "")),
                Text(r.name if r.nth == 1 else f"  ↳ {r.name}"),
                r.run_id[:8],
                str(c["total"]),
                str(c["succeeded"]),
                Text(str(r.memo_done), style="bold" if r.memo_done else "dim"),
                Text(str(c["failed"]), style=failed if c["failed"] else ""),
                Text(str(c["dep_fail"]), style=failed if c["dep_fail"] else ""),
                str(c["running"] + c["pending"]),
                clock_time(r.start),
                human_duration(r.duration),
                r.user or "-",
                r.host or "-",
                rerun,
            )
        if self.rows:
            table.move_cursor(row=min(row, len(self.rows) - 1))
        names = len({r.name for r in self.rows})
        self.query_one("#wf-status", Static).update(
            f" {len(self.rows)} run(s) of {names} program(s) │ ↳ a re-run, beside the runs of its name │ "
            "enter shows a run │ r reloads │ esc back")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None:
            return
        run_id = self.rows[table.cursor_row].run_id
        app = self.app
        self.app.pop_screen()
        app.scope_to(run_id)  # type: ignore[attr-defined]


class WorkflowsScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("escape", "back", "Back"),
        Binding("r", "reload", "Reload"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, master_db: str):
        super().__init__()
        self.master_db = master_db
        self.workflows: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static(f" workflows in {self.master_db}", id="wf-title")
        yield DataTable(id="wf-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="wf-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("state", "workflow", "progress", "jobs", "failed", "started", "submit dir")
        self.action_reload()
        self.set_interval(REFRESH_SECONDS, self.action_reload)
        table.focus()

    def action_reload(self) -> None:
        from ...sources.pegasus.master_db import list_workflows

        try:
            self.workflows = list_workflows(self.master_db, progress=True)
        except Exception as exc:  # a locked or damaged master DB: say so, keep the screen
            self.query_one("#wf-status", Static).update(
                Text(f" cannot read {self.master_db}: {exc}", style=SIGNAL_MARKUP["alert"]))
            return
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for w in self.workflows:
            p = w.get("progress") or {}
            pct = p.get("percent")
            state = w.get("state") or "?"
            table.add_row(
                Text(state, style=WF_STATE_MARKUP.get(state, "")),
                Text(f"{w.get('label') or '?'}  {w.get('wf_uuid', '')[:8]}"),
                "-" if pct is None else percent_text(pct),
                str(p.get("total", "-")),
                Text(str(p.get("failed", 0)), style=STATE_MARKUP[JobState.FAILED] if p.get("failed") else ""),
                clock_time(w.get("start")),
                w.get("submit_dir") or "-",
            )
        if self.workflows:
            table.move_cursor(row=min(row, len(self.workflows) - 1))
        self.query_one("#wf-status", Static).update(
            f" {len(self.workflows)} workflow(s) │ enter opens │ r reloads │ esc back to the open workflow"
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # The table takes enter for itself and says which row was chosen.
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.workflows or table.cursor_row is None:
            return
        w = self.workflows[table.cursor_row]
        try:
            source = open_workflow(w)
        except OpenError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.app.switch_source(source)
        self.app.pop_screen()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1 and getattr(self.app, "ingest", None) is not None:
            self.app.pop_screen()


class OpenError(Exception):
    pass


def open_workflow(w: dict):
    """A source for one master-DB row: its submit dir if there, else its DB (the registry's kinds)."""
    from ...sources import registry

    options = registry.OpenOptions(follow=True)
    submit_dir = w.get("submit_dir")
    if submit_dir and os.path.isdir(submit_dir):
        try:
            return registry.open(submit_dir, options, kind="submitdir")
        except registry.CannotOpen:
            pass
    db = w.get("db_path")
    if db and os.path.isfile(db):
        return registry.open(db, options, kind="stampede")
    raise OpenError(f"{w.get('label') or w.get('wf_uuid')}: neither its submit dir nor its DB is here")
