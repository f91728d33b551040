"""The job filter language typed after ``/``.

``state=failed host~node1 exit!=0 tries>1 blast`` — terms are ANDed.  A term
``field<op>value`` tests one field (ops: ``=`` equal, ``!=`` not equal, ``~``
regex search, ``!~`` no match, ``>`` ``<`` ``>=`` ``<=`` numeric); a bare
word is a case-insensitive regex over the job id, transformation, host and
site.  ``state=problems`` means failed, held or retrying.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from .events import decode_exitcode
from .states import STATE_BY_LABEL, JobState

_TERM = re.compile(r"^([a-z_]+)(!=|!~|>=|<=|=|~|>|<)(.*)$")
FIELDS = ("state", "id", "xform", "site", "host", "exit", "tries", "wf", "type")
_ALIASES = {"job": "id", "job_id": "id", "transformation": "xform", "tr": "xform", "status": "state",
            "workflow": "wf", "try": "tries", "exitcode": "exit"}


class QueryError(ValueError):
    pass


def _exit(job):
    code, sig = decode_exitcode(job.exit_raw)
    return code if sig is None else -sig


# What each field reads from a job; picked once when a term is compiled, since
# a filter pass calls it for every job.
_GETTERS = {
    "state": lambda j: j.state.label,
    "id": lambda j: j.job_id,
    "xform": lambda j: j.transformation or "",
    "site": lambda j: j.site or "",
    "host": lambda j: j.host or "",
    "exit": _exit,
    "tries": lambda j: len(j.tries),
    "wf": lambda j: j.wf.label or j.wf.wf_uuid,
    "type": lambda j: j.type_desc or "",
}
assert set(_GETTERS) == set(FIELDS)
_COMPARE = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


@dataclass
class Query:
    text: str
    tests: list

    def __call__(self, job) -> bool:
        for t in self.tests:
            if not t(job):
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.tests


class _Memo(dict):
    """A test's answer per value: a filter pass over 100k jobs meets the same
    few hundred transformations, hosts and sites again and again.  With
    ``skip_empty``, None and "" never match (a bare word looks only at the
    fields a job has)."""

    __slots__ = ("test", "skip_empty")

    def __init__(self, test, skip_empty: bool = False):
        super().__init__()
        self.test = test
        self.skip_empty = skip_empty

    def __call__(self, value) -> bool:
        if self.skip_empty and not value:
            return False
        hit = self.get(value)
        if hit is None:
            if len(self) > 100_000:  # job ids in the field: bounded, not a leak
                self.clear()
            hit = self[value] = bool(self.test(value))
        return hit


def _compile_term(term: str):
    m = _TERM.match(term)
    if not m:
        try:
            rx = re.compile(term, re.IGNORECASE)
        except re.error as exc:
            raise QueryError(f"bad pattern {term!r}: {exc}") from None

        search = rx.search
        seen = _Memo(search, skip_empty=True)  # transformations, hosts and sites repeat across jobs

        def text_test(job):
            if search(job.job_id):
                return True
            t = job.latest
            return seen(job.transformation) or (t is not None and (seen(t.host) or seen(t.site)))

        return text_test
    name, op, value = m.groups()
    name = _ALIASES.get(name, name)
    if name not in FIELDS:
        raise QueryError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
    get = _GETTERS[name]
    if name == "state" and op in ("=", "!="):
        want = {s.strip() for s in value.split(",") if s.strip()}
        if "problems" in want:
            want |= {"failed", "held", "retrying"}
            want.discard("problems")
        unknown = want - set(STATE_BY_LABEL)
        if unknown:
            raise QueryError(f"unknown state {sorted(unknown)[0]!r}; states: {', '.join(STATE_BY_LABEL)}")
        wanted = frozenset(STATE_BY_LABEL[w] for w in want)
        if op == "=":
            return lambda job: job.state in wanted
        return lambda job: job.state not in wanted
    if op in ("~", "!~"):
        try:
            rx = re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise QueryError(f"bad pattern {value!r}: {exc}") from None
        seen = _Memo(lambda v: rx.search(str(v)))
        if op == "~":
            return lambda job: seen(get(job))
        return lambda job: not seen(get(job))
    if op in (">", "<", ">=", "<="):
        try:
            num = float(value)
        except ValueError:
            raise QueryError(f"{name}{op} needs a number, not {value!r}") from None

        compare = _COMPARE[op]

        def num_test(job):
            v = get(job)
            if v is None or v == "":
                return False
            try:
                return compare(float(v), num)
            except (TypeError, ValueError):
                return False

        return num_test

    low = value.lower()
    seen = _Memo(lambda v: str(v).lower() == low)
    nothing = value in ("", "-", "none")  # how a user asks for a field that is not set

    def eq_test(job):
        v = get(job)
        return nothing if v is None else seen(v)

    if op == "=":
        return eq_test
    return lambda job: not eq_test(job)


def parse(text: str) -> Query:
    tests = [_compile_term(t) for t in text.split()]
    return Query(text=text, tests=tests)


PROBLEMS = frozenset({JobState.FAILED, JobState.HELD, JobState.RETRYING})
