"""Run the benchmarks and print one table: figure | value | baseline | ratio | target | result.

    python -m benchmarks.run              # ingest + ui (+ amqp, monitor, stats when present)
    python -m benchmarks.run --quick      # 10k-job smoke run
    python -m benchmarks.run --only ingest,ui
    python -m benchmarks.run --scale      # LIGO scale (issue #14): 100k-job DBs, minutes; --million adds 1M
                                          # (bench_scale: --once, --stats; bench_open: the screen opening them;
                                          # bench_live: 10k running jobs' 1 Hz traces on the screen, loop lag;
                                          # bench_replay: seeks in a 100k-job recording with checkpoints;
                                          # bench_table: the columnar job table against the object store)

Each benchmark runs in its own Python process (so one's memory does not
count in another's peak RSS, and a crash is reported, not fatal).  The
figures are not a gate: the exit status is 0 unless a benchmark crashed.
This module also holds the small helpers the benchmarks share.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

OUT = os.environ.get("PANORAMA_BENCH_OUT") or os.path.join(HERE, "out")  # git-ignored

# name -> (module, owned here?)  Ours write figures as JSON; the others print their own.
BENCHES = {
    "ingest": "bench_ingest",
    "ui": "bench_ui",
    "amqp": "bench_amqp",
    "monitor": "bench_monitor",
    "stats": "bench_stats",
    "parsl": "bench_parsl",
}
OURS = ("ingest", "ui", "scale", "open", "live", "replay", "table")
# Not in the default set (minutes; the 1M-job run tens of minutes): --scale runs them.
EXTRA = {"scale": "bench_scale", "open": "bench_open", "live": "bench_live", "replay": "bench_replay",
         "table": "bench_table"}


# ---------------------------------------------------------------------------
# Helpers shared by the benchmarks


def out_path(name: str) -> str:
    os.makedirs(OUT, exist_ok=True)
    return os.path.join(OUT, name)


def figure(name, value, unit="", *, baseline=None, baseline_note="", target=None, better="higher",
           ratio=None, note="", fmt="{:.1f}"):
    """One row of the result table.

    ``better="higher"``: value >= target passes; ``"lower"``: value <= target
    passes.  ``ratio`` defaults to value / baseline.
    """
    if ratio is None and baseline not in (None, 0) and value is not None:
        ratio = value / baseline
    ok = None
    if target is not None and value is not None:
        ok = value >= target if better == "higher" else value <= target
    return {
        "name": name, "value": value, "unit": unit, "baseline": baseline, "baseline_note": baseline_note,
        "ratio": ratio, "target": target, "better": better, "ok": ok, "note": note, "fmt": fmt,
    }


def _fmt(v, fmt="{:.1f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def table(figs: list[dict]) -> str:
    rows = [("figure", "value", "baseline", "ratio", "target", "result")]
    for f in figs:
        unit = f" {f['unit']}" if f.get("unit") else ""
        fmt = f.get("fmt", "{:.1f}")
        base = _fmt(f.get("baseline"), fmt)
        if f.get("baseline") is not None and not isinstance(f.get("baseline"), str):
            base += unit
        if f.get("baseline_note"):
            base += f" ({f['baseline_note']})"
        if f.get("target") is None:
            tgt = "-"
        else:
            tgt = ("≥ " if f.get("better") == "higher" else "≤ ") + _fmt(f["target"], fmt) + unit
        ok = f.get("ok")
        res = "-" if ok is None else ("PASS" if ok else "FAIL")
        ratio = "-" if f.get("ratio") is None else f"{f['ratio']:.2f}"
        val = _fmt(f.get("value"), fmt) + (unit if f.get("value") is not None else "")
        rows.append((f["name"], val, base, ratio, tgt, res))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            lines.append("-+-".join("-" * w for w in widths))
    notes = [f for f in figs if f.get("note")]
    if notes:
        lines.append("")
        for f in notes:
            lines.append(f"  * {f['name']}: {f['note']}")
    return "\n".join(lines)


def write_json(path: str | None, figs: list[dict], extra: dict | None = None) -> None:
    if not path:
        return
    with open(path, "w") as fh:
        json.dump({"figures": figs, "extra": extra or {}}, fh, indent=1, default=str)


def report(figs: list[dict], path: str | None, extra: dict | None = None) -> int:
    """A benchmark's end: its table, the load it ran under, its JSON when asked; exit 0."""
    print()
    print(table(figs))
    load = loadavg()
    print(f"\nload {load}")
    write_json(path, figs, {"load": load, **(extra or {})})
    return 0


def maxrss_mb() -> float:
    """Peak RSS of this process so far (getrusage; kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def pct(values, p: float) -> float:
    """The p-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[int(k)]


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


# ---------------------------------------------------------------------------
# The runner


def _has_main(module: str) -> bool | None:
    """True/False when benchmarks/<module>.py exists (defines main or not); None when missing."""
    path = os.path.join(HERE, module + ".py")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "main" for n in tree.body)


def _run_ours(name: str, module: str, quick: bool, extra_args: list[str]) -> tuple[int, list[dict], float]:
    fd, jpath = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, "-m", f"benchmarks.{module}", "--json", jpath] + (["--quick"] if quick else []) + extra_args
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=REPO)
    secs = time.perf_counter() - t0
    figs = []
    try:
        with open(jpath) as f:
            figs = json.load(f).get("figures", [])
    except (OSError, ValueError):
        pass
    finally:
        try:
            os.remove(jpath)
        except OSError:
            pass
    return rc, figs, secs


def _run_theirs(name: str, module: str) -> tuple[int, float, bool]:
    """Run another engineer's benchmark; (exit code, seconds, crashed: a traceback on stderr)."""
    code = (
        "import sys\n"
        f"from benchmarks import {module} as m\n"
        "r = m.main([])\n"
        "sys.exit(r if isinstance(r, int) else 0)\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True)
    traceback = False
    assert proc.stderr is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        if line.startswith("Traceback (most recent call last)"):
            traceback = True
    rc = proc.wait()
    return rc, time.perf_counter() - t0, traceback


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Panorama Top benchmarks")
    ap.add_argument("--quick", action="store_true", help="smaller workflows (10k jobs) for a smoke run")
    ap.add_argument("--only", help="comma-separated: " + ",".join([*BENCHES, *EXTRA]))
    ap.add_argument("--scale", action="store_true",
                    help="the LIGO-scale benchmarks (bench_scale: --once/--stats; bench_open: the screen; "
                         "bench_live: 10k running jobs at 1 Hz; 100k jobs)")
    ap.add_argument("--million", action="store_true", help="with --scale: 1M jobs too")
    args = ap.parse_args(argv)
    chosen = ["scale", "open", "live", "replay", "table"] if args.scale else list(BENCHES)
    if args.only:
        chosen = [x.strip() for x in args.only.split(",") if x.strip()]
        unknown = [x for x in chosen if x not in BENCHES and x not in EXTRA]
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(unknown)} (choose from {', '.join([*BENCHES, *EXTRA])})")
    import platform

    print(
        f"panorama-top benchmarks  {time.strftime('%Y-%m-%d %H:%M:%S')}  python {platform.python_version()}  "
        f"{os.cpu_count()} CPUs  load {loadavg()}{'  (quick)' if args.quick else ''}",
        flush=True,
    )
    print("The machine is shared: absolute times are noisy; the baselines are measured in the same run.\n", flush=True)
    all_figs: list[dict] = []
    status: list[tuple[str, str]] = []
    crashed = False
    t_all = time.perf_counter()
    for name in chosen:
        module = BENCHES.get(name) or EXTRA[name]
        has = _has_main(module)
        if has is None:
            status.append((name, f"skipped: benchmarks/{module}.py does not exist"))
            continue
        if not has:
            status.append((name, f"skipped: benchmarks/{module}.py has no main()"))
            continue
        print(f"=== {name} ({module}) ===", flush=True)
        if name in OURS:
            extra = ["--million"] if name in EXTRA and args.million else []
            rc, figs, secs = _run_ours(name, module, args.quick, extra)
            all_figs.extend(figs)
            if rc != 0:
                crashed = True
                status.append((name, f"CRASHED (exit {rc}) after {secs:.0f} s"))
            else:
                status.append((name, f"ok, {secs:.0f} s"))
        else:
            rc, secs, traceback = _run_theirs(name, module)
            if traceback or rc < 0:
                crashed = True
                status.append((name, f"CRASHED (exit {rc}) after {secs:.0f} s"))
            elif rc == 0:
                status.append((name, f"ran, {secs:.0f} s, all its targets met: its table is above"))
            elif rc == 69:
                status.append((name, "skipped by itself (exit 69: a service it needs is unavailable)"))
            else:
                status.append((name, f"ran, {secs:.0f} s, exit {rc} (some of its targets missed): its table is above"))
        print(flush=True)
    print("=== summary ===")
    if all_figs:
        print(table(all_figs))
        print()
    for name, st in status:
        print(f"{name}: {st}")
    npass = sum(1 for f in all_figs if f.get("ok") is True)
    nfail = sum(1 for f in all_figs if f.get("ok") is False)
    print(f"\n{npass} PASS, {nfail} FAIL (figures, not a gate); total {time.perf_counter() - t_all:.0f} s, load {loadavg()}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
