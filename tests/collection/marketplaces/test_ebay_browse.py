"""eBay Browse adapter: recorded payloads, token lifecycle, errors, and the sandbox."""

import asyncio
import base64
import datetime as dt
import json
import random
from decimal import Decimal
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from django.core.cache import cache

from collection.marketplaces.base import (
    AuthFailed,
    ClientError,
    ListingQuery,
    ParseError,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from collection.marketplaces.ebay_browse import (
    EbayAppTokens,
    EbayBrowseSearch,
    browse_filter,
    encoded_query,
    parse_item_summary,
)
from collection.marketplaces.sandbox import SandboxApp, SandboxTransport

from .support import fixture_json, recorded_client

BASE = "https://api.ebay.com"
CLIENT_ID, CLIENT_SECRET = "ScoutApp-Scout-PRD-1a2b3c4d5-6e7f8a9b", "PRD-1a2b3c4d5e6f-7a8b-9c0d"
QUERY = ListingQuery(keywords="airpods pro 2", price_min=Decimal("300"), price_max=Decimal("400"))
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
TOKEN_PATH = "/identity/v1/oauth2/token"


class Recorded:
    """Answers token, search and rate-limit calls from queues of recorded responses."""

    def __init__(self, *search: httpx.Response, token: httpx.Response | None = None) -> None:
        self.search = list(search)
        self.token = token
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == TOKEN_PATH:
            return self.token or httpx.Response(200, json=fixture_json("oauth_token.json"))
        if request.url.path.startswith("/developer/analytics"):
            return httpx.Response(200, json=fixture_json("browse_rate_limit.json"))
        return self.search.pop(0) if len(self.search) > 1 else self.search[0]

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def _adapter(client, *, cache_backend=None, clock=None):
    kwargs = {"clock": clock} if clock else {}
    tokens = EbayAppTokens(
        client=client,
        base_url=BASE,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        cache=cache_backend,
        **kwargs,
    )
    return EbayBrowseSearch(
        client=client, base_url=BASE, tokens=tokens, marketplace_id="EBAY_US"
    ), tokens


async def test_search_request_and_recorded_payload():
    recorded = Recorded(httpx.Response(200, json=fixture_json("browse_search.json")))
    async with recorded_client(recorded) as client:
        ebay, tokens = _adapter(client)
        page = await ebay.search_listings(QUERY)

    mint, search = recorded.requests
    assert mint.method == "POST" and str(mint.url) == BASE + TOKEN_PATH
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert mint.headers["authorization"] == f"Basic {basic}"
    assert mint.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(mint.content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["https://api.ebay.com/oauth/api_scope"],
    }

    assert search.method == "GET" and search.url.path == SEARCH_PATH
    token = fixture_json("oauth_token.json")["access_token"]
    assert search.headers["authorization"] == f"Bearer {token}"
    assert search.headers["x-ebay-c-marketplace-id"] == "EBAY_US"
    params = parse_qs(search.url.query.decode())
    assert params == {
        "q": ["airpods pro 2"],
        "limit": ["200"],
        "offset": ["0"],
        "filter": [
            "conditionIds:{1000},maxDeliveryCost:0,itemLocationCountry:US,"
            "deliveryCountry:US,buyingOptions:{FIXED_PRICE},price:[300.00..400.00],"
            "priceCurrency:USD"
        ],
    }

    # Kept: the normal item and the one without shippingOptions (the server filtered it).
    # Skipped: paid shipping, used condition, no seller.
    assert [listing.item_id for listing in page.listings] == [
        "v1|395012345678|0",
        "v1|256123456789|0",
    ]
    assert page.skipped == 3 and page.total == 1284 and page.has_next is True
    first, second = page.listings
    assert first.price == Decimal("359.99") and first.currency == "USD"
    assert first.seller_username == "dxbdxb"
    assert first.seller_feedback_percent == Decimal("98.6")
    assert first.seller_feedback_score == 4604
    assert first.url.startswith("https://www.ebay.com/itm/395012345678")
    assert (
        second.title
        == "Apple AirPods Pro 2 Wireless Earbuds Active Noise Cancellation <b>Hearing Aid</b>"
    )
    assert tokens.mints == 1
    assert "airpods" in page.request_url and token not in page.request_url
    # The display form is the URL sent, with the filter's punctuation readable.
    assert "filter=conditionIds:{1000},maxDeliveryCost:0," in page.request_url
    assert "price:[" in page.request_url


async def test_token_is_reused_until_shortly_before_expiry():
    now = [1_000_000.0]
    recorded = Recorded(httpx.Response(200, json={"total": 0, "limit": 50, "offset": 0}))
    async with recorded_client(recorded) as client:
        ebay, tokens = _adapter(client, clock=lambda: now[0])
        for _ in range(3):
            await ebay.search_listings(QUERY)
        assert tokens.mints == 1
        now[0] += 7200 - 300 - 1  # still inside expires_in − 300 s
        await ebay.search_listings(QUERY)
        assert tokens.mints == 1
        now[0] += 2
        await ebay.search_listings(QUERY)
        assert tokens.mints == 2


async def test_token_is_shared_through_the_django_cache():
    recorded = Recorded(httpx.Response(200, json={"total": 0}))
    async with recorded_client(recorded) as client:
        first, first_tokens = _adapter(client, cache_backend=cache)
        second, second_tokens = _adapter(client, cache_backend=cache)
        await first.search_listings(QUERY)
        await second.search_listings(QUERY)
    assert first_tokens.mints == 1 and second_tokens.mints == 0
    assert recorded.paths().count(TOKEN_PATH) == 1


async def test_401_invalid_token_mints_once_and_retries():
    invalid = httpx.Response(401, json=fixture_json("browse_error_invalid_token.json"))
    recorded = Recorded(invalid, httpx.Response(200, json=fixture_json("browse_search.json")))
    async with recorded_client(recorded) as client:
        ebay, tokens = _adapter(client)
        page = await ebay.search_listings(QUERY)
    assert len(page.listings) == 2
    assert recorded.paths() == [TOKEN_PATH, SEARCH_PATH, TOKEN_PATH, SEARCH_PATH]
    assert tokens.mints == 2


class SlowDeleteCache:
    """The Django cache, with a delete that waits (another worker runs meanwhile)."""

    def __init__(self) -> None:
        self.deleting = asyncio.Event()
        self.release = asyncio.Event()

    async def aget(self, key):
        return await cache.aget(key)

    async def aset(self, key, value, timeout=None):
        await cache.aset(key, value, timeout)

    async def adelete(self, key):
        self.deleting.set()
        await self.release.wait()
        await cache.adelete(key)


async def test_a_token_rejected_by_a_401_is_never_taken_back_from_the_cache():
    """Between a 401's invalidation and the removal of the cached copy, another worker's
    get() must mint, not adopt the dead token again (it then failed as AuthFailed)."""
    minted = iter(["token-one", "token-two", "token-three"])

    def handler(request: httpx.Request) -> httpx.Response:
        body = fixture_json("oauth_token.json") | {"access_token": next(minted)}
        return httpx.Response(200, json=body)

    slow = SlowDeleteCache()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        tokens = EbayAppTokens(
            client=client,
            base_url=BASE,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            cache=slow,
        )
        first = await tokens.get()
        invalidating = asyncio.create_task(tokens.invalidate(first))
        await slow.deleting.wait()  # the dead token is still in the shared cache
        second = await tokens.get()
        slow.release.set()
        await invalidating
    assert (first, second) == ("token-one", "token-two")


async def test_second_401_is_auth_failed():
    invalid = httpx.Response(401, json=fixture_json("browse_error_invalid_token.json"))
    recorded = Recorded(invalid)
    async with recorded_client(recorded) as client:
        ebay, tokens = _adapter(client)
        with pytest.raises(AuthFailed) as info:
            await ebay.search_listings(QUERY)
    assert tokens.mints == 2 and recorded.paths().count(SEARCH_PATH) == 2
    assert "1001" in str(info.value)


async def test_403_is_auth_failed_without_a_new_token():
    denied = httpx.Response(403, json={"errors": [{"errorId": 1100, "message": "Access denied"}]})
    recorded = Recorded(denied)
    async with recorded_client(recorded) as client:
        ebay, tokens = _adapter(client)
        with pytest.raises(AuthFailed):
            await ebay.search_listings(QUERY)
    assert tokens.mints == 1


@pytest.mark.parametrize(
    "token_response",
    [
        httpx.Response(
            401,
            json={
                "error": "invalid_client",
                "error_description": f"client authentication failed {CLIENT_ID}",
            },
        ),
        httpx.Response(400, json={"error": "invalid_scope", "error_description": "bad scope"}),
    ],
)
async def test_bad_credentials_are_auth_failed_and_never_echoed(token_response):
    recorded = Recorded(httpx.Response(200, json={}), token=token_response)
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        with pytest.raises(AuthFailed) as info:
            await ebay.search_listings(QUERY)
    message = str(info.value)
    assert "invalid_" in message
    for secret in (
        CLIENT_ID,
        CLIENT_SECRET,
        base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
    ):
        assert secret not in message and secret not in info.value.url


@pytest.mark.parametrize(
    "token_response",
    [
        httpx.Response(200, json={"token_type": "Application Access Token"}),
        httpx.Response(200, text="<html>login</html>"),
        httpx.Response(200, json={"access_token": "x", "expires_in": "soon"}),
    ],
)
async def test_malformed_token_response_is_a_parse_error(token_response):
    recorded = Recorded(httpx.Response(200, json={}), token=token_response)
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        with pytest.raises(ParseError):
            await ebay.search_listings(QUERY)


async def test_429_with_retry_after_is_rate_limited():
    throttled = httpx.Response(
        429, json=fixture_json("browse_error_quota.json"), headers={"Retry-After": "2"}
    )
    async with recorded_client(Recorded(throttled)) as client:
        ebay, _ = _adapter(client)
        with pytest.raises(RateLimited) as info:
            await ebay.search_listings(QUERY)
    assert info.value.retry_after == 2.0


async def test_429_2001_without_retry_after_is_quota_with_reset_time():
    spent = httpx.Response(429, json=fixture_json("browse_error_quota.json"))
    recorded = Recorded(spent)
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        with pytest.raises(QuotaExhausted) as info:
            await ebay.search_listings(QUERY)
    assert info.value.error_type == "quota"
    assert info.value.reset_at == dt.datetime(2026, 11, 29, 7, 0, tzinfo=dt.UTC)
    assert recorded.paths()[-1] == "/developer/analytics/v1_beta/rate_limit/"
    rate = parse_qs(recorded.requests[-1].url.query.decode())
    assert rate == {"api_context": ["buy"], "api_name": ["Browse"]}


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(400, json=fixture_json("browse_error_offset.json")), ClientError),
        (httpx.Response(409, json={"errors": [{"errorId": 12019}]}), ClientError),
        (httpx.Response(500, json={"errors": [{"errorId": 12000}]}), ServerError),
        (httpx.Response(503, text="<html>Service Unavailable</html>"), ServerError),
        (httpx.Response(200, text="<!DOCTYPE html><html>maintenance</html>"), ParseError),
        (httpx.Response(200, text='{"total": 3, "itemSummaries": [{"itemId": "v1|1'), ParseError),
        (httpx.Response(200, json={"itemSummaries": {"unexpected": True}}), ParseError),
        (httpx.Response(200, json=["not", "an", "object"]), ParseError),
    ],
)
async def test_search_errors_are_classified(response, kind):
    async with recorded_client(Recorded(response)) as client:
        ebay, _ = _adapter(client)
        with pytest.raises(kind) as info:
            await ebay.search_listings(QUERY)
    assert info.value.provider == "ebay"


async def test_offset_window_limits():
    recorded = Recorded(httpx.Response(200, json={"total": 20000, "next": "https://x"}))
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        past = ListingQuery("x", Decimal(1), Decimal(2), page=201, page_size=50)  # offset 10000
        page = await ebay.search_listings(past)
        assert page.listings == () and page.has_next is False
        assert recorded.requests == []  # no request at all
        last = ListingQuery("x", Decimal(1), Decimal(2), page=200, page_size=50)  # offset 9950
        page = await ebay.search_listings(last)
        assert page.has_next is False  # even though the response had `next`
    params = parse_qs(recorded.requests[-1].url.query.decode())
    assert params["offset"] == ["9950"] and params["limit"] == ["50"]


async def test_limit_is_clamped_and_offset_a_multiple_of_it():
    recorded = Recorded(httpx.Response(200, json={"total": 0}))
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        await ebay.search_listings(ListingQuery("x", Decimal(1), Decimal(2), page=3, page_size=500))
    params = parse_qs(recorded.requests[-1].url.query.decode())
    assert params["limit"] == ["200"] and params["offset"] == ["400"]


async def test_default_page_is_200_items_and_offset_follows_it():
    recorded = Recorded(httpx.Response(200, json={"total": 0}))
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        await ebay.search_listings(ListingQuery("x", Decimal(1), Decimal(2), page=2))
    params = parse_qs(recorded.requests[-1].url.query.decode())
    assert params["limit"] == ["200"] and params["offset"] == ["200"]


def _summary(**changes) -> dict:
    """An ``itemSummaries[]`` entry in the shape of eBay's recorded responses."""
    item = {
        "itemId": "v1|187654321098|0",
        "title": "Wireless Earbuds Bluetooth 5.3 Noise Cancelling Headphones",
        "price": {"value": "349.99", "currency": "USD"},
        "itemHref": "https://api.ebay.com/buy/browse/v1/item/v1%7C187654321098%7C0",
        "seller": {
            "username": "gadget_outlet_us",
            "feedbackPercentage": "99.1",
            "feedbackScore": 2210,
            "userId": "u7c1e9a2f3b",
        },
        "condition": "New",
        "conditionId": "1000",
        "shippingOptions": [
            {
                "shippingCostType": "FIXED",
                "shippingCost": {"value": "0.00", "currency": "USD"},
                "minEstimatedDeliveryDate": "2026-11-20T08:00:00.000Z",
            }
        ],
        "buyingOptions": ["FIXED_PRICE"],
        "itemWebUrl": (
            "https://www.ebay.com/itm/187654321098?hash=item2baf:g:xyzAAOSw&amdata=enc%3AAQAJ"
        ),
        "itemLocation": {"postalCode": "917**", "country": "US"},
        "legacyItemId": "187654321098",
    }
    item.update(changes)
    return item


def test_item_evidence_fields():
    listing = parse_item_summary(_summary(), QUERY)
    assert listing is not None
    assert listing.shipping_cost == Decimal(0)  # "0.00": free
    assert listing.location == "US"
    assert listing.seller_username == "gadget_outlet_us"
    assert listing.seller_user_id == "u7c1e9a2f3b"  # the immutable id, beside the name
    # One URL form on both routes, without the tracking parameters of itemWebUrl.
    assert listing.url == "https://www.ebay.com/itm/187654321098"


def test_item_url_falls_back_to_the_item_id_then_item_web_url():
    no_legacy = _summary()
    del no_legacy["legacyItemId"]
    assert parse_item_summary(no_legacy, QUERY).url == "https://www.ebay.com/itm/187654321098"
    odd = _summary(itemId="v1-odd", itemWebUrl="https://www.ebay.com/itm/187654321098")
    del odd["legacyItemId"]
    assert parse_item_summary(odd, QUERY).url == "https://www.ebay.com/itm/187654321098"
    hostile = _summary(itemId="v1-odd", itemWebUrl="javascript:alert(1)")
    del hostile["legacyItemId"]
    assert parse_item_summary(hostile, QUERY).url == ""


def test_missing_shipping_and_location_are_unknown_not_free():
    item = _summary()
    del item["shippingOptions"], item["itemLocation"]
    listing = parse_item_summary(item, QUERY)
    assert listing.shipping_cost is None and listing.location == ""
    garbage = parse_item_summary(_summary(shippingOptions=[{"shippingCost": "?"}]), QUERY)
    assert garbage.shipping_cost is None
    paid = [{"shippingCostType": "FIXED", "shippingCost": {"value": "5.99", "currency": "USD"}}]
    assert parse_item_summary(_summary(shippingOptions=paid), QUERY) is None  # filtered out
    either = [paid[0], {"shippingCost": {"value": "0.00", "currency": "USD"}}]
    assert parse_item_summary(_summary(shippingOptions=either), QUERY).shipping_cost == 0


def test_seller_user_id_in_place_of_the_username():
    """eBay's 2025-09-26 change: some items carry the immutable id as the username."""
    replaced = {"username": "u7c1e9a2f3b", "feedbackScore": 12, "userId": "u7c1e9a2f3b"}
    listing = parse_item_summary(_summary(seller=replaced), QUERY)
    assert listing.seller_username == "u7c1e9a2f3b" and listing.seller_user_id == "u7c1e9a2f3b"
    only_id = parse_item_summary(_summary(seller={"userId": "u0aa11bb22"}), QUERY)
    assert only_id.seller_username == "u0aa11bb22" and only_id.seller_user_id == "u0aa11bb22"
    no_id = parse_item_summary(_summary(seller={"username": "plain_seller"}), QUERY)
    assert no_id.seller_username == "plain_seller" and no_id.seller_user_id == ""
    assert parse_item_summary(_summary(seller={"userId": "x" * 300}), QUERY) is None


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ({"value": "19.75", "currency": "EUR"}, (Decimal("19.75"), "EUR")),
        ({"value": "83569.98", "currency": "KRW"}, (Decimal("83569.98"), "KRW")),
        ({"value": "349.99", "currency": "USD"}, (Decimal("349.99"), "USD")),
        ({"value": "349.99"}, (Decimal("349.99"), "USD")),  # no code: the query's currency
    ],
)
def test_browse_keeps_the_price_currency(price, expected):
    """A price in another currency keeps its code and is not held against the dollar band
    (19.75 EUR is not "below $300", 83,569.98 KRW is not "above $400")."""
    listing = parse_item_summary(_summary(price=price), QUERY)
    assert (listing.price, listing.currency) == expected


def test_usd_price_outside_the_band_is_still_filtered():
    assert parse_item_summary(_summary(price={"value": "19.75", "currency": "USD"}), QUERY) is None


def test_filter_value():
    assert browse_filter(QUERY) == (
        "conditionIds:{1000},maxDeliveryCost:0,itemLocationCountry:US,deliveryCountry:US,"
        "buyingOptions:{FIXED_PRICE},price:[300.00..400.00],priceCurrency:USD"
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_the_encoded_query_is_urlencode_of_the_search_params(seed):
    """search_listings encodes the query string itself (the filter's head quoted once):
    it must be exactly what urlencode makes of search_params, for any query."""
    rng = random.Random(seed)
    words = ["wireless", "café", "½", "100%", "a&b=c", "#1", "x/y?z", "(a, b)", "-used", "\t"]
    prices = ["0", "0.5", "19.999", "-3", "1E+3", "123456789.125", "NaN", "Infinity"]
    search = EbayBrowseSearch.__new__(EbayBrowseSearch)  # search_params reads no state
    for _ in range(300):
        keywords = rng.choice(["  ", "\u3000"]).join(rng.sample(words, rng.randint(0, 4)))
        query = ListingQuery(
            keywords=keywords,
            price_min=Decimal(rng.choice(prices)),
            price_max=Decimal(rng.choice(prices)),
            page=rng.randint(1, 60),
            page_size=rng.choice([1, 50, 200, 500, 0]),
            currency=rng.choice(["USD", "EUR", "us d", "€", "A&B"]),
        )
        params = search.search_params(query)
        window = EbayBrowseSearch.page_window(query)
        if params is None:
            assert window is None
            continue
        limit, offset = window  # type: ignore[misc]
        assert encoded_query(params["q"], limit, offset, query) == urlencode(params)


# --- against the in-process sandbox ------------------------------------------------------


def _sandbox_adapter(app: SandboxApp, client: httpx.AsyncClient):
    tokens = EbayAppTokens(
        client=client,
        base_url="http://sandbox.invalid",
        client_id="id",
        client_secret="secret",
        cache=cache,
    )
    return EbayBrowseSearch(client=client, base_url="http://sandbox.invalid", tokens=tokens), tokens


async def test_one_mint_for_fifty_concurrent_searches(sandbox_app):
    async with httpx.AsyncClient(transport=SandboxTransport(app=sandbox_app)) as client:
        ebay, tokens = _sandbox_adapter(sandbox_app, client)
        queries = [
            ListingQuery(f"Sonvik Q{i} Wireless Earbuds", Decimal(10), Decimal(500))
            for i in range(50)
        ]
        pages = await asyncio.gather(*(ebay.search_listings(q) for q in queries))
        # A second adapter (another run in this process) reuses the cached token.
        other, other_tokens = _sandbox_adapter(sandbox_app, client)
        await other.search_listings(queries[0])
    assert len(pages) == 50
    assert len(sandbox_app.requests(path=TOKEN_PATH)) == 1
    assert len(sandbox_app.requests(path=SEARCH_PATH, status=200)) == 51
    assert tokens.mints == 1 and other_tokens.mints == 0


async def test_revoked_token_is_reminted_once_for_concurrent_workers(sandbox_app):
    async with httpx.AsyncClient(transport=SandboxTransport(app=sandbox_app)) as client:
        ebay, tokens = _sandbox_adapter(sandbox_app, client)
        query = ListingQuery("Kitchora AB12 Air Fryer", Decimal(10), Decimal(500))
        await ebay.search_listings(query)
        sandbox_app.revoke_tokens()
        await asyncio.gather(*(ebay.search_listings(query) for _ in range(20)))
    assert len(sandbox_app.requests(path=TOKEN_PATH)) == 2
    assert tokens.mints == 2
    # However many workers saw the stale token rejected, one new token was minted.
    assert 1 <= len(sandbox_app.requests(path=SEARCH_PATH, status=401)) <= 20
    assert len(sandbox_app.requests(path=SEARCH_PATH, status=200)) == 21


async def test_sandbox_quota_spent_is_quota_exhausted(small_config):
    app = SandboxApp(small_config.replace(daily_quota=3, day_seconds=3600))
    async with httpx.AsyncClient(transport=SandboxTransport(app=app)) as client:
        ebay, _ = _sandbox_adapter(app, client)
        query = ListingQuery("Sonvik Q1 Earbuds", Decimal(1), Decimal(500))
        for _ in range(3):
            await ebay.search_listings(query)
        with pytest.raises(QuotaExhausted) as info:
            await ebay.search_listings(query)
        quota = await ebay.rate_limits()
    now = dt.datetime.now(dt.UTC)
    assert info.value.reset_at is not None
    assert now < info.value.reset_at <= now + dt.timedelta(seconds=3600)
    assert quota.limit == 3 and quota.remaining == 0


async def test_sandbox_wrong_client_is_auth_failed(small_config):
    app = SandboxApp(small_config.replace(ebay_client_id="good", ebay_client_secret="s3cret"))
    async with httpx.AsyncClient(transport=SandboxTransport(app=app)) as client:
        ebay, _ = _sandbox_adapter(app, client)  # client_id "id"
        with pytest.raises(AuthFailed, match="invalid_client"):
            await ebay.search_listings(QUERY)


def test_error_bodies_in_fixtures_are_documented_shapes():
    for name in (
        "browse_error_invalid_token.json",
        "browse_error_quota.json",
        "browse_error_offset.json",
    ):
        body = fixture_json(name)
        assert set(body["errors"][0]) >= {"errorId", "domain", "category", "message"}
    assert json.dumps(fixture_json("oauth_invalid_client.json"))


async def test_no_credential_or_token_in_logs_errors_or_urls(caplog):
    caplog.set_level("DEBUG", logger="collection.marketplaces")
    token = fixture_json("oauth_token.json")["access_token"]
    invalid = httpx.Response(401, json=fixture_json("browse_error_invalid_token.json"))
    recorded = Recorded(
        invalid, httpx.Response(200, json=fixture_json("browse_search.json")), invalid, invalid
    )
    async with recorded_client(recorded) as client:
        ebay, _ = _adapter(client)
        page = await ebay.search_listings(QUERY)
        with pytest.raises(AuthFailed) as info:
            await ebay.search_listings(QUERY)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    exposed = [
        caplog.text,
        str(info.value),
        info.value.url,
        page.request_url,
        *(listing.url for listing in page.listings),
    ]
    for secret in (CLIENT_ID, CLIENT_SECRET, basic, token):
        assert all(secret not in text for text in exposed)
    assert "item_summary/search" in caplog.text  # the debug line is there, redacted
