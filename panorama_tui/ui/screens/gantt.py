"""The Gantt screen: task state over time, one row per task up to a screenful,
then per app (views/gantt.py); a clock axis on top."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from ...core.fmt import clock_time
from ...model.entities import Workflow
from ...model.states import JobState
from ...views.gantt import CELL, Gantt, gantt
from ...views.timeline import clock_ticks
from .run_view import RunViewScreen, job_state_style

LABEL_MAX = 28  # task rows: "12345 downstream_of_failure" fits
HEADER_LINES = 5  # title, summary, legend, axis, key bar: the rest of the screen is rows


def axis(g: Gantt, label_w: int, width: int) -> Text:
    line = [" "] * width
    for t, text in clock_ticks(g.t0, g.t1, width):
        x = int((t - g.t0) / (g.t1 - g.t0) * width) if g.t1 > g.t0 else 0
        if x >= 0 and x + len(text) <= width and all(c == " " for c in line[max(0, x - 1):x + len(text)]):
            line[x:x + len(text)] = list(text)
    return Text(" " * label_w + "".join(line), style="dim", no_wrap=True)


def legend() -> Text:
    out = Text("", no_wrap=True)
    for st in (JobState.WAITING, JobState.QUEUED, JobState.RUNNING, JobState.RETRYING, JobState.DONE,
               JobState.FAILED):
        out.append(f"{CELL[st]} {st.label}", style=job_state_style(st))
        out.append("  ")
    return out


def gantt_text(g: Gantt, label_w: int, cols: int) -> list[Text]:
    how = ("one row per task" if g.per_task else
           f"one row per app: {g.tasks} tasks in {g.apps} apps (░▒▓█: how many were on an executor, "
           "coloured by the state most of them were in; · only waiting; ✗ a failure)")
    out = [Text(f"{clock_time(g.t0)} → {clock_time(g.t1)}  {how}", style="bold"), legend(), axis(g, label_w, cols)]
    for row in g.rows:
        if g.per_task:
            line = Text(f"{row.label[:label_w - 1]:<{label_w}}", no_wrap=True)
        else:
            line = Text(f"{row.label[:label_w - 7]:<{label_w - 7}}{row.count:>6} ", no_wrap=True)
        for ch, st in row.cells:
            line.append(ch, style=job_state_style(st) if st is not None else "")
        if not g.per_task and row.states:
            line.append("  ")
            for st in (JobState.FAILED, JobState.RUNNING, JobState.RETRYING, JobState.QUEUED, JobState.WAITING,
                       JobState.DONE):
                n = row.states.get(st)
                if n:
                    line.append(f"{st.glyph}{n} ", style=job_state_style(st))
        out.append(line)
    return out


class GanttScreen(RunViewScreen):
    TITLE_TEXT = "Gantt: task state over time (esc back)"

    def body(self, workflows: list[Workflow], width: int) -> RenderableType:
        label_w = min(LABEL_MAX, max(16, width // 4))
        # App rows end with their tasks' states now (~20 columns): the time gets the rest.
        cols = max(20, width - label_w - 1)
        rows = max(5, self.size.height - HEADER_LINES - 1)
        g = gantt(workflows, cols, rows, self.now(), app_width=max(20, cols - 21))
        if g is None:
            return Text("no task has a time yet", style="dim")
        return Group(*gantt_text(g, label_w, len(g.rows[0].cells) if g.rows else cols))
