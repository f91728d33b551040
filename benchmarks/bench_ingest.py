"""Ingest benchmark: events/s from a recording into the store, against bare json.loads.

The recording is the full run (static events, every state change and 1 Hz
``kickstart.inv.online`` traces) of a workflow made by
:mod:`benchmarks.generate` from the real WfCommons traces; 8,000 jobs give
about 534k events (``--quick``: 2,000 jobs, ~161k).  It is generated once
and cached under ``benchmarks/out/``.

"Ours" is the path ReplaySource and Ingest take, in-process and without the
replay's pacing: page through the recording with ReplaySource's own reader
(``RecordingReader.groups``: 25 compressed chunks of 200 records at a time,
decompressed; "select" below includes that),
then, as ``Ingest.run`` does, per slice of ``ingest.SLICE`` records:
``ingest.decode_batch`` (trace samples into typed structs) and
``Store.apply_decoded`` holding ``store.lock``.

The baseline is a bare ``json.loads`` of the same bodies, timed on the same
page right after it was read, so both see the same data and the same machine
load; the ratio ours / bare is computed per pass.  Three passes; the best
and the median are reported, and the median of ours in events per CPU
second (process time), which the machine's load stretches far less than the
wall clock: the figure to compare two versions by.  A last figure runs the real threaded path
(``ReplaySource`` at max speed feeding ``Ingest`` on its thread) once over the
first 150k events, to show the in-process figure is what a replay gets.

Run: ``python -m benchmarks.bench_ingest [--quick] [--jobs N] [--passes 3]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import sys
import threading
import time

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate  # noqa: E402
from benchmarks.run import figure, loadavg, median, out_path, table, write_json  # noqa: E402
from panorama_tui.core import recorder  # noqa: E402

FULL_JOBS = 8_000
QUICK_JOBS = 2_000
THREADED_EVENTS = 150_000  # the threaded check reads the recording's first events only
TARGET_RATE = 150_000
TARGET_RATIO = 1.0  # issue #14: ingest (select+decode+apply) at least the same run's bare json.loads
TARGET_DECODE_RATIO = 1.0  # issue #14: decoding at least as fast as the same run's bare json.loads


def recording_for(n: int) -> tuple[str, int, float]:
    """(path, events, seconds spent generating; 0 when cached)."""
    path = out_path(f"ingest-v{generate.VERSION}-n{n}-s{generate.SEED}.panorama.db")
    want = f"benchmarks.generate v{generate.VERSION} n={n} seed={generate.SEED} until=None traces=True"
    if os.path.exists(path):
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                meta = conn.execute("SELECT value FROM meta WHERE key='generator'").fetchone()
                version = conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
                count = conn.execute("SELECT SUM(n) FROM chunks").fetchone()[0]
            finally:
                conn.close()
            if meta and meta[0] == want and version and version[0] == recorder.VERSION:
                return path, count, 0.0
        except sqlite3.Error:
            pass
    t0 = time.perf_counter()
    count = generate.write_recording(path, n)
    return path, count, time.perf_counter() - t0


def one_pass(path: str) -> dict:
    """One interleaved pass: per page, bare json.loads, then ours (decode_batch + apply)."""
    from panorama_tui.pipeline.ingest import SLICE, decode_batch
    from panorama_tui.sources.replay import RecordingReader
    from panorama_tui.model.store import Store

    store = Store()
    loads = json.loads
    oloads = orjson.loads
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    reader = RecordingReader(conn, os.path.basename(path))
    # The cyclic collector's pauses, by phase (they land in whichever phase allocates).
    gc_s = {"select": 0.0, "bare": 0.0, "orjson": 0.0, "decode": 0.0, "apply": 0.0}
    gc_full = [0, 0.0]
    phase = ["select"]
    gc_t = [0.0]

    def gc_cb(what, info):
        if what == "start":
            gc_t[0] = time.perf_counter()
        else:
            d = time.perf_counter() - gc_t[0]
            gc_s[phase[0]] += d
            if info["generation"] == 2:
                gc_full[0] += 1
                gc_full[1] = max(gc_full[1], d)

    gc.callbacks.append(gc_cb)
    t_select = t_bare = t_orjson = t_decode = t_apply = 0.0
    cpu_ours = 0.0  # CPU time of select+decode+apply: what machine load does not stretch
    events = 0
    bad: list = []
    last = 0
    pc = time.perf_counter
    cpu = time.process_time
    try:
        while True:
            phase[0] = "select"
            ca = cpu()
            a = pc()
            groups, last = reader.groups(last)
            bodies = [body for g in reversed(groups) for body in g[2]]
            b = pc()
            cpu_ours += cpu() - ca
            t_select += b - a
            if not bodies:
                break
            # Baseline: bare json.loads of the same lines.
            phase[0] = "bare"
            a = pc()
            for body in bodies:
                loads(body)
            b = pc()
            t_bare += b - a
            # And orjson's, the fastest parser into dicts (what the general lane uses).
            phase[0] = "orjson"
            a = pc()
            for body in bodies:
                oloads(body)
            b = pc()
            t_orjson += b - a
            # Ours: decode outside the lock, apply under it (Ingest.run).
            phase[0] = "decode"
            ca = cpu()
            a = pc()
            for i in range(0, len(bodies), SLICE):
                evs = decode_batch(bodies[i:i + SLICE], bad, samples=True)
                b = pc()
                phase[0] = "apply"
                with store.lock:
                    for reason in bad:
                        store.note_bad(reason)
                    store.apply_decoded(evs)
                c = pc()
                bad.clear()
                t_decode += b - a
                t_apply += c - b
                phase[0] = "decode"
                a = c
            cpu_ours += cpu() - ca
            events += len(bodies)
    finally:
        conn.close()
        gc.callbacks.remove(gc_cb)
    ours = t_select + t_decode + t_apply
    res = {
        "events": events,
        "ours_s": ours,
        "bare_s": t_bare,
        "select_s": t_select,
        "decode_s": t_decode,
        "apply_s": t_apply,
        "ours_rate": events / ours,
        "ours_cpu_s": cpu_ours,
        "ours_cpu_rate": events / cpu_ours,
        "bare_rate": events / t_bare,
        "orjson_rate": events / t_orjson,
        "decode_rate": events / t_decode,
        "store_events": store.event_count,
        "jobs": store.job_count(),
        "bad": store.bad_count,
        "warnings": store.warning_count,
        "unknown": sum(store.unknown.values()),
        "gc_s": gc_s,
        "gc_full": gc_full[0],
        "gc_full_max_s": gc_full[1],
    }
    res["ratio"] = res["ours_rate"] / res["bare_rate"]
    res["decode_ratio"] = res["decode_rate"] / res["bare_rate"]
    res["decode_orjson_ratio"] = res["decode_rate"] / res["orjson_rate"]
    del store
    gc.collect()
    return res


def threaded_replay(path: str, total: int, timeout: float = 600.0) -> dict:
    """The real thing: ReplaySource at max speed -> Ingest thread -> Store; time to the ``total``-th event."""
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.replay import ReplayControl, ReplaySource
    from panorama_tui.model.store import Store

    store = Store()
    done = threading.Event()
    t_end = [0.0]

    def on_batch():
        if store.event_count >= total and not done.is_set():
            t_end[0] = time.perf_counter()
            done.set()

    src = ReplaySource(path, ReplayControl(speed=0.0))
    ing = Ingest(src, store, on_batch=on_batch)
    t0 = time.perf_counter()
    ing.start()
    ok = done.wait(timeout)
    ing.stop()
    secs = (t_end[0] if ok else time.perf_counter()) - t0
    res = {"events": store.event_count, "seconds": secs, "rate": store.event_count / secs, "complete": ok}
    store.reset()  # the closure above holds the store: empty it rather than del the name
    gc.collect()
    return res


def run(quick: bool = False, jobs: int | None = None, passes: int = 3, threaded: bool = True) -> tuple[list, dict]:
    n = jobs or (QUICK_JOBS if quick else FULL_JOBS)
    from panorama_tui.core import gcpolicy

    gcpolicy.configure()  # as the programs' entry points do (Ingest no longer sets it)
    print(f"[ingest] load average {loadavg()}", flush=True)
    path, total, gen_s = recording_for(n)
    size_mb = os.path.getsize(path) / 2**20
    print(
        f"[ingest] recording: {n} jobs, {total} events, {size_mb:.0f} MB "
        f"({'generated in %.1f s' % gen_s if gen_s else 'cached'}) {path}",
        flush=True,
    )
    results = []
    for i in range(passes):
        r = one_pass(path)
        results.append(r)
        print(
            f"[ingest] pass {i + 1}: ours {r['ours_rate']:,.0f} ev/s (select {r['select_s']:.2f} s, "
            f"decode {r['decode_s']:.2f} s, apply {r['apply_s']:.2f} s; {r['ours_cpu_rate']:,.0f} ev/s of CPU) "
            f"| bare json.loads "
            f"{r['bare_rate']:,.0f} ev/s ({r['bare_s']:.2f} s) | ratio {r['ratio']:.2f} | decode alone "
            f"{r['decode_rate']:,.0f} ev/s, {r['decode_ratio']:.2f}x json.loads, {r['decode_orjson_ratio']:.2f}x "
            f"orjson.loads ({r['orjson_rate']:,.0f} ev/s) | collector pauses: "
            f"decode {r['gc_s']['decode']:.2f} s, apply {r['gc_s']['apply']:.2f} s, bare {r['gc_s']['bare']:.2f} s; "
            f"{r['gc_full']} full, longest {r['gc_full_max_s'] * 1000:.0f} ms",
            flush=True,
        )
    last = results[-1]
    if last["bad"] or last["unknown"] or last["warnings"]:
        print(f"[ingest] store: {last['bad']} bad, {last['unknown']} unknown, {last['warnings']} warnings", flush=True)
    rates = [r["ours_rate"] for r in results]
    bares = [r["bare_rate"] for r in results]
    ratios = [r["ratio"] for r in results]
    best = max(results, key=lambda r: r["ours_rate"])
    figs = [
        figure("ingest events/s (best of %d)" % passes, best["ours_rate"], "ev/s", baseline=best["bare_rate"],
               baseline_note="bare json.loads, same pass", target=TARGET_RATE, fmt="{:,.0f}",
               note=f"{total} events of a {n}-job workflow from a recording; per pass: select+decode+apply"),
        figure("ingest events/s (median)", median(rates), "ev/s", baseline=median(bares),
               baseline_note="bare json.loads", target=TARGET_RATE, fmt="{:,.0f}"),
        figure("ingest ratio ours/bare (best)", max(ratios), "", target=TARGET_RATIO, fmt="{:.2f}",
               note="ratio of the rates in the same pass"),
        figure("ingest ratio ours/bare (median)", median(ratios), "", target=TARGET_RATIO, fmt="{:.2f}"),
        figure("decode events/s (median)", median([r["decode_rate"] for r in results]), "ev/s",
               baseline=median(bares), baseline_note="bare json.loads, same passes", target=None, fmt="{:,.0f}",
               note="ingest.decode_batch alone (typed records and samples, the rest as events) on the same bodies"),
        figure("decode ratio to json.loads (median)", median([r["decode_ratio"] for r in results]), "",
               target=TARGET_DECODE_RATIO, fmt="{:.2f}", note="decode rate / bare json.loads rate, same pass"),
        figure("decode ratio to orjson.loads (median)", median([r["decode_orjson_ratio"] for r in results]), "",
               fmt="{:.2f}", note="decode rate / bare orjson.loads rate, same pass; no target"),
        figure("ingest events per CPU second (median)", median([r["ours_cpu_rate"] for r in results]), "ev/s",
               fmt="{:,.0f}", note="ours' process time; wall rates swing 1.5-2x with the machine's load, this less; no target"),
    ]
    extra = {"jobs": n, "events": total, "passes": results, "recording": path, "generate_s": gen_s}
    if threaded:
        tr = threaded_replay(path, min(total, THREADED_EVENTS))
        extra["threaded"] = tr
        print(f"[ingest] threaded ReplaySource(max)->Ingest: {tr['rate']:,.0f} ev/s "
              f"({tr['events']} events in {tr['seconds']:.2f} s)", flush=True)
        figs.append(figure("ingest via ReplaySource+Ingest thread", tr["rate"], "ev/s", baseline=median(bares),
                           baseline_note="bare json.loads", fmt="{:,.0f}",
                           note=f"the real threaded replay at max speed, first {tr['events']} events, one run; no target"))
    return figs, extra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="ingest benchmark")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_JOBS} jobs instead of {FULL_JOBS}")
    ap.add_argument("--jobs", type=int, help="workflow size for the recording")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--no-threaded", action="store_true", help="skip the threaded replay run")
    ap.add_argument("--json", help="write the figures here (for benchmarks.run)")
    args = ap.parse_args(argv)
    figs, extra = run(args.quick, args.jobs, args.passes, threaded=not args.no_threaded)
    print(table(figs))
    write_json(args.json, figs, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
