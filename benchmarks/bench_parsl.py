"""Parsl benchmark: panorama-top on a 100k-task Parsl monitoring DB, beside
parsl-visualize serving its workflow page on the same DB, in the same run.

The DB comes from :mod:`benchmarks.generate_parsl` (Parsl 2026.10.26's schema,
written as its DB manager writes it); it is kept in ``benchmarks/out/`` for
the next run (generating 100k tasks takes ~30 s on an idle machine).

Each figure is the median of ``--repeat`` runs (3 by default), each run in a
fresh process, so imports, caches and memory are each run's own:

(a) panorama-top's screen (headless Textual at 160x50, a child process that
    runs what ``panorama-top DB`` runs: a followed ``ParslDbSource`` ingested
    on its thread into the store, and ``PanoramaApp``): seconds from the
    process's launch to **the first frame with task rows** (every frame is
    caught where the compositor hands it over, ``App._display``, as in
    bench_ui), and to **fully loaded**: the first frame painted once the
    store holds every row of the DB (the source's events counted against the
    DB's rows); its peak RSS.
(b) ``panorama-top --once DB``: wall seconds from launch to exit and peak RSS
    (``wait4``'s rusage of the child).
(c) parsl-visualize (the real one, ``.peers/parsl`` venv with
    ``parsl[monitoring,visualization]``, built by tests/peers.py): seconds
    from launch until its server answers ``/``, then the time to serve
    ``/workflow/<run_id>/`` (its workflow page: the summary, a task Gantt and
    the per-app plot: what a user first opens), the page's size, and the
    server's peak RSS (VmHWM).  It runs on a copy of the DB, since it calls
    ``create_all()`` on start (a write).

Baselines: (a) and (b) beside (c) (ratio = ours / theirs, lower is better for
both); the same on a 1k-task DB shows the fixed costs.

At 100k tasks parsl-visualize's page takes longer than all of ours together
(> 16 min of wall on the loaded 2-core machine), so the two sides can run as
two processes (``--parts ours`` and ``--parts theirs``, side by side when time
is short: each then slows the other, say so beside the figures), each keeping
its runs in ``benchmarks/out/bench_parsl-N-PART.partial.json``; ``--combine``
makes the table from them.  A page not served within ``--page-timeout`` is
reported as such, with how long it was waited for (a lower bound).

Run: ``python -m benchmarks.bench_parsl [--tasks 100000] [--repeat 3] [--quick]``, or
``--parts ours`` + ``--parts theirs --visualize-repeat 1 --page-timeout 2400``, then ``--combine``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks.run import figure, loadavg, median, out_path, table, write_json  # noqa: E402

SIZE = (160, 50)
FULL = 100_000
QUICK = 10_000
SMALL = 1_000
TARGET_FIRST = 1.0  # s: issue #15 asks for #14's targets at 100k tasks: first rows <= 1 s
TARGET_RSS = 400.0  # MB: the screen's peak RSS <= 400 MB
# --once computed in the DB (stats/parsl_sql_once.py, issue #15): <= 1.5 s and <= 300 MB at 100k tasks,
# measured beside the store path it replaces (PANORAMA_ONCE_STORE=1), run for run (A B A B).
TARGET_ONCE = 1.5
TARGET_ONCE_RSS = 300.0
PAGE_TIMEOUT = 1800.0  # s: parsl-visualize's workflow page at 100k tasks may take minutes
TABLES = ("workflow", "task", "try", "status", "resource", "node", "block")


# ---------------------------------------------------------------------------
# the DB


def db_for(n: int) -> str:
    """The generated DB of ``n`` tasks (made once, kept in benchmarks/out/)."""
    from benchmarks import generate_parsl

    path = out_path(f"parsl-{n}-seed{generate_parsl.SEED}.db")
    if not os.path.exists(path):
        tmp = path + ".part"
        if os.path.exists(tmp):
            os.remove(tmp)
        t0 = time.perf_counter()
        generate_parsl.write(tmp, n)
        os.replace(tmp, path)
        print(f"[parsl] generated {path} ({n:,} tasks) in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def db_facts(path: str) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        run_id = conn.execute("SELECT run_id FROM workflow ORDER BY time_began LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    return {"rows": rows, "total_rows": sum(rows.values()), "tasks": rows["task"], "run_id": run_id,
            "size_mb": os.path.getsize(path) / 2**20}


# ---------------------------------------------------------------------------
# (a) the screen, in a child process


def child_ui(path: str, launched: float, total_rows: int) -> dict:
    """Run in the child: the app on a followed ParslDbSource; print the times (epoch s) it saw."""
    import asyncio
    import resource

    from panorama_tui.core import gcpolicy
    from panorama_tui.model.store import Store
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.parsl.monitoring_db import ParslDbSource, find_db
    from panorama_tui.ui.app import PanoramaApp

    imported = time.time()
    gcpolicy.configure()
    store = Store()
    source = ParslDbSource(find_db(path), follow=True)
    ingest = Ingest(source, store).start()
    app = PanoramaApp(store, ingest=ingest, live=True, source_label=source.label)
    seen: dict = {}
    orig = app._display

    def display(screen, renderable):
        orig(screen, renderable)
        if renderable is None or app._batch_count:
            return
        now = time.time()
        try:
            jobs = app.query_one("#jobs")
        except Exception:
            return
        if "first_rows" not in seen and jobs.rows:
            seen["first_rows"] = now
            seen["first_rows_count"] = len(jobs.rows)
        # events counted: one per row, plus panorama-top's own writer events (none for an ended run)
        if "loaded_at" in seen and "full" not in seen and now > seen["loaded_at"]:
            seen["full"] = now
            seen["full_count"] = len(jobs.rows)

    app._display = display

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.time() + 900
            while time.time() < deadline and "full" not in seen:
                if "loaded_at" not in seen and store.event_count >= total_rows:
                    seen["loaded_at"] = time.time()
                    ru = resource.getrusage(resource.RUSAGE_SELF)
                    seen["loaded_rss_mb"] = ru.ru_maxrss / 1024.0
                    seen["loaded_cpu"] = ru.ru_utime + ru.ru_stime  # the process's CPU s (the machine is shared)
                    # the ingest thread's share (the rest: the screen, imports, the read-ahead pump)
                    seen["ingest_cpu"] = time.clock_gettime(time.pthread_getcpuclockid(ingest.thread.ident))
                await pilot.pause(0.02)
            await pilot.pause(0.5)

    asyncio.run(go())
    ingest.stop()
    return {"launched": launched, "imported": imported, **seen, "events": store.event_count,
            "jobs": store.job_count(), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def run_ui(path: str, total_rows: int) -> dict:
    launched = time.time()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_parsl", "--child-ui", path, str(launched),
                           str(total_rows)], cwd=REPO, capture_output=True, text=True, timeout=1200)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"ui child failed ({proc.returncode}): {proc.stderr[-800:]}")
    d = json.loads(line)
    return {"first_rows": d["first_rows"] - launched, "full": d.get("full", float("nan")) - launched,
            "full_cpu": d.get("loaded_cpu"), "ingest_cpu": d.get("ingest_cpu"),
            "imports": d["imported"] - launched, "rss": d["peak_rss_mb"], "jobs": d["jobs"],
            "first_rows_count": d.get("first_rows_count")}


# ---------------------------------------------------------------------------
# (b) --once


def run_once(path: str, store: bool = False, as_json: bool = False) -> dict:
    """One ``panorama-top --once`` (``store``: by the store path, the SQL path's baseline)."""
    from panorama_tui.stats.sql_once import FORCE_STORE_ENV

    exe = shutil.which("panorama-top", path=os.path.dirname(sys.executable)) or shutil.which("panorama-top")
    opts = ["--once", "--json"] if as_json else ["--once"]
    cmd = [exe, *opts, path] if exe else [sys.executable, "-m", "panorama_tui.cli.top", *opts, path]
    env = {k: v for k, v in os.environ.items() if k != FORCE_STORE_ENV}
    if store:
        env[FORCE_STORE_ENV] = "1"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1, 2, 4):
        raise RuntimeError(f"--once exited {proc.returncode}: {err[-500:]}")
    return {"wall": wall, "rss": usage.ru_maxrss / 1024.0, "rc": proc.returncode,
            "cpu": usage.ru_utime + usage.ru_stime}


# ---------------------------------------------------------------------------
# (c) parsl-visualize


def visualize_exe() -> str | None:
    exe = os.path.join(REPO, ".peers", "parsl", "bin", "parsl-visualize")
    return exe if os.path.exists(exe) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_visualize(exe: str, path: str, run_id: str, page_timeout: float = PAGE_TIMEOUT) -> dict:
    copy = path + ".visualize.db"
    shutil.copyfile(path, copy)
    port = _free_port()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{os.path.dirname(exe)}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([exe, f"sqlite:///{copy}", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        up = None
        while time.perf_counter() - t0 < 120:
            if proc.poll() is not None:
                raise RuntimeError(f"parsl-visualize exited {proc.returncode}: "
                                   f"{proc.stderr.read().decode(errors='replace')[-800:]}")
            try:
                with urllib.request.urlopen(base + "/", timeout=30) as r:
                    r.read()
                up = time.perf_counter() - t0
                break
            except OSError:
                time.sleep(0.05)
        if up is None:
            raise RuntimeError("parsl-visualize did not answer / within 120 s")
        p0 = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{base}/workflow/{run_id}/", timeout=page_timeout) as r:
                body = r.read()
                code = r.status
        except OSError as exc:  # a timeout: the page took longer than we could wait (a lower bound)
            waited = time.perf_counter() - p0
            return {"up": up, "page": None, "total": None, "waited": waited, "error": f"{type(exc).__name__}: {exc}",
                    "rss": _vm_hwm_mb(proc.pid)}
        page = time.perf_counter() - p0
        return {"up": up, "page": page, "total": up + page, "bytes": len(body), "status": code,
                "rss": _vm_hwm_mb(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        os.remove(copy)


# ---------------------------------------------------------------------------


def _med(runs: list[dict], key: str) -> float:
    return median([r[key] for r in runs if r.get(key) is not None])


def measure(n: int, repeat: int, parts=("ours", "theirs"), vis_repeat: int | None = None,
            page_timeout: float = PAGE_TIMEOUT, progress: str | None = None) -> tuple[dict, dict]:
    """``repeat`` runs of ours (screen, then --once) and ``vis_repeat`` of parsl-visualize;
    what is measured so far is written to ``progress`` after each run (a long run stopped
    early keeps its figures)."""
    path = db_for(n)
    facts = db_facts(path)
    print(f"[parsl] {n:,} tasks: {facts['total_rows']:,} rows, {facts['size_mb']:.0f} MiB; load {loadavg()}",
          flush=True)
    res: dict = {"facts": facts, "ui": [], "once": [], "once_store": [], "visualize": [], "load": []}

    def note(what, d):
        print(f"[parsl] {n:,} {what}: {d}  (load {loadavg()})", flush=True)
        res["load"].append(loadavg())
        if progress:
            with open(progress, "w") as f:
                json.dump(res, f, indent=1, default=str)

    if "ours" in parts:
        for _ in range(repeat):
            res["ui"].append(run_ui(path, facts["total_rows"]))
            note("screen", res["ui"][-1])
            res["once"].append(run_once(path))
            note("--once", res["once"][-1])
            res["once_store"].append(run_once(path, store=True))
            note("--once by the store", res["once_store"][-1])
    exe = visualize_exe()
    if "theirs" in parts and exe:
        for _ in range(repeat if vis_repeat is None else vis_repeat):
            try:
                res["visualize"].append(run_visualize(exe, path, facts["run_id"], page_timeout))
            except RuntimeError as exc:
                res["visualize_error"] = str(exc)
                break
            note("parsl-visualize", res["visualize"][-1])
    if not exe:
        res["visualize_error"] = ("no parsl-visualize in .peers/parsl (tests/peers.py builds it; then "
                                  ".peers/parsl/bin/pip install 'parsl[monitoring,visualization]')")
    return res, facts


def figures(big: dict, small: dict, n: int) -> list[dict]:
    figs = []
    vis = [v for v in big["visualize"] if v.get("total") is not None]
    vis_small = [v for v in small["visualize"] if v.get("total") is not None]
    unfinished = [v for v in big["visualize"] if v.get("total") is None]
    their_page = _med(vis, "total") if vis else None
    their_rss = _med(vis, "rss") if vis else None
    note = f"{n:,}-task Parsl DB ({big['facts']['total_rows']:,} rows); medians of {len(big['ui'])}"
    figs.append(figure("first task rows on screen (from launch)", _med(big["ui"], "first_rows"), "s",
                       baseline=their_page, baseline_note="parsl-visualize: launch to workflow page served",
                       better="lower", fmt="{:.2f}", note=note))
    after = [r["first_rows"] - r["imports"] for r in big["ui"]]
    figs.append(figure("first task rows, imports done", median(after), "s", target=TARGET_FIRST, better="lower",
                       fmt="{:.2f}", note="bench_ui's first paint is timed from the app's construction too"))
    figs.append(figure("fully loaded (every row in, painted)", _med(big["ui"], "full"), "s", baseline=their_page,
                       baseline_note="parsl-visualize workflow page", better="lower", fmt="{:.2f}"))
    if any(r.get("full_cpu") is not None for r in big["ui"]):
        figs.append(figure("fully loaded: the screen process's CPU", _med(big["ui"], "full_cpu"), "s", better="lower",
                           fmt="{:.2f}", note="CPU seconds from launch (imports included): what a loaded machine "
                           "does not stretch"))
    if any(r.get("ingest_cpu") is not None for r in big["ui"]):
        figs.append(figure("fully loaded: the ingest thread's CPU", _med(big["ui"], "ingest_cpu"), "s",
                           better="lower", fmt="{:.2f}", note="the source's reads and the store's handlers; the "
                           "process's CPU less this is the screen's (and the imports')"))
    figs.append(figure("screen peak RSS", _med(big["ui"], "rss"), "MB", baseline=their_rss,
                       baseline_note="parsl-visualize server VmHWM", target=TARGET_RSS, better="lower", fmt="{:.0f}"))
    figs.append(figure("--once wall", _med(big["once"], "wall"), "s", baseline=their_page,
                       baseline_note="parsl-visualize workflow page", better="lower", fmt="{:.2f}"))
    if any(r.get("cpu") is not None for r in big["once"]):
        figs.append(figure("--once CPU", _med(big["once"], "cpu"), "s", better="lower", fmt="{:.2f}"))
    figs.append(figure("--once peak RSS", _med(big["once"], "rss"), "MB", baseline=their_rss, better="lower",
                       fmt="{:.0f}"))
    store = big.get("once_store") or []
    if store:  # issue #15: --once in the DB against the store path it replaced, run for run
        why = "stats/parsl_sql_once.py; baseline the store path (PANORAMA_ONCE_STORE=1), A B A B"
        figs.append(figure("--once in the DB: wall", _med(big["once"], "wall"), "s", baseline=_med(store, "wall"),
                           baseline_note="the store path", target=TARGET_ONCE, better="lower", fmt="{:.2f}", note=why))
        figs.append(figure("--once in the DB: CPU", _med(big["once"], "cpu"), "s", baseline=_med(store, "cpu"),
                           baseline_note="the store path", better="lower", fmt="{:.2f}"))
        figs.append(figure("--once in the DB: peak RSS", _med(big["once"], "rss"), "MB", baseline=_med(store, "rss"),
                           baseline_note="the store path", target=TARGET_ONCE_RSS, better="lower", fmt="{:.0f}"))
    if unfinished:
        figs.append(figure("parsl-visualize: workflow page NOT served within", min(v["waited"] for v in unfinished),
                           "s", fmt="{:.0f}", note=f"gave up after that many seconds: {unfinished[0]['error']}; "
                           f"server peak RSS by then {unfinished[0].get('rss') or 0:.0f} MB"))
    if vis:
        figs.append(figure("parsl-visualize: launch to / served", _med(vis, "up"), "s", fmt="{:.2f}"))
        figs.append(figure("parsl-visualize: workflow page", _med(vis, "page"), "s", fmt="{:.2f}",
                           note=f"{_med(vis, 'bytes') / 2**20:.1f} MiB of HTML"))
    figs.append(figure(f"first task rows, {SMALL:,} tasks", _med(small["ui"], "first_rows"), "s",
                       baseline=_med(vis_small, "total") if vis_small else None,
                       baseline_note="parsl-visualize page", better="lower", fmt="{:.2f}"))
    figs.append(figure(f"--once wall, {SMALL:,} tasks", _med(small["once"], "wall"), "s",
                       baseline=_med(vis_small, "total") if vis_small else None,
                       baseline_note="parsl-visualize page", better="lower", fmt="{:.2f}"))
    return figs


def combine(n: int, small_n: int) -> tuple[dict, dict]:
    """The ours and theirs partial results (two processes, run side by side) as one."""
    out = []
    for size in (n, small_n):
        merged: dict = {"ui": [], "once": [], "once_store": [], "visualize": []}
        for tag in ("ours", "theirs"):
            try:
                with open(out_path(f"bench_parsl-{size}-{tag}.partial.json")) as f:
                    part = json.load(f)
            except OSError:
                continue
            merged["facts"] = part["facts"]
            for key in ("ui", "once", "once_store", "visualize"):
                merged[key] += part.get(key, [])
            if part.get("visualize_error"):
                merged["visualize_error"] = part["visualize_error"]
        out.append(merged)
    return out[0], out[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--small", type=int, default=SMALL, help="the small DB's tasks (fixed costs)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--visualize-repeat", type=int, default=None, help="parsl-visualize's runs on the big DB "
                    "(default --repeat; its page took > 16 min at 100k tasks on the loaded 2-core machine)")
    ap.add_argument("--page-timeout", type=float, default=PAGE_TIMEOUT, help="seconds to wait for its page")
    ap.add_argument("--parts", default="ours,theirs", help="ours, theirs or both (comma-separated)")
    ap.add_argument("--combine", action="store_true", help="one table from the partial results of "
                    "--parts ours and --parts theirs (run apart, or side by side to save time)")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK:,} tasks")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--child-ui", nargs=3, metavar=("DB", "LAUNCHED", "ROWS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_ui:
        path, launched, rows = args.child_ui
        print(json.dumps(child_ui(path, float(launched), int(rows))), flush=True)
        return 0
    n = args.tasks or (QUICK if args.quick else FULL)
    if args.combine:
        big, small = combine(n, args.small)
        figs = figures(big, small, n)
        print(table(figs))
        write_json(args.json or out_path("bench_parsl.json"), figs, {"runs": {"big": big, "small": small}})
        return 0
    parts = tuple(p.strip() for p in args.parts.split(","))
    tag = "-".join(parts)
    small, _ = measure(args.small, args.repeat, parts, progress=out_path(f"bench_parsl-{args.small}-{tag}.partial.json"))
    big, facts = measure(n, args.repeat, parts, args.visualize_repeat, args.page_timeout,
                         progress=out_path(f"bench_parsl-{n}-{tag}.partial.json"))
    if parts == ("ours", "theirs"):
        figs = figures(big, small, n)
        print(table(figs))
    else:
        figs = []
        print("[parsl] one part only: combine the partial JSONs (benchmarks/out/bench_parsl-*.partial.json)")
    if big.get("visualize_error"):
        print(f"\n  parsl-visualize: {big['visualize_error']}")
    extra = {"facts": facts, "runs": {"big": big, "small": small}, "load": loadavg()}
    write_json(args.json or out_path(f"bench_parsl-{tag}.json"), figs, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
