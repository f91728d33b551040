"""Which jobs the job list shows, in which order, kept current as the store
changes.  Core code (no Textual), so it is tested and measured on its own.

A key press that re-sorts or re-filters 100k jobs has a frame's time, so:

- Sort keys are plain values (str, int or float), computed a column at a
  time with C-level getters where there are any (:mod:`.sortkeys`; each
  column's function is in its entry of the registry, :mod:`.columns`).  The sort is stable and
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
from itertools import chain, compress, repeat
from operator import attrgetter, gt, is_not, ne, not_
from time import perf_counter
from typing import Callable, Collection, Iterable, Sequence

from . import columns as registry
from .sortkeys import state_keys

# Above this many changed jobs a merge costs more than sorting again.
MERGE_LIMIT = 4000
# With kept keys, sorting them again beats bisection once more than one job
# in this many changed.
RESORT_SHARE = 40
# Jobs per step of a selection or a warm-up applied a chunk at a time.
CHUNK = 2048
# Below this many jobs in the scope a column's keys cost too little to prepare.
WARM_MIN = 10_000

_order = attrgetter("order")
_is_not_none = partial(is_not, None)


def __getattr__(name: str):
    # SORTABLE (the columns one can sort by) and TIMED (those whose keys move
    # with time alone) come from the column registry when asked, so a column
    # registered after this module was imported counts.
    if name == "SORTABLE":
        return registry.sortable()
    if name == "TIMED":
        return registry.timed()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def figure_of(col: str, job) -> float:
    """The CPU % ("cpu"), RSS or I/O figure the job list shows for a job
    (-1.0: none): its sort key, so the cell and the order cannot disagree."""
    return column_keys(col, (job,), None)[0]


def column_keys(col: str, jobs: Sequence, now: float | None) -> list:
    """One sort key per job (a str, an int or a float, by column; see sortkeys)."""
    return registry.sort_functions().get(col, state_keys)(jobs, now)


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


def _locate(jobs: list, keys: list, job, key) -> int:
    """Where ``job``, sorted at ``key``, is in ``jobs`` (-1: not there)."""
    lo = bisect_left(keys, key)
    hi = bisect_right(keys, key, lo)
    if hi > lo:
        i = bisect_left(jobs, job.order, lo, hi, key=_order)
        if i < hi and jobs[i] is job:
            return i
    return -1


def _drop_known(jobs: list, keys: list, gone: list, gone_keys: list, all_there: bool = True) -> tuple[list, list]:
    """``_drop`` for jobs whose keys in ``keys`` are known: each is found by
    bisection.  (``all_there``: each must be found, else the sorted lists are
    not what the keys say, and every row is tested instead.)"""
    at = [i for i in map(_locate, repeat(jobs), repeat(keys), gone, gone_keys) if i >= 0]
    if all_there and len(at) != len(gone):
        return _drop(jobs, keys, set(gone))
    if not at:
        return jobs, keys
    keep = [True] * len(jobs)
    for i in at:
        keep[i] = False
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
        return all(t(job) for t in self.tests)

    def apply(self, jobs: list, keys: list) -> tuple[list, list]:
        for t in self.tests:
            if not jobs:
                break
            mask = getattr(t, "mask", None)
            flags = list(mask(jobs) if mask is not None else map(t, jobs))
            jobs, keys = list(compress(jobs, flags)), list(compress(keys, flags))
        return jobs, keys


class _Scan:
    """A selection being applied a chunk at a time: ``full[lo:hi]`` is what
    is left to test, scanning up from the top or down from the bottom."""

    __slots__ = ("selection", "from_end", "lo", "hi", "parts", "found")

    def __init__(self, selection: Selection, from_end: bool, n: int):
        self.selection = selection
        self.from_end = from_end
        self.lo, self.hi = 0, n
        self.parts: list[tuple[list, list]] = []
        self.found = 0


class JobOrder:
    """The scope's jobs sorted by one column, and the selected subsequence.

    ``full``/``keys``: every job in the scope, ascending by (key, arrival).
    ``rows``/``row_keys``: those the selection keeps, in the same order.
    Descending order is the caller's business (reverse the rows).

    Each column's keys, once computed, are kept in arrival order beside the
    scope (``_cache``), and its order too (``_sorted``), with the jobs
    changed since (``_stale``): a key press that sorts by a column it has
    seen (or that :meth:`warm` prepared while the screen was idle) re-keys
    and moves only those, instead of reading 100k jobs whose attributes are
    scattered over the heap and sorting them.  A selection can be applied a
    chunk at a time (:meth:`select` with a budget, then :meth:`select_more`)
    so the first screenful shows before the whole scope is tested.
    """

    def __init__(self, col: str = "state"):
        self.col = col
        self.full: list = []
        self.keys: list = []
        self.rows: list = []
        self.row_keys: list = []
        self.selection = Selection()
        self._arrival: list | None = []  # the scope in arrival order; None: to be sorted again
        self._pos: dict | None = None  # job -> index in _arrival, made when first needed
        self._cache: dict[str, list] = {}  # column -> keys in arrival order
        self._stale: dict[str, set] = {}  # column -> jobs changed since its keys were made
        self._warming: tuple[str, list] | None = None  # (column, keys of the first jobs)
        self._sorted: dict[str, tuple[list, list]] = {}  # column -> (full, keys) by its kept keys
        self._scan: _Scan | None = None

    # -- scope and keys ----------------------------------------------------
    def build(self, jobs: Iterable, now: float | None, moving: Collection = (), **scan) -> bool:
        """Start again from the scope's jobs (any order)."""
        self._forget()
        self._arrival = sort_by_arrival(jobs)
        return self._sort(now, moving, scan)

    def sort_by(self, col: str, now: float | None, moving: Collection = (), **scan) -> bool:
        """The same jobs ordered by another column.  ``moving``: jobs whose
        key may have moved without a change (durations of running jobs)."""
        self.col = col
        if self._arrival is None:
            self._arrival = sort_by_arrival(self.full)
        return self._sort(now, moving, scan)

    def _sort(self, now, moving, scan) -> bool:
        self.full, self.keys = self._resorted(self.col, now, moving)
        return self._select(**scan)

    def _resorted(self, col: str, now, moving: Collection) -> tuple[list, list]:
        """The scope sorted by ``col`` as it is now, kept for the next time."""
        keys, changes = self._column(col, now, moving)
        before = self._sorted.get(col)
        if before is not None and changes is not None:
            # Sorted by this column before: move the jobs re-keyed since.
            full, fkeys, _ = self._move(*before, *changes, keys)  # type: ignore[call-arg]  # (full, keys) + (jobs, old, new)
        else:
            full, fkeys = stable_sort(self._arrival, keys)
        self._sorted[col] = (full, fkeys)
        return full, fkeys

    def freshen(self, col: str, now: float | None) -> bool:
        """Re-key the jobs changed since ``col``'s keys and order were kept, and move them
        in that order, without sorting the rows by it: a later sort by it has nothing left
        to do.  (Only a column with kept keys and order; True when there was work.)"""
        if col == self.col or self._arrival is None or col not in self._sorted or col not in self._cache \
                or not self._stale.get(col):
            return False
        self._resorted(col, now, ())
        return True

    def _move(self, full: list, keys: list, jobs: list, old_keys: list, new_keys: list, cached: list):
        """``full``/``keys`` with ``jobs`` moved from their old keys to their
        new ones (``cached``: every key now, in arrival order); and which of
        ``jobs`` moved."""
        moved = list(map(ne, old_keys, new_keys))
        movers = list(compress(jobs, moved))
        if len(movers) * RESORT_SHARE > len(full):  # sorting the kept keys again costs less
            full, keys = stable_sort(self._arrival, cached)
        elif movers:
            full, keys = _merge(*_drop_known(full, keys, movers, list(compress(old_keys, moved))),
                                movers, list(compress(new_keys, moved)))
        return full, keys, moved

    def _forget(self) -> None:
        """Who is in the scope changed: keys kept in arrival order are void."""
        self._arrival = self._pos = self._warming = None
        self._cache.clear()
        self._stale.clear()
        self._sorted.clear()

    def _positions(self) -> dict:
        if self._pos is None:
            self._pos = dict(zip(self._arrival, range(len(self._arrival))))
        return self._pos

    def _column(self, col: str, now, moving: Collection = ()) -> tuple[list, tuple | None]:
        """Every scope job's current key for ``col``, in arrival order; and
        the jobs re-keyed, with their old and new keys (None: all made anew)."""
        base = self._arrival
        keys = self._cache.get(col)
        if keys is None:
            if self._warming is not None and self._warming[0] == col:
                keys = self._warming[1]
                keys += column_keys(col, base[len(keys):], now)
                self._warming = None
            else:
                keys = column_keys(col, base, now)
                self._stale[col] = set()
            self._cache[col] = keys
            again = self._stale[col]
        else:
            again = self._stale[col]
            if col in registry.timed() and moving:
                again = again | set(moving)
        changes: tuple | None = ([], [], [])
        if not again:
            pass
        elif len(again) * 8 > len(base):  # most of them: a fresh pass is cheaper
            keys[:] = column_keys(col, base, now)
            changes = None
        else:
            # In arrival order, which is roughly the jobs' order in memory: re-keying the
            # 10.7k running jobs of bench_live in the stale set's order cost 1.1-1.4x as much
            # (id 1.2 against 0.5 ms, CPU % 19 against 14 ms; sorting the positions ~1 ms).
            idx = sorted(filter(_is_not_none, map(self._positions().get, again)))
            jobs = list(map(base.__getitem__, idx))
            new = column_keys(col, jobs, now)
            changes = (jobs, list(map(keys.__getitem__, idx)), new)
            for i, k in zip(idx, new):
                keys[i] = k
        self._stale[col] = set()
        return keys, changes

    @property
    def cold(self) -> bool:
        """Some column's keys (or the positions) are still to be prepared by :meth:`warm`."""
        base = self._arrival
        return base is not None and len(base) >= WARM_MIN and (
            self._pos is None or len(self._sorted) < len(registry.sortable()))

    def warm(self, now: float | None, budget: float) -> bool:
        """Compute other columns' keys, a chunk at a time, then their orders,
        a sort at a time, for about ``budget`` seconds (the caller runs this
        while the screen is idle); True when every column is ready."""
        base = self._arrival
        if base is None or len(base) < WARM_MIN:
            return True
        deadline = perf_counter() + budget
        if self._pos is None:
            self._positions()  # what re-keying a few jobs and index_of look up
            if perf_counter() >= deadline:
                return False
        while True:
            if self._warming is None:
                col = next((c for c in registry.sortable() if c not in self._cache), None)
                if col is None:
                    # Then each column's order, a sort a step, by its kept
                    # keys as they are (the jobs re-keyed since move at sort).
                    col = next((c for c in registry.sortable() if c not in self._sorted), None)
                    if col is None:
                        return True
                    self._sorted[col] = stable_sort(base, self._cache[col])
                    if perf_counter() >= deadline:
                        return False
                    continue
                self._warming = (col, [])
                self._stale[col] = set()
            col, keys = self._warming
            keys += column_keys(col, base[len(keys):len(keys) + CHUNK], now)
            if len(keys) >= len(base):
                self._cache[col] = keys
                self._warming = None
            if perf_counter() >= deadline:
                return False

    def index_of(self, job) -> int | None:
        """Where ``job`` is in ``rows`` (None: not there), by bisection on its
        key and arrival, not a scan of 100k rows."""
        keys = self._cache.get(self.col)
        if keys is not None and self._arrival is not None:
            i = self._positions().get(job)
            if i is None:
                return None
            k, rk, rows = keys[i], self.row_keys, self.rows
            lo = bisect_left(rk, k)
            hi = bisect_right(rk, k, lo)
            at = bisect_left(rows, job.order, lo, hi, key=_order)
            if at < hi and rows[at] is job:
                return at
            if self._scan is not None:
                return None  # not found yet
        try:
            return self.rows.index(job)
        except ValueError:
            return None

    # -- selection ---------------------------------------------------------
    def select(self, selection: Selection, **scan) -> bool:
        self.selection = selection
        return self._select(**scan)

    def _select(self, budget: float | None = None, want: int | None = None, from_end: bool = False) -> bool:
        """Pick the selected rows.  With a ``budget`` (seconds), stop once
        that time is spent or ``want`` rows are found, scanning from the
        bottom when ``from_end`` (a descending list shows the bottom first);
        False then: :meth:`select_more` goes on."""
        self._scan = None
        if not self.selection:
            self.rows, self.row_keys = self.full, self.keys
            return True
        if budget is None:
            self.rows, self.row_keys = self.selection.apply(self.full, self.keys)
            return True
        self._scan = _Scan(self.selection, from_end, len(self.full))
        return self.select_more(budget, want)

    @property
    def pending(self) -> bool:
        """A selection is half applied: ``rows`` are those found so far (the
        top or the bottom of the final rows, as scanned)."""
        return self._scan is not None

    @property
    def scanned(self) -> float:
        s = self._scan
        return 1.0 if s is None or not self.full else 1.0 - (s.hi - s.lo) / len(self.full)

    def select_more(self, budget: float = float("inf"), want: int | None = None) -> bool:
        s = self._scan
        if s is None:
            return True
        deadline = perf_counter() + budget
        full, keys, apply = self.full, self.keys, s.selection.apply
        while s.lo < s.hi:
            if s.from_end:
                b = s.hi
                a = s.hi = max(s.lo, b - CHUNK)
            else:
                a = s.lo
                b = s.lo = min(s.hi, a + CHUNK)
            part = apply(full[a:b], keys[a:b])
            s.parts.append(part)
            s.found += len(part[0])
            if (want is not None and s.found >= want) or perf_counter() >= deadline:
                break
        parts = s.parts[::-1] if s.from_end else s.parts
        if len(parts) == 1:
            self.rows, self.row_keys = parts[0]
        else:
            self.rows = list(chain.from_iterable(p[0] for p in parts))
            self.row_keys = list(chain.from_iterable(p[1] for p in parts))
        if s.lo < s.hi:
            return False
        self._scan = None
        return True

    def finish(self) -> None:
        """Apply a half-applied selection to the rest now."""
        self.select_more()

    # -- live changes ------------------------------------------------------
    def update(self, changed: Collection, in_scope: Callable, now: float | None) -> bool:
        """Jobs in ``changed`` may have new keys, may have joined or left the
        scope (``in_scope(job)``) or the selection; everything else is as it
        was.  False when no row moved, came or went."""
        if not changed:
            return False
        self.finish()
        changed = list(changed)
        inside = list(map(in_scope, changed))
        back = list(compress(changed, inside))
        back_keys = column_keys(self.col, back, now)
        grew = False  # jobs came, placed by _grow: rows came even when no key moved
        if self._arrival is not None:
            there = list(map(self._positions().__contains__, changed))
            if there != inside:
                new = [not t for t, i in zip(there, inside) if i]  # of back, those not in the scope yet
                if any(map(gt, there, inside)) or not self._grow(list(compress(back, new)),
                                                                 list(compress(back_keys, new))):
                    # Jobs went, or came before others: the arrival order is sorted
                    # again when next needed.  Most updates change keys, not who is in scope.
                    self._forget()
                else:
                    grew = True
        cached = self._cache.get(self.col) if self._arrival is not None else None
        if grew and cached is not None:  # the jobs that came are in place: re-key the others only
            old = list(map(not_, new))
            back, back_keys = list(compress(back, old)), list(compress(back_keys, old))
        if cached is None:
            gone = set(changed)
            self.full, self.keys = _merge(*_drop(self.full, self.keys, gone), back, back_keys)
            if not self.selection:
                self.rows, self.row_keys = self.full, self.keys
            else:
                flags = list(map(self.selection, back))
                self.rows, self.row_keys = _merge(*_drop(self.rows, self.row_keys, gone),
                                                  list(compress(back, flags)), list(compress(back_keys, flags)))
            return True
        return self._rekey(back, back_keys, cached) or grew

    def _grow(self, came: list, new_keys: list) -> bool:
        """Jobs ``came`` into the scope (with their keys by this column), all after those in it
        (a load's or a live run's new jobs; False: not so): the arrival order, its positions
        and this column's keys and order grow by them, the other columns' are made again when
        next sorted by.  Else a 1M-job load's every tick sorted a million jobs by arrival and
        keyed them again (py-spy: the screen's main cost of the load)."""
        base = self._arrival
        orders = list(map(_order, came))
        if base and min(orders) <= base[-1].order:
            return False
        at = sorted(range(len(came)), key=orders.__getitem__)
        came, new_keys = list(map(came.__getitem__, at)), list(map(new_keys.__getitem__, at))
        n0 = len(base)
        base += came
        if self._pos is not None:
            self._pos.update(zip(came, range(n0, n0 + len(came))))
        col = self.col
        for other in [c for c in self._cache if c != col]:
            del self._cache[other]
            self._stale.pop(other, None)
        for other in [c for c in self._sorted if c != col]:
            del self._sorted[other]
        if self._warming is not None and self._warming[0] != col:
            self._warming = None
        keys = self._cache.get(col)
        if keys is None:
            return True  # update merges them by their keys, as any changed job
        keys += new_keys
        came, new_keys = stable_sort(came, new_keys)
        full, fkeys = self._sorted.get(col, (self.full, self.keys))
        # Both runs sorted, the new ones after the old in arrival: a stable sort of the two
        # runs is a merge in C, and ties keep arrival order.
        self.full, self.keys = stable_sort(full + came, fkeys + new_keys)
        self._sorted[col] = (self.full, self.keys)
        if not self.selection:
            self.rows, self.row_keys = self.full, self.keys
        else:
            flags = list(map(self.selection, came))
            self.rows, self.row_keys = stable_sort(self.rows + list(compress(came, flags)),
                                                   self.row_keys + list(compress(new_keys, flags)))
        return True

    def _rekey(self, back: list, back_keys: list, cached: list) -> bool:
        """``update`` with the same scope and this column's keys kept: only
        the jobs whose key changed move, found at their old keys by
        bisection, not by testing 100k rows.  (Most changes in a live run are
        samples of running jobs: their state, host or id stays.)"""
        for col, stale in self._stale.items():
            if col != self.col:
                stale.update(back)
        at = list(map(self._positions().__getitem__, back))
        old_keys = list(map(cached.__getitem__, at))
        for i, k in zip(at, back_keys):
            cached[i] = k
        self.full, self.keys, moved = self._move(self.full, self.keys, back, old_keys, back_keys, cached)
        self._sorted[self.col] = (self.full, self.keys)
        if not self.selection:
            self.rows, self.row_keys = self.full, self.keys
            return any(moved)
        # The selection's rows: movers leave from their old places and come
        # back if selected; the others come or go as the selection says now.
        rows, row_keys = self.rows, self.row_keys
        out, out_keys, add, add_keys = [], [], [], []
        for job, old, new, flag, m in zip(back, old_keys, back_keys, map(self.selection, back), moved):
            there = True if m else _locate(rows, row_keys, job, new) >= 0
            if there and (m or not flag):
                out.append(job)
                out_keys.append(old)
            if flag and (m or not there):
                add.append(job)
                add_keys.append(new)
        if not out and not add:
            return any(moved)
        self.rows, self.row_keys = _merge(*_drop_known(rows, row_keys, out, out_keys, all_there=False), add, add_keys)
        return True
