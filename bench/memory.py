"""Figure 4 — memory: peak RSS of a run at 1× and 10× the number of products.

Each run is a real collection (``run_execute``, MARKETPLACE=live against the loopback
sandbox in another process) in a fresh child process; the child reports ``ru_maxrss``
(the peak resident set of its whole life: interpreter, Django, the run) and the RSS it
had right before the run started, so the growth caused by the run shows separately.
1× = 2 categories × 2 best-seller pages (~200 products), 10× = 20 categories (~2,000
products); eBay pages per product: the default 3 (a page more while results say
has_next). Target: peak 10× ≤ 1.5 × peak 1×.

    .venv/bin/python bench/memory.py [--base-categories 2] [--workers 50] [--latency-ms 5]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    Stopwatch,
    live_environment,
    loopback_sandbox,
    machine,
    run_child,
    table,
)

SCRIPT = Path(__file__).resolve()
TARGET_RATIO = 1.5


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(args) -> dict:
    from bench._common import reset_run_tables, run_create_for_bench
    from bench._django import bench_setup

    bench_setup()
    reset_run_tables()
    from collection.engine import run_execute
    from collection.models import CollectionRun

    run = run_create_for_bench(categories=args.categories, workers=args.workers, ebay_pages=3)
    rss_before = _rss_kib()
    with Stopwatch() as watch:
        report = run_execute(run_id=run.pk, workers=args.workers)
    run = CollectionRun.objects.get(pk=run.pk)
    return {
        "categories": args.categories,
        "status": report.status,
        "products": run.products_found,
        "ebay_searches": run.ebay_searches,
        "requests": run.requests,
        "sightings": run.sightings,
        "sellers_found": run.sellers_found,
        "events": run.event_seq,
        "wall_s": watch.wall,
        "cpu_s": watch.cpu,
        "rss_before_run_kib": rss_before,
        "rss_after_run_kib": _rss_kib(),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--categories", type=int, default=0)
    parser.add_argument("--base-categories", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    started = time.monotonic()
    results = {}
    with loopback_sandbox(latency_ms=args.latency_ms, seed=1) as base_url:
        env = live_environment(base_url)
        for scale in (1, args.scale):
            categories = args.base_categories * scale
            results[scale] = run_child(
                SCRIPT,
                ["--categories", str(categories), "--workers", str(args.workers)],
                env=env,
            )
    one, many = results[1], results[args.scale]
    ratio = many["maxrss_kib"] / one["maxrss_kib"]
    growth_one = one["maxrss_kib"] - one["rss_before_run_kib"]
    growth_many = many["maxrss_kib"] - many["rss_before_run_kib"]
    ok = one["status"] == many["status"] == "completed"
    rows = []
    for scale, r in results.items():
        rows.append(
            [
                f"{scale}×",
                r["products"],
                r["ebay_searches"],
                r["sightings"],
                r["events"],
                f"{r['rss_before_run_kib'] / 1024:.1f}",
                f"{r['maxrss_kib'] / 1024:.1f}",
                f"{(r['maxrss_kib'] - r['rss_before_run_kib']) / 1024:.1f}",
                f"{r['wall_s']:.1f}",
            ]
        )
    print()
    print(
        f"Figure 4 — memory: peak RSS of a run's process at 1× and {args.scale}× the products "
        f"({args.workers} workers, {args.latency_ms:g} ms latency, up to 3 eBay pages)"
    )
    print(
        table(
            rows,
            [
                "run",
                "products",
                "eBay searches",
                "sightings",
                "events",
                "RSS before run MiB",
                "peak RSS MiB",
                "growth MiB",
                "wall s",
            ],
        )
    )
    print(f"  peak {args.scale}× / peak 1× = {ratio:.3f} (target ≤ {TARGET_RATIO})")
    load = os.getloadavg()
    print(
        f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"bench took {time.monotonic() - started:.0f} s"
    )
    print()
    print(
        json.dumps(
            {
                "figure": "memory",
                "ok": ok,
                "runs": {f"{k}x": v for k, v in results.items()},
                "ratio": round(ratio, 4),
                "growth_kib": {"1x": growth_one, f"{args.scale}x": growth_many},
                "target_ratio": TARGET_RATIO,
                "target_met": ratio <= TARGET_RATIO,
                "machine": machine(),
                "loadavg": load,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
