"""The Statistics panel: pegasus-statistics' figures, from the Stampede DB when there is one.
"""

from __future__ import annotations

import os
import time
from functools import partial

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from ...core.fmt import human_duration
from ...model.entities import Workflow
from ...model.handlers import parsl
from ...model.states import JobState
from ...model.store import Store
from ...stats.progress import workflow_state
from ..theme import STATE_MARKUP
from .base import OffThreadPanel


def _table(title: str, text_cols: tuple, number_cols: tuple) -> Table:
    """A borderless statistics table: text columns left, numbers right."""
    t = Table(title=title, title_justify="left", box=None, padding=(0, 1), show_edge=False)
    for col in text_cols:
        t.add_column(col, justify="left")
    for col in number_cols:
        t.add_column(col, justify="right")
    return t

COUNT_TYPES = (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows"))

COUNT_COLUMNS = ("succeeded", "failed", "incomplete", "total", "retries")


def _counts_table(counts: dict, title: str | None = None) -> Table:
    """summary.csv's table: per type, its counts and total+retries."""
    t = Table(title=title, title_justify="left", box=None, padding=(0, 1), show_edge=False)
    for col in ("type", *COUNT_COLUMNS, "total+retries"):
        t.add_column(col, justify="left" if col == "type" else "right")
    for key, label in COUNT_TYPES:
        c = counts[key]
        t.add_row(label, *(str(c[col]) for col in COUNT_COLUMNS), str(c["succeeded"] + c["failed"] + c["retries"]))
    return t


def _parsl_counts(run) -> Table:
    """A Parsl run's tasks by state, as --once counts them (parsl.task_counts)."""
    c = parsl.task_counts(run)
    keys = ("succeeded", "memo_done", "failed", "dep_fail", "running", "pending", "total", "retries")
    t = _table("", ("type",), keys)
    t.add_row("Tasks", *(str(c[k]) for k in keys))
    return t


def _same_counts(a: dict, b: dict) -> bool:
    return all(a[key][col] == b[key][col] for key, _ in COUNT_TYPES for col in COUNT_COLUMNS)


def _file_signature(path: str) -> tuple:
    """Changes when SQLite commits to the DB (the file, or its WAL)."""
    sig = []
    for p in (path, path + "-wal"):
        try:
            st = os.stat(p)
            sig.append((st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


def _figures_of_db(db: str, uuids: list[str], key: tuple) -> tuple:
    """``--stats``' figures of each workflow (or why there are none), and how long that took;
    in a worker thread."""
    from ...stats import sql_stats

    began = time.monotonic()
    out: dict = {}
    big = _jobs_in(db) > FULL_TABLES_MAX
    for u in uuids:
        try:
            if big:  # the summary alone: the whole answer holds every job's row (3.2 GB at 1M jobs)
                out[u] = {**sql_stats.summary_statistics_db(db, u), "breakdown": {}, "per_host": {},
                          "note": f"more than {FULL_TABLES_MAX:,} jobs: the per-transformation and per-host "
                                  "tables are in `panorama-top --stats --json`"}
            else:
                out[u] = sql_stats.all_statistics_db(db, u)
        except sql_stats.StatsDbError as exc:
            out[u] = str(exc)
    return key, out, time.monotonic() - began


# Above this many jobs the panel shows the summary alone (92 MB and 4 s of CPU at 1M jobs,
# against 3.2 GB and 34 s for the whole answer, measured on the generated 1M DB).
FULL_TABLES_MAX = 200_000


def _jobs_in(db: str) -> int:
    from ...core.sqlite import connect_ro

    try:
        conn = connect_ro(db)
    except Exception:
        return 0
    try:
        return conn.execute("SELECT max(rowid) FROM job").fetchone()[0] or 0
    except Exception:
        return 0
    finally:
        conn.close()


class StatisticsView(Static):
    """pegasus-statistics' figures.  With a Stampede DB behind the session (a DB, or a
    submit dir's) they are the DB's, computed by sql_stats as ``panorama-top --stats``
    computes them, in a worker thread, again when the DB file changes; the store's counts,
    which take in jobstate.log's overlay ahead of the DB, show beside them, labelled
    provisional, while they differ.  Without a DB (an event log, AMQP, a recording) they
    are store_stats' over the store: its events are all there is."""

    # Reading the DB holds a read transaction that pegasus-monitord's next commit waits for:
    # after a read that took t seconds the DB is not read again for DB_DUTY * t, so a live
    # run's DB is read at most a fifth of the time.
    DB_DUTY = 4.0

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._shown: tuple | None = None  # (store, wf) last shown
        self._db_key: tuple | None = None  # (db, uuids, file signature) of _db_figures
        self._db_figures: dict = {}  # wf_uuid -> the DB's figures, or why there are none (a str)
        self._db_reading: tuple | None = None  # the key being read
        self._db_next = 0.0  # monotonic time before which the changed DB is not read again

    def show(self, store: Store, wf: Workflow | None) -> None:
        """Call with the store's lock held."""
        self._shown = (store, wf)
        self.update(self.figures(store, wf))

    def db(self) -> str | None:
        """The Stampede DB behind the session, if any."""
        from ...stats import sql_stats

        return sql_stats.source_db(getattr(getattr(self.app, "ingest", None), "source", None))

    def figures(self, store: Store, wf: Workflow | None):
        """What :meth:`show` shows, store lock held.  Without a DB (:meth:`db` is None)
        it only reads the store, so a worker thread may call it (StatisticsPanel)."""
        from ...stats import store_stats

        wfs = [wf] if wf is not None else store.roots
        if not wfs:
            return Text("no workflow yet", style="dim")
        source = getattr(getattr(self.app, "ingest", None), "source", None)
        db = self.db()
        parts: list = []
        if db is None:
            # a submit dir without its DB reads jobstate.log alone: provisional, all of it
            note = "provisional: jobstate.log, no Stampede DB to read" if getattr(source, "logs", None) else None
            for w in wfs:
                run = parsl.run_of(w)
                if run is not None:  # pegasus-statistics' figures are a Pegasus run's: its task counts
                    parts += self._title(w.name, w.wf_uuid, workflow_state(w), "a Parsl run: its tasks by state")
                    parts += [_parsl_counts(run), Text("")]
                    continue
                # One walk for every table; finished jobs are cached between calls.
                everything = store_stats.all_statistics(store, w)
                parts += self._title(w.name, w.wf_uuid, w.state, note)
                parts += self._figures(everything)
                parts.append(Text(""))
            return Group(*parts)
        self._read_db(db, [w.wf_uuid for w in wfs])
        for w in wfs:
            got = self._db_figures.get(w.wf_uuid)
            store_counts = store_stats.summary_counts(store, w)
            if isinstance(got, dict):
                parts += self._title(w.name, w.wf_uuid, got["summary"]["state"],
                                     f"pegasus-statistics, from {os.path.basename(db)}")
                parts += self._figures(got)
                if not _same_counts(got["summary"], store_counts):
                    parts.append(_counts_table(store_counts, "provisional, with jobstate.log (ahead of the DB):"))
            else:
                parts += self._title(w.name, w.wf_uuid, w.state, got or f"reading {os.path.basename(db)}…")
                parts.append(_counts_table(store_counts, "provisional, from what has arrived:"))
            parts.append(Text(""))
        return Group(*parts)

    def _read_db(self, db: str, uuids: list[str]) -> None:
        """Starts reading the DB's figures when they are not those of its current state."""
        key = (db, tuple(uuids), _file_signature(db))
        if key == self._db_key or self._db_reading is not None:
            return
        if self._db_key is not None and self._db_key[:2] == key[:2] and time.monotonic() < self._db_next:
            return  # the DB changed, but was read a moment ago
        self._db_reading = key
        self.run_worker(partial(_figures_of_db, db, uuids, key), thread=True, group="statistics", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "statistics" or not worker.is_finished or self._db_reading is None:
            return
        key, self._db_reading = self._db_reading, None
        if event.state == WorkerState.SUCCESS:
            self._db_key, self._db_figures, took = worker.result
            self._db_next = time.monotonic() + self.DB_DUTY * took
        else:  # not a StatsDbError (those are answers): say so, and try again when the DB changes
            self._db_key = key
            self._db_figures = {u: f"cannot read {os.path.basename(key[0])}: {worker.error}" for u in key[1]}
        if self._shown is not None:
            store, wf = self._shown
            with store.lock:
                self.show(store, wf)

    @staticmethod
    def _title(name: str, uuid: str, state: str, note: str | None) -> list:
        parts: list = [Text(f"{name}  {uuid}  {state.upper()}", style="bold")]
        if note:
            parts.append(Text(note, style="dim"))
        return parts

    @staticmethod
    def _figures(everything: dict) -> list:
        """The tables of store_stats' or sql_stats' ``all_statistics`` answer (the same dict)."""
        from ...stats import store_stats

        st = everything["summary"]
        parts: list = [_counts_table(st)]
        times = Table.grid(padding=(0, 2))
        times.add_column(style="bold")
        times.add_column(justify="right")
        for label, key in (
            ("workflow wall time", "workflow_wall_time"),
            ("cumulative job wall time", "cumulative_job_wall_time"),
            ("cumulative job wall time as seen from submit side", "submit_side_wall_time"),
            ("cumulative job badput wall time", "cumulative_job_badput"),
            ("cumulative job badput wall time as seen from submit side", "submit_side_badput"),
        ):
            times.add_row(label, human_duration(st.get(key)))
        parts.append(times)
        rows = everything["breakdown"].get("ALL") or []
        if rows:
            bt = _table("per transformation", ("transformation", "type"),
                        ("count", "min s", "max s", "mean s", "total s", "mean MB", "mean cpu %"))
            for r in rows[:60]:
                f = store_stats.format_breakdown(r)
                bt.add_row(
                    escape(f[0] or "-"),
                    Text(f[1], style=STATE_MARKUP[JobState.FAILED] if f[1] == "failed" else ""),
                    f[2], f[3], f[4], f[5], f[6], f[9], f[12],
                )
            parts.append(bt)
        checks = everything["integrity"].get("ALL") or []
        if checks:
            it = _table("integrity", ("type", "file type"), ("count", "total s"))
            for r in checks:
                it.add_row(*(escape(f) for f in store_stats.format_integrity(r)))
            parts.append(it)
        if everything.get("note"):
            parts.append(Text(everything["note"], style="dim"))
        hosts = everything["per_host"].get("jobs") or []
        if hosts:
            ht = _table("time per host (jobs)", ("date", "host"), ("count", "runtime"))
            for r in hosts[:40]:
                ht.add_row(str(r.get("date")), escape(str(r.get("host"))), str(r.get("count")),
                           human_duration(r.get("runtime")))
            parts.append(ht)
        return parts


STATS_SECONDS = 5.0  # a redraw walks every invocation: every few seconds at most, only while shown


class StatisticsPanel(OffThreadPanel):
    tab = "statistics"
    budget = STATS_SECONDS

    def _view(self) -> StatisticsView:
        return self.app.query_one("#statistics-view", StatisticsView)

    def in_worker(self) -> bool:
        return self._view().db() is None  # with a DB: the DB's own worker reads it; this draws counts

    def arguments(self) -> tuple:
        return (self._view(), self.app.scope_wf)

    def read(self, source, view: StatisticsView, wf):
        # The store's statistics read far more than a snapshot copies (invocations, the
        # workflows' own records): they are read under the lock, finished jobs cached.
        return view.figures(source, wf)

    def show(self, renderable) -> None:
        view = self._view()
        view._shown = (self.store, self.app.scope_wf)
        view.update(renderable)
