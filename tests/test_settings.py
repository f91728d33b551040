"""core/settings.py: one resolver for the five commands, a validated config file, --show-config."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from panorama_tui.collectors.common import resolve_broker
from panorama_tui.core import paths, settings

SECRET = "Zq8-settings-pw"
COMMANDS = ("panorama_tui.cli.top", "panorama_tui.cli.collect", "panorama_tui.collectors.monitor",
            "panorama_tui.collectors.darshan", "panorama_tui.collectors.globus")


def write_config(text: str) -> str:
    path = paths.config_file()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def test_precedence_and_origins():
    path = write_config('[amqp]\nurl = "amqp://c@config-host/v/e"\nqueue = "archive"\n[recording]\nkeep_days = 3\n')
    pegasus = ("/run/pegasus.properties", {settings.PEGASUS_BROKER_PROPERTY: "amqp://p@pegasus-host/v/e"})
    env = {"PANORAMA_AMQP_URL": "amqp://e@env-host/v/e"}
    s = settings.resolve(cli={"amqp.url": "amqp://cli-host/v/e"}, env=env, pegasus=pegasus)
    assert (s["amqp.url"], s.origin("amqp.url")) == ("amqp://cli-host/v/e", settings.CLI)
    s = settings.resolve(env=env, pegasus=pegasus)
    assert (s["amqp.url"], s.origin("amqp.url")) == ("amqp://e@env-host/v/e", "PANORAMA_AMQP_URL")
    s = settings.resolve(env={}, pegasus=pegasus)
    assert (s["amqp.url"], s.origin("amqp.url")) == ("amqp://c@config-host/v/e", path)
    assert (s["amqp.queue"], s["recording.keep_days"], s["recording.keep_mb"]) == ("archive", 3, 2048.0)
    assert s.origin("recording.keep_mb") == settings.DEFAULT
    os.unlink(path)
    s = settings.resolve(env={}, pegasus=pegasus)
    assert s["amqp.url"] == "amqp://p@pegasus-host/v/e"
    assert s.origin("amqp.url") == "pegasus properties (/run/pegasus.properties)"
    s = settings.resolve(env={})
    assert s["amqp.url"] is None and s.origin("amqp.url") == settings.DEFAULT


def test_one_broker_variable_and_its_deprecated_alias():
    s = settings.resolve(("amqp.url",), env={"PANORAMA_MONITOR_AMQP": "amqp://old/v/e"})
    assert s["amqp.url"] == "amqp://old/v/e" and s.origin("amqp.url") == "PANORAMA_MONITOR_AMQP"
    assert len(s.warnings) == 1 and "PANORAMA_AMQP_URL" in s.warnings[0] and "deprecated" in s.warnings[0]
    s = settings.resolve(("amqp.url",), env={"PANORAMA_MONITOR_AMQP": "amqp://old/v/e", "PANORAMA_AMQP_URL": "amqp://new/v/e"})
    assert s["amqp.url"] == "amqp://new/v/e" and s.warnings == []


@pytest.mark.parametrize("text, named", [
    ('[amqp]\nurl = "amqp://h/v/e"\nprefetch = 5\n', "unknown key amqp.prefetch"),
    ('[brokers]\nurl = "x"\n', "unknown table [brokers]"),
    ('[amqp]\nurl = 5\n', "amqp.url must be a string, not 5"),
    ('[amqp]\nbindings = "stampede.#"\n', "amqp.bindings must be a list of strings"),
    ('[recording]\nkeep_mb = "lots"\n', "recording.keep_mb must be a number"),
    (f'[amqp]\npassword = ["{SECRET}"]\n', "amqp.password must be a string, not ****"),
    ('[amqp\n', "cannot read"),
])
def test_the_config_file_is_validated_with_the_key_named(text, named):
    path = write_config(text)
    with pytest.raises(settings.ConfigError) as e:
        settings.resolve(env={})
    message = str(e.value)
    assert named in message and message.startswith((path, f"cannot read {path}")), message
    assert SECRET not in message


def test_the_config_file_is_read_only_when_needed():
    write_config("[amqp\n")  # not TOML
    s = settings.resolve(("amqp.url",), env={"PANORAMA_AMQP_URL": "amqp://h/v/e"})
    assert s["amqp.url"] == "amqp://h/v/e"


def test_show_config_masks_passwords():
    s = settings.resolve(("amqp.url", "amqp.password"),
                         env={"PANORAMA_AMQP_URL": f"amqp://u:{SECRET}@h/v/e", "PANORAMA_AMQP_PASSWORD": SECRET})
    text = "\n".join(s.lines())
    assert SECRET not in text and SECRET not in repr(s.items)
    assert "amqp.url      = amqp://u:****@h/v/e  (PANORAMA_AMQP_URL)" in text
    assert "amqp.password = ****  (PANORAMA_AMQP_PASSWORD)" in text


def test_collectors_take_the_broker_from_the_one_resolver(capsys):
    write_config('[amqp]\nurl = "amqp://from-config/v/e"\n')
    args = argparse.Namespace(amqp=None)
    assert resolve_broker("panorama-test", args, env={}) is None and args.amqp == "amqp://from-config/v/e"
    args = argparse.Namespace(amqp=None)
    assert resolve_broker("panorama-test", args, env={"PANORAMA_MONITOR_AMQP": "amqp://old/v/e"}) is None
    assert args.amqp == "amqp://old/v/e" and "deprecated" in capsys.readouterr().err
    write_config("[amqp]\nurl = 5\n")
    args = argparse.Namespace(amqp="amqp://given/v/e")
    assert resolve_broker("panorama-test", args, env={}) is None and args.amqp == "amqp://given/v/e"
    args = argparse.Namespace(amqp=None)
    assert "amqp.url must be a string" in resolve_broker("panorama-test", args, env={})


def test_show_config_on_all_five_commands(child_env, tmp_path):
    env = child_env() | {"PANORAMA_AMQP_URL": f"amqp://panorama:{SECRET}@broker.example.org/panorama/monitoring"}
    for module in COMMANDS:
        p = subprocess.run([sys.executable, "-m", module, "--show-config"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (module, p.stderr)
        assert SECRET not in p.stdout + p.stderr
        assert "amqp.url" in p.stdout and "(PANORAMA_AMQP_URL)" in p.stdout, (module, p.stdout)
        assert p.stdout.startswith("config file: "), p.stdout


def test_show_config_names_the_submit_dirs_pegasus_properties(child_env, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "braindump.yml").write_text("wf_uuid: 0f9a6b1e-1111-2222-3333-444455556666\nproperties: pegasus.properties\n")
    (run / "pegasus.properties").write_text(
        f"pegasus.catalog.workflow.amqp.url = amqp://panorama:{SECRET}@monitord-broker/panorama/monitoring\n")
    p = subprocess.run([sys.executable, "-m", "panorama_tui.cli.top", str(run), "--show-config"], env=child_env(),
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert SECRET not in p.stdout
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("amqp.url"))
    assert "amqp://panorama:****@monitord-broker/panorama/monitoring" in line
    assert f"(pegasus properties ({run / 'pegasus.properties'}))" in line
