"""The filter box, always on the status line.

Showing or hiding a widget lays out the whole screen (30-50 ms at 160x50),
and a box that appeared on ``/`` and went away on enter paid that twice per
filter.  This one never moves: ``/`` (or a click) gives it the focus, enter
or esc hands the focus back, and between filters it shows the one in force.
It is not a tab stop, so tab still goes round the panes.

The app applies what is typed as it is typed (once the keys pause); enter
keeps it and adds it to the box's history, which up and down walk; esc (or
leaving the box) goes back to the filter kept last.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from ...compat.textual import virtual_size_without_layout
from ..keys import Keys

HISTORY = 20  # filters kept for up/down, this session only
_HISTORY = Keys("in the filter box: the filters entered before, newest first", section="Finding")


class FilterBox(Input):
    DEFAULT_CSS = """
    FilterBox, FilterBox:focus {
        width: 30%; max-width: 60; height: 1; border: none; padding: 0 1;
        background: $panel;
    }
    FilterBox:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("up", "history(-1)", "Older filter", show=False, group=_HISTORY),
        Binding("down", "history(1)", "Newer filter", show=False, group=_HISTORY),
    ]

    can_focus = False
    # An Input sets its virtual size to its text's width on every change,
    # which lays out the whole screen per key typed (and per filter cleared).
    # This box has a fixed size and no scrollbars: the text's width only
    # decides how far it scrolls sideways, which is read when painting.
    virtual_size = virtual_size_without_layout()

    def __init__(self, **kw):
        super().__init__(placeholder="/ filter: text, state=failed host~node1 exit!=0 tries>1", **kw)
        self.applied = ""  # the filter kept (enter), shown while the box is closed
        self.history: list[str] = []  # oldest first
        self._walk: int | None = None  # the history entry shown, None: the user's own text
        self._draft = ""  # the user's own text while walking the history

    def open(self) -> None:
        self.can_focus = True
        self._walk = None
        self.value = self.applied
        self.cursor_position = len(self.value)
        self.focus()

    def close(self, applied: str | None = None) -> None:
        """Back to showing the filter in force (``applied`` when it changed)."""
        if applied is not None:
            self.applied = applied
        self.value = self.applied
        self.can_focus = False

    def remember(self, text: str) -> None:
        """A filter entered: the newest in the history (once)."""
        text = text.strip()
        if text:
            if text in self.history:
                self.history.remove(text)
            self.history.append(text)
            del self.history[:-HISTORY]
        self._walk = None

    def action_history(self, step: int) -> None:
        """Show an older (-1) or newer (+1) filter; past the newest, the user's own text."""
        if self._walk is None:
            if step > 0 or not self.history:
                return
            self._draft = self.value
            at = len(self.history) - 1
        else:
            at = max(0, self._walk + step)
        if at >= len(self.history):
            self._walk = None
            self.value = self._draft
        else:
            self._walk = at
            self.value = self.history[at]
        self.cursor_position = len(self.value)

    def on_blur(self) -> None:
        self.close()

    def on_click(self) -> None:
        if not self.has_focus:
            self.open()
