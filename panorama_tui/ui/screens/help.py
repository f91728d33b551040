"""The help screen, made from the key bindings (ui/keys.py).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keys import Row, help_text


class HelpScreen(ModalScreen):
    """The keys, scrolling when the terminal is small (80x24)."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, rows: list[Row]):
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(self.rows), id="help-text")
