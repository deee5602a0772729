"""The sandbox marketplace: determinism, filters, validation, faults, hostile data."""

import asyncio
import base64
import dataclasses
import json
import time
import unicodedata
from collections import Counter
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest

from collection.marketplaces.base import (
    CaptchaError,
    ListingQuery,
    MarketplaceError,
    ParseError,
    RequestTimeout,
    ServerError,
)
from collection.marketplaces.ebay_browse import EbayAppTokens, EbayBrowseSearch
from collection.marketplaces.ebay_html import parse_search_page
from collection.marketplaces.oxylabs import (
    OxylabsAmazonBestSellers,
    OxylabsEbaySearch,
    ebay_search_url,
)
from collection.marketplaces.sandbox import (
    SandboxApp,
    SandboxConfig,
    SandboxTransport,
    amazon,
    catalogue,
    truth,
)
from collection.marketplaces.sandbox.app import caches_clear

BASE = "http://sandbox.invalid"
SEARCH = "/buy/browse/v1/item_summary/search"
BASIC = {"Authorization": "Basic " + base64.b64encode(b"user:password").decode()}
DROPSHIP_FILTER = (
    "conditionIds:{1000},maxDeliveryCost:0,itemLocationCountry:US,"
    "deliveryCountry:US,buyingOptions:{FIXED_PRICE}"
)


def _client(app: SandboxApp, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=SandboxTransport(app=app), base_url=BASE, **kwargs)


async def _token(client: httpx.AsyncClient) -> dict:
    response = await client.post(
        "/identity/v1/oauth2/token", headers=BASIC, data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _short_query(product) -> str:
    """A short query the product's listings share: its noun phrase."""
    from collection.marketplaces.sandbox import titles

    return titles.noun_of(product.profile, product.noun_index)


def _busy_product(config: SandboxConfig, minimum: int = 40) -> tuple[str, Decimal]:
    """(a short query, the Amazon price) of a best seller with ``minimum`` filtered copies."""
    params = catalogue.CatalogueParams.from_config(config)
    for node in ("172282", "1055398", "3760911", "165793011", "228013", "3375251"):
        for product in amazon.node_products(params, node):
            copies = truth.truth_copies(config, product.asin)
            if sum(c.passes_filters for c in copies) >= minimum:
                return _short_query(product), Decimal(product.price_cents) / 100
    raise AssertionError("no busy product in the sample")


# --- determinism ---------------------------------------------------------------------


async def _responses(app: SandboxApp, order: list[int]) -> dict[int, bytes]:
    title, price = _busy_product(app.config)
    band = f"price:[{price * Decimal('1.8'):.2f}..{price * Decimal('2.2'):.2f}],priceCurrency:USD"
    async with _client(app) as client:
        auth = await _token(client)
        requests = [
            lambda: client.post(
                "/v1/queries",
                headers=BASIC,
                json={"source": "amazon_bestsellers", "query": "172282", "parse": True},
            ),
            lambda: client.post(
                "/v1/queries",
                headers=BASIC,
                json={
                    "source": "amazon_bestsellers",
                    "query": "283155",
                    "start_page": 2,
                    "parse": True,
                },
            ),
            lambda: client.post(
                "/v1/queries",
                headers=BASIC,
                json={
                    "source": "ebay",
                    "url": ebay_search_url(
                        ListingQuery(title, price * Decimal("1.8"), price * Decimal("2.2"))
                    ),
                },
            ),
            lambda: client.get(
                SEARCH,
                headers=auth,
                params={
                    "q": title,
                    "limit": "20",
                    "offset": "20",
                    "filter": f"{DROPSHIP_FILTER},{band}",
                },
            ),
            lambda: client.get(SEARCH, headers=auth, params={"q": "Electric Kettle"}),
        ]
        bodies = {}
        for index in order:
            response = await requests[index]()
            assert response.status_code == 200
            bodies[index] = response.content
    return bodies


async def test_same_seed_gives_byte_identical_responses_in_any_order(small_config):
    caches_clear()
    forward = await _responses(SandboxApp(small_config), [0, 1, 2, 3, 4])
    caches_clear()
    backward = await _responses(SandboxApp(small_config), [4, 3, 2, 1, 0])
    assert forward == backward
    caches_clear()
    other = await _responses(SandboxApp(small_config.replace(seed=8)), [0, 1, 2, 3, 4])
    assert other[0] != forward[0] and other[4] != forward[4]


# --- filters -------------------------------------------------------------------------


async def test_browse_honours_every_filter(sandbox_app, small_config):
    title, price = _busy_product(small_config)
    async with _client(sandbox_app) as client:
        auth = await _token(client)

        async def items(filter_value: str | None) -> list[dict]:
            found, offset = [], 0
            while True:
                params = {"q": title, "limit": "200", "offset": str(offset)}
                if filter_value is not None:
                    params["filter"] = filter_value
                data = (await client.get(SEARCH, headers=auth, params=params)).json()
                found += data.get("itemSummaries", [])
                assert data["total"] >= len(found)
                if "next" not in data:
                    return found
                offset += 200

        everything = await items("buyingOptions:{FIXED_PRICE|AUCTION}")
        assert {i["conditionId"] for i in everything} > {"1000"}
        assert any(i["itemLocation"]["country"] != "US" for i in everything)
        assert any(
            float(i.get("shippingOptions", [{}])[0].get("shippingCost", {}).get("value", 0)) > 0
            for i in everything
        )
        assert {b for i in everything for b in i["buyingOptions"]} == {"FIXED_PRICE", "AUCTION"}
        default = await items(None)  # Browse returns FIXED_PRICE only by default
        assert {b for i in default for b in i["buyingOptions"]} == {"FIXED_PRICE"}

        new = await items("conditionIds:{1000}")
        assert new and all(i["conditionId"] == "1000" for i in new)
        free = await items("maxDeliveryCost:0,deliveryCountry:US")
        assert free and all(
            i.get("shippingOptions") is None
            or i["shippingOptions"][0]["shippingCost"]["value"] == "0.00"
            for i in free
        )
        assert any("shippingOptions" not in i for i in free + everything) or len(free) < 30
        us = await items("itemLocationCountry:US")
        assert us and all(i["itemLocation"]["country"] == "US" for i in us)
        auctions = await items("buyingOptions:{AUCTION}")
        assert all(i["buyingOptions"] == ["AUCTION"] for i in auctions)
        low, high = price * Decimal("1.8"), price * Decimal("2.2")
        band = await items(f"price:[{low:.2f}..{high:.2f}],priceCurrency:USD")
        assert band and all(low <= Decimal(i["price"]["value"]) <= high for i in band)
        only_low = await items(f"price:[{high:.2f}],priceCurrency:USD")
        assert all(Decimal(i["price"]["value"]) >= high for i in only_low)
        only_high = await items(f"price:[..{low:.2f}],priceCurrency:USD")
        assert all(Decimal(i["price"]["value"]) <= low for i in only_high)
        dropship = await items(f"{DROPSHIP_FILTER},price:[{low:.2f}..{high:.2f}],priceCurrency:USD")
        assert 0 < len(dropship) < len(everything)
        assert len(dropship) <= small_config.max_listings


async def test_html_page_and_browse_agree_on_the_filtered_listings(sandbox_app, small_config):
    title, price = _busy_product(small_config)
    query = ListingQuery(title, price * Decimal("1.8"), price * Decimal("2.2"), page_size=50)
    async with _client(sandbox_app) as client:
        tokens = EbayAppTokens(client=client, base_url=BASE, client_id="i", client_secret="s")
        browse = EbayBrowseSearch(client=client, base_url=BASE, tokens=tokens)
        oxylabs = OxylabsEbaySearch(client=client, base_url=BASE, username="u", password="p")
        browse_ids, html_ids, generations = set(), set(), set()
        for page in range(1, 5):
            result = await browse.search_listings(dataclasses.replace(query, page=page))
            browse_ids |= {listing.item_id.split("|")[1] for listing in result.listings}
            if not result.has_next:
                break
        for page in range(1, 5):
            q = dataclasses.replace(query, page=page)
            result = await oxylabs.search_listings(q)
            html_ids |= {listing.item_id for listing in result.listings}
            body = (
                await client.post(
                    "/v1/queries", headers=BASIC, json={"source": "ebay", "url": ebay_search_url(q)}
                )
            ).json()
            generations.add(parse_search_page(body["results"][0]["content"]).generation)
            if not result.has_next:
                break
    assert browse_ids and browse_ids == html_ids


def test_both_card_generations_are_served(small_config):
    params = catalogue.CatalogueParams.from_config(small_config)
    from collection.marketplaces.sandbox.app import _ebay_page_body, _parse_ebay_url

    seen = Counter()
    for product in amazon.node_products(params, "172282"):
        for query in (product.title, _short_query(product)):
            url = ebay_search_url(ListingQuery(query, Decimal(1), Decimal(100000)))
            body = json.loads(_ebay_page_body(params, "ebay", url, _parse_ebay_url(url)))
            html = body["results"][0]["content"]
            seen["s-card"] += 'class="s-card ' in html
            seen["s-item"] += 'class="s-item ' in html
            seen["split"] += "seller-info-text__field-0" in html
            seen["label"] += ">Seller: " in html
    assert seen["s-card"] and seen["s-item"] and seen["split"] and seen["label"]


async def test_browse_pagination_is_consistent(sandbox_app, small_config):
    title, _ = _busy_product(small_config)
    async with _client(sandbox_app) as client:
        auth = await _token(client)
        first = (await client.get(SEARCH, headers=auth, params={"q": title, "limit": "10"})).json()
        total = first["total"]
        seen, data, pages = [], first, 0
        while True:
            pages += 1
            seen += [item["itemId"] for item in data.get("itemSummaries", [])]
            if "next" not in data:
                break
            assert data["next"].startswith("http://sandbox.invalid" + SEARCH)
            data = (await client.get(data["next"], headers=auth)).json()
            assert data["prev"]
        assert len(seen) == len(set(seen)) == total and pages == -(-total // 10)


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "error_id"),
    [
        ({"q": "x", "limit": "0"}, 400, 12006),
        ({"q": "x", "limit": "201"}, 400, 12006),
        ({"q": "x", "limit": "abc"}, 400, 12006),
        ({"q": "x", "limit": "5", "offset": "7"}, 400, 12515),
        ({"q": "x", "limit": "50", "offset": "10000"}, 400, 12029),
        ({"limit": "50"}, 400, 12001),
        (
            {"q": "x", "filter": "itemLocationCountry:US,itemLocationRegion:NORTH_AMERICA"},
            400,
            12517,
        ),
    ],
)
async def test_browse_validation(sandbox_app, params, status, error_id):
    async with _client(sandbox_app) as client:
        response = await client.get(SEARCH, headers=await _token(client), params=params)
    assert response.status_code == status
    assert response.json()["errors"][0]["errorId"] == error_id


async def test_browse_filter_problems_are_warnings(sandbox_app):
    async with _client(sandbox_app) as client:
        auth = await _token(client)
        response = await client.get(
            SEARCH,
            headers=auth,
            params={
                "q": "Sonvik Q47 Wireless Earbuds",
                "filter": "price:[10..20],maxDeliveryCost:0,bogus:1",
            },
        )
    assert response.status_code == 200
    ids = {warning["errorId"] for warning in response.json()["warnings"]}
    assert ids == {12012, 12011, 12002}


async def test_browse_auth(sandbox_app):
    async with _client(sandbox_app) as client:
        missing = await client.get(SEARCH, params={"q": "x"})
        invalid = await client.get(
            SEARCH, params={"q": "x"}, headers={"Authorization": "Bearer v^1.1#nope"}
        )
        no_basic = await client.post(
            "/identity/v1/oauth2/token", data={"grant_type": "client_credentials"}
        )
        wrong_grant = await client.post(
            "/identity/v1/oauth2/token", headers=BASIC, data={"grant_type": "password"}
        )
        bad_scope = await client.post(
            "/identity/v1/oauth2/token",
            headers=BASIC,
            data={"grant_type": "client_credentials", "scope": "https://evil/scope"},
        )
        token = await client.post(
            "/identity/v1/oauth2/token", headers=BASIC, data={"grant_type": "client_credentials"}
        )
    assert (missing.status_code, missing.json()["errors"][0]["errorId"]) == (401, 1002)
    assert (invalid.status_code, invalid.json()["errors"][0]["errorId"]) == (401, 1001)
    assert (no_basic.status_code, no_basic.json()["error"]) == (401, "invalid_client")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")
    assert token.json()["expires_in"] == 7200
    assert token.json()["token_type"] == "Application Access Token"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"source": "amazon_bestsellers", "query": "1"}, 401),
        (BASIC, b"{not json", 422),
        (BASIC, {"source": "google_search", "query": "x"}, 400),
        (BASIC, {"source": "amazon_bestsellers"}, 400),
        (BASIC, {"source": "amazon_bestsellers", "query": "1", "domain": "xx"}, 400),
        (BASIC, {"source": "amazon_bestsellers", "query": "1", "pages": 0}, 400),
        (BASIC, {"source": "universal", "url": "https://example.com/"}, 400),
        (BASIC, {"source": "ebay"}, 400),
    ],
)
async def test_oxylabs_validation(sandbox_app, headers, body, status):
    async with _client(sandbox_app) as client:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = await client.post("/v1/queries", headers=headers, **kwargs)
    assert response.status_code == status
    assert "message" in response.json()


async def test_oxylabs_envelope_shape(sandbox_app, small_config):
    async with _client(sandbox_app) as client:
        response = await client.post(
            "/v1/queries",
            headers=BASIC,
            json={
                "source": "amazon_bestsellers",
                "domain": "com",
                "query": "172541",
                "start_page": 1,
                "pages": 2,
                "parse": True,
            },
        )
    data = response.json()
    assert [r["page"] for r in data["results"]] == [1, 2]
    first = data["results"][0]
    assert set(first) >= {
        "content",
        "created_at",
        "updated_at",
        "page",
        "url",
        "job_id",
        "status_code",
        "parser_type",
    }
    assert first["content"]["parse_status_code"] == 12000
    assert len(first["content"]["results"]) == small_config.best_sellers_per_page
    assert data["job"]["source"] == "amazon_bestsellers" and data["job"]["status"] == "done"


# --- faults --------------------------------------------------------------------------


async def _best_sellers(app: SandboxApp, *, timeout: float = 5.0):
    async with _client(app, timeout=timeout) as client:
        amazon = OxylabsAmazonBestSellers(client=client, base_url=BASE, username="u", password="p")
        return await amazon.best_sellers(node_id="172282", page=1)


async def test_error_rate_gives_transient_server_errors(small_config):
    app = SandboxApp(small_config.replace(error_rate=1.0))
    for _ in range(8):
        with pytest.raises(ServerError):
            await _best_sellers(app)
    statuses = {record.status for record in app.request_log}
    assert statuses <= {200, 500, 502, 503, 524, 612, 613} and len(statuses) > 1


async def test_timeout_rate_holds_past_the_client_timeout(small_config):
    app = SandboxApp(small_config.replace(timeout_rate=1.0, timeout_sleep_s=30))
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        await _best_sellers(app, timeout=0.2)
    assert time.monotonic() - started < 5


async def test_malformed_rate(small_config):
    app = SandboxApp(small_config.replace(malformed_rate=1.0))
    kinds = set()
    for _ in range(10):
        with pytest.raises((ParseError, CaptchaError)) as info:
            await _best_sellers(app)
        kinds.add(type(info.value))
    assert ParseError in kinds
    title, price = _busy_product(small_config)
    async with _client(app) as client:
        ebay = OxylabsEbaySearch(client=client, base_url=BASE, username="u", password="p")
        for _ in range(12):
            with pytest.raises((ParseError, CaptchaError)) as info:
                await ebay.search_listings(ListingQuery(title, price, price * 3))
            kinds.add(type(info.value))
    assert CaptchaError in kinds


async def test_rate_limit_answers_429_with_retry_after(small_config):
    app = SandboxApp(small_config.replace(rate_limit_rps=2))
    async with _client(app) as client:
        responses = [
            await client.post(
                "/v1/queries",
                headers=BASIC,
                json={"source": "amazon_bestsellers", "query": "172282", "parse": True},
            )
            for _ in range(5)
        ]
    statuses = [r.status_code for r in responses]
    assert statuses[:2] == [200, 200] and 429 in statuses
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1


async def test_faults_replay_for_the_same_config(small_config):
    config = small_config.replace(error_rate=0.3, malformed_rate=0.3)

    async def statuses() -> list[str]:
        app = SandboxApp(config)
        outcomes = []
        for _ in range(15):
            try:
                await _best_sellers(app)
                outcomes.append("ok")
            except MarketplaceError as exc:
                outcomes.append(exc.error_type)
        return outcomes

    first = await statuses()
    assert first == await statuses() and len(set(first)) > 1


async def test_latency(small_config):
    app = SandboxApp(small_config.replace(latency_ms=60, jitter_ms=10))
    started = time.monotonic()
    await asyncio.gather(*(_best_sellers(app) for _ in range(5)))  # concurrent: ~one latency
    elapsed = time.monotonic() - started
    assert 0.05 <= elapsed < 1.0


async def test_latency_includes_the_emulators_own_work(small_config, monkeypatch):
    """A remote API's latency is its whole response time: a page that takes the emulator
    40 ms to build still arrives after ~latency_ms, not latency_ms + 40 ms."""
    import dataclasses

    from collection.marketplaces.sandbox import app as sandbox_app

    route = sandbox_app.ROUTES["/v1/queries"]

    async def slow_page(app, request):
        time.sleep(0.1)  # the emulator busy building the page (blocks its loop, as CPU does)
        return await route.handler(app, request)

    monkeypatch.setitem(
        sandbox_app.ROUTES, "/v1/queries", dataclasses.replace(route, handler=slow_page)
    )
    app = SandboxApp(small_config.replace(latency_ms=150))
    started = time.monotonic()
    await _best_sellers(app)
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 0.22, elapsed  # not >= 0.25: the 100 ms are within the 150
    assert 150 <= app.request_log[-1].duration_ms < 220


async def test_daily_quota_and_rate_limit_endpoint(small_config):
    app = SandboxApp(small_config.replace(daily_quota=2, day_seconds=0.5))
    async with _client(app) as client:
        auth = await _token(client)
        statuses = [
            (await client.get(SEARCH, headers=auth, params={"q": "x"})).status_code
            for _ in range(3)
        ]
        spent = await client.get(SEARCH, headers=auth, params={"q": "x"})
        report = (
            await client.get(
                "/developer/analytics/v1_beta/rate_limit/",
                headers=auth,
                params={"api_context": "buy", "api_name": "Browse"},
            )
        ).json()
        await asyncio.sleep(0.6)  # a new "day"
        fresh = await client.get(SEARCH, headers=auth, params={"q": "x"})
    assert statuses == [200, 200, 429]
    assert spent.json()["errors"][0]["errorId"] == 2001 and "retry-after" not in spent.headers
    rate = report["rateLimits"][0]["resources"][0]["rates"][0]
    assert rate["limit"] == 2 and rate["remaining"] == 0 and rate["reset"].endswith("Z")
    assert fresh.status_code == 200


async def test_request_log_endpoint(sandbox_app):
    async with _client(sandbox_app) as client:
        await client.post(
            "/v1/queries",
            headers=BASIC,
            json={"source": "amazon_bestsellers", "query": "1", "parse": True},
        )
        await client.get(SEARCH)
        log = (await client.get("/__sandbox__/requests")).json()["requests"]
        only_oxylabs = (await client.get("/__sandbox__/requests?provider=oxylabs")).json()
    assert [(r["method"], r["path"], r["provider"], r["status"]) for r in log] == [
        ("POST", "/v1/queries", "oxylabs", 200),
        ("GET", SEARCH, "ebay-browse", 401),
    ]
    assert len(only_oxylabs["requests"]) == 1
    assert len(sandbox_app.request_log) == 4


def test_request_log_is_bounded(small_config):
    app = SandboxApp(small_config.replace(request_log_size=3))
    assert app.request_log.maxlen == 3


# --- catalogue -----------------------------------------------------------------------


def test_catalogue_realism(small_config):
    params = catalogue.CatalogueParams.from_config(SandboxConfig(seed=3))
    from collection.marketplaces.sandbox.amazon import _department_by_node

    nodes = list(_department_by_node())[:36]
    assert len(nodes) >= 30
    categories_by_asin: dict[str, set] = {}
    prices = Counter()
    for node in nodes:
        for page in (1, 2):
            for record in amazon.best_sellers_page(params, node, page):
                if isinstance(record, dict) and "asin" in record:
                    categories_by_asin.setdefault(record["asin"], set()).add(node)
                    value = record.get("price", "missing")
                    prices[type(value).__name__ if value not in (None, 0) else repr(value)] += 1
    assert all(len(asin) == 10 for asin in categories_by_asin)
    assert any(len(nodes) > 1 for nodes in categories_by_asin.values())  # shared best sellers
    assert prices["float"] and prices["str"] and prices["int"] and prices["None"] and prices["0"]


def test_sellers_recur_across_products(small_config):
    config = SandboxConfig(seed=3)
    params = catalogue.CatalogueParams.from_config(config)
    products = 0
    counts: Counter = Counter()
    for node in ("172282", "1055398", "3760911"):
        for product in amazon.node_products(params, node)[:25]:
            products += 1
            counts.update({c.seller_username for c in truth.truth_copies(config, product.asin)})
    ranked = counts.most_common()
    assert ranked[0][1] >= products // 3  # a few copy a large share of the best sellers
    assert ranked[-1][1] <= 3 and len(counts) > 50  # and a long tail copies a handful
    assert any("." in n or "_" in n for n in counts) and any(n != n.lower() for n in counts)


async def test_hostile_mode_is_parsed_safely(small_config):
    app = SandboxApp(small_config.replace(hostile=True, seed=11, best_sellers_per_page=50))
    async with _client(app) as client:
        amazon = OxylabsAmazonBestSellers(client=client, base_url=BASE, username="u", password="p")
        tokens = EbayAppTokens(client=client, base_url=BASE, client_id="i", client_secret="s")
        browse = EbayBrowseSearch(client=client, base_url=BASE, tokens=tokens)
        html = OxylabsEbaySearch(client=client, base_url=BASE, username="u", password="p")
        products, skipped = [], 0
        for node in ("172282", "1055398", "3760911", "283155"):
            page = await amazon.best_sellers(node_id=node, page=1)
            products += page.products
            skipped += page.skipped
        listings = []
        for product in products[:36]:
            band = (Decimal(1), Decimal(10**6))
            for source in (browse, html):
                query = " ".join(product.title.split()[1:3])  # the noun: many listings
                try:
                    result = await source.search_listings(ListingQuery(query, *band))
                except CaptchaError:
                    # A normal page with the hidden reCAPTCHA iframe: the HTML adapter
                    # still reads it as a captcha until issue 13 part 6 lands there.
                    assert source is html
                    continue
                listings += result.listings
                skipped += result.skipped
    assert skipped > 0
    texts = (
        [p.title for p in products]
        + [listing.title for listing in listings]
        + [listing.seller_username for listing in listings]
    )
    assert all("\x00" not in text for text in texts)
    assert all(len(p.title) <= 1000 for p in products)
    assert all(len(listing.seller_username) <= 255 for listing in listings)
    assert all(p.price is None or Decimal(0) < p.price <= Decimal(10**6) for p in products)
    assert any("<script>" in text or "onerror" in text for text in texts)
    usernames = {listing.seller_username for listing in listings}
    assert any(unicodedata.normalize("NFKC", u) != u for u in usernames)  # full-width
    assert any(u != u.strip() or u.isupper() for u in usernames) or len(usernames) > 50


def test_urlencode_of_filters_roundtrips():
    assert "conditionIds%3A%7B1000%7D" in urlencode({"filter": "conditionIds:{1000}"})
