"""Hostile input, a few hundred cases: no traceback, no internal error, no hang, no raw control character.

Cases are made from copies of the shared Stampede DBs, event logs (JSON lines
and BP) and recordings of the real runs by a seeded mutation loop
(``tests/fuzz_inputs.py``: flipped bytes, cut files, pages copied over others,
absurd values in cells and fields, deleted parent rows, workflows that are their
own ancestors, control characters, JSON nested 3,000 deep), plus the cases that
found bugs (``tests/data/fuzz/``).  Every case runs ``panorama-top --once``
(text or JSON) and, for a DB, ``--stats`` (text and JSON): in-process, on a
thread of its own with a deadline, for speed; every 25th through a child
interpreter too, for the exit-status contract as a shell sees it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout

import pytest

from panorama_tui.cli import top

from .fuzz_inputs import commands, generate, load_corpus, materialize

# PANORAMA_FUZZ_SEED / PANORAMA_FUZZ_CASES: other cases, or more of them, when hunting
SEED = int(os.environ.get("PANORAMA_FUZZ_SEED", "20251206"))
CASES = int(os.environ.get("PANORAMA_FUZZ_CASES", "300"))
CASE_SECONDS = 20.0  # a case that takes longer hangs (the slowest real one takes ~0.3 s)
EVERY_CHILD = 25
# --once: 0 succeeded, 1 failed, 2 still running, 3 unreadable input; --stats: 0 or 3
EXIT_STATUS = {"--once": {0, 1, 2, 3, 4}, "--stats": {0, 3}}  # README: 4 is stalled
# what a terminal acts on: C0 but newline and tab, DEL, C1
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]


def run_in_process(args: list[str], path: str) -> tuple:
    """(exit status, stdout, stderr) of ``panorama-top ARGS PATH`` in this process;
    exit status "hang" past :data:`CASE_SECONDS`, "exception" when one escaped main()."""
    got: dict = {}

    def target() -> None:
        out, err = io.StringIO(), io.StringIO()
        try:
            with redirect_stdout(out), redirect_stderr(err):
                got["rc"] = top.main([*args, path])
        except SystemExit as exc:
            got["rc"] = exc.code
        except BaseException as exc:  # noqa: BLE001 - what escaped is the finding
            got["rc"] = "exception"
            err.write(f"{type(exc).__name__}: {exc}")
        got["out"], got["err"] = out.getvalue(), err.getvalue()

    # A thread of its own: a fresh stack (the recursion a deep record causes is as deep as in the
    # command), and a deadline the caller can keep.
    streams = sys.stdout, sys.stderr
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(CASE_SECONDS)
    if t.is_alive():
        sys.stdout, sys.stderr = streams  # the hung run never leaves its redirection
        return "hang", "", ""
    return got["rc"], got["out"], got["err"]


def run_child(args: list[str], path: str, env: dict, cwd: str) -> tuple:
    try:
        p = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *args, path], cwd=cwd, env=env,
                           capture_output=True, timeout=CASE_SECONDS + 10)
    except subprocess.TimeoutExpired:
        return "hang", "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def problems(args: list[str], rc, out: str, err: str) -> list[str]:
    found = []
    if rc == "hang":
        return ["hang"]
    if rc == "exception" or "Traceback" in out or "Traceback" in err:
        found.append("traceback")
    if rc == 70 or "internal error" in err:
        found.append("internal error")
    elif rc != "exception" and rc not in EXIT_STATUS[args[0]]:
        found.append(f"exit status {rc}")
    if RAW_CONTROL.search(out) or RAW_CONTROL.search(err):
        found.append("raw control character")
    return found


def check(cases: list[dict], shared_data, tmp_path, child_env, repo_root, every_command: bool = False
          ) -> tuple[Counter, list[str]]:
    tally: Counter = Counter()
    failures: list[str] = []
    env = child_env() | {"TMPDIR": str(tmp_path)}
    for n, case in enumerate(cases):
        path = str(materialize(case, shared_data, tmp_path))
        runs = commands(case["kind"])
        if case["kind"] != "stampede" and not every_command:  # text and JSON take the same way in
            runs = [runs[n % 2]]
        for i, args in enumerate(runs):
            started = time.monotonic()
            rc, out, err = run_in_process(args, path)
            tally["runs"] += 1
            found = problems(args, rc, out, err)
            if i == 0 and n % EVERY_CHILD == 0:
                child = run_child(args, path, env, str(repo_root))
                tally["child runs"] += 1
                found += [f"child: {p}" for p in problems(args, *child)]
            tally["slowest ms"] = max(tally["slowest ms"], int((time.monotonic() - started) * 1000))
            for p in found:
                tally[p] += 1
                failures.append(f"{case['name']} ({case['kind']}, {case['base']}) {' '.join(args)}: {p}: "
                                f"{err.strip()[-200:]!r}")
        tally["cases"] += 1
    return tally, failures


@pytest.fixture
def quiet_tmp(tmp_path, monkeypatch):
    """Internal-error reports (top._log_internal_error) land in the test's directory."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_seeded_mutations_of_the_shared_runs(shared_data, quiet_tmp, child_env, repo_root):
    tally, failures = check(generate(shared_data, CASES, SEED), shared_data, quiet_tmp, child_env, repo_root)
    print(f"fuzz: {dict(tally)}")
    assert not failures, f"{len(failures)} failures in {dict(tally)}:\n" + "\n".join(failures[:40])
    assert not [f for f in os.listdir(quiet_tmp) if f.startswith("panorama-top-error-")]


def test_the_cases_that_found_bugs(shared_data, quiet_tmp, child_env, repo_root):
    corpus = load_corpus()
    assert len(corpus) >= 10
    tally, failures = check(corpus, shared_data, quiet_tmp, child_env, repo_root, every_command=True)
    assert not failures, f"{len(failures)} failures in {dict(tally)}:\n" + "\n".join(failures)
