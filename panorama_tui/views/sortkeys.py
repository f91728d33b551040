"""The job list's sort keys, a column at a time: ``keys(jobs, now)`` gives one
plain value (str, int or float) per job, what :mod:`.joborder` sorts by.

A key press that re-sorts 100k jobs has a frame's time, so each function reads
the whole column with C-level getters (``map`` over ``attrgetter``) where the
job has the value as an attribute, and does the rest in one comprehension;
no Python call per job.  Plain values, not tuples: the order's stable sort
from arrival order gives ``(key, arrival)`` order, and tuples cost ~3x more
to build and to compare.  A column's entry in :mod:`.columns` carries its
function as is, so the registry adds no call per job either.
"""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter

from ..core.events import decode_exitcode
from ..model.series import shown_figures
from ..model.states import JobState

_state = attrgetter("state")
_job_id = attrgetter("job_id")
_xform = attrgetter("transformation")
_latest = attrgetter("latest")
_tries = attrgetter("tries")
_series = attrgetter("series")
_exit_raw = attrgetter("exit_raw")
_RANK = {s: int(s) for s in JobState}  # exact ints sort on CPython's fast path; IntEnums do not
RUNNING = frozenset({JobState.RUNNING, JobState.RETRYING})


class _ExitCodes(dict):
    """Raw wait status -> exit code (-1: none); a run has a handful of them."""

    def __missing__(self, raw):
        code = decode_exitcode(raw)[0]
        code = self[raw] = -1 if code is None else code
        return code


_EXIT_CODES = _ExitCodes()


def state_keys(jobs, now):
    return list(map(_RANK.__getitem__, map(_state, jobs)))


def id_keys(jobs, now):
    return list(map(_job_id, jobs))


def xform_keys(jobs, now):
    return [x or "" for x in map(_xform, jobs)]


def host_keys(jobs, now):
    return ["" if t is None else (t.host or t.site or "") for t in map(_latest, jobs)]


def tries_keys(jobs, now):
    return list(map(len, map(_tries, jobs)))


def exit_keys(jobs, now):
    return list(map(_EXIT_CODES.__getitem__, map(_exit_raw, jobs)))


def dur_keys(jobs, now):
    # Job.duration a column at a time: the start and end of every latest try
    # fetched in C, the arithmetic in one comprehension, and only tries that
    # started but did not end (running, or a local duration) looked at alone.
    tries = list(map(_latest, jobs))
    starts = map(getattr, tries, repeat("start_ts"), repeat(None))
    ends = map(getattr, tries, repeat("end_ts"), repeat(None))
    out = [0.0 if s is None else (None if e is None else (d if (d := e - s) > 0 else 0.0))
           for s, e in zip(starts, ends)]
    for i in [i for i, d in enumerate(out) if d is None]:
        t = tries[i]
        if jobs[i].state in RUNNING and now is not None:
            d = now - t.start_ts
            out[i] = d if d > 0 else 0.0
        else:
            out[i] = t.local_dur or 0.0
    return out


def _figure_keys(field: int, jobs) -> list:
    # What the cell shows: running jobs' latest figures, finished jobs' over their trace.
    return shown_figures(field, map(_series, jobs), map(RUNNING.__contains__, map(_state, jobs)))


def cpu_keys(jobs, now):
    return _figure_keys(1, jobs)


def rss_keys(jobs, now):
    return _figure_keys(2, jobs)


def io_keys(jobs, now):
    return _figure_keys(3, jobs)
