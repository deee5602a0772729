"""System checks for live activity."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def channel_layer_crosses_processes(app_configs, **kwargs):
    """activity.E001: events from runs in another process need a cross-process layer."""
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if settings.COLLECTION_RUNS_OUT_OF_PROCESS and backend.endswith("InMemoryChannelLayer"):
        return [
            Error(
                "The in-memory channel layer cannot carry events between processes.",
                hint=(
                    "Runs execute in db_worker or run_collection processes; set REDIS_URL so "
                    "their events reach the live page. Without it the page shows stored "
                    "events when it (re)loads, not live ones."
                ),
                id="activity.E001",
            )
        ]
    return []
