"""The rule for paid requests and the backoff, as pure functions."""

from __future__ import annotations

import random

import httpx
import pytest

from gen3widgets._retry import (
    RETRY_AFTER_CAP,
    AnswerTooLarge,
    Backoff,
    Outcome,
    classify_exception,
    classify_status,
    parse_retry_after,
)

REQUEST = httpx.Request("POST", "https://api.test/v2/video/generations")


@pytest.mark.parametrize(
    ("exc", "paid", "outcome"),
    [
        (httpx.ConnectError("no", request=REQUEST), True, Outcome.RETRY),
        (httpx.ConnectTimeout("no", request=REQUEST), True, Outcome.RETRY),
        (httpx.ReadTimeout("no", request=REQUEST), True, Outcome.UNCERTAIN),
        (httpx.RemoteProtocolError("no", request=REQUEST), True, Outcome.UNCERTAIN),
        (httpx.WriteError("no", request=REQUEST), True, Outcome.UNCERTAIN),
        (AnswerTooLarge("big"), True, Outcome.UNCERTAIN),
        (httpx.ReadTimeout("no", request=REQUEST), False, Outcome.RETRY),
        (AnswerTooLarge("big"), False, Outcome.FAIL),
        (ValueError("a bug"), False, Outcome.FAIL),
    ],
)
def test_exceptions_are_classified_by_whether_a_purchase_may_have_happened(
    exc: Exception, paid: bool, outcome: Outcome
) -> None:
    assert classify_exception(exc, paid=paid) is outcome


@pytest.mark.parametrize(
    ("code", "paid", "outcome"),
    [
        (429, True, Outcome.RETRY),
        (503, True, Outcome.RETRY),
        (500, True, Outcome.UNCERTAIN),
        (502, True, Outcome.UNCERTAIN),
        (504, True, Outcome.UNCERTAIN),
        (408, True, Outcome.UNCERTAIN),
        (599, True, Outcome.UNCERTAIN),
        (400, True, Outcome.FAIL),
        (404, True, Outcome.FAIL),
        (200, True, Outcome.FAIL),  # final: the caller reads it
        (500, False, Outcome.RETRY),
        (429, False, Outcome.RETRY),
        (404, False, Outcome.FAIL),
    ],
)
def test_statuses_follow_the_rule_for_paid_requests(
    code: int, paid: bool, outcome: Outcome
) -> None:
    assert classify_status(code, paid=paid) is outcome


def test_backoff_grows_and_respects_retry_after() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    assert backoff.delay(3, retry_after=12.0) == 12.0
    delays = [backoff.delay(n) for n in range(1, 8)]
    assert all(0 < d <= 8.0 for d in delays)
    assert delays[-1] >= 4.0
    assert all(backoff.delay(n) >= 0.5 * min(8.0, 0.5 * 2**n) for n in range(1, 8))


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("100000") == RETRY_AFTER_CAP
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 99999 07:28:30 GMT") is None  # not a date
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
