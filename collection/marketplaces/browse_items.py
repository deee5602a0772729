"""The Browse search page read into ``Listing`` records: the item parser and the typed
page decoder in front of it.

``parse_item_summary`` reads one ``itemSummaries[]`` entry as ``orjson`` gives it (a
dict), with fast paths for well-formed values and the full cleaning for anything else.

``read_search_page`` is the hot path of a run (one call per search, up to 200 items): it
decodes the body with ``msgspec`` into ``Struct`` types that hold only the fields the parser
reads (an item carries ~20 fields, nested objects included; the rest is skipped, never
built as Python objects), then takes each well-formed item straight into a ``Listing``.
Everything else falls back to the dict path, so the result is the one ``orjson`` +
``parse_item_summary`` give:

- a page the typed decoder refuses (not an object, ``itemSummaries`` not a list of
  objects, ``seller``/``price``/``itemLocation``/``shippingOptions`` of another JSON
  type, a number out of range, bad UTF-8, malformed JSON) → ``None``: the caller decodes
  it with ``decode_json`` and parses the dicts, raising the same ``ParseError`` or
  skipping the same items as before;
- an item with any field off the usual shape → rebuilt as the dict the parser reads (the
  same keys; integers past 64 bits as the floats ``orjson`` makes of them) and parsed by
  ``parse_item_summary``: skipped and counted, or cleaned, exactly as before.

Past 400 lines: the two readings of an item (dict and typed) stay side by side, the
typed one falling back to the other field by field; splitting them would hide that.

What the typed decoder accepts and ``orjson`` refused: content of fields the parser never
reads that nests deeper than ``orjson``'s 1,024 levels (up to msgspec's own recursion
limit, where it refuses too) or holds a number beyond a double's range. Such a page is
now read rather than failed; no value the parser reads differs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from .base import Listing, ListingQuery
from .values import (
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
        if value.__class__ is str and value in _FREE:  # "0.00": no Decimal needed
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


# Memo of the scalars that repeat across a run (a price string per listing, ~10k distinct
# in a run of 2,500 searches; ~120 distinct feedback percentages): a dict hit instead of
# a regex and a Decimal. Values are immutable; the memo is cleared when it grows past its
# cap, so a hostile stream of distinct strings costs memory only up to it.
_MEMO_CAP = 50_000
_prices: dict[str, Decimal | None] = {}
_percents: dict[str, Decimal | None] = {}
_new_listing = tuple.__new__  # Listing(...) without NamedTuple's Python-level __new__


def _memo_price(value: str) -> Decimal | None:
    price = _prices.get(value, _NOT_FREE)
    if price is _NOT_FREE:
        if len(_prices) >= _MEMO_CAP:
            _prices.clear()
        price = _prices[value] = parse_price(value)
    return price  # type: ignore[return-value]


def _memo_percent(value: str) -> Decimal | None:
    percent = _percents.get(value, _NOT_FREE)
    if percent is _NOT_FREE:
        if len(_percents) >= _MEMO_CAP:
            _percents.clear()
        percent = _percents[value] = parse_percent(value)
    return percent  # type: ignore[return-value]


def parse_item_summary(item: object, query: ListingQuery) -> Listing | None:
    """One ``itemSummaries[]`` entry, or None when unusable or outside the filters.

    Every field is checked; a value of the usual shape (a short printable string, an
    integer score, a free shipping option first, a numeric legacy id) is taken as it is
    on the fast path, anything else goes through the same cleaning as before (``_text``,
    ``parse_*``, ``_shipping_cost``, ``_item_url``) with the same result. The parse costs
    ~2 µs an item instead of ~6 (``bench/client.py``); a page holds up to 200.
    """
    if item.__class__ is not dict:
        return None
    get = item.get  # type: ignore[attr-defined]
    item_id = get("itemId")
    seller = get("seller")
    if item_id.__class__ is not str or seller.__class__ is not dict:
        return None
    if not (
        0 < len(item_id) <= MAX_ITEM_ID_LENGTH
        and item_id.isprintable()
        and "  " not in item_id
        and item_id[0] != " "
        and item_id[-1] != " "
    ):
        item_id = _text(item_id, MAX_ITEM_ID_LENGTH + 1)
        if not item_id or len(item_id) > MAX_ITEM_ID_LENGTH:
            return None
    seller_get = seller.get
    user_id = seller_get("userId")
    if user_id is None:
        user_id = ""
    elif not (
        user_id.__class__ is str
        and len(user_id) <= MAX_USERNAME_LENGTH
        and user_id.isprintable()
        and "  " not in user_id
        and user_id[:1] != " "
        and user_id[-1:] != " "
    ):
        user_id = _text(user_id, MAX_USERNAME_LENGTH + 1)
        if len(user_id) > MAX_USERNAME_LENGTH:
            user_id = ""
    # Since 2025-09-26 some items carry the immutable user id in place of the username:
    # it is kept as the (opaque) username, and an item with only the id is still usable.
    username = seller_get("username")
    if not (
        username.__class__ is str
        and 0 < len(username) <= MAX_USERNAME_LENGTH
        and username.isprintable()
        and "  " not in username
        and username[0] != " "
        and username[-1] != " "
    ):
        username = _text(username, MAX_USERNAME_LENGTH + 1) or user_id
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
    options = get("shippingOptions")
    shipping: object = None
    if options.__class__ is list and options:
        first = options[0]
        cost = first.get("shippingCost") if first.__class__ is dict else None
        free = cost.get("value") if cost.__class__ is dict else None
        if free.__class__ is str and free in _FREE:  # the common case
            shipping = _ZERO
        else:
            shipping = _shipping_cost(options)
            if shipping is _NOT_FREE:
                return None
    price_obj = get("price")
    if price_obj.__class__ is not dict:
        price_obj = {}
    value = price_obj.get("value")
    price = _memo_price(value) if value.__class__ is str else parse_price(value)
    currency = price_obj.get("currency")
    target = query.currency
    if currency != target:
        currency = clean_currency(currency, target)
    # The band is in the query's currency: a price in another one is kept, with its own
    # code, and is never compared with (or read as) dollars.
    if price is not None and currency == target:
        if not (query.price_min <= price <= query.price_max):
            return None
    title = get("title")
    if not (
        title.__class__ is str
        and len(title) <= MAX_TITLE_LENGTH
        and title.isprintable()
        and "  " not in title
        and title[:1] != " "
        and title[-1:] != " "
    ):
        title = _text(title, MAX_TITLE_LENGTH)
    score = seller_get("feedbackScore")
    if score.__class__ is not int or score < 0:
        score = parse_count(score)
    percent = seller_get("feedbackPercentage")
    percent = _memo_percent(percent) if percent.__class__ is str else parse_percent(percent)
    legacy = get("legacyItemId")
    if legacy.__class__ is str and 0 < len(legacy) <= 20 and legacy.isascii() and legacy.isdigit():
        url = ITEM_ORIGIN + legacy
    else:
        url = _item_url(get, item_id)
    return _new_listing(  # type: ignore[call-overload]
        Listing,
        (
            item_id,
            title,
            price,
            currency,
            username,
            score,
            percent,
            url,
            shipping,
            country,
            user_id,
        ),
    )


# --- the typed page ---------------------------------------------------------------------------
# Every scalar is ``Any``: a wrong type is the parser's to judge (per item), not the
# decoder's (the whole page). The containers are typed: a wrong one sends the page back.


class _Cost(msgspec.Struct, gc=False):
    value: Any = None


class _Option(msgspec.Struct, rename="camel", gc=False):
    shipping_cost: _Cost | None = None


class _Price(msgspec.Struct, gc=False):
    value: Any = None
    currency: Any = None


class _Seller(msgspec.Struct, rename="camel", gc=False):
    username: Any = None
    user_id: Any = None
    feedback_score: Any = None
    feedback_percentage: Any = None


class _Location(msgspec.Struct, gc=False):
    country: Any = None


class _Item(msgspec.Struct, rename="camel", gc=False):
    item_id: Any = None
    title: Any = None
    price: _Price | None = None
    seller: _Seller | None = None
    condition_id: Any = None
    item_location: _Location | None = None
    shipping_options: list[_Option] | None = None
    legacy_item_id: Any = None
    item_web_url: Any = None


class _Warning(msgspec.Struct, rename="camel", gc=False):
    error_id: Any = None


class _Page(msgspec.Struct, rename="camel", gc=False):
    item_summaries: list[_Item] = []
    total: Any = None
    next: Any = None
    warnings: list[_Warning] | None = None


_DECODER = msgspec.json.Decoder(_Page)
_INT_LOW, _INT_HIGH = -(2**63), 2**64  # orjson's integers; past them it makes floats


class _Refused(Exception):
    """A value the typed page cannot hand over as ``orjson`` would: read the page there."""


def plain(value: object) -> object:
    """A decoded scalar as ``orjson`` gives it (integers past 64 bits are floats there).

    A list or an object where the parser reads a scalar sends the page to ``orjson``:
    its nesting limit, not msgspec's, decides whether such a page is refused.
    """
    cls = value.__class__
    if cls is int:
        return value if _INT_LOW <= value < _INT_HIGH else float(value)  # type: ignore[operator,arg-type]
    if cls is list or cls is dict:
        raise _Refused
    return value


def _as_dict(item: _Item) -> dict:
    """The item as ``orjson`` decodes it, as far as ``parse_item_summary`` reads it."""
    seller = item.seller
    price = item.price
    location = item.item_location
    options = item.shipping_options
    return {
        "itemId": plain(item.item_id),
        "title": plain(item.title),
        "price": None
        if price is None
        else {"value": plain(price.value), "currency": plain(price.currency)},
        "seller": None
        if seller is None
        else {
            "username": plain(seller.username),
            "userId": plain(seller.user_id),
            "feedbackScore": plain(seller.feedback_score),
            "feedbackPercentage": plain(seller.feedback_percentage),
        },
        "conditionId": plain(item.condition_id),
        "itemLocation": None if location is None else {"country": plain(location.country)},
        "shippingOptions": None
        if options is None
        else [
            {
                "shippingCost": None
                if option.shipping_cost is None
                else {"value": plain(option.shipping_cost.value)}
            }
            for option in options
        ],
        "legacyItemId": plain(item.legacy_item_id),
        "itemWebUrl": plain(item.item_web_url),
    }


def _parse_typed(item: _Item, query: ListingQuery) -> Listing | None:
    """``parse_item_summary`` of a typed item: the usual shapes here, the rest there.

    Each early ``return None`` is a check ``parse_item_summary`` makes on the same value
    whatever the other fields hold (so it would skip the item too).
    """
    seller = item.seller
    if seller is None:
        return None
    item_id = item.item_id
    if not (
        item_id.__class__ is str
        and 0 < len(item_id) <= MAX_ITEM_ID_LENGTH
        and item_id.isprintable()
        and "  " not in item_id
        and item_id[0] != " "
        and item_id[-1] != " "
    ):
        return parse_item_summary(_as_dict(item), query)
    user_id = seller.user_id
    if user_id is None:
        user_id = ""
    elif not (
        user_id.__class__ is str
        and len(user_id) <= MAX_USERNAME_LENGTH
        and user_id.isprintable()
        and "  " not in user_id
        and user_id[:1] != " "
        and user_id[-1:] != " "
    ):
        return parse_item_summary(_as_dict(item), query)
    username = seller.username
    if not (
        username.__class__ is str
        and 0 < len(username) <= MAX_USERNAME_LENGTH
        and username.isprintable()
        and "  " not in username
        and username[0] != " "
        and username[-1] != " "
    ):
        return parse_item_summary(_as_dict(item), query)
    condition_id = item.condition_id
    if condition_id is not None and condition_id != "1000":
        if condition_id.__class__ is str:  # "3000": used
            return None
        return parse_item_summary(_as_dict(item), query)
    location = item.item_location
    country = ""
    if location is not None:
        located = location.country
        if located is not None:
            if located != "US":
                if located.__class__ is str:
                    return None
                return parse_item_summary(_as_dict(item), query)
            country = located
    options = item.shipping_options
    shipping = None
    if options:
        cost = options[0].shipping_cost
        free = cost.value if cost is not None else None
        if free.__class__ is not str or free not in _FREE:
            return parse_item_summary(_as_dict(item), query)
        shipping = _ZERO
    price_obj = item.price
    if price_obj is None:
        return parse_item_summary(_as_dict(item), query)
    value = price_obj.value
    currency = price_obj.currency
    if value.__class__ is not str or currency != query.currency:
        return parse_item_summary(_as_dict(item), query)
    price = _memo_price(value)
    if price is not None and not (query.price_min <= price <= query.price_max):
        return None
    title = item.title
    if not (
        title.__class__ is str
        and len(title) <= MAX_TITLE_LENGTH
        and title.isprintable()
        and "  " not in title
        and title[:1] != " "
        and title[-1:] != " "
    ):
        return parse_item_summary(_as_dict(item), query)
    score = seller.feedback_score
    percent = seller.feedback_percentage
    legacy = item.legacy_item_id
    if legacy is None:  # not every item carries it: "v1|<legacyId>|<variationId>"
        parts = item_id.split("|")
        legacy = parts[1] if len(parts) == 3 else ""
    if not (
        score.__class__ is int
        and 0 <= score < _INT_HIGH
        and percent.__class__ is str
        and legacy.__class__ is str
        and 0 < len(legacy) <= 20
        and legacy.isascii()
        and legacy.isdigit()
    ):
        return parse_item_summary(_as_dict(item), query)
    return _new_listing(  # type: ignore[call-overload]
        Listing,
        (
            item_id,
            title,
            price,
            currency,
            username,
            score,
            _memo_percent(percent),
            ITEM_ORIGIN + legacy,
            shipping,
            country,
            user_id,
        ),
    )


class SearchPage(msgspec.Struct, gc=False):
    """What ``search_listings`` reads of a page, as ``orjson`` would give it."""

    listings: list[Listing]
    skipped: int
    total: object
    next: object
    warnings: object


def read_search_page(body: bytes, query: ListingQuery) -> SearchPage | None:
    """The page's listings through the typed decoder, or None when it refuses the page
    (the caller then reads it with ``decode_json`` and ``parse_item_summary``)."""
    try:
        page = _DECODER.decode(body)
        if not body.isascii():  # a string the decoder skipped is not checked as UTF-8
            body.decode()
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None
    listings = []
    skipped = 0
    try:
        for item in page.item_summaries:
            listing = _parse_typed(item, query)
            if listing is None:
                skipped += 1
            else:
                listings.append(listing)
        warnings = page.warnings
        return SearchPage(
            listings,
            skipped,
            plain(page.total),
            plain(page.next),
            None
            if warnings is None
            else [{"errorId": plain(warning.error_id)} for warning in warnings],
        )
    except _Refused:
        return None
