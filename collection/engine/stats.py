"""The engine's counters, as data (Scrapy's stats collector, namespaced keys).

Keys::

    requests                      requests started (every attempt)
    requests/ok                   answered and parsed
    requests/failed/<error_type>  failed attempts, by type (timeout, http_5xx, …)
    retries, retries/<error_type> retries scheduled, by the type that caused them
    rate_limited                  429s received
    tasks/done, tasks/failed, tasks/failed/<error_type>, tasks/skipped
    workers/<id>/requests, workers/<id>/failed, workers/<id>/tasks

Counters only ever grow, so several processes working one run add their deltas to the
run (``results_store(counters=…)``); ``take_delta`` hands out what was counted since the
last call. Elapsed time is measured with ``time.monotonic()``.
"""

from __future__ import annotations

import time
from collections import Counter, deque


class EngineStats:
    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()
        self._delta: Counter[str] = Counter()
        self.started = time.monotonic()
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=64)

    def inc(self, key: str, n: int = 1) -> None:
        self.totals[key] += n
        self._delta[key] += n

    def request(self, worker: int) -> None:
        self.inc("requests")
        self.inc(f"workers/{worker}/requests")

    def request_ok(self) -> None:
        self.inc("requests/ok")

    def request_failed(self, worker: int, error_type: str) -> None:
        self.inc(f"requests/failed/{error_type}")
        self.inc(f"workers/{worker}/failed")

    def retry(self, error_type: str) -> None:
        self.inc("retries")
        self.inc(f"retries/{error_type}")

    def task_finished(self, worker: int, status: str, error_type: str = "") -> None:
        self.inc(f"tasks/{status}")
        if error_type:
            self.inc(f"tasks/{status}/{error_type}")
        self.inc(f"workers/{worker}/tasks")

    def has_delta(self) -> bool:
        return bool(self._delta)

    def take_delta(self) -> dict[str, int]:
        delta, self._delta = dict(self._delta), Counter()
        return delta

    def give_back(self, delta: dict[str, int]) -> None:
        """Re-queue a delta that could not be stored (it goes with the next batch)."""
        self._delta.update(delta)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def requests_per_second(self) -> float:
        """Request rate over the last few seconds (call about once a second or more)."""
        now = time.monotonic()
        self._rate_window.append((now, self.totals["requests"]))
        while len(self._rate_window) > 2 and now - self._rate_window[0][0] > 5.0:
            self._rate_window.popleft()
        (t0, n0), (t1, n1) = self._rate_window[0], self._rate_window[-1]
        if t1 - t0 < 0.2:
            return 0.0 if t1 - self.started < 0.2 else n1 / (t1 - self.started)
        return (n1 - n0) / (t1 - t0)

    def as_dict(self) -> dict[str, float]:
        data: dict[str, float] = dict(sorted(self.totals.items()))
        data["duration_s"] = round(self.elapsed, 3)
        return data
