"""The table filled straight from ``stampede.bulk`` rows: no Job, no Try, a column at a time.

The rows are the ones ``model/handlers/stampede_bulk.py`` turns into objects (the source:
``sources/pegasus/stampede_bulk.py``), and the rules are that handler's, copied: a job's type
and retry limit, its name (the planned task's transformation, else the latest try's first
task invocation's, else kickstart's ``-n`` role), each try's latest state, start and end as
``Try.add_state`` keeps them, exit statuses (``Job.exit_raw``'s removed-try placeholder), the
site-or-host-site rule, and the state by ``store.derive_state``.  Only the latest try's
fields are kept; the others count as tries.

Per slice the work is C-level passes over columns (``zip(*rows)``, ``map`` of an array's
``__getitem__``/``__setitem__``, comprehensions), with a Python loop only for the rare rows:
a try with held / removed / POST-script states besides its latest, a job's second task.
Measured on the generated 100k DB (benchmarks/bench_table.py, medians of 5, load 6): jobs
0.08 s of CPU against the object handler's 0.21, tasks 0.11 / 0.27, tries 0.42 / 0.71 (of
which ~40 % deriving the states); 6.4 / 14.9 s at 1M.  Each pass costs ~50-120 ns a value,
and the rows come row-major: columns from the source would save the transposing.

There is no per-row recovery as the handler's (a row whose cell has another type than the
schema's is warned about and skipped there): the source already skips rows whose try number
or exit status is not an int, and a float column's cells are floats or None.

It relies on the Stampede schema's unique keys (``UNIQUE_JOB``: a job id once a workflow,
``UNIQUE_JOB_INSTANCE``: a try number once a job, ``UNIQUE_TASK``): a row naming the same
job again in one slice is applied after the first (in rounds), and a try number seen before
is taken as a new try.  The workflows' ended flags come from the caller
(:meth:`JobTable.add_workflow` / :meth:`JobTable.set_ended`), as the store's come from the
``stampede.xwf.*`` events read before the bulk ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import compress, repeat
from operator import and_, gt, is_not, not_, or_

from ...core.events import PLACEHOLDER_RAW, PLACEHOLDER_STATES, REMOVED_EXIT
from ...core.typed import text
from .jobtable import EC0, NO_NAME, NONE_I, NONE_Q, PARTIAL, STATE_CODE, TASKS, JobTable, scatter

_END_STATES = frozenset({"JOB_TERMINATED", "JOB_EVICTED", "JOB_SUCCESS", "JOB_FAILURE", "JOB_ABORTED"})
_NINF = -math.inf
_NAN = math.nan
_PLACEHOLDER = PLACEHOLDER_STATES
_NOT_EC0 = ~EC0 & 0xFF


def _rounds(jn: Sequence[int]) -> list[list[int]]:
    """Row indices in rounds in which each job appears once, a job's rows in their order:
    rounds applied one after the other give what the rows applied one by one give.  One
    round (every row) unless a job is named twice in the slice."""
    if type(jn) is range or len(set(jn)) == len(jn):
        return [list(range(len(jn)))]
    seen: Counter = Counter()
    out: list[list[int]] = []
    for k, j in enumerate(jn):
        r = seen[j]
        seen[j] += 1
        if r == len(out):
            out.append([])
        out[r].append(k)
    return out


def _unique(col) -> list:
    """Cleaned text of a column of unique values (``handlers.stampede_bulk._unique``)."""
    return [v if type(v) is str and v.isprintable() else text(v) for v in col]


class BulkLoader:
    """Applies ``stampede.bulk`` and ``stampede.bulk.history`` payloads to a :class:`JobTable`.

    Holds, while the load goes on, each job's planned task that names it (the lowest task id
    with a transformation): a second task needs it to decide (``_derive_transformation``'s
    sorted task ids).  ~110 B a job (tracemalloc at 100k and 1M): drop the loader when the
    bulk read ends."""

    def __init__(self, table: JobTable):
        self.table = table
        self._task_best: dict[int, str] = {}

    def apply(self, d: dict) -> None:
        """One ``stampede.bulk`` payload."""
        t = self.table
        wis = [t.add_workflow(u if type(u) is str and u.isprintable() else text(u)) for u in d["xwf_ids"]]
        rows = d.get("jobs")
        if rows:
            self._jobs(wis, rows)
        rows = d.get("tasks")
        if rows:
            self._tasks(wis, rows)
        rows = d.get("tries")
        if rows:
            self._tries(wis, rows)

    def history(self, d: dict) -> None:
        """A ``stampede.bulk.history`` payload: those jobs are whole again (not partial)."""
        t = self.table
        wi = t.wf_index.get(d.get("xwf_id"))  # type: ignore[arg-type]
        if wi is None:
            return
        index, flags = t.index[wi], t.flags
        for job_id in d.get("job_ids") or ():
            i = index.get(job_id)
            if i is not None:
                flags[i] &= ~PARTIAL & 0xFF

    # -- jobs: made waiting, partial, with type, retry limit, role -------------------------------------
    def _jobs(self, wis: list[int], rows) -> None:
        t = self.table
        wi_col, ids, tdescs, _, maxrs, roles = zip(*rows)
        n0 = len(t)
        jn = t.jobs_of(map(wis.__getitem__, wi_col), ids)
        tids = t.strings.ids(tdescs)
        rids = t.strings.ids(roles)
        types, xform, maxr_col, flags = t.type_desc, t.xform, t.max_retries, t.flags
        if type(jn) is range:  # every job new (the common slice): its values written as they come
            scatter(types, jn, tids)
            scatter(maxr_col, jn, [NONE_I if m is None else int(m) for m in maxrs])
            scatter(xform, jn, rids)
            scatter(flags, jn, repeat(PARTIAL, len(jn)))
            return
        for rnd in _rounds(jn):
            at, ti, mr, ri = (jn, tids, maxrs, rids) if len(rnd) == len(jn) else (
                [c[k] for k in rnd] for c in (jn, tids, maxrs, rids))
            # job.type_desc = tdesc or job.type_desc
            scatter(types, at, [a or b for a, b in zip(ti, map(types.__getitem__, at))])
            # max_retries when given
            given = [m is not None for m in mr]
            scatter(maxr_col, compress(at, given), map(int, compress(mr, given)))
            # the role names it when nothing did
            scatter(xform, at, [x or r for x, r in zip(map(xform.__getitem__, at), ri)])
            new = [j for j in at if j >= n0]
            scatter(flags, new, map(or_, map(flags.__getitem__, new), repeat(PARTIAL)))

    # -- tasks: the planned task names its job -------------------------------------------------------------
    def _tasks(self, wis: list[int], rows) -> None:
        t = self.table
        wi_col, abs_ids, xforms, _, exec_ids = map(list, zip(*rows))
        if None in exec_ids:  # a task whose job is not read yet names none
            named = list(map(is_not, exec_ids, repeat(None)))
            wi_col, abs_ids, xforms, exec_ids = (list(compress(c, named)) for c in (wi_col, abs_ids, xforms, exec_ids))
            if not exec_ids:
                return
        jn = t.jobs_of(map(wis.__getitem__, wi_col), exec_ids)
        tasks = _unique(abs_ids)
        xids = t.strings.ids(xforms)
        xform, flags, best = t.xform, t.flags, self._task_best
        for rnd in _rounds(jn):
            if len(rnd) == len(jn):
                at, ta, xs = jn, tasks, xids
            else:
                at, ta, xs = ([c[k] for k in rnd] for c in (jn, tasks, xids))
            first = list(map(not_, map(and_, map(flags.__getitem__, at), repeat(TASKS))))
            # its first task: named by it when the task has a name (the common case, in C)
            one = list(compress(at, first))
            scatter(flags, one, map(or_, map(flags.__getitem__, one), repeat(TASKS)))
            has = list(map(and_, first, map(bool, xs)))
            scatter(xform, compress(at, has), compress(xs, has))
            best.update(zip(compress(at, has), compress(ta, has)))
            if all(first):
                continue
            # another task: the lowest task id with a name names it
            for k in compress(range(len(at)), map(not_, first)):
                x = xs[k]
                if not x:
                    continue
                j, a = at[k], ta[k]
                b = best.get(j)
                if b is None or a < b:
                    best[j] = a
                    xform[j] = x

    # -- tries: the latest one's fields; the state derived --------------------------------------------------
    def _tries(self, wis: list[int], rows) -> None:
        t = self.table
        cols = list(zip(*rows))
        jn = t.jobs_of(map(wis.__getitem__, cols[0]), cols[1])
        for rnd in _rounds(jn):
            if len(rnd) == len(jn):
                self._tries_round(jn, cols)
            else:
                self._tries_round(list(map(jn.__getitem__, rnd)), [list(map(c.__getitem__, rnd)) for c in cols])
        t.derive(jn if len(jn) == len(set(jn)) else list(dict.fromkeys(jn)))

    def _tries_round(self, jn: Sequence[int], cols: list) -> None:
        t = self.table
        (_, _, seqs, _, sites, _, ldurs, _, _, mains, posts, states, tss, jss, _,
         starts, ends, hosts, _, host_sites, rares, names) = cols
        # every row is a try; a retry of its workflow past the first
        old_tries = list(map(t.tries.__getitem__, jn))
        scatter(t.tries, jn, map((1).__add__, old_tries))
        if any(old_tries):
            for w, c in Counter(t.wf[j] for j, n in zip(jn, old_tries) if n).items():
                t.retries[w] += c
        # the rows that are their job's latest try (the highest number so far): most often all
        latest = list(map(gt, seqs, map(t.seq.__getitem__, jn)))
        if all(latest):
            at = jn
        elif not any(latest):
            return
        else:
            at = list(compress(jn, latest))
            seqs, sites, ldurs, mains, posts, states, tss, jss, starts, ends, hosts, host_sites, rares, names = (
                list(compress(c, latest)) for c in (seqs, sites, ldurs, mains, posts, states, tss, jss, starts,
                                                    ends, hosts, host_sites, rares, names))
        # the try's states as Try.add_state leaves them: the row's latest (its rare ones below);
        # a start and an end the earliest of the row's and the state's; None as NaN
        codes = list(map(STATE_CODE.get, states, repeat(NO_NAME)))
        starts = [ts if st == "EXECUTE" and ts is not None and (s is None or ts < s) else (_NAN if s is None else s)
                  for st, ts, s in zip(states, tss, starts)]
        ends = [ts if st in _END_STATES and ts is not None and (e is None or ts < e) else (_NAN if e is None else e)
                for st, ts, e in zip(states, tss, ends)]
        # Job.exit_raw: main's status, else the POST script's; a removed try's raw 1 is -1
        exits = [(NONE_Q if p is None else (REMOVED_EXIT if p == PLACEHOLDER_RAW and st in _PLACEHOLDER else p))
                 if m is None else (REMOVED_EXIT if m == PLACEHOLDER_RAW and st in _PLACEHOLDER else m)
                 for m, p, st in zip(mains, posts, states)]
        if any(rares):
            for k in [k for k, r in enumerate(rares) if r]:
                codes[k], starts[k], ends[k], removed = _with_rare(rares[k], states[k], tss[k], jss[k],
                                                                   starts[k], ends[k])
                raw = posts[k] if mains[k] is None else mains[k]
                exits[k] = NONE_Q if raw is None else (REMOVED_EXIT if raw == PLACEHOLDER_RAW and removed else raw)
        scatter(t.seq, at, seqs)
        scatter(t.stname, at, codes)
        scatter(t.start, at, starts)
        scatter(t.end, at, ends)
        scatter(t.local_dur, at, [_NAN if v is None else v for v in ldurs])
        scatter(t.exit, at, exits)
        # derive_state's ec: the POST script's status, else main's
        flags = t.flags
        new_flags = [(f | EC0) if (m if p is None else p) == 0 else (f & _NOT_EC0)
                     for f, m, p in zip(map(flags.__getitem__, at), mains, posts)]
        scatter(flags, at, new_flags)
        # the row's site (submit.start, main.end) wins over its host's
        strings = t.strings
        scatter(t.host, at, strings.ids(hosts))
        scatter(t.site, at, strings.ids([a or b for a, b in zip(sites, host_sites)]))
        # no planned task: the name its latest try's first task invocation gives
        if any(names):
            nids = strings.ids(names)
            named = [bool(x) and not f & TASKS for x, f in zip(nids, new_flags)]
            scatter(t.xform, compress(at, named), compress(nids, named))


def _with_rare(rare, state, ts, js, start, end) -> tuple[int, float, float, bool]:
    """A try whose row carries rare states (held, removed, a POST script's end) besides its
    latest: its latest state's code, start, end and removed flag as ``Try.add_state`` gives
    them when the handler adds the rare ones first, then the latest (a state already there
    is not added again; the newest by (time or 0, js_id) is the latest, a tie to the later)."""
    start = None if start != start else start  # NaN: none
    end = None if end != end else end
    seen: set = set()
    cur = None  # (ts or 0, js_id) of the latest
    code_out = NO_NAME
    removed = False
    added = [(rts, -1 if rjs is None else rjs, rstate) for rts, rjs, rstate, _ in rare]
    added.append((ts, -1 if js is None else js, state))
    for s_ts, s_js, s_state in added:
        code = STATE_CODE.get(s_state)
        if code is None:
            continue
        key = (_NINF if s_ts is None else s_ts, s_js, code)
        if key in seen:
            continue
        seen.add(key)
        rank = (s_ts or 0, s_js)
        if cur is None or rank >= cur:
            cur = rank
            code_out = code
        if s_state in PLACEHOLDER_STATES:
            removed = True
        if s_ts is not None:
            if s_state == "EXECUTE":
                if start is None or s_ts < start:
                    start = s_ts
            elif s_state in _END_STATES and (end is None or s_ts < end):
                end = s_ts
    return code_out, _NAN if start is None else start, _NAN if end is None else end, removed
