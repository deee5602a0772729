"""One SHA-256 of everything the sandbox serves, for a few seeds: the guard that a change
made for speed leaves the sandbox's bytes alone (it is the ground truth of bench/matching.py
and of many tests).

    .venv/bin/python bench/sandbox_digest.py                  # print the digest (~seconds)
    .venv/bin/python bench/sandbox_digest.py --expect HEX     # exit 1 when it differs
    .venv/bin/python bench/sandbox_digest.py --full           # + the default catalogue (seed 1)

What is hashed, per catalogue (seeds 1, 2, 3, each plain and hostile, at small sizes; with
``--full`` also the default sizes of seed 1, which the demo and the benches use):

- every shard's listings (every field, in best-match order), its token index (token →
  bitset), its item ids and copies (so truth.py is covered), and the model-code routing;
- the Oxylabs ``amazon_bestsellers`` bodies of every known category node and two unknown
  ones (parsed and raw);
- eBay Browse search bodies for several query shapes per sampled product (long title,
  short words, brand + noun, OR group, exclusion, model code), unfiltered and with the
  run's dropshipper filter, two page sizes and offsets;
- eBay search-result HTML pages through Oxylabs (source ``ebay``), which carry the
  "fewer words" and "international sellers" padding.

The sandbox serves no item pages (no ``/item/`` route). Each part is hashed in a form that
does not depend on how the shard is stored (tuples of plain values, sorted index items).
``tests/collection/marketplaces/test_sandbox_digest.py`` pins the small catalogues' digest.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collection.marketplaces.sandbox import amazon, app, ebay_browse, oxylabs, universe  # noqa: E402
from collection.marketplaces.sandbox.catalogue import CatalogueParams  # noqa: E402
from collection.marketplaces.sandbox.config import SandboxConfig  # noqa: E402

SMALL = {
    "best_sellers_per_page": 12,
    "best_seller_pages": 2,
    "dropshippers": 60,
    "max_listings": 120,
}
# The test's catalogues: every shard still built, a tenth of the listings.
TINY = {"best_sellers_per_page": 4, "best_seller_pages": 1, "dropshippers": 40, "max_listings": 60}
# The filter the collection engine sends (EbayBrowseSearch), with a price band.
RUN_FILTER = (
    "conditionIds:{1000},deliveryCountry:US,maxDeliveryCost:0,itemLocationCountry:US,"
    "buyingOptions:{FIXED_PRICE},price:[5..400],priceCurrency:USD"
)
ORIGIN = "http://127.0.0.1:8765"
UNKNOWN_NODES = ("172541", "999000111")


def configs(*, full: bool = False, tiny: bool = False) -> list[SandboxConfig]:
    sizes = TINY if tiny else SMALL
    out = [
        SandboxConfig(seed=seed, hostile=hostile, **sizes)
        for seed in ((5, 6) if tiny else (1, 2, 3))
        for hostile in (False, True)
    ]
    if full:
        out.append(SandboxConfig(seed=1))
    return out


def _shard_parts(params: CatalogueParams, shard_key: tuple[str, int]):
    shard = universe.build_shard(params, shard_key)
    yield ("shard", shard_key)
    for listing in shard.listings:
        yield tuple(listing)
    yield tuple(sorted(shard.index.items()))
    yield tuple(sorted(shard.by_id.items()))
    yield tuple(sorted(shard.copies.items()))


def _queries(product: amazon.Product) -> list[str]:
    words = product.title.split()
    pieces = dict(product.pieces)
    noun = pieces.get("noun", pieces.get("book", "")).strip(" ,")
    brand = pieces.get("brand", "")
    model = pieces.get("model", "").strip()
    colour = pieces.get("colour", ", Black").strip(" ,")
    queries = [
        product.title[:60],
        " ".join(words[:3]),
        f"{brand} {noun}",
        f"({brand}, Generic) {noun}",
        f"{noun} -{colour}",
        f'{noun} -"{words[-1]}"',
    ]
    if model:
        queries.append(f"{model} {noun.split()[0]}")
    return queries


def _html_url(q: str, *, filtered: bool) -> str:
    params: dict[str, str] = {"_nkw": q, "_sacat": "0", "_ipg": "60"}
    if filtered:
        params |= {"LH_BIN": "1", "LH_ItemCondition": "1000", "LH_Free": "1", "LH_PrefLoc": "1"}
        params |= {"_udlo": "5", "_udhi": "400"}
    return "https://www.ebay.com/sch/i.html?" + urlencode(params)


def catalogue_parts(config: SandboxConfig, *, sample: int):
    params = CatalogueParams.from_config(config)
    nodes = [
        node
        for profile in amazon.PROFILE_NAMES
        for node in amazon.known_nodes_by_profile()[profile]
    ]
    for node in [*nodes, *UNKNOWN_NODES]:
        for parse in (True, False):
            yield oxylabs._amazon_body(params, node, "com", 1, params.pages + 1, parse, None)
    for shard_key in sorted(universe._all_shards()):
        yield from _shard_parts(params, shard_key)
    routing = universe.model_routing(params)  # frozensets: their repr order is hash-seeded
    yield tuple((token, sorted(routing[token])) for token in sorted(routing))
    for profile in amazon.PROFILE_NAMES:
        for product in amazon.profile_products(params, profile)[::sample]:
            for q in _queries(product):
                for raw_filter in ("", RUN_FILTER):
                    yield ebay_browse.browse_body(params, ORIGIN, q, raw_filter, 50, 0)
                yield ebay_browse.browse_body(params, ORIGIN, q, RUN_FILTER, 200, 0)
                yield ebay_browse.browse_body(params, ORIGIN, q, "", 20, 20)
            for q in _queries(product)[:2]:
                for filtered in (False, True):
                    url = _html_url(q, filtered=filtered)
                    search = oxylabs._parse_ebay_url(url)
                    assert search is not None
                    yield oxylabs._ebay_page_body(params, "ebay", url, search)


def digest(catalogues: list[SandboxConfig], *, sample: int = 7) -> str:
    total = hashlib.sha256()
    for config in catalogues:
        app.caches_clear()
        for part in catalogue_parts(config, sample=sample):
            total.update(part if isinstance(part, bytes) else repr(part).encode())
        app.caches_clear()
    return total.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="add the default catalogue (seed 1)")
    parser.add_argument("--tiny", action="store_true", help="the test's catalogues only")
    parser.add_argument("--expect", help="the digest it must give (exit 1 otherwise)")
    args = parser.parse_args()
    began = time.process_time()
    found = digest(configs(full=args.full, tiny=args.tiny), sample=4 if args.tiny else 7)
    print(f"{found}  ({time.process_time() - began:.1f} s CPU)")
    if args.expect and found != args.expect:
        print(f"DIFFERENT: expected {args.expect}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
