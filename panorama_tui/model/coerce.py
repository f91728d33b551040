"""Field values from a record, coerced once: numbers that may come as strings, interned
short strings, records kept whole within a depth.  A field present but unusable is
``_BAD`` (with a warning), so the caller keeps what it had.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ..core.events import BadEvent
from ..core.fmt import visible

if TYPE_CHECKING:
    from .store import Store

_NUM_TYPES = frozenset({int, float, type(None)})

_intern = sys.intern

_INTERN_MAX = 256  # longer strings are not worth a lookup (nor kept interned)

# How deep a record kept whole for a view may nest (Darshan's module data and
# Globus's event lists are 3 deep); past it the record is a bad one, since
# str(), repr() and json of a 1,000-deep list raise RecursionError.
MAX_KEPT_DEPTH = 32


def _int(v):
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


def _float(v):
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


def _str(v):
    """A field as text a view may show: the string with its control characters
    made visible (:func:`~panorama_tui.core.fmt.visible`); every string from an
    input enters the store through here."""
    if v is None:
        return None
    if type(v) is not str:
        v = str(v)
    return v if v.isprintable() else visible(v)


def _istr(v):
    """:func:`_str`, interned: for the short values thousands of records repeat
    (site, host, user, type, transformation, executable)."""
    if v is None:
        return None
    if type(v) is not str:
        v = str(v)
    if not v.isprintable():
        v = visible(v)
    return _intern(v) if len(v) <= _INTERN_MAX else v


def _kept(obj, depth: int = 0):
    """A record's data kept whole for a view (Darshan, transfers, kickstart
    summaries), its strings made visible; :class:`BadEvent` when it nests
    deeper than :data:`MAX_KEPT_DEPTH`."""
    t = type(obj)
    if t is str:
        return obj if obj.isprintable() else visible(obj)
    if t is dict or t is list:
        if depth >= MAX_KEPT_DEPTH:
            raise BadEvent(f"nested more than {MAX_KEPT_DEPTH} deep")
        if t is list:
            return [_kept(v, depth + 1) for v in obj]
        return {_kept(k): _kept(v, depth + 1) for k, v in obj.items()}
    return obj

_BAD = object()


def _field(s: "Store", name: str, d: dict, key: str, convert):
    """An optional numeric field: None when absent, ``_BAD`` (with a warning)
    when present but not a number, so the caller keeps what it had."""
    v = d.get(key)
    if v is None:
        return None
    out = convert(v)
    if out is None:
        s.warn(f"{name}: {key} {v!r} is not a number; ignored"[:200])
        return _BAD
    return out


def _field_int(s: "Store", name: str, d: dict, key: str):
    return _field(s, name, d, key, _int)


def _field_float(s: "Store", name: str, d: dict, key: str):
    return _field(s, name, d, key, _float)
