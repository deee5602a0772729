import pytest

from collection.normalize import seller_key


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
