"""The job list: a line-API scroll view that stays smooth at 100k jobs.

Only the visible lines are ever rendered, from a plain Python list of jobs
kept in order by :class:`~panorama_tui.views.joborder.JobOrder`.  (A DataTable
measures every cell and rebuilds row lists on each update: see FIELD-NOTES.)
What a key press costs at 100k jobs is kept to a frame's time:

- every column's sort keys and order are prepared a little at a time while
  the screen is idle, so a sort moves only the jobs changed since;
- a filter tests the jobs a chunk at a time, from the end the list shows
  first: the first screenful paints at once and the rest of the rows arrive
  over the next frames (the status line says how far it got).
"""

from __future__ import annotations

from time import monotonic, perf_counter
from typing import Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...compat.textual import set_virtual_size_without_layout
from ...core.fmt import human_duration
from ...views import columns as registry
from ...views.columns import Column
from ...views.joborder import JobOrder, Selection
from ...views.query import PROBLEMS_ONLY, Query
from ...model.entities import Job
from ...model.store import Store
from ...model.workflows import unique_names
from ..screens.columns import allocate
from ..keys import MOVE, Keys
from ..theme import cell_style

STRIP_CACHE = 2000  # rendered rows kept; a screenful is ~50
# Seconds of filtering per key press before the first rows are painted, and
# per later step (between frames, so keys are still answered meanwhile).
SCAN_FIRST = 0.012
SCAN_STEP = 0.016
WARM_STEP = 0.006  # seconds of sort-key preparation per idle step
WARM_EVERY = 0.05
ID_FIRST = 24  # the job id's least share before other columns get theirs (then it takes what is left)
MEASURE_SAMPLE = 1000  # jobs whose text columns are measured at a rebuild (evenly spread)
# While a source loads a big DB in bulk (app.loading), every tick re-keys thousands of jobs:
# at 1M jobs the list's merges took 63 s of a 180 s load, held the store lock the reader
# waited for (40 s), and a key pressed meanwhile waited behind them.  So then the list is
# put in order at most once every LOADING_DUTY times what its last ordering cost (<= 5 %
# of the loop), its visible rows still repainted as their jobs change; and no column is
# warmed (every key would change again before it is used).
LOADING_DUTY = 20
LOADING_MIN = 10_000  # below this many jobs an ordering costs too little to put off
# Nor while the user is pressing keys: an ordering (70 ms at 100k) that came between a key and
# its frame was the keys' p95 while loading (nav keys' CPU p95 39-80 ms against 8 ms median).
KEYS_FIRST = 0.4
# The columns (titles, widths, sort keys, cells, filter fields) are declared
# once, in views/columns.py; this widget lays them out and paints them.

_PAGE = Keys("a page up / down", section="Moving")
_JUMP = Keys("the first / last job", section="Moving")



def _in_group(job: Job, group) -> bool:
    """The tree's groups: a state (a Pegasus workflow's), or an app's name (a Parsl run's)."""
    return job.transformation == group if type(group) is str else job.state == group

class JobList(ScrollView, can_focus=True):
    """Jobs of the current scope, filtered and sorted; one line each."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, group=MOVE),
        Binding("down,j", "cursor(1)", "Down", show=False, group=MOVE),
        Binding("pageup", "page(-1)", "Page up", show=False, group=_PAGE),
        Binding("pagedown", "page(1)", "Page down", show=False, group=_PAGE),
        Binding("home,g", "jump(0)", "Top", show=False, group=_JUMP),
        Binding("end,G", "jump(-1)", "Bottom", show=False, group=_JUMP),
        Binding("enter", "open", "Details", group=Keys(
            "open the job: its tries, invocations, states, output and chart; on the tree, show its jobs",
            section="Moving")),
    ]
    DEFAULT_CSS = """
    JobList { height: 1fr; overflow-x: hidden; overflow-y: scroll; }
    """

    cursor = reactive(0, always_update=True, init=False)

    class _JobMessage(Message):
        def __init__(self, job_list: "JobList", job: Job | None):
            super().__init__()
            self.job_list = job_list
            self.job = job

        @property
        def control(self) -> "JobList":
            return self.job_list

    class Highlighted(_JobMessage):
        """The cursor is on another job (None: the list is empty)."""

    class Opened(_JobMessage):
        """Enter on a job."""

    class Scanned(Message):
        """A filter applied a chunk at a time found more rows (or finished)."""

        def __init__(self, job_list: "JobList"):
            super().__init__()
            self.job_list = job_list

        @property
        def control(self) -> "JobList":
            return self.job_list

    def __init__(
        self, store: Store, now: Callable[[], float | None], *, fixed_filter=None, candidates=None, columns=None, **kw
    ):
        super().__init__(**kw)
        self.columns = tuple(c for c in registry.columns() if columns is None or c.key in columns)
        self.hidden: set[str] = set()  # columns the user turned off (the column chooser)
        self._names: dict[str, str] = {}  # wf_uuid -> a name unique among the store's workflows
        self._multi = False  # the scope holds several workflows: the workflow column shows
        self._content: dict[str, int] = {}  # text column -> the widest value measured
        self.store = store
        self.now = now
        self.rows: list[Job] = []  # as shown: the order's rows, reversed when descending
        self.order = JobOrder()
        self.scope = None  # (Workflow or None, JobState or None)
        self.query: Query | None = None
        self.fixed_filter = fixed_filter
        # Where an unscoped list's jobs come from when not the whole store: every job the
        # fixed filter can keep (the failed jobs' list: the store keeps them; going over
        # 1M jobs for them at each new job cost more than the list's own ordering).
        self.candidates: Callable[[], Iterable[Job]] | None = candidates
        self.problems_only = False
        self.reverse = False
        self._layout_seen = -1
        self._measured = 0  # jobs in the scope when their texts were last measured
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1
        self._regrow = False  # a relayout for a wider value is scheduled
        self._strips: dict[Job, tuple[int, Strip]] = {}
        self._header_cb: Callable[[str], None] | None = None
        self._last_job: Job | None = None
        self._scan_gen = 0  # which selection a scheduled scan step belongs to
        self._tick_now: float | None = None  # the clock at the last update_dirty
        self._time_shown: dict[Job, str] = {}  # a visible running job's TIME text as last painted
        self._warm_timer = None
        # Put off while loading (see LOADING_DUTY): the changed jobs not yet ordered, whether
        # the scope must be built again, when the last ordering was and what it cost.
        self._held: set[Job] = set()
        self._held_rebuild = False
        self._ordered_at = float("-inf")
        self._order_cost = 0.0
        self._flush_timer = None
        self._freshen_due = False  # a _freshen_next is scheduled after the frame

    # -- membership and order -------------------------------------------
    @property
    def sort_col(self) -> str:
        return self.order.col

    @property
    def sort_arrow(self) -> str:
        """▲ ascending, ▼ descending (the common convention), for every column."""
        return "▼" if self.reverse else "▲"

    def _scope_jobs(self) -> Iterable[Job]:
        wf, state = self.scope if self.scope else (None, None)
        if wf is None:
            jobs = self.store.jobs() if self.candidates is None else self.candidates()
        else:
            wfs = [wf] + self.store.descendants(wf)
            jobs = (j for w in wfs for j in w.jobs.values())
        if state is not None:
            jobs = (j for j in jobs if _in_group(j, state))
        if self.fixed_filter is not None:
            jobs = filter(self.fixed_filter, jobs)
        return jobs

    def _in_scope(self, job: Job) -> bool:
        if self.scope:
            wf, state = self.scope
            if state is not None and not _in_group(job, state):
                return False
            if wf is not None and not self._in_scope_wf(job):
                return False
        return self.fixed_filter is None or self.fixed_filter(job)

    def _selection(self) -> Selection:
        """What the user narrowed the scope to (the filter, problems only)."""
        return Selection(([PROBLEMS_ONLY] if self.problems_only else [])
                         + (self.query.tests if self.query is not None else []))

    def _scan_options(self) -> dict:
        # Enough rows for the screen, scanned from the end that is shown first.
        return {"budget": SCAN_FIRST, "want": self.scroll_offset.y + max(self.size.height, 1) + 1,
                "from_end": self.reverse}

    @property
    def scope_wf(self):
        """The workflow the list is scoped to (None: all)."""
        return self.scope[0] if self.scope else None

    def _rebind_scope(self) -> None:
        """After the store was emptied (a replay's backward seek), the scope's
        workflow is the store's new object of that uuid; no scope while the
        replay has not reached it."""
        wf = self.scope_wf
        if wf is not None and self.store.workflows.get(wf.wf_uuid) is not wf:
            current = self.store.workflows.get(wf.wf_uuid)
            self.scope = None if current is None else (current, self.scope[1])

    def rebuild(self) -> None:
        """Scope, filter and sort from scratch (the scope or the store's
        structure changed)."""
        now = self.now()
        started = perf_counter()
        self._held.clear()
        self._held_rebuild = False
        with self.store.lock:
            self._rebind_scope()
            self._layout_seen = self.store.layout_version
            self.order.selection = self._selection()
            done = self.order.build(self._scope_jobs(), now, self.store.active, **self._scan_options())
            self._measure(now)
        self._strips.clear()  # a full refresh: jobs may have changed unseen
        self._show()
        self._after_select(done)
        self._ordered(started)

    def _ordered(self, started: float) -> None:
        self._order_cost = perf_counter() - started
        self._ordered_at = monotonic()

    def _loading(self) -> bool:
        """A big read is under way and this list is big enough for its ordering to be put off."""
        return len(self.order.full) >= LOADING_MIN and bool(getattr(self.app, "loading", False))

    def _put_off(self, dirty: set[Job]) -> bool:
        """While loading, keep ``dirty`` for later if the list was put in order too recently
        (True); a timer orders it when the time comes, should no tick come then."""
        if not self._loading():
            return False
        now = monotonic()
        wait = max(self._ordered_at + self._order_cost * LOADING_DUTY,
                   self.app.last_key_at + KEYS_FIRST) - now
        if wait <= 0:
            return False
        if self.store.layout_version != self._layout_seen:
            self._held_rebuild = True
        if not self._held_rebuild:
            self._held |= dirty
            # Half of them: building again costs less (new jobs are placed, not sorted again:
            # JobOrder._grow; at 1 in 8, a 1M-job load's screen spent 10.1 s of CPU, at 1 in 2 8.6 s)
            if len(self._held) * 2 > len(self.order.full):
                self._held_rebuild = True
        if self._held_rebuild:
            self._held.clear()
        if self._flush_timer is None:  # looked at again each second: the load may end before
            self._flush_timer = self.set_timer(min(wait, 1.0), self._flush)
        return True

    @property
    def behind(self) -> bool:
        """Changes are put off while loading: the rows are not all the store has yet."""
        return bool(self._held) or self._held_rebuild

    def _flush(self) -> None:
        self._flush_timer = None
        if self._held or self._held_rebuild:
            with self.store.lock:
                self.update_dirty(set())

    def _measure(self, now) -> None:
        """Which workflows the scope holds and how wide its text columns'
        values are, on a sample spread over the scope (not per sort: the
        columns stay put as the order changes), and the columns laid out
        again for them."""
        store = self.store
        wf = self.scope_wf
        self._multi = len(store.workflows) > 1 if wf is None else bool(wf.children)
        self._names = unique_names(store.workflows.values()) if self._multi else {}
        full = self.order.full
        self._measured = len(full)
        sample = full[::max(1, len(full) // MEASURE_SAMPLE)]
        cell = self._cell
        self._content = {key: max((len(cell(key, j, now)[0]) for j in sample), default=0)
                         for key in registry.text_columns()}
        self._relayout()

    def _reselect(self) -> None:
        """The filter changed: pick rows from the sorted scope again."""
        if self.store.layout_version != self._layout_seen:
            self.rebuild()
            return
        with self.store.lock:
            done = self.order.select(self._selection(), **self._scan_options())
        # A narrower selection starts at its top (its rows may still be coming
        # in); a wider one keeps the cursor on its job.
        self._show(top=bool(self.order.selection))
        self._after_select(done)

    def _resort(self, col: str) -> None:
        """Order the same jobs by another column: who is in the list has not
        changed, so nothing is filtered again."""
        if self.store.layout_version != self._layout_seen:
            self.order.col = col
            self.rebuild()
            return
        with self.store.lock:
            done = self.order.sort_by(col, self.now(), self.store.active, **self._scan_options())
        self._show()
        self._after_select(done)

    @property
    def filtering(self) -> float | None:
        """How much of the scope a filter still being applied has tested (None: done)."""
        return self.order.scanned if self.order.pending else None

    def _after_select(self, done: bool) -> None:
        self._scan_gen += 1
        if not done:
            self.call_after_refresh(self._scan_step, self._scan_gen)
        self.post_message(self.Scanned(self))
        self._start_warming()

    def _scan_step(self, gen: int) -> None:
        if gen != self._scan_gen or not self.order.pending:
            return  # another selection took its place
        with self.store.lock:
            done = self.order.select_more(SCAN_STEP)
        self._show()
        self.post_message(self.Scanned(self))
        if not done:
            self.call_after_refresh(self._scan_step, gen)

    def _finish_scan(self) -> bool:
        """Apply the rest of a filter now (False: there was none to apply)."""
        if not self.order.pending:
            return False
        self._scan_gen += 1
        with self.store.lock:
            self.order.finish()
        self.post_message(self.Scanned(self))
        return True

    def _start_warming(self) -> None:
        if self._warm_timer is None and self.is_mounted and self.order.cold:
            self._warm_timer = self.set_interval(WARM_EVERY, self._warm_step)

    def _freshen_soon(self) -> None:
        if not self._freshen_due:
            self._freshen_due = True
            self.call_after_refresh(self._freshen_next)

    def _freshen_next(self) -> None:
        """After a sort's frame, while the user reads it: the columns ``s`` and ``S`` go to
        next moved in their kept orders by the jobs changed since (JobOrder.freshen), so
        the next such key has little to re-key and move.  With 10k running jobs sampled
        each second that was 10-30 ms of a sort key's 25-55 ms (bench_live).  After each
        tick too cost more than it saved: nav keys fed p95 56 against 30 ms, loop lag p99
        29 against 9 ms (3 alternated pairs).  Not a column that moves with time: it
        re-keys its running jobs when sorted by anyway."""
        self._freshen_due = False
        if self.order.pending or self._loading() or not self.is_mounted:
            return
        sortable = registry.sortable()
        if self.sort_col not in sortable:
            return
        i = sortable.index(self.sort_col)
        ahead = {sortable[(i + 1) % len(sortable)], sortable[i - 1]} - registry.timed()
        with self.store.lock:
            now = self.now()
            for col in ahead:
                self.order.freshen(col, now)

    def _warm_step(self) -> None:
        """Prepare other columns' sort keys and orders, a little at a time while idle."""
        if self.order.pending or self._loading():
            return  # the filter's steps come first; while loading, the keys would not last
        with self.store.lock:
            done = self.order.warm(self.now(), WARM_STEP)
        if done and self._warm_timer is not None:
            self._warm_timer.stop()
            self._warm_timer = None

    def update_dirty(self, dirty: set[Job]) -> None:
        """Apply the store's changes since the last tick (store lock held by caller)."""
        if self.candidates is not None and dirty:
            # A list of a few (the failed jobs): only those and the ones it shows (which may have
            # left them) matter, a set intersection in C rather than a scope test a changed job
            # (a 1M-job load changes each job ~3 times; py-spy put 119 of the screen's 2,273
            # samples in the failures list's test).
            few = set(self.candidates())
            few.update(self.order.full)
            dirty = dirty & few
        if self._put_off(dirty):
            for job in dirty:
                self._strips.pop(job, None)
            self._repaint_visible(dirty, ())
            return
        if self._held_rebuild or self.store.layout_version != self._layout_seen:
            self.rebuild()
            return
        started = perf_counter()
        if self._held:
            dirty = dirty | self._held
            self._held = set()
        now = self.now()
        # Running jobs' TIME column (and, sorted by it, their place) moves
        # when the clock does, without the jobs changing.
        moving = self.store.active if now != self._tick_now else set()
        self._tick_now = now
        strips = self._strips
        for job in dirty:
            strips.pop(job, None)
        for job in moving:
            strips.pop(job, None)
        changed = dirty | moving if self.order.col in registry.timed() and moving else dirty
        finished = self._finish_scan() if changed else False
        if self.order.update(changed, self._in_scope, now) or finished:
            if len(self.order.full) > 2 * self._measured:
                self._measure(now)  # the jobs came since a rebuild: their texts may be wider
            self._show()
            self._start_warming()  # after a change of scope, columns' keys are prepared again
            self._ordered(started)
            return
        self._ordered(started)
        self._repaint_visible(dirty, moving, now)

    def _repaint_visible(self, dirty, moving, now=None) -> None:
        """The same rows in the same places: repaint the visible ones that
        changed, not the whole list (a tick with nothing new paints nothing)."""
        top = self.scroll_offset.y
        for y, job in enumerate(self.rows[top:top + self.size.height], top):
            if job in dirty or (job in moving and self._time_moved(job, now)):
                self.refresh_line(y)

    def _time_moved(self, job: Job, now) -> bool:
        """A running job's TIME text changed since its row was painted: a duration in
        days moves hourly, and repainting every running row each tick cost 1.5 % of a core idle."""
        text = human_duration(job.duration(now))
        if self._time_shown.get(job) == text:
            return False
        if len(self._time_shown) > STRIP_CACHE:
            self._time_shown.clear()
        self._time_shown[job] = text
        return True

    def _in_scope_wf(self, job: Job) -> bool:
        wf = self.scope[0]
        w = job.wf
        while w is not None:
            if w is wf:
                return True
            w = self.store.workflows.get(w.parent_uuid) if w.parent_uuid else None
        return False

    def _show(self, top: bool = False) -> None:
        # A row's rendering depends on its job and the width, not on where it
        # sits: the strip cache survives sorts, filters and updates (changed
        # jobs' strips are dropped as they change).
        rows = self.order.rows
        self._set_rows(rows[::-1] if self.reverse else rows, top)

    def _set_rows(self, rows: list[Job], top: bool = False) -> None:
        """Show ``rows``, the cursor on the job it was on, or on the first
        row when ``top`` or when it was there: a list watched from its top
        (as it opens, and after ``g``) shows what comes first, problems first,
        as the order changes; a cursor moved down follows its job."""
        selected = self._last_job
        at_top = self.cursor == 0 and self.scroll_offset.y == 0
        self.rows = rows
        self._set_row_count(len(rows))
        if top or at_top:
            if self.cursor:
                self.cursor = 0
            if self.scroll_offset.y:
                self.scroll_to(y=0, animate=False)
        elif selected is not None:
            # Keep the cursor on the same job when rows move under it.
            idx = self.order.index_of(selected)
            if idx is not None and self.reverse:
                idx = len(rows) - 1 - idx
            if idx is None:
                if self.cursor >= len(rows):
                    self.cursor = max(0, len(rows) - 1)
            elif idx != self.cursor:
                self.cursor = idx
                self.scroll_to_cursor()
        elif self.cursor >= len(rows):
            self.cursor = max(0, len(rows) - 1)
        self.refresh()
        self._emit_highlight()

    def _set_row_count(self, n: int) -> None:
        size = Size(self.scrollable_content_region.width, n)
        if size == self.virtual_size:
            return
        if self._layout and self.show_vertical_scrollbar:
            # Setting virtual_size lays out the whole screen (30-50 ms at
            # 160x50), though only the scrollbar's thumb changes (the bar is
            # always there, so the columns never move as rows come and go):
            # update the thumb and repaint this widget.
            set_virtual_size_without_layout(self, size)
        else:
            self.virtual_size = size

    # -- configuration from the app --------------------------------------
    def set_scope(self, wf, state=None) -> None:
        self.scope = (wf, state) if (wf is not None or state is not None) else None
        self.rebuild()

    def set_query(self, query: Query | None) -> None:
        self.query = None if query is None or query.empty else query
        self._reselect()

    def clear_filters(self) -> None:
        self.query = None
        self.problems_only = False
        self._reselect()

    def toggle_problems(self) -> bool:
        self.problems_only = not self.problems_only
        self._reselect()
        return self.problems_only

    def cycle_sort(self, step: int = 1) -> str:
        sortable = registry.sortable()
        i = sortable.index(self.sort_col) if self.sort_col in sortable else 0
        col = sortable[(i + step) % len(sortable)]
        self.sort_by(col)
        return col

    def sort_by(self, col: str) -> None:
        """Sort by a column, biggest first where big is interesting."""
        self.reverse = col in registry.descending()
        self._resort(col)
        self._freshen_soon()
        self._relayout()  # a column left out for room shows while it is sorted by
        self._update_header()

    def toggle_reverse(self) -> None:
        # The order is ascending by (key, arrival), no two alike: the other
        # direction is the same rows reversed.
        self.reverse = not self.reverse
        self._finish_scan()  # it scanned from the end shown first
        self._show()
        self._update_header()

    # -- cursor ----------------------------------------------------------
    @property
    def current(self) -> Job | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    def select_job(self, job: Job) -> bool:
        try:
            idx = self.rows.index(job)
        except ValueError:
            return False
        self.cursor = idx
        self.scroll_to_cursor()
        return True

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(old)
        self.refresh_line(new)
        self._emit_highlight()

    def _emit_highlight(self) -> None:
        job = self.current
        if job is not self._last_job:
            self._last_job = job
            self.post_message(self.Highlighted(self, job))

    def scroll_to_cursor(self) -> None:
        h = self.scrollable_content_region.height or 1
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))
            self.scroll_to_cursor()

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor = 0 if where == 0 else len(self.rows) - 1
            self.scroll_to_cursor()

    def action_open(self) -> None:
        job = self.current
        if job is not None:
            self.post_message(self.Opened(self, job))

    def on_click(self, event) -> None:
        row = event.y + self.scroll_offset.y
        if 0 <= row < len(self.rows):
            self.cursor = row
            if event.chain >= 2:
                self.action_open()

    # -- layout and rendering --------------------------------------------
    def on_resize(self, event) -> None:
        width = self.scrollable_content_region.width or event.size.width
        self._compute_layout(width)
        self.virtual_size = Size(width, len(self.rows))

    @property
    def shown_columns(self) -> tuple[Column, ...]:
        """The columns the list may show: not turned off, and the workflow
        column only while the scope holds several workflows."""
        return tuple(c for c in self.columns if c.key not in self.hidden and (self._multi or not c.several_workflows))

    def set_hidden(self, hidden: set[str]) -> None:
        self.hidden = set(hidden) - {"id"}
        self._relayout()

    def _compute_layout(self, width: int) -> bool:
        """Widths from content within ``width`` (see ui/screens/columns.allocate);
        True when the columns moved."""
        self._layout_width = width
        content = self._content
        wants = {c.key: max(c.width, min(c.cap, content.get(c.key, 0), width)) if c.cap else c.width
                 for c in self.columns}
        # The sorted column shows whatever its rank, after the three that matter
        # most (state, id, status): its title carries the arrow.
        ranked = registry.priority()
        first = (*ranked[:3], self.sort_col, *ranked)
        # The job id first gets a third of the width (at least ID_FIRST), then the others theirs.
        layout = allocate(self.shown_columns, wants, width - 1, first, max(ID_FIRST, width // 3))
        moved = layout != self._layout
        if moved:
            self._layout = layout
            self._strips.clear()
        self._update_header()
        return moved

    def _grow(self, key: str, width: int) -> None:
        """A value wider than its text column was measured came into view (a
        host once jobs run): the column widens to it, as far as it can."""
        if width > self._content.get(key, 0):
            self._content[key] = width
            if not self._regrow:
                self._regrow = True
                self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        self._regrow = False
        if self._layout_width > 0 and self._compute_layout(self._layout_width):
            self.refresh()

    def on_header(self, callback: Callable[[str], None]) -> None:
        self._header_cb = callback
        self._update_header()

    def header_text(self) -> str:
        parts = []
        # Sorted by state, the arrow goes on the STATE label, not the glyph column.
        marked = "status" if self.sort_col == "state" and any(c.key == "status" for c, _ in self._layout) \
            else self.sort_col
        for col, w in self._layout:
            title = col.title if len(col.title) <= w or not col.short else col.short
            if col.key == marked:
                # The arrow stays when the column is narrow: the title gives way.
                title = title[:w - 1] + self.sort_arrow
            parts.append(title.rjust(w) if col.right else title.ljust(w))
        return " " + " ".join(p[:w] for p, (_, w) in zip(parts, self._layout))

    def _update_header(self) -> None:
        if self._header_cb is not None and self._layout:
            self._header_cb(self.header_text())

    def render_line(self, y: int) -> Strip:
        row = y + self.scroll_offset.y
        width = self.size.width
        content = self.scrollable_content_region.width
        if content != self._layout_width:
            # The vertical scrollbar comes and goes with the row count, not
            # with a resize: lay the columns out for the width there is now.
            self._compute_layout(content)
        if row >= len(self.rows) or not self._layout:
            return Strip.blank(width, self.rich_style)  # never a None style: NO_COLOR's filter needs one
        job = self.rows[row]
        selected = row == self.cursor
        if not selected:
            # Scrolling repaints every visible line; most did not change.
            cached = self._strips.get(job)
            if cached is not None and cached[0] == width:
                return cached[1]
        segs = self._row_segments(job, selected and self.has_focus, selected)
        pad = Style(reverse=True) if selected else self.rich_style
        strip = Strip(segs).adjust_cell_length(width, pad).crop(0, width)
        if not selected:
            if len(self._strips) > STRIP_CACHE:
                self._strips.clear()
            self._strips[job] = (width, strip)
        return strip

    def _cell(self, key: str, job: Job, now):
        """A cell's text and style (the column's value class, coloured by the theme)."""
        text, cls = registry.column(key).cell(job, now, self._names)
        return text, cell_style(cls)

    def _row_segments(self, job: Job, focused: bool, selected: bool) -> list[Segment]:
        now = self.now()
        base = Style(reverse=True) if selected else Style()
        if selected and not focused:
            base = Style(bgcolor="grey30") if not self.app.no_color else Style(reverse=True)
        segs = [Segment(" ", base)]
        for col, w in self._layout:
            text, cls = col.cell(job, now, self._names)
            style = cell_style(cls)
            if len(text) > w:
                if col.cap:
                    self._grow(col.key, len(text))
                text = text[: w - 1] + "…" if w > 1 else text[:w]
            text = text.rjust(w) if col.right else text.ljust(w)
            segs.append(Segment(text, base + style if style else base))
            segs.append(Segment(" ", base))
        return segs
