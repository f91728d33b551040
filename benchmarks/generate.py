"""A Pegasus-shaped workflow of N jobs, scaled up from real WfCommons traces.

Input: the real Pegasus execution traces in ``../shared/data/wfinstances``
(WfCommons schema 1.5: Montage 2mass-005d, 1000genome 22ch-250k, Montage
dss-15d; 3,082 tasks together).  Output: the events pegasus-monitord would
publish for a workflow made of copies of those three DAGs, N jobs in all, and
the ``kickstart.inv.online`` /proc traces of every running job at 1 Hz.

How it is scaled
- Task mix: the three instances' tasks, in topological (level) order, are
  repeated as blocks until N jobs; the last block is a prefix of that order,
  so every job's parents are in the workflow.  Each job keeps its template's
  program (transformation), arguments, runtime, avgCPU, memory, input and
  output bytes, and parents (edges stay inside their block).
- Hosts: each real machine (``mem``, ``pegasus-2`` .. ``pegasus-5``, 48 cores)
  becomes a group of hosts (``pegasus-5-07``) sized by its share of the
  tasks; ``N // 25`` slots in all (4,000 for 100k jobs), so thousands run at
  once.  A task runs on a host of its own machine's group.
- Schedule: a list scheduler.  A job is submitted when its parents' POST
  scripts are done (plus DAGMan's delay), waits FIFO for a slot of its group
  (plus matchmaking delay), runs for its real runtime, then its POST script
  runs.  Delays are drawn from ranges seen in the real monitord runs.
- Failures: 0.4 % of jobs fail their first try (exit 2) and succeed on the
  retry; 0.05 % of leaf jobs fail both tries (so the failure panel and the
  problems-first order have something to show).
- Traces: one ``kickstart.inv.online`` per running second of each try, with
  cumulative counters consistent with the task: CPU seconds = avgCPU x
  elapsed, RSS ramping to the task's memory (the template's, else the mean
  for the program in the other instances, else the median of all), bytes
  read and written in proportion to the task's input and output files.

Event shapes are copied from the real monitord run
``pegasus/monitord-replay/process_wf_success/events.json`` (key order, string
vs number fields, 1970-era ``ts`` on static events, the boilerplate fields)
and ``panorama/kickstart.inv.online.json``.  The emitted time of an event is
its own ``ts`` but never earlier than the previous event of the same try,
which reproduces monitord's order (it publishes ``inv.end`` and
``main.end`` when it reads the kickstart record, after the POST script).

Everything is deterministic for a given (n, seed).

API: :func:`static_events`, :func:`timeline_events`, :func:`write_recording`,
:func:`write_jsonl`, :func:`plan` (the schedule) and :func:`describe`.
CLI: ``python -m benchmarks.generate --n 100000 --recording out.db``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from array import array
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

def _shared_data() -> str:
    """``shared/data`` beside the checkout, or beside one of its parents (a git worktree
    under ``wt/NAME`` shares the main checkout's)."""
    d = os.path.dirname(REPO)
    while True:
        cand = os.path.join(d, "shared", "data")
        if os.path.isdir(cand) or os.path.dirname(d) == d:
            return cand if os.path.isdir(cand) else os.path.join(os.path.dirname(REPO), "shared", "data")
        d = os.path.dirname(d)


SHARED = os.environ.get("PANORAMA_SHARED_DATA") or _shared_data()
WFINSTANCES = os.path.join(SHARED, "wfinstances")
INSTANCES = (
    "montage-chameleon-2mass-005d-001.json",
    "1000genome-chameleon-22ch-250k-001.json",
    "montage-chameleon-dss-15d-001.json",
)
DEFAULT_N = 100_000
SEED = 360
VERSION = "1"  # bump when the output changes (cache keys use it)

# Times: the real process_wf_success run was planned at 1677911013.
T_PLAN = 1677911013.0
T_START = T_PLAN + 10.0  # xwf.start
STATIC_TS = 3193169  # monitord's 1970-era ts on static events (copied)
SLOTS_PER_JOB = 1 / 25
CORES = 48
P_RETRY = 0.004  # first try fails, the retry succeeds
P_FAIL_LEAF = 0.0005  # a leaf job fails both tries
HELD_EVERY = 250  # with held=True: 0.4 % of tries are held, then released (about the retries' rate)
# The real hold reason of tests/data/held (HTCondor's, for a transfer failure).
HOLD_REASON = ("Transfer input files failure at access point workflow.isi.edu while sending files to execution "
               "point slot1@workflow.isi.edu.")

USER = "scientist"
LABEL = "wfinstances-mix"
SUBMIT_HOST = "workflow.example.org"
SUBMIT_DIR = f"/home/{USER}/wf/submit/{USER}/pegasus/{LABEL}/run0001"
DAX = f"/home/{USER}/wf/workflow.yml"
DAG = f"{LABEL}-0.dag"
PEGASUS = "5.0.5"

# Real failure text from process_wf_failure (ls -z / exiting 2), URL-quoted as monitord sends it.
FAIL_STDOUT = "#@ 1 stderr%0A {prog}: invalid option -- %27z%27%0ATry %27{prog} --help%27 for more information.%0A%0A"
FAIL_STDERR = (
    "{when}: PegasusLite: version 5.0.5%0A{when}: Executing on host {host} IP={ip}%0A%0A"
    "########################[Pegasus Lite] Setting up workdir ########################%0A"
    "{when}: Not creating a new work directory as it is already set to {work}%0A%0A"
    "##############[Pegasus Lite] Figuring out the worker package to use ##############%0A"
    "{when}: The job contained a Pegasus worker package%0Atar: write error%0A%0A"
    "##################### Checking file integrity for input files #####################%0A%0A"
    "######################[Pegasus Lite] Executing the user task ######################%0A"
    "{when}: User task failed with exitcode 2%0APegasusLite: exitcode 2%0A"
)


# ---------------------------------------------------------------------------
# The real traces


@dataclass(frozen=True)
class Template:
    program: str
    args: str
    runtime: float
    avg_cpu: float  # percent, as WfCommons gives it
    memory: int  # bytes
    machine: str
    in_bytes: int
    out_bytes: int
    level: int
    parents: tuple  # indices into the same instance's ordered list


@lru_cache(maxsize=1)
def templates() -> tuple[tuple[Template, ...], dict]:
    """The three instances' tasks, each instance in (level, id) order, and the machines."""
    raw = []
    machines: dict[str, dict] = {}
    mem_by_prog: dict[str, list] = defaultdict(list)
    for name in INSTANCES:
        path = os.path.join(WFINSTANCES, name)
        with open(path) as f:
            doc = json.load(f)
        wf = doc["workflow"]
        sizes = {x["id"]: int(x.get("sizeInBytes") or 0) for x in wf["specification"].get("files", [])}
        exe = {t["id"]: t for t in wf["execution"]["tasks"]}
        for m in wf["execution"].get("machines", []):
            machines.setdefault(m["nodeName"], m)
        spec = wf["specification"]["tasks"]
        for t in spec:
            e = exe[t["id"]]
            if e.get("memoryInBytes"):
                mem_by_prog[e["command"]["program"]].append(int(e["memoryInBytes"]))
        raw.append((spec, exe, sizes))
    all_mem = sorted(v for vs in mem_by_prog.values() for v in vs)
    median_mem = all_mem[len(all_mem) // 2] if all_mem else 100 * 2**20
    out: list[Template] = []
    for spec, exe, sizes in raw:
        by_id = {t["id"]: t for t in spec}
        level: dict[str, int] = {}

        def lvl(tid: str, by_id=by_id, level=level) -> int:
            stack = [tid]
            while stack:
                cur = stack[-1]
                if cur in level:
                    stack.pop()
                    continue
                ps = by_id[cur].get("parents") or []
                todo = [p for p in ps if p not in level]
                if todo:
                    stack.extend(todo)
                    continue
                level[cur] = 1 + max((level[p] for p in ps), default=-1)
                stack.pop()
            return level[tid]

        order = sorted(spec, key=lambda t: (lvl(t["id"]), t["id"]))
        index = {t["id"]: i for i, t in enumerate(order)}
        base = len(out)
        for t in order:
            e = exe[t["id"]]
            prog = e["command"]["program"]
            mem = e.get("memoryInBytes")
            if not mem:
                mem = int(statistics.mean(mem_by_prog[prog])) if mem_by_prog.get(prog) else median_mem
            out.append(
                Template(
                    program=prog,
                    args=" ".join(str(a) for a in e["command"].get("arguments") or []),
                    runtime=float(e.get("runtimeInSeconds") or 0.0),
                    avg_cpu=float(e.get("avgCPU") or 100.0),
                    memory=int(mem),
                    machine=(e.get("machines") or ["mem"])[0],
                    in_bytes=sum(sizes.get(x, 0) for x in t.get("inputFiles") or []),
                    out_bytes=sum(sizes.get(x, 0) for x in t.get("outputFiles") or []),
                    level=level[t["id"]],
                    parents=tuple(base + index[p] for p in t.get("parents") or []),
                )
            )
    return tuple(out), machines


# ---------------------------------------------------------------------------
# The plan and the schedule


class Plan:
    """N jobs, their hosts and a simulated schedule (one tuple per try)."""

    def __init__(self, n: int, seed: int = SEED):
        tmpls, machines = templates()
        self.n = n
        self.seed = seed
        rng = random.Random(seed * 1_000_003 + n)
        self.wf_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        block = len(tmpls)
        self.tmpl = [i % block for i in range(n)]
        self.job_id = [f"{tmpls[self.tmpl[g]].program}_ID{g + 1:07d}" for g in range(n)]
        self.task_id = [f"ID{g + 1:07d}" for g in range(n)]
        self.parents: list[tuple] = []
        for g in range(n):
            b0 = (g // block) * block
            self.parents.append(tuple(b0 + p for p in tmpls[self.tmpl[g]].parents))
        children: list[list[int]] = [[] for _ in range(n)]
        for g, ps in enumerate(self.parents):
            for p in ps:
                children[p].append(g)
        self.children = children

        # Hosts: each real machine becomes a group of hosts, sized by its share.
        share = defaultdict(int)
        for g in range(n):
            share[tmpls[self.tmpl[g]].machine] += 1
        total_hosts = max(len(share), math.ceil(n * SLOTS_PER_JOB / CORES))
        self.hosts: list[str] = []
        self.host_ip: list[str] = []
        self.host_uname: list[str] = []
        group_slots: dict[str, deque] = {}
        for gi, (mach, cnt) in enumerate(sorted(share.items())):
            k = max(1, round(total_hosts * cnt / n))
            info = machines.get(mach, {})
            cores = int((info.get("cpu") or {}).get("coreCount") or CORES)
            uname = f"{info.get('system', 'linux')}-{info.get('release', '')}-{info.get('architecture', 'x86_64')}"
            slots = deque()
            first = len(self.hosts)
            for h in range(k):
                self.hosts.append(f"{mach}-{h:02d}")
                self.host_ip.append(f"10.{10 + gi}.{h // 250}.{h % 250 + 2}")
                self.host_uname.append(uname)
            # Round-robin over hosts: slot c of every host, then slot c+1.
            for _c in range(cores):
                for h in range(k):
                    slots.append(first + h)
            group_slots[mach] = slots
        self.slots = sum(len(s) for s in group_slots.values())

        fail_first = [rng.random() < P_RETRY for _ in range(n)]
        fail_all = [not children[g] and rng.random() < P_FAIL_LEAF for g in range(n)]

        # (job, try no, inst id, sched id, submit, start, end, post_start, post_end, host, ok)
        tries: list[tuple] = []
        remaining = [len(ps) for ps in self.parents]
        ready_at = [T_START + 5.0] * n
        queues: dict[str, deque] = {m: deque() for m in group_slots}
        heap: list[tuple] = []  # (time, kind, seq, job, try)
        seq = 0
        for g in range(n):
            if not remaining[g]:
                heap.append((ready_at[g] + rng.uniform(0.0, 5.0), 1, seq, g, 0))
                seq += 1
        heapq.heapify(heap)
        inst = 0
        cluster = 0
        running: dict[tuple, tuple] = {}

        def dispatch(mach: str, now: float) -> None:
            nonlocal seq
            q = queues[mach]
            free = group_slots[mach]
            while q and free:
                g, k, submit = q.popleft()
                host = free.popleft()
                start = max(now, submit + rng.uniform(2.0, 15.0))
                t = tmpls[self.tmpl[g]]
                ok = not (fail_all[g] or (k == 0 and fail_first[g]))
                dur = t.runtime if ok else max(0.5, t.runtime * 0.3)
                end = start + dur
                running[(g, k)] = (submit, start, end, host, ok)
                heapq.heappush(heap, (end, 0, seq, g, k))
                seq += 1

        while heap:
            now, kind, _, g, k = heapq.heappop(heap)
            t = tmpls[self.tmpl[g]]
            if kind == 1:  # DAGMan submits try k of job g
                queues[t.machine].append((g, k, now))
                dispatch(t.machine, now)
                continue
            submit, start, end, host, ok = running.pop((g, k))
            group_slots[t.machine].append(host)
            post_start = end + rng.uniform(1.0, 5.0)
            post_end = post_start + rng.uniform(1.0, 5.0)
            inst += 1
            cluster += 1
            tries.append((g, k, inst, f"{cluster}.0", submit, start, end, post_start, post_end, host, ok))
            if not ok and k == 0:
                heapq.heappush(heap, (post_end + rng.uniform(1.0, 5.0), 1, seq, g, 1))
                seq += 1
            elif ok:
                for c in children[g]:
                    remaining[c] -= 1
                    if post_end > ready_at[c]:
                        ready_at[c] = post_end
                    if not remaining[c]:
                        heapq.heappush(heap, (ready_at[c] + rng.uniform(1.0, 5.0), 1, seq, c, 0))
                        seq += 1
            dispatch(t.machine, now)
        # monitord numbers job instances as DAGMan submits them: renumber by submit time.
        order = sorted(range(len(tries)), key=lambda i: (tries[i][4], tries[i][0], tries[i][1]))
        renum = [0] * len(tries)
        for new, i in enumerate(order, 1):
            renum[i] = new
        # Columns (arrays) rather than 100k tuples: the plan stays a few MB.
        self.ntries = len(tries)
        self._job = array("i", (tr[0] for tr in tries))
        self._k = array("b", (tr[1] for tr in tries))
        self._inst = array("i", renum)
        self._t = [array("d", (tr[c] for tr in tries)) for c in (4, 5, 6, 7, 8)]
        self._host = array("i", (tr[9] for tr in tries))
        self._ok = array("b", (1 if tr[10] else 0 for tr in tries))
        self.failed_jobs = sum(1 for g in range(n) if fail_all[g])
        self.retried_jobs = sum(1 for g in range(n) if fail_first[g] or fail_all[g])
        self.end_ts = max(self._t[4], default=T_START) + 10.0
        self.status = 1 if self.failed_jobs else 0
        self.mid_ts = T_START + (self.end_ts - T_START) / 2
        del self.children

    def tr(self, ti: int) -> tuple:
        """Try ``ti``: (job, try no, inst id, sched id, submit, start, end, post start, post end, host, ok)."""
        inst = self._inst[ti]
        t = self._t
        return (self._job[ti], self._k[ti], inst, f"{inst + 1}.0", t[0][ti], t[1][ti], t[2][ti], t[3][ti],
                t[4][ti], self._host[ti], bool(self._ok[ti]))

    # -- figures -----------------------------------------------------------
    def running_at(self, ts: float) -> int:
        start, end = self._t[1], self._t[2]
        return sum(1 for i in range(self.ntries) if start[i] <= ts < end[i])

    def done_by(self, ts: float) -> int:
        pe, ok = self._t[4], self._ok
        return sum(1 for i in range(self.ntries) if pe[i] <= ts and ok[i])


@lru_cache(maxsize=4)
def plan(n: int = DEFAULT_N, seed: int = SEED) -> Plan:
    return Plan(n, seed)


# ---------------------------------------------------------------------------
# Events


def _boiler(p: Plan) -> dict:
    return {
        "root_xwf_id": p.wf_uuid,
        "dax": DAX,
        "dag": DAG,
        "wf_ts": int(T_PLAN),
        "submit_dir": SUBMIT_DIR,
        "pegasus_version": PEGASUS,
        "submit_hostname": SUBMIT_HOST,
        "wf_user": USER,
    }


def static_events(n: int = DEFAULT_N, seed: int = SEED):
    """The workflow as planned: wf.plan, task.info, job.info, task->job map, job edges."""
    p = plan(n, seed)
    tmpls, _ = templates()
    b = _boiler(p)
    x = p.wf_uuid
    yield {
        "xwf_id": x,
        "dax_label": LABEL,
        "dax_version": "5.0.4",
        "dax_index": "0",
        "dax_file": DAX,
        "dag_file_name": DAG,
        "ts": int(T_PLAN),
        "submit_hostname": SUBMIT_HOST,
        "submit_dir": SUBMIT_DIR,
        "argv": "--conf pegasus.properties --dir submit --sites condorpool --output-sites local "
        "--cleanup leaf --force workflow.yml",
        "user": USER,
        "planner_version": PEGASUS,
        "root_xwf_id": x,
        "dax": DAX,
        "dag": DAG,
        "wf_ts": int(T_PLAN),
        "pegasus_version": PEGASUS,
        "wf_user": USER,
        "event": "stampede.wf.plan",
    }
    yield {"xwf_id": x, **b, "event": "stampede.static.start"}
    for g in range(n):
        t = tmpls[p.tmpl[g]]
        yield {
            "ts": STATIC_TS,
            "xwf_id": x,
            "task_id": p.task_id[g],
            "type": "1",
            "type_desc": "compute",
            "transformation": t.program,
            "argv": t.args,
            **b,
            "event": "stampede.task.info",
        }
    yield {"ts": STATIC_TS, "xwf_id": x, **b, "event": "stampede.static.meta.start"}
    yield {"ts": STATIC_TS, "xwf_id": x, "key": "wf.api", "value": "python", **b, "event": "stampede.xwf.meta"}
    yield {"ts": STATIC_TS, "xwf_id": x, **b, "event": "stampede.static.meta.end"}
    for g in range(n):
        j = p.job_id[g]
        yield {
            "ts": STATIC_TS,
            "xwf_id": x,
            "job_id": j,
            "submit_file": f"00/00/{j}.sub",
            "type": "1",
            "type_desc": "compute",
            "clustered": "0",
            "max_retries": "1",
            "executable": f"{SUBMIT_DIR}/00/00/{j}.sh",
            "task_count": "1",
            **b,
            "event": "stampede.job.info",
        }
    for g in range(n):
        yield {
            "ts": STATIC_TS,
            "xwf_id": x,
            "job_id": p.job_id[g],
            "task_id": p.task_id[g],
            **b,
            "event": "stampede.wf.map.task_job",
        }
    for g in range(n):
        for par in p.parents[g]:
            yield {
                "ts": STATIC_TS,
                "xwf_id": x,
                "parent_job_id": p.job_id[par],
                "child_job_id": p.job_id[g],
                **b,
                "event": "stampede.job.edge",
            }
    yield {"xwf_id": x, **b, "event": "stampede.static.end"}


@lru_cache(maxsize=8192)
def _iso_second(sec: int) -> str:
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def held_try(inst: int, submit: float, start: float) -> bool:
    """Whether try ``inst`` is held by HTCondor between its submit and its start (with
    ``held=True``): 1 try in HELD_EVERY, among those that queue long enough for a hold and a
    release at whole seconds apart."""
    return inst % HELD_EVERY == 0 and int(start) - int(submit) >= 3


def _try_events(p: Plan, ti: int, lo: float, hi: float, traces: bool, tail: int | None, held: bool = False):
    """(emit ts, event) for one try, in monitord's order; only those with lo <= emit < hi.
    ``held``: some tries are held and released before they start (:func:`held_try`)."""
    tmpls, _ = templates()
    g, k, inst, sched, submit, start, end, post_start, post_end, h, ok = p.tr(ti)
    t = tmpls[p.tmpl[g]]
    x = p.wf_uuid
    b = _boiler(p)
    j = p.job_id[g]
    host = p.hosts[h]
    ip = p.host_ip[h]
    pid = 1000 + (inst * 7919) % 60000
    work = f"/var/lib/condor/execute/dir_{pid}"
    isub, istart, iend = int(submit), int(start), int(end)
    ips, ipe = int(post_start), int(post_end)
    base = {"xwf_id": x, "job_id": j, "job_inst_id": inst}
    ec_main = "0" if ok else "512"
    ec_post = "0" if ok else "256"
    last = 0.0

    def at(ts):
        nonlocal last
        if ts > last:
            last = ts
        return last

    # (ts, event) in the order monitord publishes them for a try.
    seq = []
    seq.append(
        (
            at(isub),
            {
                **base,
                "ts": isub,
                "js_id": 1,
                "reason": None,
                "sched_id": sched,
                "site": "condorpool",
                **b,
                "event": "stampede.job_inst.submit.start",
            },
        )
    )
    seq.append(
        (
            at(isub),
            {
                **base,
                "ts": isub,
                "js_id": 1,
                "reason": None,
                "sched_id": sched,
                "status": 0,
                **b,
                "event": "stampede.job_inst.submit.end",
            },
        )
    )
    if held and held_try(inst, submit, start):
        # monitord's held.start / held.end (JOB_HELD with HTCondor's reason, JOB_RELEASED); js ids
        # after the try's seven, so the others keep theirs
        for ts, js, name, extra in ((isub + 1, 8, "held.start", {"reason": HOLD_REASON}),
                                    (istart - 1, 9, "held.end", {"reason": None})):
            seq.append((at(ts), {**base, "ts": ts, "js_id": js, **extra, "sched_id": sched, **b,
                                 "event": f"stampede.job_inst.{name}"}))
    seq.append(
        (
            at(istart),
            {
                **base,
                "ts": istart,
                "js_id": 2,
                "stdout_file": f"00/00/{j}.out",
                "stderr_file": f"00/00/{j}.err",
                "sched_id": sched,
                **b,
                "event": "stampede.job_inst.main.start",
            },
        )
    )
    for ts, ev in seq:
        if lo <= ts < hi:
            yield ts, ev
    if traces:
        nsamp = int(end - start)
        first, lastk = 1, nsamp
        # Samples due by hi (exclusive) and at or after lo.
        lastk = min(lastk, int(math.ceil(hi - start)) - 1) if hi != math.inf else lastk
        if tail is not None:
            first = max(first, lastk - tail + 1)
        if lo != -math.inf:
            first = max(first, int(math.ceil(lo - start)))
        if first <= lastk:
            cpu_frac = t.avg_cpu / 100.0
            mem_kb = t.memory / 1024.0
            rt = max(t.runtime, 1e-6)
            rd_rate = t.in_bytes / rt
            wr_rate = t.out_bytes / rt
            frac_ms = f".{int(round((start % 1) * 1000)) % 1000:03d}Z"
            tmpl = {
                "site": "condorpool",
                "@version": "1",
                "xformation": t.program,
                "bread": 0,
                "ts": 0.0,
                "rss": 0,
                "procs": 1,
                "pid": pid,
                "bwrite": 0,
                "threads": 1,
                "exe": f"{work}/pegasus-kickstart",
                "iowait": 0,
                "vm": 0,
                "brecv": 0,
                "bsend": 0,
                "event": "kickstart.inv.online",
                "wf_uuid": x,
                "dag_job_id": j,
                "utime": 0.0,
                "rank": 0,
                "task_id": p.task_id[g],
                "syscr": 0,
                "hostname": host,
                "rchar": 0,
                "wchar": 0,
                "condor_job_id": sched,
                "syscw": 0,
                "stime": 0.0,
                "type": "kickstart",
                "wf_label": LABEL,
                "@timestamp": "",
            }
            for kk in range(first, lastk + 1):
                ts = start + kk
                cpu = cpu_frac * kk
                rd = int(rd_rate * kk)
                wr = int(wr_rate * kk)
                rss = int(mem_kb * (0.3 + 0.35 * kk if kk < 2 else 1.0))
                ev = tmpl.copy()
                ev["bread"] = rd
                ev["ts"] = ts
                ev["rss"] = rss
                ev["bwrite"] = wr
                ev["threads"] = 1 + (kk & 1)
                ev["vm"] = rss * 3
                ev["utime"] = round(cpu * 0.9, 2)
                ev["syscr"] = rd // 65536 + 10
                ev["rchar"] = rd + 4096 * kk
                ev["wchar"] = wr + 512 * kk
                ev["syscw"] = wr // 65536 + 5
                ev["stime"] = round(cpu * 0.1, 2)
                ev["@timestamp"] = _iso_second(int(ts)) + frac_ms
                if ts > last:
                    last = ts
                yield ts, ev
        if nsamp >= 1:
            at(start + nsamp)  # the same emit times whatever window is asked for
    dur = round(end - start, 3)
    seq = []
    seq.append(
        (
            at(iend),
            {
                **base,
                "ts": iend,
                "js_id": 3,
                "reason": None,
                "sched_id": sched,
                "status": 0,
                **b,
                "event": "stampede.job_inst.main.term",
            },
        )
    )
    seq.append(
        (
            at(ips),
            {
                **base,
                "ts": ips,
                "js_id": 5,
                "reason": None,
                "sched_id": sched,
                **b,
                "event": "stampede.job_inst.post.start",
            },
        )
    )
    seq.append(
        (
            at(ips),
            {
                **base,
                "ts": ips,
                "js_id": 6,
                "reason": None,
                "sched_id": sched,
                **b,
                "event": "stampede.job_inst.post.term",
            },
        )
    )
    seq.append((at(istart), {**base, "inv_id": 1, "ts": istart, **b, "event": "stampede.inv.start"}))
    inv_end = {
        **base,
        "inv_id": 1,
        "transformation": t.program,
        "task_id": p.task_id[g],
        "start_time": istart,
        "dur": dur,
        "remote_cpu_time": round(dur * t.avg_cpu / 100.0, 3),
        "avg_cpu": t.avg_cpu / 100.0,
        "maxrss": int(t.memory / 1024),
        "ts": iend,
        "exitcode": 0 if ok else 512,
        "executable": f"/usr/bin/{t.program}",
        "level": "Error",
        **b,
        "event": "stampede.inv.end",
    }
    seq.append((at(iend), inv_end))
    seq.append(
        (
            at(ipe),
            {
                **base,
                "hostname": host,
                "ip": ip,
                "site": "condorpool",
                "uname": p.host_uname[h],
                "ts": float(ipe),
                **b,
                "event": "stampede.job_inst.host.info",
            },
        )
    )
    main_end = {
        **base,
        "ts": ips,
        "js_id": 4,
        "site": "condorpool",
        "user": USER,
        "local_dur": max(1, int(round(dur))),
        "multiplier_factor": "1",
        "exitcode": ec_main,
        "sched_id": sched,
        "status": 0 if ok else -1,
    }
    if not ok:
        main_end["level"] = "Error"
    main_end["work_dir"] = work
    main_end["stdout_file"] = f"00/00/{j}.out.{k:03d}"
    main_end["stderr_file"] = f"00/00/{j}.err.{k:03d}"
    if not ok:
        main_end["stdout_text"] = FAIL_STDOUT.format(prog=t.program)
        main_end["stderr_text"] = FAIL_STDERR.format(when=_when(start), host=host, ip=ip, work=work)
    main_end.update(b)
    main_end["event"] = "stampede.job_inst.main.end"
    seq.append((at(ips), main_end))
    seq.append((at(ips), {**base, "inv_id": -2, "ts": ips, **b, "event": "stampede.inv.start"}))
    post_inv = {
        **base,
        "inv_id": -2,
        "transformation": "dagman::post",
        "start_time": ips,
        "dur": 0,
        "remote_cpu_time": 0,
        "exitcode": ec_post,
        "executable": f"/home/{USER}/pegasus-5.0.5/bin/pegasus-exitcode",
        "argv": f" -r $RETURN -s PegasusLite:+exitcode+0 -l {LABEL}-0.exitcode.log -M {LABEL}-0.cache.meta   .//00/00/{j}.out",
        "ts": ips,
    }
    if not ok:
        post_inv["level"] = "Error"
    post_inv.update(b)
    post_inv["event"] = "stampede.inv.end"
    seq.append((at(ips), post_inv))
    post_end_ev = {**base, "ts": ipe, "js_id": 7, "reason": None, "sched_id": sched, "status": 0 if ok else -1}
    if not ok:
        post_end_ev["level"] = "Error"
    post_end_ev["exitcode"] = ec_post
    post_end_ev.update(b)
    post_end_ev["event"] = "stampede.job_inst.post.end"
    seq.append((at(ipe), post_end_ev))
    for ts, ev in seq:
        if lo <= ts < hi:
            yield ts, ev


def timed_events(
    n: int = DEFAULT_N,
    until: float | None = None,
    *,
    since: float | None = None,
    traces: bool = True,
    trace_tail: int | None = None,
    seed: int = SEED,
):
    """(emit ts, event) for the run, in time order, with since <= ts < until.

    ``trace_tail`` keeps only the newest K trace samples of each try before
    ``until``: with K >= the store's ring capacity (120) the store ends up
    the same as with every sample, for a fraction of the events.
    """
    p = plan(n, seed)
    lo = -math.inf if since is None else since
    hi = math.inf if until is None else until
    b = _boiler(p)
    x = p.wf_uuid
    if lo <= T_START < hi:
        yield (
            T_START,
            {"xwf_id": x, "ts": T_START, "reason": None, "restart_count": 0, **b, "event": "stampede.xwf.start"},
        )
    submit, post_end = p._t[0], p._t[4]
    order = sorted(range(p.ntries), key=submit.__getitem__)
    heap: list = []
    tie = 0
    pos = 0
    nt = len(order)
    while pos < nt or heap:
        # Admit every try submitted before the heap's next event.
        horizon = heap[0][0] if heap else math.inf
        while pos < nt and int(submit[order[pos]]) <= horizon:
            ti = order[pos]
            pos += 1
            if post_end[ti] + 1 < lo or int(submit[ti]) >= hi:
                continue
            gen = _try_events(p, ti, lo, hi, traces, trace_tail)
            first = next(gen, None)
            if first is not None:
                heapq.heappush(heap, (first[0], tie, first[1], gen))
                tie += 1
            horizon = heap[0][0] if heap else math.inf
        if not heap:
            continue
        ts, _, ev, gen = heapq.heappop(heap)
        yield ts, ev
        nxt = next(gen, None)
        if nxt is not None:
            heapq.heappush(heap, (nxt[0], tie, nxt[1], gen))
            tie += 1
    if lo <= p.end_ts < hi:
        yield (
            p.end_ts,
            {
                "xwf_id": x,
                "ts": p.end_ts,
                "reason": None,
                "restart_count": 0,
                "status": p.status,
                **({"level": "Error"} if p.status else {}),
                **b,
                "event": "stampede.xwf.end",
            },
        )


def timeline_events(n: int = DEFAULT_N, until: float | None = None, **kw):
    """The run's events (state changes, invocations, hosts, traces) in time order, up to ``until``."""
    for _, ev in timed_events(n, until, **kw):
        yield ev


def write_recording(
    path: str,
    n: int = DEFAULT_N,
    *,
    until: float | None = None,
    traces: bool = True,
    batch: int = 5000,
    seed: int = SEED,
) -> int:
    """A panorama recording (static events, then the timeline), recv_ts = event time.

    Static events carry 1970-era ``ts``; they are received at plan time.
    """
    from panorama_tui.core.recorder import Recorder

    if os.path.exists(path):
        os.remove(path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    rec = Recorder(path, source=f"benchmarks.generate n={n} seed={seed}")
    dumps = json.dumps
    rows = []
    total = 0
    for ev in static_events(n, seed):
        rows.append((T_PLAN, ev["event"], dumps(ev)))
        if len(rows) >= batch:
            total += rec.append_timed(rows)
            rows = []
    for ts, ev in timed_events(n, until, traces=traces, seed=seed):
        rows.append((ts, ev["event"], dumps(ev)))
        if len(rows) >= batch:
            total += rec.append_timed(rows)
            rows = []
    if rows:
        total += rec.append_timed(rows)
    rec.set_meta("generator", f"benchmarks.generate v{VERSION} n={n} seed={seed} until={until} traces={traces}")
    rec.close()
    return total


def write_jsonl(
    path: str, n: int = DEFAULT_N, *, until: float | None = None, traces: bool = True, seed: int = SEED
) -> int:
    """The same events as a monitord JSON event log (one event per line)."""
    dumps = json.dumps
    count = 0
    with open(path, "w") as f:
        for ev in static_events(n, seed):
            f.write(dumps(ev) + "\n")
            count += 1
        for ev in timeline_events(n, until, traces=traces, seed=seed):
            f.write(dumps(ev) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------------------
# A Stampede DB, as pegasus-monitord writes it


def until_ts(n: int, until: float | None, seed: int = SEED) -> float | None:
    """``--until``: a fraction of the run's makespan (0 < until <= 1), else seconds after xwf.start."""
    if until is None:
        return None
    p = plan(n, seed)
    if 0 < until <= 1:
        return T_START + until * (p.end_ts - T_START)
    return T_START + until


def _ji_row(r: dict) -> tuple:
    from benchmarks.bench_stats import _INT, _REAL, JI_ORDER, _num

    out = []
    for col in JI_ORDER:
        v = r.get(col)
        if col in _INT:
            v = _num(v, int)
        elif col in _REAL:
            v = _num(v)
        out.append(v)
    return tuple(out)


def write_stampede_db(path: str, n: int = DEFAULT_N, *, until: float | None = None, seed: int = SEED,
                      held: bool = True, subwfs: int = 0, batch: int = 20_000) -> dict:
    """The run as the Stampede SQLite DB pegasus-monitord 5.1.3 writes, streaming: the
    schema is the real DB's DDL and each row follows the loader's event -> row rules
    (``bench_stats.write_stampede_db``, checked against Pegasus's own loader; rows are
    written per try here, in chunks of ``batch``, so memory stays flat at 1M jobs).
    ``until``: an epoch time (see :func:`until_ts`): a run still going, its later rows
    not written.  ``held``: some tries held and released (:func:`held_try`).  Counts per
    table."""
    import sqlite3

    from benchmarks.bench_stats import JI_COLS, _argv, _num, create_schema
    from panorama_tui.core.stampede import JOBSTATE_NAMES

    for p_ in (path, path + "-journal"):
        if os.path.exists(p_):
            os.unlink(p_)
    p = plan(n, seed)
    tmpls, _ = templates()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    create_schema(conn)
    hi = math.inf if until is None else until
    pending: dict[str, list] = defaultdict(list)
    sql = {
        "workflow": f"INSERT INTO workflow VALUES ({','.join('?' * 16)})",
        "workflowstate": "INSERT INTO workflowstate VALUES (?,?,?,?,?,?)",
        "workflow_meta": "INSERT INTO workflow_meta VALUES (?,?,?)",
        "job": f"INSERT INTO job VALUES ({','.join('?' * 10)})",
        "job_edge": "INSERT OR IGNORE INTO job_edge VALUES (?,?,?)",
        "task": "INSERT INTO task VALUES (?,?,?,?,?,?,?)",
        "host": "INSERT INTO host VALUES (?,?,?,?,?,?,?)",
        "job_instance": "INSERT INTO job_instance VALUES (" + ",".join("?" * 19) + ")",
        "jobstate": "INSERT OR IGNORE INTO jobstate VALUES (?,?,?,?,?)",
        "invocation": "INSERT INTO invocation (wf_id, job_instance_id, task_submit_seq, start_time, remote_duration, "
                      "remote_cpu_time, exitcode, transformation, executable, argv, abs_task_id, maxrss, avg_cpu) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    }

    def put(table: str, row: tuple) -> None:
        rows = pending[table]
        rows.append(row)
        if len(rows) >= batch:
            conn.executemany(sql[table], rows)
            rows.clear()

    wf = 1
    k_sub = max(0, min(subwfs, n))

    def wf_of(g: int) -> int:  # sub-workflow i is wf_id 2 + i, its jobs a contiguous block
        return 2 + g * k_sub // n if k_sub else wf

    jobs_of = {j: g + 1 for g, j in enumerate(p.job_id)}  # exec id -> job row id (job.info order)
    for d in static_events(n, seed):
        name = d["event"]
        if name == "stampede.wf.plan":
            put("workflow", (wf, d["xwf_id"], d.get("dag_file_name"), _num(d.get("ts")), d.get("submit_hostname"),
                             d.get("submit_dir"), _argv(d.get("argv")), d.get("user"), None,
                             d.get("planner_version"), d.get("dax_label"), d.get("dax_version"), d.get("dax_file"),
                             None, None, wf))
            for i in range(k_sub):
                put("workflow", (2 + i, _sub_uuid(p, i), f"{LABEL}-sub{i}-0.dag", _num(d.get("ts")),
                                 d.get("submit_hostname"), f"{SUBMIT_DIR}/00/00/{LABEL}-sub{i}.000",
                                 _argv(d.get("argv")), d.get("user"), None, d.get("planner_version"),
                                 f"{LABEL}-sub{i}", d.get("dax_version"), DAX, None, wf, wf))
        elif name == "stampede.xwf.meta":
            put("workflow_meta", (wf, d["key"], d["value"]))
        elif name == "stampede.task.info":
            # the loader inserts the task unmapped and wf.map.task_job sets job_id: the end row
            g = int(d["task_id"][2:]) - 1
            put("task", (g + 1, wf_of(g), g + 1, d["task_id"], d.get("transformation"), _argv(d.get("argv")),
                         d.get("type_desc")))
        elif name == "stampede.job.info":
            g = jobs_of[d["job_id"]] - 1
            put("job", (g + 1, wf_of(g), d["job_id"], d.get("submit_file"), d.get("type_desc"),
                        1 if str(d.get("clustered")) in ("1", "True", "true") else 0, _num(d.get("max_retries"), int),
                        d.get("executable"), _argv(d.get("argv")), _num(d.get("task_count"), int)))
        elif name == "stampede.job.edge":
            a, b = jobs_of[d["parent_job_id"]] - 1, jobs_of[d["child_job_id"]] - 1
            if wf_of(a) == wf_of(b):  # an edge across sub-workflows is the planner's, between their jobs
                put("job_edge", (wf_of(b), d["parent_job_id"], d["child_job_id"]))
    if hi > T_START:
        put("workflowstate", (wf, "WORKFLOW_STARTED", T_START, 0, None, None))
    hosts: dict[tuple, int] = {}
    for ti in range(p.ntries):
        if p._t[0][ti] >= hi:
            continue
        row = None
        for _, d in _try_events(p, ti, -math.inf, hi, False, None, held):
            name = d["event"]
            if name == "stampede.job_inst.submit.start":
                row = {"job_instance_id": d["job_inst_id"], "job_id": jobs_of[d["job_id"]],
                       "job_submit_seq": d["job_inst_id"], "multiplier_factor": 1}
                row.update((col, d[k]) for k, col in JI_COLS.items() if k in d)
                continue
            if row is None:
                continue
            jiid = row["job_instance_id"]
            names = JOBSTATE_NAMES.get(name)
            if names is not None:
                if name in ("stampede.job_inst.main.end", "stampede.job_inst.post.end"):
                    row.update((col, d[k]) for k, col in JI_COLS.items() if k in d)
                st = names[0 if _num(d.get("status"), int) == -1 else 1]
                put("jobstate", (jiid, st, _num(d["ts"]), _num(d["js_id"], int), d.get("reason")))
            elif name == "stampede.job_inst.host.info":
                hk = (d.get("site"), d.get("hostname"), d.get("ip"))
                if hk not in hosts:
                    hosts[hk] = len(hosts) + 1
                    put("host", (hosts[hk], wf, *hk, d.get("uname"), None))
                row["host_id"] = hosts[hk]
            elif name == "stampede.inv.end":
                put("invocation", (wf_of(row["job_id"] - 1), jiid, _num(d["inv_id"], int), _num(d.get("start_time")),
                                   _num(d.get("dur")),
                                   _num(d.get("remote_cpu_time")), _num(d.get("exitcode"), int),
                                   d.get("transformation"), d.get("executable"), _argv(d.get("argv")),
                                   d.get("task_id"), _num(d.get("maxrss"), int), _num(d.get("avg_cpu"))))
        if row is not None:
            put("job_instance", _ji_row(row))
    if k_sub:
        _write_subwf_jobs(p, n, k_sub, wf_of, hi, put)
    if p.end_ts < hi:
        put("workflowstate", (wf, "WORKFLOW_TERMINATED", p.end_ts, 0, p.status, None))
    for table, rows in pending.items():
        if rows:
            conn.executemany(sql[table], rows)
    conn.commit()
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in
              ("workflow", "job", "task", "job_instance", "jobstate", "invocation", "host")}
    conn.close()
    return counts


def _sub_uuid(p: Plan, i: int) -> str:
    return str(uuid.UUID(int=(uuid.UUID(p.wf_uuid).int + i + 1) % 2**128, version=4))


def _write_subwf_jobs(p: Plan, n: int, k_sub: int, wf_of, hi: float, put) -> None:
    """The root's ``pegasus-plan`` jobs, one per sub-workflow, and the sub-workflows' own states:
    each runs from its first job's submit to its last POST script's end (DAGMan's PRE script
    plans it first), and fails when one of its jobs failed its last try."""
    first = [math.inf] * k_sub
    last = [-math.inf] * k_sub
    failed = [False] * k_sub
    for ti in range(p.ntries):
        i = wf_of(p._job[ti]) - 2
        first[i] = min(first[i], p._t[0][ti])
        last[i] = max(last[i], p._t[4][ti])
        if not p._ok[ti] and p._k[ti] == 1:
            failed[i] = True
    for i in range(k_sub):
        job_id, jiid = n + 1 + i, p.ntries + 1 + i
        name = f"pegasus-plan_{LABEL}-sub{i}"
        put("job", (job_id, 1, name, f"00/00/{name}.sub", "dax", 0, 1, "/usr/bin/condor_dagman",
                    f" -p 0  -f -l . -Notification never -Debug 3 -Dag {LABEL}-sub{i}-0.dag", 0))
        put("task", (job_id, 1, job_id, f"{LABEL}-sub{i}", f"pegasus::pegasus-plan:{PEGASUS}",
                     f"--conf pegasus.properties --basename {LABEL}-sub{i}", "dax"))
        start, end = int(first[i]) - 1, int(last[i]) + 5
        if start - 10 >= hi:
            continue
        ok = not failed[i]
        states = [("PRE_SCRIPT_STARTED", start - 10, 1), ("PRE_SCRIPT_TERMINATED", start - 2, 2),
                  ("PRE_SCRIPT_SUCCESS", start - 2, 3), ("SUBMIT", start - 1, 4), ("EXECUTE", start, 5),
                  ("JOB_TERMINATED", end, 6), ("JOB_SUCCESS" if ok else "JOB_FAILURE", end + 4, 7)]
        ended = end + 4 < hi
        put("job_instance", (jiid, job_id, None, 1, f"{p.ntries + i + 1}.0", "local", USER, SUBMIT_DIR, None, None,
                             float(end - start) if ended else None, 2 + i if start < hi else None,
                             f"00/00/{name}.out", None, f"00/00/{name}.err", None, None, 1,
                             (0 if ok else 256) if ended else None))
        for st, ts, js in states:
            if ts < hi:
                put("jobstate", (jiid, st, ts, js, None))
        put("invocation", (1, jiid, -1, start - 10, 8.0, None, 0, "dagman::pre", f"00/00/{name}.pre.sh", None,
                           None, None, None))
        if ended:
            put("invocation", (1, jiid, 1, start, float(end - start), None, 0 if ok else 256, "condor::dagman",
                               "/usr/bin/condor_dagman", None, f"{LABEL}-sub{i}", None, None))
        if start < hi:
            put("workflowstate", (2 + i, "WORKFLOW_STARTED", start, 0, None, None))
        if end < hi:
            put("workflowstate", (2 + i, "WORKFLOW_TERMINATED", end, 0, 0 if ok else 1, None))


def stampede_db(n: int = DEFAULT_N, until: float | None = None, seed: int = SEED, outdir: str | None = None,
                subwfs: int = 0) -> str:
    """A cached generated Stampede DB (benchmarks/out): ``until`` a fraction of the run or None."""
    outdir = outdir or os.path.join(HERE, "out")
    os.makedirs(outdir, exist_ok=True)
    tag = ("done" if until is None else f"u{until:g}") + (f"-sub{subwfs}" if subwfs else "")
    path = os.path.join(outdir, f"gen-v{VERSION}-n{n}-{tag}-s{seed}.stampede.db")
    if not os.path.exists(path):
        tmp = path + ".part"
        write_stampede_db(tmp, n, until=until_ts(n, until, seed), seed=seed, subwfs=subwfs)
        os.replace(tmp, path)
    return path


def describe(n: int = DEFAULT_N, seed: int = SEED) -> dict:
    p = plan(n, seed)
    tmpls, _ = templates()
    return {
        "jobs": n,
        "tries": p.ntries,
        "hosts": len(p.hosts),
        "slots": p.slots,
        "edges": sum(len(ps) for ps in p.parents),
        "makespan_s": round(p.end_ts - T_START, 1),
        "mid_ts": p.mid_ts,
        "running_at_mid": p.running_at(p.mid_ts),
        "done_at_mid": p.done_by(p.mid_ts),
        "retried_jobs": p.retried_jobs,
        "failed_jobs": p.failed_jobs,
        "trace_samples": sum(int(p._t[2][i] - p._t[1][i]) for i in range(p.ntries)),
        "template_tasks": len(tmpls),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", "--jobs", type=int, default=DEFAULT_N, help="jobs (default %(default)s)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--recording", help="write a panorama recording (SQLite) here")
    ap.add_argument("--jsonl", help="write a monitord JSON event log here")
    ap.add_argument("--until", type=float, help="stop at this fraction of the run (0 < x <= 1), or this many "
                    "seconds after xwf.start (x > 1): a run still in progress")
    ap.add_argument("--stampede-db", metavar="PATH", help="write the run as a Stampede SQLite DB here")
    ap.add_argument("--subwfs", type=int, default=0, help="with --stampede-db: split the jobs into this many "
                    "sub-workflows")
    ap.add_argument("--no-traces", action="store_true", help="leave out kickstart.inv.online traces")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d = describe(args.n, args.seed)
    d["plan_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(d, indent=1))
    until = until_ts(args.n, args.until, args.seed)
    if args.stampede_db:
        t0 = time.perf_counter()
        c = write_stampede_db(args.stampede_db, args.n, until=until, seed=args.seed, subwfs=args.subwfs)
        print(f"stampede db {args.stampede_db}: {c} in {time.perf_counter() - t0:.1f} s")
    if args.recording:
        t0 = time.perf_counter()
        c = write_recording(args.recording, args.n, until=until, traces=not args.no_traces, seed=args.seed)
        print(f"recording {args.recording}: {c} events in {time.perf_counter() - t0:.1f} s")
    if args.jsonl:
        t0 = time.perf_counter()
        c = write_jsonl(args.jsonl, args.n, until=until, traces=not args.no_traces, seed=args.seed)
        print(f"jsonl {args.jsonl}: {c} events in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
