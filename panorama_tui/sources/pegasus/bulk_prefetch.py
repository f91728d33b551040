"""The bulk read's fixed queries, run ahead in a child process (issue #14).

A bulk read (``stampede_bulk.py``) is a known sequence of slices: the jobs, the tasks and
the instances by rowid range, each slice's queries fixed once its limits are.  The
reader's thread spent about half its time in them (py-spy over a 1M-job load: 1,426 of
3,088 samples in ``_fetch``), and that time holds the GIL the screen needs, although
SQLite releases it: building each row's tuple does not (a reading thread gained 2-4 %).
So a child process runs the same SQL on its own read-only connection, each slice in one
read transaction as the reader's own, and hands the rows over as ``marshal`` frames
through a pipe; the reader takes them in order.  Each slice comes shaped: the child also
runs the queries that depend on its rows and turns them into the store's rows
(``stampede_bulk.shape_*``, the reader's own code, on the jobs it noted from the jobs
slices), with the notes the reader keeps for the slices and reads after it.  Shaping the
instances slices there was ~30 % of the reader's CPU (no screen, 100k jobs, 3 pairs A B A B at load 2.5: 1.45-1.73 ->
1.01-1.13 s, the child's 1.3-1.8 -> 2.3 s on the other core).  The child runs at most
:data:`AHEAD` slices ahead of it (what waits in the pipe and the queue).  Measured with
the screen up on a quiet 2-core machine, 3 pairs: a 100k-job DB fully loaded in 3.9-4.4 s
against 5.8-6.8 s (the reader's thread 2.4-2.7 s of CPU against 3.9-4.4, the child 1.9 s);
1M jobs 43 s against 55 s (the reader waited 5.8 s for the child; at 100k 0.3-0.5 s, in
every phase, the child's start not among them: it starts as the reader reads the first
slice, which it leaves to the reader).

Anything unexpected (the child cannot start or read, text SQLite cannot decode, a slice
out of order) ends the child, and the reader runs the queries itself from there on: the
same rows, only slower.  The child imports nothing of the program but this module and
``core.sqlite`` (the one way the tree opens a DB: read-only, never a write lock), and
``stampede_bulk`` for the shaping.

Child protocol: a JSON spec on stdin (``path``, ``steps``: ``[key, [[sql, params], ...]]``,
``warm``: steps the reader reads itself, whose jobs the child notes, ``ctx``: the reader's
workflows and hosts, see :class:`_Reader`), frames on stdout (a 4-byte little-endian length,
then ``marshal.dumps((key, results))``, or ``("error", message)``), one per step, in order.
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

from ...core.sqlite import connect_ro, is_locked

# A bulk read of fewer instances reads its slices itself: the child's start (~0.1 s of a core,
# Python's own) is worth it only past a few slices.
PREFETCH_MIN = 50_000
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

    def __init__(self, path: str, steps: list, warm: list = (), ctx: dict | None = None):
        """``steps`` read ahead in order; with ``ctx`` (the reader's workflows and hosts, see
        :class:`_Reader`) they come shaped, the jobs of ``warm`` (read by the reader itself)
        noted for that."""
        self._keys = {tuple(key) for key, _ in steps}
        self.failed: str | None = None  # why it stopped early (for the tests and the debug log)
        self._queue: queue.Queue = queue.Queue(maxsize=AHEAD)
        spec = json.dumps({"path": path, "steps": steps, "warm": list(warm), "ctx": ctx}).encode()
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            self._proc = None
            self.failed = f"cannot start: {exc}"
            return
        self._thread = threading.Thread(target=self._pump, args=(spec,), name="bulk-prefetch", daemon=True)
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
        """The results of the step ``key`` (a list of row lists; an instances slice shaped, a
        dict: see :func:`_read_slice`), or None: read them yourself (and every step after:
        the child is gone)."""
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


class _Reader:
    """What of the reader's state the child keeps to shape the slices as the reader would
    (``stampede_bulk.shape_*``): the workflows and hosts it was handed and the jobs it noted,
    the reader's first slice included; each slice's notes go with its rows
    (``stampede_bulk.take_notes``)."""

    breathe = staticmethod(lambda: None)  # no screen here
    _SETS = frozenset({"_job_skip", "_ji_skip", "_host_wait", "_subwf_wait", "no_task"})

    def __init__(self, ctx: dict):
        self._wf = {wf_id: uuid for wf_id, uuid in ctx["wf"]}
        self._wf_skip = set(ctx["wf_skip"])
        self._hosts = {host_id: tuple(row) for host_id, row in ctx["hosts"]}
        self.track_js = ctx["track"]
        self.label = ctx["label"]
        self.all_jobs: dict = {}  # job_id -> (wf_uuid, exec_job_id, type_desc), as the reader's _job
        self.all_no_task: set = set()
        self.lim: dict = {}

    def shape(self, kind: str, conn, params: dict, results: list) -> dict:
        from . import stampede_bulk as bulk

        names = bulk.NOTES[kind]
        notes = {name: set() if name in self._SETS else [] if name == "warnings" else {} for name in names}
        for name, box in notes.items():
            if name in ("no_task", "failed"):
                self.lim[name] = box
            else:
                setattr(self, name, box)
        if kind == "jobs":
            uuids, rows = bulk.shape_jobs(self, self.lim, *results)
            self.all_jobs.update(self._job)
            self.all_no_task.update(self.lim["no_task"])
        else:
            self._job, self.lim["no_task"] = self.all_jobs, self.all_no_task
            if kind == "tasks":
                uuids, rows = bulk.shape_tasks(self, self.lim, *results)
            else:
                uuids, rows = bulk.shape_instances(self, conn, self.lim, params, *results)
        return {"uuids": uuids, "rows": rows, "notes": notes}

    def _fetch(self, conn, sql, params):
        return conn.execute(sql, params).fetchall()

    def _skip(self, table: str, rowid, why: str) -> None:
        self.warnings.append(f"{self.label}: {table} row {rowid} skipped: {why}"[:200])


def _child() -> int:
    spec = json.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    ctx = spec.get("ctx")
    reader = _Reader(ctx) if ctx is not None else None

    def send(obj) -> None:
        body = marshal.dumps(obj)
        out.write(_LEN.pack(len(body)))
        out.write(body)
        out.flush()

    try:
        conn = connect_ro(spec["path"])
        if reader is not None:
            for key, queries in spec.get("warm", ()):  # read by the reader itself: its jobs noted here
                _read_slice(conn, queries, reader, key[0])
        for key, queries in spec["steps"]:
            send((key, _read_slice(conn, queries, reader, key[0])))
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


def _read_slice(conn, queries: list, shape: _Reader | None = None, kind: str = ""):
    """The slice's queries in one read transaction, as the reader's own (again while a
    writer holds the lock, for :data:`WAIT` at most); with ``shape``, the results shaped in
    that same transaction (an instances slice's dependent queries among them): a dict of
    the store's rows and the slice's notes."""
    deadline = time.monotonic() + WAIT / 2
    while True:
        try:
            conn.execute("BEGIN")
            try:
                results = [conn.execute(sql, params).fetchall() for sql, params in queries]
                return results if shape is None else shape.shape(kind, conn, queries[0][1], results)
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
