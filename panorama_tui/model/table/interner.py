"""Interned strings: a column of few distinct values (types, transformations, hosts, sites,
state words) kept as small ints into one table of strings.

Id 0 is "none": None and the empty string both map to it, because every store rule that
fills these fields keeps the old value for a falsy one (``x or old``), so the store never
holds an empty string there either, and ``a or b`` on ids is ``a or b`` on the strings.
"""

from __future__ import annotations

from ...core.typed import text


class Interner:
    """str <-> int id; the strings as the store shows them (``typed.text``: control
    characters made visible), each kept once."""

    __slots__ = ("values", "_ids")

    def __init__(self) -> None:
        self.values: list[str | None] = [None]  # id -> string; 0: none
        self._ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.values)

    def id(self, v) -> int:
        """The id of a raw value (cleaned as the store cleans it); 0 for None or ''."""
        if not v:
            return 0
        s = text(v)
        i = self._ids.get(s)
        if i is None:
            i = self._ids[s] = len(self.values)
            self.values.append(s)
        return i

    def ids(self, col) -> list[int]:
        """A column of raw values as ids: each distinct value cleaned and looked up once
        (a slice of 1,000 rows holds a handful of hosts), then one C-level map."""
        col = col if isinstance(col, (list, tuple)) else list(col)
        m = {v: self.id(v) for v in set(col)}
        return list(map(m.__getitem__, col))

    def find(self, s: str | None) -> int | None:
        """The id of a string already cleaned, None when it was never interned."""
        return 0 if not s else self._ids.get(s)
