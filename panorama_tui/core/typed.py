"""Field values coerced once, at decode: the conversions every source's records
share, and the typed records (msgspec Structs) the hot Stampede events become.

A typed record reads as an event to the store (``name``, ``ts``, ``data``), and
its fields are already of their types: numbers, text with control characters
made visible.  A JSON line whose fields all have their wire types is decoded
straight into one by msgspec (:func:`typed_record`), which skips the ~10 fields
monitord repeats on every record that nothing reads.  Any other record (a
value of another type, BP's dotted keys, an ISO time, a dict from a source) is
converted field by field from its dict (:func:`record_of`): a value present but
unusable becomes a :class:`Bad` holding it, so the handler can warn with it and
keep what it had, as it always did.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, Union

import msgspec

from .fmt import visible
from .stampede import JOBSTATE_NAMES

_intern = sys.intern
_INTERN_MAX = 256  # longer strings are not worth a lookup (nor kept interned)
_NO_KEY = "ts (usable)"  # a field decoding never fills: typed_record and record_of set it after


def to_int(v):
    """An int from a number or a numeric string; None for anything else."""
    if type(v) is int:  # the common case, first: int(v) would return v itself
        return v
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(v))
        except (TypeError, ValueError, OverflowError):  # "abc", NaN, 1e400
            return None


def to_float(v):
    """A float from a number or a numeric string; None for anything else."""
    t = type(v)
    if t is float:  # the common cases, first: float(v) gives the same value
        return v
    if t is int:
        return float(v)
    if v is None or t is bool:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def text(v):
    """A field as text a view may show: the string with its control characters
    made visible (:func:`~panorama_tui.core.fmt.visible`); every string from an
    input enters the store through here or a typed record."""
    if v is None:
        return None
    if type(v) is not str:
        v = str(v)
    return v if v.isprintable() else visible(v)


def interned(v):
    """A short string the store keeps many times over (site, host, transformation), shared."""
    return _intern(v) if v and len(v) <= _INTERN_MAX else v


class Bad:
    """A field present but not of its type (a typed record's field holds it)."""

    __slots__ = ("raw",)

    def __init__(self, raw):
        self.raw = raw

    def warning(self, name: str, key: str) -> str:
        return f"{name}: {key} {self.raw!r} is not a number; ignored"[:200]


# -- the typed Stampede records -------------------------------------------------
#
# One class per handler, a subclass per event name (msgspec tells them apart by
# the "event" tag).  Fields in monitord's wire order: msgspec looks each key up
# from just after the last it matched.  Field kinds, for a record converted from
# a dict (what monitord's JSON gives decodes straight):
#   str | None               text(); _TRUTHY ones None when falsy (the handler tests them so)
#   int | None, float | None to_int() / to_float(), None when unusable; _WARN ones Bad
#   int | str | None         an int monitord sends as a string ("exitcode": "512",
#                            "clustered": "0"): converted after decoding, as above
#   _RAW                     kept as they come (stdout_text: unquote_text decides)


class StampedeRecord(msgspec.Struct, tag_field="event", gc=False, kw_only=True):
    """A hot Stampede event, typed.  ``ts`` is the usable time (as
    :attr:`Event.ts <panorama_tui.core.events.Event>`), ``raw_ts`` what came."""

    xwf_id: str | None = None
    wf_uuid: str | None = None
    raw_ts: int | float | str | None = msgspec.field(default=None, name="ts")
    ts: float | None = msgspec.field(default=None, name=_NO_KEY)
    # BP's dotted spelling of the workflow's keys: when one is there, whatever its
    # value, the general way reads every dotted key as ours, so the record goes that way
    # (two fields: 0.1 us a record against 0.5 for looking for the keys in the text)
    bp_xwf_id: Any = msgspec.field(default=msgspec.UNSET, name="xwf.id")
    bp_wf_uuid: Any = msgspec.field(default=msgspec.UNSET, name="wf.uuid")

    name: ClassVar[str] = ""
    _WARN: ClassVar[frozenset] = frozenset()
    _TRUTHY: ClassVar[frozenset] = frozenset({"xwf_id", "wf_uuid"})
    _RAW: ClassVar[frozenset] = frozenset()

    @property
    def data(self):
        """The store hands ``event.data`` to the handler: a typed record is its own."""
        return self


class JobInstRecord(StampedeRecord):
    """Every stampede.job_inst.* event but host.info: a jobstate, and what an
    instance's start and scripts carry."""

    job_id: str | None = None
    job_inst_id: int | None = None
    js_id: int | None = None
    status: int | None = None
    reason: str | None = None
    sched_id: str | None = None
    site: str | None = None
    stdout_file: str | None = None
    stderr_file: str | None = None

    _WARN = frozenset({"js_id", "status"})
    _TRUTHY = StampedeRecord._TRUTHY | {"reason", "stdout_file", "stderr_file"}


class JobEndRecord(JobInstRecord):
    """main.end and post.end: a jobstate and the instance's results.  Apart from
    the other job_inst events' so that they carry no fields their handler never
    reads (~0.4 us a record of converting exitcodes that are never there)."""

    user: str | None = None
    work_dir: str | None = None
    exitcode: int | str | None = None
    local_dur: float | None = None
    cluster_dur: float | None = None
    multiplier_factor: int | str | None = None
    stdout_text: str | None = None
    stderr_text: str | None = None

    _WARN = JobInstRecord._WARN | {"exitcode", "local_dur", "cluster_dur", "multiplier_factor"}
    _RAW = frozenset({"stdout_text", "stderr_text"})


class HostRecord(StampedeRecord):
    job_id: str | None = None
    job_inst_id: int | None = None
    site: str | None = None
    hostname: str | None = None
    ip: str | None = None


class InvEndRecord(StampedeRecord):
    job_id: str | None = None
    job_inst_id: int | None = None
    inv_id: int | None = None
    task_id: str | None = None
    transformation: str | None = None
    start_time: int | float | str | None = None  # to_epoch() decides, in the handler
    dur: float | None = None
    remote_cpu_time: float | None = None
    avg_cpu: float | None = None
    maxrss: int | None = None
    exitcode: int | str | None = None
    executable: str | None = None
    argv: str | None = None

    _WARN = frozenset({"exitcode"})
    _RAW = frozenset({"start_time"})


class JobInfoRecord(StampedeRecord):
    job_id: str | None = None
    submit_file: str | None = None
    type_desc: str | None = None
    clustered: int | str | None = None
    max_retries: int | str | None = None
    executable: str | None = None
    argv: str | None = None


class TaskInfoRecord(StampedeRecord):
    task_id: str | None = None
    type_desc: str | None = None
    transformation: str | None = None
    argv: str | None = None


class TaskMapRecord(StampedeRecord):
    job_id: str | None = None
    task_id: str | None = None


class IgnoredRecord(StampedeRecord):
    """Known events the store counts and keeps nothing of: decoded without their fields."""


IGNORED_NAMES = (
    "stampede.inv.start",
    "stampede.job.edge",
    "stampede.task.edge",
    "stampede.job_inst.composite",
    "stampede.job_inst.tag",
    "stampede.static.start",
    "stampede.static.end",
    "stampede.static.meta.start",
    "stampede.static.meta.end",
    "stampede.rc.meta",
    "stampede.rc.pfn",
    "stampede.wf.map.file",
)

_END_NAMES = ("stampede.job_inst.main.end", "stampede.job_inst.post.end")
_FAMILIES = {
    JobInstRecord: (
        *(n for n in JOBSTATE_NAMES if n not in _END_NAMES), "stampede.job_inst.submit.start",
    ),
    JobEndRecord: _END_NAMES,
    HostRecord: ("stampede.job_inst.host.info",),
    InvEndRecord: ("stampede.inv.end",),
    JobInfoRecord: ("stampede.job.info",),
    TaskInfoRecord: ("stampede.task.info",),
    TaskMapRecord: ("stampede.wf.map.task_job",),
    IgnoredRecord: IGNORED_NAMES,
}

# event name -> its class (a subclass of the family's, tagged with the name)
RECORD_TYPES: dict[str, type] = {}
for _family, _names in _FAMILIES.items():
    for _name in _names:
        RECORD_TYPES[_name] = msgspec.defstruct(
            _family.__name__, [], bases=(_family,), tag=_name, namespace={"name": _name}, module=__name__
        )


def _kind(cls, field) -> str:
    if field.name in cls._RAW or field.name == "raw_ts":
        return "raw"
    t = field.type
    if t == (str | None):
        return "truthy" if field.name in cls._TRUTHY else "str"
    base = "int" if t in (int | None, int | str | None) else "float"
    return base + ("!" if field.name in cls._WARN else "")


def _loose(field) -> bool:
    return field.type in (int | str | None, float | str | None)


# per class: (attribute, wire key, kind) for every field decoding fills
_SPECS: dict[type, tuple] = {
    cls: tuple(
        (f.name, f.encode_name, _kind(cls, f))
        for f in msgspec.structs.fields(cls)
        if f.encode_name not in (_NO_KEY, "xwf.id", "wf.uuid")
    )
    for cls in set(RECORD_TYPES.values())
}
# per class: its text fields, and its ints monitord sends as strings
_TEXT = {cls: tuple(a for a, _k, kind in spec if kind in ("str", "truthy")) for cls, spec in _SPECS.items()}
_LOOSE = {
    cls: tuple((f.name, _kind(cls, f)) for f in msgspec.structs.fields(cls) if _loose(f)) for cls in _SPECS
}


def _convert(v, kind: str):
    if kind == "str":
        return text(v)
    if kind == "truthy":
        return text(v) if v else None
    if kind == "raw":
        return v
    num = to_float(v) if kind.startswith("float") else to_int(v)
    if num is None and kind[-1] == "!":
        return Bad(v)
    return num


def record_of(name: str, d: dict, ts):
    """The typed record of an event that came as a dict (``ts``: its usable time);
    None when ``name`` has none."""
    cls = RECORD_TYPES.get(name)
    if cls is None:
        return None
    x = cls()
    for attr, key, kind in _SPECS[cls]:
        v = d.get(key)
        if v is not None:
            setattr(x, attr, _convert(v, kind))
    x.ts = ts
    return x


# One decoder for them all, told apart by the "event" tag.  monitord writes that key
# last, so msgspec reads ahead for it; still 1.15 us a record against 1.43 for
# finding the name in the text and a decoder per name (the ingest benchmark's
# records, measured on this machine), and orjson's dict 1.24.
_record_decode = msgspec.json.Decoder(Union[tuple(RECORD_TYPES.values())]).decode
# RecursionError: a field it skips nested ~1,000 deep (the general way decides about that record)
_RECORD_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_UNSET = msgspec.UNSET
_PLAUSIBLE_EPOCH = 1e8  # as events.to_epoch: before 1973 or after 2286 is no wall-clock time
_LATEST_EPOCH = 1e10


def typed_record(raw):
    """A JSON line (str or bytes) of a hot Stampede event as its typed record; None
    when it is not one, or is not as monitord writes it: the caller decodes it the
    general way, which decides and warns."""
    try:
        x = _record_decode(raw)
    except _RECORD_ERRORS:
        return None
    t = x.raw_ts
    tt = type(t)
    if (
        (tt is not float and tt is not int) or not (x.xwf_id or x.wf_uuid)
        or x.bp_xwf_id is not _UNSET or x.bp_wf_uuid is not _UNSET
    ):
        # no time (another key may hold one) or an ISO one, no workflow, BP's dotted
        # keys (the general way reads them all as underscored ones): the general way decides
        return None
    x.ts = float(t) if _PLAUSIBLE_EPOCH <= t < _LATEST_EPOCH else None
    cls = type(x)
    for attr, kind in _LOOSE[cls]:
        v = getattr(x, attr)
        if type(v) is str:
            # monitord's "0", "1", "512": int() of a few ASCII digits is what to_int gives,
            # without _convert's tests (48k of the ingest benchmark's 146k records; past
            # 4,300 digits int() raises, and to_int decides)
            setattr(x, attr, int(v) if len(v) < 19 and v.isdigit() and v.isascii() and kind[0] == "i"
                    else _convert(v, kind))
    if not raw.isascii() or ("\\" in raw if type(raw) is str else b"\\" in raw) or (
        "\x7f" in raw if type(raw) is str else b"\x7f" in raw
    ):  # a string may hold a character a terminal must not get raw
        for attr in _TEXT[cls]:
            v = getattr(x, attr)
            if v is not None and not v.isprintable():
                setattr(x, attr, visible(v))
    return x
