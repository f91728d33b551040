"""The Stampede vocabulary: which jobstate each job_inst event records, both ways.

monitord's loader fills the DB's jobstate table from these events by this table; sources
that read the DB turn rows back into events by its inverse.
"""

from __future__ import annotations

import re

# dbversion.version of the schema monitord 5.0.x / 5.1.x writes
# (Pegasus.db.admin.admin_loader: CURRENT_DB_VERSION = 14, "5.0.0"/"5.0.1").
SUPPORTED_VERSION = 14

# Stampede jobstate names for each job_inst event, by [status == -1, else];
# the same table monitord's loader uses to fill the DB's jobstate table.
JOBSTATE_NAMES = {
    "stampede.job_inst.pre.start": ("PRE_SCRIPT_STARTED", "PRE_SCRIPT_STARTED"),
    "stampede.job_inst.pre.term": ("PRE_SCRIPT_TERMINATED", "PRE_SCRIPT_TERMINATED"),
    "stampede.job_inst.pre.end": ("PRE_SCRIPT_FAILED", "PRE_SCRIPT_SUCCESS"),
    "stampede.job_inst.submit.end": ("SUBMIT_FAILED", "SUBMIT"),
    "stampede.job_inst.main.start": ("EXECUTE", "EXECUTE"),
    "stampede.job_inst.main.term": ("JOB_EVICTED", "JOB_TERMINATED"),
    "stampede.job_inst.main.end": ("JOB_FAILURE", "JOB_SUCCESS"),
    "stampede.job_inst.post.start": ("POST_SCRIPT_STARTED", "POST_SCRIPT_STARTED"),
    "stampede.job_inst.post.term": ("POST_SCRIPT_TERMINATED", "POST_SCRIPT_TERMINATED"),
    "stampede.job_inst.post.end": ("POST_SCRIPT_FAILED", "POST_SCRIPT_SUCCESS"),
    "stampede.job_inst.held.start": ("JOB_HELD", "JOB_HELD"),
    "stampede.job_inst.held.end": ("JOB_RELEASED", "JOB_RELEASED"),
    "stampede.job_inst.image.info": ("IMAGE_SIZE", "IMAGE_SIZE"),
    "stampede.job_inst.abort.info": ("JOB_ABORTED", "JOB_ABORTED"),
    "stampede.job_inst.grid.submit.end": ("GRID_SUBMIT_FAILED", "GRID_SUBMIT"),
    "stampede.job_inst.globus.submit.end": ("GLOBUS_SUBMIT_FAILED", "GLOBUS_SUBMIT"),
}

# The same table the other way round: jobstate name -> (event, status), the
# status None for events that carry none.  Sources that read the DB use it.
STATE_EVENTS: dict[str, tuple[str, int | None]] = {}
for _event, (_failed, _ok) in JOBSTATE_NAMES.items():
    if _failed == _ok:
        STATE_EVENTS[_ok] = (_event, None)
    else:
        STATE_EVENTS[_ok] = (_event, 0)
        STATE_EVENTS[_failed] = (_event, -1)
# Job types that stand for a sub-workflow (pegasus-statistics counts them apart).

SUBWF_TYPES = frozenset({"dax", "dag"})


_UNESCAPE = re.compile(r"\\(.)", re.S)


def unescape_argv(v):
    """The loader stores argv with ``\\`` doubled and ``'`` escaped; undo it."""
    if type(v) is not str or "\\" not in v:
        return v
    return _UNESCAPE.sub(r"\1", v)
