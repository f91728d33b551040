"""What the DAG, Gantt and resources screens share: a title line, a scrolling
text body redrawn every few seconds from the store, esc / q back.

The body is one ``Static`` of rich ``Text``: a few hundred lines at most (the
views aggregate past a screenful), so one text is cheaper than a widget per
row.  The scope is the main screen's: the workflow chosen in the tree, else
the selected job's, else every run in the store.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...core.parsl_events import TASK_STATES
from ...model.entities import Job, Workflow
from ...model.handlers import parsl as pm
from ...model.states import JobState
from ..theme import STATE_MARKUP
from ..widgets.keybar import KeyBar

if TYPE_CHECKING:
    from ..app import PanoramaApp

REFRESH_SECONDS = 2.0  # each view walks every task of its run: not every tick
# A view that took d seconds to draw waits at least REDRAW_FACTOR x d before the next: it
# holds the store's lock while it draws (ingest waits), and at 100k tasks a draw took
# 0.8 s (DAG), 2.8 s (Gantt), 1.7 s (resources) on the loaded 2-core machine (medians of
# 3, load ~9), so a view costs the reader at most a fifth of the time.
REDRAW_FACTOR = 5.0


def parsl_state_style(state: str | None) -> str:
    """A Parsl state's colour: its JobState's (pending dim, launched blue, failed red, ...)."""
    if state is None:
        return "dim"
    return STATE_MARKUP[pm.job_state(state, False)]


def parsl_state_glyph(state: str | None) -> str:
    return "·" if state is None else pm.job_state(state, False).glyph


def state_counts_text(states, order=(*TASK_STATES, None)) -> Text:
    """``✓ exec_done 10  ✗ failed 2``: Parsl states and their counts, coloured, in Parsl's order."""
    out = Text()
    for state in order:
        n = states.get(state, 0)
        if not n:
            continue
        if out:
            out.append("  ")
        out.append(f"{parsl_state_glyph(state)} {state or 'no status'} {n}", style=parsl_state_style(state))
    return out


def job_state_style(state: JobState | None) -> str:
    return "dim" if state is None else STATE_MARKUP[state]


class RunViewScreen(Screen):
    """A full-screen view of the store's runs; subclasses say what ``body`` draws."""

    TITLE_TEXT = ""
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"), Binding("r", "redraw", "Redraw")]
    DEFAULT_CSS = """
    RunViewScreen #view-title { height: 1; background: $panel; text-style: bold; }
    RunViewScreen #view-scroll { height: 1fr; }
    RunViewScreen #view-body { padding: 0 1; }
    """

    def __init__(self, wf: Workflow | None = None, job: Job | None = None):
        super().__init__()
        self.wf = wf
        self.job = job
        self._drawn_in = 0.0  # seconds the last draw took
        self._drawn = None  # (store version, width, height) when last drawn
        self._next = 0.0  # monotonic time before which no tick redraws

    def compose(self) -> ComposeResult:
        yield Static(Text(f" {self.TITLE_TEXT}", style="bold"), id="view-title")
        with VerticalScroll(id="view-scroll"):
            yield Static("", id="view-body")
        yield KeyBar()

    def on_mount(self) -> None:
        self.action_redraw()
        self.set_interval(REFRESH_SECONDS, self._tick)

    def on_resize(self) -> None:
        if self._drawn is not None and self._drawn[1:] != (self.size.width, self.size.height):
            self.action_redraw()

    def _tick(self) -> None:
        """Redraw when the store or the size changed, at most every REFRESH_SECONDS and
        REDRAW_FACTOR times the last draw's time: an ended run is drawn once."""
        app: PanoramaApp = self.app  # type: ignore[assignment]
        if getattr(app, "view_paused", False) or time.monotonic() < self._next:
            return
        if self._drawn != (app.store.version, self.size.width, self.size.height):
            self.action_redraw()

    def scope(self) -> list[Workflow]:
        """The workflows to show: the chosen one, else the selected job's (with their
        sub-workflows: a Pegasus job's Gantt), else all of them."""
        store = self.app.store  # type: ignore[attr-defined]
        for wf in (self.wf, self.job.wf if self.job is not None else None):
            if wf is not None and wf.wf_uuid in store.workflows:
                wf = store.workflows[wf.wf_uuid]
                return [wf, *store.descendants(wf)]
        return sorted(store.workflows.values(), key=lambda w: (w.start_ts or 0, w.wf_uuid))

    def action_redraw(self) -> None:
        app = self.app
        width = max(40, self.size.width - 2)
        started = time.monotonic()
        with app.store.lock:  # type: ignore[attr-defined]
            self._drawn = (app.store.version, self.size.width, self.size.height)  # type: ignore[attr-defined]
            body = self.body(self.scope(), width)
        done = time.monotonic()
        self._drawn_in = done - started
        self._next = done + max(REFRESH_SECONDS, REDRAW_FACTOR * self._drawn_in)
        self.query_one("#view-body", Static).update(body)

    def body(self, workflows: list[Workflow], width: int) -> RenderableType:  # pragma: no cover - abstract
        raise NotImplementedError

    def now(self) -> float | None:
        now = getattr(self.app, "now", None)
        return now() if callable(now) else None
