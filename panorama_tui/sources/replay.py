"""Replay of a recording at 1x, Nx or full speed, with pause, step and seek.

The replay keeps a virtual clock over the recording's receive times.  Long
idle stretches are shortened (a recording of two runs hours apart should not
make the user wait hours); the control methods are thread-safe and wake the
replay thread at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from bisect import bisect_right
from functools import partial
from itertools import accumulate, chain
from operator import itemgetter

from ..core.events import BadEvent
from ..core.recorder import CHUNK_ROWS, checkpoint_body, list_checkpoints, unpack_chunk
from ..core.sqlite import db_uri
from .base import RESET, Batch, CheckpointPlace, Restore, Source

CHUNK = 5000  # records read (and emitted) at a time at most
# Gaps longer than this (in wall seconds at the chosen speed) are cut to
# IDLE_SKIP_TO: nothing happened, and the user should not wait for it.
IDLE_SKIP_AFTER = 3.0
IDLE_SKIP_TO = 0.5
# A forward seek restores a checkpoint only this many records ahead at least: fewer replay
# about as fast as a restore (a second of ingest CPU is ~150k records).
FORWARD_GAIN = 100_000
# Checkpoints a replay takes itself (its file has none) stay in memory, this many bytes
# at most: past that, the one closest to its predecessor goes.
MEMORY_BUDGET = 512 * 2**20
SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1000.0, 0.0)  # 0 = as fast as possible


class ReplayControl:
    """Shared between the UI (which steers) and the replay thread (which obeys)."""

    def __init__(self, speed: float = 1.0, paused: bool = False, clock=time.monotonic):
        self.cond = threading.Condition()
        self.clock = clock
        self.speed = speed
        self.paused = paused
        self.step_requests = 0
        self.seek_to: float | None = None
        # Seeks asked for, and the last one whose records are all in the store (the
        # replay waits for its clock or a key then): a seek's wait is over when equal.
        self.seeks = 0
        self.seeks_done = 0
        self.position: float | None = None  # recording time shown so far
        self.start: float | None = None
        self.end: float | None = None
        self.finished = False

    def _poke(self):
        self.cond.notify_all()

    def set_speed(self, speed: float) -> None:
        with self.cond:
            self.speed = max(0.0, float(speed))
            self._poke()

    def faster(self) -> float:
        with self.cond:
            cur = self.speed
            bigger = [s for s in SPEEDS if s == 0.0 or (cur != 0.0 and s > cur)]
            self.speed = bigger[0] if bigger and cur != 0.0 else 0.0
            self._poke()
            return self.speed

    def slower(self) -> float:
        with self.cond:
            cur = self.speed
            if cur == 0.0:
                self.speed = SPEEDS[-2]
            else:
                smaller = [s for s in SPEEDS if 0.0 < s < cur]
                self.speed = smaller[-1] if smaller else cur
            self._poke()
            return self.speed

    def toggle_pause(self) -> bool:
        with self.cond:
            self.paused = not self.paused
            self._poke()
            return self.paused

    def step(self) -> None:
        with self.cond:
            self.paused = True
            self.step_requests += 1
            self._poke()

    def seek(self, t: float) -> None:
        with self.cond:
            self.seek_to = float(t)
            self.seeks += 1
            self._poke()

    def seek_relative(self, seconds: float) -> None:
        with self.cond:
            base = self.position if self.position is not None else (self.start or 0.0)
            self.seek_to = base + seconds
            self.seeks += 1
            self._poke()

    @property
    def seeking(self) -> bool:
        """A seek is under way (a checkpoint restored, the records after it replayed)."""
        return self.seeks_done != self.seeks

    @property
    def speed_label(self) -> str:
        return "max" if self.speed == 0.0 else f"{self.speed:g}x"


class RecordingReader:
    """A recording of either format, read a page at a time as groups of records.

    A group is ``(seq, recv_ts, records, first, times)``: the row it starts at,
    its (first) receive time, its records (str, or bytes when not ASCII or not
    UTF-8), the place of its first record from that row (-1: a row that could
    not be read), and the records' own receive times when they differ (else
    None).  Such a group is split by the replay only as its times come due, so a
    replay as fast as possible does no work per record here (2 us a record read,
    as one SQLite row a record cost before).

    A row that cannot be read (a damaged chunk, a body or receive time of the
    wrong type, a body that is not UTF-8 text) becomes one :class:`BadEvent` in
    place of its records, or its bytes: counted as a bad record by the ingest
    thread, and the replay goes on."""

    def __init__(self, conn: sqlite3.Connection, name: str):
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        self.v2 = "chunks" in tables
        self.conn = conn
        self.name = name
        table, last = ("chunks", "last_ts") if self.v2 else ("events", "recv_ts")
        # The time range from the first and last rows, two lookups on the rowid:
        # MIN/MAX(recv_ts) read the whole table (0.2 s for a 400 MB recording in
        # the OS cache, seconds from disk) before the first event could show.
        # Rows are stamped in order; a wall clock stepped back only narrows the range.
        self._range_sql = (f"SELECT (SELECT recv_ts FROM {table} ORDER BY seq LIMIT 1),"
                           f" (SELECT {last} FROM {table} ORDER BY seq DESC LIMIT 1)")

    def time_range(self) -> tuple:
        return self.conn.execute(self._range_sql).fetchone()

    def groups(self, after_seq: int) -> tuple[list, int]:
        """(the next groups after row ``after_seq``, newest first; the last row read)."""
        if self.v2:
            rows = self.conn.execute(
                f"SELECT seq, {_TIME_OR_NULL}, n, body FROM chunks WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, max(1, CHUNK // CHUNK_ROWS)),
            ).fetchall()
            out = _chunk_groups(rows)
        else:
            rows = self._v1_rows(after_seq)
            out = _row_groups(rows)
        out.reverse()  # pop() from the end is cheap
        return out, (rows[-1][0] if rows else after_seq)

    def _v1_rows(self, after_seq: int) -> list:
        sql = (f"SELECT seq, {_TIME_OR_NULL}, CASE WHEN typeof(body) IN ('text', 'blob') THEN body END"
               " FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
        try:
            return self.conn.execute(sql, (after_seq, CHUNK)).fetchall()
        except sqlite3.OperationalError:  # a body that is not UTF-8 ("Could not decode"): this page as bytes
            self.conn.text_factory = bytes
            try:
                return self.conn.execute(sql, (after_seq, CHUNK)).fetchall()
            finally:
                self.conn.text_factory = str

    def where(self, seq: int, first: int, k: int) -> str:
        """The place of the ``k``-th record of the group at (``seq``, ``first``)."""
        if first < 0:
            return f"{self.name} row {seq}"
        if self.v2:
            return f"{self.name} row {seq} record {first + k + 1}"
        row = self.conn.execute("SELECT seq FROM events WHERE seq >= ? ORDER BY seq LIMIT 1 OFFSET ?",
                                (seq, first + k))
        found = row.fetchone()
        return f"{self.name} row {found[0] if found else '?'}"


# A receive time that is not a number (a damaged row) reads as NULL: its row is skipped.
_TIME_OR_NULL = "CASE WHEN typeof(recv_ts) IN ('real', 'integer') THEN recv_ts END"
_BAD_TIME = "receive time is not a number; row skipped"
_SEQ, _TS, _BODY = itemgetter(0), itemgetter(1), itemgetter(2)
_RECORDS = itemgetter(2)  # of a group
_INF = float("inf")


def _chunk_groups(rows) -> list:
    """Format 2: a group a chunk."""
    out: list = []
    for seq, ts, n, body in rows:
        if ts is None:
            out.append((seq, out[-1][1] if out else 0.0, [BadEvent(_BAD_TIME)], -1, None))
            continue
        try:
            bodies, times = unpack_chunk(body, n, text=True)
        except ValueError as exc:
            what = f"its {n} records" if type(n) is int else "its records"
            out.append((seq, ts, [BadEvent(f"unreadable chunk ({exc}); {what} skipped")], -1, None))
            continue
        out.append((seq, ts, bodies, 0, times))
    return out


def _row_groups(rows: list) -> list:
    """Format 1: a group a page of rows (a row a record); a row by itself only when damaged."""
    if not rows:
        return []
    times = list(map(_TS, rows))
    bodies = list(map(_BODY, rows))
    if None not in times and None not in bodies:
        return [(rows[0][0], times[0], bodies, 0, times)]
    out: list = []
    last = 0.0
    for seq, ts, body in rows:
        if ts is None:
            out.append((seq, last, [BadEvent(_BAD_TIME)], -1, None))
        else:
            out.append((seq, ts, [BadEvent("body is not text; row skipped") if body is None else body], 0, None))
            last = ts
    return out


def _last_time(group: tuple) -> float:
    times = group[4]
    return times[-1] if times else group[1]


def _take_due(group: tuple, vpos: float) -> tuple[tuple, tuple | None]:
    """(the records of ``group`` due by ``vpos``, the rest or None); its first record is due."""
    seq, ts, records, first, times = group
    if times is None or times[-1] <= vpos:
        return group, None
    k = max(1, bisect_right(times, vpos))  # times are in order; at least the first (due) one
    return (seq, ts, records[:k], first, None), (seq, times[k], records[k:], first + k, times[k:])


class ReplaySource(Source):
    live = True  # it unfolds over time even though nothing new arrives
    recordable = False

    def __init__(self, path: str, control: ReplayControl | None = None, checkpoints: bool = True):
        super().__init__()
        self.path = path
        # False: every seek back replays from the first row, as before checkpoints (a baseline)
        self.checkpoints = checkpoints
        self.control = control or ReplayControl()
        self.label = f"replay {os.path.basename(path)}"
        self.file_checkpoints: list[CheckpointPlace] = []  # the recording's own, by seq
        self.memory_checkpoints: dict[int, tuple[CheckpointPlace, bytes]] = {}  # taken as it played
        self.unreadable: set[int] = set()  # checkpoints that could not be restored (by seq)
        self.restores = 0  # seeks that restored a checkpoint
        self._v2 = False

    # -- checkpoints (pipeline/checkpoints.py takes them; the ingest thread restores them) --

    def checkpoint_place(self, batch) -> tuple[int, float, int] | None:
        """Where a checkpoint of the store after ``batch`` stands, when this replay keeps
        one there: the batch ends a row, the file has none of its own, none is kept at or
        after it already."""
        mark = getattr(batch, "mark", None)
        if mark is None or self.file_checkpoints or not self.checkpoints:
            return None
        if self.memory_checkpoints and max(self.memory_checkpoints) >= mark.seq:
            return None
        return (mark.seq, mark.ts, mark.n_records)

    def add_checkpoint(self, seq: int, ts: float, n_records: int, body: bytes) -> None:
        kept = self.memory_checkpoints
        kept[seq] = (CheckpointPlace(seq, ts, n_records), body)
        while len(kept) > 1 and sum(len(b) for _, b in kept.values()) > MEMORY_BUDGET:
            # Thin evenly: drop the one (not the newest) nearest its predecessor.
            seqs = sorted(kept)
            gaps = [(kept[b][0].n_records - (kept[a][0].n_records if a is not None else 0), b)
                    for a, b in zip([None, *seqs[:-2]], seqs[:-1])]
            del kept[min(gaps)[1]]

    def _candidates(self, target: float, after: int | None) -> list[CheckpointPlace]:
        """The checkpoints a seek to ``target`` may restore, best (latest) first: at or
        before it, and past ``after`` records when given (a forward seek)."""
        places = [*self.file_checkpoints, *(p for p, _ in self.memory_checkpoints.values())]
        out = [p for p in places if p.ts <= target and p.seq not in self.unreadable
               and (after is None or p.n_records >= after + FORWARD_GAIN)]
        out.sort(key=lambda p: p.seq, reverse=True)
        return out

    def _body(self, conn, seq: int):
        kept = self.memory_checkpoints.get(seq)
        return kept[1] if kept is not None else checkpoint_body(conn, seq)

    def _connect(self):
        try:
            conn = sqlite3.connect(db_uri(self.path), uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM meta LIMIT 1")
            return conn
        except sqlite3.OperationalError:
            # A WAL recording in a directory we cannot write (no -shm can be
            # made): read the file as it is, which is all a replay needs.
            return sqlite3.connect(db_uri(self.path, immutable=True), uri=True, check_same_thread=False)

    def stop(self) -> None:
        super().stop()
        with self.control.cond:
            self.control._poke()

    def batches(self):
        c = self.control
        try:
            conn = self._connect()
            reader = RecordingReader(conn, os.path.basename(self.path))
            lo, hi = reader.time_range()
            self._v2 = reader.v2
            if self.checkpoints:
                self.file_checkpoints = [CheckpointPlace(*r) for r in list_checkpoints(conn)]
        except sqlite3.Error as exc:
            self.status.state = "error"
            self.status.message = f"cannot read recording {self.path}: {exc}"
            return
        if lo is None:
            conn.close()
            self.status.state = "ended"
            self.status.message = "the recording is empty"
            return
        with c.cond:
            c.start, c.end = lo, hi
            vpos = lo if c.position is None else c.position
        last_seq = 0
        buf: list = []
        # What has been emitted: its records, its latest receive time (a checkpoint's place)
        done_records = 0
        done_ts = -_INF
        last_clock = c.clock()
        more_due = False  # the last pass stopped at CHUNK records, and more may be due by vpos
        try:
            while not self.stopping:
                if not buf:
                    buf, last_seq = reader.groups(last_seq)
                jump: list | None = None  # a seek's checkpoints to try, best first
                back = False
                with c.cond:
                    if c.seek_to is None and c.seeks_done != c.seeks and not more_due:
                        c.seeks_done = c.seeks  # what the last seek asked for is in (the replay waits next)
                    now = c.clock()
                    if not c.paused and c.speed > 0:
                        vpos += (now - last_clock) * c.speed
                    last_clock = now
                    if c.seek_to is not None:
                        target = max(lo, min(c.seek_to, hi))
                        c.seek_to = None
                        back = c.position is not None and target < c.position  # None: nothing shown yet
                        jump = self._candidates(target, None if back else done_records)
                        if back:
                            c.finished = False
                        vpos = target
                    elif more_due and buf:
                        pass  # the rest of what is due by vpos (a seek past CHUNK records, paused or not)
                    elif not buf:
                        c.finished = True
                        c.position = hi
                        self.status.state = "ended"
                        c.cond.wait(0.5)  # stay: a seek back may follow
                        continue
                    elif c.step_requests:
                        c.step_requests -= 1
                        vpos = buf[-1][1]
                    elif c.paused:
                        self.status.state = "paused"
                        c.cond.wait(0.5)
                        continue
                    elif c.speed == 0.0:
                        vpos = float("inf")
                    else:
                        wait = (buf[-1][1] - vpos) / c.speed
                        if wait > IDLE_SKIP_AFTER:
                            vpos = buf[-1][1] - IDLE_SKIP_TO * c.speed
                            wait = IDLE_SKIP_TO
                        if wait > 0:
                            self.status.state = "live"
                            c.position = max(lo, min(vpos, hi))
                            c.cond.wait(min(wait, 0.25))
                            continue
                    self.status.state = "paused" if c.paused else "live"
                if jump or back:
                    # A seek: the latest checkpoint at or before the target that can be read,
                    # else (backward) from the first row; then the rows after it up to the target.
                    restored = None
                    for place in jump or ():
                        marker = Restore(place, partial(self._body, conn, place.seq))
                        yield marker
                        if marker.ok:
                            restored = place
                            break
                        self.unreadable.add(place.seq)
                    if restored is not None:
                        self.restores += 1
                        last_seq, buf = restored.seq, []
                        done_records, done_ts = restored.n_records, restored.ts
                        with c.cond:
                            c.finished = False
                    elif back:
                        yield RESET
                        last_seq, buf = 0, []
                        done_records, done_ts = 0, -_INF
                # Emit everything due by vpos (re-reading pages as needed).
                taken: list = []
                n = 0
                whole = True  # the last group taken was taken to its row's end
                while n < CHUNK:
                    if not buf:
                        buf, last_seq = reader.groups(last_seq)
                        if not buf:
                            break
                    if vpos == _INF:  # as fast as possible: the whole page at once
                        buf.reverse()
                        taken += buf
                        n += sum(map(len, map(_RECORDS, buf)))
                        buf = []
                        whole = True
                        continue
                    if buf[-1][1] > vpos:
                        break
                    due, rest = _take_due(buf.pop(), vpos)
                    taken.append(due)
                    n += len(due[2])
                    whole = rest is None
                    if rest is not None:
                        buf.append(rest)
                        break
                more_due = n >= CHUNK and vpos != _INF
                with c.cond:
                    if vpos == _INF:
                        c.position = buf[-1][1] if buf else (_last_time(taken[-1]) if taken else hi)
                    else:
                        c.position = max(lo, min(vpos, hi))
                    if c.speed == 0.0 and vpos == _INF:
                        vpos = c.position
                if taken:
                    done_records += n
                    done_ts = max(done_ts, max(map(_last_time, taken)))
                    # The row the batch ends: its last group's (a chunk), or the page's last
                    # row once the page is all out (format 1: a group is a page of rows).
                    end = (last_seq if not buf else taken[-1][0] if self._v2 else None) if whole else None
                    mark = None if end is None else CheckpointPlace(end, done_ts, done_records)
                    yield Batch(chain.from_iterable(map(_RECORDS, taken)), where=_where(reader, taken), mark=mark)
        finally:
            conn.close()


def _where(reader: RecordingReader, groups: list):
    """The place of a batch's ``i``-th record; the groups' offsets are added up on the first call."""
    starts: list = []

    def where(i: int) -> str:
        if not starts:
            starts.extend(accumulate(map(len, map(_RECORDS, groups)), initial=0))
        g = bisect_right(starts, i) - 1
        seq, _, _, first, _ = groups[g]
        return reader.where(seq, first, i - starts[g])

    return where


class RecordingKind:
    """The registry's kind (sources/registry.py) for a panorama-top recording."""

    name = "recording"
    order = 20

    def recognise(self, target):
        from ..core.recorder import is_recording
        from .registry import CERTAIN

        return CERTAIN if target.is_file and target.is_sqlite and is_recording(target.path) else None

    def open(self, target, options):
        """A replay, its :class:`ReplayControl` as the source's ``control``."""
        from .registry import CannotOpen

        speed = options.speed
        if speed is None:
            speed = 0.0 if options.once else (20.0 if options.demo else 1.0)
        if options.once:
            speed = 0.0
        if speed < 0:
            raise CannotOpen("--speed must be 0 (as fast as possible) or more")
        return ReplaySource(target.path, ReplayControl(speed=speed, paused=options.paused and not options.once))


KIND = RecordingKind()
