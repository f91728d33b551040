"""A store's state as bytes, and back: the checkpoints a recording keeps (issue #14),
so a replay's seek restores the state at a point and replays only what follows it.

Recordings are shared to debug a failure after the fact, so restoring one must never
run code from the file: the body is data only, msgpack (msgspec) of lists, strings,
numbers and bytes, zlib-compressed; the objects are rebuilt here, by position, from
the entity classes this module names (``Job.__new__`` and slot sets), never from a
class or function the file names (pickle would, and a restricted Unpickler is one
allow-list away from doing so).  Tuples and dicts whose keys are not strings, which
msgpack does not tell apart, travel as msgpack extensions this module decodes.
A body that is damaged, of another version or of the wrong shape raises
:class:`CheckpointError`, whatever the damage (a decoder that meets a wrong type
raises TypeError, IndexError...: all are that error here).

A job is a row of its fields (``attrgetter``: one C call a job), its tries rows of
theirs, a try's states the packed bytes the store keeps, a series its sample arrays'
bytes.  Building a store from rows runs with the collector off and freezes the result,
as :mod:`~panorama_tui.core.gcpolicy` does for a store that grew (the build would
otherwise trigger collections that walk the new objects again and again).

Kept whole: every field of every workflow, job, try, invocation, task, series and
transfer, the counters (events, names, unknown names, bad records, warnings and the
last 200 of them), the failed and active jobs.  A store holding what this cannot
keep (a Parsl run's own objects) raises :class:`Unsupported`: no checkpoint then,
and the replay goes on from zero as before.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections import Counter, deque
from operator import attrgetter
from typing import Callable

import msgspec

from ..core import gcpolicy
from .entities import NO_INVOCATIONS, Invocation, Job, Task, Transfer, Try, Workflow
from .series import RankSeries, ResourceSeries
from .states import JobState

try:  # the same zlib stream, made ~3x faster (zlib-ng is a dependency; zlib serves without it)
    from zlib_ng import zlib_ng as _zng

    _compress: Callable[[bytes, int], bytes] = _zng.compress
    _decompress: Callable[[bytes], bytes] = _zng.decompress
    _ZERRORS: tuple[type[BaseException], ...] = (zlib.error, _zng.error)  # type: ignore[assignment]
except ImportError:  # pragma: no cover
    _compress, _decompress = zlib.compress, zlib.decompress
    _ZERRORS = (zlib.error,)

VERSION = 1
LEVEL = 1  # zlib level: the body is mostly packed doubles and repeated strings; 1 is the fast one

_EXT_TUPLE = 1
_EXT_DICT = 2  # a dict whose keys are not all strings: its (key, value) pairs


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored (damaged, another version, the wrong shape)."""


class Unsupported(ValueError):
    """The store holds what a checkpoint cannot keep."""


# -- the fields, by position --------------------------------------------------------------

# Kept by position: a field added to an entity must be added here (tests/test_checkpoint.py
# checks these lists against the classes' __slots__).
_JOB_PLAIN = ("job_id", "type_desc", "transformation", "max_retries", "submit_file", "executable",
              "argv", "state", "subwf_uuid", "order", "partial", "clustered")
_JOB_RICH = ("task_ids", "darshan", "transfers", "summary")  # tuples and data dicts: packed one by one
_JOB_OWN = ("wf", "tries", "latest", "series")  # rebuilt: the workflow, the tries, the latest try, the series
_TRY_PLAIN = ("seq", "sched_id", "site", "host", "ip", "user", "work_dir", "_st", "_li", "state_name", "start_ts",
              "end_ts", "main_exitcode", "post_exitcode", "local_dur", "cluster_dur", "stdout_file",
              "stderr_file", "stdout_text", "stderr_text", "reason", "multiplier")
_TRY_OWN = ("invocations",)
_INV = Invocation.__slots__
_TASK = Task.__slots__
_TRANSFER_PLAIN = ("task_id", "wf_uuid", "job_id", "ts")
_WF_PLAIN = ("wf_uuid", "label", "parent_uuid", "root_uuid", "parent_job_id", "submit_dir", "user",
             "submit_host", "planner_version", "dag_file", "plan_ts", "start_ts", "end_ts", "status", "retries",
             "state")
_WF_RICH = ("wf_states", "children", "counts", "meta", "integrity", "dagman", "stalled")
_WF_OWN = ("jobs", "tasks")
_SERIES_PLAIN = ("hostname", "pid", "exe", "threads", "procs")

_job_plain = attrgetter(*_JOB_PLAIN)
_job_rich = attrgetter(*_JOB_RICH)
_try_plain = attrgetter(*_TRY_PLAIN)
_inv_row = attrgetter(*_INV)
_task_row = attrgetter(*_TASK)
_wf_plain = attrgetter(*_WF_PLAIN)
_series_plain = attrgetter(*_SERIES_PLAIN)
_JOB_STATES = tuple(JobState)

_PRIMITIVE = frozenset({str, int, float, bool, bytes, type(None)})


# -- packing ------------------------------------------------------------------------------

_encode = msgspec.msgpack.Encoder().encode


def _pack(v):
    """A data value (what handlers keep of a record: strings, numbers, lists, dicts,
    tuples) as msgpack can carry it; :class:`Unsupported` for anything else."""
    t = type(v)
    if t in _PRIMITIVE:
        return v
    if t is list:
        return [_pack(x) for x in v]
    if t is tuple:
        return msgspec.msgpack.Ext(_EXT_TUPLE, _encode([_pack(x) for x in v]))
    if t is dict:
        if all(type(k) is str for k in v):
            return {k: _pack(x) for k, x in v.items()}
        return msgspec.msgpack.Ext(_EXT_DICT, _encode([[_pack(k), _pack(x)] for k, x in v.items()]))
    if t is JobState:
        return int(v)
    raise Unsupported(f"a {t.__name__} in the store")


def _ext(code: int, data: memoryview):
    inner = msgspec.msgpack.decode(data, ext_hook=_ext)
    if code == _EXT_TUPLE:
        return tuple(inner)
    if code == _EXT_DICT:
        return {k: v for k, v in inner}
    raise CheckpointError(f"unknown extension {code}")


def _rank_row(rs: RankSeries | None):
    return None if rs is None else (rs._a.tobytes(), rs.capacity)


def _series_row(s: ResourceSeries | None):
    if s is None:
        return None
    more = None if s._more is None else [(k, *_rank_row(v)) for k, v in s._more.items()]
    return (s._rank, _rank_row(s._rs), more, *_series_plain(s))


def _try_rows(tries: dict) -> list:
    out = []
    for t in tries.values():
        invs = t.invocations
        out.append((_try_plain(t), None if invs is NO_INVOCATIONS else list(map(_inv_row, invs.values()))))
    return out


def _job_row(j: Job) -> tuple:
    task_ids, darshan, transfers, summary = _job_rich(j)
    rich = None
    if darshan is not None or transfers is not None or summary is not None:
        rich = (_pack(darshan), _pack(transfers), _pack(summary))
    latest = j.latest
    return (_job_plain(j), list(task_ids), rich, _try_rows(j.tries),
            -1 if latest is None else latest.seq, _series_row(j.series))


def _wf_row(wf: Workflow, jobs: list) -> tuple:
    return (_wf_plain(wf), [_pack(getattr(wf, n)) for n in _WF_RICH],
            [_task_row(t) for t in wf.tasks.values()], [_job_row(j) for j in jobs])


def capture(store) -> tuple:
    """What :func:`pack` needs of ``store``: its counters and its workflows' job lists.

    Called with the store's lock held, and quick (a list of each workflow's jobs):
    :func:`pack` then reads the objects themselves, on the thread that owns the store
    (the ingest thread: the only one that changes it), outside the lock."""
    return (
        store.event_count, list(store.event_names.items()), list(store.unknown.items()),
        store.bad_count, list(store.warnings), store.warning_count, store.latest_ts, store._order,
        store.version, [(wf, list(wf.jobs.values())) for wf in store.workflows.values()],
        list(store.transfers.items()), [j.key for j in store._failed.values()], [j.key for j in store.active],
    )


def _pack_all(captured: tuple) -> bytes:
    (events, names, unknown, bad, warnings, warning_count, latest_ts, order, version,
     workflows, transfers, failed, active) = captured
    for wf, _ in workflows:
        if any(type(v) not in _PRIMITIVE and type(v) not in (dict, list, tuple) for v in wf.meta.values()):
            raise Unsupported("a Parsl run's objects in the store")
    body = (
        VERSION, sys.byteorder, events, [(_pack(k), n) for k, n in names], [(_pack(k), n) for k, n in unknown],
        bad, warnings, warning_count, latest_ts, order, version,
        [_wf_row(wf, jobs) for wf, jobs in workflows],
        [(_pack(k), _transfer_row(tr)) for k, tr in transfers],
        [list(k) for k in failed], [list(k) for k in active],
    )
    try:
        raw = _encode(body)
    except TypeError as exc:  # a field holding what msgpack cannot carry
        raise Unsupported(str(exc)) from None
    return _compress(raw, LEVEL)


def pack(captured: tuple) -> bytes:
    """The checkpoint's body; :class:`Unsupported` when the store holds what it cannot keep.
    Its rows hold no cycle: the collector is kept off while they are made."""
    with gcpolicy.no_collections():
        return _pack_all(captured)


def _transfer_row(tr: Transfer) -> tuple:
    return (tr.task_id, tr.wf_uuid, tr.job_id, tr.ts, _pack(tr.data), _pack(tr.rank))


def encode(store) -> bytes:
    """:func:`capture` (under the store's lock) then :func:`pack`."""
    with store.lock:
        captured = capture(store)
    return pack(captured)


# -- building a store ---------------------------------------------------------------------


class State:
    """A store's contents rebuilt from a checkpoint, to swap in (:meth:`Store.restore`)."""

    __slots__ = ("workflows", "transfers", "event_count", "event_names", "unknown", "bad_count", "warnings",
                 "warning_count", "active", "latest_ts", "_order", "_failed", "version")
    workflows: dict[str, Workflow]
    transfers: dict
    event_count: int
    event_names: Counter
    unknown: Counter
    bad_count: int
    warnings: deque
    warning_count: int
    active: set[Job]
    latest_ts: float | None
    _order: int
    _failed: dict[tuple, Job]
    version: int


def decode(body: bytes) -> State:
    """The state a checkpoint's body holds; :class:`CheckpointError` when it cannot be read.
    Its objects are made with the collector off, then frozen (:func:`gcpolicy.build_frozen`)."""
    return gcpolicy.build_frozen(_decode, body)


def _decode(body: bytes) -> State:
    try:
        raw = _decompress(body)
    except _ZERRORS as exc:
        raise CheckpointError(f"zlib: {exc}") from None
    except TypeError:
        raise CheckpointError(f"not a body ({type(body).__name__})") from None
    try:
        data = msgspec.msgpack.decode(raw, ext_hook=_ext)
        if type(data) is not list or len(data) < 2 or data[0] != VERSION:
            got = data[0] if type(data) is list and data else "?"
            raise CheckpointError(f"version {got!r}, not {VERSION}")
        if data[1] != sys.byteorder:  # states and samples are packed doubles in the writer's order
            raise CheckpointError(f"written on a {data[1]!r}-endian machine")
        return _build(data)
    except CheckpointError:
        raise
    except Exception as exc:  # a body of the wrong shape: any decoder's error is this one
        raise CheckpointError(f"{type(exc).__name__}: {exc}"[:200]) from None


def _build(data: list) -> State:
    (_, _, events, names, unknown, bad, warnings, warning_count, latest_ts, order, version,
     wf_rows, transfer_rows, failed, active) = data
    st = State()
    st.event_count, st.bad_count, st.warning_count = int(events), int(bad), int(warning_count)
    st.event_names, st.unknown = Counter(dict(names)), Counter(dict(unknown))
    from .store import MAX_WARNINGS

    st.warnings = deque((str(w) for w in warnings), maxlen=MAX_WARNINGS)
    st.latest_ts, st._order, st.version = latest_ts, int(order), int(version)
    workflows: dict[str, Workflow] = {}
    for row in wf_rows:
        wf = _workflow(row)
        workflows[wf.wf_uuid] = wf
    st.workflows = workflows
    transfers: dict = {}
    for key, (task_id, wf_uuid, job_id, ts, data_, rank) in transfer_rows:
        tr = Transfer.__new__(Transfer)
        tr.task_id, tr.wf_uuid, tr.job_id, tr.ts, tr.data, tr.rank = task_id, wf_uuid, job_id, ts, data_, rank
        transfers[key] = tr
    st.transfers = transfers
    st._failed = {(u, j): workflows[u].jobs[j] for u, j in failed}
    st.active = {workflows[u].jobs[j] for u, j in active}
    return st


def _workflow(row: list) -> Workflow:
    plain, rich, task_rows, job_rows = row
    wf = Workflow.__new__(Workflow)
    for name, v in zip(_WF_PLAIN, plain, strict=True):
        setattr(wf, name, v)
    for name, v in zip(_WF_RICH, rich, strict=True):
        setattr(wf, name, v)
    tasks = {}
    for r in task_rows:
        task = Task.__new__(Task)
        for name, v in zip(_TASK, r, strict=True):
            setattr(task, name, v)
        tasks[task.task_id] = task
    wf.tasks = tasks
    jobs = wf.jobs = {}
    new_job, new_try = Job.__new__, Try.__new__
    # The short strings thousands of jobs repeat (site, host, user, type, transformation) are
    # one object each, as the store keeps them (core.typed.interned): a dict here is ~5x
    # cheaper a string than a call of interned().
    shared: dict[str | None, str | None] = {}
    share = shared.setdefault
    states = _JOB_STATES
    for plain, task_ids, rich, try_rows, latest, series in job_rows:
        j = new_job(Job)
        (j.job_id, type_desc, transformation, j.max_retries, j.submit_file, j.executable, j.argv, state,
         j.subwf_uuid, j.order, j.partial, j.clustered) = plain
        j.type_desc, j.transformation = share(type_desc, type_desc), share(transformation, transformation)
        j.state = states[state]
        j.wf = wf
        j.task_ids = tuple(task_ids)
        if rich is None:
            j.darshan = j.transfers = j.summary = None
        else:
            j.darshan, j.transfers, j.summary = rich
        tries = j.tries = {}
        for tplain, invs in try_rows:
            t = new_try(Try)
            (t.seq, t.sched_id, site, host, t.ip, user, t.work_dir, t._st, t._li, t.state_name, t.start_ts,
             t.end_ts, t.main_exitcode, t.post_exitcode, t.local_dur, t.cluster_dur, t.stdout_file,
             t.stderr_file, t.stdout_text, t.stderr_text, t.reason, t.multiplier) = tplain
            t.site, t.host, t.user = share(site, site), share(host, host), share(user, user)
            if invs is None:
                t.invocations = NO_INVOCATIONS
            else:
                d = t.invocations = {}
                for r in invs:
                    inv = Invocation.__new__(Invocation)
                    (inv.inv_id, inv.task_id, transformation, inv.start_time, inv.dur, inv.exitcode,
                     inv.remote_cpu_time, inv.maxrss, inv.avg_cpu, inv.executable, inv.argv) = r
                    inv.transformation = share(transformation, transformation)
                    d[inv.inv_id] = inv
            tries[t.seq] = t
        j.latest = tries[latest] if latest >= 0 else None
        j.series = None if series is None else _series(series)
        jobs[j.job_id] = j
    return wf


def _rank(row) -> RankSeries | None:
    if row is None:
        return None
    a, capacity = row
    rs = RankSeries.__new__(RankSeries)
    rs._a = array("d", a)
    rs.capacity = capacity
    return rs


def _series(row) -> ResourceSeries:
    s = ResourceSeries.__new__(ResourceSeries)
    rank, rs, more, s.hostname, s.pid, s.exe, s.threads, s.procs = row
    s._rank, s._rs = rank, _rank(rs)
    s._more = None if more is None else {k: _rank((a, cap)) for k, a, cap in more}
    return s
