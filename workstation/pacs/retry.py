"""Trying again after transient failures, with exponential backoff, reported and cancellable."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from workstation.pacs.errors import PacsError
from workstation.pacs.source import Cancel

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Called before each new attempt: ``(attempt about to start, delay in s, the last error)``.
OnRetry = Callable[[int, float, PacsError], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    ``attempts`` counts the first try: 3 means at most two retries, after ``initial_delay``
    then ``initial_delay × factor`` seconds (never more than ``max_delay``).
    """

    attempts: int = 3
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial_delay < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError("delays must be non-negative and the factor at least 1")

    def delay(self, attempt: int) -> float:
        """The pause before ``attempt`` (2 for the first retry)."""
        return min(self.max_delay, self.initial_delay * self.factor ** max(0, attempt - 2))


NO_RETRY = RetryPolicy(attempts=1)


def sleep_unless_cancelled(seconds: float, cancel: Cancel | None) -> bool:
    """Sleep, polling ``cancel``; False when cancelled before the time was up."""
    deadline = time.monotonic() + seconds
    event = threading.Event()
    while True:
        if cancel is not None and cancel():
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        event.wait(min(left, 0.05))


def with_retries(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    cancel: Cancel | None = None,
) -> T:
    """``operation()``, tried again on transient :class:`PacsError` as ``policy`` allows.

    The error finally raised carries the number of attempts made.
    """
    attempt = 1
    while True:
        try:
            return operation()
        except PacsError as error:
            if not error.transient or attempt >= policy.attempts:
                error.attempts = attempt
                raise
            attempt += 1
            delay = policy.delay(attempt)
            log.info("retrying in %.1f s (attempt %d) after: %s", delay, attempt, error)
            if on_retry is not None:
                on_retry(attempt, delay, error)
            if not sleep_unless_cancelled(delay, cancel):
                error.attempts = attempt - 1
                raise
