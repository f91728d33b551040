"""SVG snapshots of the main screens (pytest-textual-snapshot).

Update after an intended change with ``pytest tests/test_snapshots.py
--snapshot-update`` and look at the report before committing.
"""

from __future__ import annotations

import pytest

from .ui_helpers import demo_app, fixed_timezone, wait_finished

fixed_timezone()

CASES = {
    "main-120x40": ((120, 40), []),
    "main-80x24": ((80, 24), []),
    "failures-120x40": ((120, 40), ["2"]),
    "job-screen-120x40": ((120, 40), ["enter"]),
    "filtered-120x40": ((120, 40), ["slash", *"state=waiting ^stage", "enter"]),
    "help-120x40": ((120, 40), ["question_mark"]),
    "help-80x24": ((80, 24), ["question_mark"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot(name, snap_compare):
    size, keys = CASES[name]
    app, store, control, ingest = demo_app()

    async def settle(pilot):
        await wait_finished(app, control, pilot)
        for k in keys:
            await pilot.press(k)
        await pilot.pause()
        app.refresh_all()
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=size, run_before=settle)
    finally:
        ingest.stop()
