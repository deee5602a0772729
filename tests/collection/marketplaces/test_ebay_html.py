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


# --- Pages shaped like recorded 2025–2026 eBay search pages (issue 13, "Defects on real
# pages"). The markup follows the real one: cards are direct children of ul.srp-results,
# river answers (dividers, pagination, carousels) are li.srp-river-answer siblings.


def _s_card(item_id, title, price, *, seller="dxbdxb 99.3% positive (460)", rows=()):
    attribute_rows = "".join(
        f'<div class="s-card__attribute-row"><span class="su-styled-text secondary large">'
        f"{row}</span></div>"
        for row in rows
    )
    return (
        f'<li class="s-card s-card--horizontal" data-listingid="{item_id}" id="item{item_id}">'
        '<div class="su-card-container"><div class="su-card-container__content">'
        f'<a class="su-link" href="https://www.ebay.com/itm/{item_id}'
        f'?_skw=x&amp;hash=item{item_id}:g:AbC">'
        f'<div role="heading" aria-level="3" class="s-card__title"><span>{title}</span>'
        '<span class="clipped">Opens in a new window or tab</span></div></a>'
        '<div class="su-card-container__attributes__primary">'
        '<div class="s-card__attribute-row"><span class="su-styled-text primary bold large-1 '
        f's-card__price">{price}</span></div>{attribute_rows}</div>'
        '<div class="su-card-container__attributes__secondary"><div class="s-card__attribute-row">'
        f'<span class="su-styled-text primary large">{seller}</span></div></div>'
        "</div></div></li>"
    )


def _s_item(
    item_id, title, price, *, seller="chargerking_us (12,345) 99.8%", shipping="", location=""
):
    extra = ""
    if shipping:
        extra += (
            '<div class="s-item__detail s-item__detail--primary"><span class="s-item__shipping '
            f's-item__logisticsCost">{shipping}</span></div>'
        )
    if location:
        extra += (
            '<div class="s-item__detail s-item__detail--primary"><span class="s-item__location '
            f's-item__itemLocation">{location}</span></div>'
        )
    return (
        f'<li class="s-item s-item__pl-on-bottom" id="item{item_id}"><div class="s-item__wrapper '
        'clearfix"><div class="s-item__info clearfix">'
        f'<a class="s-item__link" href="https://www.ebay.com/itm/{item_id}?hash=item{item_id}:g:x">'
        f'<div class="s-item__title"><span role="heading" aria-level="3">{title}</span></div></a>'
        '<div class="s-item__details clearfix"><div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__price">{price}</span></div>{extra}'
        '<div class="s-item__detail s-item__detail--secondary"><span class="s-item__seller-info">'
        f'<span class="s-item__seller-info-text">{seller}</span></span></div>'
        "</div></div></div></li>"
    )


def _divider(text):
    return (
        '<li class="srp-river-answer srp-river-answer--REWRITE_START" data-view="mi:1686">'
        '<div class="srp-river-answer--REWRITE_START"><div class="section-notice '
        'section-notice--information" role="region"><div class="section-notice__header">'
        '<span class="section-notice__main"><span class="BOLD">'
        f"{text}</span></span></div></div></div></li>"
    )


_PAGINATION_ANSWER = (
    '<li class="srp-river-answer srp-river-answer--BASIC_PAGINATION_V2"><div class="s-pagination">'
    '<nav class="pagination" role="navigation"><button class="pagination__previous icon-btn" '
    'aria-disabled="true" type="previous">Previous page</button><ol class="pagination__items">'
    '<li><a class="pagination__item" aria-current="page" href="https://www.ebay.com/sch/i.html?'
    '_nkw=x&amp;_pgn=1">1</a></li><li><a class="pagination__item" href="https://www.ebay.com/sch/'
    'i.html?_nkw=x&amp;_pgn=2">2</a></li></ol><a class="pagination__next icon-link" '
    'href="https://www.ebay.com/sch/i.html?_nkw=x&amp;_pgn=2" type="next">Next page</a></nav>'
    "</div></li>"
)

_HIDDEN_RECAPTCHA = (
    '<iframe src="https://www.google.com/recaptcha/api2/aframe" width="0" height="0" '
    'style="display: none;"></iframe>'
)


def _page(river, *, count="1,284", query="usb c charger", before="", tail=""):
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{query} for sale | eBay</title></head><body>"
        '<header id="gh" class="gh-header">'
        '<a href="https://www.ebay.com" id="gh-la">eBay</a></header>'
        '<div id="srp-river-main" class="srp-main srp-main--isLarge">'
        '<div class="srp-controls__row-2">'
        f'<h1 class="srp-controls__count-heading"><span class="BOLD">{count}</span> results for '
        f'<span class="BOLD">{query}</span></h1></div>{before}'
        '<div id="srp-river-results" class="srp-river-results clearfix">'
        f'<ul class="srp-results srp-list clearfix">{river}</ul></div></div>{tail}</body></html>'
    )


def test_hidden_recaptcha_iframe_on_a_results_page_is_not_a_captcha():
    """eBay's normal result pages end with a zero-size reCAPTCHA iframe (risk scoring):
    the page is still a results page."""
    html = _page(
        _s_card("395012345678", "65W USB C Charger", "$39.98") + _PAGINATION_ANSWER,
        tail=_HIDDEN_RECAPTCHA,
    )
    page = parse_search_page(html)
    assert [listing.item_id for listing in page.listings] == ["395012345678"]
    assert page.has_next is True and page.total == 1284
    legacy = _page(_s_item("305123456789", "65W USB C Charger", "$39.98"), tail=_HIDDEN_RECAPTCHA)
    assert len(parse_search_page(legacy).listings) == 1


_BOT_WALL = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    "<title>Pardon Our Interruption...</title></head><body>"
    '<div class="pgHeading"><h1>Pardon Our Interruption...</h1></div>'
    "<p>As you were browsing something about your browser made us think you were a bot.</p>"
    "<p>To regain access, please make sure that cookies and JavaScript are enabled before "
    "reloading the page.</p>{frame}</body></html>"
)


@pytest.mark.parametrize(
    "html",
    [
        _BOT_WALL.format(frame=""),
        _BOT_WALL.format(frame=_HIDDEN_RECAPTCHA),
        # No telling title, but a visible challenge and no result list.
        "<!DOCTYPE html><html><head><title>eBay</title></head><body><iframe "
        'src="https://www.google.com/recaptcha/api2/anchor?k=x" width="304" height="78">'
        "</iframe></body></html>",
    ],
)
def test_the_bot_wall_is_a_captcha(html):
    with pytest.raises(CaptchaError):
        parse_search_page(html, provider="oxylabs")


def test_a_hidden_recaptcha_iframe_alone_is_no_captcha_but_an_unrecognised_page():
    html = (
        "<!DOCTYPE html><html><head><title>eBay</title></head>"
        f"<body>{_HIDDEN_RECAPTCHA}</body></html>"
    )
    with pytest.raises(ParseError, match="unrecognised"):
        parse_search_page(html)


@pytest.mark.parametrize(
    ("text", "user", "score", "percent"),
    [
        ("Seller: toolsdirect_us (66) 97.1%", "toolsdirect_us", 66, "97.1"),
        ("Seller:toolsdirect_us (66) 97.1%", "toolsdirect_us", 66, "97.1"),
        ("seller: toolsdirect_us 97.1% positive (66)", "toolsdirect_us", 66, "97.1"),
        ("Seller: toolsdirect_us", "toolsdirect_us", None, None),
        ("sellerpro_99 (66) 97.1%", "sellerpro_99", 66, "97.1"),  # no label: a name
    ],
)
def test_legacy_seller_label_is_not_part_of_the_name(text, user, score, percent):
    info = parse_seller_text(text)
    assert (info.username, info.feedback_score) == (user, score)
    assert info.feedback_percent == Decimal(percent) if percent else info.feedback_percent is None


def test_legacy_card_with_seller_label():
    seller = "Seller: toolsdirect_us (66) 97.1%"
    html = _page(_s_item("305123456789", "Socket Set", "$24.99", seller=seller))
    (listing,) = parse_search_page(html).listings
    assert listing.seller_username == "toolsdirect_us"
    assert (listing.seller_feedback_score, listing.seller_feedback_percent) == (66, Decimal("97.1"))


def test_cards_after_the_fewer_words_divider_are_not_results():
    river = (
        _s_card("395000000001", "Anker Nano USB C Charger 65W", "$39.99")
        + _s_card("395000000002", "Anker Nano Charger 65W GaN", "$41.00")
        + _s_card("395000000003", "Anker 65W Nano Wall Charger", "$42.50")
        + _divider("Results matching fewer words")
        + _s_card("395000000004", "USB C 20W", "$9.99", seller="cheapcables 97% positive (12)")
        + _s_card("395000000005", "Nano Phone Case", "$5.00", seller="cases4u 99% positive (88)")
        + _PAGINATION_ANSWER
    )
    page = parse_search_page(_page(river, count="3", query="anker nano charger 65w"))
    assert [listing.item_id for listing in page.listings] == [
        "395000000001",
        "395000000002",
        "395000000003",
    ]
    assert page.not_results == 2
    # The real results end above the divider: no next page of them, and the count is 3.
    assert page.has_next is False and page.total == 3


def test_cards_after_the_international_sellers_divider_are_not_results():
    river = (
        _s_item("305000000001", "Anker Nano Charger 65W", "$39.99", shipping="Free shipping")
        + _divider("12 items found from eBay international sellers")
        + _s_item("305000000002", "Anker Nano Charger 65W", "$31.00", location="from China")
    )
    page = parse_search_page(_page(river, count="1", query="anker nano charger 65w"))
    assert [listing.item_id for listing in page.listings] == ["305000000001"]
    assert page.not_results == 1 and page.total == 1 and page.has_next is False


def test_a_divider_told_by_its_text_alone_also_stops_the_parser():
    """Some layouts carry the notice without the REWRITE_START class."""
    notice = (
        '<li class="srp-river-answer srp-river-answer--SECTION_NOTICE"><div class="section-notice">'
        '<span class="section-notice__main">3 results found from eBay international sellers'
        "</span></div></li>"
    )
    river = _s_card("395000000001", "A", "$40.00") + notice + _s_card("395000000002", "B", "$40.00")
    page = parse_search_page(_page(river, count="1"))
    assert [listing.item_id for listing in page.listings] == ["395000000001"]


def test_a_zero_results_page_yields_no_listings_even_with_cards_on_it():
    """Seen on recorded pages: "0 results for …", "No exact matches found", and the list
    still filled with fuzzy matches (with or without a divider)."""
    null_search = (
        '<div class="srp-river-answer srp-river-answer--SAVE_CARD">'
        '<div class="srp-save-null-search">'
        '<h3 class="srp-save-null-search__heading">No exact matches found</h3></div></div>'
    )
    river = _s_card("395000000001", "Lamp Socket T5", "$12.00") + _s_card(
        "395000000002", "Server RAM 2GB", "$30.00"
    )
    for html in (
        _page(river, count="0", query="zzqx widget", before=null_search),
        _page(_divider("Results matching fewer words") + river, count="0", query="zzqx widget"),
        _page(river, count="0", query="zzqx widget"),
    ):
        page = parse_search_page(html)
        assert page.listings == () and page.skipped == 0
        assert page.not_results == 2 and page.total == 0 and page.has_next is False


def test_pagination_and_carousel_answers_are_not_dividers_and_carousel_cards_not_results():
    carousel = (
        '<li class="srp-river-answer srp-river-answer--ITEMS_CAROUSEL_WITH_COLOR"><ul>'
        + _s_card("395000000009", "Sponsored pick", "$39.00", seller="ads 99% positive (1)")
        + "</ul></li>"
    )
    river = (
        _s_card("395000000001", "A", "$40.00")
        + carousel
        + _s_card("395000000002", "B", "$40.00")
        + _PAGINATION_ANSWER
    )
    page = parse_search_page(_page(river))
    assert [listing.item_id for listing in page.listings] == ["395000000001", "395000000002"]
    assert page.not_results == 1 and page.has_next is True and page.total == 1284


@pytest.mark.parametrize(
    ("price_text", "price", "currency"),
    [
        ("KRW83,569.98", "83569.98", "KRW"),
        ("EUR 19,75 bis EUR 20,80", "19.75", "EUR"),
        ("£12.99", "12.99", "GBP"),
        ("C $15.00", "15.00", "CAD"),
        ("AU $20.00", "20.00", "AUD"),
        ("ILS 138.31", "138.31", "ILS"),
        ("US $59.99", "59.99", "USD"),
        ("$59.99", "59.99", "USD"),
        ("RM 12.00", None, ""),  # a currency we cannot tell: no price, never dollars
        ("¥1,200", None, ""),  # yen or yuan
    ],
)
def test_a_price_in_another_currency_is_never_read_as_usd(price_text, price, currency):
    html = _page(_s_card("395000000001", "Anker Nano Charger", price_text))
    (listing,) = parse_search_page(html).listings
    assert listing.price == (Decimal(price) if price else None)
    assert listing.currency == currency


def test_international_legacy_card_keeps_its_currency():
    html = _page(
        _s_item(
            "305000000001",
            "Anker Nano",
            "EUR 19,75 bis EUR 20,80",
            shipping="+EUR 4,50 Versand",
            location="from Germany",
        )
    )
    (listing,) = parse_search_page(html).listings
    assert (listing.price, listing.currency, listing.location) == (Decimal("19.75"), "EUR", "DE")
    assert listing.shipping_cost is None  # "Versand": not a shipping line we can read


@pytest.mark.parametrize(
    ("rows", "shipping", "location"),
    [
        (("Buy It Now", "Free delivery", "Located in United States"), Decimal(0), "US"),
        (("+$5.99 delivery", "from China"), Decimal("5.99"), "CN"),
        (("Free shipping",), Decimal(0), ""),
        (("+$5.99 shipping", "from Lithuania"), Decimal("5.99"), "Lithuania"),
        (("Shipping not specified",), None, ""),
        (("+£3.00 delivery",), None, ""),  # not in the price's currency
        ((), None, ""),
    ],
)
def test_s_card_shipping_and_location(rows, shipping, location):
    html = _page(_s_card("395000000001", "Anker Nano Charger", "$39.99", rows=rows))
    (listing,) = parse_search_page(html).listings
    assert listing.shipping_cost == shipping and listing.location == location
    assert listing.url == "https://www.ebay.com/itm/395000000001"


def test_s_item_shipping_and_location():
    river = _s_item("305000000001", "A", "$39.99", shipping="Free shipping") + _s_item(
        "305000000002", "B", "$39.99", shipping="+$5.99 shipping", location="from China"
    )
    first, second = parse_search_page(_page(river)).listings
    assert (first.shipping_cost, first.location) == (Decimal(0), "")
    assert (second.shipping_cost, second.location) == (Decimal("5.99"), "CN")
    assert second.url == "https://www.ebay.com/itm/305000000002"  # without ?hash=
