from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "activity"
    verbose_name = "Live activity"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks)
