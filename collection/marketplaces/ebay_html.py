"""Parse an eBay search results page (``/sch/i.html``) into listings.

Pure functions over a string, no I/O. eBay serves two card generations and a page uses
one of them; both are handled:

- new (2025→): ``li.s-card[data-listingid]`` with ``.s-card__title``, ``.s-card__price``
  and the seller in the ``.s-card__attribute-row`` whose text has "% positive", e.g.
  ``dxbdxb 99.3% positive (460)``;
- legacy: ``li.s-item`` with ``.s-item__title``, ``.s-item__price`` and
  ``.s-item__seller-info-text`` such as ``dxbdxb (12,345) 99.8%`` (some pages split it
  into ``__field-0`` / ``__field-1`` spans; the parts are joined before parsing).

A page that is a captcha raises ``CaptchaError``; an empty or unrecognised page raises
``ParseError``. A recognised results page with no cards (eBay's "No exact matches found")
is a real zero. A card without a usable seller or item id is skipped and counted.
Regular expressions only ever run on one short text fragment, never on the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .base import CaptchaError, Listing, ParseError
from .values import (
    MAX_ITEM_ID_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_USERNAME_LENGTH,
    clean_text,
    currency_from_text,
    parse_count,
    parse_percent,
    parse_price,
)

EBAY_ORIGIN = "https://www.ebay.com"

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

_CAPTCHA_TITLES = ("security measure", "pardon our interruption", "robot check", "captcha")
_CAPTCHA_SELECTORS = (
    "#captcha_form",
    "form#captchaForm",
    "iframe[src*='captcha']",
    "div.target-icaptcha-slot",
    "#s0-captcha",
    "div.h-captcha",
)
_RESULTS_SELECTORS = ("ul.srp-results", ".srp-river-results", ".srp-save-null-search")


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


def parse_seller_text(text: str) -> SellerInfo | None:
    """Split a seller fragment into username, feedback score and percentage.

    Accepts ``user 99.3% positive (460)``, ``user (1,234) 99.5%``, ``user 99.5% (1.2K)``
    and a bare ``user``. Returns None when no username remains.
    """
    text = " ".join(text.split())
    if not text or len(text) > _MAX_SELLER_TEXT:
        return None
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


def _listing(
    *,
    item_id: str,
    title: str,
    price_text: str,
    seller: SellerInfo | None,
    currency: str,
) -> Listing | None:
    if not seller or not item_id or not item_id.isdigit() or len(item_id) > MAX_ITEM_ID_LENGTH:
        return None
    return Listing(
        item_id=item_id,
        title=title,
        price=parse_price(price_text),
        currency=currency_from_text(price_text, currency),
        seller_username=seller.username,
        seller_feedback_score=seller.feedback_score,
        seller_feedback_percent=seller.feedback_percent,  # type: ignore[arg-type]
        url=f"{EBAY_ORIGIN}/itm/{item_id}",
    )


# One CSS query per card (selectolax compiles a selector on every call): every part we
# need, in document order, told apart by class.
_S_CARD_PARTS = (
    ".s-card__title, .s-card__price, a.su-link[href], a.s-card__link[href], .s-card__attribute-row"
)
_S_ITEM_PARTS = ".s-item__title, .s-item__price, a.s-item__link[href], .s-item__seller-info-text"


def _classes(node: LexborNode) -> str:
    return node.attributes.get("class") or ""


def _parse_s_card(card: LexborNode, currency: str) -> Listing | None | bool:
    """A listing, None (bad card: skip and count) or False (placeholder: ignore)."""
    title_text = price_text = ""
    href = None
    seller = None
    seller_seen = False
    for node in card.css(_S_CARD_PARTS):
        classes = _classes(node)
        if "s-card__attribute-row" in classes:
            if not seller_seen:
                row_text = _text(node)
                if "% positive" in row_text or "%positive" in row_text:
                    seller = parse_seller_text(row_text)
                    seller_seen = True
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
        item_id=item_id, title=title, price_text=price_text, seller=seller, currency=currency
    )


def _parse_s_item(card: LexborNode, currency: str) -> Listing | None | bool:
    title_text = price_text = ""
    href = None
    seller = None
    for node in card.css(_S_ITEM_PARTS):
        classes = _classes(node)
        if "s-item__seller-info-text" in classes:
            if seller is None and not classes.startswith("s-item__seller-info-text__"):
                seller = parse_seller_text(_text(node))
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
        item_id=item_id, title=title, price_text=price_text, seller=seller, currency=currency
    )


def _has_next(tree: LexborHTMLParser) -> bool:
    for node in tree.css(".pagination__next"):
        attrs = node.attributes
        if attrs.get("aria-disabled") == "true" or "disabled" in attrs:
            continue
        if node.tag == "a" and attrs.get("href"):
            return True
    return False


def _is_captcha(tree: LexborHTMLParser) -> bool:
    title = _text(tree.css_first("title")).lower()
    if any(marker in title for marker in _CAPTCHA_TITLES):
        return True
    return any(tree.css_first(selector) is not None for selector in _CAPTCHA_SELECTORS)


def parse_search_page(
    html: str | bytes, *, currency: str = "USD", provider: str = "", url: str = ""
) -> SearchPage:
    """Listings, pagination and skipped-card count of one search results page."""
    common = {"provider": provider, "url": url}
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    if not html or not html.strip():
        raise ParseError(f"{provider or 'ebay'}: empty search page", **common)
    tree = LexborHTMLParser(html)
    if _is_captcha(tree):
        raise CaptchaError(f"{provider or 'ebay'}: captcha page instead of results", **common)

    cards = tree.css("li.s-card")
    generation, parse_card = "s-card", _parse_s_card
    if not cards:
        cards = tree.css("li.s-item")
        generation, parse_card = "s-item", _parse_s_item
    if not cards:
        if not any(tree.css_first(selector) is not None for selector in _RESULTS_SELECTORS):
            raise ParseError(f"{provider or 'ebay'}: unrecognised page (no results list)", **common)
        generation = "none"

    listings: list[Listing] = []
    skipped = 0
    for card in cards:
        listing = parse_card(card, currency)
        if listing is False:
            continue
        if listing is None:
            skipped += 1
        else:
            listings.append(listing)  # type: ignore[arg-type]

    total = parse_count(_text(tree.css_first(".srp-controls__count-heading .BOLD")) or None)
    return SearchPage(
        listings=tuple(listings),
        has_next=_has_next(tree),
        skipped=skipped,
        generation=generation,
        total=total,
    )
