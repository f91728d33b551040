"""panorama-monitor under a real mpirun: one trace per rank, one job in the store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from panorama_tui.core.events import decode
from panorama_tui.model.store import Store

MPIRUN = shutil.which("mpirun")


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun (.ci/run installs Debian's openmpi-bin)")
def test_mpirun_gives_one_trace_per_rank(tmp_path):
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
    monitor = [sys.executable, "-m", "panorama_tui.collectors.monitor"]
    cmd = [MPIRUN, "--oversubscribe", "-n", "2"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += monitor + ["-i", "0.2", "--out", str(tmp_path / "trace-{rank}.jsonl"),
                      "--wf-uuid", "wf-mpi", "--dag-job-id", "namd_ID0000001", "--",
                      sys.executable, "-c", burn]
    proc = subprocess.run(cmd, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    store = Store()
    ranks = set()
    for rank in (0, 1):
        lines = (tmp_path / f"trace-{rank}.jsonl").read_text().splitlines()
        events = [json.loads(ln) for ln in lines if ln.strip()]
        assert {e["event"] for e in events} >= {"kickstart.inv.online", "kickstart.inv.summary"}
        assert {e["rank"] for e in events if e["event"] == "kickstart.inv.online"} == {rank}
        for e in events:
            store.apply(decode(e))
            if e["event"] == "kickstart.inv.online":
                ranks.add(e["rank"])
    job = store.find_job("wf-mpi", "namd_ID0000001")
    assert ranks == {0, 1}
    assert set(job.series.ranks) == {0, 1}
    cpu, peak, _, _ = job.series.totals()
    assert cpu >= 1.0  # two ranks burning ~0.6 s each
