"""Where collectors put their events: JSON-lines files, stdout, AMQP.

Every sink takes *batches* of event dicts (each with an ``"event"`` key that
:func:`panorama_tui.core.events.decode` accepts).  A JSON-lines file gets one
``os.write`` per batch on an ``O_APPEND`` descriptor, so several writers (MPI
ranks, concurrent jobs) can share one file without tearing lines, and a batch
is on its way to disk when :meth:`Sink.emit` returns.

A sink that fails (disk full, broken pipe, broker library missing) says so once
on stderr and keeps the events it could not write (bounded) to try again with
the next batch; it never raises into the collector's loop.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import deque

from panorama_tui.core import paths
from panorama_tui.core.private_files import open_private, private_dir

from .common import say

__all__ = ["Sink", "JsonlSink", "StdoutSink", "AmqpSink", "TeeSink", "SinkError", "open_sink", "dumps",
           "expand_path", "default_spool"]


class SinkError(Exception):
    """A sink that cannot be set up; the message is one line."""

# Events kept in memory while a file cannot be written, before the oldest go.
MAX_PENDING = 100_000


def _clean(obj):
    """JSON has no NaN or Infinity: make them null (the C libraries produce them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(event: dict) -> str:
    """One event as compact JSON (strict: no NaN), no newline."""
    try:
        return json.dumps(event, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_clean(event), separators=(",", ":"), allow_nan=False, default=str)


def expand_path(template: str, **values) -> str:
    """Replace ``{pid}``, ``{rank}``, ``{host}`` (only those) in a path."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    return out


class Sink:
    prog = "panorama"

    def emit(self, events) -> None:
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> int:
        """Push out what is buffered; returns how many events are not delivered yet."""
        return 0

    def close(self, timeout: float | None = None) -> int:
        return self.flush(timeout)

    def describe(self) -> str:
        return type(self).__name__


class _FdSink(Sink):
    """Shared logic: serialise a batch, write it with retries, keep what failed."""

    def __init__(self, prog: str):
        self.prog = prog
        self.pending: deque[str] = deque()
        self.dropped = 0
        self.written = 0
        self._error_said = None

    def _write_all(self, data: bytes) -> None:
        raise NotImplementedError

    def emit(self, events) -> None:
        lines = [dumps(ev) for ev in events]
        if not lines and not self.pending:
            return
        self.pending.extend(lines)
        excess = len(self.pending) - MAX_PENDING
        if excess > 0:
            for _ in range(excess):
                self.pending.popleft()
            self.dropped += excess
        self._drain()

    def _drain(self) -> None:
        if not self.pending:
            return
        data = ("\n".join(self.pending) + "\n").encode("utf-8")
        try:
            self._write_all(data)
        except OSError as exc:
            key = (type(exc).__name__, getattr(exc, "errno", None))
            if key != self._error_said:
                self._error_said = key
                say(self.prog, f"cannot write events to {self.describe()}: {exc.strerror or exc}; "
                    f"keeping {len(self.pending)} in memory and retrying")
            return
        if self._error_said is not None:
            say(self.prog, f"writing events to {self.describe()} again")
            self._error_said = None
        self.written += len(self.pending)
        self.pending.clear()

    def flush(self, timeout: float | None = None) -> int:
        self._drain()
        return len(self.pending)


class JsonlSink(_FdSink):
    """Append JSON lines to a file (created, with its directory, if missing)."""

    def __init__(self, path: str, prog: str = "panorama"):
        super().__init__(prog)
        self.path = path
        self.fd = open_private(path, os.O_WRONLY | os.O_APPEND)

    def describe(self) -> str:
        return self.path

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self, timeout: float | None = None) -> int:
        left = self.flush(timeout)
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        return left


class StdoutSink(_FdSink):
    """JSON lines on stdout (``--out -``)."""

    def __init__(self, prog: str = "panorama", stream=None):
        super().__init__(prog)
        self.stream = stream if stream is not None else sys.stdout
        self.broken = False

    def describe(self) -> str:
        return "stdout"

    def _write_all(self, data: bytes) -> None:
        if self.broken:
            return  # the reader went away: nothing more to do
        buf = getattr(self.stream, "buffer", None)
        try:
            if buf is not None:
                self.stream.flush()
                buf.write(data)
                buf.flush()
            else:
                self.stream.write(data.decode("utf-8"))
                self.stream.flush()
        except BrokenPipeError:
            self.broken = True
            say(self.prog, "stdout was closed; events from now on go nowhere unless another sink is set")


class AmqpSink(Sink):
    """Publishes through :class:`panorama_tui.transport.publisher.SpoolingPublisher`.

    The publisher is imported only when this sink is made (``--amqp``), so the
    other sinks work without pika.  The routing key is the event name, as
    monitord and Panorama 360 used it.
    """

    def __init__(self, url: str, spool_path: str, prog: str = "panorama", publisher=None):
        self.prog = prog
        self.url = url
        self.spool_path = spool_path
        self.failed = 0
        self._error_said = False
        if publisher is None:
            from panorama_tui.transport.publisher import SpoolingPublisher  # lazy: pika only when asked for

            publisher = SpoolingPublisher(url, spool_path)
        self.publisher = publisher

    def describe(self) -> str:
        from panorama_tui.core.secrets import redact

        return f"AMQP {redact(self.url)} (spool {self.spool_path})"

    def emit(self, events) -> None:
        events = [ev for ev in events if isinstance(ev, dict) and ev.get("event")]
        if not events:
            return
        try:
            many = getattr(self.publisher, "publish_many", None)
            if many is not None:
                many(events)  # one spool transaction per batch; routing key = each event's name
            else:
                for ev in events:
                    self.publisher.publish(ev, routing_key=str(ev["event"]))
        except Exception as exc:  # the publisher is another component: never let it kill us
            self.failed += len(events)
            if not self._error_said:
                self._error_said = True
                say(self.prog, f"cannot publish to {self.describe()}: {type(exc).__name__}: {exc}")

    def flush(self, timeout: float | None = None) -> int:
        try:
            return int(self.publisher.flush(timeout=timeout) or 0)
        except Exception as exc:
            say(self.prog, f"AMQP flush failed: {type(exc).__name__}: {exc}")
            return -1

    def close(self, timeout: float | None = None) -> int:
        left = self.flush(timeout)
        try:
            self.publisher.close(timeout=timeout)
        except Exception as exc:
            say(self.prog, f"AMQP close failed: {type(exc).__name__}: {exc}")
        if left and left > 0:
            say(self.prog, f"{left} events not yet confirmed by the broker stay in the spool {self.spool_path}")
        return left


class TeeSink(Sink):
    def __init__(self, sinks):
        self.sinks = list(sinks)

    def emit(self, events) -> None:
        events = list(events)
        for s in self.sinks:
            s.emit(events)

    def flush(self, timeout: float | None = None) -> int:
        return max([s.flush(timeout) for s in self.sinks] or [0])

    def close(self, timeout: float | None = None) -> int:
        return max([s.close(timeout) for s in self.sinks] or [0])

    def describe(self) -> str:
        return " + ".join(s.describe() for s in self.sinks)


_SPOOL_LOCKS: list[int] = []  # flock'ed descriptors, held for the life of the process
SPOOL_SLOTS = 32


def spool_dir() -> str:
    """``$PANORAMA_SPOOL_DIR``, else the state dir's spool/ (never cache: see core/paths.py)."""
    return paths.spool_dir()


def _try_lock(lock_path: str) -> int | None:
    """A descriptor holding an flock on ``lock_path`` (created 0600), or None when another
    process holds it; OSError when the file cannot be opened."""
    import fcntl

    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _take_old_cache_spool(path: str, prog: str) -> None:
    """Move the same slot's spool from the old cache location to ``path`` (this process holds
    ``path``'s lock), so events an older version left there are still sent; only when ``path``
    has no spool yet and no other process holds the old one."""
    import shutil

    if os.environ.get(paths.SPOOL_DIR_VAR):
        return
    old = os.path.join(paths.old_cache_spool_dir(), os.path.basename(path))
    if os.path.exists(path) or not os.path.exists(old):
        return
    try:
        fd = _try_lock(old + ".lock")
    except OSError:
        return
    if fd is None:
        return
    try:
        for suffix in ("-wal", "-shm", ""):  # the database last: it is what the next look checks for
            if os.path.exists(old + suffix):
                shutil.move(old + suffix, path + suffix)  # a rename when cache and state share a disk
    except OSError as exc:
        say(prog, f"could not move the old spool {old} to {path}: {exc.strerror or exc}")
    finally:
        os.close(fd)


def default_spool(prog: str) -> str:
    """A spool file only this process uses, reused by later runs.

    The publisher wants one owner per spool, and events a run could not
    deliver are sent by the next publisher on the same file.  So each process
    takes the first free slot ``<prog>.<host>.<n>.sqlite`` (an flock on its
    ``.lock`` file, released when the process ends): concurrent runs get
    different files, and a later run picks up what an earlier one left
    (also one left under the old cache location).
    """
    from .common import hostname

    d = spool_dir()
    private_dir(d)
    host = hostname().split(".")[0]
    for n in range(SPOOL_SLOTS):
        path = os.path.join(d, f"{prog}.{host}.{n}.sqlite")
        try:
            fd = _try_lock(path + ".lock")
        except OSError:
            break
        if fd is None:
            continue
        _SPOOL_LOCKS.append(fd)
        _take_old_cache_spool(path, prog)
        return path
    return os.path.join(d, f"{prog}.{host}.pid{os.getpid()}.sqlite")


def open_sink(args, prog: str, default_out: str | None = "-", **path_values) -> Sink:
    """The sink the sink options ask for (see :func:`panorama_tui.collectors.common.add_sink_args`).

    ``--out FILE`` (``-`` for stdout) and ``--amqp URL`` may be combined.
    ``path_values`` fill ``{pid}``/``{rank}``/``{host}`` in the file name.
    Raises :class:`SinkError` (one line) when a sink cannot be set up: a file
    that cannot be opened, a bad AMQP URL, the publisher missing.
    """
    sinks = []
    out = getattr(args, "out", None)
    amqp = getattr(args, "amqp", None)
    if out is None and not amqp:
        out = default_out
    if out == "-":
        sinks.append(StdoutSink(prog))
    elif out:
        path = expand_path(out, **path_values)
        try:
            sinks.append(JsonlSink(path, prog))
        except (OSError, ValueError) as exc:
            raise SinkError(f"cannot open {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if amqp:
        from panorama_tui.core.secrets import redact
        from panorama_tui.transport.amqp_url import fill_password, hide_password_from_ps  # only when publishing

        hide_password_from_ps(amqp, prog)
        try:
            amqp = fill_password(amqp)  # PANORAMA_AMQP_PASSWORD or the config's, for a URL without one
            spool = getattr(args, "spool", None) or default_spool(prog)
            sinks.append(AmqpSink(amqp, expand_path(spool, **path_values), prog))
        except ImportError as exc:
            raise SinkError(f"--amqp needs panorama_tui.transport.publisher and pika: {exc}") from None
        except Exception as exc:
            raise SinkError(f"cannot publish to {redact(amqp)}: {type(exc).__name__}: {redact(exc)}") from None
    if len(sinks) == 1:
        return sinks[0]
    return TeeSink(sinks)
