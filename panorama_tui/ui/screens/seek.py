"""Seeking a replay to a time: the dialog, and what a typed time means.
"""

from __future__ import annotations

import re
import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input


class SeekScreen(ModalScreen[str]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="seek to HH:MM:SS, YYYY-mm-dd HH:MM:SS, +30s or -5m", id="seek")

    @on(Input.Submitted)
    def done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)


def parse_seek(text: str, position: float | None, start: float | None) -> float | None:
    """A replay target from what the user typed; None when it is not a time."""
    text = text.strip()
    m = re.fullmatch(r"([+-])(\d+(?:\.\d+)?)([smh]?)", text)
    if m and position is not None:
        mult = {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(3)]
        delta = float(m.group(2)) * mult
        return position + (delta if m.group(1) == "+" else -delta)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return time.mktime(time.strptime(text, fmt))
        except ValueError:
            pass
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if m and start is not None:
        base = time.localtime(start)
        target = time.mktime(
            (base.tm_year, base.tm_mon, base.tm_mday, int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), 0, 0, -1)
        )
        if target < start - 1:
            target += 86400  # the replay crossed midnight
        return target
    return None
