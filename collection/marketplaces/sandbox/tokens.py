"""How the sandbox's eBay reads words: the one tokenization rule, and Browse ``q`` parsing.

Tokenization (titles and queries alike): case-folded; apostrophes dropped ("Women's" →
"womens"); a token is a run of letters/digits (any script, no underscore); a dot between
two digits stays inside the token ("5.3", "6.6ft"); everything else separates tokens
("USB-C" → "usb", "c"; "🔥" and "|" are no tokens).

Query (``q``), as eBay documents it: words are ANDed; ``(a, b)`` is an OR group (an
alternative of several words needs all of them); a chunk starting with ``-`` excludes
listings that have its words. A query with no positive term matches nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_TOKEN = re.compile(r"[^\W_]+(?:(?<=\d)\.(?=\d)[^\W_]+)*")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018`")
_GROUP = re.compile(r"\(([^()]*)\)")


def tokens(text: str) -> list[str]:
    """The searchable words of ``text`` in order (duplicates kept)."""
    return _TOKEN.findall(text.casefold().translate(_APOSTROPHES))


def token_set(text: str) -> frozenset[str]:
    return frozenset(tokens(text))


# A title's tokens are its whitespace-separated words' tokens (no token spans whitespace:
# every whitespace character is \W, and the digit-dot-digit rule looks at adjacent
# characters only), and a universe's titles reuse a few thousand words: per word, the
# regex runs once per process (a shard's index builds 3× faster). Bounded: hostile
# catalogues carry one-off words.
_WORD_TOKENS: dict[str, tuple[str, ...]] = {}
_WORD_CAP = 200_000


def word_tokens() -> dict[str, tuple[str, ...]]:
    """The memo ``title_tokens`` fills (word → its tokens); cleared when it is full."""
    if len(_WORD_TOKENS) >= _WORD_CAP:
        _WORD_TOKENS.clear()
    return _WORD_TOKENS


def title_tokens(text: str, memo: dict[str, tuple[str, ...]]) -> set[str]:
    """``set(tokens(text))``, word by word through ``memo`` (see ``word_tokens``)."""
    found: set[str] = set()
    get = memo.get
    for word in text.split():
        words = get(word)
        if words is None:
            words = memo[word] = tuple(tokens(word))
        found.update(words)
    return found


class ParsedQuery(NamedTuple):
    required: tuple[str, ...]  # every one must be in the title
    groups: tuple[tuple[frozenset[str], ...], ...]  # per group: one alternative must match
    excluded: tuple[frozenset[str], ...]  # a title with all words of one is dropped

    @property
    def empty(self) -> bool:
        return not self.required and not self.groups

    def all_words(self) -> frozenset[str]:
        words = set(self.required)
        for group in self.groups:
            for alternative in group:
                words |= alternative
        return frozenset(words)


@lru_cache(maxsize=65536)
def parse_query(q: str) -> ParsedQuery:
    q = q[:500]  # eBay caps keywords at 350 characters; a longer q cannot match anyway
    groups = []
    for inner in _GROUP.findall(q):
        alternatives = tuple(frozenset(tokens(part)) for part in inner.split(",") if tokens(part))
        if alternatives:
            groups.append(alternatives)
    rest = _GROUP.sub(" ", q)
    required: list[str] = []
    excluded = []
    for chunk in rest.split():
        if chunk.startswith("-") and len(chunk) > 1:
            words = frozenset(tokens(chunk[1:]))
            if words:
                excluded.append(words)
            continue
        for token in tokens(chunk):
            if token not in required:
                required.append(token)
    return ParsedQuery(tuple(required), tuple(groups), tuple(excluded))


def title_matches(query: ParsedQuery, title_tokens: frozenset[str]) -> bool:
    """The reference (slow) definition the inverted index must agree with."""
    if query.empty:
        return False
    if any(token not in title_tokens for token in query.required):
        return False
    for group in query.groups:
        if not any(alternative <= title_tokens for alternative in group):
            return False
    return not any(words <= title_tokens for words in query.excluded)
