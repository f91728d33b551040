"""``panorama-collect``: headless AMQP recording and relaying.

``record`` subscribes to the Panorama exchange and appends every message to a
panorama-top recording (replay it later with ``panorama-top FILE``).
``relay`` reads a local source (a monitord events.json or BP log, followed
like ``tail -F`` or read once, or a Parsl monitoring DB, followed as
panorama-top follows it, as ``parsl.*`` events) and publishes it to the
exchange through the spooling publisher, so nothing is lost while the broker
is away; the spool keeps a log's read position too, so a restart sends
nothing twice.

Both stop cleanly on SIGTERM or SIGINT: ``record`` acknowledges only what it
has written and closes the recording; ``relay`` waits for the broker to
confirm what it has spooled (``--drain-timeout``) and leaves the rest in the
spool for its next start.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import sys
import threading
import time

from .. import __version__
from .base import EXIT_USAGE, CommandParser, add_show_config, show_config
from ..core import gcpolicy, logsetup, secrets
from ..core.logsetup import quiet_on_closed_stdout, stdout_closed

EXIT_OK = 0
EXIT_BAD_INPUT = 3
EXIT_UNAVAILABLE = 69
EXIT_INTERNAL = 70
EXIT_SPOOLED = 75  # stopped with events still in the spool (sent on the next start)

log = logging.getLogger("panorama-collect")
_LOG_FILE: str | None = None  # errors go to the log file too, when there is one

EPILOG = """\
The broker URL is amqp[s]://user:password@host:port/<vhost>/<exchange> (vhost '/' is
%2F); defaults: vhost panorama, exchange monitoring.  Without --amqp it comes from
PANORAMA_AMQP_URL, then [amqp] url in ~/.config/panorama-top/config.toml.  A URL with
a user and no password takes PANORAMA_AMQP_PASSWORD, then [amqp] password: ps shows a
command line to every user (a password given there is starred once the command has
started).  Passwords are never printed or logged.

Exit status: 0 stopped cleanly (SIGTERM/SIGINT) or done; 3 bad input (URL, file,
recording path); 64 bad arguments; 69 broker unavailable at start (only with
--no-wait: otherwise the command waits and retries with backoff); 75 relay stopped
with events still spooled (they are sent on its next start, nothing is lost);
70 internal error.
"""
RELAY_NOTE = """\
The spool also keeps how far SOURCE was read (its inode and byte offset), in the same
transaction as the events: a restart goes on from there, so nothing is sent twice or
skipped.  A source replaced since (another inode) or truncated is read from its start.

"""


class CollectError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="panorama-collect",
        description="Headless Panorama collection: record an AMQP stream to a recording, "
        "or relay a local event source to AMQP without losing events.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"panorama-collect {__version__}")
    add_show_config(p)
    common = argparse.ArgumentParser(add_help=False)
    add_show_config(common, in_subcommand=True)
    common.add_argument("--amqp", metavar="URL", help="broker URL (default: PANORAMA_AMQP_URL or the config file)")
    common.add_argument("--log", metavar="FILE", help="log to this file instead of stderr")
    common.add_argument("-v", "--verbose", action="store_true", help="log more (also pika's own messages)")
    common.add_argument("--no-wait", action="store_true", help="exit 69 if the broker is unavailable at start")
    common.add_argument("--stats-every", type=float, default=60.0, metavar="S",
                        help="log counts every S seconds (default 60)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    sub.required = False  # but for --show-config: main says so, in argparse's words

    r = sub.add_parser("record", parents=[common], help="record an AMQP stream to a recording file",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--out", required=True, metavar="FILE", help="the recording (FILE.panorama.db); appended to if it exists")
    r.add_argument("--queue", metavar="NAME",
                   help="consume a named durable queue (survives restarts: nothing is missed); "
                        "default: an exclusive queue that lives as long as the command")
    r.add_argument("--bind", action="append", metavar="KEY",
                   help="routing key to bind (repeatable; default stampede.# kickstart.# transfer.# darshan.# parsl.#)")
    r.add_argument("--wf", metavar="UUID", help="keep only this workflow's events")
    r.add_argument("--max-length", type=int, metavar="N",
                   help="bound a --queue to N messages (x-overflow=reject-publish)")

    s = sub.add_parser("relay", parents=[common], help="publish a local event source to AMQP",
                       epilog=RELAY_NOTE + EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("source", metavar="SOURCE", help="a monitord events.json (JSON lines) or BP log, or a Parsl "
                   "monitoring.db (or the dir holding its runinfo/): published as parsl.* events")
    s.add_argument("--spool", metavar="FILE", help="the local spool (default: one per URL and source under "
                   "~/.local/state/panorama-top/spool/)")
    s.add_argument("--no-follow", action="store_true", help="read the source once, wait for the broker's "
                   "confirms, then exit (default: follow it like tail -F)")
    s.add_argument("--drain-timeout", type=float, default=None, metavar="S",
                   help="how long to wait for confirms when stopping (default: 10 s on a signal, "
                        "no limit after --no-follow)")
    c = sub.add_parser("checkpoint", help="add checkpoints to a recording that has none (fast seeks in its replay)",
                       description="Replay a recording as fast as it goes and write checkpoints of the store "
                       "into it (in place of any it had), as a live session's recorder does: a seek in its "
                       "replay then restores the latest one before its time and replays only the rest.")
    c.add_argument("recording", metavar="FILE", help="a panorama-top recording (FILE.panorama.db)")
    add_show_config(c, in_subcommand=True)
    return p


# -- logging ----------------------------------------------------------------------


def setup_logging(path: str | None, verbose: bool) -> None:
    """logsetup's one set-up (secrets masked), to ``path`` or stderr (a journal)."""
    global _LOG_FILE
    try:
        _LOG_FILE = logsetup.setup("panorama-collect", log_file=path, verbose=verbose, daemon=True)
    except OSError as exc:
        raise CollectError(f"cannot write the log {path}: {exc.strerror or exc}") from None


# -- helpers ------------------------------------------------------------------------


def _settings(args):
    from ..transport.amqp_url import UrlError, hide_password_from_ps, parse, resolve

    hide_password_from_ps(args.amqp, "panorama-collect")
    try:
        s = resolve(
            args.amqp,
            getattr(args, "queue", None),
            getattr(args, "bind", None),
            getattr(args, "wf", None),
        )
    except UrlError as exc:
        raise CollectError(str(exc)) from None
    for warning in s.warnings:
        sys.stderr.write(f"panorama-collect: warning: {warning}\n")
    if not s.url:
        raise CollectError("no broker URL: give --amqp URL, set PANORAMA_AMQP_URL or add [amqp] url "
                           "to ~/.config/panorama-top/config.toml", EXIT_USAGE)
    try:
        url = parse(s.url)
    except UrlError as exc:
        raise CollectError(str(exc)) from None
    return s, url


def _show_config(args) -> int:
    from ..core import settings

    cli = {"amqp.url": getattr(args, "amqp", None), "amqp.queue": getattr(args, "queue", None),
           "amqp.bindings": getattr(args, "bind", None), "amqp.wf": getattr(args, "wf", None)}
    try:
        found = settings.resolve(("amqp.url", "amqp.password", "amqp.queue", "amqp.bindings", "amqp.wf"), cli)
    except settings.ConfigError as exc:
        print(f"panorama-collect: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return show_config("panorama-collect", found)


def check_broker(url) -> str | None:
    """None when the broker accepts a connection, else why not (masked)."""
    import pika

    from ..sources.amqp import _describe

    try:
        pika.BlockingConnection(url.connection_parameters(connection_attempts=1)).close()
        return None
    except Exception as exc:
        return url.redact(_describe(exc))


def default_spool(url, source: str) -> str:
    from ..core import paths

    key = hashlib.sha1(f"{url.masked}\n{os.path.abspath(source)}".encode()).hexdigest()[:12]
    name = os.path.basename(source).replace(os.sep, "_")
    return os.path.join(paths.state_dir(), "spool", f"relay-{name}-{key}.db")


class _Stopper:
    """SIGTERM/SIGINT -> a clean stop (a second signal is no different: stopping is prompt)."""

    def __init__(self, on_stop=None):
        self.event = threading.Event()
        self.signal_name = None
        self.on_stop = on_stop
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame):
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        if self.on_stop is not None:
            self.on_stop()


# -- record ---------------------------------------------------------------------------


def cmd_record(args) -> int:
    from ..transport.amqp_url import UrlError
    from ..pipeline.ingest import Ingest
    from ..core.recorder import Recorder
    from ..sources.amqp import AmqpSource
    from ..model.store import Store

    s, url = _settings(args)
    setup_logging(args.log, args.verbose)
    try:
        src = AmqpSource(s.url, queue=s.queue, bindings=s.bindings, wf=s.wf, max_length=args.max_length)
    except UrlError as exc:
        raise CollectError(str(exc)) from None
    if args.no_wait:
        why = check_broker(url)
        if why:
            raise CollectError(f"broker {url.masked} unavailable: {why}", EXIT_UNAVAILABLE)
    try:
        recorder = Recorder(args.out, source=url.masked)
    except Exception as exc:
        raise CollectError(f"cannot write the recording {args.out}: {getattr(exc, 'strerror', None) or exc}") from None
    store = Store()
    stopper = _Stopper()
    ing = Ingest(src, store, recorder)
    log.info("recording %s (queue %s, bindings %s%s) to %s", url.masked, s.queue or "exclusive",
             " ".join(src.bindings), f", workflow {s.wf}" if s.wf else "", args.out)
    ing.start()
    last_state = None
    next_stats = time.monotonic() + args.stats_every
    try:
        while not stopper.event.wait(0.5):
            st = src.status
            if st.state != last_state:
                log.info("link %s: %s", st.state, st.message)
                last_state = st.state
            if ing.done.is_set():
                break
            if time.monotonic() >= next_stats:
                _log_counts(src, store, recorder)
                next_stats = time.monotonic() + args.stats_every
    finally:
        if stopper.signal_name:
            log.info("%s: stopping", stopper.signal_name)
        src.stop()
        if ing.thread is not None:
            ing.thread.join(15)
        _log_counts(src, store, recorder)
        rec = ing.recorder
        ing.recorder = None
        if rec is not None:
            rec.close()
    if ing.error:
        log.error("%s", ing.error)
        return EXIT_INTERNAL
    log.info("stopped; %d messages recorded in %s", recorder.count, args.out)
    return EXIT_OK


def _log_counts(src, store, recorder) -> None:
    d = src.status.detail
    lag = d.get("lag") or {}
    log.info(
        "received %d, recorded %d, events %d, bad %d, filtered %d, %.1f msg/s, lag p50 %s s, reconnects %d, link %s",
        d.get("received", 0), recorder.count if recorder else 0, store.event_count, store.bad_count,
        d.get("filtered", 0), d.get("rate", 0.0), lag.get("p50"), d.get("reconnects", 0), src.status.state,
    )


# -- relay ------------------------------------------------------------------------------


def cmd_relay(args) -> int:
    from ..sources.detect import UnknownInput, detect
    from ..pipeline.ingest import decode_batch
    from ..transport.publisher import SpoolingPublisher, encode_event

    s, url = _settings(args)
    setup_logging(args.log, args.verbose)
    try:
        kind = detect(args.source, follow=not args.no_follow)
    except UnknownInput as exc:
        raise CollectError(str(exc)) from None
    if kind not in ("jsonlog", "bplog", "eventlog", "parsl"):
        raise CollectError(f"{args.source}: relay reads a monitord event log (JSON lines or BP) or a Parsl "
                           f"monitoring DB, not a {kind}")
    if args.no_wait:
        why = check_broker(url)
        if why:
            raise CollectError(f"broker {url.masked} unavailable: {why}", EXIT_UNAVAILABLE)
    spool = args.spool or default_spool(url, args.source)
    try:
        pub = SpoolingPublisher(s.url, spool)
    except Exception as exc:
        raise CollectError(f"cannot open the spool {spool}: {getattr(exc, 'strerror', None) or exc}") from None
    key = os.path.abspath(args.source)
    resume = _resume_point(pub.position(key))
    src = _relay_source(args.source, kind, follow=not args.no_follow, resume=resume)
    stopper = _Stopper(on_stop=src.stop)
    left_over = pub.pending()
    log.info("relaying %s to %s (spool %s%s%s)", args.source, url.masked, spool,
             f", {left_over} event(s) left from the last run" if left_over else "",
             f"; going on after line {resume[2]} (byte {resume[1]}), relayed by the last run" if resume else "")
    sent = bad = 0
    last_state = None
    next_stats = time.monotonic() + args.stats_every
    try:
        for batch in src.batches():
            reasons: list[str] = []
            events = decode_batch(batch, reasons, where=getattr(batch, "where", None))  # "events.json:12: not JSON…"
            for r in reasons[:5]:
                log.warning("skipped a record: %s", r)
            bad += len(reasons)
            # Routed by the record's own name, as monitord routes it (a Darshan
            # record wrapped in stampede.task.monitoring keeps that key).
            rows = []
            for i, ev in enumerate(events):
                try:
                    rows.append(encode_event(ev.data, str(ev.data.get("event") or ev.name)))
                except (RecursionError, ValueError, TypeError) as exc:  # decoded, but json cannot write it again
                    bad += 1
                    log.warning("skipped a record: %s: cannot encode it again (%s)", _place_of_decoded(batch, i),
                                type(exc).__name__)
            rows = [(body, rk) for rk, body in rows]
            resume_at = batch.resume() if getattr(batch, "resume", None) else None
            if rows or resume_at:
                # The read position goes with the events, in one transaction:
                # a restart (even a kill -9) neither sends them again nor skips any.
                pub.publish_many(rows, position=(key, resume_at) if resume_at else None)
            sent += len(rows)
            st = pub.status()
            if st["state"] != last_state:
                log.info("link %s: %s", st["state"], st["message"])
                last_state = st["state"]
            if time.monotonic() >= next_stats:
                log.info("read %d events (%d bad), %d waiting for the broker, link %s",
                         sent, bad, st["spooled"], st["state"])
                next_stats = time.monotonic() + args.stats_every
        if src.status.state == "error":
            log.error("%s", src.status.message)
        if stopper.signal_name:
            log.info("%s: stopping", stopper.signal_name)
            wait = 10.0 if args.drain_timeout is None else args.drain_timeout
        else:
            wait = args.drain_timeout  # --no-follow: until confirmed (or a signal)
        left = _drain(pub, wait, stopper)
    finally:
        left = pub.close(0)
    log.info("relayed %d events (%d bad records skipped); %d left in the spool", sent, bad, left)
    if src.status.state == "error":
        raise CollectError(src.status.message)
    return EXIT_SPOOLED if left else EXIT_OK


def _resume_point(value) -> tuple[int, int, int] | None:
    """The (inode, offset, lines) a spool kept, or None for a value that is not one."""
    if isinstance(value, list) and len(value) == 3 and all(type(v) is int and v >= 0 for v in value):
        return value[0], value[1], value[2]
    return None


def _place_of_decoded(batch, i: int) -> str:
    """Where the ``i``-th record of ``batch`` that decodes came from: for the rare
    warning about a record that decoded but cannot be encoded again."""
    from ..pipeline.ingest import decode_batch

    n = -1
    for j, raw in enumerate(batch):
        if decode_batch([raw], []):
            n += 1
            if n == i:
                return batch.where(j) if getattr(batch, "where", None) else f"record {j + 1}"
    return "?"


def _relay_source(path: str, kind: str, follow: bool, resume):
    """What relay reads: an event log (from where the last run left off), or a
    Parsl DB as parsl.* events (sources/parsl_db.py; read again whole after a
    restart: the store ignores what it already has)."""
    if kind != "parsl":
        from ..sources.detect import bp_of
        from ..sources.jsonlog import JsonLogSource

        return JsonLogSource(path, follow=follow, bp=bp_of(kind), resume=resume)
    from ..sources.parsl.monitoring_db import ParslDbError, ParslDbSource, find_db

    try:
        return ParslDbSource(find_db(path), follow=follow, bulk=False)  # subscribers get the row events
    except ParslDbError as exc:
        raise CollectError(str(exc)) from None


def _drain(pub, wait: float | None, stopper) -> int:
    """Wait for confirms up to ``wait`` s (None: until done); a signal cuts it to 10 s more."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        left = pub.flush(0.5)
        if left == 0:
            return 0
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return left
        if stopper.event.is_set() and deadline is None:
            deadline = now + 10.0
            log.info("stopping: waiting up to 10 s for the broker to confirm %d event(s)", left)


def cmd_checkpoint(args) -> int:
    """``checkpoint FILE``: checkpoints written into a recording (pipeline/checkpoints.py)."""
    import sqlite3

    from ..pipeline.checkpoints import add_to_recording

    path = args.recording
    if not os.path.isfile(path):
        raise CollectError(f"{path}: no such file")
    t0 = time.perf_counter()
    try:
        got = add_to_recording(path)
    except (ValueError, sqlite3.Error) as exc:
        raise CollectError(f"{path}: {exc}") from None
    if got["off"]:
        print(f"panorama-collect: {path}: no checkpoints ({got['off']})", file=sys.stderr)
    print(f"{path}: {got['checkpoints']} checkpoint(s), {got['bytes_added'] / 2**20:.1f} MiB, "
          f"{got['checkpoint_cpu']:.1f} s of CPU of the replay's {got['ingest_cpu']:.1f} s "
          f"({time.perf_counter() - t0:.0f} s)")
    return EXIT_OK


# -- main ---------------------------------------------------------------------------------


@quiet_on_closed_stdout
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.show_config:
        return _show_config(args)
    if not args.command:
        parser.error("the following arguments are required: COMMAND")
    gcpolicy.configure()  # the program's collector policy, set by its entry point
    try:
        if args.command == "record":
            return cmd_record(args)
        if args.command == "checkpoint":
            return cmd_checkpoint(args)
        return cmd_relay(args)
    except CollectError as exc:
        print(f"panorama-collect: {exc}", file=sys.stderr)
        if _LOG_FILE:
            log.error("%s", exc)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # one line, masked; the traceback goes to the log
        if isinstance(exc, BrokenPipeError) and stdout_closed():
            raise  # the reader left (| head): main's wrapper ends quietly
        if _LOG_FILE:
            log.exception("internal error")
        print(f"panorama-collect: internal error: {type(exc).__name__}: {secrets.scrub(exc)}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
