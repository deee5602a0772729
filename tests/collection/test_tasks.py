"""Runs started through the task queue, and recovery of runs nobody executes."""

import datetime as dt

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from activity.models import RunEvent
from collection.models import Category, CategoryPreset, CollectionRun
from collection.services.dispatch import (
    run_rerun,
    run_resume,
    run_start,
    run_worker_add,
    runs_recover,
)
from collection.services.lifecycle import (
    InvalidTransition,
    RunLimitReached,
    run_cancel,
    run_create,
    run_pause,
)
from collection.services.worker import run_worker_execute
from collection.tasks import run_collection_task

pytestmark = pytest.mark.django_db

Status = CollectionRun.Status


def _categories(n=2):
    return list(Category.objects.filter(is_department=True).order_by("node_id")[:n])


def _queued_run_ids():
    return sorted(
        r.args_kwargs["kwargs"]["run_id"]
        for r in DBTaskResult.objects.filter(
            task_path=run_collection_task.module_path, status=TaskResultStatus.READY
        )
    )


def test_run_start_enqueues_the_run_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = run_start(categories=_categories(), workers=7, ebay_pages=2)
        assert _queued_run_ids() == []  # nothing before commit
    assert len(callbacks) == 1
    assert _queued_run_ids() == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.workers, run.ebay_pages) == (Status.QUEUED, 7, 2)


def test_run_start_refuses_above_the_active_limit(settings, django_capture_on_commit_callbacks):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 2
    with django_capture_on_commit_callbacks(execute=True):
        run_start(categories=_categories())
        run_start(categories=_categories())
        with pytest.raises(RunLimitReached, match=r"2 runs are already queued .* \(limit 2\)"):
            run_start(categories=_categories())
    assert CollectionRun.objects.count() == 2
    assert len(_queued_run_ids()) == 2


def test_rerun_copies_the_options_of_a_finished_run(django_capture_on_commit_callbacks):
    preset = CategoryPreset.objects.create(name="Two")
    preset.categories.set(_categories(3))
    source = run_create(
        categories=preset.categories.all(),
        preset=preset,
        workers=9,
        amazon_pages=2,
        ebay_pages=4,
        markup_min_percent=50,
        markup_max_percent=70,
    )
    with pytest.raises(InvalidTransition, match="only a completed, failed or cancelled run"):
        run_rerun(run_id=source.pk)
    run_cancel(run_id=source.pk)
    with django_capture_on_commit_callbacks(execute=True):
        rerun = run_rerun(run_id=source.pk)
    assert rerun.rerun_of_id == source.pk and rerun.preset_id == preset.pk
    assert (rerun.workers, rerun.amazon_pages, rerun.ebay_pages) == (9, 2, 4)
    assert (rerun.markup_min_percent, rerun.markup_max_percent) == (50, 70)
    assert set(rerun.categories.values_list("pk", flat=True)) == set(
        preset.categories.values_list("pk", flat=True)
    )
    assert _queued_run_ids() == [rerun.pk]


def test_resume_requeues_a_paused_run_and_counts_against_the_limit(
    settings, django_capture_on_commit_callbacks
):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 1
    paused = run_create(categories=_categories())
    run_pause(run_id=paused.pk)
    other = run_create(categories=_categories())
    with pytest.raises(RunLimitReached):
        run_resume(run_id=paused.pk)
    run_cancel(run_id=other.pk)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_resume(run_id=paused.pk)
    assert run.status == Status.QUEUED
    assert _queued_run_ids() == [paused.pk]


def test_add_worker_enqueues_another_task_only_for_an_active_run(
    django_capture_on_commit_callbacks,
):
    run = run_create(categories=_categories())
    with django_capture_on_commit_callbacks(execute=True):
        run_worker_add(run_id=run.pk)
        run_worker_add(run_id=run.pk)
    assert _queued_run_ids() == [run.pk, run.pk]
    run_cancel(run_id=run.pk)
    with pytest.raises(InvalidTransition, match="only a queued or running run"):
        run_worker_add(run_id=run.pk)


@pytest.mark.parametrize("end", ["pause", "cancel"])
def test_the_worker_leaves_a_run_alone_that_was_stopped_after_the_enqueue(end):
    run = run_create(categories=_categories())
    (run_pause if end == "pause" else run_cancel)(run_id=run.pk)
    result = run_worker_execute(run_id=run.pk)
    assert result["skipped"] is True
    run.refresh_from_db()
    assert run.status in (Status.PAUSED, Status.CANCELLED)
    assert run_worker_execute(run_id=999_999) == {
        "run_id": 999_999,
        "status": "missing",
        "skipped": True,
    }


def _orphan(run, *, seconds_ago):
    CollectionRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING,
        executor="host-a:4242",
        heartbeat_at=timezone.now() - dt.timedelta(seconds=seconds_ago),
        started_at=timezone.now() - dt.timedelta(seconds=seconds_ago + 60),
    )


def test_an_orphaned_run_is_requeued_once_with_a_visible_reason(
    settings, django_capture_on_commit_callbacks
):
    settings.COLLECTION_LEASE_SECONDS = 60
    fresh = run_create(categories=_categories())
    orphan = run_create(categories=_categories())
    _orphan(fresh, seconds_ago=5)
    _orphan(orphan, seconds_ago=600)

    with django_capture_on_commit_callbacks(execute=True):
        report = runs_recover()
    assert report.orphaned_requeued == [orphan.pk]
    orphan.refresh_from_db()
    assert orphan.status == Status.QUEUED
    assert orphan.pause_reason == CollectionRun.PauseReason.ORPHANED
    assert "host-a:4242" in orphan.status_message and "queued for resume" in orphan.status_message
    event = RunEvent.objects.get(run=orphan, action="paused")
    assert event.data["reason"] == "orphaned"
    assert _queued_run_ids() == [orphan.pk]
    fresh.refresh_from_db()
    assert fresh.status == Status.RUNNING

    # Several scheduler ticks (or processes) later: nothing more to do.
    with django_capture_on_commit_callbacks(execute=True):
        assert not runs_recover()
    assert _queued_run_ids() == [orphan.pk]


def test_a_run_that_keeps_dying_is_left_paused_for_an_operator(
    settings, django_capture_on_commit_callbacks
):
    settings.COLLECTION_MAX_AUTO_RESUMES = 2
    run = run_create(categories=_categories())
    for _ in range(2):
        _orphan(run, seconds_ago=600)
        with django_capture_on_commit_callbacks(execute=True):
            assert runs_recover().orphaned_requeued == [run.pk]
    _orphan(run, seconds_ago=600)
    report = runs_recover()
    assert report.orphaned_given_up == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.PAUSED
    assert "stopped responding 3 times" in run.status_message


def test_a_queued_run_without_a_task_is_enqueued_again(
    settings, django_capture_on_commit_callbacks
):
    settings.COLLECTION_LEASE_SECONDS = 60
    stranded = run_create(categories=_categories())
    waiting = run_create(categories=_categories())
    young = run_create(categories=_categories())
    old = timezone.now() - dt.timedelta(minutes=10)
    CollectionRun.objects.filter(pk__in=[stranded.pk, waiting.pk]).update(created_at=old)
    run_collection_task.enqueue(run_id=waiting.pk)

    with django_capture_on_commit_callbacks(execute=True):
        report = runs_recover()
    assert report.stranded_requeued == [stranded.pk]
    assert _queued_run_ids() == sorted([stranded.pk, waiting.pk])
    assert young.pk not in report.stranded_requeued

    # A task claimed long ago by a worker that died while the run is still queued.
    DBTaskResult.objects.filter(args_kwargs__kwargs__run_id=stranded.pk).update(
        status=TaskResultStatus.RUNNING, started_at=old
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_recover().stranded_requeued == [stranded.pk]


def test_a_run_paused_at_a_quota_resumes_after_the_reset(django_capture_on_commit_callbacks):
    run = run_create(categories=_categories())
    later = run_create(categories=_categories())
    now = timezone.now()
    CollectionRun.objects.filter(pk=run.pk).update(
        status=Status.PAUSED, pause_reason="quota", resume_at=now - dt.timedelta(seconds=1)
    )
    CollectionRun.objects.filter(pk=later.pk).update(
        status=Status.PAUSED, pause_reason="quota", resume_at=now + dt.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_recover(now=now).quota_resumed == [run.pk]
    run.refresh_from_db()
    assert run.status == Status.QUEUED
    assert _queued_run_ids() == [run.pk]


def test_a_run_the_engine_could_not_start_is_paused_with_the_reason(monkeypatch):
    """Not left queued (the recovery loop would re-enqueue it forever), and the task fails."""
    import collection.engine

    def broken(*, run_id, **kwargs):
        raise RuntimeError("marketplace factory exploded")

    monkeypatch.setattr(collection.engine, "run_execute", broken)
    run = run_create(categories=_categories())
    with pytest.raises(RuntimeError):
        run_worker_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.PAUSED
    assert run.pause_reason == CollectionRun.PauseReason.INTERRUPTED
    assert "RuntimeError: marketplace factory exploded" in run.status_message


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_starts_never_exceed_the_active_limit(settings):
    import threading

    from django.db import connection

    settings.COLLECTION_MAX_ACTIVE_RUNS = 1
    categories = _categories()
    barrier = threading.Barrier(4)
    outcomes = []

    def start():
        try:
            barrier.wait(timeout=30)
            run_start(categories=categories)
            outcomes.append("started")
        except RunLimitReached:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused", "refused", "refused", "started"]
    assert CollectionRun.objects.count() == 1
