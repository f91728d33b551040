"""The resources screen: per app CPU time and peak memory distributions and
efficiency, the workers' capacity against use, and the tasks over their
memory (views/resources.py)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from ...core.fmt import human_bytes, human_duration
from ...model.entities import Workflow
from ...views.resources import Resources, Spread, histogram_line, resources
from ..theme import SIGNAL_MARKUP
from .run_view import RunViewScreen

APP_WIDTH = 22
OVER_LISTED = 10  # tasks over their memory listed by id (the worst first)


def _spread(s: Spread | None, fmt) -> str:
    if s is None:
        return f"{'-':>8} {'-':>8} {'-':>8} {'-':>8} {'':8}"
    return f"{fmt(s.lo):>8} {fmt(s.p50):>8} {fmt(s.p90):>8} {fmt(s.hi):>8} {histogram_line(s.histogram):8}"


def _tasks_cell(a) -> str:
    return f"{a.sampled}/{a.tasks}" if a.sampled != a.tasks else str(a.tasks)


def resources_text(r: Resources, width: int) -> list[Text]:
    # as wide as its widest cell ("39433/40220" at 100k tasks pushed the rest of its row right)
    tasks_w = max([6, *(len(_tasks_cell(a)) for a in r.apps)])
    app_w = min(APP_WIDTH, max(10, width - 92 - tasks_w))
    out = [Text(f"{r.label} ({r.run_id[:8]})", style="bold")]
    c = r.capacity
    cap = Text("  workers ")
    cap.append(f"{c.workers}", style="bold")
    cap.append(f" on {c.managers} managers ({c.cores} cores, {human_bytes(c.memory)}), at most {c.busy_peak} busy"
               f" at once; now {c.active_workers} on {c.active_managers} active: {c.busy_now} busy, {c.idle_now} idle")
    out.append(cap)
    if c.blocks:
        blocks = Text("  blocks: " + ", ".join(f"{n} {s}" for s, n in sorted(c.blocks.items())))
        if c.pending_blocks:
            blocks.append(f"  ({c.pending_blocks} pending: asked for, not there yet)", style=SIGNAL_MARKUP["warn"])
        out.append(blocks)
    head = f"  {'app':<{app_w}} {'tasks':>{tasks_w}} {'eff':>5} │ {'CPU min':>8} {'p50':>8} {'p90':>8} {'max':>8} " \
           f"{'histo':8} │ {'RSS min':>8} {'p50':>8} {'p90':>8} {'max':>8} {'histo':8}"
    out.append(Text(head, style="bold", no_wrap=True))
    for a in r.apps:
        eff = "-" if a.efficiency is None else f"{100 * a.efficiency:.0f}%"
        out.append(Text(f"  {a.app[:app_w]:<{app_w}} {_tasks_cell(a):>{tasks_w}} {eff:>5} │ {_spread(a.cpu, human_duration)} │ "
                        f"{_spread(a.rss, human_bytes)}", no_wrap=True, overflow="ellipsis"))
    out.append(Text("  eff: CPU time / (wall time x 1 core); tasks a/b: a of its b tasks were sampled", style="dim"))
    if r.over_memory:
        warn = Text(f"  {len(r.over_memory)} tasks over their memory (peak RSS above the node's memory per worker):",
                    style=SIGNAL_MARKUP["warn"])
        out.append(warn)
        for o in r.over_memory[:OVER_LISTED]:
            out.append(Text(f"    task {o.task_id} ({o.app or '?'}) on {o.host}: {human_bytes(o.peak)} "
                            f"> {human_bytes(o.per_worker)} a worker"))
        if len(r.over_memory) > OVER_LISTED:
            out.append(Text(f"    … {len(r.over_memory) - OVER_LISTED} more", style="dim"))
    else:
        out.append(Text("  no task over its memory (peak RSS within the node's memory per worker)", style="dim"))
    return out


class ResourcesScreen(RunViewScreen):
    TITLE_TEXT = "Resources: usage per app, efficiency, capacity against use (esc back)"

    def body(self, workflows: list[Workflow], width: int) -> RenderableType:
        parts: list = []
        for wf in workflows:
            r = resources(wf)
            if r is None:
                continue
            if parts:
                parts.append(Text(""))
            parts.extend(resources_text(r, width))
        if not parts:
            return Text("no Parsl run here: the resources come from Parsl's resource, node and block tables",
                        style="dim")
        return Group(*parts)
