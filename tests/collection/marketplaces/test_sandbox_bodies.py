"""The sandbox's Browse body is byte for byte the one it served before its build was made
cheaper (bytes joined, links quoted once, items encoded once per catalogue).

``reference_body`` is ``sandbox.ebay_browse.browse_body`` as it was (main @ 157ed12),
frozen here as the oracle, over the same universe search: plain and hostile catalogues,
queries from the best sellers (short and long, with model codes, groups and exclusions),
non-ASCII and odd origins, every page of a result, filters with and without warnings.
"""

import json
import random
from functools import lru_cache
from urllib.parse import quote_plus, urlencode

import httpx
import pytest

from collection.marketplaces.sandbox import (
    SandboxApp,
    SandboxConfig,
    SandboxTransport,
    amazon,
    ebay_browse,
)
from collection.marketplaces.sandbox.app import caches_clear
from collection.marketplaces.sandbox.catalogue import CatalogueParams
from collection.marketplaces.sandbox.ebay_browse import (
    BROWSE_MAX_WINDOW,
    _browse_item,
    browse_body,
    parse_browse_filter,
)
from collection.marketplaces.sandbox.universe import search


@lru_cache(maxsize=200_000)
def _reference_item_json(listing) -> str:
    return json.dumps(_browse_item(listing), separators=(",", ":"), ensure_ascii=False)


def reference_body(params, origin, q, raw_filter, limit, offset) -> bytes:
    listing_filter, warnings, _ = parse_browse_filter(raw_filter)
    listings = search(params, q, listing_filter)
    total = len(listings)
    page = listings[offset : offset + limit]

    def link(at: int) -> str:
        query = {"q": q, "limit": str(limit), "offset": str(at)}
        if raw_filter:
            query["filter"] = raw_filter
        return f"{origin}/buy/browse/v1/item_summary/search?{urlencode(query)}"

    data: dict = {"href": link(offset), "total": total}
    if offset + limit < total and offset + limit < BROWSE_MAX_WINDOW:
        data["next"] = link(offset + limit)
    if offset > 0:
        data["prev"] = link(max(0, offset - limit))
    data["limit"] = limit
    data["offset"] = offset
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)[:-1]
    if page:
        text += ',"itemSummaries":[' + ",".join(map(_reference_item_json, page)) + "]"
    if warnings:
        text += ',"warnings":' + json.dumps(
            list(warnings), separators=(",", ":"), ensure_ascii=False
        )
    return (text + "}").encode()


FILTERS = [
    "conditionIds:{1000},maxDeliveryCost:0,itemLocationCountry:US,deliveryCountry:US,"
    "buyingOptions:{FIXED_PRICE},price:[5.00..400.00],priceCurrency:USD",
    "",
    "price:[10..50]",  # 12012: no priceCurrency
    "maxDeliveryCost:0,conditions:{NEW}",  # 12011: no deliveryCountry
    "bogus:1,conditionIds:{x}",  # 12002 twice
    "itemLocationCountry:us,buyingOptions:{AUCTION|FIXED_PRICE}",
]
ORIGINS = ["http://sandbox.invalid", "http://127.0.0.1:8900", 'http://h"ost\\x', "http://é.test"]


def _queries(params) -> list[str]:
    out = ["", "new", "Zzqx nothing here", "café ½ 100%", "a&b=c#d?e/f +plus"]
    for node in ("172282", "1055398", "3760911"):
        for product in amazon.node_products(params, node)[:8]:
            words = product.title.split()
            out += [" ".join(words[:2]), " ".join(words[:4]), " ".join(words[:3]) + " -x (a, b)"]
    return out


@pytest.mark.parametrize("hostile", [False, True])
def test_browse_bodies_are_the_ones_served_before(hostile):
    config = SandboxConfig(
        seed=11, hostile=hostile, best_sellers_per_page=12, best_seller_pages=1, max_listings=80
    )
    params = CatalogueParams.from_config(config)
    compared = with_items = 0
    for q in _queries(params):
        for raw_filter in FILTERS:
            for limit in (3, 50, 200):
                for offset in (0, limit, 2 * limit):
                    origin = ORIGINS[compared % len(ORIGINS)]
                    args = (params, origin, q, raw_filter, limit, offset)
                    expected = reference_body(*args)
                    assert browse_body(*args) == expected, args
                    assert browse_body(*args) == expected  # memoised, still the same
                    compared += 1
                    with_items += b'"itemSummaries":[' in expected
    assert compared > 500 and with_items > 100


def test_encoded_items_are_per_catalogue_and_bounded(monkeypatch):
    """Two catalogues reuse item ids; each keeps its own items. The store is cleared at
    its cap and by caches_clear, and the bodies stay the same."""
    first = CatalogueParams.from_config(SandboxConfig(seed=3, best_sellers_per_page=12))
    second = CatalogueParams.from_config(SandboxConfig(seed=4, best_sellers_per_page=12))
    filt = FILTERS[1]
    monkeypatch.setattr(ebay_browse, "_ITEM_CAP", 25)
    for params in (first, second, first):
        for product in amazon.node_products(params, "172282")[:6]:
            q = " ".join(product.title.split()[:2])
            args = (params, "http://x", q, filt, 50, 0)
            assert browse_body.__wrapped__(*args) == reference_body(*args)
        assert len(ebay_browse._items_of(params)) <= 25
    caches_clear()
    assert ebay_browse._ITEMS == {}


async def test_the_app_serves_the_reference_body(small_config):
    """Through the handler (token, validation, quota) the body is the reference one."""
    app = SandboxApp(small_config)
    params = CatalogueParams.from_config(small_config)
    product = amazon.node_products(params, "172282")[0]
    q = " ".join(product.title.split()[:2])
    async with httpx.AsyncClient(
        transport=SandboxTransport(app=app), base_url="http://sandbox.invalid"
    ) as client:
        minted = await client.post(
            "/identity/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=("id", "secret"),
        )
        token = minted.json()["access_token"]
        reply = await client.get(
            "/buy/browse/v1/item_summary/search",
            params={"q": q, "limit": "50", "filter": FILTERS[0]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert reply.status_code == 200
    assert reply.content == reference_body(params, "http://sandbox.invalid", q, FILTERS[0], 50, 0)


def test_the_filter_is_quoted_as_quote_plus_quotes_it_whole():
    rng = random.Random(5)
    for _ in range(20_000):
        raw = "".join(rng.choice(",,a :{}[]é%+ \x00½|.") for _ in range(rng.randint(0, 12)))
        assert ebay_browse._quote_filter(raw) == quote_plus(raw), raw
