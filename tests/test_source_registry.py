"""Sources are plug-ins: a kind registered through the ``panorama_tui.sources`` entry
points is found, recognised and opened by the registry alone (issue #13)."""

from __future__ import annotations

import importlib
import logging
import sys

import pytest

from panorama_tui.cli.top import main
from panorama_tui.sources import registry
from panorama_tui.sources.base import Source

BUILT_IN = {
    "amqp": "panorama_tui.sources.amqp",
    "dagmanout": "panorama_tui.sources.pegasus.kinds",
    "eventlog": "panorama_tui.sources.jsonlog",
    "masterdb": "panorama_tui.sources.pegasus.kinds",
    "parsl": "panorama_tui.sources.parsl.kind",
    "recording": "panorama_tui.sources.replay",
    "stampede": "panorama_tui.sources.pegasus.kinds",
    "submitdir": "panorama_tui.sources.pegasus.kinds",
}

TOY_MAGIC = "TOY-RUN 1"
TOY_UUID = "70700000-0000-4000-8000-000000000007"


# -- the toy: defined here and nowhere else ----------------------------------------------


class ToySource(Source):
    """Reads a ``TOY-RUN 1`` file (``label NAME``, ``start TS``, ``end TS STATUS``, one per
    line) as the Stampede events of one workflow."""

    label = "toy"

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def batches(self):
        wf = {"xwf_id": TOY_UUID, "root_xwf_id": TOY_UUID}
        events = []
        with open(self.path) as f:
            for line in f.read().splitlines()[1:]:
                word, *rest = line.split()
                if word == "label":
                    events.append({**wf, "event": "stampede.wf.plan", "dax_label": rest[0], "ts": 1700000000})
                elif word == "start":
                    events.append({**wf, "event": "stampede.xwf.start", "ts": float(rest[0]), "restart_count": 0})
                elif word == "end":
                    events.append({**wf, "event": "stampede.xwf.end", "ts": float(rest[0]), "status": int(rest[1]),
                                   "restart_count": 0})
        self.status.state = "ended"
        yield events


class ToyKind:
    name = "toy"

    def recognise(self, target):
        head = target.head
        return 1.0 if head is not None and head.startswith(TOY_MAGIC.encode()) else None

    def open(self, target, options):
        return ToySource(target.path)


@pytest.fixture
def toy_installed(tmp_path, monkeypatch):
    """A distribution that registers ToyKind, as an installed plug-in would: only its dist-info."""
    site = tmp_path / "site"
    dist = site / "toy-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[panorama_tui.sources]\ntoy = {__name__}:ToyKind\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    registry.kinds.cache_clear()
    yield
    registry.kinds.cache_clear()


def test_a_plug_in_that_cannot_be_loaded_is_left_out(tmp_path, monkeypatch, caplog):
    dist = tmp_path / "broken-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[panorama_tui.sources]\nbroken = no_such_module_here:Kind\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry.kinds.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=registry.__name__):
            names = {k.name for k in registry.kinds()}
    finally:
        registry.kinds.cache_clear()
    assert "broken" not in names and set(BUILT_IN) <= names
    assert "source kind broken" in caplog.text


def _toy_file(tmp_path):
    p = tmp_path / "run.toy"
    p.write_text(f"{TOY_MAGIC}\nlabel toyflow\nstart 1700000001\nend 1700000060 0\n")
    return p


def test_a_plug_in_source_is_read_by_once_with_no_edit_elsewhere(tmp_path, toy_installed, capsys):
    path = _toy_file(tmp_path)
    assert registry.detect(str(path)) == "toy"
    code = main(["--once", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out  # the toy's workflow succeeded
    assert "events: 3" in out
    assert f"toyflow {TOY_UUID}  SUCCEEDED" in out


def test_without_the_plug_in_the_same_file_is_refused(tmp_path, capsys):
    registry.kinds.cache_clear()
    path = _toy_file(tmp_path)
    assert main(["--once", str(path)]) == 3
    assert "not a monitord event log" in capsys.readouterr().err


def test_every_built_in_kind_is_reachable_through_the_entry_points():
    from importlib.metadata import entry_points

    registry.kinds.cache_clear()
    eps = {ep.name: ep for ep in entry_points(group=registry.GROUP)}
    assert set(BUILT_IN) <= set(eps)
    for name, module in BUILT_IN.items():
        assert eps[name].module == module, name
        kind = eps[name].load()
        assert kind.name == name
        assert callable(kind.recognise) and callable(kind.open)
    assert {k.name for k in registry.kinds()} >= set(BUILT_IN)


def test_a_kind_can_be_opened_by_name_without_sniffing(shared_data):
    db = shared_data / "pegasus/monitord-replay/process_wf_failure/process-0.stampede.db"
    source = registry.open(str(db), registry.OpenOptions(follow=False), kind="stampede")
    assert type(source).__name__ == "StampedeDbSource"
    with pytest.raises(KeyError, match="no source kind 'nope'"):
        registry.open(str(db), kind="nope")


def test_asking_which_kind_imports_no_heavy_source_module(repo_root, child_env):
    """The demo's recording is recognised without importing the Pegasus or Parsl sources."""
    import subprocess

    code = ("import sys; from panorama_tui.sources.detect import detect; "
            "print(detect('panorama_tui/data/demo.panorama.db')); "
            "print(sorted(m for m in sys.modules if m.startswith('panorama_tui.sources')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(repo_root), env=child_env(), capture_output=True,
                          text=True, timeout=60)
    kind, modules = proc.stdout.splitlines()
    assert kind == "recording", proc.stderr
    for heavy in ("stampede_db", "submitdir", "dagman_out", "monitoring_db"):
        assert heavy not in modules, modules
