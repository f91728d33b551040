"""The store: workflows -> sub-workflows -> jobs -> tries -> invocations.

Built incrementally from :class:`~panorama_tui.core.events.Event` s.  Every update
is keyed by the ids the event carries (job_inst_id, js_id, inv_id, sample
time, transfer task id), so applying an event twice, or events out of order,
gives the same store.  Sources call :meth:`Store.apply_many` from their own
threads while holding :attr:`Store.lock`; views take the same lock to read, and
learn which jobs changed through their own cursor on :attr:`Store.changes`
(handlers add the jobs they change to :attr:`Store.changed`).
"""

from __future__ import annotations

import threading
from collections import Counter, deque

from ..core import gcpolicy
from ..core.events import BadEvent, Event
from ..core.fmt import visible
from .changes import ChangeFeed
from .coerce import _int, _str
from .entities import Job, Transfer, Try, Workflow
from .handlers import HANDLERS, IGNORED
from .lane import apply_slice
from .states import FAILED_STATES, HELD_STATES, MAIN_DONE_STATES, QUEUED_STATES, SUCCESS_STATES, JobState

MAX_WARNINGS = 200


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.changes = ChangeFeed()
        # Where handlers put every job they change (the feed's open set; only added to here).
        self.changed = self.changes.changed
        self.structure_version: int = 0
        # How many of structure_version's steps were a new job (Store.job): the rest are what
        # a view must build again for (a workflow, a link, a reset); a new job is also a
        # changed one, which a view's update places (views/joborder.py JobOrder._grow).
        self.jobs_made: int = 0
        self._clear()

    def reset(self) -> None:
        """Forget everything (replay's backward seek rebuilds from zero)."""
        gcpolicy.thaw()  # what was frozen is about to be garbage
        structure = self.structure_version
        self._clear()
        self.changes.reset()
        # Views rebuild when this moves: from zero, the replay could bring it
        # back to the very number they saw, and they would keep the old jobs.
        self.structure_version = structure + 1

    def restore(self, state) -> None:
        """Everything in place of what it held: a checkpoint's contents (model/checkpoint.py,
        built outside the lock; this only swaps them in).  Views rebuild as after :meth:`reset`."""
        old = self.workflows
        structure = self.structure_version
        for name in state.__slots__:
            setattr(self, name, getattr(state, name))
        self.changes.reset()
        self.structure_version = structure + 1
        # The old store's objects are frozen (gcpolicy) where the collector never looks: with
        # the job <-> workflow cycle cut, their counts free them once the views let go.
        for wf in old.values():
            wf.jobs = {}
            wf.meta = {}

    def _clear(self) -> None:
        self.workflows: dict[str, Workflow] = {}
        self.transfers: dict[str, Transfer] = {}
        self.event_count = 0
        self.event_names: Counter = Counter()
        self.unknown: Counter = Counter()
        self.bad_count = 0
        self.warnings: deque = deque(maxlen=MAX_WARNINGS)
        self.warning_count = 0
        self.active: set[Job] = set()  # jobs RUNNING or RETRYING
        self.structure_version = 0  # bumps when workflows or jobs appear
        self.version = 0
        self.latest_ts: float | None = None
        self._order = 0
        self._failed: dict[tuple, Job] = {}

    # -- bookkeeping -----------------------------------------------------
    def warn(self, message: str) -> None:
        """A counted, visible warning about input the store could not use
        (the message may quote the input: its control characters are made visible)."""
        self.warning_count += 1
        self.warnings.append(visible(message))

    def note_bad(self, reason: str) -> None:
        """A record that never became an event (not JSON, no name, too big)."""
        self.bad_count += 1
        self.warn(reason)

    @property
    def layout_version(self) -> int:
        """Moves when the store changed more than by new jobs (see ``jobs_made``)."""
        return self.structure_version - self.jobs_made

    @property
    def roots(self) -> list[Workflow]:
        return [w for w in self.workflows.values() if not w.parent_uuid or w.parent_uuid not in self.workflows]

    def workflow(self, wf_uuid: str) -> Workflow:
        wf = self.workflows.get(wf_uuid)
        if wf is None:
            wf_uuid = _str(wf_uuid)  # a workflow is known by its id as the views show it
            wf = self.workflows.get(wf_uuid)
            if wf is None:
                wf = self.workflows[wf_uuid] = Workflow(wf_uuid)
                self.structure_version += 1
        return wf

    def job(self, wf: Workflow, job_id: str) -> Job:
        j = wf.jobs.get(job_id)
        if j is None:
            job_id = _str(job_id)  # a job is known by its id as the views show it
            j = wf.jobs.get(job_id)
            if j is None:
                self._order += 1
                j = wf.jobs[job_id] = Job(wf, job_id, self._order)
                wf.counts[j.state] += 1
                self.structure_version += 1
                self.jobs_made += 1
                self.changed.add(j)
        return j

    def jobs(self):
        for wf in self.workflows.values():
            yield from wf.jobs.values()

    def job_count(self) -> int:
        return sum(len(wf.jobs) for wf in self.workflows.values())

    def failed_jobs(self) -> list[Job]:
        return sorted(self._failed.values(), key=lambda j: j.order)

    def find_job(self, wf_uuid: str, job_id: str) -> Job | None:
        wf = self.workflows.get(wf_uuid)
        return wf.jobs.get(job_id) if wf else None

    def descendants(self, wf: Workflow) -> list[Workflow]:
        out, stack = [], list(wf.children)
        while stack:
            c = self.workflows.get(stack.pop())
            if c is not None and c not in out:
                out.append(c)
                stack.extend(c.children)
        return out

    def tree_counts(self, wf: Workflow) -> list[int]:
        counts = list(wf.counts)
        for c in self.descendants(wf):
            for i, n in enumerate(c.counts):
                counts[i] += n
        return counts

    # -- ingest ----------------------------------------------------------
    def apply_many(self, events) -> int:
        n = 0
        with self.lock:
            for ev in events:
                self.apply(ev)
                n += 1
        return n

    def apply(self, ev: Event) -> None:
        self.event_count += 1
        self.version += 1
        name = ev.name
        self.event_names[name] += 1
        ts = ev.ts
        if ts is not None and (self.latest_ts is None or ts > self.latest_ts):
            self.latest_ts = ts
        handler = HANDLERS.get(name)
        if handler is None:
            if name not in IGNORED:
                self.unknown[_str(name)] += 1
            return
        try:
            handler(self, ev, ev.data)
        except BadEvent as exc:
            self.note_bad(f"{name}: {exc}"[:200])
        except RecursionError:  # str() of a field nested ~1,000 deep
            self.note_bad(f"{name}: nested too deeply"[:200])
        except Exception as exc:
            # A field of the wrong type, or whatever else a record holds: keep
            # what we had, say so, go on.  No record stops the ingest thread.
            self.warn(f"{name}: unusable record ({type(exc).__name__}: {exc})"[:200])

    def apply_decoded(self, items) -> None:
        """Events, typed records and TraceSamples in arrival order, as Ingest decodes
        a slice (see :func:`panorama_tui.pipeline.ingest.decode_batch`): the same
        store as :meth:`apply` of each, with the bookkeeping done once a slice
        (:mod:`panorama_tui.model.lane`)."""
        apply_slice(self, items)

    # -- job state -------------------------------------------------------
    def _wf_of(self, d: dict) -> Workflow | None:
        wf_uuid = d.get("xwf_id") or d.get("wf_uuid")
        if not wf_uuid:
            return None
        if type(wf_uuid) is str:
            wf = self.workflows.get(wf_uuid)
            if wf is not None:
                return wf
        return self.workflow(str(wf_uuid))

    def _try_of(self, d: dict, name: str) -> tuple[Job, Try] | None:
        wf = self._wf_of(d)
        job_id = d.get("job_id")
        seq = _int(d.get("job_inst_id"))
        if wf is None or job_id is None or seq is None:
            self.warn(f"{name}: missing workflow, job or instance id")
            return None
        return self.try_in(wf, job_id if type(job_id) is str else str(job_id), seq)

    def try_in(self, wf: Workflow, job_id: str, seq: int) -> tuple[Job, Try]:
        """The job and its try ``seq`` (each made when first named; a try past the first
        counts as a retry of the workflow)."""
        job = wf.jobs.get(job_id)
        if job is None:
            job = self.job(wf, job_id)
        tries = job.tries
        t = tries.get(seq)
        if t is None:
            t = tries[seq] = Try(seq)
            if job.latest is None or seq > job.latest.seq:
                job.latest = t
            if len(tries) > 1:
                wf.retries += 1
        return job, t

    def _recompute(self, job: Job, new: JobState | None = None) -> None:
        """Set the job's state (``new``, or the one its Stampede states say) and keep
        the counts, the failed and the active jobs in step."""
        if new is None:
            new = self._derive_state(job)
        old = job.state
        if new != old:
            c = job.wf.counts
            c[old] -= 1
            c[new] += 1
            job.state = new
            if new == JobState.FAILED:
                self._failed[job.key] = job
            elif old == JobState.FAILED:
                self._failed.pop(job.key, None)
            if new == JobState.RUNNING or new == JobState.RETRYING:
                self.active.add(job)
            elif old == JobState.RUNNING or old == JobState.RETRYING:
                self.active.discard(job)
        self.changed.add(job)

    @staticmethod
    def _derive_state(job: Job) -> JobState:
        tries = job.tries
        if not tries:
            return JobState.WAITING
        t = job.latest
        return derive_state(len(tries), t.state_name, job.wf.ended, t.exitcode, job.max_retries)


def derive_state(tries: int, st: str | None, ended: bool, ec, max_retries: int | None) -> JobState:
    """A job's state from its number of tries (> 0), its latest try's latest Stampede state
    ``st`` and raw exit status ``ec``, whether its workflow has ended and its retry limit:
    the one rule, for the store and for the --once pass that keeps no Job (stats/stream_once.py)."""
    if st is None:
        return JobState.WAITING
    if st in SUCCESS_STATES:
        return JobState.DONE
    failed = st in FAILED_STATES
    if st in MAIN_DONE_STATES and ended:
        # No POST script came and none will: the main job's result stands.
        if ec is not None and _int(ec) == 0:
            return JobState.DONE
        failed = True
    if failed:
        if not ended and max_retries is not None and tries <= max_retries:
            return JobState.RETRYING  # DAGMan will submit it again
        return JobState.FAILED
    if st in HELD_STATES:
        return JobState.HELD
    earlier_failed = tries > 1
    if st in QUEUED_STATES:
        return JobState.RETRYING if earlier_failed else JobState.QUEUED
    return JobState.RETRYING if earlier_failed else JobState.RUNNING
