"""monitord's ``jobstate.log`` followed as a fast, provisional overlay.

pegasus-monitord writes one ``jobstate.log`` line per job state *as it
parses* dagman.out, but commits to the Stampede DB in batches (every 1000
events or 30 s), so the log is ahead of the DB.  A line reads::

    1677913864 ls_ID0000001 JOB_FAILURE 2 condorpool - 2
    ts         job          state       status|sched_id site walltime job_submit_seq

(``status`` for end states, the scheduler id otherwise) and
``ts INTERNAL *** DAGMAN_STARTED 7.0 ***`` for the workflow.

How "provisional" works
    Each line becomes the very event monitord sends for it, keyed the way
    the DB will key it: ``job_inst_id`` is the line's job_submit_seq and
    ``js_id`` is the line's position among the lines of that job instance
    (monitord's ``Job._job_state_seq`` is incremented once per line), the
    state name is the DB's (``POST_SCRIPT_FAILURE`` -> ``POST_SCRIPT_FAILED``,
    ``JOB_HELD_REASON`` -> ``JOB_HELD``) and ``ts`` is the same integer second.
    The store keys a state by ``(state, js_id, ts)``, so when the DB catches
    up its row lands on the same key: nothing is counted twice and the DB's
    fields (exit code, host, invocations, stdout) overwrite the provisional
    ones.  Lines the DB has already shown (``known``: a bit mask of the
    ``js_id`` s the DB source has read per instance) are not sent at all, so the overlay only ever adds
    what the DB does not have yet.  Events carry ``"provisional": true``.

Limits: an instance whose lines span a monitord restart (append mode) may get
js_ids that differ from the DB's; then a state shows twice in that try's
history until the end (the derived job state is unaffected).  ``JOB_HELD``
lines of HTCondor >= 8.3.3 have no DB row (only ``JOB_HELD_REASON`` has):
the provisional one stays in the history (when read: the log is read from
where the DB leaves off, :mod:`.jobstate_resume`, so those above it are not).
"""

from __future__ import annotations

import os

from ...core.events import Event
from ..base import Source

POLL_SECONDS = 0.25

# jobstate.log state -> (event, status, DB state name)
LOG_STATES = {
    "PRE_SCRIPT_STARTED": ("stampede.job_inst.pre.start", None),
    "PRE_SCRIPT_TERMINATED": ("stampede.job_inst.pre.term", None),
    "PRE_SCRIPT_SUCCESS": ("stampede.job_inst.pre.end", 0),
    "PRE_SCRIPT_FAILURE": ("stampede.job_inst.pre.end", -1),
    "SUBMIT": ("stampede.job_inst.submit.end", 0),
    "SUBMIT_FAILED": ("stampede.job_inst.submit.end", -1),
    "GRID_SUBMIT": ("stampede.job_inst.grid.submit.end", 0),
    "GRID_SUBMIT_FAILED": ("stampede.job_inst.grid.submit.end", -1),
    "GLOBUS_SUBMIT": ("stampede.job_inst.globus.submit.end", 0),
    "GLOBUS_SUBMIT_FAILED": ("stampede.job_inst.globus.submit.end", -1),
    "EXECUTE": ("stampede.job_inst.main.start", None),
    "IMAGE_SIZE": ("stampede.job_inst.image.info", None),
    "JOB_TERMINATED": ("stampede.job_inst.main.term", 0),
    "JOB_EVICTED": ("stampede.job_inst.main.term", -1),
    "JOB_SUCCESS": ("stampede.job_inst.main.end", 0),
    "JOB_FAILURE": ("stampede.job_inst.main.end", -1),
    "JOB_HELD": ("stampede.job_inst.held.start", None),
    "JOB_HELD_REASON": ("stampede.job_inst.held.start", None),
    "JOB_RELEASED": ("stampede.job_inst.held.end", None),
    "JOB_ABORTED": ("stampede.job_inst.abort.info", None),
    "POST_SCRIPT_STARTED": ("stampede.job_inst.post.start", None),
    "POST_SCRIPT_TERMINATED": ("stampede.job_inst.post.term", None),
    "POST_SCRIPT_SUCCESS": ("stampede.job_inst.post.end", 0),
    "POST_SCRIPT_FAILURE": ("stampede.job_inst.post.end", -1),
}
# states whose status column is an exit code (regular form), not a sched id
_STATUS_STATES = frozenset({"JOB_SUCCESS", "JOB_FAILURE", "POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILURE",
                            "PRE_SCRIPT_SUCCESS", "PRE_SCRIPT_FAILURE"})


def regular_to_raw(code: int) -> int:
    """monitord's encoding of a plain exit code as a wait status."""
    return -1 if code == -128 else code << 8


def parse_line(line: str):
    """``(ts, job_id, state, col4, site, seq)`` or ``(ts, "INTERNAL", what, arg)``; None if not a line."""
    parts = line.split()
    if len(parts) < 3:
        return None
    try:
        ts = int(float(parts[0]))
    except ValueError:
        return None
    if parts[1] == "INTERNAL":
        # ts INTERNAL *** DAGMAN_STARTED 7.0 ***
        words = [p for p in parts[2:] if p != "***"]
        if not words:
            return None
        return (ts, "INTERNAL", words[0], words[1] if len(words) > 1 else None)
    if len(parts) < 7:
        return None
    try:
        seq = int(parts[6])
    except ValueError:
        return None
    return (ts, parts[1], parts[2], parts[3], parts[4], seq)


class JobstateLog:
    """Incremental reader of one workflow's jobstate.log.

    :meth:`poll` returns the provisional events for the complete lines added
    since the last call that the DB has not shown yet.
    """

    def __init__(self, path: str, wf_uuid: str, resume=None):
        """``resume(wf_uuid, f)``: where to start reading the opened log, a
        :class:`.jobstate_resume.ResumePoint` (None: from the top)."""
        self.path = path
        self.wf_uuid = wf_uuid
        self._resume = resume
        self._from = None  # the ResumePoint this reading started at
        self.skipped = 0  # bytes above it, left to the DB
        self._f = None
        self._ino = None
        self._partial = b""
        self._head = b""
        self.lines = 0
        self.emitted = 0
        self.error: str | None = None
        self.finished = False  # a DAGMAN_FINISHED line was read
        self._reset_counts()

    def _started_over(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away, not yet replaced: finish the old one
        if st.st_ino != self._ino or st.st_size < self._f.tell():
            return True
        if self._head and st.st_size >= len(self._head):
            try:
                return os.pread(self._f.fileno(), len(self._head), 0) != self._head
            except OSError:
                return False
        return False

    def _reset_counts(self) -> None:
        self._js: dict[tuple, int] = {}  # (job_id, seq) -> lines so far
        self._restart = -1
        self._site: dict[tuple, str] = {}
        self._sched: dict[tuple, str] = {}

    def close(self) -> None:
        if self._from is not None:
            self._from.close()
            self._from = None
        if self._f is not None:
            self._f.close()
            self._f = None

    def _open(self) -> bool:
        try:
            self._f = open(self.path, "rb")  # noqa: SIM115 - kept open while the log is followed
        except FileNotFoundError:
            return False
        except OSError as exc:
            self.error = f"cannot read {self.path}: {exc.strerror or exc}"
            return False
        self._ino = os.fstat(self._f.fileno()).st_ino
        self._partial = b""
        self._head = b""
        self._reset_counts()
        self.skipped = 0
        start = self._resume(self.wf_uuid, self._f) if self._resume is not None else None
        if start is not None:
            self._from = start
            self._head = os.pread(self._f.fileno(), 64, 0)
            self._f.seek(start.offset)
            self.skipped = start.offset
            self._restart = start.restart
            self.finished = self.finished or start.finished
        return True

    def poll(self, known=None, wf_known=None) -> list[Event]:
        """``known``: {(wf_uuid, job_id, seq): bit mask of the js_ids the DB has};
        ``wf_known``: {wf_uuid: {(restart_count, ended)}} the DB has."""
        if self._f is None and not self._open():
            return []
        out: list[Event] = []
        if self._started_over():
            # Rotated or rewritten (monitord -r starts the file over): read
            # the new one from the top; the store is idempotent.
            self.close()
            if not self._open():
                return out
        data = self._f.read()
        if not data:
            return out
        if not self._head:
            self._head = (self._partial + data)[:64]
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return self.feed((raw.decode("utf-8", errors="replace").strip() for raw in lines), known, wf_known)

    def feed(self, lines, known=None, wf_known=None) -> list[Event]:
        """The events of jobstate.log lines, read here or made elsewhere (from
        dagman.out, as monitord makes them: sources/dagman_out.py)."""
        out: list[Event] = []
        known, wf_known = known or {}, wf_known or {}
        for line in lines:
            if line:
                self._line(line, out, known, wf_known)
        self.emitted += len(out)
        return out

    def _line(self, line: str, out: list, known: dict, wf_known: dict) -> None:
        p = parse_line(line)
        if p is None:
            return
        self.lines += 1
        ts = float(p[0])
        wf = self.wf_uuid
        if p[1] == "INTERNAL":
            what, arg = p[2], p[3]
            if what == "MONITORD_STARTED":
                self._js.clear()  # a new monitord numbers states afresh
                if self._from is not None:  # (and not as the DB did before the resume point)
                    self._from.close()
                    self._from = None
            elif what == "DAGMAN_STARTED":
                self._restart += 1
                if (self._restart, False) not in wf_known.get(wf, ()):
                    out.append(Event("stampede.xwf.start", ts, {
                        "event": "stampede.xwf.start", "xwf_id": wf, "ts": ts,
                        "restart_count": self._restart, "provisional": True,
                    }))
            elif what == "DAGMAN_FINISHED":
                self.finished = True
                restart = max(self._restart, 0)
                try:
                    status = int(float(arg)) if arg is not None else None
                except ValueError:
                    status = None
                if (restart, True) not in wf_known.get(wf, ()):
                    d = {"event": "stampede.xwf.end", "xwf_id": wf, "ts": ts, "restart_count": restart,
                         "provisional": True}
                    if status is not None:
                        d["status"] = status
                    out.append(Event("stampede.xwf.end", ts, d))
            return
        _, job_id, state, col4, site, seq = p
        key = (job_id, seq)
        js = self._js.get(key)
        if js is None:
            js = 0
            if self._from is not None:
                # its lines above the resume point are in the DB: number on from there
                js, site0, sched0 = self._from.before(job_id, seq)
                if site0:
                    self._site[key] = site0
                if sched0:
                    self._sched[key] = sched0
        js += 1
        self._js[key] = js
        if site and site != "-":
            self._site[key] = site
        if state not in _STATUS_STATES and col4 != "-":
            self._sched[key] = col4
        got = LOG_STATES.get(state)
        if got is None:
            return  # REMOTE_ERROR and the like: nothing the store shows
        if (known.get((wf, job_id, seq), 0) >> js) & 1:
            return  # the DB has it already: it is the authority
        name, status = got
        base = {"xwf_id": wf, "job_id": job_id, "job_inst_id": seq, "provisional": True}
        if state in ("SUBMIT", "PRE_SCRIPT_STARTED") or js == 1:
            # what creates the instance in the DB
            out.append(Event("stampede.job_inst.submit.start", None, {
                "event": "stampede.job_inst.submit.start", **base, "sched_id": self._sched.get(key),
                "site": self._site.get(key),
            }))
        d = {"event": name, **base, "js_id": js, "ts": ts}
        if status is not None:
            d["status"] = status
        if self._sched.get(key):
            d["sched_id"] = self._sched[key]
        if state in _STATUS_STATES and state not in ("PRE_SCRIPT_SUCCESS", "PRE_SCRIPT_FAILURE"):
            try:
                d["exitcode"] = regular_to_raw(int(col4))
            except ValueError:
                pass
        if name == "stampede.job_inst.main.end" and self._site.get(key):
            d["site"] = self._site[key]
        out.append(Event(name, ts, d))


class JobstateLogSource(Source):
    """jobstate.log alone (no DB): states only, under the braindump's wf_uuid."""

    recordable = False

    def __init__(self, path: str, wf_uuid: str, follow: bool = True, poll: float = POLL_SECONDS):
        super().__init__()
        self.log = JobstateLog(path, wf_uuid)
        self.follow = follow
        self.live = follow
        self.poll_seconds = poll
        self.label = f"jobstate {os.path.basename(path)}"

    def batches(self):
        self.status.state = "reading"
        try:
            while not self.stopping:
                events = self.log.poll()
                if self.log.error:
                    self.status.state = "error"
                    self.status.message = self.log.error
                    return
                if events:
                    yield events
                    continue
                if not self.follow:
                    break
                self.status.state = "following"
                self._stop.wait(self.poll_seconds)
        finally:
            self.log.close()
        if self.status.state != "error":
            self.status.state = "ended"
