"""Run a collection in the foreground, with live progress and a summary.

    python manage.py run_collection --preset Sampler --workers 20
    python manage.py run_collection --categories 172282,12097479011 --ebay-pages 2 --json
    python manage.py run_collection --resume 12
    python manage.py run_collection --preset Sampler --workers 50 --processes auto

``--processes N|auto`` (default auto) spreads the run over N processes of this machine:
this one and N-1 joiners it starts and stops (``collection.services.spread``), each with
its share of ``--workers``. ``auto`` is one per usable core, at least 10 workers each,
within ``COLLECTION_MAX_PROCESSES_PER_RUN``; on SQLite (the embedded default) it is 1.
The joiners print nothing here: their logs go to a file each (the summary names them).

Ctrl-C (or SIGTERM) pauses the run cleanly, joiners included, and prints the command that
resumes it. Exit status: 0 when the run completed, 1 when it ended paused, failed or
cancelled, 2 for bad input (nothing is created or changed then). With ``--json`` the last
line of standard output is one JSON object describing the run; progress goes to standard
error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from collection.engine import RunReport
from collection.management.display import ProgressDisplay, resume_command
from collection.marketplaces.factory import marketplace_check_config
from collection.selectors import (
    run_get,
    run_resumable_get,
    run_sightings_split_get,
    run_top_sellers_get,
)
from collection.services.estimates import (
    run_estimate_compare,
    run_estimate_compare_line,
    run_estimate_lines,
    run_quota_warning,
    run_quota_warning_for,
)
from collection.services.foreground import (
    run_foreground_create,
    run_foreground_execute,
    run_foreground_resume,
)
from collection.services.lifecycle import RunError, categories_resolve, run_estimate_from_options
from collection.services.spread import AUTO, Spread, processes_resolve

if TYPE_CHECKING:  # rich is imported when a display starts
    pass

USAGE = 2  # exit status for bad input
STOPPED = 1  # exit status for a run that did not complete

RESULT_FIELDS = (
    "run_id",
    "status",
    "products",
    "ebay_searches",
    "sellers_found",
    "sellers_new",
    "sightings",
    "requests",
    "retries",
    "failed_tasks",
    "duration_s",
)


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise CommandError(
            f"{name} must be a whole number, got {value!r}.", returncode=USAGE
        ) from exc


def _processes(value: str | None) -> int | str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError as exc:
        raise CommandError(
            f"--processes must be a whole number or 'auto', got {value!r}.", returncode=USAGE
        ) from exc


def _percent(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation as exc:
        raise CommandError(
            f"{name} must be a number (percent), got {value!r}.", returncode=USAGE
        ) from exc
    if not number.is_finite():
        raise CommandError(f"{name} must be a finite number, got {value!r}.", returncode=USAGE)
    return number


class Command(BaseCommand):
    help = "Collect eBay sellers of Amazon best sellers: Amazon phase, then eBay phase."

    def add_arguments(self, parser):
        parser.add_argument(
            "--categories",
            action="append",
            default=[],
            metavar="NODE_ID[,NODE_ID…]",
            help="Amazon browse node ids (comma-separated; repeatable).",
        )
        parser.add_argument(
            "--preset",
            action="append",
            default=[],
            metavar="NAME",
            help="A category preset (repeatable), e.g. Sampler.",
        )
        parser.add_argument("--workers", metavar="N", help="Concurrent requests (1–200).")
        parser.add_argument("--amazon-pages", metavar="N", help="Best-seller pages (1–2).")
        parser.add_argument(
            "--ebay-pages", metavar="N", help="eBay result pages of 200 per query (1–50; 1)."
        )
        parser.add_argument(
            "--ebay-queries",
            metavar="N",
            help="eBay calls per product page (1–5; 2): a fallback query only when the first "
            "finds too little.",
        )
        parser.add_argument("--markup-min", metavar="PCT", help="Lowest markup, percent (80).")
        parser.add_argument("--markup-max", metavar="PCT", help="Highest markup, percent (120).")
        parser.add_argument(
            "--processes",
            metavar="N|auto",
            help="Processes of this machine the run spreads over, the workers split between "
            "them (auto, the default: one per usable core, at least 10 workers each; 1 on "
            "SQLite).",
        )
        parser.add_argument("--resume", metavar="RUN_ID", help="Continue a paused/failed run.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the result as one JSON object (the last line of output).",
        )
        parser.add_argument(
            "--estimate",
            action="store_true",
            help="Print the requests the run would send per provider, and exit without running.",
        )

    # --- input -------------------------------------------------------------------------

    def _run_to_execute(self, options) -> tuple[int, int | None, Spread]:
        """Create the run (or find the one to resume); return (run id, workers, spread)."""
        workers = _int(options["workers"], "--workers")
        processes = _processes(options["processes"])
        amazon_pages = _int(options["amazon_pages"], "--amazon-pages")
        ebay_pages = _int(options["ebay_pages"], "--ebay-pages")
        ebay_queries = _int(options["ebay_queries"], "--ebay-queries")
        markup_min = _percent(options["markup_min"], "--markup-min")
        markup_max = _percent(options["markup_max"], "--markup-max")
        node_ids = [n for item in options["categories"] for n in item.split(",") if n.strip()]
        presets = [p for p in options["preset"] if p.strip()]
        if workers is not None and not 1 <= workers <= 200:
            raise CommandError(
                f"--workers must be between 1 and 200, got {workers}.", returncode=USAGE
            )

        if options["resume"] is not None:
            run_id = _int(options["resume"], "--resume")
            assert run_id is not None  # options["resume"] is set
            fixed = [
                name
                for name, value in (
                    ("--categories", node_ids),
                    ("--preset", presets),
                    ("--amazon-pages", amazon_pages),
                    ("--ebay-pages", ebay_pages),
                    ("--ebay-queries", ebay_queries),
                    ("--markup-min", markup_min),
                    ("--markup-max", markup_max),
                )
                if value
            ]
            if fixed:
                raise CommandError(
                    f"--resume continues a run with its own selection and options; "
                    f"drop {', '.join(fixed)} (only --workers may change).",
                    returncode=USAGE,
                )
            if options["estimate"]:  # what it was estimated at, and sent so far
                try:
                    run = run_resumable_get(run_id=run_id)
                except LookupError as exc:
                    raise CommandError(str(exc), returncode=USAGE) from None
                raise _EstimateOnly(None, run=run)
            try:
                run = run_foreground_resume(run_id=run_id)
                spread = processes_resolve(requested=processes, workers=workers or run.workers)
            except RunError as exc:
                raise CommandError(str(exc), returncode=USAGE) from None
            return run.pk, workers, spread

        if not node_ids and not presets:
            raise CommandError(
                "Choose what to collect: --categories NODE_ID[,NODE_ID…] and/or --preset NAME "
                "(or --resume RUN_ID).",
                returncode=USAGE,
            )
        if options["estimate"]:  # print the estimate, create nothing
            try:
                estimate = run_estimate_from_options(
                    categories=categories_resolve(node_ids=node_ids, preset_names=presets),
                    amazon_pages=amazon_pages,
                    ebay_pages=ebay_pages,
                    markup_min_percent=markup_min,
                    markup_max_percent=markup_max,
                )
            except RunError as exc:
                raise CommandError(str(exc), returncode=USAGE) from exc
            raise _EstimateOnly(estimate)
        try:
            spread = processes_resolve(
                requested=processes, workers=workers or settings.COLLECTION_WORKERS
            )
        except RunError as exc:
            raise CommandError(str(exc), returncode=USAGE) from None
        self._check_marketplace()
        try:
            run = run_foreground_create(
                node_ids=node_ids,
                preset_names=presets,
                workers=workers,
                amazon_pages=amazon_pages,
                ebay_pages=ebay_pages,
                ebay_queries=ebay_queries,
                markup_min_percent=markup_min,
                markup_max_percent=markup_max,
            )
        except RunError as exc:
            raise CommandError(str(exc), returncode=USAGE) from exc
        return run.pk, workers, spread

    def _check_marketplace(self) -> None:
        try:
            marketplace_check_config()
        except Exception as exc:  # configuration problems of any kind: one clear line
            raise CommandError(f"Marketplace configuration: {exc}", returncode=USAGE) from exc

    # --- run ---------------------------------------------------------------------------

    def handle(self, *args, **options):
        # The live display says what the INFO log lines would; -v 2 shows them as well.
        if options["verbosity"] < 2:
            with _loggers_at(logging.WARNING, "collection", "activity"):
                return self._handle(**options)
        return self._handle(**options)

    def _handle(self, **options):
        as_json = options["json"]
        try:
            run_id, workers, spread = self._run_to_execute(options)
        except _EstimateOnly as only:  # --estimate
            return self._print_estimate(only, as_json=as_json)
        # Progress and the summary go to stderr with --json, so stdout ends with the JSON.
        display_stream = sys.stderr if as_json else getattr(self.stdout, "_out", self.stdout)
        display = ProgressDisplay(display_stream, run_id=run_id, processes=spread.processes)
        self._warn_quota(run_id, display)
        if spread.note and options["processes"] is not None:  # asked for auto: say why 1
            display.console.print(spread.note, markup=False)
        try:  # the display starts with the first progress, once the joiners are forked
            result = run_foreground_execute(
                run_id=run_id,
                workers=workers,
                processes=spread.processes,
                progress=display.update,
                write=display.console.print,
                waiting=lambda waiting: display.stop() if waiting else None,
                on_joiner_death=display.joiner_died,
            )
        except RunError as exc:  # completed/cancelled meanwhile, or gone
            display.stop()
            raise CommandError(str(exc), returncode=USAGE) from exc
        except KeyboardInterrupt as exc:
            display.stop()
            raise CommandError(
                f"Interrupted before run {run_id} started. Resume with: {resume_command(run_id)}",
                returncode=STOPPED,
            ) from exc
        display.stop()
        report = result.report
        evidence = run_evidence_get(run_id=run_id)
        display.summary(report, evidence=evidence, processes=result.processes)
        self._compare_estimate(run_id, display)
        if as_json:
            data = report_as_json(report) | {"processes": result.processes} | evidence
            self.stdout.write(json.dumps(data, default=str))
        if report.status != "completed":
            raise CommandError(stopped_message(report), returncode=STOPPED)

    # --- quotas (services.estimates) ----------------------------------------------------

    def _print_estimate(self, only: _EstimateOnly, *, as_json: bool) -> None:
        if only.run is not None:
            compare = run_estimate_compare(run=only.run)
            warning = run_quota_warning_for(run=only.run)
            if as_json:
                self.stdout.write(
                    json.dumps(
                        {
                            "run_id": only.run.pk,
                            "estimate": only.run.estimate,
                            "requests": compare,
                            "warning": warning,
                        },
                        default=str,
                    )
                )
                return
            self.stdout.write(run_estimate_compare_line(run=only.run))
            self.stdout.write(warning or "What it still needs fits before the next quota reset.")
            return
        if as_json:
            data = only.estimate.as_json() | {"warning": run_quota_warning(estimate=only.estimate)}
            self.stdout.write(json.dumps(data, default=str))
            return
        for line in run_estimate_lines(estimate=only.estimate):
            self.stdout.write(line)

    def _warn_quota(self, run_id: int, display: ProgressDisplay) -> None:
        warning = run_quota_warning_for(run=run_get(run_id=run_id))
        if warning:
            display.console.print(f"Warning: {warning}", markup=False)

    def _compare_estimate(self, run_id: int, display: ProgressDisplay) -> None:
        try:
            line = run_estimate_compare_line(run=run_get(run_id=run_id))
        except DatabaseError:
            # A run paused because the database went away: the reason matters, not this.
            logging.getLogger(__name__).debug("estimate comparison skipped", exc_info=True)
            return
        if line:
            display.console.print(line, markup=False)


class _EstimateOnly(Exception):
    """``--estimate``: the input is valid; print what it would cost, create or run nothing."""

    def __init__(self, estimate, run=None) -> None:
        super().__init__("estimate only")
        self.estimate = estimate
        self.run = run


@contextlib.contextmanager
def _loggers_at(level: int, *names: str):
    loggers = [logging.getLogger(name) for name in names]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, old in zip(loggers, previous, strict=True):
            logger.setLevel(old)


def run_evidence_get(*, run_id: int) -> dict:
    """What the run found, for the summary and ``--json``: matched and look-alike
    sightings and the run's top dropshippers (by products matched in the run)."""
    try:
        split = run_sightings_split_get(run_id=run_id)
        top = run_top_sellers_get(run_id=run_id, limit=10)
    except DatabaseError:  # paused because the database went away: the reason matters
        logging.getLogger(__name__).debug("run evidence skipped", exc_info=True)
        return {}
    return {
        "sightings_matched": split["matched"],
        "sightings_lookalike": split["lookalike"],
        "top_dropshippers": [
            {
                key: row[key]
                for key in (
                    "username",
                    "products_in_run",
                    "products_matched",
                    "median_markup_percent",
                    "score",
                    "feedback_score",
                    "new",
                )
            }
            for row in top
        ],
    }


def report_as_json(report: RunReport) -> dict:
    data = {name: getattr(report, name) for name in RESULT_FIELDS}
    data.update(
        phase=report.phase,
        pause_reason=report.pause_reason,
        message=report.message,
        resume_at=report.resume_at,
        mode=report.mode,
        executor=report.executor,
        failed=report.failed,
        stats=report.stats,
        session=report.session,
    )
    if report.status not in ("completed", "cancelled"):
        data["resume"] = resume_command(report.run_id)
    return data


def stopped_message(report: RunReport) -> str:
    why = f": {report.message}" if report.message else "."
    if report.status == "cancelled":
        return f"Run {report.run_id} was cancelled{why}"
    reason = f" ({report.pause_reason})" if report.pause_reason else ""
    return (
        f"Run {report.run_id} is {report.status}{reason}{why} "
        f"Resume with: {resume_command(report.run_id)}"
    )
