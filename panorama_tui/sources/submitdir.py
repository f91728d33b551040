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

dagman.out times are naive local times of the submit host.
:func:`dagman_out_info` ties them to epoch seconds without trusting this
machine's timezone: the offset is calibrated on the ``DAGMAN_STARTED`` line
monitord wrote to jobstate.log (epoch seconds) against dagman.out's
``STARTING UP`` line, else taken from braindump's ``timestamp``
(``20230303T222333-0800``); this machine's zone is used only when it has that
same offset at that time (so DST changes during the run are followed), and a
fixed offset otherwise.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlparse

from ..events import Event
from .base import RESET, Source
from .jobstate_log import JobstateLog
from .stampede_db import StampedeDbError, StampedeDbSource

POLL_SECONDS = 0.5
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
    d = os.path.abspath(path or os.getcwd())
    if not os.path.isdir(d):
        raise SubmitDirError(f"{d}: not a directory")
    bd, bfile = read_braindump(d)
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
                sd.notes.append(f"the Stampede DB is {scheme}:// ({_redact(url)}); panorama-top reads SQLite only")
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
    if sd.dag:
        dp = os.path.join(d, os.path.basename(sd.dag) + ".dagman.out")
        if os.path.exists(dp):
            sd.dagman_out = dp
            try:
                sd.dagman = dagman_out_info(dp, jp if os.path.exists(jp) else None, _s(bd.get("timestamp")))
            except OSError:
                sd.dagman = {}
            if sd.dagman.get("note"):
                sd.notes.append(sd.dagman["note"])
        else:
            sd.notes.append("no dagman.out (DAGMan not started?)")
    return sd


def _s(v):
    return None if v is None else str(v)


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


# -- dagman.out times ------------------------------------------------------------

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


# -- the source --------------------------------------------------------------------


class SubmitDirSource(Source):
    """The run in a submit dir: Stampede DB + jobstate.log overlays (or what there is)."""

    recordable = False

    def __init__(self, sd: SubmitDir, follow: bool = True, poll: float = POLL_SECONDS, overlay: bool = True):
        super().__init__()
        self.sd = sd
        self.follow = follow
        self.live = follow
        self.poll_seconds = poll
        self.overlay = overlay
        self.label = f"submit dir {os.path.basename(sd.path.rstrip('/')) or sd.path}"
        self.db: StampedeDbSource | None = None
        self.db_error: str | None = None
        self.logs: dict[str, JobstateLog] = {}
        self._dirs_seen = 0
        self._ready = False
        self._dagman_note: str | None = None
        self._last_change = time.monotonic()
        self._next_dagman = self._last_change + DAGMAN_QUIET / 2
        self._next_look = 0.0

    def _setup(self) -> str:
        """Open what there is: ``"db"`` (DB and/or jobstate.log), ``"events"`` (the event log) or ``""``."""
        sd = self.sd
        self._ready = True
        if sd.db_path and (self.follow or os.path.exists(sd.db_path)):
            self.db = StampedeDbSource(sd.db_path, follow=self.follow, poll=self.poll_seconds,
                                       root_uuid=sd.root_wf_uuid, track_js=self.overlay)
            self.db.warnings = self.warnings  # the DB's skipped rows are this source's
        elif sd.event_log and os.path.exists(sd.event_log):
            return "events"
        if self.overlay and sd.jobstate_log and sd.wf_uuid and (self.follow or os.path.exists(sd.jobstate_log)):
            self.logs[sd.wf_uuid] = JobstateLog(sd.jobstate_log, sd.wf_uuid)
        return "db" if self.db is not None or self.logs else ""

    def batches(self):
        sd = self.sd
        notes = list(sd.notes)
        if self._setup() == "events":
            yield from self._event_log()
            return
        if self.db is None and not self.logs:
            self._set("error", "; ".join(notes) or f"{sd.path}: nothing to read (no Stampede DB, event log "
                      "or jobstate.log)")
            return
        self._set("reading", "; ".join(notes))
        try:
            while not self.stopping:
                events, reset = self._round(notes)
                if reset:
                    yield RESET
                if events:
                    yield events
                db_idle = self.db is None or self.db.caught_up or self.db_error is not None
                if not self.follow and db_idle and not events:
                    break
                if db_idle and not events:
                    self._set("following", "; ".join(notes))
                    self._stop.wait(self.poll_seconds)
        finally:
            if self.db is not None:
                self.db.close()
            for log in self.logs.values():
                log.close()
        if self.status.state != "error":
            self.status.state = "ended"

    def _set(self, state: str, message: str) -> None:
        self.status.state = state
        self.status.message = message

    def _round(self, notes: list) -> tuple[list, bool]:
        if not self._ready:
            self._setup()
        events: list[Event] = []
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
                if not self.logs:
                    self._set("error", str(exc))
                    self._stop.set()
            if got is RESET:
                reset = True
                for log in self.logs.values():
                    log.close()
            elif got:
                events.extend(got)
            if db.status.state == "starting" and db.status.message:
                self.status.detail["db"] = db.status.message
            else:
                self.status.detail.pop("db", None)
            if self.overlay:
                self._find_subworkflow_logs()
        known = db.js_seen if db is not None else {}
        wf_known = db.wf_seen if db is not None else {}
        for log in list(self.logs.values()):
            events.extend(log.poll(known, wf_known))
        self._check_dagman(notes, bool(events) or reset)
        return events, reset

    def _check_dagman(self, notes: list, changed: bool) -> None:
        """dagman.out says DAGMan exited, and neither the DB nor jobstate.log
        has the end: monitord died or is far behind.  Said once everything has
        been read (following: after DAGMAN_QUIET seconds without news), and
        taken back if the end arrives after all."""
        now = time.monotonic()
        if changed:
            self._last_change = now
        sd = self.sd
        if self.follow and sd.dagman_out and now >= self._next_dagman:
            self._next_dagman = now + DAGMAN_QUIET / 2  # it grows: look at its tail again now and then
            try:
                sd.dagman = dagman_out_info(sd.dagman_out, sd.jobstate_log if sd.jobstate_log and
                                            os.path.exists(sd.jobstate_log) else None,
                                            _s(sd.braindump.get("timestamp")))
            except OSError:
                pass
        end = self.sd.dagman.get("end")
        if end is None:
            return
        root = self.sd.wf_uuid
        recorded = (self.db is not None and any(k[1] for k in self.db.wf_seen.get(root, ()))) or (
            root in self.logs and self.logs[root].finished)
        if self._dagman_note is not None:
            if recorded:
                notes.remove(self._dagman_note)
                self._dagman_note = None
                self.status.message = "; ".join(notes)
            return
        if recorded or (self.db is not None and not self.db.caught_up):
            return
        if self.follow and now - self._last_change < DAGMAN_QUIET:
            return
        when = datetime.fromtimestamp(end, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        self._dagman_note = (f"dagman.out: DAGMan exited with status {self.sd.dagman.get('status')} at {when}, but "
                             "monitord has not recorded the end (is pegasus-monitord running?)")
        notes.append(self._dagman_note)
        self.status.message = "; ".join(notes)

    def _find_subworkflow_logs(self) -> None:
        """A jobstate.log overlay for every sub-workflow dir found on disk
        (looked for again every few seconds until its log appears)."""
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
            if uuid in self.logs:
                continue
            local = d
            if sd_root and not os.path.isdir(d):
                if d.rstrip("/") == sd_root:
                    local = root_dir
                elif d.startswith(sd_root + "/"):
                    local = os.path.join(root_dir, d[len(sd_root) + 1 :])
            p = os.path.join(local, "jobstate.log")
            if os.path.isfile(p):
                self.logs[uuid] = JobstateLog(p, uuid)

    def _event_log(self):
        from .jsonlog import JsonLogSource

        src = JsonLogSource(self.sd.event_log, follow=self.follow, poll=self.poll_seconds, bp=self.sd.event_log_bp)
        src._stop = self._stop
        self.status = src.status
        yield from src.batches()

