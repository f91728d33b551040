"""The store's handlers: one module per domain (Stampede, kickstart, Darshan,
transfers, Panorama's own, Parsl), each registering the event names it handles.

A handler takes ``(store, event, event.data)`` and changes the store; it is
registered with :func:`handles`, or, for the events with typed records, takes
``(store, record)`` and is registered with :func:`handles_typed`.  Names a domain knows but shows nothing of are
declared with :func:`ignores`, so they are not counted as unknown.  A new
domain is a new module here, or a module elsewhere named under the entry-point
group ``panorama_tui.handlers`` (imported the first time the registry is used).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Callable

from ...core.typed import record_of

GROUP = "panorama_tui.handlers"
HANDLERS: dict[str, Callable] = {}
TYPED: dict[str, Callable] = {}  # name -> fn(store, record), for the store's typed lane (Store.apply_decoded)
IGNORED: set[str] = set()
BUILT_IN = ("stampede", "stampede_bulk", "panorama", "kickstart", "darshan", "transfer", "parsl")


def handles(*names: str):
    """Register the decorated function as the handler of these event names."""

    def register(fn: Callable) -> Callable:
        for name in names:
            if HANDLERS.get(name, fn) is not fn:
                raise ValueError(f"two handlers for {name}: {HANDLERS[name].__qualname__} and {fn.__qualname__}")
            HANDLERS[name] = fn
        return fn

    return register


def handles_typed(*names: str):
    """Register the decorated ``fn(store, record)`` as the handler of these event
    names, which have typed records (:mod:`panorama_tui.core.typed`): Ingest's
    decoding gives the record itself; an event built elsewhere, with a dict, gets
    its record here, its fields coerced once."""

    def register(fn: Callable) -> Callable:
        def handler(s, ev, d):
            if type(d) is dict:
                d = record_of(ev.name, d, ev.ts)
            fn(s, d)

        handler.__qualname__ = fn.__qualname__
        handles(*names)(handler)
        for name in names:
            TYPED[name] = fn
        return handler

    return register


def ignores(*names: str) -> None:
    """Events of a domain that carry nothing the model keeps: known, not unknown."""
    IGNORED.update(names)


def _load() -> None:
    for name in BUILT_IN:
        import_module(f"{__name__}.{name}")
    for ep in entry_points(group=GROUP):
        ep.load()


_load()
