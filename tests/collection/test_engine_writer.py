"""The writer's bound: the rows a run holds in memory, back-pressure, nothing lost."""

from __future__ import annotations

import pytest

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
