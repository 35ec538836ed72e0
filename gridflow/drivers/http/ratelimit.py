"""Failed authentications, rate-limited per client address (driver ring).

A token bucket per address: ``burst`` failures at once, refilled at ``per_minute``. While an
address's bucket is empty, *every* authentication attempt from it is answered 429 with a
``Retry-After`` — also one that would have succeeded, else a guesser would still learn which
guess was right. Requests without credentials cost nothing (they are 401 at once).

The buckets live in this process: several servers behind a balancer each keep their own, so
the effective limit is the sum over servers (stated in the README). Idle buckets are
forgotten; at most ``max_addresses`` are kept (the oldest are dropped first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from gridflow.errors import RateLimited


class FailureLimiter:
    def __init__(
        self,
        burst: int = 10,
        per_minute: float = 10.0,
        *,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.burst, self.rate = float(max(1, burst)), max(per_minute, 0.001) / 60.0
        self.max_addresses, self.clock = max_addresses, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def _level(self, address: str, now: float) -> float:
        tokens, at = self._buckets.get(address, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def check(self, address: str) -> None:
        """``RateLimited`` while ``address`` has no failures left."""
        with self._lock:
            now = self.clock()
            level = self._level(address, now)
        if level < 1.0:
            raise RateLimited(address, (1.0 - level) / self.rate)

    def failed(self, address: str) -> None:
        """One failed authentication from ``address``."""
        with self._lock:
            now = self.clock()
            level = self._level(address, now) - 1.0
            self._buckets[address] = (level, now)
            self._buckets.move_to_end(address)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
