"""eBay search queries that an edited copy of an Amazon title would still match.

Browse's `q` is an AND of its words, so every query word must survive the dropshipper's
edits. Rules, in order of how reliably a word survives:

1. Words of the product phrase (the first segment, before "with"/"for"), then its "with …"
   part, then the next feature phrase, then later ones — and only words that start
   within the first ~60 characters once brand and filler are gone, since the copy is cut
   at 80 with room for "NEW … Fast Free Shipping".
2. Never: the brand (stripped against VeRO takedowns), filler ("with", "for", "and"),
   decoration ("new", "2024"), colours, numbers and figures ("40H", "16 oz"), pieces of
   hyphenated words (eBay's tokenizing of "USB-C" or "2-Slice" is not something to bet
   on), or marketing adjectives ("premium", "upgraded") unless nothing else is left.
   Words after "for" (what the product fits) come last.
3. Query 1: the words of the product phrase (at most 4), in title order.
   When the product phrase is short (< 3 words) or all generic ("wireless earbuds"), it
   is narrowed by an OR group of the next 3 candidates: "wireless earbuds (bluetooth,
   headphones, charging)" — any one of three survives the edits far more often than
   each alone.
4. Query 2 (sent only when query 1 matched fewer than TOO_LITTLE listings) has different
   trade-offs, first that applies: query 1 without its first word when that word is not
   generic (a product line stripped with the brand: "FlowState"); the model code with
   the product noun ("q47 earbuds": survives any feature edit, misses copies that
   stripped the code); the product phrase without its OR group; query 1's two safest
   words with the others as an OR group.
5. More (limit > 2): brand + model code, then brand + product noun.
"""

from __future__ import annotations

from ._reading import _GENERIC_STEMS
from ._text import Token
from ._words import COLOURS, DECORATION, FILLER, SIZE_WORDS, UNITS
from .match import ProductTerms, product_terms

# Measured on bench/matching.py (seed 3, 16 categories): of the fallback queries sent after
# a first query with 0 / 1 / 2 matches, 48 % / 32 % / 3 % found a copy the first had not
# (137 / 24 / 3 matched listings for 192 / 53 / 33 calls). Two matches are enough.
TOO_LITTLE: int = 2

MIN_WORDS = 3  # enough when one of them is not generic
MAX_WORDS = 4  # words of the product phrase at most
GROUP_WORDS = 3  # the OR group that narrows a short or generic product phrase
_HEAD_CHARS = 60  # a word starting after this (brand and filler gone) risks the 80 cut
_MAX_WORD_LEN = 24

_RISKY = frozenset(
    """premium upgraded upgrade improved professional ultra super extra high quality
    durable heavy duty perfect great cute funny ideal gift gifts women men womens mens
    kids boys girls adults adult unisex best latest original newest classic idea""".split()
)
_NEVER = FILLER | DECORATION | COLOURS | SIZE_WORDS | frozenset(UNITS) | {"x", "s"}


def _usable_word(tok: Token) -> bool:
    text = tok.text
    return (
        tok.clean
        and 2 <= len(text) <= _MAX_WORD_LEN
        and text.isalpha()
        and text not in _NEVER
        and tok.word not in _NEVER
    )


def _candidates(terms: ProductTerms) -> list[tuple[tuple[int, int], Token]]:
    """Usable words, best first: (tier, position) with tier 0 = the product noun phrase."""
    seg0 = terms.product_segment
    brand = set(terms.brand)
    ranked: list[tuple[tuple[int, int], Token]] = []
    seen: set[str] = set()
    marker: dict[int, str] = {}  # segment → "with" / "for" once seen
    position = 0  # characters of the title once brand and filler are gone
    for tok in terms.tokens:
        w = tok.text
        if w in ("with", "featuring", "plus", "including", "includes"):
            marker[tok.segment] = "with"
        elif w in ("for", "compatible", "fits", "fit"):
            marker[tok.segment] = "for"
        if tok.segment < seg0 or tok.word in brand or w in FILLER:
            continue
        start = position
        position += len(w) + 1
        if w in seen or tok.word in seen or not _usable_word(tok):
            continue
        seen.update((w, tok.word))
        after = marker.get(tok.segment)
        if after == "for":
            tier = 4
        elif tok.segment == seg0:
            tier = 2 if after == "with" else 0
        elif tok.segment == seg0 + 1:
            tier = 1
        else:
            tier = 3
        if w in _RISKY:
            tier = 5
        if start > _HEAD_CHARS:
            tier += 10
        ranked.append(((tier, start), tok))
    ranked.sort(key=lambda item: item[0])
    return ranked


def _tier(ranked: list[tuple[tuple[int, int], Token]], tok: Token) -> int:
    return next(tier for (tier, _), t in ranked if t is tok)


def _join(tokens: list[Token]) -> str:
    return " ".join(t.text for t in sorted(tokens, key=lambda t: t.offset))


def _product_noun(terms: ProductTerms, ranked: list[tuple[tuple[int, int], Token]]) -> str:
    """The last tier-0 word: "earbuds" in "Q47 Wireless Earbuds with Charging Case"."""
    tier0 = [tok for (tier, _), tok in ranked if tier == 0]
    if tier0:
        return max(tier0, key=lambda t: t.offset).text
    return ranked[0][1].text if ranked else ""


def search_queries(title: str, *, limit: int = 2, brand: str | None = None) -> tuple[str, ...]:
    """eBay `q` strings for this Amazon title, best first; () when the title is unusable."""
    if limit <= 0:
        return ()
    terms = product_terms(title, brand=brand)
    ranked = _candidates(terms)
    brand_words = [
        t.text for t in terms.tokens if t.word in set(terms.brand) and t.clean and t.text.isalnum()
    ][: len(terms.brand)]
    if not ranked:
        # Only a brand (or only figures): the brand words themselves, if any.
        return (" ".join(brand_words[:MAX_WORDS]),) if brand_words else ()

    phrase = [tok for (tier, _), tok in ranked if tier == 0][:MAX_WORDS]
    rest = [tok for (tier, _), tok in ranked if tier != 0]
    head = [tok for tok in rest if tok not in phrase]
    distinctive = any(t.word not in _GENERIC_STEMS for t in phrase)
    if len(phrase) >= MIN_WORDS and distinctive:
        first = _join(phrase)
    elif phrase:
        # A short or all-generic product phrase, narrowed by any one of the next words:
        # one of three is far likelier to survive the edits than each one alone.
        group = [t for t in head if _tier(ranked, t) < 10][:GROUP_WORDS] or head[:GROUP_WORDS]
        if len(group) >= 2:
            first = f"{_join(phrase)} ({', '.join(t.text for t in group)})"
        else:
            first = _join((phrase + group)[:MAX_WORDS])
    else:
        first = _join(head[:MIN_WORDS])
    queries: list[str] = [first]
    picked = phrase or head[:MIN_WORDS]

    noun = _product_noun(terms, ranked)
    plain_codes = sorted(
        (
            t
            for t in terms.tokens
            if t.clean
            and t.compound in terms.codes
            and t.text.isalnum()
            and len(t.text) <= _MAX_WORD_LEN
        ),
        key=lambda t: t.offset,
    )
    code = plain_codes[0].text if plain_codes else ""
    if "(" not in first and len(picked) >= 3 and picked[0].word not in _GENERIC_STEMS:
        # The first word of a product phrase may be a product line stripped with the
        # brand ("Stanley Quencher H2.0 FlowState Stainless Steel …").
        queries.append(_join(picked[1:]))
    if code and noun:
        queries.append(f"{code} {noun}")
    if "(" in first:
        queries.append(_join(picked))  # the product phrase alone, whatever else was dropped
    elif len(picked) >= 4:
        # The two safest words of query 1, and any one of its riskier ones.
        riskier = ", ".join(t.text for t in sorted(picked[2:], key=lambda t: t.offset))
        queries.append(f"{_join(picked[:2])} ({riskier})")
    if brand_words and code:
        queries.append(f"{' '.join(brand_words)} {code}")
    if brand_words and noun:
        queries.append(f"{' '.join(brand_words)} {noun}")

    distinct: list[str] = []
    for q in queries:
        if q and q not in distinct:
            distinct.append(q)
    return tuple(distinct[:limit])
