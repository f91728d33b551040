"""A progress bar on stderr for --once and --stats, only when stderr is a terminal.

Scripts and tests read stderr as it is (exact messages): when it is not a
terminal nothing is printed.  ``rich`` comes with Textual; without it, no bar.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def stderr_progress(what: str):
    """Yields ``update(done, total)`` (or a no-op when stderr is no terminal)."""
    stream = sys.stderr
    try:
        tty = stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty:
        yield lambda done, total: None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:
        yield lambda done, total: None
        return
    # transient: the bar is gone when the summary prints, so stdout and stderr do not interleave
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(file=stream), transient=True)
    task = bar.add_task(what, total=None)

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
