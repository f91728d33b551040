"""Textual internals (tested with Textual 8.2): virtual sizes that do not lay out the screen.

Changing a widget's ``virtual_size`` lays out the whole screen (30-50 ms at
160x50 on a 2-core machine), which the job list would pay on every row added
and the filter box on every key typed.  Both only need their own scrolling
redone, which Textual exposes no public way to ask for.

Textual is imported inside the functions: this module lives outside ui/, and
the UI-free core (tests/test_core_imports.py imports every module outside
ui/) must never pull Textual in.
"""

from __future__ import annotations

TESTED = "8.2"


def set_virtual_size_without_layout(view, size) -> None:
    """Textual 8.2: set a ScrollView's virtual size and redo only its scrollbars (the private ``_scroll_update``), no layout."""
    view.set_reactive(type(view).virtual_size, size)
    view._scroll_update(size)
    view.refresh()


def virtual_size_without_layout():
    """Textual 8.2: an Input subclass's ``virtual_size``: Input's private ``_watch_value`` sets it per key (a layout each)."""
    from textual.geometry import Size
    from textual.reactive import Reactive

    return Reactive(Size(0, 0), layout=False)


def missing() -> list[str]:
    """The internals above that the installed Textual lacks (empty when all are there)."""
    import inspect

    from textual.reactive import Reactive
    from textual.scroll_view import ScrollView
    from textual.widget import Widget
    from textual.widgets import Input

    out = []
    update = getattr(ScrollView, "_scroll_update", None)
    if update is None or list(inspect.signature(update).parameters) != ["self", "virtual_size"]:
        out.append("ScrollView._scroll_update(self, virtual_size)")
    if not isinstance(vars(Widget).get("virtual_size"), Reactive):
        out.append("Widget.virtual_size as a Reactive")
    watch = getattr(Input, "_watch_value", None)
    try:
        sets_it = watch is not None and "self.virtual_size =" in inspect.getsource(watch)
    except (OSError, TypeError):  # no source to read (a zipped install): cannot tell, so no alarm
        sets_it = True
    if not sets_it:
        out.append("Input._watch_value setting self.virtual_size (FilterBox's quiet virtual_size would do nothing)")
    return out


def version() -> str:
    import textual

    return textual.__version__
