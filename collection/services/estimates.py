"""What a run will cost: requests per provider before it starts, and when it can finish.

The estimate follows the pipeline (DESIGN §1)::

    amazon requests = categories × amazon pages
    products        = amazon requests × items per page × usable share
                      (usable share = distinct products with a usable price per best-seller
                       item: categories overlap, some prices are missing)
    ebay requests   = products × (expected pages per product (≤ ebay pages)
                                 + follow-up share when ebay queries > 1)
    requests        = tasks × (1 + retry share)

Items per page, the usable share, the retry share, the share of products that have a
page p (``page_survival[p]``) and the share whose first query found too little and sent a
second one (``follow_up_share``) are learned from the latest completed runs' ``RunTask`` rows
when there are any, and otherwise stated defaults (``DEFAULTS``, measured on the sandbox
marketplace's default catalogue; a real marketplace is learned after its first run).

Past 400 lines: the estimate, what it learns from history and the quota forecast share
the same rates; each interface reads all three.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from collection.models import CollectionRun, RunTask
from collection.quota_windows import quotas_configured
from collection.selectors import quota_usage_get

logger = logging.getLogger(__name__)

HISTORY_RUNS = 20  # completed runs the estimate learns from (the latest)


@dataclass(frozen=True, slots=True)
class Rates:
    """The ratios an estimate multiplies by."""

    items_per_page: float
    usable_share: float
    page_survival: tuple[float, ...]  # [0] = page 1 (always 1.0), [1] = page 2, …
    retry_share: float = 0.0
    follow_up_share: float = 0.0  # products whose first query found too little (2nd query)

    def pages_per_product(self, ebay_pages: int) -> float:
        survival = list(self.page_survival[:ebay_pages])
        while len(survival) < ebay_pages:  # past what was seen: keep the last page-to-page ratio
            ratio = survival[-1] / survival[-2] if len(survival) > 1 and survival[-2] else 0.0
            survival.append(survival[-1] * ratio)
            if survival[-1] < 1e-6:
                break
        return sum(survival)


# Measured on the sandbox's default catalogue (seed 1) with the default options (short
# queries, 200 listings a call), "All departments" / "Sampler": 49.8 / 49.5 best sellers a
# page, 92.1 % / 89.6 % of them distinct with a usable price, no second page of 200 in either,
# and a fallback query for 28 % / 24 % of the products searched.
DEFAULT_FOLLOW_UP_SHARE = 0.26
DEFAULTS = Rates(
    items_per_page=49.6,
    usable_share=0.92,
    page_survival=(1.0, 0.005, 0.0),
    follow_up_share=DEFAULT_FOLLOW_UP_SHARE,
)
DEFAULTS_BY_EBAY_PROVIDER = {
    "ebay": DEFAULTS,
    "oxylabs": Rates(  # pages of 240 on the eBay site
        items_per_page=49.6,
        usable_share=0.92,
        page_survival=(1.0, 0.005, 0.0),
        follow_up_share=DEFAULT_FOLLOW_UP_SHARE,
    ),
}


@dataclass(frozen=True, slots=True)
class Estimate:
    """Requests per provider that a run of this selection and these options will send."""

    categories: int
    amazon_pages: int
    ebay_pages: int
    ebay_queries: int
    amazon_provider: str
    ebay_provider: str
    amazon_requests: int
    ebay_requests: int
    products: int  # products expected to be searched on eBay (usable price, distinct)
    items_per_page: float
    usable_share: float
    ebay_pages_per_product: float
    retry_share: float
    follow_up_share: float
    learned: bool  # False: the stated defaults (no completed run to learn from)
    learned_from_runs: list[int] = field(default_factory=list)

    @property
    def requests(self) -> dict[str, int]:
        by_provider: dict[str, int] = defaultdict(int)
        by_provider[self.amazon_provider] += self.amazon_requests
        by_provider[self.ebay_provider] += self.ebay_requests
        return dict(by_provider)

    @property
    def total_requests(self) -> int:
        return self.amazon_requests + self.ebay_requests

    @property
    def basis(self) -> str:
        if self.learned:
            return f"learned from {len(self.learned_from_runs)} completed run(s)"
        return "stated defaults (no completed run to learn from yet)"

    def as_json(self) -> dict:
        data = asdict(self)
        data["requests"] = self.requests
        data["total_requests"] = self.total_requests
        data["basis"] = self.basis
        for key in (
            "items_per_page",
            "usable_share",
            "ebay_pages_per_product",
            "retry_share",
            "follow_up_share",
        ):
            data[key] = round(data[key], 4)
        return data

    def describe(self) -> str:
        """Plain text for the command line and the admin form."""
        per_provider = ", ".join(f"{p}: {n:,}" for p, n in sorted(self.requests.items()))
        return (
            f"Estimate: {self.total_requests:,} requests ({per_provider}) — "
            f"{self.amazon_requests:,} Amazon best-seller pages ({self.categories} categories × "
            f"{self.amazon_pages}), about {self.products:,} products to search on eBay × "
            f"{self.ebay_pages_per_product:.2f} pages each (at most {self.ebay_pages})"
            + (
                f" + a second query for {self.follow_up_share:.0%} of them"
                if self.ebay_queries > 1
                else ""
            )
            + f" = {self.ebay_requests:,} eBay searches; {self.basis}."
        )


def provider_names() -> tuple[str, str]:
    """(Amazon provider, eBay provider) as the engine meters them."""
    amazon = "oxylabs" if settings.AMAZON_PROVIDER == "oxylabs" else settings.AMAZON_PROVIDER
    ebay = "oxylabs" if settings.EBAY_PROVIDER == "oxylabs" else "ebay"
    return amazon, ebay


def _history(
    *, markup_min_percent=None, markup_max_percent=None, ebay_provider: str
) -> list[CollectionRun]:
    runs = list(
        CollectionRun.objects.filter(status=CollectionRun.Status.COMPLETED).order_by(
            "-finished_at", "-pk"
        )[:HISTORY_RUNS]
    )
    # Prefer runs like this one: the same eBay source and markup band page alike.
    same_source = [
        r for r in runs if (r.estimate or {}).get("ebay_provider", ebay_provider) == ebay_provider
    ]
    runs = same_source or runs
    if markup_min_percent is not None and markup_max_percent is not None:
        band = (Decimal(str(markup_min_percent)), Decimal(str(markup_max_percent)))
        same_band = [r for r in runs if (r.markup_min_percent, r.markup_max_percent) == band]
        runs = same_band or runs
    return runs


def rates_learn(runs: list[CollectionRun]) -> Rates | None:
    """The ratios seen in ``runs`` (None when they hold nothing to learn from)."""
    if not runs:
        return None
    run_ids = [r.pk for r in runs]
    ebay_pages_of = {r.pk: r.ebay_pages for r in runs}
    amazon_done = (
        RunTask.objects.filter(run_id__in=run_ids, phase=RunTask.Phase.AMAZON)
        .filter(status=RunTask.Status.DONE)
        .aggregate(tasks=Count("id"), items=Sum("result_count"))
    )
    pages = defaultdict(int)  # (run, page) -> eBay tasks of the products' first query
    fetched_ebay = RunTask.objects.filter(run_id__in=run_ids, phase=RunTask.Phase.EBAY).exclude(
        status=RunTask.Status.SKIPPED  # unfetchable: no request
    )
    for row in (
        fetched_ebay.exclude(key__contains=":q").values("run_id", "page").annotate(n=Count("id"))
    ):
        pages[row["run_id"], row["page"]] = row["n"]
    follow_ups = fetched_ebay.filter(key__contains=":q", page=1).count()
    first_pages = sum(n for (_, page), n in pages.items() if page == 1)
    if not amazon_done["tasks"] or not amazon_done["items"] or not first_pages:
        return None
    items_per_page = amazon_done["items"] / amazon_done["tasks"]
    usable_share = first_pages / amazon_done["items"]

    survival = [1.0]
    for page in range(2, max(ebay_pages_of.values()) + 1):
        covering = [run_id for run_id, cap in ebay_pages_of.items() if cap >= page]
        base = sum(pages[run_id, 1] for run_id in covering)
        if not base:
            break
        survival.append(sum(pages[run_id, page] for run_id in covering) / base)

    # Every attempt is one request; a task fetched at least once would have been anyway.
    attempts = RunTask.objects.filter(run_id__in=run_ids, attempts__gt=0).aggregate(
        fetched=Count("id"), sent=Sum("attempts")
    )
    fetched, sent = attempts["fetched"], attempts["sent"] or 0
    retry_share = (sent - fetched) / fetched if fetched else 0.0
    return Rates(
        items_per_page, usable_share, tuple(survival), retry_share, follow_ups / first_pages
    )


def run_estimate(
    *,
    categories: int | Iterable,
    amazon_pages: int,
    ebay_pages: int,
    markup_min_percent=None,
    markup_max_percent=None,
    ebay_queries: int | None = None,
) -> Estimate:
    """Estimate a run's requests per provider; ``categories`` is a count or the categories."""
    if ebay_queries is None:
        ebay_queries = settings.COLLECTION_EBAY_QUERIES
    count = categories if isinstance(categories, int) else len(list(categories))
    amazon_provider, ebay_provider = provider_names()
    runs = _history(
        markup_min_percent=markup_min_percent,
        markup_max_percent=markup_max_percent,
        ebay_provider=ebay_provider,
    )
    rates = rates_learn(runs)
    learned = rates is not None
    rates = rates or DEFAULTS_BY_EBAY_PROVIDER.get(ebay_provider, DEFAULTS)

    amazon_tasks = count * amazon_pages
    products = round(amazon_tasks * rates.items_per_page * rates.usable_share)
    pages_per_product = rates.pages_per_product(ebay_pages)
    follow_up_share = rates.follow_up_share if ebay_queries > 1 else 0.0
    ebay_tasks = products * (pages_per_product + follow_up_share)
    return Estimate(
        categories=count,
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
        ebay_queries=ebay_queries,
        amazon_provider=amazon_provider,
        ebay_provider=ebay_provider,
        amazon_requests=round(amazon_tasks * (1 + rates.retry_share)),
        ebay_requests=round(ebay_tasks * (1 + rates.retry_share)),
        products=products,
        items_per_page=rates.items_per_page,
        usable_share=rates.usable_share,
        ebay_pages_per_product=pages_per_product,
        retry_share=rates.retry_share,
        follow_up_share=follow_up_share,
        learned=learned,
        learned_from_runs=[r.pk for r in runs] if learned else [],
    )


def run_estimate_for(*, run: CollectionRun) -> Estimate:
    """The estimate for an existing run's selection and options."""
    return run_estimate(
        categories=run.categories.count(),
        amazon_pages=run.amazon_pages,
        ebay_pages=run.ebay_pages,
        markup_min_percent=run.markup_min_percent,
        markup_max_percent=run.markup_max_percent,
        ebay_queries=run.ebay_queries,
    )


# --- Finishing before the next reset ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderForecast:
    provider: str
    needed: int
    left_now: int
    limit: int
    resets_at: dt.datetime
    resets: int  # quota resets that pass before the run ends
    pauses: int  # of which the run waits for, its quota spent
    finish_at: dt.datetime


def _throughput(provider: str) -> float | None:
    """Requests per second one run reaches at most on ``provider`` (None = unknown)."""
    rps = float(settings.COLLECTION_RATE_LIMITS.get(provider, 0) or 0)
    return rps or None


def _requests_of(estimate: Estimate | Mapping) -> dict[str, int]:
    if isinstance(estimate, Estimate):
        return estimate.requests
    return {p: int(n) for p, n in (estimate.get("requests") or {}).items()}


def run_quota_forecast(
    *,
    estimate: Estimate | Mapping,
    now: dt.datetime | None = None,
    usage: Mapping[str, dict] | None = None,
) -> list[ProviderForecast]:
    """For each metered provider the run uses: how many resets it waits for, when it ends.

    ``estimate``: an Estimate, its ``as_json()`` (kept on the run), or ``{"requests": {…}}``
    (e.g. what a resumed run still needs).
    """
    now = now or timezone.now()
    usage = quota_usage_get(now=now) if usage is None else usage
    quotas = quotas_configured()
    forecasts = []
    for provider, needed in _requests_of(estimate).items():
        quota = quotas.get(provider)
        if quota is None or provider not in usage or needed <= 0:
            continue
        left = usage[provider]["left"]
        resets_at = dt.datetime.fromisoformat(usage[provider]["resets_at"])
        rps = _throughput(provider)
        # Window by window: send what the quota left and the rate allow, then wait for the
        # reset (a pause when the quota was what stopped it).
        moment, remaining, available, window_end = now, needed, left, resets_at
        resets = pauses = 0
        for _ in range(10_000):
            sendable = min(remaining, available)
            if rps:
                sendable = min(sendable, int((window_end - moment).total_seconds() * rps))
                moment += dt.timedelta(seconds=sendable / rps)
            remaining -= sendable
            if remaining <= 0 or quota.limit <= 0:
                break
            pauses += sendable == available
            moment = window_end
            window = quota.window_at(window_end)
            window_end, available, resets = window.end, quota.limit, resets + 1
        forecasts.append(
            ProviderForecast(
                provider=provider,
                needed=needed,
                left_now=left,
                limit=quota.limit,
                resets_at=resets_at,
                resets=resets,
                pauses=pauses,
                finish_at=moment,
            )
        )
    return forecasts


def run_quota_warning(
    *,
    estimate: Estimate | Mapping,
    now: dt.datetime | None = None,
    usage: Mapping[str, dict] | None = None,
) -> str | None:
    """A warning when the run cannot finish before the next quota reset, else None."""
    late = [f for f in run_quota_forecast(estimate=estimate, now=now, usage=usage) if f.resets]
    if not late:
        return None
    parts = []
    for f in late:
        text = (
            f"{f.provider} needs about {f.needed:,} requests; {f.left_now:,} are left before "
            f"its quota resets at {_when(f.resets_at)} ({f.limit:,} per window)"
        )
        if f.pauses:
            text += (
                f", so the run will pause at the quota {f.pauses} time(s) and resume by "
                "itself after each reset"
            )
        parts.append(text)
    finish = max(f.finish_at for f in late)
    return (
        "This run cannot finish before the next quota reset: "
        + "; ".join(parts)
        + f". Expected to finish around {_when(finish)}."
    )


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- After the run ---------------------------------------------------------------------


def run_estimate_compare(*, run: CollectionRun) -> dict:
    """Estimated and actual requests of a run, per provider (plain JSON for its summary).

    Actual = attempts recorded on the run's tasks (every attempt is one request; a task
    skipped as unfetchable sent none).
    """
    estimate = run.estimate or {}
    amazon_provider = estimate.get("amazon_provider") or provider_names()[0]
    ebay_provider = estimate.get("ebay_provider") or provider_names()[1]
    actual: dict[str, int] = defaultdict(int)
    for row in RunTask.objects.filter(run=run).values("phase").annotate(attempts=Sum("attempts")):
        provider = amazon_provider if row["phase"] == RunTask.Phase.AMAZON else ebay_provider
        actual[provider] += row["attempts"] or 0
    estimated = estimate.get("requests") or {}
    providers = sorted(set(actual) | set(estimated))
    result = {}
    for provider in providers:
        est, act = int(estimated.get(provider, 0)), int(actual.get(provider, 0))
        result[provider] = {
            "estimated": est,
            "actual": act,
            "error_percent": round(100.0 * (est - act) / act, 1) if act else None,
        }
    return result


def run_quota_warning_for(*, run: CollectionRun, now: dt.datetime | None = None) -> str | None:
    """The reset warning for a run about to start or resume: what it still needs (its
    estimate minus the requests its tasks already made) against the quota left."""
    compare = run_estimate_compare(run=run)
    needed = {p: max(0, c["estimated"] - c["actual"]) for p, c in compare.items()}
    return run_quota_warning(estimate={"requests": needed}, now=now)


def run_estimate_lines(*, estimate: Estimate, now: dt.datetime | None = None) -> list[str]:
    """What ``run_collection --estimate`` and the admin start form show."""
    if not set(estimate.requests) & set(quotas_configured()):
        return [
            estimate.describe(),
            "No quota is configured for these providers (COLLECTION_QUOTAS).",
        ]
    warning = run_quota_warning(estimate=estimate, now=now)
    return [estimate.describe(), warning or "It can finish before the next quota reset."]


def run_estimate_compare_line(*, run: CollectionRun) -> str:
    """One line for a run's summary: estimated vs actual requests per provider."""
    parts = []
    for provider, c in run_estimate_compare(run=run).items():
        error = f", {c['error_percent']:+.1f} %" if c["error_percent"] is not None else ""
        parts.append(f"{provider} {c['estimated']:,} estimated / {c['actual']:,} sent{error}")
    return "Requests: " + "; ".join(parts) if parts else ""
