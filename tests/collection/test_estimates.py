"""Estimates of a run's requests per provider, learned from past runs, and the reset warning."""

import datetime as dt
import math

import pytest
from django.utils import timezone

from collection.models import Category, CollectionRun, RunTask
from collection.services.estimates import (
    DEFAULTS,
    run_estimate,
    run_estimate_compare,
    run_quota_forecast,
    run_quota_warning,
)

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def completed_run(
    *, amazon_items, ebay_pages_per_product, ebay_pages=3, markup=(80, 120), attempts=1
):
    """A completed run whose tasks look like a real one: ``amazon_items`` = items per Amazon
    task; ``ebay_pages_per_product`` = how many eBay pages each usable product had."""
    run = CollectionRun.objects.create(
        status=CollectionRun.Status.COMPLETED,
        finished_at=timezone.now(),
        ebay_pages=ebay_pages,
        markup_min_percent=markup[0],
        markup_max_percent=markup[1],
    )
    tasks = [
        RunTask(
            run=run,
            phase="amazon",
            key=f"amazon:{i}:1",
            status="done",
            result_count=n,
            attempts=attempts,
        )
        for i, n in enumerate(amazon_items)
    ]
    for product, pages in enumerate(ebay_pages_per_product):
        tasks += [
            RunTask(
                run=run,
                phase="ebay",
                key=f"ebay:P{product}:{page}",
                page=page,
                status="done",
                attempts=attempts,
            )
            for page in range(1, pages + 1)
        ]
    RunTask.objects.bulk_create(tasks)
    return run


def test_without_history_the_stated_defaults_are_used(settings):
    settings.EBAY_PROVIDER = "browse"
    estimate = run_estimate(categories=6, amazon_pages=2, ebay_pages=3)
    assert not estimate.learned and estimate.learned_from_runs == []
    assert estimate.amazon_requests == 12
    assert estimate.products == round(12 * DEFAULTS.items_per_page * DEFAULTS.usable_share)
    assert estimate.ebay_pages_per_product == pytest.approx(sum(DEFAULTS.page_survival[:3]))
    assert estimate.follow_up_share == DEFAULTS.follow_up_share > 0  # 2 queries by default
    assert estimate.ebay_requests == round(
        estimate.products * (estimate.ebay_pages_per_product + DEFAULTS.follow_up_share)
    )
    assert estimate.requests == {"oxylabs": 12, "ebay": estimate.ebay_requests}
    assert "stated defaults" in estimate.describe()
    one_query = run_estimate(categories=6, amazon_pages=2, ebay_pages=3, ebay_queries=1)
    assert one_query.ebay_requests == round(estimate.products * estimate.ebay_pages_per_product)
    data = estimate.as_json()
    assert data["requests"] == estimate.requests and data["learned"] is False


def test_oxylabs_ebay_source_puts_every_request_on_oxylabs(settings):
    settings.EBAY_PROVIDER = "oxylabs"
    estimate = run_estimate(categories=2, amazon_pages=1, ebay_pages=1)
    assert estimate.requests == {"oxylabs": estimate.total_requests}


def test_ratios_are_learned_from_completed_runs():
    # 4 Amazon pages of 10 items → 40 items, 20 usable distinct products (half), with
    # 1, 2 or 3 eBay pages: survival page 2 = 10/20, page 3 = 5/20.
    completed_run(
        amazon_items=[10, 10, 10, 10], ebay_pages_per_product=[1] * 10 + [2] * 5 + [3] * 5
    )
    CollectionRun.objects.create(status=CollectionRun.Status.FAILED)  # not learned from
    estimate = run_estimate(categories=3, amazon_pages=2, ebay_pages=3)
    assert estimate.learned and len(estimate.learned_from_runs) == 1
    assert (estimate.items_per_page, estimate.usable_share) == (10.0, 0.5)
    assert estimate.amazon_requests == 6
    assert estimate.products == 30
    assert estimate.ebay_pages_per_product == pytest.approx(1 + 0.5 + 0.25)
    assert estimate.ebay_requests == round(30 * 1.75)
    # Fewer pages asked for: capped.
    assert run_estimate(categories=3, amazon_pages=2, ebay_pages=1).ebay_requests == 30
    # More pages than ever seen: the last page-to-page ratio (0.5) goes on.
    five = run_estimate(categories=3, amazon_pages=2, ebay_pages=5)
    assert five.ebay_pages_per_product == pytest.approx(1 + 0.5 + 0.25 + 0.125 + 0.0625)


def test_retries_seen_in_history_are_part_of_the_estimate():
    completed_run(amazon_items=[10, 10], ebay_pages_per_product=[1] * 10, attempts=2)
    RunTask.objects.create(  # skipped as unfetchable: no request, not a retry either
        run=CollectionRun.objects.get(), phase="ebay", key="ebay:X:1", status="skipped"
    )
    estimate = run_estimate(categories=2, amazon_pages=1, ebay_pages=1)
    assert estimate.retry_share == pytest.approx(1.0)
    assert (estimate.amazon_requests, estimate.ebay_requests) == (4, 20)


def test_runs_with_the_same_markup_band_are_preferred():
    completed_run(amazon_items=[10], ebay_pages_per_product=[3] * 5, markup=(50, 300))
    narrow = completed_run(amazon_items=[10], ebay_pages_per_product=[1] * 5)
    estimate = run_estimate(
        categories=1, amazon_pages=1, ebay_pages=3, markup_min_percent=80, markup_max_percent=120
    )
    assert estimate.learned_from_runs == [narrow.pk]
    assert estimate.ebay_pages_per_product == 1.0
    both = run_estimate(categories=1, amazon_pages=1, ebay_pages=3)
    assert len(both.learned_from_runs) == 2 and both.ebay_pages_per_product == 2.0


def test_estimate_and_actual_are_compared_after_the_run(settings):
    settings.EBAY_PROVIDER = "browse"
    run = completed_run(amazon_items=[10, 10], ebay_pages_per_product=[1] * 8 + [2] * 2)
    RunTask.objects.filter(run=run, key="ebay:P0:1").update(attempts=3)  # two retries
    run.estimate = {
        "amazon_provider": "oxylabs",
        "ebay_provider": "ebay",
        "requests": {"oxylabs": 2, "ebay": 11},
    }
    run.save()
    assert run_estimate_compare(run=run) == {
        "ebay": {"estimated": 11, "actual": 14, "error_percent": -21.4},
        "oxylabs": {"estimated": 2, "actual": 2, "error_percent": 0.0},
    }


# --- Finishing before the reset ----------------------------------------------------------

NOW = dt.datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def usage(left, *, limit=5000, resets_at="2026-03-11T00:00:00+00:00"):
    return {"ebay": {"limit": limit, "used": limit - left, "left": left, "resets_at": resets_at}}


def test_a_run_that_fits_in_the_quota_left_gets_no_warning(settings):
    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 5000, "reset_hour_utc": 0}}
    settings.EBAY_PROVIDER = "browse"
    estimate = run_estimate(categories=6, amazon_pages=1, ebay_pages=3)
    assert estimate.ebay_requests < 4000
    assert run_quota_warning(estimate=estimate, now=NOW, usage=usage(4000)) is None


def test_a_run_past_the_next_reset_warns_with_the_expected_finish(settings):
    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 5000, "reset_hour_utc": 0}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    settings.EBAY_PROVIDER = "browse"
    settings.COLLECTION_RATE_LIMITS = {"ebay": 0.0, "oxylabs": 0.0}
    estimate = run_estimate(categories=100, amazon_pages=2, ebay_pages=3)
    needed = estimate.ebay_requests
    resets = math.ceil((needed - 100) / 5000)  # 100 left today, then 5,000 a day
    assert resets >= 2
    [forecast] = run_quota_forecast(estimate=estimate, now=NOW, usage=usage(100))
    assert forecast.resets == forecast.pauses == resets
    # Without a rate limit the last day's share goes at once: the start of the last day.
    last_day = dt.datetime(2026, 3, 10 + resets, tzinfo=UTC)
    assert forecast.finish_at == last_day
    warning = run_quota_warning(estimate=estimate, now=NOW, usage=usage(100))
    assert f"ebay needs about {needed:,} requests; 100 are left" in warning
    assert "resets at 2026-03-11 00:00:00 UTC" in warning
    assert f"pause at the quota {resets} time(s)" in warning
    assert f"Expected to finish around {last_day:%Y-%m-%d} 00:00:00 UTC" in warning


def test_the_finish_time_counts_the_rate_limit(settings):
    """Four hours before the reset, plenty of quota left: the rate decides."""
    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 5000, "reset_hour_utc": 0}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    settings.EBAY_PROVIDER = "browse"
    estimate = run_estimate(categories=6, amazon_pages=1, ebay_pages=3)
    needed = estimate.ebay_requests
    fast = needed / (3 * 3600)  # done in 3 hours
    settings.COLLECTION_RATE_LIMITS = {"ebay": fast}
    [forecast] = run_quota_forecast(estimate=estimate, now=NOW, usage=usage(5000))
    assert forecast.resets == 0
    assert abs((forecast.finish_at - NOW).total_seconds() - 3 * 3600) < 60
    assert run_quota_warning(estimate=estimate, now=NOW, usage=usage(5000)) is None
    settings.COLLECTION_RATE_LIMITS = {"ebay": needed / (6 * 3600)}  # 6 hours: past midnight
    [forecast] = run_quota_forecast(estimate=estimate, now=NOW, usage=usage(5000))
    assert (forecast.resets, forecast.pauses) == (1, 0)  # the rate, not the quota, is late
    assert abs((forecast.finish_at - NOW).total_seconds() - 6 * 3600) < 60
    assert "Expected to finish around 2026-03-11 02:" in run_quota_warning(
        estimate=estimate, now=NOW, usage=usage(5000)
    )


def test_a_new_run_keeps_its_estimate(settings):
    from collection.services.lifecycle import run_create

    settings.EBAY_PROVIDER = "browse"
    categories = list(Category.objects.order_by("node_id")[:3])
    run = run_create(categories=categories, amazon_pages=2, ebay_pages=2)
    expected = run_estimate(categories=3, amazon_pages=2, ebay_pages=2).as_json()
    run.refresh_from_db()
    assert run.estimate == expected
    assert run.estimate["requests"]["oxylabs"] == 6


def test_run_collection_estimate_prints_and_creates_nothing(settings):
    from io import StringIO

    from django.core.management import call_command

    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 100, "reset_hour_utc": 0}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    settings.EBAY_PROVIDER = "browse"
    out = StringIO()
    call_command("run_collection", "--preset", "Sampler", "--estimate", stdout=out)
    text = out.getvalue()
    expected = run_estimate(categories=6, amazon_pages=1, ebay_pages=1)
    assert f"Estimate: {expected.total_requests:,} requests" in text
    assert "This run cannot finish before the next quota reset" in text
    assert "Expected to finish around" in text
    assert CollectionRun.objects.count() == 0
    out = StringIO()
    call_command("run_collection", "--preset", "Sampler", "--estimate", "--json", stdout=out)
    import json

    data = json.loads(out.getvalue().strip().splitlines()[-1])
    assert data["requests"] == expected.requests and data["warning"]
    assert CollectionRun.objects.count() == 0


def test_the_admin_run_page_compares_estimate_and_actual(admin_client):
    run = completed_run(amazon_items=[10], ebay_pages_per_product=[1, 2])
    run.estimate = {
        "amazon_provider": "oxylabs",
        "ebay_provider": "ebay",
        "requests": {"oxylabs": 1, "ebay": 4},
    }
    run.save()
    page = admin_client.get(f"/admin/collection/collectionrun/{run.pk}/change/").content.decode()
    assert "ebay 4 estimated / 3 sent, +33.3 %; oxylabs 1 estimated / 1 sent, +0.0 %" in page
