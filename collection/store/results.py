"""``results_store``: a batch of task outcomes → one transaction.

In that one transaction:

1. the tasks are marked done/failed/skipped — only those still ``running`` (a task that a
   duplicate delivery, an expired lease or another process already finished is left
   alone, and nothing else of its outcome is applied);
2. products of the Amazon tasks moved in step 1 are upserted by ASIN, with their
   category rank, and an eBay page-1 task is created for each product with a price > 0;
3. eBay tasks whose page said ``has_next`` get their next page (up to ``run.ebay_pages``),
   and a first query that found too few matches gets the product's next query
   (``TaskOutcome.follow_up_query``, decided by the pipeline);
4. sellers are upserted by normalized key, new ones get an ``added`` change with the
   exact active-seller count after their insert, sightings are written with their listing
   evidence (one per (run, seller, product): a match before a look-alike, then the lowest
   price), and the sellers' listing counters move (the score and the matched-product
   aggregates are settled from the sightings when the run finishes: ``store.scores``;
   with ``COLLECTION_SELLER_COUNTERS=per_run`` a known seller's counters, last seen and
   feedback are staged instead and settled there too, see ``SellerRunPending``);
5. the run's counters are incremented (``F()``), plus the engine's ``counters``.

Rows written for a run never depend on how its results were batched or ordered, so one
worker, fifty workers and a killed-and-resumed run end with the same rows (except
timestamps and which new seller got which ``seller_count_after``, which follow commit
order).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from collection.matching import search_queries
from collection.models import CollectionRun, RunTask

from . import _orm, _postgres
from .clean import QUERY_MAX, column_text, mark_from_outcome, prepare_batch
from .types import BatchResult, TaskOutcome, ebay_task_key

logger = logging.getLogger(__name__)

# Run counters that are model fields; any other key of ``counters`` goes into run.stats.
RUN_COUNTER_FIELDS = (
    "products_found",
    "ebay_searches",
    "sellers_found",
    "sellers_new",
    "sightings",
    "requests",
    "retries",
    "failed_tasks",
    "skipped_records",
)


def _first_query(title: str) -> str:
    """The query a product's first eBay task sends ('' when none can be built: the task is
    then skipped as not fetchable)."""
    queries = search_queries(title, limit=1)
    return column_text(queries[0], QUERY_MAX) if queries else ""


def _backend():
    return _postgres if connection.vendor == "postgresql" else _orm


def results_store(
    *,
    run_id: int,
    outcomes: Iterable[TaskOutcome],
    counters: dict[str, int] | None = None,
    backend=None,
) -> BatchResult:
    """Store a batch of finished tasks with their results, atomically and idempotently.

    ``counters`` are added to the run as they are (``requests``, ``retries`` … go to the
    columns of the same name; other keys, e.g. ``requests/failed/timeout``, are summed
    into ``run.stats``), even when every outcome was a duplicate. ``backend`` is for tests
    (``store._orm`` or ``store._postgres``); by default the connection's vendor decides.
    """
    backend = backend or _backend()
    marks, by_id = {}, {}
    for outcome in outcomes:
        if outcome.task_id in by_id:  # the first delivery in a batch wins
            continue
        by_id[outcome.task_id] = outcome
        marks[outcome.task_id] = mark_from_outcome(outcome)

    now = timezone.now()
    result = BatchResult()
    with _gc_paused(), transaction.atomic():
        backend.transaction_begin()
        tasks = backend.mark_tasks(run_id=run_id, marks=marks, now=now) if marks else []
        result.tasks_ignored = len(marks) - len(tasks)
        for task in tasks:
            if marks[task.id].status == RunTask.Status.FAILED:
                result.tasks_failed += 1
            else:
                result.tasks_done += 1

        ebay_pages = 0
        if any(t.phase == RunTask.Phase.EBAY for t in tasks):
            ebay_pages = CollectionRun.objects.values_list("ebay_pages", flat=True).get(pk=run_id)
        batch = prepare_batch(tasks=tasks, outcomes=by_id, ebay_pages=ebay_pages)
        result.skipped_records = batch.skipped

        new_tasks: list[tuple[str, int, int, str]] = [
            (t.key, t.product_id, t.page, t.query) for t in batch.next_tasks
        ]
        if batch.products:
            product_ids, result.products_found = backend.upsert_products(
                run_id=run_id, batch=batch, now=now
            )
            result.products_upserted = len(product_ids)
            links = sorted(
                (product_ids[asin], category_id, rank)
                for (asin, category_id), rank in batch.links.items()
            )
            backend.upsert_links(run_id=run_id, links=links, now=now)
            new_tasks.extend(
                (ebay_task_key(row.asin, 1), product_ids[row.asin], 1, _first_query(row.title))
                for row in batch.products.values()
                if row.needs_search
            )
        new_tasks.sort()
        result.ebay_tasks_created = backend.create_tasks(run_id=run_id, tasks=new_tasks)

        if batch.sellers:
            stored = backend.store_sellers(
                run_id=run_id,
                batch=batch,
                now=now,
                counters=settings.COLLECTION_SELLER_COUNTERS,
            )
            result.sellers_seen = len(batch.sellers)
            result.sellers_new = len(stored["new_keys"])
            result.sellers_deduped = batch.seller_occurrences - result.sellers_new
            result.sightings_new = stored["sightings_new"]
            result.sellers_found = stored["sellers_found"]
            result.new_seller_names = list(stored["new_usernames"].values())

        increments = {
            "products_found": result.products_found,
            "ebay_searches": batch.ebay_done,
            "sellers_found": result.sellers_found,
            "sellers_new": result.sellers_new,
            "sightings": result.sightings_new,
            "failed_tasks": result.tasks_failed,
            "skipped_records": result.skipped_records,
        }
        run_counters_add(run_id=run_id, increments=increments, counters=counters)

    logger.debug(
        "run %s batch: %d done, %d failed, %d ignored, %d products, %d sellers (%d new), "
        "%d sightings, %d skipped, %d tasks created",
        run_id,
        result.tasks_done,
        result.tasks_failed,
        result.tasks_ignored,
        result.products_upserted,
        result.sellers_seen,
        result.sellers_new,
        result.sightings_new,
        result.skipped_records,
        result.ebay_tasks_created,
    )
    return result


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is stored.

    A batch allocates ~20k short-lived rows (no cycles: refcounting frees them) in a process
    that holds many long-lived objects (a run's pages, events). Collections during the
    batch promoted those rows and triggered full collections: on figure 2, 0.75 of the
    store's 2.35 CPU-seconds, two full collections of ~270 ms each. Paused, the rows die
    young; the collector runs as usual once the batch is stored. Process-wide, so another
    thread storing at the same time may resume it early: only speed depends on this.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def run_counters_add(
    *, run_id: int, increments: dict[str, int], counters: dict[str, int] | None = None
) -> None:
    """Add to the run's counter columns (``F()``) and sum other keys into ``run.stats``.

    Call inside a transaction; the run row is updated last so a transaction holds its
    lock only until commit.
    """
    fields: dict[str, int] = {k: v for k, v in increments.items() if v}
    extra: dict = {}
    for key, value in (counters or {}).items():
        if key in RUN_COUNTER_FIELDS:
            if value:
                fields[key] = fields.get(key, 0) + int(value)
        elif value or value == 0:
            extra[key] = value
    updates: dict[str, Any] = {name: F(name) + value for name, value in fields.items()}
    if extra:
        stats = (
            CollectionRun.objects.select_for_update().values_list("stats", flat=True).get(pk=run_id)
        ) or {}
        updates["stats"] = stats_merge(stats, extra)
    if updates:
        CollectionRun.objects.filter(pk=run_id).update(**updates)


def stats_merge(stats: dict, extra: dict) -> dict:
    """Numbers add up, dicts merge recursively, anything else replaces."""
    merged = dict(stats)
    for key, value in extra.items():
        old = merged.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            merged[key] = value
        elif isinstance(value, dict):
            merged[key] = stats_merge(old if isinstance(old, dict) else {}, value)
        elif isinstance(old, (int, float)) and not isinstance(old, bool):
            merged[key] = old + value
        else:
            merged[key] = value
    return merged
