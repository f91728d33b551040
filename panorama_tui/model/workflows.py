"""The store's workflows in tree order, and names that tell them apart.
"""

from __future__ import annotations

from .entities import Workflow
from .store import Store


def workflow_order(store: Store) -> list[Workflow]:
    """Roots, each followed by its sub-workflows, depth first."""
    out: list[Workflow] = []
    seen: set[str] = set()
    stack = list(reversed(store.roots))
    while stack:  # not recursive: an input may nest workflows thousands deep
        wf = stack.pop()
        if wf.wf_uuid in seen:
            continue
        seen.add(wf.wf_uuid)
        out.append(wf)
        stack.extend(c for c in map(store.workflows.get, reversed(wf.children)) if c is not None)
    return out


def unique_names(workflows) -> dict[str, str]:
    """wf_uuid -> a name that tells the workflow apart from the others: its
    label, and where labels repeat (two runs of one workflow) the tail of its
    submit dir (run0002) when those differ, else its uuid's first 8."""
    workflows = list(workflows)
    by_name: dict[str, list[Workflow]] = {}
    for wf in workflows:
        by_name.setdefault(wf.name, []).append(wf)
    out = {}
    for name, same in by_name.items():
        if len(same) == 1:
            out[same[0].wf_uuid] = name
            continue
        tails = [(w.submit_dir or "").rstrip("/").rsplit("/", 1)[-1] for w in same]
        distinct = all(tails) and len(set(tails)) == len(tails)
        for wf, tail in zip(same, tails):
            out[wf.wf_uuid] = f"{name} {tail if distinct else wf.wf_uuid[:8]}"
    return out
