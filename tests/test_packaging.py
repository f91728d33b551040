"""What the wheel holds: every package of the tree, under the project's import name."""

from __future__ import annotations

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tree_packages() -> set[str]:
    out = set()
    for base, prefix in (("panorama_tui", "panorama_tui"), ("collectors", "panorama_tui.collectors")):
        for init in (ROOT / base).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / base)
            out.add(prefix + "".join(f".{p}" for p in rel.parts))
    return out


def test_the_package_list_is_the_tree():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == tree_packages()
    assert config["package-dir"] == {"panorama_tui.collectors": "collectors"}
    assert not any(p == "collectors" or p.startswith("collectors.") for p in config["packages"])


def test_the_wheel_holds_the_stylesheet(tmp_path):
    """The screen's one .tcss (CSS_PATH) ships: the package-data glob matches a real
    file, and a wheel built from the tree holds it."""
    import shutil
    import subprocess
    import sys
    import zipfile

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    sheets = sorted(str(p.relative_to(ROOT / "panorama_tui")) for p in (ROOT / "panorama_tui").rglob("*.tcss"))
    assert sheets == ["ui/app.tcss"]
    assert all(any(Path(s).match(g) for g in config["panorama_tui"]) for s in sheets)
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "panorama_tui/ui/app.tcss" in names
