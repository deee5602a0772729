"""`manage.py run_collection`: input checking, exit codes, --json, signals."""

from __future__ import annotations

import io
import json
import signal
import time

import pytest
from django.core.management import CommandError, call_command

from collection.models import CollectionRun, RunTask

from .engine_helpers import fast_settings, make_run, manage

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("run_collection", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Choose what to collect"),
        (("--categories", "999999999"), "Unknown category node id(s): 999999999"),
        (("--preset", "No such preset"), "Unknown preset 'No such preset'"),
        (("--preset", "Sampler", "--workers", "0"), "--workers must be between 1 and 200"),
        (("--preset", "Sampler", "--workers", "lots"), "--workers must be a whole number"),
        (("--preset", "Sampler", "--amazon-pages", "3"), "Amazon pages must be 1 or 2"),
        (("--preset", "Sampler", "--ebay-pages", "-1"), "eBay pages must be between 1 and 50"),
        (
            ("--preset", "Sampler", "--markup-min", "150", "--markup-max", "100"),
            "markup min (150 %) is above markup max (100 %)",
        ),
        (("--preset", "Sampler", "--markup-max", "abc"), "--markup-max must be a number"),
        (("--resume", "987654"), "Run 987654 does not exist"),
        (("--resume", "x1"), "--resume must be a whole number"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2_with_nothing_created(args, message):
    with pytest.raises(CommandError) as caught:
        run_command(*args)
    assert caught.value.returncode == 2
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not CollectionRun.objects.exists()


@pytest.mark.django_db
def test_resume_refuses_a_finished_run_and_new_options():
    run = make_run()
    with pytest.raises(CommandError, match="--resume continues a run") as caught:
        run_command("--resume", str(run.pk), "--ebay-pages", "2")
    assert caught.value.returncode == 2
    CollectionRun.objects.filter(pk=run.pk).update(status="completed")
    with pytest.raises(CommandError, match="is completed; only a paused") as caught:
        run_command("--resume", str(run.pk))
    assert caught.value.returncode == 2


@transactional
def test_json_last_line_describes_the_completed_run(settings):
    fast_settings(settings)
    out, _ = run_command(
        "--categories", "12097479011", "--ebay-pages", "1", "--workers", "8", "--json"
    )
    result = json.loads(out.strip().splitlines()[-1])
    run = CollectionRun.objects.get()
    assert result["run_id"] == run.pk
    assert result["status"] == "completed"
    for name in (
        "products",
        "ebay_searches",
        "sellers_found",
        "sellers_new",
        "sightings",
        "requests",
        "retries",
        "failed_tasks",
    ):
        assert result[name] == getattr(run, {"products": "products_found"}.get(name, name))
    assert result["ebay_searches"] > 10
    assert result["duration_s"] > 0
    assert run.workers == 8 and run.ebay_pages == 1


@transactional
def test_summary_without_json_and_exit_1_when_the_run_does_not_complete(settings):
    fast_settings(
        settings,
        SANDBOX_ERROR_RATE=1.0,
        COLLECTION_RETRY_MAX=1,
        COLLECTION_MAX_CONSECUTIVE_FAILURES=1,
    )
    with pytest.raises(CommandError) as caught:
        run_command("--categories", "12097479011", "--ebay-pages", "1")
    run = CollectionRun.objects.get()
    assert caught.value.returncode == 1
    assert str(caught.value).startswith(f"Run {run.pk} is paused (failures)")
    assert f"python manage.py run_collection --resume {run.pk}" in str(caught.value)
    assert run.status == "paused" and run.pause_reason == "failures"


# --- the real command line (PostgreSQL: the subprocess shares the test database) --------

SUBPROCESS_ENV = {
    "COLLECTION_LEASE_SECONDS": "3",
    "COLLECTION_HEARTBEAT_SECONDS": "0.5",
    "COLLECTION_FLUSH_SECONDS": "0.1",
    "COLLECTION_RATE_LIMITS": "",
    "COLLECTION_QUOTAS": "",
    "MARKETPLACE": "sandbox",
    "COLLECTION_LOG_LEVEL": "WARNING",
}


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_command_line_bad_input_exits_2_with_one_line_on_stderr():
    process = manage(
        "run_collection", "--preset", "Sampler", "--workers", "500", env_extra=SUBPROCESS_ENV
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip() == "CommandError: --workers must be between 1 and 200, got 500."
    assert "Traceback" not in out + err


def _wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.postgres_only
@transactional
def test_ctrl_c_pauses_cleanly_and_resume_completes(settings):
    run = make_run(node_ids=["12097479011"], workers=4, ebay_pages=2)
    env = {**SUBPROCESS_ENV, "SANDBOX_LATENCY_MS": "30"}
    process = manage("run_collection", "--resume", str(run.pk), env_extra=env)
    _wait_until(lambda: RunTask.objects.filter(run=run, phase="ebay", status="done").count() >= 5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 1, err
    assert f"python manage.py run_collection --resume {run.pk}" in err
    assert "Traceback" not in out + err
    run.refresh_from_db()
    assert run.status == "paused" and run.pause_reason == "interrupted"
    assert not RunTask.objects.filter(run=run, status="running").exists()
    assert RunTask.objects.filter(run=run, status="pending").exists()

    process = manage("run_collection", "--resume", str(run.pk), "--json", env_extra=SUBPROCESS_ENV)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["mode"] == "resumed"
    assert not RunTask.objects.filter(run=run).exclude(status="done").exists()
