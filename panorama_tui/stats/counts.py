"""Workflow summaries with pegasus-statistics' definitions.

The definitions follow ``Pegasus.db.workflow.stampede_statistics`` (the
queries behind ``pegasus-statistics -s summary``), expanded over a workflow
and all its sub-workflows:

* a job's outcome is the exit code of its latest instance (highest
  job_submit_seq): 0 succeeded, anything else failed, none yet incomplete;
* retries are instances minus jobs that have any instance;
* "Jobs" excludes sub-workflow jobs (type dax/dag), "Sub-Workflows" is only them;
* tasks are counted from the invocations of each job's latest instance
  (distinct task ids), retries from invocations of all instances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..core.stampede import SUBWF_TYPES
from ..model.entities import Job, Workflow
from ..model.store import Store

_POST_ENDS = ("POST_SCRIPT_SUCCESS", "POST_SCRIPT_FAILED")


@dataclass
class Counts:
    succeeded: int = 0
    failed: int = 0
    incomplete: int = 0
    total: int = 0
    retries: int = 0

    @property
    def total_with_retries(self) -> int:
        return self.succeeded + self.failed + self.retries

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Summary:
    jobs: Counts
    tasks: Counts
    sub_workflows: Counts


def _planned(job: Job) -> bool:
    # A job that only a trace or transfer mentioned is not in the plan (and
    # not in the Stampede DB); pegasus-statistics would not count it.
    return job.type_desc is not None


def _job_counts(jobs: list[Job]) -> Counts:
    c = Counts(total=len(jobs))
    instances = with_instances = 0
    for job in jobs:
        if not job.tries:
            continue
        instances += len(job.tries)
        with_instances += 1
        t = job.latest
        ec = t.exitcode
        if ec is None or (t.post_exitcode is None and t.has_state(*_POST_ENDS)):
            # The DB keeps the POST script's status once it has run: while that is not
            # known (a row read mid-commit, jobstate.log ahead of the DB) the job counts
            # as incomplete, as pegasus-statistics counts it.
            continue
        if ec == 0:
            c.succeeded += 1
        else:
            c.failed += 1
    c.retries = instances - with_instances
    c.incomplete = c.total - c.succeeded - c.failed
    return c


def _task_counts(wfs: list[Workflow]) -> Counts:
    c = Counts()
    for wf in wfs:
        c.total += sum(
            1
            for t in wf.tasks.values()
            if t.job_id is not None and t.job_id in wf.jobs and t.type_desc not in SUBWF_TYPES
        )
        ok: set[str] = set()
        bad: set[str] = set()
        rows = 0
        distinct: set[str] = set()
        for job in wf.jobs.values():
            if job.type_desc in SUBWF_TYPES or not job.tries:
                continue
            for t in job.tries.values():
                for inv in t.invocations.values():
                    if inv.task_id is not None:
                        rows += 1
                        distinct.add(inv.task_id)
            for inv in job.latest.invocations.values():
                if inv.task_id is None or inv.exitcode is None:
                    continue
                (ok if inv.exitcode == 0 else bad).add(inv.task_id)
        c.succeeded += len(ok)
        c.failed += len(bad)
        c.retries += rows - len(distinct)
    c.incomplete = c.total - c.succeeded - c.failed
    return c


def held_jobs(wf: Workflow) -> list[Job]:
    """pegasus-analyzer's held jobs (its ``# jobs held``,
    ``StampedeStatistics.get_total_held_jobs``): the workflow's own jobs, not its
    sub-workflows', whose latest try was held at some time (a ``JOB_HELD`` state),
    whether released, removed or held still."""
    return [j for j in wf.jobs.values() if j.latest is not None and j.latest.has_state("JOB_HELD")]


def hold_reason(job: Job) -> str | None:
    """HTCondor's reason for holding the job's latest try, when it was held and said why."""
    t = job.latest
    reason = t.reason.strip() if t is not None and t.reason else ""
    return reason or None


def summarize(store: Store, wf: Workflow) -> Summary:
    wfs = [wf] + store.descendants(wf)
    jobs = [j for w in wfs for j in w.jobs.values() if _planned(j)]
    return Summary(
        jobs=_job_counts([j for j in jobs if j.type_desc not in SUBWF_TYPES]),
        tasks=_task_counts(wfs),
        sub_workflows=_job_counts([j for j in jobs if j.type_desc in SUBWF_TYPES]),
    )
