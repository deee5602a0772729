"""One run over several processes: ``run_collection --processes`` and a ``db_worker`` start
joiners themselves, stop them with the run, and a joiner that dies is noticed.

The processes are real (``manage.py`` subprocesses on the test database, PostgreSQL);
the rules of how many processes a run gets are checked on both databases.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from collection.models import CollectionRun, RunTask
from collection.services import spread
from collection.services.control import run_control
from collection.services.dispatch import run_enqueue
from collection.services.lifecycle import RunOptionsError

from .engine_helpers import fast_settings, make_run, manage

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NODES = ["12097479011"]  # 50 best sellers a page in the default sandbox catalogue
ENV = {
    "COLLECTION_LEASE_SECONDS": "30",  # long: only a release gives a dead joiner's tasks back
    "COLLECTION_HEARTBEAT_SECONDS": "0.5",
    "COLLECTION_FLUSH_SECONDS": "0.1",
    "COLLECTION_RATE_LIMITS": "",
    "COLLECTION_QUOTAS": "",
    "MARKETPLACE": "sandbox",
    "COLLECTION_LOG_LEVEL": "INFO",
    "COLLECTION_MAX_PROCESSES_PER_RUN": "2",
}
# Slow enough that the joiner (~2 s to start on a loaded machine) has tasks left to take.
SLOW = {**ENV, "SANDBOX_LATENCY_MS": "250"}


def _pid(executor: str) -> int:
    return int(executor.split(":")[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(predicate, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _executors(run) -> set[str]:
    return set(
        RunTask.objects.filter(run=run).exclude(leased_by="").values_list("leased_by", flat=True)
    )


def _joiner_working(run, parent_pid: int) -> str:
    """The executor of a joiner that has finished tasks of the run ('' while none has)."""
    for executor, status in RunTask.objects.filter(run=run).values_list("leased_by", "status"):
        if executor and status == "done" and _pid(executor) != parent_pid:
            return executor
    return ""


def _result(out: str) -> dict:
    lines = out.strip().splitlines()
    result = json.loads(lines[-1])
    assert all(not line.startswith("{") for line in lines[:-1])  # one JSON document
    return result


# --- how many processes (both databases) -------------------------------------------------


@pytest.mark.django_db
def test_auto_and_counts_follow_the_cap_the_cores_and_the_workers(settings):
    settings.COLLECTION_MAX_PROCESSES_PER_RUN = 4
    assert spread.workers_split(25, 2) == [13, 12]
    assert spread.workers_split(5, 3) == [2, 2, 1]
    if connection.vendor == "sqlite":
        auto = spread.processes_resolve(requested="auto", workers=200)
        assert auto.processes == 1 and "SQLite" in auto.note
        with pytest.raises(RunOptionsError, match="one process here: SQLite"):
            spread.processes_resolve(requested=2, workers=50)
        assert spread.processes_resolve(requested=1, workers=50).processes == 1
        return
    cores = spread.usable_cores()
    assert spread.processes_resolve(requested=None, workers=200).processes == min(cores, 4)
    assert spread.processes_resolve(requested="auto", workers=5).processes == 1  # < 10 each
    assert spread.processes_resolve(requested=3, workers=3).processes == 3
    with pytest.raises(RunOptionsError, match="at most 4"):
        spread.processes_resolve(requested=5, workers=50)
    with pytest.raises(RunOptionsError, match="at least 3 workers"):
        spread.processes_resolve(requested=3, workers=2)
    settings.COLLECTION_MAX_PROCESSES_PER_RUN = 1
    assert spread.processes_resolve(requested="auto", workers=200).processes == 1


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_joiners_use_the_database_this_process_uses(monkeypatch):
    # pytest-django points this process at test_<name>; the environment still names <name>.
    name = connection.settings_dict["NAME"]
    monkeypatch.setenv(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/elsewhere?sslmode=prefer"
    )
    env = spread._child_environment()
    assert env["DATABASE_URL"] == f"postgres://postgres@127.0.0.1:5432/{name}?sslmode=prefer"
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings"


def _run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("run_collection", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "processes must be a whole number ≥ 1 or 'auto', got 0"),
        ("-2", "processes must be a whole number ≥ 1 or 'auto', got -2"),
        ("foo", "--processes must be a whole number or 'auto', got 'foo'"),
        ("999", "processes must be at most 2 (COLLECTION_MAX_PROCESSES_PER_RUN"),
    ],
)
def test_bad_processes_is_one_clear_line_and_exit_2_with_nothing_created(settings, value, message):
    settings.COLLECTION_MAX_PROCESSES_PER_RUN = 2
    with pytest.raises(CommandError) as caught:
        _run_command("--preset", "Sampler", "--workers", "20", "--processes", value)
    assert caught.value.returncode == 2
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not CollectionRun.objects.exists()


@pytest.mark.django_db
def test_more_processes_than_workers_or_on_sqlite_is_refused(settings):
    settings.COLLECTION_MAX_PROCESSES_PER_RUN = 2
    expected = "SQLite" if connection.vendor == "sqlite" else "need at least 2 workers"
    with pytest.raises(CommandError, match=expected) as caught:
        _run_command("--preset", "Sampler", "--workers", "1", "--processes", "2")
    assert caught.value.returncode == 2
    assert not CollectionRun.objects.exists()


@transactional
def test_auto_on_sqlite_says_why_the_run_stays_in_one_process(settings, capsys):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default's rule")
    fast_settings(settings)
    run = make_run(node_ids=NODES, workers=20, ebay_pages=1)
    run_id = str(run.pk)
    CollectionRun.objects.filter(pk=run.pk).update(status="paused")
    out, _ = _run_command("--resume", run_id, "--processes", "auto", "--json")
    display = capsys.readouterr().err  # with --json the display is on standard error
    assert "One process: SQLite takes one writer at a time" in display.replace("\n", " ")
    result = _result(out)
    assert result["status"] == "completed"
    assert [p["role"] for p in result["processes"]] == ["this process"]


# --- real processes (PostgreSQL) -----------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_command_line_bad_processes_exits_2_with_one_line_on_stderr():
    process = manage("run_collection", "--preset", "Sampler", "--processes", "lots", env_extra=ENV)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.strip() == "CommandError: --processes must be a whole number or 'auto', got 'lots'."
    assert "Traceback" not in out + err


@pytest.mark.postgres_only
@transactional
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_two_processes_complete_the_run_together_and_report_once(start):
    run = make_run(node_ids=NODES, workers=4, amazon_pages=2, ebay_pages=1)
    process = manage(
        "run_collection",
        "--resume",
        str(run.pk),
        "--processes",
        "2",
        "--json",
        env_extra={**SLOW, "COLLECTION_JOINER_START": start},
    )
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    result = _result(out)
    assert result["status"] == "completed"
    here, joiner = result["processes"]
    assert (here["role"], here["workers"], joiner["role"], joiner["workers"]) == (
        "this process",
        2,
        "joiner",
        2,
    )
    assert (joiner["mode"], joiner["status"], joiner["exit_code"]) == ("joined", "completed", 0), (
        result["processes"],
        open(joiner["log"]).read()[-2000:],
    )
    assert f"Run {run.pk} in 2 processes" in err  # one display, the parent's
    assert err.count("Top dropshippers of run") == 1  # one summary

    # Both processes really took tasks, and between them did every one exactly once.
    done_by = {
        executor: RunTask.objects.filter(run=run, leased_by=executor, status="done").count()
        for executor in _executors(run)
    }
    assert set(done_by) == {here["executor"], joiner["executor"]}
    assert {_pid(e) for e in done_by} == {here["pid"], joiner["pid"]}
    assert all(count > 0 for count in done_by.values()), done_by
    assert sum(done_by.values()) == RunTask.objects.filter(run=run).count()
    assert not _alive(joiner["pid"])
    log = open(joiner["log"]).read()
    assert f"run {run.pk}: joined by {joiner['executor']}" in log
    # Forked (Django already loaded) where the parent is single-threaded, as here.
    assert f"joiner 1, 2 workers, {start}ed," in log


@pytest.mark.postgres_only
@transactional
def test_ctrl_c_pauses_the_run_and_stops_every_process():
    run = make_run(node_ids=NODES, workers=4, amazon_pages=2, ebay_pages=1)
    env = {**ENV, "SANDBOX_LATENCY_MS": "400"}
    process = manage("run_collection", "--resume", str(run.pk), "--processes", "2", env_extra=env)
    joiner: list[str] = []
    _wait_until(
        lambda: joiner.append(_joiner_working(run, process.pid)) or joiner[-1],
        what="the joiner to finish a task",
    )
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 1, err[-3000:]
    assert f"python manage.py run_collection --resume {run.pk}" in err
    assert "Traceback" not in out + err
    run.refresh_from_db()
    assert run.status == "paused" and run.pause_reason == "interrupted"
    assert not RunTask.objects.filter(run=run, status="running").exists()  # all released
    assert RunTask.objects.filter(run=run, status="pending").exists()
    assert not _alive(_pid(joiner[-1]))


@pytest.mark.postgres_only
@transactional
def test_cancel_from_the_control_service_stops_every_process():
    run = make_run(node_ids=NODES, workers=4, amazon_pages=2, ebay_pages=1)
    env = {**ENV, "SANDBOX_LATENCY_MS": "400"}
    process = manage(
        "run_collection", "--resume", str(run.pk), "--processes", "2", "--json", env_extra=env
    )
    joiner: list[str] = []
    _wait_until(
        lambda: joiner.append(_joiner_working(run, process.pid)) or joiner[-1],
        what="the joiner to finish a task",
    )
    assert run_control(run_id=run.pk, action="cancel").ok  # the admin's and live page's call
    out, err = process.communicate(timeout=60)

    assert process.returncode == 1, err[-3000:]
    result = _result(out)
    assert result["status"] == "cancelled"
    assert [p["status"] for p in result["processes"]] == ["cancelled", "cancelled"]
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert not RunTask.objects.filter(run=run, status="running").exists()
    assert not _alive(_pid(joiner[-1]))


@pytest.mark.postgres_only
@transactional
def test_a_joiner_that_dies_is_reported_and_the_others_finish_the_run():
    run = make_run(node_ids=NODES, workers=4, amazon_pages=2, ebay_pages=1)
    env = {**ENV, "SANDBOX_LATENCY_MS": "150"}
    process = manage(
        "run_collection", "--resume", str(run.pk), "--processes", "2", "--json", env_extra=env
    )
    joiner: list[str] = []
    _wait_until(
        lambda: joiner.append(_joiner_working(run, process.pid)) or joiner[-1],
        what="the joiner to finish a task",
    )
    os.kill(_pid(joiner[-1]), signal.SIGKILL)
    out, err = process.communicate(timeout=120)

    assert process.returncode == 0, err[-3000:]
    result = _result(out)
    assert result["status"] == "completed"  # the run went on without it
    dead = result["processes"][1]
    assert dead["died"] and dead["exit_code"] == -signal.SIGKILL
    assert f"Joiner 1 (pid {dead['pid']}) exited with -9" in err.replace("\n", " ")
    assert not RunTask.objects.filter(run=run).exclude(status="done").exists()


@pytest.mark.postgres_only
@transactional
def test_a_joiner_whose_parent_is_killed_pauses_the_run_and_exits():
    run = make_run(node_ids=NODES, workers=4, amazon_pages=2, ebay_pages=1)
    env = {**ENV, "SANDBOX_LATENCY_MS": "400"}
    process = manage("run_collection", "--resume", str(run.pk), "--processes", "2", env_extra=env)
    joiner: list[str] = []
    _wait_until(
        lambda: joiner.append(_joiner_working(run, process.pid)) or joiner[-1],
        what="the joiner to finish a task",
    )
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)

    _wait_until(lambda: not _alive(_pid(joiner[-1])), timeout=30, what="the joiner to exit")
    run.refresh_from_db()
    assert run.status == "paused" and run.pause_reason == "interrupted"
    assert run.status_message == "Interrupted (SIGTERM)."
    # The joiner released its own tasks; the parent's wait for their lease (SIGKILL).
    held = set(
        RunTask.objects.filter(run=run, status="running").values_list("leased_by", flat=True)
    )
    assert joiner[-1] not in held
    assert {_pid(e) for e in held} <= {process.pid}
    log = spread.joiner_log_dir() / f"{connection.settings_dict['NAME']}-run-{run.pk}-joiner-1.log"
    this_execution = log.read_text().rpartition("--- run ")[2]
    assert "Interrupted (SIGTERM)" in this_execution and "Traceback" not in this_execution


@pytest.mark.postgres_only
@transactional
def test_a_db_worker_that_starts_a_run_of_many_workers_spreads_it():
    if spread.usable_cores() < 2:
        pytest.skip("one usable core: auto is one process")
    run = make_run(node_ids=NODES, workers=20, amazon_pages=2, ebay_pages=1)
    with transaction.atomic():
        run_enqueue(run_id=run.pk)  # what the admin's start does after creating it
    worker = manage(
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--batch",
        "--interval",
        "0.2",
        env_extra={**ENV, "SANDBOX_LATENCY_MS": "300"},
    )
    out, err = worker.communicate(timeout=180)
    assert worker.returncode == 0, (out + err)[-3000:]
    run.refresh_from_db()
    assert run.status == "completed"
    executors = _executors(run)
    assert len({_pid(e) for e in executors}) == 2, executors
    assert {_pid(e) for e in executors} - {worker.pid}  # one of them is the joiner
    assert all(
        RunTask.objects.filter(run=run, leased_by=e, status="done").exists() for e in executors
    )
