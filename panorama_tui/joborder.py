"""Which jobs the job list shows, in which order, kept current as the store
changes.  Core code (no Textual), so it is tested and measured on its own.

A key press that re-sorts or re-filters 100k jobs has a frame's time, so:

- Sort keys are plain values (str, int or float), computed a column at a
  time with C-level getters where there are any.  The sort is stable and
  starts from arrival order, which gives exactly the order of ``(key,
  arrival)`` tuples; tuples cost ~3x more to build and to compare.
- The whole scope stays sorted (``full``) with its keys alongside, and the
  filtered rows are a subsequence of it: applying a filter is one pass that
  keeps the order, and clearing it costs nothing.
- A store update takes the changed jobs out and merges them back at their
  place (found by bisection), instead of sorting everything again.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from functools import partial
from itertools import compress, repeat
from operator import attrgetter, not_
from typing import Callable, Iterable, Sequence

from .events import decode_exitcode
from .series import latest_figures
from .states import JobState

SORTABLE = ("state", "id", "xform", "host", "tries", "exit", "dur", "cpu", "rss", "io")
# Keys that move while a job runs (time passes, samples arrive).
VOLATILE = frozenset({"dur", "cpu", "rss", "io"})
# Above this many changed jobs a merge costs more than sorting again.
MERGE_LIMIT = 4000

_state = attrgetter("state")
_job_id = attrgetter("job_id")
_xform = attrgetter("transformation")
_latest = attrgetter("latest")
_tries = attrgetter("tries")
_series = attrgetter("series")
_exit_raw = attrgetter("exit_raw")
_order = attrgetter("order")
_RANK = {s: int(s) for s in JobState}  # exact ints sort on CPython's fast path; IntEnums do not
_RUNNING = (JobState.RUNNING, JobState.RETRYING)


class _ExitCodes(dict):
    """Raw wait status -> exit code (-1: none); a run has a handful of them."""

    def __missing__(self, raw):
        code = decode_exitcode(raw)[0]
        code = self[raw] = -1 if code is None else code
        return code


_EXIT_CODES = _ExitCodes()


def _state_keys(jobs, now):
    return list(map(_RANK.__getitem__, map(_state, jobs)))


def _id_keys(jobs, now):
    return list(map(_job_id, jobs))


def _xform_keys(jobs, now):
    return [x or "" for x in map(_xform, jobs)]


def _host_keys(jobs, now):
    return ["" if t is None else (t.host or t.site or "") for t in map(_latest, jobs)]


def _tries_keys(jobs, now):
    return list(map(len, map(_tries, jobs)))


def _exit_keys(jobs, now):
    return list(map(_EXIT_CODES.__getitem__, map(_exit_raw, jobs)))


def _dur_keys(jobs, now):
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
        if jobs[i].state in _RUNNING and now is not None:
            d = now - t.start_ts
            out[i] = d if d > 0 else 0.0
        else:
            out[i] = t.local_dur or 0.0
    return out


KEY_FUNCS: dict[str, Callable[[Sequence, float | None], list]] = {
    "state": _state_keys,
    "id": _id_keys,
    "xform": _xform_keys,
    "host": _host_keys,
    "tries": _tries_keys,
    "exit": _exit_keys,
    "dur": _dur_keys,
    "cpu": lambda jobs, now: latest_figures(1, map(_series, jobs)),
    "rss": lambda jobs, now: latest_figures(2, map(_series, jobs)),
    "io": lambda jobs, now: latest_figures(3, map(_series, jobs)),
}
assert set(KEY_FUNCS) == set(SORTABLE)


def column_keys(col: str, jobs: Sequence, now: float | None) -> list:
    """One sort key per job (a str, an int or a float, by column)."""
    return KEY_FUNCS.get(col, _state_keys)(jobs, now)


def sort_by_arrival(jobs: Iterable) -> list:
    return sorted(jobs, key=_order)


def stable_sort(jobs: list, keys: list) -> tuple[list, list]:
    """``jobs`` (in arrival order) and their ``keys``, both sorted by key:
    stable, so ties keep arrival order."""
    # list.sort computes every key first, in list order, so the key function
    # can hand out the precomputed keys one by one: no per-job Python call.
    jobs = list(jobs)
    jobs.sort(key=partial(next, iter(keys)))
    keys = sorted(keys)
    return jobs, keys


def _drop(jobs: list, keys: list, gone: set) -> tuple[list, list]:
    if not gone:
        return jobs, keys
    keep = list(map(not_, map(gone.__contains__, jobs)))
    return list(compress(jobs, keep)), list(compress(keys, keep))


def _merge(jobs: list, keys: list, new: list, new_keys: list) -> tuple[list, list]:
    """Put ``new`` jobs into sorted ``jobs``/``keys`` at their places."""
    if not new:
        return jobs, keys
    if len(new) > MERGE_LIMIT:
        both, both_keys = jobs + new, keys + new_keys
        orders = list(map(_order, both))
        idx = sorted(range(len(both)), key=orders.__getitem__)
        return stable_sort(list(map(both.__getitem__, idx)), list(map(both_keys.__getitem__, idx)))
    adds = sorted(zip(new_keys, map(_order, new), new))
    out, out_keys = [], []
    prev = 0
    for k, o, job in adds:
        lo = bisect_left(keys, k, prev)
        hi = bisect_right(keys, k, lo)
        pos = bisect_left(jobs, o, lo, hi, key=_order) if hi > lo else lo
        out += jobs[prev:pos]
        out_keys += keys[prev:pos]
        out.append(job)
        out_keys.append(k)
        prev = pos
    out += jobs[prev:]
    out_keys += keys[prev:]
    return out, out_keys


class Selection:
    """Tests that pick the shown rows out of the scope: each can test one job
    (``t(job)``) and, for a whole list at once, give a flag per job
    (``t.mask(jobs)``); plain callables are used one job at a time."""

    def __init__(self, tests: Iterable = ()):
        self.tests = [t for t in tests if t is not None]

    def __bool__(self) -> bool:
        return bool(self.tests)

    def __call__(self, job) -> bool:
        for t in self.tests:
            if not t(job):
                return False
        return True

    def apply(self, jobs: list, keys: list) -> tuple[list, list]:
        for t in self.tests:
            if not jobs:
                break
            mask = getattr(t, "mask", None)
            flags = list(mask(jobs) if mask is not None else map(t, jobs))
            jobs, keys = list(compress(jobs, flags)), list(compress(keys, flags))
        return jobs, keys


class JobOrder:
    """The scope's jobs sorted by one column, and the selected subsequence.

    ``full``/``keys``: every job in the scope, ascending by (key, arrival).
    ``rows``/``row_keys``: those the selection keeps, in the same order.
    Descending order is the caller's business (reverse the rows).
    """

    def __init__(self, col: str = "state"):
        self.col = col
        self.full: list = []
        self.keys: list = []
        self.rows: list = []
        self.row_keys: list = []
        self.selection = Selection()
        self._arrival: list | None = []  # the scope in arrival order; None: to be sorted again

    def build(self, jobs: Iterable, now: float | None) -> None:
        """Start again from the scope's jobs (any order)."""
        self._arrival = sort_by_arrival(jobs)
        self._sort(now)

    def sort_by(self, col: str, now: float | None) -> None:
        """The same jobs ordered by another column."""
        self.col = col
        if self._arrival is None:
            self._arrival = sort_by_arrival(self.full)
        self._sort(now)

    def _sort(self, now: float | None) -> None:
        base = self._arrival
        self.full, self.keys = stable_sort(base, column_keys(self.col, base, now))
        self._select()

    def select(self, selection: Selection) -> None:
        self.selection = selection
        self._select()

    def _select(self) -> None:
        if self.selection:
            self.rows, self.row_keys = self.selection.apply(self.full, self.keys)
        else:
            self.rows, self.row_keys = self.full, self.keys

    def update(self, changed: set, in_scope: Callable, now: float | None) -> None:
        """Jobs in ``changed`` may have new keys, may have joined or left the
        scope (``in_scope(job)``) or the selection; everything else is as it was."""
        if not changed:
            return
        back = [j for j in changed if in_scope(j)]
        back_keys = column_keys(self.col, back, now)
        before = len(self.full)
        self.full, self.keys = _merge(*_drop(self.full, self.keys, changed), back, back_keys)
        if len(self.full) != before or len(back) != len(changed):
            # Jobs came or went (or may have: a changed job out of scope now
            # may have been in it): the arrival order is sorted again when
            # next needed.  Most updates change keys, not who is in scope.
            self._arrival = None
        if not self.selection:
            self.rows, self.row_keys = self.full, self.keys
            return
        flags = list(map(self.selection, back))
        shown = list(compress(back, flags))
        self.rows, self.row_keys = _merge(
            *_drop(self.rows, self.row_keys, changed), shown, list(compress(back_keys, flags))
        )
