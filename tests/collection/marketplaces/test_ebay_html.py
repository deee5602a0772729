"""Parsing eBay search pages of both card generations."""

from decimal import Decimal

import pytest

from collection.marketplaces.base import CaptchaError, ParseError
from collection.marketplaces.ebay_html import parse_search_page, parse_seller_text

from .support import fixture_text


def test_new_s_card_generation():
    page = parse_search_page(fixture_text("ebay_search_s_card.html"))
    assert page.generation == "s-card"
    assert page.has_next is True
    assert page.total == 1284
    assert page.skipped == 1  # the card without a "% positive" row
    first, second, third = page.listings
    assert first.item_id == "395012345678"
    assert first.title == "Apple AirPods Pro 2nd Generation with MagSafe USB-C Case"
    assert first.price == Decimal("359.99") and first.currency == "USD"
    assert first.seller_username == "dxbdxb"
    assert first.seller_feedback_score == 460
    assert first.seller_feedback_percent == Decimal("99.3")
    assert first.url == "https://www.ebay.com/itm/395012345678"
    # "New Listing" prefix and the screen-reader suffix are not part of the title; the
    # markup in it is text (it was escaped in the page) and stays text.
    assert second.title == "AirPods Pro 2 <script>alert(1)</script> SEALED"
    assert second.seller_username == "Prime_Deals.USA"
    assert second.seller_feedback_score == 1200  # "(1.2K)"
    assert second.seller_feedback_percent == Decimal("100")
    assert third.seller_username == "mega.store_77"
    assert third.seller_feedback_score == 12500
    assert third.price == Decimal("330.00")  # "$330.00 to $345.00"


def test_legacy_s_item_generation_with_field_variant():
    page = parse_search_page(fixture_text("ebay_search_s_item.html"))
    assert page.generation == "s-item"
    assert page.has_next is False  # the next link is aria-disabled on the last page
    assert page.total == 87
    # "Shop on eBay" placeholder ignored; no seller info, and no item id: skipped.
    assert page.skipped == 2
    first, second = page.listings
    assert first.item_id == "305123456789"
    assert first.title == "65W USB C Charger GaN Fast Wall Charger"
    assert first.seller_username == "chargerking_us"
    assert first.seller_feedback_score == 12345
    assert first.seller_feedback_percent == Decimal("99.8")
    assert first.price == Decimal("39.98")
    assert second.item_id == "305123456790"  # from /itm/<slug>/<id>
    assert second.seller_username == "ＴｅｃｈＨｕｂ"  # as shown; dedupe normalises it later
    assert second.seller_feedback_score == 1200
    assert second.seller_feedback_percent == Decimal("97.5")
    assert second.price == Decimal("41.50")


@pytest.mark.parametrize(
    ("text", "user", "score", "percent"),
    [
        ("dxbdxb 99.3% positive (460)", "dxbdxb", 460, "99.3"),
        ("dxbdxb (12,345) 99.8%", "dxbdxb", 12345, "99.8"),
        ("dxbdxb 99.5% (1.2K)", "dxbdxb", 1200, "99.5"),
        ("big.seller_1 100% positive (2.5M)", "big.seller_1", 2_500_000, "100"),
        ("<img src=x onerror=alert(1)> (460) 99.3%", "<img src=x onerror=alert(1)>", 460, "99.3"),
        ("just_a_name", "just_a_name", None, None),
    ],
)
def test_seller_fragments(text, user, score, percent):
    info = parse_seller_text(text)
    assert info is not None
    assert info.username == user
    assert info.feedback_score == score
    assert info.feedback_percent == (Decimal(percent) if percent else None)


def test_seller_fragment_too_long_or_empty():
    assert parse_seller_text("") is None
    assert parse_seller_text("x" * 300 + " 99% positive (1)") is None


def test_captcha_is_its_own_error():
    with pytest.raises(CaptchaError) as info:
        parse_search_page(fixture_text("ebay_captcha.html"), provider="oxylabs", url="u")
    assert info.value.error_type == "captcha"


@pytest.mark.parametrize("html", ["", "   ", b""])
def test_empty_page_is_a_parse_error(html):
    with pytest.raises(ParseError):
        parse_search_page(html)


def test_unrecognised_page_is_a_parse_error_not_zero_sellers():
    with pytest.raises(ParseError, match="unrecognised"):
        parse_search_page(fixture_text("ebay_unrecognised.html"))


def test_no_results_page_is_a_real_zero():
    page = parse_search_page(fixture_text("ebay_no_results.html"))
    assert page.listings == () and page.skipped == 0 and page.has_next is False
    assert page.generation == "none" and page.total == 0


def test_bytes_input():
    page = parse_search_page(fixture_text("ebay_search_s_card.html").encode())
    assert len(page.listings) == 3
