"""eBay search result pages as the sandbox serves them through Oxylabs (HTML).

Two card generations, like eBay: ``li.s-card`` (2025→) and legacy ``li.s-item`` (with a
variant that splits the seller into ``__field-0``/``__field-1`` spans, and one that labels
it ``Seller: name (66) 97.1%``). All scraped-looking text is HTML-escaped, as eBay escapes
it: hostile titles arrive as text, not markup.

When the query matches few listings, the results list goes on past a divider
(``li.srp-river-answer--REWRITE_START``) with cards that are NOT results: "Results matching
fewer words" or "N items found from eBay international sellers" (prices in the seller's
currency: ``EUR 19,75``, ``KRW83,569.98``). Some normal pages carry a hidden zero-size
reCAPTCHA iframe (not a captcha page).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from .catalogue import SandboxListing

# Per seller country: (currency, rate per USD, decimal comma, no space after the code).
_CURRENCIES = {
    "DE": ("EUR", 0.92, True, False),
    "GB": ("GBP", 0.79, False, False),
    "CA": ("C $", 1.37, False, False),
    "HK": ("HKD", 7.8, False, False),
    "CN": ("CNY", 7.2, False, False),
    "KR": ("KRW", 1385.0, False, True),
}

_CONDITION_NAMES = {
    1000: "Brand New",
    1500: "Open Box",
    2500: "Seller Refurbished",
    3000: "Pre-Owned",
}


def _abbreviated(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if count >= 1000:
        return f"{count / 1000:.1f}".rstrip("0").rstrip(".") + "K"
    return str(count)


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def foreign_price(listing: SandboxListing) -> str:
    """The price as an international card shows it (never USD for a foreign seller)."""
    code, rate, comma, tight = _CURRENCIES.get(listing.country, ("EUR", 0.92, True, False))

    def one(cents: float) -> str:
        text = f"{cents / 100:,.2f}"
        if comma:
            text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
        return f"{code}{text}" if tight else f"{code} {text}"

    low = listing.price_cents * rate
    if int(listing.item_id) % 4 == 0:  # a variation listing: a price range
        joiner = " bis " if code == "EUR" else " to "
        return one(low) + joiner + one(low * 1.05)
    return one(low)


def _shipping(listing: SandboxListing, word: str) -> str:
    if listing.shipping_cents == 0:
        return f"Free {word}"
    return f"+{_money(listing.shipping_cents)} {word}"


def _s_card(listing: SandboxListing, price: str | None = None) -> str:
    title = escape(listing.title)
    seller = listing.seller
    url = f"https://www.ebay.com/itm/{listing.item_id}?_skw=&hash=item{int(listing.item_id):x}"
    buying = "Buy It Now" if listing.buying_option == "FIXED_PRICE" else "0 bids · 6d 4h left"
    return (
        f'<li class="s-card s-card--horizontal" data-listingid="{listing.item_id}" '
        f'id="item{int(listing.item_id):x}" data-view="mi:1686|iid:1">'
        '<div class="su-card-container su-card-container--horizontal">'
        '<div class="su-card-container__media"><div class="su-media su-media--image">'
        f'<a class="su-link" href="{escape(url)}" tabindex="-1">'
        '<img class="s-card__image" '
        f'src="https://i.ebayimg.com/images/g/{listing.item_id}/s-l500.webp" alt="{title}">'
        "</a></div></div>"
        '<div class="su-card-container__content"><div class="su-card-container__header">'
        f'<a class="su-link" href="{escape(url)}" target="_blank">'
        '<div role="heading" aria-level="3" class="s-card__title">'
        f'<span class="su-styled-text primary default">{title}</span>'
        '<span class="clipped">Opens in a new window or tab</span></div></a>'
        '<div class="s-card__subtitle-row"><div class="s-card__subtitle">'
        '<span class="su-styled-text secondary '
        f'default">{_CONDITION_NAMES.get(listing.condition_id, "New")}</span>'
        "</div></div></div>"
        '<div class="su-card-container__attributes">'
        '<div class="su-card-container__attributes__primary">'
        '<div class="s-card__attribute-row">'
        '<span class="su-styled-text primary bold large-1 '
        f's-card__price">{price or _money(listing.price_cents)}</span></div>'
        f'<div class="s-card__attribute-row"><span class="su-styled-text secondary large">{buying}'
        "</span></div>"
        '<div class="s-card__attribute-row"><span class="su-styled-text secondary '
        f'large">{_shipping(listing, "delivery")}</span></div>'
        '<div class="s-card__attribute-row"><span class="su-styled-text secondary large">Located '
        f"in {escape(listing.country_name)}</span></div>"
        "</div>"
        '<div class="su-card-container__attributes__secondary">'
        '<div class="s-card__attribute-row">'
        f'<span class="su-styled-text primary large">{escape(seller.username)}</span> '
        f'<span class="su-styled-text primary large">{seller.feedback_percent}% positive '
        f"({_abbreviated(seller.feedback_score)})</span></div>"
        "</div></div></div></div></li>"
    )


def _s_item(listing: SandboxListing, variant: str, price: str | None = None) -> str:
    title = escape(listing.title)
    seller = listing.seller
    url = f"https://www.ebay.com/itm/{listing.item_id}?hash=item{int(listing.item_id):x}:g:AbCdEfGh"
    if variant == "s-item-split":
        seller_html = (
            f'<span class="s-item__seller-info-text__field-0">{escape(seller.username)}</span> '
            f'<span class="s-item__seller-info-text__field-1">({seller.feedback_score:,}) '
            f"{seller.feedback_percent}%</span>"
        )
    else:
        label = "Seller: " if variant == "s-item-label" else ""
        seller_html = (
            f"{label}{escape(seller.username)} ({seller.feedback_score:,}) "
            f"{seller.feedback_percent}%"
        )
    location = (
        ""
        if listing.country == "US"
        else (
            f'<div class="s-item__detail s-item__detail--primary"><span class="s-item__location '
            f's-item__itemLocation">from {escape(listing.country_name)}</span></div>'
        )
    )
    return (
        f'<li class="s-item s-item__pl-on-bottom" id="item{int(listing.item_id):x}" '
        'data-view="mi:1686|iid:1">'
        '<div class="s-item__wrapper clearfix">'
        '<div class="s-item__image-section"><div class="s-item__image">'
        f'<a href="{escape(url)}" tabindex="-1"><div class="s-item__image-wrapper image-treatment">'
        f'<img src="https://i.ebayimg.com/images/g/{listing.item_id}/s-l140.webp" alt="{title}">'
        "</div></a></div></div>"
        '<div class="s-item__info clearfix">'
        f'<a class="s-item__link" href="{escape(url)}"><div class="s-item__title">'
        f'<span role="heading" aria-level="3">{title}</span>'
        '<span class="clipped">Opens in a new window or tab</span></div></a>'
        '<div class="s-item__subtitle">'
        f'<span class="SECONDARY_INFO">{_CONDITION_NAMES.get(listing.condition_id, "New")}</span>'
        "</div>"
        '<div class="s-item__details clearfix">'
        '<div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__price">{price or _money(listing.price_cents)}</span></div>'
        '<div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__shipping s-item__logisticsCost">{_shipping(listing, "shipping")}'
        "</span></div>"
        f"{location}"
        '<div class="s-item__detail s-item__detail--secondary"><span class="s-item__seller-info">'
        f'<span class="s-item__seller-info-text">{seller_html}</span></span></div>'
        "</div></div></div></li>"
    )


_LEGACY_PLACEHOLDER = (
    '<li class="s-item s-item__pl-on-bottom" data-viewport="{}"><div class="s-item__wrapper">'
    '<div class="s-item__info"><a class="s-item__link" href="https://ebay.com/itm/123456">'
    '<div class="s-item__title"><span role="heading" aria-level="3">Shop on eBay</span></div>'
    '</a><span class="s-item__price">$20.00</span></div></div></li>'
)


def _pagination(params: dict[str, str], page: int, has_next: bool) -> str:
    def href(number: int) -> str:
        return escape(
            "https://www.ebay.com/sch/i.html?" + urlencode({**params, "_pgn": str(number)})
        )

    previous = (
        f'<a class="pagination__previous icon-link" href="{href(page - 1)}" type="previous">'
        "Previous page</a>"
        if page > 1
        else '<button class="pagination__previous icon-btn" aria-disabled="true" type="previous">'
        "Previous page</button>"
    )
    following = (
        f'<a class="pagination__next icon-link" href="{href(page + 1)}" type="next">Next page</a>'
        if has_next
        else '<button class="pagination__next icon-btn" aria-disabled="true" type="next">'
        "Next page</button>"
    )
    return (
        '<nav class="pagination" role="navigation" aria-labelledby="pagination-heading">'
        f'<h2 id="pagination-heading" class="clipped">Results Pagination - Page {page}</h2>'
        f'{previous}<ol class="pagination__items"><li><a class="pagination__item" '
        'aria-current="page" '
        f'href="{href(page)}">{page}</a></li></ol>{following}</nav>'
    )


RECAPTCHA_IFRAME = (
    '<iframe src="https://www.google.com/recaptcha/api2/anchor?ar=1&amp;k=6LcD0000sandbox&amp;'
    'co=aHR0cHM6Ly93d3cuZWJheS5jb206NDQz&amp;hl=en&amp;size=invisible" width="0" height="0" '
    'title="reCAPTCHA" role="presentation" style="display:none;visibility:hidden;border:0" '
    'tabindex="-1" aria-hidden="true"></iframe>'
)


def _divider(text: str) -> str:
    return (
        '<li class="srp-river-answer srp-river-answer--REWRITE_START" data-viewport="{}">'
        '<div class="srp-river-answer__inner"><div class="section-notice '
        'section-notice--information">'
        f'<div class="section-notice__main"><span class="BOLD">{escape(text)}</span></div>'
        "</div></div></li>"
    )


def _cards(listings, generation: str, *, foreign: bool = False) -> str:
    if generation == "s-card":
        return "".join(
            _s_card(listing, foreign_price(listing) if foreign else None) for listing in listings
        )
    return "".join(
        _s_item(listing, generation, foreign_price(listing) if foreign else None)
        for listing in listings
    )


def search_page(
    *,
    keywords: str,
    listings: tuple[SandboxListing, ...],
    total: int,
    page: int,
    has_next: bool,
    generation: str,
    params: dict[str, str],
    section: tuple[str, tuple[SandboxListing, ...]] | None = None,
    recaptcha: bool = False,
) -> str:
    """A whole results page.

    ``generation``: "s-card", "s-item", "s-item-split" or "s-item-label". ``section``:
    ("fewer" | "international", cards) shown after the divider; they are not results.
    """
    cards = _cards(listings, generation)
    if section is not None and section[1]:
        kind, extra = section
        if kind == "international":
            count = len(extra)
            text = f"{count} item{'s' if count != 1 else ''} found from eBay international sellers"
        else:
            text = "Results matching fewer words"
        cards += _divider(text) + _cards(extra, generation, foreign=kind == "international")
    if cards and generation != "s-card":
        cards = _LEGACY_PLACEHOLDER + cards
    null_search = (
        '<div class="srp-save-null-search"><h3 class="srp-save-null-search__heading">'
        "No exact matches found</h3></div>"
        if total == 0
        else ""
    )
    query = escape(keywords)
    noun = "result" if total == 1 else "results"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{query} for sale | eBay</title></head><body>"
        '<div id="gh" class="gh-header"><a href="https://www.ebay.com" id="gh-la">eBay</a></div>'
        '<div id="srp-river-main" class="srp-main srp-main--isLarge">'
        '<div class="srp-controls__row-2"><h1 class="srp-controls__count-heading">'
        f'<span class="BOLD">{total:,}</span> {noun} for <span class="BOLD">{query}</span></h1>'
        "</div>"
        f"{null_search}"
        '<div id="srp-river-results" class="srp-river-results clearfix">'
        f'<ul class="srp-results srp-list clearfix">{cards}</ul></div>'
        f"{_pagination(params, page, has_next)}"
        f"</div>{RECAPTCHA_IFRAME if recaptcha else ''}</body></html>"
    )


CAPTCHA_PAGE = (
    "<!DOCTYPE html><html><head><title>Security Measure</title></head><body>"
    '<div id="areaTitle"><h1>Please verify yourself to continue</h1></div>'
    '<form id="captcha_form" action="/splashui/captcha_submit" method="post">'
    '<div class="target-icaptcha-slot"><div class="h-captcha" data-sitekey="0000"></div></div>'
    "</form></body></html>"
)

UNRECOGNISED_PAGE = (
    "<!DOCTYPE html><html><head><title>eBay</title></head><body>"
    '<div id="gh"></div><div class="page-notice">We are having a problem. Please try again.'
    "</div></body></html>"
)
