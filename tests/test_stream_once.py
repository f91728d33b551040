"""--once of an event log by the streaming pass (stats/stream_once.py) against the store path
(issue #14): the same text, --json and exit status on every shared monitord log (JSON and BP),
the hostile and fuzzed logs the other tests use, generated runs (finished and half done, with
/proc traces) and those logs read twice or shuffled; and the pass streams (answers without the
store) where it should."""

from __future__ import annotations

import json
import random
import time

import pytest

from panorama_tui.cli import top
from panorama_tui.model.handlers import TYPED
from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.stats import once, stream_once
from panorama_tui.stats.sql_once import FORCE_STORE_ENV

from .fuzz_inputs import generate, load_corpus, materialize
from .held_runs import events as held_events

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")
NOW = time.time()


def both(path, now=NOW) -> tuple[bool, list, list]:
    """(streamed, the stream's [(text, exit), (json, exit)], the store's): the stream's is the
    store's when the pass cannot answer."""
    st = run_to_end(JsonLogSource(str(path), follow=False, bp=None), Store())
    theirs = [(once.render_text(st, str(path), now), once.overall_exit(st, now)),
              (once.render_json(st, str(path), now), once.overall_exit(st, now))]
    try:
        lean = stream_once.read_lean(JsonLogSource(str(path), follow=False, bp=None))
        again = lambda: JsonLogSource(str(path), follow=False, bp=None)  # noqa: E731
        ours = [stream_once.once_text(lean, str(path), now, j, again) for j in (False, True)]
    except stream_once.Unsupported:
        return False, theirs, theirs
    return True, ours, theirs


def test_every_typed_event_has_a_lean_handler():
    assert set(TYPED) <= set(stream_once._JOB_EVENTS)


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("name", ("events.json", "events.bp"))
def test_shared_logs_stream_and_match(replay_dir, run, name):
    streamed, ours, theirs = both(replay_dir / run / name)
    assert streamed
    assert ours == theirs


@pytest.mark.parametrize("case", ("held", "removed", "stale"))
def test_held_runs_stream_and_match(case):
    """A job held (its reason shown), removed by its periodic_remove and retried; ``stale``
    is a stalled run (its pace from a second pass)."""
    streamed, ours, theirs = both(held_events(case))
    assert streamed
    assert ours == theirs
    if case != "stale":
        assert json.loads(ours[1][0])["workflows"][0]["held"] == 1


@pytest.mark.parametrize("run", RUNS)
def test_read_twice_and_shuffled(replay_dir, tmp_path, run):
    """The store is the same whatever the order and however often an event comes: so is
    the pass's answer (streamed, or the store's where a stale job's twin decides)."""
    lines = (replay_dir / run / "events.json").read_bytes().splitlines(keepends=True)
    p = tmp_path / "twice.json"
    p.write_bytes(b"".join(lines + lines))
    streamed, ours, theirs = both(p)
    assert streamed and ours == theirs
    for seed in range(8):
        shuffled = lines[:]
        random.Random(seed).shuffle(shuffled)
        p.write_bytes(b"".join(shuffled + shuffled[: len(shuffled) // 2]))
        _, ours, theirs = both(p)
        assert ours == theirs, seed


def test_garbage_and_hostile_values(replay_dir, tmp_path):
    """tests/test_cli_once.py's garbage and hostile lines: counted as bad records or warnings
    exactly as the store counts them."""
    good = (replay_dir / "process_wf_failure" / "events.json").read_bytes().splitlines(keepends=True)
    garbage = [b"this is not json\n", b"\x00\x01\x02\xff\xfe binary junk\n", b'{"no_event_name": 1}\n',
               b"[1, 2, 3]\n", b'"just a string"\n', b"[" * 100_000 + b"\n",
               b'{"event": "stampede.job_inst.main.end", "xwf_id": "x", "job_id"\n',
               b'{"event": "no.such.event", "ts": 1}\n', b'{"event": "stampede.job.edge", "ts": 1}\n']
    mixed = [good[0]]
    for i, ln in enumerate(good[1:]):
        mixed.append(ln)
        if i % 5 == 0:
            mixed.append(garbage[(i // 5) % len(garbage)])
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(mixed))
    streamed, ours, theirs = both(p)
    assert streamed and ours == theirs
    assert json.loads(ours[1][0])["bad_records"] > 0
    wf = json.loads(good[0])["xwf_id"].encode()
    hostile = [
        b'{"event": "stampede.job_inst.main.end", "xwf_id": "' + wf + b'", "job_id": "ls_ID0000001", '
        b'"job_inst_id": 2, "ts": 1677911000, "exitcode": 1e400}\n',
        b'{"event": "stampede.job_inst.main.end", "xwf_id": "' + wf + b'", "job_id": "ls_ID0000001", '
        b'"job_inst_id": 1e400, "ts": 1677911000}\n',
    ]
    p.write_bytes(good[0] + b"".join(hostile) + b"".join(good[1:]))
    streamed, ours, theirs = both(p)
    assert not streamed  # the store warns about these: it answers
    assert ours == theirs
    # an auxiliary job's argv that ends in -n: the store's transformation rule fails on it
    info = [json.loads(ln) for ln in good if b'"stampede.job.info"' in ln][0]
    info["argv"] = "pegasus-kickstart -n "
    p.write_bytes(b"".join(good) + json.dumps(info).encode() + b"\n")
    streamed, ours, theirs = both(p)
    assert not streamed
    assert ours == theirs


def _log_cases(cases):
    return [c for c in cases if c["kind"] in ("jsonlog", "bplog")]


def test_fuzz_corpus_and_seeded_mutations(shared_data, tmp_path):
    cases = _log_cases(load_corpus()) + _log_cases(generate(shared_data, 120, seed=14))
    assert len(cases) > 40
    tally = {True: 0, False: 0}
    for i, case in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        path = materialize(case, shared_data, tmp_path / str(i))
        streamed, ours, theirs = both(path)
        tally[streamed] += 1
        assert ours == theirs, case
    assert tally[True] > len(cases) // 3, tally  # most spoilt logs still stream


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from benchmarks import generate as G

    d = tmp_path_factory.mktemp("gen")
    out = {}
    for until in (None, 0.5):
        p = d / f"gen-{until}.json"
        G.write_jsonl(str(p), 2000, until=G.until_ts(2000, until), traces=True)
        out[until] = p
    return out


@pytest.mark.parametrize("until", (None, 0.5))
def test_generated_runs_stream_and_match(generated, until):
    streamed, ours, theirs = both(generated[until])
    assert streamed
    assert ours == theirs
    d = json.loads(ours[1][0])
    w = d["workflows"][0]
    assert w["jobs"]["total"] == 2000 and w["jobs"]["retries"] > 0
    if until is not None:
        assert d["exit_status"] == 2 and w["dag"]["queued"] > 0


@pytest.mark.parametrize("run", RUNS)
def test_a_stall_from_a_second_pass(replay_dir, tmp_path, run):
    """Not ended, nothing queued or running: the stall is judged from every state's time,
    which a second pass reads; without it the store path answers."""
    lines = (replay_dir / run / "events.json").read_bytes().splitlines(keepends=True)
    cut = [ln for ln in lines if b"stampede.xwf.end" not in ln]
    p = tmp_path / "events.json"
    for kept in (cut[: len(cut) * 2 // 3], cut):
        p.write_bytes(b"".join(kept))
        streamed, ours, theirs = both(p)
        assert streamed
        assert ours == theirs
    d = json.loads(ours[1][0])  # the whole run but its end: stalled (the hierarchical run's job of
    if run != "hierarchical_wf_success":  # its sub-workflow is still running then)
        assert d["exit_status"] == 4 and d["workflows"][0]["stalled"]
        lean = stream_once.read_lean(JsonLogSource(str(p), follow=False, bp=None))
        with pytest.raises(stream_once.Unsupported):
            stream_once.once_text(lean, str(p), NOW, True)


@pytest.mark.parametrize("args", (["--once"], ["--once", "--json"]))
def test_cli_both_paths(replay_dir, tmp_path, capsys, monkeypatch, args):
    """The command: the same stdout and exit status with the pass and with the store, for a
    log the pass streams and one it hands to the store (read again)."""
    lines = (replay_dir / "process_wf_failure" / "events.json").read_bytes().splitlines(keepends=True)
    stalled = tmp_path / "stalled.json"
    stalled.write_bytes(b"".join(ln for ln in lines if b"stampede.xwf.end" not in ln))
    for path in (replay_dir / "process_wf_failure" / "events.json", stalled):
        monkeypatch.delenv(FORCE_STORE_ENV, raising=False)
        rc = top.main([*args, str(path)])
        ours = capsys.readouterr().out
        monkeypatch.setenv(FORCE_STORE_ENV, "1")
        assert top.main([*args, str(path)]) == rc
        assert _steady(capsys.readouterr().out) == _steady(ours)


def _steady(out: str) -> str:
    """The output without the stall's elapsed time (the two runs are seconds apart)."""
    import re

    return re.sub(r"no event for [^,]*,", "no event for ~,", out)


def test_second_pass_reads_no_further_than_the_first(replay_dir, tmp_path):
    """A log still written to: the stall's second pass stops where the first did, so the
    answer is that of the log as the first pass read it."""
    lines = (replay_dir / "process_wf_success" / "events.json").read_bytes().splitlines(keepends=True)
    p = tmp_path / "events.json"
    p.write_bytes(b"".join(ln for ln in lines if b"stampede.xwf.end" not in ln))
    _, _, theirs = both(p)
    lean = stream_once.read_lean(JsonLogSource(str(p), follow=False, bp=None))
    late = json.loads(next(ln for ln in lines if b"stampede.job_inst.main.start" in ln))
    late.update(ts=NOW - 1, js_id=99)
    with p.open("ab") as f:
        f.write(json.dumps(late).encode() + b"\n")
    again = lambda: JsonLogSource(str(p), follow=False, bp=None)  # noqa: E731
    ours = [stream_once.once_text(lean, str(p), NOW, j, again) for j in (False, True)]
    assert ours == theirs
    assert ours[0][1] == 4
