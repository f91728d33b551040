"""DAGMan's own log, ``*.dag.dagman.out``, read the way the real Pegasus tools read it.

Expected answers come from the real tools of the pegasus-wms 5.1.3 wheel run
on the same files: ``pegasus-status`` (its progress table reading, per DAG and
in total) and ``pegasus-monitord`` (the jobstate.log it derived from the same
dagman.out: ``monitord-replay/<run>/jobstate.log``).  Mid-run states are real
dagman.out files cut after one of DAGMan's own progress tables.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from panorama_tui.sources.pegasus.dagman_out import NODE_COLUMNS, DagmanOut, find_dagman_outs, read_dag
from panorama_tui.sources.pegasus.jobstate_log import JobstateLog
from panorama_tui.sources.pegasus.submitdir import parse_braindump_yml

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")
UUIDS = {"process_wf_failure": "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3",
         "process_wf_success": "f00c0056-abd4-4e8e-b793-24eb760dda1f",
         "hierarchical_wf_success": "48f759a4-165f-47d6-8c32-571649ce311b"}
DAGS = {"process_wf_success": "process-0.dag", "process_wf_failure": "process-0.dag",
        "hierarchical_wf_success": "hierarchical-workflow-0.dag"}
# pegasus-status's words for a DAG's state, and the store's
STATE_WORDS = {"Running": "running", "Success": "succeeded", "Failure": "failed"}
# pegasus-status's keys -> ours
STATUS_KEYS = {"succeeded": "done", "pre": "pre", "queued": "queued", "post": "post", "ready": "ready",
               "unready": "unready", "failed": "failed", "total": "total", "percent_done": "percent_done"}


@pytest.fixture
def submitdirs(shared_data):
    return shared_data / "pegasus" / "submitdirs"


# -- the real pegasus-status ------------------------------------------------------


def _pegasus_cli(tool: str) -> str:
    try:
        import Pegasus
    except ImportError:  # the wheel is a test dependency: its absence is a failure under CI
        if os.environ.get("CI") == "true":
            pytest.fail("pegasus-wms is not installed")
        pytest.skip("pegasus-wms is not installed")
    return os.path.join(os.path.dirname(Pegasus.__file__), "cli", tool)


def pegasus_status(submit_dir, child_env) -> dict:
    """``pegasus-status -Q -j DIR`` (-Q: no condor_q; there is no HTCondor here)."""
    r = subprocess.run([sys.executable, _pegasus_cli("pegasus-status.py"), "-Q", "-j", str(submit_dir)],
                       capture_output=True, text=True, env=child_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def as_ours(row: dict) -> dict:
    """One of pegasus-status's rows in our keys (and our state word, when it has one)."""
    out = {ours: row[theirs] for theirs, ours in STATUS_KEYS.items()}
    if "state" in row:
        out["state"] = STATE_WORDS[row["state"]]
    return out


def compare(row: dict) -> dict:
    return {k: row[k] for k in (*STATUS_KEYS.values(), "state") if k in row}


# -- making submit dirs from the real ones -----------------------------------------


def copy_dir(src, dst, drop=()):
    shutil.copytree(src, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    for name in drop:
        p = dst / name
        if p.exists():
            p.unlink()
    return dst


def table_rows(path) -> list[int]:
    """Line numbers (0-based) of the numbers rows of DAGMan's progress tables."""
    lines = Path(path).read_text().splitlines()
    return [i + 2 for i, ln in enumerate(lines) if ln.endswith("Failed   Futile") and "Done" in ln]


def cut_after_line(path, n: int) -> None:
    """Keep the first n+1 lines of a file (a real dagman.out as it was when DAGMan wrote line n)."""
    lines = Path(path).read_text().splitlines(keepends=True)
    Path(path).write_text("".join(lines[: n + 1]))


def row_values(path, n: int) -> list[int]:
    return [int(x) for x in Path(path).read_text().splitlines()[n].split()[2:]]


def clock_hint(d) -> str:
    return parse_braindump_yml((Path(d) / "braindump.yml").read_text())["timestamp"]


def read_all(path, uuid, nodes: bool, **kw) -> tuple[DagmanOut, list]:
    dm = DagmanOut(str(path), uuid, nodes=nodes, **kw)
    events = []
    while True:
        got = dm.poll()
        if not got:
            break
        events.extend(got)
    dm.close()
    return dm, events


def _key(ev):
    return (ev.name, ev.ts, sorted(ev.data.items()))


# -- the reader's own answers --------------------------------------------------------


def test_find_dagman_outs_as_pegasus_status_does(tmp_path, submitdirs):
    d = copy_dir(submitdirs / "hierarchical_wf_success", tmp_path / "run")
    sub = d / "00" / "00" / "blackdiamond_diamond_subworkflow.000"
    shutil.copy(submitdirs / "process_wf_success" / "process-0.dag.dagman.out", sub / "inner.dag.dagman.out")
    (d / "notes.dagman.out").write_text("not a DAG's log\n")  # pegasus-status wants *.dag.dagman.out
    found = find_dagman_outs(str(d))
    assert found == [str(d / "hierarchical-workflow-0.dag.dagman.out"), str(sub / "inner.dag.dagman.out")]


def test_read_dag_nodes(submitdirs):
    dag = read_dag(str(submitdirs / "process_wf_failure" / "process-0.dag"))
    assert list(dag.nodes) == ["create_dir_process_0_local", "ls_ID0000001", "stage_out_local_local_0_0",
                               "cleanup_process_0_local", "register_local_0_0"]
    ls = dag.nodes["ls_ID0000001"]
    assert ls.submit_file == "00/00/ls_ID0000001.sub" and ls.retries == 1 and ls.post and not ls.pre
    h = read_dag(str(submitdirs / "hierarchical_wf_success" / "hierarchical-workflow-0.dag"))
    assert len(h.nodes) == 13 and h.nodes["pegasus-plan_diamond_subworkflow"].pre


@pytest.mark.parametrize("run", RUNS)
def test_dagman_out_gives_the_events_monitords_jobstate_log_gives(submitdirs, replay_dir, run):
    """pegasus-monitord turned this dagman.out into monitord-replay's jobstate.log;
    read here, the same dagman.out gives the very events that jobstate.log gives
    (same states, job instances, js_ids, times, exit codes and sites), so the two
    can lie under the Stampede DB alike."""
    d = submitdirs / run
    _, got = read_all(d / (DAGS[run] + ".dagman.out"), UUIDS[run], nodes=True, braindump_ts=clock_hint(d))
    want = JobstateLog(str(replay_dir / run / "jobstate.log"), UUIDS[run]).poll()
    assert [_key(e) for e in got if e.name != "dagman.progress"] == [_key(e) for e in want]


@pytest.mark.parametrize("run", RUNS)
def test_progress_equals_pegasus_status_on_the_shared_runs(submitdirs, replay_dir, run, child_env):
    d = submitdirs / run
    dm, events = read_all(d / (DAGS[run] + ".dagman.out"), UUIDS[run], nodes=False, braindump_ts=clock_hint(d))
    want = json.loads((replay_dir / run / "status.json").read_text())["dags"]["root"]
    assert compare(dm.progress) == as_ours(want)
    assert pegasus_status(d, child_env)["dags"]["root"] == want  # the shared answer is today's answer
    # one progress event, the latest table, stamped with the table's time
    prog = [e for e in events if e.name == "dagman.progress"]
    assert len(prog) == 1 and compare(prog[0].data) == as_ours(want) and prog[0].data["xwf_id"] == UUIDS[run]


def _cut_points(path):
    """Tables with something in every interesting column: PRE, queued, POST, ready+unready, done."""
    rows = table_rows(path)
    picks = {}
    for n in rows:
        v = row_values(path, n)
        for col, name in ((1, "pre"), (2, "queued"), (3, "post"), (4, "ready")):
            if v[col] and name not in picks:
                picks[name] = n
    return picks


@pytest.mark.parametrize("run", ["process_wf_success", "hierarchical_wf_success"])
def test_progress_mid_run_equals_pegasus_status(tmp_path, submitdirs, run, child_env):
    src = submitdirs / run / (DAGS[run] + ".dagman.out")
    picks = _cut_points(src)
    assert {"queued", "post", "ready"} <= set(picks)
    if run == "hierarchical_wf_success":
        assert "pre" in picks  # the sub-workflow's pegasus-plan PRE script
    for name, n in picks.items():
        d = copy_dir(submitdirs / run, tmp_path / f"{run}-{name}")
        cut_after_line(d / src.name, n)
        dm, _ = read_all(d / src.name, UUIDS[run], nodes=True, braindump_ts=clock_hint(d))
        want = pegasus_status(d, child_env)["dags"]["root"]
        assert want["state"] == "Running"
        assert compare(dm.progress) == as_ours(want), name
        # a table cut in its middle: the previous complete table stands, as for pegasus-status
        d2 = copy_dir(submitdirs / run, tmp_path / f"{run}-{name}-half")
        cut_after_line(d2 / src.name, n - 1)
        dm2, _ = read_all(d2 / src.name, UUIDS[run], nodes=False, braindump_ts=clock_hint(d))
        want2 = as_ours(pegasus_status(d2, child_env)["dags"]["root"])
        if dm2.progress is None:  # no complete table yet: pegasus-status shows its empty row
            assert n == table_rows(src)[0] and want2["total"] == 0 and not any(want2[k] for k in NODE_COLUMNS[:-1])
        else:
            assert compare(dm2.progress) == want2, name


def test_following_a_growing_dagman_out(tmp_path, submitdirs):
    """Appended in pieces of any size (mid-line, mid-table), followed: the same
    events as one read of the whole file, progress included."""
    run = "process_wf_failure"
    src = submitdirs / run / "process-0.dag.dagman.out"
    _, whole = read_all(src, UUIDS[run], nodes=True, braindump_ts=clock_hint(submitdirs / run))
    data = src.read_bytes()
    path = tmp_path / "process-0.dag.dagman.out"
    path.write_bytes(b"")
    shutil.copy(submitdirs / run / "process-0.dag", tmp_path / "process-0.dag")
    shutil.copytree(submitdirs / run / "00", tmp_path / "00")
    dm = DagmanOut(str(path), UUIDS[run], nodes=True, braindump_ts=clock_hint(submitdirs / run))
    rng = random.Random(11)
    got, pos = [], 0
    while pos < len(data):
        step = rng.choice((1, 7, 50, 333, 2000))
        with open(path, "ab") as f:
            f.write(data[pos:pos + step])
        pos += step
        got.extend(dm.poll())
    got.extend(dm.poll())
    dm.close()
    # progress events come as tables complete: the last one is the whole file's
    prog = [e for e in got if e.name == "dagman.progress"]
    assert prog[-1].data == [e for e in whole if e.name == "dagman.progress"][-1].data
    assert [_key(e) for e in got if e.name != "dagman.progress"] == [_key(e) for e in whole
                                                                       if e.name != "dagman.progress"]


def test_a_rewritten_dagman_out_is_read_again(tmp_path, submitdirs):
    run = "process_wf_success"
    d = copy_dir(submitdirs / run, tmp_path / "run")
    path = d / "process-0.dag.dagman.out"
    full = path.read_text()
    dm = DagmanOut(str(path), UUIDS[run], nodes=True, braindump_ts=clock_hint(d))
    first = dm.poll()
    assert dm.finished and dm.exit_status == 0
    path.write_text(full[: len(full) // 3])  # started over (shorter): read from the top
    again = dm.poll()
    assert not dm.finished and again and again[0].name == "stampede.xwf.start"
    assert dm.progress["state"] == "running"
    dm.close()
    assert first


# -- panorama-top on dagman.out alone ------------------------------------------------------

MONITORD_FILES = ("jobstate.log", "monitord.info", "monitord.log.000", "monitord.started", "monitord.subwf",
                  "monitord.done", "monitord.pid", "monitord.recover")
SUB_DIR = Path("00") / "00" / "blackdiamond_diamond_subworkflow.000"
SUB_UUID = "160be601-bda4-45fb-86cd-9cf7a269bb22"


def dagman_only(src: Path, dst: Path, dag_mismatch: bool = True) -> Path:
    """A copy of a real submit dir holding DAGMan's logs but no Stampede DB,
    no jobstate.log (monitord never ran), and a braindump whose ``dag`` names
    another file (pegasus-status searches for ``*.dag.dagman.out``)."""
    d = copy_dir(src, dst, drop=MONITORD_FILES)
    for db in d.rglob("*.stampede.db"):
        db.unlink()
    if dag_mismatch:
        bd = d / "braindump.yml"
        bd.write_text(bd.read_text().replace('dag: "', 'dag: "renamed-'))
    return d


def with_sub_dagman_out(d: Path, submitdirs: Path, cut_at: str | None = None) -> Path:
    """The hierarchical run with a DAG run in its sub-workflow's dir: a real DAG
    and its real DAGMan log (process_wf_success's .dag, submit files and
    dagman.out, optionally cut at one of its tables) as the sub-DAG's (the
    shared copy of the run lacks the sub-workflow's own log)."""
    proc = submitdirs / "process_wf_success"
    sub = d / SUB_DIR
    (sub / "inner.static.bp").unlink()  # the planner's jobs of the DAG replaced here
    shutil.copy(proc / "process-0.dag", sub / "inner.dag")
    (sub / "00" / "00").mkdir(parents=True, exist_ok=True)
    for f in (proc / "00" / "00").glob("*.sub"):
        shutil.copy(f, sub / "00" / "00" / f.name)
    dst = sub / "inner.dag.dagman.out"
    shutil.copy(proc / "process-0.dag.dagman.out", dst)
    if cut_at:
        cut_after_line(dst, _cut_points(dst)[cut_at])
    return dst


@pytest.fixture
def cli(child_env, tmp_path):
    def run(*args, cwd=None):
        proc = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(cwd or tmp_path),
                              env=child_env() | {"TMPDIR": str(tmp_path), "PANORAMA_AMQP_URL": ""},
                              capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        assert proc.returncode not in (64, 70), proc.stderr
        return proc

    return run


def once_json(cli, target) -> tuple[int, dict]:
    p = cli("--once", "--json", target)
    assert p.returncode != 3, p.stderr
    return p.returncode, json.loads(p.stdout)


def assert_like_pegasus_status(ours: dict, status: dict) -> None:
    """Every DAG pegasus-status reports is one of our workflows with the same
    state and counts, and the totals are equal."""
    by_dag = {w["dag"]["dagname"]: w for w in ours["workflows"] if w["dag"] is not None}
    for key, row in status["dags"].items():
        w = by_dag[row["dagname"]]
        assert compare(w["dag"]) == {k: v for k, v in as_ours(row).items() if k != "state"}, key
        assert w["state"] == STATE_WORDS[row["state"]], key
    assert len(by_dag) == len(status["dags"])
    assert compare(ours["dag_totals"]) == as_ours(status["totals"])


@pytest.mark.parametrize("run,code", [("process_wf_success", 0), ("process_wf_failure", 1)])
def test_a_dir_with_only_dagman_out(tmp_path, submitdirs, cli, child_env, run, code):
    d = dagman_only(submitdirs / run, tmp_path / run)
    rc, ours = once_json(cli, d)
    assert_like_pegasus_status(ours, pegasus_status(d, child_env))
    assert rc == code
    w = ours["workflows"][0]
    assert w["wf_uuid"] == UUIDS[run] and w["label"] == "process"  # braindump's, though its dag name is wrong
    # the jobs, from DAGMan's node lines, as pegasus-statistics counts them
    assert w["jobs"]["total"] == 5 and w["jobs"]["succeeded"] == (5 if code == 0 else 1)
    if code == 1:
        assert [f["job_id"] for f in w["failed_jobs"]] == ["ls_ID0000001"] and w["failed_jobs"][0]["tries"] == 2


def test_a_dagman_out_path(tmp_path, submitdirs, cli, child_env):
    """The file itself: that DAG from DAGMan's log alone (here beside a full
    submit dir, whose Stampede DB it does not read)."""
    run = "process_wf_failure"
    d = copy_dir(submitdirs / run, tmp_path / run)
    rc, ours = once_json(cli, d / "process-0.dag.dagman.out")
    assert rc == 1
    assert_like_pegasus_status(ours, pegasus_status(d, child_env))
    assert ours["source"].endswith("process-0.dag.dagman.out") and ours["events"] > 0


def test_sub_dags_and_their_totals(tmp_path, submitdirs, cli, child_env):
    """A root DAG and a sub-DAG (mid-run: its POST script running), DAGMan's logs only:
    per DAG and in total as pegasus-status says; the sub-workflow hangs under its job."""
    d = dagman_only(submitdirs / "hierarchical_wf_success", tmp_path / "h")
    with_sub_dagman_out(d, submitdirs, cut_at="post")
    status = pegasus_status(d, child_env)
    assert len(status["dags"]) == 2 and status["totals"]["post"] == 1
    rc, ours = once_json(cli, d)
    assert_like_pegasus_status(ours, status)
    root, sub = ours["workflows"]
    assert (root["wf_uuid"], sub["wf_uuid"], sub["parent_wf_uuid"]) == (UUIDS["hierarchical_wf_success"], SUB_UUID,
                                                                       root["wf_uuid"])
    assert sub["label"] == "blackdiamond" and sub["state"] == "running"
    assert ours["dag_totals"]["total"] == 18
    # the sub-workflow's job in the root DAG is its parent job
    from panorama_tui.pipeline.ingest import run_to_end
    from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
    from panorama_tui.model.store import Store

    store = run_to_end(SubmitDirSource(find_submit_dir(str(d)), follow=False), Store())
    assert store.workflows[SUB_UUID].parent_job_id == "pegasus-plan_diamond_subworkflow"
    # its jobs: the nodes its .dag names, the ones DAGMan's log mentions among them
    assert sorted(store.workflows[SUB_UUID].jobs) == sorted(read_dag(str(d / SUB_DIR / "inner.dag")).nodes)
    # the job whose POST script runs shows that phase
    post = [j for j in store.workflows[SUB_UUID].jobs.values() if j.phase == "POST"]
    assert len(post) == 1 and post[0].state.label == "running"


@pytest.mark.parametrize("cut", ["queued", "post", "pre"])
def test_mid_run_dagman_out_alone(tmp_path, submitdirs, cli, child_env, cut):
    run = "hierarchical_wf_success"
    d = dagman_only(submitdirs / run, tmp_path / cut)
    out = d / "hierarchical-workflow-0.dag.dagman.out"
    cut_after_line(out, _cut_points(out)[cut])
    rc, ours = once_json(cli, d)
    assert_like_pegasus_status(ours, pegasus_status(d, child_env))
    assert rc == 2  # still running: something is queued or runs a script
    root = ours["workflows"][0]
    phases = {"pre": "PRE", "post": "POST"}
    if cut in phases:
        from panorama_tui.pipeline.ingest import run_to_end
        from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
        from panorama_tui.model.store import Store

        store = run_to_end(SubmitDirSource(find_submit_dir(str(d)), follow=False), Store())
        wf = store.workflows[root["wf_uuid"]]
        assert sum(j.phase == phases[cut] for j in wf.jobs.values()) == root["dag"][cut] > 0


def test_detect_dagman_outs(tmp_path, submitdirs):
    from panorama_tui.sources.detect import UnknownInput, detect

    d = dagman_only(submitdirs / "process_wf_success", tmp_path / "run")
    assert detect(str(d / "process-0.dag.dagman.out")) == "dagmanout"
    (d / "braindump.yml").unlink()
    assert detect(str(d)) == "submitdir"  # no braindump, but DAGMan's logs
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(UnknownInput, match="dagman.out"):
        detect(str(bare))
    # a DAG's log somewhere below is not looked for (a home dir is not walked)
    (bare / "deep" / "er").mkdir(parents=True)
    shutil.copy(d / "process-0.dag.dagman.out", bare / "deep" / "er")
    with pytest.raises(UnknownInput, match="dagman.out"):
        detect(str(bare))


def test_a_dir_of_dagman_outs_without_braindump(tmp_path, submitdirs, cli):
    d = dagman_only(submitdirs / "process_wf_failure", tmp_path / "run")
    (d / "braindump.yml").unlink()
    rc, ours = once_json(cli, d)
    assert rc == 1
    w = ours["workflows"][0]
    assert w["label"] == "process-0" and w["dag"]["percent_done"] == 20.0 and w["dag"]["futile"] == 3


def test_the_job_list_shows_a_script_phase(tmp_path, submitdirs):
    """A job whose POST script runs reads POST in the list's STATE column, as
    pegasus-status counts it under POST (PRE likewise)."""
    import asyncio

    from panorama_tui.pipeline.ingest import run_to_end
    from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
    from panorama_tui.model.store import Store
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    run = "hierarchical_wf_success"
    shown = {}
    for cut in ("pre", "post"):
        d = dagman_only(submitdirs / run, tmp_path / cut)
        out = d / "hierarchical-workflow-0.dag.dagman.out"
        cut_after_line(out, _cut_points(out)[cut])
        store = run_to_end(SubmitDirSource(find_submit_dir(str(d)), follow=False), Store())
        job = next(j for j in store.jobs() if j.phase == cut.upper())

        async def go(store=store, job=job):
            app = PanoramaApp(store, source_label="test")
            async with app.run_test(size=(140, 40)) as pilot:
                await pilot.pause()
                jobs = app.query_one("#jobs", JobList)
                lines = ["".join(seg.text for seg in jobs.render_line(y)) for y in range(jobs.size.height)]
                return next(ln for ln in lines if job.job_id[:20] in ln)

        shown[cut] = asyncio.run(go())
    assert " POST " in shown["post"] and " PRE " in shown["pre"], shown


def test_following_a_run_whose_monitord_never_started(tmp_path, submitdirs):
    """Following (the screen): the DB that braindump names may still come, but
    meanwhile DAGMan's log shows the workflow, its jobs and their states."""
    from panorama_tui.pipeline.ingest import decode_batch
    from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
    from panorama_tui.model.store import Store

    d = dagman_only(submitdirs / "hierarchical_wf_success", tmp_path / "run")
    out = d / "hierarchical-workflow-0.dag.dagman.out"
    cut_after_line(out, _cut_points(out)["post"])
    src = SubmitDirSource(find_submit_dir(str(d)), follow=True, poll=0.01)
    store = Store()
    bad = []
    for _ in range(3):
        store.apply_many(decode_batch(src._round([])[0], bad))
    src.db.close()
    assert bad == []
    wf = store.workflows[UUIDS["hierarchical_wf_success"]]
    assert wf.label == "hierarchical-workflow" and len(wf.jobs) == 13
    assert sorted(j.job_id for j in wf.jobs.values() if j.phase == "POST") == [
        "create_dir_hierarchical-workflow_0_local", "stage_worker_local_hierarchical-workflow_0_local"]
