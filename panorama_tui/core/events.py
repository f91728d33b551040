"""One event model for every kind of Panorama data.

An :class:`Event` is a name, a timestamp and the event's fields with Pegasus's
quirks decoded at the edge, so nothing downstream has to know whether a record
came from monitord's JSON, its NetLogger BP text, a kickstart trace, Darshan or
Globus.  Decoding is on the ingest hot path: it does the least it can per event.
For the store, the events most of a run is made of are decoded further, into
typed structs whose fields are converted once, here: the /proc trace samples
(:class:`TraceSample`, below) and the hot Stampede events
(:mod:`panorama_tui.core.typed`).

JSON is parsed with orjson when it is installed (~3x faster than ``json``).
Whatever orjson refuses is handed to ``json``, which decides: ``json`` accepts
more (``NaN``, ``Infinity``, ``1e400``, lone surrogates, a UTF-8 BOM in bytes),
and its error message is the one a bad record is counted with, so the two
parsers give the same events and the same errors.  One difference remains:
orjson reads an integer beyond the 64-bit range (no Pegasus field comes near)
as the nearest float where ``json`` keeps the exact int.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

try:  # optional: the fast parser
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency, but stay usable without it
    _fast_loads = None
import msgspec

from .fmt import visible

__all__ = [
    "Event",
    "BadEvent",
    "decode",
    "decode_line",
    "decode_exitcode",
    "describe_exitcode",
    "PLACEHOLDER_STATES",
    "PLACEHOLDER_RAW",
    "REMOVED_EXIT",
    "unquote_text",
    "KNOWN_EVENTS",
    "MAX_LINE_BYTES",
    "MAX_TEXT_CHARS",
    "loads",
    "TraceSample",
    "decode_sample",
]

# monitord caps stdout/stderr at 64 KiB; we hold ourselves to the same so one
# hostile record cannot make every job row expensive.
MAX_TEXT_CHARS = 64 * 1024
# A single line or message beyond this is refused whole rather than parsed.
MAX_LINE_BYTES = 16 * 1024 * 1024

# Anything earlier than 1973 is not a wall-clock time: monitord stamps static
# (planning) events with small numbers relative to an unknown origin.
_PLAUSIBLE_EPOCH = 1e8
# Nor is anything after 2286 (1e10): milliseconds read as seconds, or garbage.  It
# also keeps every time in the range time.gmtime and datetime can format
# (1e20 raised OverflowError in the views).
_LATEST_EPOCH = 1e10
_std_loads = json.loads


def loads(line):
    """Parse one JSON text (str or bytes) with ``json``'s results and errors,
    faster when orjson is installed (see the module's docstring)."""
    if _fast_loads is not None:
        try:
            return _fast_loads(line)
        except Exception:
            pass  # json decides: it accepts more, and its message is the one we show
    return _std_loads(line)

STAMPEDE_EVENTS = frozenset(
    {
        "stampede.wf.plan",
        "stampede.static.start",
        "stampede.static.end",
        "stampede.static.meta.start",
        "stampede.static.meta.end",
        "stampede.xwf.start",
        "stampede.xwf.end",
        "stampede.xwf.meta",
        "stampede.xwf.map.subwf_job",
        "stampede.task.info",
        "stampede.task.edge",
        "stampede.task.meta",
        "stampede.task.monitoring",
        "stampede.wf.map.task_job",
        "stampede.wf.map.file",
        "stampede.job.info",
        "stampede.job.edge",
        "stampede.job_inst.pre.start",
        "stampede.job_inst.pre.term",
        "stampede.job_inst.pre.end",
        "stampede.job_inst.submit.start",
        "stampede.job_inst.submit.end",
        "stampede.job_inst.held.start",
        "stampede.job_inst.held.end",
        "stampede.job_inst.main.start",
        "stampede.job_inst.main.term",
        "stampede.job_inst.main.end",
        "stampede.job_inst.post.start",
        "stampede.job_inst.post.term",
        "stampede.job_inst.post.end",
        "stampede.job_inst.host.info",
        "stampede.job_inst.image.info",
        "stampede.job_inst.abort.info",
        "stampede.job_inst.grid.submit.start",
        "stampede.job_inst.grid.submit.end",
        "stampede.job_inst.globus.submit.start",
        "stampede.job_inst.globus.submit.end",
        "stampede.job_inst.tag",
        "stampede.job_inst.composite",
        "stampede.inv.start",
        "stampede.inv.end",
        "stampede.int.metric",
        "stampede.rc.meta",
        "stampede.rc.pfn",
    }
)
PANORAMA_EVENTS = frozenset(
    {
        "kickstart.inv.online",
        "kickstart.inv.summary",
        "darshan.perf",
        "darshan.error",
        "int.metric",
        "transfer.inv.go",
        "transfer.status",
        "collector.status",
    }
)
from .parsl_events import PARSL_EVENTS  # noqa: E402  (a Parsl run's rows: parsl_events.py)

KNOWN_EVENTS = STAMPEDE_EVENTS | PANORAMA_EVENTS | PARSL_EVENTS

# Monitord's BP encoding spells keys with dots (``xwf.id``); its JSON encoding
# with underscores.  Every BP stampede record carries one of these.
_BP_MARKERS = ("xwf.id", "wf.uuid")


class BadEvent(ValueError):
    """A record that cannot become an :class:`Event`; the message is one line."""


class Event(msgspec.Struct, eq=False):
    """A decoded event.  ``data`` keeps every field with underscore keys.

    A msgspec Struct for its C constructor (~65 ns against ~145 for a
    class with ``__init__``: one per event on the ingest path); ``eq=False``
    keeps comparison and hashing by identity, as for a plain object."""

    name: str
    ts: float | None
    data: dict

    @property
    def known(self) -> bool:
        return self.name in KNOWN_EVENTS

    @property
    def wf_uuid(self) -> str | None:
        d = self.data
        return d.get("xwf_id") or d.get("wf_uuid")

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Event({self.name!r}, ts={self.ts!r})"

    def to_json(self) -> str:
        d = dict(self.data)
        d["event"] = self.name
        return json.dumps(d, separators=(",", ":"), default=str)


def _normalize_keys(obj: dict) -> dict:
    return {k.replace(".", "_"): v for k, v in obj.items()}


# YYYY-MM-DD, then optionally T (or t, or a space) HH:MM[:SS[.fraction]] and a zone:
# Z, +HH:MM, +HHMM or +HH.  datetime.fromisoformat is no judge: 3.10 refuses Z and
# fractions of other than 3 or 6 digits, and 3.11+ take basic and week forms.
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"(?:([Zz])|([+-])(\d\d)(?::?(\d\d))?)?)?"
)
# BP's and Elasticsearch's own form, which fromisoformat reads alike on every Python
# once Z is +00:00: twice as fast as the general way, and quicker than before
# (a float() that failed first), for the ts of every BP event.
_ISO_COMMON = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6})?Z").fullmatch
_fromisoformat = datetime.fromisoformat
_UTC = timezone.utc


def iso_epoch(text: str) -> float | None:
    """An ISO-8601 date and time as epoch seconds, the same on every Python; None if it is not one.

    A fraction past microseconds is cut (as Python 3.11+ does); naive times are UTC."""
    if _ISO_COMMON(text) is not None:
        try:
            return _fromisoformat(text[:-1] + "+00:00").timestamp()
        except ValueError:  # 2023-02-30, 25:00, a 60th second
            return None
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, _z, sign, oh, om = m.groups()
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    try:
        tz = _UTC
        if sign:
            if om and int(om) > 59:
                return None
            offset = timedelta(hours=int(oh), minutes=int(om or 0))
            tz = timezone(-offset if sign == "-" else offset)  # refuses 24 h or more
        return datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro, tzinfo=tz).timestamp()
    except ValueError:  # 2023-02-30, 25:00, a 60th second
        return None


def to_epoch(value) -> float | None:
    """A timestamp as epoch seconds, or None when it is not a real time.

    Accepts numbers, numeric strings and ISO-8601 (BP ``ts`` and Elasticsearch
    ``@timestamp``; see :func:`iso_epoch`).  Naive ISO strings are taken as UTC,
    as BP writes them.
    """
    t = type(value)
    if t is float:  # the common cases first
        return value if _PLAUSIBLE_EPOCH <= value < _LATEST_EPOCH else None
    if t is int:
        return float(value) if _PLAUSIBLE_EPOCH <= value < _LATEST_EPOCH else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            f = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        if len(value) >= 10 and value[4] == "-":  # a date (a number has no '-' there but in a tiny exponent)
            f = iso_epoch(value)
            if f is None:
                return None
        else:
            try:
                f = float(value)
            except ValueError:
                return None
    else:
        return None
    if not _PLAUSIBLE_EPOCH <= f < _LATEST_EPOCH:  # NaN fails both
        return None
    return f


def decode(obj) -> Event:
    """Turn one parsed record into an :class:`Event`.

    Unknown event names are kept (``Event.known`` is False) so the store can
    count and show them; only records that are not objects or carry no name
    at all are refused.
    """
    if type(obj) is not dict and not isinstance(obj, dict):
        raise BadEvent(f"not a JSON object ({type(obj).__name__})")
    if "xwf.id" in obj or "wf.uuid" in obj:
        obj = _normalize_keys(obj)
    name = obj.get("event")
    if name == "stampede.task.monitoring" or (name is None and "monitoring_event" in obj):
        # Panorama stores Darshan and other payloads wrapped in a
        # task.monitoring record; the inner name is what the data is.
        inner = obj.get("monitoring_event")
        if isinstance(inner, str) and inner:
            name = inner
    if not isinstance(name, str) or not name:
        raise BadEvent("record has no event name")
    ts = obj.get("ts")
    if ts is None:
        ts = obj.get("@timestamp")
    return Event(name, to_epoch(ts), obj)


def decode_line(line) -> Event:
    """Parse and decode one JSON line (str or bytes)."""
    if len(line) > MAX_LINE_BYTES:
        raise BadEvent(f"record of {len(line)} bytes is over the {MAX_LINE_BYTES} byte limit")
    try:
        obj = loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent(f"not JSON: {str(exc).splitlines()[0][:80]}") from None
    except RecursionError:
        raise BadEvent("not JSON: nested too deeply") from None
    return decode(obj)


# When no job ended an instance -- DAGMan removed it (JOB_ABORTED: a hold never
# released, an aborted DAG) or its submission failed -- pegasus-monitord writes a
# raw status of 1 as a placeholder, on the main job and on the invocation it makes
# up for it (Pegasus/monitoring/workflow.py, PM-877 and PM-1281).  No signal 1
# happened: pegasus-statistics and pegasus-analyzer show -1 (utils.raw_to_regular).
PLACEHOLDER_STATES = frozenset({"JOB_ABORTED", "SUBMIT_FAILED", "GRID_SUBMIT_FAILED", "GLOBUS_SUBMIT_FAILED"})
PLACEHOLDER_RAW = 1
REMOVED_EXIT = -1


def decode_exitcode(raw, removed: bool = False) -> tuple[int | None, int | None]:
    """Split a raw wait status into (exit code, signal).

    Pegasus records ``exitcode`` as the raw status ``wait()`` returned: 512 is
    exit 2, 9 is death by SIGKILL.  Negative values are Pegasus's own markers
    and are passed through as exit codes.  ``removed``: the instance has one
    of :data:`PLACEHOLDER_STATES`, so a raw 1 is monitord's placeholder,
    exit code -1 as the Pegasus tools show it; elsewhere it is signal 1.
    """
    if raw is None or isinstance(raw, bool):
        return None, None
    try:
        status = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return None, None
    if status < 0:
        return status, None
    if removed and status == PLACEHOLDER_RAW:
        return REMOVED_EXIT, None
    sig = status & 0x7F
    if sig == 0:
        return (status >> 8) & 0xFF, None
    if sig == 0x7F:  # stopped, not dead: report the stopping signal
        return None, (status >> 8) & 0xFF
    return None, sig


def describe_exitcode(raw, removed: bool = False) -> str:
    """A short human form: ``2``, ``signal 9 (SIGKILL)``, or ``-``
    (``removed``: as for :func:`decode_exitcode`)."""
    code, sig = decode_exitcode(raw, removed)
    if sig is not None:
        try:
            import signal as _signal

            return f"signal {sig} ({_signal.Signals(sig).name})"
        except ValueError:
            return f"signal {sig}"
    return "-" if code is None else str(code)


def unquote_text(value) -> str | None:
    """monitord URL-quotes stdout/stderr (``%0A``); give back readable text,
    its control characters made visible (a job's output may hold any bytes)."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "%" in value:
        value = urllib.parse.unquote(value)
    if len(value) > MAX_TEXT_CHARS:
        value = value[-MAX_TEXT_CHARS:]
    return visible(value, text=True)


_BP_FIELD = None


def parse_bp_line(line) -> dict:
    """One NetLogger BP line (``ts=... event=... xwf.id=...``) as a dict.

    Values may be double-quoted with backslash escapes.  Raises
    :class:`BadEvent` when the line has no ``event=`` field.
    """
    global _BP_FIELD
    if _BP_FIELD is None:
        import re

        _BP_FIELD = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')
    if isinstance(line, (bytes, bytearray)):
        line = bytes(line).decode("utf-8", errors="replace")
    out = {}
    for key, value in _BP_FIELD.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    if "event" not in out:
        raise BadEvent("not a BP record (no event= field)")
    return out


# -- the typed lane for kickstart.inv.online ---------------------------------
#
# /proc trace samples are ~70-80 % of all events in a live run, and a sample
# carries ~30 fields of which the store reads ~18.  msgspec decodes such a
# record straight into a typed struct: it skips the fields we do not read,
# checks the types of those we do (so the store need not), and is ~1.5x faster
# than orjson building a dict.  Whatever does not fit (a wrong type, BP keys,
# no usable time, not JSON) goes the general way, which decides and warns.
ONLINE = "kickstart.inv.online"
_ONLINE_STR = f'"{ONLINE}"'
_ONLINE_BYTES = _ONLINE_STR.encode()

class TraceSample(msgspec.Struct, gc=False):  # gc=False: holds no containers
    # The fields in the order kickstart's records carry them (the keys read,
    # the keys skipped): msgspec looks each key up from just after the last
    # one it matched, so the wire order saves ~0.2 us a sample (of ~1.2).
    # The other spellings, rarer, come last.
    xformation: str | None = None
    bread: float | None = None
    ts: float | None = None
    rss: float | None = None  # kB
    procs: int | None = None
    pid: int | None = None
    bwrite: float | None = None
    threads: int | None = None
    exe: str | None = None
    event: str = ""
    wf_uuid: str | None = None
    dag_job_id: str | None = None
    utime: float | None = None
    rank: int | None = None
    hostname: str | None = None
    rchar: float | None = None
    wchar: float | None = None
    stime: float | None = None
    wf_label: str | None = None
    xwf_id: str | None = None
    job_id: str | None = None


_sample_decode = msgspec.json.Decoder(TraceSample).decode
# RecursionError: a field it skips nested ~1,000 deep (the general way decides about that record)
_SAMPLE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


def decode_sample(raw):
    """A ``kickstart.inv.online`` record (str or bytes) as a :class:`TraceSample`
    with a workflow, a job and a plausible numeric ``ts``; None for anything
    else, which the caller decodes the general way."""
    if (_ONLINE_STR not in raw) if type(raw) is str else (_ONLINE_BYTES not in raw):
        return None
    return typed_sample(raw)


def typed_sample(raw):
    """:func:`decode_sample` for a record known to mention the event's name
    (the batch decoder tests that itself: this is its hot path)."""
    try:
        x = _sample_decode(raw)
    except _SAMPLE_ERRORS:
        return None
    ts = x.ts
    if (
        x.event != ONLINE or ts is None or not (_PLAUSIBLE_EPOCH <= ts < _LATEST_EPOCH)
        or not (x.xwf_id or x.wf_uuid) or not (x.dag_job_id or x.job_id)
    ):
        return None
    return x
