"""Seeks in a replay with checkpoints (issue #14: "seek anywhere in a 1M-job recording in
<= 2 s"), beside the same run's replay from zero.

* **Seeks**: the recording of a whole generated run (``bench_ingest.recording_for``: the
  100k-job run with its 1 Hz traces), copied, and checkpoints written into the copy as a
  live session's recorder writes them (``panorama-collect checkpoint``: the same cadence,
  ``pipeline/checkpoints.py``).  A paused replay (``ReplaySource`` -> ``Ingest`` thread ->
  ``Store``) is sought to a time; the figure is the wall time from the seek to the store
  holding every record up to it (``ReplayControl.seeking`` false): backward from the end to
  the middle and to near the end, and forward from the start to the middle.  Baseline: the
  same seek on a replay without checkpoints, which replays from the first row (what a
  backward seek did: RESET, then every row again).  Medians of ``--runs``.
* **The recorder's cost**: the checkpoints' CPU as a share of the ingest thread's over the
  whole replay, the longest hold of the store's lock, the file's growth.
* **Dump and restore** of a store from a generated Stampede DB (the bulk read, as the screen
  opens it) at 100k jobs and, with ``--million``, 1M: pack (capture under the lock, then
  outside it), restore (decode and build the objects), size; baseline: ``pickle`` of the
  same objects (protocol 5, then zlib level 1) and its ``loads``, in the same run.

``python -m benchmarks.bench_replay [--n 100000] [--million] [--runs 3] [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import pickle
import shutil
import sqlite3
import sys
import time
import zlib
from types import MappingProxyType

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate as G  # noqa: E402
from benchmarks.bench_ingest import recording_for  # noqa: E402
from benchmarks.run import OUT, figure, loadavg, median, out_path, table, write_json  # noqa: E402

SEEK_TARGET = 2.0  # seconds, issue #14
SHARE_TARGET = 0.1  # the cadence's own bound (pipeline/checkpoints.py SHARE)
DEADLINE = 3600.0


# -- seeks -----------------------------------------------------------------------------------


class Replay:
    """A paused replay feeding a store on the ingest thread."""

    def __init__(self, path: str, checkpoints: bool):
        from panorama_tui.model.store import Store
        from panorama_tui.pipeline.ingest import Ingest
        from panorama_tui.sources.replay import ReplayControl, ReplaySource

        self.store = Store()
        self.control = ReplayControl(speed=1.0, paused=True)
        self.source = ReplaySource(path, self.control, checkpoints=checkpoints)
        self.ingest = Ingest(self.source, self.store)
        self.ingest.start()
        while self.control.start is None:
            time.sleep(0.01)

    def seek(self, t: float) -> tuple[float, float]:
        """Seconds from the seek to its records all in the store: wall, and this process's CPU
        (the ingest thread's; this one sleeps), which the machine's other work moves less."""
        t0 = time.perf_counter()
        c0 = time.process_time()
        self.control.seek(t)
        while self.control.seeking:
            if self.ingest.error:
                raise RuntimeError(self.ingest.error)
            if time.perf_counter() - t0 > DEADLINE:
                raise RuntimeError("the seek did not finish")
            time.sleep(0.002)
        return time.perf_counter() - t0, time.process_time() - c0

    def stop(self) -> None:
        self.ingest.stop(timeout=10.0)


def seek_times(path: str) -> dict[str, float]:
    """Targets by the rows' times (a generated run's first rows are its plan, received
    decades before the rest): the middle, near the end, the end."""
    conn = sqlite3.connect(path)
    try:
        ends = [r[0] for r in conn.execute("SELECT last_ts FROM chunks ORDER BY seq")]
    finally:
        conn.close()
    return {"middle": ends[len(ends) // 2], "near the end": ends[int(len(ends) * 0.95)], "end": ends[-1]}


def checkpointed_copy(src: str) -> tuple[str, dict]:
    """A copy of the recording with checkpoints (cached beside it), and the figures of making them."""
    import json

    from panorama_tui.pipeline.checkpoints import add_to_recording

    path = src.replace(".panorama.db", "-checkpointed.panorama.db")
    conn = None
    if os.path.exists(path):
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            row = conn.execute("SELECT value FROM meta WHERE key='bench_replay'").fetchone()
            if row and os.path.getmtime(path) >= os.path.getmtime(src):
                return path, json.loads(row[0])
        except (sqlite3.Error, ValueError):
            pass
        finally:
            if conn is not None:
                conn.close()
    shutil.copy(src, path + ".part")
    size = os.path.getsize(path + ".part")
    got = add_to_recording(path + ".part")
    got["size_before"] = size
    conn = sqlite3.connect(path + ".part")
    with conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_replay', ?)", (json.dumps(got),))
    conn.close()
    os.replace(path + ".part", path)
    return path, got


def seek_case(n: int, runs: int) -> list[dict]:
    src, events, gen_secs = recording_for(n)
    print(f"[replay] recording of {n:,} jobs: {events:,} records{f' (generated in {gen_secs:.0f} s)' if gen_secs else ''}",
          flush=True)
    t0 = time.perf_counter()
    path, made = checkpointed_copy(src)
    print(f"[replay] checkpoints: {made} ({time.perf_counter() - t0:.0f} s)", flush=True)
    times = seek_times(path)
    label = f"{n // 1000}k"
    ours: dict[str, list] = {"back to the middle": [], "back to near the end": [], "forward to the middle": []}
    base: dict[str, list] = {"middle": [], "near the end": []}
    restore: list[float] = []
    for i in range(runs):
        r = Replay(path, checkpoints=True)
        try:
            ours["forward to the middle"].append(r.seek(times["middle"]))
            r.seek(times["end"])
            ours["back to the middle"].append(r.seek(times["middle"]))
            r.seek(times["end"])
            ours["back to near the end"].append(r.seek(times["near the end"]))
            restore += r.ingest.restore_seconds
            print(f"[replay] run {i + 1} with checkpoints: "
                  + ", ".join(f"{k} {v[-1][0]:.2f} s (CPU {v[-1][1]:.2f})" for k, v in ours.items())
                  + f"; restores {r.source.restores}, each {', '.join(f'{x:.2f}' for x in r.ingest.restore_seconds)} s",
                  flush=True)
        finally:
            r.stop()
            del r
            gcthaw()
        for what in base:  # from zero: what a backward seek without checkpoints replays
            r = Replay(path, checkpoints=False)
            try:
                base[what].append(r.seek(times[what]))
            finally:
                r.stop()
                del r
                gcthaw()
        print(f"[replay] run {i + 1} from zero: "
              + ", ".join(f"{k} {v[-1][0]:.2f} s (CPU {v[-1][1]:.2f})" for k, v in base.items()), flush=True)
    figs = []
    for what, values in ours.items():
        b = base["near the end" if "near" in what else "middle"]
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        figs.append(figure(f"seek {what}, {label}-job recording", median(wall), "s", baseline=median([x[0] for x in b]),
                           baseline_note="replay from zero", target=SEEK_TARGET, better="lower", fmt="{:.2f}",
                           note=f"median of {len(values)}; {' '.join(f'{v:.2f}' for v in wall)}"))
        figs.append(figure(f"  its CPU, {label}", median(cpu), "s", baseline=median([x[1] for x in b]),
                           baseline_note="replay from zero", better="lower", fmt="{:.2f}",
                           note=f"process CPU; {' '.join(f'{v:.2f}' for v in cpu)}"))
    figs.append(figure(f"a checkpoint's restore (decode + build), {label}", median(restore), "s", better="lower",
                       fmt="{:.2f}", note=f"median of {len(restore)} restores in the seeks above"))
    share = made["checkpoint_cpu"] / made["ingest_cpu"] if made["ingest_cpu"] else None
    figs.append(figure(f"checkpoints' share of ingest CPU, {label}", share, "", target=SHARE_TARGET, better="lower",
                       fmt="{:.3f}", note=f"{made['checkpoints']} checkpoints, {made['checkpoint_cpu']:.1f} s of "
                       f"{made['ingest_cpu']:.1f} s (ingest thread CPU, the whole replay)"))
    figs.append(figure(f"store lock held by a checkpoint (max), {label}", made["lock_held"] * 1000, "ms",
                       better="lower", fmt="{:.1f}", note="capture under the lock; pack outside it"))
    figs.append(figure(f"recording growth from checkpoints, {label}", made["bytes_added"] / 2**20, "MiB",
                       baseline=made["size_before"] / 2**20, baseline_note="the recording", better="lower",
                       fmt="{:.0f}"))
    return figs


# -- dump and restore --------------------------------------------------------------------------


def db_store(n: int, db_dir: str | None):
    from panorama_tui.model.store import Store
    from panorama_tui.pipeline.ingest import run_to_end
    from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource

    db = G.stampede_db(n, outdir=db_dir)
    t0 = time.perf_counter()
    store = run_to_end(StampedeDbSource(db, follow=False), Store())
    print(f"[replay] {n:,}-job store from {os.path.basename(db)} (bulk read) in {time.perf_counter() - t0:.0f} s",
          flush=True)
    gc.collect()
    gc.freeze()  # as the program's collector policy leaves a store it has built (core/gcpolicy.py)
    return store


class _Pickler(pickle.Pickler):
    """pickle, but for the tries' shared empty mapping (entities.NO_INVOCATIONS: a mappingproxy,
    which pickle refuses), pickled as an empty dict."""

    def reducer_override(self, obj):
        if type(obj) is MappingProxyType:
            return dict, ()
        return NotImplemented


def _timed(fn, *args):
    """(result, wall seconds, this process's CPU seconds)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def dump_case(label: str, store, runs: int) -> list[dict]:
    """Pack and restore of ``store`` beside pickle's; CPU is the value (the machine is shared:
    wall times moved 3-4x against CPU in one run), wall in the notes."""
    from panorama_tui.model import checkpoint as ck
    from panorama_tui.model.store import Store

    def capture():
        with store.lock:
            return ck.capture(store)

    def restore(body):
        again = Store()
        again.restore(ck.decode(body))
        return again

    def pickle_dump():
        buf = io.BytesIO()
        with gcpolicy.no_collections():  # as for the pack: no collection walks what it makes
            _Pickler(buf, 5).dump((store.workflows, store.transfers, store._failed, store.active))
            return zlib.compress(buf.getbuffer(), 1)

    def pickle_load(blob):
        with gcpolicy.no_collections():
            return pickle.loads(zlib.decompress(blob))

    from panorama_tui.core import gcpolicy

    r: dict[str, list] = {k: [] for k in ("hold", "pack", "restore", "p_dump", "p_load")}
    size = p_size = 0
    for _ in range(runs):
        captured, hold, _ = _timed(capture)
        body, wall, cpu = _timed(ck.pack, captured)
        del captured
        r["hold"].append(hold)
        r["pack"].append((wall + hold, cpu))
        size = len(body)
        again, wall, cpu = _timed(restore, body)
        r["restore"].append((wall, cpu))
        assert again.job_count() == store.job_count()
        del again, body
        gcthaw()
        blob, wall, cpu = _timed(pickle_dump)
        r["p_dump"].append((wall, cpu))
        p_size = len(blob)
        got, wall, cpu = _timed(pickle_load, blob)
        r["p_load"].append((wall, cpu))
        del got, blob
        gcthaw()
    jobs = store.job_count()

    def cpu(k):
        return median([x[1] for x in r[k]])

    def walls(k):
        return " ".join(f"{x[0]:.2f}" for x in r[k])

    print(f"[replay] {label}: {jobs:,} jobs; CPU / wall: pack {cpu('pack'):.2f} / {walls('pack')} s (lock "
          f"{' '.join(f'{x * 1000:.0f}' for x in r['hold'])} ms), restore {cpu('restore'):.2f} / {walls('restore')} s, "
          f"{size / 2**20:.0f} MiB; pickle {cpu('p_dump'):.2f} / {walls('p_dump')}, unpickle {cpu('p_load'):.2f} / "
          f"{walls('p_load')} s, {p_size / 2**20:.0f} MiB", flush=True)
    us = 1e6 / max(1, jobs)
    return [
        figure(f"checkpoint pack CPU, {label}", cpu("pack"), "s", baseline=cpu("p_dump"), baseline_note="pickle+zlib",
               better="lower", fmt="{:.2f}", note=f"{cpu('pack') * us:.1f} us a job; wall {walls('pack')} s"),
        figure(f"checkpoint restore CPU, {label}", cpu("restore"), "s", baseline=cpu("p_load"),
               baseline_note="unzlib+unpickle", target=SEEK_TARGET, better="lower", fmt="{:.2f}",
               note=f"{cpu('restore') * us:.1f} us a job (the floor of a seek); wall {walls('restore')} s"),
        figure(f"checkpoint size, {label}", size / 2**20, "MiB", baseline=p_size / 2**20, baseline_note="pickle+zlib",
               better="lower", fmt="{:.0f}"),
        figure(f"store lock held by the capture, {label}", median(r["hold"]) * 1000, "ms", better="lower",
               fmt="{:.0f}"),
    ]


def gcthaw() -> None:
    """What a restore froze may go (the next case measures from a clean heap); the store
    measured stays frozen, as the program keeps it."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--million", action="store_true", help="dump and restore of a 1M-job store too")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="10k jobs, one run (a smoke run)")
    ap.add_argument("--only", choices=("seek", "dump"), help="one half")
    ap.add_argument("--db-dir", default=os.environ.get("PANORAMA_BENCH_DB_DIR") or OUT,
                    help="where the generated Stampede DBs are (made there when missing)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.runs = 10_000, 1
    from panorama_tui.core import gcpolicy

    gcpolicy.configure()
    out_path("")  # the cache dir
    print(f"bench_replay  {time.strftime('%Y-%m-%d %H:%M:%S')}  load {loadavg()}", flush=True)
    figs: list[dict] = []
    if args.only in (None, "seek"):
        figs += seek_case(args.n, args.runs)
        print(f"[replay] load {loadavg()}", flush=True)
    if args.only in (None, "dump"):
        for n in [args.n] + ([1_000_000] if args.million else []):
            store = db_store(n, args.db_dir)
            figs += dump_case(f"{n // 1000}k-job DB store", store, args.runs if n < 1_000_000 else 1)
            del store
            gcthaw()
    print(f"[replay] load {loadavg()}", flush=True)
    print(table(figs))
    if args.json:
        write_json(args.json, figs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
