"""The one progress read: what the engine reports and what the pages show agree."""

import pytest

from activity.selectors import run_list_get, run_summary_get
from collection.models import Category, RunTask
from collection.selectors import run_progress_get, runs_progress_get
from collection.services.lifecycle import run_create

pytestmark = pytest.mark.django_db


def test_the_pages_progress_is_the_engines_progress_per_phase():
    run = run_create(categories=Category.objects.order_by("node_id")[:1], workers=2)
    statuses = ["done", "failed", "pending", "skipped"]
    for i, status in enumerate(statuses):
        RunTask.objects.create(run=run, phase="amazon", key=f"a{i}", status=status)
    RunTask.objects.create(run=run, phase="ebay", key="e0", status="failed")
    progress = run_progress_get(run_id=run.pk)
    assert (progress.amazon_total, progress.amazon_finished, progress.amazon_failed) == (4, 3, 1)
    assert (progress.ebay_total, progress.ebay_finished, progress.failed_tasks) == (1, 1, 2)
    phases = {
        "amazon": {"total": 4, "finished": 3, "failed": 1},
        "ebay": {"total": 1, "finished": 1, "failed": 1},
    }
    assert progress.phases() == phases
    assert run_summary_get(run_id=run.pk)["progress"] == phases
    assert run_list_get()[0]["progress"] == phases
    assert runs_progress_get(runs=[run])[run.pk] == progress
