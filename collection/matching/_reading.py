"""A listing title read once, whatever the product it is judged against (listing_match).

The same listings come back in the searches of sibling products, and every product's
judging needs the same reading of a title: cleaned, split into words (stemmed, filler
gone) and compounds, its model codes and figures. ``_listing`` gives it from a bounded
LRU of titles; the words, compounds and codes are read through bounded memos (a run's
vocabulary is a few thousand words). Each shortcut reads exactly what clean() and the
word and compound regexes give (tests/collection/matching/test_reading.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from itertools import chain
from typing import Any

from ._text import _COMPOUND, _HAS_DIGIT, _PART, clean, is_code, specs, squash, stem
from ._words import COLOURS, COMPAT_MARKERS, DECORATION, FILLER, GENERIC, SIZE_WORDS

_LISTING_CHARS = 200  # eBay titles stop at 80; the rest of a longer text is noise


class _Memo(dict[Any, Any]):
    """key → f(key), remembering at most ``size`` keys (past it, computed afresh)."""

    __slots__ = ("_f", "_size")

    def __init__(self, f: Callable[[Any], Any], size: int) -> None:
        super().__init__()
        self._f = f
        self._size = size

    def __missing__(self, key: Any) -> Any:
        value = self._f(key)
        if len(self) < self._size:
            self[key] = value
        return value


# Keys per memo: a 10-category run reads ~3,200 distinct words (~650 B each over all the
# memos: ~2 MB); the bound keeps a run of junk titles under ~20 MB.
_WORDS_CACHE = 20_000
_stems: dict[str, str] = _Memo(stem, _WORDS_CACHE)


def _stem(word: str) -> str:
    return _stems[word]


_FILLER_STEMS = frozenset(stem(w) for w in FILLER)
_DECORATION_STEMS = frozenset(stem(w) for w in DECORATION)
_COLOUR_STEMS = frozenset(stem(w) for w in COLOURS)
_GENERIC_STEMS = frozenset(stem(w) for w in GENERIC)
_COMPAT_STEMS = frozenset(stem(w) for w in COMPAT_MARKERS)
if _DECORATION_STEMS & (_COLOUR_STEMS | SIZE_WORDS):
    # A listing's colours and sizes are read once for every product, decoration words
    # included: that is only the same as the product's view while no decoration word is
    # a colour or a size.
    raise RuntimeError("a decoration word is also a colour or a size word")


class _Listing:
    """A listing title read once, whatever the product it is judged against.

    ``words``: its content words in order (stemmed, filler gone) — decoration included:
    a product drops the decoration words its own title lacks, so those weigh 0 as
    foreign words and count nowhere else (they are not Amazon words). ``unique``: the
    same without repeats; ``body`` what the words other than decoration fill (one space
    each); ``compounds`` its compounds squashed, ``codes`` the model codes among them.
    """

    __slots__ = ("text", "words", "unique", "body", "compounds", "codes", "decoration", "_specs")

    def __init__(
        self,
        text: str,
        words: tuple[str, ...],
        compounds: tuple[str, ...],
        codes: tuple[str, ...],
    ) -> None:
        # Tuples rather than lists and sets: a cached listing is ~0.8 KB.
        self.text = text
        self.words = words
        unique = tuple(dict.fromkeys(words))
        self.unique = unique
        self.body = len(" ".join(unique)) + 1 if unique else 0  # a space after each
        if _DECORATION_STEMS.isdisjoint(unique):
            self.decoration: tuple[str, ...] | None = None
        else:
            decoration = tuple(filter(_DECORATION_STEMS.__contains__, unique))
            self.decoration = decoration
            self.body -= sum(map(len, decoration)) + len(decoration)
        self.compounds = compounds
        self.codes = codes
        self._specs: tuple[tuple[str, str], ...] | None = None

    def specs(self) -> tuple[tuple[str, str], ...]:
        if self._specs is None:  # a figure needs a digit
            self._specs = tuple(specs(self.text)) if _HAS_DIGIT.search(self.text) else ()
        return self._specs

    def lead(self, kept: frozenset[str]) -> str:
        """Its first content word for a title with the decoration words ``kept``."""
        if self.decoration is None:
            return self.words[0]
        for w in self.words:
            if w not in _DECORATION_STEMS or w in kept:
                return w
        return ""


def _squash(compound: str) -> str:
    return compound if compound.isalnum() else squash(compound)


def _maybe_code(squashed: str) -> bool:
    # A code mixes letters and digits: all letters or all digits is none (the common case).
    return not (squashed.isalpha() or squashed.isdecimal()) and is_code(squashed)


_squashed: dict[str, str] = _Memo(_squash, _WORDS_CACHE)
_is_code: dict[str, bool] = _Memo(_maybe_code, _WORDS_CACHE)


def _compound_words(compound: str) -> tuple[str, ...]:
    """The content words of one compound ("usb-c" → usb, c), stemmed, filler gone."""
    parts = (compound,) if compound.isalnum() else _PART.findall(compound)
    return tuple(w for w in map(_stems.__getitem__, parts) if w not in _FILLER_STEMS)


_compounds_words: dict[str, tuple[str, ...]] = _Memo(_compound_words, _WORDS_CACHE)

# ASCII bytes that are neither a word's nor a compound's joint, as spaces.
_CHUNKS = bytes(b if chr(b).isalnum() or chr(b) in "-./" else 0x20 for b in range(256))
_NON_ASCII_WORD = re.compile(r"[^\W\x00-\x7f]")  # a letter or digit other than ASCII


def _chunk_words(chunk: bytes) -> tuple[str, ...]:
    if chunk.isalnum():
        return _compounds_words[chunk.decode()]
    found = _COMPOUND.findall(chunk.decode())
    return tuple(chain.from_iterable(map(_compounds_words.__getitem__, found)))


def _chunk_compounds(chunk: bytes) -> tuple[str, ...]:
    if chunk.isalnum():
        return (chunk.decode(),)
    return tuple(map(_squashed.__getitem__, _COMPOUND.findall(chunk.decode())))


_chunk_words_memo: dict[bytes, tuple[str, ...]] = _Memo(_chunk_words, _WORDS_CACHE)
_chunk_compounds_memo: dict[bytes, tuple[str, ...]] = _Memo(_chunk_compounds, _WORDS_CACHE)


def _read(listing_title: object) -> _Listing:
    """Clean and split a listing title: everything of it that needs no product."""
    if (
        isinstance(listing_title, str)
        and listing_title.isascii()
        and listing_title.isprintable()
        and "&" not in listing_title  # an entity, markup, an apostrophe to join
        and "<" not in listing_title
        and "'" not in listing_title
        and "`" not in listing_title
    ):
        # What clean() gives for plain printable ASCII: nothing to unescape, strip,
        # normalise or join; lower() keeps the length, so cut first.
        text = listing_title[:_LISTING_CHARS].lower()
    else:
        text = clean(listing_title)[:_LISTING_CHARS]
    # Its words are the pieces of its compounds, in order (a compound is word pieces
    # joined by single - . /). ASCII: the chunks between characters that are neither
    # (a compound never spans one) are mostly a compound each; each chunk is read once.
    # A character other than ASCII that is neither a letter nor a digit ("🔥", "™")
    # parts chunks as a space does: encoded as "?", it is one.
    if text.isascii() or not _NON_ASCII_WORD.search(text):
        chunks = text.encode("ascii", "replace").translate(_CHUNKS).split()
        # sum(…, ()): one C call (a title's dozen short tuples; chain+tuple costs more).
        words = sum(map(_chunk_words_memo.__getitem__, chunks), ())
        compounds = sum(map(_chunk_compounds_memo.__getitem__, chunks), ())
    else:
        found = _COMPOUND.findall(text)
        words = tuple(chain.from_iterable(map(_compounds_words.__getitem__, found)))
        compounds = tuple(map(_squashed.__getitem__, found))
    # The model codes before any "for …" (what it fits): another product's, unless the
    # Amazon title has them too (see _other_code).
    codes: list[str] = []
    if any(map(_is_code.__getitem__, compounds)):
        for code in compounds:
            if code in COMPAT_MARKERS:
                break
            if _is_code[code]:
                codes.append(code)
    return _Listing(text, words, compounds, tuple(codes))


# The same listings come back in the searches of sibling products (a shard of the kind):
# of the 84,842 listings of a 10-category run (bench/judging.py) 43 % had been read
# before; an LRU of 4,096 / 8,192 / 16,384 titles catches 15 / 25 / 34 % of them. Bounded:
# at most LISTING_CACHE titles (~0.8 KB each with the key: ~7 MB) of ≤ _LISTING_KEY chars.
LISTING_CACHE = 8_192
_LISTING_KEY = 256
_read_cached = functools.lru_cache(maxsize=LISTING_CACHE)(_read)


def _listing(listing_title: object) -> _Listing:
    if isinstance(listing_title, str) and len(listing_title) <= _LISTING_KEY:
        return _read_cached(listing_title)
    return _read(listing_title)
