"""The ``panorama-top`` command line."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback

from .. import __version__
from .base import CommandParser, add_show_config, show_config
from ..core import gcpolicy, logsetup, secrets
from ..core.logsetup import quiet_on_closed_stdout, stdout_closed
from ..core.fmt import visible

EXIT_BAD_INPUT = 3

DEMO_RECORDING = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "demo.panorama.db")


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="panorama-top",
        description="Live terminal monitor for Pegasus and Parsl workflows: jobs, /proc traces, "
        "Darshan I/O and Globus transfers in one screen.",
        epilog="--once and --report exit status: 0 succeeded, 1 failed (for Parsl: a task failed), 2 still running, "
        "4 stalled (DAGMan exited but monitord recorded no end, or no event for far longer than the run's pace with "
        "nothing queued or running; a Parsl run without an end that wrote nothing for far longer than its cadence, "
        "killed when its writer's process is gone); 3 unreadable input; 64 bad arguments; 141 stdout's reader left "
        "(| head), as for any filter.",
    )
    p.add_argument("path", nargs="?", help="a Pegasus submit dir (default: the current directory if it is one, "
                   "or holds a Parsl run's runinfo/), a DAGMan log (*.dag.dagman.out) or a dir of them, a Stampede "
                   "DB, a Parsl monitoring.db or a dir holding runinfo/monitoring.db, a monitord event log (JSON or "
                   "BP; followed, and waited for if not there yet; also a pipe or FIFO) or a panorama-top recording")
    p.add_argument("--demo", action="store_true", help="replay the bundled recording of real Pegasus runs")
    p.add_argument("--once", action="store_true", help="print a summary and exit (no screen)")
    p.add_argument("--report", action="store_true", help="print what pegasus-analyzer prints for PATH's held and "
                   "failed jobs (each the report the o key opens) and exit; with --json, as fields")
    p.add_argument("--json", action="store_true", help="with --once, --report or --stats: print a JSON object")
    p.add_argument("--stats", action="store_true", help="print pegasus-statistics' summary of PATH (a Stampede DB "
                   "or a submit dir) and exit; with --json, every figure of -s all")
    p.add_argument("--no-follow", action="store_true", help="read an event log once instead of following it, "
                   "and wait for nothing: not for a log not there yet, nor for a FIFO's writer")
    p.add_argument("--record", metavar="FILE", help="append every event received to this recording (a followed "
                   "event log too; by default an AMQP stream is recorded under ~/.local/share/panorama-top/recordings)")
    p.add_argument("--no-record", action="store_true", help="do not record live input")
    p.add_argument("--speed", type=float, default=None, help="replay speed: 1, 10, ... or 0 for as fast as possible")
    p.add_argument("--paused", action="store_true", help="start a replay paused")
    p.add_argument("--no-mouse", action="store_true", help="do not capture the mouse (lighter over SSH)")
    p.add_argument("--amqp", metavar="URL", help="subscribe to a RabbitMQ exchange: amqp[s]://user:pass@host:port/"
                   "<vhost>/<exchange> (default without PATH: PANORAMA_AMQP_URL, then the config file).  Without "
                   "a password, the URL takes PANORAMA_AMQP_PASSWORD's or the config file's: one given here "
                   "is starred in ps only once the program has started")
    p.add_argument("--queue", metavar="NAME", help="with AMQP: consume this named durable queue "
                   "(default: an exclusive queue that lives as long as the screen)")
    p.add_argument("--bind", action="append", metavar="KEY", help="with AMQP: routing key to bind (repeatable; "
                   "default stampede.# kickstart.# transfer.# darshan.# parsl.#)")
    p.add_argument("--wf", metavar="UUID", help="with AMQP: show only this workflow's events; with --stats: "
                   "this workflow and its sub-workflows")
    add_show_config(p)
    p.add_argument("--version", action="version", version=f"panorama-top {__version__}")
    return p


TOP_SETTINGS = ("amqp.url", "amqp.password", "amqp.queue", "amqp.bindings", "amqp.wf",
                "recording.keep_days", "recording.keep_mb")


def resolve_settings(args):
    """panorama-top's settings through the one resolver (:mod:`panorama_tui.core.settings`),
    with PATH's (or the current submit dir's) Pegasus properties as the last place to look."""
    from ..core import settings

    cli = {"amqp.url": args.amqp, "amqp.queue": args.queue, "amqp.bindings": args.bind, "amqp.wf": args.wf}
    path = args.path or (os.getcwd() if not args.demo and _is_submit_dir(os.getcwd()) else None)
    return settings.resolve(TOP_SETTINGS, cli, pegasus=pegasus_properties(path))


def pegasus_properties(path: str | None):
    """(properties file, its keys) of the submit dir ``path``, else None."""
    if not path or not os.path.isdir(path):
        return None
    from ..sources.pegasus.submitdir import SubmitDirError, find_submit_dir

    try:
        sd = find_submit_dir(path)
    except (SubmitDirError, OSError):
        return None
    return (sd.properties_file, sd.properties) if sd.properties_file else None


class InputError(Exception):
    pass


def open_source(args):
    """(source, replay control or None) for the command line's input: the source registry's."""
    from ..sources import registry

    path = args.path
    # -- no PATH inside a Pegasus submit dir or a Parsl run's dir means that run --
    if not path and not args.demo and not args.amqp and _is_run_dir(os.getcwd()):
        path = args.path = os.getcwd()
    amqp = _open_amqp(args)
    if amqp is not None:
        return amqp, None
    if args.demo:
        if path:
            raise InputError("give either PATH or --demo, not both")
        path = DEMO_RECORDING
        if not os.path.exists(path):
            raise InputError(f"the bundled demo recording is missing ({path}); reinstall panorama-top")
    if not path:
        from ..sources.pegasus.master_db import default_path

        if os.path.isfile(default_path()) and not args.once:
            raise OpenMasterDb(default_path())
        raise InputError("nothing to show: give an event log, a recording or a submit dir, or try --demo")
    options = registry.OpenOptions(follow=not (args.no_follow or args.once), once=args.once,
                                   wait_for_writer=not args.no_follow, speed=args.speed, paused=args.paused,
                                   demo=args.demo)
    try:
        source = registry.open(path, options)
    except registry.WorkflowList as exc:
        _master_db_workflows(exc.path, args)  # raises: the screen's list, or --once's lines
    except registry.CannotOpen as exc:
        raise InputError(str(exc)) from None
    return source, getattr(source, "control", None)  # a replay's control


# -- Pegasus submit dirs and DBs ------------------------------------------------


class Listing(Exception):
    """Not a source but a list to print (a master DB's workflows); exit 0."""


class OpenMasterDb(Exception):
    """Not a source: the screen opens on this master DB's workflows list."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


def _is_submit_dir(d: str) -> bool:
    from ..sources.pegasus.kinds import has_braindump

    return has_braindump(d)


def _is_run_dir(d: str) -> bool:
    """A Pegasus submit dir, or the dir of a Parsl run (``runinfo/monitoring.db`` in it)."""
    from ..sources.parsl.monitoring_db import db_of_dir

    return _is_submit_dir(d) or db_of_dir(d) is not None


def _master_db_workflows(path: str, args):
    """A master DB opens the screen's workflows list; with --once its workflows are printed."""
    if not args.once:
        raise OpenMasterDb(path)
    from ..sources.pegasus.master_db import list_workflows
    from ..sources.pegasus.stampede_db import StampedeDbError

    try:
        wfs = list_workflows(path, progress=True)
    except StampedeDbError as exc:
        raise InputError(str(exc)) from None
    if args.json:
        import json

        raise Listing(json.dumps({"source": path, "workflows": wfs}, indent=2))
    from ..stats.progress import percent_text

    lines = [f"{len(wfs)} workflow(s) in {path}; open one with: panorama-top SUBMIT_DIR"]
    for w in wfs:
        p = w.get("progress") or {}
        pct = percent_text(p["percent"]) if p.get("percent") is not None else "-"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(w["start"])) if w["start"] else "-"
        lines.append(f"{w['state']:<10} {pct:>5}  {when}  {w['label'] or '?':<20} {w['submit_dir']}")
    raise Listing("\n".join(lines))


def _open_amqp(args):
    """An AmqpSource when --amqp is given, or no PATH and the env/config name a broker."""
    from ..transport.amqp_url import UrlError, hide_password_from_ps, resolve

    hide_password_from_ps(args.amqp, "panorama-top")
    amqp_opts = args.queue or args.bind or args.wf
    if args.amqp and (args.path or args.demo):
        raise InputError("give either PATH/--demo or --amqp, not both")
    if args.path or args.demo:
        if amqp_opts:
            raise InputError("--queue, --bind and --wf go with --amqp")
        return None
    try:
        s = resolve(args.amqp, args.queue, args.bind, args.wf)
    except UrlError as exc:
        raise InputError(str(exc)) from None
    for warning in s.warnings:  # before the screen takes the terminal
        sys.stderr.write(f"panorama-top: warning: {warning}\n")
    if not s.url:
        if amqp_opts:
            raise InputError("--queue, --bind and --wf go with --amqp")
        return None
    from ..sources import registry

    options = registry.OpenOptions(once=args.once, queue=s.queue, bindings=s.bindings, wf=s.wf)
    try:
        return registry.open(s.url, options, url=True)
    except registry.CannotOpen as exc:
        raise InputError(str(exc)) from None


def run_once(args, source) -> int:
    label = args.path or "demo"
    fast = _once_from_db(args, source, label)
    if fast is not None:
        return fast
    fast, source = _once_of_event_log(args, source, label)
    if fast is not None:
        return fast
    from ..stats.once import overall_exit, render_json, render_text  # the store's: not imported for the fast path
    from .stderr_progress import stderr_progress

    with stderr_progress("reading events") as update:
        store = read_to_end(source, lambda n: update(n, None))
    now = _stall_clock(source, store)
    db_counts = _db_counts(source, store)
    print(render_json(store, label, now, db_counts) if args.json else render_text(store, label, now, db_counts))
    return overall_exit(store, now)


def _once_from_db(args, source, label: str) -> int | None:
    """--once of a Stampede DB or a submit dir computed in the DB (stats.sql_once), without a
    store; None when the input is neither, or is one the store path must read (the same
    output).  A submit dir's DB summary takes what its source reads beside the DB
    (sources.pegasus.overlay_once: DAGMan's tables, jobstate.log lines the DB lacks, whose
    jobs the store's rules decide); tests/test_sql_once.py compares both paths on every shared
    submit dir, the held runs and generated ones."""
    from ..sources.parsl.monitoring_db import ParslDbSource
    from ..sources.pegasus.stampede_db import StampedeDbSource
    from ..sources.pegasus.submitdir import SubmitDirSource
    from ..stats import sql_once

    if not sql_once.enabled():
        return None
    if isinstance(source, ParslDbSource):
        return _once_from_parsl_db(args, source, label)
    overlay, jobs, message = None, None, ""
    if isinstance(source, StampedeDbSource):
        path = source.path
    elif type(source) is SubmitDirSource and source.overlay and not source.follow:
        from ..sources.pegasus.overlay_once import OverlayUnsupported, job_histories, overlay_events

        try:
            overlay, message = overlay_events(source.sd)
            # the jobs whose jobstate.log lines the DB lacks (the generated 100k run half done:
            # 211 events of 186 jobs, 0.11 s of CPU with their histories; finished: 0.02 s),
            # decided by the store's rules on their own rows and lines.  Read in a thread beside
            # the DB's job rows it gained nothing measurable (half done: 1.16 s against 1.15 s
            # wall, medians of 7, A B A B)
            jobs = job_histories(source.sd, overlay)
        except OverlayUnsupported:
            return None
        path = source.sd.db_path
    else:
        return None
    from .stderr_progress import stderr_progress

    with stderr_progress("reading jobs") as update:
        got = sql_once.once_from_db(path, label, time.time(), update, overlay, jobs)
    if got is None:
        return None
    if message:  # what a partial submit dir lacks, as read_to_end says it
        print(f"panorama-top: {visible(message)}", file=sys.stderr)
    d, extra = got
    if args.json:
        import json

        print(json.dumps(d, indent=2))
    else:
        from ..stats.once import text_of

        print(text_of(d, label, extra["depth"].__getitem__, lambda u: extra["held"].get(u, ())))
    return d["exit_status"]


def _once_from_parsl_db(args, source, label: str) -> int | None:
    """--once of a Parsl monitoring DB computed in the DB (stats.parsl_sql_once), without a
    store; None when the store path must answer (the same output: tests/test_parsl_sql_once.py
    compares both on every shared Parsl DB and generated ones)."""
    from ..sources.parsl import monitoring_db
    from ..stats import parsl_sql_once
    from .stderr_progress import stderr_progress

    if source.follow:
        return None
    try:
        with stderr_progress("reading tasks") as update:
            got = parsl_sql_once.once_from_db(source.path, monitoring_db, label, time.time(), update, source.writers)
    except monitoring_db.ParslDbError as exc:  # locked past LOCK_PATIENCE: what the store path would say
        raise InputError(str(exc)) from None
    if got is None:
        return None
    d, lines = got
    if args.json:
        import json

        print(json.dumps(d, indent=2))
    else:
        from ..stats.once import text_of

        print(text_of(d, label, lambda u: 0, lambda u: (), lambda w: lines[w["run_id"]]))
    return d["exit_status"]


def _once_of_event_log(args, source, label: str):
    """(exit status, source): --once of a monitord event log (a regular file, read whole) by
    one streaming pass that keeps per job its state and its latest try's few facts
    (stats.stream_once), or (None, a source to read through the store) where that pass
    cannot answer as the store path does (it then opens the log again; a stall's pace takes
    it a second read of the log).  100k generated jobs with traces: 137 MB against the store
    path's 440 MB, 31 s of CPU against 50.  tests/test_stream_once.py compares both paths on
    the shared logs, the held runs, hostile, fuzzed and generated ones."""
    from ..sources.jsonlog import JsonLogSource
    from ..stats import sql_once

    if (type(source) is not JsonLogSource or source.follow or source.resume is not None
            or not sql_once.enabled() or not os.path.isfile(source.path)):
        return None, source  # a FIFO or a pipe cannot be read a second time
    from ..stats import stream_once
    from .stderr_progress import stderr_progress

    try:
        with stderr_progress("reading events") as update:
            lean = stream_once.read_lean(source, lambda n: update(n, None))
        text, code = stream_once.once_text(lean, label, time.time(), args.json, lambda: open_source(args)[0])
    except stream_once.Unsupported:
        return None, open_source(args)[0]
    print(text)
    return code, source


def _db_counts(source, store) -> dict | None:
    """Each workflow's own counts as the source's Stampede DB has them (pegasus-statistics'
    numbers, as --stats and the Statistics panel give them), or None without a DB."""
    from ..stats import sql_stats

    db = sql_stats.source_db(source)
    if db is None:
        return None
    out: dict = {}
    for root in store.roots:
        try:
            stats = sql_stats.all_statistics_db(db, root.wf_uuid)
        except sql_stats.StatsDbError:
            continue  # not in the DB yet: the store's counts stand
        for w in stats["workflows"]:
            if w["wf_uuid"] != "ALL":
                out[w["wf_uuid"]] = {k: w[k] for k in ("tasks", "jobs", "sub_workflows")}
    return out


def _stall_clock(source, store) -> float | None:
    """The time stalls are judged by: the wall clock, a recording's by its own end."""
    from ..sources.replay import ReplaySource

    return store.latest_ts if isinstance(source, ReplaySource) else time.time()


def read_to_end(source, tick=None):
    """A store of everything ``source`` holds now (a replay at its end), for --once and --report;
    ``tick(events)`` is told how many events are in as they come (a progress bar)."""
    from ..pipeline.ingest import Ingest
    from ..sources.replay import ReplaySource
    from ..model.store import Store

    store = Store()
    ing = Ingest(source, store, checkpoints=False).start()  # it never seeks
    said_waiting = False
    while not ing.done.wait(0.05):
        if tick is not None:
            tick(store.event_count)
        if isinstance(source, ReplaySource) and source.control.finished:
            source.stop()  # a replay idles at its end (waiting for seeks): stop once it is there
        if source.status.state == "waiting" and not said_waiting:  # a FIFO's writer: said once
            said_waiting = True
            print(f"panorama-top: {visible(source.status.message)}", file=sys.stderr, flush=True)
    ing.thread.join()
    if source.status.state == "error":
        raise InputError(source.status.message)
    if source.status.message and type(source).__name__ in ("SubmitDirSource", "StampedeDbSource", "ParslDbSource"):
        print(f"panorama-top: {visible(source.status.message)}", file=sys.stderr)  # what a partial submit dir lacks
    return store


def run_report(args) -> int:
    """pegasus-analyzer's report of PATH's held and failed jobs (report.run_report), read as --once reads."""
    from ..stats import job_report as analyzer
    from ..stats.once import overall_exit

    if args.once or args.stats:
        raise InputError("give one of --once, --report and --stats")
    if args.amqp:
        raise InputError("--report reads a file, a DB, a submit dir or a recording; a live AMQP stream has no end")
    args.once = True  # the input opened as --once opens it: read to its end, a replay at full speed
    source, _ = open_source(args)
    store = read_to_end(source)
    data = analyzer.run_report(store, args.path or "demo")
    print(_dumps(data) if args.json else analyzer.render_run_report(data))
    return overall_exit(store, _stall_clock(source, store))


def run_stats(args) -> int:
    """pegasus-statistics' figures straight from the Stampede DB (sql_stats): no store is built."""
    from ..stats import sql_stats

    if args.demo or args.amqp or args.once:
        raise InputError("--stats reads a Stampede DB or a submit dir: not with --demo, --amqp or --once")
    path = args.path or (os.getcwd() if _is_submit_dir(os.getcwd()) else None)
    if not path:
        raise InputError("--stats needs PATH: a Stampede DB or a Pegasus submit dir")
    kind = _stats_kind(path)
    wf = args.wf
    if kind == "submitdir":
        from ..sources.pegasus.submitdir import SubmitDirError, find_submit_dir

        try:
            sd = find_submit_dir(path)
        except SubmitDirError as exc:
            raise InputError(str(exc)) from None
        if not sd.db_path or not os.path.exists(sd.db_path):
            raise InputError(f"{path}: no Stampede DB found ({'; '.join(sd.notes) or 'braindump names none'})")
        path, wf = sd.db_path, wf or sd.wf_uuid
    elif kind == "parsl":
        raise InputError(f"{path}: a Parsl monitoring DB: --stats gives pegasus-statistics' figures of a Pegasus "
                         f"run; --once gives a Parsl run's")
    elif kind != "stampede":
        raise InputError(f"{path}: --stats reads a Stampede DB or a submit dir, not a {kind}")
    warnings: list[str] = []
    from .stderr_progress import stderr_progress

    try:
        with stderr_progress("computing statistics"):  # a terminal's stderr only: the time it takes
            if args.json:
                # written as it is computed (stats/stats_json.py): 155 MB at 1M jobs, not 3.2 GB
                from ..stats import stats_json

                stats_json.write_statistics_json(path, sys.stdout, wf, warnings=warnings)
                text = ""
            else:
                text = sql_stats.summary_text(path, wf, warnings=warnings)
        print(text)
    except sql_stats.StatsDbError as exc:
        raise InputError(str(exc)) from None
    if warnings:  # rows skipped, text not UTF-8: the figures are those of the rest
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        print(f"panorama-top: warning: {visible(warnings[0])}{more}", file=sys.stderr)
    return 0


def _stats_kind(path: str) -> str:
    """``detect(path)``, asking the Stampede DB kind first: --stats' usual input.  detect asks
    every registered source kind, and so imports each one's module and reads the entry points'
    metadata (with bytecode, ~40-60 ms of CPU: a tenth of --stats of a 100k-job DB); the one
    kind's own ``recognise`` is certain of a Stampede DB.  Anything else (a master DB, a
    recording, not SQLite, locked or corrupt now) is detect's to say, as before."""
    from ..sources.pegasus.kinds import STAMPEDE
    from ..sources.registry import CERTAIN, Target, UnknownInput

    # a DAGMan log is recognised by its name before any DB: so it stays detect's
    if not path.endswith(".dagman.out"):
        try:
            target = Target(path)
            try:
                if STAMPEDE.recognise(target) == CERTAIN:
                    return "stampede"
            finally:
                target.close()
        except UnknownInput:
            pass  # detect says why
    from ..sources.detect import detect

    try:
        return detect(path)
    except UnknownInput as exc:
        raise InputError(str(exc)) from None


def _dumps(obj) -> str:
    try:
        import orjson

        return orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode()
    except (ImportError, TypeError):  # no orjson; an integer past 64 bits (a DB's sums can be)
        import json

        return json.dumps(obj, indent=2)


def _log_internal_error(exc: BaseException) -> str:
    try:  # mkstemp: a new file of our own, 0600, even in a shared /tmp
        fd, path = tempfile.mkstemp(prefix=f"panorama-top-error-{os.getpid()}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(secrets.scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
    except OSError:
        return ""
    return path


def _run_screen(args, source, control, master_db: str | None = None) -> int:
    """The screen, with the log's records also in Textual's own log (``textual console``)."""
    from textual.logging import TextualHandler

    from ..ui.app import run_app

    logsetup.attach(TextualHandler(stderr=False))  # never the terminal: it is the screen's
    return run_app(args, source, control, master_db=master_db)


@quiet_on_closed_stdout
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.show_config:
        from ..core.settings import ConfigError

        try:
            return show_config("panorama-top", resolve_settings(args))
        except ConfigError as exc:
            print(f"panorama-top: {visible(str(exc))}", file=sys.stderr)
            return EXIT_BAD_INPUT
    gcpolicy.configure()  # the program's collector policy, set by its entry point
    # The screen owns the terminal: its log goes to a file (a refresh error's
    # traceback on stderr would be drawn over the screen).
    logsetup.setup("panorama-top", screen=not (args.once or args.stats))
    try:
        if args.json and not (args.once or args.stats or args.report):
            raise InputError("--json goes with --once, --report or --stats")
        if args.report:
            return run_report(args)
        if args.stats:
            return run_stats(args)
        source, control = open_source(args)
        if args.once:
            return run_once(args, source)
        return _run_screen(args, source, control)
    except InputError as exc:
        print(f"panorama-top: {visible(str(exc))}", file=sys.stderr)  # it may quote the input
        return EXIT_BAD_INPUT
    except Listing as exc:
        print(str(exc))
        return 0
    except OpenMasterDb as exc:
        return _run_screen(args, None, None, master_db=exc.path)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback on the user's terminal
        if isinstance(exc, BrokenPipeError) and stdout_closed():
            raise  # the reader left (| head): main's wrapper ends quietly
        where = _log_internal_error(exc)
        print(
            f"panorama-top: internal error: {type(exc).__name__}: {visible(secrets.scrub(exc))}"
            + (f" (details in {where})" if where else ""),
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
