"""A Pegasus submit directory: find what it holds and follow the run.

:func:`find_submit_dir` reads ``braindump.yml`` (or the older
``braindump.txt``) and finds, the way Pegasus itself does
(``Pegasus.db.connection._get_workflow_uri``):

* the Stampede DB: ``pegasus.catalog.workflow.url``, else
  ``pegasus.monitord.output`` from the properties file braindump names, else
  ``<submit_dir>/<dag basename>.stampede.db`` (and the same name in the
  directory given, when the submit dir was moved or copied);
* a monitord event log (a ``file:`` or plain-path ``...url`` /
  ``pegasus.monitord.output``, encoded as ``pegasus.monitord.encoding``);
* ``jobstate.log`` and ``<dag>.dagman.out``.

:class:`SubmitDirSource` then runs the DB (authority) with the jobstate.log
overlay of the root workflow and of every sub-workflow whose submit dir is
found on disk; without a DB, the event log; without either, jobstate.log
alone.  What is missing is said once, in the status line.

dagman.out is read by :mod:`.dagman_out` (its times in any timezone too).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from ...core.fmt import stamp
from ...core.events import BadEvent, Event, parse_bp_line
from ...core.secrets import mask
from ..base import RESET, Source
from ..polled_db import LOADING_KEYS, slices
from .dagman_out import Dag, DagmanOut, dag_job_events, dag_of, dagman_out_info, find_dagman_outs, read_dag
from .jobstate_log import JobstateLog
from .jobstate_resume import resumer
from .stampede_bulk import BULK_MIN_JOBS
from .stampede_db import StampedeDbError, StampedeDbSource

POLL_SECONDS = 0.5
STALLED_EVENT = "panorama.wf.stalled"
# following: how long nothing new must arrive before "DAGMan exited, monitord did not say so" is shown
DAGMAN_QUIET = 30.0


class SubmitDirError(Exception):
    """Not a submit directory (or unreadable); the message says why."""


# -- braindump ---------------------------------------------------------------


def _yaml_scalar(v: str):
    v = v.strip()
    if v in ("", "~", "null", "Null", "NULL"):
        return None
    if v in ("true", "True"):
        return True
    if v in ("false", "False"):
        return False
    if v.startswith('"') and v.endswith('"') and len(v) >= 2:
        try:
            return json.loads(v)
        except ValueError:
            return v[1:-1]
    if v.startswith("'") and v.endswith("'") and len(v) >= 2:
        return v[1:-1].replace("''", "'")
    return v


def parse_braindump_yml(text: str) -> dict:
    """braindump.yml is flat ``key: scalar``; PyYAML when present, else a small parser."""
    try:
        import yaml  # type: ignore

        d = yaml.safe_load(text)
        if isinstance(d, dict):
            return {str(k): v for k, v in d.items()}
    except Exception:  # not installed, or a file PyYAML refuses: try the simple way
        pass
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        out[k.strip()] = _yaml_scalar(v)
    return out


def parse_braindump_txt(text: str) -> dict:
    """Pegasus 4.x braindump.txt: ``key value`` per line."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        out[parts[0]] = parts[1].strip() if len(parts) > 1 else None
    return out


def read_braindump(d: str) -> tuple[dict, str]:
    for name, parse in (("braindump.yml", parse_braindump_yml), ("braindump.txt", parse_braindump_txt)):
        p = os.path.join(d, name)
        if os.path.isfile(p):
            try:
                with open(p, encoding="utf-8", errors="replace") as f:
                    data = parse(f.read())
            except OSError as exc:
                raise SubmitDirError(f"{p}: {exc.strerror or exc}") from None
            if not data:
                raise SubmitDirError(f"{p}: empty or unreadable braindump")
            return data, p
    raise SubmitDirError(f"{d}: not a Pegasus submit directory (no braindump.yml or braindump.txt)")


# -- properties ----------------------------------------------------------------


def read_properties(path: str) -> dict:
    """A Java properties file (``key=value``, ``key: value``, ``\\`` escapes and continuations)."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    buf = ""
    for raw in lines:
        line = raw.lstrip() if not buf else raw.strip()
        if not buf and (not line or line[0] in "#!"):
            continue
        # an odd number of trailing backslashes continues the line
        trail = len(line) - len(line.rstrip("\\"))
        if trail % 2 == 1:
            buf += line[:-1]
            continue
        line = buf + line
        buf = ""
        m = re.match(r"((?:\\.|[^=:\s\\])*)\s*[=:\s]\s*(.*)$", line)
        if m:
            key, value = m.group(1), m.group(2)
        else:
            key, value = line, ""
        out[_unescape_prop(key)] = _unescape_prop(value)
    return out


def _unescape_prop(s: str) -> str:
    def rep(m):
        c = m.group(1)
        return {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(c, c)

    return re.sub(r"\\(.)", rep, s)


# -- the submit dir ------------------------------------------------------------


@dataclass
class SubmitDir:
    path: str
    braindump: dict
    braindump_file: str
    wf_uuid: str | None = None
    root_wf_uuid: str | None = None
    label: str | None = None
    dag: str | None = None
    properties_file: str | None = None
    properties: dict = field(default_factory=dict)
    db_url: str | None = None
    db_path: str | None = None
    db_from: str = ""
    event_log: str | None = None
    event_log_bp: bool = False
    jobstate_log: str | None = None
    dagman_out: str | None = None
    dagman: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    # DAGMan's logs below the root's (sub-DAGs), read when no Stampede DB names the sub-workflows
    sub_dagman_outs: list = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line: what is missing (empty when everything is there)."""
        return "; ".join(self.notes)

    def local(self, p: str | None) -> str | None:
        """A path braindump names, as found here (the dir may have moved)."""
        if not p:
            return None
        sub = self.braindump.get("submit_dir")
        if os.path.isabs(p):
            if os.path.exists(p):
                return p
            if sub and p.startswith(str(sub).rstrip("/") + "/"):
                q = os.path.join(self.path, p[len(str(sub).rstrip("/")) + 1 :])
                return q
            return p
        return os.path.join(self.path, p)


def sqlite_path(url: str, base: str) -> str | None:
    """The file of an ``sqlite:///...`` URL (relative to ``base``), else None."""
    if not url:
        return None
    u = url.strip()
    if u.startswith("jdbc:"):
        u = u[5:]
    if not u.startswith("sqlite:"):
        return None
    rest = u[len("sqlite:"):]
    if rest.startswith("///"):
        p = rest[3:]
    elif rest.startswith("//"):
        p = rest[2:]
    else:
        p = rest
    p = unquote(p.split("?", 1)[0])
    if not p:
        return None
    return p if os.path.isabs(p) else os.path.join(base, p)


def _event_file(url: str, base: str) -> str | None:
    """A monitord file sink: a plain path or ``file:`` URL."""
    u = url.strip()
    parsed = urlparse(u)
    if parsed.scheme == "file":
        p = unquote(parsed.path)
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        p = u
    else:
        return None
    if p == "-":
        return None
    return p if os.path.isabs(p) else os.path.join(base, p)


def find_submit_dir(path: str | None = None) -> SubmitDir:
    """A submit dir: braindump's, else a dir of DAGMan logs (``*.dag.dagman.out``, as pegasus-status finds them)."""
    d = os.path.abspath(path or os.getcwd())
    if not os.path.isdir(d):
        raise SubmitDirError(f"{d}: not a directory")
    try:
        bd, bfile = read_braindump(d)
    except SubmitDirError:
        root = _root_dagman_out(d, None)
        if root is None:
            raise
        return _dagman_only(d, root, [p for p in find_dagman_outs(d) if p != root])
    sd = SubmitDir(path=d, braindump=bd, braindump_file=bfile)
    sd.wf_uuid = _s(bd.get("wf_uuid"))
    sd.root_wf_uuid = _s(bd.get("root_wf_uuid")) or sd.wf_uuid
    sd.label = _s(bd.get("dax_label"))
    sd.dag = _s(bd.get("dag"))
    if not sd.wf_uuid:
        sd.notes.append("braindump has no wf_uuid")
    # properties (the run's copy, named by braindump)
    prop = _s(bd.get("properties"))
    if prop:
        for cand in (sd.local(os.path.join(str(bd.get("submit_dir") or d), prop)), os.path.join(d, prop)):
            if cand and os.path.isfile(cand):
                sd.properties_file = cand
                sd.properties = read_properties(cand)
                break
        else:
            sd.notes.append(f"properties file {prop} not found")
    props = sd.properties
    base = d
    # event sinks: the DB URL, then any extra file sinks (multiplexed)
    url = props.get("pegasus.catalog.workflow.url") or props.get("pegasus.monitord.output")
    enc = (props.get("pegasus.monitord.encoding") or "bp").strip().lower()
    if url:
        sd.db_from = "properties"
        p = sqlite_path(url, base)
        if p:
            sd.db_url, sd.db_path = url, sd.local(p)
        else:
            f = _event_file(url, base)
            if f:
                sd.event_log, sd.event_log_bp = sd.local(f), enc != "json"
            else:
                scheme = urlparse(url).scheme or "?"
                sd.notes.append(f"the Stampede DB is {scheme}:// ({mask(url)}); panorama-top reads SQLite only")
    for k, v in props.items():
        if k.startswith("pegasus.catalog.workflow.") and k.endswith(".url") and k != "pegasus.catalog.workflow.url":
            f = _event_file(v, base)
            if f and sd.event_log is None:
                sd.event_log, sd.event_log_bp = sd.local(f), enc != "json"
    if sd.db_path is None and not url:
        if sd.dag:
            name = os.path.basename(sd.dag)
            name = (name[: name.find(".dag")] if ".dag" in name else name) + ".stampede.db"
            sub = _s(bd.get("submit_dir"))
            cands = [os.path.join(sub, name)] if sub else []
            cands.append(os.path.join(d, name))
            sd.db_url = "sqlite:///" + cands[0]
            sd.db_path = next((c for c in cands if os.path.exists(c)), cands[-1])
            sd.db_from = "default"
        else:
            sd.notes.append("braindump names no dag, so no default Stampede DB")
    if sd.db_path and not os.path.exists(sd.db_path):
        sd.notes.append(f"no Stampede DB yet ({os.path.basename(sd.db_path)}: pegasus-monitord not started?)")
    if sd.event_log and not os.path.exists(sd.event_log):
        sd.notes.append(f"monitord event log {os.path.basename(sd.event_log)} not there yet")
    jsd = _s(bd.get("jsd")) or "jobstate.log"
    jp = jsd if os.path.isabs(jsd) else os.path.join(d, jsd)
    sd.jobstate_log = jp
    if not os.path.exists(jp):
        sd.notes.append("no jobstate.log yet")
    sd.dagman_out = _root_dagman_out(d, sd.dag)
    if sd.dagman_out:
        _read_dagman_times(sd)
    else:
        sd.notes.append("no dagman.out (DAGMan not started?)")
    if sd.db_path is None or not os.path.exists(sd.db_path):
        # no DB names the sub-workflows and their dirs: DAGMan's logs below this one do
        sd.sub_dagman_outs = [p for p in find_dagman_outs(d) if p != sd.dagman_out]
    return sd


def dagman_submit_dir(path: str) -> SubmitDir:
    """A dagman.out given by itself: that DAG and the sub-DAGs below its dir,
    from DAGMan's logs alone (named by the braindump beside it, if any)."""
    path = os.path.abspath(path)
    d = os.path.dirname(path)
    return _dagman_only(d, path, [p for p in find_dagman_outs(d) if p != path])


def _dagman_only(d: str, root: str, subs: list[str]) -> SubmitDir:
    try:
        bd, bfile = read_braindump(d)
    except SubmitDirError:
        bd, bfile = {}, ""
    sd = SubmitDir(path=d, braindump=bd, braindump_file=bfile, dagman_out=root, sub_dagman_outs=subs)
    sd.wf_uuid, sd.label = dagman_identity(root, d)
    sd.root_wf_uuid = _s(bd.get("root_wf_uuid")) or sd.wf_uuid
    sd.dag = os.path.basename(dag_of(root) or root)
    _read_dagman_times(sd)
    return sd


def dagman_identity(dagman_out: str, top: str) -> tuple[str, str]:
    """(wf_uuid, label) of a DAGMan log's workflow: its dir's braindump's, else
    names made from the DAG's file (its path under ``top``, its stem)."""
    d = os.path.dirname(dagman_out)
    dag = os.path.basename(dag_of(dagman_out) or dagman_out)
    try:
        bd, _ = read_braindump(d)
    except SubmitDirError:
        bd = {}
    uuid = _s(bd.get("wf_uuid")) or os.path.relpath(os.path.join(d, dag), top)
    stem = dag[: -len(".dag")] if dag.endswith(".dag") else dag
    return uuid, _s(bd.get("dax_label")) or stem


def _root_dagman_out(d: str, dag: str | None) -> str | None:
    """The DAG's log in the submit dir: braindump's ``dag`` + ``.dagman.out``, else
    (braindump names another file) the newest ``*.dag.dagman.out`` there."""
    if dag:
        p = os.path.join(d, os.path.basename(dag) + ".dagman.out")
        if os.path.exists(p):
            return p
    try:
        names = [n for n in os.listdir(d) if n.endswith(".dag.dagman.out")]
    except OSError:
        return None
    return max((os.path.join(d, n) for n in names), key=_mtime, default=None)


def _mtime(p: str) -> float:
    try:
        return os.path.getmtime(p)
    except OSError:
        return 0.0


def _read_dagman_times(sd: SubmitDir) -> None:
    jp = sd.jobstate_log if sd.jobstate_log and os.path.exists(sd.jobstate_log) else None
    try:
        sd.dagman = dagman_out_info(sd.dagman_out, jp, _s(sd.braindump.get("timestamp")))
    except OSError:
        sd.dagman = {}
    if sd.dagman.get("note"):
        sd.notes.append(sd.dagman["note"])


def _plan_event(d: str, uuid: str, label: str | None, parent: str | None, root: str | None, dag: str) -> Event:
    """The workflow's plan as monitord sends it from braindump when it starts
    (Workflow.db_send_wf_info)."""
    try:
        bd, _ = read_braindump(d)
    except SubmitDirError:
        bd = {}
    plan = {"xwf_id": uuid, "dax_label": label, "dag_file_name": os.path.basename(dag), "submit_dir": d,
            "root_xwf_id": _s(bd.get("root_wf_uuid")) or root, "user": _s(bd.get("user")),
            "submit_hostname": _s(bd.get("submit_hostname")), "planner_version": _s(bd.get("planner_version")),
            "provisional": True}
    if parent:
        plan["parent_xwf_id"] = parent
    return Event("stampede.wf.plan", None, plan)


def _static_records(dag: str) -> list[dict]:
    """The planner's static events (``<dag stem>.static.bp``: jobs, tasks and
    their maps), which monitord sends before DAGMan's first line; empty when
    there is no such file.  Its names get monitord's ``stampede.`` prefix."""
    path = os.path.splitext(dag)[0] + ".static.bp"
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            rec = parse_bp_line(line)
        except BadEvent:
            continue  # monitord skips them too ("bad event in static bp file")
        if not rec["event"].startswith("stampede."):
            rec["event"] = "stampede." + rec["event"]
        out.append(rec)
    return out


def monitord_running(submit_dir: str) -> bool:
    """pegasus-monitord's pid file is there and names a live process (Pegasus's
    utils.pid_running: a process we may not signal counts as alive)."""
    try:
        with open(os.path.join(submit_dir, "monitord.pid"), encoding="utf-8", errors="replace") as f:
            words = f.read().split()
        pid = int(words[words.index("pid") + 1])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: alive, another user's
    return True


def _s(v):
    return None if v is None else str(v)


# -- the source --------------------------------------------------------------------


class SubmitDirSource(Source):
    """The run in a submit dir: the Stampede DB (authority) with jobstate.log
    overlays and DAGMan's own logs beneath (or what there is).

    dagman.out always gives DAGMan's progress tables and its start and end; it
    gives the job states too where no jobstate.log does, or where monitord has
    stopped short of DAGMan's end (its jobstate.log then lags DAGMan's log)."""

    recordable = False

    def __init__(self, sd: SubmitDir, follow: bool = True, poll: float = POLL_SECONDS, overlay: bool = True,
                 bulk_min: int | None = BULK_MIN_JOBS):
        super().__init__()
        self.bulk_min = bulk_min  # a DB this big is opened in bulk (the screen's way); None: never
        self.sd = sd
        self.follow = follow
        self.live = follow
        self.poll_seconds = poll
        self.overlay = overlay
        self.label = f"submit dir {os.path.basename(sd.path.rstrip('/')) or sd.path}"
        self.db: StampedeDbSource | None = None
        self.db_error: str | None = None
        self.logs: dict[str, JobstateLog] = {}
        self.dagmans: dict[str, DagmanOut] = {}
        self._dagman_of: dict[str, str] = {}  # dagman.out path -> its workflow
        self._intro: list[Event] = []  # what names the workflows and jobs when no DB does
        self._no_db = False  # no Stampede DB (yet) when the source started
        self._dirs_seen = 0
        self._ready = False
        self._dagman_note: str | None = None
        self._reread = False  # a DAG's log is being read again (for its job states): not done yet
        self._last_change = time.monotonic()
        self._next_dagman = 0.0  # whether monitord runs: looked at after the first round, then now and then
        self._next_look = 0.0

    @property
    def stampede_db_path(self) -> str | None:
        """The Stampede DB read (once there is one to read), as for :class:`StampedeDbSource`."""
        return self.db.path if self.db is not None else None

    def history_events(self, wf_uuid: str, job_id: str) -> list:
        """A bulk-loaded job's history, from the DB (:meth:`StampedeDbSource.history_events`)."""
        return self.db.history_events(wf_uuid, job_id) if self.db is not None else []

    def _setup(self) -> str:
        """Open what there is: ``"db"`` (DB, jobstate.log and/or dagman.out), ``"events"`` (the event log) or ``""``."""
        sd = self.sd
        self._ready = True
        if sd.db_path and (self.follow or os.path.exists(sd.db_path)):
            self.db = StampedeDbSource(sd.db_path, follow=self.follow, poll=self.poll_seconds,
                                       root_uuid=sd.root_wf_uuid, track_js=self.overlay,
                                       bulk_min=self.bulk_min)
            self.db.warnings = self.warnings  # the DB's skipped rows are this source's
        elif sd.event_log and os.path.exists(sd.event_log):
            return "events"
        if self.overlay and sd.jobstate_log and sd.wf_uuid and (self.follow or os.path.exists(sd.jobstate_log)):
            self.logs[sd.wf_uuid] = JobstateLog(sd.jobstate_log, sd.wf_uuid, resume=self._resumer())
        root = sd.wf_uuid
        dag = None
        self._no_db = self.db is None or not os.path.exists(sd.db_path)  # (yet: monitord has not started)
        if self._no_db and root and (self.logs or sd.dagman_out):
            dag = self._introduce(sd.path, root, sd.label, None, dag_of(sd.dagman_out or "") or
                                  os.path.join(sd.path, os.path.basename(sd.dag or "")))
        if self.overlay and sd.dagman_out and root:
            self._follow_dagman(sd.dagman_out, root, dag)
            for path in sd.sub_dagman_outs:
                self._follow_sub_dagman(path, self._parent_dir_workflow(path))
        return "db" if self.db is not None or self.logs or self.dagmans else ""

    def _resumer(self):
        """jobstate.log is read from where the DB leaves off (the whole log without a DB)."""
        return resumer(self.db.path) if self.db is not None else None

    def _introduce(self, d: str, uuid: str, label: str | None, parent: str | None, dag_path: str) -> Dag:
        """Without a DB: what monitord sends of a workflow before DAGMan's first
        line (its plan, and its jobs from the planner's static events, else from
        the .dag file, so the DAG's total is known before every job has run)."""
        dag = read_dag(dag_path)
        self._intro.append(_plan_event(d, uuid, label, parent, self.sd.root_wf_uuid, dag_path))
        self._intro.extend(_static_records(dag_path) or dag_job_events(dag, uuid))
        return dag

    def _follow_sub_dagman(self, path: str, parent: str | None) -> str:
        uuid, label = dagman_identity(path, self.sd.path)
        dag = self._introduce(os.path.dirname(path), uuid, label, parent, dag_of(path) or "") if self._no_db else None
        self._follow_dagman(path, uuid, dag)
        return uuid

    def _follow_dagman(self, path: str, uuid: str, dag: Dag | None) -> None:
        """Read a DAG's log (job states too when no jobstate.log shows them)."""
        bd = self.sd.braindump
        log = self.logs.get(uuid)
        jobstate = log.path if log is not None and os.path.exists(log.path) else None
        self.dagmans[uuid] = DagmanOut(path, uuid, nodes=jobstate is None, jobstate_log=jobstate,
                                       braindump_ts=_s(bd.get("timestamp")), original_dir=_s(bd.get("submit_dir")),
                                       dag=dag)
        self._dagman_of[os.path.normpath(path)] = uuid

    def _parent_dir_workflow(self, path: str) -> str | None:
        """The workflow whose DAG's log is in the nearest dir above this one."""
        d = os.path.dirname(os.path.dirname(path))
        best = None
        for p, uuid in self._dagman_of.items():
            pd = os.path.dirname(p)
            if (d == pd or d.startswith(pd + os.sep)) and (best is None or len(pd) > len(best[0])):
                best = (pd, uuid)
        return best[1] if best else None

    def batches(self):
        sd = self.sd
        notes = list(sd.notes)
        if self._setup() == "events":
            yield from self._event_log()
            return
        if self.db is None and not self.logs and not self.dagmans:
            self._set("error", "; ".join(notes) or f"{sd.path}: nothing to read (no Stampede DB, event log, "
                      "jobstate.log or dagman.out)")
            return
        self._set("reading", "; ".join(notes))
        try:
            while not self.stopping:
                events, reset = self._round(notes)
                if reset:
                    yield RESET
                # in the DB source's batch size, so the first rows show as soon as the DB's alone
                yield from slices(events)
                db_idle = self.db is None or self.db.caught_up or self.db_error is not None
                if not self.follow and db_idle and not events and not self._reread:
                    break
                if db_idle and not events:
                    self._set("following", "; ".join(notes))
                    self._stop.wait(self.poll_seconds)
        finally:
            if self.db is not None:
                self.db.close()
            for log in self.logs.values():
                log.close()
            for dm in self.dagmans.values():
                dm.close()
        if self.status.state != "error":
            self.status.state = "ended"

    def _set(self, state: str, message: str) -> None:
        self.status.state = state
        self.status.message = message

    def _round(self, notes: list) -> tuple[list, bool]:
        if not self._ready:
            self._setup()
        events: list[Event] = self._intro
        self._intro = []
        reset = False
        db = self.db
        if db is not None and self.db_error is None:
            try:
                got = db.step()
            except StampedeDbError as exc:
                self.db_error = str(exc)
                notes.append(f"{exc}; showing jobstate.log only" if self.logs else str(exc))
                self._set("reading", "; ".join(notes))
                got = []
                if not self.logs and not self.dagmans:
                    self._set("error", str(exc))
                    self._stop.set()
            if got is RESET:
                reset = True
                for log in self.logs.values():
                    log.close()
                for dm in self.dagmans.values():
                    dm.restart()
            elif got:
                events.extend(got)
            if db.status.state == "starting" and db.status.message:
                self.status.detail["db"] = db.status.message
            else:
                self.status.detail.pop("db", None)
            for key in LOADING_KEYS:  # a big DB's load: the screen's "loading N%" and the DB's own counts
                if key in db.status.detail:
                    self.status.detail[key] = db.status.detail[key]
                else:
                    self.status.detail.pop(key, None)
            if self.overlay:
                self._find_subworkflow_logs()
        if not self.follow and db is not None and not (db.caught_up or self.db_error is not None):
            # Read once (--once, --report): the overlay waits for the whole DB, so it sends only
            # what the DB lacks, whatever the DB's size.  Polled beside a DB still loading, it
            # sent the tail's lines the DB had not reached yet (its 50,000-row chunks): a count
            # of events that depended on the chunking, which a summary computed in the DB
            # (cli.once_submit) could not give.  Following, the overlay shows at once, as before.
            return events, reset
        known = db.js_seen if db is not None else {}
        wf_known = db.wf_seen if db is not None else {}
        if db is not None and self.db_error is None and db.in_bulk:
            return events, reset  # the overlay adds what the DB lacks: once the DB's bulk read is done
        for log in list(self.logs.values()):
            events.extend(log.poll(known, wf_known))
        for uuid, dm in list(self.dagmans.items()):
            events.extend(dm.poll(known, wf_known))
            for job_id, path in dm.take_subworkflows():
                self._link_subworkflow(uuid, job_id, path, events)
        self._reread = self._check_dagman(notes, bool(events) or reset, events)
        return events, reset

    def _link_subworkflow(self, parent: str, job_id: str, path: str, events: list) -> None:
        """A sub-workflow job was submitted (DAGMan's log says so): its DAG's log
        is followed, and the sub-workflow hangs under its job."""
        uuid = self._dagman_of.get(os.path.normpath(path))
        if uuid is None:
            uuid = self._follow_sub_dagman(path, parent)
            events.extend(self._intro)
            self._intro = []
        events.append(Event("stampede.xwf.map.subwf_job", None, {
            "xwf_id": parent, "subwf_id": uuid, "job_id": job_id, "provisional": True}))

    def _nodes_from_dagman(self) -> bool:
        """monitord is not running and its jobstate.log stopped short of DAGMan's
        end: DAGMan's log shows the job states from now on.  True when a log is
        to be read again for them."""
        if monitord_running(self.sd.path):
            return False
        switched = False
        for uuid, dm in self.dagmans.items():
            log = self.logs.get(uuid)
            if not dm.nodes and log is not None and not log.finished:
                dm.set_nodes()
                switched = True
        return switched

    def _check_dagman(self, notes: list, changed: bool, events: list) -> bool:
        """dagman.out says DAGMan exited, and neither the DB nor jobstate.log
        has the end: monitord died or is far behind.  Said once everything has
        been read (following: after DAGMAN_QUIET seconds without news), in the
        status line and as the root workflow's stall, and taken back if the end
        arrives after all.  True when a DAG's log is to be read again."""
        now = time.monotonic()
        if changed:
            self._last_change = now
        switched = False
        if not self.follow or now >= self._next_dagman:
            self._next_dagman = now + DAGMAN_QUIET / 2
            switched = self._nodes_from_dagman()
        root = self.sd.wf_uuid
        dm = self.dagmans.get(root)
        end = dm.end if dm is not None else None
        recorded = (self.db is not None and any(k[1] for k in self.db.wf_seen.get(root, ()))) or (
            root in self.logs and self.logs[root].finished)
        if self._dagman_note is not None:
            if recorded or end is None:  # the end came after all, or DAGMan started again
                if self._dagman_note in notes:
                    notes.remove(self._dagman_note)
                self._dagman_note = None
                self.status.message = "; ".join(notes)
                events.append(Event(STALLED_EVENT, None, {"xwf_id": root, "reason": None}))
            return switched
        if end is None or recorded or switched or (self.db is None and root not in self.logs):
            return switched  # running, ended as recorded, or monitord never wrote a thing: nothing to say
        if (self.db is not None and not self.db.caught_up) or (self.follow and now - self._last_change < DAGMAN_QUIET):
            return switched
        when = stamp(end)  # in the zone the screen's times are in, named
        status = dm.exit_status
        self._dagman_note = (f"dagman.out: DAGMan exited with status {status} at {when}, but "
                             "monitord has not recorded the end (is pegasus-monitord running?)")
        notes.append(self._dagman_note)
        self.status.message = "; ".join(notes)
        events.append(Event(STALLED_EVENT, end, {
            "xwf_id": root, "since": end,
            "reason": f"DAGMan exited {status} at {when}, monitord did not record the end"}))
        return switched

    def _find_subworkflow_logs(self) -> None:
        """A jobstate.log overlay and DAGMan's log for every sub-workflow dir
        found on disk (looked for again every few seconds until they appear)."""
        db = self.db
        now = time.monotonic()
        if len(db.wf_dirs) == self._dirs_seen and now < self._next_look:
            return
        self._dirs_seen = len(db.wf_dirs)
        self._next_look = now + 5.0
        root_dir = self.sd.path
        sd_root = str(self.sd.braindump.get("submit_dir") or "").rstrip("/")
        if self.sd.wf_uuid and self.sd.wf_uuid in db.wf_dirs:
            sd_root = db.wf_dirs[self.sd.wf_uuid].rstrip("/")
        for uuid, d in db.wf_dirs.items():
            if uuid in self.logs and uuid in self.dagmans:
                continue
            local = d
            if sd_root and not os.path.isdir(d):
                if d.rstrip("/") == sd_root:
                    local = root_dir
                elif d.startswith(sd_root + "/"):
                    local = os.path.join(root_dir, d[len(sd_root) + 1 :])
            p = os.path.join(local, "jobstate.log")
            if uuid not in self.logs and os.path.isfile(p):
                self.logs[uuid] = JobstateLog(p, uuid, resume=self._resumer())
            out = _root_dagman_out(local, None) if uuid not in self.dagmans and os.path.isdir(local) else None
            if out:
                self._follow_dagman(out, uuid, None)

    def _event_log(self):
        from ..jsonlog import JsonLogSource

        src = JsonLogSource(self.sd.event_log, follow=self.follow, poll=self.poll_seconds, bp=self.sd.event_log_bp)
        src._stop = self._stop
        self.status = src.status
        yield from src.batches()

