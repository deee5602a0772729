"""The operator pages: the dropshipper leaderboard, a seller, a product (staff who may view
sellers), and the live pages: the run list and one run (staff who may view runs).

Pages render the current state from the selectors; the static scripts then follow the
websocket streams (``activity.consumers``). No inline script or style: the CSP forbids it,
the initial state travels in a ``json_script`` data block.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from activity.access import user_can_control_runs, user_can_view_runs, user_can_view_sellers
from activity.forms import LeaderboardFilterForm
from activity.selectors import (
    FEED_LIMIT,
    RUN_LIST_LIMIT,
    run_duration_s,
    run_list_get,
    run_live_state_get,
    run_result_text,
    run_sellers_board_get,
)
from collection.models import CollectionRun
from collection.selectors import (
    EVIDENCE_PAGE_SIZE,
    LeaderboardCursor,
    markup_percent,
    product_resellers_get,
    seller_evidence_queryset,
    seller_get,
    seller_leaderboard_get,
    seller_runs_chart_get,
    seller_score_why,
    seller_snapshots_chart_get,
)
from collection.services import control


def staff_can_view_runs(view):
    """Anonymous → the admin login; logged in without the permission → 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not user_can_view_runs(request.user):
            raise PermissionDenied("You may not view collection runs.")
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@staff_can_view_runs
def run_list(request):
    runs = [
        {**run, "duration_s": run_duration_s(run), "result": run_result_text(run)}
        for run in run_list_get(limit=RUN_LIST_LIMIT)
    ]
    return render(
        request,
        "activity/run_list.html",
        {"runs": runs, "snapshots": seller_snapshots_chart_get()},
    )


@require_GET
@staff_can_view_runs
def run_detail(request, run_id: int):
    state = run_live_state_get(run_id=run_id, feed_limit=FEED_LIMIT)
    if state is None:
        raise Http404("No such run.")
    can_view_sellers = user_can_view_sellers(request.user)
    finished = state["run"]["status"] in CollectionRun.FINISHED_STATUSES
    return render(
        request,
        "activity/run_detail.html",
        {
            "run": state["run"],
            "state": state,
            "can_control": user_can_control_runs(request.user),
            "run_finished": finished,
            "can_view_sellers": can_view_sellers,
            "sellers": (
                run_sellers_board_get(run_id=run_id, finished=finished)
                if can_view_sellers
                else {"top": [], "new": []}
            ),
            "top_url": reverse("activity:run_top_sellers", args=[run_id]),
            "admin_url": reverse("admin:collection_collectionrun_change", args=[run_id]),
            "feed_limit": FEED_LIMIT,
        },
    )


@require_POST
@staff_can_view_runs
def run_control(request, run_id: int, action: str):
    """POST /runs/<id>/<pause|resume|cancel>/ (CSRF-checked by the middleware)."""
    if action not in control.LIVE_PAGE_ACTIONS:
        raise Http404("No such action.")
    if not user_can_control_runs(request.user):
        raise PermissionDenied("You may not change collection runs.")
    try:
        result = control.run_control(run_id=run_id, action=action, user=request.user)
    except CollectionRun.DoesNotExist:
        raise Http404("No such run.") from None
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("activity:run_detail", run_id=run_id)


# --- Operator pages: who the dropshippers are, and why ----------------------------------


def staff_can_view_sellers(view):
    """Anonymous → the admin login; logged in without the permission → 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not user_can_view_sellers(request.user):
            raise PermissionDenied("You may not view sellers.")
        return view(request, *args, **kwargs)

    return wrapped


def _query_without(request, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@require_GET
@staff_can_view_sellers
def leaderboard(request):
    """The dropshipper leaderboard: the first page after logging in."""
    form = LeaderboardFilterForm(request.GET)
    form.is_valid()  # invalid fields are shown and left out of the filters
    page = seller_leaderboard_get(
        filters=form.filters(),
        after=LeaderboardCursor.from_param(request.GET.get("after")),
        before=LeaderboardCursor.from_param(request.GET.get("before")),
    )
    base_query = _query_without(request, "after", "before")
    return render(
        request,
        "activity/leaderboard.html",
        {
            "form": form,
            "page": page,
            "base_query": base_query,
            "filtered": bool(base_query),
            "first_page": not request.GET.get("after") and not request.GET.get("before"),
        },
    )


@require_GET
@staff_can_view_sellers
def seller_detail(request, seller_id: int):
    seller = seller_get(seller_id=seller_id)
    if seller is None:
        raise Http404("No such seller.")
    evidence = Paginator(seller_evidence_queryset(seller_id=seller_id), EVIDENCE_PAGE_SIZE)
    page = evidence.get_page(request.GET.get("page"))
    rows = [{"sighting": s, "markup_percent": markup_percent(s.price_ratio)} for s in page]
    return render(
        request,
        "activity/seller_detail.html",
        {
            "seller": seller,
            "why": seller_score_why(seller=seller),
            "evidence_page": page,
            "rows": rows,
            "median_markup": markup_percent(seller.median_price_ratio),
            "chart": seller_runs_chart_get(seller_id=seller_id),
            "admin_url": reverse("admin:collection_seller_change", args=[seller_id]),
        },
    )


@require_GET
@staff_can_view_sellers
def product_detail(request, asin: str):
    found = product_resellers_get(asin=asin)
    if found is None:
        raise Http404("No such product.")
    product, rows = found
    return render(
        request,
        "activity/product_detail.html",
        {
            "product": product,
            "rows": rows,
            "categories": list(product.categories.order_by("department", "name")),
            "matched": (matched := sum(1 for row in rows if row["sighting"].is_match)),
            "lookalikes": len(rows) - matched,
        },
    )


@require_GET
@staff_can_view_runs
def run_top_sellers(request, run_id: int):
    """GET /runs/<id>/top.json: the run's top and new dropshippers (the run page asks on
    each stored batch it hears of, throttled)."""
    if not user_can_view_sellers(request.user):
        raise PermissionDenied("You may not view sellers.")
    status = CollectionRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status is None:
        raise Http404("No such run.")
    board = run_sellers_board_get(run_id=run_id, finished=status in CollectionRun.FINISHED_STATUSES)
    return JsonResponse({"run": run_id, **board})
