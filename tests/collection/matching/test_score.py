import math

import pytest

from collection.matching import dropshipper_score, dropshipper_why


def score(n, ratio=1.9, share=0.8):
    return dropshipper_score(products_matched=n, median_price_ratio=ratio, copy_share=share)


def test_monotonic_in_products_matched_with_diminishing_returns():
    values = [score(n) for n in range(0, 60)]
    assert values == sorted(values)
    assert values[0] == 0.0
    assert values[2] - values[1] > values[20] - values[19] >= 0


@pytest.mark.parametrize("n", [0, 1, 5, 20, 10_000])
@pytest.mark.parametrize("ratio", [None, 0.0, 0.5, 1.0, 1.9, 3.0, 50.0, float("nan"), float("inf")])
@pytest.mark.parametrize("share", [None, 0.0, 0.5, 1.0, -1.0, 7.0, float("nan")])
def test_bounded(n, ratio, share):
    s = score(n, ratio, share)
    assert 0.0 <= s <= 100.0 and s == round(s, 2) and not math.isnan(s)


def test_a_dropship_markup_beats_an_ordinary_price():
    assert score(10, 1.9) > score(10, 1.05) > score(10, 0.9)
    assert score(10, 2.0) == score(10, 1.6)  # anywhere inside the band
    assert score(10, 4.0) < score(10, 2.0)  # far above it is less typical


def test_a_higher_copy_share_scores_higher():
    assert score(10, share=0.9) > score(10, share=0.3)


def test_depends_only_on_the_aggregates():
    # the same preset run again gives the same aggregates, so the same score
    assert score(7) == score(7)


def test_unknown_inputs_are_neutral():
    assert score(10, 1.05, 0.1) < score(10, None, None) < score(10, 1.9, 0.9)


def test_why_reads_like_the_contract():
    assert dropshipper_why(products_matched=14, median_price_ratio=1.96, copy_share=0.88) == (
        "Copies 14 best sellers at a median 96 % markup; "
        "88 % of their listings copy an Amazon title."
    )


def test_why_edge_cases():
    one = dropshipper_why(products_matched=1, median_price_ratio=None, copy_share=None)
    assert one.startswith("Copies 1 best seller ") and "unknown" in one
    below = dropshipper_why(products_matched=3, median_price_ratio=0.8, copy_share=0.0)
    assert "20 % below the Amazon price" in below and "none of their listings" in below
    zero = dropshipper_why(products_matched=0, median_price_ratio=None, copy_share=0.0)
    assert zero.startswith("Copies no best seller")
    for text in (one, below, zero):
        assert "\n" not in text and text.endswith(".")
