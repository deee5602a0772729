"""The eBay Browse side of the sandbox: filter parsing (errors and warnings as eBay
documents them) and the ``item_summary/search`` body. The HTTP handler is in ``app``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from json.encoder import encode_basestring as _quoted  # json.dumps' own, ensure_ascii=False
from urllib.parse import quote_plus

from . import universe
from .catalogue import CatalogueParams, ListingFilter, SandboxListing
from .responses import Response
from .responses import browse_error as _browse_error

BROWSE_MAX_WINDOW = 10_000

_CONDITION_NAMES = {1000: "New", 1500: "Open box", 2500: "Seller refurbished", 3000: "Used"}


def _split_filter(value: str) -> list[str]:
    """Split on commas that are not inside {...} or [...]."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in value:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        terms.append("".join(current))
    return [term.strip() for term in terms if term.strip()]


def _set_values(value: str) -> list[str] | None:
    if value.startswith("{") and value.endswith("}"):
        return [v.strip() for v in value[1:-1].split("|") if v.strip()]
    return None


def _warning(error_id: int, message: str, name: str, value: str) -> dict:
    return {
        "errorId": error_id,
        "domain": "API_BROWSE",
        "category": "REQUEST",
        "message": message,
        "parameters": [{"name": name, "value": value}],
    }


@lru_cache(maxsize=1024)
def parse_browse_filter(raw: str) -> tuple[ListingFilter, tuple[dict, ...], Response | None]:
    """The filter, the warnings eBay would return with a 200, or an error response.

    Memoised (every search sends its filter); the warning dicts must not be mutated.
    """
    warnings: list[dict] = []
    conditions = None
    free = False
    country = None
    buying: frozenset[str] | None = frozenset({"FIXED_PRICE"})  # Browse's default
    price_min = price_max = None
    price_currency = None
    price_term = None
    delivery_country = None
    location_filters = 0
    for term in _split_filter(raw):
        name, sep, value = term.partition(":")
        name, value = name.strip(), value.strip()
        if not sep:
            warnings.append(_warning(12002, "Invalid filter.", "filter", term))
            continue
        if name == "conditionIds":
            values = _set_values(value)
            try:
                conditions = frozenset(int(v) for v in values) if values else None
            except ValueError:
                conditions = None
            if conditions is None:
                warnings.append(_warning(12002, "Invalid filter value.", name, value))
        elif name == "conditions":
            values = _set_values(value) or []
            mapped: set[int] = set()
            for v in values:
                if v == "NEW":
                    mapped |= {1000, 1500}
                elif v == "USED":
                    mapped |= {2500, 3000}
            conditions = frozenset(mapped) if mapped else None
        elif name == "maxDeliveryCost":
            try:
                free = Decimal(value) == 0
            except InvalidOperation:
                warnings.append(_warning(12002, "Invalid filter value.", name, value))
        elif name == "deliveryCountry":
            delivery_country = value
        elif name in ("itemLocationCountry", "itemLocationRegion"):
            location_filters += 1
            if name == "itemLocationCountry":
                country = value.upper()
        elif name == "buyingOptions":
            values = _set_values(value)
            if values:
                buying = frozenset(values)
            else:
                warnings.append(_warning(12002, "Invalid filter value.", name, value))
        elif name == "price":
            price_term = value
        elif name == "priceCurrency":
            price_currency = value
        else:
            warnings.append(_warning(12002, "Invalid filter name.", "filter", name))
    if location_filters > 1:
        return (
            ListingFilter(),
            (),
            _browse_error(
                400,
                12517,
                "Only one item location filter can be used in a call.",
                parameters=[{"name": "filter", "value": raw[:200]}],
            ),
        )
    if free and not delivery_country:
        warnings.append(
            _warning(
                12011,
                "The 'deliveryCountry' filter is required with "
                "'maxDeliveryCost'. The filter was ignored.",
                "filter",
                "maxDeliveryCost",
            )
        )
        free = False
    if price_term is not None:
        low, high = _price_range(price_term)
        if price_currency is None:
            warnings.append(
                _warning(
                    12012,
                    "The 'priceCurrency' filter must be used with the "
                    "'price' filter. The price filter was ignored.",
                    "filter",
                    "price",
                )
            )
        elif low is False:
            warnings.append(_warning(12002, "Invalid filter value.", "price", price_term))
        else:
            price_min = ListingFilter.cents(low) if low is not None else None
            price_max = ListingFilter.cents(high, upper=True) if high is not None else None
    return (
        ListingFilter(
            condition_ids=conditions,
            free_shipping=free,
            country=country,
            buying_options=buying,
            price_min_cents=price_min,
            price_max_cents=price_max,
        ),
        tuple(warnings),
        None,
    )


def _price_range(term: str):
    """[lo..hi], [lo], [..hi] → (lo, hi) Decimals/None, or (False, False) when invalid."""
    if not (term.startswith("[") and term.endswith("]")):
        return False, False
    inner = term[1:-1]
    low_text, sep, high_text = inner.partition("..")
    try:
        low = Decimal(low_text) if low_text.strip() else None
        high = Decimal(high_text) if sep and high_text.strip() else (None if sep else low)
    except InvalidOperation:
        return False, False
    if (low is not None and not low.is_finite()) or (high is not None and not high.is_finite()):
        return False, False
    return low, high


def _browse_item(listing: SandboxListing) -> dict:
    seller = listing.seller
    seller_json: dict = {
        "username": seller.username,
        "feedbackPercentage": seller.feedback_percent,
        "feedbackScore": seller.feedback_score,
    }
    if listing.show_user_id:
        seller_json["userId"] = seller.user_id
    item: dict = {
        "itemId": f"v1|{listing.item_id}|0",
        "title": listing.title,
        "leafCategoryIds": ["112529"],
        "categories": [{"categoryId": "112529", "categoryName": "Headphones"}],
        "image": {"imageUrl": f"https://i.ebayimg.com/images/g/{listing.item_id}/s-l225.jpg"},
        "price": {"value": listing.price_text, "currency": "USD"},
        "itemHref": f"https://api.ebay.com/buy/browse/v1/item/v1%7C{listing.item_id}%7C0",
        "seller": seller_json,
        "condition": _CONDITION_NAMES.get(listing.condition_id, "New"),
        "conditionId": str(listing.condition_id),
    }
    if not listing.omit_shipping_options:
        item["shippingOptions"] = [
            {
                "shippingCostType": "FIXED",
                "shippingCost": {"value": listing.shipping_text, "currency": "USD"},
            }
        ]
    item.update(
        {
            "buyingOptions": [listing.buying_option],
            "itemWebUrl": f"https://www.ebay.com/itm/{listing.item_id}",
            "itemLocation": {"postalCode": listing.postal_code, "country": listing.country},
            "adultOnly": False,
            "legacyItemId": listing.item_id,
            "availableCoupons": False,
            "itemCreationDate": "2026-10-" + f"{1 + int(listing.item_id) % 28:02d}T08:15:00.000Z",
            "topRatedBuyingExperience": int(listing.item_id) % 7 == 0,
            "priorityListing": int(listing.item_id) % 11 == 0,
            "listingMarketplaceId": "EBAY_US",
        }
    )
    return item


@lru_cache(maxsize=2048)
def browse_body(
    params: CatalogueParams, origin: str, q: str, raw_filter: str, limit: int, offset: int
) -> bytes:
    """The JSON body of one search page (memoised: a run repeats few pages, but builds
    each of its ~2,500 once, so the build is the hot path: it joins bytes, see
    ``_item_bytes``)."""
    listing_filter, warnings, _ = parse_browse_filter(raw_filter)
    listings = universe.search(params, q, listing_filter)
    total = len(listings)
    page = listings[offset : offset + limit]
    # urlencode({"q", "limit", "offset", "filter"}) with the query's parts quoted once.
    base = f"{origin}/buy/browse/v1/item_summary/search?q={quote_plus(q)}&limit={limit}&offset="
    tail = f"&filter={_quote_filter(raw_filter)}" if raw_filter else ""
    data: dict = {"href": f"{base}{offset}{tail}", "total": total}
    if offset + limit < total and offset + limit < BROWSE_MAX_WINDOW:
        data["next"] = f"{base}{offset + limit}{tail}"
    if offset > 0:
        data["prev"] = f"{base}{max(0, offset - limit)}{tail}"
    data["limit"] = limit
    data["offset"] = offset
    parts = [json.dumps(data, separators=(",", ":"), ensure_ascii=False)[:-1].encode()]
    if page:  # items are serialised once per listing and spliced in (the hot path)
        items = _items_of(params)
        get = items.get
        encoded = []
        for listing in page:
            item = get(listing.item_id)
            if item is None:
                item = _item_bytes(items, listing)
            encoded.append(item)
        parts += (b',"itemSummaries":[', b",".join(encoded), b"]")
    if warnings:
        text = json.dumps(list(warnings), separators=(",", ":"), ensure_ascii=False)
        parts.append(b',"warnings":' + text.encode())
    parts.append(b"}")
    return b"".join(parts)


@lru_cache(maxsize=4096)
def _quote_term(term: str) -> str:
    return quote_plus(term)


def _quote_filter(raw: str) -> str:
    """``quote_plus(raw)`` term by term (quoting is per character: "," is "%2C"), so the
    terms every search repeats are quoted once (~1 µs instead of ~8 for a run's filter)."""
    return "%2C".join(map(_quote_term, raw.split(",")))


# A listing's item JSON, per catalogue (an item id names one listing there), encoded once:
# a page is then one join of bytes, without hashing each listing (a 15-field tuple) for a
# memo or encoding the whole page again. Bounded like the memo it replaces (~200 MB).
_ITEM_CAP = 200_000
_ITEMS: dict[CatalogueParams, dict[str, bytes]] = {}


def _items_of(params: CatalogueParams) -> dict[str, bytes]:
    items = _ITEMS.get(params)
    if items is None:
        items = _ITEMS[params] = {}
    return items


def _item_bytes(items: dict[str, bytes], listing: SandboxListing) -> bytes:
    if len(items) >= _ITEM_CAP:
        items.clear()
    item = items[listing.item_id] = _item_json(listing).encode()
    return item


_CONDITION_JSON = {cid: _quoted(name) for cid, name in _CONDITION_NAMES.items()}
_NEW_JSON = _quoted("New")


def _item_json(listing: SandboxListing) -> str:
    """``json.dumps(_browse_item(listing), separators=(",", ":"), ensure_ascii=False)``,
    written as a template (a first search encodes each of its listings: a third of the
    cost of json.dumps over the dict; tests compare the two)."""
    seller = listing.seller
    item_id = _quoted(listing.item_id)[1:-1]
    user_id = f',"userId":{_quoted(seller.user_id)}' if listing.show_user_id else ""
    shipping = (
        ""
        if listing.omit_shipping_options
        else ',"shippingOptions":[{"shippingCostType":"FIXED","shippingCost":'
        f'{{"value":{_quoted(listing.shipping_text)},"currency":"USD"}}}}]'
    )
    number = int(listing.item_id)
    return (
        f'{{"itemId":"v1|{item_id}|0","title":{_quoted(listing.title)},'
        '"leafCategoryIds":["112529"],'
        '"categories":[{"categoryId":"112529","categoryName":"Headphones"}],'
        f'"image":{{"imageUrl":"https://i.ebayimg.com/images/g/{item_id}/s-l225.jpg"}},'
        f'"price":{{"value":{_quoted(listing.price_text)},"currency":"USD"}},'
        f'"itemHref":"https://api.ebay.com/buy/browse/v1/item/v1%7C{item_id}%7C0",'
        f'"seller":{{"username":{_quoted(seller.username)},'
        f'"feedbackPercentage":{_quoted(seller.feedback_percent)},'
        f'"feedbackScore":{int.__repr__(seller.feedback_score)}{user_id}}},'
        f'"condition":{_CONDITION_JSON.get(listing.condition_id, _NEW_JSON)},'
        f'"conditionId":"{int.__repr__(listing.condition_id)}"{shipping},'
        f'"buyingOptions":[{_quoted(listing.buying_option)}],'
        f'"itemWebUrl":"https://www.ebay.com/itm/{item_id}",'
        f'"itemLocation":{{"postalCode":{_quoted(listing.postal_code)},'
        f'"country":{_quoted(listing.country)}}},'
        f'"adultOnly":false,"legacyItemId":"{item_id}","availableCoupons":false,'
        f'"itemCreationDate":"2026-10-{1 + number % 28:02d}T08:15:00.000Z",'
        f'"topRatedBuyingExperience":{"true" if number % 7 == 0 else "false"},'
        f'"priorityListing":{"true" if number % 11 == 0 else "false"},'
        '"listingMarketplaceId":"EBAY_US"}'
    )


def items_clear() -> None:
    """Forget the encoded items (``app.caches_clear``)."""
    _ITEMS.clear()
