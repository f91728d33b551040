"""The filter language (:mod:`.query`) and the job list's cells over a :class:`JobTable`.

``mask(table, text)`` gives one flag per job number: what ``query.parse(text)`` says of each
Job.  A value term (``state=``, ``host~``, ``xform=``, ``exit!=``, ``tries>`` ...) is the real
parsed term, asked once per distinct value of the column(s) it reads -- through a stand-in
job that carries just that value -- and its answers mapped over the column's ids in C: a
filter pass over 100k jobs asks a few hundred questions, not 100k.  A bare word (a regex over
the id, transformation, host and site) searches the ids and each distinct string once.
Fields the table does not hold (``wf``, a plug-in column's) raise :class:`Unsupported`.
"""

from __future__ import annotations

import re
from operator import and_

from ..core.events import describe_exitcode
from ..core.fmt import human_duration
from ..model.states import JobState
from ..model.entities import _STATE_NAMES
from ..model.table.jobtable import NO_NAME, NONE_Q, JobTable
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


# field -> (the column(s) a term on it reads, per job; how a stand-in takes one value of them;
# whether the values are interned ids, given to the stand-in as their strings)
def _fields(table: JobTable) -> dict:
    return {
        "state": (lambda: zip(table.state, table.stname), _state_probe, False),
        "host": (lambda: table.host, _string_probe("host", True), True),
        "site": (lambda: table.site, _string_probe("site", True), True),
        "xform": (lambda: table.xform, _string_probe("transformation", False), True),
        "type": (lambda: table.type_desc, _string_probe("type_desc", False), True),
        "exit": (lambda: table.exit, _exit_probe, False),
        "tries": (lambda: table.tries, _tries_probe, False),
        "id": (lambda: table.job_id, _id_probe, False),
    }


def mask(table: JobTable, text: str) -> list[bool]:
    """Per job number: does ``query.parse(text)`` keep the job?  Raises ``QueryError`` as
    ``parse`` does, :class:`Unsupported` for a field the table does not hold."""
    query = parse(text)
    out: list[bool] = [True] * len(table)
    fields = _fields(table)
    names = registry.aliases()
    for word, term in zip(text.split(), query.tests):
        m = _TERM.match(word)
        if m is None:
            flags = _text_mask(table, word)
        else:
            name = names.get(m.group(1), m.group(1))
            if name not in fields:
                raise Unsupported(f"the table holds no {name!r}")
            flags = _value_mask(table, term, *fields[name])
        out = list(map(and_, out, flags))
    return out


def _value_mask(table: JobTable, term, column, probe, interned: bool) -> list[bool]:
    values = table.strings.values
    col = list(column())
    p = _Job()
    answers = {}
    for v in set(col):
        probe(p, values[v] if interned else v)
        answers[v] = bool(term.test(p))
    return list(map(answers.__getitem__, col))


def _text_mask(table: JobTable, word: str) -> list[bool]:
    """A bare word: the id, transformation, host or site matches (query._text_term)."""
    search = re.compile(word, re.IGNORECASE).search
    hit = [bool(v and search(v)) for v in table.strings.values]  # id 0 (none) never matches
    look = hit.__getitem__
    return [bool(a) or b or c or d for a, b, c, d in zip(map(search, table.job_id), map(look, table.xform),
                                                           map(look, table.host), map(look, table.site))]


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


__all__ = ["Unsupported", "cells", "mask"]
