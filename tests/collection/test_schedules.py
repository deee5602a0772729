"""Schedules: cron validation, one run per slot, missed slots, several schedulers at once."""

import datetime as dt
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from collection.models import Category, CategoryPreset, CollectionRun, Schedule
from collection.services.schedules import (
    ScheduleError,
    cron_validate,
    schedule_save,
    schedules_run_due,
)

T0 = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)  # a Monday, 03:00


def _preset(name="Nightly"):
    preset = CategoryPreset.objects.create(name=name)
    preset.categories.set(Category.objects.filter(is_department=True).order_by("node_id")[:2])
    return preset


def _schedule(name="nightly", cron="*/5 * * * *", *, now=T0 - dt.timedelta(seconds=1), **kw):
    preset = kw.pop("preset", None) or _preset(f"p-{name}")
    schedule = Schedule(name=name, preset=preset, cron=cron, **kw)
    return schedule_save(schedule=schedule, now=now)


def _runs(schedule):
    return CollectionRun.objects.filter(schedule=schedule).count()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad", ["", "every day", "61 * * * *", "* * * *", "0 3 * * * 2026", "* * * * * *"]
)
def test_bad_cron_is_refused(bad):
    with pytest.raises(ScheduleError, match="is not a cron expression"):
        cron_validate(bad)
    with pytest.raises(ScheduleError):
        _schedule(cron=bad)
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_cron_is_normalized_and_next_slot_computed_on_save():
    assert cron_validate("  0   3 * * 1-5 ") == "0 3 * * 1-5"
    assert cron_validate("@daily") == "@daily"
    schedule = _schedule(cron="0 3 * * *", now=T0 + dt.timedelta(minutes=1))
    assert schedule.next_run_at == T0 + dt.timedelta(days=1)
    schedule.enabled = False
    schedule_save(schedule=schedule)
    assert schedule.next_run_at is None
    # Re-enabled much later: the next slot is in the future, not the stale one.
    schedule.enabled = True
    schedule_save(schedule=schedule, now=T0 + dt.timedelta(days=10, hours=1))
    assert schedule.next_run_at == T0 + dt.timedelta(days=11)
    with pytest.raises(ScheduleError, match="markup min"):
        schedule.markup_min_percent = 200
        schedule_save(schedule=schedule)


@pytest.mark.django_db
def test_one_run_per_slot_and_missed_slots_run_once(settings, django_capture_on_commit_callbacks):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 100
    schedule = _schedule(workers=3, ebay_pages=2)
    assert schedule.next_run_at == T0

    with django_capture_on_commit_callbacks(execute=True):
        assert schedules_run_due(now=T0 - dt.timedelta(seconds=30)) == []
        (firing,) = schedules_run_due(now=T0 + dt.timedelta(seconds=1))
        assert schedules_run_due(now=T0 + dt.timedelta(seconds=40)) == []
        # Down from 03:01 to 03:17: slots 03:05, 03:10 and 03:15 were missed -> one run.
        (late,) = schedules_run_due(now=T0 + dt.timedelta(minutes=17))
        assert schedules_run_due(now=T0 + dt.timedelta(minutes=17, seconds=5)) == []

    assert (firing.slot, late.slot) == (T0, T0 + dt.timedelta(minutes=5))
    assert late.next_run_at == T0 + dt.timedelta(minutes=20)
    assert _runs(schedule) == 2
    run = CollectionRun.objects.get(pk=firing.run_id)
    assert (run.workers, run.ebay_pages, run.preset_id) == (3, 2, schedule.preset_id)
    assert run.categories.count() == 2
    schedule.refresh_from_db()
    assert schedule.last_run_at == T0 + dt.timedelta(minutes=17)
    assert schedule.next_run_at == T0 + dt.timedelta(minutes=20)
    enqueued = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    run_ids = sorted(r.args_kwargs["kwargs"]["run_id"] for r in enqueued)
    assert run_ids == [firing.run_id, late.run_id]


@pytest.mark.django_db
def test_a_slot_refused_by_the_active_limit_is_spent_not_retried(settings):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 0
    schedule = _schedule()
    (firing,) = schedules_run_due(now=T0)
    assert firing.run_id is None and "limit 0" in firing.error
    assert schedules_run_due(now=T0 + dt.timedelta(seconds=10)) == []
    schedule.refresh_from_db()
    assert schedule.next_run_at == T0 + dt.timedelta(minutes=5) and schedule.last_run_at is None


@pytest.mark.django_db
def test_disabled_schedules_never_fire_and_run_scheduler_once(settings):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 100
    off = _schedule(name="off", enabled=False)
    on = _schedule(name="on", now=timezone.now() - dt.timedelta(minutes=10))
    out = io.StringIO()
    call_command("run_scheduler", "--once", stdout=out)
    assert _runs(off) == 0 and _runs(on) == 1
    assert f"schedule {on.pk}: started run" in out.getvalue()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_schedulers_fire_each_slot_exactly_once(settings):
    """Two scheduler threads (separate connections, real PostgreSQL locks) tick in step."""
    settings.COLLECTION_MAX_ACTIVE_RUNS = 1000
    schedules = [_schedule(name=f"s{i}") for i in range(4)]
    ticks = [
        T0 + dt.timedelta(seconds=1),
        T0 + dt.timedelta(seconds=2),
        T0 + dt.timedelta(minutes=5, seconds=1),
        T0 + dt.timedelta(minutes=27),  # after missing four slots
        T0 + dt.timedelta(minutes=27, seconds=1),
    ]
    barrier = threading.Barrier(2)
    fired: list[list] = [[], []]
    errors = []

    def scheduler(index):
        try:
            for now in ticks:
                barrier.wait(timeout=30)
                fired[index].extend(schedules_run_due(now=now))
        except Exception as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    all_firings = fired[0] + fired[1]
    for schedule in schedules:
        slots = sorted(f.slot for f in all_firings if f.schedule_id == schedule.pk)
        assert slots == [T0, T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=10)]
        assert _runs(schedule) == 3
    assert len({f.run_id for f in all_firings}) == len(all_firings) == 12
    assert DBTaskResult.objects.count() == 12


@pytest.mark.parametrize(
    ("cron", "frequent"),
    [
        ("0 * * * *", False),
        ("@hourly", False),
        ("0 3 * * *", False),
        ("*/30 * * * *", True),
        ("*/30 3 * * *", True),
        ("0,59 * * * *", True),
        ("* * * * *", True),
    ],
)
def test_a_cron_more_often_than_hourly_is_frequent(cron, frequent):
    from collection.services.schedules import cron_is_frequent, schedule_frequency_check

    assert cron_is_frequent(cron=cron, now=T0) is frequent
    if frequent:
        with pytest.raises(ScheduleError, match="more often than hourly"):
            schedule_frequency_check(cron=cron, confirmed=False, now=T0)
    schedule_frequency_check(cron=cron, confirmed=True, now=T0)


@pytest.mark.django_db
def test_the_preview_adds_up_firings_in_one_quota_window(settings):
    from collection.services.schedules import schedule_preview

    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 100}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    categories = list(Category.objects.filter(is_department=True).order_by("node_id")[:1])
    firings = schedule_preview(
        cron="0 4,12,20 * * *",
        categories=categories,
        amazon_pages=1,
        ebay_pages=1,
        markup_min_percent=80,
        markup_max_percent=120,
        now=T0,
    )
    assert [f.at for f in firings] == [
        T0 + dt.timedelta(hours=1),
        T0 + dt.timedelta(hours=9),
        T0 + dt.timedelta(hours=17),
    ]  # one day: one quota window
    ebay = firings[0].requests["ebay"]
    assert ebay > 0
    assert f"{ebay:,} of 100 per day" in firings[0].quota[0]
    assert f"{2 * ebay:,} of 100 per day" in firings[1].quota[0]
    assert "over the quota" in firings[-1].quota[0]


@pytest.mark.django_db
def test_a_schedule_fires_with_its_ebay_queries(django_capture_on_commit_callbacks):
    _schedule(cron="*/5 * * * *", ebay_queries=4)
    with django_capture_on_commit_callbacks(execute=True):
        (firing,) = schedules_run_due(now=T0 + dt.timedelta(minutes=1))
    assert CollectionRun.objects.get(pk=firing.run_id).ebay_queries == 4
