import random
import string

import pytest

from collection.normalize import seller_key, seller_key_unicode


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DxbDxb", "dxbdxb"),
        ("  dxbdxb  ", "dxbdxb"),
        ("ｄｘｂｄｘｂ", "dxbdxb"),  # full-width letters
        ("ＤＸＢ＿Shop", "dxb_shop"),  # full-width capitals and underscore
        ("best   deals\tusa", "best deals usa"),  # inner whitespace collapses
        ("STRASSE", "strasse"),
        ("straße", "strasse"),  # casefold, not lower()
        ("deals\x00usa", "dealsusa"),  # NUL never survives
        ("ﬁne.goods", "fine.goods"),  # compatibility ligature
    ],
)
def test_seller_key_folds_what_is_the_same_seller(raw, expected):
    assert seller_key(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("deals_usa", "deals.usa"),  # punctuation is meaningful on eBay
        ("dealsusa", "deals usa"),  # a space is not nothing
        ("shop1", "shopl"),
        ("cafe", "café"),  # accents are kept: NFKC does not strip them
        ("dxbdxb", "dxbdxbb"),
    ],
)
def test_seller_key_keeps_distinct_names_distinct(a, b):
    assert seller_key(a) != seller_key(b)


def test_seller_key_is_idempotent():
    for name in ["ＤＸＢ＿Shop", "  A  b ", "straße", "ǅemal"]:
        assert seller_key(seller_key(name)) == seller_key(name)


def test_the_ascii_fast_path_gives_the_same_key_as_the_unicode_path():
    """The store keys every name of a batch with ``seller_key``: its fast path for printable
    ASCII must agree with the full normalization on every input."""
    rng = random.Random(7)
    alphabet = string.printable + "ßẞｄＡ\u00a0\u3000é́ﬁ\x00\x7f"
    samples = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(3000)
    ]
    samples += ["DxbDxb", " dxbDXB ", "Carol   Shop", "  a  b  ", "A\tB", "x\ny", "İstanbul"]
    for sample in samples:
        assert seller_key(sample) == seller_key_unicode(sample), repr(sample)
