"""How an execution ended: the ``RunReport`` its caller gets, read from the run row."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from collection import store
from collection.engine.db import DatabaseUnavailable, EngineDatabase
from collection.engine.state import RunState
from collection.engine.stats import EngineStats
from collection.models import CollectionRun

Status = CollectionRun.Status


@dataclass(slots=True)
class RunReport:
    """How an execution ended (plain data; ``run_collection --json`` prints it)."""

    run_id: int
    status: str
    products: int
    ebay_searches: int
    sellers_found: int
    sellers_new: int
    sightings: int
    requests: int
    retries: int
    failed_tasks: int
    duration_s: float
    stats: dict = field(default_factory=dict)
    phase: str = ""
    pause_reason: str = ""
    message: str = ""
    resume_at: str | None = None
    mode: str = ""  # started / resumed / joined
    executor: str = ""  # this process's name on the tasks it leased (host:pid:random)
    stop_seen_at: float | None = None  # epoch seconds when this process saw its stop
    failed: list[dict] = field(default_factory=list)  # the first failed tasks, with why
    session: dict = field(default_factory=dict)  # this process's own counters


async def report_build(
    *, state: RunState, db: EngineDatabase, stats: EngineStats, started: float
) -> RunReport:
    """The report of an execution that began at ``started`` (``time.monotonic()``)."""
    run_id, stop = state.run_id, state.stop

    def load() -> tuple[CollectionRun, list[dict]]:
        run = CollectionRun.objects.get(pk=run_id)
        return run, store.run_failed_tasks(run_id=run_id, limit=50)

    try:
        run, failed = await db.retry(load)
    except DatabaseUnavailable as exc:
        # What this process knows: the run row says "running" until someone resumes it.
        status = stop.status if stop else Status.RUNNING
        message = stop.message if stop else f"The database stopped answering ({exc})."
        session = stats.as_dict()
        return RunReport(
            run_id=run_id,
            status=status,
            products=0,
            ebay_searches=0,
            sellers_found=0,
            sellers_new=0,
            sightings=0,
            requests=int(session.get("requests", 0)),  # counters: whole numbers
            retries=int(session.get("retries", 0)),
            failed_tasks=0,
            duration_s=round(time.monotonic() - started, 3),
            phase=state.phase,
            pause_reason=stop.reason if stop else "",
            message=message,
            mode=state.mode,
            executor=state.executor,
            session=session,
        )
    message = run.status_message or run.failure_reason
    if not message and stop is not None and run.status == stop.status:
        message = stop.message
    return RunReport(
        run_id=run.pk,
        status=run.status,
        products=run.products_found,
        ebay_searches=run.ebay_searches,
        sellers_found=run.sellers_found,
        sellers_new=run.sellers_new,
        sightings=run.sightings,
        requests=run.requests,
        retries=run.retries,
        failed_tasks=run.failed_tasks,
        duration_s=round(time.monotonic() - started, 3),
        stats=dict(run.stats or {}),
        phase=run.phase,
        pause_reason=run.pause_reason,
        message=message,
        resume_at=run.resume_at.isoformat() if run.resume_at else None,
        mode=state.mode,
        executor=state.executor,
        stop_seen_at=state.stop_seen_at,
        failed=failed,
        session=stats.as_dict(),
    )
