"""Bad operator input, through every interface: a clear error, and nothing changed.

Unknown categories and presets, negative or absurd workers/pages/markup, malformed or
never-firing cron expressions, resuming (pausing, cancelling, re-running) unknown or
finished runs — through ``run_collection``, the admin forms and actions, the live page's
controls and the services they call. Each case compares every row of every table before
and after (``db_state``), not only the table the input was meant for.
"""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from collection.models import Category, CategoryPreset, CollectionRun, Schedule
from collection.services import dispatch, lifecycle, worker
from collection.services.execution import run_execution_begin
from collection.services.schedules import ScheduleError, schedule_save

from .conftest import db_state

pytestmark = pytest.mark.django_db

NODE = "12097479011"  # Headphones, in the catalogue
ABSURD_NUMBERS = ["-1", "0", "201", "1e3", "9" * 40, "NaN", "inf", "", " ", "5.5", "0x10", "五"]
ABSURD_MARKUPS = ["-1", "-0.01", "NaN", "-inf", "inf", "1e400", "10000.01", "abc", "", "1,5"]


@pytest.fixture
def admin_user():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", None)


@pytest.fixture
def client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def finished_runs():
    """A completed, a cancelled and a failed-but-resumable run (plus a queued one)."""
    category = Category.objects.get(node_id=NODE)
    runs = {}
    for status in ("completed", "cancelled", "queued"):
        run = lifecycle.run_create(categories=[category], workers=2)
        CollectionRun.objects.filter(pk=run.pk).update(status=status)
        runs[status] = CollectionRun.objects.get(pk=run.pk)
    return runs


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- run_collection -----------------------------------------------------------------------


def _command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("run_collection", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# ``--option=value``: argparse would read a value such as "-inf" as another option.
COMMAND_CASES = [
    *[(("--categories", NODE, f"--workers={value}"), "--workers") for value in ABSURD_NUMBERS],
    *[
        (("--categories", NODE, f"--ebay-pages={value}"), "(--ebay-pages|eBay pages)")
        for value in ("0", "-3", "201", "100000", "1e2", "2.0", "NaN")
    ],
    *[
        (("--categories", NODE, f"--amazon-pages={value}"), "(--amazon-pages|Amazon pages)")
        for value in ("0", "3", "-1", "65536", "one")
    ],
    *[
        (("--categories", NODE, f"--markup-min={value}"), "(--markup-min|markup)")
        for value in ABSURD_MARKUPS
    ],
    *[
        (("--categories", NODE, f"--markup-max={value}"), "(--markup-max|markup)")
        for value in ABSURD_MARKUPS
    ],
    (("--categories", NODE, "--markup-min", "90", "--markup-max", "80"), "above markup max"),
    (("--categories", "0"), r"Unknown category node id\(s\): 0"),
    (("--categories", f"{NODE},424242424242"), r"Unknown category node id\(s\): 424242424242"),
    (("--categories", "<script>alert(1)</script>"), "Unknown category node id"),
    (("--categories", "' OR 1=1 --"), "Unknown category node id"),
    (("--categories", ",,, ,"), "Choose what to collect"),
    (("--preset", "  "), "Choose what to collect"),
    (("--preset", "Sampler'; DROP TABLE collection_seller; --"), "Unknown preset"),
    (("--preset", "sampler"), "Unknown preset 'sampler'"),  # names are exact
    (("--resume", "0"), "Run 0 does not exist"),
    (("--resume=-5",), "does not exist"),
    (("--resume", "1e3"), "--resume must be a whole number"),
    (("--resume", "99999999999999999999999"), "does not exist"),
]


def test_run_collection_refuses_bad_input_and_changes_nothing():
    before = db_state()
    for args, message in COMMAND_CASES:
        with pytest.raises(CommandError) as caught:
            _command(*args)
        text = str(caught.value)
        assert caught.value.returncode == 2, (args, text)
        assert re.search(message, text), (args, text)
        assert "\n" not in text and "Traceback" not in text, args
    assert db_state() == before


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_run_collection_will_not_resume_a_finished_run(finished_runs, status):
    run = finished_runs[status]
    before = db_state()
    with pytest.raises(CommandError, match=f"is {status}; only a paused") as caught:
        _command("--resume", str(run.pk))
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="only --workers may change"):
        _command("--resume", str(run.pk), "--categories", NODE)
    assert db_state() == before


# --- services -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"workers": 0},
        {"workers": -4},
        {"workers": 201},
        {"workers": 10**18},
        {"workers": "5"},
        {"workers": 2.5},
        {"amazon_pages": 0},
        {"amazon_pages": 3},
        {"ebay_pages": 0},
        {"ebay_pages": 10**6},
        {"ebay_pages": "3"},
        {"markup_min_percent": "-1"},
        {"markup_max_percent": "NaN"},
        {"markup_max_percent": "1e400"},
        {"markup_min_percent": "200", "markup_max_percent": "100"},
        {"markup_min_percent": object()},
        {"markup_max_percent": float("inf")},
    ],
    ids=repr,
)
def test_run_services_refuse_bad_options(options):
    category = Category.objects.get(node_id=NODE)
    before = db_state()
    with pytest.raises(lifecycle.RunOptionsError) as caught:
        dispatch.run_start(categories=[category], **options)
    assert str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(lifecycle.RunOptionsError):
        lifecycle.run_create(categories=[category], **options)
    assert db_state() == before


def test_run_services_refuse_unknown_selections():
    before = db_state()
    with pytest.raises(lifecycle.RunOptionsError, match="Unknown category"):
        lifecycle.categories_resolve(node_ids=["1", NODE, "<b>"])
    with pytest.raises(lifecycle.RunOptionsError, match="Unknown preset"):
        lifecycle.categories_resolve(preset_names=["No such"])
    with pytest.raises(lifecycle.RunOptionsError, match="at least one category"):
        dispatch.run_start(categories=[])
    empty = CategoryPreset.objects.create(name="Empty")
    before = db_state()
    with pytest.raises(lifecycle.RunOptionsError, match="at least one category"):
        dispatch.run_start(categories=empty.categories.all(), preset=empty)
    assert db_state() == before


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_finished_runs_cannot_be_resumed_paused_cancelled_or_executed(finished_runs, status):
    run = finished_runs[status]
    before = db_state()
    for service in (
        dispatch.run_resume,
        lifecycle.run_pause,
        lifecycle.run_cancel,
        dispatch.run_worker_add,
        lifecycle.run_mark_queued_for_resume,
    ):
        with pytest.raises(lifecycle.InvalidTransition, match=f"is {status}"):
            service(run_id=run.pk)
    with pytest.raises(lifecycle.InvalidTransition, match=f"is {status}"):
        run_execution_begin(run_id=run.pk, executor="test")  # what run_execute does first
    assert db_state() == before


def test_unknown_runs_are_refused_by_the_execution_entry_points():
    before = db_state()
    with pytest.raises(lifecycle.InvalidTransition, match="Run 424242 does not exist"):
        run_execution_begin(run_id=424242, executor="test")
    assert worker.run_worker_execute(run_id=424242) == {
        "run_id": 424242,
        "status": "missing",
        "skipped": True,
    }
    with pytest.raises(lifecycle.InvalidTransition):
        dispatch.run_rerun(run_id=CollectionRun.objects.create().pk)  # queued: not finished
    assert CollectionRun.objects.count() == 1
    CollectionRun.objects.all().delete()
    assert db_state() == before


# --- schedules ------------------------------------------------------------------------------

BAD_CRONS = [
    "",
    "   ",
    "every night",
    "* * * *",
    "* * * * * *",
    "61 * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "*/0 * * * *",
    "@reboot",
    "@never",
    "0 3 * * * ; rm -rf /",
    "0 3 * * *\n0 4 * * *",
    "٠ ٣ * * *",
    "0" * 200,
    # Valid syntax, but no such day: a schedule that can never fire.
    "0 0 31 2 *",
    "0 0 30 2 *",
    "0 0 31 4 *",
]


@pytest.fixture
def preset():
    preset = CategoryPreset.objects.create(name="Nightly")
    preset.categories.set(Category.objects.filter(node_id=NODE))
    return preset


def test_schedule_service_refuses_bad_crons(preset):
    before = db_state()
    for cron in BAD_CRONS:
        with pytest.raises(ScheduleError) as caught:
            schedule_save(schedule=Schedule(name="nightly", preset=preset, cron=cron))
        assert re.search("is not a cron expression|never fires", str(caught.value)), cron
    assert db_state() == before


SCHEDULE_FORM = {
    "name": "nightly",
    "enabled": "on",
    "workers": "5",
    "amazon_pages": "1",
    "ebay_pages": "3",
    "markup_min_percent": "80",
    "markup_max_percent": "120",
    "cron": "0 3 * * *",
}
SCHEDULE_FORM_CASES = [
    *[
        {"cron": cron}
        for cron in (
            "",
            "every night",
            "* * * * * *",
            "*/0 * * * *",
            "@reboot",
            "0 3 * * * ; rm -rf /",
            "0 0 31 2 *",
            "0 0 30 2 *",
        )
    ],
    {"workers": "0"},
    {"workers": "-2"},
    {"workers": "100000"},
    {"ebay_pages": "0"},
    {"ebay_pages": "70000"},
    {"amazon_pages": "3"},
    {"markup_min_percent": "-5"},
    {"markup_max_percent": "NaN"},
    {"markup_max_percent": "99999"},
    {"markup_min_percent": "130", "markup_max_percent": "120"},
    {"name": ""},
    {"preset": "99999"},
]


def test_schedule_admin_form_refuses_bad_input(client, preset):
    url = reverse("admin:collection_schedule_add")
    before = db_state()
    for changes in SCHEDULE_FORM_CASES:
        response = client.post(url, {**SCHEDULE_FORM, "preset": preset.pk, **changes})
        assert response.status_code == 200, changes  # the form again, with the error
        assert response.context["adminform"].form.errors, changes
    assert db_state() == before


def test_schedule_admin_change_refuses_a_never_firing_cron(client, preset):
    response = client.post(
        reverse("admin:collection_schedule_add"), {**SCHEDULE_FORM, "preset": preset.pk}
    )
    assert response.status_code == 302
    schedule = Schedule.objects.get()
    before = db_state()
    response = client.post(
        reverse("admin:collection_schedule_change", args=[schedule.pk]),
        {**SCHEDULE_FORM, "preset": preset.pk, "cron": "0 0 30 2 *"},
    )
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert db_state() == before


# --- the admin's start form and run controls ------------------------------------------------

OPTIONS = {
    "workers": "5",
    "amazon_pages": "1",
    "ebay_pages": "3",
    "markup_min_percent": "80",
    "markup_max_percent": "120",
}
START_CASES = [
    {"workers": "0"},
    {"workers": "-1"},
    {"workers": "201"},
    {"workers": "9" * 40},
    {"workers": "1e3"},
    {"workers": "NaN"},
    {"ebay_pages": "0"},
    {"ebay_pages": "1e9"},
    {"amazon_pages": "3"},
    {"markup_min_percent": "-0.01"},
    {"markup_max_percent": "inf"},
    {"markup_max_percent": "1e400"},
    {"markup_max_percent": "10000.01"},
    {"markup_min_percent": "121", "markup_max_percent": "120"},
]


def test_admin_start_forms_refuse_bad_options(client):
    category = Category.objects.get(node_id=NODE)
    before = db_state()
    for changes in START_CASES:
        # The intermediate form of the "start a run" action...
        response = client.post(
            reverse("admin:collection_category_changelist"),
            {
                "action": "start_run",
                "_selected_action": [category.pk],
                **OPTIONS,
                **changes,
                "apply": "1",
            },
        )
        assert response.status_code == 200 and response.context["form"].errors, changes
        # ...and the stand-alone start page.
        response = client.post(
            reverse("admin:collection_collectionrun_start"),
            {**OPTIONS, **changes, "categories": [category.pk], "apply": "1"},
        )
        assert response.status_code == 200 and response.context["form"].errors, changes
    assert db_state() == before


def test_admin_start_page_refuses_unknown_categories_and_presets(client):
    before = db_state()
    url = reverse("admin:collection_collectionrun_start")
    for selection in (
        {"categories": ["999999"]},
        {"presets": ["999999"]},
        {"categories": ["<script>"]},
        {},
    ):
        response = client.post(url, {**OPTIONS, **selection, "apply": "1"})
        assert response.status_code == 200 and response.context["form"].errors, selection
    assert db_state() == before


@pytest.mark.parametrize("op", ["resume", "pause", "cancel", "add_worker"])
def test_admin_controls_on_finished_runs_say_why_and_change_nothing(client, finished_runs, op):
    before = db_state()
    for status in ("completed", "cancelled"):
        run = finished_runs[status]
        response = client.post(
            reverse("admin:collection_collectionrun_control", args=[run.pk, op]), follow=True
        )
        assert response.status_code == 200
        assert any(f"is {status}" in m for m in _messages(response)), _messages(response)
    response = client.post(
        reverse("admin:collection_collectionrun_changelist"),
        {
            "action": f"{op}_runs" if op != "add_worker" else "add_worker_to_runs",
            "_selected_action": [finished_runs["completed"].pk, finished_runs["cancelled"].pk],
        },
        follow=True,
    )
    assert sum("Could not" in m for m in _messages(response)) == 2
    assert db_state() == before


def test_admin_controls_on_unknown_runs_and_actions_are_404(client, finished_runs):
    before = db_state()
    control = "admin:collection_collectionrun_control"
    assert client.post(reverse(control, args=[424242, "resume"])).status_code == 404
    queued = finished_runs["queued"]
    assert client.post(reverse(control, args=[queued.pk, "explode"])).status_code == 404
    assert client.get(reverse(control, args=[queued.pk, "resume"])).status_code == 405
    assert (
        client.post(
            reverse(control, args=[finished_runs["queued"].pk, "rerun"]), follow=True
        ).status_code
        == 200
    )  # refused with a message: not finished
    assert db_state() == before


def test_live_page_controls_on_unknown_and_finished_runs(client, finished_runs):
    before = db_state()
    assert client.post(reverse("activity:run_control", args=[424242, "resume"])).status_code == 404
    for status in ("completed", "cancelled"):
        for action in ("resume", "pause", "cancel"):
            response = client.post(
                reverse("activity:run_control", args=[finished_runs[status].pk, action]),
                follow=True,
            )
            assert response.status_code == 200
            assert any(f"is {status}" in m for m in _messages(response))
    assert db_state() == before


def test_seller_rename_refuses_an_overlong_name(client):
    from collection.models import Seller

    seller = Seller.objects.create(username="alpha", normalized="alpha")
    before = db_state()
    response = client.post(
        reverse("admin:collection_seller_change", args=[seller.pk]),
        {
            "display_name": "x" * 256,
            "sightings-TOTAL_FORMS": "0",
            "sightings-INITIAL_FORMS": "0",
            "sightings-MIN_NUM_FORMS": "0",
            "sightings-MAX_NUM_FORMS": "0",
        },
    )
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert db_state() == before
