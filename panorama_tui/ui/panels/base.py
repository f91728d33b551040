"""What the screen asks of a panel: where it is shown, how often it may redraw,
and how it redraws from the store's changes.

The App keeps a list of panels and, each tick, hands every shown one the jobs
changed since the last tick (its cursor on the store's change feed) and whether
to redraw in full; it knows nothing of what a panel draws, nor when it last did.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual.worker import WorkerState

from ...model.snapshot import StoreSnapshot

if TYPE_CHECKING:
    from ...model.entities import Job
    from ..app import PanoramaApp


# plotext draws on one global figure: the timeline's worker and the UI thread's
# trace plot take turns.
CHART_LOCK = threading.Lock()


class Panel:
    """A part of the screen the refresh tick keeps current (a controller, not a
    widget: it finds its widgets by id, so the screen's layout is the App's)."""

    # The tab (of the App's TabbedContent) that shows it; None: always shown.
    tab: ClassVar[str | None] = None
    # At least this many seconds between two redraws, unless in full or urgent():
    # for panels whose redraw walks the whole store or draws a chart.
    budget: ClassVar[float] = 0.0

    def __init__(self, app: PanoramaApp):
        self.app = app
        self.store = app.store
        self.refreshed_at = float("-inf")  # time.monotonic() of the last redraw

    def shown(self, active_tab: str | None) -> bool:
        return self.tab is None or self.tab == active_tab

    def hidden(self) -> None:
        """Its tab was left: what it keeps only to be redrawn may go."""

    def urgent(self) -> bool:
        """Redraw now whatever the budget (its size or subject changed)."""
        return False

    def tick(self, changes: set[Job], full: bool) -> None:
        """The App's call, store lock held: redraw if the budget allows."""
        now = time.monotonic()
        if (full or self.budget <= 0 or now - self.refreshed_at >= self.budget or self.urgent()) \
                and self.refresh_from(changes, full) is not False:
            self.refreshed_at = now

    def refresh_from(self, changes: set[Job], full: bool) -> bool | None:
        """Redraw from ``changes`` (the jobs changed since the last tick; all of
        them may have changed when ``full``), store lock held.  False: nothing was
        redrawn, so the budget does not start again."""
        raise NotImplementedError


class OffThreadPanel(Panel):
    """A panel whose redraw walks the whole store (statistics, timeline).

    A tick only starts a worker thread, which reads and draws; the UI thread only
    puts the result on screen (the App hands the worker's end to :meth:`landed`).
    A panel with a :attr:`snapshot` (:class:`~panorama_tui.model.snapshot.StoreSnapshot`)
    holds the store's lock only to copy the jobs changed since its last redraw, and
    reads its copy without the lock: ingest never waits for the walk.  Without one
    (statistics: they read far more than a snapshot copies) the worker reads the
    store under its lock, so ingest and a tick that comes meanwhile wait for that
    reading as they waited for the tick's own; what is drawn from it is drawn
    outside the lock.  A full refresh (the tab just shown, a new
    input) reads the store at once, as the first look at a tab must not show the
    previous figures.  One worker at a time; a draw made after a worker started
    wins over that worker's."""

    uses_snapshot: ClassVar[bool] = False

    def __init__(self, app: PanoramaApp):
        super().__init__(app)
        self.group = f"panel-{type(self).__name__}"
        self._running = False
        self._drawn = 0  # numbers each draw started: a worker's result older than the screen's is dropped
        self.snapshot: StoreSnapshot | None = None  # made by the first worker, dropped when the tab is left

    def arguments(self) -> tuple:
        """What the drawing needs from the UI (the scope, the clock, the size), read on the UI thread."""
        return ()

    def read(self, source, *args):
        """The store's part of the drawing, from ``source``: the store (its lock held,
        in a worker or the tick), or this panel's snapshot (no lock, in its worker)."""
        raise NotImplementedError

    def render(self, data, *args):
        """What is shown, from :meth:`read`'s answer; no lock needed."""
        return data

    def show(self, renderable) -> None:
        """Put it on screen (UI thread)."""
        raise NotImplementedError

    def in_worker(self) -> bool:
        """False when this refresh must run on the UI thread (it starts other workers)."""
        return True

    def refresh_from(self, changes: set[Job], full: bool) -> bool | None:
        args = self.arguments()
        if full or not self.in_worker():
            self._drawn += 1
            self.show(self.render(self.read(self.store, *args), *args))
            return None
        if self._running:
            return False  # the budget starts again when a redraw starts
        self._running = True
        self._drawn += 1
        self.app.run_worker(partial(self._work, self._drawn, args), thread=True, group=self.group,
                            exit_on_error=False)
        return None

    def hidden(self) -> None:
        self.snapshot = None  # its cursor goes with it: the feed keeps no changes for it

    def _work(self, number: int, args: tuple):
        snapshot = self.snapshot
        if self.uses_snapshot and snapshot is None:
            snapshot = self.snapshot = StoreSnapshot(self.store)
        with self.store.lock:
            if snapshot is None:
                data = self.read(self.store, *args)
            else:
                snapshot.update()
        if snapshot is not None:
            data = self.read(snapshot, *args)  # the lock is free: ingest goes on
        return number, self.render(data, *args)

    def landed(self, worker) -> None:
        """The App's call when this panel's worker ended (UI thread)."""
        self._running = False
        if worker.state == WorkerState.SUCCESS:
            number, renderable = worker.result
            if number == self._drawn:
                self.show(renderable)
        else:  # a drawing bug: said as the tick says its own, and the tick goes on
            self.app.report_refresh_error(worker.error)
