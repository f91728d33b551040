"""Per-job resource series from kickstart /proc traces.

Traces carry cumulative counters (CPU seconds, bytes read and written).  We
keep the raw samples, bounded and sorted by time, and derive rates only when
something is drawn: that keeps ingest cheap and makes the result independent
of the order and repetition in which samples arrive.
"""

from __future__ import annotations

from bisect import bisect_left

DEFAULT_CAPACITY = 120

# (ts, cpu_seconds, rss_bytes, read_bytes, write_bytes)
Sample = tuple


class RankSeries:
    __slots__ = ("samples", "capacity")

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.samples: list[Sample] = []
        self.capacity = capacity

    def add(self, sample: Sample) -> bool:
        s = self.samples
        ts = sample[0]
        if not s or ts > s[-1][0]:
            s.append(sample)
        else:
            i = bisect_left(s, ts, key=_ts)
            if i < len(s) and s[i][0] == ts:
                return False  # a duplicate
            if len(s) >= self.capacity and i == 0:
                return False  # older than everything we keep
            s.insert(i, sample)
        if len(s) > self.capacity:
            del s[0]
        return True

    def rates(self, last: int | None = None) -> list[tuple[float, float, float, float, float]]:
        """(ts, cpu %, rss bytes, read B/s, write B/s) between samples."""
        s = self.samples
        if last is not None:
            s = s[-(last + 1):]
        out = []
        for prev, cur in zip(s, s[1:]):
            dt = cur[0] - prev[0]
            if dt <= 0:
                continue
            out.append(
                (
                    cur[0],
                    max(0.0, (cur[1] - prev[1]) / dt * 100.0),
                    cur[2],
                    max(0.0, (cur[3] - prev[3]) / dt),
                    max(0.0, (cur[4] - prev[4]) / dt),
                )
            )
        return out


def _ts(sample: Sample) -> float:
    return sample[0]


class ResourceSeries:
    """All ranks of one job; the job's figures are the sum over ranks."""

    __slots__ = ("ranks", "hostname", "pid", "exe", "threads", "procs")

    def __init__(self):
        self.ranks: dict[int, RankSeries] = {}
        self.hostname = None
        self.pid = None
        self.exe = None
        self.threads = None
        self.procs = None

    def add(self, rank: int, sample: Sample) -> bool:
        rs = self.ranks.get(rank)
        if rs is None:
            rs = self.ranks[rank] = RankSeries()
        return rs.add(sample)

    @property
    def sample_count(self) -> int:
        return sum(len(r.samples) for r in self.ranks.values())

    @property
    def last_ts(self) -> float | None:
        return max((r.samples[-1][0] for r in self.ranks.values() if r.samples), default=None)

    def rates(self, last: int | None = None) -> list[tuple[float, float, float, float, float]]:
        per_rank = [r.rates(last) for r in self.ranks.values()]
        per_rank = [r for r in per_rank if r]
        if not per_rank:
            return []
        if len(per_rank) == 1:
            return per_rank[0]
        # Align ranks on their most recent samples: ranks sample on their own
        # clocks, so index-from-the-end is the honest common axis.
        n = min(len(r) for r in per_rank)
        out = []
        for i in range(-n, 0):
            rows = [r[i] for r in per_rank]
            out.append(
                (
                    max(x[0] for x in rows),
                    sum(x[1] for x in rows),
                    sum(x[2] for x in rows),
                    sum(x[3] for x in rows),
                    sum(x[4] for x in rows),
                )
            )
        return out

    def latest(self) -> tuple[float, float, float, float, float] | None:
        """The newest derived figures, or RSS alone when there is one sample."""
        r = self.rates(1)
        if r:
            return r[-1]
        rss = sum(rs.samples[-1][2] for rs in self.ranks.values() if rs.samples)
        ts = self.last_ts
        return None if ts is None else (ts, 0.0, rss, 0.0, 0.0)

    def totals(self) -> tuple[float, float, float, float]:
        """Cumulative CPU seconds, peak RSS, read and written bytes."""
        cpu = peak = rd = wr = 0.0
        for rs in self.ranks.values():
            if not rs.samples:
                continue
            last = rs.samples[-1]
            cpu += last[1]
            rd += last[3]
            wr += last[4]
            peak += max(s[2] for s in rs.samples)
        return cpu, peak, rd, wr
