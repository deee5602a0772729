"""Does an eBay listing copy this Amazon best seller's title? A 0–100 score.

A dropshipper's copy is the Amazon title edited to fit 80 characters: cut at a word
boundary, brand (and sometimes the model code) stripped, filler dropped, features
reordered or dropped, decoration added. So a copy is made almost only of Amazon words
(*precision*), holds most of the words an 80-character title can hold (*coverage*), and
mostly in the Amazon order. Look-alikes of other brands share the generic words but bring
their own brand, model code and figures; ordinary sellers write short titles of their own.

    precision = Amazon-word weight / (Amazon-word weight + 2 · weight of other words)
    coverage  = weight of Amazon words held (brand and code aside) / weight of the first
                55 characters of the debranded, filler-free Amazon title (capped at 1)
    order     = rapidfuzz LCSseq of the shared words against the Amazon word order
    weights: distinctive word 1, generic word 0.6, number/colour/figure 0.3, code 1.5

    score = 100 · coverage · precision · (0.8 + 0.2 · order)
            + 15 if the model code is there (and coverage ≥ 0.5), at most 100
            − 30 if another model code is there
            − 15 if the listing leads with a brand-like word the Amazon title doesn't have
            − 50 if it names another variant (pack, size, capacity, colour)
            − 30 per jump back in the Amazon word order beyond the first (a copy keeps
              the order; moving one phrase is one jump)
            × fill / 0.6 when its words fill under 60 % of a copy's room (own short titles)
    Coverage weighs a word by its *reach*: 1 within the room, fading over the next 30
    characters to 0.15 — a copy cut at 80 holds the head of the title, a sibling of the
    kind shares phrases from anywhere in it.

With the search page's context (page_context, once per page): the listings on the page
that bring another product's words are a sample of the product's kind; a word of this
title that many of them hold ("bedroom living room", and the query words, which every
result holds) is no evidence of *this* product. A listing holding no word rare among
them (1 − share ≥ 0.9) and not the model code loses 15 (30 when its best word is held by
half of them or more). Without a context (tests, other callers) that step is skipped.

Variants: a listing that says "4 Pack" where the Amazon title says "2 Pack" (or another
colour, size or capacity) is *not* a copy of this ASIN: a dropshipper copies one ASIN's
title, and the "4 Pack" title is the copy of the sibling ASIN, which is searched and
counted on its own. It scores below the threshold and is kept as a look-alike.
A missing figure (cut off at 80 characters) is no evidence either way.

Cost (bench/judging.py: 84,842 listings of 1,160 search pages, seed 1, 10 categories,
in a run's order; shared 2-core machine, medians of 5 repetitions): ~22 µs of CPU per
listing for the three calls, ~1.16× less than at 18f383c in the same repetitions (--before):
product_terms ~3.8 µs a listing (~0.25 ms a product), page_context ~11.7 (it reads the
titles), listing_match ~5.9 (7.9 before). Where that comes from: a listing title is read
once whatever the product (_reading: clean, split, its compounds and codes; an LRU of
LISTING_CACHE titles keeps them for the sibling products' searches, ~24 % of the listings
judged), the product's side is prepared once (ProductTerms' derived fields), and a listing
whose penalties outweigh all it could score is 0 without computing its word order — checked
as the penalties come, so ~47 % of the listings stop before the brand, code and figure
checks. Every shortcut gives the score the full path gives, bit for bit (the bench's
digest). On this interpreter a call into C per word (map, filter, reduce) costs about what
a loop's step does: what pays is fewer steps, not moving the same steps into C.

Past 400 lines: one score and the evidence it weighs (brand, codes, variants, order, page
context); every rule changes the same number, so they stay side by side.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, filterfalse

from rapidfuzz.distance import LCSseq

from ._reading import (
    _COLOUR_STEMS,
    _COMPAT_STEMS,
    _DECORATION_STEMS,
    _FILLER_STEMS,
    _GENERIC_STEMS,
    _LISTING_KEY,
    _WORDS_CACHE,
    _chunk_compounds_memo,
    _chunk_words_memo,
    _compounds_words,
    _is_code,
    _Listing,
    _listing,
    _Memo,
    _read,
    _read_cached,
    _squashed,
    _stems,
)
from ._text import (
    _PART,
    Token,
    clean,
    specs,
    stem,
    tokenize,
)
from ._words import (
    SIZE_WORDS,
    VARIANT_UNITS,
)

MATCH_THRESHOLD: float = 60.0

# How much of the (debranded, filler-free) Amazon title a copy can hold: 80 characters
# minus room for decoration the seller adds.
_COPY_ROOM = 55

W_DISTINCT = 1.0
W_GENERIC = 0.6
W_WEAK = 0.3  # numbers, colours, units
W_CODE = 1.5  # a model code, spread over its pieces (XR-200 = xr + 200)
FOREIGN = 2.0  # a word the Amazon title lacks counts double: copies add only decoration

CODE_BONUS = 15.0
OTHER_CODE_PENALTY = 30.0
OTHER_BRAND_PENALTY = 15.0
VARIANT_PENALTY = 50.0

JUMP_PENALTY = 30.0  # per jump back in the Amazon order beyond the first (one moved phrase)
SHORT_FILL = 0.6  # a listing filling less of a copy's room than this is scaled down
REACH_DECAY = 30.0  # characters past the room over which a word's coverage weight fades
REACH_FLOOR = 0.15  # ... down to this share

# Page context: evidence must come from a word rare among the kind's other listings.
RARE = 0.9  # 1 - share at or above this: a product-specific word
RARE_PENALTY = 15.0  # when the listing holds no product-specific word (nor the code)
COMMON = 0.5  # 1 - share below this: a word most of the kind's listings hold (×2)
OTHER_PRODUCT = 1.0
SMOOTHING = 2  # pseudo-listings: a word held by 1 of 2 others is not yet generic


_UPGRADE_WORDS = frozenset({"upgraded", "upgrade", "improved", "newest"})


@dataclass(frozen=True, eq=False)
class ProductTerms:
    """One Amazon title, prepared once for matching many listings against it."""

    title: str  # cleaned (lower case) title
    tokens: tuple[Token, ...]  # every word, with segment and position
    brand: tuple[str, ...]  # brand words (guessed or given), stemmed
    codes: frozenset[str]  # the product's own model codes, squashed
    compat_codes: frozenset[str]  # codes of what it is *for* ("for Dyson V8")
    words: frozenset[str]  # every word and squashed compound
    weights: dict[str, float] = field(repr=False)  # content word → weight
    sequence: tuple[str, ...] = field(repr=False)  # content words in title order
    room_weight: float = 0.0  # weight a copy of ≤ 80 characters can hold
    specs: frozenset[tuple[str, str]] = frozenset()  # ("pack", "2"), ("oz", "16")
    colours: frozenset[str] = frozenset()
    sizes: frozenset[str] = frozenset()
    product_segment: int = 0  # the segment that names the product
    code_words: frozenset[str] = frozenset()  # the pieces of the model codes ("xr", "200")
    sure_brand: frozenset[str] = frozenset()  # brand words left out of coverage
    room_words: tuple[str, ...] = ()  # the words room_weight sums
    positions: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    room_chars: int = 0  # characters a copy's words fill (brand aside)
    reach: dict[str, float] = field(default_factory=dict, repr=False)  # word → how likely
    # a copy cut at 80 still holds it (1 within the room, less the further it stands)

    # Derived once here for listing_match (so each listing costs dictionary look-ups):
    # word → the weight it adds to coverage (weight × reach; brand and code words aside),
    # word → one character (the word order as a str for rapidfuzz), the words a listing's
    # fill leaves out, and the decoration words the title itself has (kept in listings).
    cover: dict[str, float] = field(init=False, repr=False)
    letters: dict[str, str] = field(init=False, repr=False)
    sequence_letters: str = field(init=False, repr=False)
    unfilled: frozenset[str] = field(init=False, repr=False)
    decoration: frozenset[str] = field(init=False, repr=False)
    variants: bool = field(init=False, repr=False)  # it names a pack, size or colour
    spec_units: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        aside = self.code_words | self.sure_brand
        reach = self.reach
        cover = {w: wt * reach.get(w, 1.0) for w, wt in self.weights.items() if w not in aside}
        letters = {w: chr(0x4E00 + i) for i, w in enumerate(dict.fromkeys(self.sequence))}
        setattr_ = object.__setattr__
        setattr_(self, "cover", cover)
        setattr_(self, "letters", letters)
        setattr_(self, "sequence_letters", "".join(letters[w] for w in self.sequence))
        setattr_(self, "unfilled", aside)
        setattr_(self, "decoration", self.words & _DECORATION_STEMS)
        setattr_(self, "variants", bool(self.specs or self.colours or self.sizes))
        setattr_(self, "spec_units", frozenset(unit for unit, _ in self.specs))

    @property
    def usable(self) -> bool:
        return bool(self.sequence)


def _has_digit(word: str) -> bool:
    # No character is both alphabetic and a digit (checked over all of Unicode).
    return not word.isalpha() and any(ch.isdigit() for ch in word)


def _weight(tok: Token, brand: frozenset[str], code_pieces: dict[str, int]) -> float:
    w = tok.word
    if tok.compound in code_pieces:
        return W_CODE / code_pieces[tok.compound]
    if w.isdigit() or w in _COLOUR_STEMS or _has_digit(w):
        return W_WEAK
    if w in brand:
        return W_DISTINCT
    if w in _GENERIC_STEMS or len(w) <= 2:
        return W_GENERIC
    return W_DISTINCT


def _product_segment(tokens: list[Token]) -> int:
    """Skip leading segments that are only decoration ("[2024 Upgraded]", "NEW")."""
    segments: dict[int, list[Token]] = {}
    for tok in tokens:
        segments.setdefault(tok.segment, []).append(tok)
    for seg in sorted(segments):
        if any(
            not (t.word in _DECORATION_STEMS or t.word in _UPGRADE_WORDS or t.word.isdigit())
            for t in segments[seg]
        ):
            return seg
    return 0


def _guess_brand(tokens: list[Token], seg: int, codes: frozenset[str]) -> tuple[str, ...]:
    """Leading words of the product phrase before its model code or generic words."""
    phrase = [t for t in tokens if t.segment == seg]
    brand: list[str] = []
    for tok in phrase[:3]:
        w = tok.word
        if (
            len(brand) == 2
            or tok.compound in codes
            or w in _FILLER_STEMS
            or w in _GENERIC_STEMS
            or w in _COLOUR_STEMS
            or _has_digit(w)
        ):
            break
        brand.append(w)  # decoration words too: "Hot Wheels", "New Balance"
        if len(tok.raw) >= 2 and tok.raw.isupper():  # "SONVIK", "LEGO": one word
            break
    content = [t for t in phrase if t.word not in _FILLER_STEMS]
    if len(brand) >= len(content):  # the whole phrase is not a brand
        brand = brand[: max(0, len(content) - 1)]
    return tuple(brand)


# A search page's product is prepared for its judging and, when the page found too
# little, again at once for its fallback query (search_queries): a short memory is
# enough for that (planning and a follow-up page come too late for any small one).
PRODUCT_CACHE = 64  # ProductTerms of ~11 KB each: ~0.7 MB


@functools.lru_cache(maxsize=PRODUCT_CACHE)
def product_terms(title: str, *, brand: str | None = None) -> ProductTerms:
    """Prepare an Amazon title (once per product) for search_queries and listing_match.

    Memoised (the result is shared: read it, never change it)."""
    text, tokens = tokenize(title)
    seg = _product_segment(tokens)

    compat_segments_from: dict[int, int] = {}  # segment → offset where "for …" starts
    for tok in tokens:
        if tok.word in _COMPAT_STEMS and tok.segment not in compat_segments_from:
            compat_segments_from[tok.segment] = tok.offset

    def is_compat(tok: Token) -> bool:
        start = compat_segments_from.get(tok.segment)
        return start is not None and tok.offset > start

    codes: set[str] = set()
    compat_codes: set[str] = set()
    code_pieces: dict[str, int] = {}
    for tok in tokens:
        if tok.compound in code_pieces or not _is_code[tok.compound]:
            continue
        (compat_codes if is_compat(tok) else codes).add(tok.compound)
        code_pieces[tok.compound] = len({t.word for t in tokens if t.compound == tok.compound})
    frozen_codes = frozenset(codes)

    if brand is not None:
        brand_words = tuple(stem(w) for w in _PART.findall(clean(brand)))
    else:
        brand_words = _guess_brand(tokens, seg, frozen_codes)
    brand_set = frozenset(brand_words)
    # A guessed brand's second word may be the product's ("Homelux Ice Maker"): it counts
    # towards coverage like any word; only a given brand is sure in full.
    sure_brand = brand_set if brand is not None else frozenset(brand_words[:1])

    weights: dict[str, float] = {}
    sequence: list[str] = []
    room_weight = 0.0
    room_words: list[str] = []
    reach: dict[str, float] = {}
    used = 0
    for tok in tokens:
        w = tok.word
        if w in _FILLER_STEMS or tok.segment < seg and w in _DECORATION_STEMS:
            continue
        weight = _weight(tok, brand_set, code_pieces)
        if is_compat(tok) and weight > W_GENERIC:
            weight = W_GENERIC
        sequence.append(w)
        if w not in weights:
            weights[w] = weight
            if w not in sure_brand and tok.compound not in code_pieces:
                used += len(tok.text) + 1
                reach[w] = max(REACH_FLOOR, 1.0 - max(0, used - _COPY_ROOM) / REACH_DECAY)
                if used <= _COPY_ROOM:
                    room_weight += weight
                    room_words.append(w)
    words = set(t.word for t in tokens) | {t.compound for t in tokens}
    return ProductTerms(
        title=text,
        tokens=tuple(tokens),
        brand=brand_words,
        codes=frozen_codes,
        compat_codes=frozenset(compat_codes),
        words=frozenset(words),
        weights=weights,
        sequence=tuple(sequence),
        room_weight=room_weight,
        specs=frozenset(s for s in specs(text) if s[0] in VARIANT_UNITS),
        colours=frozenset(t.word for t in tokens if t.word in _COLOUR_STEMS),
        sizes=frozenset(t.word for t in tokens if t.word in SIZE_WORDS),
        product_segment=seg,
        code_words=frozenset(t.word for t in tokens if t.compound in code_pieces),
        sure_brand=sure_brand,
        room_words=tuple(room_words),
        positions=_positions(sequence),
        reach=reach,
        room_chars=min(used, _COPY_ROOM),
    )


def _positions(sequence: list[str]) -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for i, w in enumerate(sequence):
        found.setdefault(w, []).append(i)
    return {w: tuple(p) for w, p in found.items()}


def _breaks(terms: ProductTerms, shared: list[str]) -> int:
    """How often the listing's Amazon words jump back in the Amazon title's order.

    A copy keeps the title's order; moving one phrase (to the front or the end) is one
    jump. A title assembled from the same kind's phrases in another order jumps often.
    """
    positions = terms.positions
    jumps = 0
    at = -1
    for w in shared:
        ps = positions[w]  # ascending
        if ps[-1] <= at:  # none after: a jump back to its first place
            jumps += 1
            at = ps[0]
        elif ps[0] > at:
            at = ps[0]
        else:
            at = next(p for p in ps if p > at)
    return jumps


def _listing_weight(word: str) -> float:
    if word.isdigit() or word in _COLOUR_STEMS:
        return W_WEAK
    if word in _GENERIC_STEMS or len(word) <= 2:
        return W_GENERIC
    return W_DISTINCT


def _foreign_weight(word: str) -> float:
    # Decoration weighs 0 (dropped, unless the Amazon title has it: then it is known).
    return 0.0 if word in _DECORATION_STEMS else _listing_weight(word)


_foreign_weights: dict[str, float] = _Memo(_foreign_weight, _WORDS_CACHE)


def _variant_conflict(terms: ProductTerms, listing: _Listing) -> bool:
    if terms.specs:
        mine_units = terms.spec_units
        for unit, value in listing.specs():
            if unit in mine_units and (unit, value) not in terms.specs:
                return True
    if terms.colours:
        their_colours = _COLOUR_STEMS.intersection(listing.unique)
        if their_colours and their_colours.isdisjoint(terms.colours):
            return True
    if terms.sizes:
        their_sizes = SIZE_WORDS.intersection(listing.unique)
        if their_sizes and their_sizes.isdisjoint(terms.sizes):
            return True
    return False


@dataclass(frozen=True, eq=False)
class PageContext:
    """One search page seen from one product: how generic each of its words is on the page.

    The listings that bring words of another product (look-alikes, sibling best sellers'
    copies, other products) are a sample of the product's kind: a word of this product
    that many of them hold ("bedroom living room", and the query words, which every
    result holds) tells nothing about which product a listing is.
    """

    listings: int
    others: int  # listings holding another product's words
    share: dict[str, float] = field(repr=False)  # product word → its share among others
    parsed: dict[str, _Listing] = field(repr=False)  # title → the listing, read
    # The coverage words (brand and code aside) rare among the others (1 − share ≥ RARE),
    # and those not common (1 − share ≥ COMMON): a listing holding none of the first
    # loses RARE_PENALTY, twice that when it holds none of the second either.
    rare: frozenset[str] = field(default=frozenset(), repr=False)
    uncommon: frozenset[str] = field(default=frozenset(), repr=False)


def page_context(terms: ProductTerms, listing_titles: Iterable[object]) -> PageContext:
    """Computed once per search page (the titles it returned), for listing_match."""
    parsed: dict[str, _Listing] = {}
    theirs: list[tuple[str, ...]] = []  # the words of the listings holding another's
    others = 0
    in_title = terms.weights.__contains__
    known = terms.words.__contains__
    weight_of = _foreign_weights.__getitem__
    read = _read_cached
    listings = 0
    for title in listing_titles:
        if not isinstance(title, str):
            title = ""
        listings += 1
        listing = parsed.get(title)
        if listing is None:
            listing = parsed[title] = read(title) if len(title) <= _LISTING_KEY else _read(title)
        unique = listing.unique
        # Another product's words: weight ≥ OTHER_PRODUCT. The weights are 1, 0.6, 0.3
        # (decoration 0), so the sum reaches 1 exactly when one word weighs 1 or the
        # others make 1.2 or more: no rounding decides it, whatever the summation.
        if OTHER_PRODUCT and sum(map(weight_of, filterfalse(known, unique))) < OTHER_PRODUCT:
            continue
        others += 1
        theirs.append(unique)
    # Counted in C, in the order first held (as a dict the loop filled).
    counts = Counter(filter(in_title, chain.from_iterable(theirs)))
    share = {w: n / (others + SMOOTHING) for w, n in counts.items()}
    rare = []
    uncommon = []
    for w in terms.cover:
        held = 1.0 - share.get(w, 0.0)
        if held >= RARE:
            rare.append(w)
        if held >= COMMON:
            uncommon.append(w)
    return PageContext(
        listings=listings,
        others=others,
        share=share,
        parsed=parsed,
        rare=frozenset(rare),
        uncommon=frozenset(uncommon),
    )


_BOUND_MARGIN = 1e-6  # far above the rounding of a handful of additions below 200


def listing_match(
    terms: ProductTerms, listing_title: str, *, context: PageContext | None = None
) -> float:
    """0–100: how surely this eBay listing title is a copy of the Amazon title."""
    if not terms.sequence:
        return 0.0
    if not isinstance(listing_title, str):
        listing_title = ""
    listing = context.parsed.get(listing_title) if context is not None else None
    if listing is None:
        listing = _listing(listing_title)
    content = listing.words
    if not content:
        return 0.0
    known = terms.words
    weights = terms.weights
    cover = terms.cover
    unique = listing.unique
    foreign_weights = _foreign_weights

    mine = theirs = covered = 0.0
    for w in unique:
        weight = weights.get(w)
        if weight is not None:
            mine += weight
            part = cover.get(w)
            if part is not None:
                covered += part
        elif w not in known:  # (an Amazon word with no weight is filler kept by the seller)
            theirs += foreign_weights[w]  # 0 for decoration: dropped
    if mine <= 0:
        return 0.0
    precision = mine / (mine + FOREIGN * theirs)
    room = terms.room_weight
    coverage = min(1.0, covered / room) if room else 1.0

    # The penalties that need no word order, first: when they take away more than the
    # score can hold (100 · coverage · precision, plus the code bonus), the score is 0
    # whatever the order, and the order is not computed.
    codes = terms.codes
    has_code = bool(codes) and not codes.isdisjoint(listing.compounds)
    rare = 0.0
    if context is not None and not has_code and context.rare.isdisjoint(unique):
        # Nothing but the kind's common words: the more common, the surer not a copy.
        rare = RARE_PENALTY * (2.0 if context.uncommon.isdisjoint(unique) else 1.0)
    bound = 100.0 * coverage * precision
    if has_code and coverage >= 0.5:
        bound += CODE_BONUS
    # Checked as the penalties come, the cheap ones first: each only takes away (whole
    # multiples of 15, summed exactly), so a bound below 0 stays below with the rest.
    if bound - rare < -_BOUND_MARGIN:
        return 0.0
    other_code = bool(listing.codes) and _other_code(terms, listing)
    lead = content[0] if listing.decoration is None else listing.lead(terms.decoration)
    other_brand = (
        lead not in known
        and lead not in _GENERIC_STEMS
        and lead not in _COLOUR_STEMS
        and len(lead) >= 3
        and lead.isalpha()
    )
    penalty = (
        rare
        + (OTHER_CODE_PENALTY if other_code else 0.0)
        + (OTHER_BRAND_PENALTY if other_brand else 0.0)
    )
    if bound - penalty < -_BOUND_MARGIN:
        return 0.0
    variant = terms.variants and _variant_conflict(terms, listing)
    if variant and bound - (penalty + VARIANT_PENALTY) < -_BOUND_MARGIN:
        return 0.0

    letters = terms.letters
    shared = "".join(map(letters.__getitem__, filter(letters.__contains__, content)))
    if shared in terms.sequence_letters:  # a run of the title: all of it in order
        order = 1.0
    else:
        order = LCSseq.similarity(shared, terms.sequence_letters) / len(shared)
    score = 100.0 * coverage * precision * (0.8 + 0.2 * order)
    if terms.room_chars:
        body = listing.body
        unfilled = terms.unfilled
        if not unfilled.isdisjoint(unique):
            body -= sum(len(w) + 1 for w in unique if w in unfilled and w not in _DECORATION_STEMS)
        if listing.decoration is not None and not terms.decoration.isdisjoint(listing.decoration):
            kept = terms.decoration.intersection(listing.decoration)
            body += sum(len(w) + 1 for w in kept if w not in unfilled)
        fill = body / terms.room_chars
        if fill < SHORT_FILL:
            score *= fill / SHORT_FILL
    if rare:
        score -= rare
    if len(shared) > 2:  # two words jump once at most
        jumps = _breaks(terms, list(filter(weights.__contains__, unique)))
        if jumps > 1:
            score -= JUMP_PENALTY * (jumps - 1)

    if has_code and coverage >= 0.5:
        score = min(100.0, score + CODE_BONUS)  # a short own title with the code is not a copy
    if other_code:
        score -= OTHER_CODE_PENALTY
    if other_brand:
        score -= OTHER_BRAND_PENALTY
    if variant:
        score -= VARIANT_PENALTY
    return round(max(0.0, min(100.0, score)), 2)


def _other_code(terms: ProductTerms, listing: _Listing) -> bool:
    """A model code in the listing that the Amazon title doesn't have (ignoring "for …")."""
    known = terms.words
    compat = terms.compat_codes
    return any(code not in known and code not in compat for code in listing.codes)


def caches_clear() -> None:
    """Forget the listings read and the products prepared (tests, benchmarks)."""
    _read_cached.cache_clear()
    product_terms.cache_clear()
    for memo in (
        _stems,
        _foreign_weights,
        _squashed,
        _is_code,
        _compounds_words,
        _chunk_words_memo,
        _chunk_compounds_memo,
    ):
        memo.clear()


def cache_stats() -> dict[str, dict[str, int]]:
    """Hits, misses and size of each bounded cache of the match check."""
    out = {}
    for name, cached in (("listings", _read_cached), ("product_terms", product_terms)):
        info = cached.cache_info()
        out[name] = {
            "hits": info.hits,
            "misses": info.misses,
            "size": info.currsize,
            "maxsize": info.maxsize or 0,
        }
    for name, memo in (
        ("stems", _stems),
        ("word_weights", _foreign_weights),
        ("compounds", _squashed),
        ("codes", _is_code),
        ("compound_words", _compounds_words),
        ("chunk_words", _chunk_words_memo),
        ("chunk_compounds", _chunk_compounds_memo),
    ):
        out[name] = {"size": len(memo), "maxsize": _WORDS_CACHE}
    return out


__all__ = [
    "MATCH_THRESHOLD",
    "PageContext",
    "ProductTerms",
    "cache_stats",
    "caches_clear",
    "listing_match",
    "page_context",
    "product_terms",
]
