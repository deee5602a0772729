"""Who may watch and steer runs. One place for the pages and the websocket consumers."""

from __future__ import annotations

VIEW_PERMISSION = "collection.view_collectionrun"
VIEW_SELLERS_PERMISSION = "collection.view_seller"
CHANGE_PERMISSION = "collection.change_collectionrun"

# Websocket close codes (4000–4999 are the application's). The page stops reconnecting on
# these and says why.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


def user_can_view_runs(user) -> bool:
    """Staff with the permission to view runs (superusers have every permission)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(VIEW_PERMISSION)
    )


def user_can_view_sellers(user) -> bool:
    """The leaderboard, seller and product pages: staff with the permission to view sellers."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(VIEW_SELLERS_PERMISSION)
    )


def user_can_control_runs(user) -> bool:
    """Pause, resume and cancel need the permission to change runs."""
    return user_can_view_runs(user) and user.has_perm(CHANGE_PERMISSION)


def websocket_refusal(user) -> int | None:
    """The close code for a user who may not subscribe, or None when they may."""
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED
    if not user_can_view_runs(user):
        return CLOSE_FORBIDDEN
    return None
