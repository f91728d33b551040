"""Write README's key table from the key bindings (ui/help.py), so the two
cannot drift; tests/test_keys.py fails when they differ.

    python3 scripts/keys_table.py           # rewrite the table in README.md
    python3 scripts/keys_table.py --check   # exit 1 when README's table is not the bindings'
"""

from __future__ import annotations

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from panorama_tui.ui.keys import documented_bindings, help_rows, readme_table  # noqa: E402

README = os.path.join(ROOT, "README.md")
BEGIN = "<!-- keys: made by scripts/keys_table.py from the key bindings; edit those, not this -->\n"
END = "<!-- /keys -->\n"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def table_in(readme: str) -> str | None:
    m = BLOCK.search(readme)
    return m.group(0)[len(BEGIN):-len(END)] if m else None


def main(argv: list[str]) -> int:
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    table = readme_table(help_rows(documented_bindings()))
    if "--check" in argv:
        ok = table_in(readme) == table
        if not ok:
            print("README.md's key table differs from the bindings: run python3 scripts/keys_table.py",
                  file=sys.stderr)
        return 0 if ok else 1
    if table_in(readme) is None:
        print(f"README.md has no {BEGIN.strip()} ... {END.strip()} block", file=sys.stderr)
        return 1
    with open(README, "w", encoding="utf-8") as f:
        f.write(BLOCK.sub(lambda _m: BEGIN + table + END, readme))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
