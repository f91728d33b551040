"""The real pegasus-monitord writes; panorama-top follows it live.

pegasus-monitord (``pegasus-wms`` 5.1.3) replays (``-r``) a copy of a shared
submit dir, as the shared replay files were made (``TZ=America/Los_Angeles``:
dagman.out times are naive local times), slowed down with its own developer
option ``-S`` (ms of sleep per dagman.out line) so the run takes seconds.  It
writes the Stampede DB, jobstate.log, a JSON event log (a second event sink,
``pegasus.catalog.workflow.events.url = file://...``, JSON encoding) and the
master DB in ``$HOME/.pegasus``.  Meanwhile, in this process:

* a :class:`StampedeDbSource` follows the DB,
* a :class:`SubmitDirSource` follows the submit dir (DB + jobstate.log overlay),
* a :class:`JsonLogSource` follows the event log,

each through :class:`Ingest` into its own store.  At the end every store equals
a fresh read of the finished DB, and the real pegasus-statistics, run on the
result, agrees with pegstats.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from panorama_tui.pipeline.ingest import Ingest
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.pegasus.master_db import list_workflows
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.pipeline.read import read_stampede_db as read_store
from panorama_tui.sources.pegasus.submitdir import SubmitDirSource, find_submit_dir
from panorama_tui.model.store import Store

from .test_pegstats import check_against_csv

RUNS = {
    "process_wf_failure": ("process-0.dag.dagman.out", "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3", "failed"),
    "hierarchical_wf_success": ("hierarchical-workflow-0.dag.dagman.out", "48f759a4-165f-47d6-8c32-571649ce311b",
                                "succeeded"),
}
MONITORD_STATE = ("jobstate.log", "monitord.info", "monitord.log.000", "monitord.started", "monitord.subwf",
                  "monitord.done", "monitord.pid", "monitord.recover")
MILLISLEEP = "8"  # per dagman.out line: the failure run takes ~3 s, the hierarchical one ~5 s
TZ = "America/Los_Angeles"


def _script(name: str) -> str:
    try:
        import Pegasus
    except ImportError:
        pytest.skip("pegasus-wms is not installed")
    path = os.path.join(os.path.dirname(Pegasus.__file__), "cli", name)
    if not os.path.exists(path):
        pytest.skip(f"{name} not found in pegasus-wms")
    return path


def _wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.mark.parametrize("run", sorted(RUNS))
def test_monitord_live(tmp_path, shared_data, run, store_snapshot, expected_summary, child_env):
    monitord = _script("pegasus-monitord.py")
    statistics = _script("pegasus-statistics.py")
    dagman_out, root_uuid, final_state = RUNS[run]
    sub = tmp_path / run
    shutil.copytree(shared_data / "pegasus" / "submitdirs" / run, sub)
    for p in [sub, *sub.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    for name in MONITORD_STATE:
        if (sub / name).exists():
            (sub / name).unlink()
    for db in sub.glob("*.stampede.db"):
        db.unlink()
    home = tmp_path / "home"
    home.mkdir()
    events_log = tmp_path / "events-live.json"
    props = tmp_path / "monitord.properties"
    props.write_text(f"pegasus.catalog.workflow.events.url = file://{events_log}\npegasus.monitord.encoding = json\n")

    sd = find_submit_dir(str(sub))
    assert sd.db_path == str(sub / DB_NAME(dagman_out)) and "no Stampede DB yet" in sd.message
    stores = {"db": Store(), "submitdir": Store(), "events": Store()}
    ingests = {
        "db": Ingest(StampedeDbSource(sd.db_path, follow=True, poll=0.05), stores["db"]).start(),
        "submitdir": Ingest(SubmitDirSource(sd, follow=True, poll=0.05), stores["submitdir"]).start(),
    }
    env = child_env() | {"TZ": TZ, "HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, monitord, "-r", "--no-notifications", "--conf", str(props), "-S", MILLISLEEP, dagman_out],
        cwd=sub, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    ahead = 0  # samples where the overlay showed job states the DB did not have yet
    samples = 0
    try:
        deadline = time.monotonic() + 90
        while proc.poll() is None and time.monotonic() < deadline:
            if "events" not in ingests and events_log.exists():
                ingests["events"] = Ingest(JsonLogSource(str(events_log), follow=True, poll=0.05),
                                           stores["events"]).start()
            with stores["db"].lock:
                n_db = sum(t.state_count() for j in stores["db"].jobs() for t in j.tries.values())
            with stores["submitdir"].lock:
                n_sd = sum(t.state_count() for j in stores["submitdir"].jobs() for t in j.tries.values())
            samples += 1
            ahead += n_sd > n_db
            time.sleep(0.05)
        _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert proc.returncode == 0, err[-2000:]
        if "events" not in ingests:
            ingests["events"] = Ingest(JsonLogSource(str(events_log), follow=True, poll=0.05), stores["events"]).start()

        final = read_store(sd.db_path)  # a fresh read of the finished DB
        want = store_snapshot(final)
        for name, store in stores.items():
            def caught_up(store=store):
                with store.lock:
                    return store_snapshot(store) == want
            assert _wait(caught_up, 20), f"{name} store differs from the finished DB"
    finally:
        if proc.poll() is None:
            proc.kill()
        for ing in ingests.values():
            ing.stop(5)
    for name, ing in ingests.items():
        assert ing.error is None, (name, ing.error)
        assert stores[name].bad_count == 0, name
    db_src = ingests["db"].source
    assert db_src.changed_polls >= 2 and db_src.busy_polls < db_src.polls  # it followed, never stuck on locks
    assert samples > 10 and ahead > 0, (samples, ahead)  # jobstate.log showed states before the DB had them
    assert final.workflows[root_uuid].state == final_state

    # monitord registered the run in the master DB in $HOME/.pegasus
    (w,) = [w for w in list_workflows(str(home / ".pegasus" / "workflow.db"), progress=True)
            if w["wf_uuid"] == root_uuid]
    assert w["state"] == final_state and w["db_path"] == sd.db_path and w["progress"]["total"] > 0

    # the real pegasus-statistics on the result agrees with pegstats
    out = tmp_path / "statistics"
    r = subprocess.run([sys.executable, statistics, "-s", "all", "-f", "csv", "-o", str(out), str(sub)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    for store in (final, stores["db"], stores["submitdir"]):
        check_against_csv(store, store.workflows[root_uuid], out, expected_summary)


def DB_NAME(dagman_out: str) -> str:
    return dagman_out.split(".dag")[0] + ".stampede.db"
