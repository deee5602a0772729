"""Who gets in, and what a page may run: CSRF on every state change, CSP on every page,
and the websocket checks the live-activity tests do not already make.

Endpoints and admin actions are enumerated from the URL resolver and the admin registry,
so an endpoint added later is tested without anyone listing it here.
"""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from activity.events import EventRecorder
from activity.payloads import Action
from collection.models import (
    Category,
    CategoryPreset,
    CollectionRun,
    Product,
    ProviderUsage,
    RunTask,
    Schedule,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)
from collection.services.control import CONTROL_ACTIONS, LIVE_PAGE_ACTIONS
from collection.services.lifecycle import run_create

from .conftest import db_state

CSRF_FAILED = b"CSRF verification failed"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


# --- fixtures: one object of every kind the admin shows -----------------------------------


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def objects(superuser):
    """At least one row behind every admin URL that takes an object id."""
    from django_tasks_db.models import DBTaskResult

    from collection.tasks import run_collection_task

    category = Category.objects.get(node_id="12097479011")
    preset = CategoryPreset.objects.create(name=f"Preset {HOSTILE}")
    preset.categories.set([category])
    run = run_create(categories=[category], workers=2)
    finished = run_create(categories=[category], workers=2)
    CollectionRun.objects.filter(pk=finished.pk).update(status="completed", phase="done")
    product = Product.objects.create(asin="B0ACCESS01", title=f"Lamp {HOSTILE}", price=10)
    seller = Seller.objects.create(username=HOSTILE, normalized="hostile-seller")
    RunTask.objects.create(
        run=run,
        phase="ebay",
        key="ebay:B0ACCESS01:1",
        product=product,
        status="failed",
        error_type="parse_error",
        error_message=HOSTILE,
    )
    SellerSighting.objects.create(run=finished, seller=seller, product=product)
    SellerChange.objects.create(action="added", source="run", seller=seller, run=finished)
    SellerSnapshot.objects.create(
        run=finished, total_sellers=1, new_sellers=1, flagged_sellers=0, products_searched=1
    )
    schedule = Schedule.objects.create(name="nightly", preset=preset, cron="0 3 * * *")
    ProviderUsage.objects.create(provider="ebay", window_start=timezone.now(), requests=3)
    Group.objects.create(name="operators")
    with_task = run_collection_task.enqueue(run_id=run.pk)
    recorder = EventRecorder(run.pk)
    recorder.emit(Action.FETCHING, worker=1, phase="ebay", product=HOSTILE, url=HOSTILE)
    recorder.flush()
    return {
        "run": run,
        "finished": finished,
        "product": product,
        "seller": seller,
        "schedule": schedule,
        "task_result": DBTaskResult.objects.get(pk=with_task.id),
    }


# --- enumerating endpoints ------------------------------------------------------------------


def url_patterns() -> list[tuple[str, URLPattern]]:
    """(route with its prefixes, pattern) for every endpoint the project serves."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                found.append((prefix + str(pattern.pattern), pattern))

    walk(get_resolver().url_patterns, "")
    return found


def _pk_for(route: str, objects, superuser) -> str | None:
    """An existing object id for an ``admin/<app>/<model>/<object_id>/…`` route."""
    match = re.match(r"admin/(\w+)/(\w+)/", route)
    if not match:
        return None
    models_by_name = {(m._meta.app_label, m._meta.model_name): m for m in admin.site._registry}
    model = models_by_name.get(match.groups())
    if model is None:
        return None
    if model is get_user_model():
        return str(superuser.pk)
    row = model.objects.order_by("pk").first()
    return str(row.pk) if row is not None else None


def concrete_urls(objects, superuser) -> list[tuple[str, str]]:
    """(url, route) for every endpoint, parameters filled with real ids and every op."""
    urls = []
    run_id = str(objects["run"].pk)
    for route, pattern in url_patterns():
        if "(?P<url>" in route:  # the admin's final catch-all: any unknown admin path
            urls.append(("/admin/no-such-page/", route))
            continue
        if "(?P<app_label>" in route:
            urls += [(f"/admin/{label}/", route) for label in ("auth", "collection")]
            continue
        values: dict[str, list[str]] = {}
        for name in getattr(pattern.pattern, "converters", {}):
            if name == "run_id":
                values[name] = [run_id, str(objects["finished"].pk)]
            elif name == "op":
                values[name] = [*CONTROL_ACTIONS, "bogus"]
            elif name == "action":
                values[name] = [*LIVE_PAGE_ACTIONS, "bogus"]
            elif name in ("object_id", "id"):
                pk = _pk_for(route, objects, superuser)
                values[name] = [pk] if pk else []
            elif name == "seller_id":  # the operator pages (activity.urls)
                values[name] = [str(objects["seller"].pk), "999999"]
            elif name == "asin":
                values[name] = [objects["product"].asin, "NOSUCHASIN"]
            elif name == "content_type_id":
                values[name] = [str(ContentType.objects.get_for_model(Seller).pk)]
            else:
                raise AssertionError(f"no sample value for <{name}> in {route}: add one")
        variants = [route]
        for name, options in values.items():
            variants = [
                re.sub(rf"<(?:\w+:)?{name}>", option, variant)
                for variant in variants
                for option in options
            ]
        urls += [("/" + variant, route) for variant in variants]
    return urls


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client) -> str:
    client.get(reverse("admin:index"))
    return client.cookies["csrftoken"].value


# --- CSRF -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_view_is_exempt_from_csrf():
    exempt = [
        route
        for route, pattern in url_patterns()
        if getattr(pattern.callback, "csrf_exempt", False)
    ]
    assert exempt == []


@pytest.mark.django_db
def test_every_endpoint_needs_post_and_csrf_to_change_anything_and_every_page_has_a_csp(
    objects, superuser
):
    """Each endpoint, with real ids and every op: a GET changes nothing and, when it is a
    page, carries a strict CSP and no inline script; a POST without a CSRF token is
    refused (403) or not accepted at all (405), and changes nothing either."""
    urls = concrete_urls(objects, superuser)
    routes = {route for _, route in urls}
    # The enumeration really reaches the endpoints that change state.
    for expected in (
        "runs/<int:run_id>/<str:action>/",
        "admin/collection/collectionrun/<int:run_id>/control/<str:op>/",
        "admin/collection/collectionrun/start/",
        "admin/logout/",
        "admin/collection/seller/<path:object_id>/change/",
        "admin/collection/schedule/add/",
    ):
        assert expected in routes, expected
    client = csrf_client(superuser)
    before = db_state()
    refused, problems, errors = [], [], []
    for url, _route in urls:
        response = client.get(url)
        problems += _check_csp(url, response)
        if response.status_code >= 500:
            errors.append(url)
        response = client.post(url, {"post": "yes", "action": "delete_selected"})
        if response.status_code == 405:  # the endpoint takes no POST at all
            continue
        assert response.status_code == 403 and CSRF_FAILED in response.content, (
            f"POST {url} without a CSRF token answered {response.status_code}"
        )
        refused.append(url)
    assert db_state() == before, "a GET, or a POST without a CSRF token, changed the database"
    assert problems == []
    # Django's own autocomplete endpoint answers a bare GET (no app_label) with a 500.
    assert [url for url in errors if not url.startswith("/admin/autocomplete/")] == []
    assert len(refused) > 50  # every admin page that takes a form, and the run controls

    # Pages only reachable through links (filters, sorting, outcome, history as of a run).
    pages, problems = crawl(
        client,
        [url for url, _ in urls if "control" not in url],
        limit=60,
        skip={url for url, _ in urls},
    )
    assert problems == [] and pages > 10
    assert db_state() == before


@pytest.mark.django_db
def test_every_admin_action_needs_post_and_a_csrf_token(objects, superuser):
    client = csrf_client(superuser)
    request = client.get(reverse("admin:index")).wsgi_request
    before = db_state()
    checked = 0
    for model, model_admin in admin.site._registry.items():
        row = model.objects.order_by("pk").first()
        if row is None:
            continue
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in model_admin.get_actions(request):
            data = {
                "action": name,
                "_selected_action": [row.pk],
                "post": "yes",
                "apply": "1",
                "workers": "2",
                "amazon_pages": "1",
                "ebay_pages": "1",
                "markup_min_percent": "80",
                "markup_max_percent": "120",
            }
            response = client.post(changelist, data)
            assert response.status_code == 403 and CSRF_FAILED in response.content, (model, name)
            # A GET with the same parameters is a filtered list, never the action.
            response = client.get(changelist, {"action": name, "_selected_action": row.pk})
            assert db_state() == before, f"{model._meta.label}: {name}"
            checked += 1
    assert checked >= 15  # runs (5), sellers (6), categories and presets (start), deletes

    # The same requests with the token do what they say (the 403s above were the CSRF check).
    token = csrf_token(client)
    queued = objects["run"]
    response = client.post(
        reverse("admin:collection_collectionrun_changelist"),
        {"action": "pause_runs", "_selected_action": [queued.pk], "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert CollectionRun.objects.get(pk=queued.pk).status == "paused"
    response = client.post(
        reverse("activity:run_control", args=[queued.pk, "cancel"]),
        {"csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert CollectionRun.objects.get(pk=queued.pk).status == "cancelled"


# --- CSP ------------------------------------------------------------------------------------


class _PageScan(HTMLParser):
    """Links to follow, and what a strict CSP would block or what would run a script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.problems: list[str] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> inline event handler")
            if (
                name in ("href", "src", "action", "formaction")
                and value
                and re.match(r"\s*(javascript|data|vbscript):", value, re.IGNORECASE)
                and not (tag == "img" and value.startswith("data:image/"))
            ):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>")
        if tag == "script":
            kind = (attributes.get("type") or "").lower()
            if not attributes.get("src") and kind != "application/json":
                self._in_script = {"type": kind}
                self.problems.append(f"inline <script type={kind!r}>")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _check_csp(url: str, response) -> list[str]:
    if not response.get("Content-Type", "").startswith("text/html"):
        return []
    policy = response.get("Content-Security-Policy")
    if not policy:
        return [f"{url}: no Content-Security-Policy"]
    directives = _directives(policy)
    scripts = directives.get("script-src", directives.get("default-src"))
    problems = []
    if scripts is None:
        problems.append(f"{url}: no script-src or default-src")
    elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts):
        problems.append(f"{url}: script-src {' '.join(scripts)}")
    if directives.get("object-src") != ["'none'"]:
        problems.append(f"{url}: object-src is not 'none'")
    scan = _PageScan()
    scan.feed(response.content.decode(response.charset or "utf-8", "replace"))
    problems += [f"{url}: {p}" for p in scan.problems]
    return problems


def crawl(
    client: Client, start: list[str], *, limit: int, skip: set[str] = frozenset()
) -> tuple[int, list[str]]:
    """GET pages breadth first from ``start``, following same-site links (each path with
    one query string at most, ``skip``: fetched already, only their links are followed);
    return (pages fetched, problems)."""
    queue, seen, per_path = deque(start), set(), {}
    problems: list[str] = []
    pages = 0
    while queue and pages < limit:
        url = queue.popleft()
        parts = urlsplit(url)
        if url in seen or parts.netloc or "logout" in parts.path:
            continue
        if per_path.get(parts.path, 0) >= (1 if not parts.query else 2):
            continue
        seen.add(url)
        per_path[parts.path] = per_path.get(parts.path, 0) + 1
        response = client.get(url)
        if url not in skip:
            pages += 1
            problems += _check_csp(url, response)
        if response.status_code in (301, 302) and response.get("Location", "").startswith("/"):
            queue.append(response["Location"])
        if response.get("Content-Type", "").startswith("text/html"):
            scan = _PageScan()
            scan.feed(response.content.decode("utf-8", "replace"))
            queue.extend(urljoin(url, link).split("#")[0] for link in scan.links)
    return pages, problems


@pytest.mark.django_db
def test_pages_for_anonymous_and_unprivileged_visitors_have_a_csp_too():
    """Login page, redirects, 403 and 404 pages."""
    pages, problems = crawl(
        Client(), ["/", "/admin/", "/runs/", "/admin/collection/seller/"], limit=12
    )
    assert problems == [] and pages >= 3
    bystander = get_user_model().objects.create_user("bystander", password=None, is_staff=True)
    pages, problems = crawl(
        csrf_client(bystander), ["/admin/", "/runs/", "/nothing-here/"], limit=12
    )
    assert problems == [] and pages >= 3


def test_the_csp_check_catches_what_it_must(rf):
    """The checker itself: an inline script, a handler or an unsafe policy are reported."""
    from django.http import HttpResponse

    bad = HttpResponse('<a href="javascript:x()">x</a><script>x()</script><b onclick="y">')
    bad["Content-Security-Policy"] = "script-src 'self' 'unsafe-inline'; object-src 'none'"
    assert len(_check_csp("/bad", bad)) == 4
    good = HttpResponse('<script src="/s.js"></script><script type="application/json">{}</script>')
    good["Content-Security-Policy"] = "default-src 'self'; object-src 'none'"
    assert _check_csp("/good", good) == []


# --- websockets: what tests/activity/test_consumers.py does not cover -----------------------


@pytest.fixture
async def close_thread_connections():
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def _ws(path: str, *, cookie: str | None, origin: str | None):
    from tests.activity.conftest import Client_

    client = Client_(path, cookie=cookie, origin=origin or "")
    if origin is None:  # no Origin header at all
        client.communicator.scope["headers"] = [
            (k, v) for k, v in client.communicator.scope["headers"] if k != b"origin"
        ]
    return client


def _viewer_cookie(**flags) -> str:
    from tests.activity.conftest import make_user, session_cookie

    user = make_user("watcher", staff=True, perms=("view_collectionrun",))
    for name, value in flags.items():
        setattr(user, name, value)
    user.save()
    return session_cookie(user)


FOREIGN_ORIGINS = [
    None,
    "null",
    "https://evil.example",
    "http://testserver.evil.example",
    "http://evil.example/testserver",
    "http://testserver@evil.example",
    "file://",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
async def test_websockets_refuse_foreign_or_missing_origins():
    from asgiref.sync import sync_to_async

    from tests.activity.conftest import new_run

    run = await sync_to_async(new_run)()
    cookie = await sync_to_async(_viewer_cookie)()
    for origin in FOREIGN_ORIGINS:
        for path in (f"/ws/runs/{run.pk}/", "/ws/runs/"):
            client = _ws(path, cookie=cookie, origin=origin)
            connected, _ = await client.communicator.connect(timeout=5)
            assert not connected, (origin, path)
            await client.communicator.disconnect(timeout=1)
    # The same user from the site's own origin is let in (the refusals were the origin).
    client = _ws(f"/ws/runs/{run.pk}/", cookie=cookie, origin="http://testserver")
    assert (await client.connect())[0]
    assert (await client.receive())["type"] == "status"
    await client.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_thread_connections")
async def test_websockets_refuse_deactivated_users_and_revoked_permissions():
    from asgiref.sync import sync_to_async

    from activity.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
    from tests.activity.conftest import new_run

    run = await sync_to_async(new_run)()
    inactive = await sync_to_async(_viewer_cookie)(is_active=False)
    client = _ws(f"/ws/runs/{run.pk}/", cookie=inactive, origin="http://testserver")
    assert (await client.connect())[0]
    assert await client.close_code() == CLOSE_UNAUTHENTICATED

    def revoke() -> str:
        user = get_user_model().objects.get(username="watcher")
        user.is_active = True
        user.save()
        cookie = _session_of(user)
        user.user_permissions.remove(Permission.objects.get(codename="view_collectionrun"))
        return cookie

    cookie = await sync_to_async(revoke)()  # logged in before the permission went away
    for path in (f"/ws/runs/{run.pk}/", "/ws/runs/"):
        client = _ws(path, cookie=cookie, origin="http://testserver")
        assert (await client.connect())[0]
        assert await client.close_code() == CLOSE_FORBIDDEN
    garbage = _ws(f"/ws/runs/{run.pk}/", cookie="not-a-session", origin="http://testserver")
    assert (await garbage.connect())[0]
    assert await garbage.close_code() == CLOSE_UNAUTHENTICATED


def _session_of(user) -> str:
    from tests.activity.conftest import session_cookie

    return session_cookie(user)
