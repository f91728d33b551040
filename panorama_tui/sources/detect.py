"""Work out what a path given on the command line is: the source registry's answer.

Each kind of source says how it recognises a path (``sources/registry.py``);
this module keeps the one-call form the commands use."""

from __future__ import annotations

from .jsonlog import bp_of
from .registry import UnknownInput
from .registry import detect as _detect

__all__ = ["UnknownInput", "bp_of", "detect"]


def detect(path: str, follow: bool = False) -> str:
    """Return the kind of input: ``recording``, ``jsonlog``, ``bplog``,
    ``submitdir`` (a Pegasus submit directory, or a dir of DAGMan logs),
    ``dagmanout`` (a DAGMan log, ``*.dag.dagman.out``), ``stampede`` (a
    Stampede DB), ``masterdb`` (a user's ~/.pegasus/workflow.db), ``parsl`` (a
    Parsl monitoring DB, or a dir holding ``runinfo/monitoring.db``), or
    ``eventlog``: an event log whose first line, read by the source, says JSON
    or BP (a FIFO or pipe, which cannot be read twice, or with ``follow`` a log
    not written yet); or what a plug-in kind is called."""
    return _detect(path, follow=follow)
