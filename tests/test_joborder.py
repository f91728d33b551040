"""The job list's order (joborder.JobOrder) and the filter language's bulk
masks (query.Term.mask) must give exactly what the plain per-job definitions
give: rows sorted by (key, arrival), keeping the jobs every test accepts, after
a build and after any sequence of store updates."""

from __future__ import annotations

import json

import pytest

from benchmarks import generate
from panorama_tui.core.events import decode
from panorama_tui.views.joborder import SORTABLE, JobOrder, Selection, column_keys
from panorama_tui.views.query import PROBLEMS_ONLY, parse
from panorama_tui.model.states import JobState
from panorama_tui.model.store import Store

N = 300  # a generated run from the real WfCommons shapes: traces, retries, failures
FILTERS = (
    "state=running", "mProject", "host~pegasus-3", "host~mem", "state=failed", "individuals", "exit!=0",
    "tries>1", "mDiff.*ID00[0-4]", "xform~frequency", "state!=done,waiting", "xform=none",
    "exit=2", "site=-", "tries<=1 host!~pegasus", "wf~montage", "type=compute", "state~run",
)


def one_key(col, job, now):
    """The plain per-job definition of each column's key (what the screen
    shows), written apart from the column-at-a-time code it checks."""
    t = job.latest
    if col == "state":
        return int(job.state)
    if col == "id":
        return job.job_id
    if col == "xform":
        return job.transformation or ""
    if col == "host":
        return (t.host or t.site or "") if t is not None else ""
    if col == "tries":
        return len(job.tries)
    if col == "exit":
        return -1 if job.exit_code is None else job.exit_code
    if col == "dur":
        return job.duration(now) or 0.0
    return shown_figure(col, job)


def shown_figure(col, job):
    """What the CPU %, RSS and I/O cells show (-1.0: nothing): a running job's
    latest figures; a finished job's over its trace (its last sample is taken
    as it exits): peak RSS, and each rank's counters' change over the time
    its samples span, summed over ranks."""
    series = job.series
    if series is None:
        return -1.0
    if job.state in (JobState.RUNNING, JobState.RETRYING):
        x = series.latest()
        return -1.0 if x is None else {"cpu": x[1], "rss": x[2], "io": x[3] + x[4]}[col]
    if col == "rss":
        return series.totals()[1]
    spans = [(r.samples[0], r.samples[-1]) for r in series.ranks.values() if len(r) >= 2]
    if not spans:
        return -1.0
    total = 0.0
    for (t0, c0, _, r0, w0), (t1, c1, _, r1, w1) in spans:
        if col == "cpu":
            total += max(0.0, (c1 - c0) / (t1 - t0) * 100)
        else:
            total += max(0.0, (r1 - r0) / (t1 - t0)) + max(0.0, (w1 - w0) / (t1 - t0))
    return total


def expected(store, col, now, accept=None, scope=lambda j: True):
    jobs = [j for j in store.jobs() if scope(j) and (accept is None or accept(j))]
    return sorted(jobs, key=lambda j: (one_key(col, j, now), j.order))


@pytest.fixture(scope="module")
def timeline():
    return list(generate.static_events(N)) + list(generate.timeline_events(N))


def store_at(events, count) -> Store:
    s = Store()
    for ev in events[:count]:
        s.apply(decode(ev))
    return s


def applied_in_parts(store, timeline: list, cut: int, parts: int):
    """The timeline from ``cut`` applied to ``store`` in about ``parts`` steps: (step number,
    the store's latest time) after each."""
    step = (len(timeline) - cut) // parts + 1
    for r, i in enumerate(range(cut, len(timeline), step)):
        for ev in timeline[i:i + step]:
            store.apply(decode(ev))
        yield r, store.latest_ts


def test_every_column_sorts_like_key_then_arrival(timeline):
    store = store_at(timeline, len(timeline) // 2)
    now = store.latest_ts
    assert any(j.series is not None for j in store.jobs())
    for col in SORTABLE:
        order = JobOrder(col)
        order.build(store.jobs(), now)
        assert order.full == order.rows == expected(store, col, now), col
        assert order.keys == [one_key(col, j, now) for j in order.full]
        order.sort_by("id", now)
        assert order.full == expected(store, "id", now)


def test_masks_and_per_job_tests_agree(timeline):
    store = store_at(timeline, int(len(timeline) * 0.6))
    jobs = list(store.jobs())
    for text in FILTERS:
        for term in parse(text).tests:
            flags = [bool(f) for f in term.mask(jobs)]
            assert flags == [bool(term(j)) for j in jobs], text
    flags = [bool(f) for f in PROBLEMS_ONLY.mask(jobs)]
    assert flags == [j.state in (JobState.FAILED, JobState.HELD, JobState.RETRYING) for j in jobs]
    # The filters are not vacuous on this run.
    hits = {t: sum(map(parse(t), jobs)) for t in FILTERS}
    assert hits["mProject"] and hits["state=running"] and hits["tries>1"] and hits["host~mem"] and hits["site=-"]


@pytest.mark.parametrize("col", SORTABLE)
def test_updates_give_what_a_fresh_build_gives(timeline, col):
    """Apply the rest of the run in slices; after each, the kept order must
    equal a rebuild, with a filter on and with a scope test."""
    cut = len(timeline) // 3
    store = store_at(timeline, cut)
    query = parse("state!=waiting")
    scope = lambda j: not j.job_id.startswith("mDiff")  # noqa: E731
    plain, narrowed = JobOrder(col), JobOrder(col)
    now = store.latest_ts
    plain.build(store.jobs(), now)
    narrowed.selection = Selection(query.tests)
    narrowed.build(filter(scope, store.jobs()), now)
    changes = store.changes.cursor()
    changes.take()
    for _, now in applied_in_parts(store, timeline, cut, 7):
        changed = changes.take().jobs | store.active  # running jobs' keys move with time
        plain.update(changed, lambda j: True, now)
        narrowed.update(changed, scope, now)
        assert plain.rows == plain.full == expected(store, col, now)
        assert narrowed.full == expected(store, col, now, scope=scope)
        assert narrowed.rows == expected(store, col, now, query, scope)
        assert narrowed.row_keys == [one_key(col, j, now) for j in narrowed.rows]
        # A re-sort after updates starts from the right arrival order.
        for o, sc in ((plain, lambda j: True), (narrowed, scope)):
            o.sort_by("id", now)
            assert o.full == expected(store, "id", now, scope=sc)
            o.sort_by(col, now)
            assert o.full == expected(store, col, now, scope=sc)


def test_figure_keys_over_one_rank_and_several():
    """The demo's real /proc traces (panorama-monitor), plus analyze's samples
    again as a second rank of preprocess: a finished job's CPU %, RSS and I/O
    keys are its figures over the trace, summed over ranks."""
    import sqlite3

    from panorama_tui.cli.top import DEMO_RECORDING

    store = Store()
    with sqlite3.connect(DEMO_RECORDING) as db:
        events = [json.loads(body) for (body,) in db.execute("SELECT body FROM events ORDER BY seq")]
    for ev in events:
        store.apply(decode(ev))
    for ev in events:
        if ev["event"] == "kickstart.inv.online" and ev["dag_job_id"] == "analyze_ID0000004":
            store.apply(decode({**ev, "dag_job_id": "preprocess_ID0000001", "rank": 1}))
    jobs = sorted(store.jobs(), key=lambda j: j.order)
    traced = [j for j in jobs if j.series is not None]
    assert len(traced) >= 4 and any(len(j.series.ranks) == 2 for j in traced)
    for col in ("cpu", "rss", "io"):
        assert column_keys(col, jobs, store.latest_ts) == [shown_figure(col, j) for j in jobs], col
        assert sum(shown_figure(col, j) > 0 for j in traced) >= 2, col


EXIT_COMPARISONS = ("exit!=0", "exit=0", "exit=2", "exit!=2", "exit~.", "exit!~^0$", "exit!~x", "exit>-100", "exit<=0")


def _run_store(replay_dir, run, share=1.0) -> Store:
    store = Store()
    with open(replay_dir / run / "events.json") as fh:
        lines = [line for line in fh if line.strip()]
    for line in lines[:int(len(lines) * share)]:
        store.apply(decode(json.loads(line)))
    return store


@pytest.mark.parametrize("share", [0.5, 1.0])
def test_a_job_without_an_exit_code_matches_no_comparison_on_exit(replay_dir, share):
    """``exit!=0`` asks which jobs ended badly: a job that never ran (or is
    running) has no exit code, so it matches no comparison on exit, in the
    per-job test and in the whole-list mask alike; ``exit=-`` asks for them.
    (The real failed run: ls exits 2, the jobs after it never run.)"""
    jobs = list(_run_store(replay_dir, "process_wf_failure", share).jobs())
    unset = [j.exit_raw is None for j in jobs]
    assert any(unset) and not all(unset)
    for text in EXIT_COMPARISONS:
        term = parse(text).tests[0]
        one = [bool(term(j)) for j in jobs]
        assert one == [bool(f) for f in term.mask(jobs)], text
        assert not any(o and u for o, u in zip(one, unset)), text
    if share == 1.0:  # the comparisons are not vacuous
        assert [j.job_id for j in jobs if parse("exit!=0")(j)] == ["ls_ID0000001"]
        assert sum(map(parse("exit=0"), jobs)) == 1 and sum(unset) == 3
    for text, want in (("exit=-", unset), ("exit!=-", [not u for u in unset])):
        term = parse(text).tests[0]
        assert [bool(term(j)) for j in jobs] == want == [bool(f) for f in term.mask(jobs)], text


def test_a_selection_narrows_and_widens_without_sorting_again(timeline):
    store = store_at(timeline, len(timeline) // 2)
    now = store.latest_ts
    order = JobOrder("host")
    order.build(store.jobs(), now)
    for text in FILTERS:
        q = parse(text)
        order.select(Selection(q.tests))
        assert order.rows == expected(store, "host", now, q), text
    order.select(Selection())
    assert order.rows is order.full


def test_big_merges_fall_back_to_a_sort(timeline, monkeypatch):
    from panorama_tui.views import joborder

    monkeypatch.setattr(joborder, "MERGE_LIMIT", 5)
    store = store_at(timeline, len(timeline) // 4)
    order = JobOrder("dur")
    order.build(store.jobs(), store.latest_ts)
    changes = store.changes.cursor()
    changes.take()
    for ev in timeline[len(timeline) // 4: len(timeline) // 2]:
        store.apply(decode(ev))
    now = store.latest_ts
    order.update(changes.take().jobs | store.active, lambda j: True, now)
    assert order.full == expected(store, "dur", now)


def test_the_shared_hierarchical_run(replay_dir):
    """Sub-workflows' jobs interleave in arrival order across workflows."""
    store = Store()
    with open(replay_dir / "hierarchical_wf_success" / "events.json") as fh:
        for line in fh:
            if line.strip():
                store.apply(decode(json.loads(line)))
    assert len(store.workflows) > 1
    for col in SORTABLE:
        order = JobOrder(col)
        order.build(store.jobs(), store.latest_ts)
        assert order.full == expected(store, col, store.latest_ts), col


@pytest.mark.parametrize("resort_share", [1, 40])
@pytest.mark.parametrize("narrowed", [False, True])
def test_kept_keys_follow_the_store(timeline, monkeypatch, resort_share, narrowed):
    """A column's keys are kept (and prepared by warm(), a chunk at a time)
    and only changed jobs are re-keyed: after any updates, sorting by any
    column gives what a fresh build gives, with the changes passed as the job
    list passes them (dirty jobs, plus the running ones for a duration).
    Changed jobs are found at their old keys by bisection (resort_share 1),
    or the kept keys are sorted again (40: most updates here)."""
    from panorama_tui.views import joborder

    monkeypatch.setattr(joborder, "WARM_MIN", 0)
    monkeypatch.setattr(joborder, "CHUNK", 7)
    monkeypatch.setattr(joborder, "RESORT_SHARE", resort_share)
    tested = []
    drop = joborder._drop
    monkeypatch.setattr(joborder, "_drop", lambda jobs, *a: tested.append(len(jobs)) or drop(jobs, *a))
    cut = len(timeline) // 3
    store = store_at(timeline, cut)
    now = store.latest_ts
    query = parse("state!=waiting") if narrowed else None
    order = JobOrder("state")
    order.selection = Selection(query.tests if query else [])
    order.build(store.jobs(), now, store.active)
    calls = 1
    assert order.cold
    while not order.warm(now, 0.0):  # no time: one chunk a call
        calls += 1
    assert calls > len(SORTABLE) and not order.cold
    changes = store.changes.cursor()
    changes.take()
    for r, now in applied_in_parts(store, timeline, cut, 9):
        changed = changes.take().jobs | (store.active if order.col in joborder.TIMED else set())
        order.update(changed, lambda j: True, now)
        order.warm(now, 0.0)  # leaves a column half prepared
        assert order.rows == expected(store, order.col, now, query)
        for col in SORTABLE[r % len(SORTABLE):] + SORTABLE[:r % len(SORTABLE)]:
            order.sort_by(col, now, store.active)
            assert order.full == expected(store, col, now), col
            assert order.keys == [one_key(col, j, now) for j in order.full], col
            assert order.rows == expected(store, col, now, query), col
    assert not tested  # no row was tested one by one to find the changed jobs


@pytest.mark.parametrize("from_end", [False, True])
def test_a_selection_applied_a_chunk_at_a_time(timeline, monkeypatch, from_end):
    """The rows found so far are always the top (or, scanning from the end,
    the bottom) of the final rows, which equal a selection applied at once;
    an update meanwhile finishes the scan first."""
    from panorama_tui.views import joborder

    monkeypatch.setattr(joborder, "CHUNK", 5)
    store = store_at(timeline, len(timeline) // 2)
    now = store.latest_ts
    order = JobOrder("dur")
    order.build(store.jobs(), now)
    for text in FILTERS:
        q = parse(text)
        want = expected(store, "dur", now, q)
        done = order.select(Selection(q.tests), budget=0.0, want=3, from_end=from_end)
        steps = 0
        while True:
            got = order.rows
            assert got == (want[len(want) - len(got):] if from_end else want[:len(got)]), text
            assert order.row_keys == [one_key("dur", j, now) for j in got]
            assert order.pending == (not done)
            if done:
                break
            assert 0.0 <= order.scanned < 1.0
            done = order.select_more(0.0)
            steps += 1
        assert order.rows == want and not order.pending, text
        assert steps == -(-len(order.full) // 5) - 1  # no time to spend: a chunk a call
    order.select(Selection(parse("state!=waiting").tests), budget=0.0, want=1, from_end=from_end)
    assert order.pending
    changes = store.changes.cursor()
    changes.take()
    for ev in timeline[len(timeline) // 2: len(timeline) // 2 + 200]:
        store.apply(decode(ev))
    now = store.latest_ts
    order.update(changes.take().jobs | store.active, lambda j: True, now)
    assert not order.pending
    assert order.rows == expected(store, "dur", now, parse("state!=waiting"))


def test_index_of_finds_a_job_by_bisection(timeline):
    store = store_at(timeline, len(timeline) // 2)
    now = store.latest_ts
    jobs = list(store.jobs())
    for col in SORTABLE:
        order = JobOrder(col)
        order.selection = Selection(parse("state!=waiting").tests)
        order.build(jobs, now)
        for j in jobs:
            assert order.index_of(j) == (order.rows.index(j) if j in order.rows else None), col


@pytest.mark.parametrize("narrowed", [False, True])
@pytest.mark.parametrize("warm", [False, True])
def test_jobs_that_come_after_the_others_are_placed_not_sorted_again(monkeypatch, narrowed, warm):
    """A load (or a live run) brings new jobs after those in the list: the arrival order,
    the positions and the kept keys grow by them (JobOrder._grow) instead of being made
    again, and every column still sorts as a fresh build does."""
    from panorama_tui.views import joborder

    monkeypatch.setattr(joborder, "WARM_MIN", 0)
    events = list(generate.static_events(N)) + list(generate.timeline_events(N))
    store = store_at(events, 40)
    query = parse("state!=waiting") if narrowed else None
    order = JobOrder("xform")
    order.selection = Selection(query.tests if query else [])
    now = store.latest_ts
    order.build(store.jobs(), now, store.active)
    first = len(order.full)
    if warm:
        while not order.warm(now, 1.0):
            pass
    forgot = []
    forget = JobOrder._forget
    monkeypatch.setattr(JobOrder, "_forget", lambda self: forgot.append(1) or forget(self))
    changes = store.changes.cursor()
    changes.take()
    grown = 0
    for i in range(40, len(events), 97):
        for ev in events[i:i + 97]:
            store.apply(decode(ev))
        now = store.latest_ts
        taken = changes.take().jobs
        grown += sum(j not in order._positions() for j in taken)
        before = list(order.rows)
        moved = order.update(taken | store.active, lambda j: True, now)
        # (what the list widget shows the rows again by: new rows and no key moved is a change too)
        assert moved or order.rows == before
        assert order.full == expected(store, "xform", now)
        assert order.rows == expected(store, "xform", now, query)
        assert order.row_keys == [one_key("xform", j, now) for j in order.rows]
    assert not forgot and grown > 10 * first  # the jobs came a few at a time, none forgot the order
    for col in SORTABLE:
        order.sort_by(col, now, store.active)
        assert order.full == expected(store, col, now), col
        assert order.rows == expected(store, col, now, query), col


def test_the_store_counts_new_jobs_apart_from_what_views_build_again_for():
    store = Store()
    wf = store.workflow("wf-1")
    layout = store.layout_version
    job = store.job(wf, "j1")
    assert job in store.changed and store.layout_version == layout  # placed, not rebuilt for
    store.workflow("wf-2")
    assert store.layout_version == layout + 1
    store.reset()
    assert store.layout_version == layout + 2


@pytest.mark.parametrize("resort_share", [1, 40])
def test_freshened_columns_sort_as_a_fresh_build(timeline, monkeypatch, resort_share):
    """JobOrder.freshen (the job list's columns that ``s``/``S`` go to next, kept
    current after each tick) moves the jobs changed since in a column's kept order,
    leaving the rows as they are: a later sort by it has nothing stale, and gives
    what a fresh build gives; a column not prepared yet, or the one sorted by, is
    left alone."""
    from panorama_tui.views import joborder

    monkeypatch.setattr(joborder, "WARM_MIN", 0)
    monkeypatch.setattr(joborder, "RESORT_SHARE", resort_share)
    cut = len(timeline) // 3
    store = store_at(timeline, cut)
    now = store.latest_ts
    order = JobOrder("state")
    order.build(store.jobs(), now, store.active)
    assert not order.freshen("id", now)  # no kept keys yet
    while not order.warm(now, 1.0):
        pass
    changes = store.changes.cursor()
    changes.take()
    for r, now in applied_in_parts(store, timeline, cut, 5):
        order.update(changes.take().jobs, lambda j: True, now)
        rows = order.rows
        assert not order.freshen(order.col, now)
        fresh = [c for c in SORTABLE if c != order.col and c not in joborder.TIMED]
        assert any([order.freshen(c, now) for c in fresh])
        assert order.rows is rows and not any(order._stale[c] for c in fresh)
        assert not order.freshen(fresh[0], now)  # nothing left to do
        for c in fresh:
            assert order._sorted[c][0] == expected(store, c, now), c
        col = SORTABLE[r % len(SORTABLE)]
        order.sort_by(col, now, store.active)
        assert order.rows == expected(store, col, now), col
