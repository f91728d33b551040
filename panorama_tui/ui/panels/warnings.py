"""The Warnings panel: stalls first, then counts of bad and unknown records and the latest warnings.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...core.fmt import clock_time
from ...model.store import Store
from ...stats.stall import stall
from .base import Panel


class WarningsView(Static):

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


class WarningsPanel(Panel):
    """Stalled workflows first, then the store's counts and warnings."""

    tab = "warnings"

    def refresh_from(self, changes, full: bool) -> None:
        store = self.store
        clock = self.app.stall_clock()
        stalled = [(w, st) for w in store.roots if (st := stall(store, w, clock)) is not None]
        self.app.query_one("#warnings-view", WarningsView).show(store, stalled)
