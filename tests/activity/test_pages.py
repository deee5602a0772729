"""The live pages: access, cold render of a finished run from stored events, CSP, controls."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from activity.events import EventRecorder
from activity.payloads import Action
from activity.selectors import run_live_state_get
from collection.models import CollectionRun, RunTask
from collection.services.lifecycle import run_transition

from .conftest import new_run

pytestmark = pytest.mark.django_db

HOSTILE_TITLE = '<img src=x onerror=alert(1)><script>alert("t")</script> Widget'
HOSTILE_SELLER = "<script>alert('s')</script>deals"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def finished_run_with_history() -> CollectionRun:
    """A completed run whose history is only in the database (nothing live)."""
    run = new_run()
    RunTask.objects.create(run=run, phase="amazon", key="amazon:172282:1", status="done")
    RunTask.objects.create(run=run, phase="ebay", key="ebay:B0X:1", status="done")
    RunTask.objects.create(
        run=run, phase="ebay", key="ebay:B0Y:1", status="failed", error_type="timeout"
    )
    recorder = EventRecorder(run.pk)
    recorder.emit(Action.RUN_STARTED)
    recorder.emit(
        Action.FETCHING,
        worker=1,
        phase="ebay",
        page=1,
        product=HOSTILE_TITLE,
        url="https://api.ebay.example/buy/browse/v1/item_summary/search?q=x",
    )
    recorder.emit(Action.FOUND, worker=1, phase="ebay", count=3, skipped=0, has_next=False)
    recorder.emit(
        Action.RETRYING, worker=2, phase="ebay", attempt=2, delay_s=0.5, error_type="timeout"
    )
    recorder.emit(
        Action.ERROR,
        worker=2,
        phase="ebay",
        error_type="timeout",
        message="gave up",
        task="ebay:B0Y:1",
    )
    recorder.emit(Action.INSERTED, phase="ebay", sellers=1, names=[HOSTILE_SELLER])
    recorder.emit(Action.COMPLETED, summary={"sellers_new": 1})
    recorder.flush()
    run_transition(run_id=run.pk, to=CollectionRun.Status.RUNNING)
    run_transition(run_id=run.pk, to=CollectionRun.Status.COMPLETED)
    return CollectionRun.objects.get(pk=run.pk)


def page_state(response) -> dict:
    match = re.search(
        rb'<script id="run-state" type="application/json">(.*?)</script>',
        response.content,
        re.S,
    )
    assert match, "the page carries its initial state as a JSON data block"
    return json.loads(match.group(1))


def test_anonymous_is_sent_to_the_admin_login(run):
    for url in (reverse("activity:run_list"), reverse("activity:run_detail", args=[run.pk])):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_users_without_the_view_permission_get_403(run, non_staff, staff_without_permission):
    for user in (non_staff, staff_without_permission):
        client = logged_in(user)
        assert client.get(reverse("activity:run_list")).status_code == 403
        assert client.get(reverse("activity:run_detail", args=[run.pk])).status_code == 403


def test_unknown_run_is_404(viewer):
    assert logged_in(viewer).get(reverse("activity:run_detail", args=[999999])).status_code == 404


def test_finished_run_opened_cold_shows_its_stored_history(viewer):
    run = finished_run_with_history()
    response = logged_in(viewer).get(reverse("activity:run_detail", args=[run.pk]))
    assert response.status_code == 200
    state = page_state(response)
    assert state["run"]["status"] == "completed"
    assert state["last_seq"] == 7 == state["run"]["event_seq"]
    assert [e["action"] for e in state["feed"]] == [
        "run_started",
        "fetching",
        "found",
        "retrying",
        "error",
        "inserted",
        "completed",
    ]
    assert state["run"]["progress"]["ebay"] == {"total": 2, "finished": 2, "failed": 1}
    assert state["run"]["progress"]["amazon"] == {"total": 1, "finished": 1, "failed": 0}
    workers = {w["worker"]: w for w in state["workers"]}
    assert workers[1]["counts"]["fetching"] == 1 and workers[1]["counts"]["found"] == 1
    assert workers[1]["last"]["action"] == "found" and workers[1]["last_error"] is None
    assert workers[2]["last_error"]["data"]["message"] == "gave up"
    assert state["errors_by_type"] == {"timeout": {"retrying": 1, "error": 1}}

    # Scraped text never reaches the HTML as markup: only escaped inside the data block.
    html = response.content.decode()
    assert "<img src=x" not in html and "<script>alert" not in html
    assert "onerror=alert(1)" in html  # present, as text in JSON (\u003Cimg ...)


def test_run_list_shows_runs(viewer):
    run = finished_run_with_history()
    response = logged_in(viewer).get(reverse("activity:run_list"))
    assert response.status_code == 200
    assert f'data-run-id="{run.pk}"'.encode() in response.content
    assert reverse("activity:run_detail", args=[run.pk]).encode() in response.content


def test_every_page_carries_a_csp_without_inline_scripts(viewer, run):
    client = logged_in(viewer)
    for url in (reverse("activity:run_list"), reverse("activity:run_detail", args=[run.pk])):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        directives = dict(
            (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
        )
        assert directives["script-src"] == ["'self'"]
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        # No inline script or style in our markup either (the CSP would block them).
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert " style=" not in html and "<style" not in html
        tags = " ".join(re.findall(r"<[a-z][^>]*>", html))
        assert not re.search(r"\son[a-z]+\s*=", tags), "no inline event handlers"


def test_controls_require_post_and_csrf(operator):
    run = new_run()
    url = reverse("activity:run_control", args=[run.pk, "pause"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    assert CollectionRun.objects.get(pk=run.pk).status == "queued"

    page = client.get(reverse("activity:run_detail", args=[run.pk]))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    response = client.post(url, {"csrfmiddlewaretoken": token.decode()})
    assert response.status_code == 302
    assert CollectionRun.objects.get(pk=run.pk).status == "paused"


def test_controls_call_the_run_services(operator, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    run = new_run()
    client = logged_in(operator)

    def post(action):
        return client.post(reverse("activity:run_control", args=[run.pk, action]), follow=True)

    assert CollectionRun.objects.get(pk=run.pk).status == "queued"
    post("pause")
    assert CollectionRun.objects.get(pk=run.pk).status == "paused"
    with django_capture_on_commit_callbacks(execute=True):
        post("resume")
    assert CollectionRun.objects.get(pk=run.pk).status == "queued"
    assert DBTaskResult.objects.count() == 1  # handed to a task worker after commit
    response = post("resume")  # a queued run cannot be resumed: the operator is told why
    assert b"cannot become queued" in response.content
    post("cancel")
    assert CollectionRun.objects.get(pk=run.pk).status == "cancelled"
    assert client.post(reverse("activity:run_control", args=[run.pk, "explode"])).status_code == 404


def test_a_viewer_cannot_use_the_controls(viewer):
    run = new_run()
    client = logged_in(viewer)
    page = client.get(reverse("activity:run_detail", args=[run.pk]))
    assert b'data-action="pause"' not in page.content
    response = client.post(reverse("activity:run_control", args=[run.pk, "cancel"]))
    assert response.status_code == 403
    assert CollectionRun.objects.get(pk=run.pk).status == "queued"


def test_live_state_equals_replaying_every_event():
    """The server-side aggregate is what a page gets by applying the events one by one."""
    run = finished_run_with_history()
    state = run_live_state_get(run_id=run.pk)
    from activity.models import RunEvent

    counts: dict[int, dict[str, int]] = {}
    for event in RunEvent.objects.filter(run=run, worker__gt=0):
        per = counts.setdefault(event.worker, {})
        per[event.action] = per.get(event.action, 0) + 1
    for worker in state["workers"]:
        assert {k: v for k, v in worker["counts"].items() if v} == counts[worker["worker"]]


def test_admin_change_page_links_to_the_live_page(admin_client):
    run = new_run()
    response = admin_client.get(reverse("admin:collection_collectionrun_change", args=[run.pk]))
    assert reverse("activity:run_detail", args=[run.pk]).encode() in response.content
