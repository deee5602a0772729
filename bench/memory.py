"""Figure 4 — memory: peak RSS of a run at 1× and 10× the number of products.

Each run is a real collection (``run_execute``, MARKETPLACE=live against the loopback
sandbox in another process) in a fresh child process; the child reports ``ru_maxrss``
(the peak resident set of its whole life: interpreter, Django, the run) and the RSS it
had right before the run started, so the growth caused by the run shows separately.
1× = 2 categories × 2 best-seller pages (~200 products), 10× = 20 categories (~2,000
products); eBay pages per product: the default 3 (a page more while results say
has_next). Target (issue 16): peak 10× ≤ 1.2 × peak 1×. The pair runs ``--reps`` times
(1× then 10×, alternated); the ratio is reported as median [min–max] over the pairs.

``--trace`` runs the pair once more under ``tracemalloc`` (slower, and RSS is not
comparable then) and prints where the Python-level growth is at the traced peak: the
lines that allocated what was alive then and not before the run (a snapshot is taken each
time the traced total grows by 5 %; the largest is compared with one taken before the run).
Memory outside Python's allocator (libpq, malloc fragmentation) does not show there.

    .venv/bin/python bench/memory.py [--reps 3] [--trace] [--base-categories 2] [--workers 50]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import sys
import threading
import time
import tracemalloc
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
TARGET_RATIO = 1.2
TRACE_TOP = 12


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakTracer:
    """tracemalloc from now on; ``stop`` says what was alive at the traced peak and not
    before, by the line that allocated it (see the module docstring)."""

    def __init__(self) -> None:
        tracemalloc.start(1)
        self.before = tracemalloc.take_snapshot()
        self.peak: tracemalloc.Snapshot | None = None
        self.peak_bytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.25):
            current, _ = tracemalloc.get_traced_memory()
            if current > self.peak_bytes * 1.05:
                self.peak, self.peak_bytes = tracemalloc.take_snapshot(), current

    def stop(self) -> dict:
        self._done.set()
        self._thread.join()
        _, peak = tracemalloc.get_traced_memory()
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        after = (self.peak or tracemalloc.take_snapshot()).filter_traces(ignore)
        stats = after.compare_to(self.before.filter_traces(ignore), "lineno")
        tracemalloc.stop()
        root = str(Path(__file__).resolve().parent.parent) + "/"
        return {
            "traced_peak_kib": peak // 1024,
            "snapshot_kib": self.peak_bytes // 1024,
            "lines": [
                [str(stat.traceback[0]).replace(root, ""), stat.size_diff // 1024, stat.count_diff]
                for stat in stats[:TRACE_TOP]
            ],
        }


def child(args) -> dict:
    from bench._common import reset_run_tables, run_create_for_bench
    from bench._django import bench_setup

    bench_setup()
    reset_run_tables()
    from collection.engine import run_execute
    from collection.models import CollectionRun

    run = run_create_for_bench(categories=args.categories, workers=args.workers, ebay_pages=3)
    tracer = PeakTracer() if args.trace else None
    rss_before = _rss_kib()
    with Stopwatch() as watch:
        report = run_execute(run_id=run.pk, workers=args.workers)
    growth = tracer.stop() if tracer else None
    run = CollectionRun.objects.get(pk=run.pk)
    return {
        **({"growth_top": growth} if growth else {}),
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


def _spread(values: list[float], fmt: str = ".1f") -> str:
    return (
        f"{statistics.median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"
        if len(values) > 1
        else f"{values[0]:{fmt}}"
    )


def _mib(kib: float) -> float:
    return kib / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--categories", type=int, default=0)
    parser.add_argument("--base-categories", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--reps", type=int, default=3, help="1×/10× pairs measured")
    parser.add_argument("--trace", action="store_true", help="one more pair under tracemalloc")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    started = time.monotonic()
    scales = (1, args.scale)
    results: dict[int, list[dict]] = {scale: [] for scale in scales}
    traced: dict[int, dict] = {}

    def measure(scale: int, *extra: str) -> dict:
        categories = args.base_categories * scale
        return run_child(
            SCRIPT,
            ["--categories", str(categories), "--workers", str(args.workers), *extra],
            env=env,
        )

    with loopback_sandbox(latency_ms=args.latency_ms, seed=1) as base_url:
        env = live_environment(base_url)
        for _ in range(args.reps):
            for scale in scales:
                results[scale].append(measure(scale))
        if args.trace:
            for scale in scales:
                traced[scale] = measure(scale, "--trace")
    ratios = [
        many["maxrss_kib"] / one["maxrss_kib"]
        for one, many in zip(results[1], results[args.scale], strict=True)
    ]
    ratio = statistics.median(ratios)
    ok = all(r["status"] == "completed" for runs in results.values() for r in runs)
    rows = []
    for scale, runs in results.items():
        first = runs[0]
        rows.append(
            [
                f"{scale}×",
                first["products"],
                first["ebay_searches"],
                first["sightings"],
                first["events"],
                _spread([_mib(r["rss_before_run_kib"]) for r in runs]),
                _spread([_mib(r["maxrss_kib"]) for r in runs]),
                _spread([_mib(r["maxrss_kib"] - r["rss_before_run_kib"]) for r in runs]),
                _spread([r["wall_s"] for r in runs]),
            ]
        )
    print()
    print(
        f"Figure 4 — memory: peak RSS of a run's process at 1× and {args.scale}× the products "
        f"({args.workers} workers, {args.latency_ms:g} ms latency, up to 3 eBay pages; "
        f"median [min–max] of {args.reps})"
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
    print(
        f"  peak {args.scale}× / peak 1× = {_spread(ratios, '.3f')} "
        f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)}; target ≤ {TARGET_RATIO})"
    )
    for scale, run in traced.items():
        growth = run["growth_top"]
        print(
            f"  {scale}× under tracemalloc: traced peak {_mib(growth['traced_peak_kib']):.1f} MiB, "
            f"peak RSS {_mib(run['maxrss_kib']):.1f} MiB; alive at the traced peak, not before "
            "the run (KiB, blocks, allocated at):"
        )
        for where, kib, count in growth["lines"]:
            print(f"    {kib:>8,} {count:>8,}  {where}")
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
                "ratios": [round(r, 4) for r in ratios],
                "growth_kib": {
                    f"{k}x": [r["maxrss_kib"] - r["rss_before_run_kib"] for r in v]
                    for k, v in results.items()
                },
                "traced": {f"{k}x": v["growth_top"] for k, v in traced.items()},
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
