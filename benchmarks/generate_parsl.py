"""A Parsl monitoring DB of N tasks, in Parsl's real schema and written as Parsl writes it.

Schema: the DDL Parsl 2026.10.26's models create (``parsl/monitoring/db_manager.py``),
copied from the shared DBs (``../shared/data/parsl/monitoring.db``): same tables, column
order, types, keys and index.  Values are spelt as Parsl's writer spells them (naive
local-time text with microseconds, ``task_memoize`` '0', ``task_inputs`` 'None',
``task_depends`` '3,4', an exception's repr in ``task_fail_history``).

The run is the shared DBs' workflow (``parsl_workflow.py``: generate, burn_cpu,
hog_memory, combine, bash_sleep, bash_io, bash_fail, flaky, downstream_of_failure, a join
app fan_in) scaled to N tasks: each task depends on up to three of the 50 before it;
about 1 % of tasks fail on every try (bash exit 3, a ValueError) and 2 % fail once, then
succeed on their retry (``retries=1``); a downstream_of_failure task depends on the last
task that fails and is dep_fail (the rest depend on tasks that succeed); 0.5 % are
memoized (memo_done); one task in 500 is a join app whose inner tasks are invoked when it
runs and take the last ids.  A HighThroughputExecutor of ``N // 25`` workers (8 a node,
4 nodes a block; at least 2) runs them: a task launches when its dependencies are done,
waits for a free worker, and is sampled every ``interval`` s by the worker's monitor
(cumulative counters of the long-lived worker process, as Parsl records them).

Writing: Parsl's DB manager gathers messages for 1 s, then commits each table in its
order (workflow counts, task inserts, task updates, status, try inserts, try updates,
node, block, the workers' running rows and try updates, their running_ended rows,
resource).  :func:`write` puts the same rows in the same order in one transaction;
:func:`write_live` commits them batch by batch and table by table, yielding after each
commit, so a follower can be run between any two of them (tests), or sleeps between
batches (``--live``) for a reader to watch.  ``killed`` stops the writing at 60 % of the
run: no end recorded, as when the process dies.

Everything is deterministic for a given (n, seed, runs).
CLI: ``python -m benchmarks.generate_parsl --tasks 100000 --out monitoring.db``.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SEED = 15
DEFAULT_N = 100_000
INTERVAL = 1.0  # resource_monitoring_interval
BATCH = 1.0  # the DB manager's batching_interval
BASE = datetime(2026, 11, 21, 5, 29, 26, 484744)  # the first shared run's time_began, naive local
HOST = "node"


def _table(name: str, *columns: str) -> str:
    """CREATE TABLE as SQLAlchemy writes it (a tab before each column, ", " and a newline after each but the last)."""
    return f"CREATE TABLE {name} (\n\t" + ", \n\t".join(columns) + "\n)"


DDL = (
    _table("workflow", "run_id TEXT NOT NULL", "workflow_name TEXT", "workflow_version TEXT",
           "time_began DATETIME NOT NULL", "time_completed DATETIME", "host TEXT NOT NULL", "user TEXT NOT NULL",
           "rundir TEXT NOT NULL", "tasks_failed_count INTEGER NOT NULL", "tasks_completed_count INTEGER NOT NULL",
           "PRIMARY KEY (run_id)"),
    _table("task", "task_id INTEGER NOT NULL", "run_id TEXT NOT NULL", "task_depends TEXT",
           "task_func_name TEXT NOT NULL", "task_memoize TEXT NOT NULL", "task_hashsum TEXT", "task_inputs TEXT",
           "task_outputs TEXT", "task_stdin TEXT", "task_stdout TEXT", "task_stderr TEXT",
           "task_time_invoked DATETIME", "task_time_returned DATETIME", "task_fail_count INTEGER NOT NULL",
           "task_fail_cost FLOAT NOT NULL", "PRIMARY KEY (task_id, run_id)"),
    _table("try", "try_id INTEGER NOT NULL", "task_id INTEGER NOT NULL", "run_id TEXT NOT NULL", "block_id TEXT",
           "hostname TEXT", "task_executor TEXT NOT NULL", "task_try_time_launched DATETIME",
           "task_try_time_running DATETIME", "task_try_time_returned DATETIME", "task_fail_history TEXT",
           "task_joins TEXT", "PRIMARY KEY (try_id, task_id, run_id)"),
    _table("node", "id INTEGER NOT NULL", "run_id TEXT NOT NULL", "hostname TEXT NOT NULL", "uid TEXT NOT NULL",
           "block_id TEXT NOT NULL", "cpu_count INTEGER NOT NULL", "total_memory BIGINT NOT NULL",
           "active BOOLEAN NOT NULL", "worker_count INTEGER NOT NULL", "python_v TEXT NOT NULL",
           "timestamp DATETIME NOT NULL", "last_heartbeat DATETIME NOT NULL", "PRIMARY KEY (id)"),
    _table("block", "run_id TEXT NOT NULL", "executor_label TEXT NOT NULL", "block_id TEXT NOT NULL", "job_id TEXT",
           "timestamp DATETIME NOT NULL", "status TEXT NOT NULL",
           "PRIMARY KEY (run_id, block_id, executor_label, timestamp)"),
    _table("status", "task_id INTEGER NOT NULL", "task_status_name TEXT NOT NULL", "timestamp DATETIME NOT NULL",
           "run_id TEXT NOT NULL", "try_id INTEGER NOT NULL",
           "PRIMARY KEY (task_id, run_id, task_status_name, timestamp)",
           "FOREIGN KEY(run_id) REFERENCES workflow (run_id)"),
    _table("resource", "try_id INTEGER NOT NULL", "task_id INTEGER NOT NULL", "run_id TEXT NOT NULL",
           "timestamp DATETIME NOT NULL", "resource_monitoring_interval FLOAT", "psutil_process_pid INTEGER",
           "psutil_process_memory_percent FLOAT", "psutil_process_children_count FLOAT",
           "psutil_process_time_user FLOAT", "psutil_process_time_system FLOAT",
           "psutil_process_memory_virtual FLOAT", "psutil_process_memory_resident FLOAT",
           "psutil_process_disk_read FLOAT", "psutil_process_disk_write FLOAT", "psutil_process_status TEXT",
           "psutil_cpu_num TEXT", "psutil_process_num_ctx_switches_voluntary FLOAT",
           "psutil_process_num_ctx_switches_involuntary FLOAT", "PRIMARY KEY (try_id, task_id, run_id, timestamp)",
           "FOREIGN KEY(run_id) REFERENCES workflow (run_id)"),
    "CREATE INDEX ix_task_task_hashsum ON task (task_hashsum)",
)

# app: (share of the tasks, runtime range s, CPU share of the runtime, RSS MiB over the worker's,
#       bytes read and written per second, bash: stdout/stderr files)
APPS = {
    "generate": (0.15, (0.05, 0.2), 0.9, 2, 1e6, 0, False),
    "burn_cpu": (0.15, (2.0, 4.0), 0.98, 5, 0, 0, False),
    "hog_memory": (0.08, (2.0, 3.0), 0.2, 200, 0, 0, False),
    "combine": (0.41, (0.02, 0.1), 0.5, 1, 1e5, 0, False),
    "bash_sleep": (0.12, (1.0, 3.0), 0.01, 3, 0, 1e3, True),
    "bash_io": (0.08, (0.5, 2.0), 0.3, 10, 5e7, 5e7, True),
    "downstream_of_failure": (0.01, (0.01, 0.05), 0.5, 1, 0, 0, False),
}
WORKER_RSS = 120 * 2**20
WORKER_VMS = 300 * 2**20
TOTAL_MEMORY = 25274793984


@dataclass
class Task:
    tid: int
    app: str
    deps: tuple = ()
    runtime: float = 0.0
    fails: int = 0  # tries that fail (2: every try, with retries=1)
    memo: bool = False
    join: list = field(default_factory=list)  # a join app's inner task ids
    joined_by: int | None = None
    invoked: float = 0.0


@dataclass
class Run:
    run_id: str
    name: str
    began: float
    tasks: list
    end: float = 0.0
    messages: list = field(default_factory=list)  # (t, order, kind, payload)


def _ts(x: float, base: datetime = BASE) -> str:
    return f"{base + timedelta(seconds=x):%Y-%m-%d %H:%M:%S.%f}"


def plan(n: int, seed: int = SEED, began: float = 0.0, name: str = "panorama-top-demo") -> Run:
    """The tasks of one run of ``n`` tasks (join apps' inner ones included) and their messages."""
    rng = random.Random(f"{seed}:{began}")
    run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    n_join = n // 500
    n_inner = 3 * n_join
    n_main = n - n_inner
    apps = list(APPS)
    weights = [APPS[a][0] for a in apps]
    tasks: list[Task] = []
    failing: list[int] = []  # tasks that fail every try: only downstream_of_failure depends on them
    sound: list[int] = []  # the others: what the rest depends on
    join_ids = set(rng.sample(range(20, n_main), n_join)) if n_join and n_main > 20 else set()
    for i in range(n_main):
        if i in join_ids:
            app = "fan_in"
        else:
            r = rng.random()
            app = "bash_fail" if r < 0.004 else "flaky" if r < 0.01 else rng.choices(apps, weights)[0]
        t = Task(i, app, invoked=began + 1.0 + i * 0.0002)
        t.fails = 2 if app in ("bash_fail", "flaky") else (1 if rng.random() < 0.02 else 0)
        if app == "downstream_of_failure" and failing:
            t.deps = (failing[-1],)  # what fails takes its dependents along, as in the shared runs
        elif app not in ("generate", "bash_fail", "flaky", "fan_in", "bash_sleep") and sound:
            near = sound[-50:]
            t.deps = tuple(sorted(set(rng.choice(near) for _ in range(rng.randint(1, 3)))))
        (failing if t.fails == 2 else sound if app != "downstream_of_failure" else []).append(i)
        lo_rt, hi_rt = APPS[app][1] if app in APPS else (0.02, 0.05)
        t.runtime = rng.uniform(lo_rt, hi_rt)
        t.memo = app == "combine" and rng.random() < 0.02
        tasks.append(t)
    inner = n_main
    for j in sorted(join_ids):
        for _ in range(3):
            tasks.append(Task(inner, "burn_cpu", runtime=rng.uniform(0.1, 0.3), joined_by=j))
            tasks[j].join.append(inner)
            inner += 1
    run = Run(run_id, name, began, tasks)
    _simulate(run, rng)
    return run


def _simulate(run: Run, rng: random.Random) -> None:
    """A list scheduler over the HTEX workers: the messages Parsl's DFK, its workers'
    wrappers and monitors, the interchange and the block poller send, with their times."""
    tasks = run.tasks
    n = len(tasks)
    workers = max(2, min(4096, n // 25))
    per_node = min(8, workers)
    nodes = (workers + per_node - 1) // per_node
    blocks = (nodes + 3) // 4
    began = run.began
    msgs = run.messages
    seq = [0]

    def send(t, kind, payload):
        seq[0] += 1
        msgs.append((t, seq[0], kind, payload))

    block_up = {b: began + 3.0 + 0.5 * b for b in range(blocks)}
    for b, up in block_up.items():
        send(up - 2.0, "block", (b, "PENDING"))
        send(up, "block", (b, "RUNNING"))
    free = [(block_up[(w // per_node) // 4] + 1.0, w) for w in range(workers)]
    heapq.heapify(free)
    pid_of = {w: 10_000 + w for w in range(workers)}
    counters = {w: [0.5, 0.2, 15e6, 7e3] for w in range(workers)}  # user, system, read, written
    state: dict[int, str] = {}
    done_at: dict[int, float] = {}
    fail_count = {t.tid: 0 for t in tasks}
    counts = {"failed": 0, "exec_done": 0}

    def info(t: Task, status: str, when: float, try_id: int, **extra):
        state[t.tid] = status
        if status in counts:
            counts[status] += 1
        send(when, "task", dict(task=t, status=status, try_id=try_id, fail_count=fail_count[t.tid],
                                failed=counts["failed"], completed=counts["exec_done"], **extra))

    for t in tasks:
        if t.joined_by is None:
            info(t, "pending", t.invoked, 0)
    order = sorted((t for t in tasks if t.joined_by is None), key=lambda t: t.tid)
    ready_at: dict[int, float] = {}
    pending = list(order)
    while pending:
        later = []
        for t in pending:
            if any(d not in done_at for d in t.deps):
                later.append(t)
                continue
            start = max([t.invoked] + [done_at[d] for d in t.deps]) + 0.0005
            bad = [d for d in t.deps if state[d] in ("failed", "dep_fail")]
            if bad:
                culprit = tasks[bad[0]]
                while state[culprit.tid] == "dep_fail":
                    culprit = tasks[next(d for d in culprit.deps if state[d] in ("failed", "dep_fail"))]
                why = _exception(culprit)
                fail_count[t.tid] += 1
                info(t, "dep_fail", start, 0, returned=start,
                     history=f"DependencyError([({why}, 'task {culprit.tid}')], {t.tid})")
                done_at[t.tid] = start
                continue
            if t.memo:
                info(t, "memo_done", start, 0, returned=start, hashsum=f"{rng.getrandbits(128):032x}")
                done_at[t.tid] = start
                continue
            ready_at[t.tid] = start
            done_at[t.tid] = _execute(t, start, tasks, free, pid_of, counters, fail_count, info, send, rng)
        if len(later) == len(pending):
            raise RuntimeError("a dependency cycle")  # cannot happen: deps point back
        pending = later
    run.end = max(done_at.values()) + 0.3
    for b in range(blocks):
        send(run.end - 0.1, "block", (b, "SCALED_IN"))
    run.messages.sort(key=lambda m: (m[0], m[1]))
    run.counts = counts


def _exception(t: Task) -> str:
    if t.app == "bash_fail":
        return "BashExitFailure('bash_fail', 3)"
    return f"ValueError('deliberate failure in {t.app} task {t.tid}')"


def _execute(t, start, tasks, free, pid_of, counters, fail_count, info, send, rng) -> float:
    """A task's tries on the workers (or a join app's on the internal executor): when it is done."""
    try_id = 0
    when = start
    while True:
        info(t, "launched", when, try_id, launched=when)
        if t.join:
            run_at = when + 0.001
            send(run_at, "worker", dict(task=t, try_id=try_id, first=True, host=HOST, block=None))
            send(run_at + 0.001, "worker", dict(task=t, try_id=try_id, first=False))
            info(t, "joining", run_at + 0.0015, try_id, returned=run_at + 0.0015, joins=t.join)
            inner_done = []
            for k in t.join:
                inner = tasks[k]
                inner.invoked = run_at + 0.001
                info(inner, "pending", inner.invoked, 0)
                inner_done.append(_execute(inner, inner.invoked + 0.0005, tasks, free, pid_of, counters, fail_count,
                                           info, send, rng))
            end = max(inner_done) + 0.002
            info(t, "exec_done", end, try_id, returned=end)
            return end
        avail, w = heapq.heappop(free)
        run_at = max(when + 0.003, avail)
        end = run_at + t.runtime
        node = w // 8
        send(run_at, "node", (node, w))
        send(run_at, "worker", dict(task=t, try_id=try_id, first=True, host=f"{HOST}{node:04d}", block=str(node // 4)))
        _samples(t, try_id, run_at, end, w, pid_of[w], counters, send)
        send(end, "worker", dict(task=t, try_id=try_id, first=False))
        returned = end + 0.005
        send(returned, "node", (node, w))
        heapq.heappush(free, (returned + 0.001, w))
        if try_id < t.fails:
            fail_count[t.tid] += 1
            why = _exception(t) if t.fails == 2 else f"ValueError('transient failure of task {t.tid}')"
            if try_id == 1:
                info(t, "failed", returned, try_id, returned=returned, history=why)
                return returned
            info(t, "fail_retryable", returned, try_id, returned=returned, history=why)
            try_id += 1
            info(t, "pending", returned + 0.0002, try_id)
            when = returned + 0.0004
            continue
        info(t, "exec_done", returned, try_id, returned=returned)
        return returned


def _samples(t, try_id, start, end, w, pid, counters, send) -> None:
    """The worker's monitor: a sample at the start, every INTERVAL, and at the end; the
    worker's counters run on across its tasks."""
    share, rss_mib, rd_rate, wr_rate = APPS.get(t.app, (0, (0, 0), 0.5, 1, 0, 0, False))[2:6]
    c = counters[w]
    times = [start + 0.02]
    x = start + 0.02 + INTERVAL
    while x < end:
        times.append(x)
        x += INTERVAL
    if end - times[-1] >= 1e-5:  # the DB keeps one sample a try and microsecond
        times.append(end)
    last = start
    for i, at in enumerate(times):
        dt = max(0.0, at - last)
        last = at
        c[0] += dt * share * 0.9
        c[1] += dt * share * 0.1 + 0.001
        c[2] += dt * rd_rate + 4e5
        c[3] += dt * wr_rate + 1e4
        rss = WORKER_RSS + (rss_mib * 2**20 if 0 < i < len(times) - 1 or len(times) == 1 else 0)
        send(at, "resource", (t.tid, try_id, pid, tuple(c), rss, "running" if i < len(times) - 1 else "sleeping"))


# -- the DB manager ---------------------------------------------------------------------------


class _Writer:
    """Parsl's DB manager: a run's messages in 1 s batches, each committed table by table."""

    def __init__(self, run: Run, rundir: str, base: datetime = BASE):
        self.run = run
        self.rundir = rundir
        self.base = base  # the naive local time of the simulation's 0
        self.inserted_tasks: set = set()
        self.inserted_tries: set = set()
        self.tries: dict = {}  # (task, try) -> row fields as last sent
        self.heartbeat: dict = {}

    def _ts(self, x: float) -> str:
        return _ts(x, self.base)

    def start_rows(self):
        r = self.run
        yield "insert workflow", [(r.run_id, r.name, "1.0", self._ts(r.began), None, HOST, "scientist", self.rundir, 0, 0)]

    def batches(self, until: float | None = None):
        """Each batch as a list of (operation, rows), in the DB manager's commit order."""
        msgs = self.run.messages
        i = 0
        t0 = self.run.began
        while i < len(msgs):
            cut = t0 + BATCH * (int((msgs[i][0] - t0) / BATCH) + 1)
            if until is not None and cut > until:
                return
            j = i
            while j < len(msgs) and msgs[j][0] < cut:
                j += 1
            yield self._batch(msgs[i:j])
            i = j

    def end_rows(self):
        r = self.run
        c = r.counts
        return [("update workflow end", [(c["failed"], c["exec_done"], self._ts(r.end), r.run_id)])]

    def _batch(self, msgs) -> list:
        run_id = self.run.run_id
        wf_counts, task_ins, task_upd, status, try_ins, try_upd = [], [], [], [], [], []
        nodes, blocks, w_status, w_try, w_end, resources = [], [], [], [], [], []
        for at, _, kind, p in msgs:
            if kind == "task":
                t, try_id = p["task"], p["try_id"]
                wf_counts.append((p["failed"], p["completed"], run_id))
                returned = p.get("returned")
                task_row = (self._ts(t.invoked), self._ts(returned) if returned is not None else None, p["fail_count"],
                            float(p["fail_count"]), p.get("hashsum"), "None")
                if t.tid in self.inserted_tasks:
                    task_upd.append(task_row + (t.tid, run_id))
                else:
                    self.inserted_tasks.add(t.tid)
                    bash = APPS.get(t.app, (0,) * 7)[6] or t.app == "bash_fail"
                    out = (f"/home/scientist/parsl-run/app-out/{t.app}{t.tid}.out" if bash else "",
                           f"/home/scientist/parsl-run/app-out/{t.app}{t.tid}.err" if bash else "")
                    task_ins.append((t.tid, run_id, ",".join(map(str, t.deps)), t.app, "0", p.get("hashsum"), "None",
                                     "None", None, *out, task_row[0], task_row[1], p["fail_count"],
                                     float(p["fail_count"])))
                status.append((t.tid, p["status"], self._ts(at), run_id, try_id))
                key = (t.tid, try_id)
                row = self.tries.setdefault(key, {"launched": None, "returned": None, "history": "", "joins": None})
                if "launched" in p:
                    row["launched"] = self._ts(p["launched"])
                if returned is not None:
                    row["returned"] = self._ts(returned)
                if "history" in p:
                    row["history"] = p["history"]
                if "joins" in p:
                    row["joins"] = ",".join(map(str, p["joins"]))
                fields = (row["history"], row["launched"], row["returned"], row["joins"])
                if key in self.inserted_tries:
                    try_upd.append(fields + (run_id, t.tid, try_id))
                else:
                    self.inserted_tries.add(key)
                    executor = "_parsl_internal" if t.join else "htex_local"
                    try_ins.append((try_id, t.tid, run_id, None, None, executor, row["launched"], None,
                                    row["returned"], row["history"], row["joins"]))
            elif kind == "worker":
                t, try_id = p["task"], p["try_id"]
                if p["first"]:
                    w_status.append((t.tid, "running", self._ts(at), run_id, try_id))
                    w_try.append((self._ts(at), p["block"], p["host"], run_id, t.tid, try_id))
                else:
                    w_end.append((t.tid, "running_ended", self._ts(at), run_id, try_id))
            elif kind == "node":
                node, _w = p
                beat = self.heartbeat.get(node)
                if beat is None or at - beat > 30:
                    beat = self.heartbeat[node] = at
                nodes.append((run_id, f"{HOST}{node:04d}", f"{node:012x}", str(node // 4), 8, TOTAL_MEMORY, 1, 8,
                              "3.11.7", self._ts(at), self._ts(beat)))
            elif kind == "block":
                b, st = p
                blocks.append((run_id, "htex_local", str(b), str(31_000 + b), self._ts(at), st))
            else:
                tid, try_id, pid, (user, system, rd, wr), rss, pstatus = p
                resources.append((try_id, tid, run_id, self._ts(at), INTERVAL, pid, rss / TOTAL_MEMORY * 100, 1.0,
                                  round(user, 2), round(system, 2), float(WORKER_VMS), float(rss), float(int(rd)),
                                  float(int(wr)), pstatus, str(pid % 2), 100.0, 10.0))
        ops = []
        if wf_counts:
            ops.append(("update workflow counts", wf_counts[-1:]))
        for op, rows in (("insert task", task_ins), ("update task", task_upd), ("insert status", status),
                         ("insert try", try_ins), ("update try", try_upd), ("insert node", nodes),
                         ("insert block", blocks), ("insert status", w_status), ("update try running", w_try),
                         ("insert status", w_end), ("insert resource", resources)):
            if rows:
                ops.append((op, rows))
        return ops


_SQL = {
    "insert workflow": "INSERT INTO workflow VALUES (?,?,?,?,?,?,?,?,?,?)",
    "update workflow counts": "UPDATE workflow SET tasks_failed_count=?, tasks_completed_count=? WHERE run_id=?",
    "update workflow end": "UPDATE workflow SET tasks_failed_count=?, tasks_completed_count=?, time_completed=? "
                           "WHERE run_id=?",
    "insert task": "INSERT INTO task VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "update task": "UPDATE task SET task_time_invoked=?, task_time_returned=?, task_fail_count=?, task_fail_cost=?, "
                   "task_hashsum=?, task_inputs=? WHERE task_id=? AND run_id=?",
    "insert status": "INSERT INTO status VALUES (?,?,?,?,?)",
    "insert try": 'INSERT INTO "try" VALUES (?,?,?,?,?,?,?,?,?,?,?)',
    "update try": 'UPDATE "try" SET task_fail_history=?, task_try_time_launched=?, task_try_time_returned=?, '
                  "task_joins=? WHERE run_id=? AND task_id=? AND try_id=?",
    "update try running": 'UPDATE "try" SET task_try_time_running=?, block_id=?, hostname=? '
                          "WHERE run_id=? AND task_id=? AND try_id=?",
    "insert node": "INSERT INTO node (run_id, hostname, uid, block_id, cpu_count, total_memory, active, "
                   "worker_count, python_v, timestamp, last_heartbeat) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "insert block": "INSERT INTO block VALUES (?,?,?,?,?,?)",
    "insert resource": "INSERT INTO resource VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
}


def _runs(n: int, seed: int, runs: int) -> list[Run]:
    out = []
    began = 0.0
    for k in range(runs):
        r = plan(n, seed, began, "panorama-top-demo" if k == 0 else f"panorama-top-demo-run{k + 1}")
        out.append(r)
        began = r.end + 50.0
    return out


def _create(path: str) -> sqlite3.Connection:
    if os.path.exists(path):
        os.remove(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # Parsl's: a rollback journal
    for ddl in DDL:
        conn.execute(ddl)
    return conn


def _ops(run: Run, k: int, killed: bool, base: datetime = BASE):
    w = _Writer(run, f"/home/scientist/parsl-run/runinfo/{k:03d}", base)
    yield list(w.start_rows())
    until = run.began + 0.6 * (run.end - run.began) if killed else None
    yield from w.batches(until)
    if until is None:
        yield w.end_rows()


def write(path: str, n: int = DEFAULT_N, seed: int = SEED, runs: int = 1, killed: bool = False) -> dict:
    """The whole DB at once (one transaction, the rows in the live writer's order); what it holds."""
    conn = _create(path)
    all_runs = _runs(n, seed, runs)
    conn.execute("BEGIN")
    for k, run in enumerate(all_runs):
        for batch in _ops(run, k, killed and k == runs - 1):
            for op, rows in batch:
                conn.executemany(_SQL[op], rows)
    conn.execute("COMMIT")
    conn.close()
    return describe(all_runs)


def write_live(path: str, n: int, seed: int = SEED, runs: int = 1, killed: bool = False, speedup: float | None = None):
    """Write as the DB manager does, one commit a table a batch, yielding after each commit
    (``speedup``: also sleep so a simulated second takes 1/speedup s, the run's times
    starting now, so a reader sees a run that is going on)."""
    conn = _create(path)
    all_runs = _runs(n, seed, runs)
    base = datetime.now() if speedup else BASE
    t0 = time.monotonic()
    for k, run in enumerate(all_runs):
        for batch in _ops(run, k, killed and k == runs - 1, base):
            for op, rows in batch:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_SQL[op], rows)
                conn.execute("COMMIT")
                yield op
            if speedup:
                time.sleep(max(0.0, BATCH / speedup - (time.monotonic() - t0)))
                t0 = time.monotonic()
    conn.close()


def describe(runs: list[Run]) -> dict:
    """What the generated DB holds, per run: the final state of every task (the expected answers)."""
    out = {}
    for r in runs:
        final: dict[int, str] = {}
        tries: dict[int, int] = {}
        for _, _, kind, p in r.messages:
            if kind == "task":
                final[p["task"].tid] = p["status"]
                tries[p["task"].tid] = max(tries.get(p["task"].tid, 0), p["try_id"] + 1)
        states: dict[str, int] = {}
        for s in final.values():
            states[s] = states.get(s, 0) + 1
        out[r.run_id] = {"name": r.name, "tasks": len(r.tasks), "states": states,
                         "retries": sum(tries.values()) - len(tries), "end": _ts(r.end)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=DEFAULT_N, help="tasks a run (default %(default)s)")
    ap.add_argument("--runs", type=int, default=1, help="runs in the DB, one after the other")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", required=True, help="the DB to write (replaced)")
    ap.add_argument("--killed", action="store_true", help="the last run dies at 60%%: no end recorded")
    ap.add_argument("--live", type=float, metavar="SPEEDUP", help="write as Parsl does, a batch every 1/SPEEDUP s")
    args = ap.parse_args(argv)
    t = time.monotonic()
    if args.live:
        for _ in write_live(args.out, args.tasks, args.seed, args.runs, args.killed, args.live):
            pass
        print(f"{args.out}: written live in {time.monotonic() - t:.1f}s")
        return 0
    info = write(args.out, args.tasks, args.seed, args.runs, args.killed)
    for run_id, d in info.items():
        print(f"{run_id} {d['name']}: {d['tasks']} tasks {d['states']}, {d['retries']} retries")
    print(f"{args.out}: {os.path.getsize(args.out) / 2**20:.1f} MiB in {time.monotonic() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
