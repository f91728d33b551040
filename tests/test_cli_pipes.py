"""Pipes at both ends: a reader that leaves (``| head``), and streams as input (``<(...)``, FIFOs).

Every case runs the real command in a child interpreter with real pipes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = {
    "panorama-top": "panorama_tui.cli.top",
    "panorama-collect": "panorama_tui.cli.collect",
    "panorama-monitor": "panorama_tui.collectors.monitor",
    "panorama-darshan": "panorama_tui.collectors.darshan",
    "panorama-globus": "panorama_tui.collectors.globus",
}


def run_into_closed_pipe(module, args, repo_root, env, tmp_path, timeout=120):
    """Run ``python -m module args`` with stdout a pipe whose reader has already gone."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run(
            [sys.executable, "-m", module, *map(str, args)],
            cwd=str(repo_root), env=env | {"TMPDIR": str(tmp_path)}, stdout=w, stderr=subprocess.PIPE,
            text=True, timeout=timeout,
        )
    finally:
        os.close(w)


def error_files(tmp_path) -> list[str]:
    return [f for f in os.listdir(tmp_path) if f.startswith("panorama-top-error-")]


# -- a reader that leaves -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--once"], ["--once", "--json"]])
def test_once_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path, replay_dir, args):
    proc = run_into_closed_pipe("panorama_tui.cli.top", [*args, replay_dir / "process_wf_failure" / "events.json"],
                                repo_root, child_env(), tmp_path)
    assert proc.stderr == ""
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports any filter whose reader left
    assert error_files(tmp_path) == []


def test_stats_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path, replay_dir):
    db = replay_dir / "process_wf_failure" / "process-0.stampede.db"
    proc = run_into_closed_pipe("panorama_tui.cli.top", ["--stats", "--json", db], repo_root, child_env(), tmp_path)
    assert (proc.returncode, proc.stderr) == (141, "")
    assert error_files(tmp_path) == []


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_help_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path, prog):
    proc = run_into_closed_pipe(COMMANDS[prog], ["--help"], repo_root, child_env(), tmp_path)
    assert proc.stderr == ""
    assert proc.returncode in (0, 141)  # argparse itself ignores a failed write of the help


def test_once_piped_to_head(repo_root, child_env, tmp_path, replay_dir):
    """The shell's own pipeline: whichever of the two ends first, nothing on stderr."""
    events = replay_dir / "hierarchical_wf_success" / "events.json"
    proc = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m panorama_tui.cli.top --once --json "{events}" | head -1; '
                       'echo "status ${PIPESTATUS[0]}"'],
        cwd=str(repo_root), env=child_env() | {"TMPDIR": str(tmp_path)}, capture_output=True, text=True, timeout=120,
    )
    assert proc.stderr == ""
    first, status = proc.stdout.splitlines()
    assert first == "{"
    assert status in ("status 0", "status 141")  # the whole answer fitted the pipe, or head left first
    assert error_files(tmp_path) == []


def test_darshan_payload_into_a_closed_pipe_ends_quietly(repo_root, child_env, tmp_path):
    import darshan  # a test dependency: its absence fails the test

    log = os.path.join(os.path.dirname(darshan.__file__), "tests", "input", "sample.darshan")
    proc = run_into_closed_pipe("panorama_tui.collectors.darshan", ["--payload", log], repo_root, child_env(), tmp_path)
    assert (proc.returncode, proc.stderr) == (141, "")


# -- streams as input ------------------------------------------------------------------------


def cli(repo_root, env, tmp_path, *args, shell: str | None = None, timeout=60, **kw):
    cmd = [sys.executable, "-m", "panorama_tui.cli.top", *map(str, args)]
    if shell is not None:  # bash: <(...) and pipes as a user writes them
        cmd = ["bash", "-c", shell.replace("PANORAMA_TOP", f'"{sys.executable}" -m panorama_tui.cli.top')]
    proc = subprocess.run(cmd, cwd=str(repo_root), env=env | {"TMPDIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=timeout, **kw)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert error_files(tmp_path) == []
    return proc


def answer(proc) -> dict:
    import json

    data = json.loads(proc.stdout)
    data.pop("source")
    return data


@pytest.mark.parametrize("name", ["events.json", "events.bp"])
def test_once_on_process_substitution_reads_every_event(repo_root, child_env, tmp_path, replay_dir, name):
    """<(cat events.json): detection used to eat the first 64 KiB of the pipe (0 events)."""
    events = replay_dir / "process_wf_failure" / name
    want = cli(repo_root, child_env(), tmp_path, "--once", "--json", events)
    got = cli(repo_root, child_env(), tmp_path, shell=f'PANORAMA_TOP --once --json <(cat "{events}")')
    assert (got.returncode, got.stderr) == (1, "")
    assert answer(got) == answer(want)
    assert answer(got)["events"] == 75


def test_once_on_stdin_through_dev_stdin(repo_root, child_env, tmp_path, replay_dir):
    events = replay_dir / "hierarchical_wf_success" / "events.json"
    want = cli(repo_root, child_env(), tmp_path, "--once", "--json", events)
    got = cli(repo_root, child_env(), tmp_path, shell=f'cat "{events}" | PANORAMA_TOP --once --json /dev/stdin')
    assert (got.returncode, got.stderr) == (0, "")
    assert answer(got) == answer(want)


def test_once_on_an_empty_pipe_has_nothing_started(repo_root, child_env, tmp_path):
    got = cli(repo_root, child_env(), tmp_path, shell="PANORAMA_TOP --once <(true)")
    assert got.returncode == 2, got.stderr
    assert "no workflow found" in got.stdout


def test_once_on_a_fifo_waits_visibly_for_its_writer(repo_root, child_env, tmp_path, replay_dir):
    events = replay_dir / "process_wf_failure" / "events.json"
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "panorama_tui.cli.top", "--once", "--json", str(fifo)],
                            cwd=str(repo_root), env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stderr.readline()  # said once, while nothing has been written
        assert line == f"panorama-top: waiting for a writer on {fifo}\n"
        with open(fifo, "wb") as w:
            w.write(events.read_bytes())
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err) == (1, "")
    assert '"events": 75' in out


def test_no_follow_on_a_fifo_without_writer_fails_at_once(repo_root, child_env, tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    for args in (["--once", "--no-follow"], ["--no-follow"]):
        proc = cli(repo_root, child_env(), tmp_path, *args, fifo, timeout=30)
        assert proc.returncode == 3
        assert proc.stderr == f"panorama-top: {fifo}: a FIFO with no writer (--no-follow waits for none)\n"


def test_a_socket_or_a_device_is_one_line(repo_root, child_env, tmp_path):
    import socket

    sock_path = tmp_path / "s.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_path))
    try:
        for path, what in ((sock_path, "a socket"), ("/dev/null", "a character device")):
            proc = cli(repo_root, child_env(), tmp_path, "--once", path, timeout=30)
            assert proc.returncode == 3, proc.stdout
            assert proc.stderr == f"panorama-top: {path}: {what}, not a file panorama-top can read\n"
    finally:
        s.close()


# -- the screen says what it waits for ------------------------------------------------------------


def test_the_status_line_says_which_log_it_waits_for(tmp_path, replay_dir):
    import asyncio

    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.jsonlog import JsonLogSource
    from panorama_tui.model.store import Store
    from panorama_tui.ui.app import PanoramaApp

    from .test_ui import text_of

    path = tmp_path / "run" / "events.json"
    store = Store()
    ingest = Ingest(JsonLogSource(str(path), follow=True, poll=0.02, bp=None), store).start()
    app = PanoramaApp(store, ingest=ingest, live=True, source_label="events", monotonic=lambda: 0.0)

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            app.refresh_all(full=True)
            await pilot.pause()
            assert f"waiting for {path}" in text_of(app.query_one("#status"))
            path.parent.mkdir()
            path.write_bytes((replay_dir / "process_wf_failure" / "events.json").read_bytes())
            for _ in range(200):
                await asyncio.sleep(0.02)
                if store.event_count == 75:
                    break
            app.refresh_all(full=True)
            await pilot.pause()
            assert "waiting for" not in text_of(app.query_one("#status"))
            assert "75 events" in text_of(app.query_one("#status"))

    try:
        asyncio.run(go())
    finally:
        ingest.stop()


def test_a_one_line_bp_stream_without_newline_is_read_as_bp(repo_root, child_env, tmp_path, replay_dir):
    first = (replay_dir / "process_wf_failure" / "events.bp").read_bytes().split(b"\n")[0]
    (tmp_path / "one.bp").write_bytes(first)  # no newline at the end
    got = cli(repo_root, child_env(), tmp_path, shell=f'PANORAMA_TOP --once --json <(cat "{tmp_path / "one.bp"}")')
    assert '"events": 1' in got.stdout and '"bad_records": 0' in got.stdout, got.stdout
