"""The panorama-top screen.

Data flows one way: sources write into the store on their own threads; a
timer here (twice a second) takes the jobs changed since its last take (its
cursor on the store's change feed) and hands them to the shown panels
(ui/panels/), which repaint only what changed.  Pausing the view stops the
timer, never the collection.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import termios
import time
from typing import Callable

from rich.text import Text
from textual import events, on
from textual.actions import parse as parse_action
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Input, Static, TabbedContent, TabPane, Tree

from ..core import gcpolicy
from ..core.fmt import clock_time, human_bytes, human_duration, short_path
from ..model.entities import Job
from ..model.states import JobState
from ..model.store import Store
from ..stats.job_report import failure_report
from ..views.query import QueryError, parse
from . import theme
from .keys import PROBLEM_LABELS, Keys, documented_bindings, help_rows
from .panels.base import OffThreadPanel, Panel
from .panels.detail import DetailPanel, JobDetail, TracePlotPanel
from .panels.failures import FailedJobsPanel, FailurePanel, FailureText
from ..stats.progress import loading_percent
from .panels.header import HeaderBar, HeaderPanel
from .panels.jobs import JobsPanel
from .panels.statistics import StatisticsPanel, StatisticsView
from .panels.timeline import TimelinePanel, TimelineView
from .panels.transfers import TransfersPanel, TransfersView
from .panels.tree import TreePanel, WorkflowTree
from .panels.warnings import WarningsPanel, WarningsView
from .screens.columns import ColumnsScreen, fit_fields
from .screens.help import HelpScreen
from .screens.job import JobScreen
from .screens.seek import SeekScreen, parse_seek
from .theme import markup_escape
from .widgets.filterbox import FilterBox
from .widgets.joblist import JobList
from .widgets.keybar import KeyBar

log = logging.getLogger(__name__)

MIN_WIDTH, MIN_HEIGHT = 80, 24

TICK_SECONDS = 0.5

# Seconds the keys must pause before what is typed in the filter box is
# applied: a word typed is one re-filter of a 100k-job list, not one per key.
FILTER_DELAY = 0.15

TERMINAL_CHECK_SECONDS = 2.0  # one tcgetattr: the screen ends this long after its terminal went

QUIET_CLOCK_SECONDS = 3.0  # a quiet input's clock-only repaints (see PanoramaApp._tick)

# Until the first jobs show, the store is looked at this often rather than once a tick: a
# big DB's first slice lands ~0.1 s after the first (empty) frame, and waiting for the next
# tick showed its rows up to TICK_SECONDS later (a key pressed meanwhile had nothing to move:
# ~480 ms measured for the first key while a 100k DB loaded).  A look is the tick's own
# comparison of what it last showed; it stops at the first rows or after FIRST_ROWS_WATCH seconds (a log
# that is not there yet: then the tick is soon enough).
FIRST_ROWS_POLL = 0.05
FIRST_ROWS_WATCH = 10.0

_SORT = Keys("sort by the next / previous column; reverse the order (▲ ascending, ▼ descending)", section="Finding")

_PANELS = Keys("panels: detail, failed jobs, transfers, warnings, timeline (jobs over time and a Gantt), "
               "statistics (pegasus-statistics' figures, live)", section="Panels")

_QUIT = Keys("quit", section="Watching")

_SPEED = Keys("replay: faster / slower", section="Replay")

_SEEK = Keys("replay: back / forward 10 s, 60 s", section="Replay")


class PanoramaApp(App):
    TITLE = "panorama-top"
    CSS_PATH = "app.tcss"
    # Each binding's group is its line in the help screen and README's key
    # table (ui/help.py): a new key gets a group, and the help has it.
    BINDINGS = [
        Binding("escape", "back", "Back", show=False,
                group=Keys("back: close the job screen, clear the filter, then the scope", section="Moving")),
        Binding("slash", "filter", "Filter", group=Keys(
            "filter as you type: text or regex, and field terms; enter keeps it, esc drops the edit",
            section="Finding")),
        Binding("exclamation_mark", "problems", "Problems",
                group=Keys(f"problems only: {PROBLEM_LABELS}", section="Finding")),
        Binding("s", "sort(1)", "Sort", group=_SORT),
        Binding("S", "sort(-1)", "Sort back", show=False, group=_SORT),
        Binding("r", "reverse", "Reverse", show=False, group=_SORT),
        Binding("c", "columns", "Columns", show=False,
                group=Keys("choose the job list's columns (space shows / hides one)", section="Finding")),
        Binding("t", "toggle_tree", "Tree", show=False,
                group=Keys("hide / show the workflow tree", section="Panels")),
        *(Binding(str(n), f"panel('{name}')", name.capitalize(), show=False, group=_PANELS)
          for n, name in enumerate(("detail", "failures", "transfers", "warnings", "timeline", "statistics"), 1)),
        Binding("o", "pager", "Pager", show=False,
                group=Keys("the selected job's full report and output in $PAGER", section="Panels")),
        Binding("p", "pause_view", "Pause",
                group=Keys("pause the view (a PAUSED banner shows; collection goes on)", section="Watching")),
        Binding("w", "workflows", "Workflows", show=False, group=Keys(
            "the workflows in ~/.pegasus/workflow.db (only when it exists; enter opens one), or every run of "
            "a Parsl DB, re-runs beside their first run", section="Watching")),
        Binding("d", "view('dag')", "DAG", show=False, group=Keys(
            "a Parsl run's DAG: tasks by dependency layer, app and state; the selected task's lineage",
            section="Panels")),
        Binding("b", "view('gantt')", "Gantt", show=False, group=Keys(
            "a Parsl run's task states over time (Gantt): a row per task up to a screenful, then per app",
            section="Panels")),
        Binding("u", "view('resources')", "Resources", show=False, group=Keys(
            "a Parsl run's resource usage per app (CPU, memory, efficiency), workers' capacity against use, "
            "tasks over their memory", section="Panels")),
        Binding("question_mark", "help", "Help", group=Keys("help: these keys", section="Watching")),
        Binding("q", "quit", "Quit", group=_QUIT),
        # Textual binds ctrl+c to copy; in a terminal monitor it quits.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, group=_QUIT),
        Binding("space", "replay_toggle", "Play/pause", show=False, group=Keys("replay: play / pause", section="Replay")),
        Binding("plus,equals_sign", "replay_speed(1)", "Faster", show=False, group=_SPEED),
        Binding("minus", "replay_speed(-1)", "Slower", show=False, group=_SPEED),
        Binding("full_stop", "replay_step", "Step", show=False,
                group=Keys("replay: step to the next event", section="Replay")),
        Binding("left_square_bracket", "replay_seek(-10)", "-10s", show=False, group=_SEEK),
        Binding("right_square_bracket", "replay_seek(10)", "+10s", show=False, group=_SEEK),
        Binding("left_curly_bracket", "replay_seek(-60)", "-60s", show=False, group=_SEEK),
        Binding("right_curly_bracket", "replay_seek(60)", "+60s", show=False, group=_SEEK),
        Binding("T", "replay_seek_to", "Seek", show=False,
                group=Keys("replay: seek to a time (HH:MM:SS, +30s, -5m)", section="Replay")),
    ]

    def __init__(
        self,
        store: Store,
        *,
        ingest=None,
        control=None,
        source_label: str = "",
        live: bool = False,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tick: float = TICK_SECONDS,
        master_db: str | None = None,
    ):
        super().__init__()
        theme.use_palette(self.no_color)  # Textual has read NO_COLOR by now
        self.store = store
        self._changes = store.changes.cursor()
        self.ingest = ingest
        self.control = control
        self.source_label = source_label
        self.last_key_at = float("-inf")  # time.monotonic() of the latest key
        self.live = live
        self.clock = clock
        self.monotonic = monotonic  # for the events/s figure; tests freeze it
        self.master_db = master_db
        self.tick_seconds = tick
        self.view_paused = False
        self.scope_wf = None
        self._refresh_error_shown = False
        self._status_shown = ""
        # What the tick keeps current, in the order it refreshes them: the job list
        # first (the others show its scope), then the rest of the frame, then the tabs.
        detail = DetailPanel(self)
        self.panels: dict[str, Panel] = {
            "jobs": JobsPanel(self),
            "failed-jobs": FailedJobsPanel(self),
            "tree": TreePanel(self),
            "header": HeaderPanel(self),
            "detail": detail,
            "trace-plot": TracePlotPanel(self, detail),
            "failures": FailurePanel(self),
            "transfers": TransfersPanel(self),
            "warnings": WarningsPanel(self),
            "statistics": StatisticsPanel(self),
            "timeline": TimelinePanel(self),
        }
        self._timer = None
        self._filter_timer = None
        self._filter_error: str | None = None  # why the text in the filter box is not applied
        self._quiet_key: tuple | None = None  # what the last tick saw arrive (see _tick)
        self._quiet_since = 0.0
        self._ticks = 0
        self._rate_mark = (0.0, 0)
        self._rate = 0.0
        if os.environ.get("TEXTUAL_THEME") is None:
            self.theme = "textual-dark"

    # -- time --------------------------------------------------------------
    def now(self) -> float | None:
        if self.control is not None:
            return self.control.position
        if self.live:
            return self.clock()
        return self.store.latest_ts

    @property
    def loading(self) -> bool:
        """The source is still reading a big DB in chunks (the header's ``loading N%``)."""
        src = self.ingest.source if self.ingest is not None else None
        return src is not None and loading_percent(src.status.detail) is not None

    def stall_clock(self) -> float | None:
        """The clock stalls are judged by (summary.stall): a replay's own, else the wall clock;
        None while the source still loads a big DB (the jobs are there before their states:
        nothing would look queued or running)."""
        if self.loading:
            return None
        return self.control.position if self.control is not None else self.clock()

    # -- layout ------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="banner")
        yield Static("", id="toosmall")
        with Vertical(id="main"):
            yield HeaderBar(id="header")
            with Horizontal(id="body"):
                yield WorkflowTree(self.store, id="tree")
                with Vertical(id="jobpane"):
                    yield Static("", id="jobhead")
                    yield JobList(self.store, self.now, id="jobs")
            with TabbedContent(id="panels", initial="detail"):
                with TabPane("Detail [1]", id="detail"), Horizontal(id="detail-row"):
                    with VerticalScroll(id="detail-scroll"):
                        yield JobDetail(id="detail-view")
                    yield Static("", id="plot")
                with TabPane("Failures [2]", id="failures"), Horizontal(id="fail-row"):
                    yield JobList(
                        self.store,
                        self.now,
                        id="fail-list",
                        fixed_filter=lambda j: j.state == JobState.FAILED,
                        candidates=self.store.failed_jobs,
                        columns=("state", "wf", "id", "exit", "tries", "host"),
                    )
                    with VerticalScroll(id="fail-scroll"):
                        yield FailureText(id="fail-view")
                with TabPane("Transfers [3]", id="transfers"), VerticalScroll():
                    yield TransfersView(id="transfers-view")
                with TabPane("Warnings [4]", id="warnings"), VerticalScroll():
                    yield WarningsView(id="warnings-view")
                with TabPane("Timeline [5]", id="timeline"), VerticalScroll():
                    yield TimelineView(id="timeline-view")
                with TabPane("Statistics [6]", id="statistics"), VerticalScroll():
                    yield StatisticsView(id="statistics-view")
            with Horizontal(id="statusrow"):
                yield Static("", id="status")
                yield FilterBox(id="filter")
        yield KeyBar()

    def on_mount(self) -> None:
        jobs = self.query_one("#jobs", JobList)
        head = self.query_one("#jobhead", Static)
        jobs.on_header(lambda text: head.update(Text(text, style="bold"), layout=False))
        jobs.focus()
        self._check_size(self.size)
        try:
            import asyncio

            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.exit)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass  # not on Unix or not in the main thread (tests)
        self.refresh_all(full=True)
        gc.freeze()  # what the first build made lives as long as the screen
        self._timer = self.set_interval(self.tick_seconds, self._tick)
        if not jobs.rows and self.ingest is not None:
            self._first_rows_until = time.monotonic() + FIRST_ROWS_WATCH
            self._first_rows = self.set_interval(FIRST_ROWS_POLL, self._watch_first_rows)
        tty = _terminal_fd() if not self.is_headless else None
        if tty is not None:
            self.set_interval(TERMINAL_CHECK_SECONDS, lambda: self._check_terminal(tty))
        if self.master_db and self.ingest is None:
            self.action_workflows()

    def on_resize(self, event: events.Resize) -> None:
        # The event's size: self.size still holds the size before this resize.
        self._check_size(event.size)

    def _check_size(self, size) -> None:
        w, h = size
        small = w < MIN_WIDTH or h < MIN_HEIGHT
        self.screen.set_class(small, "small")
        if small:
            self.query_one("#toosmall", Static).update(
                f"Terminal too small: {w}x{h}.\npanorama-top needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\n\nq quits."
            )

    # -- the refresh tick --------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_key_at = time.monotonic()
            # No collector pause between a key and the frame that shows it.
            gcpolicy.hold()
            self.call_after_refresh(gcpolicy.release)
            if self.ingest is not None:  # nor the reader's thread taking turns for the GIL
                self.ingest.yield_to_input()
                self.call_after_refresh(self.ingest.input_answered)
            self.panels["detail"].key_pressed()
        await super().on_event(event)

    def _check_terminal(self, fd: int) -> None:
        """End when the terminal is gone.  A hang-up sends SIGHUP only to a screen
        the terminal controls: started without one (a pty handed over, a process
        manager), the screen would read end-of-file forever, Textual's input
        thread spinning (63 % of a core, two hours after its terminal went)."""
        try:
            termios.tcgetattr(fd)  # EIO once the other side of the pty is closed
        except (termios.error, OSError):
            log.info("the terminal went away: ending")
            self.exit()

    def _watch_first_rows(self) -> None:
        """Show the first jobs as soon as the store has them (see FIRST_ROWS_POLL): the tick,
        which repaints only when the store moved."""
        self._tick()
        try:
            shown = bool(self.query_one("#jobs", JobList).rows)
        except NoMatches:  # another screen is on top (or the app is ending)
            shown = False
        if shown or time.monotonic() > self._first_rows_until:
            self._first_rows.stop()

    def _tick(self) -> None:
        """The refresh timer: every tick while input arrives; when it is quiet, the
        clock's own changes (running jobs' durations, elapsed times) every
        QUIET_CLOCK_SECONDS, as top does (each second cost 2.3 % of a core in tmux)."""
        c = self.control
        st = self.ingest.source.status if self.ingest else None
        key = (self.store.version, self.store.warning_count, st and (st.state, st.message),
               c and (c.position, c.paused, c.speed, c.finished))
        now = time.monotonic()
        if key == self._quiet_key and now - self._quiet_since < QUIET_CLOCK_SECONDS:
            return
        self._quiet_key, self._quiet_since = key, now
        self.refresh_all()

    def refresh_all(self, full: bool = False) -> None:
        gcpolicy.release_overdue()
        if self.view_paused and not full:
            return
        try:
            self._refresh(full)
        except NoMatches:
            pass  # the screen is being torn down; the timer fired once more
        except Exception as exc:  # a drawing bug must not end the monitoring
            self.report_refresh_error(exc)

    def report_refresh_error(self, exc: BaseException | None) -> None:
        """A panel's drawing failed (in the tick, or in a panel's worker): logged,
        counted among the store's warnings, said once on screen; monitoring goes on."""
        log.error("refresh failed", exc_info=exc)
        with self.store.lock:
            self.store.warn(f"screen refresh failed: {type(exc).__name__}: {exc}"[:200])
        if not self._refresh_error_shown:
            self._refresh_error_shown = True
            self.notify(f"display error (collection goes on): {exc}", severity="error")

    def _refresh(self, full: bool) -> None:
        self._ticks += 1
        with self.store.lock:
            changes, everything = self._changes.take()
            self._refresh_panels(changes, full or everything)
            self._refresh_status()

    def _refresh_panels(self, changes: set, full: bool, tabs_only: bool = False) -> None:
        """The shown panels, current (store lock held)."""
        active = self.query_one("#panels", TabbedContent).active
        for panel in self.panels.values():
            if (panel.tab is not None or not tabs_only) and panel.shown(active):
                panel.tick(changes, full)

    def refresh_panels(self, rested: bool = False) -> None:
        """The shown tab, redrawn out of the tick: ``rested``, the job list's cursor
        came to rest (the detail follows it now); else the tab was just shown."""
        detail = self.panels["detail"]
        detail.resting = rested
        try:
            with self.store.lock:
                self._refresh_panels(set(), not rested, tabs_only=True)
        except NoMatches:
            pass
        finally:
            detail.resting = False

    def on_worker_state_changed(self, event) -> None:
        worker = event.worker
        if worker.is_finished:
            for panel in self.panels.values():
                if isinstance(panel, OffThreadPanel) and panel.group == worker.group:
                    try:
                        panel.landed(worker)
                    except NoMatches:
                        pass  # the screen is being torn down

    def _refresh_status(self) -> None:
        store = self.store
        # What the list shows comes first: next to the filter box, and kept
        # when a narrow terminal cuts the line short.
        jobs = self.query_one("#jobs", JobList)
        so_far = " so far" if jobs.behind else ""  # ordered now and then while a big DB loads
        shown = f"[b]{len(jobs.rows)}[/b] shown{so_far} by {jobs.sort_col}{jobs.sort_arrow}"
        signal = theme.SIGNAL_MARKUP
        if jobs.problems_only:
            shown += f" [{signal['warn']}]problems only[/]"
        if self._filter_error is not None:
            in_force = markup_escape(jobs.query.text) if jobs.query else "none"
            # The filter in force first: the error's tail may be cut off.
            shown += f" (filter in force: {in_force}) [{signal['error']}]✗ {markup_escape(self._filter_error)}[/]"
        if jobs.filtering is not None:
            shown += f" [i]filtering {jobs.filtering:.0%}[/]"
        parts = [shown]
        src = self.ingest.source if self.ingest else None
        if src is not None:
            st = src.status
            state = st.state
            color = signal[{"error": "alert", "down": "alert", "reconnecting": "warn"}.get(state, "link")]
            # a source's words may quote its input (a file name, a DB's message): made visible
            if state == "waiting":  # for a log not there yet, a FIFO's writer: the message names it (short: it wraps)
                parts.append(f"[{signal['warn']}]{markup_escape(st.message)}[/]")
            else:
                parts.append(f"[{color}]{markup_escape(src.label)}: {state}[/]")
            if st.message and state in ("error", "down", "reconnecting"):
                parts.append(f"[{signal['error']}]{markup_escape(st.message)}[/]")
            percent = loading_percent(st.detail)
            if percent is not None:  # a big DB read in chunks (issue #14): kept on an 80-column line
                parts.insert(1, f"[b]loading {percent}%[/b]")
            rate = st.detail.get("rate") if st.detail else None
            if rate is not None:
                parts.append(f"{rate:.0f} msg/s" if isinstance(rate, (int, float)) else str(rate))
            lag = st.detail.get("lag") if st.detail else None
            if isinstance(lag, dict):  # the AMQP source reports {"last", "p50"}
                lag = lag.get("p50") if lag.get("p50") is not None else lag.get("last")
            if isinstance(lag, (int, float)):
                parts.append(f"lag {human_duration(lag)}")
            reconnects = st.detail.get("reconnects") if st.detail else None
            if reconnects:
                parts.append(f"{reconnects} reconnects")
        else:
            parts.append(markup_escape(self.source_label))
        rec = self.ingest.recorder if self.ingest else None
        if rec is not None:
            # High priority: a session must say that it is being recorded (and how much);
            # where (the path, last) is the first thing a narrow line gives up.
            parts.insert(1, f"[bold bright_red]●[/] REC {human_bytes(rec.size())}")
        now_m = self.monotonic()
        mark_t, mark_n = self._rate_mark
        if now_m - mark_t >= 2.0:
            if mark_t:
                self._rate = (store.event_count - mark_n) / (now_m - mark_t)
            self._rate_mark = (now_m, store.event_count)
        parts.append(f"{store.event_count} events" + (f" ({self._rate:.0f}/s)" if self._rate >= 1 else ""))
        if store.bad_count:
            parts.append(f"[{signal['alert']}]{store.bad_count} unparsable[/]")
        unknown = sum(store.unknown.values())
        if unknown:
            parts.append(f"[{signal['note']}]{unknown} unknown[/]")
        if store.warning_count - store.bad_count > 0:
            parts.append(f"[{signal['note']}]{store.warning_count - store.bad_count} warnings[/]")
        c = self.control
        if c is not None:
            pos = clock_time(c.position) if c.position else "-"
            total = (c.end - c.start) if c.end and c.start else 0
            done = ((c.position or 0) - (c.start or 0)) if c.start else 0
            # "seeking": a checkpoint being restored, or the records up to the time replayed
            state = "seeking" if c.seeking else "ended" if c.finished else ("paused" if c.paused else "playing")
            parts.append(
                f"[b]replay {state}[/b] {c.speed_label} {pos} ({human_duration(done)}/{human_duration(total)})"
            )
        if rec is not None:
            parts.append(f"rec {markup_escape(short_path(rec.path))}")
        status = self.query_one("#status", Static)
        text = fit_fields(parts, status.size.width or MIN_WIDTH)  # whole fields, the last ones first dropped
        if text != self._status_shown:
            self._status_shown = text
            # Rich's markup: the theme's colours are Rich's names (see theme.py).
            status.update(Text.from_markup(text), layout=False)
        banner = self.query_one("#banner", Static)
        banner.set_class(self.view_paused, "visible")

    # -- events from widgets ----------------------------------------------
    @on(JobList.Highlighted, "#jobs")
    def _job_highlighted(self, event: JobList.Highlighted) -> None:
        self.panels["detail"].cursor_moved()

    @on(JobList.Scanned, "#jobs")
    def _jobs_scanned(self, event: JobList.Scanned) -> None:
        try:
            self._refresh_status()
        except NoMatches:
            pass  # the screen is being torn down (a quit while the list's message was queued)

    @on(JobList.Highlighted, "#fail-list")
    def _fail_highlighted(self, event: JobList.Highlighted) -> None:
        with self.store.lock:
            self.panels["failures"].highlighted(event.job)

    @on(JobList.Opened)
    def _job_opened(self, event: JobList.Opened) -> None:
        self.push_screen(JobScreen(event.job))

    @on(Tree.NodeSelected, "#tree")
    def _tree_selected(self, event: Tree.NodeSelected) -> None:
        data = event.node.data
        jobs = self.query_one("#jobs", JobList)
        if not data:
            return
        if data[0] == "wf":
            self.scope_wf = data[1]
            jobs.set_scope(data[1])
        elif data[0] == "group":
            self.scope_wf = data[1]
            jobs.set_scope(data[1], data[2])
        elif data[0] == "job":
            if not jobs.select_job(data[1]):
                jobs.set_scope(None)
                jobs.select_job(data[1])
            jobs.focus()
        self.refresh_all(full=False)

    @on(TabbedContent.TabActivated)
    def _tab(self, event) -> None:
        active = self.query_one("#panels", TabbedContent).active
        for panel in self.panels.values():
            if not panel.shown(active):
                panel.hidden()
        self.refresh_panels()

    # -- actions -----------------------------------------------------------
    def _master_db_path(self) -> str | None:
        """The master DB whose workflows ``w`` lists: the one the app was
        started on, else ~/.pegasus/workflow.db if it exists now (monitord
        creates it with the user's first workflow)."""
        if self.master_db:
            return self.master_db
        from ..sources.pegasus.master_db import default_path

        path = default_path()
        return path if os.path.isfile(path) else None

    def action_workflows(self) -> None:
        if self._has_parsl_runs():
            from .screens.workflow_list import ParslRunsScreen

            self.push_screen(ParslRunsScreen(f"Parsl runs in {self.source_label}"))
            return
        path = self._master_db_path()
        if path is None:
            return  # check_action has hidden w
        from .screens.workflow_list import WorkflowsScreen

        self.push_screen(WorkflowsScreen(path))

    def _has_parsl_runs(self) -> bool:
        from ..model.handlers.parsl import RUN_KEY

        return any(RUN_KEY in w.meta for w in list(self.store.workflows.values()))

    def action_view(self, name: str) -> None:
        """The DAG, Gantt or resources screen, of the workflow in scope (or the selected job's)."""
        from .screens.dag import DagScreen
        from .screens.gantt import GanttScreen
        from .screens.resources import ResourcesScreen

        screen = {"dag": DagScreen, "gantt": GanttScreen, "resources": ResourcesScreen}[name]
        self.push_screen(screen(self.scope_wf, self.query_one("#jobs", JobList).current))

    def scope_to(self, wf_uuid: str) -> None:
        """Show only this workflow's jobs (the workflows screen's enter on a Parsl run)."""
        wf = self.store.workflows.get(wf_uuid)
        if wf is not None:
            self.scope_wf = wf
            self.query_one("#jobs", JobList).set_scope(wf)
            self.refresh_all()

    @property
    def history(self):
        """Reads a bulk-loaded job's history from the source showing it (pipeline/history.py)."""
        from ..pipeline.history import HistoryReader

        source = self.ingest.source if self.ingest is not None else None
        reader = getattr(self, "_history", None)
        if reader is None or reader.source is not source:
            reader = self._history = HistoryReader(self.store, source)
        return reader

    def switch_source(self, source, control=None) -> None:
        """Show another input: stop the current one, start again from an empty store."""
        from ..pipeline.ingest import Ingest

        if self.ingest is not None:
            self.ingest.stop()
        with self.store.lock:
            gcpolicy.thaw()  # the old store's objects may go now
            self.store.reset()
        self.control = control
        self.source_label = source.label
        self.live = source.live
        self.scope_wf = None
        tree = self.query_one("#tree", WorkflowTree)
        tree.clear()
        tree.reset_nodes()
        self.query_one("#jobs", JobList).set_scope(None)
        self.ingest = Ingest(source, self.store).start()
        self.refresh_all(full=True)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_rows(documented_bindings(), self._binding_enabled)))

    def _binding_enabled(self, binding: Binding) -> bool:
        _namespace, name, params = parse_action(binding.action)
        return self.check_action(name, params) is not False

    def action_filter(self) -> None:
        self.query_one("#filter", FilterBox).open()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        if not event.input.has_focus:
            return  # the closed box showing the filter in force
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, self._apply_filter_text)

    def _apply_filter_text(self, text: str | None = None) -> bool:
        """Filter the list by ``text`` (the box's); False when it does not
        parse: the list keeps the filter in force and the status line says
        why, quietly (no toast per key).  Only the list and the status line
        change; the detail panel follows the cursor's job once it rests."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        if text is None:
            text = self.query_one("#filter", FilterBox).value
        jobs = self.query_one("#jobs", JobList)
        try:
            query = parse(text)
        except QueryError as exc:
            self._filter_error = str(exc)
        else:
            self._filter_error = None
            # Terms are split on blanks: a blank typed changes no job's fate.
            if text.split() != (jobs.query.text.split() if jobs.query else []):
                jobs.set_query(query)
        self._refresh_status()
        return self._filter_error is None

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not self._apply_filter_text(event.value):
            self.bell()  # the box stays open on the text; the status line says why
            return
        box = self.query_one("#filter", FilterBox)
        box.remember(event.value)
        jobs = self.query_one("#jobs", JobList)
        jobs.focus()
        box.close(jobs.query.text if jobs.query else "")

    @on(Input.Blurred, "#filter")
    def _filter_left(self, event: Input.Blurred) -> None:
        """Leaving the box without enter (esc, a click elsewhere) goes back
        to the filter kept last; enter has made it the one typed."""
        self._apply_filter_text(self.query_one("#filter", FilterBox).applied)

    def action_back(self) -> None:
        if self.screen.query("HelpPanel"):  # Textual's Keys panel (command palette)
            self.action_hide_help_panel()
            return
        box = self.query_one("#filter", FilterBox)
        jobs = self.query_one("#jobs", JobList)
        if box.has_focus:
            jobs.focus()
            return
        if jobs.query is not None or jobs.problems_only:
            jobs.clear_filters()
            box.close("")
            self._refresh_status()
            return
        if jobs.scope is not None:
            self.scope_wf = None
            jobs.set_scope(None)
        self.refresh_all()

    def action_problems(self) -> None:
        self.query_one("#jobs", JobList).toggle_problems()
        self._refresh_status()

    def action_sort(self, step: int) -> None:
        # The status line says which column, not a toast: a toast is a
        # widget mounted and removed, two whole-screen layouts per key.
        self.query_one("#jobs", JobList).cycle_sort(step)
        self._refresh_status()

    def action_reverse(self) -> None:
        self.query_one("#jobs", JobList).toggle_reverse()
        self._refresh_status()

    def action_columns(self) -> None:
        jobs = self.query_one("#jobs", JobList)
        self.push_screen(ColumnsScreen(jobs.columns, jobs.hidden, fixed={"id"}), jobs.set_hidden)

    def action_toggle_tree(self) -> None:
        tree = self.query_one("#tree", WorkflowTree)
        tree.display = not tree.display
        if not tree.display and tree.has_focus:
            self.query_one("#jobs", JobList).focus()

    def action_pause_view(self) -> None:
        self.view_paused = not self.view_paused
        banner = self.query_one("#banner", Static)
        banner.update(" PAUSED — collection goes on; p resumes ")
        banner.set_class(self.view_paused, "visible")
        if not self.view_paused:
            self.refresh_all()

    def action_panel(self, name: str) -> None:
        tabs = self.query_one("#panels", TabbedContent)
        focused = self.screen.focused
        if name != "failures" and focused is not None and tabs in focused.ancestors:
            # Hiding the pane that holds the focus hands it to a sibling in
            # that pane, and TabbedContent then shows the pane again: the
            # panel keys were trapped in the failures panel.  The job list
            # takes the focus first (now, not after this handler).
            self.screen.set_focus(self.query_one("#jobs", JobList))
        tabs.active = name
        if name == "failures":
            self.query_one("#fail-list", JobList).focus()

    def _selected_job(self) -> Job | None:
        if isinstance(self.screen, JobScreen):
            return self.screen.job
        if self.query_one("#panels", TabbedContent).active == "failures":
            job = self.query_one("#fail-list", JobList).current
            if job is not None:
                return job
        return self.query_one("#jobs", JobList).current

    def action_pager(self) -> None:
        job = self._selected_job()
        if job is None:
            return
        with self.store.lock:
            text = failure_report(job, tail=None)
        pager = os.environ.get("PAGER") or "less -R"
        try:
            with self.suspend():
                subprocess.run(pager, input=text.encode(), shell=True, check=False)
        except Exception as exc:  # no pager, or suspend unsupported (headless)
            self.notify(f"cannot open the pager: {exc}", severity="error")

    # replay
    def _need_replay(self) -> bool:
        if self.control is None:
            self.notify("not a replay", timeout=1.5)
            return False
        return True

    def action_replay_toggle(self) -> None:
        if self._need_replay():
            paused = self.control.toggle_pause()
            self.notify("replay paused" if paused else "replay playing", timeout=1)

    def action_replay_speed(self, step: int) -> None:
        if self._need_replay():
            self.control.faster() if step > 0 else self.control.slower()
            self.notify(f"replay speed {self.control.speed_label}", timeout=1)

    def action_replay_step(self) -> None:
        if self._need_replay():
            self.control.step()

    def action_replay_seek(self, seconds: int) -> None:
        if self._need_replay():
            self.control.seek_relative(seconds)

    def action_replay_seek_to(self) -> None:
        if not self._need_replay():
            return

        def done(value: str | None) -> None:
            if not value:
                return
            target = parse_seek(value, self.control.position, self.control.start)
            if target is None:
                self.notify(f"not a time: {value!r}", severity="error")
            else:
                self.control.seek(target)

        self.push_screen(SeekScreen(), done)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Filter jobs", "Filter by text, regex or field terms", self.action_filter)
        yield SystemCommand("Problems only", "Show only failed, held and retrying jobs", self.action_problems)
        yield SystemCommand("Failed jobs", "Open the failed-jobs panel", lambda: self.action_panel("failures"))
        yield SystemCommand("Transfers", "Open the Globus transfers panel", lambda: self.action_panel("transfers"))
        yield SystemCommand(
            "Warnings", "Bad records, unknown events and warnings", lambda: self.action_panel("warnings")
        )
        yield SystemCommand("Timeline", "Jobs over time and a Gantt view", lambda: self.action_panel("timeline"))
        yield SystemCommand("Statistics", "pegasus-statistics figures, live", lambda: self.action_panel("statistics"))
        yield SystemCommand("Pause view", "Freeze the screen; collection goes on", self.action_pause_view)
        for col in ("state", "id", "xform", "host", "tries", "exit", "dur", "cpu", "rss", "io"):
            yield SystemCommand(f"Sort by {col}", f"Order the job list by {col}", lambda c=col: self._sort_by(c))
        if self.control is not None:
            yield SystemCommand("Replay: play/pause", "Toggle the replay", self.action_replay_toggle)
            yield SystemCommand("Replay: seek to time", "Jump to a time in the recording", self.action_replay_seek_to)
            yield SystemCommand("Replay: as fast as possible", "Run to the end", lambda: self.control.set_speed(0))

    _MAIN_ONLY = frozenset({"filter", "problems", "sort", "reverse", "panel", "back", "workflows", "columns", "toggle_tree",
                            "view"})

    def check_action(self, action: str, parameters) -> bool | None:
        # The job list's keys mean nothing while a job screen or dialog is on top.
        if action in self._MAIN_ONLY and self.screen is not self.default_screen:
            return False
        if action == "view":
            # A Parsl run's screens; Pegasus keeps its Timeline panel's Gantt (and its help as it was).
            return self._has_parsl_runs()
        return action != "workflows" or self._has_parsl_runs() or self._master_db_path() is not None

    def _sort_by(self, col: str) -> None:
        self.query_one("#jobs", JobList).sort_by(col)
        self._refresh_status()

    async def action_quit(self) -> None:
        self.exit(0)


def _terminal_fd() -> int | None:
    """The terminal Textual reads keys from (stdin), or None when there is none."""
    try:
        fd = sys.__stdin__.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if os.isatty(fd) else None


def run_app(args, source, control, master_db: str | None = None) -> int:
    """Start the ingest thread (and recording) and run the screen.

    With no source and a master DB, the screen opens on the workflows list."""
    from ..cli.top import InputError
    from ..core.recorder import RecordingError, session_recorder
    from ..pipeline.ingest import Ingest

    gcpolicy.configure()
    store = Store()
    try:
        recorder = session_recorder(source, args.record, args.no_record)
    except RecordingError as exc:
        raise InputError(str(exc)) from None
    ingest = Ingest(source, store, recorder).start() if source is not None else None
    app = PanoramaApp(
        store,
        ingest=ingest,
        control=control,
        live=source.live if source is not None else True,
        source_label=source.label if source is not None else "no workflow open",
        master_db=master_db,
    )
    try:
        app.run(mouse=not args.no_mouse)
    finally:
        if app.ingest is not None:
            app.ingest.stop()
    if recorder is not None:
        import sys

        print(f"panorama-top: recorded {recorder.count} events to {recorder.path}", file=sys.stderr)
    return app.return_code or 0
