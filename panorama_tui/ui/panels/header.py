"""The header: the workflow, its state (and a stall), elapsed time, counts and pegasus-status's % done.
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.widgets import Static

from ...core.dagman import percent_done
from ...core.fmt import human_duration, progress_bar, zone_label
from ...model.entities import Workflow
from ...model.states import JobState
from ...model.store import Store
from ...stats.progress import (dag_row, dag_scope, dag_totals, db_counts, loading_db_counts, loading_percent,
                               percent_text, scope_workflow, workflow_state)
from ...stats.stall import Stall, quiet_for, stall
from ..theme import SIGNAL_MARKUP, STATE_MARKUP, WF_STATE_MARKUP, markup_escape
from .base import Panel

COUNT_ORDER = (
    (JobState.DONE, "done"),
    (JobState.RUNNING, "running"),
    (JobState.QUEUED, "queued"),
    (JobState.HELD, "held"),
    (JobState.FAILED, "failed"),
)


def _counts_parts(counts: list[int], retries: int, progress: dict, detail: bool, zeros: bool) -> list[str]:
    """The header's counts; without ``zeros``, those that are 0 (done and waiting stay)."""
    parts = []
    for state, name in COUNT_ORDER:
        n = counts[state]
        if state == JobState.RUNNING:
            n += counts[JobState.RETRYING]
        if n or zeros or state == JobState.DONE:
            style = STATE_MARKUP[state] if n else "dim"
            parts.append(f"[{style}]{state.glyph} {n} {name}[/]")
    parts.append(_waiting_markup(progress, detail))
    if retries or zeros:
        parts.append(f"[{STATE_MARKUP[JobState.RETRYING] if retries else 'dim'}]↻ {retries} retries[/]")
    return parts


def _waiting_markup(progress: dict, detail: bool) -> str:
    """Nodes not submitted yet (pegasus-analyzer's "unsubmitted"), with DAGMan's
    ready and futile among them when there are any (``detail``)."""
    ready, futile = progress["ready"], progress["futile"]
    n = progress["unready"] + ready + futile
    more = ", ".join(f"{v} {k}" for k, v in (("ready", ready), ("futile", futile)) if v) if detail else ""
    return f"[{STATE_MARKUP[JobState.WAITING]}]{JobState.WAITING.glyph} {n} waiting{f' ({more})' if more else ''}[/]"

_UUID = "\x00"  # where the header's uuid goes


def _fit_title(line: str, uuid: str, now: float | None, width: int) -> str:
    """The header's first line in ``width`` cells: the uuid (whole, else its
    first 8 characters, else none) and the time zone every clock time on screen
    is in, said once here; the zone goes before the last 8 characters of uuid."""
    zone = f"  [dim]times in {zone_label(now)}[/dim]"
    for u, z in ((uuid, zone), (uuid[:8], zone), (uuid[:8], ""), ("", "")):
        fitted = line.replace(_UUID, markup_escape(u), 1) + z
        if Text.from_markup(fitted).cell_len <= width:
            break
    return fitted  # a wrapped first line would push the counts out of sight: the CSS cuts it


def _stall_line(st: Stall, width: int) -> str:
    """``STALLED: why``, bold and reversed in the warning colour (so it reads
    without colour too), the reason cut only when wider than the screen."""
    word = st.kind.upper()  # STALLED, or KILLED: a Parsl run whose writer is gone
    room = width - len(f" {word}:  ")
    reason = st.reason if len(st.reason) <= room else st.reason[: max(0, room - 1)] + "…"
    return f"[{SIGNAL_MARKUP['stalled']}] {word}: {escape(reason)} [/]"


def _progress_line(counts: list[int], retries: int, progress: dict, width: int, note: str = "",
                   short_note: str = "") -> str:
    """The counts, a bar and "N% of T" in ``width`` cells (then ``note``): to make room,
    the waiting detail goes first, then the counts that are 0, then the bar, then the note
    becomes ``short_note``, then "of T" goes and the note comes before the percentage done (at 80
    columns a 100k-job load's counts cut "partial, loading 17%" off: the word that says the
    counts are not all there must be the last thing to go)."""
    percent = percent_text(progress["percent_done"])
    tails = [f"{percent} of {progress['total']}" + (f"  {note}" if note else "")]
    if note:
        # (the last: "partial: 98.28% done", not "partial 98.28%", which read as how much was loaded)
        tails += [f"{percent} of {progress['total']}  {short_note or note}", f"{short_note or note}: {percent} done"]
    for tail in tails:
        for detail, zeros in ((True, True), (False, True), (True, False), (False, False)):
            head = "  ".join(_counts_parts(counts, retries, progress, detail, zeros))
            room = width - Text.from_markup(head).cell_len - Text.from_markup(tail).cell_len - 3
            if room >= 0:
                break
        if room >= 0:
            break
    bar = min(40, room)
    frac = progress["percent_done"] / 100
    return f"{head}  [{STATE_MARKUP[JobState.DONE]}]{progress_bar(frac, bar)}[/] {tail}" if bar >= 5 else f"{head}  {tail}"


class HeaderBar(Static):
    """Workflow, state, elapsed time, counts and overall progress."""

    _shown = ""
    _lines = 2

    def show(self, store: Store, wf: Workflow | None, now: float | None, clock: float | None = None,
             loading: dict | None = None) -> None:
        """``now``: the time running jobs are timed to; ``clock``: the one stalls are judged by;
        ``loading``: the source's status detail, whose DB counts stand in for the store's
        while it reads a big DB (issue #14)."""
        wf = scope_workflow(store, wf)
        stalled = None
        if wf is not None:
            scope = dag_scope(store, wf)  # the DAGs DAGMan has started, as pegasus-status adds them up
            stalled = stall(store, wf, clock)
            title = f"[b]{markup_escape(wf.name)}[/b] [dim]{_UUID}[/dim]"  # the uuid, as much of it as fits
            state = workflow_state(wf)
            if stalled is not None and stalled.kind == "killed":
                state = "killed"  # its writer is gone: whatever it last said, it runs no more
            start = wf.start_ts
            end = wf.end_ts
        else:
            scope = [w for r in store.roots for w in dag_scope(store, r)]
            title = f"[b]{len(store.roots)} workflows[/b]" if store.roots else "[dim]waiting for events…[/dim]"
            states = {workflow_state(w) for w in store.roots}
            state = "failed" if "failed" in states else "running" if "running" in states else (
                "succeeded" if states == {"succeeded"} else "planned")
            starts = [w.start_ts for w in store.roots if w.start_ts]
            ends = [w.end_ts for w in store.roots if w.end_ts]
            start = min(starts) if starts else None
            end = max(ends) if ends and len(ends) == len(store.roots) else None
        counts = [sum(col) for col in zip(*(w.counts for w in scope))] if scope else [0] * len(JobState)
        progress = dag_totals(dag_row(w, detail=False) for w in scope)
        retries = sum(w.retries for w in scope)
        note = short_note = ""
        percent = loading_percent(loading)
        rows = loading_db_counts(loading)
        if rows is not None and scope:
            # The store has only what it read so far: the DB's counts, said to be such.
            counts, retries = db_counts(rows, scope)
            total = sum(counts)
            waiting = counts[JobState.WAITING]
            # DAGMan's columns as dag_row counts them from jobs (no ready/futile split in the header)
            progress = {"ready": 0, "futile": 0, "unready": waiting, "total": total,
                        "percent_done": percent_done(counts[JobState.DONE], total)}
            note, short_note = f"[i]from the DB, loading {percent}%[/]", "[i]from the DB[/]"
        elif percent is not None:
            note, short_note = f"[i]partial, loading {percent}%[/]", "[i]partial[/]"
            # a job not read yet looks waiting: "futile" (an ended run's waiting jobs) would be
            # said of jobs that ran (1M finished DB at 5 %: "579998 futile", all of them done)
            progress = dict(progress, unready=progress["unready"] + progress["futile"], futile=0)
        if end is None and stalled is not None:
            end = stalled.since  # nothing happened since: elapsed stops there
        if start is not None:
            elapsed = (end if end is not None else (now or start)) - start
            el = human_duration(max(0.0, elapsed))
        else:
            el = "-"
        style = WF_STATE_MARKUP.get(state, "")
        # before its first layout the bar has no size: the screen's width less the padding
        width = (self.size.width or max(0, self.app.size.width - 2) or 100) - 2
        quiet = quiet_for(store, wf, clock) if wf is not None and stalled is None else None
        if quiet is not None:  # jobs "running" in a DB nothing has written to for a long while
            el += f"  [{SIGNAL_MARKUP['warn']}]last event {human_duration(quiet)} ago[/]"
        line1 = _fit_title(f"{title}  [{style}]{state.upper()}[/]  elapsed {el}", wf.wf_uuid if wf else "", now, width)
        line2 = _progress_line(counts, retries, progress, width, note, short_note)
        text = line1 + "\n" + line2
        if stalled is not None:
            text += "\n" + _stall_line(stalled, width)
        if text != self._shown:  # a tick that changes nothing paints nothing
            self._shown = text
            lines = text.count("\n") + 1
            if lines != self._lines:  # a stall's line comes or goes: the one layout it costs
                self._lines = lines
                self.styles.height = lines
            # Rich's markup: the theme's colours are Rich's names (see theme.py).
            self.update(Text.from_markup(text), layout=False)


class HeaderPanel(Panel):
    """The header over the job list's scope (all workflows when none)."""

    def refresh_from(self, changes, full: bool) -> None:
        app = self.app
        src = app.ingest.source if app.ingest else None
        app.query_one("#header", HeaderBar).show(self.store, app.scope_wf, app.now(), app.stall_clock(),
                                                 src.status.detail if src is not None else None)
