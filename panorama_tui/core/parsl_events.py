"""The ``parsl.*`` events: a Parsl run as Panorama events, in one vocabulary.

One event is one row of a table of Parsl's monitoring DB
(``parsl/monitoring/db_manager.py``), under the table's own column names, so
a Parsl user reads them as they read the DB; ``event`` names the table and
``ts`` is the row's time.  The DB reader (``sources/parsl_db.py``), the relay
(``panorama-collect relay``, AMQP routing key = the name) and recordings all
carry these, so a panorama-top anywhere builds the same store from them
(``parsl_model.py``).  ``docs/parsl.md`` lists every field and unit.

Times: Parsl writes naive local-time text (``2026-11-21 05:29:27.703646``,
``datetime.now()`` of the writer).  Events carry epoch seconds, converted in
the reader's time zone (``TZ`` is honoured): the DB is taken to come from a
host in this host's zone, unless ``TZ`` says otherwise.  Clock times on the
screen are local too, so they read as the DB's text whatever the zone; the
zone matters for "how long ago" (a stall) and for mixing with other sources.
"""

from __future__ import annotations

import time

# -- names -------------------------------------------------------------------------
WORKFLOW = "parsl.workflow"  # a workflow row: one run (inserted at start, updated in place)
TASK = "parsl.task"  # a task row (updated in place as the task moves on)
TRY = "parsl.try"  # a try row (updated in place: launched, running, returned, fail history)
STATUS = "parsl.status"  # a status row: one state a task's try entered
RESOURCE = "parsl.resource"  # a resource row: one psutil sample of the process that ran a try
NODE = "parsl.node"  # a node row: an HTEX manager's registration or change
BLOCK = "parsl.block"  # a block row: a block's (batch job's) status change
WRITER = "parsl.run.writer"  # panorama-top's own: whether the run's DB writer process is still there
# panorama-top's own: a big DB's rows of a range of task ids at once, as row tuples (sources/parsl/
# monitoring_db.py's bulk load; the store builds the same tasks as from their row events)
BULK = "parsl.bulk.tasks"

PARSL_EVENTS = frozenset({WORKFLOW, TASK, TRY, STATUS, RESOURCE, NODE, BLOCK, WRITER, BULK})

# -- the task states (parsl.dataflow.states.States), in the order a try goes through them ------
PENDING, LAUNCHED, RUNNING, RUNNING_ENDED, JOINING = "pending", "launched", "running", "running_ended", "joining"
EXEC_DONE, MEMO_DONE, FAILED, DEP_FAIL, FAIL_RETRYABLE = "exec_done", "memo_done", "failed", "dep_fail", "fail_retryable"
TASK_STATES = (PENDING, LAUNCHED, RUNNING, RUNNING_ENDED, JOINING, FAIL_RETRYABLE, EXEC_DONE, MEMO_DONE, FAILED, DEP_FAIL)
# A task in one of these never moves again (parsl FINAL_STATES); failed and
# dep_fail are its failures (FINAL_FAILURE_STATES).
FINAL_STATES = frozenset({EXEC_DONE, MEMO_DONE, FAILED, DEP_FAIL})
FAILURE_STATES = frozenset({FAILED, DEP_FAIL})
# A try in one of these is over (a retry, if any, is a new try).
TRY_END_STATES = FINAL_STATES | {FAIL_RETRYABLE}
# running and running_ended come from the worker's wrapper (monitoring only, the
# worker's clock); the others from the DFK.  Within a try the states follow this
# order whatever their timestamps say: it breaks ties and outvotes clock skew.
STATE_RANK = {s: i for i, s in enumerate((PENDING, LAUNCHED, RUNNING, RUNNING_ENDED, JOINING))}
STATE_RANK.update(dict.fromkeys(TRY_END_STATES, len(STATE_RANK)))

# Columns read from each table, in Parsl 2026.x's order.  Time columns become
# epoch seconds; ``task_depends`` and ``task_joins`` (comma-separated task ids
# in the DB) lists of ints.  A DB of an older Parsl may lack some of the
# optional ones: they come as null.
COLUMNS = {
    "workflow": ("run_id", "workflow_name", "workflow_version", "time_began", "time_completed", "host", "user",
                 "rundir", "tasks_failed_count", "tasks_completed_count"),
    "task": ("task_id", "run_id", "task_depends", "task_func_name", "task_memoize", "task_hashsum", "task_inputs",
             "task_outputs", "task_stdin", "task_stdout", "task_stderr", "task_time_invoked", "task_time_returned",
             "task_fail_count", "task_fail_cost", "task_executor"),
    "try": ("try_id", "task_id", "run_id", "block_id", "hostname", "task_executor", "task_try_time_launched",
            "task_try_time_running", "task_try_time_returned", "task_fail_history", "task_joins"),
    "status": ("task_id", "task_status_name", "timestamp", "run_id", "try_id"),
    "resource": ("try_id", "task_id", "run_id", "timestamp", "resource_monitoring_interval", "psutil_process_pid",
                 "psutil_process_memory_percent", "psutil_process_children_count", "psutil_process_time_user",
                 "psutil_process_time_system", "psutil_process_memory_virtual", "psutil_process_memory_resident",
                 "psutil_process_disk_read", "psutil_process_disk_write", "psutil_process_status", "psutil_cpu_num",
                 "psutil_process_num_ctx_switches_voluntary", "psutil_process_num_ctx_switches_involuntary"),
    "node": ("run_id", "hostname", "uid", "block_id", "cpu_count", "total_memory", "active", "worker_count",
             "python_v", "timestamp", "last_heartbeat"),
    "block": ("run_id", "executor_label", "block_id", "job_id", "timestamp", "status"),
}
# A run's latest distinct activity times the store keeps (its pace, for the stall rule); a bulk
# read sends a run without an end at least these of each range's status times.
RECENT_TIMES = 1024
# The resource columns a bulk event's rows carry (indices into COLUMNS["resource"]): the try's
# key, time, interval, pid, CPU user and system, RSS, read and written; a recording's older bulk
# events carry the first 14 columns.
BULK_RESOURCE_COLUMNS = (0, 1, 2, 3, 4, 5, 8, 9, 11, 12, 13)
# What a table must have for its rows to mean anything; the rest may be missing (older Parsl).
REQUIRED = {
    "workflow": ("run_id", "time_began"),
    "task": ("task_id", "run_id", "task_func_name"),
    "status": ("task_id", "task_status_name", "timestamp", "run_id"),
    "try": ("try_id", "task_id", "run_id"),
    "resource": ("task_id", "run_id", "timestamp"),
    "node": ("run_id", "timestamp"),
    "block": ("run_id", "block_id", "timestamp", "status"),
}
# Without these tables there is no run to show; try, resource, node and block are optional
# (a run without resource monitoring, an executor without blocks, a Parsl before the try table).
REQUIRED_TABLES = ("workflow", "task", "status")
TIME_COLUMNS = frozenset({"time_began", "time_completed", "task_time_invoked", "task_time_returned",
                          "task_try_time_launched", "task_try_time_running", "task_try_time_returned", "timestamp",
                          "last_heartbeat"})
ID_LISTS = frozenset({"task_depends", "task_joins"})
# The table each event comes from, and back.
EVENT_OF_TABLE = {"workflow": WORKFLOW, "task": TASK, "try": TRY, "status": STATUS, "resource": RESOURCE,
                  "node": NODE, "block": BLOCK}
# Each event's ts: the first of these columns that has a time.
TS_COLUMNS = {
    "workflow": ("time_completed", "time_began"),
    "task": ("task_time_returned", "task_time_invoked"),
    "try": ("task_try_time_returned", "task_try_time_running", "task_try_time_launched"),
    "status": ("timestamp",),
    "resource": ("timestamp",),
    "node": ("timestamp",),
    "block": ("timestamp",),
}


# -- time ------------------------------------------------------------------------------
_HOUR_CACHE: dict[tuple, float] = {}  # ("YYYY-MM-DD HH", zone) -> epoch of its start


def local_epoch(text) -> float | None:
    """A naive local-time text as Parsl writes it (``YYYY-MM-DD HH:MM:SS[.ffffff]``,
    a ``T`` also taken) as epoch seconds in this process's zone; None when it is not one.

    The hour's start is converted once (mktime, which knows the zone's DST rules)
    and cached: a DB repeats the same hours ~10 times a task, and minutes and
    seconds add up without asking the zone again (2.5x faster than a datetime
    per row)."""
    if type(text) is not str:
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return float(text)  # already epoch seconds (a relay that converted)
        return None
    if len(text) < 19 or text[4] != "-" or text[13] != ":":
        return None
    hour = text[:13]
    key = (hour, time.tzname)
    base = _HOUR_CACHE.get(key)
    if base is None:
        try:
            y, mo, d, h = int(hour[0:4]), int(hour[5:7]), int(hour[8:10]), int(hour[11:13])
            if not (1 <= mo <= 12 and 1 <= d <= 31 and 0 <= h <= 23):
                return None
            base = time.mktime((y, mo, d, h, 0, 0, 0, 0, -1))
        except (ValueError, OverflowError):
            return None
        if len(_HOUR_CACHE) > 4096:
            _HOUR_CACHE.clear()
        _HOUR_CACHE[key] = base
    try:
        minutes = int(text[14:16])
        seconds = float(text[17:])
    except ValueError:
        return None
    if not (0 <= minutes <= 59 and 0.0 <= seconds < 61.0):
        return None
    return base + minutes * 60 + seconds


def id_list(text) -> list[int] | None:
    """``"3,4,12"`` (task_depends, task_joins) as ``[3, 4, 12]``; None when empty or absent."""
    if text is None:
        return None
    if isinstance(text, list):
        return [int(x) for x in text]
    out = [int(x) for x in str(text).split(",") if x.strip()]
    return out or None
