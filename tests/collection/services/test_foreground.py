"""The foreground run (run_collection): the same active-run limit as the admin."""

import pytest

from collection.models import Category, CategoryPreset, CollectionRun
from collection.services.foreground import run_foreground_create, run_foreground_resume
from collection.services.lifecycle import RunLimitReached, RunOptionsError, run_create, run_pause

pytestmark = pytest.mark.django_db


def _node() -> str:
    return Category.objects.order_by("node_id").first().node_id


def test_a_foreground_run_counts_against_the_active_run_limit(settings):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 1
    first = run_foreground_create(node_ids=[_node()], workers=2)
    assert first.status == CollectionRun.Status.QUEUED
    with pytest.raises(RunLimitReached):
        run_foreground_create(node_ids=[_node()], workers=2)
    assert CollectionRun.objects.count() == 1


def test_resuming_in_the_foreground_checks_the_limit_too(settings):
    paused = run_create(categories=Category.objects.order_by("node_id")[:1], workers=2)
    run_pause(run_id=paused.pk)
    settings.COLLECTION_MAX_ACTIVE_RUNS = 1
    run_create(categories=Category.objects.order_by("node_id")[:1], workers=2)  # queued
    with pytest.raises(RunLimitReached):
        run_foreground_resume(run_id=paused.pk)
    settings.COLLECTION_MAX_ACTIVE_RUNS = 2
    assert run_foreground_resume(run_id=paused.pk).pk == paused.pk
    with pytest.raises(RunOptionsError, match="does not exist"):
        run_foreground_resume(run_id=424242)


def test_a_run_of_one_preset_remembers_it():
    preset = CategoryPreset.objects.filter(categories__isnull=False).distinct().first()
    run = run_foreground_create(preset_names=[preset.name], workers=2)
    assert run.preset_id == preset.pk
    assert set(run.categories.all()) == set(preset.categories.all())
