"""The run lifecycle: the state machine, creating a run, and the operator's pause and cancel.

The engine and the store make their status changes here, so this module imports nothing
above them (no enqueue, no engine: that is ``collection.services.dispatch``)::

    queued ──► running ──► completed
      │  ▲       │  │
      │  │       │  └──► failed ──► queued / running   (resume)
      ▼  │       ▼
    paused ◄─────┘       queued / running / paused ──► cancelled

Every status change goes through ``run_transition``, which locks the run row, checks the
current status against ``TRANSITIONS`` and raises ``InvalidTransition`` otherwise. Pause and
cancel of a run that a live process is executing are *requests* (``requested_action``): the
engine sees them through the database, stops starting new requests and makes the
transition itself.

Domain errors (each with a message fit to show an operator)::

    RunError
    ├── InvalidTransition   the run's status does not allow it
    ├── RunOptionsError     a bad selection or option
    └── RunLimitReached     COLLECTION_MAX_ACTIVE_RUNS runs are queued or running
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from activity.events import run_status_publish
from collection.models import Category, CategoryPreset, CollectionRun
from collection.services.estimates import Estimate, run_estimate

logger = logging.getLogger(__name__)

Status = CollectionRun.Status

TRANSITIONS: dict[str, set[str]] = {
    Status.QUEUED: {Status.RUNNING, Status.PAUSED, Status.CANCELLED},
    Status.RUNNING: {Status.PAUSED, Status.COMPLETED, Status.FAILED, Status.CANCELLED},
    Status.PAUSED: {Status.QUEUED, Status.RUNNING, Status.CANCELLED},
    Status.FAILED: {Status.QUEUED, Status.RUNNING},
    Status.COMPLETED: set(),
    Status.CANCELLED: set(),
}


class RunError(Exception):
    """A domain error about runs, with a message fit to show an operator."""


class InvalidTransition(RunError):
    """The run's current status does not allow the change."""


class RunOptionsError(RunError):
    """A run's selection or options are not acceptable."""


class RunLimitReached(RunError):
    """``COLLECTION_MAX_ACTIVE_RUNS`` runs are already queued or running."""


def run_is_orphaned(run: CollectionRun, *, now: dt.datetime | None = None) -> bool:
    """A running run whose executor stopped beating for longer than the lease."""
    if run.status != Status.RUNNING:
        return False
    if run.heartbeat_at is None:
        return True
    now = now or timezone.now()
    return now - run.heartbeat_at > dt.timedelta(seconds=settings.COLLECTION_LEASE_SECONDS)


def _decimal(value, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise RunOptionsError(f"{name} must be a number, got {value!r}.") from exc
    if not number.is_finite():
        raise RunOptionsError(f"{name} must be a finite number, got {value!r}.")
    return number


def run_options_validate(
    *,
    workers: int,
    amazon_pages: int,
    ebay_pages: int,
    markup_min_percent,
    markup_max_percent,
    ebay_queries: int = 1,
) -> tuple[Decimal, Decimal]:
    """Check run options; return the markup band as Decimals. Raises RunOptionsError."""
    if not isinstance(workers, int) or not 1 <= workers <= 200:
        raise RunOptionsError(f"workers must be between 1 and 200, got {workers!r}.")
    if not isinstance(amazon_pages, int) or not 1 <= amazon_pages <= 2:
        raise RunOptionsError(
            f"Amazon pages must be 1 or 2 (a best-seller list has 2 pages), got {amazon_pages!r}."
        )
    if not isinstance(ebay_pages, int) or not 1 <= ebay_pages <= 50:
        raise RunOptionsError(
            f"eBay pages must be between 1 and 50 (200 listings each), got {ebay_pages!r}."
        )
    if not isinstance(ebay_queries, int) or not 1 <= ebay_queries <= 5:
        raise RunOptionsError(
            f"eBay queries per product must be between 1 and 5, got {ebay_queries!r}."
        )
    low = _decimal(markup_min_percent, "markup min")
    high = _decimal(markup_max_percent, "markup max")
    if low < 0 or high < 0:
        raise RunOptionsError("The markup band cannot be negative.")
    if high > 10000:
        raise RunOptionsError("The markup max is above 10,000 %; that is not a markup band.")
    if low > high:
        raise RunOptionsError(f"markup min ({low} %) is above markup max ({high} %).")
    return low, high


def categories_resolve(
    *, node_ids: Iterable[str] = (), preset_names: Iterable[str] = ()
) -> list[Category]:
    """Categories for a selection of node ids and preset names; unknown ones raise."""
    node_ids = [str(n).strip() for n in node_ids if str(n).strip()]
    preset_names = [p.strip() for p in preset_names if p.strip()]
    found = {c.node_id: c for c in Category.objects.filter(node_id__in=node_ids)}
    unknown = [n for n in node_ids if n not in found]
    if unknown:
        raise RunOptionsError(
            f"Unknown category node id(s): {', '.join(unknown)}. "
            "See the Categories page in the admin for the catalogue."
        )
    selected = dict(found)
    for name in preset_names:
        preset = CategoryPreset.objects.filter(name=name).first()
        if preset is None:
            names = ", ".join(CategoryPreset.objects.values_list("name", flat=True))
            raise RunOptionsError(f"Unknown preset {name!r}. Presets: {names}.")
        for category in preset.categories.all():
            selected[category.node_id] = category
    return sorted(selected.values(), key=lambda c: c.node_id)


def _options_with_defaults(
    *, amazon_pages, ebay_pages, ebay_queries, markup_min_percent, markup_max_percent
) -> dict:
    """Run options as an interface receives them (None = the setting's default)."""
    return {
        "amazon_pages": settings.COLLECTION_AMAZON_PAGES if amazon_pages is None else amazon_pages,
        "ebay_pages": settings.COLLECTION_EBAY_PAGES if ebay_pages is None else ebay_pages,
        "ebay_queries": (
            settings.COLLECTION_EBAY_QUERIES if ebay_queries is None else ebay_queries
        ),
        "markup_min_percent": (
            settings.COLLECTION_MARKUP_MIN_PERCENT
            if markup_min_percent is None
            else markup_min_percent
        ),
        "markup_max_percent": (
            settings.COLLECTION_MARKUP_MAX_PERCENT
            if markup_max_percent is None
            else markup_max_percent
        ),
    }


def run_estimate_from_options(
    *,
    categories: int | Iterable,
    amazon_pages: int | None = None,
    ebay_pages: int | None = None,
    markup_min_percent=None,
    markup_max_percent=None,
    ebay_queries: int | None = None,
) -> Estimate:
    """The estimate for run options as an interface receives them (None = the default);
    bad options raise ``RunOptionsError`` like ``run_create`` does."""
    options = _options_with_defaults(
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
        ebay_queries=ebay_queries,
        markup_min_percent=markup_min_percent,
        markup_max_percent=markup_max_percent,
    )
    low, high = run_options_validate(workers=1, **options)
    return run_estimate(
        categories=categories,
        amazon_pages=options["amazon_pages"],
        ebay_pages=options["ebay_pages"],
        markup_min_percent=low,
        markup_max_percent=high,
        ebay_queries=ebay_queries,
    )


def run_create(
    *,
    categories: Iterable[Category],
    preset: CategoryPreset | None = None,
    workers: int | None = None,
    amazon_pages: int | None = None,
    ebay_pages: int | None = None,
    markup_min_percent=None,
    markup_max_percent=None,
    started_by=None,
    rerun_of: CollectionRun | None = None,
    schedule=None,
    ebay_queries: int | None = None,
) -> CollectionRun:
    """Create a queued run (no task rows yet: the engine plans them when it starts).

    No active-run limit and no enqueue here: ``dispatch.run_start`` and the foreground run
    (``services.foreground``) add those.
    """
    categories = list(categories)
    if not categories:
        raise RunOptionsError("Choose at least one category or a preset that has categories.")
    workers = settings.COLLECTION_WORKERS if workers is None else workers
    options = _options_with_defaults(
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
        ebay_queries=ebay_queries,
        markup_min_percent=markup_min_percent,
        markup_max_percent=markup_max_percent,
    )
    low, high = run_options_validate(workers=workers, **options)
    # What the run will cost per provider, kept on the run (the quota forecasts read it).
    estimate = run_estimate(
        categories=len(categories),
        amazon_pages=options["amazon_pages"],
        ebay_pages=options["ebay_pages"],
        markup_min_percent=low,
        markup_max_percent=high,
        ebay_queries=options["ebay_queries"],
    ).as_json()
    with transaction.atomic():
        run = CollectionRun.objects.create(
            preset=preset,
            workers=workers,
            amazon_pages=options["amazon_pages"],
            ebay_pages=options["ebay_pages"],
            ebay_queries=options["ebay_queries"],
            markup_min_percent=low,
            markup_max_percent=high,
            started_by=started_by,
            rerun_of=rerun_of,
            schedule=schedule,
            estimate=estimate,
        )
        run.categories.set(categories)
    logger.info("run %s created: %d categories, %d workers", run.pk, len(categories), workers)
    return run


def run_transition(
    *, run_id: int, to: str, expect: Iterable[str] | None = None, **fields
) -> CollectionRun:
    """Move a run to status ``to`` (checking the state machine) and set ``fields``."""
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        allowed_from = set(expect) if expect is not None else None
        if to not in TRANSITIONS[run.status] or (
            allowed_from is not None and run.status not in allowed_from
        ):
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; it cannot become {to}."
            )
        now = timezone.now()
        run.status = to
        if to == Status.RUNNING:
            run.pause_reason = ""
            run.status_message = ""
            run.resume_at = None
            run.requested_action = ""
            run.heartbeat_at = now
            run.started_at = run.started_at or now
        if to in CollectionRun.FINISHED_STATUSES:
            run.finished_at = now
            run.requested_action = ""
        if to == Status.PAUSED:
            run.requested_action = ""
        for name, value in fields.items():
            setattr(run, name, value)
        run.save()
    run_status_publish(run=run)  # live pages hear of it after commit
    return run


def run_pause(
    *, run_id: int, reason: str = CollectionRun.PauseReason.OPERATOR, message: str = ""
) -> CollectionRun:
    """Pause a run: at once when nobody executes it, else ask its executor to."""
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        if run.status == Status.RUNNING and not run_is_orphaned(run):
            run.requested_action = "pause"
            run.save(update_fields=["requested_action"])
            return run
        if run.status not in (Status.QUEUED, Status.RUNNING):
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; only a queued or "
                "running run can be paused."
            )
    return run_transition(
        run_id=run_id,
        to=Status.PAUSED,
        pause_reason=reason,
        status_message=message or CollectionRun.PauseReason(reason).label,
    )


def run_cancel(*, run_id: int, message: str = "Cancelled by an operator.") -> CollectionRun:
    """Cancel a run: at once when nobody executes it, else ask its executor to."""
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        if run.status == Status.RUNNING and not run_is_orphaned(run):
            run.requested_action = "cancel"
            run.save(update_fields=["requested_action"])
            return run
        if Status.CANCELLED not in TRANSITIONS[run.status]:
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; it cannot be cancelled."
            )
    return run_transition(run_id=run_id, to=Status.CANCELLED, status_message=message)


def run_mark_queued_for_resume(*, run_id: int) -> CollectionRun:
    """Paused, failed or orphaned → queued, so a worker picks it up again."""
    run = CollectionRun.objects.get(pk=run_id)
    if run.status == Status.RUNNING and run_is_orphaned(run):
        return run_transition(
            run_id=run_id,
            to=Status.PAUSED,
            pause_reason=CollectionRun.PauseReason.ORPHANED,
            status_message="Its process stopped responding; queued for resume.",
        ) and run_transition(run_id=run_id, to=Status.QUEUED)
    return run_transition(run_id=run_id, to=Status.QUEUED, expect=[Status.PAUSED, Status.FAILED])
