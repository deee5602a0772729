"""The run controls: one service behind the admin's actions and the live page's buttons."""

import pytest

from collection.models import Category, CollectionRun
from collection.services.control import CONTROL_ACTIONS, LIVE_PAGE_ACTIONS, run_control
from collection.services.lifecycle import run_create

pytestmark = pytest.mark.django_db


def _run() -> CollectionRun:
    return run_create(categories=Category.objects.order_by("node_id")[:1], workers=2)


def test_each_control_changes_the_run_and_says_what_happened(django_capture_on_commit_callbacks):
    run = _run()
    paused = run_control(run_id=run.pk, action="pause")
    assert paused.ok and paused.run.status == CollectionRun.Status.PAUSED
    assert paused.message == f"Run {run.pk} is now paused."
    with django_capture_on_commit_callbacks(execute=True):
        resumed = run_control(run_id=run.pk, action="resume")
    assert resumed.ok and resumed.run.status == CollectionRun.Status.QUEUED
    assert "queued for resume" in resumed.message
    cancelled = run_control(run_id=run.pk, action="cancel")
    assert cancelled.run.status == CollectionRun.Status.CANCELLED
    with django_capture_on_commit_callbacks(execute=True):
        rerun = run_control(run_id=run.pk, action="rerun")
    assert rerun.ok and rerun.run.pk != run.pk and rerun.run.rerun_of_id == run.pk
    assert rerun.message == f"Run {rerun.run.pk} queued as a re-run of run {run.pk}."


def test_a_refused_control_is_a_result_with_the_reason():
    run = _run()
    run_control(run_id=run.pk, action="cancel")
    refused = run_control(run_id=run.pk, action="pause")
    assert not refused.ok and refused.run is None
    assert refused.message.startswith(f"Could not pause run {run.pk}: ")
    assert "cancelled" in refused.message


def test_unknown_actions_and_runs_are_errors_not_results():
    with pytest.raises(ValueError):
        run_control(run_id=_run().pk, action="explode")
    with pytest.raises(CollectionRun.DoesNotExist):
        run_control(run_id=424242, action="pause")
    assert set(LIVE_PAGE_ACTIONS) <= set(CONTROL_ACTIONS)
