"""The job table's columns, its workflows, and the one state rule applied a column at a time.

A job is a number (0..n-1, in the order jobs arrive: ``Job.order - 1`` for a table filled
from a store); each field is one typed array indexed by it.  Only the latest try's fields
are kept (what every column, sort and filter reads); a try's history stays where it is
read on demand.  Absent values are explicit sentinels: ``NONE_I`` / ``NONE_Q`` in the int
columns, NaN in the float ones, id 0 in the interned ones, ``NO_NAME`` in ``stname``.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from collections.abc import Sequence
from itertools import compress, repeat
from operator import and_, eq, not_

from ...core.typed import text
from ..entities import _STATE_NAMES, _STATE_WORDS
from ..states import JobState
from ..store import derive_state
from .interner import Interner

NONE_I = -(2**31)  # an 'i' column's None (max_retries may be any int the DB holds)
NONE_Q = -(2**63)  # the exit column's None
NO_NAME = 255  # stname: no latest state
NAN = math.nan

# flags, one byte a job
PARTIAL = 1  # loaded in bulk, its history not read yet (Job.partial)
EC0 = 2  # the latest try's raw status (its POST script's, else main's) is 0: derive_state's ``ec``
TASKS = 4  # it has a planned task (Job.task_ids): a try's invocation does not name it then

# Stampede (and Parsl) state name <-> the byte ``stname`` keeps: 33 names today
STATE_CODE = {n: i for i, n in enumerate(_STATE_NAMES)}
assert len(_STATE_NAMES) < NO_NAME

_WAITING = int(JobState.WAITING)
_RUNNING = frozenset({int(JobState.RUNNING), int(JobState.RETRYING)})
_FAILED_ONLY = bytes(1 if s == int(JobState.FAILED) else 0 for s in range(256))


class _States(dict):
    """(tries, stname, ended, ec0, max_retries) -> JobState int: derive_state once per distinct
    key (a run has a few dozen), so a slice's states are one C-level map over its keys."""

    def __missing__(self, key):
        tries, code, ended, ec0, maxr = key
        if not tries:
            state = _WAITING
        else:
            state = int(derive_state(tries, None if code == NO_NAME else _STATE_NAMES[code], bool(ended),
                                     0 if ec0 else None, None if maxr == NONE_I else maxr))
        self[key] = state
        return state


_STATE_OF = _States()


class _Words(dict):
    """(stname, state) -> the STATE column's word (Job.state_label), interned in the table."""

    __slots__ = ("strings",)

    def __init__(self, strings: Interner):
        super().__init__()
        self.strings = strings

    def __missing__(self, key):
        code, state = key
        word = (_STATE_WORDS.get(_STATE_NAMES[code]) if code != NO_NAME else None) or JobState(state).label
        i = self[key] = self.strings.id(word)
        return i


def scatter(col, at, values) -> None:
    """``col[i] = v`` for each pair, in C: a map of ``__setitem__`` drained by a zero-length
    deque (~70 ns a value), or one slice assignment when ``at`` is a ``range`` (new jobs)."""
    if type(at) is range and at.step == 1:
        t = type(col)
        col[at.start:at.stop] = array(col.typecode, values) if t is array else t(values)
    else:
        deque(map(col.__setitem__, at, values), 0)


class JobTable:
    """Per-job typed columns, per-workflow counts, interned strings.  Filled by
    :mod:`.project` (from a store) or :mod:`.bulk` (from ``stampede.bulk`` rows)."""

    # the columns, by name: what the equivalence test compares and the benchmark weighs
    COLUMNS = ("wf", "job_id", "state", "word", "stname", "type_desc", "xform", "host", "site", "tries", "seq",
               "exit", "start", "end", "local_dur", "max_retries", "flags")
    # the columns holding interned ids
    INTERNED = frozenset({"word", "type_desc", "xform", "host", "site"})

    def __init__(self) -> None:
        self.strings = Interner()
        self._words = _Words(self.strings)
        # workflows: few; a number each, in the order they were added
        self.wf_uuids: list[str] = []
        self.wf_index: dict[str, int] = {}
        self.ended = bytearray()
        self.counts: list[list[int]] = []  # per workflow, per JobState
        self.retries: list[int] = []  # per workflow: sum of max(0, tries - 1) (Workflow.retries)
        self.index: list[dict[str, int]] = []  # per workflow: job id -> job number
        # jobs
        self.wf = array("I")
        self.job_id: list[str] = []
        self.state = bytearray()  # JobState
        self.word = array("I")  # the STATE column's word (PRE, POST, a Parsl state, else the state's label)
        self.stname = bytearray()  # the latest try's latest state name (STATE_CODE), NO_NAME: none
        self.type_desc = array("I")
        self.xform = array("I")
        self.host = array("I")  # the latest try's host and site
        self.site = array("I")
        self.tries = array("i")
        self.seq = array("i")  # the latest try's number, NONE_I before the first
        self.exit = array("q")  # Job.exit_raw (the removed-try placeholder as -1), NONE_Q: none
        self.start = array("d")  # the latest try's start, end, local duration; NaN: none
        self.end = array("d")
        self.local_dur = array("d")
        self.max_retries = array("i")
        self.flags = bytearray()

    def __len__(self) -> int:
        return len(self.job_id)

    # -- workflows ---------------------------------------------------------------------------------
    def add_workflow(self, uuid: str, ended: bool = False) -> int:
        wi = self.wf_index.get(uuid)
        if wi is None:
            wi = self.wf_index[uuid] = len(self.wf_uuids)
            self.wf_uuids.append(uuid)
            self.ended.append(0)
            self.counts.append([0] * len(JobState))
            self.retries.append(0)
            self.index.append({})
        if ended:
            self.set_ended(wi, True)
        return wi

    def set_ended(self, wi: int, ended: bool) -> None:
        """The workflow ended (or started again): its jobs' states are derived again, as
        the store's ``stampede.xwf.*`` handler recomputes them."""
        if bool(self.ended[wi]) != ended:
            self.ended[wi] = ended
            self.derive(list(self.index[wi].values()))

    # -- jobs ----------------------------------------------------------------------------------------
    def jobs_of(self, wis, ids) -> list[int] | range:
        """The job numbers of (workflow number, job id) pairs, each job made (waiting, as
        ``Store.job`` makes one) when first named, in the order named; a ``range`` when they
        are all made now, in order (a jobs slice: :func:`scatter` then assigns slices).  Ids
        are cleaned as the store cleans them (``typed.text``)."""
        wis = list(wis)
        ids = list(ids)
        try:
            clean = all(map(str.isprintable, ids))  # the common case, in C
        except TypeError:  # not all str
            clean = False
        if not clean:
            ids = [v if type(v) is str and v.isprintable() else text(v) for v in ids]
        one = len(set(wis)) == 1
        if one:  # one workflow, the common slice: one C-level lookup
            found = list(map(self.index[wis[0]].get, ids))
        else:
            index = self.index
            found = [index[w].get(j) for w, j in zip(wis, ids)]
        if None not in found:
            return found
        n0 = len(self.job_id)
        if one and found.count(None) == len(found) and len(set(ids)) == len(ids):
            # every job new, each named once: numbered in one go
            self.index[wis[0]].update(zip(ids, range(n0, n0 + len(ids))))
            self._extend(wis, ids)
            return range(n0, n0 + len(ids))
        self._make(wis, ids, found)
        return found

    def _make(self, wis: list, ids: list, found: list) -> None:
        n = len(self.job_id)
        new_wf, new_id = [], []
        index = self.index
        for k, j in enumerate(found):
            if j is None:
                w, jid = wis[k], ids[k]
                j = index[w].get(jid)  # named twice in the slice
                if j is None:
                    j = index[w][jid] = n
                    n += 1
                    new_wf.append(w)
                    new_id.append(jid)
                found[k] = j
        self._extend(new_wf, new_id)

    def _extend(self, new_wf: list, new_id: list) -> None:
        """New jobs' rows: waiting, nothing known."""
        k = len(new_id)
        self.wf.extend(new_wf)
        self.job_id.extend(new_id)
        # defaults by repetition of a one-item array (a memcpy; extend from repeat() is ~60 ns a value)
        for col, v in ((self.state, _WAITING), (self.word, self._words[NO_NAME, _WAITING]),
                       (self.stname, NO_NAME), (self.type_desc, 0), (self.xform, 0), (self.host, 0),
                       (self.site, 0), (self.tries, 0), (self.seq, NONE_I), (self.exit, NONE_Q),
                       (self.start, NAN), (self.end, NAN), (self.local_dur, NAN), (self.max_retries, NONE_I),
                       (self.flags, 0)):
            col += (bytearray((v,)) if type(col) is bytearray else array(col.typecode, (v,))) * k  # type: ignore
        for w, c in Counter(new_wf).items():
            self.counts[w][_WAITING] += c

    def find(self, uuid: str, job_id: str) -> int | None:
        wi = self.wf_index.get(uuid)
        return None if wi is None else self.index[wi].get(job_id)

    # -- state ---------------------------------------------------------------------------------------
    def derive(self, jobs: Sequence[int]) -> None:
        """The jobs' states from their columns (``store.derive_state``), their words, and the
        counts kept in step: C-level maps over the columns, one rule call a distinct key."""
        if not jobs:
            return
        one = len(self.wf_uuids) == 1  # the common table: its workflow need not be read a job
        wfs = None if one else list(map(self.wf.__getitem__, jobs))
        codes = list(map(self.stname.__getitem__, jobs))
        ended = repeat(self.ended[0]) if wfs is None else map(self.ended.__getitem__, wfs)
        keys = zip(map(self.tries.__getitem__, jobs), codes, ended,
                   map(and_, map(self.flags.__getitem__, jobs), repeat(EC0)),
                   map(self.max_retries.__getitem__, jobs))
        self.set_states(jobs, list(map(_STATE_OF.__getitem__, keys)), wfs, codes)

    def set_states(self, jobs: Sequence[int], new: list[int], wfs: list[int] | None = None,
                   codes: list[int] | None = None) -> None:
        """Set the jobs' states (and words, from ``stname``), keeping the counts in step
        (``wfs``: the jobs' workflows, read here unless the table has one workflow)."""
        if wfs is None and len(self.wf_uuids) != 1:
            wfs = list(map(self.wf.__getitem__, jobs))
        if codes is None:
            codes = list(map(self.stname.__getitem__, jobs))
        old = list(map(self.state.__getitem__, jobs))
        same = list(map(eq, old, new))
        if not all(same):
            moved = list(map(not_, same))
            counts = self.counts
            if wfs is None:
                c0 = counts[0]
                for s, c in Counter(compress(old, moved)).items():
                    c0[s] -= c
                for s, c in Counter(compress(new, moved)).items():
                    c0[s] += c
            else:
                for (w, s), c in Counter(zip(compress(wfs, moved), compress(old, moved))).items():
                    counts[w][s] -= c
                for (w, s), c in Counter(zip(compress(wfs, moved), compress(new, moved))).items():
                    counts[w][s] += c
            scatter(self.state, jobs, new)
        scatter(self.word, jobs, map(self._words.__getitem__, zip(codes, new)))

    # -- queries -------------------------------------------------------------------------------------
    def workflow_counts(self, uuid: str) -> list[int]:
        """Jobs by JobState of one workflow (``Workflow.counts``)."""
        return list(self.counts[self.wf_index[uuid]])

    def tree_counts(self, uuids) -> list[int]:
        """Jobs by JobState over workflows (``Store.tree_counts``: a workflow and its
        descendants, which the caller names: the tree is the workflows' business)."""
        out = [0] * len(JobState)
        for u in uuids:
            wi = self.wf_index.get(u)
            if wi is not None:
                out = list(map(int.__add__, out, self.counts[wi]))
        return out

    def failed(self) -> list[int]:
        """The failed jobs, in arrival order (``Store.failed_jobs``): one C pass over the state bytes."""
        return list(compress(range(len(self.state)), self.state.translate(_FAILED_ONLY)))

    def label(self, i: int) -> str:
        return self.strings.values[self.word[i]]  # type: ignore[return-value]

    def exit_raw(self, i: int) -> int | None:
        v = self.exit[i]
        return None if v == NONE_Q else v

    def duration(self, i: int, now: float | None) -> float | None:
        """``Job.duration``: the latest try's end (or now, running) minus its start."""
        if not self.tries[i]:
            return None
        start = self.start[i]
        if start != start:
            return None
        end = self.end[i]
        if end != end:
            if self.state[i] not in _RUNNING or now is None:
                d = self.local_dur[i]
                return None if d != d else d
            end = now
        return max(0.0, end - start)

    def row(self, i: int, now: float | None) -> tuple:
        """What a row shows, as values: (state label, job id, transformation (else type),
        host (else site), tries, raw exit status, duration)."""
        v = self.strings.values
        return (v[self.word[i]], self.job_id[i], v[self.xform[i] or self.type_desc[i]] or "",
                v[self.host[i] or self.site[i]] or "", self.tries[i], self.exit_raw(i), self.duration(i, now))

    def values(self, name: str) -> list:
        """A column as plain Python values (interned ids as their strings, sentinels as None):
        what two tables are compared by, whatever order their strings were interned in."""
        col = getattr(self, name)
        if name in self.INTERNED:
            return list(map(self.strings.values.__getitem__, col))
        if name == "wf":
            return list(map(self.wf_uuids.__getitem__, col))
        if name in ("seq", "max_retries"):
            return [None if v == NONE_I else v for v in col]
        if name == "exit":
            return [None if v == NONE_Q else v for v in col]
        if name == "stname":
            return [None if v == NO_NAME else _STATE_NAMES[v] for v in col]
        if col.__class__ is array and col.typecode == "d":
            return [None if v != v else v for v in col]
        return list(col)

    def nbytes(self) -> dict[str, int]:
        """Bytes each part takes (sys.getsizeof: the arrays' buffers, the lists, the strings
        and dicts they hold; the interned strings once)."""
        from sys import getsizeof

        out = {}
        for name in self.COLUMNS:
            col = getattr(self, name)
            out[name] = getsizeof(col) + (sum(map(getsizeof, col)) if name == "job_id" else 0)
        # the job id strings are the index's keys too: its dicts and the ints they map to
        out["index"] = sum(map(getsizeof, self.index)) + sum(getsizeof(j) for d in self.index for j in d.values())
        out["strings"] = getsizeof(self.strings.values) + getsizeof(self.strings._ids) + sum(
            map(getsizeof, self.strings.values))
        return out

