"""Field values from a record's dict, for the events without a typed record
(:mod:`panorama_tui.core.typed`): numbers that may come as strings, interned short
strings, records kept whole within a depth.  A field present but unusable is
``_BAD`` (with a warning), so the caller keeps what it had.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.events import BadEvent
from ..core.fmt import visible
from ..core.typed import interned, text, to_float, to_int

if TYPE_CHECKING:
    from .store import Store

_NUM_TYPES = frozenset({int, float, type(None)})

# How deep a record kept whole for a view may nest (Darshan's module data and
# Globus's event lists are 3 deep); past it the record is a bad one, since
# str(), repr() and json of a 1,000-deep list raise RecursionError.
MAX_KEPT_DEPTH = 32


# The conversions themselves are decode's (core/typed.py): the typed records' fields are
# converted there once; these names serve the handlers of the events that have none.
_int = to_int
_float = to_float
_str = text


def _istr(v):
    """:func:`_str`, interned: for the short values thousands of records repeat
    (site, host, user, type, transformation, executable)."""
    return interned(text(v))


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
