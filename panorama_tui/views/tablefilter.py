"""The filter language (:mod:`.query`) and the job list's cells over a :class:`JobTable`.

``select(table, text, jobs)`` gives the job numbers ``query.parse(text)`` keeps, and ``mask``
one flag per job number; each term reads only the jobs the terms before it kept.  A value
term (``state=``, ``host~``, ``xform=``, ``exit!=``, ``tries>`` ...) is the real parsed term,
asked once per distinct value of the column it reads -- through a stand-in job that carries
just that value -- and its answers mapped over the column's ids in C: a filter pass over 100k
jobs asks a few hundred questions, not 100k (``state=`` without a Parsl state: one
``bytes.translate`` of the state column).  A bare word (a regex over the id, transformation,
host and site) searches the ids and each distinct string once.  ``state=problems
host~pegasus-1`` over 1M jobs: 13 ms against Selection.apply's 85 ms on Jobs (bench_table).
Fields the table does not hold (``wf``, a plug-in column's) raise :class:`Unsupported`.
"""

from __future__ import annotations

import re
from itertools import compress, repeat
from operator import getitem

from ..core.events import describe_exitcode
from ..core.fmt import human_duration
from ..model.states import JobState
from ..model.entities import _STATE_NAMES
from ..model.table.jobtable import NO_NAME, NONE_Q, JobTable, scatter
from . import columns as registry
from .query import _TERM, parse


class Unsupported(ValueError):
    """A term on a field the table does not hold."""


class _Latest:
    __slots__ = ("state_name", "host", "site")

    def __init__(self) -> None:
        self.state_name = self.host = self.site = None


class _Job:
    """A stand-in Job with only the attributes the built-in fields read."""

    __slots__ = ("state", "latest", "host", "site", "transformation", "type_desc", "exit_raw", "tries", "job_id")

    def __init__(self) -> None:
        self.latest = _Latest()
        self.state = JobState.WAITING
        self.host = self.site = self.transformation = self.type_desc = self.exit_raw = self.job_id = None
        self.tries = range(0)


def _state_probe(p: _Job, key) -> None:
    state, code = key
    p.state = JobState(state)
    p.latest.state_name = None if code == NO_NAME else _STATE_NAMES[code]


def _string_probe(attr: str, latest: bool):
    def probe(p: _Job, v) -> None:
        setattr(p, attr, v)
        if latest:
            setattr(p.latest, attr, v)
    return probe


def _exit_probe(p: _Job, raw) -> None:
    p.exit_raw = None if raw == NONE_Q else raw


def _tries_probe(p: _Job, n) -> None:
    p.tries = range(n)


def _id_probe(p: _Job, v) -> None:
    p.job_id = v


# field -> (the column a term on it reads, how a stand-in takes one of its values, whether the
# values are interned ids, given to the stand-in as their strings)
def _fields(table: JobTable) -> dict:
    return {
        "host": (table.host, _string_probe("host", True), True),
        "site": (table.site, _string_probe("site", True), True),
        "xform": (table.xform, _string_probe("transformation", False), True),
        "type": (table.type_desc, _string_probe("type_desc", False), True),
        "exit": (table.exit, _exit_probe, False),
        "tries": (table.tries, _tries_probe, False),
        "id": (table.job_id, _id_probe, False),
    }


def select(table: JobTable, text: str, jobs=None) -> list[int]:
    """The job numbers (of all, or of ``jobs``) that ``query.parse(text)`` keeps, in their
    order.  Each term reads only the jobs the terms before it kept, as ``Selection.apply``
    does.  Raises ``QueryError`` as ``parse`` does, :class:`Unsupported` for a field the
    table does not hold."""
    query = parse(text)
    fields = _fields(table)
    names = registry.aliases()
    cand: list[int] | None = None if jobs is None else list(jobs)
    for word, term in zip(text.split(), query.tests):
        m = _TERM.match(word)
        if m is None:
            flags = _text_flags(table, word, cand)
        else:
            name = names.get(m.group(1), m.group(1))
            if name == "state":
                flags = _state_flags(table, term, cand)
            elif name in fields:
                flags = _value_flags(table, term, cand, *fields[name])
            else:
                raise Unsupported(f"the table holds no {name!r}")
        cand = list(compress(range(len(table)) if cand is None else cand, flags))
        if not cand:
            break
    return list(range(len(table))) if cand is None else cand


def mask(table: JobTable, text: str) -> list[bool]:
    """Per job number: does ``query.parse(text)`` keep the job?"""
    out = bytearray(len(table))
    scatter(out, select(table, text), repeat(1))
    return list(map(bool, out))


def _gather(col, cand):
    return col if cand is None else list(map(col.__getitem__, cand))


def _state_flags(table: JobTable, term, cand):
    """``state=``: the term asked of each (state, latest state name) pair, 7 x 34 stand-ins;
    when no state's answer depends on the name (no Parsl state named), one ``translate``
    of the state bytes."""
    p = _Job()
    codes = range(len(_STATE_NAMES) + 1)
    answers = []
    for s in range(len(JobState)):
        row = []
        for c in codes:
            _state_probe(p, (s, NO_NAME if c == len(_STATE_NAMES) else c))
            row.append(1 if term.test(p) else 0)
        answers.append(row)
    if all(len(set(row)) == 1 for row in answers):
        by_state = bytes(row[0] for row in answers).ljust(256, b"\0")
        if cand is None:
            return table.state.translate(by_state)
        return map(by_state.__getitem__, map(table.state.__getitem__, cand))
    for row in answers:
        row += [row[-1]] * (256 - len(row))  # NO_NAME (255) as no name
    return map(getitem, map(answers.__getitem__, _gather(table.state, cand)), _gather(table.stname, cand))


def _value_flags(table: JobTable, term, cand, col, probe, interned: bool):
    """The term asked once per distinct value the jobs hold, its answers mapped over them."""
    values = _gather(col, cand)
    p = _Job()
    if interned:
        strings = table.strings.values
        answers = [False] * len(strings)
        for v in set(values):
            probe(p, strings[v])
            answers[v] = bool(term.test(p))
        return map(answers.__getitem__, values)
    found = {}
    for v in set(values):
        probe(p, v)
        found[v] = bool(term.test(p))
    return map(found.__getitem__, values)


def _text_flags(table: JobTable, word: str, cand):
    """A bare word: the id, transformation, host or site matches (query._text_term)."""
    search = re.compile(word, re.IGNORECASE).search
    hit = [bool(v and search(v)) for v in table.strings.values]  # id 0 (none) never matches
    look = hit.__getitem__
    return [bool(a) or b or c or d for a, b, c, d in zip(
        map(search, _gather(table.job_id, cand)), map(look, _gather(table.xform, cand)),
        map(look, _gather(table.host, cand)), map(look, _gather(table.site, cand)))]


def cells(table: JobTable, i: int, now: float | None) -> dict[str, tuple[str, object]]:
    """The built-in text columns' cells of job ``i``, as ``columns.Column.cell`` gives them for
    the Job: (text, value class) by column key."""
    state = JobState(table.state[i])
    label, job_id, xform, host, tries, raw, dur = table.row(i, now)
    if raw is None:
        exit_cell: tuple[str, object] = ("", None)
    else:
        t = describe_exitcode(raw)
        if t.startswith("signal"):
            t = "sig" + t.split()[1]
        exit_cell = (t, JobState.FAILED if t != "0" else None)
    return {
        "state": (state.glyph, state),
        "id": (job_id, None),
        "xform": (xform, None),
        "status": (label, state),
        "host": (host, None),
        "tries": (str(tries) if tries else "", None),
        "exit": exit_cell,
        "dur": (human_duration(dur) if tries else "", None),
    }


__all__ = ["Unsupported", "cells", "mask", "select"]
