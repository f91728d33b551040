"""UI benchmark: a 100k-job workflow in PanoramaApp, headless, at 160x50.

The workflow comes from :mod:`benchmarks.generate` (scaled up from the real
WfCommons traces).  The store holds the plan (all jobs) and every event up to
mid-run: ~57k jobs done, ~2.4k running, each with its /proc trace.  Traces
are fed as the newest 120 samples of each try only: the store keeps a ring of
120 samples per job, so the result is the same store as with every sample,
built in a fraction of the time.

The harness builds the store without ``Ingest`` (faster), so it then applies
Ingest's garbage-collector policy once (``gcpolicy.note_applied``: collect,
then freeze what is loaded), and the live feeder calls it after each batch as
Ingest does; ``--no-gc-freeze`` shows what the screen would suffer without it.

Figures (each beside a baseline measured in the same run):

(a) open to first paint: from constructing ``PanoramaApp(store)`` to the
    first frame the compositor produced with the job list filled.  Frames
    are caught by wrapping ``App._display`` (the call that receives each
    compositor update; headless mode only skips the terminal write there);
    the wrapper encodes the frame to terminal bytes, as a terminal would get
    it, and checks that the first visible job's id is in it.  Baseline: the
    same for an app over an empty store; the store's build time is shown too.
(b) key press to repaint: the key is posted the way ``Pilot.press`` posts it
    (``driver.send_message(events.Key)``), and the time runs until the first
    frame in which the job list's state (cursor, scroll, sort, filter, rows)
    has changed, i.e. the repaint that shows the key's effect.  ~220 presses:
    down/j, pagedown, G, g (navigation, target p95 <= 50 ms); s (re-sort of
    every row; three cycles through the 10 columns) and ``/``-filter apply
    and clear (re-filter of every row; 10 filters twice) are reported apart.  A filter paints its first screenful and finds
    the rest
    of its rows between frames: the time until all are found is reported
    too.  The sorts come after the navigation keys, by which time the job
    list has prepared every column's keys and order (it does so while idle,
    a few ms a step, in the first ~2 s).  Baseline: the same keys on a 1k-job workflow.  Also
    shown: ``await pilot.press(k); await pilot.pause()`` for down, whose wall
    time includes Pilot's own idle waits (>= 3 x 20 ms sleeps), with the same
    on the 1k-job app as its floor.
(c) UI loop lag under live updates: a feeder thread applies the timeline
    after mid-run (state changes and traces, as JSON lines decoded with
    ``ingest.decode_batch``) to the store at 2k events/s, in batches every
    50 ms under ``store.lock`` like ``Ingest``.  Meanwhile a timer made like
    ``app.set_interval(0.05, ...)`` (Textual's ``Timer``, with ``skip=False``
    so every 50 ms slot is counted) records actual - expected time of each
    tick.  Baseline: the same lag with the feeder off.
(d) peak RSS: ``getrusage`` max RSS of the whole process (harness and
    generator included), and psutil's current RSS sampled every 0.25 s while
    the app runs.  Baseline: RSS once the store is built, before any app.

Run: ``python -m benchmarks.bench_ui [--quick] [--jobs N] [--live-seconds 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate  # noqa: E402
from benchmarks.run import figure, loadavg, maxrss_mb, pct, rss_mb, table, write_json  # noqa: E402

SIZE = (160, 50)
FULL_JOBS = 100_000
QUICK_JOBS = 10_000
SMALL_JOBS = 1_000
TRACE_TAIL = 120  # series.DEFAULT_CAPACITY
LIVE_RATE = 2000
LIVE_PERIOD = 0.05
PROBE = 0.05
TARGET_PAINT = 2.0
TARGET_KEY_MS = 50.0
TARGET_LAG_MS = 100.0
TARGET_RSS = 600.0
FILTERS = (
    "state=running",
    "mProject",
    "host~pegasus-3",
    "state=failed",
    "individuals",
    "exit!=0",
    "tries>1",
    "mDiff.*ID00[0-4]",
    "xform~frequency",
    "state=queued",
)


# ---------------------------------------------------------------------------
# Data


def build_store(n: int, *, until: float | None = None):
    """A store with the plan and every event up to mid-run; returns (store, seconds, events)."""
    from panorama_tui.core.events import decode
    from panorama_tui.model.store import Store

    p = generate.plan(n)
    until = p.mid_ts if until is None else until
    store = Store()
    t0 = time.perf_counter()
    count = 0
    apply = store.apply
    # The collector is off while the harness builds (its pauses are not the build's figure); a
    # full collection afterwards leaves the heap as a long-running app's would be.
    was = gc.isenabled()
    gc.disable()
    try:
        with store.lock:
            for ev in generate.static_events(n):
                apply(decode(ev))
                count += 1
            for _, ev in generate.timed_events(n, until, trace_tail=TRACE_TAIL):
                apply(decode(ev))
                count += 1
    finally:
        if was:
            gc.enable()
    secs = time.perf_counter() - t0
    gc.collect()
    return store, secs, count


def live_lines(n: int, count: int) -> list[str]:
    """The next ``count`` events after mid-run, as the JSON lines a source would deliver."""
    import json

    p = generate.plan(n)
    out = []
    dumps = json.dumps
    for _, ev in generate.timed_events(n, since=p.mid_ts):
        out.append(dumps(ev))
        if len(out) >= count:
            break
    return out


def store_summary(store) -> dict:
    from panorama_tui.model.states import JobState

    counts = [0] * len(JobState)
    series = samples = 0
    for wf in store.workflows.values():
        for i, c in enumerate(wf.counts):
            counts[i] += c
    for j in store.jobs():
        if j.series is not None:
            series += 1
            samples += j.series.sample_count
    return {
        "jobs": store.job_count(),
        "states": {s.label: counts[s] for s in JobState},
        "jobs_with_series": series,
        "samples": samples,
        "events": store.event_count,
        "warnings": store.warning_count,
    }


# ---------------------------------------------------------------------------
# Instrumented app


class Probe:
    """Catches frames (App._display), times refresh ticks, posts keys, waits for repaints."""

    def __init__(self, app, rows_expected: bool = False):
        """``rows_expected``: the source holds jobs, so the first paint is the first frame
        showing rows, not a frame of the store before the source's first batch."""
        self.app = app
        self.rows_expected = rows_expected
        self.frames: list[tuple[float, int]] = []
        self.first_paint: float | None = None
        self.first_paint_verified = False
        self.frame_bytes = 0
        self.wait_state = None
        self.wait_event: asyncio.Event | None = None
        self.sent_at = 0.0
        self.hit_time = 0.0
        self.ticks: list[float] = []  # seconds per refresh_all
        self.full_refresh_s: float | None = None
        self._jobs = None
        orig_display = app._display

        def display(screen, renderable):
            orig_display(screen, renderable)
            if renderable is None or app._batch_count:
                return
            text = renderable.render_segments(app.console)  # what a terminal would be sent
            now = time.perf_counter()
            self.frames.append((now, len(text)))
            if self.first_paint is None:
                jobs = self.jobs()
                if jobs is not None and jobs.rows:
                    top = jobs.rows[jobs.scroll_offset.y] if jobs.scroll_offset.y < len(jobs.rows) else jobs.rows[0]
                    self.first_paint = now
                    self.first_paint_verified = top.job_id[:20] in text
                    self.frame_bytes = len(text)
                elif jobs is not None and not self.rows_expected and not app.store.job_count():
                    self.first_paint = now  # an empty store: the first frame is the paint
                    self.first_paint_verified = True
                    self.frame_bytes = len(text)
            if self.wait_event is not None and self.state() != self.wait_state:
                self.hit_time = now
                self.wait_event.set()

        app._display = display
        orig_refresh = app.refresh_all

        def refresh_all(full: bool = False):
            a = time.perf_counter()
            orig_refresh(full)
            d = time.perf_counter() - a
            if full:
                self.full_refresh_s = d if self.full_refresh_s is None else self.full_refresh_s
            else:
                self.ticks.append(d)

        app.refresh_all = refresh_all

    def jobs(self):
        if self._jobs is None:
            try:
                self._jobs = self.app.query_one("#jobs")
            except Exception:
                return None
        return self._jobs

    def state(self):
        j = self.jobs()
        if j is None:
            return None
        try:
            box = self.app.query_one("#filter")
            boxv = (box.has_focus, box.value)
        except Exception:
            boxv = None
        return (
            j.cursor,
            j.scroll_offset.y,
            j.sort_col,
            j.reverse,
            id(j.rows),
            len(j.rows),
            j.query.text if j.query else None,
            boxv,
        )

    def send_key(self, key: str) -> None:
        """Post a key exactly as Pilot.press does, without its idle waits."""
        from textual import events
        from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        original = REPLACED_KEYS.get(key, key)
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(original))
        except KeyError:
            char = key if len(key) == 1 else None
        ev = events.Key(key, char)
        ev.set_sender(self.app)
        self.app._driver.send_message(ev)

    async def press_to_repaint(self, key: str, timeout: float = 10.0) -> tuple[float, float]:
        """(wall ms, process CPU ms) from posting ``key`` to the frame showing its effect."""
        self.wait_state = self.state()
        self.wait_event = asyncio.Event()
        c0 = time.process_time()
        t0 = self.sent_at = time.perf_counter()
        self.send_key(key)
        try:
            await asyncio.wait_for(self.wait_event.wait(), timeout)
            t1 = self.hit_time
        except asyncio.TimeoutError:
            t1 = time.perf_counter()
            print(f"[ui] warning: no repaint within {timeout:.0f} s after {key!r}", flush=True)
        c1 = time.process_time()
        self.wait_event = None
        return (t1 - t0) * 1000.0, (c1 - c0) * 1000.0


class Breakdown:
    """Inclusive wall time spent in chosen functions, per phase (diagnostics for the report)."""

    TARGETS = (
        ("textual.screen", "Screen", "_refresh_layout", "screen layout+paint"),
        ("textual.screen", "Screen", "_compositor_refresh", "  compositor paint"),
        ("panorama_tui.ui.panels.detail", "DetailPanel", "refresh_from", "detail panel"),
        ("panorama_tui.ui.panels.detail", None, "render_plot", "  plotext plot"),
        ("panorama_tui.ui.panels.detail", "JobDetail", "show", "  JobDetail.show"),
        ("panorama_tui.ui.panels.header", "HeaderBar", "show", "HeaderBar.show"),
        ("panorama_tui.ui.panels.tree", "WorkflowTree", "sync", "WorkflowTree.sync"),
        ("panorama_tui.ui.app", "PanoramaApp", "_refresh_status", "status bar"),
        ("panorama_tui.ui.widgets.joblist", "JobList", "update_dirty", "JobList.update_dirty"),
        ("panorama_tui.ui.app", "PanoramaApp", "action_sort", "sort action (s)"),
        ("panorama_tui.ui.app", "PanoramaApp", "action_back", "back action (esc)"),
        ("panorama_tui.ui.widgets.joblist", "JobList", "set_query", "JobList.set_query"),
        ("panorama_tui.ui.widgets.joblist", "JobList", "rebuild", "JobList.rebuild"),
        ("panorama_tui.ui.widgets.joblist", "JobList", "_resort", "JobList._resort"),
        ("panorama_tui.ui.widgets.joblist", "JobList", "render_line", "JobList.render_line"),
    )

    def __init__(self):
        import importlib

        self.data: dict[str, dict[str, list]] = {}
        self.phase = "setup"
        self._restore = []
        for mod_name, cls_name, attr, label in self.TARGETS:
            mod = importlib.import_module(mod_name)
            owner = getattr(mod, cls_name) if cls_name else mod
            orig = owner.__dict__[attr] if cls_name else getattr(mod, attr)
            self._restore.append((owner, attr, orig))
            setattr(owner, attr, self._wrap(orig, label))

    def _wrap(self, fn, label):
        bd = self
        pc = time.perf_counter

        def timed(*a, **kw):
            t = pc()
            try:
                return fn(*a, **kw)
            finally:
                d = pc() - t
                rec = bd.data.setdefault(bd.phase, {}).setdefault(label, [0.0, 0, 0.0])
                rec[0] += d
                rec[1] += 1
                if d > rec[2]:
                    rec[2] = d

        return timed

    def restore(self):
        for owner, attr, orig in self._restore:
            setattr(owner, attr, orig)

    def report(self, phase: str, per: int | None = None, per_label: str = "") -> str:
        rows = self.data.get(phase, {})
        out = []
        for _, _, _, label in self.TARGETS:
            if label in rows:
                tot, cnt, mx = rows[label]
                extra = f", {tot / per * 1000:.1f} ms per {per_label}" if per else ""
                out.append(
                    f"    {label:24s} {tot * 1000:8.1f} ms total in {cnt:5d} calls, max {mx * 1000:6.1f} ms{extra}"
                )
        return "\n".join(out)


class GcTracker:
    """Times the cyclic garbage collector's pauses (gc.callbacks), bucketed by the Breakdown's phase."""

    def __init__(self, bd: Breakdown):
        self.bd = bd
        self.data: dict[str, dict[int, list]] = {}
        self._t = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase, info):
        if phase == "start":
            self._t = time.perf_counter()
        else:
            d = time.perf_counter() - self._t
            rec = self.data.setdefault(self.bd.phase, {}).setdefault(info["generation"], [0, 0.0, 0.0])
            rec[0] += 1
            rec[1] += d
            rec[2] = max(rec[2], d)

    def stop(self):
        if self._cb in gc.callbacks:
            gc.callbacks.remove(self._cb)

    def report(self) -> str:
        out = []
        for phase, gens in self.data.items():
            parts = [
                f"gen{g}: {c} x, {tot * 1000:.0f} ms total, max {mx * 1000:.0f} ms"
                for g, (c, tot, mx) in sorted(gens.items())
            ]
            out.append(f"    {phase:18s} " + "; ".join(parts))
        return "\n".join(out)


def _make_app(store):
    from panorama_tui.ui.app import PanoramaApp

    return PanoramaApp(store, source_label="benchmark", live=False)


async def _wait_paint(probe: Probe, timeout: float = 120.0) -> None:
    t_end = time.perf_counter() + timeout
    while probe.first_paint is None and time.perf_counter() < t_end:
        await asyncio.sleep(0.002)


async def first_paint_only(store) -> dict:
    t0 = time.perf_counter()
    app = _make_app(store)
    probe = Probe(app)
    async with app.run_test(size=SIZE) as pilot:
        await _wait_paint(probe)
        await pilot.pause()
    return {
        "seconds": (probe.first_paint or float("nan")) - t0,
        "verified": probe.first_paint_verified,
        "bytes": probe.frame_bytes,
        "full_refresh_s": probe.full_refresh_s,
    }


SORT_ORDER = ("id", "xform", "host", "tries", "exit", "dur", "cpu", "rss", "io", "state")  # what s cycles to


SORT_CYCLES = 3  # a p95 over one cycle (10 presses) would be its maximum
FILTER_ROUNDS = 2


def key_plan(rounds: int = 4, sort_cycles: int = SORT_CYCLES) -> list[tuple[str, str]]:
    """(group, key) for ~220 presses (rounds=4); every key changes what is shown."""
    seq: list[tuple[str, str]] = []
    for _r in range(rounds):
        for i in range(20):
            seq.append(("down/j", "down" if i % 2 else "j"))
        for _ in range(10):
            seq.append(("pagedown", "pagedown"))
        for _ in range(5):
            seq.append(("G", "G"))
            seq.append(("g", "g"))
    for _ in range(10 * sort_cycles):  # full cycles through the 10 sortable columns: end on "state"
        seq.append(("s (sort)", "s"))
    return seq


async def keys_run(
    app, probe: Probe, pilot, *, filters=FILTERS, pilot_presses: int = 20, bd=None, rounds: int = 4
) -> dict:
    res: dict[str, list] = {}
    cpu: dict[str, list] = {}
    for group, key in key_plan(rounds):
        if bd is not None:
            bd.phase = "key " + group
        ms, cms = await probe.press_to_repaint(key)
        res.setdefault(group, []).append(ms)
        cpu.setdefault(group, []).append(cms)
    # "/" filter: open, type, apply (enter) -- measured -- then clear (escape twice) -- measured.
    for text in list(filters) * FILTER_ROUNDS:
        if bd is not None:
            bd.phase = "key /filter"
        await probe.press_to_repaint("slash")
        for ch in text:
            probe.send_key(ch)
        await pilot.pause()
        if bd is not None:
            bd.phase = "key / apply"
        ms, cms = await probe.press_to_repaint("enter")
        res.setdefault("/ filter apply", []).append(ms)
        cpu.setdefault("/ filter apply", []).append(cms)
        # The first screenful paints first; the rest of the rows are found
        # between frames: how long until all of them are.
        jobs = probe.jobs()
        while jobs.filtering is not None:
            await asyncio.sleep(0.001)
        res.setdefault("filter complete", []).append((time.perf_counter() - probe.sent_at) * 1000.0)
        if bd is not None:
            bd.phase = "key esc clear"
        ms, cms = await probe.press_to_repaint("escape")
        res.setdefault("filter clear (esc)", []).append(ms)
        cpu.setdefault("filter clear (esc)", []).append(cms)
    # The brief's literal measure: await pilot.press(k) .. await pilot.pause().
    pil = []
    if bd is not None:
        bd.phase = "pilot"
    await pilot.press("g")
    await pilot.pause()
    for _i in range(pilot_presses):
        t0 = time.perf_counter()
        await pilot.press("down")
        await pilot.pause()
        pil.append((time.perf_counter() - t0) * 1000.0)
    res["pilot down"] = pil
    return {"wall": res, "cpu": cpu}


class LagProbe:
    """A Textual Timer (what app.set_interval makes), skip=False, recording actual - expected."""

    def __init__(self, app, interval: float = PROBE):
        from textual import _time
        from textual.timer import Timer

        lags = self.lags = []
        self.on = False
        probe = self

        class _T(Timer):
            async def _tick(self, *, next_timer: float, count: int) -> None:
                if probe.on:
                    lags.append((_time.get_time() - next_timer) * 1000.0)

        self.timer = _T(app, interval, name="lag-probe", skip=False)
        self.timer._start()
        app._timers.add(self.timer)

    async def measure(self, seconds: float) -> list[float]:
        self.lags.clear()
        self.on = True
        await asyncio.sleep(seconds)
        self.on = False
        return list(self.lags)


class Feeder(threading.Thread):
    """Applies JSON lines to the store at ``rate`` events/s in batches every ``period`` s."""

    def __init__(self, store, lines, rate=LIVE_RATE, period=LIVE_PERIOD):
        super().__init__(name="bench-feeder", daemon=True)
        self.store, self.lines, self.rate, self.period = store, lines, rate, period
        self.stop_evt = threading.Event()
        self.applied = 0
        self.lock_ms: list[float] = []
        self.t0 = self.t1 = 0.0

    def run(self) -> None:
        from panorama_tui.core import gcpolicy
        from panorama_tui.pipeline.ingest import decode_batch

        per = max(1, int(round(self.rate * self.period)))
        store = self.store
        i = 0
        self.t0 = nxt = time.perf_counter()
        while not self.stop_evt.is_set() and i < len(self.lines):
            batch = self.lines[i : i + per]
            i += per
            bad: list = []
            evs = decode_batch(batch, bad, samples=True)  # outside the lock, as Ingest does
            a = time.perf_counter()
            with store.lock:
                for reason in bad:
                    store.note_bad(reason)
                store.apply_decoded(evs)
            self.lock_ms.append((time.perf_counter() - a) * 1000.0)
            gcpolicy.note_applied(len(evs))  # as Ingest does after each slice
            self.applied += len(batch)
            nxt += self.period
            d = nxt - time.perf_counter()
            if d > 0:
                self.stop_evt.wait(d)
        self.t1 = time.perf_counter()


class RssSampler(threading.Thread):
    def __init__(self, every=0.25):
        super().__init__(name="bench-rss", daemon=True)
        self.every = every
        self.peak = 0.0
        self.stop_evt = threading.Event()

    def run(self) -> None:
        while not self.stop_evt.is_set():
            self.peak = max(self.peak, rss_mb())
            self.stop_evt.wait(self.every)


# ---------------------------------------------------------------------------


def _p(values, q):
    return pct(values, q) if values else float("nan")


async def run_async(n: int, live_seconds: float, calm_seconds: float, gc_freeze: bool = True) -> tuple[list, dict]:
    extra: dict = {"jobs": n}
    rss0 = rss_mb()
    print(f"[ui] load average {loadavg()}; harness RSS {rss0:.0f} MB", flush=True)

    # Baseline (a): an empty store.
    from panorama_tui.model.store import Store

    cold = await first_paint_only(Store())  # the first app in a process pays one-time costs
    empty = await first_paint_only(Store())
    print(
        f"[ui] empty app: first paint {empty['seconds'] * 1000:.0f} ms (first app in the process: "
        f"{cold['seconds'] * 1000:.0f} ms)",
        flush=True,
    )

    # Baseline (b): a 1k-job workflow at mid-run.
    from panorama_tui.core import gcpolicy

    small, small_build, small_events = build_store(SMALL_JOBS)
    t = time.perf_counter()
    gc.collect()
    small_gc = time.perf_counter() - t
    if gc_freeze:
        gcpolicy.configure()
        gcpolicy.note_applied(small_events)  # as for the big store below
    app = _make_app(small)
    probe = Probe(app)
    t0 = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await _wait_paint(probe)
        small_paint = probe.first_paint - t0
        small_keys = await keys_run(app, probe, pilot, rounds=2, filters=FILTERS[:5], pilot_presses=10)
    print(f"[ui] {SMALL_JOBS}-job app: first paint {small_paint * 1000:.0f} ms", flush=True)
    gcpolicy.thaw()
    del app, probe, small
    gc.collect()

    # The big one.
    t0 = time.perf_counter()
    generate.plan(n)  # built once and cached: timed apart from the store
    plan_s = time.perf_counter() - t0
    rss_plan = rss_mb()
    store, build_s, build_events = build_store(n)
    t = time.perf_counter()
    gc.collect()
    full_gc = time.perf_counter() - t
    tracked = len(gc.get_objects())
    if gc_freeze:
        # What Ingest does as it applies (gcpolicy.note_applied: a collection,
        # then gc.freeze, every 20k events): the harness built the store
        # without Ingest, so it applies the same policy once here.
        gcpolicy.configure()
        gcpolicy.note_applied(build_events)
    rss_store = rss_mb()
    print(
        f"[ui] a full garbage collection with this store in memory: {full_gc * 1000:.0f} ms over "
        f"{tracked} tracked objects; then "
        f"{'frozen, as Ingest freezes a growing store' if gc_freeze else 'NOT frozen (what-if run)'}",
        flush=True,
    )
    summ = store_summary(store)
    extra["store"] = summ
    extra["plan_s"] = plan_s
    print(
        f"[ui] {n}-job store at mid-run built in {build_s:.1f} s from {build_events} events "
        f"(plan {plan_s:.1f} s): {summ['states']}, {summ['jobs_with_series']} jobs with traces, "
        f"{summ['samples']} samples; RSS {rss_store:.0f} MB (harness+plan {rss_plan:.0f} MB)",
        flush=True,
    )
    n_live = int(LIVE_RATE * live_seconds * 1.1) + 1000
    lines = live_lines(n, n_live)
    sampler = RssSampler()
    sampler.start()

    bd = Breakdown()
    bd.phase = "first paint"
    gct = GcTracker(bd)
    app = _make_app(store)
    probe = Probe(app)
    t0 = time.perf_counter()
    c0 = time.process_time()
    async with app.run_test(size=SIZE) as pilot:
        await _wait_paint(probe)
        paint = probe.first_paint - t0
        paint_cpu = time.process_time() - c0
        print(
            f"[ui] {n}-job app: first paint {paint * 1000:.0f} ms (CPU {paint_cpu * 1000:.0f} ms, "
            f"on_mount full refresh {probe.full_refresh_s * 1000:.0f} ms, frame {probe.frame_bytes} B, "
            f"verified={probe.first_paint_verified})",
            flush=True,
        )
        print(bd.report("first paint"), flush=True)
        await pilot.pause()
        keys = await keys_run(app, probe, pilot, bd=bd)
        for g, v in keys["wall"].items():
            print(
                f"[ui] keys {g:20s} n={len(v):3d} p50 {_p(v, 50):6.1f} ms  p95 {_p(v, 95):6.1f} ms  "
                f"max {max(v):6.1f} ms  (CPU p95 {_p(keys['cpu'].get(g, [0]), 95):.1f} ms)",
                flush=True,
            )
        n_nav = len(keys["wall"]["down/j"])
        print(
            f"[ui] where down/j key time went ({n_nav} presses):\n" + bd.report("key down/j", n_nav, "key"), flush=True
        )
        print(
            "[ui] / filter apply, per filter (all rows found after): "
            + ", ".join(
                f"{t!r} {ms:.0f} ms ({done:.0f})"
                for t, ms, done in zip(
                    FILTERS * FILTER_ROUNDS, keys["wall"]["/ filter apply"], keys["wall"]["filter complete"]
                )
            ),
            flush=True,
        )
        print(
            "[ui] s (sort), per column: "
            + ", ".join(f"{c} {ms:.0f} ms" for c, ms in zip(SORT_ORDER * SORT_CYCLES, keys["wall"]["s (sort)"])),
            flush=True,
        )
        n_s = len(keys["wall"]["s (sort)"])
        print(f"[ui] where sort key time went ({n_s} presses):\n" + bd.report("key s (sort)", n_s, "key"), flush=True)
        n_f = len(keys["wall"]["/ filter apply"])
        print(
            f"[ui] where filter apply time went ({n_f} presses):\n" + bd.report("key / apply", n_f, "key"), flush=True
        )
        print(
            f"[ui] where filter clear time went ({n_f} presses):\n" + bd.report("key esc clear", n_f, "key"), flush=True
        )
        # (c) lag: feeder off, then on.
        lag = LagProbe(app)
        probe.ticks.clear()
        bd.phase = "calm"
        calm = await lag.measure(calm_seconds)
        calm_ticks = list(probe.ticks)
        print(
            f"[ui] lag, feeder off ({calm_seconds:.0f} s): p50 {_p(calm, 50):.1f} p99 {_p(calm, 99):.1f} "
            f"max {max(calm):.1f} ms; refresh tick p50 {_p(calm_ticks, 50) * 1000:.1f} ms",
            flush=True,
        )
        feeder = Feeder(store, lines)
        probe.ticks.clear()
        bd.phase = "live"
        feeder.start()
        live = await lag.measure(live_seconds)
        feeder.stop_evt.set()
        feeder.join()
        live_ticks = list(probe.ticks)
        rate = feeder.applied / max(1e-9, feeder.t1 - feeder.t0)
        print(
            f"[ui] lag, feeder on at {rate:.0f} ev/s ({live_seconds:.0f} s): p50 {_p(live, 50):.1f} "
            f"p99 {_p(live, 99):.1f} max {max(live):.1f} ms; refresh tick p50 {_p(live_ticks, 50) * 1000:.1f} "
            f"max {max(live_ticks or [0]) * 1000:.1f} ms; feeder lock hold p99 {_p(feeder.lock_ms, 99):.1f} ms",
            flush=True,
        )
        print(
            f"[ui] where the UI thread's time went, feeder off ({calm_seconds:.0f} s):\n"
            + bd.report("calm", int(calm_seconds), "s"),
            flush=True,
        )
        print(
            f"[ui] where the UI thread's time went at 2k ev/s ({live_seconds:.0f} s):\n"
            + bd.report("live", int(live_seconds), "s"),
            flush=True,
        )
        bd.phase = "end"
        await pilot.pause()
    bd.restore()
    gct.stop()
    print("[ui] garbage collector pauses (all threads) per phase:\n" + gct.report(), flush=True)
    extra["breakdown"] = bd.data
    extra["gc"] = gct.data
    sampler.stop_evt.set()
    sampler.join()
    peak = maxrss_mb()
    extra.update(
        empty=empty,
        small_paint=small_paint,
        small_build_s=small_build,
        paint=paint,
        paint_cpu=paint_cpu,
        full_refresh_s=probe.full_refresh_s,
        frame_bytes=probe.frame_bytes,
        verified=probe.first_paint_verified,
        keys=keys,
        small_keys=small_keys,
        calm=calm,
        live=live,
        calm_ticks=calm_ticks,
        live_ticks=live_ticks,
        feeder_rate=rate,
        feeder_lock_ms=feeder.lock_ms,
        rss_harness=rss0,
        rss_plan=rss_plan,
        rss_store=rss_store,
        rss_sampled_peak=sampler.peak,
        maxrss=peak,
        build_s=build_s,
        build_events=build_events,
    )

    n_gen2 = sum(g.get(2, [0])[0] for ph, g in gct.data.items())
    max_gen2 = max([g.get(2, [0, 0, 0])[2] for g in gct.data.values()] + [0.0])
    extra.update(full_gc=full_gc, tracked=tracked, small_gc=small_gc, gc_freeze=gc_freeze)
    nav = [v for g in ("down/j", "pagedown", "G", "g") for v in keys["wall"][g]]
    nav_small = [v for g in ("down/j", "pagedown", "G", "g") for v in small_keys["wall"][g]]
    nav_cpu = [v for g in ("down/j", "pagedown", "G", "g") for v in keys["cpu"][g]]
    figs = [
        figure(
            f"(a) open to first paint, {n // 1000}k jobs",
            paint,
            "s",
            baseline=empty["seconds"],
            baseline_note="empty store",
            target=TARGET_PAINT,
            better="lower",
            fmt="{:.2f}",
            note=(
                f"store built beforehand in {build_s:.1f} s ({build_events} events); on_mount full "
                f"refresh {probe.full_refresh_s * 1000:.0f} ms; {SMALL_JOBS}-job app {small_paint:.2f} s; "
                f"frame content checked: {probe.first_paint_verified}"
            ),
        ),
        figure(
            "(b) key to repaint p95: down/j pgdn G g",
            _p(nav, 95),
            "ms",
            baseline=_p(nav_small, 95),
            baseline_note=f"{SMALL_JOBS}-job app",
            target=TARGET_KEY_MS,
            better="lower",
            note=(
                f"{len(nav)} presses; p50 {_p(nav, 50):.1f} ms, max {max(nav):.1f} ms; process CPU per key "
                f"p50 {_p(nav_cpu, 50):.1f} ms, p95 {_p(nav_cpu, 95):.1f} ms"
            ),
        ),
    ]
    for g in ("down/j", "pagedown", "G", "g"):
        v = keys["wall"][g]
        figs.append(
            figure(
                f"    {g} p95",
                _p(v, 95),
                "ms",
                baseline=_p(small_keys["wall"][g], 95),
                baseline_note=f"{SMALL_JOBS} jobs",
                target=TARGET_KEY_MS,
                better="lower",
            )
        )
    # What each of these keys does to every row (joborder.JobOrder).
    work = {
        "s (sort)": "the column's order prepared while idle, the jobs re-keyed since moved into it",
        "/ filter apply": "the first screenful of one filter pass over the sorted scope",
        "filter clear (esc)": "no pass: the sorted scope is shown again",
    }
    for g, what in work.items():
        v = keys["wall"][g]
        figs.append(
            figure(
                f"(b) {g} p95",
                _p(v, 95),
                "ms",
                baseline=_p(small_keys["wall"][g], 95),
                baseline_note=f"{SMALL_JOBS} jobs",
                target=TARGET_KEY_MS,
                better="lower",
                note=f"{len(v)} presses, max {max(v):.1f} ms; {what}",
            )
        )
    v = keys["wall"]["filter complete"]
    figs.append(
        figure(
            "    filter: all rows found p95",
            _p(v, 95),
            "ms",
            baseline=_p(small_keys["wall"]["filter complete"], 95),
            baseline_note=f"{SMALL_JOBS} jobs",
            note=(
                f"from the key to the end of the pass, done a chunk at a time between frames "
                f"(keys are answered meanwhile); p50 {_p(v, 50):.1f} ms, max {max(v):.1f} ms"
            ),
        )
    )
    pv = keys["wall"]["pilot down"]
    figs.append(
        figure(
            "(b) pilot.press(down)+pause p95",
            _p(pv, 95),
            "ms",
            baseline=_p(small_keys["wall"]["pilot down"], 95),
            baseline_note=f"{SMALL_JOBS} jobs: Pilot's own idle waits",
            note="the brief's literal measure; includes Pilot's >= 60 ms of idle sleeps, so no target",
        )
    )
    figs += [
        figure(
            "(c) UI loop lag p99 at 2k ev/s",
            _p(live, 99),
            "ms",
            baseline=_p(calm, 99),
            baseline_note="feeder off",
            target=TARGET_LAG_MS,
            better="lower",
            note=(
                f"{len(live)} ticks of a 50 ms timer over {live_seconds:.0f} s; p50 {_p(live, 50):.1f} ms, "
                f"max {max(live):.1f} ms (feeder off: p50 {_p(calm, 50):.1f}, max {max(calm):.1f}); "
                f"feeder achieved {rate:.0f} ev/s; app refresh tick p50 {_p(live_ticks, 50) * 1000:.1f} ms, "
                f"max {max(live_ticks or [0]) * 1000:.1f} ms"
            ),
        ),
        figure("    lag p50 at 2k ev/s", _p(live, 50), "ms", baseline=_p(calm, 50), baseline_note="feeder off"),
        figure("    lag max at 2k ev/s", max(live), "ms", baseline=max(calm), baseline_note="feeder off"),
        figure(
            "full GC pause with the store loaded",
            full_gc * 1000,
            "ms",
            baseline=small_gc * 1000,
            baseline_note=f"{SMALL_JOBS} jobs",
            note=(
                f"{tracked} tracked objects; longest collector pause seen while the app ran: "
                f"{max_gen2 * 1000:.0f} ms ({n_gen2} full collections in the timed phases)"
            ),
        ),
        figure(
            "(d) peak RSS (getrusage, whole process)",
            peak,
            "MB",
            baseline=rss_store,
            baseline_note="after store build, before the app",
            target=TARGET_RSS,
            better="lower",
            fmt="{:.0f}",
            note=(
                f"psutil RSS sampled while the app ran: peak {sampler.peak:.0f} MB; harness alone "
                f"{rss0:.0f} MB, + generator plan {rss_plan:.0f} MB"
            ),
        ),
    ]
    return figs, extra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="UI benchmark")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_JOBS} jobs instead of {FULL_JOBS}")
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--live-seconds", type=float, default=20.0)
    ap.add_argument("--calm-seconds", type=float, default=6.0)
    ap.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="what-if: leave the loaded store to the collector (Ingest freezes it as it grows)",
    )
    ap.add_argument("--json", help="write the figures here (for benchmarks.run)")
    args = ap.parse_args(argv)
    n = args.jobs or (QUICK_JOBS if args.quick else FULL_JOBS)
    live_s = args.live_seconds if not args.quick or args.live_seconds != 20.0 else 8.0
    calm_s = args.calm_seconds if not args.quick or args.calm_seconds != 6.0 else 4.0
    figs, extra = asyncio.run(run_async(n, live_s, calm_s, not args.no_gc_freeze))
    print(table(figs))
    write_json(args.json, figs, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
