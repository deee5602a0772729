"""Links out to eBay and Amazon, built from identifiers (never from a scraped URL).

A scraped ``item_url`` or product URL could say anything (``javascript:…``, a look-alike
host); the pages link only to URLs built here from the item id, ASIN or username, each
percent-encoded as one path segment.
"""

from __future__ import annotations

from urllib.parse import quote

EBAY = "https://www.ebay.com"
AMAZON = "https://www.amazon.com"


def _segment(value: str) -> str:
    return quote(str(value).strip(), safe="")


def ebay_item_url(item_id: str) -> str:
    return f"{EBAY}/itm/{_segment(item_id)}" if str(item_id or "").strip() else ""


def ebay_store_url(username: str) -> str:
    return f"{EBAY}/str/{_segment(username)}" if str(username or "").strip() else ""


def ebay_feedback_url(username: str) -> str:
    return (
        f"{EBAY}/fdbk/feedback_profile/{_segment(username)}" if str(username or "").strip() else ""
    )


def amazon_product_url(asin: str) -> str:
    return f"{AMAZON}/dp/{_segment(asin)}" if str(asin or "").strip() else ""
