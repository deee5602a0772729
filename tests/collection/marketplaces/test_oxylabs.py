"""Oxylabs adapters against recorded payloads and against the in-process sandbox."""

import base64
import json
from decimal import Decimal

import httpx
import pytest

from collection.marketplaces.base import (
    AuthFailed,
    CaptchaError,
    ClientError,
    ListingQuery,
    MarketplaceError,
    ParseError,
    RateLimited,
    ServerError,
)
from collection.marketplaces.oxylabs import (
    OxylabsAmazonBestSellers,
    OxylabsEbaySearch,
    ebay_search_url,
)
from collection.marketplaces.sandbox import SandboxApp, SandboxTransport

from .support import fixture_json, fixture_text, oxylabs_envelope, recorded_client

USER, PASSWORD = "scout_api_user", "S3cr3t-Pa55word"
BASE = "https://realtime.oxylabs.io"


def _amazon(client: httpx.AsyncClient) -> OxylabsAmazonBestSellers:
    return OxylabsAmazonBestSellers(client=client, base_url=BASE, username=USER, password=PASSWORD)


def _ebay(client: httpx.AsyncClient, source: str = "ebay") -> OxylabsEbaySearch:
    return OxylabsEbaySearch(
        client=client, base_url=BASE, username=USER, password=PASSWORD, source=source
    )


QUERY = ListingQuery(
    keywords="airpods  pro 2", price_min=Decimal("300"), price_max=Decimal("400.5"), page=2
)


async def test_best_sellers_request_and_recorded_payload():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=fixture_json("oxylabs_amazon_bestsellers.json"))

    async with recorded_client(handler) as client:
        page = await _amazon(client).best_sellers(node_id="172541", page=1)

    request = seen[0]
    assert request.method == "POST" and str(request.url) == f"{BASE}/v1/queries"
    expected_auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == expected_auth
    body = json.loads(request.content)
    assert body == {
        "source": "amazon_bestsellers",
        "domain": "com",
        "query": "172541",
        "start_page": 1,
        "pages": 1,
        "parse": True,
        "render": "html",
    }

    by_asin = {product.asin: product for product in page.products}
    # Sponsored block without ASIN, empty title and a non-object record are skipped.
    assert page.skipped == 3
    assert list(by_asin) == [
        "B0D1XD1ZV3",
        "B0BTYCRJSS",
        "B08VNH3RYQ",
        "B0DB5MY3T9",
        "B0CCZ26B5V",
        "B09JB8KPNW",
        "B07RGZ5NKS",
    ]
    airpods = by_asin["B0D1XD1ZV3"]
    assert airpods.price == Decimal("189.99") and airpods.currency == "USD"
    assert airpods.rating == Decimal("4.7") and airpods.ratings_count == 16894
    assert airpods.rank == 1
    assert airpods.url.startswith("https://www.amazon.com/Apple-Cancellation")
    assert by_asin["B0BTYCRJSS"].price == Decimal("1299.99")  # "$1,299.99"
    assert by_asin["B0BTYCRJSS"].rating == Decimal("4.5")
    assert by_asin["B0BTYCRJSS"].ratings_count == 12345
    assert by_asin["B08VNH3RYQ"].price == Decimal("25")  # an int is dollars
    assert by_asin["B0DB5MY3T9"].price == Decimal("48.00")  # null price, from price_str
    assert by_asin["B0CCZ26B5V"].price is None  # 0 is unusable
    skull = by_asin["B09JB8KPNW"]
    assert skull.price is None and skull.rating is None and skull.ratings_count is None
    assert skull.title == "Skullcandy Dime 3 In-Ear Wireless Earbuds"  # NUL and spaces gone
    assert skull.url == "https://www.amazon.com/dp/B09JB8KPNW"  # javascript: refused
    assert by_asin["B07RGZ5NKS"].price == Decimal("12.99")  # range: the low end
    assert by_asin["B07RGZ5NKS"].rank == 10
    assert "172541" in page.request_url and USER not in page.request_url


def _bestsellers_content(*records) -> dict:
    """``content`` of a parsed ``amazon_bestsellers`` job, in the recorded shape."""
    return {
        "url": "https://www.amazon.com/Best-Sellers-Electronics/zgbs/electronics/172282",
        "page": 1,
        "pages": 2,
        "query": "172282",
        "results": list(records),
        "parse_status_code": 12000,
    }


async def test_zero_rating_or_ratings_count_is_unknown_not_zero():
    """Where its parser found nothing Oxylabs writes zeros, not nulls: a zero is None, so
    the store never overwrites a known rating or count with it."""
    records = [
        {
            "pos": 1,
            "asin": "B0CHWRXH8B",
            "url": "/dp/B0CHWRXH8B",
            "title": "Echo Dot",
            "price": 49.99,
            "price_str": "$49.99",
            "currency": "USD",
            "is_prime": True,
            "rating": 4.6,
            "ratings_count": 0,
        },  # 0 beside a 4.6 rating
        {
            "pos": 2,
            "asin": "B0BSHF7WHW",
            "url": "/dp/B0BSHF7WHW",
            "title": "Fire TV Stick",
            "price": 0,
            "price_str": "",
            "currency": "USD",
            "is_prime": False,
            "rating": 0,
            "ratings_count": 0,
        },  # nothing parsed at all
        {
            "pos": 3,
            "asin": "B09B8V1LZ3",
            "url": "/dp/B09B8V1LZ3",
            "title": "Kindle",
            "price": 99.99,
            "price_str": "$99.99",
            "currency": "USD",
            "rating": 0,
            "ratings_count": 5120,
        },
        {
            "pos": 4,
            "asin": "B0D1XD1ZV3",
            "url": "/dp/B0D1XD1ZV3",
            "title": "AirPods Pro 2",
            "price": 189.99,
            "price_str": "$189.99",
            "currency": "USD",
            "rating": "0.0 out of 5 stars",
            "ratings_count": "0",
        },
    ]
    payload = oxylabs_envelope(_bestsellers_content(*records))
    async with recorded_client(lambda request: httpx.Response(200, json=payload)) as client:
        page = await _amazon(client).best_sellers(node_id="172282", page=1)
    got = {p.asin: (p.rating, p.ratings_count, p.price) for p in page.products}
    assert got == {
        "B0CHWRXH8B": (Decimal("4.6"), None, Decimal("49.99")),
        "B0BSHF7WHW": (None, None, None),
        "B09B8V1LZ3": (None, 5120, Decimal("99.99")),
        "B0D1XD1ZV3": (None, None, Decimal("189.99")),
    }


async def test_best_seller_price_in_another_currency_keeps_its_code():
    record = {
        "pos": 1,
        "asin": "B0CHWRXH8B",
        "url": "/dp/B0CHWRXH8B",
        "title": "Echo Dot",
        "price": 83569.98,
        "price_str": "KRW83,569.98",
        "rating": 4.6,
        "ratings_count": 120,
    }
    payload = oxylabs_envelope(_bestsellers_content(record))
    async with recorded_client(lambda request: httpx.Response(200, json=payload)) as client:
        page = await _amazon(client).best_sellers(node_id="172282", page=1)
    assert (page.products[0].price, page.products[0].currency) == (Decimal("83569.98"), "KRW")


async def test_page_two_ranks_continue_after_fifty():
    payload = fixture_json("oxylabs_amazon_bestsellers.json")

    async with recorded_client(lambda request: httpx.Response(200, json=payload)) as client:
        page = await _amazon(client).best_sellers(node_id="172541", page=2)
    assert page.products[0].rank == 51


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (401, {"message": f"Invalid credentials for {USER}"}, {}, AuthFailed),
        (403, {"message": "Forbidden"}, {}, AuthFailed),
        (429, {"message": "Too many requests"}, {"Retry-After": "3"}, RateLimited),
        (400, {"message": "query: field required"}, {}, ClientError),
        (422, {"message": "Invalid JSON"}, {}, ClientError),
        (500, {"message": "Internal server error"}, {}, ServerError),
        (524, {"message": "Timeout"}, {}, ServerError),
        (612, {"message": "Undefined internal error"}, {}, ServerError),
        (613, {"message": "Faulted after too many retries"}, {}, ServerError),
    ],
)
async def test_http_errors_are_classified(status, body, headers, kind):
    async with recorded_client(lambda r: httpx.Response(status, json=body, headers=headers)) as c:
        with pytest.raises(kind) as info:
            await _amazon(c).best_sellers(node_id="172541", page=1)
    error = info.value
    assert error.status_code == status and error.provider == "oxylabs"
    assert USER not in str(error) and PASSWORD not in str(error)
    if kind is RateLimited:
        assert error.retry_after == 3.0


@pytest.mark.parametrize(
    ("target_status", "kind"),
    [(404, ClientError), (503, ServerError), (403, ServerError), (613, ServerError)],
)
async def test_target_page_status_is_checked(target_status, kind):
    payload = oxylabs_envelope({"results": []}, status_code=target_status)
    async with recorded_client(lambda r: httpx.Response(200, json=payload)) as client:
        with pytest.raises(kind):
            await _amazon(client).best_sellers(node_id="172541", page=1)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text='{"results": [{"content": {"results": [{"asin": "B0'),
        httpx.Response(200, text="<!DOCTYPE html><html><body>Bad gateway</body></html>"),
        httpx.Response(200, json={"results": []}),
        httpx.Response(200, json={"results": "unavailable"}),
        httpx.Response(200, json=oxylabs_envelope("<html>unparsed page</html>")),
        httpx.Response(200, json=oxylabs_envelope({"parse_status_code": 12002})),
        httpx.Response(200, json=[1, 2, 3]),
    ],
)
async def test_malformed_payloads_are_parse_errors(response):
    async with recorded_client(lambda r: response) as client:
        with pytest.raises(ParseError):
            await _amazon(client).best_sellers(node_id="172541", page=1)


async def test_bad_node_id_fails_without_a_request():
    calls = []
    async with recorded_client(lambda r: calls.append(r) or httpx.Response(500)) as client:
        with pytest.raises(ClientError):
            await _amazon(client).best_sellers(node_id="<script>", page=1)
    assert calls == []


def test_ebay_search_url_carries_every_filter():
    url = ebay_search_url(QUERY)
    assert url == (
        "https://www.ebay.com/sch/i.html?_nkw=airpods+pro+2&LH_ItemCondition=1000&LH_Free=1"
        "&LH_PrefLoc=1&LH_BIN=1&_udlo=300.00&_udhi=400.50&_ipg=240&_pgn=2"
    )
    assert "_ipg=120" in ebay_search_url(ListingQuery("x", Decimal(1), Decimal(2), page_size=100))


@pytest.mark.parametrize("fixture", ["ebay_search_s_card.html", "ebay_search_s_item.html"])
async def test_ebay_page_through_oxylabs(fixture):
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=oxylabs_envelope(fixture_text(fixture)))

    async with recorded_client(handler) as client:
        page = await _ebay(client, source="universal").search_listings(QUERY)
    assert seen == [{"source": "universal", "url": ebay_search_url(QUERY)}]
    assert page.listings and all(listing.seller_username for listing in page.listings)
    assert page.request_url == ebay_search_url(QUERY)


async def test_ebay_page_through_oxylabs_stops_at_the_divider():
    """A page shaped like eBay's few-results page: 2 results, the divider, padding."""

    def card(item_id, seller):
        return (
            f'<li class="s-card s-card--horizontal" data-listingid="{item_id}">'
            f'<a class="su-link" href="https://www.ebay.com/itm/{item_id}">'
            f'<div class="s-card__title"><span>Anker Nano Charger {item_id}</span></div></a>'
            '<div class="s-card__attribute-row">'
            '<span class="s-card__price">$39.99</span></div><div class="s-card__attribute-row">'
            '<span>Free delivery</span></div><div class="s-card__attribute-row"><span>'
            f"{seller} 99.1% positive (320)</span></div></li>"
        )

    html = (
        "<html><head><title>anker nano for sale | eBay</title></head><body>"
        '<h1 class="srp-controls__count-heading"><span class="BOLD">2</span> results for '
        '<span class="BOLD">anker nano</span></h1><ul class="srp-results srp-list clearfix">'
        + card("395000000001", "nano_shop")
        + card("395000000002", "charge_hub")
        + '<li class="srp-river-answer srp-river-answer--REWRITE_START">'
        '<div class="section-notice">'
        '<span class="section-notice__main">Results matching fewer words</span></div></li>'
        + card("395000000003", "other_seller")
        + '</ul><a class="pagination__next icon-link" '
        'href="https://www.ebay.com/sch/i.html?_pgn=2">'
        "Next page</a></body></html>"
    )
    async with recorded_client(lambda r: httpx.Response(200, json=oxylabs_envelope(html))) as c:
        page = await _ebay(c).search_listings(QUERY)
    assert [listing.seller_username for listing in page.listings] == ["nano_shop", "charge_hub"]
    assert page.total == 2 and page.has_next is False
    assert page.listings[0].shipping_cost == 0
    assert page.listings[0].url == "https://www.ebay.com/itm/395000000001"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("ebay_captcha.html", CaptchaError),
        ("", ParseError),
        ("ebay_unrecognised.html", ParseError),
        (None, ParseError),
    ],
)
async def test_ebay_page_errors(content, kind):
    html = fixture_text(content) if content and content.endswith(".html") else content
    async with recorded_client(lambda r: httpx.Response(200, json=oxylabs_envelope(html))) as c:
        with pytest.raises(kind):
            await _ebay(c).search_listings(QUERY)


def test_ebay_search_source_has_no_filters_so_it_is_refused():
    with pytest.raises(ValueError):
        _ebay(httpx.AsyncClient(), source="ebay_search")


# --- against the in-process sandbox ----------------------------------------------------


def _sandbox_client(app: SandboxApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=SandboxTransport(app=app), timeout=5.0)


async def test_best_sellers_from_sandbox(sandbox_app, small_config):
    async with _sandbox_client(sandbox_app) as client:
        amazon = OxylabsAmazonBestSellers(
            client=client, base_url="http://sandbox.invalid", username="u", password="p"
        )
        first = await amazon.best_sellers(node_id="172282", page=1)
        second = await amazon.best_sellers(node_id="172282", page=2)
        with pytest.raises(ClientError):  # there is no page 3 of a best-seller list
            await amazon.best_sellers(node_id="172282", page=3)
    per_page = small_config.best_sellers_per_page
    assert len(first.products) + first.skipped == per_page
    # Ranks follow Amazon's 50 per page whatever the sandbox's (small) page size.
    assert all(1 <= p.rank <= per_page for p in first.products)
    assert all(51 <= p.rank <= 50 + per_page for p in second.products)
    assert all(len(p.asin) == 10 for p in first.products)
    assert any(p.price is not None for p in first.products)


async def test_sandbox_pinned_credentials_reject_others(small_config):
    app = SandboxApp(small_config.replace(oxylabs_username="right", oxylabs_password="pw"))
    async with _sandbox_client(app) as client:
        wrong = OxylabsAmazonBestSellers(
            client=client, base_url="http://sandbox.invalid", username="wrong", password="pw"
        )
        with pytest.raises(AuthFailed):
            await wrong.best_sellers(node_id="172282", page=1)
        right = OxylabsAmazonBestSellers(
            client=client, base_url="http://sandbox.invalid", username="right", password="pw"
        )
        assert (await right.best_sellers(node_id="172282", page=1)).products


async def test_ebay_page_from_sandbox_honours_the_band(sandbox_app):
    async with _sandbox_client(sandbox_app) as client:
        amazon = OxylabsAmazonBestSellers(
            client=client, base_url="http://sandbox.invalid", username="u", password="p"
        )
        ebay = _ebay(client)
        ebay._oxylabs._url = "http://sandbox.invalid/v1/queries"
        products = (await amazon.best_sellers(node_id="1055398", page=1)).products
        checked = 0
        for product in products:
            if product.price is None:
                continue
            low, high = product.price * Decimal("1.8"), product.price * Decimal("2.2")
            page = await ebay.search_listings(ListingQuery(product.title, low, high))
            for listing in page.listings:
                assert low <= listing.price <= high
                checked += 1
    assert checked > 0


async def test_errors_are_marketplace_errors_with_type():
    async with recorded_client(lambda r: httpx.Response(502, text="<html>bad gateway</html>")) as c:
        with pytest.raises(MarketplaceError) as info:
            await _amazon(c).best_sellers(node_id="1", page=1)
    assert info.value.error_type == "http_5xx" and info.value.retryable
