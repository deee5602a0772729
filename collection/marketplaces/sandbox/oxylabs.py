"""The Oxylabs side of the sandbox: the realtime envelope, amazon_bestsellers bodies and
eBay search pages fetched through Oxylabs (the HTML route). The HTTP handler is in ``app``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from . import amazon, ebay_pages, universe
from .catalogue import CatalogueParams, ListingFilter, h64
from .tokens import tokens

_FAKE_TIME = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _stamp(*parts: object) -> str:
    moment = _FAKE_TIME + dt.timedelta(seconds=h64(*parts) % 86_400)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _job(params: CatalogueParams, payload_key: tuple, source: str, extra: dict) -> tuple[str, dict]:
    job_id = str(7_000_000_000_000_000_000 + h64(params.seed, "job", payload_key) % 10**18)
    stamp = _stamp(params.seed, "job", payload_key)
    job = {
        "callback_url": None,
        "created_at": stamp,
        "domain": extra.get("domain", "com"),
        "geo_location": None,
        "id": job_id,
        "limit": 10,
        "locale": None,
        "pages": extra.get("pages", 1),
        "parse": extra.get("parse", False),
        "parser_type": None,
        "render": extra.get("render"),
        "url": extra.get("url"),
        "query": extra.get("query", ""),
        "source": source,
        "start_page": extra.get("start_page", 1),
        "status": "done",
        "storage_type": None,
        "storage_url": None,
        "subdomain": "www",
        "content_encoding": "utf-8",
        "updated_at": stamp,
        "user_agent_type": "desktop",
        "session_info": None,
        "statuses": [],
        "client_notes": None,
    }
    return job_id, job


@lru_cache(maxsize=1024)
def _amazon_body(
    params: CatalogueParams,
    node: str,
    domain: str,
    start_page: int,
    pages: int,
    parse: bool,
    render: str | None,
) -> bytes:
    key = ("amazon_bestsellers", node, domain, start_page, pages, parse)
    job_id, job = _job(
        params,
        key,
        "amazon_bestsellers",
        {
            "domain": domain,
            "pages": pages,
            "parse": parse,
            "query": node,
            "start_page": start_page,
            "render": render,
        },
    )
    results = []
    for page in range(start_page, start_page + pages):
        records = amazon.best_sellers_page(params, node, page)
        url = f"https://www.amazon.{domain}/gp/bestsellers/{node}?pg={page}"
        content: object
        if records is None:
            status = 404
            content = {
                "url": url,
                "page": page,
                "pages": params.pages,
                "query": node,
                "results": [],
                "parse_status_code": 12000,
            }
        elif parse:
            status = 200
            content = {
                "url": url,
                "page": page,
                "pages": params.pages,
                "query": node,
                "results": records,
                "parse_status_code": 12000,
            }
        else:
            status = 200
            content = (
                f"<!doctype html><html><head><title>Amazon Best Sellers</title></head>"
                f'<body><div id="zg">{len(records)} best sellers</div></body></html>'
            )
        stamp = _stamp(params.seed, "result", key, page)
        results.append(
            {
                "content": content,
                "created_at": stamp,
                "updated_at": stamp,
                "page": page,
                "url": url,
                "job_id": job_id,
                "status_code": status,
                "parser_type": "amazon_bestsellers" if parse else "",
            }
        )
    return json.dumps(
        {"results": results, "job": job}, separators=(",", ":"), ensure_ascii=False
    ).encode()


@dataclass(frozen=True, slots=True)
class _EbaySearch:
    keywords: str
    listing_filter: ListingFilter
    per_page: int
    page: int
    params: tuple[tuple[str, str], ...]  # the URL's query, for pagination links


def _cents(text: str | None, *, upper: bool) -> int | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return ListingFilter.cents(value, upper=upper) if value.is_finite() and value >= 0 else None


def _int(text: str | None, default: int) -> int | None:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return None


def _parse_ebay_url(url: str) -> _EbaySearch | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host not in ("www.ebay.com", "ebay.com") or parts.path != "/sch/i.html":
        return None
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    conditions = None
    if query.get("LH_ItemCondition"):
        try:
            conditions = frozenset(
                int(v) for v in query["LH_ItemCondition"].replace(",", "|").split("|") if v
            )
        except ValueError:
            conditions = None
    per_page = _int(query.get("_ipg"), 60) or 60
    page = _int(query.get("_pgn"), 1) or 1
    listing_filter = ListingFilter(
        condition_ids=conditions,
        free_shipping=query.get("LH_Free") == "1",
        country="US" if query.get("LH_PrefLoc") == "1" else None,
        buying_options=frozenset({"FIXED_PRICE"}) if query.get("LH_BIN") == "1" else None,
        price_min_cents=_cents(query.get("_udlo"), upper=False),
        price_max_cents=_cents(query.get("_udhi"), upper=True),
    )
    return _EbaySearch(
        keywords=query.get("_nkw", ""),
        listing_filter=listing_filter,
        per_page=min(max(per_page, 1), 240),
        page=max(page, 1),
        params=tuple((k, v) for k, v in pairs if k != "_pgn"),
    )


FEW_RESULTS = 48  # fewer exact results than this: the page pads with non-results
SECTION_CARDS = 24
RECAPTCHA_SHARE = 10  # % of normal pages that carry the hidden reCAPTCHA iframe


def _section(params: CatalogueParams, search: _EbaySearch, listings) -> tuple | None:
    """What the website shows after the divider when the exact results are few."""
    if len(listings) >= FEW_RESULTS:
        return None
    international: tuple = ()
    lf = search.listing_filter
    if lf.country == "US":
        wider = universe.search(params, search.keywords, replace(lf, country=None))
        international = tuple(listing for listing in wider if listing.country != "US")[
            :SECTION_CARDS
        ]
    fewer = universe.fewer_words(params, search.keywords, lf, SECTION_CARDS)
    if international and (not fewer or h64(params.seed, "section", search.keywords) % 2):
        return ("international", international)
    return ("fewer", fewer) if fewer else None


@lru_cache(maxsize=2048)
def _ebay_page_body(params: CatalogueParams, source: str, url: str, search: _EbaySearch) -> bytes:
    listings = (
        universe.search(params, search.keywords, search.listing_filter)
        if search.keywords.strip()
        else ()
    )
    start = (search.page - 1) * search.per_page
    page_listings = listings[start : start + search.per_page]
    has_next = start + search.per_page < len(listings)
    key = " ".join(tokens(search.keywords))
    choice = h64(params.seed, "generation", key, search.page) % 20
    generation = (
        "s-card"
        if choice < 9
        else "s-item"
        if choice < 14
        else "s-item-split"
        if choice < 17
        else "s-item-label"
    )
    section = (
        None if has_next or not search.keywords.strip() else _section(params, search, listings)
    )
    html = ebay_pages.search_page(
        keywords=search.keywords,
        listings=page_listings,
        total=len(listings),
        page=search.page,
        has_next=has_next,
        generation=generation,
        params=dict(search.params),
        section=section,
        recaptcha=h64(params.seed, "recaptcha", key, search.page) % 100 < RECAPTCHA_SHARE,
    )
    payload_key = (source, url)
    job_id, job = _job(params, payload_key, source, {"url": url})
    stamp = _stamp(params.seed, "result", payload_key)
    result = {
        "content": html,
        "created_at": stamp,
        "updated_at": stamp,
        "page": 1,
        "url": url,
        "job_id": job_id,
        "status_code": 200,
        "parser_type": "",
    }
    return json.dumps(
        {"results": [result], "job": job}, separators=(",", ":"), ensure_ascii=False
    ).encode()
