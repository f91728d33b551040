"""Small text formatters shared by the screen and the plain summary.

They are total: whatever an input carried (NaN, infinities, 1e308, a string
where a number belongs) comes out as text, never as an exception, so a view
that meets absurd data still draws.
"""

from __future__ import annotations

import math
import os
import re
import time

SPARK = "▁▂▃▄▅▆▇█"


def _shown(code: int) -> str:
    if code < 0x20:
        return "^" + chr(code + 0x40)  # ESC -> ^[, BEL -> ^G, CR -> ^M: as less and cat -v show them
    if code == 0x7F:
        return "^?"
    if code < 0xA0:
        return f"\\x{code:02x}"  # C1 (0x80-0x9f, 0x9b is an 8-bit CSI): as ls -b shows bytes
    return "\ufffd"  # a lone surrogate (JSON's "\ud800") is no text: printing one raises


# C0 controls, DEL and C1 controls: what a terminal acts on rather than shows; and lone surrogates.
_SHOWN = {chr(c): _shown(c) for c in (*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000))}
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROLS_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # \t and \n are text


def _show(m: re.Match) -> str:
    return _SHOWN[m.group()]


def visible(s: str, text: bool = False) -> str:
    """``s`` with its control characters made visible (``^[``, ``\\x9b``), so a
    string from an input can go to the terminal: it cannot move the cursor,
    set the title or clear the screen.  ``text``: a multi-line text (a job's
    output), whose newlines and tabs are kept (CRLF read as a newline).

    A clean string costs one ``str.isprintable()`` (C, ~40 ns for a short one);
    a clean text, whose newlines are not printable, one regex search (C, ~3 ns a
    character); only what is found is replaced."""
    if s.isprintable():
        return s
    if not text:
        return _CONTROLS.sub(_show, s)
    if _CONTROLS_IN_TEXT.search(s) is None:
        return s
    return _CONTROLS_IN_TEXT.sub(_show, s.replace("\r\n", "\n"))


def _number(n) -> float | None:
    """``n`` as a finite float, or None (not a number, NaN, an infinity)."""
    if type(n) is not float:
        try:
            n = float(n)
        except (TypeError, ValueError, OverflowError):
            return None
    return n if math.isfinite(n) else None


def human_bytes(n: float | None, suffix: str = "") -> str:
    n = None if n is None else _number(n)
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G", "T", "P"):
        if abs(n) < 1024 or unit == "P":
            if unit == "B":
                return f"{n:.0f}{unit}{suffix}"
            return f"{n:.1f}{unit}{suffix}" if abs(n) < 10 else f"{n:.0f}{unit}{suffix}"
        n /= 1024
    return f"{n:.0f}P{suffix}"  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    seconds = None if seconds is None else _number(seconds)
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if seconds < 10 and seconds != s:
        return f"{seconds:.1f}s"
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def sparkline(values, width: int, top: float | None = None) -> str:
    """The last ``width`` values as block characters, scaled to ``top``."""
    vals = [_number(v) or 0.0 for v in list(values)[-width:]]
    if not vals:
        return ""
    hi = _number(top) if top else max(vals)
    if not hi or hi <= 0:
        return SPARK[0] * len(vals)
    last = len(SPARK) - 1
    return "".join(SPARK[min(last, max(0, int(v / hi * last + 0.5)))] for v in vals)


def clock_time(ts: float | None, utc: bool = False) -> str:
    if ts is None:
        return "-"
    try:
        t = time.gmtime(ts) if utc else time.localtime(ts)
    except (TypeError, ValueError, OverflowError, OSError):  # NaN, 1e20, not a number
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", t)


def iso_utc(ts) -> str | None:
    """The one ISO form --once prints times in (``2023-03-03T22:33:45Z``); None for no time."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def stamp(ts: float | None) -> str:
    """A date and time with its zone, for text read away from the screen's
    "times in" line (a warning, --once): ``2023-03-03 22:33:45 PST``."""
    if ts is None:
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
    except (TypeError, ValueError, OverflowError, OSError):  # NaN, inf, out of range
        return "-"


def zone_label(ts: float | None = None) -> str:
    """The time zone :func:`clock_time` shows times in (local: ``TZ`` when
    set), at ``ts`` (now when not a time), e.g. ``CET (UTC+01:00)``, or
    ``UTC``, or ``UTC+04:00`` for a zone with no name of its own.  The
    screen says it once, so every clock time on it can go without."""
    try:
        t = time.localtime(ts)
    except (TypeError, ValueError, OverflowError, OSError):  # NaN, inf, out of range
        t = time.localtime()
    off = time.strftime("%z", t)  # +0100
    offset = f"UTC{off[:3]}:{off[3:]}"
    name = time.strftime("%Z", t)
    if off == "+0000" and name in ("UTC", "GMT", ""):
        return "UTC"
    return offset if not name or name[0] in "+-" else f"{name} ({offset})"


def progress_bar(fraction: float, width: int) -> str:
    fraction = max(0.0, min(1.0, _number(fraction) or 0.0))
    full = int(fraction * width)
    part = "▏▎▍▌▋▊▉"
    rem = fraction * width - full
    s = "█" * full
    if full < width:
        idx = int(rem * len(part))
        s += part[idx - 1] if idx > 0 else " "
        s += " " * (width - full - 1)
    return s


def compact_count(n: int) -> str:
    """A count in at most 5 characters: 12345 -> 12.3k, 1234567 -> 1.2M.
    Rounded down, so 99991 of 100000 never reads as all of them."""
    if n < 10_000:
        return str(n)
    for div, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            tenths = n * 10 // div
            return f"{tenths // 10}{unit}" if tenths >= 1000 or tenths % 10 == 0 else f"{tenths / 10:.1f}{unit}"
    return str(n)  # pragma: no cover


def short_path(path: str, width: int = 40) -> str:
    """``path`` with the home directory as ``~``; past ``width``, its directory elided: ``…/name``."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        path = "~" + path[len(home):]
    if len(path) <= width:
        return path
    name = os.path.basename(path)
    return "…/" + name if len(name) + 2 <= width else "…" + name[-(width - 1):]
