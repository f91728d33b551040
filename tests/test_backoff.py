"""core/backoff.py: exponential, capped, full jitter; 100 clients do not retry in lockstep."""

from __future__ import annotations

import random
import statistics

from panorama_tui.core import backoff


def test_ceiling_is_the_plain_exponential_bound():
    assert [backoff.ceiling(n, 0.5, 10.0) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.ceiling(10_000, 0.5, 10.0) == 10.0  # no overflow after days of failures
    assert backoff.ceiling(0, 0.5, 10.0) == 0.5


def test_delay_stays_within_zero_and_the_ceiling():
    rng = random.Random(13)
    for n in range(1, 40):
        for _ in range(50):
            assert 0.0 <= backoff.delay(n, 0.01, 0.05, rng.random) <= backoff.ceiling(n, 0.01, 0.05)
    assert backoff.delay(3, 1.0, 10.0, rand=lambda: 1.0) == 4.0


def test_a_hundred_clients_first_retries_are_spread_not_equal():
    """After a broker restart, 100 wrappers' first retries cover the window instead of one instant."""
    rng = random.Random(2026)
    first = [backoff.delay(1, 0.5, 10.0, rng.random) for _ in range(100)]
    assert len({round(t, 6) for t in first}) == 100  # no two in step
    assert min(first) < 0.1 and max(first) > 0.4  # the whole [0, 0.5] window is used
    assert statistics.pstdev(first) > 0.1  # uniform on [0, 0.5]: 0.144
    # and not a single second of the capped phase holds more than a fifth of them
    capped = [backoff.delay(9, 0.5, 10.0, rng.random) for _ in range(100)]
    assert max(sum(1 for t in capped if s <= t < s + 1) for s in range(10)) <= 20
