"""The admin: start runs (intermediate form), run controls, sellers, schedules, history."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.tasks import TaskResultStatus
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from collection.models import (
    Category,
    CategoryPreset,
    CollectionRun,
    Product,
    RunTask,
    Schedule,
    Seller,
    SellerChange,
    SellerSighting,
)
from collection.services.lifecycle import run_cancel, run_create, run_pause

pytestmark = pytest.mark.django_db

Status = CollectionRun.Status
CHANGELIST = {
    "category": reverse("admin:collection_category_changelist"),
    "preset": reverse("admin:collection_categorypreset_changelist"),
    "run": reverse("admin:collection_collectionrun_changelist"),
    "seller": reverse("admin:collection_seller_changelist"),
}
OPTIONS = {
    "workers": "12",
    "amazon_pages": "2",
    "ebay_pages": "4",
    "ebay_queries": "3",
    "markup_min_percent": "50",
    "markup_max_percent": "90",
}


@pytest.fixture
def admin_user():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", None)


@pytest.fixture
def client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _enqueued():
    return sorted(
        r.args_kwargs["kwargs"]["run_id"]
        for r in DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    )


def _departments(n):
    return list(Category.objects.filter(is_department=True).order_by("node_id")[:n])


def test_start_a_run_from_selected_categories(
    client, admin_user, django_capture_on_commit_callbacks
):
    categories = _departments(3)
    selection = {"action": "start_run", "_selected_action": [c.pk for c in categories]}

    form = client.post(CHANGELIST["category"], selection)
    assert form.status_code == 200
    assert b"Start the run" in form.content and b'name="csrfmiddlewaretoken"' in form.content
    assert b"Estimate" in form.content  # issue 9's estimate, shown before starting
    assert not CollectionRun.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHANGELIST["category"], {**selection, **OPTIONS, "apply": "1"})
    run = CollectionRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{run.pk}/"  # lands on the run's live page
    assert (run.status, run.workers, run.amazon_pages, run.ebay_pages) == (Status.QUEUED, 12, 2, 4)
    assert run.ebay_queries == 3
    assert (run.markup_min_percent, run.markup_max_percent) == (Decimal(50), Decimal(90))
    assert run.started_by == admin_user and run.preset is None
    assert set(run.categories.all()) == set(categories)
    assert _enqueued() == [run.pk]
    (message,) = _messages(response)
    assert f'href="/runs/{run.pk}/"' in message and "queued over 3 categories" in message


def test_start_from_presets_merges_them(client, django_capture_on_commit_callbacks):
    one = CategoryPreset.objects.create(name="One")
    one.categories.set(_departments(2))
    two = CategoryPreset.objects.create(name="Two")
    two.categories.set(_departments(3)[1:])
    base = {"action": "start_run", **OPTIONS, "apply": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CHANGELIST["preset"], {**base, "_selected_action": [one.pk, two.pk]})
        client.post(CHANGELIST["preset"], {**base, "_selected_action": [one.pk]})
    merged, single = CollectionRun.objects.order_by("pk")
    assert merged.categories.count() == 3 and merged.preset is None
    assert single.categories.count() == 2 and single.preset == one


def test_bad_options_show_the_form_again(client):
    response = client.post(
        CHANGELIST["category"],
        {
            "action": "start_run",
            "_selected_action": [_departments(1)[0].pk],
            **OPTIONS,
            "markup_min_percent": "150",
            "apply": "1",
        },
    )
    assert response.status_code == 200
    assert b"is above markup max" in response.content
    assert not CollectionRun.objects.exists()


def test_the_active_run_limit_is_a_clear_error(client, settings):
    settings.COLLECTION_MAX_ACTIVE_RUNS = 1
    run_create(categories=_departments(1))
    response = client.post(
        CHANGELIST["category"],
        {
            "action": "start_run",
            "_selected_action": [_departments(1)[0].pk],
            **OPTIONS,
            "apply": "1",
        },
        follow=True,
    )
    assert CollectionRun.objects.count() == 1
    assert any("1 runs are already queued or running (limit 1)" in m for m in _messages(response))


def test_the_start_page_takes_presets_and_categories(client, django_capture_on_commit_callbacks):
    url = reverse("admin:collection_collectionrun_start")
    assert client.get(url).status_code == 200
    response = client.post(url, {**OPTIONS, "apply": "1"})
    assert b"Choose at least one preset or category" in response.content
    preset = CategoryPreset.objects.create(name="P")
    preset.categories.set(_departments(2))
    extra = _departments(4)[3]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {**OPTIONS, "presets": [preset.pk], "categories": [extra.pk], "apply": "1"}
        )
    run = CollectionRun.objects.get()
    assert response.status_code == 302 and run.categories.count() == 3
    assert _enqueued() == [run.pk]


def test_admin_posts_need_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(
        CHANGELIST["category"],
        {
            "action": "start_run",
            "_selected_action": [_departments(1)[0].pk],
            **OPTIONS,
            "apply": "1",
        },
    )
    assert response.status_code == 403
    run = run_create(categories=_departments(1))
    url = reverse("admin:collection_collectionrun_control", args=[run.pk, "pause"])
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 405
    run.refresh_from_db()
    assert run.status == Status.QUEUED


def test_run_actions_pause_resume_cancel_rerun(client, django_capture_on_commit_callbacks):
    queued = run_create(categories=_departments(2), workers=3)
    finished = run_create(categories=_departments(1), ebay_pages=7)
    run_cancel(run_id=finished.pk)

    def act(action, *runs):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                CHANGELIST["run"],
                {"action": action, "_selected_action": [r.pk for r in runs]},
                follow=True,
            )

    response = act("pause_runs", queued)
    queued.refresh_from_db()
    assert queued.status == Status.PAUSED
    assert any(f"Run {queued.pk} is now paused" in m for m in _messages(response))

    act("resume_runs", queued)
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED and _enqueued() == [queued.pk]

    response = act("rerun_runs", finished, queued)
    rerun = CollectionRun.objects.get(rerun_of=finished)
    assert rerun.ebay_pages == 7 and sorted(_enqueued()) == sorted([queued.pk, rerun.pk])
    assert any(f"Could not re-run run {queued.pk}" in m for m in _messages(response))

    act("add_worker_to_runs", queued)
    assert _enqueued().count(queued.pk) == 2

    act("cancel_runs", queued)  # asks first
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            CHANGELIST["run"],
            {"action": "cancel_runs", "_selected_action": [queued.pk], "confirm": "yes"},
        )
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED


def test_cancel_asks_for_confirmation_first(client):
    """Issue 14: one click on "Cancel the run" ended a run for good."""
    run = run_create(categories=_departments(1))
    url = reverse("admin:collection_collectionrun_control", args=[run.pk, "cancel"])
    page = client.get(reverse("admin:collection_collectionrun_change", args=[run.pk]))
    assert f'href="{url}"'.encode() in page.content  # a link to the question, not a POST

    question = client.get(url)
    assert question.status_code == 200
    assert (
        b"cannot be resumed" in question.content
        and b'name="confirm" value="yes"' in question.content
    )
    client.post(url)  # a bare POST (the old button) still only asks
    run.refresh_from_db()
    assert run.status == Status.QUEUED

    response = client.post(url, {"confirm": "yes"})
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and response.status_code == 302

    other = run_create(categories=_departments(1))
    question = client.post(
        CHANGELIST["run"], {"action": "cancel_runs", "_selected_action": [other.pk]}
    )
    assert question.status_code == 200 and b"Yes, cancel the run" in question.content
    other.refresh_from_db()
    assert other.status == Status.QUEUED


def test_rerun_from_the_run_page_lands_on_the_new_runs_live_page(
    client, django_capture_on_commit_callbacks
):
    finished = run_create(categories=_departments(1), ebay_pages=3)
    run_cancel(run_id=finished.pk)
    page = client.get(reverse("admin:collection_collectionrun_change", args=[finished.pk]))
    assert b"Re-run with the same options" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:collection_collectionrun_control", args=[finished.pk, "rerun"])
        )
    rerun = CollectionRun.objects.get(rerun_of=finished)
    assert response.status_code == 302 and response["Location"] == f"/runs/{rerun.pk}/"
    assert rerun.ebay_pages == 3 and _enqueued() == [rerun.pk]


def test_a_running_run_gets_a_pause_request(client):
    run = run_create(categories=_departments(1))
    CollectionRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now()
    )
    response = client.post(
        reverse("admin:collection_collectionrun_control", args=[run.pk, "pause"]), follow=True
    )
    run.refresh_from_db()
    assert (run.status, run.requested_action) == (Status.RUNNING, "pause")
    assert any("pause requested" in m for m in _messages(response))
    page = client.get(reverse("admin:collection_collectionrun_change", args=[run.pk]))
    assert page.status_code == 200 and b"Add a worker process" in page.content
    assert f'href="/runs/{run.pk}/"'.encode() in page.content


def test_run_outcome_page_escapes_scraped_names(client):
    run = run_create(categories=_departments(1))
    seller = Seller.objects.create(username="<script>alert(1)</script>", normalized="x1")
    SellerChange.objects.create(action="added", source="run", seller=seller, run=run)
    product = Product.objects.create(asin="B0ADM00001", title="P")
    SellerSighting.objects.create(run=run, seller=seller, product=product)
    RunTask.objects.create(
        run=run,
        phase="ebay",
        key="ebay:B0ADM00001:1",
        status="failed",
        error_type="timeout",
        error_message="<b>read timeout</b>",
    )
    response = client.get(reverse("admin:collection_collectionrun_outcome", args=[run.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
    assert "timeout 1" in body and "&lt;b&gt;read timeout&lt;/b&gt;" in body
    assert "Added by this run (1)" in body


def test_seller_actions_and_rename_write_changes(client, admin_user):
    sellers = [Seller.objects.create(username=f"u{i}", normalized=f"u{i}") for i in range(3)]
    ids = [s.pk for s in sellers]
    client.post(CHANGELIST["seller"], {"action": "flag_sellers", "_selected_action": ids[:2]})
    client.post(CHANGELIST["seller"], {"action": "delete_sellers", "_selected_action": ids})
    client.post(CHANGELIST["seller"], {"action": "restore_sellers", "_selected_action": ids[2:]})
    assert Seller.objects.filter(flagged=True).count() == 2
    active = Seller.objects.filter(deleted_at__isnull=True).values_list("pk", flat=True)
    assert list(active) == ids[2:]
    deleted = SellerChange.objects.filter(action="deleted").order_by("id")
    assert [c.seller_count_after for c in deleted] == [2, 1, 0]
    assert {c.actor_id for c in SellerChange.objects.all()} == {admin_user.pk}

    change_url = reverse("admin:collection_seller_change", args=[ids[0]])
    response = client.post(change_url, {"display_name": "Gadget Hub"})
    assert response.status_code == 302, response.content[:2000]
    renamed = SellerChange.objects.get(action="renamed")
    assert renamed.details == {"from": "", "to": "Gadget Hub"} and renamed.actor == admin_user
    # No hard delete: history must survive.
    assert client.get(reverse("admin:collection_seller_delete", args=[ids[0]])).status_code == 403


def test_sellers_sort_by_score(client):
    for i, score in enumerate([0.5, 3.0, 1.5]):
        Seller.objects.create(username=f"s{i}", normalized=f"s{i}", score=score)
    default = client.get(CHANGELIST["seller"])
    assert [s.score for s in default.context["cl"].result_list] == [3.0, 1.5, 0.5]
    column = default.context["cl"].list_display.index("score")  # 0 is the checkbox
    ascending = client.get(CHANGELIST["seller"], {"o": str(column)})
    assert [s.score for s in ascending.context["cl"].result_list] == [0.5, 1.5, 3.0]


def test_export_action_streams_csv_and_logs_it(client, admin_user):
    Seller.objects.create(username="=evil()", normalized="evil", flagged=True)
    Seller.objects.create(username="fine", normalized="fine")
    ids = list(Seller.objects.values_list("pk", flat=True))
    response = client.post(
        CHANGELIST["seller"] + "?flagged__exact=1",
        {"action": "export_csv", "_selected_action": ids, "select_across": "1"},
    )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["username"] for r in rows] == ["'=evil()"]
    change = SellerChange.objects.get(action="exported")
    assert change.actor == admin_user
    assert change.details["filters"] == {"flagged__exact": "1"}
    assert change.details["rows_written"] == 1


def test_export_streams_under_asgi_without_collecting(admin_user):
    """Under daphne (ASGI) Django would collect a sync iterator into a list first."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    Seller.objects.bulk_create(Seller(username=f"a{i}", normalized=f"a{i}") for i in range(1200))
    client = AsyncClient()

    async def export():
        # Sync code of the request (the admin, the ORM) comes back to this test's thread
        # through async_to_sync: same connection, same test transaction.
        await client.aforce_login(admin_user)
        response = await client.post(
            CHANGELIST["seller"],
            {"action": "export_json", "_selected_action": ["1"], "select_across": "1"},
        )
        assert response.is_async
        return [chunk async for chunk in response.streaming_content]

    chunks = async_to_sync(export)()
    assert len(chunks) > 2  # arrived in pieces
    assert len(json.loads(b"".join(chunks))) == 1200


def test_builtin_preset_cannot_be_deleted_in_the_admin(client):
    builtin = CategoryPreset.objects.get(name=CategoryPreset.ALL_DEPARTMENTS)
    delete_url = reverse("admin:collection_categorypreset_delete", args=[builtin.pk])
    assert client.get(delete_url).status_code == 403
    client.post(
        CHANGELIST["preset"],
        {"action": "delete_selected", "_selected_action": [builtin.pk], "post": "yes"},
    )
    assert CategoryPreset.objects.filter(pk=builtin.pk).exists()


def test_schedule_admin_validates_cron_and_shows_the_next_run(client):
    preset = CategoryPreset.objects.create(name="Nightly")
    preset.categories.set(_departments(1))
    url = reverse("admin:collection_schedule_add")
    data = {
        "name": "nightly",
        "preset": preset.pk,
        "enabled": "on",
        "workers": "5",
        "amazon_pages": "1",
        "ebay_pages": "3",
        "markup_min_percent": "80",
        "markup_max_percent": "120",
    }
    response = client.post(url, {**data, "cron": "every night"})
    assert response.status_code == 200 and b"is not a cron expression" in response.content
    assert not Schedule.objects.exists()
    assert client.post(url, {**data, "cron": "0 3 * * *"}).status_code == 302
    schedule = Schedule.objects.get()
    assert schedule.next_run_at > timezone.now()
    assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (3, 0)
    listing = client.get(reverse("admin:collection_schedule_changelist"))
    assert b"0 3 * * *" in listing.content


def test_history_page_shows_as_of_and_diff(client):
    run1 = run_create(categories=_departments(1))
    run2 = run_create(categories=_departments(1))
    a = Seller.objects.create(username="alpha", normalized="alpha")
    SellerChange.objects.create(action="added", source="run", seller=a, run=run2)
    CollectionRun.objects.filter(pk=run1.pk).update(finished_at=a.created_at.replace(year=2000))
    CollectionRun.objects.filter(pk=run2.pk).update(finished_at=timezone.now())
    url = reverse("admin:collection_seller_list_history")
    assert client.get(url).status_code == 200
    response = client.get(url, {"from_run": run1.pk, "to_run": run2.pk, "as_of_run": run2.pk})
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        f"Added (in the list at run {run2.pk}, not at run {run1.pk}: new or restored in between): 1"
        in body
    )
    assert f"as of run {run2.pk}" in body and "alpha" in body
    back = client.get(url, {"from_run": run2.pk, "to_run": run1.pk}).content.decode()
    assert "this diff goes back in time" in back
    assert "soft-deleted in between" not in back
    assert (
        f"Not yet in the earlier list (at run {run2.pk}, not at run {run1.pk}:"
        f" new or restored after run {run1.pk}): 1" in back
    )
    bad = client.get(url, {"from_run": 999999})
    assert b"A diff needs both runs" in bad.content or b"does not exist" in bad.content


def test_runs_cannot_be_added_as_bare_rows(client):
    assert client.get(reverse("admin:collection_collectionrun_add")).status_code == 403
    run = run_create(categories=_departments(1))
    run_pause(run_id=run.pk)
    page = client.get(reverse("admin:collection_collectionrun_change", args=[run.pk]))
    assert b"Resume" in page.content and b'name="_save"' not in page.content


def test_a_sellers_object_history_is_still_djangos(client):
    """The seller list's History page must not shadow ModelAdmin.history_view (nor its
    URL name)."""
    seller = Seller.objects.create(username="h", normalized="h")
    url = reverse("admin:collection_seller_history", args=[seller.pk])
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:collection_seller_list_history")).status_code == 200


def _schedule_form(preset, **extra):
    return {
        "name": "often",
        "preset": preset.pk,
        "enabled": "on",
        "workers": "5",
        "amazon_pages": "1",
        "ebay_pages": "2",
        "ebay_queries": "3",
        "markup_min_percent": "80",
        "markup_max_percent": "120",
        **extra,
    }


def test_a_schedule_more_often_than_hourly_needs_a_yes(client):
    """Issue 14: "*/5 * * * *" saved silently, a run every five minutes."""
    preset = CategoryPreset.objects.create(name="Often")
    preset.categories.set(_departments(1))
    url = reverse("admin:collection_schedule_add")
    response = client.post(url, _schedule_form(preset, cron="*/5 * * * *"))
    assert response.status_code == 200 and not Schedule.objects.exists()
    assert b"more often than hourly" in response.content
    assert b"Yes, run this often" in response.content
    # The form shows what it would do: the next 3 firings and their requests.
    assert response.content.count(b"UTC</strong>") == 3
    assert b"request" in response.content

    response = client.post(url, _schedule_form(preset, cron="*/5 * * * *", confirm_frequent="on"))
    assert response.status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.ebay_queries, schedule.ebay_pages) == ("*/5 * * * *", 3, 2)
    # Hourly is not "more often than hourly".
    response = client.post(url, _schedule_form(preset, name="hourly", cron="0 * * * *"))
    assert response.status_code == 302


def test_the_schedule_form_previews_without_saving(client, settings):
    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 50}}
    preset = CategoryPreset.objects.create(name="Nightly")
    preset.categories.set(_departments(1))
    url = reverse("admin:collection_schedule_add")
    response = client.post(url, _schedule_form(preset, cron="0 3 * * *", _preview="1"))
    body = response.content.decode()
    assert response.status_code == 200 and not Schedule.objects.exists()
    assert "preview: nothing is saved yet" in body and "Please correct" not in body
    assert body.count("UTC</strong>") == 3 and "of 50 per day used by then" in body
    saved = client.post(url, _schedule_form(preset, cron="0 3 * * *"))
    assert saved.status_code == 302
    page = client.get(reverse("admin:collection_schedule_change", args=[Schedule.objects.get().pk]))
    assert page.content.count(b"UTC</strong>") == 3


def test_a_preset_needs_categories(client):
    url = reverse("admin:collection_categorypreset_add")
    response = client.post(url, {"name": "Empty", "description": ""})
    assert response.status_code == 200 and b"at least one category" in response.content
    assert not CategoryPreset.objects.filter(name="Empty").exists()
    response = client.post(
        url, {"name": "Two", "description": "", "categories": [c.pk for c in _departments(2)]}
    )
    assert response.status_code == 302
    assert CategoryPreset.objects.get(name="Two").categories.count() == 2
