"""The Amazon side: products per department profile, best-seller pages (Oxylabs records).

Products live per *profile* (electronics, home, books, ... see ``words.PROFILES``): a
profile holds ``T × nodes`` products, T = best sellers per node (per_page × pages) and
nodes = the category nodes of ``collection/data/categories.json`` mapped to it. The j-th
known node of a profile ranks the j-th block of T products. A node id outside that file
(e.g. 172541, a sub-node) is given a profile by hash and ranks T products drawn from that
profile's existing products, as a sub-node's best sellers overlap its department's. So
the eBay universe never depends on which nodes were asked for, or in what order.

A few slots of every node rank a product from the shared pool (products of other
profiles: best sellers that show in several categories).

Titles follow the real shape (``titles.amazon_title``): brand, product phrase, a model code
sometimes, feature phrases with "with"/"for" filler, size or pack, colour; 20–200
characters, median ~115.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import titles, words
from .catalogue import CatalogueParams, h64, rng
from .tokens import tokens

SHARED_PRODUCT_RATE = 0.04
POOL_SIZE = 400
PROFILE_NAMES = tuple(sorted(words.PROFILES))
_ASIN_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


class Product(NamedTuple):
    asin: str
    title: str
    profile: str
    index: int  # type: ignore[assignment]  # position in its profile; mypy: shadows tuple.index
    noun_index: int  # the shard (profile, noun) its eBay listings live in
    pieces: tuple[tuple[str, str], ...]  # the title as (kind, text) pieces (see titles)
    price_cents: int

    @property
    def shard(self) -> tuple[str, int]:
        return (self.profile, self.noun_index)


@lru_cache(maxsize=1)
def department_by_node() -> dict[str, str]:
    path = Path(__file__).resolve().parents[2] / "data" / "categories.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {
        str(row["node_id"]): row.get("department", "")
        for row in rows
        if isinstance(row, dict) and "node_id" in row
    }


_department_by_node = department_by_node  # the old name (tests)


@lru_cache(maxsize=1)
def known_nodes_by_profile() -> dict[str, tuple[str, ...]]:
    nodes: dict[str, list[str]] = {name: [] for name in PROFILE_NAMES}
    for node, department in department_by_node().items():
        profile = words.DEPARTMENT_PROFILES.get(department)
        if profile:
            nodes[profile].append(node)
    return {name: tuple(sorted(found)) for name, found in nodes.items()}


def node_profile(seed: int, node_id: str) -> str:
    profile = words.DEPARTMENT_PROFILES.get(department_by_node().get(node_id, ""))
    if profile:
        return profile
    return PROFILE_NAMES[h64(seed, "node-profile", node_id) % len(PROFILE_NAMES)]


def noun_count(profile: str) -> int:
    if profile == "books":
        return len(words.BOOK_FIRST)
    return len(words.PROFILES[profile].nouns)


def profile_size(params: CatalogueParams, profile: str) -> int:
    per_node = params.per_page * params.pages
    return per_node * max(1, len(known_nodes_by_profile()[profile]))


def _asin(profile: str, r) -> str:
    if profile == "books":
        return r.choice("01") + "".join(str(r.randrange(10)) for _ in range(9))
    return "B0" + "".join(r.choice(_ASIN_CHARS) for _ in range(8))


def _price_cents(profile: str, r) -> int:
    spec = words.PROFILES[profile]
    dollars = int(spec.price_low * (spec.price_high / spec.price_low) ** r.random())
    cents = r.choice((99, 99, 99, 95, 49, 0, 97, 89))
    return max(dollars, 1) * 100 + cents


@lru_cache(maxsize=64)
def profile_products(params: CatalogueParams, profile: str) -> tuple[Product, ...]:
    """Every Amazon product of a profile (cheap: ~20 µs each; no eBay listings)."""
    products = []
    seen: set[str] = set()
    nouns = noun_count(profile)
    for index in range(profile_size(params, profile)):
        r = rng(params.seed, "product", profile, index)
        asin = _asin(profile, r)
        while asin in seen:
            asin = _asin(profile, r)
        seen.add(asin)
        noun_index = int(r.random() * nouns)
        pieces = titles.amazon_pieces(profile, noun_index, r)
        products.append(
            Product(
                asin,
                titles.join(pieces),
                profile,
                index,
                noun_index,
                pieces,
                _price_cents(profile, r),
            )
        )
    return tuple(products)


@lru_cache(maxsize=16)
def asin_index(params: CatalogueParams) -> dict[str, Product]:
    """ASIN → product over every profile (truth and tests; ~0.2 s at the defaults)."""
    index: dict[str, Product] = {}
    for profile in PROFILE_NAMES:
        for product in profile_products(params, profile):
            index.setdefault(product.asin, product)
    return index


def _pool_product(params: CatalogueParams, slot: int) -> Product:
    r = rng(params.seed, "pool", slot)
    profile = PROFILE_NAMES[int(r.random() * len(PROFILE_NAMES))]
    products = profile_products(params, profile)
    return products[int(r.random() * len(products))]


@lru_cache(maxsize=4096)
def node_products(params: CatalogueParams, node_id: str) -> tuple[Product, ...]:
    """The best sellers of a node in rank order (all pages)."""
    seed = params.seed
    profile = node_profile(seed, node_id)
    products = profile_products(params, profile)
    per_node = params.per_page * params.pages
    known = known_nodes_by_profile()[profile]
    if node_id in known:
        start = known.index(node_id) * per_node
        block = list(products[start : start + per_node])
        rng(seed, "node-order", node_id).shuffle(block)
    else:  # a sub-node: best sellers drawn from its department's products
        block = rng(seed, "sub-node", node_id).sample(products, min(per_node, len(products)))
    chosen: list[Product] = []
    seen = {product.asin for product in block}
    for rank, product in enumerate(block, 1):
        r = rng(seed, "slot", node_id, rank)
        if r.random() < SHARED_PRODUCT_RATE:
            pooled = _pool_product(params, int(r.random() * POOL_SIZE))
            if pooled.asin not in seen:
                seen.add(pooled.asin)
                product = pooled
        chosen.append(product)
    return tuple(chosen)


# --- Oxylabs records ------------------------------------------------------------------


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _price_fields(cents: int, r) -> dict:
    text = _money(cents)
    u = r.random()
    if u < 0.74:  # a JSON number; whole dollars come as an integer (never cents)
        number: object = cents // 100 if cents % 100 == 0 else cents / 100
        return {"price": number, "price_str": text}
    if u < 0.84:  # the price as a formatted string
        return {"price": text, "price_str": text}
    if u < 0.89:  # no price field, only the string
        return {"price_str": text}
    if u < 0.93:  # a range ("$12.99 - $16.89")
        upper = cents * 13 // 10
        return {
            "price": cents / 100,
            "price_upper": upper / 100,
            "price_str": f"{text} - {_money(upper)}",
        }
    if u < 0.97:  # unavailable
        return {"price": None, "price_str": ""}
    return {"price": 0}


_HOSTILE_PRICES = (1e15, -19.99, "NaN", "$9,999,999,999.99", True, "Free", "1e400", 0.001)


def _hostile_record(record: dict, r) -> object:
    u = r.random()
    title = record["title"]
    if u < 0.05:
        record["title"] = f"{title} {r.choice(words.HOSTILE_MARKUP)}"
    elif u < 0.07:
        head, _, tail = title.partition(",")
        record["title"] = f"{head}\x00{tail}\x00"
    elif u < 0.09:
        record["title"] = title + " " + "Lorem ipsum dolor sit amet " * 3800  # ~100 KB
    elif u < 0.13:
        record["price"] = r.choice(_HOSTILE_PRICES)
        record.pop("price_str", None)
    elif u < 0.14:
        record["asin"] = "<script>"
    elif u < 0.15:
        return "not a product"
    elif u < 0.17:
        record["url"] = "javascript:alert(document.cookie)"
    return record


def _slug(title: str) -> str:
    return "-".join(tokens(title[:200])[:7]) or "product"


@lru_cache(maxsize=2048)
def category_records(params: CatalogueParams, node_id: str) -> tuple[str, ...]:
    """The best sellers of a node as JSON-encoded records (rank order, all pages).

    Kept serialised so callers can never mutate a cached value.
    """
    records = []
    for rank, product in enumerate(node_products(params, node_id), 1):
        r = rng(params.seed, "record", node_id, rank)
        pos = (rank - 1) % params.per_page + 1
        if r.random() < 0.01:  # a sponsored block without an ASIN: skipped by parsers
            records.append(json.dumps({"pos": pos, "title": "Sponsored", "url": "/sspa/click"}))
            continue
        record: dict = {
            "pos": pos,
            "url": f"/{_slug(product.title)}/dp/{product.asin}",
            "asin": product.asin,
            **_price_fields(product.price_cents, r),
            "title": product.title,
            "rating": round(r.uniform(3.6, 4.9), 1),
            "currency": "USD",
            "is_prime": r.random() < 0.8,
            "ratings_count": int(10 ** r.uniform(1.3, 5.3)),
        }
        if r.random() < 0.03:  # the real parser's defect: 0 for "found nothing" (unknown)
            record["rating"] = 0
            record["ratings_count"] = 0
        item: object = record
        if params.hostile:
            item = _hostile_record(record, rng(params.seed, "hostile-product", node_id, rank))
        records.append(json.dumps(item, ensure_ascii=False))
    return tuple(records)


def best_sellers_page(params: CatalogueParams, node_id: str, page: int) -> list | None:
    """Page ``page`` (1-based) of a node, or None past the last page."""
    if page < 1 or page > params.pages:
        return None
    records = category_records(params, node_id)
    start = (page - 1) * params.per_page
    return [json.loads(record) for record in records[start : start + params.per_page]]
