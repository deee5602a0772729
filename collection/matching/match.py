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

Cost: about 23 µs per listing_match without context, 27 µs per listing with
page_context included (22,449 listings of 282 seed-3 search pages, best of 3, quiet
core); product_terms ~0.1 ms once per product.

Past 400 lines: one score and the evidence it weighs (brand, codes, variants, order, page
context); every rule changes the same number, so they stay side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz.distance import LCSseq

from ._text import (
    _COMPOUND,
    _PART,
    Token,
    clean,
    is_code,
    specs,
    squash,
    stem,
    tokenize,
)
from ._words import (
    COLOURS,
    COMPAT_MARKERS,
    DECORATION,
    FILLER,
    GENERIC,
    SIZE_WORDS,
    VARIANT_UNITS,
)

MATCH_THRESHOLD: float = 60.0

# How much of the (debranded, filler-free) Amazon title a copy can hold: 80 characters
# minus room for decoration the seller adds.
_COPY_ROOM = 55
_LISTING_CHARS = 200  # eBay titles stop at 80; the rest of a longer text is noise

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

_stem_cache: dict[str, str] = {}


def _stem(word: str) -> str:
    got = _stem_cache.get(word)
    if got is None:
        got = stem(word)
        if len(_stem_cache) < 50_000:
            _stem_cache[word] = got
    return got


_UPGRADE_WORDS = frozenset({"upgraded", "upgrade", "improved", "newest"})
_FILLER_STEMS = frozenset(stem(w) for w in FILLER)
_DECORATION_STEMS = frozenset(stem(w) for w in DECORATION)
_COLOUR_STEMS = frozenset(stem(w) for w in COLOURS)
_GENERIC_STEMS = frozenset(stem(w) for w in GENERIC)
_COMPAT_STEMS = frozenset(stem(w) for w in COMPAT_MARKERS)


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

    @property
    def usable(self) -> bool:
        return bool(self.sequence)


def _weight(tok: Token, brand: frozenset[str], code_pieces: dict[str, int]) -> float:
    w = tok.word
    if tok.compound in code_pieces:
        return W_CODE / code_pieces[tok.compound]
    if w.isdigit() or w in _COLOUR_STEMS or any(ch.isdigit() for ch in w):
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
            or any(ch.isdigit() for ch in w)
        ):
            break
        brand.append(w)  # decoration words too: "Hot Wheels", "New Balance"
        if len(tok.raw) >= 2 and tok.raw.isupper():  # "SONVIK", "LEGO": one word
            break
    content = [t for t in phrase if t.word not in _FILLER_STEMS]
    if len(brand) >= len(content):  # the whole phrase is not a brand
        brand = brand[: max(0, len(content) - 1)]
    return tuple(brand)


def product_terms(title: str, *, brand: str | None = None) -> ProductTerms:
    """Prepare an Amazon title (once per product) for search_queries and listing_match."""
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
        if tok.compound in code_pieces or not is_code(tok.compound):
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
        ps = positions[w]
        nxt = next((p for p in ps if p > at), None)
        if nxt is None:
            jumps += 1
            at = ps[0]
        else:
            at = nxt
    return jumps


def _listing_weight(word: str) -> float:
    if word.isdigit() or word in _COLOUR_STEMS:
        return W_WEAK
    if word in _GENERIC_STEMS or len(word) <= 2:
        return W_GENERIC
    return W_DISTINCT


def _variant_conflict(terms: ProductTerms, text: str, words: set[str]) -> bool:
    if terms.specs:
        theirs = specs(text)
        mine_units = {unit for unit, _ in terms.specs}
        for unit, value in theirs:
            if unit in mine_units and (unit, value) not in terms.specs:
                return True
    if terms.colours:
        their_colours = words & _COLOUR_STEMS
        if their_colours and not their_colours & terms.colours:
            return True
    if terms.sizes:
        their_sizes = words & SIZE_WORDS
        if their_sizes and not their_sizes & terms.sizes:
            return True
    return False


def _content(terms: ProductTerms, listing_title: str) -> tuple[str, list[str]]:
    """A listing's cleaned text and its content words (stemmed; filler and decoration gone)."""
    text = clean(listing_title)[:_LISTING_CHARS]
    known = terms.words
    content = [
        w
        for w in map(_stem, _PART.findall(text))
        if w not in _FILLER_STEMS and (w in known or w not in _DECORATION_STEMS)
    ]
    return text, content


def _foreign_weight(terms: ProductTerms, content: list[str]) -> float:
    known = terms.words
    return sum(_listing_weight(w) for w in set(content) if w not in known)


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
    parsed: dict[str, tuple[str, list[str]]] = field(repr=False)  # title → _content


def page_context(terms: ProductTerms, listing_titles: Iterable[object]) -> PageContext:
    """Computed once per search page (the titles it returned), for listing_match."""
    parsed: dict[str, tuple[str, list[str]]] = {}
    counts: dict[str, int] = {}
    others = 0
    weights = terms.weights
    listings = 0
    for title in listing_titles:
        if not isinstance(title, str):
            title = ""
        listings += 1
        got = parsed.get(title)
        if got is None:
            got = parsed[title] = _content(terms, title)
        content = got[1]
        if OTHER_PRODUCT and _foreign_weight(terms, content) < OTHER_PRODUCT:
            continue
        others += 1
        for w in set(content):
            if w in weights:
                counts[w] = counts.get(w, 0) + 1
    share = {w: n / (others + SMOOTHING) for w, n in counts.items()}
    return PageContext(listings=listings, others=others, share=share, parsed=parsed)


def listing_match(
    terms: ProductTerms, listing_title: str, *, context: PageContext | None = None
) -> float:
    """0–100: how surely this eBay listing title is a copy of the Amazon title."""
    if not terms.sequence:
        return 0.0
    got = context.parsed.get(listing_title) if context is not None else None
    text, content = got if got is not None else _content(terms, listing_title)
    known = terms.words
    if not content:
        return 0.0
    weights = terms.weights
    code_words = terms.code_words
    sure_brand = terms.sure_brand
    reach = terms.reach
    share = context.share if context is not None else None

    seen: set[str] = set()
    mine = theirs = covered = 0.0
    for w in content:
        if w in seen:
            continue
        seen.add(w)
        if w in weights:
            weight = weights[w]
            mine += weight
            if w not in code_words and w not in sure_brand:
                covered += weight * reach.get(w, 1.0)
        elif w in known:  # an Amazon word with no weight (filler kept by the seller)
            continue
        else:
            theirs += _listing_weight(w)
    if mine <= 0:
        return 0.0
    precision = mine / (mine + FOREIGN * theirs)
    room = terms.room_weight
    coverage = min(1.0, covered / room) if room else 1.0
    shared = [w for w in content if w in weights]
    order = LCSseq.similarity(shared, terms.sequence) / len(shared)
    score = 100.0 * coverage * precision * (0.8 + 0.2 * order)
    if terms.room_chars:
        body = sum(len(w) + 1 for w in seen if w not in sure_brand and w not in code_words)
        fill = body / terms.room_chars
        if fill < SHORT_FILL:
            score *= fill / SHORT_FILL
    compounds = [c if c.isalnum() else squash(c) for c in _COMPOUND.findall(text)]
    has_code = bool(terms.codes) and not terms.codes.isdisjoint(compounds)
    if share is not None and not has_code:
        best = max(
            (
                1.0 - share.get(w, 0.0)
                for w in seen
                if w in weights and w not in sure_brand and w not in code_words
            ),
            default=0.0,
        )
        if best < RARE:
            # Nothing but the kind's common words: the more common, the surer not a copy.
            score -= RARE_PENALTY * (2.0 if best < COMMON else 1.0)
    unique = list(dict.fromkeys(shared))
    jumps = _breaks(terms, unique)
    if jumps > 1:
        score -= JUMP_PENALTY * (jumps - 1)

    if has_code and coverage >= 0.5:
        score = min(100.0, score + CODE_BONUS)  # a short own title with the code is not a copy
    if _other_code(terms, compounds):
        score -= OTHER_CODE_PENALTY
    lead = content[0]
    if (
        lead not in known
        and lead not in _GENERIC_STEMS
        and lead not in _COLOUR_STEMS
        and len(lead) >= 3
        and lead.isalpha()
    ):
        score -= OTHER_BRAND_PENALTY
    if _variant_conflict(terms, text, seen):
        score -= VARIANT_PENALTY
    return round(max(0.0, min(100.0, score)), 2)


def _other_code(terms: ProductTerms, compounds: list[str]) -> bool:
    """A model code in the listing that the Amazon title doesn't have (ignoring "for …")."""
    known = terms.words
    for code in compounds:
        if code in COMPAT_MARKERS:
            return False  # what follows is what it fits
        if code not in known and code not in terms.compat_codes and is_code(code):
            return True
    return False


__all__ = [
    "MATCH_THRESHOLD",
    "PageContext",
    "ProductTerms",
    "listing_match",
    "page_context",
    "product_terms",
]
