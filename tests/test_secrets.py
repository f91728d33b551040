"""Broker passwords stay secret: in error text whatever the URL holds, in ``ps``, and out of
the environment of the job panorama-monitor wraps.  Real commands, real processes, /proc."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from panorama_tui.transport.amqp_url import UrlError, parse, resolve

# Passwords (and a user) written as people write them, unescaped: each defeats URL-shaped masking.
FRAGMENTS = ("Xy7", "Qz9k")  # what must never show, of every password below
HOSTILE = [
    "amqp://panorama:Xy7#Qz9k@{host}/panorama/monitoring",
    "amqp://panorama:Xy7?Qz9k@{host}/panorama/monitoring",
    "amqp://panorama:Xy7/Qz9k@{host}/panorama/monitoring",
    "amqp://panorama:Xy7 Qz9k@{host}/panorama/monitoring",
    "amqp://me@site.org:Xy7Qz9k@{host}/panorama/monitoring",
    "amqp://panorama:Xy7:Qz9k@{host}:notaport/panorama/monitoring",
]


def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hostile(template: str) -> str:
    return template.format(host=f"127.0.0.1:{dead_port()}")


def assert_no_password(text: str) -> None:
    for frag in FRAGMENTS:
        assert frag not in text, text


@pytest.mark.parametrize("template", HOSTILE)
def test_parse_never_shows_the_password(template):
    url = hostile(template)
    try:
        u = parse(url)
    except UrlError as exc:
        assert_no_password(str(exc))
        assert "****" in str(exc)
    else:
        assert_no_password(u.masked + str(u) + repr(u) + u.redact(f"refused: {url}"))


def test_an_at_after_the_host_asks_for_escapes_without_showing_the_password():
    with pytest.raises(UrlError) as e:
        parse("amqp://panorama:Xy7/Qz9k@broker/panorama/monitoring")
    assert str(e.value) == ("bad AMQP URL amqp://panorama:****@broker/panorama/monitoring: an '@' after the host "
                            "(write '/', '?', '#' in a password as %2F, %3F, %23, and '@' in a name as %40)")


def run(module, *args, env, timeout=60, **kw):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.mark.parametrize("template", HOSTILE)
def test_error_lines_of_every_command_never_show_the_password(template, child_env, tmp_path, repo_root):
    url = hostile(template)
    env = child_env()
    top = run("panorama_tui.cli.top", "--once", "--amqp", url, env=env, cwd=repo_root)  # --once: no screen
    assert top.returncode == 3 and top.stderr.count("\n") == 1, top.stderr
    assert_no_password(top.stderr + top.stdout)
    collect = run("panorama_tui.cli.collect", "record", "--amqp", url, "--out", tmp_path / "r.panorama.db", "--no-wait",
                  env=env, cwd=repo_root)
    assert collect.returncode in (3, 69), collect.stderr
    assert_no_password(collect.stderr + collect.stdout)
    monitor = run("panorama_tui.collectors.monitor", "--amqp", url, "--out", tmp_path / "m.jsonl", "--flush-timeout", "0.5",
                  "--", "true", env=env, cwd=tmp_path)
    assert monitor.returncode in (0, 125), monitor.stderr
    assert_no_password(monitor.stderr + monitor.stdout)


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def wait_for_masked(proc, needle: str, seconds: float = 20.0) -> str:
    """The process's command line once the program had time to start (the mask comes with it).

    Empty, it is still in execve (the kernel sets the command line after Popen heard of the exec)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = cmdline(proc.pid)
        if line and needle not in line:
            return line
        time.sleep(0.05)
    return cmdline(proc.pid)


def test_ps_does_not_show_the_password_of_a_running_collector(child_env, tmp_path, repo_root):
    url = f"amqp://panorama:Xy7Qz9k-pw@127.0.0.1:{dead_port()}/panorama/monitoring"
    procs = [
        subprocess.Popen([sys.executable, "-m", "panorama_tui.cli.collect", "record", "--amqp", url,
                          "--out", str(tmp_path / "r.panorama.db")], env=child_env(), cwd=repo_root,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "panorama_tui.collectors.monitor", "--amqp", url,
                          "--out", str(tmp_path / "m.jsonl"), "--flush-timeout", "0", "--", "sleep", "30"],
                         env=child_env(), cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        for p in procs:
            line = wait_for_masked(p, "Xy7Qz9k-pw")
            assert "--amqp amqp://panorama:**********@127.0.0.1:" in line, line
            assert_no_password(line)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_ps_does_not_show_the_password_of_the_screen(child_env, repo_root):
    from .test_logging import run_screen_in_pty

    url = f"amqp://panorama:Xy7Qz9k-pw@127.0.0.1:{dead_port()}/panorama/monitoring"
    seen = []
    code, screen = run_screen_in_pty(["--amqp", url, "--no-record"], child_env(),
                                     on_start=lambda proc: seen.append(wait_for_masked(proc, "Xy7Qz9k-pw")))
    assert code == 0
    assert seen and "--amqp amqp://panorama:**********@" in seen[0]
    assert_no_password(seen[0] + screen)


def test_a_url_without_password_takes_it_from_the_environment_or_the_config(tmp_path):
    s = resolve("amqp://panorama@broker/panorama/monitoring", env={"PANORAMA_AMQP_PASSWORD": "Xy7#Qz9k"})
    assert parse(s.url).password == "Xy7#Qz9k"
    cfg = tmp_path / "config.toml"
    cfg.write_text('[amqp]\npassword = "Xy7#Qz9k"\n')
    s = resolve("amqp://panorama@broker/panorama/monitoring", env={}, config=str(cfg))
    assert parse(s.url).password == "Xy7#Qz9k"
    # a password in the URL wins; a URL without a user keeps the guest default
    s = resolve("amqp://panorama:given@broker/v/e", env={"PANORAMA_AMQP_PASSWORD": "Xy7#Qz9k"})
    assert parse(s.url).password == "given"
    s = resolve("amqp://broker/v/e", env={"PANORAMA_AMQP_PASSWORD": "Xy7#Qz9k"})
    assert parse(s.url).password == "guest"


def test_the_wrapped_job_never_sees_the_broker(child_env, tmp_path):
    """panorama-monitor's broker settings are its own: the job's environment has none of them."""
    url = f"amqp://panorama:Xy7Qz9k-pw@127.0.0.1:{dead_port()}/panorama/monitoring"
    env = child_env() | {"PANORAMA_AMQP_PASSWORD": "Xy7Qz9k-pw", "PANORAMA_MONITOR_AMQP": url,
                         "PANORAMA_AMQP_URL": url.replace(":Xy7Qz9k-pw", "")}
    p = run("panorama_tui.collectors.monitor", "--out", tmp_path / "m.jsonl", "--flush-timeout", "0", "--", "env",
            env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "PATH=" in p.stdout  # the job's own environment came through
    assert "PANORAMA_AMQP" not in p.stdout and "PANORAMA_MONITOR_AMQP" not in p.stdout
    assert_no_password(p.stdout + p.stderr)


def test_monitor_publishes_to_the_one_broker_variable(child_env, tmp_path):
    """PANORAMA_AMQP_URL (the variable panorama-top and panorama-collect read) names monitor's broker too."""
    url = f"amqp://panorama@127.0.0.1:{dead_port()}/panorama/monitoring"
    env = child_env() | {"PANORAMA_AMQP_URL": url, "PANORAMA_AMQP_PASSWORD": "Xy7Qz9k-pw",
                         "PANORAMA_SPOOL_DIR": str(tmp_path / "spool")}
    p = run("panorama_tui.collectors.monitor", "-v", "--flush-timeout", "0", "--", "true", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "events go to AMQP amqp://panorama:****@127.0.0.1" in p.stderr
    assert not list(tmp_path.glob("panorama-monitor.*.jsonl"))  # the broker, not the default file
    assert_no_password(p.stderr)
