"""Titles: the Amazon shape, dropshippers' editing habits, ordinary sellers' own titles,
look-alikes and accessories. Every eBay title this module returns is ≤ 80 characters.

An Amazon title is kept as (kind, text) pieces, each text carrying its own leading
separator, so a habit can strip the brand or reorder the features and re-join:
``brand`` "Sonvik", ``model`` " Q47", ``noun`` " Wireless Earbuds", ``feature`` ", Bluetooth
5.3", ``with`` " with Charging Case", ``for`` " for iPhone and Android", ``size`` ", 2 Pack",
``colour`` ", Black". Books: ``book`` "Midnight Garden Secrets", ``subtitle`` ": A Novel".
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from . import title_words as tw
from . import words
from .tokens import tokens

EBAY_MAX = 80
_FEATURE_KINDS = frozenset({"feature", "with", "for"})
_LETTERS = "ABCDEFGHJKLMNPRSTVWXZ"


def join(pieces) -> str:
    return "".join([text for _, text in pieces])


def shuffle(r, x: list) -> None:
    """``r.shuffle(x)`` for a ``random.Random``, its ``_randbelow`` inlined (CPython's
    ``_randbelow_with_getrandbits``, 3.12+): the same draws, without a Python call per
    element (the sandbox digest would show any difference)."""
    getrandbits = r.getrandbits
    for i in range(len(x) - 1, 0, -1):
        n = i + 1
        k = n.bit_length()
        j = getrandbits(k)
        while j >= n:
            j = getrandbits(k)
        x[i], x[j] = x[j], x[i]


_MODEL_PATTERNS = ("Ldd", "LLddd", "Lddd", "LLdddL", "LdL", "LLdd")
_DIGITS = "0123456789"


def model_code(r) -> str:
    # Every token of a model code has a digit (the search's routing relies on it).
    random = r.random
    pattern = _MODEL_PATTERNS[int(random() * 6)]
    return "".join(
        [
            _LETTERS[int(random() * len(_LETTERS))]
            if ch == "L"
            else _DIGITS[int(random() * 10)]
            if ch == "d"
            else ch
            for ch in pattern
        ]
    )


def noun_of(profile: str, noun_index: int) -> str:
    if profile == "books":
        return words.BOOK_FIRST[noun_index]
    return words.PROFILES[profile].nouns[noun_index]


def _book_pieces(noun_index: int, r) -> tuple[tuple[str, str], ...]:
    first = words.BOOK_FIRST[noun_index]
    second = words.BOOK_SECOND[int(r.random() * len(words.BOOK_SECOND))]
    third = words.BOOK_THIRD[int(r.random() * len(words.BOOK_THIRD))]
    pieces = [("book", f"{first} {second} {third}")]
    if r.random() < 0.8:
        pieces.append(
            ("subtitle", ": " + tw.BOOK_SUBTITLES[int(r.random() * len(tw.BOOK_SUBTITLES))])
        )
    if r.random() < 0.3:
        pieces.append(("format", f" ({tw.BOOK_FORMATS[int(r.random() * len(tw.BOOK_FORMATS))]})"))
    return tuple(pieces)


@lru_cache(maxsize=32)
def _feature_pool_of(profile: str) -> tuple[tuple[str, str], ...]:
    spec = words.PROFILES[profile]
    pool = [("feature", f) for f in spec.features + tw.COMMON_FEATURES]
    pool += [("with", w) for w in tw.WITH_PHRASES.get(profile, ())]
    pool += [("for", f) for f in tw.FOR_PHRASES.get(profile, ())]
    return tuple(pool)


def _feature_pool(profile: str) -> list[tuple[str, str]]:
    return list(_feature_pool_of(profile))


def amazon_pieces(
    profile: str,
    noun_index: int,
    r,
    *,
    brand: str | None = None,
    shared: tuple[tuple[str, str], ...] = (),
) -> tuple[tuple[str, str], ...]:
    """An Amazon-shaped title of a product of ``noun_index`` (length ~N(118, 36), 20–200).

    ``brand`` / ``shared`` build a look-alike: another brand ("" = generic) and some
    feature pieces in common with the original.
    """
    if profile == "books":
        return _book_pieces(noun_index, r)
    spec = words.PROFILES[profile]
    if brand is None:
        brand = spec.brands[int(r.random() * len(spec.brands))]
    noun = spec.nouns[noun_index]
    target = min(200, max(22, int(r.gauss(118, 36))))
    pieces: list[tuple[str, str]] = [("brand", brand)] if brand else []
    has_model = r.random() < (0.55 if spec.model_codes else 0.2)
    model = model_code(r) if has_model else ""
    if model and r.random() < 0.5:
        pieces.append(("model", f" {model}"))
        model = ""
    pieces.append(("noun", f" {noun}" if pieces else noun))
    if model:
        pieces.append(("model", f" {model}"))
    pool = _feature_pool(profile)
    shuffle(r, pool)
    chosen = list(shared) + [p for p in pool if p not in shared]
    size = tw.SIZES[int(r.random() * len(tw.SIZES))] if r.random() < 0.5 else ""
    colour = tw.COLOURS[int(r.random() * len(tw.COLOURS))] if r.random() < 0.6 else ""
    if r.random() < 0.3:
        size = spec.variants[int(r.random() * len(spec.variants))]
    tail = len(size) + 2 * bool(size) + len(colour) + 2 * bool(colour)
    length = len(join(pieces))
    # Every feature takes the dash when the title has one: ``length`` is always the length
    # of the pieces so far (the test once written against it was always true).
    separator = " - " if r.random() < 0.3 else ", "
    for kind, text in chosen:
        if kind == "feature":
            text = separator + text
        else:
            text = " " + text
        if length + len(text) + tail > target:
            if length + tail >= target - 12:
                break
            continue
        pieces.append((kind, text))
        length += len(text)
    if size:
        pieces.append(("size", f", {size}"))
    if colour or length + tail < 20:
        pieces.append(("colour", f", {colour or 'Black'}"))
    title = join(pieces)
    while len(title) > 200 and len(pieces) > 2:
        pieces.pop(-2 if pieces[-1][0] == "colour" else -1)
        title = join(pieces)
    return tuple(pieces)


def cut(text: str, limit: int) -> str:
    """Cut at a word boundary at or before ``limit`` characters; no dangling punctuation."""
    return _cut(" ".join(text.split()), limit)


def _cut(text: str, limit: int) -> str:
    """``cut`` of a text whose words are already joined by single spaces."""
    if len(text) > limit:
        head = text[: limit + 1]
        text = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
    return text.rstrip(" ,;:-–|/&(").strip()


class Habit(NamedTuple):
    """How one dropshipper edits every title they copy (persistent per seller)."""

    strip_brand: bool
    strip_model: bool
    drop_filler: bool
    features: str  # keep / reorder / drop
    prefix: str
    suffix: str
    case: str  # keep / upper / title
    limit: int  # where they cut (≤ 80 before decoration)


def habit_for(r) -> Habit:
    u = r.random()
    return Habit(
        strip_brand=r.random() < 0.55,
        strip_model=r.random() < 0.35,
        drop_filler=r.random() < 0.5,
        features="reorder" if u < 0.25 else "drop" if u < 0.55 else "keep",
        prefix=tw.PREFIXES[int(r.random() * len(tw.PREFIXES))],
        suffix=tw.SUFFIXES[int(r.random() * len(tw.SUFFIXES))],
        case="upper" if r.random() < 0.05 else "title" if r.random() < 0.1 else "keep",
        limit=EBAY_MAX if r.random() < 0.7 else 55 + int(r.random() * 25),
    )


_FILLER_SEPARATORS = str.maketrans(",|:", "   ")
# word → the word kept ("" when dropped): a few thousand words per process.
_KEPT: dict[str, str] = {}


def _kept(word: str) -> str:
    word = word.strip("()")
    if word and word not in ("-", "–") and word.casefold() not in tw.FILLER_WORDS:
        return word
    return ""


def _strip_filler(text: str) -> str:
    if len(_KEPT) > 100_000:
        _KEPT.clear()
    kept = []
    for word in text.translate(_FILLER_SEPARATORS).split():
        found = _KEPT.get(word)
        if found is None:
            found = _KEPT[word] = _kept(word)
        if found:
            kept.append(found)
    return " ".join(kept)


def decorate(body: str, prefix: str, suffix: str, limit: int = EBAY_MAX) -> str:
    return _decorate(" ".join(body.split()), prefix, suffix, limit)


def _decorate(body: str, prefix: str, suffix: str, limit: int) -> str:
    """``decorate`` of a body whose words are already joined by single spaces."""
    room = min(limit, EBAY_MAX - len(prefix) - len(suffix))
    text = _cut(body, room)
    if len(text) < 24 and suffix:  # not worth the decoration: keep the words
        return _decorate(body, prefix, "", limit)
    return (prefix + text + suffix).strip()[:EBAY_MAX]


def apply_habit(habit: Habit, pieces, r) -> str:
    """A dropshipper's copy of an Amazon title (≤ 80 characters)."""
    kept = [
        p
        for p in pieces
        if not (habit.strip_brand and p[0] == "brand")
        and not (habit.strip_model and p[0] == "model")
    ]
    features = [p for p in kept if p[0] in _FEATURE_KINDS]
    if habit.features == "reorder" and len(features) > 1:
        features = features[1:] + features[:1]
    elif habit.features == "drop":
        features = [p for i, p in enumerate(features) if i == 0 or r.random() < 0.5]
    head = [p for p in kept if p[0] in ("brand", "model", "noun", "book", "subtitle")]
    rest = [p for p in kept if p[0] in ("size", "colour", "format")]
    text = join(head + features + rest).strip(" ,-:")
    if habit.drop_filler:
        text = _strip_filler(text)
    if habit.case == "upper":
        text = text.upper()
    elif habit.case == "title":
        text = " ".join(w[:1].upper() + w[1:] for w in text.split())
    return decorate(text, habit.prefix, habit.suffix, habit.limit)


_HEAD_KINDS = ("brand", "model", "noun", "book", "subtitle")
_REST_KINDS = ("size", "colour", "format")


class HabitCopier:
    """``apply_habit`` for many dropshippers' copies of one product (~30 a product): the
    pieces are sorted once, and the text before decoration (a few variants per product)
    is edited once per variant."""

    __slots__ = ("_feature", "_features", "_head", "_pieces", "_rest", "_texts")

    def __init__(self, pieces) -> None:
        features = [text for kind, text in pieces if kind in _FEATURE_KINDS]
        self._features = features
        self._feature = {
            "keep": "".join(features),
            "reorder": "".join(features[1:] + features[:1] if len(features) > 1 else features),
        }
        self._pieces = pieces
        self._head: dict[tuple[bool, bool], str] = {}
        self._rest = "".join(text for kind, text in pieces if kind in _REST_KINDS)
        self._texts: dict[tuple, str] = {}

    def copy(self, habit: Habit, r) -> str:
        """``apply_habit(habit, pieces, r)``, drawing from ``r`` exactly as it does."""
        if habit.features == "drop":
            features = self._features
            random = r.random
            feature = "".join([text for i, text in enumerate(features) if i == 0 or random() < 0.5])
        else:
            feature = self._feature[habit.features]
        key = (habit.strip_brand, habit.strip_model, feature, habit.drop_filler, habit.case)
        text = self._texts.get(key)
        if text is None:
            head = self._head.get(key[:2])
            if head is None:
                head = self._head[key[:2]] = self._head_of(habit.strip_brand, habit.strip_model)
            text = head + feature + self._rest
            text = self._texts[key] = " ".join(_edit(text.strip(" ,-:"), habit).split())
        return _decorate(text, habit.prefix, habit.suffix, habit.limit)

    def _head_of(self, strip_brand: bool, strip_model: bool) -> str:
        return "".join(
            [
                text
                for kind, text in self._pieces
                if kind in _HEAD_KINDS
                and not (strip_brand and kind == "brand")
                and not (strip_model and kind == "model")
            ]
        )


def _edit(text: str, habit: Habit) -> str:
    if habit.drop_filler:
        text = _strip_filler(text)
    if habit.case == "upper":
        text = text.upper()
    elif habit.case == "title":
        text = " ".join(w[:1].upper() + w[1:] for w in text.split())
    return text


class Parts(NamedTuple):
    """The pieces ordinary sellers' titles pick from (``_part`` of each kind, once)."""

    brand: str
    noun: str
    model: str
    colour: str
    size: str
    book: str
    features: tuple[str, ...]
    name: str  # brand, noun, model: what an accessory names

    @classmethod
    def of(cls, pieces) -> Parts:
        first: dict[str, str] = {}  # kind → its first piece (what _part strips)
        features = []
        for kind, text in pieces:
            if kind not in first:
                first[kind] = text
            if kind == "feature":
                features.append(text.strip(" ,-"))
        brand, noun, model, colour, size, book = (
            first[kind].strip(" ,-:()") if kind in first else ""
            for kind in ("brand", "noun", "model", "colour", "size", "book")
        )
        return cls(
            brand,
            noun,
            model,
            colour,
            size,
            book,
            tuple(features),
            " ".join([part for part in (brand, noun, model) if part]),
        )


def _part(pieces, kind: str) -> str:
    for k, text in pieces:
        if k == kind:
            return text.strip(" ,-:()")
    return ""


def own_title(pieces, r, parts: Parts | None = None) -> str:
    """An ordinary seller's short title of the same product (``parts``: of ``pieces``)."""
    brand, noun, model, colour, size, book, features, _ = parts or Parts.of(pieces)
    feature = features[int(r.random() * len(features))] if features else ""
    extra = tw.OWN_EXTRAS[int(r.random() * len(tw.OWN_EXTRAS))]
    # The option is drawn last and building one draws nothing: only the chosen is built.
    if book:
        fmt = tw.BOOK_FORMATS[int(r.random() * len(tw.BOOK_FORMATS))]
        choice = int(r.random() * 3)
        option = (
            f"{book} {fmt}"
            if choice == 0
            else f"{book} - {fmt} - {extra}"
            if choice == 1
            else f"{extra} {book}"
        )
    else:
        choice = int(r.random() * 5)
        if choice == 0:
            option = f"{brand} {noun} {feature}"
        elif choice == 1:
            option = f"{noun} {colour or size}"
        elif choice == 2:
            option = f"{brand} {model} {noun}" if model else f"{brand} {noun} {size or colour}"
        elif choice == 3:
            option = f"{extra} {brand} {noun} - {colour or feature}"
        else:
            option = f"{noun} {feature} {size}"
    return cut(option, EBAY_MAX)  # cut joins the words with single spaces first


def accessory_title(pieces, r, parts: Parts | None = None) -> str:
    name = (parts or Parts.of(pieces)).name
    accessory = tw.ACCESSORIES[int(r.random() * len(tw.ACCESSORIES))]
    return cut(f"{accessory} {name}", EBAY_MAX)


def shard_vocabulary(profile: str, noun_index: int) -> frozenset[str]:
    """Every token a listing of the shard can have, model codes aside (routing)."""
    texts: list[str] = [noun_of(profile, noun_index)]
    if profile == "books":
        texts += words.BOOK_SECOND + words.BOOK_THIRD + tw.BOOK_SUBTITLES + tw.BOOK_FORMATS
    else:
        spec = words.PROFILES[profile]
        texts += spec.brands + spec.features + spec.variants + tw.COMMON_FEATURES
        texts += tw.WITH_PHRASES.get(profile, ()) + tw.FOR_PHRASES.get(profile, ())
        texts += tw.COLOURS + tw.SIZES + ("Black",)
    vocabulary: set[str] = set()
    for text in texts:
        vocabulary.update(tokens(text))
    return frozenset(vocabulary)


def global_vocabulary(hostile: bool) -> frozenset[str]:
    """Tokens any listing may carry whatever its product (decorations; hostile text)."""
    texts: tuple[str, ...] = tw.PREFIXES + tw.SUFFIXES + tw.OWN_EXTRAS + tw.ACCESSORIES
    if hostile:
        texts += words.HOSTILE_MARKUP + ("x" * 100_000,)
    vocabulary: set[str] = set()
    for text in texts:
        vocabulary.update(tokens(text))
    return frozenset(vocabulary)
