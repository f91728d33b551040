"""The source registry: which kind of source a path or URL is, and opening it.

A source *kind* is an object with

* ``name``: what :func:`detect` answers for it (``stampede``, ``eventlog`` ...);
* ``order``: which kind wins a tie (lower first; built-ins use 10-80, a plug-in
  that sets none comes after them);
* ``recognise(target)``: a cheap sniff of a :class:`Target` -> a confidence in
  (0, 1] (or a :class:`Match` that also says which variant), None when it is not
  the kind's, or raise :class:`UnknownInput` when it is the kind's but cannot be
  read (the reason is said if no other kind claims the target);
* ``open(target, options)``: the :class:`~panorama_tui.sources.base.Source`, or
  :class:`CannotOpen` saying why not;
* ``url`` (optional, default False): True for a kind of URL (``amqp://``),
  asked only about URLs, never about a path.

Kinds register through the entry-point group ``panorama_tui.sources``
(``[project.entry-points."panorama_tui.sources"]`` in a distribution's
pyproject), so a new source is one module plus one line, with no edit here.

Every kind is asked, in ``order``, until one is :data:`CERTAIN`; the highest
confidence wins, the earlier kind on a tie.  What the built-ins find is what
``detect`` found when it was one function: a recording before a Stampede DB
before a Parsl DB, a FIFO never read, a missing event log waited for only when
following.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger(__name__)

GROUP = "panorama_tui.sources"

# Confidences the built-in kinds answer with (a plug-in may use any number in (0, 1]).
CERTAIN = 1.0  # the content says so (a table, a banner, a first line); no later kind is asked
LIKELY = 0.7  # the layout says so (a dir holding runinfo/monitoring.db)
BY_NAME = 0.5  # only the file's exact name says so (monitoring.db not written yet)
BY_SUFFIX = 0.4  # only a suffix says so (an empty x.db: monitord has created it)
FALLBACK = 0.1  # nothing says otherwise (an empty or not yet created event log)

HEAD_BYTES = 64 * 1024  # what a sniff may read of a file: the first lines of any log we read
DEFAULT_ORDER = 100

_NOT_FILES = ((stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class CannotOpen(Exception):
    """The input cannot be opened; the message says why, in one line."""


class UnknownInput(CannotOpen):
    """The path is not something panorama-top can read; the message says why."""


class WorkflowList(Exception):
    """Not one run but a list of them to choose from (a Pegasus master DB): the caller
    shows the list (the screen's workflows list, or --once's lines)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


@dataclass(frozen=True)
class OpenOptions:
    """How the caller wants the input read; a kind uses what applies to it."""

    follow: bool = True  # keep reading what is appended (a live file or DB)
    once: bool = False  # read to the end and stop (--once, --report)
    wait_for_writer: bool = True  # a FIFO: wait for its writer to open it
    speed: float | None = None  # a recording's replay speed (None: the caller's default)
    paused: bool = False  # a replay starts paused
    demo: bool = False  # the bundled demo recording (replayed faster by default)
    queue: str | None = None  # AMQP: a named durable queue
    bindings: tuple | list | None = None  # AMQP: routing keys
    wf: str | None = None  # AMQP: one workflow's events


@dataclass(frozen=True)
class Match:
    """A kind's answer: how sure it is, and which variant (``what``, default the kind's name)."""

    confidence: float
    what: str | None = None


class _Locked:
    def __repr__(self) -> str:
        return "LOCKED"


#: What :meth:`Target.sqlite` returns while a writer holds the DB's lock.
LOCKED = _Locked()


class Target:
    """A path or URL as the kinds see it, each fact looked up once and shared:
    its ``os.stat``, its first :data:`HEAD_BYTES` (regular files only: a FIFO is
    never read), and for an SQLite file one read-only connection."""

    def __init__(self, text: str, follow: bool = False, url: bool = False, look: bool = True):
        self.text = self.path = text
        self.follow = follow
        self.url = url
        self.what: str | None = None  # the variant the chosen kind recognised (set before open)
        self.notes: dict = {}  # what a kind worked out while recognising, for its open
        self._mode: int | None = None
        self._missing = False
        self._head: bytes | None = None
        self._conn = None
        self._sqlite_error: UnknownInput | None = None
        self._locked = False  # one look per detection: a lock seen once is what every kind is told
        if look and not url:
            try:
                self._mode = os.stat(text).st_mode
            except FileNotFoundError:
                self._missing = True
            except OSError as exc:
                raise UnknownInput(f"{text}: {exc.strerror or exc}") from None

    @property
    def name(self) -> str:
        return os.path.basename(self.text)

    @property
    def missing(self) -> bool:
        return self._missing

    @property
    def is_dir(self) -> bool:
        return self._mode is not None and stat.S_ISDIR(self._mode)

    @property
    def is_fifo(self) -> bool:
        return self._mode is not None and stat.S_ISFIFO(self._mode)

    @property
    def is_file(self) -> bool:
        return self._mode is not None and stat.S_ISREG(self._mode)

    @property
    def head(self) -> bytes | None:
        """The first bytes of a regular file (b"" when empty), else None."""
        if self._head is None and self.is_file:
            with io.open(self.text, "rb") as f:  # io's: this module's own open() opens sources
                self._head = f.read(HEAD_BYTES)
        return self._head

    @property
    def is_sqlite(self) -> bool:
        from ..core.sqlite import MAGIC

        head = self.head
        return head is not None and head.startswith(MAGIC)

    def sqlite(self, query):
        """``query(conn)`` on the file's read-only connection (opened once); :data:`LOCKED`
        while a writer holds the lock; :class:`UnknownInput` when SQLite cannot read it
        (the same for every kind that asks)."""
        import sqlite3

        from ..core.sqlite import bound_work, db_uri

        if self._sqlite_error is not None:
            raise self._sqlite_error
        if self._locked:
            return LOCKED
        try:
            if self._conn is None:
                # 0.5 s: a writer's commit is over by then; longer and detection would hang on a busy DB
                self._conn = sqlite3.connect(db_uri(self.text), uri=True, timeout=0.5)
                bound_work(self._conn)  # a corrupted page can make SQLite loop
            return query(self._conn)
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # UnicodeDecodeError: a corrupt schema's text
            if "locked" in str(exc) or "busy" in str(exc):
                self._locked = True
                return LOCKED
            self._sqlite_error = UnknownInput(
                f"{self.text}: an SQLite file that cannot be read ({exc}); truncated or corrupt?")
            raise self._sqlite_error from None

    def sqlite_tables(self):
        """The DB's table names, or :data:`LOCKED`."""
        if "tables" not in self.notes:
            from ..core.sqlite import table_names

            self.notes["tables"] = self.sqlite(table_names)
        return self.notes["tables"]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- the kinds ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def kinds() -> tuple:
    """Every registered kind, in ``order`` (cached: tests that add one call ``kinds.cache_clear()``)."""
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue  # the first on sys.path wins, as for any entry point
        try:
            kind = ep.load()
        except Exception as exc:  # a broken plug-in must not stop every other kind being read
            log.warning("source kind %s (%s) cannot be loaded: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
            continue
        if isinstance(kind, type):
            kind = kind()
        found[ep.name] = kind
    return tuple(sorted(found.values(), key=lambda k: getattr(k, "order", DEFAULT_ORDER)))


def kind_named(name: str):
    for kind in kinds():
        if kind.name == name:
            return kind
    raise KeyError(f"no source kind {name!r} is registered (entry-point group {GROUP})")


def _as_match(answer) -> Match | None:
    if answer is None or isinstance(answer, Match):
        return answer
    return Match(float(answer))


def recognise(target: Target) -> tuple:
    """(kind, match) for the kind that claims ``target`` most surely; :class:`UnknownInput` when none does."""
    if target.missing is False and not target.url:
        mode = target._mode
        for test, what in _NOT_FILES:
            if mode is not None and test(mode):
                raise UnknownInput(f"{target.text}: {what}, not a file panorama-top can read")
        if target.is_file and not os.access(target.text, os.R_OK):
            raise UnknownInput(f"{target.text}: permission denied")
    if not kinds():  # run from a checkout that was never installed: no entry points to read
        raise UnknownInput(f"no source kind is registered (entry-point group {GROUP}): panorama-top is not "
                           "installed; pip install -e . in its checkout")
    best = None
    refusal = None
    for kind in kinds():
        if bool(getattr(kind, "url", False)) != target.url:
            continue
        try:
            match = _as_match(kind.recognise(target))
        except UnknownInput as exc:
            refusal = refusal or exc
            continue
        if match is not None and (best is None or match.confidence > best[1].confidence):
            best = (kind, match)
            if match.confidence >= CERTAIN:
                break
    if best is not None:
        return best
    if refusal is not None:
        raise refusal
    raise UnknownInput(_nothing_claims(target))


def _nothing_claims(target: Target) -> str:
    path = target.text
    if target.url:
        return f"{path}: no source kind reads this kind of URL"
    if target.missing:
        return f"{path}: no such file or directory"
    if target.is_dir:
        return (f"{path}: is a directory without braindump.yml or *.dag.dagman.out, so not a Pegasus "
                "submit directory, nor runinfo/monitoring.db of a Parsl run; give a submit dir, a "
                "dagman.out, a Stampede DB, a Parsl monitoring.db, a monitord events file or a recording")
    if target.is_sqlite:
        return (f"{path}: an SQLite file, but not a panorama-top recording, a Pegasus DB or a Parsl "
                "monitoring DB")
    return f"{path}: not a file panorama-top can read"


def detect(path: str, follow: bool = False, url: bool = False) -> str:
    """What ``path`` is: the name (or variant) of the kind that claims it."""
    target = Target(path, follow, url)
    try:
        kind, match = recognise(target)
    finally:
        target.close()
    return match.what or kind.name


def open(target: str, options: OpenOptions | None = None, kind: str | None = None, url: bool = False):
    """The source for ``target``: of the kind that claims it, or of the kind named ``kind``
    (then nothing is sniffed).  :class:`CannotOpen` (:class:`UnknownInput` for what no kind
    claims) says why not; :class:`WorkflowList` when the target lists runs to choose from."""
    options = options or OpenOptions()
    t = Target(target, options.follow, url, look=kind is None)
    try:
        if kind is None:
            k, match = recognise(t)
            t.what = match.what or k.name
        else:
            k = kind_named(kind)
            t.what = k.name
    finally:
        t.close()
    return k.open(t, options)

