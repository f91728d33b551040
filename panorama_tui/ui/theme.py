"""Colours that read in a 16-colour terminal: ANSI names only; text from an input put into markup."""

from rich.style import Style

from ..fmt import visible
from ..states import JobState

STATE_MARKUP = {
    JobState.FAILED: "bold bright_red",
    JobState.HELD: "bold magenta",
    JobState.RETRYING: "bold yellow",
    JobState.RUNNING: "cyan",
    JobState.QUEUED: "blue",
    JobState.WAITING: "dim",
    JobState.DONE: "green",
}
# The same colours as Style objects, for the job list's line-API rendering.
STATE_STYLES = {state: Style.parse(markup) for state, markup in STATE_MARKUP.items()}
WF_STATE_MARKUP = {"failed": "bold bright_red", "succeeded": "bold green", "running": "bold cyan", "planned": "dim"}


def markup_escape(text: str) -> str:
    """``text`` from an input (a label, a file name, a source's message) for Textual
    markup (``Static.update`` of a string): its control characters made visible
    and every ``[`` escaped.  Textual's parser takes any ``[...]`` for a tag,
    where ``rich.markup.escape`` escapes only those that look like Rich's: a
    ``[`` it left (``x[2J``) broke the whole line's markup."""
    return visible(text).replace("[", "\\[")
