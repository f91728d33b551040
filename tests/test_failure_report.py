"""The failed-job report shows at least what pegasus-analyzer prints (analyzer.txt)."""

from __future__ import annotations

import re

import pytest

from panorama_tui.pipeline.ingest import run_to_end
from panorama_tui.stats.job_report import failure_report
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.model.store import Store

RUN = "pegasus/monitord-replay/process_wf_failure"


def analyzer_facts(text: str) -> dict:
    """The ``key : value`` lines and the stderr block of analyzer.txt's failed job."""
    facts = {}
    for line in text.splitlines():
        m = re.match(
            r"\s*(last state|site|submit file|output file|error file|hostname|executable|exitcode|working dir)\s*:\s*(.+)$",
            line,
        )
        if m:
            facts.setdefault(m.group(1), m.group(2).strip())
    block = text.split("Kickstart stderr", 1)[1].split("\n", 1)[1]
    facts["stderr"] = [ln.strip() for ln in block.splitlines() if ln.strip() and "pegasus-analyzer" not in ln][:2]
    return facts


@pytest.mark.parametrize("source", ["events", "stampede-db"])
def test_failed_job_report_covers_the_analyzer(shared_data, source):
    run = shared_data / RUN
    if source == "events":
        src = JsonLogSource(str(run / "events.json"), follow=False)
    else:
        src = StampedeDbSource(str(run / "process-0.stampede.db"), follow=False)
    store = run_to_end(src, Store())
    failed = store.failed_jobs()
    assert [j.job_id for j in failed] == ["ls_ID0000001"]
    report = failure_report(failed[0])
    facts = analyzer_facts((run / "analyzer.txt").read_text())
    assert facts["last state"] == "POST_SCRIPT_FAILED" and facts["exitcode"] == "2"
    for key in (
        "last state",
        "site",
        "submit file",
        "output file",
        "error file",
        "hostname",
        "executable",
        "working dir",
    ):
        assert facts[key] in report, (key, facts[key])
    assert "exitcode   : 2" in report and "exit 2" in report
    for line in facts["stderr"]:
        assert line in report, line
