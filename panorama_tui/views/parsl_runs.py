"""The Parsl runs in the store as the workflows screen lists them.

Every run of the DB with its state (``--once``'s: a run without an end whose
writer died is killed, not running), task counts, start, duration, user and
host.  Runs of the same program (``workflow_name``, else the script Parsl
names it after) sit together, oldest first, so a re-run reads beside the run
it repeats: each later one says which run it re-runs and how many of its
tasks came from the memo table (memo_done, Parsl #1725: a re-run that was
meant to reuse results and did not shows 0 here).  No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.handlers import parsl as pm


@dataclass
class RunRow:
    run_id: str
    name: str
    state: str
    tasks: dict  # --once's task counts (handlers/parsl.py task_counts)
    start: float | None
    duration: float | None
    user: str | None
    host: str | None
    rundir: str | None
    nth: int  # 1 for the first run of its name, 2 for its first re-run, ...
    runs_of_name: int
    rerun_of: str | None  # the run of the same name just before this one

    @property
    def memo_done(self) -> int:
        return self.tasks.get("memo_done", 0)


def run_rows(store, now: float | None) -> list[RunRow]:
    """One row per Parsl run in ``store``, grouped by name, oldest first within a name."""
    runs = [pm.run_of(w) for w in store.workflows.values()]
    runs = [r for r in runs if r is not None]
    by_name: dict[str, list] = {}
    for r in runs:
        by_name.setdefault(r.wf.label or "parsl", []).append(r)
    out = []
    for name in sorted(by_name):
        group = sorted(by_name[name], key=lambda r: (r.wf.start_ts or 0, r.run_id))
        for i, r in enumerate(group):
            wf = r.wf
            state = pm.run_state(r, now)
            end = wf.end_ts if r.ended else (r.last_activity if state in ("killed", "stalled") or now is None
                                             else now)
            dur = end - wf.start_ts if end is not None and wf.start_ts is not None else None
            out.append(RunRow(r.run_id, name, state, pm.task_counts(r), wf.start_ts, dur, wf.user,
                              wf.submit_host, wf.submit_dir, i + 1, len(group),
                              group[i - 1].run_id if i else None))
    return out
