"""The Browse item parser's fast path gives what the field-by-field cleaning gives.

``reference_parse`` is the parser as it was before the fast path (every field through
``_text`` / ``parse_*`` / ``_shipping_cost`` / ``_item_url``), frozen here as the oracle.
Records are the sandbox's well-formed shape with one to three fields replaced by hostile
values (wrong types, controls, padding, over-long text, odd numbers); each must parse to
an identical ``Listing`` (same values, same types) or be skipped by both.
"""

import copy
import random
from decimal import Decimal

import pytest

from collection.marketplaces import browse_items
from collection.marketplaces.base import Listing, ListingQuery
from collection.marketplaces.ebay_browse import parse_item_summary
from collection.marketplaces.values import (
    MAX_ITEM_ID_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_USERNAME_LENGTH,
    clean_currency,
    clean_text,
    clean_url,
    parse_count,
    parse_percent,
    parse_price,
)

# --- the oracle: ebay_browse's parser before the fast path (main @ 6ae8594), with one fix --

_FREE = frozenset({"0", "0.0", "0.00"})
_ZERO = Decimal(0)
_NOT_FREE = object()  # every shipping option states a positive cost
ITEM_ORIGIN = "https://www.ebay.com/itm/"


def _shipping_cost(options: object) -> Decimal | None | object:
    """0 when an option ships free, None when unknown, ``_NOT_FREE`` when every option
    states a positive cost. A missing container proves nothing (eBay omits it), so the
    server-side maxDeliveryCost filter is trusted and the cost is unknown."""
    if options.__class__ is not list or not options:
        return None
    unknown = False
    for option in options:
        if option.__class__ is not dict:
            unknown = True
            continue
        cost = option.get("shippingCost")
        value = cost.get("value") if cost.__class__ is dict else None
        # The one change: an unhashable value (a list) raised TypeError here.
        if value.__class__ is str and value in _FREE:
            return _ZERO
        if value is None or parse_price(value) is None:
            unknown = True  # missing or garbage: proves nothing either way
    return None if unknown else _NOT_FREE


def _text(value: object, max_length: int) -> str:
    """``clean_text`` with a fast path for the common short, printable, single-spaced
    value (about half the cost of a page's parsing otherwise)."""
    if (
        value.__class__ is str
        and len(value) <= max_length
        and value.isprintable()
        and "  " not in value
        and value[:1] != " "
        and value[-1:] != " "
    ):
        return value
    return clean_text(value, max_length)


def _item_url(get, item_id: str) -> str:
    """``https://www.ebay.com/itm/<legacyItemId>`` (the form both routes store), else the
    item's own ``itemWebUrl`` when it is a safe URL."""
    legacy = get("legacyItemId")
    if legacy.__class__ is not str or not legacy.isdigit() or len(legacy) > 20:
        parts = item_id.split("|")  # "v1|<legacyId>|<variationId>"
        legacy = parts[1] if len(parts) == 3 else ""
    if legacy.isascii() and legacy.isdigit() and len(legacy) <= 20:
        return ITEM_ORIGIN + legacy
    return clean_url(get("itemWebUrl"), "https://www.ebay.com")


def reference_parse(item: object, query: ListingQuery) -> Listing | None:
    """One ``itemSummaries[]`` entry, or None when unusable or outside the filters."""
    if item.__class__ is not dict:
        return None
    get = item.get
    item_id = get("itemId")
    seller = get("seller")
    if item_id.__class__ is not str or seller.__class__ is not dict:
        return None
    item_id = _text(item_id, MAX_ITEM_ID_LENGTH + 1)
    if not item_id or len(item_id) > MAX_ITEM_ID_LENGTH:
        return None
    user_id = seller.get("userId")
    user_id = _text(user_id, MAX_USERNAME_LENGTH + 1) if user_id is not None else ""
    if len(user_id) > MAX_USERNAME_LENGTH:
        user_id = ""
    # Since 2025-09-26 some items carry the immutable user id in place of the username:
    # it is kept as the (opaque) username, and an item with only the id is still usable.
    username = _text(seller.get("username"), MAX_USERNAME_LENGTH + 1) or user_id
    if not username or len(username) > MAX_USERNAME_LENGTH:
        return None
    condition_id = get("conditionId")
    if condition_id is not None and condition_id != "1000" and str(condition_id) != "1000":
        return None
    location = get("itemLocation")
    country = ""
    if location.__class__ is dict:
        located = location.get("country")
        if located is not None:
            if located != "US":
                return None
            country = located
    shipping = _shipping_cost(get("shippingOptions"))
    if shipping is _NOT_FREE:
        return None
    price_obj = get("price")
    if price_obj.__class__ is not dict:
        price_obj = {}
    price = parse_price(price_obj.get("value"))
    currency = clean_currency(price_obj.get("currency"), query.currency)
    # The band is in the query's currency: a price in another one is kept, with its own
    # code, and is never compared with (or read as) dollars.
    if price is not None and currency == query.currency:
        if not (query.price_min <= price <= query.price_max):
            return None
    return Listing(
        item_id,
        _text(get("title"), MAX_TITLE_LENGTH),
        price,
        currency,
        username,
        parse_count(seller.get("feedbackScore")),
        parse_percent(seller.get("feedbackPercentage")),
        _item_url(get, item_id),
        shipping,  # type: ignore[arg-type]
        country,
        user_id,
    )


# --- records -------------------------------------------------------------------------------

QUERY = ListingQuery(keywords="wireless earbuds", price_min=Decimal("50"), price_max=Decimal("120"))


def good_item(n: int = 1) -> dict:
    return {
        "itemId": f"v1|1850000{n:05d}|0",
        "title": f"Wireless Earbuds Bluetooth 5.3 Headphones Noise Cancelling {n}",
        "leafCategoryIds": ["112529"],
        "price": {"value": "59.99", "currency": "USD"},
        "seller": {"username": f"seller_{n}", "feedbackPercentage": "98.6", "feedbackScore": 1234},
        "condition": "New",
        "conditionId": "1000",
        "shippingOptions": [
            {"shippingCostType": "FIXED", "shippingCost": {"value": "0.00", "currency": "USD"}}
        ],
        "itemWebUrl": f"https://www.ebay.com/itm/1850000{n:05d}",
        "itemLocation": {"postalCode": "9****", "country": "US"},
        "legacyItemId": f"1850000{n:05d}",
    }


HOSTILE = [
    None,
    "",
    " ",
    "  ",
    "x",
    " x",
    "x ",
    "a  b",
    "a\tb",
    "a\x00b",
    "\x85",
    "\u200b",
    "\ud7ff",
    "é",
    "١٢٣",
    "²",
    "v1|123|0",
    "v1|١٢٣|0",
    "v1||0",
    "123",
    "0",
    "-5",
    "0.00",
    "0.0",
    "0",
    "59.99",
    "59.999",
    "1e400",
    "NaN",
    "$59.99",
    "US $59.99",
    "1,299.99",
    "100.00",
    "119.99",
    "120.01",
    "49.99",
    "50.00",
    "1000001",
    "98.6",
    "98.6%",
    "101",
    "(1,234)",
    "1.2K",
    "USD",
    "usd",
    "EUR",
    "GB",
    "US",
    "1000",
    "3000",
    "https://www.ebay.com/itm/1",
    "javascript:alert(1)",
    "/itm/5",
    "x" * 81,
    "x" * (MAX_ITEM_ID_LENGTH + 1),
    "y" * (MAX_USERNAME_LENGTH + 1),
    "z" * (MAX_TITLE_LENGTH + 1),
    " " + "w" * MAX_TITLE_LENGTH,
    "d" * 21,
    "9" * 21,
    "9" * 20,
    0,
    1,
    -1,
    1000,
    10**30,
    59.99,
    0.0,
    -3.5,
    float("inf"),
    True,
    False,
    [],
    [1],
    ["x"],
    {},
    {"value": "0.00"},
    {"value": []},
    {"country": "US"},
    [{"shippingCost": {"value": "0.00"}}],
    [{"shippingCost": {"value": []}}],
    [{"shippingCost": {"value": "4.99"}}],
    [{"shippingCost": {"value": {}}}],
    [None, {"shippingCost": {"value": "0.00"}}],
    [{"shippingCost": "?"}],
    [{"shippingCost": {"value": "4.99"}}, {"shippingCost": {"value": "0.0"}}],
    [{"shippingCost": {"value": 0}}],
    [{"shippingCost": {"value": "abc"}}],
]
FIELDS = {
    "": [
        "itemId",
        "title",
        "price",
        "seller",
        "conditionId",
        "shippingOptions",
        "itemWebUrl",
        "itemLocation",
        "legacyItemId",
    ],
    "price": ["value", "currency"],
    "seller": ["username", "userId", "feedbackPercentage", "feedbackScore"],
    "itemLocation": ["country"],
}
MISSING = object()


def hostile_items(count: int, seed: int) -> list:
    rng = random.Random(seed)
    items: list = [None, [], "item", 5, {}]
    for n in range(count):
        item = good_item(n)
        for _ in range(rng.randint(1, 3)):
            parent = rng.choice(list(FIELDS))
            key = rng.choice(FIELDS[parent])
            value = rng.choice(HOSTILE) if rng.random() > 0.1 else MISSING
            target = item if parent == "" else item.get(parent)
            if not isinstance(target, dict):
                continue
            if value is MISSING:
                target.pop(key, None)
            else:
                target[key] = copy.deepcopy(value)  # no record shares (or nests) another's
        items.append(item)
    return items


def _same(fast: Listing | None, slow: Listing | None) -> bool:
    if fast is None or slow is None:
        return fast is slow
    return tuple(fast) == tuple(slow) and [type(v) for v in fast] == [type(v) for v in slow]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_path_parses_like_the_field_by_field_cleaning(seed):
    items = hostile_items(3000, seed)
    kept = 0
    for item in items:
        fast, slow = parse_item_summary(item, QUERY), reference_parse(item, QUERY)
        assert _same(fast, slow), (item, fast, slow)
        if fast is not None:
            assert type(fast) is Listing
            kept += 1
    assert 0 < kept < len(items)  # both kinds occur


def test_well_formed_items_take_the_values_as_they_are():
    listing = parse_item_summary(good_item(7), QUERY)
    assert listing == Listing(
        item_id="v1|185000000007|0",
        title="Wireless Earbuds Bluetooth 5.3 Headphones Noise Cancelling 7",
        price=Decimal("59.99"),
        currency="USD",
        seller_username="seller_7",
        seller_feedback_score=1234,
        seller_feedback_percent=Decimal("98.6"),
        url="https://www.ebay.com/itm/185000000007",
        shipping_cost=Decimal(0),
        location="US",
    )
    assert listing._fields == Listing._fields and listing.seller_user_id == ""


def test_an_unhashable_shipping_cost_is_an_unknown_cost_not_a_crash():
    item = good_item()
    item["shippingOptions"] = [{"shippingCost": {"value": [1]}}]
    listing = parse_item_summary(item, QUERY)  # unknown cost: kept, as for "abc"
    assert listing is not None and listing.shipping_cost is None
    item["shippingOptions"] = [{"shippingCost": {"value": "4.99"}}, {"shippingCost": {"value": {}}}]
    assert parse_item_summary(item, QUERY).shipping_cost is None


def test_the_memos_are_capped(monkeypatch):
    monkeypatch.setattr(browse_items, "_MEMO_CAP", 10)
    monkeypatch.setattr(browse_items, "_prices", {})
    for cents in range(25):
        item = good_item()
        item["price"]["value"] = f"60.{cents:02d}"
        assert parse_item_summary(item, QUERY).price == Decimal(f"60.{cents:02d}")
    assert len(browse_items._prices) <= 10
