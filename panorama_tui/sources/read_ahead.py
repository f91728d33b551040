"""A bulk read's fixed queries, run ahead in a child process (issues #14 and #15).

A bulk read is a known sequence of slices, each slice's queries fixed once the read's limits
are: a big Stampede DB's jobs, tasks and instances by rowid range (``pegasus/stampede_bulk.py``),
a Parsl DB's task id ranges (``parsl/monitoring_db.py``).  The reader's thread spent about half
its time in them (py-spy over a 1M-job load: 1,426 of 3,088 samples in the queries), and that
time holds the GIL the screen needs, although SQLite releases it: building each row's tuple
does not (a reading thread gained 2-4 %).  So a child process runs the same SQL on its own
read-only connection, each slice in one read transaction as the reader's own, and hands the
rows over as ``marshal`` frames through a pipe; the reader takes them in order.

A source may name a shaper (``shaper``: ``module:Class`` of this package, built from the spec's
``ctx``): the child then also turns each slice's rows into what the reader makes of them, the
queries that depend on them included, and sends that instead (the Stampede read's
``SliceShaper``: ~30 % of the reader's CPU at 100k jobs moved to the other core).

Measured with the screen up on a quiet 2-core machine: a 100k-job DB fully loaded in 3.9-4.4 s
against 5.8-6.8 s without the child (3 pairs); 1M jobs 43 s against 55 s (one run each).

Anything unexpected (the child cannot start or read, text SQLite cannot decode, a slice out of
order) ends the child, and the reader runs the queries itself from there on: the same rows,
only slower.  The child imports nothing of the program but this module, ``core.sqlite`` (the
one way the tree opens a DB: read-only, never a write lock) and its shaper's module.

Child protocol: a JSON spec on stdin (``path``; ``steps``: ``[key, [[sql, params], ...]]``;
``warm``: steps the reader reads itself, shaped but not sent, for what the shaper notes of
them; ``shaper`` and ``ctx``), frames on stdout (a 4-byte little-endian length, then
``marshal.dumps((key, results))``, or ``("error", message)``), one per step, in order.
"""

from __future__ import annotations

import json
import marshal
import os
import queue
import sqlite3
import struct
import subprocess
import sys
import threading
import time

from ..core.sqlite import connect_ro, is_locked

# Slices waiting at most (a shaped 5k-instance slice is ~0.7 MB of marshal: ~35 MB at most).
# The child's pace and the reader's vary slice by slice (the screen's ticks, the rare states),
# and with 4 each waited on the other: a 1M-job DB fully loaded with the screen, one run each on
# a quiet machine, 42.0 s with 4, 33.0 and 33.9 with 16, 27.9 and 40.8 with 48, 30.3 with 96.
AHEAD = 48
_LEN = struct.Struct("<I")
_END = None  # what the pipe's reader queues at the child's end
WAIT = 60.0  # seconds the reader waits for a slice before it reads it itself
BUSY_RETRY = 0.1  # a writer's commit holds the lock for milliseconds: the child asks again after this


class Prefetch:
    """The child and what it has read; :meth:`take` hands the slices out in order."""

    def __init__(self, path: str, steps: list, warm: list = (), shaper: str | None = None,
                 ctx: dict | None = None):
        """``steps`` read ahead in order; with ``shaper`` (``module:Class`` in this package,
        made from ``ctx``) shaped by it, after ``warm`` (read by the reader itself)."""
        self._keys = {tuple(key) for key, _ in steps}
        self.failed: str | None = None  # why it stopped early (for the tests and the debug log)
        self._queue: queue.Queue = queue.Queue(maxsize=AHEAD)
        spec = json.dumps({"path": path, "steps": steps, "warm": list(warm), "shaper": shaper,
                           "ctx": ctx}).encode()
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            self._proc = None
            self.failed = f"cannot start: {exc}"
            return
        self._thread = threading.Thread(target=self._pump, args=(spec,), name="read-ahead", daemon=True)
        self._thread.start()

    def _pump(self, spec: bytes) -> None:
        """Send the spec, then queue each frame's bytes (os.read waits without the GIL)."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(spec)
            proc.stdin.close()
            out = proc.stdout
            while True:
                head = out.read(_LEN.size)
                if len(head) < _LEN.size:
                    break
                (n,) = _LEN.unpack(head)
                body = out.read(n)
                if len(body) < n:
                    break
                self._queue.put(body)
        except (OSError, ValueError):
            pass  # the child or the pipe went: the reader reads the rest itself
        finally:
            self._queue.put(_END)

    def covers(self, key: list) -> bool:
        """``key`` is one of its steps (the reader reads the others itself)."""
        return tuple(key) in self._keys

    def take(self, key: list) -> list | dict | None:
        """The results of the step ``key`` (a list of row lists, or what the shaper made of
        them), or None: read them yourself (and every step after: the child is gone)."""
        if self._proc is None:
            return None
        try:
            body = self._queue.get(timeout=WAIT)
        except queue.Empty:
            body = ("error", "a slice took too long")
        if body is _END:
            body = ("error", "the child ended early")
        got, results = marshal.loads(body) if type(body) is bytes else body
        if got == "error" or got != key:
            self.failed = str(results) if got == "error" else f"slice {got} where {key} was due"
            self.close()
            return None
        return results

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        # Unblock the pump should it wait to queue a frame, then reap the child.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if proc.stdout is not None:
            proc.stdout.close()


def _shaper(spec: dict):
    """The spec's shaper, made from its ctx (None: the rows as they are)."""
    name = spec.get("shaper")
    if not name:
        return None
    module, _, cls = name.partition(":")
    if not module.startswith(__package__.split(".")[0] + "."):  # only this program's own code
        raise ValueError(f"shaper {name!r} is not ours")
    import importlib

    return getattr(importlib.import_module(module), cls)(spec.get("ctx") or {})


def _child() -> int:
    spec = json.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer

    def send(obj) -> None:
        body = marshal.dumps(obj)
        out.write(_LEN.pack(len(body)))
        out.write(body)
        out.flush()

    try:
        shaper = _shaper(spec)
        conn = connect_ro(spec["path"])
        if shaper is not None:
            for key, queries in spec.get("warm", ()):  # read by the reader itself: noted here
                _read_slice(conn, queries, shaper, key[0])
        for key, queries in spec["steps"]:
            send((key, _read_slice(conn, queries, shaper, key[0])))
    except (sqlite3.Error, ValueError) as exc:  # ValueError: a value marshal cannot write
        send(("error", f"{type(exc).__name__}: {exc}"))
        return 1
    except BrokenPipeError:  # the reader no longer wants them
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    return 0


def _read_slice(conn, queries: list, shaper=None, kind: str = ""):
    """The slice's queries in one read transaction, as the reader's own (again while a
    writer holds the lock, for :data:`WAIT` at most); with a ``shaper``, what its
    ``shape(kind, conn, params, results)`` makes of them in that same transaction."""
    deadline = time.monotonic() + WAIT / 2
    while True:
        try:
            conn.execute("BEGIN")
            try:
                results = [conn.execute(sql, params).fetchall() for sql, params in queries]
                return results if shaper is None else shaper.shape(kind, conn, queries[0][1], results)
            finally:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() > deadline:
                raise
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            time.sleep(BUSY_RETRY)


if __name__ == "__main__":
    sys.exit(_child())
