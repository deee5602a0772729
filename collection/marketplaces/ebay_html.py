"""Parse an eBay search results page (``/sch/i.html``) into listings.

Pure functions over a string, no I/O. eBay serves two card generations and a page uses
one of them; both are handled:

- new (2025→): ``li.s-card[data-listingid]`` with ``.s-card__title``, ``.s-card__price``
  and the seller in the ``.s-card__attribute-row`` whose text has "% positive", e.g.
  ``dxbdxb 99.3% positive (460)``;
- legacy: ``li.s-item`` with ``.s-item__title``, ``.s-item__price`` and
  ``.s-item__seller-info-text`` such as ``dxbdxb (12,345) 99.8%`` (some pages split it
  into ``__field-0`` / ``__field-1`` spans; the parts are joined before parsing).

Not every card is a result. When few listings match, eBay goes on below a divider
(``li.srp-river-answer--REWRITE_START``: "Results matching fewer words", or "N items found
from eBay international sellers") with cards that do not match the query: the parser stops
at the divider, and ``total``/``has_next`` then describe the real results only. A "0 results
for …" page (eBay still fills its list with fuzzy matches below "No exact matches found")
has no listings. Cards inside other river answers (carousels) are not results either.

A captcha page is the bot wall itself ("Pardon Our Interruption…", "Security Measure", a
captcha form) with no result list: it raises ``CaptchaError``. A results page that carries a
hidden, zero-size reCAPTCHA iframe (eBay's normal pages do) is a results page. An empty or
unrecognised page raises ``ParseError``. A recognised results page with no cards is a real
zero. A card without a usable seller or item id is skipped and counted.

Each listing also carries what the card shows of shipping ("Free delivery" → 0,
"+$5.99 shipping" → 5.99, absent → None), location ("Located in United States" → "US",
"from China" → "CN"; a country we have no code for keeps its name) and the price's own
currency ("KRW83,569.98" is KRW, never dollars; a currency we cannot tell leaves the price
None). Regular expressions only ever run on one short text fragment, never on the page.

Past 400 lines: both card generations, the divider, the seller-text variants and the
money and shipping formats of a real results page, tested together against recorded shapes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .base import CaptchaError, ErrorContext, Listing, ParseError
from .values import (
    MAX_ITEM_ID_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_USERNAME_LENGTH,
    clean_text,
    parse_count,
    parse_money,
    parse_percent,
)

EBAY_ORIGIN = "https://www.ebay.com"
_ZERO = Decimal(0)

_NEW_WINDOW_SUFFIX = "Opens in a new window or tab"
_NEW_LISTING_PREFIX = "New Listing"
_PLACEHOLDER_TITLES = frozenset({"Shop on eBay"})
_PLACEHOLDER_ITEM_IDS = frozenset({"123456"})
_MAX_SELLER_TEXT = 600

# "user 99.3% positive (460)" (new cards; legacy field variants use it too)
_SELLER_PERCENT_FIRST = re.compile(
    r"^(?P<user>.+?)\s+(?P<pct>\d{1,3}(?:\.\d+)?)\s*%\s*(?:positive)?\s*"
    r"(?:\((?P<count>[^()]*)\))?$",
    re.IGNORECASE,
)
# "user (1,234) 99.5%" (legacy)
_SELLER_COUNT_FIRST = re.compile(
    r"^(?P<user>.+?)\s*\((?P<count>[^()]*)\)\s*(?P<pct>\d{1,3}(?:\.\d+)?)\s*%(?:\s*positive)?$",
    re.IGNORECASE,
)
_ITEM_PATH = re.compile(r"/itm/(?:[^/?#]+/)?(\d{6,20})")
# "Seller: name (66) 97.1%" (a 2021-era legacy layout): the label is not part of the name.
# eBay usernames cannot hold a colon, so a leading "Seller:" is always the label.
_SELLER_LABEL = re.compile(r"^seller\s*:\s*", re.IGNORECASE)

_CAPTCHA_TITLES = ("security measure", "pardon our interruption", "robot check", "captcha")
_CAPTCHA_SELECTORS = (
    "#captcha_form",
    "form#captchaForm",
    "div.target-icaptcha-slot",
    "#s0-captcha",
    "div.h-captcha",
    "div.g-recaptcha",
)
_CAPTCHA_IFRAMES = "iframe[src*='captcha']"
_RESULTS_SELECTORS = ("ul.srp-results", ".srp-river-results", ".srp-save-null-search")

# Cards and river answers in document order (lexbor returns a selector list that way).
_RIVER = "li.s-card, li.s-item, .srp-river-answer"
_DIVIDER_CLASS = "srp-river-answer--REWRITE_START"
_DIVIDER_TEXT = re.compile(
    r"results matching fewer words|(?:items?|results?) found from ebay international sellers",
    re.IGNORECASE,
)
_MAX_ANSWER_TEXT = 400  # a divider is a short notice; longer answers are carousels

# Shipping and location rows of a card ("Free delivery", "+$5.99 shipping",
# "Located in United States", "from China").
_SHIPPING_WORDS = ("shipping", "delivery", "postage")
_FREE_SHIPPING = re.compile(r"^free\b", re.IGNORECASE)
_PAID_SHIPPING = re.compile(
    r"^\+?\s*(?P<money>[^+]{1,40}?)\s+(?:shipping|delivery|postage)\b", re.IGNORECASE
)
_LOCATION = re.compile(r"^(?:located in|from)\s+(?P<place>.{2,60})$", re.IGNORECASE)
_COUNTRY_CODES = {
    "united states": "US",
    "usa": "US",
    "china": "CN",
    "hong kong": "HK",
    "taiwan": "TW",
    "japan": "JP",
    "south korea": "KR",
    "korea, south": "KR",
    "united kingdom": "GB",
    "canada": "CA",
    "australia": "AU",
    "germany": "DE",
    "france": "FR",
    "italy": "IT",
    "spain": "ES",
    "mexico": "MX",
    "india": "IN",
    "israel": "IL",
    "singapore": "SG",
    "malaysia": "MY",
    "philippines": "PH",
    "thailand": "TH",
    "vietnam": "VN",
}
_MAX_LOCATION_LENGTH = 60


@dataclass(frozen=True, slots=True)
class SellerInfo:
    username: str
    feedback_score: int | None
    feedback_percent: object  # Decimal | None


@dataclass(frozen=True, slots=True)
class SearchPage:
    listings: tuple[Listing, ...]
    has_next: bool
    skipped: int
    generation: str  # "s-card", "s-item" or "none" (a recognised page without results)
    total: int | None
    not_results: int = 0  # cards below the divider, in carousels, or on a "0 results" page


def parse_seller_text(text: str) -> SellerInfo | None:
    """Split a seller fragment into username, feedback score and percentage.

    Accepts ``user 99.3% positive (460)``, ``user (1,234) 99.5%``, ``user 99.5% (1.2K)``
    and a bare ``user``. Returns None when no username remains.
    """
    text = " ".join(text.split())
    if not text or len(text) > _MAX_SELLER_TEXT:
        return None
    if text[:6].lower() == "seller":
        text = _SELLER_LABEL.sub("", text, count=1)
    match = _SELLER_COUNT_FIRST.match(text) or _SELLER_PERCENT_FIRST.match(text)
    if match:
        user = match.group("user")
        score = parse_count(match.group("count")) if match.group("count") else None
        percent = parse_percent(match.group("pct"))
    else:
        user, score, percent = text, None, None
    username = clean_text(user, MAX_USERNAME_LENGTH + 1)
    if not username or len(username) > MAX_USERNAME_LENGTH:
        return None
    return SellerInfo(username=username, feedback_score=score, feedback_percent=percent)


def _text(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return node.text(deep=True, separator=" ", strip=True)


def _clean_title(raw: str) -> str:
    title = raw.strip()
    if title.endswith(_NEW_WINDOW_SUFFIX):
        title = title[: -len(_NEW_WINDOW_SUFFIX)]
    if title.startswith(_NEW_LISTING_PREFIX):
        title = title[len(_NEW_LISTING_PREFIX) :]
    return clean_text(title, MAX_TITLE_LENGTH)


def _item_id_from_href(href: str | None) -> str:
    if not href:
        return ""
    match = _ITEM_PATH.search(href[: MAX_ITEM_ID_LENGTH * 20])
    return match.group(1) if match else ""


@functools.lru_cache(maxsize=1024)  # a few distinct lines per run ("Free delivery")
def shipping_cost(text: str, currency: str) -> object:
    """What a shipping line says, in the price's ``currency``: 0 for "Free delivery" /
    "Free shipping", 5.99 for "+$5.99 shipping"; None for anything else ("Shipping not
    specified", "Freight", a cost in another currency than the price)."""
    text = " ".join(text.split())
    if not text or len(text) > 80:
        return None
    if _FREE_SHIPPING.match(text):
        return _ZERO
    match = _PAID_SHIPPING.match(text)
    if not match:
        return None
    cost, code = parse_money(match.group("money"), currency)
    return cost if code == currency else None


@functools.lru_cache(maxsize=1024)
def location_of(text: str) -> str:
    """ "Located in United States" → "US", "from China" → "CN"; a place we have no code
    for keeps its own name ("from Lithuania" → "Lithuania"); "" when it is no location."""
    match = _LOCATION.match(" ".join(text.split()))
    if not match:
        return ""
    place = clean_text(match.group("place"), _MAX_LOCATION_LENGTH).rstrip(" .")
    return _COUNTRY_CODES.get(place.lower(), place)


def _listing(
    *,
    item_id: str,
    title: str,
    price_text: str,
    seller: SellerInfo | None,
    currency: str,
    shipping_text: str = "",
    location: str = "",
) -> Listing | None:
    if not seller or not item_id or not item_id.isdigit() or len(item_id) > MAX_ITEM_ID_LENGTH:
        return None
    price, code = parse_money(price_text, currency)
    shipping = shipping_cost(shipping_text, code) if shipping_text else None
    return Listing(
        item_id=item_id,
        title=title,
        price=price,
        currency=code,
        seller_username=seller.username,
        seller_feedback_score=seller.feedback_score,
        seller_feedback_percent=seller.feedback_percent,  # type: ignore[arg-type]
        url=f"{EBAY_ORIGIN}/itm/{item_id}",
        shipping_cost=shipping,  # type: ignore[arg-type]
        location=location,
    )


# One CSS query per card (selectolax compiles a selector on every call): every part we
# need, in document order, told apart by class.
_S_CARD_PARTS = (
    ".s-card__title, .s-card__price, a.su-link[href], a.s-card__link[href], .s-card__attribute-row"
)
_S_ITEM_PARTS = (
    ".s-item__title, .s-item__price, a.s-item__link[href], .s-item__seller-info-text,"
    " .s-item__shipping, .s-item__logisticsCost, .s-item__location"
)


def _classes(node: LexborNode) -> str:
    return node.attributes.get("class") or ""


def _parse_s_card(card: LexborNode, currency: str) -> Listing | None | bool:
    """A listing, None (bad card: skip and count) or False (placeholder: ignore)."""
    title_text = price_text = shipping_text = location = ""
    href = None
    seller = None
    seller_seen = False
    for node in card.css(_S_CARD_PARTS):
        classes = _classes(node)
        if "s-card__attribute-row" in classes:
            row_text = _text(node)
            if "% positive" in row_text or "%positive" in row_text:
                if not seller_seen:
                    seller = parse_seller_text(row_text)
                    seller_seen = True
            elif len(row_text) <= 80:
                lowered = row_text.lower()
                if not shipping_text and any(word in lowered for word in _SHIPPING_WORDS):
                    shipping_text = row_text
                elif not location and lowered.startswith(("located in ", "from ")):
                    location = location_of(row_text)
        elif "s-card__title" in classes:
            if not title_text:
                title_text = _text(node)
        elif "s-card__price" in classes:
            if not price_text:
                price_text = _text(node)
        elif href is None:
            href = node.attributes.get("href")
    title = _clean_title(title_text)
    item_id = (card.attributes.get("data-listingid") or "").strip() or _item_id_from_href(href)
    if title in _PLACEHOLDER_TITLES or item_id in _PLACEHOLDER_ITEM_IDS:
        return False
    return _listing(
        item_id=item_id,
        title=title,
        price_text=price_text,
        seller=seller,
        currency=currency,
        shipping_text=shipping_text,
        location=location,
    )


def _parse_s_item(card: LexborNode, currency: str) -> Listing | None | bool:
    title_text = price_text = shipping_text = location = ""
    href = None
    seller = None
    for node in card.css(_S_ITEM_PARTS):
        classes = _classes(node)
        if "s-item__seller-info-text" in classes:
            if seller is None and not classes.startswith("s-item__seller-info-text__"):
                seller = parse_seller_text(_text(node))
        elif "s-item__shipping" in classes or "s-item__logisticsCost" in classes:
            if not shipping_text:
                shipping_text = _text(node)
        elif "s-item__location" in classes:
            if not location:
                location = location_of(_text(node))
        elif "s-item__title" in classes:
            if not title_text:
                title_text = _text(node)
        elif "s-item__price" in classes:
            if not price_text:
                price_text = _text(node)
        elif href is None:
            href = node.attributes.get("href")
    title = _clean_title(title_text)
    item_id = _item_id_from_href(href)
    if title in _PLACEHOLDER_TITLES or item_id in _PLACEHOLDER_ITEM_IDS:
        return False
    return _listing(
        item_id=item_id,
        title=title,
        price_text=price_text,
        seller=seller,
        currency=currency,
        shipping_text=shipping_text,
        location=location,
    )


def _pagination_link(tree: LexborHTMLParser, selector: str) -> bool:
    """Whether the pagination's next/previous control is a live link (not disabled)."""
    for node in tree.css(selector):
        attrs = node.attributes
        if attrs.get("aria-disabled") == "true" or "disabled" in attrs:
            continue
        if node.tag == "a" and attrs.get("href"):
            return True
    return False


def _has_next(tree: LexborHTMLParser) -> bool:
    return _pagination_link(tree, ".pagination__next")


def _hidden(node: LexborNode) -> bool:
    """A zero-size or display:none element (eBay's normal pages carry such a reCAPTCHA
    iframe for their own risk scoring: it is no challenge)."""
    attrs = node.attributes
    style = (attrs.get("style") or "").replace(" ", "").lower()
    return (
        attrs.get("width") in ("0", "1")
        or attrs.get("height") in ("0", "1")
        or "display:none" in style
        or "visibility:hidden" in style
        or "hidden" in attrs
        or attrs.get("aria-hidden") == "true"
    )


def _has_previous(tree: LexborHTMLParser) -> bool:
    return _pagination_link(tree, ".pagination__previous")


def _is_captcha(tree: LexborHTMLParser) -> bool:
    """The bot wall: only called on a page without a result list."""
    title = _text(tree.css_first("title")).lower()
    if any(marker in title for marker in _CAPTCHA_TITLES):
        return True
    if any(tree.css_first(selector) is not None for selector in _CAPTCHA_SELECTORS):
        return True
    return any(not _hidden(frame) for frame in tree.css(_CAPTCHA_IFRAMES))


def _is_divider(answer: LexborNode) -> bool:
    if _DIVIDER_CLASS in _classes(answer):
        return True
    text = answer.text(deep=True, separator=" ", strip=True)
    return len(text) <= _MAX_ANSWER_TEXT and _DIVIDER_TEXT.search(text) is not None


def _heading_count(tree: LexborHTMLParser) -> int | None:
    """The "1,284 results for …" count ("1,000+" reads as 1,000)."""
    text = _text(tree.css_first(".srp-controls__count-heading .BOLD"))
    return parse_count(text.rstrip("+ ")) if text else None


def _no_exact_matches(tree: LexborHTMLParser, total: int | None) -> bool:
    """A "0 results for …" page: every card on it is a fuzzy match, not a result."""
    return total == 0 or tree.css_first(".srp-save-null-search") is not None


def parse_search_page(
    html: str | bytes, *, currency: str = "USD", provider: str = "", url: str = ""
) -> SearchPage:
    """Listings, pagination and skipped-card count of one search results page."""
    common: ErrorContext = {"provider": provider, "url": url}
    name = provider or "ebay"
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    if not html or not html.strip():
        raise ParseError(f"{name}: empty search page", **common)
    tree = LexborHTMLParser(html)

    river = tree.css(_RIVER)
    # One generation per page (the new one wins when both appear); the other's is ignored.
    if tree.css_first("li.s-card") is not None:
        generation, parse_card = "s-card", _parse_s_card
    elif tree.css_first("li.s-item") is not None:
        generation, parse_card = "s-item", _parse_s_item
    else:
        generation, parse_card = "none", _parse_s_card
    has_cards = generation != "none"
    has_list = has_cards or any(tree.css_first(sel) is not None for sel in _RESULTS_SELECTORS)
    if not has_list:
        if _is_captcha(tree):
            raise CaptchaError(f"{name}: captcha page instead of results", **common)
        raise ParseError(f"{name}: unrecognised page (no results list)", **common)

    total = _heading_count(tree)
    card_class = generation
    listings: list[Listing] = []
    skipped = not_results = 0
    divided = _no_exact_matches(tree, total)
    inside_answers: set[int] = set()
    for node in river:
        classes = _classes(node)
        if node.tag != "li" or card_class not in classes.split():
            if not divided and "srp-river-answer" in classes:
                if _is_divider(node):
                    divided = True
                else:  # pagination, filters, a carousel: its own cards are not results
                    inside_answers.update(card.mem_id for card in node.css(_RIVER))
            continue
        if divided or node.mem_id in inside_answers:
            not_results += 1
            continue
        listing = parse_card(node, currency)
        if listing is False:
            continue
        if listing is None:
            skipped += 1
        else:
            listings.append(listing)  # type: ignore[arg-type]

    has_next = _has_next(tree)
    if divided:
        # The real results end on this page: what follows the divider (here and on the
        # next pages) is eBay's padding. On the first page they are all there is, so the
        # count is what stood above the divider, whatever the heading said.
        has_next = False
        if not _has_previous(tree):
            shown = len(listings) + skipped
            total = shown if total is None else min(total, shown)
    return SearchPage(
        listings=tuple(listings),
        has_next=has_next,
        skipped=skipped,
        generation=generation,
        total=total,
        not_results=not_results,
    )
