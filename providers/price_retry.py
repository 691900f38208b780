"""Bounded exponential backoff for pricing API calls that are throttled or briefly unavailable.

The sleep is injectable so tests exercise the retries without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

Result = TypeVar("Result")
Sleep = Callable[[float], None]


class RetryableError(Exception):
    """Raised by a call that may succeed if tried again later.

    `wait_s` is the server's own hint (HTTP Retry-After) when it gave one.
    """

    def __init__(self, message: str, wait_s: float | None = None) -> None:
        super().__init__(message)
        self.wait_s = wait_s


@dataclass(frozen=True)
class Backoff:
    attempts: int = 5
    first_wait_s: float = 1.0
    longest_wait_s: float = 30.0
    sleep: Sleep = time.sleep

    def wait_before(self, retry: int, hint_s: float | None) -> float:
        """Seconds to wait before retry number `retry` (1-based): the server's hint if it gave
        one (capped), else doubling from `first_wait_s`."""
        if hint_s is not None and hint_s >= 0:
            return min(hint_s, self.longest_wait_s)
        return min(self.first_wait_s * 2 ** (retry - 1), self.longest_wait_s)

    def run(self, call: Callable[[], Result]) -> Result:
        """Call until it returns, or re-raise its last `RetryableError` after `attempts` tries."""
        attempt = 1
        while True:
            try:
                return call()
            except RetryableError as error:
                if attempt >= self.attempts:
                    raise
                self.sleep(self.wait_before(attempt, error.wait_s))
                attempt += 1
