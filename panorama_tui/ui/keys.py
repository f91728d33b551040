"""The keys' help, made from the key bindings, so that it cannot drift.

Each binding carries a :class:`Keys` group: one line of help, under a
section.  The help screen and README's key table (``scripts/keys_table.py``
writes it, a test compares) list the groups of the main screen's bindings
in order, each with the keys of every binding in it.  A binding without a
group has no line: a test makes sure the main screen has none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.keys import format_key

from ..views.query import FIELDS, PROBLEMS

SECTIONS = ("Moving", "Finding", "Panels", "Watching", "Replay")


@dataclass(frozen=True)
class Keys(Binding.Group):
    """One line of help: the keys of the bindings in this group, and what they do."""

    section: str = ""

# Lines of help shared by bindings of more than one class.
MOVE = Keys("move in the job list or the tree", section="Moving")

NEXT_PANE = Keys("next / previous pane (tree, job list, panels)", section="Moving")

PALETTE = Keys("command palette: every action by name", section="Watching")

PROBLEM_LABELS = ", ".join(state.label for state in sorted(PROBLEMS))

FILTER_TERMS = (
    f"terms, ANDed: field=value, != (not), ~ (regex), !~ (no match), > < >= <= (numbers); "
    f"fields: {' '.join(FIELDS)}; state=problems: {PROBLEM_LABELS}; a bare word is a regex over job id, "
    "transformation, host and site. e.g. state=failed host~node1 exit!=0 tries>1 xform~blast"
)


@dataclass(frozen=True)
class Row:
    section: str
    keys: str
    text: str


def documented_bindings() -> list[Binding]:
    """The main screen's bindings, in the help's order: the job list's, the
    app's, the tree's, the filter box's, then Textual's own (tab, the
    command palette)."""
    from textual.screen import Screen

    from .app import PanoramaApp
    from .panels.tree import WorkflowTree
    from .widgets.filterbox import FilterBox
    from .widgets.joblist import JobList

    textual_groups = {"app.focus_next": NEXT_PANE, "app.focus_previous": NEXT_PANE}
    textual = [replace(b, group=textual_groups[b.action])
               for b in Binding.make_bindings(Screen.BINDINGS) if b.action in textual_groups]
    palette = Binding(PanoramaApp.COMMAND_PALETTE_BINDING, "app.command_palette", group=PALETTE)
    return [*JobList.BINDINGS, *PanoramaApp.BINDINGS, *WorkflowTree.BINDINGS, *FilterBox.BINDINGS, *textual, palette]


def key_label(key: str) -> str:
    return "enter" if key == "enter" else format_key(key)


def help_rows(bindings: Iterable[Binding], enabled: Callable[[Binding], bool] = lambda b: True) -> list[Row]:
    """One row per group of the enabled bindings, by section, keys in order."""
    keys: dict[Keys, list[str]] = {}
    for binding in bindings:
        group = binding.group
        if not isinstance(group, Keys) or not enabled(binding):
            continue
        shown = keys.setdefault(group, [])
        for key in binding.key.split(","):
            label = key_label(key.strip())
            if label not in shown:
                shown.append(label)
    rows = [Row(g.section, " ".join(k), g.description) for g, k in keys.items()]
    return sorted(rows, key=lambda r: SECTIONS.index(r.section))  # stable: in order within a section


def help_text(rows: list[Row]) -> Group:
    """The help screen's text: a key column as wide as the widest keys, and
    descriptions that wrap under themselves (a hanging indent)."""
    width = max(len(r.keys) for r in rows)
    parts: list = [Text("panorama-top keys", style="bold")]
    for section in SECTIONS:
        table = Table.grid(padding=(0, 2))
        table.add_column(width=width, no_wrap=True)
        table.add_column(ratio=1)
        for row in rows:
            if row.section == section:
                table.add_row(row.keys, row.text)
                if row.keys == "/":
                    table.add_row("", Text(FILTER_TERMS, style="dim"))
        if table.row_count:
            parts += [Text(""), Text(section, style="bold"), Padding(table, (0, 0, 0, 2))]
    return Group(*parts)


def readme_table(rows: list[Row]) -> str:
    """README's key table (markdown), the same rows as the help screen."""
    lines = ["| key | does |", "| --- | --- |"]
    for section in SECTIONS:
        lines.append(f"| **{section}** | |")
        for row in rows:
            if row.section == section:
                lines.append(f"| `{row.keys}` | {row.text} |")
                if row.keys == "/":
                    lines.append(f"| | {FILTER_TERMS} |")
    return "\n".join(lines) + "\n"
