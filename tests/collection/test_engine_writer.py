"""The writer: the rows a run holds in memory, back-pressure, batches stored side by side,
nothing lost."""

from __future__ import annotations

import threading
import time

import pytest

from collection import store
from collection.engine import run_execute
from collection.engine.writer import Writer

from .engine_helpers import fast_settings, forget_results, make_run, produced, sandbox

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WORKERS = 10
PAGE_ROWS = 60  # the small sandbox's eBay pages hold up to 60 listings


def execute(run):
    return run_execute(run_id=run.pk, marketplace_options={"sandbox_app": sandbox(latency_ms=2)})


def test_the_writer_holds_workers_back_at_its_bound_and_stores_every_row(settings, monkeypatch):
    fast_settings(settings)
    unbounded = make_run(workers=WORKERS)
    assert execute(unbounded).status == "completed"
    expected = produced(unbounded.pk)
    forget_results()

    # A few pages' worth: workers wait for room again and again during the eBay phase.
    fast_settings(settings, COLLECTION_BATCH_ROWS=40, COLLECTION_ROWS_IN_FLIGHT=80)
    held: list[int] = []
    deliver = Writer.deliver

    def deliver_and_measure(self, outcome):
        deliver(self, outcome)
        held.append(self.held_rows)

    monkeypatch.setattr(Writer, "deliver", deliver_and_measure)
    bounded = make_run(workers=WORKERS)
    report = execute(bounded)

    assert report.status == "completed", report.message
    assert report.session["writer/backpressure"] > 0
    # Past the bound a worker delivers the page it has, then waits: at most one page a
    # worker beyond it, whatever the run's size.
    assert max(held) < 80 + WORKERS * PAGE_ROWS
    assert produced(bounded.pk) == expected  # every row stored, as without the bound


@pytest.mark.postgres_only
def test_batches_stored_side_by_side_write_what_one_at_a_time_writes(settings, monkeypatch):
    fast_settings(settings, COLLECTION_BATCH_ROWS=60, COLLECTION_STORES_IN_FLIGHT=1)
    one = make_run(workers=WORKERS)
    assert execute(one).status == "completed"
    expected = produced(one.pk)
    forget_results()

    # Each store made to last a little longer: the next batch is due meanwhile.
    results_store = store.results_store
    lock = threading.Lock()
    storing = [0]
    most = [0]

    def slow_store(**kwargs):
        with lock:
            storing[0] += 1
            most[0] = max(most[0], storing[0])
        try:
            time.sleep(0.02)
            return results_store(**kwargs)
        finally:
            with lock:
                storing[0] -= 1

    monkeypatch.setattr(store, "results_store", slow_store)
    fast_settings(settings, COLLECTION_BATCH_ROWS=60, COLLECTION_STORES_IN_FLIGHT=2)
    two = make_run(workers=WORKERS)
    report = execute(two)

    assert report.status == "completed", report.message
    assert most[0] == 2  # two batches were being stored at once, never more
    assert produced(two.pk) == expected
