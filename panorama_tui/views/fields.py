"""What a term of the filter language (:mod:`.query`) can test on a job: a
:class:`Filter` per field name, declared with its column in :mod:`.columns`.

A filter pass calls a field's getter for every job (100k), so getters are
C-level where the job has the value as an attribute, and ``many`` reads a
whole list at once where a per-job getter would be a Python call.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter, not_, or_
from typing import Callable

from ..core import parsl_events as pe
from ..core.events import decode_exitcode
from ..model.states import STATE_BY_LABEL, JobState


@dataclass(frozen=True)
class Filter:
    """A field of the filter language: ``name<op>value`` tests ``one(job)``."""

    name: str
    one: Callable  # job -> raw value
    many: Callable | None = None  # jobs -> raw values (default: map(one, jobs))
    norm: Callable | None = None  # raw value -> what a term compares (once per distinct value)
    repeats: bool = True  # values recur across jobs (worth remembering answers)
    # A job without the value matches no comparison on it, ``!=`` and ``!~``
    # included: ``exit!=0`` asks which jobs ended badly, and a job that has
    # not ended has no exit code.  (``exit=-`` still asks for those.)
    unset_fails: bool = False
    aliases: tuple[str, ...] = ()  # other names a user may type for it
    # Its own ``=`` and ``!=``: (value typed, negated) -> (test one job, flags
    # for a list); raises ValueError for a value it does not know.
    equals: Callable[[str, bool], tuple[Callable, Callable]] | None = None

    def values(self, jobs):
        return self.many(jobs) if self.many is not None else map(self.one, jobs)


def latest_attr(name: str):
    """A field of the job's latest try, for many jobs: getattr(None, name,
    None) is None, so the whole chain stays in C."""
    return lambda jobs: map(getattr, map(_latest, jobs), repeat(name), repeat(None))


_latest = attrgetter("latest")
_tries = attrgetter("tries")
_state = attrgetter("state")
_state_names = latest_attr("state_name")


def exit_value(raw):
    code, sig = decode_exitcode(raw)
    return code if sig is None else -sig


def tries_count(job) -> int:
    return len(job.tries)


def tries_counts(jobs):
    return map(len, map(_tries, jobs))


def wf_name(wf) -> str:
    return wf.label or wf.wf_uuid


def state_label(state: JobState) -> str:
    return state.label


# What ``state=problems`` means: a job that needs a look.
PROBLEMS = frozenset({JobState.FAILED, JobState.HELD, JobState.RETRYING})
# A Parsl task's own states that are not a JobState's label (``running`` and
# ``failed`` are both: those keep the label's meaning, so ``state=failed``
# still gives failed and dep_fail tasks, as the tree and the counts do).
PARSL_ONLY = tuple(s for s in pe.TASK_STATES if s not in STATE_BY_LABEL)


def state_equals(value: str, negated: bool) -> tuple[Callable, Callable]:
    """``state=`` a comma-separated list, any case: JobState labels, ``problems``,
    and a Parsl task's own states (exec_done, dep_fail, ...: what the STATE
    column shows for it, its latest try's state name)."""
    want = {s.strip().lower() for s in value.split(",") if s.strip()}
    if "problems" in want:
        want |= {s.label for s in PROBLEMS}
        want.discard("problems")
    unknown = want - set(STATE_BY_LABEL) - set(PARSL_ONLY)
    if unknown:
        raise ValueError(f"unknown state {sorted(unknown)[0]!r}; states: {', '.join(STATE_BY_LABEL)}; "
                         f"a Parsl task's: {', '.join(PARSL_ONLY)}")
    states = frozenset(STATE_BY_LABEL[w] for w in want if w in STATE_BY_LABEL)
    names = frozenset(want.intersection(PARSL_ONLY))
    if not names:  # the JobState alone: one set lookup a job, in C
        if negated:
            states = frozenset(JobState) - states
        return (lambda job: job.state in states), (lambda jobs: map(states.__contains__, map(_state, jobs)))

    def hit(job) -> bool:
        t = job.latest
        return job.state in states or (t is not None and t.state_name in names)

    def hits(jobs):
        named = map(names.__contains__, _state_names(jobs))
        return map(or_, map(states.__contains__, map(_state, jobs)), named) if states else named

    if negated:
        return (lambda job: not hit(job)), (lambda jobs: map(not_, hits(jobs)))
    return hit, hits
