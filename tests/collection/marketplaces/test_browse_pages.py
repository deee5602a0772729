"""A Browse search page through ``search_listings`` gives what ``orjson`` and the
field-by-field parser give, whichever way it is read.

The oracle is ``orjson.loads`` + ``reference_parse`` (the parser before any fast path,
see ``test_browse_fast_path``). Pages are built from the same hostile records, encoded as
JSON text, plus byte-level oddities; each page must end as the same ``ParseError`` or as
the same listings (values and types), the same skipped count, total and next flag. Both
of ``browse_items``' ways are exercised and counted: the typed page with its per-item
fallback to the dict parser, and the page the typed decoder refuses.
"""

import json
import random
from decimal import Decimal

import httpx
import orjson
import pytest

from collection.marketplaces import browse_items
from collection.marketplaces.base import ListingQuery, ParseError
from collection.marketplaces.browse_items import read_search_page
from collection.marketplaces.ebay_browse import EbayAppTokens, EbayBrowseSearch
from collection.marketplaces.values import parse_count

from .support import fixture_json, fixture_text
from .test_browse_fast_path import QUERY, _same, good_item, hostile_items, reference_parse

BASE = "https://api.ebay.com"
TOKEN_PATH = "/identity/v1/oauth2/token"


def oracle(body: bytes):
    """("error",) or (listings, skipped, total, next) as the code before the typed
    decoder read the page."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ("error",)
    if not isinstance(data, dict) or not isinstance(data.get("itemSummaries", []), list):
        return ("error",)
    listings, skipped = [], 0
    for item in data.get("itemSummaries", []):
        listing = reference_parse(item, QUERY)
        if listing is None:
            skipped += 1
        else:
            listings.append(listing)
    return tuple(listings), skipped, parse_count(data.get("total")), bool(data.get("next"))


class Pages:
    """Answers the token call, then each search with the next body."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = list(bodies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json=fixture_json("oauth_token.json"))
        return httpx.Response(200, content=self.bodies.pop(0))


async def read_all(bodies: list[bytes]) -> list:
    outcomes = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(Pages(bodies))) as client:
        tokens = EbayAppTokens(client=client, base_url=BASE, client_id="id-1", client_secret="s-1")
        search = EbayBrowseSearch(client=client, base_url=BASE, tokens=tokens)
        for _ in bodies:
            try:
                page = await search.search_listings(QUERY)
            except ParseError:
                outcomes.append(("error",))
            else:
                outcomes.append((page.listings, page.skipped, page.total, page.has_next))
    return outcomes


def assert_same(actual, expected, body) -> None:
    assert len(actual) == len(expected), (body, actual, expected)
    if expected == ("error",):
        return
    listings, skipped, total, has_next = actual
    assert len(listings) == len(expected[0]), (body, listings, expected[0])
    assert all(_same(a, b) for a, b in zip(listings, expected[0], strict=True)), body
    assert (skipped, total, has_next) == expected[1:], body
    assert type(total) is type(expected[2])


def _page_text(items: list, rng: random.Random) -> str:
    """A page as JSON text (json.dumps writes NaN/Infinity literals and big integers as
    digits: what a hostile server could send)."""
    page: dict = {"href": "https://api.ebay.com/x", "total": len(items), "itemSummaries": items}
    roll = rng.random()
    if roll < 0.1:
        page["total"] = rng.choice([10**30, "12", -1, None, 2.5, [], "1,234"])
    elif roll < 0.2:
        page["next"] = rng.choice(["https://api.ebay.com/next", "", 0, 10**30, [], {}])
    elif roll < 0.25:
        page["warnings"] = [{"errorId": rng.choice([12012, 10**30, "x"]), "message": "w"}]
    elif roll < 0.28:
        del page["itemSummaries"]
    return json.dumps(page, ensure_ascii=rng.random() < 0.5)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_hostile_pages_read_as_before(seed, monkeypatch):
    rng = random.Random(seed)
    items = hostile_items(1500, seed)
    bodies = []
    while items:
        size = rng.choice([1, 1, 2, 3, 5])
        bodies.append(_page_text(items[:size], rng).encode())
        del items[:size]
    slow_items = []
    dict_parse = browse_items.parse_item_summary
    monkeypatch.setattr(
        browse_items,
        "parse_item_summary",
        lambda item, query: slow_items.append(item) or dict_parse(item, query),
    )
    typed = sum(read_search_page(body, QUERY) is not None for body in bodies)
    per_item = len(slow_items)
    for body, actual in zip(bodies, await read_all(bodies), strict=True):
        assert_same(actual, oracle(body), body)
    # Both ways were taken: pages read typed (some items through the dict parser) and
    # pages the typed decoder refused.
    assert 0 < typed < len(bodies)
    assert per_item > 0


def _item_text(**replace: str) -> str:
    item = json.dumps(good_item(3))
    for key, raw in replace.items():
        item = item[:-1] + f',"{key}":{raw}' + "}"
    return item


DEEP = "[" * 1100 + "]" * 1100
ODD_BODIES = [
    b"",
    b"   ",
    b"<!DOCTYPE html><html>maintenance</html>",
    b'{"total": 3, "itemSummaries": [{"itemId": "v1|1',
    b'{"itemSummaries": {"unexpected": true}}',
    b'{"itemSummaries": null}',
    b'["not", "an", "object"]',
    b"null",
    b"{}",
    b'{"itemSummaries": []} trailing',
    b"\xef\xbb\xbf" + b'{"itemSummaries": []}',
    b'{"itemSummaries": [null, 5, "x", []]}',
    # Invalid JSON or text in a field the parser never reads: refused, as before.
    ('{"itemSummaries": [' + _item_text(image="NaN") + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(image='"\\ud800"') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(image='"a\x01b"') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(image='"\\q"') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(image="01") + "]}").encode(),
    ('{"itemSummaries": [' + _item_text() + ",]}").encode(),
    ('{"itemSummaries": [' + _item_text(image='"é"') + "]}").encode("latin-1"),
    ('{"itemSummaries": [' + _item_text(title='"\xff"') + "]}").encode("latin-1"),
    # Odd but valid: duplicate keys (the last wins), escapes, numbers of every form.
    ('{"itemSummaries": [' + _item_text(title='"A  B"', itemId='"v1|2|0"') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(legacyItemId="185000000003") + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(title='"\\u0041\\u00e9\\ud83d\\ude00"') + "]}").encode(),
    (b'{"itemSummaries": [{"\\u0069temId": "v1|1|0"}]}'),
    ('{"itemSummaries": [' + _item_text(conditionId="1000") + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(conditionId="1000.0") + "]}").encode(),
    (
        '{"itemSummaries": [' + _item_text(price='{"value": 59.99, "currency": "USD"}') + "]}"
    ).encode(),
    ('{"itemSummaries": [' + _item_text(price='{"value": 6e1, "currency": "USD"}') + "]}").encode(),
    (
        '{"itemSummaries": [' + _item_text(price='{"value": 1e400, "currency": "USD"}') + "]}"
    ).encode(),
    ('{"itemSummaries": [' + _item_text(price='{"value": -0, "currency": "USD"}') + "]}").encode(),
    (
        '{"itemSummaries": ['
        + _item_text(seller='{"username": "u", "feedbackScore": 18446744073709551615}')
        + "]}"
    ).encode(),
    (
        '{"itemSummaries": ['
        + _item_text(seller='{"username": "u", "feedbackScore": 18446744073709551616}')
        + "]}"
    ).encode(),
    (
        '{"itemSummaries": ['
        + _item_text(seller='{"username": "u", "feedbackScore": -9223372036854775809}')
        + "]}"
    ).encode(),
    ('{"itemSummaries": [' + _item_text(seller='"someone"') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(shippingOptions='[{"shippingCost": 5}]') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(shippingOptions="[]") + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(itemLocation='{"country": 5}') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(image="[" * 1000 + "]" * 1000) + "]}").encode(),
    # Nesting past orjson's limit in a field the parser reads: refused, as before.
    ('{"itemSummaries": [' + _item_text(itemLocation=f'{{"country": {DEEP}}}') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(conditionId=DEEP) + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(seller=f'{{"username": {DEEP}}}') + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(legacyItemId=DEEP) + "]}").encode(),
    ('{"itemSummaries": [' + _item_text() + f'], "next": {DEEP}}}').encode(),
    ('{"itemSummaries": [' + _item_text() + f'], "warnings": [{{"errorId": {DEEP}}}]}}').encode(),
    ('{"itemSummaries": [' + _item_text(title="[" * 1100 + "]" * 1100) + "]}").encode(),
    ('{"itemSummaries": [' + _item_text(title="[" * 20000 + "]" * 20000) + "]}").encode(),
    ('{"itemSummaries": [' + _item_text() + '], "total": 123456789012345678901234567890}').encode(),
    ('{"itemSummaries": [], "itemSummaries": [' + _item_text() + "]}").encode(),
    fixture_text("browse_search.json").encode(),
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=range(len(ODD_BODIES)))
async def test_odd_bodies_read_as_before(body):
    (actual,) = await read_all([body])
    assert_same(actual, oracle(body), body)


@pytest.mark.parametrize(
    "unread",
    ["[" * 1100 + "]" * 1100, '{"a":' * 1100 + "1" + "}" * 1100, "1e400", "-1e400"],
)
async def test_what_orjson_refused_only_in_unread_fields_is_read(unread):
    """The one difference (module docstring of ``browse_items``): content that orjson
    refused in a field the parser never reads — nesting past its 1,024 levels, a number
    beyond a double — no longer fails the page; the listing is the one of the same page
    without that field. Deeper nesting is refused by msgspec too (a ParseError)."""
    clean = ('{"itemSummaries": [' + _item_text() + "]}").encode()
    body = ('{"itemSummaries": [' + _item_text(image=unread) + "]}").encode()
    assert oracle(body) == ("error",)
    (actual,) = await read_all([body])
    assert_same(actual, oracle(clean), body)
    deeper = ('{"itemSummaries": [' + _item_text(image="[" * 50_000 + "]" * 50_000) + "]}").encode()
    assert await read_all([deeper]) == [("error",)]


def test_the_recorded_page_keeps_its_listings_on_the_fast_path(monkeypatch):
    """The real payload's shapes: each listing kept without the dict parser; only the
    skipped items (paid shipping) are rebuilt as dicts."""
    rebuilt = []
    as_dict = browse_items._as_dict
    monkeypatch.setattr(
        browse_items, "_as_dict", lambda item: rebuilt.append(item.item_id) or as_dict(item)
    )
    query = ListingQuery("airpods pro 2", price_min=Decimal("300"), price_max=Decimal("400"))
    body = fixture_text("browse_search.json").encode()
    page = read_search_page(body, query)
    assert page is not None
    expected = [reference_parse(item, query) for item in orjson.loads(body)["itemSummaries"]]
    kept = [listing for listing in expected if listing is not None]
    assert len(kept) == 2 and all(map(_same, page.listings, kept))
    assert page.skipped == 3 and rebuilt == ["v1|134567890123|0"]
