"""The job list's sort keys and orders, read off the table's columns.

``keys(table, col, now)`` gives, per job number, the very value ``views/sortkeys.py`` gives
for the Job (state, id, xform, host, tries, exit, dur: the columns that need no resource
series).  ``order(table, col, now, jobs)`` gives job numbers sorted by that key, ties in
arrival order (job number order), as ``views/joborder.stable_sort`` orders Jobs: for the
interned columns by each distinct string's rank (an int compare, the strings sorted once).
"""

from __future__ import annotations

from ...core.events import decode_exitcode
from .jobtable import _RUNNING, NONE_Q, JobTable

SORTABLE = ("state", "id", "xform", "host", "tries", "exit", "dur")


class _ExitCodes(dict):
    """Raw wait status -> exit code (-1: none), as sortkeys' ``_EXIT_CODES``."""

    def __missing__(self, raw):
        code = decode_exitcode(None if raw == NONE_Q else raw)[0]
        code = self[raw] = -1 if code is None else code
        return code


_EXIT_CODES = _ExitCodes()


def _shown_host(table: JobTable) -> list[int]:
    # the latest try's host, else its site (ids: 0 is none, so ``or`` is the strings' ``or``)
    return [h or s for h, s in zip(table.host, table.site)]


def keys(table: JobTable, col: str, now: float | None) -> list:
    """One key per job number: what ``views/sortkeys.<col>_keys`` gives for the Job."""
    if col == "state":
        return list(table.state)
    if col == "id":
        return list(table.job_id)
    if col == "xform":
        return _strings(table, table.xform)
    if col == "host":
        return _strings(table, _shown_host(table))
    if col == "tries":
        return list(table.tries)
    if col == "exit":
        return list(map(_EXIT_CODES.__getitem__, table.exit))
    if col == "dur":
        return _durations(table, now)
    raise KeyError(col)


def _strings(table: JobTable, ids) -> list[str]:
    shown = [v or "" for v in table.strings.values]
    return list(map(shown.__getitem__, ids))


def _ranks(table: JobTable, ids) -> list[int]:
    """Each id's place among the distinct strings, sorted: ints that sort as the strings do."""
    values = table.strings.values
    distinct = sorted(set(ids), key=lambda i: values[i] or "")
    rank = [0] * len(values)
    r, prev = -1, None
    for i in distinct:
        s = values[i] or ""
        if s != prev:
            r, prev = r + 1, s
        rank[i] = r
    return list(map(rank.__getitem__, ids))


def _durations(table: JobTable, now: float | None) -> list[float]:
    # sortkeys.dur_keys: no start (or no try) 0.0; started and ended, end - start (>= 0);
    # started, not ended: now - start when running, else the local duration or 0.0
    out = [0.0 if s != s else (None if e != e else (d if (d := e - s) > 0 else 0.0))
           for s, e in zip(table.start, table.end)]
    state, start, local = table.state, table.start, table.local_dur
    for i in [i for i, d in enumerate(out) if d is None]:
        if state[i] in _RUNNING and now is not None:
            d = now - start[i]
            out[i] = d if d > 0 else 0.0
        else:
            d = local[i]
            out[i] = d if d == d and d else 0.0
    return out


def order(table: JobTable, col: str, now: float | None, jobs=None) -> list[int]:
    """Job numbers (all, or ``jobs`` in arrival order) ascending by ``col``'s key, ties in
    arrival order.  Descending is the caller's business, as in the job list."""
    if col == "xform":
        k = _ranks(table, table.xform)
    elif col == "host":
        k = _ranks(table, _shown_host(table))
    else:
        k = keys(table, col, now)
    out = list(range(len(k))) if jobs is None else list(jobs)
    out.sort(key=k.__getitem__)
    return out
