"""Colours that read in a 16-colour terminal: ANSI names only."""

from rich.style import Style

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
