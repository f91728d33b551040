"""DAGMan's progress table, as pegasus-status reads it: its node columns (Done,
Pre, Queued, Post, Ready, Un-Ready, Failed, and Futile) and its % done.

The sources that read dagman.out and the statistics that add DAGs up share
these; neither imports the other.
"""

from __future__ import annotations

NODE_COLUMNS = ("done", "pre", "queued", "post", "ready", "unready", "failed", "futile")


def percent_done(done: int, total: int) -> float:
    """pegasus-status's % done: Done / total nodes, two decimals (0 of 0 is 0)."""
    return float(f"{done / total * 100:.2f}") if total else 0.0
