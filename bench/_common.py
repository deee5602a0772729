"""Shared pieces of the benchmarks: the loopback sandbox, the live-mode environment, the
bench database, child processes and number formatting.

Every figure script starts the sandbox marketplace as a real HTTP server in *another*
process (``collection.marketplaces.sandbox.server``), so its CPU never counts as ours, and
runs each measured collection in a fresh child process (``python bench/<figure>.py
--child …``) on the bench database of ``bench/_django.py`` (never the dev database). The
child prints one JSON line last; the parent parses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Fake credentials: the emulator accepts any non-empty ones.
LIVE_CREDENTIALS = {
    "OXYLABS_USERNAME": "bench-user",
    "OXYLABS_PASSWORD": "bench-password",
    "EBAY_CLIENT_ID": "Bench-SellerSc-PRD-000000000-00000000",
    "EBAY_CLIENT_SECRET": "PRD-bench-0000-0000-0000-0000",
}
# Quotas stay metered as in production (the tracker's reservations are part of the cost),
# with limits no bench reaches; request-rate limits are off.
BENCH_QUOTAS = "ebay=1000000000/day@0,oxylabs=1000000000/month@1"
BENCH_SECRET_KEY = "bench-only-not-a-secret-0123456789abcdef"
CHILD_TIMEOUT_S = 300


def live_environment(base_url: str, **extra: str) -> dict[str, str]:
    """Environment variables that point the real clients at the loopback sandbox."""
    env = {
        "MARKETPLACE": "live",
        "OXYLABS_BASE_URL": base_url,
        "EBAY_API_BASE_URL": base_url,
        **LIVE_CREDENTIALS,
        "COLLECTION_RATE_LIMITS": "oxylabs=0,ebay=0",
        "COLLECTION_QUOTAS": BENCH_QUOTAS,
        "COLLECTION_LOG_LEVEL": "WARNING",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": BENCH_SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def loopback_sandbox(**config) -> Iterator[str]:
    """The sandbox marketplace on 127.0.0.1 in its own process; yields its base URL."""
    from collection.marketplaces.sandbox.config import SandboxConfig
    from collection.marketplaces.sandbox.server import sandbox_server

    config.setdefault("request_log_size", 200_000)
    # The sandbox enforces and reports (Developer Analytics) a Browse quota this large, as
    # for a keyset granted a high call limit; the default 5,000/day would cap the tracker's
    # blocks at 50 requests (1 % of the limit) and end a day's quota within seconds.
    config.setdefault("daily_quota", 1_000_000_000)
    # Days on the Unix epoch (UTC midnight), as the in-process sandbox of the settings and
    # as eBay's fixed daily reset: a day starting when the sandbox starts would put the
    # tracker's window boundary (the reset, rounded to the minute) within the first
    # seconds of a run, where every request waits out the 2 s guard before a new window.
    config.setdefault("quota_epoch", 0.0)
    with sandbox_server(SandboxConfig(**config), subprocess=True) as running:
        yield running.base_url


def sandbox_requests(base_url: str) -> list[dict]:
    """The sandbox's request log (time, method, path, provider, status, duration_ms)."""
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/__sandbox__/requests", timeout=30) as reply:
        return json.load(reply)["requests"]


def sandbox_cpu_seconds(base_url: str) -> float:
    """CPU time of the sandbox's process so far (it shares this machine's cores)."""
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/__sandbox__/cpu", timeout=30) as reply:
        return float(json.load(reply)["process_time_s"])


def sandbox_request_counts(base_url: str) -> dict[str, int]:
    """Requests the sandbox answered so far, per path (from its request log)."""
    rows = sandbox_requests(base_url)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["path"]] = counts.get(row["path"], 0) + 1
    return counts


def run_child(
    script: Path, args: list[str], *, env: dict[str, str], timeout: float = CHILD_TIMEOUT_S
) -> dict:
    """Run ``script --child args`` in a fresh interpreter; return its last JSON line."""
    command = [sys.executable, str(script), "--child", *args]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        sys.stderr.write(completed.stderr[-4000:])
        raise RuntimeError(f"{script.name} child {args} exited {completed.returncode}")
    return json.loads(lines[-1])


# --- the bench database ------------------------------------------------------------------

# Everything a run writes (the catalogue of categories and presets stays).
RUN_TABLES = [
    "activity_runevent",
    "collection_sellerchange",
    "collection_sellersighting",
    "collection_sellersnapshot",
    "collection_seller",
    "collection_productcategory",
    "collection_runtask",
    "collection_product",
    "collection_collectionrun",
    "collection_providerusage",
]


def reset_run_tables() -> None:
    """Empty what earlier bench runs wrote, so every measurement starts alike."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        present = {row[0] for row in cursor.fetchall()}
        tables = [t for t in RUN_TABLES if t in present]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def bench_categories(count: int) -> list[str]:
    """``count`` leaf categories of the catalogue, always the same ones."""
    from collection.models import Category

    node_ids = list(
        Category.objects.filter(is_department=False)
        .order_by("node_id")
        .values_list("node_id", flat=True)[:count]
    )
    if len(node_ids) < count:
        node_ids += list(
            Category.objects.filter(is_department=True)
            .order_by("node_id")
            .values_list("node_id", flat=True)[: count - len(node_ids)]
        )
    return node_ids


def run_create_for_bench(
    *, categories: int, workers: int, amazon_pages: int = 2, ebay_pages: int = 1
):
    from collection.services.lifecycle import categories_resolve, run_create

    return run_create(
        categories=categories_resolve(node_ids=bench_categories(categories)),
        workers=workers,
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
    )


# --- reporting ---------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory_gib = round(kb / 1024 / 1024, 1)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  "
            + "  ".join(
                (c.ljust(w) if i == 0 else c.rjust(w))
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def median(values: list[float]) -> float:
    return statistics.median(values)


class Stopwatch:
    """Wall and CPU time (this process) of a block."""

    def __enter__(self) -> Stopwatch:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
