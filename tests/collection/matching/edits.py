"""Dropshipper title habits as functions, to make edited copies of any Amazon title."""

import re

from collection.matching import product_terms

FILLER = {"with", "for", "and", "the", "of", "to", "in", "a", "an", "&"}


def cut80(title: str, limit: int = 80) -> str:
    """Cut at a word boundary before `limit` characters (eBay's title limit)."""
    if len(title) <= limit:
        return title
    cut = title[: limit + 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,-|:;")


def strip_brand(title: str) -> str:
    terms = product_terms(title)
    words = title.split()
    n = len(terms.brand)
    return " ".join(words[n:]) if n else title


def strip_brand_and_code(title: str) -> str:
    terms = product_terms(title)
    words = strip_brand(title).split()
    return " ".join(w for w in words if re.sub(r"[^\w]", "", w).lower() not in terms.codes)


def drop_filler(title: str) -> str:
    words = re.sub(r"[,|:;()\[\]]", " ", title).split()
    return " ".join(w for w in words if w.lower() not in FILLER and w not in "-–/")


def decorate(title: str) -> str:
    return cut80("NEW " + title, 80 - len(" Fast Free Shipping")) + " Fast Free Shipping"


def drop_second_feature(title: str) -> str:
    """Drop the second comma-separated feature phrase (a reorder/drop edit)."""
    parts = [p.strip() for p in title.split(",")]
    if len(parts) >= 3:
        del parts[2]
    return ", ".join(parts)


HABITS = {
    "cut80": lambda t: cut80(t),
    "brand stripped": lambda t: cut80(strip_brand(t)),
    "brand and code stripped": lambda t: cut80(strip_brand_and_code(t)),
    "filler dropped": lambda t: cut80(drop_filler(strip_brand(t))),
    "decorated": lambda t: decorate(strip_brand(t)),
    "feature dropped": lambda t: cut80(drop_filler(drop_second_feature(strip_brand(t)))),
}
