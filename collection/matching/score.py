"""A seller's dropshipper score (0–100) and its one-line explanation.

It reads three aggregates of the seller's *matched* sightings, never counts of runs or
sightings, so running the same preset again cannot raise it:

- products_matched: distinct best sellers they copy. Diminishing returns: log(1 + n),
  full marks at FULL_PRODUCTS. The main factor; 0 products is a score of 0.
- median_price_ratio: their price ÷ the Amazon price. A dropshipper's markup puts it in
  the band 1.5–2.5 (full marks); towards 1.0 it looks like an ordinary reseller; far
  above 2.5 it is less typical. Unknown (non-USD prices) counts as half.
- copy_share: the share of their listings that copy an Amazon title (the rest are
  look-alikes and their own titles). Unknown counts as half.

    score = 100 · products · (0.4 + 0.3 · price + 0.3 · share)
"""

from __future__ import annotations

import math

FULL_PRODUCTS = 20
BAND = (1.5, 2.5)


def _products(n: int) -> float:
    if n <= 0:
        return 0.0
    return min(1.0, math.log1p(n) / math.log1p(FULL_PRODUCTS))


def _ratio(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _share(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return min(1.0, max(0.0, value)) if math.isfinite(value) else None


def _price(ratio: float | None) -> float:
    if ratio is None:
        return 0.5
    low, high = BAND
    if ratio <= 1.0:
        return 0.0
    if ratio < low:
        return (ratio - 1.0) / (low - 1.0)
    if ratio <= high:
        return 1.0
    return max(0.3, 1.0 - 0.7 * (ratio - high) / 1.5)


def dropshipper_score(
    *, products_matched: int, median_price_ratio: float | None, copy_share: float | None
) -> float:
    """0–100, rounded to 2 places; monotonic in products_matched."""
    try:
        n = int(products_matched)
    except (TypeError, ValueError):
        n = 0
    share = _share(copy_share)
    score = (
        100.0
        * _products(n)
        * (0.4 + 0.3 * _price(_ratio(median_price_ratio)) + 0.3 * (0.5 if share is None else share))
    )
    return round(min(100.0, max(0.0, score)), 2)


def dropshipper_why(
    *, products_matched: int, median_price_ratio: float | None, copy_share: float | None
) -> str:
    """One line for the operator, e.g. "Copies 14 best sellers at a median 96 % markup;
    88 % of their listings copy an Amazon title." """
    try:
        n = max(0, int(products_matched))
    except (TypeError, ValueError):
        n = 0
    ratio = _ratio(median_price_ratio)
    share = _share(copy_share)
    if n == 0:
        head = "Copies no best seller"
    else:
        head = f"Copies {n} best seller{'s' if n != 1 else ''}"
    if ratio is None:
        price = " (markup unknown: prices not in USD)" if n else ""
    elif ratio >= 1.0:
        price = f" at a median {round((ratio - 1.0) * 100):d} % markup"
    else:
        price = f" at a median {round((1.0 - ratio) * 100):d} % below the Amazon price"
    if share is None:
        tail = "share of copied titles unknown."
    else:
        pct = round(share * 100)
        tail = (
            f"{pct:d} % of their listings copy an Amazon title."
            if pct
            else "none of their listings copy an Amazon title."
        )
    return f"{head}{price}; {tail}"
