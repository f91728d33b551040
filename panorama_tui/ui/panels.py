"""The panels around the job list: header, tree, detail, failures, transfers."""

from __future__ import annotations

import os
import time
from functools import partial

import plotext as plt
from rich.console import Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static, Tree
from textual.worker import Worker, WorkerState

from .. import parsl_model
from ..events import describe_exitcode
from ..fmt import clock_time, compact_count, human_bytes, human_duration, progress_bar, zone_label
from ..report import darshan_report, failure_report, tries_report
from ..states import JobState
from ..store import Job, Store, Workflow
from ..summary import (
    Stall,
    dag_row,
    dag_scope,
    dag_totals,
    percent_text,
    stall,
    tree_progress,
    unique_names,
    workflow_order,
    workflow_state,
)
from .help import MOVE
from .theme import SIGNAL_MARKUP, STATE_MARKUP, STATE_STYLES, WF_STATE_MARKUP, markup_escape

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


def _progress_line(counts: list[int], retries: int, progress: dict, width: int) -> str:
    """The counts, a bar and "N% of T" in ``width`` cells: to make room, the
    waiting detail goes first, then the counts that are 0, then the bar."""
    tail = f"{percent_text(progress['percent_done'])} of {progress['total']}"
    for detail, zeros in ((True, True), (False, True), (True, False), (False, False)):
        head = "  ".join(_counts_parts(counts, retries, progress, detail, zeros))
        room = width - Text.from_markup(head).cell_len - len(tail) - 3
        if room >= 0:
            break
    bar = min(40, room)
    frac = progress["percent_done"] / 100
    return f"{head}  [{STATE_MARKUP[JobState.DONE]}]{progress_bar(frac, bar)}[/] {tail}" if bar >= 5 else f"{head}  {tail}"


class HeaderBar(Static):
    """Workflow, state, elapsed time, counts and overall progress."""

    DEFAULT_CSS = """
    HeaderBar { height: 2; background: $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    _shown = ""
    _lines = 2

    def show(self, store: Store, wf: Workflow | None, now: float | None, clock: float | None = None) -> None:
        """``now``: the time running jobs are timed to; ``clock``: the one stalls are judged by."""
        if wf is None and len(store.roots) == 1:
            wf = store.roots[0]
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
        if end is None and stalled is not None:
            end = stalled.since  # nothing happened since: elapsed stops there
        if start is not None:
            elapsed = (end if end is not None else (now or start)) - start
            el = human_duration(max(0.0, elapsed))
        else:
            el = "-"
        style = WF_STATE_MARKUP.get(state, "")
        width = (self.size.width or 100) - 2
        line1 = _fit_title(f"{title}  [{style}]{state.upper()}[/]  elapsed {el}", wf.wf_uuid if wf else "", now, width)
        line2 = _progress_line(counts, retries, progress, width)
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


class WorkflowTree(Tree):
    """Root -> sub-workflows -> jobs by state; children are built on expand."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, group=MOVE),
        Binding("k", "cursor_up", "Up", show=False, group=MOVE),
    ]
    # As wide as its labels, at most a fifth of the screen (16 at 80 columns):
    # the job list needs the width more; `t` hides the tree.
    DEFAULT_CSS = """
    WorkflowTree { width: auto; min-width: 16; max-width: 20%; overflow-x: hidden; }
    """
    MAX_LEAVES = 200

    def __init__(self, store: Store, **kw):
        super().__init__("workflows", **kw)
        self.store = store
        self.show_root = False
        self._wf_nodes: dict[str, object] = {}
        self._seen_structure = -1

    def reset_nodes(self) -> None:
        """Forget the nodes (after ``clear()``, when another input is opened)."""
        self._wf_nodes = {}
        self._seen_structure = -1

    def _wf_label(self, wf: Workflow, name: str | None = None) -> Text:
        progress = tree_progress(self.store, wf)
        done, total = progress["done"], progress["total"]
        bad = progress["failed"]
        style = WF_STATE_MARKUP.get(workflow_state(wf), "")
        label = Text.from_markup(f"[{style}]●[/] {escape(name or wf.name)} ")
        # Compact counts: a 100k-job label must fit the tree's width.
        label.append(f"{compact_count(done)}/{compact_count(total)}", style="green" if total and done == total else "")
        if bad:
            label.append(f" ✗{bad}", style=STATE_MARKUP[JobState.FAILED])
        return label

    def _stale(self) -> bool:
        """The store was emptied since the nodes were made (a replay's
        backward seek): some workflow is gone, or is another object now."""
        workflows = self.store.workflows
        return any(workflows.get(uuid) is not node.data[1] for uuid, node in self._wf_nodes.items())

    def sync(self) -> None:
        """Add new workflows; relabel all (there are few).  After the store
        was emptied, start again: a workflow that has not started by the
        replay's new time is not shown."""
        store = self.store
        if self._stale():
            self.clear()
            self.reset_nodes()
        names = unique_names(store.workflows.values())  # two runs of one workflow read apart
        if store.structure_version != self._seen_structure:
            self._seen_structure = store.structure_version
            for wf in workflow_order(store):
                if wf.wf_uuid in self._wf_nodes:
                    continue
                parent = self._wf_nodes.get(wf.parent_uuid) if wf.parent_uuid else None
                if wf.parent_uuid and parent is None:
                    continue  # its parent arrives first on a later pass
                host = parent if parent is not None else self.root
                # sub-workflows before the parent's state groups
                first_group = next((c for c in host.children if c.data and c.data[0] == "group"), None)
                node = host.add(self._wf_label(wf, names[wf.wf_uuid]), data=("wf", wf), expand=parent is None,
                                before=first_group)
                node.allow_expand = True
                self._wf_nodes[wf.wf_uuid] = node
                if parent is None:
                    node.expand()
                    self._fill_groups(node, wf)
            if self.cursor_line < 0 and self._wf_nodes:
                self.cursor_line = 0  # a cursor to see and move from the start
        for uuid, node in self._wf_nodes.items():
            wf = store.workflows.get(uuid)
            if wf is not None:
                label = self._wf_label(wf, names[uuid])
                if label != node.label:
                    node.set_label(label)
                if node.is_expanded:
                    self._sync_groups(node, wf)

    @staticmethod
    def _group_label(state: JobState, n: int) -> Text:
        return Text.from_markup(f"[{STATE_MARKUP[state]}]{state.glyph} {state.label}[/] ({n})")

    def _fill_groups(self, node, wf: Workflow) -> None:
        for child in list(node.children):
            if child.data and child.data[0] == "group":
                child.remove()
        self._sync_groups(node, wf)

    def _sync_groups(self, node, wf: Workflow) -> None:
        """One node per state the workflow's jobs are in, after its
        sub-workflows, with the current count; a group whose count moved
        drops its job leaves (filled again, current, when expanded).  A
        Parsl run's groups are its apps."""
        run = parsl_model.run_of(wf)
        if run is not None:
            self._sync_apps(node, wf, run)
            return
        groups = {c.data[2]: c for c in node.children if c.data and c.data[0] == "group"}
        for state in JobState:
            n = wf.counts[state]
            g = groups.get(state)
            if not n:
                if g is not None:
                    g.remove()
                continue
            if g is None:
                later = next((groups[s] for s in JobState if s > state and s in groups and wf.counts[s]), None)
                g = node.add(self._group_label(state, n), data=("group", wf, state, n), before=later)
                g.allow_expand = True
            elif g.data[3] != n:
                g.set_label(self._group_label(state, n))
                g.data = ("group", wf, state, n)
                if g.children:
                    expanded = g.is_expanded
                    g.remove_children()
                    if expanded:
                        self._fill_leaves(g, wf, state)

    @staticmethod
    def _app_label(app: str, counts: list[int]) -> Text:
        total, done, failed = counts
        label = Text(f"{app} ")
        label.append(f"{compact_count(done)}/{compact_count(total)}", style="green" if done == total else "")
        if failed:
            label.append(f" ✗{failed}", style=STATE_MARKUP[JobState.FAILED])
        return label

    def _sync_apps(self, node, wf: Workflow, run) -> None:
        """A Parsl run's tasks by app (run -> apps -> tasks), in the order the apps first came."""
        groups = {c.data[2]: c for c in node.children if c.data and c.data[0] == "group"}
        for app, counts in list(run.apps.items()):
            g = groups.get(app)
            data = ("group", wf, app, tuple(counts))
            if not counts[0]:
                if g is not None:
                    g.remove()
                continue
            if g is None:
                g = node.add(self._app_label(app, counts), data=data)
                g.allow_expand = True
            elif g.data != data:
                g.set_label(self._app_label(app, counts))
                g.data = data
                if g.children:
                    expanded = g.is_expanded
                    g.remove_children()
                    if expanded:
                        self._fill_leaves(g, wf, app)

    def _fill_leaves(self, node, wf: Workflow, state) -> None:
        """The jobs of a group: a state, or a Parsl run's app (a str)."""
        app = state if type(state) is str else None
        jobs = [j for j in wf.jobs.values() if (j.transformation == app if app is not None else j.state == state)]
        for j in jobs[: self.MAX_LEAVES]:
            node.add_leaf(Text(j.job_id), data=("job", j))
        if len(jobs) > self.MAX_LEAVES:
            node.add_leaf(Text(f"… {len(jobs) - self.MAX_LEAVES} more: see the job list", style="dim"), data=None)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        data = event.node.data
        if not data:
            return
        if data[0] == "wf":
            self._fill_groups(event.node, data[1])
        elif data[0] == "group" and not event.node.children:
            self._fill_leaves(event.node, data[1], data[2])


def render_plot(job: Job, width: int, height: int, no_color: bool = False) -> Text:
    """CPU, memory and I/O over time as a plotext chart (ANSI -> Rich Text)."""
    rates = job.series.rates() if job.series else []
    if len(rates) < 2 or width < 20 or height < 5:
        if not rates:
            msg = "no /proc trace for this job"
        elif job.state in (JobState.RUNNING, JobState.RETRYING):
            msg = "collecting samples…"
        else:
            msg = "the trace is too short to chart (it ran between two samples)"
        return Text(msg, style="dim")
    t0 = rates[0][0]
    xs = [r[0] - t0 for r in rates]
    plt.clf()
    plt.plotsize(width, height)
    plt.theme("clear" if no_color else "pro")
    plt.plot(xs, [r[1] for r in rates], label="CPU %")
    rss_mb = [r[2] / 2**20 for r in rates]
    io_mb = [(r[3] + r[4]) / 2**20 for r in rates]
    plt.plot(xs, rss_mb, label="RSS MiB", yside="right")
    if any(io_mb):
        plt.plot(xs, io_mb, label="I/O MiB/s", yside="right")
    plt.xlabel("seconds")
    return Text.from_ansi(plt.build())


FACT_PAIRS_FROM = 64  # cells from which the detail's facts go two pairs a line (labels 14 + 12, values 16)


def _facts_grid(rows: list[tuple], width: int) -> Table:
    """Label / value pairs, two a line when ``width`` has room, else one:
    labels are never cut (values end in … instead)."""
    if width < FACT_PAIRS_FROM:
        rows = [pair for row in rows for pair in (row[:2], row[2:])]
    grid = Table.grid(padding=(0, 2))
    for _ in range(len(rows[0]) // 2):
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
    for row in rows:
        grid.add_row(*row)
    return grid


class JobDetail(Static):
    """The selected job: facts, tries and invocations, Darshan, transfers."""

    DEFAULT_CSS = """
    JobDetail { height: auto; padding: 0 1; }
    """

    _width: int | None = None
    _drawn: tuple | None = None  # the last show()'s arguments, and whether its facts went two pairs a line

    def on_resize(self, event) -> None:
        # First drawn before any layout (no width yet), or its pane changed:
        # the facts may go two pairs a line now, or one.
        if self._drawn is not None and (event.size.width - 2 >= FACT_PAIRS_FROM) != self._drawn[1]:
            self.show(*self._drawn[0])

    def _update_sized(self, parts: list) -> None:
        """Update, laying the screen out again only when the new text does not
        fit the space it has (or a scrollbar would be wrong): a layout costs
        tens of ms at 160x50, and a running job's detail is redrawn every tick
        and whenever the cursor rests.  Shorter text leaves blank lines."""
        group = Group(*parts)
        width = max(1, self.size.width - 2)  # the padding
        console = self.app.console
        height = len(console.render_lines(group, console.options.update_width(width), pad=False))
        have = self.size.height
        view = self.parent.size.height if isinstance(self.parent, Widget) else have
        relayout = width != self._width or height > have or (have > view and height < have)
        self.update(group, layout=relayout)
        self._width = width

    def show(self, store: Store, job: Job | None, now: float | None) -> None:
        if job is None:
            self.update(Text("no job selected", style="dim"))
            return
        t = job.latest
        rows = [
            ("job", job.job_id, "state", Text(job.state_label, style=STATE_MARKUP[job.state])),
            ("transformation", job.transformation or "-", "type", job.type_desc or "-"),
            ("site", job.site or "-", "host", job.host or "-"),
            ("tries", str(len(job.tries)), "exit", describe_exitcode(job.exit_raw)),
            ("duration", human_duration(job.duration(now)), "sched id", (t.sched_id if t else None) or "-"),
        ]
        if job.series is not None:
            cpu, peak, rd, wr = job.series.totals()
            rows.append(("cpu time", human_duration(cpu), "peak rss", human_bytes(peak)))
            rows.append(("read", human_bytes(rd), "written", human_bytes(wr)))
        if job.summary:
            s = job.summary
            rows.append(("monitor exit", str(s.get("exitcode", "-")), "monitor dur", human_duration(s.get("duration"))))
        parts: list = [_facts_grid(rows, self.size.width - 2)]
        self._drawn = ((store, job, now), self.size.width - 2 >= FACT_PAIRS_FROM)
        lines = tries_report(job)
        lines += darshan_report(job)
        for tid in job.transfers or []:
            tr = store.transfers.get(tid)
            if tr is not None:
                lines.append(f"transfer {tr.task_id[:8]}: {tr.status} {human_bytes(tr.get('bytes_transferred'))}")
        if job.is_subwf and job.subwf_uuid:
            sub = store.workflows.get(job.subwf_uuid)
            lines.append(f"sub-workflow: {sub.name if sub else job.subwf_uuid}")
        if lines:
            parts.append(Text("\n".join(lines)))
        self._update_sized(parts)


class FailureText(Static):
    DEFAULT_CSS = """
    FailureText { height: auto; padding: 0 1; }
    """

    def show(self, job: Job | None) -> None:
        if job is None:
            self.update(Text("no failed jobs", style="green"))
        else:
            self.update(Text(failure_report(job)))


class TransfersView(Static):
    DEFAULT_CSS = """
    TransfersView { height: auto; padding: 0 1; }
    """
    MAX_ROWS = 200

    def show(self, store: Store) -> None:
        trs = sorted(store.transfers.values(), key=lambda t: (t.is_final, -(t.ts or 0)))
        if not trs:
            self.update(Text("no Globus transfers seen", style="dim"))
            return
        table = Table(expand=True, box=None, padding=(0, 1))
        for col, kw in (
            ("transfer", {"ratio": 2, "no_wrap": True}),
            ("status", {}),
            ("progress", {"ratio": 2}),
            ("bytes", {"justify": "right"}),
            ("files", {"justify": "right"}),
            ("rate", {"justify": "right"}),
            ("faults", {"justify": "right"}),
        ):
            table.add_column(col, **kw)
        for tr in trs[: self.MAX_ROWS]:
            d = tr.data
            files = d.get("files") or 0
            done_files = d.get("files_transferred") or 0
            sub_total = d.get("subtasks_total") or 0
            sub_done = (d.get("subtasks_succeeded") or 0) + (d.get("subtasks_failed") or 0)
            if tr.status == "SUCCEEDED":
                frac = 1.0
            elif sub_total:
                frac = sub_done / sub_total
            elif files:
                frac = done_files / files
            else:
                frac = 0.0
            status_style = {"SUCCEEDED": "green", "FAILED": SIGNAL_MARKUP["alert"], "ACTIVE": "cyan"}.get(tr.status, "yellow")
            faults = d.get("faults") or 0
            name = tr.job_id or d.get("label") or tr.task_id
            table.add_row(
                escape(str(name)),
                Text(tr.status, style=status_style),
                ProgressBar(total=1.0, completed=frac, width=None),
                human_bytes(d.get("bytes_transferred")),
                f"{done_files}/{files}",
                human_bytes(d.get("effective_bytes_per_second"), "/s"),
                Text(str(faults), style=SIGNAL_MARKUP["alert"] if faults else ""),
            )
        more = len(trs) - self.MAX_ROWS
        self.update(Group(table, Text(f"… {more} more", style="dim")) if more > 0 else table)


class WarningsView(Static):
    DEFAULT_CSS = """
    WarningsView { height: auto; padding: 0 1; }
    """

    _shown = ""

    def show(self, store: Store, stalled: list | None = None) -> None:
        """``stalled``: (workflow, :class:`Stall`) pairs, listed first."""
        lines = [f"{st.kind.upper()} {wf.name} {wf.wf_uuid}: {st.reason} (last activity {clock_time(st.since)})"
                 for wf, st in stalled or ()]
        lines.append(
            f"events {store.event_count}   bad records {store.bad_count}   unknown events "
            f"{sum(store.unknown.values())}   warnings {store.warning_count}",
        )
        if store.unknown:
            lines.append("unknown event names: " + ", ".join(f"{k} ×{v}" for k, v in store.unknown.most_common(10)))
        if store.warnings:
            lines.append("latest warnings (where: what «the start of the record»):")
            lines.extend("  " + w for w in list(store.warnings)[-30:])
        text = "\n".join(lines)
        if text != self._shown:  # an update lays the panel out again: 2 % of a core idle, every tick
            self._shown = text
            self.update(Text(text))



# The timeline chart's lines: the job list's states, in its colours and glyphs.
TIMELINE_STATES = (JobState.RUNNING, JobState.QUEUED, JobState.DONE, JobState.FAILED)
CHART_HEIGHT = 12  # lines, legend included, when the panel has them
FRAMED_FROM = 8  # below this many lines the chart has no frame: its rows go to the data


def _plot_color(state: JobState):
    """The state's theme colour as plotext takes it (an ANSI number)."""
    color = STATE_STYLES[state].color
    return color.number if color is not None and color.number is not None else "default"


def render_timeline(occ, width: int, height: int, no_color: bool = False) -> Text:
    """Jobs running / queued / done / failed over time: a legend line, then
    a plotext chart of ``height - 1`` lines on one axis of whole counts,
    with clock times (local) along x."""
    from ..timeline import clock_ticks, count_ticks

    counts = {JobState.RUNNING: occ.running, JobState.QUEUED: occ.queued, JobState.DONE: occ.done,
              JobState.FAILED: occ.failed}
    lines = [(st, counts[st]) for st in TIMELINE_STATES if st != JobState.FAILED or any(occ.failed)]
    xs = [t - occ.t0 for t in occ.times]
    chart_h = max(4, height - 1)
    framed = chart_h >= FRAMED_FROM
    plt.clf()
    plt.limitsize(False, False)  # the panel's size, not the terminal's plotext guesses (80 off a tty)
    plt.plotsize(width, chart_h)
    plt.theme("clear" if no_color else "pro")
    plt.frame(framed)
    for st, ys in lines:
        if no_color:
            # Each line's points are its state's glyph, where its count is not 0
            # (four lines along 0 would read as the last one drawn).
            points = [(x, y) for x, y in zip(xs, ys) if y]
            if points:
                plt.scatter(*zip(*points), marker=st.glyph)
        else:
            plt.plot(xs, ys, color=_plot_color(st))
    rows = chart_h - (3 if framed else 1)  # the frame's two lines and the clock labels
    yt = count_ticks(max(max(ys) for _, ys in lines), rows)
    plt.ylim(0, yt[-1])
    plt.yticks(yt, [str(y) for y in yt])
    plot_w = width - len(str(yt[-1])) - (3 if framed else 1)  # the counts, the axis and the frame
    ticks = clock_ticks(occ.t0, occ.t1, plot_w)
    plt.xticks([t - occ.t0 for t, _ in ticks], [label for _, label in ticks])
    plt.xlim(0, occ.t1 - occ.t0)
    legend = Text(" ", no_wrap=True)
    for st, _ in lines:
        legend.append(f"{st.glyph} {st.label}", style=STATE_STYLES[st])
        legend.append("  ")
    span = f"jobs, {clock_time(occ.t0)} → {clock_time(occ.t1)[-8:]}"
    if legend.cell_len + len(span) <= width:  # whole or not at all
        legend.append(span, style="dim")
    return Text("\n").join([legend, Text.from_ansi(plt.build())])


class TimelineView(Static):
    """Jobs running / queued / done over time (plotext), then a Gantt."""

    DEFAULT_CSS = """
    TimelineView { height: auto; padding: 0 1; }
    """

    def show(self, store: Store, wf: Workflow | None, now: float | None, width: int, no_color: bool = False) -> None:
        from ..timeline import gantt, occupancy

        occ = occupancy(store, wf, bins=max(20, min(200, width - 12)), now=now)
        if occ is None:
            self.update(Text("no job has been submitted yet", style="dim"))
            return
        # The chart fits the lines the panel shows (6 at 80x24); the Gantt scrolls below.
        shown = self.parent.size.height if isinstance(self.parent, Widget) else 0
        parts: list = [render_timeline(occ, width, min(CHART_HEIGHT, shown) if shown else CHART_HEIGHT, no_color)]
        label_w = max(12, min(52, width // 3))  # job ids run to ~50: a third of the width, the rest for time
        g = gantt(store, wf, max(10, width - label_w - 2), max_rows=40, now=now)
        if g is not None:
            rows, t0, t1 = g
            title = "one row per job" if rows and rows[0].state is not None else "jobs per transformation (shade: how many ran)"
            parts.append(Text(f"Gantt {clock_time(t0)} → {clock_time(t1)}  ({title})", style="bold"))
            for r in rows:
                line = Text(f"{r.label[:label_w - 1]:<{label_w}}", no_wrap=True)
                line.append(r.cells, style=STATE_MARKUP[r.state] if r.state is not None else "cyan")
                parts.append(line)
        self.update(Group(*parts))


def _table(title: str, text_cols: tuple, number_cols: tuple) -> Table:
    """A borderless statistics table: text columns left, numbers right."""
    t = Table(title=title, title_justify="left", box=None, padding=(0, 1), show_edge=False)
    for col in text_cols:
        t.add_column(col, justify="left")
    for col in number_cols:
        t.add_column(col, justify="right")
    return t


COUNT_TYPES = (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows"))
COUNT_COLUMNS = ("succeeded", "failed", "incomplete", "total", "retries")


def _counts_table(counts: dict, title: str | None = None) -> Table:
    """summary.csv's table: per type, its counts and total+retries."""
    t = Table(title=title, title_justify="left", box=None, padding=(0, 1), show_edge=False)
    for col in ("type", *COUNT_COLUMNS, "total+retries"):
        t.add_column(col, justify="left" if col == "type" else "right")
    for key, label in COUNT_TYPES:
        c = counts[key]
        t.add_row(label, *(str(c[col]) for col in COUNT_COLUMNS), str(c["succeeded"] + c["failed"] + c["retries"]))
    return t


def _parsl_counts(run) -> Table:
    """A Parsl run's tasks by state, as --once counts them (parsl_model.task_counts)."""
    c = parsl_model.task_counts(run)
    keys = ("succeeded", "memo_done", "failed", "dep_fail", "running", "pending", "total", "retries")
    t = _table("", ("type",), keys)
    t.add_row("Tasks", *(str(c[k]) for k in keys))
    return t


def _same_counts(a: dict, b: dict) -> bool:
    return all(a[key][col] == b[key][col] for key, _ in COUNT_TYPES for col in COUNT_COLUMNS)


def _file_signature(path: str) -> tuple:
    """Changes when SQLite commits to the DB (the file, or its WAL)."""
    sig = []
    for p in (path, path + "-wal"):
        try:
            st = os.stat(p)
            sig.append((st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append(None)
    return tuple(sig)


def _figures_of_db(db: str, uuids: list[str], key: tuple) -> tuple:
    """``--stats``' figures of each workflow (or why there are none), and how long that took;
    in a worker thread."""
    from .. import sqlstats

    began = time.monotonic()
    out: dict = {}
    for u in uuids:
        try:
            out[u] = sqlstats.all_statistics_db(db, u)
        except sqlstats.StatsDbError as exc:
            out[u] = str(exc)
    return key, out, time.monotonic() - began


class StatisticsView(Static):
    """pegasus-statistics' figures.  With a Stampede DB behind the session (a DB, or a
    submit dir's) they are the DB's, computed by sqlstats as ``panorama-top --stats``
    computes them, in a worker thread, again when the DB file changes; the store's counts,
    which take in jobstate.log's overlay ahead of the DB, show beside them, labelled
    provisional, while they differ.  Without a DB (an event log, AMQP, a recording) they
    are pegstats' over the store: its events are all there is."""

    DEFAULT_CSS = """
    StatisticsView { height: auto; padding: 0 1; }
    """
    # Reading the DB holds a read transaction that pegasus-monitord's next commit waits for:
    # after a read that took t seconds the DB is not read again for DB_DUTY * t, so a live
    # run's DB is read at most a fifth of the time.
    DB_DUTY = 4.0

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._shown: tuple | None = None  # (store, wf) last shown
        self._db_key: tuple | None = None  # (db, uuids, file signature) of _db_figures
        self._db_figures: dict = {}  # wf_uuid -> the DB's figures, or why there are none (a str)
        self._db_reading: tuple | None = None  # the key being read
        self._db_next = 0.0  # monotonic time before which the changed DB is not read again

    def show(self, store: Store, wf: Workflow | None) -> None:
        """Call with the store's lock held."""
        from .. import pegstats, sqlstats

        self._shown = (store, wf)
        wfs = [wf] if wf is not None else store.roots
        if not wfs:
            self.update(Text("no workflow yet", style="dim"))
            return
        source = getattr(getattr(self.app, "ingest", None), "source", None)
        db = sqlstats.source_db(source)
        parts: list = []
        if db is None:
            # a submit dir without its DB reads jobstate.log alone: provisional, all of it
            note = "provisional: jobstate.log, no Stampede DB to read" if getattr(source, "logs", None) else None
            for w in wfs:
                run = parsl_model.run_of(w)
                if run is not None:  # pegasus-statistics' figures are a Pegasus run's: its task counts
                    parts += self._title(w.name, w.wf_uuid, workflow_state(w), "a Parsl run: its tasks by state")
                    parts += [_parsl_counts(run), Text("")]
                    continue
                # One walk for every table; finished jobs are cached between calls.
                everything = pegstats.all_statistics(store, w)
                parts += self._title(w.name, w.wf_uuid, w.state, note)
                parts += self._figures(everything)
                parts.append(Text(""))
            self.update(Group(*parts))
            return
        self._read_db(db, [w.wf_uuid for w in wfs])
        for w in wfs:
            got = self._db_figures.get(w.wf_uuid)
            store_counts = pegstats.summary_counts(store, w)
            if isinstance(got, dict):
                parts += self._title(w.name, w.wf_uuid, got["summary"]["state"],
                                     f"pegasus-statistics, from {os.path.basename(db)}")
                parts += self._figures(got)
                if not _same_counts(got["summary"], store_counts):
                    parts.append(_counts_table(store_counts, "provisional, with jobstate.log (ahead of the DB):"))
            else:
                parts += self._title(w.name, w.wf_uuid, w.state, got or f"reading {os.path.basename(db)}…")
                parts.append(_counts_table(store_counts, "provisional, from what has arrived:"))
            parts.append(Text(""))
        self.update(Group(*parts))

    def _read_db(self, db: str, uuids: list[str]) -> None:
        """Starts reading the DB's figures when they are not those of its current state."""
        key = (db, tuple(uuids), _file_signature(db))
        if key == self._db_key or self._db_reading is not None:
            return
        if self._db_key is not None and self._db_key[:2] == key[:2] and time.monotonic() < self._db_next:
            return  # the DB changed, but was read a moment ago
        self._db_reading = key
        self.run_worker(partial(_figures_of_db, db, uuids, key), thread=True, group="statistics", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "statistics" or not worker.is_finished or self._db_reading is None:
            return
        key, self._db_reading = self._db_reading, None
        if event.state == WorkerState.SUCCESS:
            self._db_key, self._db_figures, took = worker.result
            self._db_next = time.monotonic() + self.DB_DUTY * took
        else:  # not a StatsDbError (those are answers): say so, and try again when the DB changes
            self._db_key = key
            self._db_figures = {u: f"cannot read {os.path.basename(key[0])}: {worker.error}" for u in key[1]}
        if self._shown is not None:
            store, wf = self._shown
            with store.lock:
                self.show(store, wf)

    @staticmethod
    def _title(name: str, uuid: str, state: str, note: str | None) -> list:
        parts: list = [Text(f"{name}  {uuid}  {state.upper()}", style="bold")]
        if note:
            parts.append(Text(note, style="dim"))
        return parts

    @staticmethod
    def _figures(everything: dict) -> list:
        """The tables of pegstats' or sqlstats' ``all_statistics`` answer (the same dict)."""
        from .. import pegstats

        st = everything["summary"]
        parts: list = [_counts_table(st)]
        times = Table.grid(padding=(0, 2))
        times.add_column(style="bold")
        times.add_column(justify="right")
        for label, key in (
            ("workflow wall time", "workflow_wall_time"),
            ("cumulative job wall time", "cumulative_job_wall_time"),
            ("cumulative job wall time as seen from submit side", "submit_side_wall_time"),
            ("cumulative job badput wall time", "cumulative_job_badput"),
            ("cumulative job badput wall time as seen from submit side", "submit_side_badput"),
        ):
            times.add_row(label, human_duration(st.get(key)))
        parts.append(times)
        rows = everything["breakdown"].get("ALL") or []
        if rows:
            bt = _table("per transformation", ("transformation", "type"),
                        ("count", "min s", "max s", "mean s", "total s", "mean MB", "mean cpu %"))
            for r in rows[:60]:
                f = pegstats.format_breakdown(r)
                bt.add_row(
                    escape(f[0] or "-"),
                    Text(f[1], style=STATE_MARKUP[JobState.FAILED] if f[1] == "failed" else ""),
                    f[2], f[3], f[4], f[5], f[6], f[9], f[12],
                )
            parts.append(bt)
        checks = everything["integrity"].get("ALL") or []
        if checks:
            it = _table("integrity", ("type", "file type"), ("count", "total s"))
            for r in checks:
                it.add_row(*(escape(f) for f in pegstats.format_integrity(r)))
            parts.append(it)
        hosts = everything["per_host"].get("jobs") or []
        if hosts:
            ht = _table("time per host (jobs)", ("date", "host"), ("count", "runtime"))
            for r in hosts[:40]:
                ht.add_row(str(r.get("date")), escape(str(r.get("host"))), str(r.get("count")),
                           human_duration(r.get("runtime")))
            parts.append(ht)
        return parts
