"""Per-provider pacing: the Retry-After gate and the requests-per-second limiter.

Every request to a provider first waits its turn at that provider's ``ProviderGate``.
Two rules are checked, in this order, right before the request starts:

1. **Retry-After gate.** ``not_before`` is a ``time.monotonic()`` instant shared by every
   worker of the process. A 429 (or an explicit Retry-After) pushes it forward; no request
   to the provider starts before it has passed, whichever worker or task it belongs to.
2. **Rate.** At most ``rps`` request starts per second, evenly spaced (GCRA: a reserved
   "theoretical arrival time" per provider, no polling, FIFO in arrival order). ``rps = 0``
   turns the limiter off. The limit keeps a run under the provider's published rate
   instead of discovering it through 429s.

A waiter whose rate slot comes up while the gate has moved (a 429 arrived meanwhile) goes
back to rule 1; the slot it held is simply not used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TypedDict, Unpack


class ProviderGate:
    """Paces request starts to one provider (see the module docstring)."""

    def __init__(
        self,
        provider: str,
        *,
        rps: float = 0.0,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.rps = max(0.0, float(rps))
        self._interval = 1.0 / self.rps if self.rps > 0 else 0.0
        self._tolerance = self._interval * max(0, burst - 1)
        self._tat = 0.0  # theoretical arrival time of the next request (GCRA)
        self._clock = clock
        self.not_before = 0.0  # monotonic; no request starts before it

    def defer(self, seconds: float) -> float:
        """Close the gate for ``seconds`` from now (never shortens it); return the wait left."""
        now = self._clock()
        until = now + max(0.0, seconds)
        if until > self.not_before:
            self.not_before = until
        return self.not_before - now

    def closed_for(self) -> float:
        """Seconds until the Retry-After gate opens (0 when open)."""
        return max(0.0, self.not_before - self._clock())

    async def wait_turn(self) -> None:
        """Return when a request to this provider may start now."""
        while True:
            now = self._clock()
            if now < self.not_before:
                await asyncio.sleep(self.not_before - now)
                continue
            if not self._interval:
                return
            tat = max(self._tat, now)
            allowed_at = tat - self._tolerance
            self._tat = tat + self._interval
            if allowed_at <= now:
                return
            await asyncio.sleep(allowed_at - now)
            if self._clock() >= self.not_before:
                return


class GateOptions(TypedDict, total=False):
    """``ProviderGate`` keyword arguments shared by all the gates of a ``ProviderGates``."""

    burst: int
    clock: Callable[[], float]


class ProviderGates:
    """One gate per provider name, created on first use from the configured rates."""

    def __init__(
        self, rates: Mapping[str, float] | None = None, **gate_kwargs: Unpack[GateOptions]
    ) -> None:
        self._rates = dict(rates or {})
        self._gate_kwargs = gate_kwargs
        self._gates: dict[str, ProviderGate] = {}

    def __getitem__(self, provider: str) -> ProviderGate:
        gate = self._gates.get(provider)
        if gate is None:
            gate = ProviderGate(provider, rps=self._rates.get(provider, 0.0), **self._gate_kwargs)
            self._gates[provider] = gate
        return gate
