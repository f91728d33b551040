"""The panels around the job list: header, tree, detail, failures, transfers."""

from __future__ import annotations

import plotext as plt
from rich.console import Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static, Tree

from ..events import describe_exitcode
from ..fmt import clock_time, compact_count, human_bytes, human_duration, progress_bar
from ..report import darshan_report, failure_report, tries_report
from ..states import JobState
from ..store import Job, Store, Workflow
from ..summary import workflow_order
from .theme import STATE_MARKUP, WF_STATE_MARKUP, markup_escape

COUNT_ORDER = (
    (JobState.DONE, "done"),
    (JobState.RUNNING, "running"),
    (JobState.QUEUED, "queued"),
    (JobState.HELD, "held"),
    (JobState.FAILED, "failed"),
)


def _counts_markup(counts: list[int], retries: int) -> str:
    parts = []
    for state, name in COUNT_ORDER:
        n = counts[state]
        if state == JobState.RUNNING:
            n += counts[JobState.RETRYING]
        style = STATE_MARKUP[state] if n else "dim"
        parts.append(f"[{style}]{state.glyph} {n} {name}[/]")
    parts.append(f"[{'bold yellow' if retries else 'dim'}]↻ {retries} retries[/]")
    return "  ".join(parts)


class HeaderBar(Static):
    """Workflow, state, elapsed time, counts and overall progress."""

    DEFAULT_CSS = """
    HeaderBar { height: 2; background: $panel; padding: 0 1; }
    """

    _shown = ""

    def show(self, store: Store, wf: Workflow | None, now: float | None) -> None:
        if wf is None and len(store.roots) == 1:
            wf = store.roots[0]
        if wf is not None:
            counts = store.tree_counts(wf)
            scope = [wf] + store.descendants(wf)
            title = f"[b]{markup_escape(wf.name)}[/b] [dim]{markup_escape(wf.wf_uuid)}[/dim]"
            state = wf.state
            start = wf.start_ts
            end = wf.end_ts
        else:
            scope = list(store.workflows.values())
            counts = [sum(col) for col in zip(*(w.counts for w in scope))] if scope else [0] * len(JobState)
            title = f"[b]{len(store.roots)} workflows[/b]" if store.roots else "[dim]waiting for events…[/dim]"
            states = {w.state for w in store.roots}
            state = "failed" if "failed" in states else "running" if "running" in states else (
                "succeeded" if states == {"succeeded"} else "planned")
            starts = [w.start_ts for w in store.roots if w.start_ts]
            ends = [w.end_ts for w in store.roots if w.end_ts]
            start = min(starts) if starts else None
            end = max(ends) if ends and len(ends) == len(store.roots) else None
        retries = sum(w.retries for w in scope)
        total = sum(counts)
        done = counts[JobState.DONE]
        frac = done / total if total else 0.0
        if start is not None:
            elapsed = (end if end is not None else (now or start)) - start
            el = human_duration(max(0.0, elapsed))
        else:
            el = "-"
        style = WF_STATE_MARKUP.get(state, "")
        width = max(10, min(40, (self.size.width or 100) - 70))
        line1 = f"{title}  [{style}]{state.upper()}[/]  elapsed {el}"
        line2 = f"{_counts_markup(counts, retries)}  [green]{progress_bar(frac, width)}[/] {frac * 100:3.0f}% of {total}"
        text = line1 + "\n" + line2
        if text != self._shown:  # a tick that changes nothing paints nothing
            self._shown = text
            self.update(text, layout=False)  # always two lines


class WorkflowTree(Tree):
    """Root -> sub-workflows -> jobs by state; children are built on expand."""

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

    def _wf_label(self, wf: Workflow) -> Text:
        counts = self.store.tree_counts(wf)
        total = sum(counts)
        bad = counts[JobState.FAILED]
        style = WF_STATE_MARKUP.get(wf.state, "")
        label = Text.from_markup(f"[{style}]●[/] {escape(wf.name)} ")
        # Compact counts: a 100k-job label must fit the tree's width.
        label.append(f"{compact_count(counts[JobState.DONE])}/{compact_count(total)}",
                     style="green" if total and counts[JobState.DONE] == total else "")
        if bad:
            label.append(f" ✗{bad}", style="bold bright_red")
        return label

    def sync(self) -> None:
        """Add new workflows; relabel all (there are few)."""
        store = self.store
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
                node = host.add(self._wf_label(wf), data=("wf", wf), expand=parent is None, before=first_group)
                node.allow_expand = True
                self._wf_nodes[wf.wf_uuid] = node
                if parent is None:
                    node.expand()
                    self._fill_groups(node, wf)
        for uuid, node in self._wf_nodes.items():
            wf = store.workflows.get(uuid)
            if wf is not None:
                label = self._wf_label(wf)
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
        drops its job leaves (filled again, current, when expanded)."""
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

    def _fill_leaves(self, node, wf: Workflow, state: JobState) -> None:
        jobs = [j for j in wf.jobs.values() if j.state == state]
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


class JobDetail(Static):
    """The selected job: facts, tries and invocations, Darshan, transfers."""

    DEFAULT_CSS = """
    JobDetail { height: auto; padding: 0 1; }
    """

    _width: int | None = None

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
        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold")
        head.add_column()
        head.add_column(style="bold")
        head.add_column()
        head.add_row("job", job.job_id, "state", Text(job.state.label, style=STATE_MARKUP[job.state]))
        head.add_row("transformation", job.transformation or "-", "type", job.type_desc or "-")
        head.add_row("site", job.site or "-", "host", job.host or "-")
        head.add_row("tries", str(len(job.tries)), "exit", describe_exitcode(job.exit_raw))
        head.add_row("duration", human_duration(job.duration(now)), "sched id", (t.sched_id if t else None) or "-")
        if job.series is not None:
            cpu, peak, rd, wr = job.series.totals()
            head.add_row("cpu time", human_duration(cpu), "peak rss", human_bytes(peak))
            head.add_row("read", human_bytes(rd), "written", human_bytes(wr))
        if job.summary:
            s = job.summary
            head.add_row("monitor exit", str(s.get("exitcode", "-")), "monitor dur", human_duration(s.get("duration")))
        parts: list = [head]
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
            status_style = {"SUCCEEDED": "green", "FAILED": "bold bright_red", "ACTIVE": "cyan"}.get(tr.status, "yellow")
            faults = d.get("faults") or 0
            name = tr.job_id or d.get("label") or tr.task_id
            table.add_row(
                escape(str(name)),
                Text(tr.status, style=status_style),
                ProgressBar(total=1.0, completed=frac, width=None),
                human_bytes(d.get("bytes_transferred")),
                f"{done_files}/{files}",
                human_bytes(d.get("effective_bytes_per_second"), "/s"),
                Text(str(faults), style="bold bright_red" if faults else ""),
            )
        more = len(trs) - self.MAX_ROWS
        self.update(Group(table, Text(f"… {more} more", style="dim")) if more > 0 else table)


class WarningsView(Static):
    DEFAULT_CSS = """
    WarningsView { height: auto; padding: 0 1; }
    """

    def show(self, store: Store) -> None:
        lines = [
            f"events {store.event_count}   bad records {store.bad_count}   unknown events "
            f"{sum(store.unknown.values())}   warnings {store.warning_count}",
        ]
        if store.unknown:
            lines.append("unknown event names: " + ", ".join(f"{k} ×{v}" for k, v in store.unknown.most_common(10)))
        if store.warnings:
            lines.append("latest warnings:")
            lines.extend("  " + w for w in list(store.warnings)[-30:])
        self.update(Text("\n".join(lines)))



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
        xs = [t - occ.t0 for t in occ.times]
        plt.clf()
        plt.plotsize(max(30, width), 12)
        plt.theme("clear" if no_color else "pro")
        plt.plot(xs, occ.running, label="running")
        plt.plot(xs, occ.queued, label="queued")
        plt.plot(xs, occ.done, label="done", yside="right")
        if any(occ.failed):
            plt.plot(xs, occ.failed, label="failed", yside="right")
        plt.xlabel(f"seconds since {clock_time(occ.t0)}")
        parts: list = [Text.from_ansi(plt.build())]
        label_w = 30
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


class StatisticsView(Static):
    """pegasus-statistics' figures, computed live from the store."""

    DEFAULT_CSS = """
    StatisticsView { height: auto; padding: 0 1; }
    """

    def show(self, store: Store, wf: Workflow | None) -> None:
        from .. import pegstats

        wfs = [wf] if wf is not None else store.roots
        if not wfs:
            self.update(Text("no workflow yet", style="dim"))
            return
        parts: list = []
        for w in wfs:
            # One walk for every table; finished jobs are cached between calls.
            everything = pegstats.all_statistics(store, w)
            st = everything["summary"]
            parts.append(Text(f"{w.name}  {w.wf_uuid}  {w.state.upper()}", style="bold"))
            summary = Table(box=None, padding=(0, 1), show_edge=False)
            for col in ("type", "succeeded", "failed", "incomplete", "total", "retries", "total+retries"):
                summary.add_column(col, justify="left" if col == "type" else "right")
            for key, title in (("tasks", "Tasks"), ("jobs", "Jobs"), ("sub_workflows", "Sub-Workflows")):
                c = st[key]
                summary.add_row(
                    title, str(c["succeeded"]), str(c["failed"]), str(c["incomplete"]), str(c["total"]),
                    str(c["retries"]), str(c["succeeded"] + c["failed"] + c["retries"]),
                )
            parts.append(summary)
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
                        Text(f[1], style="bright_red" if f[1] == "failed" else ""),
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
            parts.append(Text(""))
        self.update(Group(*parts))
