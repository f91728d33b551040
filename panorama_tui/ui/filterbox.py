"""The filter box, always on the status line.

Showing or hiding a widget lays out the whole screen (30-50 ms at 160x50),
and a box that appeared on ``/`` and went away on enter paid that twice per
filter.  This one never moves: ``/`` (or a click) gives it the focus, enter
or esc hands the focus back, and between filters it shows the one in force.
It is not a tab stop, so tab still goes round the panes.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input


class FilterBox(Input):
    DEFAULT_CSS = """
    FilterBox, FilterBox:focus {
        width: 30%; max-width: 60; height: 1; border: none; padding: 0 1;
        background: $panel;
    }
    FilterBox:focus { background: $boost; }
    """

    can_focus = False
    # An Input sets its virtual size to its text's width on every change,
    # which lays out the whole screen per key typed (and per filter cleared).
    # This box has a fixed size and no scrollbars: the text's width only
    # decides how far it scrolls sideways, which is read when painting.
    virtual_size = Reactive(Size(0, 0), layout=False)

    def __init__(self, **kw):
        super().__init__(placeholder="/ filter: text, state=failed host~node1 exit!=0 tries>1", **kw)
        self.applied = ""  # the filter in force, shown while the box is closed

    def open(self) -> None:
        self.can_focus = True
        self.value = self.applied
        self.cursor_position = len(self.value)
        self.focus()

    def close(self, applied: str | None = None) -> None:
        """Back to showing the filter in force (``applied`` when it changed)."""
        if applied is not None:
            self.applied = applied
        self.value = self.applied
        self.can_focus = False

    def on_blur(self) -> None:
        self.close()

    def on_click(self) -> None:
        if not self.has_focus:
            self.open()
