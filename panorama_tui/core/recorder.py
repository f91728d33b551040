"""The recording: every record received, appended to a local SQLite file.

Records are kept as the bytes that arrived, so a replay meets the same bytes
(garbage included) that the live session met.  WAL and one transaction per
batch make a kill mid-write lose at most the batch in flight, never the file.

Format version 2 (written now): a row of ``chunks`` holds up to
:data:`CHUNK_ROWS` records received together, zlib-compressed (monitord's
JSON compresses 11-15x per 200 records; one row per record cost ~750 bytes an
event on disk).  Version 1 (one row of ``events`` per record, as text) is still
read: the replay takes both (:mod:`panorama_tui.sources.replay`).

A chunk's body, before compression: ``n`` little-endian uint32 record
lengths, then (only when its records were received at different times) ``n``
little-endian float64 receive times, then the records one after another.

Recordings made under the default directory are pruned when a new one
starts: oldest first, past ``keep_days`` or beyond ``keep_mb`` in total
(:func:`prune`; ``[recording]`` in the config file, or the environment).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
import zlib
from array import array
from codecs import latin_1_decode as _latin1
from dataclasses import dataclass
from itertools import accumulate, islice

from .private_files import create_private
from .sqlite import MAGIC, db_uri

_INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error,)
try:  # zlib-ng inflates the same streams ~2.3x faster than zlib: 0.25 s of CPU against
    # 0.53-0.76 s for the ingest benchmark's recording (534k records, 43 MB), the
    # biggest single cost of a replay's read
    from zlib_ng import zlib_ng as _zng

    _inflate = _zng.decompress
    _INFLATE_ERRORS += (_zng.error,)  # type: ignore[operator]  # its stub types it as an instance
except ImportError:  # pragma: no cover - a dependency, but a replay works without it
    _inflate = zlib.decompress

FORMAT = "panorama-recording"
VERSION = "2"
# The inflated chunk's first buffer (the inflaters' bufsize, 16 KiB unless told): big enough
# for a whole chunk of monitord's records (200 of ~640 bytes, 128 KiB on average), so it is
# not grown as the chunk inflates; a bigger chunk still grows it.  The ingest benchmark's read, in one process with the default
# (16 KiB) alternating page by page, load 4-6, two runs: 0.79/0.71 -> 0.74/0.69 s of CPU.
INFLATE_BUFSIZE = 256 * 1024
CHUNK_ROWS = 200  # records per compressed row: ~14x on the demo's bodies at level 6, 11x at level 1
# zlib level 3: 12x on the demo's bodies for half the CPU of level 6 (3.1 against 6.3 us a record,
# 200-record chunks); the recorder runs on the ingest thread, so its cost is the ingest rate's.
LEVEL = 3
SUFFIX = ".panorama.db"
KEEP_DAYS = 14.0
KEEP_MB = 2048.0
ENV_KEEP_DAYS = "PANORAMA_RECORDING_KEEP_DAYS"
ENV_KEEP_MB = "PANORAMA_RECORDING_KEEP_MB"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    seq INTEGER PRIMARY KEY,
    recv_ts REAL NOT NULL,   -- the first record's receive time
    last_ts REAL NOT NULL,   -- the last record's
    n INTEGER NOT NULL,      -- records in the chunk
    body BLOB NOT NULL       -- zlib: lengths, [times], records (see the module docstring)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
# The store's state after row ``seq`` (model/checkpoint.py): a replay's seek restores the
# latest one at or before its time and replays only the rows after it.  ``ts`` is the
# latest receive time of the rows up to ``seq``, ``n_records`` their records.
_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    n_records INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""


def _body_bytes(record) -> bytes:
    """A raw record as the bytes to keep."""
    t = type(record)
    if t is bytes:
        return record
    if t is str:
        return record.encode("utf-8", "replace")
    from .events import Event

    if isinstance(record, Event):
        return record.to_json().encode()
    if isinstance(record, dict):
        return json.dumps(record, separators=(",", ":"), default=str).encode()
    if isinstance(record, (bytes, bytearray, memoryview)):
        return bytes(record)
    return str(record).encode("utf-8", "replace")


def _le(a: array) -> bytes:
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def pack_chunk(bodies: list, times: list | None = None) -> bytes:
    """One chunk's compressed body (``times`` only when they differ)."""
    head = _le(array("I", map(len, bodies)))
    if times is not None:
        head += _le(array("d", times))
    return zlib.compress(head + b"".join(bodies), LEVEL)


def unpack_chunk(body, n: int, text: bool = False) -> tuple[list, list | None]:
    """(records, receive times or None) of one chunk; ValueError when it is damaged.

    Records are bytes; with ``text``, str when the chunk's records are all
    ASCII (monitord's JSON is): the decoder takes str ~10 % faster than bytes."""
    if type(body) is not bytes or type(n) is not int or n <= 0:
        raise ValueError(f"not a chunk ({type(body).__name__} body, n={n!r})")
    try:
        raw = _inflate(body, zlib.MAX_WBITS, INFLATE_BUFSIZE)
    except _INFLATE_ERRORS as exc:
        raise ValueError(f"zlib: {exc}") from None
    lens = array("I")
    lens.frombytes(raw[: 4 * n])
    if sys.byteorder != "little":
        lens.byteswap()
    if len(lens) != n:
        raise ValueError(f"{len(raw)} bytes cannot hold {n} records")
    data = 4 * n
    times: list | None = None
    extra = len(raw) - data - sum(lens)
    if extra == 8 * n:
        stamps = array("d")
        stamps.frombytes(raw[data : data + 8 * n])
        if sys.byteorder != "little":
            stamps.byteswap()
        times = stamps.tolist()
        data += 8 * n
    elif extra != 0:
        raise ValueError(f"record lengths do not add up to the chunk's {len(raw)} bytes")
    records: bytes | str = raw
    if text:
        # One character a byte: the same offsets.  Latin-1 then isascii() (free on a
        # str) is the ASCII decode ~10x faster: 0.026 against 0.29 s of CPU for the
        # ingest benchmark's 360 MB of records; what is not ASCII stays bytes, as before.
        # Decoded through a view, not a copy of the records' bytes: one pass fewer over
        # them (the replay's read, ingest benchmark, load 5-7: 0.90 -> 0.73 s of CPU)
        as_text = _latin1(memoryview(raw)[data:])[0]
        if as_text.isascii():
            records = as_text
            data = 0
    ends = list(accumulate(lens, initial=data))
    return [records[a:b] for a, b in zip(ends, islice(ends, 1, None))], times


class Recorder:
    """Appends batches of raw records; safe to use from one thread."""

    def __init__(self, path: str, source: str = ""):
        self.path = path
        create_private(path)  # a site's job data: 0600, its WAL too
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        # Checkpoints stand for the store a replay from the first row builds: only a
        # session that wrote every row of the file (a new file) has that store.
        self.checkpoints_ok = "events" not in tables and "chunks" not in tables
        if "events" in tables:
            self.version = "1"  # an old recording goes on in its own format
        else:
            self.version = VERSION
            self.conn.executescript(_SCHEMA + _CHECKPOINTS)
            with self.conn:
                self.conn.execute("BEGIN")
                self.conn.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [("format", FORMAT), ("version", VERSION), ("created", str(time.time())), ("source", source)],
                )
        self.count = 0
        self.max_ts: float | None = None  # the latest receive time appended

    def append(self, records, recv_ts: float | None = None) -> int:
        """Records received together (one receive time)."""
        if not records:
            return 0
        now = time.time() if recv_ts is None else recv_ts
        if self.max_ts is None or now > self.max_ts:
            self.max_ts = now
        bodies = [_body_bytes(r) for r in records]
        if self.version == "1":
            self._insert_v1([(now, None, b.decode("utf-8", "replace")) for b in bodies])
        else:
            self._insert([(now, now, bodies[i : i + CHUNK_ROWS], None) for i in range(0, len(bodies), CHUNK_ROWS)])
        self.count += len(bodies)
        return len(bodies)

    def append_timed(self, rows) -> int:
        """Rows of (recv_ts, name, body) as they are; for building recordings."""
        rows = list(rows)
        if self.version == "1":
            self._insert_v1(rows)
        else:
            chunks = []
            for i in range(0, len(rows), CHUNK_ROWS):
                part = rows[i : i + CHUNK_ROWS]
                times = [r[0] for r in part]
                same = all(t == times[0] for t in times)
                chunks.append((times[0], times[-1], [_body_bytes(r[2]) for r in part], None if same else times))
            self._insert(chunks)
            if rows:
                top = max(r[0] for r in rows)
                if self.max_ts is None or top > self.max_ts:
                    self.max_ts = top
        self.count += len(rows)
        return len(rows)

    def _insert(self, chunks) -> None:
        rows = [(first, last, len(bodies), pack_chunk(bodies, times)) for first, last, bodies, times in chunks]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO chunks (recv_ts, last_ts, n, body) VALUES (?, ?, ?, ?)", rows)

    def _insert_v1(self, rows) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO events (recv_ts, name, body) VALUES (?, ?, ?)", rows)

    def checkpoint_place(self, batch=None) -> tuple[int, float, int] | None:
        """(last row, latest receive time, records) of what this session wrote, where a
        checkpoint of its store now stands; None when it cannot have one (an old file's
        format, a file it did not write from its first row, nothing written yet)."""
        if not self.checkpoints_ok or self.version != VERSION or not self.count or self.max_ts is None:
            return None
        row = self.conn.execute("SELECT seq FROM chunks ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], self.max_ts, self.count) if row else None

    def add_checkpoint(self, seq: int, ts: float, n_records: int, body: bytes) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("INSERT OR REPLACE INTO checkpoints (seq, ts, n_records, body) VALUES (?, ?, ?, ?)",
                              (seq, ts, n_records, body))

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def size(self) -> int:
        """Bytes on disk now (the file and its write-ahead log)."""
        return sum(_size(self.path + s) for s in ("", "-wal"))

    def close(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.conn.close()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def read_records(path: str) -> list[tuple[float, bytes]]:
    """Every record of a recording of either version as (receive time, body); for tests and tools."""
    conn = sqlite3.connect(db_uri(path), uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        conn.text_factory = bytes
        if "chunks" not in tables:
            return list(conn.execute("SELECT recv_ts, body FROM events ORDER BY seq"))
        out: list = []
        for ts, n, body in conn.execute("SELECT recv_ts, n, body FROM chunks ORDER BY seq"):
            bodies, times = unpack_chunk(body, n)
            out.extend(zip(times or [ts] * n, bodies))
        return out
    finally:
        conn.close()


def list_checkpoints(conn: sqlite3.Connection) -> list[tuple[int, float, int]]:
    """A recording's checkpoints as (seq, ts, n_records), by seq; none in a file without
    the table (an older recording).  A row whose fields are not numbers is left out."""
    try:
        rows = conn.execute("SELECT seq, ts, n_records FROM checkpoints ORDER BY seq").fetchall()
    except sqlite3.OperationalError:  # no such table
        return []
    return [r for r in rows if type(r[0]) is int and type(r[1]) in (int, float) and type(r[2]) is int]


def checkpoint_body(conn: sqlite3.Connection, seq: int):
    """The body of the checkpoint after row ``seq`` (None when it is gone)."""
    row = conn.execute("SELECT body FROM checkpoints WHERE seq = ?", (seq,)).fetchone()
    return row[0] if row else None


def is_recording(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(16) != MAGIC:
                return False
        conn = sqlite3.connect(db_uri(path), uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        finally:
            conn.close()
        return bool(row and row[0] == FORMAT)
    except (OSError, sqlite3.Error, UnicodeDecodeError):  # UnicodeDecodeError: a corrupt schema's text
        return False


def session_recorder(source, path: str | None = None, off: bool = False) -> Recorder | None:
    """The recording of a screen's session, or None when there is nothing to record.

    Live input is recorded (``path``, else a new file in :func:`recordings_dir`,
    which is pruned first); not a replay or a file read whole, and not a
    followed file unless ``path`` asks for it: the file is its own recording
    (copying it cost as much disk again, 895 MB in a 10-minute soak)."""
    if source is None or off or not (source.recordable and source.live):
        return None
    if path is None:
        if source.file_backed:
            return None
        path = default_recording_path()
        prune(recordings_dir(), retention(), current=path)
    try:
        return Recorder(path, source=source.label)
    except (OSError, sqlite3.Error) as exc:
        raise RecordingError(f"cannot create the recording {path}: {exc}") from None


def recordings_dir() -> str:
    from . import paths

    return paths.recordings_dir()


def default_recording_path() -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return os.path.join(recordings_dir(), f"{stamp}-{os.getpid()}{SUFFIX}")


# -- keeping the recordings directory bounded ------------------------------------------------


@dataclass
class Retention:
    keep_days: float = KEEP_DAYS
    keep_mb: float = KEEP_MB


class RecordingError(ValueError):
    """The session's recording cannot be made as configured (one line for the user)."""


class SettingsError(RecordingError):
    pass


def retention(env=None, config: str | None = None) -> Retention:
    """``keep_days`` / ``keep_mb`` from the environment, else ``[recording]`` in the config file."""
    from . import settings

    names = ("recording.keep_days", "recording.keep_mb")
    try:
        r = settings.resolve(names, env=os.environ if env is None else env, config_file=config)
    except settings.ConfigError as exc:  # unreadable, not TOML, or a key or type the file may not hold
        raise SettingsError(str(exc)) from None
    keep = Retention()
    for name in names:
        key, s = name.split(".", 1)[1], r.items[name]
        if s.origin == settings.DEFAULT:
            continue
        where = f"{s.origin}: {name}" if s.origin == r.config_file else s.origin
        try:
            value = float(s.value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where} must be a number, not {s.value!r}") from None
        if value < 0:
            raise SettingsError(f"{where} must be 0 or more (0: keep none but the current recording)")
        setattr(keep, key, value)
    return keep


def prune(directory: str, keep: Retention, current: str | None = None, now: float | None = None) -> list[str]:
    """Delete recordings in ``directory``, oldest first, past ``keep_days`` or over ``keep_mb`` in total.

    ``current`` is never deleted, nor a recording whose write-ahead log is
    younger than ``keep_days`` (another session is writing it).  Returns what
    was deleted."""
    now = time.time() if now is None else now
    cut = now - keep.keep_days * 86400
    try:
        names = [n for n in os.listdir(directory) if n.endswith(SUFFIX)]
    except OSError:
        return []
    files = []
    for name in names:
        path = os.path.join(directory, name)
        if current is not None and os.path.abspath(path) == os.path.abspath(current):
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        try:
            if os.stat(path + "-wal").st_mtime >= cut:
                continue  # open in another session (a crashed one's log ages out)
        except OSError:
            pass
        files.append((st.st_mtime, sum(_size(path + s) for s in ("", "-wal", "-shm")), path))
    files.sort()
    total = sum(size for _, size, _ in files) + (_size(current) if current else 0)
    limit = keep.keep_mb * 2**20
    gone = []
    for mtime, size, path in files:
        if mtime >= cut and total <= limit:
            break
        for s in ("", "-wal", "-shm"):
            try:
                os.remove(path + s)
            except FileNotFoundError:
                pass
            except OSError:
                break
        else:
            gone.append(path)
            total -= size
    return gone
