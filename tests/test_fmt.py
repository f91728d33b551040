"""Figures as the screen prints them."""

import pytest

from panorama_tui.core.fmt import compact_count


@pytest.mark.parametrize("n, text", [
    (0, "0"), (9999, "9999"), (10000, "10k"), (12345, "12.3k"), (99991, "99.9k"), (100000, "100k"),
    (123456, "123k"), (1000000, "1M"), (1234567, "1.2M"),
])
def test_compact_counts_fit_five_characters_and_never_round_up(n, text):
    assert compact_count(n) == text and len(text) <= 5
