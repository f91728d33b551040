"""Make tests/data/held: Pegasus runs with a held job, made by the real Pegasus tools.

The shared runs have no held job, so this takes the real ``process_wf_success``
submit dir from ``../shared/data`` and extends its ``dagman.out`` with the lines
HTCondor 10's DAGMan writes (formats copied from DAGMan's own source,
``src/condor_dagman/dag.cpp``: ``PrintEvent``, ``ProcessHeldEvent``,
``ProcessAbortEvent``, ``ProcessPostTermEvent``, and from the shared failed run
for the abort): ``ls_ID0000001`` is held ("Transfer input files failure"), the
job's own ``periodic_remove`` (held > 10 s) removes it (``ULOG_JOB_ABORTED``),
its POST script fails, DAGMan retries it, the retry is held and removed too,
and the DAG aborts.  The job never ran, so its kickstart output files are
deleted from the copy.  Then the real ``pegasus-monitord`` 5.1.3 replays
(``-r``) each case into a Stampede DB, jobstate.log and a JSON event log, and
the real ``pegasus-analyzer``, ``pegasus-statistics -s all`` and
``pegasus-status`` give the expected answers.  Three cases:

* ``removed``: the whole run (held, removed, retried, held, removed; the DAG fails);
* ``held``: the same dagman.out cut while the retry is held (the DAG still running);
* ``stale``: the unchanged ``process_wf_success`` run, its Stampede DB written by
  monitord from a dagman.out cut after the third job, beside the whole run's
  jobstate.log and dagman.out: a DB that lags its jobstate.log.

Each case is ``CASE/submit/`` (braindump.yml, properties, .dag, dagman.out,
jobstate.log, monitord.started/.done, the Stampede DB as SQL: ``process-0.stampede.sql``), ``CASE/events.json``
and ``CASE/expected/`` (analyzer.txt, status.txt, status.json, statistics-csv/,
summary.txt), the tools' answers on the DB itself.

    python scripts/make_held_fixture.py [SHARED_DATA_DIR] [OUT_DIR]
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = "process_wf_success"
DAG = "process-0.dag"
DAGMAN_OUT = DAG + ".dagman.out"
DB = "process-0.stampede.db"
DB_SQL = "process-0.stampede.sql"
JOB = "ls_ID0000001"
TZ = "America/Los_Angeles"  # dagman.out times are naive local times of the submit host
KEEP = ("braindump.yml", "pegasus.5327005374169176428.properties", DAG, DAGMAN_OUT, "jobstate.log", DB,
        "monitord.started", "monitord.done")  # pegasus-statistics reads what monitord finished loading
HOLD_REASON = (
    "Transfer input files failure at access point workflow.isi.edu while sending files to execution point "
    "slot1@workflow.isi.edu. Details: reading from file /home/mzalam/processwf/submit/mzalam/pegasus/process/"
    "run0001/pegasus-worker-5.0.5-x86_64_rhel_8.tar.gz: (errno 2) No such file or directory"
)
POST = ("/home/mzalam/pegasus-5.0.5/bin/pegasus-exitcode  -r $RETURN -s PegasusLite:+exitcode+0 "
        "-l process-0.exitcode.log -M process-0.cache.meta   .//00/00/ls_ID0000001.out")
NODES_LOG = "/home/mzalam/processwf/submit/mzalam/pegasus/process/run0001/./process-0.dag.nodes.log"


def status(t: str, done, queued, post, ready, unready, failed, futile, held, dag_status="0 (DAG_STATUS_OK)"):
    """DAGMan's progress table, as it prints it after a cycle that changed a count."""
    return [
        f"{t} DAG status: {dag_status}",
        f"{t} Of 5 nodes total:",
        f"{t}  Done     Pre   Queued    Post   Ready   Un-Ready   Failed   Futile",
        f"{t}   ===     ===      ===     ===     ===        ===      ===      ===",
        f"{t}{done:>6}{0:>8}{queued:>9}{post:>8}{ready:>8}{unready:>11}{failed:>9}{futile:>9}",
        f"{t} {held} job proc(s) currently held",
    ]


def held_try(day: str, ids: str, times: tuple) -> list[str]:
    """One submission of the job: submitted, held, until DAGMan's hold line and table."""
    seen_submit, submitted, seen_held, held_at = times
    return [
        f"{day} {seen_submit} Currently monitoring 1 HTCondor log file(s)",
        f"{day} {seen_submit} Reassigning the id of job {JOB} from ({ids}) to ({ids})",
        f"{day} {seen_submit} Event: ULOG_SUBMIT for HTCondor Node {JOB} ({ids}) {{{day} {submitted}}}",
        f"{day} {seen_submit} Number of idle job procs: 1",
        f"{day} {seen_held} Currently monitoring 1 HTCondor log file(s)",
        f"{day} {seen_held} Event: ULOG_JOB_HELD for HTCondor Node {JOB} ({ids}) {{{day} {held_at}}}",
        f"{day} {seen_held}   Hold reason: {HOLD_REASON}",
        f"{day} {seen_held} Number of idle job procs: 1",
        *status(f"{day} {seen_held}", 1, 1, 0, 0, 3, 0, 0, 1),
    ]


def removed_try(day: str, ids: str, times: tuple) -> list[str]:
    """The held job removed by its periodic_remove, and its POST script failing."""
    seen_abort, aborted, seen_post, post_at = times
    return [
        f"{day} {seen_abort} Currently monitoring 1 HTCondor log file(s)",
        f"{day} {seen_abort} Event: ULOG_JOB_ABORTED for HTCondor Node {JOB} ({ids}) {{{day} {aborted}}}",
        f"{day} {seen_abort} Number of idle job procs: 0",
        f"{day} {seen_abort} Node {JOB} job completed",
        f"{day} {seen_abort} Running POST script of Node {JOB}...",
        f"{day} {seen_abort} Warning: mysin has length 0 (ignore if produced by DAGMan; see gittrac #4987, #5031)",
        *status(f"{day} {seen_abort}", 1, 0, 1, 0, 3, 0, 0, 0),
        f"{day} {seen_abort} Initializing user log writer for {NODES_LOG}, ({ids})",
        f"{day} {seen_post} Currently monitoring 1 HTCondor log file(s)",
        f"{day} {seen_post} Event: ULOG_POST_SCRIPT_TERMINATED for HTCondor Node {JOB} ({ids}) {{{day} {post_at}}}",
        f"{day} {seen_post} POST Script of node {JOB} failed with status 1",
        f"{day} {seen_post} POST for Node {JOB} returned 1",
    ]


def held_run_lines(original: list[str]) -> tuple[list[str], int]:
    """The run's dagman.out up to the job's submission, then the held story; and the
    number of lines up to the retry's hold (the ``held`` cut)."""
    end = next(i for i, ln in enumerate(original) if f"Reassigning the id of job {JOB}" in ln)
    head = original[:end - 1]  # up to the table (and its statistics line) after the submission
    d = "03/03/23"
    lines = head + held_try(d, "3.0.0", ("22:24:09", "22:24:04", "22:24:24", "22:24:19"))
    lines += removed_try(d, "3.0.0", ("22:24:39", "22:24:35", "22:24:44", "22:24:39"))
    lines += [f"{d} 22:24:44 Retrying node {JOB} (retry #1 of 1)...", *status(f"{d} 22:24:44", 1, 0, 0, 1, 3, 0, 0, 0)]
    lines += [
        f"{d} 22:24:49 Reassigning the id of job {JOB} from (3.0.0) to (-1.-1.-1)",
        f"{d} 22:24:49 Submitting HTCondor Node {JOB} job(s)...",
        f"{d} 22:24:49 Submitting node {JOB} from file 00/00/{JOB}.sub using direct job submission",
        f"{d} 22:24:49 \tassigned HTCondor ID (4.0.0)",
        f"{d} 22:24:49 Just submitted 1 job this cycle...",
        *status(f"{d} 22:24:49", 1, 1, 0, 0, 3, 0, 0, 0),
    ]
    lines += held_try(d, "4.0.0", ("22:24:54", "22:24:49", "22:24:59", "22:24:55"))
    cut = len(lines)
    lines += removed_try(d, "4.0.0", ("22:25:14", "22:25:10", "22:25:19", "22:25:14"))
    t = f"{d} 22:25:19"
    failed_table = status(t, 1, 0, 0, 0, 0, 1, 3, 0, "2 (DAG_STATUS_NODE_FAILED)")
    lines += failed_table + [
        f"{t} ERROR: the following job(s) failed:",
        f"{t} ---------------------- Job ----------------------",
        f"{t}       Node Name: {JOB}",
        f"{t}            Noop: false",
        f"{t}          NodeID: 1",
        f"{t}     Node Status: STATUS_ERROR",
        f"{t} Node return val: 1",
        f"{t}           Error: Job failed due to DAGMAN error -1002 and POST Script failed with status 1 "
        "(after 1 node retries)",
        f"{t} Job Submit File: 00/00/{JOB}.sub",
        f"{t}     POST Script: {POST}",
        f"{t}           Retry: 1",
        f"{t}  HTCondor Job ID: (4.0.0)",
        f"{t} PARENTS: create_dir_process_0_local WAITING: 0 CHILDREN: stage_out_local_local_0_0",
        f"{t} ---------------------------------------\t<END>",
        f"{t} Aborting DAG...",
        f"{t} Writing Rescue DAG to process-0.dag.rescue001...",
        f"{t} Removing submitted jobs...",
        f"{t} Removing any/all submitted HTCondor jobs...",
        f"{t} Running: /home/mzalam/wf/condor/bin/condor_rm -const DAGManJobId==1",
        f"{t} Note: 0 total job deferrals because of -MaxJobs limit (0)",
        f"{t} Note: 0 total job deferrals because of -MaxIdle limit (1000)",
        f"{t} Note: 0 total job deferrals because of node category throttles",
        f"{t} Note: 0 total PRE script deferrals because of -MaxPre limit (20) or DEFER",
        f"{t} Note: 0 total POST script deferrals because of -MaxPost limit (20) or DEFER",
        f"{t} Note: 0 total HOLD script deferrals because of -MaxHold limit (20) or DEFER",
        *failed_table,
        f"{t} Wrote metrics file process-0.dag.metrics.",
        f"{t} **** condor_scheduniv_exec.1.0 (condor_DAGMAN) pid 132896 EXITING WITH STATUS 1",
    ]
    return lines, cut


def stale_cut(original: list[str]) -> int:
    """Lines up to the table after the third job's POST script (stage-out done)."""
    done = next(i for i, ln in enumerate(original) if "POST Script of node stage_out_local_local_0_0 completed" in ln)
    return next(i for i in range(done, len(original)) if "currently held" in original[i]) + 1


def pegasus_tool(name: str) -> str:
    import Pegasus

    return os.path.join(os.path.dirname(Pegasus.__file__), "cli", name)


def run(args, cwd, env, out=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if out is not None:
        with open(out, "w") as f:
            f.write(r.stdout)
    return r


def fresh_copy(shared: str, dst: str) -> None:
    shutil.copytree(os.path.join(shared, "pegasus", "submitdirs", RUN), dst)
    for base, dirs, files in os.walk(dst):
        for n in dirs + files:
            p = os.path.join(base, n)
            os.chmod(p, os.stat(p).st_mode | 0o200)
    for n in os.listdir(dst):
        if n.startswith("monitord.") or n in ("jobstate.log", DB):
            os.unlink(os.path.join(dst, n))


def monitord(sub: str, events: str, env: dict) -> None:
    props = os.path.join(os.path.dirname(sub), "monitord.properties")
    with open(props, "w") as f:
        f.write(f"pegasus.catalog.workflow.events.url = file://{events}\npegasus.monitord.encoding = json\n")
    r = run([pegasus_tool("pegasus-monitord.py"), "-r", "--no-notifications", "--conf", props, DAGMAN_OUT], sub, env)
    if r.returncode != 0:
        raise SystemExit(f"pegasus-monitord failed in {sub}: {r.stderr[-2000:]}")
    os.unlink(props)


def expected(sub: str, out: str, env: dict) -> None:
    os.makedirs(out, exist_ok=True)
    run([pegasus_tool("pegasus-analyzer.py"), sub], sub, env, os.path.join(out, "analyzer.txt"))
    run([pegasus_tool("pegasus-status.py"), "-l", "-Q", sub], sub, env, os.path.join(out, "status.txt"))
    run([pegasus_tool("pegasus-status.py"), "-j", "-Q", sub], sub, env, os.path.join(out, "status.json"))
    csv = os.path.join(out, "statistics-csv")
    r = run([pegasus_tool("pegasus-statistics.py"), "-s", "all", "-f", "csv", "-o", csv, sub], sub, env)
    if r.returncode != 0:
        raise SystemExit(f"pegasus-statistics failed in {sub}: {r.stderr[-2000:]}")
    text = os.path.join(out, "statistics-text")
    run([pegasus_tool("pegasus-statistics.py"), "-s", "summary", "-o", text, sub], sub, env)
    shutil.move(os.path.join(text, "summary.txt"), os.path.join(out, "summary.txt"))
    shutil.rmtree(text)
    for n in os.listdir(csv):  # pegasus-statistics leaves its own log of the run there
        if not n.endswith(".csv"):
            os.unlink(os.path.join(csv, n))


def keep_only(sub: str) -> None:
    """What the tests read, the Stampede DB as SQL text (19 KB, where the DB file is 244 KB,
    mostly empty pages of the schema's 60 tables and indexes); tests rebuild the DB from it."""
    for n in os.listdir(sub):
        p = os.path.join(sub, n)
        if n not in KEEP:
            shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    db = os.path.join(sub, DB)
    conn = sqlite3.connect(db)
    with open(os.path.join(sub, DB_SQL), "w") as f:
        f.writelines(line + "\n" for line in conn.iterdump())
    conn.close()
    os.unlink(db)


def make_case(name: str, shared: str, out: str, dagman_lines: list[str], tmp: str, env: dict,
              overlay_from: str | None = None) -> None:
    work = os.path.join(tmp, name, "submit")
    fresh_copy(shared, work)
    for n in os.listdir(os.path.join(work, "00", "00")):
        if n.startswith(JOB + ".out.") or n.startswith(JOB + ".err."):
            os.unlink(os.path.join(work, "00", "00", n))  # the held job never ran: no output
    with open(os.path.join(work, DAGMAN_OUT), "w") as f:
        f.write("\n".join(dagman_lines) + "\n")
    events = os.path.join(tmp, name, "events.json")
    monitord(work, events, env)
    if overlay_from is not None:  # the DB lags: the whole run's dagman.out and jobstate.log beside it
        for n in (DAGMAN_OUT, "jobstate.log"):
            shutil.copy(os.path.join(overlay_from, n), os.path.join(work, n))
    expected(work, os.path.join(tmp, name, "expected"), env)
    keep_only(work)
    dst = os.path.join(out, name)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(os.path.join(tmp, name), dst)


def main(argv: list[str]) -> int:
    shared = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(ROOT), "shared", "data")
    out = argv[2] if len(argv) > 2 else os.path.join(ROOT, "tests", "data", "held")
    with open(os.path.join(shared, "pegasus", "submitdirs", RUN, DAGMAN_OUT)) as f:
        original = f.read().splitlines()
    with tempfile.TemporaryDirectory(prefix="held-fixture-") as tmp:
        home = os.path.join(tmp, "home")  # monitord registers runs in ~/.pegasus: not the user's
        os.makedirs(home)
        env = dict(os.environ, TZ=TZ, HOME=home)
        lines, cut = held_run_lines(original)
        make_case("removed", shared, out, lines, tmp, env)
        make_case("held", shared, out, lines[:cut], tmp, env)
        whole = os.path.join(tmp, "whole")
        fresh_copy(shared, whole)
        monitord(whole, os.path.join(tmp, "whole.json"), env)
        make_case("stale", shared, out, original[:stale_cut(original)], tmp, env, overlay_from=whole)
    for base, _dirs, files in os.walk(out):  # no absolute temporary paths left in what is kept
        for n in files:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                if re.search(rb"held-fixture-\w+", f.read()):
                    print(f"note: {p} names the temporary directory", file=sys.stderr)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
