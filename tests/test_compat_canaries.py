"""Canaries for the libraries' private internals in panorama_tui/compat (one module per library).

Each fails loudly, naming the installed release and the one tested, when an
internal the project reads is gone or changed shape: an upgrade breaks here,
with the reason, instead of in the screen or the consumer at run time.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

try:
    from broker import Admin, require_broker, unique
except ImportError:  # pragma: no cover - tests run as a package
    from tests.broker import Admin, require_broker, unique

ROOT = Path(__file__).resolve().parents[1]


def _alarm(library: str, compat, gone: list[str]) -> str:
    return (f"{library} {compat.version()} (panorama_tui/compat was tested with {compat.TESTED}) lacks: "
            + "; ".join(gone) + f". Fix panorama_tui/compat/{compat.__name__.rsplit('.', 1)[1]}.py or pin {library} lower.")


# -- Textual ---------------------------------------------------------------------------------------


def test_textual_internals_are_there():
    from panorama_tui.compat import textual as compat

    gone = compat.missing()
    assert not gone, _alarm("textual", compat, gone)


def test_a_virtual_size_set_without_layout_moves_the_scrollbar_and_lays_out_nothing():
    """The job list's use, on a real App: the thumb follows the rows, the screen is not laid out."""
    from textual.app import App
    from textual.geometry import Size
    from textual.scroll_view import ScrollView

    from panorama_tui.compat.textual import set_virtual_size_without_layout

    class Rows(ScrollView):
        DEFAULT_CSS = "Rows { height: 1fr; overflow-y: scroll; }"

    class Host(App):
        def compose(self):
            yield Rows()

    async def go():
        app = Host()
        async with app.run_test(size=(80, 20)) as pilot:
            rows = app.query_one(Rows)
            control, layouts = [], []
            rows.refresh = _spy(rows.refresh, control)
            rows.virtual_size = Size(78, 50)  # Textual's own way: a layout (the spy sees it)
            await pilot.pause()
            rows.refresh = _spy(rows.refresh, layouts)
            set_virtual_size_without_layout(rows, Size(78, 500))
            await pilot.pause()
            return rows.virtual_size, rows.vertical_scrollbar.window_virtual_size, rows.max_scroll_y, control, layouts

    size, thumb_of, max_y, control, layouts = asyncio.run(go())
    assert [kw for kw in control if kw.get("layout")], "setting virtual_size no longer lays out: compat may go"
    assert size.height == 500
    assert thumb_of == 500
    assert max_y == 500 - 20
    assert not [kw for kw in layouts if kw.get("layout")], "the screen was laid out"


def _spy(refresh, calls: list):
    def spied(*args, **kw):
        calls.append(kw)
        return refresh(*args, **kw)

    return spied


def test_the_filter_box_types_without_laying_out_the_screen():
    """Input sets virtual_size per key; the filter box's own reactive must not lay out for it."""
    from textual.app import App

    from panorama_tui.ui.widgets.filterbox import FilterBox

    class Host(App):
        def compose(self):
            yield FilterBox()

    async def go():
        app = Host()
        async with app.run_test(size=(100, 10)) as pilot:
            box = app.query_one(FilterBox)
            box.open()
            await pilot.pause()
            layouts = []
            box.refresh = _spy(box.refresh, layouts)
            await pilot.press(*"state=failed")
            await pilot.pause()
            return box.value, box.virtual_size, layouts

    value, size, layouts = asyncio.run(go())
    assert value == "state=failed"
    assert size.width > 0  # Input's own code set it (the internal the box quietens)
    assert not [kw for kw in layouts if kw.get("layout")]


# -- pika ------------------------------------------------------------------------------------------


def test_pika_internals_are_there():
    from panorama_tui.compat import pika as compat

    gone = compat.missing()
    assert not gone, _alarm("pika", compat, gone)


@pytest.mark.broker
def test_pika_connection_internals_are_there_on_a_real_connection():
    """The per-connection attributes, on a real BlockingConnection to the broker, and a delivery read by the reader."""
    require_broker()
    import pika

    from panorama_tui.compat import pika as compat

    admin = Admin()
    try:
        ex = admin.exchange()
        q = admin.queue(ex, keys=("stampede.#",), name=unique("ptest-canary"))
        conn = admin.conn
        ch = conn.channel()
        gone = compat.missing(conn, ch)
        assert not gone, _alarm("pika", compat, gone)
        got, cancelled = [], []
        reader = compat.install_delivery_reader(conn, ch.channel_number, lambda tag, body: got.append((tag, body)))
        assert reader is not None
        assert compat.consume_on_the_async_channel(
            ch, q, lambda *a: pytest.fail("pika parsed a delivery itself"), cancelled.append)
        before = conn._impl.bytes_received
        admin.ch.basic_publish(ex, "stampede.x", b'{"event": "stampede.x"}')
        for _ in range(100):
            conn.process_data_events(time_limit=0.05)
            if got:
                break
        assert got == [(1, b'{"event": "stampede.x"}')]
        assert conn._impl.bytes_received > before  # the heartbeat checker sees the traffic
        reader.uninstall()
        assert "_on_data_available" not in vars(conn._impl)  # pika's own method again
        ch.close()
    except pika.exceptions.AMQPError as exc:  # pragma: no cover - the broker went away mid-test
        pytest.fail(f"broker error: {exc!r}")
    finally:
        admin.close()


# -- pins ------------------------------------------------------------------------------------------


def _dependencies() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = {}
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        m = re.match(r"([A-Za-z0-9_.-]+)(.*)", spec)
        assert m is not None
        out[m.group(1).lower()] = m.group(2)
    return out


@pytest.mark.parametrize("library, module", [("pika", "pika"), ("textual", "textual")])
def test_each_library_with_internals_is_pinned_below_its_next_minor_or_major(library, module):
    spec = _dependencies()[library]
    assert "<" in spec, f"{library} has no upper pin in pyproject.toml ({spec!r}): panorama_tui/compat/{module}.py needs one"


def test_the_tests_run_the_globus_sdk_a_fresh_install_gets():
    """The collector is tested with globus-sdk 4.x, what `pip install panorama-top[globus]` brings
    (pegasus-wms, a test peer, would otherwise hold it at 3.x)."""
    import globus_sdk

    assert _dependencies()["globus-sdk"].startswith(">=4"), _dependencies()["globus-sdk"]
    assert globus_sdk.__version__.split(".")[0] == "4", (
        f"globus-sdk {globus_sdk.__version__} is installed: run pip install -e '.[test]' (it installs 4.x)")
