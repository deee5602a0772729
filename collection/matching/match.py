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

Variants: a listing that says "4 Pack" where the Amazon title says "2 Pack" (or another
colour, size or capacity) is *not* a copy of this ASIN: a dropshipper copies one ASIN's
title, and the "4 Pack" title is the copy of the sibling ASIN, which is searched and
counted on its own. It scores below the threshold and is kept as a look-alike.
A missing figure (cut off at 80 characters) is no evidence either way.

Cost: about 20 µs per listing_match on a quiet core (193 corpus pairs, timeit), up to
~70 µs with the machine fully loaded; product_terms ~0.1 ms once per product.
"""

from __future__ import annotations

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
W_WEAK = 0.3     # numbers, colours, units
W_CODE = 1.5     # a model code, spread over its pieces (XR-200 = xr + 200)
FOREIGN = 2.0    # a word the Amazon title lacks counts double: copies add only decoration

CODE_BONUS = 15.0
OTHER_CODE_PENALTY = 30.0
OTHER_BRAND_PENALTY = 15.0
VARIANT_PENALTY = 50.0

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

    title: str                                 # cleaned (lower case) title
    tokens: tuple[Token, ...]                  # every word, with segment and position
    brand: tuple[str, ...]                     # brand words (guessed or given), stemmed
    codes: frozenset[str]                      # the product's own model codes, squashed
    compat_codes: frozenset[str]               # codes of what it is *for* ("for Dyson V8")
    words: frozenset[str]                      # every word and squashed compound
    weights: dict[str, float] = field(repr=False)  # content word → weight
    sequence: tuple[str, ...] = field(repr=False)  # content words in title order
    room_weight: float = 0.0                   # weight a copy of ≤ 80 characters can hold
    specs: frozenset[tuple[str, str]] = frozenset()  # ("pack", "2"), ("oz", "16")
    colours: frozenset[str] = frozenset()
    sizes: frozenset[str] = frozenset()
    product_segment: int = 0                   # the segment that names the product
    code_words: frozenset[str] = frozenset()   # the pieces of the model codes ("xr", "200")
    sure_brand: frozenset[str] = frozenset()   # brand words left out of coverage

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
                if used <= _COPY_ROOM:
                    room_weight += weight
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
    )


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
        theirs = words & _COLOUR_STEMS
        if theirs and not theirs & terms.colours:
            return True
    if terms.sizes:
        theirs = words & SIZE_WORDS
        if theirs and not theirs & terms.sizes:
            return True
    return False


def listing_match(terms: ProductTerms, listing_title: str) -> float:
    """0–100: how surely this eBay listing title is a copy of the Amazon title."""
    if not terms.sequence:
        return 0.0
    text = clean(listing_title)[:_LISTING_CHARS]
    raw = [_stem(w) for w in _PART.findall(text)]
    known = terms.words
    content = [
        w for w in raw
        if w not in _FILLER_STEMS and (w in known or w not in _DECORATION_STEMS)
    ]
    if not content:
        return 0.0
    weights = terms.weights
    code_words = terms.code_words
    sure_brand = terms.sure_brand

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
                covered += weight
        elif w in known:  # an Amazon word with no weight (filler kept by the seller)
            continue
        else:
            theirs += _listing_weight(w)
    if mine <= 0:
        return 0.0
    precision = mine / (mine + FOREIGN * theirs)
    coverage = min(1.0, covered / terms.room_weight) if terms.room_weight else 1.0
    shared = [w for w in content if w in weights]
    order = LCSseq.similarity(shared, terms.sequence) / len(shared)
    score = 100.0 * coverage * precision * (0.8 + 0.2 * order)

    compounds = [c if c.isalnum() else squash(c) for c in _COMPOUND.findall(text)]
    if terms.codes and coverage >= 0.5 and not terms.codes.isdisjoint(compounds):
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


__all__ = ["MATCH_THRESHOLD", "ProductTerms", "listing_match", "product_terms"]
