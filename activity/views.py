"""The live pages: the run list and one run. Staff with the permission to view runs only.

Pages render the current state from the selectors; the static scripts then follow the
websocket streams (``activity.consumers``). No inline script or style: the CSP forbids it,
the initial state travels in a ``json_script`` data block.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from activity.access import user_can_control_runs, user_can_view_runs
from activity.selectors import FEED_LIMIT, RUN_LIST_LIMIT, run_list_get, run_live_state_get
from activity.services import CONTROL_ACTIONS, run_control_apply
from collection.models import CollectionRun
from collection.services.runs import RunError


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
    runs = run_list_get(limit=RUN_LIST_LIMIT)
    return render(request, "activity/run_list.html", {"runs": runs})


@require_GET
@staff_can_view_runs
def run_detail(request, run_id: int):
    state = run_live_state_get(run_id=run_id, feed_limit=FEED_LIMIT)
    if state is None:
        raise Http404("No such run.")
    return render(
        request,
        "activity/run_detail.html",
        {
            "run": state["run"],
            "state": state,
            "can_control": user_can_control_runs(request.user),
            "admin_url": reverse("admin:collection_collectionrun_change", args=[run_id]),
            "feed_limit": FEED_LIMIT,
        },
    )


@require_POST
@staff_can_view_runs
def run_control(request, run_id: int, action: str):
    """POST /runs/<id>/<pause|resume|cancel>/ (CSRF-checked by the middleware)."""
    if action not in CONTROL_ACTIONS:
        raise Http404("No such action.")
    if not user_can_control_runs(request.user):
        raise PermissionDenied("You may not change collection runs.")
    try:
        run = run_control_apply(run_id=run_id, action=action)
    except RunError as exc:
        messages.error(request, str(exc))
    except CollectionRun.DoesNotExist:
        raise Http404("No such run.") from None
    else:
        if run.requested_action:
            text = f"Run {run_id}: {run.requested_action} requested; its worker stops shortly."
        else:
            text = f"Run {run_id} is now {run.get_status_display().lower()}."
        messages.success(request, text)
    return redirect("activity:run_detail", run_id=run_id)
