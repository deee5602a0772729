"""The sandbox's shared primitives: catalogue parameters, hashing, records and filters.

Every value the sandbox serves is derived from ``hash(seed, inputs)`` (never from a shared
sequential RNG), so the same seed gives the same data whatever the order of requests, in
any process. The data itself is built in the provider modules:

- ``amazon``: the Amazon products per department profile and the best-seller pages;
- ``universe``: the eBay listings (copies, own titles, look-alikes), the inverted index
  and the search;
- ``sellers``: the recurring dropshippers, ordinary retailers and one-off sellers;
- ``truth``: the ground truth for benchmarks and tests (never imported by the app).

This module imports none of them (they all import it).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import NamedTuple

from .config import SandboxConfig


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


class SellerRecord(NamedTuple):
    username: str  # as listed (an immutable user id for sellers eBay shows by id)
    feedback_score: int
    feedback_percent: str  # "99.3", as eBay sends it
    user_id: str = ""
    dropshipper: bool = False


class SandboxListing(NamedTuple):
    """One eBay listing (a NamedTuple: tens of thousands are built per profile)."""

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
    kind: str  # truth: copy / own_title / lookalike / other
    asin: str  # the Amazon product listed (copy, own_title), else ""
    rank: int  # best-match order key (lower first)
    show_user_id: bool  # Browse sends seller.userId on this item

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_cents) / 100

    @property
    def price_text(self) -> str:
        return f"{self.price_cents // 100}.{self.price_cents % 100:02d}"

    @property
    def shipping_text(self) -> str:
        return f"{self.shipping_cents // 100}.{self.shipping_cents % 100:02d}"

    @property
    def passes_dropshipper_filters(self) -> bool:
        return (
            self.condition_id == 1000
            and self.shipping_cents == 0
            and self.country == "US"
            and self.buying_option == "FIXED_PRICE"
        )


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
