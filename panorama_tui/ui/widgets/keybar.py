"""The footer of key hints, redrawn only when the hints change.

Textual's Footer recomposes (and so lays out the whole screen, ~50-130 ms at
160x50 here) on every focus change and every ``refresh_bindings``, even when
it would show the same keys: clearing a filter or moving focus between panes
that share their keys paid a full layout for nothing.  While a text box has
the focus (the filter) the bar keeps the keys of what it was opened over:
it is back to them one enter or esc later, without two layouts.
"""

from __future__ import annotations

from textual.widgets import Footer, Input


class KeyBar(Footer):
    _shown: tuple | None = None

    def _signature(self, screen) -> tuple:
        return tuple(
            (key, b.description, b.action, enabled, tooltip)
            for key, (_node, b, enabled, tooltip) in screen.active_bindings.items()
            if b.show or key == self.app.COMMAND_PALETTE_BINDING
        )

    def bindings_changed(self, screen) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            if self._shown is not None and isinstance(screen.focused, Input):
                return
            sig = self._signature(screen)
            if sig == self._shown:
                return
            self._shown = sig
        super().bindings_changed(screen)
