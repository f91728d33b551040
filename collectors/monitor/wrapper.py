"""panorama-monitor: run a command, trace its process tree as kickstart did.

``panorama-monitor [-i SECONDS] [sink options] [context options] -- COMMAND ARGS...``

* Every interval (fixed deadlines from the start, no drift; late ticks are
  skipped, never bunched) it emits a ``kickstart.inv.online`` event with the
  fields of Pegasus kickstart's online trace, for the whole process tree,
  counting the processes that already exited (see :mod:`panorama_tui.collectors.monitor.proctree`).
  When the command ends it emits one last trace and a ``kickstart.inv.summary``.
* The command's stdout is copied through byte for byte, except
  ``@@@MONITORING_PAYLOAD - START@@@ ... @@@MONITORING_PAYLOAD - END@@@``
  blocks: each payload item is published as its ``monitoring_event`` with the
  workflow context added (the way pegasus-monitord handled them after the job).
* Exit code: the command's; death by signal N gives 128+N, as a shell does.
  SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to it.
* Under ``mpirun`` each rank runs its own wrapper: one trace per rank, with
  the ``rank`` field from the launcher's environment.

Events go to ``--out FILE`` (``{pid}``, ``{rank}``, ``{host}`` are filled in),
else ``$PANORAMA_MONITOR_OUT``, else ``./panorama-monitor.<pid>.jsonl`` in the
job's working directory (or kickstart's ``$KICKSTART_MON_URL`` when it is a
``file://`` URL), and/or to AMQP with ``--amqp URL`` (or ``$PANORAMA_AMQP_URL``,
the broker variable of every Panorama command; ``$PANORAMA_MONITOR_AMQP`` is its
old, deprecated name).  Stdout is the command's, so events never go there.  The
command's environment has none of the broker variables: they hold a password.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

from panorama_tui.cli.base import CommandParser
from panorama_tui.core import logsetup
from panorama_tui.core.settings import OLD_BROKER_VAR
from panorama_tui.core.logsetup import quiet_on_closed_stdout

from ..common import (
    EXIT_WRAPPER,
    add_context_args,
    add_sink_args,
    hostname,
    positive_float,
    resolve_context,
    resolve_broker,
    say,
    show_sink_config,
)
from .proctree import TreeSampler, set_child_subreaper
from ..sinks import SinkError, open_sink

PROG = "panorama-monitor"
MIN_INTERVAL = 0.1
DEFAULT_INTERVAL = 1.0
START = b"@@@MONITORING_PAYLOAD - START@@@"
END = b"@@@MONITORING_PAYLOAD - END@@@"
MAX_BLOCK = 16 * 1024 * 1024
FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
# Signals that end a job: passed to its whole tree (unless --keep-orphans), whose
# processes get ENDING_GRACE seconds to go before the rest is SIGKILLed.
ENDING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
ENDING_GRACE = 1.0
CONTEXT_KEYS = ("wf_uuid", "wf_label", "dag_job_id", "task_id", "xformation", "site", "condor_job_id", "rank")
# The broker variables come from core/settings.py (standard library only: amqp_url's dataclasses
# and inspect would add a third to the start of a wrapper that runs with every job, publishing or not).
BROKER_VAR_PREFIX = "PANORAMA_AMQP_"  # with OLD_BROKER_VAR (deprecated): never passed on to the command

__all__ = ["main", "build_parser", "PayloadFilter", "payload_events", "Monitor"]


# ---------------------------------------------------------------------------
# stdout: pass through, take out payload blocks


class PayloadFilter:
    """Streams bytes through, cutting out monitoring payload blocks.

    :meth:`feed` returns the bytes to pass on now; :meth:`finish` the rest at
    end of stream.  A block is START, anything, END.  When START begins a line,
    the newline right after END goes too, so a block on lines of its own leaves
    no trace; text before START on its line (a log prefix) stays, with its
    newline.  A block that is not valid JSON, is larger than ``max_block``, or
    never ends, is passed through unchanged.  ``on_block(obj)`` gets each
    parsed block; ``on_bad(reason)`` hears about the others.
    """

    def __init__(self, on_block, on_bad=None, max_block: int = MAX_BLOCK):
        self.on_block = on_block
        self.on_bad = on_bad or (lambda reason: None)
        self.max_block = max_block
        self.tail = b""  # held back: could be the start of START
        self.block: bytearray | None = None
        self.block_at_line_start = False
        self.at_line_start = True
        self.strip_newline = False

    def _passed(self, out: bytearray, data) -> None:
        if data:
            out += data
            self.at_line_start = data[-1:] == b"\n"

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        if self.strip_newline and data:
            self.strip_newline = False
            if self.block is None and not self.tail:
                if data.startswith(b"\r\n"):
                    data = data[2:]
                elif data.startswith(b"\n"):
                    data = data[1:]
        while data:
            if self.block is None:
                buf = self.tail + data if self.tail else data
                self.tail = b""
                i = buf.find(START)
                if i < 0:
                    keep = _partial_marker_len(buf, START)
                    self._passed(out, buf[: len(buf) - keep])
                    self.tail = bytes(buf[len(buf) - keep :])
                    return bytes(out)
                before = buf[:i]
                self.block_at_line_start = before.endswith(b"\n") if before else self.at_line_start
                self._passed(out, before)
                self.block = bytearray(START)
                data = buf[i + len(START) :]
            else:
                searched_from = max(len(START), len(self.block) - len(END) + 1)
                self.block += data
                j = self.block.find(END, searched_from)
                if j < 0:
                    if len(self.block) > self.max_block:
                        self.on_bad(f"payload block over {self.max_block} bytes: passed through")
                        self._passed(out, bytes(self.block))
                        self.block = None
                    return bytes(out)
                raw = bytes(self.block[: j + len(END)])
                rest = bytes(self.block[j + len(END) :])
                self.block = None
                if self._deliver(raw[len(START) : -len(END)]):
                    if self.block_at_line_start:
                        if rest.startswith(b"\r\n"):
                            rest = rest[2:]
                        elif rest.startswith(b"\n"):
                            rest = rest[1:]
                        elif not rest:
                            self.strip_newline = True
                else:
                    self._passed(out, raw)
                data = rest
        return bytes(out)

    def _deliver(self, body: bytes) -> bool:
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            self.on_bad(f"payload block is not JSON ({str(exc).splitlines()[0][:80]}): passed through")
            return False
        if isinstance(obj, dict):
            obj = [obj]
        if not isinstance(obj, list) or not all(isinstance(o, dict) for o in obj):
            self.on_bad("payload block is not a JSON object: passed through")
            return False
        for o in obj:
            self.on_block(o)
        return True

    def finish(self) -> bytes:
        out = bytearray()
        if self.block is not None:
            self.on_bad("payload block without END marker at end of output: passed through")
            out += self.block
            self.block = None
        out += self.tail
        self.tail = b""
        return bytes(out)


def _partial_marker_len(buf, marker: bytes) -> int:
    """Length of the longest end of ``buf`` that is a proper prefix of ``marker``."""
    n = min(len(marker) - 1, len(buf))
    first = marker[0]
    for k in range(n, 0, -1):
        if buf[-k] == first and buf[-k:] == marker[:k]:
            return k
    return 0


def payload_events(block: dict, ctx: dict, host: str | None = None, now: float | None = None) -> list[dict]:
    """One event per payload item, named after ``monitoring_event``.

    As pegasus-monitord does: the block's ``ts`` (else now) and the workflow
    context are added to each item; the item's own fields win, except
    ``event``, which becomes the monitoring event's name (an item's own
    ``event`` field is kept as ``payload_event``).
    """
    name = block.get("monitoring_event")
    if not isinstance(name, str) or not name:
        name = "monitoring.additional"
    ts = block.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        try:
            ts = float(ts)
        except (TypeError, ValueError):
            ts = now if now is not None else time.time()
    items = block.get("payload")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        items = []
    extra = {}
    if ctx.get("wf_uuid"):
        extra["xwf_id"] = ctx["wf_uuid"]
        extra["wf_uuid"] = ctx["wf_uuid"]
    if ctx.get("dag_job_id"):
        extra["job_id"] = ctx["dag_job_id"]
        extra["dag_job_id"] = ctx["dag_job_id"]
    if ctx.get("condor_job_id"):
        extra["sched_id"] = ctx["condor_job_id"]
    for key in ("wf_label", "task_id", "xformation", "site", "condor_job_id", "rank"):
        if ctx.get(key) is not None:
            extra[key] = ctx[key]
    if host:
        extra["hostname"] = host
    out = []
    for item in items:
        ev = dict(item) if isinstance(item, dict) else {"value": item}
        inner = ev.pop("event", None)
        if inner is not None and inner != name:
            ev["payload_event"] = inner
        for key, value in extra.items():
            ev.setdefault(key, value)
        ev.setdefault("ts", ts)
        ev["monitoring_event"] = name
        ev["event"] = name
        out.append(ev)
    return out


# ---------------------------------------------------------------------------
# the monitor


class Monitor:
    def __init__(self, command, interval, sink, ctx, payload=True, orphan_wait=5.0,
                 kill_orphans=True, flush_timeout=10.0, verbose=False):
        self.command = list(command)
        self.interval = interval
        self.sink = sink
        self.ctx = ctx
        self.payload = payload
        self.orphan_wait = orphan_wait
        self.kill_orphans = kill_orphans
        self.flush_timeout = flush_timeout
        self.verbose = verbose
        self.host = hostname()
        self.sampler = TreeSampler()
        self.proc = None
        self.child_pid = None
        self.child_status = None  # raw wait status once reaped
        self.exe = None
        self.seq = 0
        self.peak = {"rss": 0, "vm": 0, "threads": 0, "procs": 0}
        self.signals = []
        self.ending = False  # a signal that ends the job was passed to its whole tree
        self._pending_signals = []
        self._emit_lock = threading.Lock()
        self._last_pids: list[int] = []
        self._pump_thread = None
        self._stdout_broken = False
        self.payload_count = 0

    # -- events ----------------------------------------------------------
    def _emit(self, events) -> None:
        with self._emit_lock:
            self.sink.emit(events)

    def _base(self, name: str, ts: float) -> dict:
        ev = {"event": name, "ts": ts, "type": "kickstart"}
        for key in CONTEXT_KEYS:
            ev[key] = self.ctx.get(key)
        ev["hostname"] = self.host
        ev["pid"] = self.child_pid
        ev["exe"] = self.exe
        return ev

    def _online(self, totals, ts: float) -> dict:
        self.seq += 1
        ev = self._base("kickstart.inv.online", ts)
        ev.update(totals.as_fields())
        ev["bsend"] = 0  # no per-process network counters in /proc
        ev["brecv"] = 0
        ev["seq"] = self.seq
        ev["interval"] = self.interval
        ev["monitor_pid"] = os.getpid()
        for key in self.peak:
            self.peak[key] = max(self.peak[key], getattr(totals, key))
        return ev

    # -- signals -----------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        self.signals.append(signum)
        if self.child_pid is None:
            self._pending_signals.append(signum)
            return
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        if self.child_status is not None:
            targets = list(self._last_pids)
        elif signum in ENDING and self.kill_orphans:
            # As kickstart: the job's whole tree, daemons it double-forked included.
            self.ending = True
            targets = [self.child_pid, *(p for p in self._live_descendants() if p != self.child_pid)]
        else:
            targets = [self.child_pid]
        for pid in targets:
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    # -- stdout pump -------------------------------------------------------
    def _write_stdout(self, data: bytes) -> None:
        if not data or self._stdout_broken:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(1, view)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    self._stdout_broken = True
                    return
                raise
            view = view[n:]

    def _on_block(self, block: dict) -> None:
        events = payload_events(block, self.ctx, self.host)
        self.payload_count += len(events)
        if events:
            self._emit(events)

    def _pump(self, fd: int) -> None:
        filt = PayloadFilter(self._on_block, lambda reason: say(PROG, reason))
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self._write_stdout(filt.feed(data))
            self._write_stdout(filt.finish())
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
            self.sampler.thread_exiting()

    # -- children ----------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            if pid == self.child_pid and self.child_status is None:
                self.child_status = status
                self.end_mono = time.monotonic()
                self.end_wall = time.time()
                if self.proc is not None:
                    self.proc.returncode = _shell_code(status)

    def _spawn(self) -> int | None:
        """Start the command; on failure returns the shell's exit code for it."""
        exe = self.command[0]
        found = shutil.which(exe) if os.sep not in exe else exe
        self.exe = os.path.abspath(found) if found else exe
        try:
            self.proc = subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE if self.payload else None,
                close_fds=True,
                env={k: v for k, v in os.environ.items()  # the job needs no broker password
                     if not k.startswith(BROKER_VAR_PREFIX) and k != OLD_BROKER_VAR},
            )
        except FileNotFoundError as exc:
            self.spawn_error = f"cannot run {exe!r}: {exc.strerror or 'not found'}"
            return 127
        except PermissionError as exc:
            self.spawn_error = f"cannot run {exe!r}: {exc.strerror or 'permission denied'}"
            return 126
        except OSError as exc:
            self.spawn_error = f"cannot run {exe!r}: {exc.strerror or exc}"
            return 126
        self.child_pid = self.proc.pid
        for signum in self._pending_signals:
            self._forward(signum)
        self._pending_signals.clear()
        if self.payload:
            # The pump owns the descriptor now (detach it from the file object,
            # whose finaliser would otherwise close it under the pump's feet).
            fd = os.dup(self.proc.stdout.fileno())
            self.proc.stdout.close()
            self.proc.stdout = None
            self._pump_thread = threading.Thread(target=self._pump, args=(fd,), name="stdout-pump", daemon=True)
            self._pump_thread.start()
        return None

    # -- main loop ---------------------------------------------------------
    def run(self) -> int:
        self.spawn_error = None
        set_child_subreaper()
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        old_handlers = {}
        old_handlers[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda s, f: None)
        for name in FORWARDED:
            signum = getattr(signal, name)
            if signal.getsignal(signum) == signal.SIG_IGN:
                continue  # ignored by whoever started us: the command inherits that
            old_handlers[signum] = signal.signal(signum, self._on_signal)
        self.start_wall = time.time()
        self.start_mono = time.monotonic()
        self.end_wall = self.end_mono = None
        try:
            failed = self._spawn()
            if failed is not None:
                say(PROG, self.spawn_error)
                self.end_wall, self.end_mono = time.time(), time.monotonic()
                self._finish(exitcode=failed, status=None)
                return failed
            self._loop(wake_r)
            status = self.child_status
            code = _shell_code(status)
            self._finish(exitcode=code, status=status)
            return code
        finally:
            for signum, handler in old_handlers.items():
                try:
                    signal.signal(signum, handler)
                except (TypeError, ValueError):
                    pass
            signal.set_wakeup_fd(old_wakeup)
            os.close(wake_r)
            os.close(wake_w)

    def _loop(self, wake_r: int) -> None:
        interval = self.interval
        start = self.start_mono
        k = 1
        orphan_deadline = None
        while True:
            self._reap()
            now = time.monotonic()
            if self.child_status is not None:
                if orphan_deadline is None:
                    # A job told to end gets a moment, not the wait meant for work still being done.
                    wait = min(self.orphan_wait, ENDING_GRACE) if self.ending else self.orphan_wait
                    orphan_deadline = now + wait
                if not self._live_descendants() or now >= orphan_deadline:
                    break
            deadline = start + k * interval
            if now >= deadline:
                totals = self.sampler.sample()
                self._last_pids = totals.pids
                self._emit([self._online(totals, time.time())])
                now = time.monotonic()
                k = int((now - start) / interval) + 1  # skip ticks we are late for
                deadline = start + k * interval
            timeout = deadline - now
            if orphan_deadline is not None:
                timeout = min(timeout, max(0.0, orphan_deadline - now), 0.05)
            try:
                select.select([wake_r], [], [], max(0.0, timeout))
            except InterruptedError:
                pass
            try:
                while os.read(wake_r, 512):
                    pass
            except (BlockingIOError, InterruptedError):
                pass

    def _live_descendants(self) -> list[int]:
        from .proctree import walk

        out = [pid for pid, s in walk(os.getpid()) if s[0] != b"Z"]
        self._last_pids = out
        return out

    def _finish(self, exitcode: int, status) -> None:
        left = self._live_descendants() if self.child_pid is not None else []
        if left and self.kill_orphans:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            t_end = time.monotonic() + 2.0
            while self._live_descendants() and time.monotonic() < t_end:
                self._reap()
                time.sleep(0.01)
            self._reap()
            left = self._live_descendants()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=0.5 if left else 5.0)
        self._reap()
        totals = self.sampler.sample()
        now = time.time()
        events = []
        if self.child_pid is not None:
            events.append(self._online(totals, now))
        ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
        summary = self._base("kickstart.inv.summary", now)
        sig = None
        if status is not None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        fields = totals.as_fields()
        summary.update(
            {
                "argv": self.command,
                "start_ts": self.start_wall,
                "end_ts": self.end_wall,
                "duration": round((self.end_mono or time.monotonic()) - self.start_mono, 6),
                "exitcode": exitcode,
                "raw_status": status,
                "signal": sig,
                "signal_name": _signal_name(sig),
                "utime": fields["utime"],
                "stime": fields["stime"],
                "cpu": round(fields["utime"] + fields["stime"], 3),
                "rss_peak": max(self.peak["rss"], ru.ru_maxrss),
                "maxrss": ru.ru_maxrss,
                "vm_peak": self.peak["vm"],
                "threads_peak": self.peak["threads"],
                "procs_peak": self.peak["procs"],
                "iowait": fields["iowait"],
                "bread": fields["bread"],
                "bwrite": fields["bwrite"],
                "rchar": fields["rchar"],
                "wchar": fields["wchar"],
                "syscr": fields["syscr"],
                "syscw": fields["syscw"],
                "bsend": 0,
                "brecv": 0,
                "samples": self.seq,
                "interval": self.interval,
                "payload_events": self.payload_count,
                "signals_forwarded": [_signal_name(s) for s in self.signals],
                "orphans_left": left,
                "monitor_pid": os.getpid(),
            }
        )
        if self.spawn_error:
            summary["error"] = self.spawn_error
        events.append(summary)
        self._emit(events)
        with self._emit_lock:
            left_events = self.sink.close(timeout=self.flush_timeout)
        if left_events and left_events > 0:
            say(PROG, f"{left_events} events could not be delivered yet")


def _shell_code(status) -> int:
    if status is None:
        return 1
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


def _signal_name(sig):
    if sig is None:
        return None
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"


# ---------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog=PROG,
        description="Run COMMAND and trace its process tree (CPU, memory, I/O) as Pegasus kickstart did, "
        "as kickstart.inv.online events; publish the MONITORING_PAYLOAD blocks it prints.",
        epilog="The command's stdout passes through unchanged except payload blocks; its exit code is "
        "passed on (death by signal N: 128+N; 126 cannot run it, 127 not found; 125 is panorama-monitor's "
        "own failure, e.g. bad arguments).",
    )
    p.add_argument(
        "-i", "--interval", type=positive_float(MIN_INTERVAL), default=None, metavar="SECONDS",
        help=f"sampling interval, >= {MIN_INTERVAL} (default: $KICKSTART_MON_INTERVAL or {DEFAULT_INTERVAL})",
    )
    add_sink_args(
        p,
        out_help="JSON-lines file to append events to; {pid}, {rank}, {host} are filled in "
        "(default: $PANORAMA_MONITOR_OUT, else a file:// $KICKSTART_MON_URL, else ./panorama-monitor.<pid>.jsonl, "
        "or none when --amqp is given); "
        "'-' is refused: stdout carries the command's output",
    )
    add_context_args(p)
    g = p.add_argument_group("behaviour")
    g.add_argument("--no-payload", action="store_true",
                   help="do not look for payload blocks: the command writes to our stdout directly")
    g.add_argument("--orphan-wait", type=positive_float(0.0), default=5.0, metavar="SECONDS",
                   help="after the command exits, wait this long for processes it left behind (default 5)")
    g.add_argument("--keep-orphans", action="store_true",
                   help="leave processes the command left behind running: by default they are SIGKILLed after "
                        "--orphan-wait, and a SIGTERM, SIGINT, SIGHUP or SIGQUIT goes to the whole tree (as kickstart)")
    g.add_argument("--kill-orphans", action="store_true", help=argparse.SUPPRESS)  # the default now; still accepted
    g.add_argument("--flush-timeout", type=positive_float(0.0), default=10.0, metavar="SECONDS",
                   help="at the end, wait this long for the broker to confirm events (default 10)")
    g.add_argument("-v", "--verbose", action="store_true", help="say where events go")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    p.usage_exit = EXIT_WRAPPER
    return p


def _default_interval(env) -> float:
    value = env.get("KICKSTART_MON_INTERVAL")
    if value:
        try:
            v = float(value)
            if v >= MIN_INTERVAL:
                return v
        except ValueError:
            pass
    return DEFAULT_INTERVAL


@quiet_on_closed_stdout
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logsetup.setup(PROG)  # the publisher's and pika's records: on stderr, secrets masked
    parser = build_parser()
    if "--" in argv:
        i = argv.index("--")
        args = parser.parse_args(argv[:i])
        command = argv[i + 1 :]
    else:
        args = parser.parse_args(argv)
        command = list(args.command)
    if args.show_config:
        return show_sink_config(PROG, args)
    if not command:
        parser.error("no command given (usage: panorama-monitor [options] -- COMMAND ARGS...)")
    env = os.environ
    interval = args.interval if args.interval is not None else _default_interval(env)
    problem = resolve_broker(PROG, args, env)
    if problem:
        say(PROG, problem)
        return EXIT_WRAPPER
    if args.out is None:
        kickstart_url = env.get("KICKSTART_MON_URL") or ""
        args.out = (env.get("PANORAMA_MONITOR_OUT")
                    or (kickstart_url[len("file://"):] if kickstart_url.startswith("file://") else None)
                    or (None if args.amqp else "panorama-monitor.{pid}.jsonl"))
    if args.out == "-":
        parser.error("--out - is not allowed: stdout carries the command's output (use a file, or /dev/stderr)")
    ctx = resolve_context(args, env)
    try:
        sink = open_sink(args, PROG, default_out=None, pid=os.getpid(), rank=ctx["rank"], host=hostname())
    except SinkError as exc:
        say(PROG, f"cannot open the event sink: {exc}")
        return EXIT_WRAPPER
    if args.verbose:
        say(PROG, f"events go to {sink.describe()} every {interval:g} s")
    mon = Monitor(command, interval, sink, ctx, payload=not args.no_payload, orphan_wait=args.orphan_wait,
                  kill_orphans=not args.keep_orphans, flush_timeout=args.flush_timeout, verbose=args.verbose)
    return mon.run()


if __name__ == "__main__":
    sys.exit(main())
