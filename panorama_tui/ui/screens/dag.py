"""The DAG screen: a Parsl run's tasks layered by dependency depth, grouped by
app with their states counted, and the selected task's lineage
(views/parsl_dag.py)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from ...model.entities import Workflow
from ...views.parsl_dag import Dag, Lineage, dag
from .run_view import RunViewScreen, parsl_state_glyph, parsl_state_style, state_counts_text

APP_WIDTH = 24  # app names of the shared runs run to 21 (downstream_of_failure)


def lineage_text(lin: Lineage) -> list[Text]:
    head = Text(f"task {lin.task_id} ({lin.app or '?'}, ", style="bold")
    head.append(lin.state or "no status", style=parsl_state_style(lin.state))
    head.append(f", layer {lin.depth}): {lin.ancestors} ancestors, {lin.descendants} descendants", style="bold")
    out = [head]
    for word, n, kin, states in (("waits for", lin.ancestors, lin.nearest_ancestors, lin.ancestor_states),
                                 ("waited on by", lin.descendants, lin.nearest_descendants, lin.descendant_states)):
        if not n:
            out.append(Text(f"  {word}: none", style="dim"))
            continue
        line = Text(f"  {word} {n}: ")
        line.append_text(state_counts_text(states))
        out.append(line)
        near = Text("    nearest: ")
        for i, k in enumerate(kin):
            if i:
                near.append("  ")
            near.append(f"{parsl_state_glyph(k.state)} {k.task_id} {k.app or '?'}", style=parsl_state_style(k.state))
            near.append(f" ({k.distance})" if k.distance > 1 else "", style="dim")
        if n > len(kin):
            near.append(f"  … {n - len(kin)} more", style="dim")
        out.append(near)
    return out


def dag_text(d: Dag, width: int) -> list[Text]:
    out = [Text(f"{d.label} ({d.run_id[:8]}): {d.tasks} tasks, {d.edges} dependencies, {d.layers} layers"
                + ("" if len(d.bands) == d.layers else f" in {len(d.bands)} bands"), style="bold")]
    if d.lineage is not None:
        out.extend(lineage_text(d.lineage))
    out.append(Text("layer = the longest chain of dependencies above a task", style="dim"))
    app_w = min(APP_WIDTH, max(8, width // 3))
    for band in d.bands:
        out.append(Text(f"{band.label}  {band.total} tasks", style="bold"))
        for g in band.groups:
            line = Text(f"  {g.app[:app_w]:<{app_w}} {g.total:>7}  ", no_wrap=True, overflow="ellipsis")
            line.append_text(state_counts_text(g.states))
            out.append(line)
    return out


class DagScreen(RunViewScreen):
    TITLE_TEXT = "DAG: tasks by dependency layer, app and state (esc back)"

    def body(self, workflows: list[Workflow], width: int) -> RenderableType:
        parts: list = []
        selected = None
        if self.job is not None:
            try:
                selected = int(self.job.job_id)
            except ValueError:
                selected = None
        for wf in workflows:
            d = dag(wf, selected if self.job is not None and self.job.wf is wf else None)
            if d is None:
                continue
            if parts:
                parts.append(Text(""))
            parts.extend(dag_text(d, width))
        if not parts:
            return Text("no Parsl run here: the DAG is drawn from Parsl's task_depends", style="dim")
        return Group(*parts)
