"""Colours that read in a 16-colour terminal: ANSI names only."""

from rich.style import Style

from ..states import JobState

STATE_STYLES = {
    JobState.FAILED: Style(color="bright_red", bold=True),
    JobState.HELD: Style(color="magenta", bold=True),
    JobState.RETRYING: Style(color="yellow", bold=True),
    JobState.RUNNING: Style(color="cyan"),
    JobState.QUEUED: Style(color="blue"),
    JobState.WAITING: Style(dim=True),
    JobState.DONE: Style(color="green"),
}
STATE_MARKUP = {
    JobState.FAILED: "bold bright_red",
    JobState.HELD: "bold magenta",
    JobState.RETRYING: "bold yellow",
    JobState.RUNNING: "cyan",
    JobState.QUEUED: "blue",
    JobState.WAITING: "dim",
    JobState.DONE: "green",
}
WF_STATE_MARKUP = {"failed": "bold bright_red", "succeeded": "bold green", "running": "bold cyan", "planned": "dim"}
