"""The one reconnect backoff: exponential, capped, with full jitter.

After a broker restart every panorama-monitor wrapper of a run (hundreds, one
per job), every relay and every screen lost its link at the same moment.
Without jitter they would all retry at 0.5, 1, 2, 4 ... s after it, in
lockstep, and the broker would take each wave as one burst of connections.

*Full jitter* draws the wait uniformly from ``[0, min(cap, base * 2**(n-1))]``
for the n-th failure in a row.  It is chosen over *decorrelated jitter* (next
wait drawn from ``[base, 3 * previous]``) because it is a function of the
failure count alone: each caller keeps the counter it already had (the
publisher keeps a per-event attempt count in its spool, not a previous wait),
and the bound is the plain exponential one users and tests reason about.  In
AWS's comparison ("Exponential Backoff And Jitter", 2015) the two need about
the same number of calls and the same time to get through; both are far better
than no jitter or "equal" jitter (half fixed), which leaves every client's
first half-wait in step.  tests/test_backoff.py checks that 100 clients' first
retries are spread over the whole window, not equal.
"""

from __future__ import annotations

import random

__all__ = ["delay", "ceiling"]

# Exponents past this change nothing once capped, and 2.0 ** n stays finite.
MAX_EXPONENT = 30


def ceiling(failures: int, base: float, cap: float) -> float:
    """The longest wait after ``failures`` failures in a row (1: the first): ``min(cap, base * 2**(failures-1))``."""
    n = min(max(failures, 1) - 1, MAX_EXPONENT)
    return min(cap, base * 2.0**n)


def delay(failures: int, base: float, cap: float, rand=random.random) -> float:
    """Seconds to wait before the next attempt: uniform in ``[0, ceiling(failures, base, cap)]``.

    ``rand`` (a ``random.random``-like callable) is for tests."""
    return ceiling(failures, base, cap) * rand()
