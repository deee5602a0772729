"""Retry decisions, backoff and the per-provider gate (no database, real clocks)."""

import asyncio
import random
import time

import pytest

from collection.engine.limiter import ProviderGate, ProviderGates
from collection.engine.retry import Action, RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=30.0)


@pytest.mark.parametrize("error_type", ["timeout", "connection", "http_5xx", "internal"])
def test_transient_errors_retry_until_the_attempt_limit(error_type):
    for attempt in range(1, 5):
        decision = POLICY.decide(error_type, attempts=attempt)
        assert decision.action is Action.RETRY
        assert not decision.gate_provider
        assert 0 <= decision.delay <= min(30.0, 0.5 * 2 ** (attempt - 1))
    assert POLICY.decide(error_type, attempts=5).action is Action.FAIL_TASK


@pytest.mark.parametrize("error_type", ["parse_error", "http_4xx", "not_fetchable", "weird"])
def test_permanent_errors_fail_the_task_at_once(error_type):
    assert POLICY.decide(error_type, attempts=1).action is Action.FAIL_TASK


def test_captcha_is_retried_once():
    assert POLICY.decide("captcha", attempts=1).action is Action.RETRY
    assert POLICY.decide("captcha", attempts=2).action is Action.FAIL_TASK


def test_auth_fails_the_run_and_quota_pauses_it():
    assert POLICY.decide("auth", attempts=1).action is Action.FAIL_RUN
    assert POLICY.decide("quota", attempts=1).action is Action.PAUSE_QUOTA


def test_retry_after_wins_and_gates_the_provider():
    decision = POLICY.decide("rate_limited", attempts=0, rate_limited=1, retry_after=7.5)
    assert decision.action is Action.RETRY
    assert decision.delay == 7.5
    assert decision.gate_provider


def test_a_429_with_retry_after_does_not_use_up_attempts_but_is_bounded():
    # attempts=4 of 5 used by other errors: a paced 429 is still retried...
    assert POLICY.decide("rate_limited", attempts=4, rate_limited=3, retry_after=1).action is (
        Action.RETRY
    )
    # ...but not forever.
    too_many = POLICY.max_rate_limited + 1
    assert (
        POLICY.decide("rate_limited", attempts=0, rate_limited=too_many, retry_after=1).action
        is Action.FAIL_TASK
    )


def test_a_429_without_retry_after_backs_off_for_the_whole_provider():
    decision = POLICY.decide("rate_limited", attempts=2, retry_after=None)
    assert decision.action is Action.RETRY and decision.gate_provider
    assert 0 <= decision.delay <= 1.0
    assert POLICY.decide("rate_limited", attempts=5).action is Action.FAIL_TASK


def test_a_very_long_retry_after_pauses_the_run_instead_of_holding_workers():
    decision = POLICY.decide("rate_limited", attempts=0, rate_limited=1, retry_after=3600)
    assert decision.action is Action.PAUSE_QUOTA


def test_backoff_is_full_jitter_under_a_capped_exponential():
    rng = random.Random(4)
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = [POLICY.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # it spreads over the whole range
        assert min(delays) < ceiling * 0.2


async def test_rate_limiter_spaces_request_starts():
    gate = ProviderGate("p", rps=50)  # one every 20 ms
    starts = []

    async def one():
        await gate.wait_turn()
        starts.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(one() for _ in range(11)))
    assert time.monotonic() - began >= 0.19
    # The k-th start never comes before its slot, k × 20 ms after the first (a start that
    # comes late on a busy machine does not push the later slots back).
    starts.sort()
    for k, start in enumerate(starts):
        assert start - began >= k * 0.02 - 0.002


async def test_zero_rate_means_no_limit():
    gate = ProviderGate("p", rps=0)
    began = time.monotonic()
    await asyncio.gather(*(gate.wait_turn() for _ in range(1000)))
    assert time.monotonic() - began < 0.5


async def test_retry_after_gate_holds_every_request_to_the_provider():
    gates = ProviderGates({"slow": 0})
    gate = gates["slow"]
    assert gates["slow"] is gate
    gate.defer(0.2)
    gate.defer(0.05)  # a shorter Retry-After never shortens the gate
    began = time.monotonic()
    await asyncio.gather(*(gate.wait_turn() for _ in range(5)))
    assert time.monotonic() - began >= 0.19
    # Another provider is not held.
    began = time.monotonic()
    await gates["other"].wait_turn()
    assert time.monotonic() - began < 0.05


async def test_a_gate_closed_while_waiting_for_a_rate_slot_is_respected():
    gate = ProviderGate("p", rps=10)  # slots every 100 ms
    await gate.wait_turn()  # takes the first slot
    waiter = asyncio.create_task(gate.wait_turn())  # waits ~100 ms for its slot
    await asyncio.sleep(0.02)
    gate.defer(0.3)  # a 429 arrives meanwhile
    began = time.monotonic()
    await waiter
    assert time.monotonic() - began >= 0.27
