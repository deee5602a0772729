"""Ground truth of the sandbox's eBay, for benchmarks and tests only.

The adapters and the app never import this module: a real marketplace has no truth.

- ``truth_dropshippers``: every recurring dropshipper's name as listed (the immutable id
  for the few shown by id). Hostile look-alike accounts are not in it.
- ``truth_copies``: every listing that copies an ASIN's Amazon title (whatever its price,
  filters or seller), with ``passes_filters`` = brand new, free shipping, located in the
  US, fixed price (the price band is NOT applied).
- ``truth_item``: what one listing is. ``asin`` is the product listed for "copy" and
  "own_title"; None for "lookalike" (another product of the same kind) and "other"
  (accessories naming the product).

Cost: one shard build per (profile, noun) touched (~tens of ms), then dictionary lookups;
2,000 ASINs of a default catalogue take a few seconds at most.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from . import amazon, sellers, universe
from .catalogue import CatalogueParams
from .config import SandboxConfig


class TruthListing(NamedTuple):
    item_id: str
    seller_username: str
    price: Decimal
    passes_filters: bool


class TruthItem(NamedTuple):
    item_id: str
    kind: str  # "copy" | "own_title" | "lookalike" | "other"
    asin: str | None
    seller_username: str
    seller_is_dropshipper: bool


def truth_dropshippers(config: SandboxConfig) -> frozenset[str]:
    return frozenset(
        d.seller.username for d in sellers.dropshippers(config.seed, config.dropshippers)
    )


def truth_copies(config: SandboxConfig, asin: str) -> tuple[TruthListing, ...]:
    params = CatalogueParams.from_config(config)
    product = amazon.asin_index(params).get(asin)
    if product is None:
        return ()
    shard = universe.build_shard(params, product.shard)
    return tuple(
        TruthListing(
            listing.item_id,
            listing.seller.username,
            listing.price,
            listing.passes_dropshipper_filters,
        )
        for listing in (shard.listings[p] for p in shard.copies.get(asin, ()))
    )


def truth_item(config: SandboxConfig, item_id: str) -> TruthItem | None:
    item_id = item_id.split("|")[1] if item_id.startswith("v1|") else item_id
    shard_key = universe.shard_of_item(item_id)
    if shard_key is None:
        return None
    params = CatalogueParams.from_config(config)
    shard = universe.build_shard(params, shard_key)
    pos = shard.by_id.get(item_id)
    if pos is None:
        return None
    listing = shard.listings[pos]
    return TruthItem(
        listing.item_id,
        listing.kind,
        listing.asin or None,
        listing.seller.username,
        listing.seller.dropshipper,
    )
