"""Statistics of a 100k-job Stampede DB: panorama-top vs the real pegasus-statistics.

1. The run: ``generate.py``'s Pegasus-shaped workflow (the real WfCommons task
   shapes, 100k jobs, retries and failures) as monitord's events.
2. The DB: those events written into an SQLite file with the Stampede schema's
   own DDL (``shared/data/pegasus/schema/stampede-sqlite-schema-5.0.1.sql``,
   dumped from a DB pegasus-monitord 5.1.3 created), by :func:`write_stampede_db`,
   which applies the event -> row rules of Pegasus's loader
   (``Pegasus.db.workflow_loader``) directly: the real loader needs ~12 s per
   1,000 jobs (~20 min here).  To keep it honest the same events for a small
   run (``--validate``, 300 jobs) go through both, and every table must hold
   the same rows.
3. In one run, on the same DB: panorama-top cold, i.e. ``sqlstats`` (the
   statistics computed in the DB with SQL: summary, wall times, breakdown, time
   per host/day, jobs, integrity, workflow rows), and ``pegasus-statistics -s
   all -f csv`` (the real one, ``pegasus-wms`` 5.1.3, its own process); the
   numbers are compared figure by figure and the ratio of the times printed
   (target: >= 10x).  For information: the same figures by ``StampedeDbSource``
   -> ``Store`` -> ``pegstats`` ("cold via store"), and pegstats recomputed on
   a store the run keeps changing ("live", what the statistics view does).

``python -m benchmarks.bench_stats [--n 100000] [--validate 300] [--keep] [--json FILE]``.  The
DB is cached under ``benchmarks/out/`` (git-ignored).  Exit status 0 when the numbers are the
same and the cold ratio meets its target (``benchmarks.run`` reads it so), else 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate as G  # noqa: E402

OUT = os.path.join(HERE, "out")
VERSION = "1"
TARGET = 10.0
TZ = "UTC"
DDL = os.path.join(G.SHARED, "pegasus", "schema", "stampede-sqlite-schema-5.0.1.sql")

# event -> jobstate.state by status (Pegasus.db.workflow_loader.WorkflowLoader.jobstate)
from panorama_tui.core.stampede import JOBSTATE_NAMES as STATES  # noqa: E402
# event key -> job_instance column, for the instance's insert and merges (linedataToObject's remap)
JI_COLS = {"sched_id": "sched_id", "site": "site", "user": "user", "work_dir": "work_dir",
           "cluster_start": "cluster_start", "cluster_dur": "cluster_duration", "local_dur": "local_duration",
           "stdout_file": "stdout_file", "stdout_text": "stdout_text", "stderr_file": "stderr_file",
           "stderr_text": "stderr_text", "stdin_file": "stdin_file", "multiplier_factor": "multiplier_factor",
           "exitcode": "exitcode"}
JI_ORDER = ("job_instance_id", "job_id", "host_id", "job_submit_seq", "sched_id", "site", "user", "work_dir",
            "cluster_start", "cluster_duration", "local_duration", "subwf_id", "stdout_file", "stdout_text",
            "stderr_file", "stderr_text", "stdin_file", "multiplier_factor", "exitcode")
_INT = ("job_submit_seq", "multiplier_factor", "exitcode")
_REAL = ("cluster_start", "cluster_duration", "local_duration")


def _argv(v):
    """The loader's argv escaping (linedataToObject)."""
    return None if v is None else v.replace("\\", "\\\\").replace("'", "\\'")


def _num(v, kind=float):
    if v is None or v == "":
        return None
    try:
        return kind(v) if kind is float else int(float(v))
    except (TypeError, ValueError):
        return v


def create_schema(conn: sqlite3.Connection) -> None:
    with open(DDL) as f:
        ddl = f.read()
    # sqlite_sequence is SQLite's own (AUTOINCREMENT makes it)
    ddl = re.sub(r"CREATE TABLE sqlite_sequence\(name,seq\);", "", ddl)
    conn.executescript(ddl)
    conn.execute("INSERT INTO dbversion (version_number, version, version_timestamp) VALUES (14, '14', ?)",
                 (int(time.time()),))


def write_stampede_db(path: str, events) -> dict:
    """Write monitord-shaped events (dicts, JSON keys) as Stampede rows; counts per table."""
    if os.path.exists(path):
        os.unlink(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    create_schema(conn)
    wf_ids: dict[str, int] = {}
    wf_root: dict[int, int] = {}
    workflows, wfstates, wfmeta = [], [], []
    jobs: dict[tuple, int] = {}
    job_rows, job_edges, task_edges = [], [], []
    tasks: dict[tuple, list] = {}
    inst: dict[tuple, dict] = {}
    jobstates, invocations, integrity, tags = [], [], [], []
    hosts: dict[tuple, int] = {}
    host_rows = []

    def ji_of(d):
        wf = wf_ids.get(d.get("xwf_id"))
        job = jobs.get((wf, d.get("job_id")))
        return inst.get((job, _num(d.get("job_inst_id"), int)))

    for d in events:
        name = d["event"]
        if name == "stampede.wf.plan":
            wf_id = len(workflows) + 1
            wf_ids[d["xwf_id"]] = wf_id
            parent = wf_ids.get(d.get("parent_xwf_id"))
            root = wf_ids.get(d.get("root_xwf_id"), wf_id)
            wf_root[wf_id] = root
            workflows.append((wf_id, d["xwf_id"], d.get("dag_file_name"), _num(d.get("ts")), d.get("submit_hostname"),
                              d.get("submit_dir"), _argv(d.get("argv")), d.get("user"), d.get("grid_dn"),
                              d.get("planner_version"), d.get("dax_label"), d.get("dax_version"), d.get("dax_file"),
                              d.get("db_url"), parent, root))
        elif name in ("stampede.xwf.start", "stampede.xwf.end"):
            wfstates.append((wf_ids[d["xwf_id"]], "WORKFLOW_TERMINATED" if name.endswith("end") else "WORKFLOW_STARTED",
                             _num(d.get("ts")), _num(d.get("restart_count"), int) or 0, _num(d.get("status"), int),
                             d.get("reason")))
        elif name == "stampede.xwf.meta":
            wfmeta.append((wf_ids[d["xwf_id"]], d["key"], d["value"]))
        elif name == "stampede.task.info":
            wf = wf_ids[d["xwf_id"]]
            tasks[(wf, d["task_id"])] = [len(tasks) + 1, wf, None, d["task_id"], d.get("transformation"),
                                         _argv(d.get("argv")), d.get("type_desc")]
        elif name == "stampede.task.edge":
            task_edges.append((wf_ids[d["xwf_id"]], d["parent_task_id"], d["child_task_id"]))
        elif name == "stampede.job.info":
            wf = wf_ids[d["xwf_id"]]
            job_id = len(job_rows) + 1
            jobs[(wf, d["job_id"])] = job_id
            job_rows.append((job_id, wf, d["job_id"], d.get("submit_file"), d.get("type_desc"),
                             1 if str(d.get("clustered")) in ("1", "True", "true") else 0,
                             _num(d.get("max_retries"), int), d.get("executable"), _argv(d.get("argv")),
                             _num(d.get("task_count"), int)))
        elif name == "stampede.job.edge":
            job_edges.append((wf_ids[d["xwf_id"]], d["parent_job_id"], d["child_job_id"]))
        elif name == "stampede.wf.map.task_job":
            wf = wf_ids[d["xwf_id"]]
            tasks[(wf, d["task_id"])][2] = jobs[(wf, d["job_id"])]
        elif name in ("stampede.job_inst.submit.start", "stampede.job_inst.pre.start"):
            wf = wf_ids[d["xwf_id"]]
            job = jobs[(wf, d["job_id"])]
            key = (job, _num(d["job_inst_id"], int))
            if key not in inst:
                row = {"job_instance_id": len(inst) + 1, "job_id": job, "job_submit_seq": key[1],
                       "multiplier_factor": 1}
                for k, col in JI_COLS.items():
                    if k in d:
                        row[col] = d[k]
                inst[key] = row
            if name.endswith("pre.start"):
                jobstates.append((inst[key]["job_instance_id"], "PRE_SCRIPT_STARTED", _num(d["ts"]),
                                  _num(d["js_id"], int), d.get("reason")))
        elif name in STATES:
            row = ji_of(d)
            if row is None:
                continue  # the loader logs "No job_instance_id for event" and drops it
            if name in ("stampede.job_inst.main.end", "stampede.job_inst.post.end"):
                for k, col in JI_COLS.items():  # the merge: the event's fields, present ones only
                    if k in d:
                        row[col] = d[k]
            st = STATES[name][0 if _num(d.get("status"), int) == -1 else 1]
            jobstates.append((row["job_instance_id"], st, _num(d["ts"]), _num(d["js_id"], int), d.get("reason")))
        elif name == "stampede.job_inst.host.info":
            row = ji_of(d)
            root = wf_root[wf_ids[d["xwf_id"]]]
            hk = (root, d.get("site"), d.get("hostname"), d.get("ip"))
            if hk not in hosts:
                hosts[hk] = len(host_rows) + 1
                host_rows.append((hosts[hk], root, hk[1], hk[2], hk[3], d.get("uname"),
                                  _num(d.get("total_memory"), int)))
            if row is not None:
                row["host_id"] = hosts[hk]
        elif name == "stampede.inv.end":
            row = ji_of(d)
            if row is None:
                continue
            invocations.append((wf_ids[d["xwf_id"]], row["job_instance_id"], _num(d["inv_id"], int),
                                _num(d.get("start_time")), _num(d.get("dur")), _num(d.get("remote_cpu_time")),
                                _num(d.get("exitcode"), int), d.get("transformation"), d.get("executable"),
                                _argv(d.get("argv")), d.get("task_id"), _num(d.get("maxrss"), int),
                                _num(d.get("avg_cpu"))))
        elif name == "stampede.xwf.map.subwf_job":
            row = ji_of(d)
            if row is not None:
                row["subwf_id"] = wf_ids.get(d.get("subwf_id"))
        elif name == "stampede.int.metric":
            row = ji_of(d)
            if row is not None:
                integrity.append((wf_ids[d["xwf_id"]], row["job_instance_id"], d.get("type"), d.get("file_type"),
                                  _num(d.get("count"), int), _num(d.get("duration"))))
        elif name == "stampede.job_inst.tag":
            row = ji_of(d)
            if row is not None:
                tags.append((wf_ids[d["xwf_id"]], row["job_instance_id"], d.get("name"), _num(d.get("count"), int)))

    def ji_tuple(r):
        out = []
        for col in JI_ORDER:
            v = r.get(col)
            if col in _INT:
                v = _num(v, int)
            elif col in _REAL:
                v = _num(v)
            out.append(v)
        return tuple(out)

    with conn:
        conn.executemany(f"INSERT INTO workflow VALUES ({','.join('?' * 16)})", workflows)
        conn.executemany("INSERT OR IGNORE INTO workflowstate VALUES (?,?,?,?,?,?)", wfstates)
        conn.executemany("INSERT OR IGNORE INTO workflow_meta VALUES (?,?,?)", wfmeta)
        conn.executemany(f"INSERT INTO job VALUES ({','.join('?' * 10)})", job_rows)
        conn.executemany("INSERT OR IGNORE INTO job_edge VALUES (?,?,?)", job_edges)
        conn.executemany("INSERT OR IGNORE INTO task_edge VALUES (?,?,?)", task_edges)
        conn.executemany("INSERT INTO task VALUES (?,?,?,?,?,?,?)", [tuple(t) for t in tasks.values()])
        conn.executemany("INSERT INTO host VALUES (?,?,?,?,?,?,?)", host_rows)
        conn.executemany(f"INSERT INTO job_instance VALUES ({','.join('?' * len(JI_ORDER))})",
                         [ji_tuple(r) for r in inst.values()])
        conn.executemany("INSERT OR IGNORE INTO jobstate VALUES (?,?,?,?,?)", jobstates)
        conn.executemany("INSERT OR IGNORE INTO invocation (wf_id, job_instance_id, task_submit_seq, start_time, "
                         "remote_duration, remote_cpu_time, exitcode, transformation, executable, argv, abs_task_id,"
                         " maxrss, avg_cpu) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", invocations)
        conn.executemany("INSERT OR IGNORE INTO integrity (wf_id, job_instance_id, type, file_type, count, duration)"
                         " VALUES (?,?,?,?,?,?)", integrity)
        conn.executemany("INSERT OR IGNORE INTO tag (wf_id, job_instance_id, name, count) VALUES (?,?,?,?)", tags)
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in
              ("workflow", "job", "task", "job_instance", "jobstate", "invocation", "host")}
    conn.close()
    return counts


def run_events(n: int):
    yield from G.static_events(n)
    yield from G.timeline_events(n, traces=False)


# -- honesty: the same rows as Pegasus's own loader ----------------------------------


def dump(path: str) -> dict:
    """Every table as a sorted list of rows, surrogate ids replaced by natural keys."""
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    wf = dict(c.execute("SELECT wf_id, wf_uuid FROM workflow"))
    job = {r[0]: (wf[r[1]], r[2]) for r in c.execute("SELECT job_id, wf_id, exec_job_id FROM job")}
    ji = {r[0]: job[r[1]] + (r[2],) for r in c.execute("SELECT job_instance_id, job_id, job_submit_seq FROM job_instance")}
    host = {r[0]: r[1:] for r in c.execute("SELECT host_id, site, hostname, ip FROM host")}

    def norm(v):
        return round(v, 9) if isinstance(v, float) else v

    def rows(sql, fix):
        return sorted((tuple(norm(x) for x in fix(r)) for r in c.execute(sql)), key=repr)

    out = {
        "workflow": rows("SELECT wf_uuid, dag_file_name, timestamp, submit_hostname, submit_dir, planner_arguments, user, "
                         "planner_version, dax_label, dax_version, dax_file, parent_wf_id, root_wf_id FROM workflow",
                         lambda r: r[:11] + (wf.get(r[11]), wf.get(r[12]))),
        "workflowstate": rows("SELECT * FROM workflowstate", lambda r: (wf[r[0]],) + r[1:]),
        "workflow_meta": rows("SELECT * FROM workflow_meta", lambda r: (wf[r[0]],) + r[1:]),
        "job": rows("SELECT * FROM job", lambda r: (wf[r[1]],) + r[2:]),
        "job_edge": rows("SELECT * FROM job_edge", lambda r: (wf[r[0]],) + r[1:]),
        "task": rows("SELECT * FROM task", lambda r: (wf[r[1]], job.get(r[2])) + r[3:]),
        "host": rows("SELECT * FROM host", lambda r: (wf[r[1]],) + r[2:]),
        "job_instance": rows("SELECT * FROM job_instance",
                             lambda r: (job[r[1]], host.get(r[2])) + r[3:11] + (wf.get(r[11]),) + r[12:]),
        "jobstate": rows("SELECT * FROM jobstate", lambda r: (ji[r[0]],) + r[1:]),
        "invocation": rows("SELECT * FROM invocation", lambda r: (wf[r[1]], ji[r[2]]) + r[3:]),
        "integrity": rows("SELECT * FROM integrity", lambda r: (wf[r[1]], ji[r[2]]) + r[3:]),
    }
    c.close()
    return out


def validate(n: int, outdir: str) -> tuple[bool, str]:
    """The fast writer and Pegasus's WorkflowLoader on the same ``n``-job run: same rows?"""
    try:
        import logging

        if not hasattr(logging.Logger, "trace"):
            logging.Logger.trace = lambda self, msg, *a, **k: self.log(5, msg, *a, **k)
        logging.getLogger("Pegasus").setLevel(logging.ERROR)
        import warnings

        warnings.filterwarnings("ignore")
        from Pegasus.db.workflow_loader import WorkflowLoader
        from Pegasus.tools import properties
    except ImportError:
        return False, "pegasus-wms not installed: not validated"
    fast = os.path.join(outdir, f"validate-n{n}-fast.db")
    slow = os.path.join(outdir, f"validate-n{n}-pegasus.db")
    for p in (fast, slow):
        if os.path.exists(p):
            os.unlink(p)
    write_stampede_db(fast, run_events(n))
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()):
        loader = WorkflowLoader("sqlite:///" + slow, batch=True, props=properties.Properties())
        for d in run_events(n):
            d = dict(d)
            for k in ("xwf_id", "job_id", "task_id", "subwf_id", "job_inst_id"):
                if k in d:
                    d[k.replace("_id", ".id")] = d[k]  # some loader handlers read dotted keys
            loader.process(d)
        loader.finish()
    a, b = dump(fast), dump(slow)
    bad = [t for t in a if a[t] != b[t]]
    total = sum(len(v) for v in b.values())
    if bad:
        return False, f"tables differ from Pegasus's loader: {', '.join(bad)}"
    return True, f"{n} jobs: all {total} rows equal to Pegasus's own loader's"


# -- the two statistics ------------------------------------------------------------------


def as_res(a: dict) -> dict:
    """An ``all_statistics`` dict as :func:`compare` reads it: the CSV rows as
    pegasus-statistics writes them, workflows in the dict's order."""
    from panorama_tui.stats import store_stats as P

    wfs = [(w["wf_uuid"], w["label"]) for w in a["workflows"] if w["wf_uuid"] != "ALL"]
    res = {
        "summary": a["summary"],
        "workflow": a["workflows"],
        "breakdown": [[u, label] + P.format_breakdown(r) for u, label in wfs for r in a["breakdown"][u]]
        + [["ALL", ""] + P.format_breakdown(r) for r in a["breakdown"]["ALL"]],
        "jobs": [[u, label] + P.format_job(r) for u, label in wfs for r in a["jobs"][u]],
        "time_per_host": a["per_host"],
        "time_per_day": a["per_day"],
    }
    if "integrity" in a:
        res["integrity"] = [[u, label] + P.format_integrity(r) for u, label in wfs for r in a["integrity"][u]] \
            + [["ALL", ""] + P.format_integrity(r) for r in a["integrity"]["ALL"]]
    return res


def sql_stats(db: str, tz) -> tuple[dict, float, float]:
    """Cold: sqlstats on the DB (the first call in this process); then again
    (median of three more), for information."""
    from panorama_tui.stats.sql_stats import all_statistics_db

    t0 = time.perf_counter()
    a = all_statistics_db(db, tz=tz)
    cold = time.perf_counter() - t0
    again = []
    for _ in range(3):
        t0 = time.perf_counter()
        all_statistics_db(db, tz=tz)
        again.append(time.perf_counter() - t0)
    return a, cold, sorted(again)[1]


def panorama_stats(db: str, tz) -> tuple[dict, dict]:
    """Cold via store: StampedeDbSource -> Store -> pegstats; then pegstats
    again on the built store (what the statistics view recomputes as the run
    goes on)."""
    from panorama_tui.stats import store_stats as P
    from panorama_tui.pipeline.read import read_stampede_db as read_store

    t0 = time.perf_counter()
    store = read_store(db)
    t1 = time.perf_counter()
    root = store.roots[0]
    a = P.all_statistics(store, root, tz)
    t2 = time.perf_counter()
    P.all_statistics(store, root, tz)
    t3 = time.perf_counter()
    return a, {"read": t1 - t0, "stats": t2 - t1, "total": t2 - t0, "live": t3 - t2,
               "events": store.event_count, "jobs": store.job_count(), "uuid": root.wf_uuid}


def close(a, b) -> bool:
    """Equal, floats to 1e-12 relative (sums add up in another order), other values
    of the same type."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


def live_refresh(n: int, tz, window: float = 60.0) -> dict:
    """The statistics view while the run goes on: a store at mid-run (built
    from the same generated events), statistics computed once, then the next
    ``window`` seconds of the run applied and the statistics computed again."""
    from panorama_tui.stats import store_stats as P
    from panorama_tui.core.events import decode
    from panorama_tui.model.store import Store

    plan = G.plan(n)
    mid = (G.T_START + plan.end_ts) / 2
    store = Store()
    store.apply_many(decode(e) for e in G.static_events(n))
    store.apply_many(decode(e) for e in G.timeline_events(n, until=mid, traces=False))
    root = store.roots[0]
    t0 = time.perf_counter()
    P.all_statistics(store, root, tz)
    t1 = time.perf_counter()
    new = [decode(e) for e in G.timeline_events(n, since=mid, until=mid + window, traces=False)]
    store.apply_many(new)
    changed = sum(1 for j in store.jobs() if any(t.state_count() and t.end_ts is None or t.start_ts is not None
                                                  and t.start_ts >= mid for t in j.tries.values()))
    t2 = time.perf_counter()
    P.all_statistics(store, root, tz)
    t3 = time.perf_counter()
    P.all_statistics(store, root, tz)
    t4 = time.perf_counter()
    return {"first": t1 - t0, "after": t3 - t2, "same": t4 - t3, "events": len(new), "changed": changed,
            "jobs": store.job_count()}


def pegasus_stats(db: str, uuid: str, outdir: str) -> tuple[str | None, float, str]:
    try:
        import Pegasus
    except ImportError:
        return None, 0.0, "pegasus-wms not installed"
    script = os.path.join(os.path.dirname(Pegasus.__file__), "cli", "pegasus-statistics.py")
    props = os.path.join(outdir, "bench-stats.properties")
    with open(props, "w") as f:
        f.write(f"pegasus.monitord.output = sqlite:///{db}\n")
    out = os.path.join(outdir, "pegasus-statistics")
    env = dict(os.environ, TZ=TZ, HOME=outdir)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, script, "-s", "all", "-f", "csv", "-o", out, "-c", props, "-u", uuid],
                       env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        return None, dt, (r.stderr or r.stdout).strip().splitlines()[-1:][0] if (r.stderr or r.stdout).strip() else "failed"
    return out, dt, ""


def _rows(path) -> list[list[str]]:
    out = []
    with open(path) as f:
        text = f.read()
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith(" "):
            continue
        row = next(csv.reader(io.StringIO(line)))
        if row[0] in ("Workflow_Id", "stat_type", "Type"):
            continue
        out.append(row)
    return out


def compare(res: dict, csvdir: str) -> list[str]:
    """Figure by figure; the list of what differs (empty: same numbers)."""
    from panorama_tui.stats import store_stats as P

    bad = []
    st = res["summary"]
    summ = {r[0]: r for r in _rows(os.path.join(csvdir, "summary.csv"))}
    for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
        c = st[key]
        got = [str(c[x]) for x in ("succeeded", "failed", "incomplete", "total", "retries", "total_with_retries")]
        if got != summ[title][1:]:
            bad.append(f"summary {title}: {got} != {summ[title][1:]}")
    times = {r[0]: float(r[1]) for r in _rows(os.path.join(csvdir, "summary-time.csv")) if r[1] != ""}
    for mine, theirs in (("workflow_wall_time", "workflow_wall_time"),
                         ("cumulative_job_wall_time", "workflow_cumulative_job_wall_time"),
                         ("submit_side_wall_time", "cumulative_job_walltime_from_submit_side"),
                         ("cumulative_job_badput", "workflow_cumulative_badput_time"),
                         ("submit_side_badput", "cumulative_job_badput_walltime_from_submit_side")):
        a, b = st[mine], times.get(theirs)
        if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)):
            bad.append(f"{mine}: {a} != {b}")
    wrows = []
    for r in res["workflow"]:
        for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
            c = r[key]
            wrows.append([r["wf_uuid"], r["label"] or "", title] + [str(c[x]) for x in (
                "succeeded", "failed", "incomplete", "total", "retries", "total_with_retries")]
                + ["" if r["workflow_retries"] is None else str(r["workflow_retries"])])
    tables = [("workflow rows", wrows, "workflow.csv"), ("breakdown rows", res["breakdown"], "breakdown.csv"),
              ("jobs rows", res["jobs"], "jobs.csv")]
    if "integrity" in res:
        tables.append(("integrity rows", res["integrity"], "integrity.csv"))
    for name, mine, fname in tables:
        theirs = _rows(os.path.join(csvdir, fname))
        if mine != theirs:
            diff = sum(1 for a, b in zip(mine, theirs) if a != b) + abs(len(mine) - len(theirs))
            bad.append(f"{name}: {diff} of {len(theirs)} differ")

    def fmt(kind, r):
        return [kind, r["date"]] + ([r["host"]] if "host" in r else []) + [str(r["count"]), P.fstr(r["runtime"])]

    tph, tpd = res["time_per_host"], res["time_per_day"]
    for name, mine, fname in (
        ("time per host", [fmt("jobs/host/day", r) for r in tph["jobs"]]
         + [fmt("invocations/host/day", r) for r in tph["invocations"]], "time-per-host.csv"),
        ("time per day", [fmt("jobs/day", r) for r in tpd["jobs"]]
         + [fmt("invocations/day", r) for r in tpd["invocations"]], "time.csv"),
    ):
        theirs = _rows(os.path.join(csvdir, fname))
        if mine != theirs:
            bad.append(f"{name}: {sum(1 for a, b in zip(mine, theirs) if a != b)} of {len(theirs)} rows differ")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=G.DEFAULT_N, help="jobs (default 100000)")
    ap.add_argument("--quick", action="store_true", help="10,000 jobs")
    ap.add_argument("--validate", type=int, default=300, help="jobs for the check against Pegasus's loader (0: skip)")
    ap.add_argument("--keep", action="store_true", help="reuse a cached DB")
    ap.add_argument("--no-pegasus", action="store_true", help="time panorama-top only")
    ap.add_argument("--json", metavar="FILE", help="also write the figures (benchmarks.run's format) here")
    args = ap.parse_args(argv)
    if args.quick:
        args.n = 10_000
    os.makedirs(OUT, exist_ok=True)
    from zoneinfo import ZoneInfo

    from benchmarks.run import figure, write_json

    tz = ZoneInfo(TZ)
    print(f"bench_stats: {args.n} jobs (generate.py, WfCommons shapes); TZ={TZ} for both")
    if args.validate:
        t = time.perf_counter()
        ok, msg = validate(args.validate, OUT)
        print(f"  DB writer check:      {'OK' if ok else 'FAILED'}: {msg} ({time.perf_counter() - t:.1f} s)")
        if not ok and "not installed" not in msg:
            return 1
    db = os.path.join(OUT, f"stats-v{VERSION}-n{args.n}.stampede.db")
    if not (args.keep and os.path.exists(db)):
        t = time.perf_counter()
        counts = write_stampede_db(db, run_events(args.n))
        print(f"  DB written:           {db} ({time.perf_counter() - t:.1f} s; "
              + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ")")
    else:
        print(f"  DB reused:            {db}")
    sql, cold, again = sql_stats(db, tz)
    n_jobs = sum(w["jobs"]["total"] + w["sub_workflows"]["total"] for w in sql["workflows"] if w["wf_uuid"] == "ALL")
    print(f"  panorama-top cold:    {cold:.2f} s  (sqlstats: the statistics computed in the DB with SQL, "
          f"{n_jobs:,} jobs; again: {again:.2f} s)")
    via, pt = panorama_stats(db, tz)
    print(f"  cold via store:       {pt['total']:.2f} s  (StampedeDbSource -> Store {pt['read']:.2f} s, "
          f"{pt['events']:,} events, {pt['jobs']:,} jobs; pegstats {pt['stats']:.2f} s; for information)")
    print(f"  pegstats again:       {pt['live']:.2f} s  (on the same store: per-bucket cache)")
    same_paths = close({k: v for k, v in sql.items() if k in via}, via)
    print(f"  sqlstats = pegstats:  {'yes' if same_paths else 'NO'} (every figure, on the store of the same DB)")
    lv = live_refresh(args.n, tz)
    print(f"  panorama-top live:    {lv['after']:.2f} s  (store at mid-run, {lv['jobs']:,} jobs: first pegstats "
          f"{lv['first']:.2f} s; then {lv['events']:,} events of the next minute applied: pegstats again "
          f"{lv['after']:.2f} s; unchanged {lv['same']:.2f} s)")
    figs = [figure("stats cold (sqlstats)", cold, "s", note=f"{n_jobs:,}-job Stampede DB", fmt="{:.2f}"),
            figure("stats cold via store", pt["total"], "s", fmt="{:.2f}"),
            figure("stats live refresh", lv["after"], "s", fmt="{:.2f}")]
    if args.no_pegasus:
        write_json(args.json, figs)
        return 0 if same_paths else 1
    out, dt, err = pegasus_stats(db, pt["uuid"], OUT)
    if out is None:
        print(f"  pegasus-statistics:   not run ({err})")
        write_json(args.json, figs)
        return 0 if same_paths else 1
    print(f"  pegasus-statistics:   {dt:.2f} s  (-s all -f csv, its own process)")
    bad = [f"sqlstats: {b}" for b in compare(as_res(sql), out)] + [f"store: {b}" for b in compare(as_res(via), out)]
    if bad:
        print("  same numbers:         NO")
        for b in bad:
            print(f"    {b}")
    else:
        print("  same numbers:         yes (summary, wall times, badput, workflow, breakdown, jobs, integrity, "
              "time per host/day; sqlstats and via the store)")
    ratio = dt / cold if cold else float("inf")
    via_ratio = dt / pt["total"] if pt["total"] else float("inf")
    live = dt / lv["after"] if lv["after"] else float("inf")
    print(f"  ratio cold:           {ratio:.1f}x (pegasus-statistics / sqlstats on the DB; "
          f"target >= {TARGET:.0f}x: {'met' if ratio >= TARGET else 'missed'})")
    print(f"  ratio cold via store: {via_ratio:.1f}x (pegasus-statistics / DB->Store->pegstats; for information)")
    print(f"  ratio live:           {live:.1f}x (pegasus-statistics / pegstats refreshed on the live store; "
          f"target >= {TARGET:.0f}x: {'met' if live >= TARGET else 'missed'})")
    figs[0] = figure("stats cold (sqlstats)", cold, "s", baseline=dt, baseline_note="pegasus-statistics",
                     ratio=ratio, target=dt / TARGET, better="lower", note=f"{n_jobs:,}-job Stampede DB",
                     fmt="{:.2f}")
    figs[1] = figure("stats cold via store", pt["total"], "s", baseline=dt, baseline_note="pegasus-statistics",
                     ratio=via_ratio, fmt="{:.2f}")
    figs[2] = figure("stats live refresh", lv["after"], "s", baseline=dt, baseline_note="pegasus-statistics",
                     ratio=live, target=dt / TARGET, better="lower", fmt="{:.2f}")
    write_json(args.json, figs)
    return 1 if bad or not same_paths or ratio < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
