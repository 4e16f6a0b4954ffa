"""``Places``: the server backend's places for requests in flight and its failover.

A request takes a free place at a server and gives it back when answered, so no server
holds more than ``per_server`` requests. A server that cannot be reached rests for a
cool-down (doubling while it stays down) while the others take its work; it rejoins when
it answers again. Thread-safe: the backend's request threads share one."""

from __future__ import annotations

import queue
import threading
import time
from typing import Sequence

COOL_DOWN = 1.0  # seconds an unreachable server first rests
MAX_COOL_DOWN = 30.0


class NoPlace(Exception):
    """No server had a free place within the timeout."""


class Places:
    def __init__(self, urls: Sequence[str], per_server: int):
        self.urls = list(urls)
        self._free: queue.Queue[str] = queue.Queue()
        for _ in range(per_server):
            for u in self.urls:
                self._free.put(u)
        self._down: dict[str, tuple[float, float]] = {}  # unreachable url -> (cool-down, when it may be tried again)
        self.sent_to: dict[str, int] = {u: 0 for u in self.urls}  # answered requests per server
        self._lock = threading.Lock()

    def take(self, timeout: float) -> str:
        """A free place at a server, skipping servers that rest while another is up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                base = self._free.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise NoPlace from None
            with self._lock:
                now = time.monotonic()
                usable = self._up(base, now) or not self._others_up(base, now)
            if usable:
                return base
            self._free.put(base)
            time.sleep(0.01)

    def give_back(self, base: str) -> None:
        self._free.put(base)

    def answered(self, base: str) -> None:
        """The server answered: counted, and no longer resting."""
        with self._lock:
            self.sent_to[base] += 1
            self._down.pop(base, None)

    def rest(self, base: str) -> None:
        """An unreachable server rests for a cool-down that doubles while it stays down."""
        with self._lock:
            wait = min(2 * self._down.get(base, (COOL_DOWN / 2, 0.0))[0], MAX_COOL_DOWN)
            self._down[base] = (wait, time.monotonic() + wait)

    def others_up(self, base: str) -> bool:
        """Whether another server than ``base`` may take a request now (failover)."""
        with self._lock:
            return self._others_up(base, time.monotonic())

    def _others_up(self, base: str, now: float) -> bool:
        return any(self._up(u, now) for u in self.urls if u != base)

    def _up(self, base: str, now: float) -> bool:
        """Not resting (under ``_lock``): never failed, answered since, or its cool-down is over."""
        return base not in self._down or now >= self._down[base][1]
