"""Live updates at LIGO scale (issue #14): 10k running jobs, a 1 Hz /proc trace each, on the screen.

Target (issue #14): "live updates: 10k running jobs, 1 Hz traces each | loop lag p99 <= 100 ms"
at a 100k-job store (``--million``: 1M).

The store: :mod:`benchmarks.generate`'s event path (``bench_ui.build_store``: the plan's static
events, then every event up to a time T, traces as their newest 120 samples), with the plan's
slots raised from N/25 to 10,500 (``SLOTS``) so that 10k jobs can run at once, and T the last
second at which >= 10k run.  Why this and not the bulk read of the finished DB: that DB's jobs
are all finished, and a running job must be one the store saw start (its row, its state
counts, its trace ring); the event path makes them so, by the same decoder the screen uses.
The store is built without ``Ingest`` (faster), then Ingest's collector policy applied once,
as bench_ui does.

The feed, through the real path: a :class:`~panorama_tui.sources.base.Source` (``TraceSource``)
yields batches of JSON lines (<= 500 every 50 ms, AMQP's ``BATCH_MAX``) to a real ``Ingest``
thread (decode in slices of 200, the typed sample lane, ``store.apply_decoded`` under the
lock), wired to the app as ``panorama`` wires it (``PanoramaApp(ingest=...)``: keys make the
ingest wait, ``Ingest.yield_to_input``).  The lines are ``kickstart.inv.online`` records in
generate.py's shape (one per running job per second, counters advancing), i.e. 10,000
samples/s.  The source delivers what is due at each pull, so a slow ingest shows as
applied < offered, not as a slower clock.

Measured in one process, on one screen (PanoramaApp headless via ``run_test``, 160x50):
  idle: the feed paused (the lag floor), then live: the feed on for ``--seconds`` (30),
  each phase: a 50 ms Textual timer with ``skip=False`` (``bench_ui.LagProbe``) noting how late
  each tick fires (p50/p95/p99/max); the process CPU (``time.process_time``) over wall;
  then nav keys (down/j, pagedown, G, g) and sort (s) pressed, each timed to the frame showing
  its effect (``bench_ui.Probe``), with the feed on, and the same with it paused.
  The feeder's samples/s applied against offered.

What it found (100k, 2 cores shared, load ~5): Ingest counted each trace sample toward the
collector's freeze (``gcpolicy.note_applied``), so 10k samples/s made a full collection every
2 s on the ingest thread, holding the GIL: 14 in a 30 s feed, up to 205 ms each (the first walks
what the screen made since its freeze), loop lag max 149 ms, nav keys p95 131 ms.  Samples are
untracked structs in the series' rings and no longer count: no collection while fed.
``--count-samples`` runs the old policy, for a before/after in one run.

``python -m benchmarks.bench_live [--n 100000] [--million] [--seconds 30] [--count-samples] [--json F]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate as G  # noqa: E402
from benchmarks.run import figure, loadavg, maxrss_mb, pct, table, write_json  # noqa: E402

RUNNING = 10_000
SLOTS = 10_500  # the plan's slots (generate: N/25): enough for 10k at once
RATE_HZ = 1.0  # samples per running job per second
PERIOD = 0.05  # the source's batch interval (AMQP: BATCH_WAIT 20 ms, BATCH_MAX 500)
BATCH_MAX = 500
TARGET_LAG_MS = 100.0
TARGET_KEY_MS = 50.0
SIZE = (160, 50)
NAV_KEYS = ("down", "j", "pagedown", "G", "g")


def _p(v, q):
    return pct(v, q) if v else float("nan")


# ---------------------------------------------------------------------------
# Data


def choose_time(p, want: int = RUNNING) -> float:
    """The last whole second at which >= ``want`` tries run (start <= T < end)."""
    st, en = p._t[1], p._t[2]
    edges = sorted([(st[i], 1) for i in range(p.ntries)] + [(en[i], -1) for i in range(p.ntries)])
    cur = 0
    best = None
    for ts, d in edges:
        cur += d
        if cur >= want:
            best = ts
    if best is None:
        raise SystemExit(f"bench_live: the plan never runs {want} jobs at once")
    return float(int(best))


def running_tries(p, t: float) -> list[int]:
    """The tries running at ``t``, those running longest after it first."""
    st, en = p._t[1], p._t[2]
    run = [i for i in range(p.ntries) if st[i] <= t < en[i]]
    run.sort(key=lambda i: -en[i])
    return run


class Line:
    """One job's ``kickstart.inv.online`` record as a %-template (the varying fields filled per second)."""

    FIELDS = ("ts", "rss", "bread", "bwrite", "utime", "stime", "rchar", "wchar", "@timestamp")

    def __init__(self, rec: dict, start: float, cpu_frac: float, rss: int, rd_rate: float, wr_rate: float):
        d = dict(rec)
        for k in self.FIELDS:
            d[k] = f"@@{k}@@"
        text = json.dumps(d).replace("%", "%%")
        for k in self.FIELDS:  # named: the record's own key order is not FIELDS'
            text = text.replace(f'"@@{k}@@"', f'"%({k})s"' if k == "@timestamp" else f"%({k})s")
        self.fmt = text
        self.start, self.cpu, self.rss, self.rd, self.wr = start, cpu_frac, rss, rd_rate, wr_rate

    def at(self, ts: float) -> str:
        k = ts - self.start
        cpu = self.cpu * k
        rd, wr = int(self.rd * k), int(self.wr * k)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"
        return self.fmt % {"ts": ts, "rss": self.rss, "bread": rd, "bwrite": wr, "utime": round(cpu * 0.9, 2),
                           "stime": round(cpu * 0.1, 2), "rchar": rd + 4096 * int(k), "wchar": wr + 512 * int(k),
                           "@timestamp": stamp}


def trace_lines(p, tries: list[int], t: float, want: int = RUNNING) -> list[Line]:
    """A template for ``want`` running tries, from the newest sample generate.py makes for each
    before ``t`` + 2 s (a try without one is passed over)."""
    tmpls, _ = G.templates()
    out: list[Line] = []
    for ti in tries:
        if len(out) >= want:
            break
        rec = None  # the newest sample before t + 2 (a try's samples are at its start + whole seconds)
        for _ts, ev in G._try_events(p, ti, t - 300.0, t + 2.0, True, None):
            if ev.get("event") == "kickstart.inv.online":
                rec = ev
        if rec is None:
            continue
        g = p._job[ti]
        tm = tmpls[p.tmpl[g]]
        rt = max(tm.runtime, 1e-6)
        out.append(Line(rec, p._t[1][ti], tm.avg_cpu / 100.0, int(rec["rss"]) or int(tm.memory / 1024.0),
                        tm.in_bytes / rt, tm.out_bytes / rt))
    return out


def make_source(lines: list[Line], t0_data: float):
    from panorama_tui.sources.base import Source

    class _TraceSource(Source):
        label = "bench: 10k running jobs, 1 Hz traces"
        live = True
        recordable = False

        def __init__(self):
            super().__init__()
            self.on = threading.Event()
            self.offered = 0  # lines due by now while on
            self.delivered = 0
            self.applied = 0
            self._due = 0.0  # lines due, fractional
            self._k = 0  # next line index (round robin over jobs; every pass is one data second)
            self.on_time = 0.0  # seconds spent on

        def batches(self):
            self.status.state = "live"
            n = len(lines)
            per_s = n * RATE_HZ
            last = None
            while not self.stopping:
                if not self.on.is_set():
                    last = None
                    self.on.wait(0.1)
                    continue
                now = time.perf_counter()
                if last is not None:
                    self._due += (now - last) * per_s
                    self.on_time += now - last
                last = now
                take = int(self._due)
                if take <= 0:
                    self._stop.wait(PERIOD)
                    continue
                self._due -= take
                self.offered += take
                out = []
                for _ in range(take):
                    k = self._k
                    self._k += 1
                    out.append(lines[k % n].at(t0_data + k // n))
                for i in range(0, len(out), BATCH_MAX):
                    b = out[i:i + BATCH_MAX]
                    self.delivered += len(b)
                    yield b
                    self.applied += len(b)  # the ingest thread took the batch and applied it
                self._stop.wait(PERIOD)

    return _TraceSource()


# ---------------------------------------------------------------------------


async def keys(probe, n_rounds: int) -> dict:
    """``n_rounds`` of the nav keys, then ``s`` through every sortable column once (so the fed
    and the paused phase sort by the same columns: a round of one ``s`` each compared the first
    columns fed with the next ones paused)."""
    from panorama_tui.views import columns as registry

    res: dict = {"nav": [], "sort": [], "by_col": {}}
    jobs = probe.app.query_one("#jobs")
    for _ in range(n_rounds):
        for k in NAV_KEYS:
            ms, _ = await probe.press_to_repaint(k, timeout=30)
            res["nav"].append(ms)
            await asyncio.sleep(0.1)
        for _ in registry.sortable():
            ms, _ = await probe.press_to_repaint("s", timeout=30)
            res["sort"].append(ms)
            res["by_col"].setdefault(jobs.sort_col, []).append(ms)
            await asyncio.sleep(0.1)
    return res


def _by_col(k: dict) -> str:
    return ", ".join(f"{col} {_p(v, 50):.0f}/{max(v):.0f}" for col, v in k["by_col"].items())


async def phase_lag(lag, seconds: float) -> tuple[list[float], float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    lags = await lag.measure(seconds)
    return lags, time.process_time() - c0, time.perf_counter() - t0


def run(n: int, seconds: float, idle_seconds: float, key_rounds: int, count_samples: bool = False
        ) -> tuple[list[dict], dict]:
    from benchmarks.bench_ui import LagProbe, Probe, build_store, store_summary
    from panorama_tui.core import gcpolicy
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.ui.app import PanoramaApp

    if count_samples:  # what-if: the collector policy as before (every sample counted toward a freeze)
        from panorama_tui.pipeline import ingest as ingest_mod

        ingest_mod._is_sample = lambda e: False
    G.SLOTS_PER_JOB = SLOTS / n  # read when the plan is made (generate.Plan)
    t = time.perf_counter()
    p = G.plan(n)
    T = choose_time(p)
    tries = running_tries(p, T)
    lines = trace_lines(p, tries, T)
    prep_s = time.perf_counter() - t
    from panorama_tui.core.events import TraceSample
    from panorama_tui.pipeline.ingest import decode_batch

    bad: list = []
    check = decode_batch([ln.at(T + 1.0) for ln in lines[:50]], bad, samples=True)
    if bad or not all(type(e) is TraceSample for e in check):  # the lines must take the typed sample lane
        raise SystemExit(f"bench_live: the trace lines do not decode as samples: {bad[:1] or check[:1]}")
    store, build_s, build_events = build_store(n, until=T + 1.0)
    gcpolicy.configure()
    gcpolicy.note_applied(build_events)
    summ = store_summary(store)
    print(f"[live] {n} jobs, T = start + {T - G.T_START:.0f} s: {summ['states']}; {len(lines)} traced; "
          f"plan+templates {prep_s:.1f} s, store {build_s:.1f} s ({build_events} events); load {loadavg()}",
          flush=True)
    source = make_source(lines, T + 1.0)
    ingest = Ingest(source, store).start()
    app = PanoramaApp(store, ingest=ingest, live=True, source_label=source.label)
    probe = Probe(app)
    gcs: list[tuple[int, float]] = []  # (generation, ms) of each collection, any thread
    started = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            gcs.append((info["generation"], (time.perf_counter() - started[0]) * 1000.0))

    gc.callbacks.append(on_gc)
    out: dict = {"n": n, "T": T - G.T_START, "store": summ, "running_traced": len(lines)}

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            t_end = time.perf_counter() + 120
            while probe.first_paint is None and time.perf_counter() < t_end:
                await asyncio.sleep(0.01)
            await pilot.pause(1.0)
            lag = LagProbe(app)
            # A B A: idle, live, idle (the idle figure is the median of its two).
            probe.ticks.clear()
            gcs.clear()
            out["idle1"] = await phase_lag(lag, idle_seconds)
            out["idle_gc"] = list(gcs)
            gcs.clear()
            out["idle_ticks"] = list(probe.ticks)
            probe.ticks.clear()
            source.on.set()
            a0, o0 = source.applied, source.offered
            on0 = source.on_time
            out["live"] = await phase_lag(lag, seconds)
            out["live_ticks"] = list(probe.ticks)
            out["live_gc"] = list(gcs)
            for what, g in (("fed", out["live_gc"]), ("paused", out["idle_gc"])):
                full = [ms for gen, ms in g if gen == 2]
                print(f"[live] collector, {what}: {len(g)} collections, {len(full)} full ones, full p50 "
                      f"{_p(full, 50):.1f} max {max(full or [0]):.1f} ms; young max "
                      f"{max([ms for gen, ms in g if gen < 2] or [0]):.1f} ms", flush=True)
            print(f"[live] the screen's refresh tick (ms): fed p50 {_p(out['live_ticks'], 50) * 1e3:.1f} p95 "
                  f"{_p(out['live_ticks'], 95) * 1e3:.1f} max {max(out['live_ticks'] or [0]) * 1e3:.1f}; paused "
                  f"p50 {_p(out['idle_ticks'], 50) * 1e3:.1f} max {max(out['idle_ticks'] or [0]) * 1e3:.1f}",
                  flush=True)
            out["live_keys"] = await keys(probe, key_rounds)
            out["applied"] = source.applied - a0
            out["offered"] = source.offered - o0
            out["on_s"] = source.on_time - on0
            source.on.clear()
            await pilot.pause(1.0)
            out["idle2"] = await phase_lag(lag, idle_seconds)
            out["idle_keys"] = await keys(probe, key_rounds)
            await pilot.pause()

    asyncio.run(go())
    ingest.stop()
    gc.collect()
    out["maxrss"] = maxrss_mb()
    return figures(n, out, seconds), out


def figures(n: int, o: dict, seconds: float) -> list[dict]:
    live, live_cpu, live_wall = o["live"]
    idle = o["idle1"][0] + o["idle2"][0]
    idle_cpu = 100 * (o["idle1"][1] + o["idle2"][1]) / (o["idle1"][2] + o["idle2"][2])
    lab = f"live {n // 1000}k" if n < 1_000_000 else "live 1M"
    rate = o["applied"] / max(1e-9, o["on_s"])
    offered = o["offered"] / max(1e-9, o["on_s"])
    base = "feed paused, same screen"
    lk, ik = o["live_keys"], o["idle_keys"]
    return [
        figure(f"{lab}: loop lag p99, 10k jobs x 1 Hz", _p(live, 99), "ms", baseline=_p(idle, 99), baseline_note=base,
               target=TARGET_LAG_MS, better="lower",
               note=(f"{len(live)} ticks of a 50 ms timer over {seconds:.0f} s: p50 {_p(live, 50):.1f}, p95 "
                     f"{_p(live, 95):.1f}, max {max(live):.1f} ms (paused: p50 {_p(idle, 50):.1f}, p95 "
                     f"{_p(idle, 95):.1f}, max {max(idle):.1f}); store {o['store']['states']}")),
        figure(f"    {lab}: loop lag p50", _p(live, 50), "ms", baseline=_p(idle, 50), baseline_note=base),
        figure(f"    {lab}: loop lag max", max(live), "ms", baseline=max(idle), baseline_note=base),
        figure(f"{lab}: samples/s applied", rate, "/s", baseline=offered, baseline_note="offered",
               target=0.95 * offered, better="higher", fmt="{:.0f}",
               note=f"{o['applied']} of {o['offered']} samples offered over {o['on_s']:.1f} s"),
        figure(f"{lab}: process CPU while fed", 100 * live_cpu / live_wall, "%", baseline=idle_cpu,
               baseline_note=base, better="lower", fmt="{:.0f}"),
        figure(f"{lab}: nav keys p95 while fed (n={len(lk['nav'])})", _p(lk["nav"], 95), "ms",
               baseline=_p(ik["nav"], 95), baseline_note=base, target=TARGET_KEY_MS, better="lower"),
        figure(f"{lab}: sort key p95 while fed (n={len(lk['sort'])})", _p(lk["sort"], 95), "ms",
               baseline=_p(ik["sort"], 95), baseline_note=base, target=TARGET_KEY_MS, better="lower",
               note=f"every column {len(lk['sort']) // max(1, len(lk['by_col']))} times; ms median/max a column, "
                    f"fed: {_by_col(lk)}; paused: {_by_col(ik)}"),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--million", action="store_true", help="1M jobs too (untested: the event-path build of 1M jobs is long)")
    ap.add_argument("--seconds", type=float, default=30.0, help="the feed's timed phase")
    ap.add_argument("--idle-seconds", type=float, default=8.0, help="each of the two paused phases")
    ap.add_argument("--key-rounds", type=int, default=3,
                    help="rounds of down j pagedown G g, then s through every sortable column")
    ap.add_argument("--quick", action="store_true", help="10 s phases (a smoke run)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--count-samples", action="store_true",
                    help="what-if: trace samples counted toward the collector's freeze, as before (a full "
                         "collection every 20k samples)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.idle_seconds, args.key_rounds = 10.0, 4.0, 1
    if args.child:
        child_figs, out = run(args.child, args.seconds, args.idle_seconds, args.key_rounds, args.count_samples)
        print("@@" + json.dumps({"figures": child_figs, "extra": {k: v for k, v in out.items() if k != "store"}}))
        return 0
    print(f"bench_live  {time.strftime('%Y-%m-%d %H:%M:%S')}  load {loadavg()}", flush=True)
    figs: list[dict] = []
    sizes = [args.n] + ([1_000_000] if args.million else [])
    for n in sizes:  # one child process a size: the 1M store's memory stays out of the 100k run
        import subprocess

        cmd = [sys.executable, "-m", "benchmarks.bench_live", "--child", str(n), "--seconds", str(args.seconds),
               "--idle-seconds", str(args.idle_seconds), "--key-rounds", str(args.key_rounds)]
        cmd += ["--count-samples"] if args.count_samples else []
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("@@")), None)
        sys.stdout.write("".join(ln + "\n" for ln in proc.stdout.splitlines() if not ln.startswith("@@")))
        if proc.returncode != 0 or line is None:
            print(f"bench_live: the {n}-job run failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        figs += json.loads(line[2:])["figures"]
    print(table(figs))
    print(f"load {loadavg()}")
    write_json(args.json, figs, {"load": loadavg()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
