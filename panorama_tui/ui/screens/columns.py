"""Fitting lines to the width there is: the job list's column widths, whole
fields of a status line, and the column chooser (htop's setup screen).

Widths come from content, not from a table of constants: a column is as wide
as what it shows (up to a cap), the job id gets its space first, the other
columns follow by how much they matter, and what does not fit is left out
whole rather than cut mid-word.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection


def allocate(columns: Sequence, wants: dict[str, int], width: int, first: Sequence[str],
             id_first: int) -> list[tuple[object, int]]:
    """Widths for ``columns`` (in the order shown) within ``width`` cells, a
    space before each, given in the order ``first`` names them: each gets
    ``wants[key]``, except the flexible column (the job id), which first gets
    at most ``id_first`` and at the end whatever is left over.  A text column
    (one with a ``cap``) that does not fit whole takes the room left when that
    is at least two thirds of what it wants (and its least width); else it
    waits until the others are placed and takes what is left then, if that is
    at least its least width.  Columns that do not fit are left out whole."""
    by_key = {c.key: c for c in columns}
    order = [by_key[k] for k in dict.fromkeys([*first, *by_key]) if k in by_key]
    left = width
    chosen: dict[str, int] = {}
    waiting = []
    flex = None
    for col in order:
        want = wants[col.key]
        if col.flex:
            flex = col
            want = min(want, id_first)
        room = left - 1
        if want <= room:
            chosen[col.key] = want
        elif col.cap and room >= max(col.width, want * 2 // 3):
            chosen[col.key] = room
        elif col.cap:
            waiting.append(col)
            continue
        else:
            continue
        left -= chosen[col.key] + 1
    for col in waiting:
        if left - 1 >= col.width:
            chosen[col.key] = min(wants[col.key], left - 1)
            left -= chosen[col.key] + 1
    if flex is not None and flex.key in chosen:
        chosen[flex.key] += max(0, left)  # the job id takes what is left: the columns stay put at the right
    return [(c, chosen[c.key]) for c in columns if c.key in chosen]


def fit_fields(fields: Iterable[str], width: int, sep: str = " │ ") -> str:
    """``fields`` (console markup), joined by ``sep``, as many as fit in
    ``width`` cells: whole fields are dropped from the right (the least
    important come last), never one cut in the middle.  The first always
    stays (what is shown must be said)."""
    fields = list(fields)
    cells = [Text.from_markup(f).cell_len for f in fields]
    keep = len(fields)
    while keep > 1 and sum(cells[:keep]) + len(sep) * (keep - 1) > width:
        keep -= 1
    return sep.join(fields[:keep])


class ColumnsScreen(ModalScreen[set]):
    """Which of the job list's columns to show (space or enter toggles, esc
    or c closes): the result is the set of the hidden columns' keys."""

    BINDINGS = [
        Binding("escape,c", "done", "Close"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
    ]

    def __init__(self, columns: Sequence, hidden: set[str], fixed: set[str]):
        super().__init__()
        self.columns = columns
        self.hidden = hidden
        self.fixed = fixed  # always shown

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Columns[/b]  [dim]space shows / hides, esc closes[/dim]")
            yield SelectionList[str](
                *(Selection(c.title, c.key, c.key not in self.hidden, disabled=c.key in self.fixed)
                  for c in self.columns),
                id="columns",
            )

    def action_move(self, step: int) -> None:
        picker = self.query_one(SelectionList)
        picker.action_cursor_down() if step > 0 else picker.action_cursor_up()

    def action_done(self) -> None:
        shown = set(self.query_one(SelectionList).selected)
        self.dismiss({c.key for c in self.columns} - shown - self.fixed)
