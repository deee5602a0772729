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
3. Query 1: the best 4 such words (3 when only 3), in title order.
4. Query 2 (sent only when query 1 matched fewer than TOO_LITTLE listings) has different
   trade-offs: the model code with the product noun when the title has a plain code
   ("q47 earbuds": survives any feature edit, misses copies that stripped the code), else
   query 1's two safest words with its two riskiest as an OR group `(a, b)`.
5. More (limit > 2): brand + model code, then brand + product noun.
"""

from __future__ import annotations

from ._text import Token
from ._words import COLOURS, DECORATION, FILLER, GENERIC, SIZE_WORDS, UNITS
from .match import _GENERIC_STEMS, ProductTerms, product_terms

TOO_LITTLE: int = 3

MIN_WORDS = 3   # enough when one of them is not generic
MAX_WORDS = 4   # four when all are generic ("wireless earbuds bluetooth headphones")
_HEAD_CHARS = 60    # a word starting after this (brand and filler gone) risks the 80 cut
_MAX_WORD_LEN = 24

_RISKY = frozenset(
    """premium upgraded upgrade improved professional ultra super extra high quality
    durable heavy duty perfect great cute funny ideal gift gifts women men womens mens
    kids boys girls adults adult unisex best latest original newest classic""".split()
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


def _brand_zone(terms: ProductTerms) -> set[int]:
    """Offsets of the words from the start of the product phrase to its first generic word:
    brand, product line and model code ("Stanley Quencher H2.0 FlowState", "Hot Wheels"),
    which dropshippers strip together."""
    zone: set[int] = set()
    for tok in terms.tokens:
        if tok.segment < terms.product_segment:
            continue
        if tok.segment > terms.product_segment or len(zone) >= 5:
            break
        if tok.word in _GENERIC_STEMS or tok.text in GENERIC:
            break
        zone.add(tok.offset)
    return zone


def _candidates(terms: ProductTerms) -> list[tuple[tuple[int, int], Token]]:
    """Usable words, best first: (tier, position) with tier 0 = the product noun phrase."""
    seg0 = terms.product_segment
    brand = set(terms.brand)
    zone = _brand_zone(terms)
    ranked: list[tuple[tuple[int, int], Token]] = []
    seen: set[str] = set()
    marker: dict[int, str] = {}   # segment → "with" / "for" once seen
    position = 0                  # characters of the title once brand and filler are gone
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
        if tok.offset in zone:
            tier = 6
        elif after == "for":
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
    brand_words = [t.text for t in terms.tokens if t.word in set(terms.brand) and t.clean
                   and t.text.isalnum()][: len(terms.brand)]
    if not ranked:
        # Only a brand (or only figures): the brand words themselves, if any.
        return (" ".join(brand_words[:MAX_WORDS]),) if brand_words else ()

    good = [tok for (tier, _), tok in ranked if tier < 10]
    pool = good if len(good) >= 3 else [tok for _, tok in ranked]
    picked: list[Token] = []
    for tok in pool:
        picked.append(tok)
        distinctive = any(t.word not in _GENERIC_STEMS for t in picked)
        if len(picked) >= MAX_WORDS or len(picked) >= MIN_WORDS and distinctive:
            break
    queries: list[str] = [_join(picked)]

    noun = _product_noun(terms, ranked)
    plain_codes = sorted(
        (t for t in terms.tokens if t.clean and t.compound in terms.codes
         and t.text.isalnum() and len(t.text) <= _MAX_WORD_LEN),
        key=lambda t: t.offset,
    )
    code = plain_codes[0].text if plain_codes else ""
    if code and noun:
        queries.append(f"{code} {noun}")
    if len(picked) >= 3:
        rest = [tok for _, tok in ranked if tok not in picked]
        safe, risky = picked[:-2], picked[-2:]
        if len(picked) == 3 and rest:
            safe, risky = picked[:2], [picked[2], rest[0]]
        if len(safe) >= 1:
            group = ", ".join(t.text for t in sorted(risky, key=lambda t: t.offset))
            queries.append(f"{_join(safe)} ({group})")
    elif len(picked) == 2:
        queries.append(picked[0].text)
    if brand_words and code:
        queries.append(f"{' '.join(brand_words)} {code}")
    if brand_words and noun:
        queries.append(f"{' '.join(brand_words)} {noun}")

    distinct: list[str] = []
    for q in queries:
        if q and q not in distinct:
            distinct.append(q)
    return tuple(distinct[:limit])
