"""The job filter language typed after ``/``.

``state=failed host~node1 exit!=0 tries>1 blast`` — terms are ANDed.  A term
``field<op>value`` tests one field (ops: ``=`` equal, ``!=`` not equal, ``~``
regex search, ``!~`` no match, ``>`` ``<`` ``>=`` ``<=`` numeric); a bare
word is a case-insensitive regex over the job id, transformation, host and
site.  ``state=problems`` means failed, held or retrying.
"""

from __future__ import annotations

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


def _field(job, name: str):
    if name == "state":
        return job.state.label
    if name == "id":
        return job.job_id
    if name == "xform":
        return job.transformation or ""
    if name == "site":
        return job.site or ""
    if name == "host":
        return job.host or ""
    if name == "exit":
        code, sig = decode_exitcode(job.exit_raw)
        return code if sig is None else -sig
    if name == "tries":
        return len(job.tries)
    if name == "wf":
        return job.wf.label or job.wf.wf_uuid
    if name == "type":
        return job.type_desc or ""
    raise QueryError(f"unknown field {name!r}")  # pragma: no cover


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


def _compile_term(term: str):
    m = _TERM.match(term)
    if not m:
        try:
            rx = re.compile(term, re.IGNORECASE)
        except re.error as exc:
            raise QueryError(f"bad pattern {term!r}: {exc}") from None

        def text_test(job, rx=rx):
            return bool(
                rx.search(job.job_id)
                or (job.transformation and rx.search(job.transformation))
                or (job.host and rx.search(job.host))
                or (job.site and rx.search(job.site))
            )

        return text_test
    name, op, value = m.groups()
    name = _ALIASES.get(name, name)
    if name not in FIELDS:
        raise QueryError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
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
        if op == "~":
            return lambda job: bool(rx.search(str(_field(job, name))))
        return lambda job: not rx.search(str(_field(job, name)))
    if op in (">", "<", ">=", "<="):
        try:
            num = float(value)
        except ValueError:
            raise QueryError(f"{name}{op} needs a number, not {value!r}") from None

        def num_test(job, op=op):
            v = _field(job, name)
            if v is None or v == "":
                return False
            try:
                v = float(v)
            except (TypeError, ValueError):
                return False
            return {">": v > num, "<": v < num, ">=": v >= num, "<=": v <= num}[op]

        return num_test

    def eq_test(job, op=op):
        v = _field(job, name)
        same = str(v).lower() == value.lower() if v is not None else value in ("", "-", "none")
        return same if op == "=" else not same

    return eq_test


def parse(text: str) -> Query:
    tests = [_compile_term(t) for t in text.split()]
    return Query(text=text, tests=tests)


PROBLEMS = frozenset({JobState.FAILED, JobState.HELD, JobState.RETRYING})
