"""A bulk read's resource rows as each try's samples and each task's series, in one pass.

A big Parsl DB's ranges of tasks (``sources/parsl/monitoring_db.py``) carry ~3 resource rows
a task (278k at 100k tasks).  Applied a row at a time in the store's bulk handler they cost
about a third of its CPU, on the thread the screen shares the GIL with; shaped here, by the
read-ahead child when it runs (``sources/parsl/bulk_shape.py``), the handler only puts each
try's packed samples and each task's series in place (``model/handlers/parsl.py``).

What this gives is what the handler made of the rows one by one (a test compares the stores):
a row without a time is left out, of a try's rows with one time the first counts, a try's pid
is that of its first row that has one, a run's interval that of its last row that has one.
A task's series is :func:`model.handlers.parsl.rebuild_series`'s: each try's samples less its
first, carried on from the tries before it (by try id).
"""

from __future__ import annotations

from .typed import to_float, to_int


def shape_samples(rows, recent: int) -> dict:
    """The resource rows of a range (a bulk read's columns, parsl_events.BULK_RESOURCE_COLUMNS:
    try_id, task_id, run_id, ts, interval, pid, user, system, rss, read, written; times as
    epoch seconds, any order) as:

    ``tasks``: ``(run_id, task_id, tries, series, ordered)`` a task, ``tries`` its tries with
    samples by try id, ``(try_id, pid or None, samples, carry)`` each (``samples`` flat: ts,
    CPU s, RSS B, read B, written B, ...; ``carry``: where its counters start in the series),
    ``series`` the task's series flat as its samples are, ``ordered`` whether its times rise;
    ``intervals``: ``(run_id, interval)``; ``times``: ``(run_id, the latest recent distinct
    times)``; ``no_task``: rows without a task id."""
    by_try: dict = {}  # (run_id, task_id, try_id) -> {ts: sample}, and its pid
    pids: dict = {}
    intervals: dict = {}
    no_task = 0
    at = got = k = None
    for try_id, tid, run_id, ts, interval, pid, user, system, rss, rd, wr in rows:
        if ts is None:
            continue
        key = (run_id, tid, try_id)
        if key != at:
            at = key
            if type(tid) is not int:
                tid = to_int(tid)
                if tid is None:
                    no_task += 1
                    got = None
                    continue
            if type(try_id) is not int:
                try_id = to_int(try_id) or 0  # a Parsl before the try column: one try a task
            k = (run_id, tid, try_id)
            got = by_try.get(k)
            if got is None:
                got = by_try[k] = {}
                pids[k] = None
        elif got is None:
            continue
        if ts in got:
            continue
        # (to_float of each, inline for the REAL the column holds)
        user = user if type(user) is float else to_float(user)
        system = system if type(system) is float else to_float(system)
        rss = rss if type(rss) is float else to_float(rss)
        rd = rd if type(rd) is float else to_float(rd)
        wr = wr if type(wr) is float else to_float(wr)
        got[ts] = (ts, (user or 0.0) + (system or 0.0), rss or 0.0, rd or 0.0, wr or 0.0)
        if interval is not None:
            interval = to_float(interval)
            if interval:
                intervals[run_id] = interval
        if pid is not None and pids[k] is None:
            pids[k] = to_int(pid)
    tasks: dict = {}
    times: dict = {}
    for k in sorted(by_try, key=lambda k: k[2]):
        samples = sorted(by_try[k].values())
        run_id, tid, try_id = k
        tl = times.get(run_id)
        if tl is None:
            tl = times[run_id] = set()
        tl.update(s[0] for s in samples)
        tasks.setdefault((run_id, tid), []).append((try_id, pids[k], [x for s in samples for x in s]))
    out = []
    for (run_id, tid), tries in tasks.items():
        carries, series, ordered = draw_series([flat for _, _, flat in tries])
        out.append((run_id, tid, [(*t, c) for t, c in zip(tries, carries)], series, ordered))
    return {"tasks": out, "intervals": list(intervals.items()),
            "times": [(run_id, sorted(tl)[-recent:]) for run_id, tl in times.items()], "no_task": no_task}


def draw_series(tries) -> tuple[list[tuple], list[float], bool]:
    """A task's series from its tries' samples (each flat: ts, CPU s, RSS B, read B, written B,
    ...; in try order, none empty): each try's samples less its first, carried on from the
    tries before it.  (Each try's carry: where its counters start in the series; the series,
    flat; whether its times rise.)  The store's bulk handler draws a task's series again with
    it when a range brings samples to a task that had some."""
    carries = []
    series: list = []
    c0 = r0 = w0 = 0.0
    for v in tries:
        carries.append((c0, r0, w0))
        c1, r1, w1 = v[1], v[3], v[4]
        for i in range(0, len(v), 5):
            series += (v[i], v[i + 1] - c1 + c0, v[i + 2], v[i + 3] - r1 + r0, v[i + 4] - w1 + w0)
        n = len(v) - 5
        c0 += max(0.0, v[n + 1] - c1)
        r0 += max(0.0, v[n + 3] - r1)
        w0 += max(0.0, v[n + 4] - w1)
    ts = series[0::5]
    return carries, series, all(a < b for a, b in zip(ts, ts[1:]))
