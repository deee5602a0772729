"""The sandbox's eBay: every listing, deterministic from (seed, catalogue params) only.

The universe is cut into *shards*, one per (profile, product noun) — e.g. (electronics,
"Wireless Earbuds") — built lazily on the first search that can match in it. Per Amazon
product of the shard (its listings all live there):

- copies by dropshippers: 12 % of products have none; otherwise a log-uniform count up to
  ``max_listings`` (mean ~max/ln(max), ~30 at the defaults), each by a distinct
  dropshipper picked zipf-like, title through that seller's habit, price at their markup;
- 2–10 listings by ordinary sellers with their own short titles, mostly 1.0–1.5× Amazon
  (a tenth inside the 1.8–2.2× band);
- 3–12 look-alikes: the same kind of product by another brand or none, sharing the noun
  and common features, 0.5–2.6× the Amazon price; 15 % are listed by dropshippers;
- 0–3 accessories naming the product ("Replacement Case for ...": kind "other").

Search: each shard keeps an inverted index token → bitset of positions, positions in
best-match order (a hash of the item id). A query is routed to the shards whose
vocabulary holds all its words (``titles.shard_vocabulary`` + model codes), so a search
touches one or a few shards. Item ids encode their shard: ``1 PP NN SSSSSSS``. A shard also
keeps, per filter without its price band, the bitset of the listings passing it.

A build is the hot path of a first search: ``bench/sandbox_digest.py`` (and the test
pinning it) guards that making it cheaper moves no byte of what the sandbox serves.

Past 400 lines: the emulated site's listings, their index and the search over it must
agree with each other (tests compare the index with a reference matcher).
"""

from __future__ import annotations

import bisect
import math
import operator
import threading
from functools import lru_cache
from hashlib import blake2b
from typing import NamedTuple

from . import amazon, sellers, titles, words
from .catalogue import CatalogueParams, ListingFilter, SandboxListing, SellerRecord, h64, rng
from .tokens import ParsedQuery, parse_query, tokens, word_tokens

_SHIPPING_COSTS = (399, 599, 749, 999, 1495)
_USED = (3000, 3000, 1500, 2500)
_US = ("US", "United States")
_RANK = operator.itemgetter(13)  # SandboxListing.rank
new_tuple = tuple.__new__


class Shard(NamedTuple):
    listings: tuple[SandboxListing, ...]  # best-match order
    index: dict[str, int]  # type: ignore[assignment]  # token → bitset; mypy: shadows tuple.index
    by_id: dict[str, int]
    copies: dict[str, tuple[int, ...]]  # asin → positions of its copies
    # (conditions, free shipping, country, buying options) of a filter → the listings that
    # pass them (bitset), filled by the searches (a run sends one such filter, many bands).
    facets: dict[tuple, int]


def shard_products(params: CatalogueParams, shard: tuple[str, int]) -> list[amazon.Product]:
    profile, noun_index = shard
    return [p for p in amazon.profile_products(params, profile) if p.noun_index == noun_index]


@lru_cache(maxsize=65_536)
def lookalike_models(seed: int, asin: str, count: int) -> tuple[str, ...]:
    """Memoised: ``model_routing`` draws them for every product, the shard builds again."""
    r = rng(seed, "lookalike-models", asin)
    return tuple([titles.model_code(r) if r.random() < 0.6 else "" for _ in range(count)])


def _lookalike_count(seed: int, asin: str) -> int:
    return 3 + h64(seed, "lookalikes", asin) % 10


@lru_cache(maxsize=2)
def _global_vocabulary(hostile: bool = True) -> frozenset[str]:
    return titles.global_vocabulary(hostile)


@lru_cache(maxsize=1)
def static_routing() -> dict[str, frozenset[tuple[str, int]]]:
    """Token → shards from the word lists alone (cheap; model codes aside)."""
    table: dict[str, set[tuple[str, int]]] = {}
    for profile in amazon.PROFILE_NAMES:
        for noun_index in range(amazon.noun_count(profile)):
            for token in titles.shard_vocabulary(profile, noun_index):
                table.setdefault(token, set()).add((profile, noun_index))
    glob = _global_vocabulary(False)
    return {token: frozenset(shards) for token, shards in table.items() if token not in glob}


@lru_cache(maxsize=16)
def model_routing(params: CatalogueParams) -> dict[str, frozenset[tuple[str, int]]]:
    """Model-code token → shards (needs every product: built on the first query with one)."""
    table: dict[str, set[tuple[str, int]]] = {}
    for profile in amazon.PROFILE_NAMES:
        for product in amazon.profile_products(params, profile):
            codes = [text for kind, text in product.pieces if kind == "model"]
            codes += lookalike_models(
                params.seed, product.asin, _lookalike_count(params.seed, product.asin)
            )
            for code in codes:
                for token in tokens(code):
                    table.setdefault(token, set()).add(product.shard)
    return {token: frozenset(shards) for token, shards in table.items()}


def _shards_of(params: CatalogueParams, token: str) -> frozenset[tuple[str, int]]:
    found = static_routing().get(token, frozenset())
    if any(ch.isdigit() for ch in token):  # only such tokens can be model codes
        found = found | model_routing(params).get(token, frozenset())
    return found


def _all_shards() -> frozenset[tuple[str, int]]:
    return frozenset((p, n) for p in amazon.PROFILE_NAMES for n in range(amazon.noun_count(p)))


def route(params: CatalogueParams, query: ParsedQuery) -> list[tuple[str, int]]:
    """The shards a query can match in. A query of decoration words only ("new") matches
    everywhere, so it builds every shard (seconds at the defaults; nobody searches that)."""
    glob = _global_vocabulary(params.hostile)
    candidates: frozenset | None = None
    for token in query.required:
        if token in glob:
            continue
        got = _shards_of(params, token)
        candidates = got if candidates is None else candidates & got
        if not candidates:
            return []
    for group in query.groups:
        reach: set = set()
        for alternative in group:
            inner: frozenset | None = None
            for token in alternative:
                if token in glob:
                    continue
                got = _shards_of(params, token)
                inner = got if inner is None else inner & got
            reach |= _all_shards() if inner is None else inner
        candidates = frozenset(reach) if candidates is None else candidates & reach
    return sorted(_all_shards() if candidates is None else candidates)


# --- building a shard -----------------------------------------------------------------------
#
# The hot path of a first search (a shard holds ~2,000 listings). Every draw of the two
# per-product RNG streams ("ebay": drafts, "terms": listing terms) happens in the order it
# always did, so the listings are the same bytes; what changed is the overhead around
# them: drafts are tuples, the seed's sellers are looked up once per shard, the index is
# tokenised word by word through a memo (``tokens.title_tokens``).


# A listing before its terms: (kind, asin, seller, title, price, condition, shipping, where,
# buying). A plain tuple: a NamedTuple's constructor is a Python call per listing.
_Draft = tuple[str, str, SellerRecord, str, int, int, int, tuple[str, str], str]


class _Sellers(NamedTuple):
    """What a shard build looks up per listing, once per build."""

    seed: int
    dropshippers: tuple[sellers.Dropshipper, ...]
    cumulative: tuple[float, ...]
    retailers: tuple[SellerRecord, ...]

    @classmethod
    def of(cls, params: CatalogueParams) -> _Sellers:
        return cls(
            params.seed,
            sellers.dropshippers(params.seed, params.dropshippers),
            sellers.zipf_cumulative(params.dropshippers),
            sellers.retailers(params.seed),
        )


def _flawed(r, draft: _Draft) -> _Draft:
    kind, asin, seller, title, price, condition, shipping, where, buying = draft
    flaw = int(r.random() * 4)
    if flaw == 0:
        condition = _USED[int(r.random() * 4)]
    elif flaw == 1:
        shipping = _SHIPPING_COSTS[int(r.random() * len(_SHIPPING_COSTS))]
    elif flaw == 2:
        where = words.FOREIGN_COUNTRIES[int(r.random() * len(words.FOREIGN_COUNTRIES))]
    else:
        buying = "AUCTION"
    return (kind, asin, seller, title, price, condition, shipping, where, buying)


def _ordinary(r, kind: str, asin: str, seller: SellerRecord, title: str, price: int) -> _Draft:
    """An ordinary seller's listing, its terms drawn last (used, shipping, abroad, auction)."""
    random = r.random
    condition = _USED[int(random() * 4)] if random() < 0.3 else 1000
    shipping = _SHIPPING_COSTS[int(random() * len(_SHIPPING_COSTS))] if random() < 0.45 else 0
    foreign = words.FOREIGN_COUNTRIES
    where = foreign[int(random() * len(foreign))] if random() < 0.1 else _US
    buying = "AUCTION" if random() < 0.15 else "FIXED_PRICE"
    return (kind, asin, seller, title, price, condition, shipping, where, buying)


def _pick_dropshipper(known: _Sellers, r, used: set[int]) -> sellers.Dropshipper | None:
    cumulative = known.cumulative
    top, last = cumulative[-1], len(cumulative) - 1
    for _ in range(6):
        pick = bisect.bisect_right(cumulative, r.random() * top, 0, last)
        if pick not in used:
            used.add(pick)
            return known.dropshippers[pick]
    return None


def _ordinary_seller(known: _Sellers, r) -> SellerRecord:
    if r.random() < 0.35:
        pool = known.retailers
        return pool[int(r.random() ** 2 * len(pool))]
    return sellers.one_off(known.seed, r)


def _product_drafts(
    params: CatalogueParams, product: amazon.Product, known: _Sellers | None = None
) -> list[_Draft]:
    known = known or _Sellers.of(params)
    seed, price = params.seed, product.price_cents
    r = rng(seed, "ebay", product.asin)
    random, uniform = r.random, r.uniform
    asin, pieces = product.asin, product.pieces
    drafts: list[_Draft] = []
    cap = max(1, params.max_listings)
    copies = 0 if random() < 0.12 else min(cap, int(math.exp(uniform(0, math.log(cap + 1)))))
    used: set[int] = set()
    habits = titles.HabitCopier(pieces)
    for _ in range(copies):
        dropshipper = _pick_dropshipper(known, r, used)
        if dropshipper is None:
            continue
        title = habits.copy(dropshipper.habit, r)
        draft: _Draft = (
            "copy",
            asin,
            dropshipper.seller,
            title,
            round(price * dropshipper.markup * uniform(0.97, 1.03)),
            1000,
            0,
            dropshipper.abroad or _US,
            "FIXED_PRICE",
        )
        if random() < dropshipper.flaw_rate:
            draft = _flawed(r, draft)
        drafts.append(draft)
    parts = titles.Parts.of(pieces)
    for _ in range(2 + int(random() * 9)):
        u = random()
        ratio = (
            uniform(1.0, 1.5) if u < 0.85 else uniform(1.8, 2.2) if u < 0.95 else uniform(0.8, 1.0)
        )
        seller = _ordinary_seller(known, r)
        title = titles.own_title(pieces, r, parts)
        drafts.append(_ordinary(r, "own_title", asin, seller, title, round(price * ratio)))
    spec = words.PROFILES[product.profile]
    brands = spec.brands
    features = tuple((k, t.lstrip(" ,-")) for k, t in pieces if k == "feature")
    for model in lookalike_models(seed, asin, _lookalike_count(seed, asin)):
        brand = "" if not brands or random() < 0.4 else brands[int(random() * len(brands))]
        if brand == parts.brand:
            brand = ""
        shared = features[: 1 + int(random() * 2)]
        lookalike = list(
            titles.amazon_pieces(product.profile, product.noun_index, r, brand=brand, shared=shared)
        )
        lookalike = [p for p in lookalike if p[0] != "model"]
        if model and product.profile != "books":
            at = 1 if lookalike and lookalike[0][0] == "brand" else 0
            lookalike.insert(at + 1, ("model", f" {model}"))
        cost = round(price * uniform(0.5, 2.6))
        dropshipper = _pick_dropshipper(known, r, set()) if random() < 0.15 else None
        if dropshipper is not None:
            title = titles.apply_habit(dropshipper.habit, lookalike, r)
            drafts.append(
                ("lookalike", "", dropshipper.seller, title, cost, 1000, 0, _US, "FIXED_PRICE")
            )
        else:
            seller = _ordinary_seller(known, r)
            title = titles.own_title(lookalike, r)
            drafts.append(_ordinary(r, "lookalike", "", seller, title, cost))
    if product.profile != "books":
        for _ in range(int(random() * 4)):
            seller = _ordinary_seller(known, r)
            title = titles.accessory_title(pieces, r, parts)
            cost = max(199, round(price * uniform(0.1, 0.5)))
            drafts.append(_ordinary(r, "other", "", seller, title, cost))
    return drafts


def _hostile_title(title: str, r) -> str:
    u = r.random()
    if u < 0.04:
        return f"{title} {r.choice(words.HOSTILE_MARKUP)}"
    if u < 0.05:
        return title + "\x00"
    if u < 0.055:
        return title + " " + "x" * 100_000
    return title


def _bitsets(positions: dict[str, list[int]], size: int) -> dict[str, int]:
    out = {}
    for token, found in positions.items():
        buffer = bytearray((size + 7) // 8)
        for pos in found:
            buffer[pos >> 3] |= 1 << (pos & 7)
        out[token] = int.from_bytes(buffer, "little")
    return out


_SHARDS: dict[tuple[CatalogueParams, tuple[str, int]], Shard] = {}
_BUILDING = threading.Lock()


def build_shard(params: CatalogueParams, shard: tuple[str, int]) -> Shard:
    """The shard, built once per process (thread-safe: the app may build in a thread)."""
    key = (params, shard)
    found = _SHARDS.get(key)
    if found is None:
        with _BUILDING:
            found = _SHARDS.get(key)
            if found is None:
                found = _SHARDS[key] = _build_shard(params, shard)
    return found


def shards_clear() -> None:
    """Forget the built shards (``build_shard``'s cache; see ``app.caches_clear``)."""
    _SHARDS.clear()
    _READY.clear()


# The (params, q) found ready: shards are only added until shards_clear (which forgets
# these too), so a query once ready stays ready; every search asks (~13 µs to route).
_READY: set[tuple[CatalogueParams, str]] = set()
_READY_CAP = 100_000


def ready(params: CatalogueParams, q: str) -> bool:
    """True when a search for ``q`` needs no shard build (it can answer inline, fast)."""
    key = (params, q)
    if key in _READY:
        return True
    query = parse_query(q)
    if query.empty:
        return True
    if any(ch.isdigit() for token in query.all_words() for ch in token) and (
        model_routing.cache_info().currsize == 0
    ):
        return False
    if not all((params, shard) in _SHARDS for shard in route(params, query)):
        return False
    if len(_READY) >= _READY_CAP:
        _READY.clear()
    _READY.add(key)
    return True


def _build_shard(params: CatalogueParams, shard: tuple[str, int]) -> Shard:
    seed = params.seed
    profile, noun_index = shard
    prefix = f"1{amazon.PROFILE_NAMES.index(profile):02d}{noun_index:02d}"
    offset = h64(seed, "ids", shard) % 10_000_000
    known = _Sellers.of(params)
    population = known.dropshippers
    hostile = params.hostile
    # h64(seed, "rank", item_id): the repr of that tuple, its head written once.
    rank_head = f"({seed!r}, 'rank', ".encode()
    listings = []
    serial = 0
    for product in shard_products(params, shard):
        r = rng(seed, "terms", product.asin)
        random = r.random
        for kind, asin, seller, title, price, condition, shipping, where, buying in _product_drafts(
            params, product, known
        ):
            # f"{prefix}{(serial * 7919 + offset) % 10_000_000:07d}", zero-padded by hand
            item_id = prefix + str(10_000_000 + (serial * 7919 + offset) % 10_000_000)[1:]
            serial += 1
            if hostile:
                if random() < 0.06:
                    seller = sellers.hostile_variant(
                        population[int(random() * min(30, len(population)))].seller, r
                    )
                title = _hostile_title(title, r)
            country, country_name = where
            omit = shipping == 0 and random() < 0.08
            postal_code = f"{100 + int(random() * 900)}**"
            rank = int.from_bytes(
                blake2b(rank_head + repr(item_id).encode() + b")", digest_size=8).digest(),
                "big",
            )
            show_user_id = bool(seller.user_id) and random() < 0.9
            # SandboxListing(...) without its Python-level __new__ (same fields, same order).
            listings.append(
                new_tuple(
                    SandboxListing,
                    (
                        item_id,
                        title,
                        max(1, price),
                        condition,
                        shipping,
                        country,
                        country_name,
                        buying,
                        seller,
                        omit,
                        postal_code,
                        kind,
                        asin,
                        rank,
                        show_user_id,
                    ),
                )
            )
    listings.sort(key=_RANK)
    # Positions per title word first (a title's tokens are its words' tokens, see
    # tokens.title_tokens), then a token's bitset is the OR of its words' bitsets.
    by_word: dict[str, list[int]] = {}
    copies: dict[str, list[int]] = {}
    get_positions = by_word.get
    for pos, listing in enumerate(listings):
        for word in listing.title.split():
            found = get_positions(word)
            if found is None:
                by_word[word] = [pos]
            elif found[-1] != pos:
                found.append(pos)
        if listing.kind == "copy":
            copies.setdefault(listing.asin, []).append(pos)
    memo = word_tokens()
    index: dict[str, int] = {}
    for word, bits in _bitsets(by_word, len(listings)).items():
        found_tokens = memo.get(word)
        if found_tokens is None:
            found_tokens = memo[word] = tuple(tokens(word))
        for token in found_tokens:
            index[token] = index.get(token, 0) | bits
    return Shard(
        tuple(listings),
        index,
        {listing.item_id: pos for pos, listing in enumerate(listings)},
        {asin: tuple(found) for asin, found in copies.items()},
        {},
    )


def shard_of_item(item_id: str) -> tuple[str, int] | None:
    if len(item_id) != 12 or not item_id.isdigit() or item_id[0] != "1":
        return None
    profile, noun = int(item_id[1:3]), int(item_id[3:5])
    if profile >= len(amazon.PROFILE_NAMES) or noun >= amazon.noun_count(
        amazon.PROFILE_NAMES[profile]
    ):
        return None
    return (amazon.PROFILE_NAMES[profile], noun)


# --- search ---------------------------------------------------------------------------------


def _and(index: dict[str, int], words_: frozenset[str] | tuple[str, ...], everything: int) -> int:
    bits = everything
    for token in words_:
        bits &= index.get(token, 0)
        if not bits:
            return 0
    return bits


def matching_bits(shard: Shard, query: ParsedQuery) -> int:
    everything = (1 << len(shard.listings)) - 1
    bits = _and(shard.index, query.required, everything)
    for group in query.groups:
        if not bits:
            return 0
        reach = 0
        for alternative in group:
            reach |= _and(shard.index, alternative, everything)
        bits &= reach
    for excluded in query.excluded:
        if bits:
            bits &= ~_and(shard.index, excluded, everything)
    return bits


def positions(bits: int) -> list[int]:
    """The set bits of ``bits``, lowest first: found in its binary text, right to left (the
    loop of ``bits & -bits`` was quadratic: each step copies the whole integer)."""
    text = bin(bits)
    last = len(text) - 1
    out = []
    at = text.rfind("1", 2)
    while at > 1:
        out.append(last - at)
        at = text.rfind("1", 2, at)
    return out


def _passing(shard: Shard, listing_filter: ListingFilter) -> int:
    """The listings of ``shard`` that pass ``listing_filter`` but its price band (bitset)."""
    key = (
        listing_filter.condition_ids,
        listing_filter.free_shipping,
        listing_filter.country,
        listing_filter.buying_options,
    )
    bits = shard.facets.get(key)
    if bits is None:
        unpriced = ListingFilter(*key)
        passing = [pos for pos, item in enumerate(shard.listings) if unpriced.matches(item)]
        bits = shard.facets[key] = _bitsets({"": passing}, len(shard.listings))[""]
    return bits


def _collect(
    params: CatalogueParams,
    query: ParsedQuery,
    listing_filter: ListingFilter,
    bits_of,
    max_shards: int | None = None,
) -> tuple[SandboxListing, ...]:
    found: list[SandboxListing] = []
    shards = route(params, query)
    if max_shards is not None:
        shards = shards[:max_shards]
    for shard_key in shards:
        shard = build_shard(params, shard_key)
        bits = bits_of(shard)
        if bits:
            bits &= _passing(shard, listing_filter)
        if bits:
            items = shard.listings
            low, high = listing_filter.price_min_cents, listing_filter.price_max_cents
            if low is None and high is None:
                found += [items[p] for p in positions(bits)]
            else:
                floor: float = -math.inf if low is None else low
                ceiling: float = math.inf if high is None else high
                found += [
                    item
                    for item in map(items.__getitem__, positions(bits))
                    if floor <= item.price_cents <= ceiling
                ]
    if len(shards) > 1:
        found.sort(key=lambda listing: listing.rank)
    return tuple(found)


@lru_cache(maxsize=8192)
def search(
    params: CatalogueParams, q: str, listing_filter: ListingFilter
) -> tuple[SandboxListing, ...]:
    """The listings a search for ``q`` returns under ``listing_filter``, best match first."""
    query = parse_query(q)
    if query.empty:
        return ()
    return _collect(params, query, listing_filter, lambda shard: matching_bits(shard, query))


@lru_cache(maxsize=2048)
def fewer_words(
    params: CatalogueParams, q: str, listing_filter: ListingFilter, limit: int = 48
) -> tuple[SandboxListing, ...]:
    """Listings with all but one of the query's words (not results: the website's padding)."""
    query = parse_query(q)
    if len(query.required) < 2:
        return ()
    seen: set[str] = set()
    out: list[SandboxListing] = []
    for skip in range(len(query.required) - 1, -1, -1):
        rest = query.required[:skip] + query.required[skip + 1 :]
        if all(token in _global_vocabulary(params.hostile) for token in rest):
            continue  # "new" alone would pad from the whole site: nothing to learn from it
        looser = ParsedQuery(rest, query.groups, query.excluded)
        full = query

        def bits_of(shard, looser=looser, full=full):
            return matching_bits(shard, looser) & ~matching_bits(shard, full)

        for listing in _collect(params, looser, listing_filter, bits_of, max_shards=4):
            if listing.item_id not in seen:
                seen.add(listing.item_id)
                out.append(listing)
        if len(out) >= limit:
            break
    return tuple(out[:limit])
