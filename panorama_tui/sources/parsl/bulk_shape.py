"""A bulk read's range of Parsl tasks shaped for the store's bulk handler (issue #15).

The source reads a big monitoring DB by ranges of task ids (``monitoring_db.py``); each
range's fixed queries give rows of text times and id lists, and this makes of them what
its ``parsl.bulk.tasks`` event carries: times in epoch seconds, id lists as ints, most tasks'
status rows summarised by their final one (with one more query, in the same read), the
resource rows as each try's samples and each task's series (``core/parsl_samples.py``).

One :class:`RangeShaper` does it wherever the range is read: in the reader's thread, or, from
``PREFETCH_MIN_TASKS`` task ids, in the read-ahead child (``sources/read_ahead.py`` imports
this module, made from :meth:`RangeShaper.context`), so that the reader's thread, which shares
the GIL with the screen, only takes the shaped range.  A range's shaping depends on nothing
read before it: the child needs no notes of the reader's.
"""

from __future__ import annotations

from ...core import parsl_events as pe
from ...core.parsl_samples import shape_samples

REREAD_CHUNK = 500  # keys a query looks up at once (SQLite's variable limit is 999 on old builds)
# A bulk read carries a task that ended in one of these, with one try, by that final status row
# alone: its other status rows (4 of 5 at 100k tasks) are read when the user opens it.  Failed
# and dep_fail tasks come whole (few; their states show at once in the Failures panel and --report).
SUMMARISED = frozenset({pe.EXEC_DONE, pe.MEMO_DONE})
SHAPER = f"{__name__}:RangeShaper"  # what the read-ahead child shapes the ranges with


def _ids(text):
    """task_depends / task_joins as a list of ints (None when empty, absent or not ids)."""
    if not text:
        return None
    try:
        return pe.id_list(text)
    except ValueError:
        return None


class FastEpoch:
    """A converter of Parsl's naive local-time text to epoch seconds that gives what
    ``parsl_events.local_epoch`` gives, bit for bit, with each minute's start converted
    once (a bulk read converts ~10 times a task: 0.3 us a time instead of 1.5).
    :meth:`column` converts many at once, no call a value: the 278k resource times of a
    100k-task DB in 0.13 s against 0.20 s a call each (~0.9M times in all a load)."""

    __slots__ = ("minutes",)

    def __init__(self):
        self.minutes: dict[str, float | None] = {}

    def __call__(self, text):
        if type(text) is not str or len(text) < 19:
            return pe.local_epoch(text)
        minutes = self.minutes
        key = text[:17]
        base = minutes.get(key, False)
        if base is False:
            base = pe.local_epoch(key + "00")  # the hour's start + minutes * 60 + 0.0, exactly
            if len(minutes) > 65536:
                minutes.clear()
            minutes[key] = base
        if base is None:
            return None
        try:
            seconds = float(text[17:])
        except ValueError:
            return None
        if not 0.0 <= seconds < 61.0:
            return None
        return base + seconds

    def column(self, texts: list) -> list:
        """``[self(t) for t in texts]``, None kept None: when every text is a str of the usual
        shape whose minute is known (learnt here first), in one comprehension; else a call each."""
        m = self.minutes
        for _ in range(2):
            try:
                return [None if t is None else (m[t[:17]] + x if len(t) >= 19 and 0.0 <= (x := float(t[17:])) < 61.0
                                                else self(t)) for t in texts]
            except KeyError:  # minutes not seen yet: learnt (a valid str's only), then once again
                for t in texts:
                    if type(t) is str and len(t) >= 19 and t[:17] not in m:
                        self(t)
                        if m.get(t[:17]) is None:  # not a time: every value by the call
                            return [self(t) for t in texts]
            except (TypeError, ValueError):  # not a str, seconds that are not a number
                break
        return [self(t) for t in texts]


def convert(table: str, rows, e: FastEpoch, resource_cols: int = 0, task_cols: int = 0) -> list[tuple]:
    """Rows as the bulk event carries them: times in epoch seconds (``e``, a column at a time),
    id lists as tuples of ints (one comprehension a table: the generic loop of row_event cost 3
    times as much)."""
    col = e.column
    if table == "status":
        return [(a, b, t, d, f) for (a, b, _, d, f), t in zip(rows, col([r[2] for r in rows]))]
    if table == "resource" and resource_cols == 11:  # named, not starred: 0.5 us a row less
        return [(a, b, c, t, f, g, h, i, j, k, m)
                for (a, b, c, _, f, g, h, i, j, k, m), t in zip(rows, col([r[3] for r in rows]))]
    if table == "resource":
        return [(a, b, c, t, *r) for (a, b, c, _, *r), t in zip(rows, col([r[3] for r in rows]))]
    if table == "task":
        times = zip(rows, col([r[11] for r in rows]), col([r[12] for r in rows]))
        if task_cols == 17:  # with its rowid
            return [(a, b, _ids(c), d, f, g, h, i, j, k, m, n, o, p, q, r, u)
                    for (a, b, c, d, f, g, h, i, j, k, m, _, _, p, q, r, u), n, o in times]
        return [(a, b, _ids(c), d, f, g, h, i, j, k, m, n, o, *r)
                for (a, b, c, d, f, g, h, i, j, k, m, _, _, *r), n, o in times]
    if table == "try":
        return [(a, b, c, d, f, g, h, i, j, k, _ids(m)) for (a, b, c, d, f, g, _, _, _, k, m), h, i, j
                in zip(rows, col([r[6] for r in rows]), col([r[7] for r in rows]), col([r[8] for r in rows]))]
    times = [i for i, c in enumerate(pe.COLUMNS[table]) if c in pe.TIME_COLUMNS]
    out = [list(r[:len(pe.COLUMNS[table])]) for r in rows]
    for i in times:
        for r, t in zip(out, col([r[i] for r in out])):
            r[i] = t
    return [tuple(r) for r in out]


class RangeShaper:
    """A range's rows (its fixed queries' results, ``monitoring_db._range_queries``) as its bulk
    event's fields: ``kind`` "range", or "last" for the last range (the nodes and the status rows
    whose tries are re-read after the bulk read, left as they are: the reader re-reads them)."""

    breathe = staticmethod(lambda: None)

    def __init__(self, ctx: dict):
        self.names = ctx["names"]  # kind -> its queries' names, in order
        self.status_cols = ctx["status_cols"]
        self.status_mark = ctx["status_mark"]
        self.open_runs = ctx["open_runs"]
        self.summarised = ctx["summarised"]
        self.resource_cols = ctx["resource_cols"]
        self.task_cols = ctx["task_cols"]
        self.epoch = FastEpoch()

    @staticmethod
    def context(src, names: dict) -> dict:
        """What a shaper is made from: the source's schema and bulk read as its ranges start."""
        return {"names": names, "status_cols": src.selects.get("status", ""),
                "status_mark": src._bulk_marks.get("status", 0), "open_runs": list(src._open_runs),
                "summarised": src._summarised(), "resource_cols": src._resource_cols, "task_cols": src._task_cols}

    def shape(self, kind: str, conn, params, results: list) -> dict:
        r = dict(zip(self.names[kind], results))
        e = self.epoch
        got: dict = {}
        for t in ("task", "try"):
            if t in r:
                got[t] = convert(t, r[t], e, task_cols=self.task_cols)
        if self.summarised:
            got.update(self._status(conn, r, got["try"]))
        elif "status" in r:
            got["status"] = convert("status", r["status"], e)
        if "resource" in r:
            rows = convert("resource", r["resource"], e, resource_cols=self.resource_cols)
            got["resource_rows"] = len(rows)
            got["samples"] = shape_samples(rows, pe.RECENT_TIMES)
        if "window" in r:
            got["window"] = r["window"]
        if "node" in r:
            # the rows the last event stands for (counted here, not in the plan: a scan of 200k node
            # rows took 44 ms on the first rows' path); the latest row of each manager, and the run's
            # latest node times (its activity)
            got["node_rows"] = r["node_count"][0][0]
            got["node"] = convert("node", r["node"], e)
            got["node_times"] = [(run, e(a), e(b)) for run, a, b in r["node_times"]]
        return got

    def _status(self, conn, r: dict, tries: list) -> dict:
        """The status rows of a range of task ids, most of them summarised (``SUMMARISED``):
        a task that ended with one try whose row has its running and return times (or that never
        ran: memo_done, dep_fail) is carried by its final status row alone, read through the
        status key (an index-only scan); its other rows are its history, read when the user opens
        it (``ParslDbSource.history_events``).  Every other task's rows come whole."""
        e = self.epoch
        by_task: dict = {}
        for tid, run_id, name, ts in r["s_ends"]:
            by_task.setdefault((run_id, tid), []).append((name, ts))
        odd = {(run_id, tid) for tid, run_id in r["s_odd"]}  # warned of by the rows' path
        tries_of: dict = {}
        for row in tries:
            key = (row[2], row[1])
            tries_of[key] = None if key in tries_of else row
        final: list = []
        for key, rows in by_task.items():
            row = tries_of.get(key)
            if len(rows) != 1 or row is None or key in odd:
                continue  # retried, ended twice, no or several try rows, an unknown state
            name, ts = rows[0]
            if name not in SUMMARISED or (name == pe.EXEC_DONE and (row[7] is None or row[8] is None)):
                continue  # its state's times come from its other status rows
            final.append((key[1], name, ts, key[0], row[0]))
        done = {(r[3], r[0]) for r in final}
        final = [(a, b, t, d, f) for (a, b, _, d, f), t in zip(final, e.column([r[2] for r in final]))]
        whole = {tid for tid, run_id in r["s_tasks"] if (run_id, tid) not in done}
        status: list = []
        ids = sorted(whole, key=str)
        for i in range(0, len(ids), REREAD_CHUNK):
            part = ids[i:i + REREAD_CHUNK]
            rows = conn.execute(f'SELECT {self.status_cols} FROM status WHERE task_id IN '
                                f'({",".join("?" * len(part))}) AND rowid <= ?', (*part, self.status_mark))
            status += convert("status", [row for row in rows if (row[3], row[0]) not in done], e)
        # what the left-out rows add: how many they are, and the latest time of each run
        n = r["s_count"][0][0]
        latest = [(run_id, e(ts)) for run_id, ts in r["s_latest"]]
        for run_id in self.open_runs:
            latest += [(run_id, e(ts)) for ts, in r[f"s_recent {run_id}"]]
        return {"status": status, "final": final, "status_rows": n, "status_latest": latest}
