"""The workflow tree: root -> sub-workflows -> jobs by state; children are built on expand.
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree

from ...core.fmt import compact_count
from ...model.entities import Workflow
from ...model.handlers import parsl
from ...model.states import JobState
from ...model.store import Store
from ...model.workflows import unique_names, workflow_order
from ...stats.progress import dag_scope, db_counts, loading_db_counts, tree_progress, workflow_state
from ..keys import MOVE
from ..theme import STATE_MARKUP, WF_STATE_MARKUP
from .base import Panel


class WorkflowTree(Tree):
    """Root -> sub-workflows -> jobs by state; children are built on expand."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, group=MOVE),
        Binding("k", "cursor_up", "Up", show=False, group=MOVE),
    ]
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

    def _wf_label(self, wf: Workflow, name: str | None = None, db_rows=None) -> Text:
        if db_rows is not None:
            # A big DB still loading: its own counts, as the header shows them (the store's are
            # the jobs read so far: "176/240" beside a header's "831 done of 3003")
            counts, _ = db_counts(db_rows, dag_scope(self.store, wf))
            done, total, bad = counts[JobState.DONE], sum(counts), counts[JobState.FAILED]
        else:
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

    def sync(self, loading: dict | None = None) -> None:
        """Add new workflows; relabel all (there are few).  After the store
        was emptied, start again: a workflow that has not started by the
        replay's new time is not shown.  ``loading``: the source's status detail,
        whose DB counts label the workflows while a big DB loads."""
        store = self.store
        db_rows = loading_db_counts(loading)
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
                label = self._wf_label(wf, names[uuid], db_rows)
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
        run = parsl.run_of(wf)
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


class TreePanel(Panel):
    """The workflow tree: its workflows and their state groups follow the store."""

    def refresh_from(self, changes, full: bool) -> None:
        src = self.app.ingest.source if self.app.ingest else None
        self.app.query_one("#tree", WorkflowTree).sync(src.status.detail if src is not None else None)
