"""LIGO scale (issue #14): ``--once --json`` and ``--stats`` of a 100k-job (and 1M-job) Stampede DB.

The DBs: ``generate.py``'s Pegasus-shaped run written as pegasus-monitord's Stampede SQLite DB
(``generate.stampede_db``, cached under ``benchmarks/out``): finished (with retries, failures
and held-then-released tries) and half done (``--until 0.5``: jobs queued, running, in their
POST script, waiting).

Each figure is one command in its own process, timed from outside (wall time; user+sys CPU
and peak RSS from ``wait4``), the median of ``--repeat`` runs, beside its baseline measured in
the same run on the same DB:

* ``--once --json``: panorama-top computing the summary in the DB (``stats/sql_once.py``)
  against the previous path, the store built from every row (the same command with
  ``PANORAMA_ONCE_STORE=1``); the two outputs are compared.  Targets (issue #14): <= 1.5 s
  and <= 300 MB at 100k, <= 15 s and <= 2 GB at 1M.
* a submit dir around each DB (``benchmarks/submit_dir.py``): ``--once --json`` as for the DB
  (its DB's summary plus what the dir adds, against the store path; same targets), and seconds
  to the first rows and to
  fully loaded, jobstate.log read from where the DB leaves off against the whole log's read,
  beside the DB alone (target: first rows within 1.5x the DB's).
* ``--event-log``: ``--once --json`` of the same run as monitord's JSON event log (``generate.py
  --jsonl``: with its /proc traces, 4.1 GB and 6.2M events at 100k, and without them, 1.1 GB and
  1.8M; and the latter without its xwf.end: a stalled run, whose stall takes the pass a second
  read), the streaming pass (``stats/stream_once.py``) against the store path
  (``PANORAMA_ONCE_STORE=1``), alternated A B A B, the outputs compared.
* ``--stats``: panorama-top against the real ``pegasus-statistics -s all`` (pegasus-wms 5.1.3,
  its own process, when installed).  Targets: >= 10x faster, peak RSS <= its RSS.

The machine is shared (2 cores, other work on them): wall times swing with the load, so the
CPU seconds are printed too; ratios measured in one run hold better than absolute times.

Our package's bytecode is compiled first (``compileall``), as an installed package's is and
as pegasus-statistics' (from its wheel) is: with ``PYTHONDONTWRITEBYTECODE`` set (as it is in
the environment these figures were taken in) an editable checkout has none, and every run
compiled the ~40 modules it imports again (~0.08-0.1 s of CPU: a fifth of ``--stats`` at 100k).

``python -m benchmarks.bench_scale [--n 100000] [--million] [--repeat 3] [--no-baseline-1m] [--half-1m]
[--stats-only]``
or ``python -m benchmarks.run --scale``.  The 1M DB takes ~10 min to generate the first time,
and the store baseline at 1M ~4 min and ~6 GB (``--no-baseline-1m`` leaves it out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate as G  # noqa: E402
from benchmarks.run import figure, loadavg, median, report  # noqa: E402

class _WithRss:
    """A rusage with GNU time's peak RSS of the command (KB) in place of wait4's."""

    def __init__(self, ru, kb: int):
        self.ru_utime, self.ru_stime, self.ru_maxrss = ru.ru_utime, ru.ru_stime, kb


ONCE_TARGET = {100_000: (1.5, 300.0), 1_000_000: (15.0, 2048.0)}
STATS_RATIO = 10.0
TZ = "UTC"


# GNU time, when there: a child forked from this (big) process starts its peak RSS at this
# process's own, so wait4's ru_maxrss cannot show a figure below it (both --stats and
# pegasus-statistics read 176 MB at 100k); through time(1), a small process, it can.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def measure(cmd: list[str], env: dict | None = None, stdout=None) -> dict:
    """Run ``cmd``; its wall time, CPU time (user+sys, from wait4) and peak RSS (MB: GNU time's
    %M of the command itself when there, else wait4's)."""
    rss_file = None
    if GNU_TIME:
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        cmd = [GNU_TIME, "-f", "%M", "-o", rss_file, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if rss_file is not None:
        try:
            with open(rss_file) as f:
                kb = int(f.read().split()[-1])
            ru = _WithRss(ru, kb)
        except (OSError, ValueError, IndexError):
            pass
        finally:
            os.remove(rss_file)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024.0, "rc": proc.returncode,
            "err": err.strip()[-300:]}


def repeat(n: int, cmd: list[str], env: dict | None = None) -> dict:
    runs = [measure(cmd, env) for _ in range(n)]
    return {"wall": median([r["wall"] for r in runs]), "cpu": median([r["cpu"] for r in runs]),
            "rss": median([r["rss"] for r in runs]), "rc": runs[-1]["rc"], "err": runs[-1]["err"],
            "walls": [round(r["wall"], 2) for r in runs]}


def compile_bytecode() -> None:
    """Our modules' bytecode in their ``__pycache__`` (git-ignored), as an install has it: a
    set PYTHONDONTWRITEBYTECODE keeps Python from writing it, not from reading it."""
    import compileall

    compileall.compile_dir(os.path.join(REPO, "panorama_tui"), quiet=1)


def _top(*args: str) -> list[str]:
    return [sys.executable, "-m", "panorama_tui.cli.top", *args]


def _env(**extra) -> dict:
    env = dict(os.environ, TZ=TZ, **extra)
    env.pop("PANORAMA_ONCE_STORE", None)
    env.update(extra)
    return env


def _json_of(cmd: list[str], env: dict) -> dict:
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True).stdout
    return json.loads(out)


def event_log(n: int, traces: bool, seed: int = G.SEED, end: bool = True) -> str:
    """A cached generated monitord JSON event log of the finished run (benchmarks/out);
    ``end=False``: without its xwf.end (monitord stopped short: a stalled run)."""
    tag = ("" if traces else "-notraces") + ("" if end else "-noend")
    path = os.path.join(HERE, "out", f"gen-v{G.VERSION}-n{n}-done-s{seed}{tag}.events.json")
    if not os.path.exists(path):
        tmp = path + ".part"
        if end:
            G.write_jsonl(tmp, n, traces=traces, seed=seed)
        else:
            with open(event_log(n, traces, seed), "rb") as src, open(tmp, "wb") as dst:
                dst.writelines(ln for ln in src if b'"stampede.xwf.end"' not in ln)
        os.replace(tmp, path)
    return path


def alternate(reps: int, a: tuple, b: tuple) -> tuple[dict, dict]:
    """``a`` and ``b`` ((cmd, env) each) run A B A B..., ``reps`` times each: medians."""
    runs: dict = {"a": [], "b": []}
    for _ in range(reps):
        runs["a"].append(measure(*a))
        runs["b"].append(measure(*b))
    out = []
    for k in ("a", "b"):
        rs = runs[k]
        out.append({"wall": median([r["wall"] for r in rs]), "cpu": median([r["cpu"] for r in rs]),
                    "rss": median([r["rss"] for r in rs]), "rc": rs[-1]["rc"],
                    "walls": [round(r["wall"], 1) for r in rs], "cpus": [round(r["cpu"], 1) for r in rs]})
    return out[0], out[1]


def bench_event_log(n: int, reps: int) -> list[dict]:
    """--once --json of an event log: the streaming pass against the store path, A B A B."""
    label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    figs = []
    for traces, end in ((True, True), (False, True), (False, False)):
        t0 = time.perf_counter()
        log = event_log(n, traces, end=end)
        what = f"event log {'with' if traces else 'without'} traces" + ("" if end else ", stalled")
        size = os.path.getsize(log) / 1e9
        print(f"{label} {what}: {log}, {size:.1f} GB ({time.perf_counter() - t0:.0f} s to get)", flush=True)
        cmd = _top("--once", "--json", log)
        ours, base = alternate(reps, (cmd, _env()), (cmd, _env(PANORAMA_ONCE_STORE="1")))
        same = _json_of(cmd, _env()) == _json_of(cmd, _env(PANORAMA_ONCE_STORE="1"))
        note = (f"{size:.1f} GB; A B x{reps}: stream {ours['walls']} s (CPU {ours['cpus']}), store path "
                f"{base['walls']} s (CPU {base['cpus']}); outputs " + ("identical" if same else "DIFFERENT"))
        figs.append(figure(f"{label} {what} --once --json: wall", ours["wall"], "s", baseline=base["wall"],
                           baseline_note="store path", better="lower", note=note, fmt="{:.1f}"))
        figs.append(figure(f"{label} {what} --once --json: CPU", ours["cpu"], "s", baseline=base["cpu"],
                           baseline_note="store path", better="lower", fmt="{:.1f}"))
        figs.append(figure(f"{label} {what} --once --json: peak RSS", ours["rss"], "MB", baseline=base["rss"],
                           baseline_note="store path", better="lower", fmt="{:.0f}"))
    return figs


def pegasus_statistics_cmd(db: str, uuid: str, outdir: str) -> list[str] | None:
    try:
        import Pegasus
    except ImportError:
        return None
    script = os.path.join(os.path.dirname(Pegasus.__file__), "cli", "pegasus-statistics.py")
    props = os.path.join(outdir, "scale.properties")
    with open(props, "w") as f:
        f.write(f"pegasus.monitord.output = sqlite:///{db}\n")
    return [sys.executable, script, "-s", "all", "-o", os.path.join(outdir, "pegasus-statistics"), "-c", props,
            "-u", uuid]


def bench_size(n: int, reps: int, baseline: bool, tmp: str, untils=(None, 0.5)) -> list[dict]:
    figs: list[dict] = []
    label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    t_target, m_target = ONCE_TARGET.get(n, (None, None))
    for until in untils:
        t0 = time.perf_counter()
        db = G.stampede_db(n, until)
        what = "finished" if until is None else "half done"
        print(f"{label} {what}: {db} ({time.perf_counter() - t0:.0f} s to get)", flush=True)
        ours = repeat(reps, _top("--once", "--json", db), _env())
        base = None
        same = None
        if baseline:
            base = repeat(1 if n >= 1_000_000 else reps, _top("--once", "--json", db), _env(PANORAMA_ONCE_STORE="1"))
            a = _json_of(_top("--once", "--json", db), _env())
            b = _json_of(_top("--once", "--json", db), _env(PANORAMA_ONCE_STORE="1"))
            same = a == b
            diff = sorted(k for k in a if a[k] != b.get(k))
        note = f"median of {reps}: {ours['walls']} s; CPU {ours['cpu']:.1f} s"
        if base is not None:
            note += (f"; store path CPU {base['cpu']:.1f} s; outputs "
                     + ("identical" if same else f"differ in {', '.join(diff)}"))
        figs.append(figure(f"{label} {what} --once --json: wall", ours["wall"], "s",
                           baseline=base and base["wall"], baseline_note="store path" if base else "",
                           target=t_target, better="lower", note=note, fmt="{:.2f}"))
        figs.append(figure(f"{label} {what} --once --json: peak RSS", ours["rss"], "MB",
                           baseline=base and base["rss"], baseline_note="store path" if base else "",
                           target=m_target, better="lower", fmt="{:.0f}"))
        figs.extend(bench_submit_dir(label, what, db, reps, tmp, baseline, t_target, m_target))
    return figs + bench_stats_figures(n, reps, tmp)


def bench_stats_figures(n: int, reps: int, tmp: str) -> list[dict]:
    """``--stats`` and ``--stats --json`` of the finished DB against pegasus-statistics -s all."""
    figs: list[dict] = []
    label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    # --stats against pegasus-statistics -s all, on the finished DB
    db = G.stampede_db(n, None)
    uuid = G.plan(n).wf_uuid if n <= 100_000 else _uuid_of(db)
    ours = repeat(reps, _top("--stats", db), _env())
    cmd = pegasus_statistics_cmd(db, uuid, tmp)
    theirs = repeat(1 if n >= 1_000_000 else reps, cmd, _env(HOME=tmp)) if cmd else None
    if theirs is not None and theirs["rc"] != 0:
        print(f"pegasus-statistics failed: {theirs['err']}", flush=True)
        theirs = None
    speed = theirs["wall"] / ours["wall"] if theirs else None
    note = f"ours median of {reps}: {ours['walls']} s, CPU {ours['cpu']:.1f} s"
    if theirs:
        note += f"; pegasus-statistics -s all: {theirs['walls']} s, CPU {theirs['cpu']:.1f} s"
        note += "; summary " + ("equal to" if _same_summary(db, tmp) else "DIFFERENT from") + " pegasus-statistics'"
    else:
        note += "; pegasus-statistics not installed or failed"
    figs.append(figure(f"{label} --stats: speed-up vs pegasus-statistics", speed, "x", target=STATS_RATIO,
                       better="higher", ratio=speed, note=note, fmt="{:.1f}"))
    figs.append(figure(f"{label} --stats: wall", ours["wall"], "s", baseline=theirs and theirs["wall"],
                       baseline_note="pegasus-statistics" if theirs else "", better="lower", fmt="{:.2f}"))
    figs.append(figure(f"{label} --stats: peak RSS", ours["rss"], "MB", baseline=theirs and theirs["rss"],
                       baseline_note="pegasus-statistics" if theirs else "", target=theirs and theirs["rss"],
                       better="lower", fmt="{:.0f}"))
    # every table, as -s all computes them: --stats --json (written as it is computed)
    whole = repeat(1 if n >= 1_000_000 else reps, _top("--stats", "--json", db), _env())
    figs.append(figure(f"{label} --stats --json: speed-up vs pegasus-statistics",
                       theirs["wall"] / whole["wall"] if theirs else None, "x", target=STATS_RATIO, better="higher",
                       note=f"ours {whole['walls']} s, CPU {whole['cpu']:.1f} s"
                       + (f"; CPU speed-up {theirs['cpu'] / whole['cpu']:.1f}x" if theirs and whole["cpu"] else ""),
                       fmt="{:.1f}"))
    figs.append(figure(f"{label} --stats --json: peak RSS", whole["rss"], "MB", baseline=theirs and theirs["rss"],
                       baseline_note="pegasus-statistics" if theirs else "", target=theirs and theirs["rss"],
                       better="lower", fmt="{:.0f}"))
    return figs


def bench_submit_dir(label: str, what: str, db: str, reps: int, tmp: str, baseline: bool = True,
                     t_target: float | None = None, m_target: float | None = None) -> list[dict]:
    """A submit dir around the DB (benchmarks/submit_dir.py): its ``--once --json`` (computed in
    its DB plus what the dir adds, against the store path), and its first rows and full load
    with jobstate.log read from where the DB leaves off, against the whole log's read (the
    previous way) and the DB alone, medians of ``reps`` runs each in its own process."""
    from benchmarks.submit_dir import write_submit_dir

    d = write_submit_dir(db, os.path.join(tmp, f"submit-{label}-{what.replace(' ', '-')}"))
    figs = bench_once_submit_dir(label, what, d, reps, baseline, t_target, m_target)
    runs = {how: [_json_of([sys.executable, "-m", "benchmarks.submit_dir", d, how], _env()) for _ in range(reps)]
            for how in ("resume", "whole", "db")}
    first = {how: median([r["first"] for r in rs]) for how, rs in runs.items()}
    loaded = {how: median([r["loaded"] for r in rs]) for how, rs in runs.items()}
    note = (f"first rows, median of {reps}: from the DB's end {[round(r['first'], 2) for r in runs['resume']]} s, "
            f"whole log {[round(r['first'], 2) for r in runs['whole']]} s, DB alone "
            f"{[round(r['first'], 2) for r in runs['db']]} s; fully loaded {loaded['resume']:.1f} s "
            f"(whole log {loaded['whole']:.1f} s, DB alone {loaded['db']:.1f} s)")
    return figs + [figure(f"{label} {what} submit dir: first rows", first["resume"], "s", baseline=first["whole"],
                   baseline_note="whole jobstate.log", target=first["db"] * 1.5, better="lower", note=note,
                   fmt="{:.2f}"),
            figure(f"{label} {what} submit dir: fully loaded", loaded["resume"], "s", baseline=loaded["whole"],
                   baseline_note="whole jobstate.log", better="lower", fmt="{:.1f}")]


def bench_once_submit_dir(label: str, what: str, d: str, reps: int, baseline: bool, t_target, m_target) -> list[dict]:
    """``--once --json`` of the submit dir: its DB's summary computed in the DB plus what the
    dir adds (cli.top._once_from_db; the jobs whose jobstate.log lines the DB lacks decided by
    the store's rules), against the store path (``PANORAMA_ONCE_STORE=1``), outputs compared."""
    ours = repeat(reps, _top("--once", "--json", d), _env())
    base = same = None
    note = f"median of {reps}: {ours['walls']} s; CPU {ours['cpu']:.1f} s"
    if baseline:
        base = repeat(1 if label.endswith("M") else reps, _top("--once", "--json", d), _env(PANORAMA_ONCE_STORE="1"))
        a = _json_of(_top("--once", "--json", d), _env())
        b = _json_of(_top("--once", "--json", d), _env(PANORAMA_ONCE_STORE="1"))
        same = a == b
        note += f"; store path CPU {base['cpu']:.1f} s; outputs " + (
            "identical" if same else f"differ in {', '.join(sorted(k for k in a if a[k] != b.get(k)))}")
    return [figure(f"{label} {what} submit dir --once --json: wall", ours["wall"], "s",
                   baseline=base and base["wall"], baseline_note="store path" if base else "", target=t_target,
                   better="lower", note=note, fmt="{:.2f}"),
            figure(f"{label} {what} submit dir --once --json: peak RSS", ours["rss"], "MB",
                   baseline=base and base["rss"], baseline_note="store path" if base else "", target=m_target,
                   better="lower", fmt="{:.0f}")]


def _same_summary(db: str, tmp: str) -> bool:
    """Our --stats text and pegasus-statistics' summary.txt say the same (comments aside)."""
    ours = subprocess.run(_top("--stats", db), cwd=REPO, env=_env(), capture_output=True, text=True).stdout
    try:
        with open(os.path.join(tmp, "pegasus-statistics", "summary.txt")) as f:
            theirs = f.read()
    except OSError:
        return False

    def body(text: str) -> list[str]:
        return [ln.rstrip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]

    return body(ours) == body(theirs)


def _uuid_of(db: str) -> str:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT wf_uuid FROM workflow ORDER BY wf_id LIMIT 1").fetchone()[0]
    finally:
        conn.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="jobs (default %(default)s; 0: none, with --million)")
    ap.add_argument("--million", action="store_true", help="also 1,000,000 jobs (minutes, GBs for the baseline)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure at 100k (median; 1 at 1M)")
    ap.add_argument("--no-baseline-1m", action="store_true", help="leave out the store path at 1M (~4 min, ~6 GB)")
    ap.add_argument("--half-1m", action="store_true", help="at 1M also the half-done DB (another ~10 min to make)")
    ap.add_argument("--quick", action="store_true", help="10k jobs, one run each")
    ap.add_argument("--event-log", action="store_true", help="only --once of the run as an event log (with and "
                    "without traces; ~5 min at 100k, the first time ~3 min more to write 5 GB of logs)")
    ap.add_argument("--stats-only", action="store_true", help="only --stats and --stats --json against "
                    "pegasus-statistics -s all (no --once, no submit dirs)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    sizes = [10_000] if args.quick else [args.n] if args.n else []
    if args.million and not args.quick:
        sizes.append(1_000_000)
    reps = 1 if args.quick else max(1, args.repeat)
    print(f"bench_scale  {time.strftime('%Y-%m-%d %H:%M:%S')}  load {loadavg()}", flush=True)
    compile_bytecode()
    figs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        if args.event_log:
            sizes = []
            figs.extend(bench_event_log(10_000 if args.quick else args.n, reps))
        for n in sizes:
            big = n >= 1_000_000
            untils = (None, 0.5) if not big or args.half_1m else (None,)
            if args.stats_only:
                figs.extend(bench_stats_figures(n, reps, tmp))
            else:
                figs.extend(bench_size(n, reps, not (big and args.no_baseline_1m), tmp, untils))
    return report(figs, args.json)


if __name__ == "__main__":
    sys.exit(main())
