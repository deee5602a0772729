"""Websocket routes (mounted by config.asgi behind the origin check and the auth stack)."""

from django.urls import path

from activity.consumers import RunConsumer, RunListConsumer

websocket_urlpatterns = [
    path("ws/runs/", RunListConsumer.as_asgi(), name="ws_run_list"),
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi(), name="ws_run_detail"),
]
