"""Which failures may be retried, and how long to wait before trying again.

The rule for paid requests (see the API contract): a create may be sent again
only when the server cannot have bought it: the connection was never made,
or the server answered 429 or 503. Anything else that leaves the outcome
unknown is reported, never retried. GETs are free and retried on any
transient failure.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from enum import Enum

import httpx

RETRY_AFTER_CAP = 60.0


class Outcome(Enum):
    RETRY = "retry"  # transient and safe to send again
    UNCERTAIN = "uncertain"  # a create may have been bought: stop, tell the user
    FAIL = "fail"  # a final answer: hand it to the caller


class AnswerTooLarge(Exception):
    """The answer's body passed the size cap: it is not an API answer."""


# Raised before a single byte of the request left this machine.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
RETRYABLE_GET_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRYABLE_CREATE_STATUSES = frozenset({429, 503})
UNCERTAIN_CREATE_STATUSES = frozenset({408, 500, 502, 504})


def classify_exception(exc: Exception, *, paid: bool) -> Outcome:
    if isinstance(exc, NOT_SENT_ERRORS):
        return Outcome.RETRY
    if isinstance(exc, httpx.HTTPError):
        # Sent, or maybe sent, and no usable answer: free to repeat only for a GET.
        return Outcome.UNCERTAIN if paid else Outcome.RETRY
    if isinstance(exc, AnswerTooLarge):
        # A create was answered, but not readably; a GET that floods will flood again.
        return Outcome.UNCERTAIN if paid else Outcome.FAIL
    return Outcome.FAIL


def classify_status(status_code: int, *, paid: bool) -> Outcome:
    if paid:
        if status_code in RETRYABLE_CREATE_STATUSES:
            return Outcome.RETRY
        if status_code in UNCERTAIN_CREATE_STATUSES or status_code >= 500:
            return Outcome.UNCERTAIN
        return Outcome.FAIL
    return Outcome.RETRY if status_code in RETRYABLE_GET_STATUSES else Outcome.FAIL


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


@dataclass
class Backoff:
    """Exponential backoff with full jitter; ``Retry-After`` wins when the server gives one."""

    base: float = 0.5
    cap: float = 8.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return float(retry_after)
        ceiling = min(self.cap, self.base * (2**attempt))
        # Never less than a fraction of the ceiling: an instant retry helps nobody.
        return float(ceiling * (0.5 + 0.5 * self.rng.random()))
