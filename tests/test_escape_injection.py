"""Terminal escape injection: strings from an input never reach the terminal raw.

The usual attacks (set the window title with ESC ] 0 ; ... BEL, clear the
screen with ESC [ 2 J, a colour, an 8-bit CSI 0x9b, a carriage return) go into
the workflow label, job ids, hosts, sites, transformations, held reasons and the
job's output of the real failed run, through every input kind: monitord's JSON
event log and its BP log, an AMQP message on the real broker, Stampede DB
cells and a recording.  What a user sees (the Pilot screen, ``--once`` text
and JSON, ``--stats`` text and JSON) holds the strings with their control
characters made visible (``^[]0;PWNED^G``) and no raw control character.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from urllib.parse import quote

import pytest

from panorama_tui.core.events import decode, parse_bp_line
from panorama_tui.core.fmt import visible
from panorama_tui.pipeline.ingest import Ingest, run_to_end
from panorama_tui.core.recorder import Recorder
from panorama_tui.sources.jsonlog import JsonLogSource
from panorama_tui.sources.replay import ReplayControl, ReplaySource
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource
from panorama_tui.model.store import Store

from .broker import require_broker, url_for, wait_until

ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b[31m\x9b6n\rX"
SHOWN = "^[]0;PWNED^G^[[2J^[[31m\\x9b6n^MX"
# what a terminal acts on: C0 but newline and tab, DEL, C1
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
RUN = "process_wf_failure"
FAILED_JOB = "ls_ID0000001"
# the fields a view shows, and the failed job's id wherever a record names it
SHOWN_FIELDS = {"dax_label", "hostname", "site", "transformation", "reason", "user", "sched_id", "argv",
                "executable", "stdout_file", "work_dir"}
ID_FIELDS = {"job_id", "exec_job_id", "parent_job_id", "child_job_id"}


def test_visible_shows_controls_as_less_and_ls_do():
    assert visible(ESCAPES) == SHOWN
    assert visible("plain ascii, ünïcödé ✓") == "plain ascii, ünïcödé ✓"
    assert visible("a\tb\nc\x7f") == "a^Ib^Jc^?"
    assert visible("line 1\r\nline\t2\n\x1b[2J", text=True) == "line 1\nline\t2\n^[[2J"
    assert visible("lone \ud800 surrogate") == "lone \ufffd surrogate"


def spoil_record(d: dict) -> dict:
    """The record with the escapes in every shown field and in the failed job's id."""
    out = {}
    for k, v in d.items():
        if isinstance(v, str) and (k in SHOWN_FIELDS or (k in ID_FIELDS and v == FAILED_JOB)):
            v = ESCAPES + v
        elif k in ("stdout_text", "stderr_text") and isinstance(v, str):
            v = quote(ESCAPES) + "%0A" + v  # monitord URL-quotes the job's output
        out[k] = v
    return out


def spoiled_json_lines(replay_dir) -> list[str]:
    lines = [json.dumps(spoil_record(json.loads(ln))) for ln in (replay_dir / RUN / "events.json").read_text().splitlines()]
    # an unknown event name and a line that is not JSON: the Warnings panel quotes both
    lines.append(json.dumps({"event": "stampede.x" + ESCAPES, "xwf_id": "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"}))
    lines.append("not json " + ESCAPES)
    return lines


def spoiled_bp_lines(replay_dir) -> list[str]:
    out = []
    for ln in (replay_dir / RUN / "events.bp").read_text().splitlines():
        d = parse_bp_line(ln)
        d = {k: (ESCAPES + v if k.replace(".", "_") in SHOWN_FIELDS | ID_FIELDS and (k.replace(".", "_") not in ID_FIELDS
                                                                                        or v == FAILED_JOB) else v)
             for k, v in d.items()}
        out.append(" ".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                            for k, v in d.items()))
    return out


def spoiled_db(replay_dir, tmp_path):
    db = tmp_path / "spoiled.stampede.db"
    shutil.copy(replay_dir / RUN / "process-0.stampede.db", db)
    esc = "char(27)||']0;PWNED'||char(7)||char(27)||'[2J'||char(27)||'[31m'||char(155)||'6n'||char(13)||'X'"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"UPDATE workflow SET dax_label = {esc} || dax_label")
        conn.execute(f"UPDATE job SET exec_job_id = {esc} || exec_job_id WHERE exec_job_id = ?", (FAILED_JOB,))
        conn.execute(f"UPDATE host SET hostname = {esc} || hostname, site = {esc} || site")
        conn.execute(f"UPDATE job_instance SET site = {esc} || site, stdout_text = {esc} || stdout_text")
        conn.execute(f"UPDATE invocation SET transformation = {esc} || transformation")
    conn.close()
    return db


def write_recording(path, lines) -> None:
    rec = Recorder(str(path), source="test")
    try:
        rec.append_timed((1_700_000_000.0 + i, None, ln) for i, ln in enumerate(lines))
    finally:
        rec.close()


def assert_clean(text: str, where: str, shown: str = "PWNED") -> None:
    raw = RAW_CONTROL.search(text)
    assert raw is None, f"{where}: raw {raw.group()!r} in ...{text[max(0, raw.start() - 60):raw.end() + 20]!r}"
    assert shown in text, f"{where}: the spoiled strings did not reach the output at all"


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def inputs(replay_dir, tmp_path):
    """{kind: path} of the spoiled run in each file kind."""
    (tmp_path / "events.json").write_text("\n".join(spoiled_json_lines(replay_dir)) + "\n")
    (tmp_path / "events.bp").write_text("\n".join(spoiled_bp_lines(replay_dir)) + "\n")
    write_recording(tmp_path / "spoiled.panorama.db", spoiled_json_lines(replay_dir))
    return {"json log": tmp_path / "events.json", "BP log": tmp_path / "events.bp",
            "recording": tmp_path / "spoiled.panorama.db", "Stampede DB": spoiled_db(replay_dir, tmp_path)}


def run_cli(repo_root, child_env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)], cwd=str(repo_root),
                          env=child_env(), capture_output=True, timeout=120)


@pytest.mark.parametrize("kind", ["json log", "BP log", "recording", "Stampede DB"])
def test_once_text_and_json_show_the_strings_made_visible(kind, inputs, repo_root, child_env):
    for args in (["--once"], ["--once", "--json"], ["--report"], ["--report", "--json"]):
        p = run_cli(repo_root, child_env, *args, inputs[kind])
        assert p.returncode == 1, p.stderr  # the run failed, as before: the strings changed nothing else
        out = p.stdout.decode()
        assert_clean(out + p.stderr.decode(), f"{kind} {' '.join(args)}")
        if args in (["--once"], ["--report"]):
            assert "^[]0;PWNED^G" in out  # the label and the failed job's id, made visible


def test_stats_text_and_json_show_the_strings_made_visible(inputs, repo_root, child_env):
    for args in (["--stats"], ["--stats", "--json"]):
        p = run_cli(repo_root, child_env, *args, inputs["Stampede DB"])
        assert p.returncode == 0, p.stderr
        text = p.stdout.decode()
        # the summary text has no strings; the JSON has them all (json escapes C0, not C1)
        assert_clean(text + p.stderr.decode(), f"Stampede DB {' '.join(args)}", "" if args == ["--stats"] else "PWNED")


# -- the screen ---------------------------------------------------------------------------------


def screen_text(app) -> str:
    """Every character of the screen as it goes to the terminal."""
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


def assert_screen_clean(store: Store, where: str) -> None:
    from panorama_tui.ui.app import PanoramaApp
    from panorama_tui.ui.widgets.joblist import JobList

    async def go():
        app = PanoramaApp(store, source_label="spoiled " + ESCAPES, live=False)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            jobs = app.query_one("#jobs", JobList)
            failed = next(j for j in jobs.rows if "PWNED" in j.job_id)
            assert jobs.select_job(failed)
            await pilot.pause(0.3)  # the detail panel draws once the cursor rests
            seen = [screen_text(app)]
            for panel in ("2", "4"):  # failed jobs (the analyzer's report), warnings
                await pilot.press(panel)
                await pilot.pause()
                seen.append(screen_text(app))
            await pilot.press("1", "enter")  # the job screen: tries, states, output
            await pilot.pause(0.3)
            seen.append(screen_text(app))
        assert not [w for w in store.warnings if "screen refresh failed" in w]
        for n, text in enumerate(seen):
            assert_clean(text, f"{where}, screen {n}")

    asyncio.run(go())


def test_screen_from_a_json_log(inputs):
    assert_screen_clean(run_to_end(JsonLogSource(str(inputs["json log"]), follow=False), Store()), "json log")


def test_screen_from_a_bp_log(inputs):
    assert_screen_clean(run_to_end(JsonLogSource(str(inputs["BP log"]), follow=False, bp=True), Store()), "BP log")


def test_screen_from_a_stampede_db(inputs):
    assert_screen_clean(run_to_end(StampedeDbSource(str(inputs["Stampede DB"]), follow=False), Store()), "Stampede DB")


def test_screen_from_a_recording(inputs):
    store = Store()
    control = ReplayControl(speed=0.0)
    ing = Ingest(ReplaySource(str(inputs["recording"]), control), store).start()
    try:
        assert wait_until(lambda: control.finished, 20)
    finally:
        ing.stop()
    assert_screen_clean(store, "recording")


@pytest.mark.broker
def test_screen_from_amqp_messages(admin, replay_dir):
    require_broker()
    from panorama_tui.sources.amqp import AmqpSource

    ex = admin.exchange()
    src = AmqpSource(url_for(ex))
    store = Store()
    ing = Ingest(src, store).start()
    try:
        assert wait_until(lambda: src.status.state == "connected", 15), src.status
        lines = spoiled_json_lines(replay_dir)
        for ln in lines:
            admin.publish(ex, "stampede.job_inst.main.end", ln.encode())
        assert wait_until(lambda: store.event_count + store.bad_count == len(lines), 15), store.event_count
    finally:
        src.stop()
        ing.thread.join(10)
    assert_screen_clean(store, "AMQP")


def test_brackets_from_an_input_are_text_not_markup(replay_dir):
    """Textual's markup is not Rich's: after rich.markup.escape a label "run [/x" still broke the
    header's markup (every refresh failed), a file named "events [/1.json" the status line's;
    and a control character made visible (^[) puts a [ in any string."""
    from panorama_tui.ui.app import PanoramaApp

    store = Store()
    label = "run [/x [/] [[2J x["
    for ln in (replay_dir / RUN / "events.json").read_text().splitlines():
        d = json.loads(ln)
        if d.get("event") == "stampede.wf.plan":
            d["dax_label"] = label
        store.apply(decode(d))

    async def go():
        app = PanoramaApp(store, source_label="events [/1.json", live=False)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            text = screen_text(app)
        assert not [w for w in store.warnings if "screen refresh failed" in w], list(store.warnings)
        assert label in text and "events [/1.json" in text

    asyncio.run(go())
