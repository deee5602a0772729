"""Persisted run events: the history of a run and the source of replay for the live page."""

from django.db import models


class RunEvent(models.Model):
    """One step of one worker (or of the system, worker 0) in one run.

    ``seq`` is strictly increasing per run and handed out from ``CollectionRun.event_seq``
    in the transaction that stores the event, so a page can ask for "everything after N".
    """

    run = models.ForeignKey(
        "collection.CollectionRun", on_delete=models.CASCADE, related_name="events"
    )
    seq = models.PositiveBigIntegerField()
    ts = models.DateTimeField()
    worker = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=32)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="runevent_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.seq} {self.action}"
