"""The cyclic garbage collector's pace while an execution runs (``gc_paced``).

Decoding a Browse page makes ~12 containers an item (dicts and lists: up to 2,400 for a
page of 200), and judging and storing it make more. At CPython's default gen-0 threshold
(2,000 net allocations) every page triggers collections while its objects are still
alive: they are traversed, promoted, and make the older generations' scans frequent. In
a 50-worker run of 2,553 requests (``bench/engine.py``, ``gc.callbacks`` timing) that was
590 gen-0, 53 gen-1 and 4 gen-2 collections, 1.7 CPU-s of ~25; at a gen-0 threshold of
50,000 the same run collected 13 times, in 0.6 s, and its pages' objects are mostly freed
by reference counting before a collection sees them. The run's memory is not held longer
than one page's worth of objects: only cycles wait for a collection, and there are few.

The thresholds are process-wide: they are raised when the first execution of the process
starts and restored when the last one ends (executions may overlap in one process).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

RUN_GEN0_THRESHOLD = 50_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def gc_paced(threshold0: int = RUN_GEN0_THRESHOLD) -> Iterator[None]:
    """Raise the gen-0 threshold to ``threshold0`` for the duration (never lower it;
    a disabled collector, threshold 0, stays disabled)."""
    global _active, _saved
    with _lock:
        if _active == 0:
            current = gc.get_threshold()
            _saved = (current[0], current[1], current[2])
            if 0 < current[0] < threshold0:
                gc.set_threshold(threshold0, current[1], current[2])
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
