"""The match check's shortcuts give what the plain path gives: reading a listing title
(ASCII fast path, chunked split, memos, the bounded LRU), the bound that skips the word
order, and the memoised product terms."""

import math
import random

import pytest

from collection.matching import _reading as r
from collection.matching import (
    cache_stats,
    caches_clear,
    listing_match,
    page_context,
    product_terms,
)
from collection.matching import match as m
from collection.matching._text import _COMPOUND, _PART, clean, squash, stem

from .corpus import PRODUCTS, UNRELATED

TRICKY = [
    "Wireless Earbuds Bluetooth 5.3 Headphones 40H Playtime IPX7",
    "USB-C to Lightning Cable/Cord 6ft -- 2-Pack, NEW!!",
    "a--b ..c. -lead trail- x_y 5.3.1 usb-c/usb-a //",
    "Kids' Toy Rock'n`Roll Set &amp; More <b>Hot</b> 3 in 1",
    "Tab\tseparated\ntitle with\x00NUL",
    "Café Crème Brûlée Torch — Stainless Steel ½ Inch",
    "ＦＵＬＬＷＩＤＴＨ Ｑ４７ Earbuds",
    "Ⅻ Roman numeral ² squared",
    "for iPhone 15 Pro Max Case XR-200 compatible with Galaxy S24",
    "",
    "   ",
    "A" * 300 + " earbuds",
    "x" * 5000,
]


def _plain_reading(title):
    """What the listing reading was before its shortcuts: clean, the two regexes."""
    text = clean(title)[: r._LISTING_CHARS]
    words = tuple(w for w in map(stem, _PART.findall(text)) if w not in r._FILLER_STEMS)
    compounds = tuple(c if c.isalnum() else squash(c) for c in _COMPOUND.findall(text))
    return text, words, compounds


def _titles():
    found = list(TRICKY) + list(UNRELATED)
    for product in PRODUCTS:
        found.append(product["title"])
        for kind in ("copies", "own", "lookalikes", "variants"):
            found += product[kind]
    return found


@pytest.mark.parametrize("title", _titles())
def test_reading_a_title_is_the_plain_reading(title):
    caches_clear()
    got = r._listing(title)
    again = r._listing(title)  # from the LRU this time
    text, words, compounds = _plain_reading(title)
    for listing in (got, again):
        assert (listing.text, listing.words, listing.compounds) == (text, words, compounds)


def test_random_ascii_titles_read_like_the_plain_reading():
    rng = random.Random(16)
    alphabet = "abcXYZ019 -./,&<>'`_()|:;\t!é’"
    for _ in range(3000):
        title = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        listing = r._read(title)
        assert (listing.text, listing.words, listing.compounds) == _plain_reading(title), title


def test_titles_with_other_characters_read_like_the_plain_reading():
    # Emoji and symbols part chunks like a space; letters and digits beyond ASCII
    # (é, ½, fullwidth, Greek) take the regex path.
    rng = random.Random(17)
    alphabet = ["ab", "X9", " ", "-", ".", "/", "🔥", "™", "’", "é", "½", "Ｑ４", "Ω", "_", "&"]
    for _ in range(3000):
        title = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        listing = r._read(title)
        assert (listing.text, listing.words, listing.compounds) == _plain_reading(title), title


def _page(product):
    titles = [t for p in PRODUCTS for kind in ("copies", "lookalikes", "variants") for t in p[kind]]
    return titles + product["own"] + list(UNRELATED)


def _scores():
    out = []
    for product in PRODUCTS:
        terms = product_terms(product["title"])
        titles = _page(product)
        context = page_context(terms, titles)
        out.append(tuple(listing_match(terms, t, context=context) for t in titles))
        out.append(tuple(listing_match(terms, t) for t in titles))
    return out


def test_the_bound_that_skips_the_word_order_changes_no_score(monkeypatch):
    caches_clear()
    shortcut = _scores()
    skipped = sum(score == 0.0 for page in shortcut for score in page)
    assert skipped  # the corpus has listings the penalties rule out
    monkeypatch.setattr(m, "_BOUND_MARGIN", math.inf)  # never skip: the full path
    caches_clear()
    assert _scores() == shortcut


def test_scores_do_not_depend_on_what_the_caches_hold():
    caches_clear()
    cold = _scores()
    warm = _scores()  # every title and product read before
    assert warm == cold
    stats = cache_stats()
    assert stats["listings"]["hits"] > 0
    assert stats["product_terms"]["hits"] > 0


def test_product_terms_are_memoised_and_shared():
    caches_clear()
    title = PRODUCTS[0]["title"]
    assert product_terms(title) is product_terms(title)
    assert product_terms(title, brand="Sonvik") is not product_terms(title)


def test_every_cache_is_bounded():
    caches_clear()
    for i in range(r.LISTING_CACHE + 50):
        r._listing(f"Wireless Earbuds model Q{i} Bluetooth")
    for i in range(m.PRODUCT_CACHE + 5):
        product_terms(f"Sonvik Q{i} Wireless Earbuds with Charging Case")
    stats = cache_stats()
    assert stats["listings"]["size"] == r.LISTING_CACHE
    assert stats["product_terms"]["size"] == m.PRODUCT_CACHE
    for name, row in stats.items():
        assert row["size"] <= row["maxsize"], name


def test_a_memo_stops_remembering_when_full():
    calls = []
    memo = r._Memo(lambda key: calls.append(key) or key.upper(), 2)
    assert [memo[k] for k in ("a", "b", "c", "c")] == ["A", "B", "C", "C"]
    assert len(memo) == 2
    assert calls == ["a", "b", "c", "c"]  # past its size, computed afresh


def test_a_very_long_title_is_read_but_not_kept():
    caches_clear()
    r._listing("x" * (r._LISTING_KEY + 1))
    assert cache_stats()["listings"]["size"] == 0


def test_no_character_is_both_a_letter_and_a_digit():
    # _has_digit skips the per-character scan of an alphabetic word on this ground.
    assert not [c for c in map(chr, range(0x110000)) if c.isalpha() and c.isdigit()]


def test_no_decoration_word_is_a_colour_or_a_size():
    # A listing's colours and sizes are read once for every product, decoration included.
    assert not r._DECORATION_STEMS & (r._COLOUR_STEMS | r.SIZE_WORDS)
