"""Colours that read in a 16-colour terminal: ANSI names only.

Every style here is in Rich's spelling (``bright_red``) and must be parsed by
Rich: ``Text.from_markup``, ``Text(style=...)``, ``Style.parse``.  Textual's
own content markup (a plain ``str`` given to ``Static.update``) spells ANSI
colours ``ansi_bright_red`` and silently drops a name it does not know, which
is how "FAILED" once lost its red: give such widgets a ``Text``.

With ``NO_COLOR`` Textual turns every colour into a grey (bright red became
grey 237 on black, the least visible thing on screen), so the tables switch
to a palette without colours: emphasis from bold and reverse, the glyph says
the state, dim only for jobs still waiting.  The importers keep the same dict
objects: :func:`use_palette` fills them in place.
"""

from __future__ import annotations

from rich.style import Style

from ..core.fmt import visible
from ..model.states import JobState

_COLOUR = {
    JobState.FAILED: "bold bright_red",
    JobState.HELD: "bold magenta",
    JobState.RETRYING: "bold yellow",
    JobState.RUNNING: "cyan",
    JobState.QUEUED: "blue",
    JobState.WAITING: "dim",
    JobState.DONE: "green",
}
_MONO = {
    JobState.FAILED: "bold reverse",
    JobState.HELD: "bold",
    JobState.RETRYING: "bold",
    JobState.RUNNING: "none",
    JobState.QUEUED: "none",
    JobState.WAITING: "dim",
    JobState.DONE: "none",
}
# killed: a Parsl run whose writer's process is gone (parsl_model.stall)
_WF_COLOUR = {"failed": "bold bright_red", "succeeded": "bold green", "running": "bold cyan", "planned": "dim",
              "killed": "bold reverse yellow"}
_WF_MONO = {"failed": "bold reverse", "succeeded": "bold", "running": "bold", "planned": "dim", "killed": "bold reverse"}
# What is not a job's state: alert = something is broken (a link down,
# records that cannot be parsed), error = the text saying why, warn = worth
# a look (reconnecting, problems only, retries), note = counted, harmless.
# stalled = a run that stopped without saying so (the header's STALLED line).
_SIGNAL_COLOUR = {"alert": "bold bright_red", "error": "bright_red", "warn": "bold yellow", "note": "yellow",
                  "link": "cyan", "stalled": "bold reverse yellow"}
_SIGNAL_MONO = {"alert": "bold reverse", "error": "bold", "warn": "bold", "note": "none", "link": "none",
                "stalled": "bold reverse"}

STATE_MARKUP: dict[JobState, str] = {}
# The same as Style objects, for the job list's line-API rendering.
STATE_STYLES: dict[JobState, Style] = {}
WF_STATE_MARKUP: dict[str, str] = {}
SIGNAL_MARKUP: dict[str, str] = {}
# The job list's cells by value class (views/columns.py says which class a
# cell's value is): a job state's colour, or one of these.
_CELL_STYLES = {"past": Style(dim=True), "trend": Style(color="cyan")}  # a finished job's figures; a sparkline


def use_palette(no_color: bool) -> None:
    """Colours, or (``NO_COLOR``) bold, reverse and dim only."""
    STATE_MARKUP.update(_MONO if no_color else _COLOUR)
    STATE_STYLES.update({state: Style.parse(markup) for state, markup in STATE_MARKUP.items()})
    WF_STATE_MARKUP.update(_WF_MONO if no_color else _WF_COLOUR)
    SIGNAL_MARKUP.update(_SIGNAL_MONO if no_color else _SIGNAL_COLOUR)


use_palette(False)


def cell_style(value_class) -> Style | None:
    """The job list's style for a cell of this value class (None: plain)."""
    if value_class is None:
        return None
    if type(value_class) is JobState:
        return STATE_STYLES[value_class]
    return _CELL_STYLES[value_class]


def markup_escape(text: str) -> str:
    """``text`` from an input (a label, a file name, a source's message) for
    markup, Rich's or Textual's: its control characters made visible and every
    ``[`` escaped.  Textual's parser takes any ``[...]`` for a tag, where
    ``rich.markup.escape`` escapes only those that look like Rich's: a ``[`` it
    left (``x[2J``) broke the whole line's markup."""
    return visible(text).replace("[", "\\[")
