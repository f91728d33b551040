"""The Transfers panel: Globus transfers, the jobs they belong to, their faults.
"""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...core.fmt import human_bytes
from ...model.store import Store
from ..theme import SIGNAL_MARKUP
from .base import Panel


class TransfersView(Static):
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


class TransfersPanel(Panel):
    tab = "transfers"

    def refresh_from(self, changes, full: bool) -> None:
        self.app.query_one("#transfers-view", TransfersView).show(self.store)
