"""Sampling a process tree from /proc with inclusive counters.

The tree is walked through ``/proc/<pid>/task/<tid>/children`` from a root
(the monitor itself), so the cost depends on the tree, not on how many other
processes the node runs.  Files are read with raw ``os.open``/``os.read``.

Inclusive counting, so that processes that already exited are not lost:

* CPU of a live process = its own ``utime+stime`` plus ``cutime+cstime`` (the
  children it reaped, recursively);  processes the root reaped (the command
  after it exits, orphans that re-parented to the root as child subreaper)
  come from ``getrusage(RUSAGE_CHILDREN)``.
* I/O of a live process: ``/proc/<pid>/io`` already includes the children it
  reaped (the kernel adds a child's counters to its parent's at reap);  for the
  root the reaped children's I/O is ``/proc/self/io`` minus the root's own
  threads (``/proc/self/task/<tid>/io``), so the monitor's own reading of
  /proc and writing of events is not counted.

Units follow kickstart: CPU in seconds, rss/vm in kB, I/O in bytes and calls.
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PR_SET_CHILD_SUBREAPER = 36

IO_FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")
_IO_KEYS = {k.encode() + b":": i for i, k in enumerate(IO_FIELDS)}

__all__ = [
    "TreeSampler",
    "TreeTotals",
    "set_child_subreaper",
    "read_stat",
    "read_io",
    "children_of",
    "walk",
    "IO_FIELDS",
]


def set_child_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux >= 3.4)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stat(pid: int):
    """(state, utime, stime, cutime, cstime ticks, threads, vsize bytes, rss pages, blkio ticks) or None."""
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    try:
        rest = data[data.rindex(b")") + 2 :].split()
        return (
            rest[0],
            int(rest[11]),
            int(rest[12]),
            int(rest[13]),
            int(rest[14]),
            int(rest[17]),
            int(rest[20]),
            int(rest[21]),
            int(rest[39]) if len(rest) > 39 else 0,
        )
    except (ValueError, IndexError):
        return None


def parse_io(data: bytes | None) -> list[int] | None:
    if not data:
        return None
    out = [0] * len(IO_FIELDS)
    tokens = data.split()
    keys = _IO_KEYS
    for i in range(0, len(tokens) - 1, 2):
        j = keys.get(tokens[i])
        if j is not None:
            out[j] = int(tokens[i + 1])
    return out


def read_io(pid: int) -> list[int] | None:
    return parse_io(_read(f"/proc/{pid}/io"))


def children_of(pid: int, threads: int = 0) -> list[int]:
    """Direct children of ``pid`` (all its threads' children)."""
    if threads == 1:
        data = _read(f"/proc/{pid}/task/{pid}/children")
        return [int(x) for x in data.split()] if data else []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out = []
    for tid in tids:
        data = _read(f"/proc/{pid}/task/{tid}/children")
        if data:
            out.extend(int(x) for x in data.split())
    return out



def walk(root: int):
    """(pid, stat) of every descendant of ``root`` still in /proc, zombies
    included (their counters still count); only live ones are descended into."""
    seen = {root}
    stack = children_of(root, 0)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        s = read_stat(pid)
        if s is None:
            continue  # gone between listing and reading: its parent has it now
        yield pid, s
        if s[0] != b"Z":
            stack.extend(children_of(pid, s[5]))

class TreeTotals:
    """One sample of the whole tree (inclusive, cumulative where kickstart's are)."""

    __slots__ = ("utime", "stime", "iowait", "rss", "vm", "threads", "procs", "io", "pids")

    def __init__(self):
        self.utime = self.stime = self.iowait = 0.0
        self.rss = self.vm = 0  # kB
        self.threads = self.procs = 0
        self.io = [0] * len(IO_FIELDS)
        self.pids: list[int] = []

    def as_fields(self) -> dict:
        d = {
            "utime": round(self.utime, 3),
            "stime": round(self.stime, 3),
            "iowait": round(self.iowait, 3),
            "rss": self.rss,
            "vm": self.vm,
            "threads": self.threads,
            "procs": self.procs,
        }
        io = self.io
        d["bread"] = io[4]
        d["bwrite"] = io[5]
        d["rchar"] = io[0]
        d["wchar"] = io[1]
        d["syscr"] = io[2]
        d["syscw"] = io[3]
        return d


class TreeSampler:
    """Samples the descendants of ``root`` (default: this process)."""

    def __init__(self, root: int | None = None):
        self.root = os.getpid() if root is None else root
        self.is_self = self.root == os.getpid()
        # Our own threads' I/O: last seen per tid, and the total of threads gone.
        self._thread_io: dict[str, list[int]] = {}
        self._gone_threads_io = [0] * len(IO_FIELDS)
        self._final_thread_io: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        # Cumulative counters never go back (a child reaped between two reads
        # can make one sample short; the next one is right again).
        self._floor_cpu = [0.0, 0.0]
        self._floor_io = [0] * len(IO_FIELDS)

    # -- the root's reaped children -------------------------------------
    def reaped_children_io(self) -> list[int]:
        """I/O of the processes this process has reaped (recursively).

        ``/proc/self/io`` is read first, then each of our threads' own
        counters: a thread's I/O between the two reads makes the result a
        little short, never long (the floors in :meth:`sample` hide that), and
        the reads made here by the calling thread are taken out exactly.
        """
        if not self.is_self:
            return [0] * len(IO_FIELDS)
        total_data = _read("/proc/self/io")
        total = parse_io(total_data)
        if total is None:
            return [0] * len(IO_FIELDS)
        me = str(threading.get_native_id())
        # Bytes and read calls this thread made after the total was taken and
        # before it read its own counters.
        since_total = [len(total_data), 1]
        own = [0] * len(IO_FIELDS)
        seen = {}
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            tids = []
        for tid in tids:
            data = _read(f"/proc/self/task/{tid}/io")
            vals = parse_io(data)
            if vals is None:
                continue
            if tid == me:
                vals[0] -= since_total[0]
                vals[2] -= since_total[1]
            elif me in tids and data:
                since_total[0] += len(data)
                since_total[1] += 1
            seen[tid] = vals
        with self._lock:
            for tid, vals in self._thread_io.items():
                if tid not in seen:
                    final = self._final_thread_io.pop(tid, None) or vals
                    for i, v in enumerate(final):
                        self._gone_threads_io[i] += v
            self._thread_io = seen
            gone = list(self._gone_threads_io)
            # Threads that ended before we ever saw them but said goodbye.
            for tid in list(self._final_thread_io):
                if tid not in seen:
                    for i, v in enumerate(self._final_thread_io.pop(tid)):
                        self._gone_threads_io[i] += v
                        gone[i] += v
        for vals in seen.values():
            for i, v in enumerate(vals):
                own[i] += v
        return [max(0, total[i] - own[i] - gone[i]) for i in range(len(IO_FIELDS))]

    def thread_exiting(self) -> None:
        """Call from a thread of ours just before it ends: its last I/O is then
        not mistaken for a reaped child's."""
        if not self.is_self:
            return
        data = _read("/proc/thread-self/io")
        vals = parse_io(data)
        if vals is None:
            return
        vals[0] += len(data)
        vals[2] += 1
        with self._lock:
            self._final_thread_io[str(threading.get_native_id())] = vals

    def sample(self) -> TreeTotals:
        t = TreeTotals()
        ut = st = cut = cst = blk = 0
        rss = vm = threads = procs = 0
        io = t.io
        pids = t.pids
        for pid, s in walk(self.root):
            state, u, sy, cu, cs, nthr, vsz, rsspg, bl = s
            ut += u
            st += sy
            cut += cu
            cst += cs
            blk += bl
            vals = read_io(pid)
            if vals is not None:
                for i in range(len(io)):
                    io[i] += vals[i]
            if state != b"Z":
                procs += 1
                threads += nthr
                vm += vsz
                rss += rsspg
                pids.append(pid)
        if self.is_self:
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            reaped = self.reaped_children_io()
            for i in range(len(io)):
                io[i] += reaped[i]
            ru_u, ru_s = ru.ru_utime, ru.ru_stime
        else:
            ru_u = ru_s = 0.0
        t.utime = max(self._floor_cpu[0], (ut + cut) / CLK_TCK + ru_u)
        t.stime = max(self._floor_cpu[1], (st + cst) / CLK_TCK + ru_s)
        self._floor_cpu = [t.utime, t.stime]
        for i in range(len(io)):
            if io[i] < self._floor_io[i]:
                io[i] = self._floor_io[i]
        self._floor_io = list(io)
        t.iowait = blk / CLK_TCK
        t.rss = rss * PAGE_KB
        t.vm = vm // 1024
        t.threads = threads
        t.procs = procs
        return t
