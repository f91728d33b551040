"""pegasus-statistics' time tables (time.csv, time-per-host.csv): rows per hour, then per day.

Apart from store_stats so that the SQL statistics (sql_stats, stats_json) need none of the
store's modules: importing store_stats brings the store in, ~0.09 s of a ``--stats --json``
whose whole wall time at 100k jobs is ~1 s.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

__all__ = ["add_time", "by_day"]


def _day(hour: int, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(hour * 3600, tz).strftime("%Y-%m-%d")


def by_day(rows: dict, tz) -> list[dict]:
    """rows: {(hour, host): [count, runtime]} -> per (day, host), pegasus-statistics' order."""
    out: dict[tuple, dict] = {}
    days: dict[int, str] = {}
    for (hour, host), (count, runtime) in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        day = days.get(hour)
        if day is None:
            day = days[hour] = _day(hour, tz)
        key = (day, host)
        d = out.get(key)
        if d is None:
            d = out[key] = {"date": day, "count": 0, "runtime": None}
            if host is not None:
                d["host"] = host
        d["count"] += count
        if runtime is not None:
            d["runtime"] = runtime if d["runtime"] is None else d["runtime"] + runtime
    return list(out.values())


def add_time(table: dict, key, count: int, runtime) -> None:
    """Adds ``count`` jobs or invocations and their ``runtime`` (None: unknown) to a time
    table's row ``key`` ((hour, host) -> [count, runtime])."""
    r = table.get(key)
    if r is None:
        table[key] = [count, runtime]
    else:
        r[0] += count
        if runtime is not None:
            r[1] = runtime if r[1] is None else r[1] + runtime
