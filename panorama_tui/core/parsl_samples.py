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

# where the columns of a bulk read's resource row are (parsl_events.BULK_RESOURCE_COLUMNS)
_ROW = "try_id, task_id, run_id, ts, interval, pid, user, system, rss, read, written"


def shape_samples(rows, recent: int) -> dict:
    """The resource rows of a range (``_ROW``'s columns, times as epoch seconds, any order) as:

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
        got = tasks.get((run_id, tid))
        if got is None:
            got = tasks[(run_id, tid)] = ([], [], [0.0, 0.0, 0.0])
        tries, series, c = got
        flat = [x for s in samples for x in s]
        tries.append((try_id, pids[k], flat, (c[0], c[1], c[2])))
        _, c1, _, r1, w1 = samples[0]
        for ts, cpu, rss, rd, wr in samples:
            series += (ts, cpu - c1 + c[0], rss, rd - r1 + c[1], wr - w1 + c[2])
        _, cn, _, rn, wn = samples[-1]
        c[0] += max(0.0, cn - c1)
        c[1] += max(0.0, rn - r1)
        c[2] += max(0.0, wn - w1)
    out = []
    for (run_id, tid), (tries, series, _) in tasks.items():
        ts = series[0::5]
        out.append((run_id, tid, tries, series, all(a < b for a, b in zip(ts, ts[1:]))))
    return {"tasks": out, "intervals": list(intervals.items()),
            "times": [(run_id, sorted(tl)[-recent:]) for run_id, tl in times.items()], "no_task": no_task}
