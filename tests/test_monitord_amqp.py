"""The real pegasus-monitord publishes a replayed submit dir over AMQP; panorama-top subscribes.

monitord (``pegasus-wms`` 5.1.3) runs in replay mode (``-r``) on a copy of a
shared submit dir, with its AMQP sink (``pegasus.catalog.workflow.amqp.url``,
all events) pointed at vhost ``panorama``, exchange ``monitoring`` -- the
Panorama deployment's names.  monitord cannot address the default vhost ``/``
(it neither URL-decodes ``%2F`` nor accepts an empty vhost), so the test runs a
RabbitMQ node of its own and creates the vhost there.  ``TZ`` is
America/Los_Angeles as for the shared replay files (dagman.out times are naive
local times).  The store built from what arrived must equal the one built from
the shared ``events.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest

try:
    from broker import PrivateNode, in_ci, require_broker, wait_until
except ImportError:  # pragma: no cover
    from tests.broker import PrivateNode, in_ci, require_broker, wait_until

from panorama_tui.pipeline.ingest import Ingest, run_to_end
from panorama_tui.core.recorder import Recorder, read_records
from panorama_tui.sources.amqp import AmqpSource
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.stats.counts import summarize
from panorama_tui.model.store import Store

pytestmark = pytest.mark.broker

DAGS = {"process_wf_failure": "process-0.dag.dagman.out", "process_wf_success": "process-0.dag.dagman.out"}
# What monitord writes while it works; the copy starts without them, as a fresh run would.
MONITORD_STATE = ("process-0.stampede.db", "jobstate.log", "monitord.info", "monitord.log.000",
                  "monitord.started", "monitord.subwf", "monitord.done", "monitord.pid")


def _monitord_script() -> str | None:
    try:
        import Pegasus
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(Pegasus.__file__), "cli", "pegasus-monitord.py")
    return path if os.path.exists(path) else None


def _need(what: str):
    if in_ci():
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    require_broker()
    try:
        n = PrivateNode(tmp_path_factory.mktemp("rabbit"))
        n.start()
    except Exception as exc:
        _need(f"cannot start a private RabbitMQ node: {exc}")
    try:
        for args in (("add_vhost", "panorama"), ("set_permissions", "-p", "panorama", "guest", ".*", ".*", ".*")):
            r = n._ctl(*args)
            assert r.returncode == 0, r.stderr
        yield n
    finally:
        n.shutdown()


@pytest.mark.parametrize("run", sorted(DAGS))
def test_monitord_over_amqp_builds_the_same_store(node, tmp_path, shared_data, replay_dir, run):
    script = _monitord_script()
    if script is None:
        _need("pegasus-wms (pegasus-monitord) is not installed")
    url = f"amqp://guest:guest@127.0.0.1:{node.port}/panorama/monitoring"
    sub = tmp_path / run
    shutil.copytree(shared_data / "pegasus" / "submitdirs" / run, sub)
    for name in MONITORD_STATE:
        p = sub / name
        if p.exists():
            p.unlink()
    for p in [sub, *sub.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    props = tmp_path / "monitord.properties"
    props.write_text(f"pegasus.catalog.workflow.amqp.url = {url}\npegasus.catalog.workflow.amqp.events = *\n")

    src = AmqpSource(url)  # defaults: the four Panorama bindings
    assert src.url.vhost == "panorama" and src.url.exchange == "monitoring"
    store = Store()
    recorder = Recorder(str(tmp_path / "live.panorama.db"), source=src.label)
    ing = Ingest(src, store, recorder).start()
    try:
        assert wait_until(lambda: src.status.state == "connected", 20), src.status
        env = dict(os.environ, TZ="America/Los_Angeles")
        r = subprocess.run(
            [sys.executable, script, "-r", "--no-notifications", "--conf", str(props), DAGS[run]],
            cwd=sub, env=env, capture_output=True, text=True, timeout=180,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        expected_lines = (replay_dir / run / "events.json").read_text().splitlines()
        assert wait_until(lambda: store.event_count >= len(expected_lines), 20), (store.event_count, len(expected_lines))
        assert not wait_until(lambda: store.event_count > len(expected_lines), 1)
    finally:
        ing.stop(5)  # also closes the recording
    assert ing.error is None and store.bad_count == 0

    ref = run_to_end(JsonLogSource(str(replay_dir / run / "events.json"), follow=False), Store())
    assert set(store.workflows) == set(ref.workflows)
    root = ref.roots[0]
    assert summarize(store, store.workflows[root.wf_uuid]) == summarize(ref, root)
    assert store.event_names == ref.event_names
    for job_id, job in root.jobs.items():
        mine = store.workflows[root.wf_uuid].jobs[job_id]
        assert (mine.state, mine.exit_code, len(mine.tries)) == (job.state, job.exit_code, len(job.tries)), job_id
    # And the messages are monitord's JSON wire format, the shared events.json line for line.
    assert src.status.detail["received"] == len(expected_lines)
    bodies = [b for _, b in read_records(str(tmp_path / "live.panorama.db"))]
    canon = lambda text: json.dumps(json.loads(text), sort_keys=True)  # noqa: E731
    assert Counter(map(canon, bodies)) == Counter(map(canon, expected_lines))
