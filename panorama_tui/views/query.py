"""The job filter language typed after ``/``.

``state=failed host~node1 exit!=0 tries>1 blast`` — terms are ANDed.  A term
``field<op>value`` tests one field (ops: ``=`` equal, ``!=`` not equal, ``~``
regex search, ``!~`` no match, ``>`` ``<`` ``>=`` ``<=`` numeric); a bare
word is a case-insensitive regex over the job id, transformation, host and
site.  ``state=problems`` means failed, held or retrying; a Parsl task's own
states work too (``state=exec_done,dep_fail``), any case.  ``field=-`` asks
for jobs without the field.  A job without an exit code (it has not ended)
matches no comparison on exit, ``exit!=0`` included.

The fields, their aliases and their getters come with the job list's columns
(:mod:`.columns`, :mod:`.fields`).
"""

from __future__ import annotations

import operator
import re
from dataclasses import replace
from typing import Callable

from . import columns as registry
from .fields import PROBLEMS, Filter
from .joborder import Selection

_TERM = re.compile(r"^([a-z_]+)(!=|!~|>=|<=|=|~|>|<)(.*)$")


class QueryError(ValueError):
    pass


def __getattr__(name: str):
    # FIELDS (the field names, in the help's order) comes from the column
    # registry when asked, so a column registered later brings its fields.
    if name == "FIELDS":
        return tuple(registry.filters())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_state = operator.attrgetter("state")
_COMPARE = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


class Query(Selection):
    """A parsed filter: its text and its terms, ANDed."""

    def __init__(self, text: str, tests: list):
        super().__init__(tests)
        self.text = text

    @property
    def empty(self) -> bool:
        return not self.tests


class Term:
    """One term's test: ``term(job)`` for one job (a live update), and
    ``term.mask(jobs)``, a flag per job for a whole list (a re-filter), which
    does the per-job work with C-level map() calls."""

    __slots__ = ("test", "_mask")

    def __init__(self, test: Callable, mask: Callable):
        self.test = test
        self._mask = mask

    def __call__(self, job) -> bool:
        return self.test(job)

    def mask(self, jobs):
        return self._mask(jobs)


class _Memo(dict):
    """A test's answer per raw value: a filter pass over 100k jobs meets the
    same few hundred transformations, hosts and sites again and again."""

    __slots__ = ("test",)

    def __init__(self, test):
        super().__init__()
        self.test = test

    def __missing__(self, value) -> bool:
        if len(self) > 100_000:  # bounded, not a leak
            self.clear()
        hit = self[value] = bool(self.test(value))
        return hit


def _value_term(field: Filter, test: Callable, negated: bool = False) -> Term:
    """A term that tests one field's value (``test`` sees the normalised
    value, None when the job does not have it), or its negation."""
    if negated:
        positive = test
        test = lambda v: not positive(v)  # noqa: E731
    if field.unset_fails:
        compare = test
        test = lambda v: False if _unset(v) else compare(v)  # noqa: E731
    norm = field.norm
    if norm is not None:
        inner = test
        test = lambda raw: inner(None if raw is None else norm(raw))  # noqa: E731
    on_value = _Memo(test).__getitem__ if field.repeats else test
    one, values = field.one, field.values
    return Term(lambda job: on_value(one(job)), lambda jobs: map(on_value, values(jobs)))


def _unset(v) -> bool:
    return v is None or v == ""


def _text_term(rx: re.Pattern) -> Term:
    """A bare word: a regex over the job id, transformation, host and site."""
    search = rx.search
    seen = _Memo(lambda v: v and search(v))  # None and "" never match
    fields = registry.filters()
    get_id, get_xform = fields["id"].one, fields["xform"].one
    hosts, sites = fields["host"].values, fields["site"].values

    def test(job):
        if search(job.job_id):
            return True
        t = job.latest
        return seen[job.transformation] or (t is not None and (seen[t.host] or seen[t.site]))

    def mask(jobs):
        look = seen.__getitem__
        return map(any, zip(map(search, map(get_id, jobs)), map(look, map(get_xform, jobs)),
                            map(look, hosts(jobs)), map(look, sites(jobs))))

    return Term(test, mask)


def _compile_regex(text: str) -> re.Pattern:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise QueryError(f"bad pattern {text!r}: {exc}") from None


def _compile_term(term: str) -> Term:
    m = _TERM.match(term)
    if not m:
        return _text_term(_compile_regex(term))
    name, op, value = m.groups()
    fields = registry.filters()
    name = registry.aliases().get(name, name)
    if name not in fields:
        raise QueryError(f"unknown field {name!r}; fields: {', '.join(fields)}")
    field = fields[name]
    if field.equals is not None and op in ("=", "!="):
        try:
            test, mask = field.equals(value, op == "!=")
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        return Term(test, mask)
    if op in ("~", "!~"):
        search = _compile_regex(value).search
        return _value_term(field, lambda v: search("" if v is None else str(v)), negated=op == "!~")
    if op in (">", "<", ">=", "<="):
        try:
            num = float(value)
        except ValueError:
            raise QueryError(f"{name}{op} needs a number, not {value!r}") from None
        compare = _COMPARE[op]

        def num_test(v):
            if _unset(v):
                return False
            try:
                return compare(float(v), num)
            except (TypeError, ValueError):
                return False

        return _value_term(field, num_test)

    if value in ("", "-", "none"):  # how a user asks for a field that is not set (or, with !=, set)
        want_unset = op == "="
        return _value_term(replace(field, unset_fails=False), lambda v: _unset(v) == want_unset)
    low = value.lower()
    return _value_term(field, lambda v: not _unset(v) and str(v).lower() == low, negated=op == "!=")


def parse(text: str) -> Query:
    tests = [_compile_term(t) for t in text.split()]
    return Query(text=text, tests=tests)


PROBLEMS_ONLY = Term(lambda job: job.state in PROBLEMS, lambda jobs: map(PROBLEMS.__contains__, map(_state, jobs)))
