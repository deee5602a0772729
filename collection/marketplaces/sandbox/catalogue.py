"""The sandbox's deterministic catalogue: best sellers per category node and eBay
listings per product.

Every value is derived from ``hash(seed, inputs)`` (never from a shared sequential RNG),
so the same seed gives the same data whatever the order of requests, in any process.
Generated pages are memoised with ``functools.lru_cache``.

How the two sides meet: eBay is searched with (a prefix of) the Amazon title. A product is
identified by the first three words of its title (``product_key``, normalised), and the
Amazon price, the eBay listings and their prices (1.5×–2.5× the Amazon price) all derive
from that key. Every generated title has its three key words before its first comma, so a
query that keeps at least the first three words finds the product's listings.

Listings per product: a "core" set that passes the dropshipper filters inside the default
markup band (1.8×–2.2×), a "fringe" set that passes the filters just outside it, and
"noise" that fails exactly one filter (used, paid shipping, located abroad, auction).
Sellers come from a population of recurring dropshippers (zipf-like: a few list hundreds
of best sellers) and one-off sellers generated per listing.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import words
from .config import SandboxConfig

POOL_SIZE = 400  # products that may rank in several categories
SHARED_PRODUCT_RATE = 0.04
_ASIN_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class CatalogueParams:
    """The config fields that decide the data (the lru_cache key)."""

    seed: int
    hostile: bool
    per_page: int
    pages: int
    dropshippers: int
    max_listings: int

    @classmethod
    def from_config(cls, config: SandboxConfig) -> CatalogueParams:
        return cls(
            seed=config.seed,
            hostile=config.hostile,
            per_page=config.best_sellers_per_page,
            pages=config.best_seller_pages,
            dropshippers=config.dropshippers,
            max_listings=config.max_listings,
        )


def h64(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng(*parts: object) -> random.Random:
    return random.Random(h64(*parts))


def product_key(text: str) -> tuple[str, ...]:
    """The first three words of a title or query, case-folded, punctuation dropped."""
    tokens = _TOKEN.findall(text[:400].casefold())
    return tuple(tokens[:3])


# --- Departments ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _department_by_node() -> dict[str, str]:
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


@lru_cache(maxsize=4096)
def node_profile(seed: int, node_id: str) -> str:
    department = _department_by_node().get(node_id, "")
    if department in words.DEPARTMENT_PROFILES:
        return words.DEPARTMENT_PROFILES[department]
    names = sorted(words.PROFILES)
    return names[h64(seed, "node-profile", node_id) % len(names)]


@lru_cache(maxsize=1)
def _first_word_profiles() -> dict[str, str]:
    mapping = {}
    for profile in words.PROFILES.values():
        for brand in profile.brands:
            mapping[brand.casefold()] = profile.name
    for word in words.BOOK_FIRST:
        mapping[word.casefold()] = "books"
    return mapping


@lru_cache(maxsize=65536)
def reference_price(seed: int, key: tuple[str, ...]) -> Decimal:
    """The Amazon price of the product whose title starts with ``key``."""
    profile = words.PROFILES.get(_first_word_profiles().get(key[0] if key else "", ""))
    low, high = (profile.price_low, profile.price_high) if profile else (8.0, 60.0)
    r = rng(seed, "price", key)
    dollars = int(low * (high / low) ** r.random())
    cents = r.choice(("0.99", "0.99", "0.99", "0.95", "0.49", "0.00", "0.97", "0.89"))
    price = Decimal(max(dollars, 1)) + Decimal(cents)
    return price if price > 0 else Decimal("4.99")


# --- Amazon best sellers --------------------------------------------------------------------


def _model_code(r: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTVWXZ"
    pattern = r.choice(("Ldd", "LLddd", "Lddd", "LL-ddd", "LdL"))
    return "".join(
        r.choice(letters) if ch == "L" else str(r.randrange(10)) if ch == "d" else ch
        for ch in pattern
    )


def _title(profile: words.Profile, r: random.Random) -> str:
    if profile.name == "books":
        first = r.choice(words.BOOK_FIRST)
        second = r.choice(words.BOOK_SECOND)
        third = r.choice(words.BOOK_THIRD)
        return (
            f"{first} {second} {third}: {r.choice(profile.features)} ({r.choice(profile.variants)})"
        )
    brand = r.choice(profile.brands)
    noun = r.choice(profile.nouns)
    first, second = r.sample(profile.features, 2)
    return f"{brand} {_model_code(r)} {noun}, {first}, {second}, {r.choice(profile.variants)}"


def _asin(profile: words.Profile, r: random.Random) -> str:
    if profile.name == "books":
        return r.choice("01") + "".join(str(r.randrange(10)) for _ in range(9))
    return "B0" + "".join(r.choice(_ASIN_CHARS) for _ in range(8))


def _slug(title: str) -> str:
    return "-".join(_TOKEN.findall(title[:200])[:7]) or "product"


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


@dataclass(frozen=True, slots=True)
class _Product:
    asin: str
    title: str


def _pool_product(seed: int, index: int) -> _Product:
    r = rng(seed, "pool", index)
    profile = words.PROFILES[sorted(words.PROFILES)[r.randrange(len(words.PROFILES))]]
    return _Product(asin=_asin(profile, r), title=_title(profile, r))


def _slot_product(seed: int, node_id: str, rank: int) -> _Product:
    r = rng(seed, "product", node_id, rank)
    profile = words.PROFILES[node_profile(seed, node_id)]
    return _Product(asin=_asin(profile, r), title=_title(profile, r))


def _price_fields(price: Decimal, r: random.Random) -> dict:
    u = r.random()
    if u < 0.74:  # a JSON number; whole dollars come as an integer (never cents)
        number: object = int(price) if price == price.to_integral_value() else float(price)
        return {"price": number, "price_str": _money(price)}
    if u < 0.84:  # the price as a formatted string
        return {"price": _money(price), "price_str": _money(price)}
    if u < 0.89:  # no price field, only the string
        return {"price_str": _money(price)}
    if u < 0.93:  # a range ("$12.99 - $16.89")
        upper = (price * Decimal("1.3")).quantize(Decimal("0.01"))
        return {
            "price": float(price),
            "price_upper": float(upper),
            "price_str": f"{_money(price)} - {_money(upper)}",
        }
    if u < 0.97:  # unavailable
        return {"price": None, "price_str": ""}
    return {"price": 0}


_HOSTILE_PRICES = (1e15, -19.99, "NaN", "$9,999,999,999.99", True, "Free", "1e400", 0.001)


def _hostile_record(record: dict, r: random.Random) -> object:
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


@lru_cache(maxsize=2048)
def category_products(params: CatalogueParams, node_id: str) -> tuple[str, ...]:
    """The best sellers of a node as JSON-encoded records (rank order, all pages).

    Records are kept serialised so callers can never mutate a cached value.
    """
    total = params.per_page * params.pages
    used_pool: set[int] = set()
    seen_asins: set[str] = set()
    records = []
    for rank in range(1, total + 1):
        r = rng(params.seed, "slot", node_id, rank)
        product = None
        if r.random() < SHARED_PRODUCT_RATE:
            index = r.randrange(POOL_SIZE)
            if index not in used_pool:
                used_pool.add(index)
                product = _pool_product(params.seed, index)
        if product is None or product.asin in seen_asins:
            product = _slot_product(params.seed, node_id, rank)
        seen_asins.add(product.asin)
        pos = (rank - 1) % params.per_page + 1
        if r.random() < 0.01:  # a sponsored block without an ASIN: skipped by parsers
            records.append(json.dumps({"pos": pos, "title": "Sponsored", "url": "/sspa/click"}))
            continue
        price = reference_price(params.seed, product_key(product.title))
        record: dict = {
            "pos": pos,
            "url": f"/{_slug(product.title)}/dp/{product.asin}",
            "asin": product.asin,
            **_price_fields(price, r),
            "title": product.title,
            "rating": round(r.uniform(3.6, 4.9), 1),
            "currency": "USD",
            "is_prime": r.random() < 0.8,
            "ratings_count": int(10 ** r.uniform(1.3, 5.3)),
        }
        item: object = record
        if params.hostile:
            item = _hostile_record(record, rng(params.seed, "hostile-product", node_id, rank))
        records.append(json.dumps(item, ensure_ascii=False))
    return tuple(records)


def best_sellers_page(params: CatalogueParams, node_id: str, page: int) -> list | None:
    """Page ``page`` (1-based) of a node, or None past the last page."""
    if page < 1 or page > params.pages:
        return None
    records = category_products(params, node_id)
    start = (page - 1) * params.per_page
    return [json.loads(record) for record in records[start : start + params.per_page]]


# --- eBay sellers ---------------------------------------------------------------------------


class SellerRecord(NamedTuple):
    username: str
    feedback_score: int
    feedback_percent: str  # "99.3", as eBay sends it


def _pick(r: random.Random, seq):
    # random.choice costs ~1 µs in randbelow; this is the hot path of the catalogue.
    return seq[int(r.random() * len(seq))]


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_COMPANY_SUFFIXES = ("", "USA", "Co", "LLC", "247")


def _username(r: random.Random) -> str:
    style = int(r.random() * 8)
    if style == 0:
        return (
            f"{_pick(r, words.USER_WORDS)}{_pick(r, words.USER_WORDS)}{int(r.random() * 9999) + 1}"
        )
    if style == 1:
        return f"{_pick(r, words.USER_WORDS)}_{_pick(r, words.USER_WORDS)}"
    if style == 2:
        return (
            f"{_pick(r, words.FIRST_NAMES)}.{_pick(r, words.USER_WORDS)}{int(r.random() * 99) + 1}"
        )
    if style == 3:
        return (
            f"{_pick(r, words.USER_WORDS).capitalize()}{_pick(r, words.USER_WORDS).capitalize()}"
            f"{_pick(r, _COMPANY_SUFFIXES)}"
        )
    if style == 4:
        first, last = _pick(r, words.FIRST_NAMES), _pick(r, words.LAST_NAMES)
        return f"{first}{last}_{int(r.random() * 9999) + 1}"
    if style == 5:
        first, last = _pick(r, words.FIRST_NAMES), _pick(r, words.LAST_NAMES)
        return f"{first[0]}{last}{int(r.random() * 999) + 1}"
    if style == 6:
        return "".join(_pick(r, _LETTERS) for _ in range(5 + int(r.random() * 4)))
    return f"{_pick(r, words.USER_WORDS)}-{_pick(r, words.USER_WORDS)}-{_pick(r, words.LAST_NAMES)}"


def _percent(r: random.Random, low: float) -> str:
    value = round(low + (100.4 - low) * r.random(), 1)
    return "100" if value >= 100 else f"{value:.1f}"


@lru_cache(maxsize=16)
def dropshipper_population(seed: int, size: int) -> tuple[SellerRecord, ...]:
    """The recurring sellers, most active first."""
    r = rng(seed, "dropshippers")
    sellers: list[SellerRecord] = []
    taken: set[str] = set()
    while len(sellers) < size:
        name = _username(r)
        if name.casefold() in taken:
            continue
        taken.add(name.casefold())
        rank = len(sellers) + 1
        score = int(60_000 / rank**0.7 * r.uniform(0.5, 1.5)) + r.randint(40, 400)
        sellers.append(SellerRecord(name, score, _percent(r, 95.5)))
    return tuple(sellers)


@lru_cache(maxsize=16)
def _zipf_cumulative(size: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))


def _one_off_seller(r: random.Random) -> SellerRecord:
    name = _username(r)
    if r.random() < 0.3:
        name += str(10 + int(r.random() * 90))
    return SellerRecord(name, int(10 ** (r.random() * 3.6)), _percent(r, 88.0))


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _hostile_seller(seller: SellerRecord, r: random.Random) -> SellerRecord:
    name = seller.username
    variant = r.choice(
        (
            _fullwidth(name),
            name.upper(),
            name.swapcase(),
            name.translate(words.HOMOGLYPHS),
            f"  {name}  ",
            name[:3] + "\u200b" + name[3:],
            name + r.choice(words.HOSTILE_MARKUP),
            r.choice(words.HOSTILE_MARKUP),
            name + "\x00",
            name * 40,  # longer than any username column: parsers must skip it
        )
    )
    return SellerRecord(variant, seller.feedback_score, seller.feedback_percent)


# --- eBay listings --------------------------------------------------------------------------


_SHIPPING_COSTS = (399, 599, 749, 999, 1495)  # cents
_NOISE_CONDITIONS = (3000, 3000, 1500, 2500)
_DROPSHIPPER_SHARE = {"core": 0.7, "fringe": 0.5, "noise": 0.15}


class SandboxListing(NamedTuple):
    """One listing (a NamedTuple: thousands are built per second, cheaply)."""

    item_id: str
    title: str
    price_cents: int
    condition_id: int
    shipping_cents: int
    country: str
    country_name: str
    buying_option: str  # FIXED_PRICE or AUCTION
    seller: SellerRecord
    omit_shipping_options: bool  # Browse leaves the (conditional) container out
    postal_code: str
    tier: str  # core / fringe / noise (for tests and debugging)

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_cents) / 100

    @property
    def price_text(self) -> str:
        return f"{self.price_cents // 100}.{self.price_cents % 100:02d}"

    @property
    def shipping_text(self) -> str:
        return f"{self.shipping_cents // 100}.{self.shipping_cents % 100:02d}"


def _hostile_title(title: str, r: random.Random) -> str:
    u = r.random()
    if u < 0.04:
        return f"{title} {r.choice(words.HOSTILE_MARKUP)}"
    if u < 0.05:
        return title + "\x00"
    if u < 0.055:
        return title + " " + "x" * 100_000
    return title


@lru_cache(maxsize=8192)
def listings_for(
    params: CatalogueParams, key: tuple[str, ...], query: str
) -> tuple[SandboxListing, ...]:
    """Every listing (matching or not) for the product identified by ``key``.

    ``query`` only shapes the listing titles; the set of listings, their prices and
    sellers depend on ``key`` alone. Callers pass the query normalised to its first 80
    characters so that cache entries stay small.
    """
    seed = params.seed
    reference = reference_price(seed, key)
    r = rng(seed, "listings", key)
    if not key or r.random() < 0.12:
        core = 0
    else:
        core = min(
            params.max_listings, int(math.exp(r.uniform(0, math.log(params.max_listings + 1))))
        )
    fringe = int(core * r.uniform(0.1, 0.4)) + r.randint(0, 6)
    noise = int(core * r.uniform(0.3, 0.7)) + r.randint(2, 12)
    tiers = ["core"] * core + ["fringe"] * fringe + ["noise"] * noise
    r.shuffle(tiers)

    population = dropshipper_population(seed, params.dropshippers)
    cumulative = _zipf_cumulative(params.dropshippers)
    total_weight, last = cumulative[-1], len(cumulative) - 1
    reference_cents = int(reference * 100)
    band_low = -(-reference_cents * 18 // 10)  # ceil(1.8 × P) in cents
    band_high = reference_cents * 22 // 10
    hostile = params.hostile
    prefixes, suffixes = words.LISTING_PREFIXES, words.LISTING_SUFFIXES
    rand = r.random
    used: set[int] = set()
    listings = []
    # One RNG per product (seeded from its key): a product's listings never depend on
    # which other products were generated before it. This loop is the sandbox's hot path
    # (every new product): random.choice/choices are inlined as the same single draws.
    for tier in tiers:
        if tier == "core":
            price = round(reference_cents * (1.8 + 0.4 * rand()))
            price = min(max(price, band_low), band_high)  # inside [1.8, 2.2] × after rounding
        elif tier == "fringe":
            ratio = 1.5 + 0.29 * rand() if rand() < 0.5 else 2.21 + 0.29 * rand()
            price = round(reference_cents * ratio)
        else:
            price = round(reference_cents * (1.5 + rand()))
        condition, shipping, buying = 1000, 0, "FIXED_PRICE"
        country, country_name = "US", "United States"
        if tier == "noise":
            flaw = int(rand() * 4)
            if flaw == 0:
                condition = _NOISE_CONDITIONS[int(rand() * 4)]
            elif flaw == 1:
                shipping = _SHIPPING_COSTS[int(rand() * len(_SHIPPING_COSTS))]
            elif flaw == 2:
                countries = words.FOREIGN_COUNTRIES
                country, country_name = countries[int(rand() * len(countries))]
            else:
                buying = "AUCTION"
        seller = None
        if rand() < _DROPSHIPPER_SHARE[tier]:
            for _ in range(5):
                pick = bisect.bisect_right(cumulative, rand() * total_weight, 0, last)
                if pick not in used:
                    used.add(pick)
                    seller = population[pick]
                    break
        if seller is None:
            seller = _one_off_seller(r)
        if hostile and rand() < 0.06:
            seller = _hostile_seller(population[r.randrange(min(30, len(population)))], r)
        item_id = str(110_000_000_000 + int(rand() * 300_000_000_000))
        title = f"{prefixes[int(rand() * len(prefixes))]}{query}"[:70].rstrip()
        title = f"{title}{suffixes[int(rand() * len(suffixes))]}"[:80]
        if hostile:
            title = _hostile_title(title, r)
        listings.append(
            SandboxListing(
                item_id,
                title,
                price,
                condition,
                shipping,
                country,
                country_name,
                buying,
                seller,
                shipping == 0 and rand() < 0.08,
                f"{100 + int(rand() * 900)}**",
                tier,
            )
        )
    return tuple(listings)


@dataclass(frozen=True, slots=True)
class ListingFilter:
    """What a search asked for; None means "not filtered"."""

    condition_ids: frozenset[int] | None = None
    free_shipping: bool = False
    country: str | None = None
    buying_options: frozenset[str] | None = None
    price_min_cents: int | None = None
    price_max_cents: int | None = None

    @staticmethod
    def cents(value: Decimal | None, *, upper: bool = False) -> int | None:
        """A price bound in whole cents (a lower bound rounds up, an upper one down)."""
        if value is None:
            return None
        return int((value * 100).to_integral_value(rounding=ROUND_DOWN if upper else ROUND_UP))

    def matches(self, listing: SandboxListing) -> bool:
        if self.condition_ids is not None and listing.condition_id not in self.condition_ids:
            return False
        if self.free_shipping and listing.shipping_cents > 0:
            return False
        if self.country is not None and listing.country != self.country:
            return False
        if self.buying_options is not None and listing.buying_option not in self.buying_options:
            return False
        if self.price_min_cents is not None and listing.price_cents < self.price_min_cents:
            return False
        if self.price_max_cents is not None and listing.price_cents > self.price_max_cents:
            return False
        return True


@lru_cache(maxsize=8192)
def search(
    params: CatalogueParams, query: str, listing_filter: ListingFilter
) -> tuple[SandboxListing, ...]:
    """The listings a search for ``query`` returns under ``listing_filter``, best match first."""
    normalised = " ".join(query.split())[:80]
    listings = listings_for(params, product_key(normalised), normalised)
    return tuple(listing for listing in listings if listing_filter.matches(listing))
