"""Progress an operator can trust: a denominator that does not jump while the Amazon phase
adds eBay tasks, an ETA from the actual rate, and the run list's duration and result."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from activity.selectors import (
    run_estimated_tasks,
    run_progress_figures,
    run_request_rate_get,
    run_result_text,
)
from collection.models import CollectionRun, RunTask

from .conftest import new_run

START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
ESTIMATE = {"categories": 4, "amazon_pages": 1, "products": 190, "ebay_pages_per_product": 1.2}


def summary(*, phase="amazon", status="running", amazon=(0, 4), ebay=(0, 0), finished_at=None):
    return {
        "status": status,
        "phase": phase,
        "started_at": START.isoformat(),
        "finished_at": finished_at.isoformat() if finished_at else None,
        "progress": {
            "amazon": {"finished": amazon[0], "total": amazon[1], "failed": 0},
            "ebay": {"finished": ebay[0], "total": ebay[1], "failed": 0},
        },
    }


def test_the_estimate_gives_the_tasks_to_expect():
    assert run_estimated_tasks(ESTIMATE) == {"amazon": 4, "ebay": 228}
    assert run_estimated_tasks({}) == {"amazon": 0, "ebay": 0}
    assert run_estimated_tasks({"products": "junk"}) == {"amazon": 0, "ebay": 0}


def test_the_ebay_denominator_holds_still_while_the_amazon_phase_adds_tasks():
    estimated = run_estimated_tasks(ESTIMATE)
    now = START + dt.timedelta(minutes=2)
    # The Amazon phase has queued 50, then 100, then 150 eBay tasks: the bar's max stays.
    totals = [
        run_progress_figures(
            summary=summary(amazon=(k, 4), ebay=(k * 10, k * 50)),
            estimated_tasks=estimated,
            now=now,
        )["ebay_total"]
        for k in (1, 2, 3)
    ]
    assert totals == [228, 228, 228]
    # More tasks than estimated: the real count, never a bar past its end.
    figures = run_progress_figures(
        summary=summary(amazon=(3, 4), ebay=(10, 300)), estimated_tasks=estimated, now=now
    )
    assert figures["ebay_total"] == 300
    # Amazon done: the tasks that exist.
    figures = run_progress_figures(
        summary=summary(phase="ebay", amazon=(4, 4), ebay=(100, 200)),
        estimated_tasks=estimated,
        now=now,
    )
    assert figures["ebay_total"] == 200 and not figures["ebay_estimated"]


def test_eta_and_percent_from_the_actual_rate():
    figures = run_progress_figures(
        summary=summary(phase="ebay", amazon=(4, 4), ebay=(96, 200)),
        estimated_tasks={},
        now=START + dt.timedelta(seconds=100),
    )
    assert figures["elapsed_s"] == 100
    assert figures["tasks_per_s"] == 1.0  # 100 tasks in 100 s
    assert figures["eta_s"] == 104  # 104 tasks left
    assert figures["percent"] == pytest.approx(100 * 100 / 204)
    done = run_progress_figures(
        summary=summary(
            phase="done",
            status="completed",
            amazon=(4, 4),
            ebay=(200, 200),
            finished_at=START + dt.timedelta(minutes=5),
        ),
        estimated_tasks=run_estimated_tasks(ESTIMATE),
        now=START + dt.timedelta(hours=3),
    )
    assert (done["percent"], done["eta_s"], done["elapsed_s"]) == (100.0, None, 300)
    assert done["ebay_total"] == 200  # a finished run shows what it did, not the estimate
    assert run_progress_figures(summary=summary(), estimated_tasks={}, now=START)["eta_s"] is None


def test_result_text():
    base = {"sellers_new": 12, "sellers_found": 1500, "failed_tasks": 0, "status_message": ""}
    assert run_result_text({**base, "status": "completed"}) == "12 new of 1,500 sellers"
    assert run_result_text({**base, "status": "completed", "failed_tasks": 3}).endswith(
        ", 3 tasks failed"
    )
    assert (
        run_result_text({**base, "status": "failed", "status_message": "bad credentials"})
        == "Failed: bad credentials"
    )
    assert run_result_text({**base, "status": "running"}) == "–"


@pytest.mark.django_db
def test_run_list_has_duration_and_result(viewer):
    run = new_run()
    CollectionRun.objects.filter(pk=run.pk).update(
        status="completed",
        started_at=START,
        finished_at=START + dt.timedelta(minutes=3, seconds=5),
        sellers_new=7,
        sellers_found=70,
    )
    client = Client()
    client.force_login(viewer)
    html = client.get(reverse("activity:run_list")).content.decode()
    assert '<th class="num">Duration</th><th>Result</th>' in html
    assert "3 min 05 s" in html and "7 new of 70 sellers" in html


@pytest.mark.django_db
def test_run_page_shows_the_estimated_denominator_during_the_amazon_phase(viewer):
    run = new_run()
    CollectionRun.objects.filter(pk=run.pk).update(
        status="running", started_at=START, estimate=ESTIMATE
    )
    RunTask.objects.create(run=run, phase="amazon", key="amazon:1:1", status="done")
    RunTask.objects.create(run=run, phase="amazon", key="amazon:2:1")
    RunTask.objects.create(run=run, phase="ebay", key="ebay:B0A:1", status="done")
    client = Client()
    client.force_login(viewer)
    html = client.get(reverse("activity:run_detail", args=[run.pk])).content.decode()
    assert "1 / ~228 tasks" in html and 'max="228"' in html


@pytest.mark.django_db
def test_request_rate_from_the_fetching_events():
    from activity.models import RunEvent

    run = new_run()
    RunEvent.objects.bulk_create(
        RunEvent(
            run=run,
            seq=i + 1,
            ts=START + dt.timedelta(seconds=i // 2),
            worker=1,
            action="fetching" if i % 4 else "found",
        )
        for i in range(40)
    )
    rate = run_request_rate_get(run_id=run.pk)
    assert rate["bucket_s"] == 5
    assert [t for t, _ in rate["points"]] == [int(START.timestamp()) + 5 * k for k in range(4)]
    assert sum(per_s * 5 for _, per_s in rate["points"]) == 30  # 30 fetching events
