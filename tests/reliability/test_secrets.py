"""Credentials never leave the adapters: not in events, logs, stored URLs, error messages,
task rows, exports or command output.

A live-mode run (``MARKETPLACE=live``) over loopback against the sandbox, with distinctive
credential values the sandbox insists on, through ``run_collection``. A careless provider
sits in front of it: some of its error answers echo the request's credentials and token
back. The eBay token is revoked mid-run (a 401, a fresh mint). A second run is refused for
a wrong password. Then everything the runs produced is searched for every secret value,
its Basic-auth encoding and every token issued: every text column of every table, all log
records (DEBUG included), the command's stdout and stderr, the seller exports and the
admin and live pages of the runs.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections import Counter

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import models
from django.test import Client
from django.urls import reverse

from collection.marketplaces.sandbox import SandboxApp, SandboxConfig
from collection.models import CollectionRun, RunTask
from collection.services.exports import sellers_export
from tests.collection.engine_helpers import fast_settings

from .corpus import serve_app

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

OXYLABS_USERNAME = "scout-user-Q7e4Lm"
OXYLABS_PASSWORD = "oxy-PASSWORD-9f3k2Lq"
EBAY_CLIENT_ID = "scout-app-CLIENTID-5tW"
EBAY_CLIENT_SECRET = "ebay-SECRET-x81Pz0Rk"
WRONG_PASSWORD = "wrong-PASSWORD-Zz81"


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class CarelessProvider:
    """The sandbox, except that every fifth API answer is an error that echoes what the
    request carried (the Authorization header, decoded credentials, the bearer token), and
    that the eBay token is revoked after the 12th search."""

    def __init__(self, sandbox: SandboxApp) -> None:
        self.sandbox = sandbox
        self.config = sandbox.config
        self.calls: Counter[str] = Counter()
        self.tokens: list[str] = []
        self.echo = True
        issue = sandbox._issue_token

        def recording(client_id: str) -> str:  # every token the sandbox hands out
            token = issue(client_id)
            self.tokens.append(token)
            return token

        sandbox._issue_token = recording

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/__sandbox__"):
            return await self.sandbox(scope, receive, send)
        self.calls[path] += 1
        if path.startswith("/buy/") and self.calls[path] == 12:
            self.sandbox.revoke_tokens()  # the token dies mid-run: a 401, then a new mint
        if not self.echo or self.calls[path] % 5 != 3:
            return await self.sandbox(scope, receive, send)
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        scheme, _, value = auth.partition(" ")
        decoded = base64.b64decode(value).decode() if scheme == "Basic" else value
        echo = f"rejected credentials {auth!r} ({decoded}) for this request"
        if path == "/v1/queries":
            status, body = 400, {"message": echo}
        elif path.startswith("/identity"):
            status, body = 503, {"error": "temporarily_unavailable", "error_description": echo}
        else:
            status, body = 400, {"errors": [{"errorId": 12001, "message": echo}]}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        return None


def _everything_stored() -> list[str]:
    values = []
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        if fields:
            for row in model.objects.values_list(*fields):
                values += [
                    json.dumps(v) if isinstance(v, (dict, list)) else str(v)
                    for v in row
                    if v is not None
                ]
    return values


def _leaks(texts: dict[str, str], secrets: list[str]) -> list[tuple[str, str]]:
    found = []
    for where, text in texts.items():
        for secret in secrets:
            if secret in text or secret[:10] in text:
                found.append((where, secret[:10]))
    return found


def test_no_credential_or_token_in_anything_a_run_produced(settings, caplog, capsys, tmp_path):
    sandbox = SandboxApp(
        SandboxConfig(
            seed=17,
            best_sellers_per_page=8,
            best_seller_pages=1,
            max_listings=60,
            dropshippers=60,
            oxylabs_username=OXYLABS_USERNAME,
            oxylabs_password=OXYLABS_PASSWORD,
            ebay_client_id=EBAY_CLIENT_ID,
            ebay_client_secret=EBAY_CLIENT_SECRET,
            error_rate=0.05,
            rate_limited_rate=0.05,
            malformed_rate=0.05,
        )
    )
    provider = CarelessProvider(sandbox)
    caplog.set_level(logging.DEBUG)
    for name in ("collection", "activity", "django", "httpx", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    outputs: dict[str, str] = {}
    with serve_app(provider) as base_url:
        fast_settings(
            settings,
            MARKETPLACE="live",
            OXYLABS_BASE_URL=base_url,
            EBAY_API_BASE_URL=base_url,
            OXYLABS_USERNAME=OXYLABS_USERNAME,
            OXYLABS_PASSWORD=OXYLABS_PASSWORD,
            EBAY_CLIENT_ID=EBAY_CLIENT_ID,
            EBAY_CLIENT_SECRET=EBAY_CLIENT_SECRET,
            COLLECTION_MAX_CONSECUTIVE_FAILURES=0,
            COLLECTION_HTTP_TIMEOUT=5.0,
        )
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "run_collection",
            "--categories",
            "12097479011,502394",
            "--workers",
            "4",
            "--ebay-pages",
            "2",
            "--json",
            stdout=out,
            stderr=err,
        )
        outputs["run stdout"], outputs["run stderr"] = out.getvalue(), err.getvalue()
        run = CollectionRun.objects.order_by("pk").last()
        assert run.status == "completed", outputs["run stdout"][-2000:]

        # A second run with a wrong password: refused, and the refusal is explained.
        settings.OXYLABS_PASSWORD = WRONG_PASSWORD
        provider.echo = False  # the sandbox itself refuses the login
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError) as refused:
            call_command(
                "run_collection", "--categories", "284507", "--json", stdout=out, stderr=err
            )
        outputs["refused run"] = str(refused.value) + out.getvalue() + err.getvalue()
        assert "Authentication failed at oxylabs" in outputs["refused run"]

    # The run really went through the careless answers, a re-mint and failures.
    assert sum(provider.calls.values()) > 20 and len(provider.tokens) >= 2
    assert RunTask.objects.filter(run=run, status="failed", error_message__contains="***").exists()
    assert CollectionRun.objects.filter(status="failed").count() == 1

    # Everything the runs produced.
    for fmt in ("csv", "json"):
        outputs[f"export {fmt}"] = "".join(sellers_export(fmt=fmt).chunks)
    exported = tmp_path / "sellers.csv"
    call_command("export_sellers", "--output", str(exported), stdout=io.StringIO())
    outputs["export command"] = exported.read_text()
    admin = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client = Client()
    client.force_login(admin)
    for failed_or_done in CollectionRun.objects.all():
        for url in (
            reverse("admin:collection_collectionrun_change", args=[failed_or_done.pk]),
            reverse("activity:run_detail", args=[failed_or_done.pk]),
            reverse("admin:collection_collectionrun_outcome", args=[failed_or_done.pk]),
        ):
            outputs[url] = client.get(url).content.decode()
    outputs["database"] = "\n".join(_everything_stored())
    captured = capsys.readouterr()
    outputs["process stdout"], outputs["process stderr"] = captured.out, captured.err
    outputs["logs"] = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert len(caplog.records) > 50 and len(outputs["database"]) > 10_000

    secrets = [
        OXYLABS_PASSWORD,
        EBAY_CLIENT_SECRET,
        WRONG_PASSWORD,
        _basic(OXYLABS_USERNAME, OXYLABS_PASSWORD),
        _basic(OXYLABS_USERNAME, WRONG_PASSWORD),
        _basic(EBAY_CLIENT_ID, EBAY_CLIENT_SECRET),
        *provider.tokens,
        # Not secrets as such, but the adapters treat them as such: they never show either.
        OXYLABS_USERNAME,
        EBAY_CLIENT_ID,
    ]
    assert _leaks(outputs, secrets) == []
