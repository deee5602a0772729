"""What the engine does with a failed request: retry after a delay, fail the task, or stop.

Retries live here and only here (adapters never retry). The decision per error type::

    error_type     decision
    timeout        retry with backoff, at most ``max_attempts`` attempts in all
    connection     "
    http_5xx       "
    internal       "   (an unexpected exception in an adapter: logged with its traceback)
    rate_limited   wait Retry-After (or the backoff delay when absent) for the whole
                   provider, then retry. A 429 *with* Retry-After is the provider pacing us,
                   not a failed attempt: it does not use up ``max_attempts``, but at most
                   ``max_rate_limited`` of them per task. A Retry-After longer than
                   ``pause_after_seconds`` pauses the run (reason quota) instead of
                   holding workers for minutes.
    captcha        one retry after the backoff delay (a captcha is usually tied to the
                   proxy exit the provider picked; a second try gets another one), then fail
    quota          pause the run (reason quota) until the provider's reset time
    auth           fail the run at once: no task can succeed with bad credentials
    parse_error    fail the task (the same page parses the same way again)
    http_4xx       fail the task (the request itself is wrong)

Backoff is capped exponential with full jitter: ``uniform(0, min(max_delay, base × 2^(n−1)))``
after the n-th attempt (AWS Architecture Blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

TRANSIENT = frozenset({"timeout", "connection", "http_5xx", "internal"})


class Action(enum.Enum):
    RETRY = "retry"
    FAIL_TASK = "fail_task"
    PAUSE_QUOTA = "pause_quota"
    FAIL_RUN = "fail_run"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float = 0.0  # seconds before the retry (RETRY)
    gate_provider: bool = False  # the delay applies to every request to the provider


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    captcha_attempts: int = 2
    pause_after_seconds: float = 300.0

    @property
    def max_rate_limited(self) -> int:
        return max(10, 4 * self.max_attempts)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay after the ``attempt``-th failed attempt (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)

    def decide(
        self,
        error_type: str,
        *,
        attempts: int,
        rate_limited: int = 0,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> Decision:
        """Decide after a failed request.

        ``attempts``: attempts of the task that count against ``max_attempts`` so far,
        this one included (a 429 that carried Retry-After does not count, see above);
        ``rate_limited``: the task's 429s with Retry-After so far, this one included.
        """
        if error_type == "auth":
            return Decision(Action.FAIL_RUN)
        if error_type == "quota":
            return Decision(Action.PAUSE_QUOTA)
        if error_type == "rate_limited":
            if retry_after is not None:
                if retry_after > self.pause_after_seconds:
                    return Decision(Action.PAUSE_QUOTA, delay=retry_after)
                if rate_limited > self.max_rate_limited:
                    return Decision(Action.FAIL_TASK)
                return Decision(Action.RETRY, delay=max(0.0, retry_after), gate_provider=True)
            if attempts >= self.max_attempts:
                return Decision(Action.FAIL_TASK)
            return Decision(Action.RETRY, delay=self.backoff(attempts, rng), gate_provider=True)
        if error_type in TRANSIENT:
            if attempts >= self.max_attempts:
                return Decision(Action.FAIL_TASK)
            return Decision(Action.RETRY, delay=self.backoff(attempts, rng))
        if error_type == "captcha":
            if attempts >= min(self.captcha_attempts, self.max_attempts):
                return Decision(Action.FAIL_TASK)
            return Decision(Action.RETRY, delay=self.backoff(attempts, rng))
        return Decision(Action.FAIL_TASK)
