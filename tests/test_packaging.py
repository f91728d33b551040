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
