"""The sandbox's bytes are pinned: it is the ground truth of bench/matching.py and of many
tests, so a change made for speed must not move a single byte of what it serves.

The digest covers small catalogues of two seeds, plain and hostile (every shard, Amazon
best-seller bodies, Browse bodies for several query shapes, eBay HTML pages); see
``bench/sandbox_digest.py``, which also checks larger catalogues and the default one
(``--full``). A deliberate change of the sandbox's data updates the pinned value (and says
so in its commit).
"""

from __future__ import annotations

from bench.sandbox_digest import configs, digest

TINY_DIGEST = "bbcdfca4871076112dcd7a4a8eb5dcb70a931618bda1baec21869875e19e2761"


def test_the_sandbox_serves_the_same_bytes_as_pinned():
    assert digest(configs(tiny=True), sample=4) == TINY_DIGEST
