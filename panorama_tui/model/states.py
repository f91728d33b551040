"""Job and workflow states as the screen shows them.

The numeric order of :class:`JobState` is the default sort order of the job
list: problems first.
"""

from __future__ import annotations

from enum import IntEnum


class JobState(IntEnum):
    FAILED = 0
    HELD = 1
    RETRYING = 2
    RUNNING = 3
    QUEUED = 4
    WAITING = 5  # planned, not yet submitted
    DONE = 6

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def glyph(self) -> str:
        return _GLYPHS[self]


_LABELS = {
    JobState.FAILED: "failed",
    JobState.HELD: "held",
    JobState.RETRYING: "retrying",
    JobState.RUNNING: "running",
    JobState.QUEUED: "queued",
    JobState.WAITING: "waiting",
    JobState.DONE: "done",
}
# Glyphs that read in a 16-colour terminal and in NO_COLOR mode alike.
_GLYPHS = {
    JobState.FAILED: "✗",
    JobState.HELD: "‖",  # U+2016: in Fira Code (the screenshots' font), which has no ⏸
    JobState.RETRYING: "↻",
    JobState.RUNNING: "▶",
    JobState.QUEUED: "…",
    JobState.WAITING: "·",
    JobState.DONE: "✓",
}
STATE_BY_LABEL = {v: k for k, v in _LABELS.items()}

# Stampede jobstate names (the DB's ``jobstate.state``) grouped by what they
# say about the try.  Anything not named here counts as "in progress".
QUEUED_STATES = frozenset(
    {
        "SUBMIT",
        "GRID_SUBMIT",
        "GLOBUS_SUBMIT",
        "PRE_SCRIPT_STARTED",
        "PRE_SCRIPT_TERMINATED",
        "PRE_SCRIPT_SUCCESS",
        "JOB_RELEASED",
    }
)
HELD_STATES = frozenset({"JOB_HELD"})
FAILED_STATES = frozenset(
    {
        "SUBMIT_FAILED",
        "GRID_SUBMIT_FAILED",
        "GLOBUS_SUBMIT_FAILED",
        "PRE_SCRIPT_FAILED",
        "POST_SCRIPT_FAILED",
        "JOB_ABORTED",
    }
)
SUCCESS_STATES = frozenset({"POST_SCRIPT_SUCCESS"})
# main job finished, POST script (pegasus-exitcode) not yet: the outcome is
# decided only when the workflow ends without a POST script.
MAIN_DONE_STATES = frozenset({"JOB_SUCCESS", "JOB_FAILURE"})


# In DAGMan's queue: submitted and not ended (what a live run is busy with).
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.HELD, JobState.RETRYING)


class WorkflowState:
    PLANNED = "planned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
