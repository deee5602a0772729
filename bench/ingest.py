"""Figure 2 — ingest: sellers and sightings through the store's real code path.

Against a table of 1,000,000 existing sellers (plus a history of sightings), store the
results of an eBay phase — 200,000 listings by 50,000 sellers (30 % already known) over
4,000 product pages — through ``collection.store.results_store`` in batches of 200 tasks,
exactly as the engine flushes them. Report sellers/s and rows/s, and the ratio to a raw
``COPY`` of the same rows into unindexed temp tables measured in the same script.

    .venv/bin/python bench/ingest.py [--modes per_batch,per_run] [--repeat 3]
        [--existing 1000000] [--profile] [--statements]

Each round measures every ``COLLECTION_SELLER_COUNTERS`` mode once from the same state and
the same outcomes: per_batch (the default: known sellers' rows move with every batch) and
per_run (staged, then settled as when the run stops; the settle is part of its wall time).

Uses its own database (see ``bench/_django.py``): by default
``postgres://postgres@127.0.0.1:5432/scout_bench``. The 1M sellers are generated in SQL
(``generate_series``) when missing, else a previous run's changes are undone and they are
reused (``--fresh`` regenerates). ``--shape grouped`` puts all of a seller's listings in
one batch (each seller upserted once) instead of anywhere in the run. ``--statements``
prints the wall and PostgreSQL CPU time of each statement the store ran (COMMIT included),
``--profile`` cProfiles the client. Prints a line per round, a table (median [min–max] of
the rounds per mode), then one JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import bench_setup  # noqa: E402

TABLES = [
    "collection_sellerchange",
    "collection_sellerrunpending",
    "collection_sellersighting",
    "collection_sellersnapshot",
    "collection_seller",
    "collection_productcategory",
    "collection_runtask",
    "collection_product",
    "collection_collectionrun",
]


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time of a PostgreSQL backend (same machine), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def cpu_calibration() -> float:
    """CPU seconds of a fixed pure-Python loop (10M additions): ~0.5 s on a quiet core of
    this machine class; shared or throttled cores show it, so figures can be compared."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def reuse_database(*, existing: int, history: int) -> dict | None:
    """Undo a previous bench run if the generated data is there; else None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM collection_seller WHERE normalized LIKE 'old%%'")
        old_sellers = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM collection_sellersighting WHERE run_id = 1")
        old_sightings = cursor.fetchone()[0]
        if (old_sellers, old_sightings) != (existing, history):
            return None
        started = time.perf_counter()
        cursor.execute("DELETE FROM collection_sellerchange")
        cursor.execute("DELETE FROM collection_sellerrunpending")
        cursor.execute("DELETE FROM collection_sellersighting WHERE run_id <> 1")
        cursor.execute("DELETE FROM collection_seller WHERE normalized NOT LIKE 'old%%'")
        cursor.execute(
            "UPDATE collection_seller SET last_seen_run_id = 1, times_seen = (id <= %s)::int,"
            " products_matched = (id <= %s)::int, runs_seen = (id <= %s)::int,"
            " score = CASE WHEN id <= %s THEN 1.0693 ELSE 0 END, feedback_score = id %% 5000,"
            " feedback_percent = 99.0, username = 'Old' || substr(normalized, 4)"
            " WHERE last_seen_run_id <> 1",
            [history] * 4,
        )
        cursor.execute("DELETE FROM collection_runtask")
        cursor.execute("DELETE FROM collection_productcategory")
        cursor.execute("DELETE FROM collection_product WHERE asin NOT LIKE 'B0HIST%%'")
        cursor.execute("DELETE FROM collection_collectionrun WHERE id <> 1")
        restored = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"existing_sellers_s": 0.0, "history_sightings_s": 0.0, "reused_s": restored}


def prepare_database(*, existing: int, history: int) -> dict:
    """Empty the bench tables, then 1M sellers and a history of sightings (SQL-side)."""
    from django.db import connection

    timings = {}
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute(
            "INSERT INTO collection_collectionrun (status, phase, pause_reason, status_message,"
            " requested_action, workers, amazon_pages, ebay_pages, ebay_queries,"
            " markup_min_percent,"
            " markup_max_percent, products_found, ebay_searches, sellers_found, sellers_new,"
            " sightings, requests, retries, failed_tasks, skipped_records, stats, estimate,"
            " event_seq, created_at, executor, failure_reason)"
            " VALUES ('completed', 'done', '', '', '', 5, 1, 1, 2, 80, 120, 0, 0, 0, 0, 0, 0, 0, 0,"
            " 0, '{}', '{}', 0, now() - interval '1 day', '', '') RETURNING id"
        )
        old_run = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO collection_seller (username, normalized, display_name, feedback_score,"
            " feedback_percent, first_seen_run_id, last_seen_run_id, first_seen_at, last_seen_at,"
            " times_seen, products_matched, runs_seen, score, flagged, created_at, updated_at)"
            " SELECT 'Old' || lpad(i::text, 7, '0'), 'old' || lpad(i::text, 7, '0'), '',"
            " i %% 5000, 99.0, %s, %s, now(), now(), (i <= %s)::int, (i <= %s)::int,"
            " (i <= %s)::int, CASE WHEN i <= %s THEN 1.0693 ELSE 0 END, false, now(), now()"
            " FROM generate_series(1, %s) AS i",
            [old_run, old_run, history, history, history, history, existing],
        )
        timings["existing_sellers_s"] = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(
            "INSERT INTO collection_product (asin, title, price, currency, url, created_at,"
            " updated_at) SELECT 'B0HIST' || lpad(i::text, 4, '0'), 'History ' || i, 10, 'USD',"
            " '', now(), now() FROM generate_series(1, 1000) AS i"
        )
        cursor.execute(
            "INSERT INTO collection_sellersighting (run_id, seller_id, product_id, item_id,"
            " listing_price, currency, created_at)"
            " SELECT %s, s.id, (SELECT min(id) FROM collection_product) + (s.id %% 1000),"
            " 'h' || s.id, 19.99, 'USD', now()"
            " FROM collection_seller s WHERE s.id <= %s",
            [old_run, history],
        )
        timings["history_sightings_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # autocommit outside atomic: a steady-state table
    timings["vacuum_s"] = time.perf_counter() - started
    return timings


def prepare_run(*, products: int):
    """A running run in its eBay phase: one product page task per product, claimed."""
    from collection.models import CollectionRun, Product, RunTask
    from collection.store import tasks_claim

    run = CollectionRun.objects.create(
        status=CollectionRun.Status.RUNNING, phase=CollectionRun.Phase.EBAY, ebay_pages=1
    )
    rows = Product.objects.bulk_create(
        [
            Product(asin=f"B0BENCH{i:05d}", title=f"Bench product {i}", price=Decimal("20.00"))
            for i in range(products)
        ],
        batch_size=2000,
    )
    RunTask.objects.bulk_create(
        [RunTask(run=run, phase="ebay", key=f"ebay:{p.asin}:1", product=p) for p in rows],
        batch_size=2000,
    )
    claimed = tasks_claim(
        run_id=run.pk, phase="ebay", executor="bench", limit=products, lease_seconds=3600
    )
    return run, claimed


def seller_names(*, sellers: int, known: int, existing: int, rng: random.Random) -> list[str]:
    """Usernames as a marketplace returns them: known ones in other spellings, a few
    non-ASCII names (the slow normalization path)."""
    known_ids = rng.sample(range(1, existing + 1), known)
    names = [(f"OLD{i:07d}" if n % 2 else f"Old{i:07d}") for n, i in enumerate(known_ids)]
    for n in range(sellers - known):
        name = f"NewSeller_{n:06d}"
        if n % 50 == 0:
            name = f"Ｎｅｗ{n:06d}-über"  # full-width + umlaut
        names.append(name)
    rng.shuffle(names)
    return names


def build_outcomes(
    tasks,
    names: list[str],
    *,
    per_page: int,
    rng: random.Random,
    shape: str = "spread",
    tasks_per_batch: int = 200,
):
    """Every seller on ``len(tasks) * per_page / len(names)`` distinct product pages.

    ``spread``: a seller's pages are anywhere in the run (as in a real run, where a
    dropshipper lists best sellers of many categories), so it is upserted by several
    batches. ``grouped``: all of a seller's pages fall in one batch (each seller is
    upserted once: the shape of "upsert 50,000 sellers").
    """
    from collection.marketplaces.base import Listing
    from tests.collection.builders import done, listing_page

    permutation = list(range(len(names)))
    rng.shuffle(permutation)
    slots = len(tasks) * per_page
    repeats = slots // len(names)
    per_batch = tasks_per_batch * per_page // repeats  # sellers per batch when grouped
    outcomes = []
    for p, task in enumerate(tasks):
        listings = []
        for j in range(per_page):
            slot = p * per_page + j
            if shape == "grouped":
                batch, within = divmod(slot, tasks_per_batch * per_page)
                index = batch * per_batch + within % per_batch
            else:
                index = slot % len(names)
            name = names[permutation[index]]
            listings.append(
                Listing(
                    item_id=f"{task.id}{j:03d}",
                    title=f"Listing {p}-{j}",
                    price=Decimal(3600 + rng.randint(0, 800)) / 100,
                    currency="USD",
                    seller_username=name,
                    seller_feedback_score=rng.randint(0, 50_000),
                    seller_feedback_percent=Decimal(rng.randint(900, 1000)) / 10,
                )
            )
        outcomes.append(done(task.id, listing_page(listings)))
    return outcomes


def statement_timers(pids: dict[int, int]) -> dict:
    """Wrap the store's cursors (``_postgres._Cursor`` and Django's) with wall and backend-CPU
    timers per statement (keyed by its first SQL words); returns the live totals. ``pids``
    maps each storing thread to its backend (filled as threads start)."""
    import threading

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper

    from collection.store import _postgres

    totals: dict[str, list[float]] = {}

    def timed(execute):
        def wrapper(self, sql, params=None, *args, **kwargs):
            words = " ".join(str(sql).split())
            key = words[:90]
            pid = pids.get(threading.get_ident())
            cpu0 = backend_cpu_seconds(pid) if pid else 0.0
            t0 = time.perf_counter()
            try:
                return execute(self, sql, params, *args, **kwargs)
            finally:
                row = totals.setdefault(key, [0, 0.0, 0.0])
                row[0] += 1
                row[1] += time.perf_counter() - t0
                if pid:
                    row[2] += backend_cpu_seconds(pid) - cpu0

        return wrapper

    _postgres._Cursor.execute = timed(_postgres._Cursor.execute)
    CursorWrapper.execute = timed(CursorWrapper.execute)
    # COMMIT: deferred constraint triggers (Django's foreign keys) run there.
    commit = BaseDatabaseWrapper._commit
    timed_commit = timed(lambda self, sql, params=None: commit(self))
    BaseDatabaseWrapper._commit = lambda self: timed_commit(self, "COMMIT")
    return totals


def print_statement_timers(totals: dict) -> None:
    print(f"  {'statement':<92}{'n':>5}{'wall s':>9}{'pg CPU s':>10}")
    for key, (n, wall, cpu) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        print(f"  {key:<92}{n:>5}{wall:>9.2f}{cpu:>10.2f}")
    print()


def store_all(
    run,
    outcomes,
    *,
    tasks_per_batch: int,
    in_flight: int,
    profile: bool,
    statements: bool = False,
):
    """Store the outcomes in batches, ``in_flight`` at a time, as the engine's writer does:
    each storing thread has its own connection (``COLLECTION_STORES_IN_FLIGHT``)."""
    import threading

    from django.db import connection

    from collection.store import results_store

    batches = [
        outcomes[start : start + tasks_per_batch]
        for start in range(0, len(outcomes), tasks_per_batch)
    ]
    pids: dict[int, int] = {}  # thread → its backend, for the statement timers
    server_spent: list[float] = []  # each backend's CPU seconds
    timers = statement_timers(pids) if statements else None
    profilers: list[cProfile.Profile] = []
    batch_times: list[float] = []
    totals = {"sellers_new": 0, "sightings_new": 0, "sellers_seen": 0}
    errors: list[BaseException] = []
    lock = threading.Lock()
    pending = iter(range(len(batches)))
    ready = threading.Barrier(in_flight + 1)

    def storer() -> None:
        pid = before = None
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            pids[threading.get_ident()] = pid
            before = backend_cpu_seconds(pid)
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profilers.append(profiler)
            ready.wait()
            while not errors:
                with lock:
                    index = next(pending, None)
                if index is None:
                    break
                batch = batches[index]
                t0 = time.perf_counter()
                if profiler:
                    profiler.enable()
                result = results_store(
                    run_id=run.pk, outcomes=batch, counters={"requests": len(batch)}
                )
                if profiler:
                    profiler.disable()
                with lock:
                    batch_times.append(time.perf_counter() - t0)
                    totals["sellers_new"] += result.sellers_new
                    totals["sightings_new"] += result.sightings_new
                    totals["sellers_seen"] += result.sellers_seen
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            ready.abort()
        finally:
            after = backend_cpu_seconds(pid) if pid is not None else None
            if before is not None and after is not None:
                with lock:
                    server_spent.append(after - before)
            connection.close()

    threads = [threading.Thread(target=storer, name=f"store-{n}") for n in range(in_flight)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    cpu_before = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    if errors:
        raise errors[0]
    server_cpu = sum(server_spent) if len(server_spent) == in_flight else None
    if timers is not None:
        print_statement_timers(timers)
    if profilers:
        out = io.StringIO()
        stats = pstats.Stats(profilers[0], stream=out)
        for extra in profilers[1:]:
            stats.add(extra)
        stats.sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    return wall, client_cpu, server_cpu, batch_times, totals


def copy_baseline(outcomes) -> tuple[float, int]:
    """Raw COPY of the same rows (sellers + sightings) into unindexed temp tables."""
    from django.db import connection, transaction

    from collection.normalize import seller_key

    sellers: dict[str, tuple] = {}
    sightings = []
    for outcome in outcomes:
        for item in outcome.listings.listings:
            key = seller_key(item.seller_username)
            sellers.setdefault(
                key,
                (
                    item.seller_username,
                    key,
                    item.seller_feedback_score,
                    item.seller_feedback_percent,
                ),
            )
            sightings.append((key, outcome.task_id, item.item_id, item.price, item.currency))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE copy_sellers (username text, normalized text, feedback_score int,"
            " feedback_percent numeric) ON COMMIT DROP"
        )
        cursor.execute(
            "CREATE TEMP TABLE copy_sightings (seller text, task_id bigint, item_id text,"
            " listing_price numeric, currency text) ON COMMIT DROP"
        )
        raw = cursor.cursor  # the psycopg cursor
        started = time.perf_counter()
        with raw.copy("COPY copy_sellers FROM STDIN") as copy:
            for row in sellers.values():
                copy.write_row(row)
        with raw.copy("COPY copy_sightings FROM STDIN") as copy:
            for row in sightings:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
    return elapsed, len(sellers) + len(sightings)


def verify(run, *, existing: int, sellers: int, known: int, sightings: int) -> dict:
    from django.db.models import Sum

    from collection.models import CollectionRun, Seller, SellerChange, SellerSighting

    run = CollectionRun.objects.get(pk=run.pk)
    new = sellers - known
    checks = {
        "sellers_total": (Seller.objects.count(), existing + new),
        "added_changes": (SellerChange.objects.filter(run=run).count(), new),
        "sightings": (SellerSighting.objects.filter(run=run).count(), sightings),
        "run.sellers_new": (run.sellers_new, new),
        "run.sellers_found": (run.sellers_found, sellers),
        "run.sightings": (run.sightings, sightings),
        "times_seen (this run)": (
            Seller.objects.filter(last_seen_run=run).aggregate(n=Sum("times_seen"))["n"],
            None,  # filled below
        ),
    }
    history = SellerSighting.objects.filter(seller__last_seen_run=run).exclude(run=run).count()
    checks["times_seen (this run)"] = (checks["times_seen (this run)"][0], sightings + history)
    max_after = SellerChange.objects.filter(run=run).order_by("-seller_count_after").first()
    checks["last seller_count_after"] = (max_after.seller_count_after, existing + new)
    return checks


def measure(args, *, mode: str, known: int, products: int, history: int) -> dict:
    """One measured ingest in one ``COLLECTION_SELLER_COUNTERS`` mode, from the same state
    (the previous run's changes undone) and the same outcomes (same seed)."""
    from django.conf import settings

    from collection.store import clean, seller_counters_settle

    prep = None
    if not args.fresh:
        prep = reuse_database(existing=args.existing, history=history)
    if prep is None:
        prep = prepare_database(existing=args.existing, history=history)
    args.fresh = False  # once
    rng = random.Random(args.seed)
    run, tasks = prepare_run(products=products)
    names = seller_names(sellers=args.sellers, known=known, existing=args.existing, rng=rng)
    outcomes = build_outcomes(
        tasks,
        names,
        per_page=args.per_page,
        rng=rng,
        shape=args.shape,
        tasks_per_batch=args.tasks_per_batch,
    )
    calibration = cpu_calibration()
    clean._names.clear()  # a process starts a run with no name cleaned yet
    settings.COLLECTION_SELLER_COUNTERS = mode
    wall, client_cpu, server_cpu, batch_times, totals = store_all(
        run,
        outcomes,
        tasks_per_batch=args.tasks_per_batch,
        in_flight=args.in_flight,
        profile=args.profile,
        statements=args.statements,
    )
    # per_run: the staged counters settled as when the run stops, counted in the figure.
    started = time.perf_counter()
    seller_counters_settle(run_id=run.pk)
    settle = time.perf_counter() - started
    total = wall + settle
    checks = verify(
        run, existing=args.existing, sellers=args.sellers, known=known, sightings=args.sightings
    )
    batch_times.sort()
    return {
        "mode": mode,
        "prep": prep,
        "outcomes": outcomes,
        "calibration": calibration,
        "load": os.getloadavg()[0],
        "wall": total,
        "batches_wall": wall,
        "settle": settle,
        "client_cpu": client_cpu,
        "server_cpu": server_cpu,
        "batch_p50": batch_times[len(batch_times) // 2],
        "batch_max": batch_times[-1],
        "batches": len(batch_times),
        "checks": checks,
        "ok": all(got == want for got, want in checks.values()),
    }


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    ordered = sorted(values)
    return (
        f"{fmt.format(statistics.median(ordered))} "
        f"[{fmt.format(ordered[0])}–{fmt.format(ordered[-1])}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument(
        "--history",
        type=int,
        default=1_000_000,
        help="existing sellers that have one sighting in an earlier run",
    )
    parser.add_argument("--sellers", type=int, default=50_000)
    parser.add_argument("--known-share", type=float, default=0.30)
    parser.add_argument("--sightings", type=int, default=200_000)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--tasks-per-batch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument(
        "--shape",
        choices=["spread", "grouped"],
        default="spread",
        help="spread: a seller's listings anywhere in the run (default); grouped: all in one batch",
    )
    parser.add_argument(
        "--modes",
        default="per_batch,per_run",
        help="COLLECTION_SELLER_COUNTERS modes to measure, in turn (default both)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds (each measures every mode once)"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=None,
        help="batches stored at once, each on its own thread and connection"
        " (default: COLLECTION_STORES_IN_FLIGHT, as the engine's writer)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the store calls")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="time each SQL statement of the store (wall and PostgreSQL CPU); "
        "adds a /proc read per statement, so not for the figure",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="regenerate the existing sellers even if a previous run left them "
        "intact (by default its changes are undone and they are reused)",
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("per_batch", "per_run") for m in modes):
        parser.error("--modes: per_batch and/or per_run")

    url = bench_setup()
    from django.conf import settings
    from django.db import connection

    if args.in_flight is None:
        args.in_flight = settings.COLLECTION_STORES_IN_FLIGHT
    if args.in_flight < 1:
        parser.error("--in-flight: 1 or more")

    known = round(args.sellers * args.known_share)
    products = args.sightings // args.per_page
    if args.sightings % args.per_page or (products * args.per_page) % args.sellers:
        parser.error("sightings must be a multiple of per-page and of sellers")
    history = min(args.history, args.existing)

    rounds: dict[str, list[dict]] = {mode: [] for mode in modes}
    for number in range(args.repeat):
        for mode in modes:
            m = measure(args, mode=mode, known=known, products=products, history=history)
            rounds[mode].append(m)
            print(
                f"  round {number + 1} {mode:<9} {args.sellers / m['wall']:>8,.0f} sellers/s"
                f"  ({m['wall']:.2f} s: batches {m['batches_wall']:.2f} + settle"
                f" {m['settle']:.2f}; client {m['client_cpu']:.2f} CPU-s, PostgreSQL"
                f" {m['server_cpu'] or 0:.2f}; load {m['load']:.1f})"
                f"  {'ok' if m['ok'] else 'CHECKS FAILED'}",
                flush=True,
            )
    last = rounds[modes[-1]][-1]
    copy_s, copy_rows = copy_baseline(last["outcomes"])
    copy_rows_per_s = copy_rows / copy_s
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]

    rows = args.sellers + args.sightings
    ok = all(m["ok"] for ms in rounds.values() for m in ms)
    print()
    print("Figure 2 — ingest through collection.store.results_store")
    print(f"  database            {url.rsplit('@', 1)[-1]}  (PostgreSQL {server_version})")
    print(
        f"  machine             {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )
    prep = rounds[modes[0]][0]["prep"]
    made = "reused" if "reused_s" in prep else f"generated in {prep['existing_sellers_s']:.1f} s"
    print(f"  existing sellers    {args.existing:,} ({made}), {history:,} history sightings")
    print(
        f"  batches             {last['batches']} × {args.tasks_per_batch} tasks ×"
        f" {args.per_page} listings"
    )
    print(f"  sellers             {args.sellers:,} ({known:,} known, {args.sellers - known:,} new)")
    print(f"  sightings           {args.sightings:,}  (shape: {args.shape})")
    print(f"  batches in flight   {args.in_flight} (one thread and connection each)")
    calibrations = [m["calibration"] for ms in rounds.values() for m in ms]
    loads = [m["load"] for ms in rounds.values() for m in ms]
    print(
        f"  CPU calibration     {_spread(calibrations, '{:.2f}')} s for a 10M-step Python loop"
        f" (load average {_spread(loads, '{:.1f}')})"
    )
    print(f"  rounds              {args.repeat} (median [min–max]); per_run includes its settle")
    print()
    print(f"  {'measure':<34}" + "".join(f"{mode:>26}" for mode in modes))
    print(f"  {'-' * (34 + 26 * len(modes))}")

    def line(name, values, fmt="{:,.0f}"):
        print(f"  {name:<34}" + "".join(f"{_spread(v, fmt):>26}" for v in values))

    per_mode = {mode: rounds[mode] for mode in modes}
    line(
        "sellers/s (target ≥ 20,000)",
        [[args.sellers / m["wall"] for m in ms] for ms in per_mode.values()],
    )
    line("wall time (s)", [[m["wall"] for m in ms] for ms in per_mode.values()], "{:.2f}")
    line("  of which settle (s)", [[m["settle"] for m in ms] for ms in per_mode.values()], "{:.2f}")
    line(
        "rows/s (sellers + sightings)", [[rows / m["wall"] for m in ms] for ms in per_mode.values()]
    )
    line("batch p50 (ms)", [[1000 * m["batch_p50"] for m in ms] for ms in per_mode.values()])
    line("batch max (ms)", [[1000 * m["batch_max"] for m in ms] for ms in per_mode.values()])
    line(
        "client CPU per listing (µs)",
        [[1e6 * m["client_cpu"] / args.sightings for m in ms] for ms in per_mode.values()],
        "{:.1f}",
    )
    line(
        "server CPU (s)",
        [[m["server_cpu"] or 0.0 for m in ms] for ms in per_mode.values()],
        "{:.2f}",
    )
    line(
        "store ÷ raw COPY",
        [[rows / m["wall"] / copy_rows_per_s for m in ms] for ms in per_mode.values()],
        "{:.3f}",
    )
    print(f"  {'raw COPY, same rows (rows/s)':<34}{copy_rows_per_s:>26,.0f}")
    print()
    for name, (got, want) in last["checks"].items():
        print(f"  check {name:<28} {got!s:>12} {'ok' if got == want else f'!= {want}'}")
    print(f"  every check of every round: {'ok' if ok else 'FAILED'}")
    print()

    def summary(ms: list[dict]) -> dict:
        rates = sorted(args.sellers / m["wall"] for m in ms)
        return {
            "sellers_per_s": round(statistics.median(rates)),
            "sellers_per_s_min": round(rates[0]),
            "sellers_per_s_max": round(rates[-1]),
            "wall_s": round(statistics.median(m["wall"] for m in ms), 3),
            "settle_s": round(statistics.median(m["settle"] for m in ms), 3),
            "client_cpu_s": round(statistics.median(m["client_cpu"] for m in ms), 3),
            "server_cpu_s": round(statistics.median(m["server_cpu"] or 0.0 for m in ms), 3),
            "target_met": statistics.median(rates) >= 20_000,
        }

    by_mode = {mode: summary(ms) for mode, ms in per_mode.items()}
    headline = by_mode.get("per_batch") or by_mode[modes[0]]
    print(
        json.dumps(
            {
                "figure": "ingest",
                "ok": ok,
                "existing_sellers": args.existing,
                "sellers": args.sellers,
                "known_sellers": known,
                "sightings": args.sightings,
                "batches": last["batches"],
                "tasks_per_batch": args.tasks_per_batch,
                "shape": args.shape,
                "repeat": args.repeat,
                "in_flight": args.in_flight,
                "cpu_calibration_s": round(statistics.median(calibrations), 3),
                "load_average": round(statistics.median(loads), 2),
                # the default mode's (per_batch) median; every mode under "modes"
                "sellers_per_s": headline["sellers_per_s"],
                "wall_s": headline["wall_s"],
                "rows_per_s": round(rows / headline["wall_s"]),
                "client_cpu_s": headline["client_cpu_s"],
                "server_cpu_s": headline["server_cpu_s"],
                "modes": by_mode,
                "copy_rows_per_s": round(copy_rows_per_s),
                "ratio_to_copy": round(rows / headline["wall_s"] / copy_rows_per_s, 4),
                "target_sellers_per_s": 20_000,
                "target_met": any(v["target_met"] for v in by_mode.values()),
                "postgres": server_version,
                "cpus": os.cpu_count(),
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
