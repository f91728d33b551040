"""The job list's columns, each declared once: what it is titled, how wide
it is, how it sorts, what its cells say, which filter fields it brings, and
how much it matters when the screen is narrow.  The job list
(``ui/widgets/joblist.py``), its order (:mod:`.joborder`), the filter
language (:mod:`.query`) and the column chooser (``c``) all read this
registry, so adding a column is one :func:`register` call (or one entry in
:data:`BUILT_IN`).

A cell is ``(text, value class)``: the class (a :class:`JobState`, ``"past"``
for a finished job's figures, ``"trend"`` for a sparkline, or None) says what
the value is; its colour is the UI's business (``ui/theme.py``), so this
module stays free of Textual and Rich.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Callable

from ..core.events import describe_exitcode
from ..core.fmt import human_bytes, human_duration, sparkline
from ..model.states import JobState
from . import sortkeys as sk
from .fields import (Filter, exit_value, latest_attr, state_equals, state_label, tries_count, tries_counts,
                     wf_name)

SPARK_WIDTH = 10
# What a column's priority is when its entry does not say: after every built-in one.
LAST = 100


@dataclass(frozen=True)
class Column:
    """One column of the job list.

    ``cell(job, now, names)`` gives the cell's text and value class (``names``:
    wf_uuid -> a name unique among the store's workflows).  ``sort(jobs,
    now)`` gives the sort keys of many jobs at once (see :mod:`.sortkeys`:
    it is called as it is, no wrapper per job); None: not sortable.
    """

    key: str
    title: str
    width: int  # a fixed column's width; a text column's least
    cell: Callable[..., tuple[str, object]]
    right: bool = False
    flex: bool = False  # the job id: takes the width left over
    cap: int = 0  # a text column: as wide as its content, up to this
    short: str = ""  # the title when the column is narrower than its title
    priority: int = LAST  # which columns get the width first when not all fit (lowest first)
    sort: Callable[..., list] | None = None
    timed: bool = False  # its keys move with time alone, without the job changing
    descending: bool = False  # sorted biggest first (big is what is interesting)
    filters: tuple[Filter, ...] = ()  # the filter fields it brings
    several_workflows: bool = False  # shown only while the list holds several workflows


# -- cells -----------------------------------------------------------------------------------------
def _state_cell(job, now, names):
    return job.state.glyph, job.state


def _wf_cell(job, now, names):
    wf = job.wf
    return names.get(wf.wf_uuid) or wf.name, None


def _id_cell(job, now, names):
    return job.job_id, None


def _xform_cell(job, now, names):
    return job.transformation or job.type_desc or "", None


def _status_cell(job, now, names):
    # A PRE or POST script running reads as pegasus-status counts it; a Parsl task's own state.
    return job.state_label, job.state


def _host_cell(job, now, names):
    return job.host or job.site or "", None


def _tries_cell(job, now, names):
    return str(len(job.tries)) if job.tries else "", None


def _exit_cell(job, now, names):
    raw = job.exit_raw
    if raw is None:
        return "", None
    text = describe_exitcode(raw)
    if text.startswith("signal"):
        text = "sig" + text.split()[1]
    return text, (JobState.FAILED if text != "0" else None)


def _dur_cell(job, now, names):
    return human_duration(job.duration(now)) if job.tries else "", None


def _figure_cell(keys: Callable, fmt: Callable[[float], str]):
    """A CPU %, RSS or I/O cell: its column's sort key, so the cell and the order cannot disagree."""
    def cell(job, now, names):
        if job.series is None:
            return "", None
        value = keys((job,), None)[0]
        if value < 0:
            return "", None
        # A finished job's figures are over its trace: dim, apart from running jobs' current ones.
        return fmt(value), (None if job.state in sk.RUNNING else "past")
    return cell


def _spark_cell(job, now, names):
    series = job.series
    if series is None:
        return "", None
    rates = series.rates(SPARK_WIDTH)
    top = max(100.0, max((r[1] for r in rates), default=0))
    return sparkline([r[1] for r in rates], SPARK_WIDTH, top=top), "trend"


# -- the built-in columns, in the order shown ------------------------------------------------------
BUILT_IN = (
    Column("state", "ST", 2, _state_cell, priority=0, sort=sk.state_keys, filters=(
        Filter("state", attrgetter("state"), norm=state_label, aliases=("status",), equals=state_equals),)),
    Column("wf", "WORKFLOW", 8, _wf_cell, cap=24, short="WF", priority=3, several_workflows=True, filters=(
        Filter("wf", attrgetter("wf"), norm=wf_name, aliases=("workflow",)),)),
    Column("id", "JOB", 12, _id_cell, flex=True, cap=64, priority=1, sort=sk.id_keys, filters=(
        Filter("id", attrgetter("job_id"), repeats=False, aliases=("job", "job_id")),)),
    Column("xform", "TRANSFORMATION", 8, _xform_cell, cap=32, short="XFORM", priority=9, sort=sk.xform_keys,
           filters=(Filter("xform", attrgetter("transformation"), aliases=("transformation", "tr")),
                    Filter("type", attrgetter("type_desc")))),
    Column("status", "STATE", 8, _status_cell, cap=14, priority=2),  # a Parsl task's state: fail_retryable
    Column("host", "SITE/HOST", 8, _host_cell, cap=32, short="HOST", priority=6, sort=sk.host_keys, filters=(
        Filter("host", attrgetter("host"), latest_attr("host")),
        Filter("site", attrgetter("site"), latest_attr("site")))),
    Column("tries", "TRY", 3, _tries_cell, right=True, priority=7, sort=sk.tries_keys, descending=True, filters=(
        Filter("tries", tries_count, tries_counts, aliases=("try",)),)),
    Column("exit", "EXIT", 5, _exit_cell, right=True, priority=4, sort=sk.exit_keys, filters=(  # sig15
        Filter("exit", attrgetter("exit_raw"), norm=exit_value, unset_fails=True, aliases=("exitcode",)),)),
    Column("dur", "TIME", 6, _dur_cell, right=True, priority=5, sort=sk.dur_keys, timed=True,  # 59m59s
           descending=True),
    Column("cpu", "CPU%", 5, _figure_cell(sk.cpu_keys, "{:.0f}".format), right=True, priority=8,
           sort=sk.cpu_keys, descending=True),
    Column("rss", "RSS", 5, _figure_cell(sk.rss_keys, human_bytes), right=True, priority=10,  # 1023M
           sort=sk.rss_keys, descending=True),
    Column("io", "I/O", 7, _figure_cell(sk.io_keys, lambda v: human_bytes(v, "/s")), right=True,  # 1023K/s
           priority=11, sort=sk.io_keys, descending=True),
    Column("spark", "CPU TREND", SPARK_WIDTH, _spark_cell, priority=12),
)
# The order the filter help has always listed the built-in fields in (the
# README's key table quotes it); fields registered later follow, in column order.
_LISTED = ("state", "id", "xform", "site", "host", "exit", "tries", "wf", "type")


# -- the registry ----------------------------------------------------------------------------------
_columns: dict[str, Column] = {}
_derived: dict[str, object] = {}  # what is computed from the columns, until one is added or removed


def register(column: Column, *, after: str | None = None) -> Column:
    """Add a column, shown after ``after`` (default: last).  Its key, and its
    filter fields' names and aliases, must be new."""
    if column.key in _columns:
        raise ValueError(f"a column {column.key!r} is registered already")
    taken = set(_filter_index(_columns.values()))
    for name in (n for f in column.filters for n in (f.name, *f.aliases)):
        if name in taken:
            raise ValueError(f"column {column.key!r}: the filter field {name!r} is taken")
        taken.add(name)
    items = list(_columns.items())
    at = len(items) if after is None else [k for k, _ in items].index(after) + 1
    items.insert(at, (column.key, column))
    _columns.clear()
    _columns.update(items)
    _derived.clear()
    return column


def unregister(key: str) -> None:
    del _columns[key]
    _derived.clear()


def _cached(name: str, make: Callable):
    try:
        return _derived[name]
    except KeyError:
        value = _derived[name] = make()
        return value


def columns() -> tuple[Column, ...]:
    """Every column, in the order shown."""
    return _cached("columns", lambda: tuple(_columns.values()))


def column(key: str) -> Column:
    return _columns[key]


def sortable() -> tuple[str, ...]:
    """The keys of the columns the list can sort by, in the order ``s`` cycles through them."""
    return _cached("sortable", lambda: tuple(c.key for c in _columns.values() if c.sort is not None))


def sort_functions() -> dict[str, Callable[..., list]]:
    return _cached("sort_functions", lambda: {c.key: c.sort for c in _columns.values() if c.sort is not None})


def timed() -> frozenset[str]:
    """Columns whose keys move with time alone."""
    return _cached("timed", lambda: frozenset(c.key for c in _columns.values() if c.timed))


def descending() -> frozenset[str]:
    return _cached("descending", lambda: frozenset(c.key for c in _columns.values() if c.descending))


def text_columns() -> tuple[str, ...]:
    """Columns as wide as their content (up to a cap)."""
    return _cached("text_columns", lambda: tuple(c.key for c in _columns.values() if c.cap))


def priority() -> tuple[str, ...]:
    """Every column's key, the one that gets the width first first."""
    return _cached("priority", lambda: tuple(
        c.key for _, c in sorted(enumerate(_columns.values()), key=lambda ic: (ic[1].priority, ic[0]))))


def _filter_index(cols) -> dict[str, Filter]:
    """Every filter field by its name and by each alias."""
    return {n: f for c in cols for f in c.filters for n in (f.name, *f.aliases)}


def filters() -> dict[str, Filter]:
    """The filter language's fields by name, in the order the help lists them."""
    def make():
        found = {f.name: f for c in _columns.values() for f in c.filters}
        listed = [n for n in _LISTED if n in found]
        return {n: found[n] for n in listed + [n for n in found if n not in listed]}
    return _cached("filters", make)


def aliases() -> dict[str, str]:
    """Another name a user may type -> the field's name."""
    return _cached("aliases", lambda: {a: f.name for f in filters().values() for a in f.aliases})


for _column in BUILT_IN:
    register(_column)
