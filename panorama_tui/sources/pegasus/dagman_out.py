"""DAGMan's own log, ``<dag>.dagman.out``, read or followed as the Pegasus tools read it.

Two readings, each copied from the real tool (pegasus-wms 5.1.3):

Progress, as ``pegasus-status`` reads it (``Pegasus/client/status.py``)
    After every change DAGMan prints ``DAG status: N``, ``Of T nodes total:``
    and a table (Done, Pre, Queued, Post, Ready, Un-Ready, Failed and, since
    HTCondor 10, Futile).  pegasus-status keeps the last complete table: a
    DAG's % done is Done / T (two decimals), its state Failure when the DAG
    status is not 0, Success at 100 %, Running otherwise, and an ``EXITING
    WITH STATUS s`` line after the table makes it Success (s = 0) or Failure.
    :attr:`DagmanOut.progress` is that row (our state words: running,
    succeeded, failed), also sent as a ``dagman.progress`` event.  This
    reading is cheap, always on: the latest table of what was read is found
    with bytes searches, not line by line.

Job states, as ``pegasus-monitord`` reads them (``process_dagman_out`` and
``add`` in ``Pegasus/cli/pegasus-monitord.py``, ``Workflow.add_job``,
``update_job_state``, ``start_wf``, ``change_wf_state``)
    Each DAGMan line about a node becomes the jobstate.log line monitord
    writes for it: same state, job instance (monitord's job_submit_seq), site
    (the submit file's ``+pegasus_site``), time (the line's last timestamp).
    Those lines then become events exactly as jobstate.log's do
    (:class:`~.jobstate_log.JobstateLog`), so they carry the Stampede DB's
    keys and lie under the DB the way jobstate.log does.  ``nodes=True``
    only, as it reads every line.  DAGMan's start and exit (``DAGMAN_STARTED``
    / ``DAGMAN_FINISHED``, the workflow's start and end) are read in both modes.
    A sub-workflow job's submit file names its sub-DAG's dagman.out
    (``_CONDOR_DAGMAN_LOG``): found at the job's SUBMIT, as monitord finds it.

Not copied from monitord: the walltime column (from a globusrsl maxwalltime),
DAGMan's pid and version lines, the common condor log, and resuming after a
restart of monitord itself (this reader reads from the top).

dagman.out times are naive local times of the submit host.
:func:`dagman_out_clock` ties them to epoch seconds without trusting this
machine's timezone: the offset is calibrated on the ``DAGMAN_STARTED`` line
monitord wrote to jobstate.log (epoch seconds) against dagman.out's first
line, else taken from braindump's ``timestamp`` (``20230303T222333-0800``);
this machine's zone is used only when it has that same offset at that time
(so DST changes during the run are followed), and a fixed offset otherwise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ...core.events import Event
from ...core.dagman import NODE_COLUMNS, percent_done
from .jobstate_log import JobstateLog

# A poll reads at most this much: a long log arrives in slices, the screen drawn between them.
READ_BYTES = 4 * 2**20
PROGRESS_EVENT = "dagman.progress"
MAX_HEAD = 64 * 1024  # DAGMan's first line is a timestamped banner: a file without one this far is not its log


def dag_of(dagman_out: str) -> str | None:
    """``x.dag.dagman.out`` -> ``x.dag`` (DAGMan names its log after its DAG)."""
    return dagman_out[: -len(".dagman.out")] if dagman_out.endswith(".dagman.out") else None


def has_dagman_out(d: str) -> bool:
    """A DAG's log in the dir itself (not below: a home dir is not walked to find out)."""
    try:
        return any(n.endswith(".dag.dagman.out") for n in os.listdir(d))
    except OSError:
        return False


def find_dagman_outs(top: str) -> list[str]:
    """Every ``*.dag.dagman.out`` under ``top`` as pegasus-status finds them
    (``Status.get_all_dagmans``: a top-down walk that does not follow symlinked
    dirs), those in ``top`` itself first."""
    out = []
    for root, dirs, files in os.walk(top, topdown=True, followlinks=False):
        dirs.sort()
        out.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".dag.dagman.out"))
    return out


# -- the .dag file ---------------------------------------------------------------------


@dataclass
class DagNode:
    submit_file: str | None  # as the .dag names it (relative to the DAG's dir); None for a SUBDAG
    retries: int = 0
    pre: bool = False
    post: bool = False
    subdag: bool = False
    final: bool = False


@dataclass
class Dag:
    path: str
    nodes: dict[str, DagNode] = field(default_factory=dict)


_DAG_NODE = re.compile(r"(JOB|FINAL)\s+(\S+)\s(\S+)", re.IGNORECASE)  # monitord's re_parse_dag_submit_files
_DAG_SCRIPT = re.compile(r"SCRIPT (PRE|POST)\s+(\S+)\s", re.IGNORECASE)
_DAG_SUBDAG = re.compile(r"SUBDAG EXTERNAL\s+(\S+)\s", re.IGNORECASE)
_DAG_RETRY = re.compile(r"RETRY\s+(\S+)\s+(\d+)", re.IGNORECASE)


def read_dag(path: str) -> Dag:
    """The nodes of a ``.dag`` file (JOB, FINAL and SUBDAG EXTERNAL lines), their
    retries and PRE/POST scripts; an unreadable file has none."""
    dag = Dag(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return dag
    nodes = dag.nodes
    for line in lines:
        low = line.lstrip().lower()
        if low.startswith(("job", "final")):
            m = _DAG_NODE.search(line)
            if m:
                nodes[m.group(2)] = DagNode(m.group(3), final=m.group(1).lower() == "final")
        elif low.startswith("script"):
            m = _DAG_SCRIPT.search(line)
            if m and m.group(2) in nodes:
                setattr(nodes[m.group(2)], m.group(1).lower(), True)
        elif low.startswith("subdag external"):
            m = _DAG_SUBDAG.search(line)
            if m:
                nodes[m.group(1)] = DagNode(None, subdag=True)
        elif low.startswith("retry"):
            m = _DAG_RETRY.search(line)
            if m and m.group(1) in nodes:
                nodes[m.group(1)].retries = int(m.group(2))
    return dag


def dag_job_events(dag: Dag, wf_uuid: str) -> list[Event]:
    """One ``stampede.job.info`` per node: the DAG's jobs and their retries known
    before any of them ran (a run read without its Stampede DB)."""
    out = []
    for job_id, node in dag.nodes.items():
        d = {"xwf_id": wf_uuid, "job_id": job_id, "max_retries": node.retries, "provisional": True}
        if node.submit_file:
            d["submit_file"] = node.submit_file
        out.append(Event("stampede.job.info", None, d))
    return out


# -- dagman.out times ------------------------------------------------------------------

_DAGMAN_TS = re.compile(rb"^(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) ")
_EXIT = re.compile(rb"EXITING WITH STATUS (-?\d+)")


def _naive(m) -> datetime:
    mo, dd, yy, hh, mi, ss = (int(x) for x in m.groups())
    return datetime(2000 + yy, mo, dd, hh, mi, ss)


def _offset_from_braindump(ts: str | None) -> int | None:
    """``20230303T222333-0800`` -> -28800."""
    if not ts:
        return None
    m = re.search(r"([+-])(\d\d):?(\d\d)$", ts.strip())
    if not m:
        return None
    sec = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -sec if m.group(1) == "-" else sec


def _dagman_started_epoch(jobstate_log: str | None) -> float | None:
    if not jobstate_log:
        return None
    try:
        with open(jobstate_log, "rb") as f:
            for _ in range(50):
                line = f.readline()
                if not line:
                    break
                if b"DAGMAN_STARTED" in line:
                    return float(line.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None


def dagman_out_clock(naive_start: datetime, jobstate_log: str | None, braindump_ts: str | None):
    """(a function naive datetime -> epoch seconds, how the offset was found)."""
    epoch = _dagman_started_epoch(jobstate_log)
    offset = None
    how = ""
    if epoch is not None:
        offset = round((naive_start.replace(tzinfo=timezone.utc).timestamp() - epoch) / 60) * 60
        how = "calibrated on jobstate.log's DAGMAN_STARTED"
    if offset is None:
        offset = _offset_from_braindump(braindump_ts)
        how = "braindump timestamp's UTC offset" if offset is not None else ""
    if offset is None:
        return (lambda n: n.timestamp()), "this machine's timezone (no calibration available)"
    # this machine's zone, if it agrees at that time: it knows DST changes
    local = naive_start.astimezone().utcoffset()
    if local is not None and int(local.total_seconds()) == offset:
        return (lambda n: n.timestamp()), how + " (= this machine's zone)"
    tz = timezone(timedelta(seconds=offset))
    return (lambda n: n.replace(tzinfo=tz).timestamp()), how + f" (UTC{offset // 3600:+03d}:{abs(offset) % 3600 // 60:02d})"


def dagman_out_info(path: str, jobstate_log: str | None = None, braindump_ts: str | None = None) -> dict:
    """DAGMan's start and end (epoch seconds) and exit status, from dagman.out's head and tail."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8192)
        f.seek(max(0, size - 8192))
        tail = f.read()
    first = None
    for line in head.splitlines():
        m = _DAGMAN_TS.match(line)
        if m:
            first = _naive(m)
            break
    if first is None:
        return {"note": f"{os.path.basename(path)}: no timestamped line yet"}
    clock, how = dagman_out_clock(first, jobstate_log, braindump_ts)
    out = {"start": clock(first), "tz": how}
    last = None
    for line in tail.splitlines():
        m = _DAGMAN_TS.match(line)
        if m:
            last = (_naive(m), line)
    if last is not None:
        out["last"] = clock(last[0])
        m = _EXIT.search(last[1])
        if m:
            out["end"] = clock(last[0])
            out["status"] = int(m.group(1))
    return out


# -- pegasus-status's reading: the progress table --------------------------------------------

# pegasus-status's numbers row: a timestamp, then seven numbers (HTCondor 10 prints an eighth, Futile)
_ROW = re.compile(rb"\d\d/\d\d/\d\d \d\d:\d\d:\d\d((?:\s+[0-9]+){7,8})\s*$")
_TOTAL = b" nodes total:"
_DAG_STATUS = b" DAG status: "
_EXITING = b"EXITING WITH STATUS "


def _line_at(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The bounds of the line holding ``pos`` (its end excludes the newline)."""
    start = data.rfind(b"\n", 0, pos) + 1
    stop = data.find(b"\n", pos, end)
    return start, (end if stop < 0 else stop)


class _Progress:
    """pegasus-status's reading of the tables in what has been read so far."""

    def __init__(self):
        self.status = 0  # the last "DAG status: N" read
        self.total = 0  # the last "Of T nodes total:" read
        self.row: dict | None = None  # the latest complete table (None: none yet)
        self.stamp: bytes | None = None  # its line's timestamp text

    def complete_end(self, data: bytes, end: int) -> int:
        """Where the complete part of ``data[:end]`` ends: before the last table
        when its numbers row has not been written yet (read with the rest later)."""
        p = data.rfind(_TOTAL, 0, end)
        if p < 0:
            return end
        start, _ = _line_at(data, p, end)
        q = start
        for _ in range(4):  # "Of T nodes total:", the header, its underline, the numbers
            q = data.find(b"\n", q, end)
            if q < 0:
                return start
            q += 1
        return end

    def scan(self, data: bytes, end: int) -> bool:
        """Read the tables and exit line in ``data[:end]`` (complete lines); True
        when the row or its state changed."""
        before = self.row
        row_at = -1
        p = data.rfind(_TOTAL, 0, end)
        while p >= 0 and row_at < 0:
            start = _line_at(data, p, end)[0]
            lines = data[start:min(end, start + 4096)].split(b"\n", 4)  # a table's four lines
            m = _ROW.match(lines[3]) if len(lines) > 3 else None
            if m:
                row_at = start
                self._take_row(data, start, lines[0], lines[3][:17], [int(x) for x in m.group(1).split()])
            else:
                p = data.rfind(_TOTAL, 0, start)
        s = data.rfind(_DAG_STATUS, 0, end)
        if s >= 0:
            self.status = _int_after(data, s + len(_DAG_STATUS), self.status)
        t = data.rfind(_TOTAL, 0, end)
        if t >= 0:
            self.total = _total_of(data[_line_at(data, t, end)[0]:t + len(_TOTAL)], self.total)
        x = data.rfind(_EXITING, 0, end)
        if x > row_at:
            a, b = _line_at(data, x, end)
            line = data[a:b]
            code = line.split()[-1]
            if code.isdigit():  # pegasus-status wants "EXITING WITH STATUS <digit>"
                row = dict(self.row or _empty_row(self.total))
                row["state"] = "failed" if int(code) else "succeeded"
                self.row = row
                self.stamp = line[:17]
        return self.row != before

    def _take_row(self, data: bytes, start: int, total_line: bytes, stamp: bytes, values: list[int]) -> None:
        # the DAG status and total printed with this table (or carried from an earlier read)
        s = data.rfind(_DAG_STATUS, 0, start)
        status = _int_after(data, s + len(_DAG_STATUS), self.status) if s >= 0 else self.status
        total = _total_of(total_line, self.total)
        values = (values + [0])[:8]
        row = dict(zip(NODE_COLUMNS, values))
        row["total"] = total
        row["percent_done"] = percent_done(values[0], total)
        row["status"] = status
        row["state"] = "failed" if status else ("succeeded" if row["percent_done"] == 100.0 else "running")
        self.row = row
        self.stamp = stamp


def _empty_row(total: int) -> dict:
    row = dict.fromkeys(NODE_COLUMNS, 0)
    row.update(total=total, percent_done=0.0, status=0, state="running")
    return row


def _int_after(data: bytes, pos: int, default: int) -> int:
    m = re.match(rb"-?\d+", data[pos:pos + 12])
    return int(m.group()) if m else default


def _total_of(line: bytes, default: int) -> int:
    parts = line.split()  # MM/DD/YY HH:MM:SS Of T nodes total:  (pegasus-status takes the 4th word)
    return int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else default


# -- pegasus-monitord's reading: job states ---------------------------------------------------

# monitord's own patterns (Pegasus/cli/pegasus-monitord.py), kept as they are there
_TS = re.compile(r"\s*(\d{1,2})\/(\d{1,2})(\/(\d{1,2}))?\s+(\d{1,2}):(\d{2}):(\d{2})")
_EVENT = re.compile(r"Event:\s+ULOG_(\S+) for (?:HT|)Condor (?:Job|Node) (\S+)\s+\((-?[0-9]+\.[0-9]+)(\.[0-9]+)?\).*")
_SCRIPT_RUNNING = re.compile(r"\d{2}\s(?:\(D_\w*\)\s)?Running (PRE|POST) script of (?:Job|Node) (.+)\.{3}")
_SCRIPT_DONE = re.compile(r"\d{2}\s(?:\(D_\w*\)\s)?(PRE|POST) Script of (?:Job|[nN]ode) (\S+)")
_SCRIPT_OK = re.compile(r"completed successfully\.$")
_SCRIPT_FAILED = re.compile(r"failed with status\s+(-?\d+)\.?$")
_JOB_SUBMIT = re.compile(r"Submitting (?:HT|)Condor Node (.+) job")
_JOB_FAILED = re.compile(r"\d{2}\s(?:\(D_\w*\)\s)?Node (\S+) job proc \(([0-9\.]+)\) failed with (status|signal)\s+(-?\d+)\.$")
_JOB_OK = re.compile(r"\d{2}\s(?:\(D_\w*\)\s)?Node (\S+) job proc \(([0-9\.]+)\) completed successfully\.$")
_DAGMAN_FINISHED = re.compile(r"\(condor_DAGMAN\)[\w\s]+EXITING WITH STATUS (\d+)$")
_DAGMAN_ID = re.compile(r"\*\* condor_scheduniv_exec\.([0-9\.]+) \(CONDOR_DAGMAN\) STARTING UP")
_DAG_NAME = re.compile(r"Parsing (.+) ...$")
_HOLD_REASON = re.compile(r"\s*Hold reason:(.*)")
_CLASSAD = re.compile(r"^\s*\+?(pegasus_\S+)\s*=\s*(.*)")
_ENVIRONMENT = re.compile(r"^\s*environment\s*=\s*(.*)")
_PROPERTY = re.compile(r"([^:= \t]+)\s*[:=]?\s*(.*)")
UNKNOWN_FAILURE_CODE = 2  # monitord's exit code for a DAGMan run that started again without ending
# Lines monitord acts on contain one of these; the others are skipped at the cost of a few `in` tests.
_WORDS = re.compile("|".join(re.escape(w) for w in (
    "ULOG_", "Submitting", "ERROR: submit attempt failed", "script of", "Script of", " job proc (",
    "EXITING WITH STATUS", "STARTING UP", "Parsing ", "RECOVERY mode", "Hold reason:")))
# In progress-only mode only DAGMan's start and exit lines are given to monitord's reading.
_RARE = (b"(CONDOR_DAGMAN) STARTING UP", b"Parsing ", b"EXITING WITH STATUS")


class _Instance:
    __slots__ = ("state", "sched_id", "site", "dagman_out")

    def __init__(self, state: str, sched_id: str | None):
        self.state = state
        self.sched_id = sched_id
        self.site: str | None = None
        self.dagman_out: str | None = None


class _Monitord:
    """pegasus-monitord's reading of dagman.out lines: jobstate.log lines."""

    def __init__(self, dag: Dag, run_dir: str, original_dir: str | None, clock):
        self.dag = dag
        self.run_dir = run_dir
        self.original_dir = (original_dir or "").rstrip("/")
        self.clock = clock
        self.next_seq = 1
        self.latest: dict[str, int] = {}  # job -> its newest instance (monitord's _jobs_map)
        self.jobs: dict[tuple, _Instance] = {}
        self.counters: dict[str, int] = {}  # job -> SUBMITs - 1 (monitord's job counters)
        self.last_submitted: str | None = None
        self.last_known: tuple | None = None
        self.recovery = False
        self.condor_id: str | None = None
        self.wf_state: str | None = None  # "start" | "end"
        self.exit_code: int | None = None
        self.ts = 0.0
        self.start: float | None = None
        self.end: float | None = None
        self.subworkflows: list[tuple[str, str]] = []  # (job id, its sub-DAG's dagman.out), found at SUBMIT
        self._stamps: dict[str, float] = {}
        self.out: list[str] = []

    # -- one line ------------------------------------------------------------------
    def line(self, text: str) -> None:
        if _WORDS.search(text) is None:
            return  # nothing monitord acts on (most lines: tables, idle counts, statistics)
        text = text.rstrip()
        stamps = _TS.findall(text)  # monitord takes the last timestamp of a line (an event's {time})
        if not stamps:
            return
        self.ts = self._epoch(stamps[-1])
        if self.recovery:
            if "...done with RECOVERY mode" in text:
                self.recovery = False
            return
        self._dispatch(text)

    def _dispatch(self, text: str) -> None:
        if (m := _EVENT.search(text)) is not None:
            event, job = m.group(1), m.group(2)
            seq = self.add(job, event, sched_id=m.group(3))
            if event == "SUBMIT" and seq is not None:
                self._subworkflow(job, seq)
        elif (m := _JOB_SUBMIT.search(text)) is not None:
            self.add(m.group(1), "DAGMAN_SUBMIT")
        elif "ERROR: submit attempt failed" in text:
            if self.last_submitted is not None:
                self.add(self.last_submitted, "SUBMIT_FAILED")
        elif (m := _SCRIPT_RUNNING.search(text)) is not None:
            self.add(m.group(2), f"{m.group(1).upper()}_SCRIPT_STARTED")
        elif (m := _SCRIPT_DONE.search(text)) is not None:
            script, job = m.group(1).upper(), m.group(2)
            if script == "PRE":
                self.add(job, "PRE_SCRIPT_TERMINATED")  # DAGMan writes no ULOG event for it
            if _SCRIPT_OK.search(text):
                self.add(job, f"{script}_SCRIPT_SUCCESS", status=0)
            elif (f := _SCRIPT_FAILED.search(text)) is not None:
                self.add(job, f"{script}_SCRIPT_FAILURE", status=int(f.group(1)))
        elif (m := _JOB_FAILED.search(text)) is not None:
            self.add(m.group(1), "JOB_FAILURE", sched_id=m.group(2), status=int(m.group(4)))
        elif (m := _JOB_OK.search(text)) is not None:
            self.add(m.group(1), "JOB_SUCCESS", sched_id=m.group(2), status=0)
        elif (m := _DAGMAN_FINISHED.search(text)) is not None:
            self.exit_code = int(m.group(1))
            self.change_wf_state("end")
        elif (m := _DAGMAN_ID.search(text)) is not None:
            self.condor_id = m.group(1)
            self.start_wf()
        elif _DAG_NAME.search(text) is not None:
            self.change_wf_state("start")
        elif "Running in RECOVERY mode..." in text:
            self.recovery = True
        elif (m := _HOLD_REASON.search(text)) is not None and self.last_known is not None:
            job, seq = self.last_known
            inst = self.jobs.get((job, seq))
            self.add(job, "JOB_HELD_REASON", sched_id=inst.sched_id if inst is not None else None)

    def _epoch(self, g: tuple) -> float:
        """(month, day, /year, year, hour, minute, second) -> epoch seconds."""
        t = self._stamps.get(g)
        if t is None:
            if len(self._stamps) > 4096:  # one entry a second of the run: bounded
                self._stamps.clear()
            year = 2000 + int(g[3]) if g[2] else datetime.now().year
            naive = datetime(year, int(g[0]), int(g[1]), int(g[4]), int(g[5]), int(g[6]))
            t = self._stamps[g] = self.clock(naive)
        return t

    # -- monitord's add / add_job / update_job_state -----------------------------------
    def add(self, job: str, event: str, sched_id: str | None = None, status: int | None = None) -> int | None:
        seq = None
        if event == "PRE_SCRIPT_STARTED":
            seq = self.add_job(job, event)  # a PRE script always starts a new instance
            self._read_submit_file(job, seq)
        elif event == "DAGMAN_SUBMIT":
            self.last_submitted = job
            seq = self.add_job(job, event)
            self._read_submit_file(job, seq)
            return seq  # no jobstate line
        elif event in ("SUBMIT", "SUBMIT_FAILED"):
            seq = self.add_job(job, event, sched_id)
        if seq is None:
            seq = self.latest.get(job)
        if seq is None:
            return None
        self.update_job_state(job, seq, event, sched_id, status)
        return seq

    def add_job(self, job: str, state: str, sched_id: str | None = None) -> int | None:
        seq = self._same_instance(job, sched_id)
        if seq is not None:
            inst = self.jobs.get((job, seq))
            if inst is None:
                return None
            if sched_id is not None:
                inst.sched_id = sched_id
            inst.state = state
        else:
            seq = self.next_seq
            if (job, seq) in self.jobs:
                return None
            self.jobs[job, seq] = _Instance(state, sched_id)
            self.latest[job] = seq
            self.next_seq += 1
        if state == "SUBMIT":
            self.counters[job] = self.counters.get(job, -1) + 1
        return seq

    def _same_instance(self, job: str, sched_id: str | None) -> int | None:
        """monitord's find_job_submit_seq: the newest instance when it is only
        waiting for its submission (or this is its own submit event again)."""
        seq = self.latest.get(job)
        inst = self.jobs.get((job, seq)) if seq is not None else None
        if inst is None:
            return None
        if inst.state in ("PRE_SCRIPT_SUCCESS", "DAGMAN_SUBMIT"):
            return seq
        if sched_id is not None and inst.sched_id == sched_id:
            return seq
        return None

    def update_job_state(self, job: str, seq: int, state: str, sched_id: str | None, status: int | None) -> None:
        inst = self.jobs.get((job, seq))
        if inst is None:
            return
        self.last_known = (job, seq)
        inst.state = state
        if inst.sched_id is None:
            inst.sched_id = sched_id
        col4 = str(status) if status is not None else (inst.sched_id or "-")
        self.out.append(f"{int(self.ts)} {job} {state} {col4} {inst.site or '-'} - {seq}")

    def _read_submit_file(self, job: str, seq: int | None) -> None:
        """The site (``+pegasus_site``) and, for a sub-workflow job, its sub-DAG's
        dagman.out (``_CONDOR_DAGMAN_LOG`` in the environment), as monitord's
        Job.parse_sub_file reads them."""
        inst = self.jobs.get((job, seq)) if seq is not None else None
        node = self.dag.nodes.get(job)
        if inst is None or node is None or node.final:
            return
        if node.submit_file is None:
            if node.subdag:
                inst.site = "local"
            return
        env = job.startswith(("pegasus-plan", "subdax_"))
        try:
            with open(os.path.join(self.run_dir, node.submit_file), encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = _CLASSAD.search(line)
                    if m:
                        if m.group(1) == "pegasus_site":
                            inst.site = m.group(2).strip('"')
                    elif env and (e := _ENVIRONMENT.search(line)) is not None:
                        inst.dagman_out = _dagman_log_of(e.group(1))
        except OSError:
            return

    def _subworkflow(self, job: str, seq: int) -> None:
        """monitord's Workflow.has_subworkflow: the sub-DAG's dir, as planned for
        this try (``dir.NNN``, NNN = the job's SUBMITs so far - 1), else ``.000``."""
        inst = self.jobs.get((job, seq))
        if inst is None or not inst.dagman_out:
            return
        path = os.path.normpath(inst.dagman_out)
        if self.original_dir and path.startswith(self.original_dir + os.sep):
            path = os.path.join(self.run_dir, path[len(self.original_dir) + 1:])
        d, name = os.path.split(path)
        for cand in (f"{d}.{self.counters.get(job, 0):03d}", f"{d}.000"):
            if os.path.isdir(cand):
                self.subworkflows.append((job, os.path.join(cand, name)))
                return

    # -- the workflow: monitord's start_wf / change_wf_state ------------------------
    def start_wf(self) -> None:
        """DAGMan started (again): forget the instances that are done, so a node
        run again gets a new one."""
        for (job, seq), inst in list(self.jobs.items()):
            node = self.dag.nodes.get(job)
            no_post = node is not None and not node.post
            if inst.state == "POST_SCRIPT_SUCCESS" or (inst.state == "JOB_SUCCESS" and no_post):
                del self.jobs[job, seq]
                if self.latest.get(job) == seq:
                    del self.latest[job]

    def change_wf_state(self, state: str) -> None:
        if state == "start" and self.wf_state == "start":
            # two starts without an end (a crash): monitord ends the first a second before
            self.out.append(f"{int(self.ts - 1)} INTERNAL *** DAGMAN_FINISHED {UNKNOWN_FAILURE_CODE} ***")
        if state == "start":
            self.out.append(f"{int(self.ts)} INTERNAL *** DAGMAN_STARTED {self.condor_id} ***")
            self.start, self.end = self.ts, None
        else:
            self.out.append(f"{int(self.ts)} INTERNAL *** DAGMAN_FINISHED {self.exit_code} ***")
            self.end = self.ts
        self.wf_state = state


def _dagman_log_of(env_value: str) -> str | None:
    """``_CONDOR_DAGMAN_LOG`` in a submit file's environment (monitord's
    extract_dagman_out_from_condor_env: quoted, space-separated; else ``;``)."""
    stripped = re.sub(r'^"|"$', "", env_value)
    props = stripped.split(";") if len(stripped) == len(env_value) else stripped.split(" ")
    for prop in props:
        m = _PROPERTY.search(prop.strip())
        if prop.strip() and m and m.group(1) == "_CONDOR_DAGMAN_LOG":
            return m.group(2)
    return None


# -- the reader --------------------------------------------------------------------------------


class DagmanOut:
    """One dagman.out, read incrementally: :meth:`poll` returns the events of
    what was added since the last call (the file may grow, or start over).

    ``nodes``: also the job states (monitord's reading); else only progress and
    DAGMan's start and end.  ``known`` / ``wf_known`` as for
    :meth:`JobstateLog.poll`: what the Stampede DB has already shown is not sent.
    """

    def __init__(self, path: str, wf_uuid: str, nodes: bool = False, jobstate_log: str | None = None,
                 braindump_ts: str | None = None, original_dir: str | None = None, dag: Dag | None = None):
        self.path = path
        self.wf_uuid = wf_uuid
        self.nodes = nodes
        self.jobstate_log = jobstate_log
        self.braindump_ts = braindump_ts
        self.original_dir = original_dir
        self.run_dir = os.path.dirname(os.path.abspath(path))
        self.dag_path = dag_of(path)
        self.dag: Dag | None = dag
        self.error: str | None = None
        self._f = None
        self._reset()

    def _reset(self) -> None:
        self._ino = None
        self._pos = 0
        self._head = b""
        self._rest = b""
        self._clock = None
        self.tz = ""
        self._progress = _Progress()
        self._monitord: _Monitord | None = None
        self._conv = JobstateLog(self.path, self.wf_uuid)  # its line reading only: jobstate.log lines -> events

    # -- what has been read -------------------------------------------------------
    @property
    def progress(self) -> dict | None:
        """The latest progress table's row (pegasus-status's), or None before the first."""
        return self._progress.row

    @property
    def finished(self) -> bool:
        """DAGMan's exit line has been read (and no start after it)."""
        return self._monitord is not None and self._monitord.wf_state == "end"

    @property
    def exit_status(self) -> int | None:
        return self._monitord.exit_code if self.finished else None

    @property
    def start(self) -> float | None:
        return self._monitord.start if self._monitord is not None else None

    @property
    def end(self) -> float | None:
        return self._monitord.end if self.finished else None

    def take_subworkflows(self) -> list[tuple[str, str]]:
        """(job id, dagman.out) of the sub-workflows submitted since the last call."""
        if self._monitord is None or not self._monitord.subworkflows:
            return []
        out, self._monitord.subworkflows = self._monitord.subworkflows, []
        return out

    def set_nodes(self) -> None:
        """Read the job states too, from the top (monitord's reading needs all of it)."""
        if not self.nodes:
            self.nodes = True
            self.restart()

    def restart(self) -> None:
        """Read again from the top (what was built from it is being rebuilt)."""
        self.close()
        self._reset()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    # -- reading -----------------------------------------------------------------
    def poll(self, known=None, wf_known=None) -> list[Event]:
        if self._f is None and not self._open():
            return []
        out: list[Event] = []
        if self._started_over():
            self.close()
            self._reset()
            if not self._open():
                return out
        data = self._f.read(READ_BYTES)
        if not data:
            return out
        self._pos += len(data)
        if not self._head:
            self._head = data[:64]
        data = self._rest + data
        end = data.rfind(b"\n") + 1
        end = self._progress.complete_end(data, end)
        self._rest = data[end:]
        if end == 0:
            return out
        if self._clock is None and not self._set_clock(data, end):
            if len(data) > MAX_HEAD:
                self.error = f"{self.path}: no DAGMan timestamp in its first {MAX_HEAD // 1024} KiB"
                return out
            self._rest = data  # DAGMan's first line is still being written
            return out
        lines = self._monitord_lines(data, end)
        if lines:
            out.extend(self._conv.feed(lines, known, wf_known))
        if self._progress.scan(data, end):
            out.append(self._progress_event())
        return out

    def _open(self) -> bool:
        try:
            self._f = open(self.path, "rb")  # noqa: SIM115 - kept open while the log is followed
        except FileNotFoundError:
            return False
        except OSError as exc:
            self.error = f"cannot read {self.path}: {exc.strerror or exc}"
            return False
        self._ino = os.fstat(self._f.fileno()).st_ino
        return True

    def _started_over(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away, not yet replaced: finish the old one
        if st.st_ino != self._ino or st.st_size < self._pos:
            return True
        if self._head and st.st_size >= len(self._head):
            try:
                return os.pread(self._f.fileno(), len(self._head), 0) != self._head
            except OSError:
                return False
        return False

    def _set_clock(self, data: bytes, end: int) -> bool:
        for line in data[:end].splitlines():
            m = _DAGMAN_TS.match(line)
            if m:
                self._clock, self.tz = dagman_out_clock(_naive(m), self.jobstate_log, self.braindump_ts)
                if self.dag is None:
                    self.dag = read_dag(self.dag_path) if self.dag_path else Dag("")
                self._monitord = _Monitord(self.dag, self.run_dir, self.original_dir, self._clock)
                return True
        return False

    def _monitord_lines(self, data: bytes, end: int) -> list[str]:
        mon = self._monitord
        if self.nodes:
            texts = data[:end].decode("utf-8", errors="replace").split("\n")
        else:
            texts = [data[a:b].decode("utf-8", errors="replace") for a, b in _rare_lines(data, end)]
        for text in texts:
            mon.line(text)
        out, mon.out = mon.out, []
        return out

    def _progress_event(self) -> Event:
        p = self._progress
        ts = None
        if p.stamp:
            m = _DAGMAN_TS.match(p.stamp + b" ")
            if m:
                ts = self._clock(_naive(m))
        d = dict(p.row)
        d.update(xwf_id=self.wf_uuid, ts=ts, dagname=os.path.basename(self.dag_path or self.path), provisional=True)
        return Event(PROGRESS_EVENT, ts, d)


def _rare_lines(data: bytes, end: int) -> list[tuple[int, int]]:
    """The bounds of the lines with DAGMan's start and exit, in file order."""
    found = set()
    for word in _RARE:
        i = data.find(word, 0, end)
        while i >= 0:
            found.add(_line_at(data, i, end))
            i = data.find(word, i + 1, end)
    return sorted(found)
