"""eBay sellers: recurring dropshippers (with their title and markup habits), recurring
ordinary retailers, one-off sellers, and the hostile look-alike accounts.

Dropshippers: ``params.dropshippers`` accounts, drawn zipf-like (weight 1/rank), so the
first few copy hundreds of best sellers and the tail a handful. Each keeps a title habit
(``titles.Habit``), a markup (80 % of them centred inside the default 1.8–2.2× band, the
rest below or above it) and a flaw rate (the share of their listings that fail one
dropshipper filter: used, paid shipping, abroad, auction; some are located abroad).

About 4 % of all accounts are shown by their immutable user id instead of a username
(eBay's 2025-09-26 change); ``SellerRecord.username`` is then that id everywhere.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from hashlib import blake2b
from typing import NamedTuple

from . import titles, words
from .catalogue import SellerRecord, h64, rng

RETAILERS = 40
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_COMPANY_SUFFIXES = ("", "USA", "Co", "LLC", "247")


def _pick(r, seq):
    return seq[int(r.random() * len(seq))]


def username(r) -> str:
    style = int(r.random() * 8)
    w, f, last = words.USER_WORDS, words.FIRST_NAMES, words.LAST_NAMES
    if style == 0:
        return f"{_pick(r, w)}{_pick(r, w)}{int(r.random() * 9999) + 1}"
    if style == 1:
        return f"{_pick(r, w)}_{_pick(r, w)}"
    if style == 2:
        return f"{_pick(r, f)}.{_pick(r, w)}{int(r.random() * 99) + 1}"
    if style == 3:
        return f"{_pick(r, w).capitalize()}{_pick(r, w).capitalize()}{_pick(r, _COMPANY_SUFFIXES)}"
    if style == 4:
        return f"{_pick(r, f)}{_pick(r, last)}_{int(r.random() * 9999) + 1}"
    if style == 5:
        return f"{_pick(r, f)[0]}{_pick(r, last)}{int(r.random() * 999) + 1}"
    if style == 6:
        return "".join(_pick(r, _LETTERS) for _ in range(5 + int(r.random() * 4)))
    return f"{_pick(r, w)}-{_pick(r, w)}-{_pick(r, last)}"


def user_id(seed: int, name: str) -> str:
    return f"u{h64(seed, 'user-id', name.casefold()):016x}"[:11]


def _h64_named(seed: int, tag: str, folded: str) -> int:
    """``h64(seed, tag, folded)``: the repr of that tuple written directly."""
    text = f"({seed!r}, {tag!r}, {folded!r})"
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big")


def _percent(r, low: float) -> str:
    value = round(low + (100.4 - low) * r.random(), 1)
    return "100" if value >= 100 else f"{value:.1f}"


def _record(seed: int, name: str, score: int, percent: str, dropshipper: bool) -> SellerRecord:
    folded = name.casefold()
    uid = f"u{_h64_named(seed, 'user-id', folded):016x}"[:11]  # user_id(seed, name)
    shown = uid if _h64_named(seed, "id-listed", folded) % 25 == 0 else name
    return SellerRecord(shown, score, percent, uid, dropshipper)


class Dropshipper(NamedTuple):
    seller: SellerRecord
    habit: titles.Habit
    markup: float  # centre of their price ÷ Amazon price
    flaw_rate: float  # share of listings failing one dropshipper filter
    abroad: tuple[str, str] | None  # (code, name) when located outside the US


@lru_cache(maxsize=16)
def dropshippers(seed: int, size: int) -> tuple[Dropshipper, ...]:
    """The recurring dropshippers, most active first."""
    r = rng(seed, "dropshippers")
    found: list[Dropshipper] = []
    taken: set[str] = set()
    while len(found) < size:
        name = username(r)
        if name.casefold() in taken:
            continue
        taken.add(name.casefold())
        rank = len(found) + 1
        score = int(60_000 / rank**0.7 * r.uniform(0.5, 1.5)) + r.randint(40, 400)
        u = r.random()
        markup = (
            r.uniform(1.86, 2.14)
            if u < 0.8
            else r.uniform(1.35, 1.72)
            if u < 0.9
            else r.uniform(2.3, 3.0)
        )
        abroad = _pick(r, words.FOREIGN_COUNTRIES) if r.random() < 0.06 else None
        found.append(
            Dropshipper(
                _record(seed, name, score, _percent(r, 95.5), True),
                titles.habit_for(rng(seed, "habit", name)),
                markup,
                0.05 + 0.2 * r.random(),
                abroad,
            )
        )
    return tuple(found)


@lru_cache(maxsize=16)
def zipf_cumulative(size: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))


@lru_cache(maxsize=16)
def retailers(seed: int) -> tuple[SellerRecord, ...]:
    """Recurring ordinary sellers (stores listing many products at their own prices)."""
    r = rng(seed, "retailers")
    out: list[SellerRecord] = []
    taken: set[str] = set()
    while len(out) < RETAILERS:
        name = username(r)
        if name.casefold() not in taken:
            taken.add(name.casefold())
            out.append(_record(seed, name, int(10 ** r.uniform(2.5, 5.2)), _percent(r, 97), False))
    return tuple(out)


def one_off(seed: int, r) -> SellerRecord:
    name = username(r)
    if r.random() < 0.3:
        name += str(10 + int(r.random() * 90))
    return _record(seed, name, int(10 ** (r.random() * 3.6)), _percent(r, 88.0), False)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def hostile_variant(seller: SellerRecord, r) -> SellerRecord:
    """A look-alike of a real account: a different seller to everyone but a careless parser."""
    name = seller.username
    variant = r.choice(
        (
            _fullwidth(name),
            name.upper(),
            name.swapcase(),
            name.translate(words.HOMOGLYPHS),
            f"  {name}  ",
            name[:3] + "\u200b" + name[3:],
            name + r.choice(words.HOSTILE_MARKUP),
            r.choice(words.HOSTILE_MARKUP),
            name + "\x00",
            name * 40,  # longer than any username column: parsers must skip it
        )
    )
    return SellerRecord(variant, seller.feedback_score, seller.feedback_percent, "", False)
