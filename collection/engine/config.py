"""The engine's knobs, read from settings in one place (``EngineConfig.from_settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from collection.engine.retry import RetryPolicy

GRACE_SECONDS = 2.0  # in-flight requests get this long after a stop before being abandoned
CONTROL_SECONDS = 1.0  # how often pause/cancel requests are read from the database
CLAIM_POLL_SECONDS = 0.5  # how often an idle process looks for claimable tasks
CLAIM_AHEAD_SECONDS = 0.5  # work kept queued, at the measured request rate


@dataclass(slots=True)
class EngineConfig:
    """The engine's knobs, read from settings in one place (``from_settings``)."""

    retry: RetryPolicy
    rate_limits: dict[str, float]
    max_consecutive_failures: int
    lease_seconds: int
    heartbeat_seconds: float
    control_seconds: float
    batch_size: int
    flush_seconds: float
    frame_seconds: float
    batch_rows: int = 5_000
    rows_in_flight: int = 10_000
    stores_in_flight: int = 2
    grace_seconds: float = GRACE_SECONDS
    claim_poll_seconds: float = CLAIM_POLL_SECONDS
    progress_seconds: float = 0.5

    @classmethod
    def from_settings(cls) -> EngineConfig:
        heartbeat = float(settings.COLLECTION_HEARTBEAT_SECONDS)
        return cls(
            retry=RetryPolicy(
                max_attempts=max(1, int(settings.COLLECTION_RETRY_MAX)),
                base_delay=float(settings.COLLECTION_RETRY_BASE_DELAY),
                max_delay=float(settings.COLLECTION_RETRY_MAX_DELAY),
            ),
            rate_limits={k: float(v) for k, v in settings.COLLECTION_RATE_LIMITS.items()},
            max_consecutive_failures=int(settings.COLLECTION_MAX_CONSECUTIVE_FAILURES),
            lease_seconds=int(settings.COLLECTION_LEASE_SECONDS),
            heartbeat_seconds=heartbeat,
            control_seconds=min(CONTROL_SECONDS, heartbeat),
            batch_size=max(1, int(settings.COLLECTION_BATCH_SIZE)),
            flush_seconds=float(settings.COLLECTION_FLUSH_SECONDS),
            batch_rows=max(1, int(settings.COLLECTION_BATCH_ROWS)),
            rows_in_flight=max(1, int(settings.COLLECTION_ROWS_IN_FLIGHT)),
            stores_in_flight=max(1, int(settings.COLLECTION_STORES_IN_FLIGHT)),
            frame_seconds=float(settings.ACTIVITY_FRAME_SECONDS),
        )
