"""The store against real monitord output and pegasus-statistics' numbers."""

from __future__ import annotations

import copy
import json
import random

import pytest

from panorama_tui.core.events import Event, decode, decode_line
from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.model.states import JobState, WorkflowState
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store

FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"
OK_WF = "f00c0056-abd4-4e8e-b793-24eb760dda1f"
ROOT_WF = "48f759a4-165f-47d6-8c32-571649ce311b"
SUB_WF = "160be601-bda4-45fb-86cd-9cf7a269bb22"
RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")
ROOTS = {"process_wf_success": OK_WF, "process_wf_failure": FAIL_WF, "hierarchical_wf_success": ROOT_WF}


def load_events(path) -> list[Event]:
    return [decode_line(ln) for ln in path.read_bytes().splitlines() if ln.strip()]


def store_of(events) -> Store:
    s = Store()
    s.apply_many(events)
    return s


def summary_dict(store: Store, wf_uuid: str) -> dict:
    sm = summarize(store, store.workflows[wf_uuid])
    return {
        "tasks": sm.tasks.as_dict(),
        "jobs": sm.jobs.as_dict(),
        "sub_workflows": sm.sub_workflows.as_dict(),
    }


@pytest.fixture(scope="module")
def run_events(replay_dir):
    return {run: load_events(replay_dir / run / "events.json") for run in RUNS}


# -- pegasus-statistics ---------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_json_summary_equals_pegasus_statistics(replay_dir, run_events, run, expected_summary):
    expected = expected_summary(replay_dir / run / "statistics-csv" / "summary.csv")
    s = store_of(run_events[run])
    assert s.bad_count == 0
    assert s.warning_count == 0, list(s.warnings)
    assert sum(s.unknown.values()) == 0
    assert [w.wf_uuid for w in s.roots] == [ROOTS[run]]
    assert summary_dict(s, ROOTS[run]) == expected


@pytest.mark.parametrize("run", RUNS)
def test_bp_summary_equals_pegasus_statistics(replay_dir, run_events, run, expected_summary):
    expected = expected_summary(replay_dir / run / "statistics-csv" / "summary.csv")
    s = Store()
    src = JsonLogSource(str(replay_dir / run / "events.bp"), follow=False, bp=True)
    run_to_end(src, s)
    assert s.bad_count == 0
    assert s.event_count == len(run_events[run])
    assert [w.wf_uuid for w in s.roots] == [ROOTS[run]]
    assert summary_dict(s, ROOTS[run]) == expected
    # the per-job picture is the one the JSON encoding gives, too
    js = store_of(run_events[run])
    for wf_uuid, wf in js.workflows.items():
        bwf = s.workflows[wf_uuid]
        assert bwf.state == wf.state
        assert {j: (job.state, sorted(job.tries), job.exit_raw) for j, job in bwf.jobs.items()} == {
            j: (job.state, sorted(job.tries), job.exit_raw) for j, job in wf.jobs.items()
        }


def test_workflow_states(run_events):
    assert store_of(run_events["process_wf_success"]).workflows[OK_WF].state == WorkflowState.SUCCEEDED
    failed = store_of(run_events["process_wf_failure"]).workflows[FAIL_WF]
    assert failed.state == WorkflowState.FAILED
    assert failed.status not in (None, 0)
    assert failed.label == "process"
    assert failed.start_ts is not None and failed.end_ts > failed.start_ts


# -- idempotency and order ----------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_applying_everything_twice_changes_nothing(run_events, run, store_snapshot):
    evs = run_events[run]
    base = store_snapshot(store_of(evs))
    assert store_snapshot(store_of(evs + evs)) == base
    each_twice = [e for ev in evs for e in (ev, ev)]
    assert store_snapshot(store_of(each_twice)) == base
    # fresh copies of the same records (as a re-read file would give)
    copies = [Event(e.name, e.ts, copy.deepcopy(e.data)) for e in evs]
    assert store_snapshot(store_of(evs + copies)) == base


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7, 42, 1234])
def test_shuffled_order_gives_the_same_store(run_events, run, seed, store_snapshot):
    evs = list(run_events[run])
    base = store_snapshot(store_of(evs))
    random.Random(seed).shuffle(evs)
    shuffled = store_snapshot(store_of(evs))
    for wf_uuid in base:
        assert shuffled[wf_uuid] == base[wf_uuid], wf_uuid


@pytest.mark.parametrize("run", RUNS)
def test_reversed_order_gives_the_same_store(run_events, run, store_snapshot):
    evs = run_events[run]
    assert store_snapshot(store_of(list(reversed(evs)))) == store_snapshot(store_of(evs))


# -- hierarchy -------------------------------------------------------------------------


def test_hierarchical_subworkflow_is_a_child_mapped_to_its_job(run_events):
    s = store_of(run_events["hierarchical_wf_success"])
    root, sub = s.workflows[ROOT_WF], s.workflows[SUB_WF]
    assert [w.wf_uuid for w in s.roots] == [ROOT_WF]
    assert root.children == [SUB_WF]
    assert sub.parent_uuid == ROOT_WF
    assert sub.root_uuid == ROOT_WF
    assert sub.parent_job_id == "pegasus-plan_diamond_subworkflow"
    assert sub.label == "blackdiamond"
    job = root.jobs["pegasus-plan_diamond_subworkflow"]
    assert job.subwf_uuid == SUB_WF
    assert job.is_subwf
    assert job.type_desc == "dax"
    assert job.state == JobState.DONE
    assert s.descendants(root) == [sub]
    assert sum(s.tree_counts(root)) == len(root.jobs) + len(sub.jobs)
    # the sub-workflow's own summary covers only itself
    own = summarize(s, sub)
    assert own.sub_workflows.total == 0
    assert own.jobs.total == len(sub.jobs)


# -- the failure run -------------------------------------------------------------------


def test_failed_job_details_match_the_analyzer(replay_dir, run_events):
    analyzer = (replay_dir / "process_wf_failure" / "analyzer.txt").read_text()
    s = store_of(run_events["process_wf_failure"])
    wf = s.workflows[FAIL_WF]
    job = wf.jobs["ls_ID0000001"]
    assert job.state == JobState.FAILED
    assert [j.job_id for j in s.failed_jobs()] == ["ls_ID0000001"]
    assert len(job.tries) == 2
    assert job.retries == 1
    t = job.latest
    assert t.seq == max(job.tries)
    assert t.main_exitcode == 512
    assert job.exit_raw == 512
    assert job.exit_code == 2
    assert "exitcode    : 2" in analyzer
    assert job.host == "workflow.isi.edu"
    assert "hostname    : workflow.isi.edu" in analyzer
    assert job.site == "condorpool"
    assert "site: condorpool" in analyzer
    assert t.state_name == "POST_SCRIPT_FAILED"
    assert "last state: POST_SCRIPT_FAILED" in analyzer
    assert t.stdout_file == "00/00/ls_ID0000001.out.001"
    assert "output file: 00/00/ls_ID0000001.out.001" in analyzer
    assert t.stderr_file == "00/00/ls_ID0000001.err.001"
    assert t.work_dir == "/home/mzalam/wf/condor/local/execute/dir_148537"
    assert t.work_dir in analyzer
    # monitord's URL-quoting is undone
    assert "invalid option -- 'z'" in t.stdout_text
    assert "%0A" not in t.stdout_text and "%27" not in t.stdout_text
    assert "\n" in t.stderr_text and "%0A" not in t.stderr_text
    assert "User task failed with exitcode 2" in t.stderr_text
    assert "/bin/ls: invalid option -- 'z'" in analyzer
    # the task's invocation in the latest try failed with exit 2
    tasks = t.task_invocations()
    assert [(i.task_id, i.transformation) for i in tasks] == [("ID0000001", "ls")]
    assert tasks[0].exitcode == 512
    # the three jobs that never ran
    waiting = [j.job_id for j in wf.jobs.values() if not j.tries]
    assert len(waiting) == 3
    assert all(wf.jobs[j].state == JobState.WAITING for j in waiting)


def test_success_run_every_job_done(run_events):
    s = store_of(run_events["process_wf_success"])
    wf = s.workflows[OK_WF]
    assert len(wf.jobs) == 5
    assert all(j.state == JobState.DONE for j in wf.jobs.values())
    assert wf.counts[JobState.DONE] == 5
    assert s.failed_jobs() == []
    assert wf.jobs["ls_ID0000001"].transformation == "ls"


def test_job_is_retrying_between_tries(run_events):
    """Before the second try ends, the failed first try shows as a retry."""
    evs = run_events["process_wf_failure"]
    s = Store()
    seen_retrying = False
    for ev in evs:
        s.apply(ev)
        job = s.find_job(FAIL_WF, "ls_ID0000001")
        if job is not None and job.state == JobState.RETRYING:
            seen_retrying = True
    assert seen_retrying
    assert s.find_job(FAIL_WF, "ls_ID0000001").state == JobState.FAILED


# -- robustness ---------------------------------------------------------------------------


def test_unknown_event_names_are_counted_not_dropped(run_events, store_snapshot):
    s = store_of(run_events["process_wf_success"])
    before = store_snapshot(s)
    n = s.event_count
    s.apply(decode({"event": "someone.elses.event", "xwf_id": OK_WF, "ts": 1677913774}))
    s.apply(decode({"event": "someone.elses.event", "ts": 1677913775}))
    s.apply(decode({"event": "stampede.brand.new", "xwf_id": OK_WF}))
    assert s.unknown == {"someone.elses.event": 2, "stampede.brand.new": 1}
    assert s.event_names["someone.elses.event"] == 2
    assert s.event_count == n + 3
    assert store_snapshot(s) == before
    # known-but-ignored names are not "unknown"
    s.apply(decode({"event": "stampede.job.edge", "xwf_id": OK_WF}))
    assert "stampede.job.edge" not in s.unknown


def _main_end(evs, job_id, inst):
    return next(
        e for e in evs if e.name == "stampede.job_inst.main.end" and e.data["job_id"] == job_id and e.data["job_inst_id"] == inst
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("exitcode", "abc"),
        ("exitcode", [1, 2]),
        ("exitcode", {"a": 1}),
        ("exitcode", float("inf")),
        ("exitcode", "1e400"),
        ("js_id", [4]),
        ("js_id", float("inf")),
        ("js_id", "four"),
        ("job_inst_id", [3]),
        ("status", "oops"),
        ("local_dur", "slow"),
        ("cluster_dur", "slow"),
        ("ts", "not a time"),
    ],
)
def test_wrong_typed_field_warns_keeps_state(run_events, field, value, store_snapshot):
    evs = run_events["process_wf_failure"]
    s = store_of(evs)
    before = store_snapshot(s)
    job = s.find_job(FAIL_WF, "ls_ID0000001")
    good = _main_end(evs, "ls_ID0000001", 3)
    bad = dict(good.data)
    bad[field] = value
    warnings_before = s.warning_count
    s.apply(decode(bad))  # must not raise
    assert s.warning_count > warnings_before, f"no warning for {field}={value!r}"
    after = store_snapshot(s)
    t = job.tries[3]
    assert t.main_exitcode == 512
    assert job.exit_code == 2
    assert job.state == JobState.FAILED
    assert after[FAIL_WF]["summary"] == before[FAIL_WF]["summary"]
    assert after[FAIL_WF]["jobs"]["ls_ID0000001"]["tries"][2] == before[FAIL_WF]["jobs"]["ls_ID0000001"]["tries"][2]


def test_wrong_typed_field_first_then_good_record(run_events, store_snapshot):
    """A bad record that arrives first does not spoil the good one after it."""
    evs = run_events["process_wf_failure"]
    base = store_snapshot(store_of(evs))
    s = Store()
    for ev in evs:
        if ev.name == "stampede.job_inst.main.end":
            bad = dict(ev.data)
            bad["exitcode"] = "abc"
            s.apply(decode(bad))
        s.apply(ev)
    assert s.warning_count > 0
    assert store_snapshot(s)[FAIL_WF] == base[FAIL_WF]


@pytest.mark.parametrize("field,value", [("status", "abc"), ("status", [0]), ("restart_count", [1])])
def test_wrong_typed_workflow_end_keeps_the_outcome(run_events, field, value):
    evs = run_events["process_wf_success"]
    s = store_of(evs)
    wf = s.workflows[OK_WF]
    assert wf.state == WorkflowState.SUCCEEDED
    end = next(e for e in evs if e.name == "stampede.xwf.end")
    bad = dict(end.data)
    bad[field] = value
    s.apply(decode(bad))
    assert s.warning_count == 1
    assert wf.state == WorkflowState.SUCCEEDED
    assert wf.status == 0


def test_records_without_ids_warn(run_events):
    s = store_of(run_events["process_wf_failure"])
    n = s.warning_count
    s.apply(decode({"event": "stampede.job_inst.main.end", "xwf_id": FAIL_WF, "exitcode": 0}))
    s.apply(decode({"event": "stampede.inv.end", "xwf_id": FAIL_WF, "job_id": "ls_ID0000001", "job_inst_id": 3}))
    s.apply(decode({"event": "transfer.inv.go", "status": "ACTIVE"}))
    s.apply(decode({"event": "kickstart.inv.online", "ts": 1552869746}))
    assert s.warning_count == n + 4
    assert s.find_job(FAIL_WF, "ls_ID0000001").exit_code == 2


def test_integrity_metric_with_a_bad_field_warns_and_keeps_what_it_had(run_events):
    evs = run_events["process_wf_success"]
    s = store_of(evs)
    wf = s.workflows[OK_WF]
    before = dict(wf.integrity)
    assert len(before) == 2
    metric = next(e for e in evs if e.name == "stampede.int.metric")
    for field, value in (("count", "many"), ("duration", [0.1]), ("job_inst_id", None), ("type", None)):
        n = s.warning_count
        s.apply(decode({**metric.data, field: value}))
        assert s.warning_count == n + 1, field
    assert wf.integrity == before
    # The payload block monitord turned into stampede.int.metric, as a collector
    # publishes it live: known, and not counted a second time.
    s.apply(decode({"event": "int.metric", "xwf_id": OK_WF, "job_id": "stage_out_local_local_0_0",
                    "payload_event": "check", "file_type": "output", "succeeded": 1, "failed": 0,
                    "duration": "0.141", "ts": 1677911077}))
    assert wf.integrity == before and not s.unknown


# -- kickstart traces ----------------------------------------------------------------------


@pytest.fixture
def kickstart(panorama_dir) -> dict:
    return json.loads((panorama_dir / "kickstart.inv.online.json").read_text())


KS_WF = "0a114f53-f208-44da-9b5c-9c30edcf49c6"


def test_kickstart_sample_makes_a_series(kickstart):
    s = Store()
    s.apply(decode(kickstart))
    job = s.find_job(KS_WF, "individuals_ID0000001")
    assert job is not None
    assert job.transformation == "individuals"
    assert s.workflows[KS_WF].label == "1000genome-20190317T235728Z"
    series = job.series
    assert series.sample_count == 1
    assert series.hostname == "workers1-1"
    assert series.pid == 29304
    assert series.threads == 6 and series.procs == 5
    ts, cpu_pct, rss, rd, wr = series.latest()
    assert ts == kickstart["ts"]
    assert rss == 25004 * 1024  # kB -> bytes
    assert cpu_pct == 0.0  # one sample: no rate yet
    cpu, peak, rd_total, wr_total = series.totals()
    assert cpu == pytest.approx(8.4 + 1.57)
    assert peak == 25004 * 1024
    assert rd_total == 0
    assert wr_total == 74547200
    # not in the plan: not counted as a job by pegasus-statistics rules
    assert summarize(s, s.workflows[KS_WF]).jobs.total == 0


def test_two_kickstart_samples_give_a_cpu_rate(kickstart):
    later = dict(kickstart)
    later["ts"] = kickstart["ts"] + 10.0
    later["utime"] = kickstart["utime"] + 5.0
    later["stime"] = kickstart["stime"] + 1.0
    later["bwrite"] = kickstart["bwrite"] + 1_000_000
    later["rss"] = 30000
    for order in ([kickstart, later], [later, kickstart]):
        s = Store()
        for d in order:
            s.apply(decode(d))
        series = s.find_job(KS_WF, "individuals_ID0000001").series
        assert series.sample_count == 2
        rates = series.rates()
        assert len(rates) == 1
        ts, cpu_pct, rss, rd_rate, wr_rate = rates[0]
        assert ts == later["ts"]
        assert cpu_pct == pytest.approx(60.0)  # 6 CPU seconds in 10 s
        assert rss == 30000 * 1024
        assert wr_rate == pytest.approx(100_000.0)
        assert rd_rate == 0.0


def test_duplicate_kickstart_samples_are_ignored(kickstart):
    s = Store()
    for _ in range(3):
        s.apply(decode(dict(kickstart)))
    series = s.find_job(KS_WF, "individuals_ID0000001").series
    assert series.sample_count == 1
    assert series.rates() == []


@pytest.mark.parametrize("field,value", [("utime", "abc"), ("rss", [1]), ("bwrite", {"x": 1})])
def test_kickstart_sample_with_a_broken_counter_is_dropped(kickstart, field, value):
    later = dict(kickstart, ts=kickstart["ts"] + 10.0)
    later[field] = value
    s = Store()
    s.apply(decode(kickstart))
    s.apply(decode(later))  # must not raise
    assert s.warning_count == 1
    series = s.find_job(KS_WF, "individuals_ID0000001").series
    assert series.sample_count == 1
    assert series.rates() == []


def test_kickstart_ranks_are_separate_series(kickstart):
    r1 = dict(kickstart, rank=1)
    s = Store()
    s.apply(decode(kickstart))
    s.apply(decode(r1))
    series = s.find_job(KS_WF, "individuals_ID0000001").series
    assert sorted(series.ranks) == [0, 1]
    assert series.latest()[2] == 2 * 25004 * 1024


# -- transfers --------------------------------------------------------------------------------


@pytest.fixture
def transfer(panorama_dir) -> dict:
    return json.loads((panorama_dir / "transfer.inv.go.json").read_text())


TASK = "68df23b8-4916-11e9-9e69-0266b1fe9f9e"


def _active(transfer, nbytes, files, ts):
    d = dict(transfer)
    d.update(status="ACTIVE", bytes_transferred=nbytes, files_transferred=files, completion_time=None)
    d["@timestamp"] = ts
    return d


def test_transfer_sample_goes_to_store_transfers(transfer):
    s = Store()
    s.apply(decode(transfer))
    tr = s.transfers[TASK]
    assert tr.status == "SUCCEEDED"
    assert tr.is_final
    assert tr.get("bytes_transferred") == 32248
    assert tr.get("files_transferred") == 2
    assert tr.wf_uuid == KS_WF
    assert tr.job_id == "stage_in_local_local_2_2"
    job = s.find_job(KS_WF, "stage_in_local_local_2_2")
    assert job.transfers == [TASK]


def test_transfer_progress_then_final(transfer):
    s = Store()
    s.apply(decode(_active(transfer, 1000, 0, "2019-03-18T00:40:22Z")))
    assert s.transfers[TASK].status == "ACTIVE"
    assert not s.transfers[TASK].is_final
    s.apply(decode(_active(transfer, 16000, 1, "2019-03-18T00:40:25Z")))
    assert s.transfers[TASK].get("bytes_transferred") == 16000
    s.apply(decode(transfer))
    assert s.transfers[TASK].status == "SUCCEEDED"
    assert s.transfers[TASK].get("bytes_transferred") == 32248


def test_older_transfer_report_does_not_regress_a_final_one(transfer):
    s = Store()
    s.apply(decode(transfer))
    s.apply(decode(_active(transfer, 1000, 0, "2019-03-18T00:40:22Z")))
    s.apply(decode(_active(transfer, 16000, 1, "2019-03-18T00:40:25Z")))
    tr = s.transfers[TASK]
    assert tr.status == "SUCCEEDED"
    assert tr.get("bytes_transferred") == 32248
    assert s.find_job(KS_WF, "stage_in_local_local_2_2").transfers == [TASK]
    # the same report again changes nothing
    s.apply(decode(transfer))
    assert len(s.transfers) == 1


# -- darshan ------------------------------------------------------------------------------------


def test_darshan_attaches_to_its_job(panorama_dir):
    obj = json.loads((panorama_dir / "darshan.perf.as-stored.json").read_text())
    s = Store()
    s.apply(decode(obj))
    s.apply(decode(copy.deepcopy(obj)))  # the same record twice: one entry
    job = s.find_job("e8c30de5-6bb2-4b38-a000-2b719e688e38", "namd_ID0000002")
    assert job is not None
    assert len(job.darshan) == 1
    (rec,) = job.darshan.values()
    assert rec["POSIX_module_data"]["total_bytes"] == 403752
    assert rec["nprocs"] == 8
    assert s.event_names["darshan.perf"] == 2
    assert not s.unknown


def test_darshan_without_job_context_is_kept(panorama_dir):
    obj = json.loads((panorama_dir / "darshan.perf.as-stored.json").read_text())
    for k in ("xwf_id", "job_id"):
        obj.pop(k)
    s = Store()
    s.apply(decode(obj))
    jobs = [j for j in s.jobs() if j.darshan]
    assert [(j.wf.wf_uuid, j.job_id) for j in jobs] == [("unattributed", "1547")]  # Darshan's own job id
    assert s.warning_count == 0


# -- reset ------------------------------------------------------------------------------------


def test_reset_forgets_everything(run_events, store_snapshot):
    s = store_of(run_events["hierarchical_wf_success"])
    s.apply(decode({"event": "x.y"}))
    s.note_bad("garbage")
    s.reset()
    assert s.workflows == {} and s.transfers == {}
    assert s.event_count == 0 and s.bad_count == 0 and s.warning_count == 0
    assert not s.unknown and not s.failed_jobs()
    s.apply_many(run_events["hierarchical_wf_success"])
    assert store_snapshot(s) == store_snapshot(store_of(run_events["hierarchical_wf_success"]))


# -- order-independence of named details (regressions) ----------------------------------------


def test_rotated_output_file_names_win_in_any_order(run_events):
    """main.start names ``ls_ID0000001.out``; main.end the rotated ``.out.001``."""
    evs = [e for e in run_events["process_wf_failure"] if e.data.get("job_id") == "ls_ID0000001"]
    ends_first = sorted(evs, key=lambda e: e.name != "stampede.job_inst.main.end")
    for order in (evs, ends_first):
        t = store_of(order).find_job(FAIL_WF, "ls_ID0000001").tries[3]
        assert t.stdout_file == "00/00/ls_ID0000001.out.001"
        assert t.stderr_file == "00/00/ls_ID0000001.err.001"


def test_job_transformation_does_not_depend_on_order(run_events):
    """The sub-workflow job's planned task is pegasus-plan; its invocation is dagman."""
    evs = [e for e in run_events["hierarchical_wf_success"] if e.data.get("xwf_id") == ROOT_WF]
    inv_first = sorted(evs, key=lambda e: e.name != "stampede.inv.end")
    for order in (evs, inv_first, list(reversed(evs))):
        job = store_of(order).find_job(ROOT_WF, "pegasus-plan_diamond_subworkflow")
        assert job.transformation == "pegasus::pegasus-plan:5.0.5"
    # an auxiliary job (no task) is named by its kickstart invocation
    job = store_of(evs).find_job(ROOT_WF, "stage_in_local_local_1_0")
    assert job.transformation == "pegasus::transfer"
