"""Replay of a recording at 1x, Nx or full speed, with pause, step and seek.

The replay keeps a virtual clock over the recording's receive times.  Long
idle stretches are shortened (a recording of two runs hours apart should not
make the user wait hours); the control methods are thread-safe and wake the
replay thread at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from .base import RESET, Source

CHUNK = 5000
# Gaps longer than this (in wall seconds at the chosen speed) are cut to
# IDLE_SKIP_TO: nothing happened, and the user should not wait for it.
IDLE_SKIP_AFTER = 3.0
IDLE_SKIP_TO = 0.5
SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1000.0, 0.0)  # 0 = as fast as possible
# The recording's time range from its first and last rows, two lookups on the
# rowid: MIN/MAX(recv_ts) read the whole table (0.2 s for a 400 MB recording
# in the OS cache, seconds from disk) before the first event could show.  The
# recorder stamps rows in order; a wall clock stepped back only narrows the range.
_TIME_RANGE = (
    "SELECT (SELECT recv_ts FROM events ORDER BY seq LIMIT 1),"
    " (SELECT recv_ts FROM events ORDER BY seq DESC LIMIT 1)"
)


class ReplayControl:
    """Shared between the UI (which steers) and the replay thread (which obeys)."""

    def __init__(self, speed: float = 1.0, paused: bool = False, clock=time.monotonic):
        self.cond = threading.Condition()
        self.clock = clock
        self.speed = speed
        self.paused = paused
        self.step_requests = 0
        self.seek_to: float | None = None
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
            self._poke()

    def seek_relative(self, seconds: float) -> None:
        with self.cond:
            base = self.position if self.position is not None else (self.start or 0.0)
            self.seek_to = base + seconds
            self._poke()

    @property
    def speed_label(self) -> str:
        return "max" if self.speed == 0.0 else f"{self.speed:g}x"


class ReplaySource(Source):
    live = True  # it unfolds over time even though nothing new arrives
    recordable = False

    def __init__(self, path: str, control: ReplayControl | None = None):
        super().__init__()
        self.path = path
        self.control = control or ReplayControl()
        import os

        self.label = f"replay {os.path.basename(path)}"

    def _connect(self):
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT 1 FROM events LIMIT 1")
            return conn
        except sqlite3.OperationalError:
            # A WAL recording in a directory we cannot write (no -shm can be
            # made): read the file as it is, which is all a replay needs.
            return sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)

    def stop(self) -> None:
        super().stop()
        with self.control.cond:
            self.control._poke()

    def _fetch(self, conn, after_seq: int) -> list:
        rows = conn.execute(
            "SELECT seq, recv_ts, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, CHUNK),
        ).fetchall()
        rows.reverse()  # pop() from the end is cheap
        return rows

    def batches(self):
        c = self.control
        try:
            conn = self._connect()
            lo, hi = conn.execute(_TIME_RANGE).fetchone()
        except sqlite3.Error as exc:
            self.status.state = "error"
            self.status.message = f"cannot read recording {self.path}: {exc}"
            return
        if lo is None:
            self.status.state = "ended"
            self.status.message = "the recording is empty"
            return
        with c.cond:
            c.start, c.end = lo, hi
            vpos = lo if c.position is None else c.position
        last_seq = 0
        buf: list = []
        last_clock = c.clock()
        try:
            while not self.stopping:
                if not buf:
                    buf = self._fetch(conn, last_seq)
                out: list = []
                with c.cond:
                    now = c.clock()
                    if not c.paused and c.speed > 0:
                        vpos += (now - last_clock) * c.speed
                    last_clock = now
                    if c.seek_to is not None:
                        target = max(lo, min(c.seek_to, hi))
                        c.seek_to = None
                        if c.position is not None and target < c.position:  # None: nothing shown yet
                            out.append(RESET)
                            last_seq, buf = 0, []
                            c.finished = False
                        vpos = target
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
                if out:  # a RESET from a backward seek
                    yield RESET
                    out = []
                # Emit everything due by vpos (re-reading chunks as needed).
                while True:
                    if not buf:
                        buf = self._fetch(conn, last_seq)
                        if not buf:
                            break
                    if buf[-1][1] > vpos:
                        break
                    seq, _, body = buf.pop()
                    last_seq = seq
                    out.append(body)
                    if len(out) >= CHUNK:
                        break
                with c.cond:
                    if vpos == float("inf"):
                        c.position = buf[-1][1] if buf else hi
                    else:
                        c.position = max(lo, min(vpos, hi))
                    if c.speed == 0.0 and vpos == float("inf"):
                        vpos = c.position
                if out:
                    yield out
        finally:
            conn.close()
