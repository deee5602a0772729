"""From an Amazon best seller to the eBay listings that copy it (DESIGN.md §4b).

Pure Python + rapidfuzz; no Django, so the pipeline, bench and tests use it directly.
"""

from .match import (
    MATCH_THRESHOLD,
    PageContext,
    ProductTerms,
    cache_stats,
    caches_clear,
    listing_match,
    page_context,
    product_terms,
)
from .queries import TOO_LITTLE, search_queries
from .score import dropshipper_score, dropshipper_why

__all__ = [
    "MATCH_THRESHOLD",
    "TOO_LITTLE",
    "PageContext",
    "ProductTerms",
    "cache_stats",
    "caches_clear",
    "dropshipper_score",
    "dropshipper_why",
    "listing_match",
    "page_context",
    "product_terms",
    "search_queries",
]
