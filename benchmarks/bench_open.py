"""Opening a big Stampede DB on the screen (issue #14): first rows, fully loaded, peak RSS,
keys while loading and after, idle CPU.

Each figure comes from one child process running the real screen (``PanoramaApp`` headless
through Textual's ``run_test``, 160x50) on a followed ``StampedeDbSource`` of a generated
DB (``generate.stampede_db``: finished, or stopped half-way with jobs queued and running):

* the bulk read (``stampede_bulk.py``: each job's current state by set-based SQL, history on
  demand), the way the screen opens a big DB now, against
* the baseline measured in the same run on the same DB: the incremental read of every row
  as an event (``bulk_min=None``), the way it opened before;
* and the bulk read without its read-ahead (``prefetch_min=None``: the reader's thread runs
  every query itself, no child process), for the read-ahead's share.

Times are from the child's launch (imports included) to the first frame showing job rows,
and to the first frame after the source caught up with every job in the store: with keys
pressed throughout the load (the reader waits for each key's frame, ``Ingest.yield_to_input``),
and in another run with none pressed ("no keys": a user watching the load).  Keys: from
posting the key to the frame showing its effect (``bench_ui.Probe``), pressed while the DB
loads (down/j, G/g, s) and again once it has.  Idle CPU: the child's CPU over 5 s after the
load, nothing changing.  Targets (issue #14): first rows <= 1 s / loaded <= 3 s / peak RSS
<= 400 MB at 100k; <= 2 s / <= 20 s / <= 2 GB at 1M; keys p95 <= 50 ms; idle <= 1 %.

``python -m benchmarks.bench_open [--n 100000] [--million] [--no-baseline-1m] [--repeat 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate as G  # noqa: E402
from benchmarks.run import figure, loadavg, median, table, write_json  # noqa: E402

TARGETS = {100_000: (1.0, 3.0, 400.0), 1_000_000: (2.0, 20.0, 2048.0)}
KEYS_P95 = 50.0
IDLE_PCT = 1.0
SIZE = (160, 50)
LOADING_KEYS = ("down", "j", "G", "g", "s")


def _p(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


def _cpu() -> float:
    """This process's CPU and its ended children's (the bulk read's read-ahead)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _source(path: str, mode: str, follow: bool):
    """``mode`` "1" the bulk read, "2" the same without read-ahead, "0" the incremental read."""
    from panorama_tui.sources.pegasus.stampede_bulk import BULK_MIN_JOBS
    from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource

    kw = {"prefetch_min": None} if mode == "2" else {}
    return StampedeDbSource(path, follow=follow, bulk_min=None if mode == "0" else BULK_MIN_JOBS, **kw)


def child(path: str, mode: str, launched: float) -> dict:
    """``mode`` as :func:`_source`'s, with a trailing ``q`` when no key is pressed while loading
    (the keys make the reader wait for their frames: a load a user watches without typing)."""
    press = not mode.endswith("q")
    mode = mode.rstrip("q")
    from benchmarks.bench_ui import Probe
    from panorama_tui.core import gcpolicy
    from panorama_tui.model.store import Store
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.ui.app import PanoramaApp

    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    (jobs_there,) = conn.execute("SELECT count(*) FROM job").fetchone()
    conn.close()
    imported = time.time()
    gcpolicy.configure()
    store = Store()
    source = _source(path, mode, follow=True)
    ingest = Ingest(source, store).start()
    app = PanoramaApp(store, ingest=ingest, live=True, source_label=source.label)
    probe = Probe(app, rows_expected=jobs_there > 0)
    seen: dict = {}
    loading_keys: list[float] = []
    after_keys: list[float] = []

    def loaded() -> bool:
        return source.caught_up and not source.loading and store.job_count() >= jobs_there

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.time() + 1500
            i = 0
            while time.time() < deadline:
                if probe.first_paint is not None and "first" not in seen:
                    seen["first"] = time.time() - (time.perf_counter() - probe.first_paint)
                if loaded():
                    break
                if press and probe.first_paint is not None and len(loading_keys) < 200:
                    ms, _ = await probe.press_to_repaint(LOADING_KEYS[i % len(LOADING_KEYS)], timeout=30)
                    loading_keys.append(ms)
                    i += 1
                await pilot.pause(0.05)
            app.refresh_all(full=True)
            await pilot.pause()
            seen["loaded"] = time.time()
            seen["loaded_cpu"] = _cpu()
            seen["loaded_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            for k in ("g", *["down"] * 20, "G", "g", *["s"] * 10):
                ms, _ = await probe.press_to_repaint(k, timeout=30)
                after_keys.append(ms)
            await pilot.pause(1.0)
            c0, t0 = time.process_time(), time.perf_counter()
            await pilot.pause(5.0)
            seen["idle_pct"] = 100.0 * (time.process_time() - c0) / (time.perf_counter() - t0)

    asyncio.run(go())
    ingest.stop()
    return {"launched": launched, "imported": imported, **seen, "jobs": store.job_count(),
            "loading_keys": loading_keys, "after_keys": after_keys,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def _vm_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child_no_screen(path: str, mode: str = "1") -> dict:
    """The same read into a store with no screen: the load's CPU without the screen's share, and
    what the store holds a job (the RSS it added, over the jobs)."""
    from panorama_tui.model.store import Store
    from panorama_tui.pipeline.ingest import run_to_end

    from panorama_tui.core import gcpolicy

    gcpolicy.configure()  # the collector's thresholds as the program sets them (the screen's child too)
    before = _vm_rss_mb()
    c0 = _cpu()
    store = run_to_end(_source(path, mode, follow=False), Store())
    cpu = _cpu() - c0
    jobs = store.job_count()
    return {"cpu": cpu, "jobs": jobs, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "store_bytes_per_job": (_vm_rss_mb() - before) * 1024 * 1024 / max(1, jobs)}


def run_no_screen(path: str, mode: str = "1") -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_open", "--child-no-screen", path,
                           mode], cwd=REPO, capture_output=True, text=True, timeout=3600)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(line)


def run_child(path: str, mode: str) -> dict:
    launched = time.time()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_open", "--child", path, mode,
                           str(launched)], cwd=REPO, capture_output=True, text=True, timeout=3600)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-1500:]}")
    d = json.loads(line)
    return {"first": d.get("first", float("nan")) - launched, "loaded": d["loaded"] - launched,
            "imports": d["imported"] - launched, "rss": d["peak_rss"], "jobs": d["jobs"], "cpu": d["loaded_cpu"],
            "idle": d.get("idle_pct", float("nan")), "loading_keys": d["loading_keys"], "after_keys": d["after_keys"]}


def figures(n: int, label: str, ours: list[dict], base: list[dict] | None, bare: list[dict],
            bare_base: list[dict] | None = None) -> list[dict]:
    first_t, loaded_t, rss_t = TARGETS.get(n, TARGETS[100_000])

    def med(runs, key):
        return median([r[key] for r in runs]) if runs else None

    keys_loading = [ms for r in ours for ms in r["loading_keys"]]
    keys_after = [ms for r in ours for ms in r["after_keys"]]
    b_loading = [ms for r in base or [] for ms in r["loading_keys"]]
    note = "incremental read (every row an event), same run"
    return [
        figure(f"{label}: first rows", med(ours, "first"), "s", baseline=med(base, "first"), baseline_note=note,
               target=first_t, better="lower", fmt="{:.2f}"),
        figure(f"{label}: fully loaded", med(ours, "loaded"), "s", baseline=med(base, "loaded"),
               baseline_note=note, target=loaded_t, better="lower", fmt="{:.1f}"),
        figure(f"{label}: peak RSS", med(ours, "rss"), "MB", baseline=med(base, "rss"), baseline_note=note,
               target=rss_t, better="lower", fmt="{:.0f}"),
        figure(f"{label}: keys p95 while loading (n={len(keys_loading)})", _p(keys_loading, 95), "ms",
               baseline=_p(b_loading, 95) if b_loading else None, baseline_note=note, target=KEYS_P95,
               better="lower", fmt="{:.0f}"),
        figure(f"{label}: keys p95 loaded (n={len(keys_after)})", _p(keys_after, 95), "ms", target=KEYS_P95,
               better="lower", fmt="{:.0f}"),
        figure(f"{label}: idle CPU", med(ours, "idle"), "%", baseline=med(base, "idle"), baseline_note=note,
               target=IDLE_PCT, better="lower", fmt="{:.1f}"),
        figure(f"{label}: CPU of the load with the screen", med(ours, "cpu"), "s", baseline=med(bare, "cpu"),
               baseline_note="the same read into a store, no screen", better="lower", fmt="{:.1f}"),
        figure(f"{label}: store's memory a job (no screen)", med(bare, "store_bytes_per_job"), "B",
               baseline=med(bare_base, "store_bytes_per_job"), baseline_note="the row-by-row read's store, same run",
               better="lower", fmt="{:.0f}"),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--million", action="store_true", help="1M jobs too")
    ap.add_argument("--no-baseline-1m", action="store_true", help="leave out the incremental read at 1M (minutes)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="20k jobs (a smoke run)")
    ap.add_argument("--no-read-ahead", action="store_true",
                    help="also the bulk read without its child process (the read-ahead's share)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-no-screen", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_no_screen:
        path, mode = args.child_no_screen
        print(json.dumps(child_no_screen(path, mode)))
        return 0
    if args.child:
        path, mode, launched = args.child
        print(json.dumps(child(path, mode, float(launched))))
        return 0
    if args.quick:
        args.n = 20_000
    print(f"bench_open  {time.strftime('%Y-%m-%d %H:%M:%S')}  load {loadavg()}", flush=True)
    figs: list[dict] = []
    cases = [(args.n, None, "finished"), (args.n, 0.5, "half done")]
    if args.million:
        cases += [(1_000_000, None, "finished")]
    for n, until, what in cases:
        db = G.stampede_db(n, until=until)
        label = f"{n // 1000}k {what}"
        ours, base, bare, bare_base, alone, still, still_base = [], [], [], [], [], [], []
        for _ in range(args.repeat):
            still.append(run_child(db, "1q"))
            if n < 1_000_000:
                still_base.append(run_child(db, "0q"))
            print(f"  {label} bulk, no keys: loaded {still[-1]['loaded']:.2f} s"
                  + (f" (incremental {still_base[-1]['loaded']:.2f} s)" if still_base else ""), flush=True)
            bare.append(run_no_screen(db))
            if n < 1_000_000:  # the row-by-row store at 1M: many minutes
                bare_base.append(run_no_screen(db, "0"))
            ours.append(run_child(db, "1"))
            print(f"  {label} bulk: {json.dumps({k: v for k, v in ours[-1].items() if 'keys' not in k})}", flush=True)
            if args.no_read_ahead:
                alone.append(run_child(db, "2"))
                print(f"  {label} bulk, no read-ahead: "
                      f"{json.dumps({k: v for k, v in alone[-1].items() if 'keys' not in k})}", flush=True)
            if not (n >= 1_000_000 and args.no_baseline_1m):
                base.append(run_child(db, "0"))
                print(f"  {label} incremental: {json.dumps({k: v for k, v in base[-1].items() if 'keys' not in k})}",
                      flush=True)
        figs += figures(n, label, ours, base or None, bare, bare_base or None)
        figs.append(figure(f"{label}: fully loaded, no keys pressed", median([r["loaded"] for r in still]), "s",
                           baseline=median([r["loaded"] for r in still_base]) if still_base else None,
                           baseline_note="incremental read (every row an event), no keys, same run",
                           target=TARGETS.get(n, TARGETS[100_000])[1], better="lower", fmt="{:.2f}"))
        if alone:
            note = "the bulk read without its read-ahead (no child process), same run"
            figs += [figure(f"{label}: fully loaded, read ahead", median([r["loaded"] for r in ours]), "s",
                            baseline=median([r["loaded"] for r in alone]), baseline_note=note, better="lower",
                            fmt="{:.2f}"),
                     figure(f"{label}: CPU of the load, read ahead (both processes)", median([r["cpu"] for r in ours]),
                            "s", baseline=median([r["cpu"] for r in alone]), baseline_note=note, better="lower",
                            fmt="{:.2f}"),
                     figure(f"{label}: keys p95 while loading, read ahead",
                            _p([ms for r in ours for ms in r["loading_keys"]], 95), "ms",
                            baseline=_p([ms for r in alone for ms in r["loading_keys"]], 95), baseline_note=note,
                            target=KEYS_P95, better="lower", fmt="{:.0f}")]
    print(table(figs))
    write_json(args.json, figs, {"load": loadavg()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
