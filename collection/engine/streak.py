"""Consecutive failed tasks: when a run pauses over them, and which failures wait."""

from __future__ import annotations

from collection import store
from collection.engine.retry import TRANSIENT


class FailureStreak:
    """Consecutive failed tasks, and the transient failures of the current streak.

    A task that failed for a transient reason (timeout, connection, 5xx, 429) while every
    task around it fails too is a victim of a provider outage, not a bad task: such
    outcomes are held back until a task succeeds (then they are stored as failed). When
    the streak reaches the limit the run pauses and the held tasks are released instead,
    so a resume retries them. Failures that would repeat (parse errors, 4xx) are stored
    at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.held: list[store.TaskOutcome] = []
        self.last_error_type = ""
        self.last_error_message = ""

    def success(self) -> list[store.TaskOutcome]:
        self.count = 0
        return self.release()

    def failure(self, outcome: store.TaskOutcome) -> tuple[bool, list[store.TaskOutcome]]:
        """Count a failed task; return (limit reached, outcomes to store now)."""
        self.count += 1
        self.last_error_type = outcome.error_type
        self.last_error_message = outcome.error_message
        tripped = self.limit > 0 and self.count >= self.limit
        if outcome.error_type in TRANSIENT or outcome.error_type == "rate_limited":
            self.held.append(outcome)
            return tripped, []
        return tripped, [outcome]

    def release(self) -> list[store.TaskOutcome]:
        held, self.held = self.held, []
        return held
