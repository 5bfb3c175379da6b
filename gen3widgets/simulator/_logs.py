"""``GET /v2/logs``: one row per create request, as the API's analytics pipeline reports them.

A row is written for every create that reached a model (bought or refused;
not one refused for its key or for naming no model) and shows only
``logs_lag`` seconds of simulator clock after the request. Its status and
cost are read from the generation at query time:

* bought: ``succeeded``, with the price as cost once the generation completed
  (charges land after ``completed``) and zero before; ``failed`` with zero cost
  once the generation ended in error;
* refused (400, 403, 404 deprecated model, 429, ...): ``failed``, zero cost, and
  an inference id of its own.

Rows are per key, like the API's (a key sees the requests made with it).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._jobs import SimulatedJob
from ._models import find_model
from ._pricing import credits
from ._responses import iso_millis

MAX_WINDOW = timedelta(days=92)
MAX_MODELS = 50
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
STATUSES = ("succeeded", "failed")
_PERIOD = re.compile(r"([1-9][0-9]*)([hd])")
_DIGITS = re.compile(r"[0-9]+")
_TOO_LONG = "The window must not exceed 92 days; ask for several windows"


class LogQueryError(ValueError):
    """The query broke the endpoint's rules (answer 400 with this message)."""


@dataclass(frozen=True)
class LogEntry:
    """One create request as the usage log keeps it."""

    at: float  # simulator clock time of the request
    created: datetime  # the same moment in UTC
    key: str  # the API key the request was made with
    model: str  # the model's id (or the name sent, for a model the simulator lacks)
    request_id: str
    inference_id: str
    client_request_id: str | None
    job: SimulatedJob | None  # None: refused, nothing bought


def _names(model: str) -> frozenset[str]:
    """What a ``model`` filter may say to match rows of ``model``: its id, an alias,
    or the bare name after the last ``/`` of either."""
    known = find_model(model)
    names = known.names if known is not None else (model,)
    return frozenset([*names, *(name.rsplit("/", 1)[-1] for name in names)])


def _parse_time(name: str, text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise LogQueryError(
            f"{name} must be an ISO-8601 date-time such as 2026-07-01T00:00:00Z, got {text!r}"
        ) from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def _parse_count(name: str, values: Sequence[str], default: int, low: int, high: int | None) -> int:
    if not values:
        return default
    text = values[-1]
    if not _DIGITS.fullmatch(text) or int(text) < low or (high is not None and int(text) > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise LogQueryError(f"{name} must be a whole number {bound}, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class LogQuery:
    """A checked ``GET /v2/logs`` query."""

    start: datetime
    end: datetime
    models: tuple[str, ...]
    statuses: tuple[str, ...]
    limit: int
    offset: int

    @classmethod
    def parse(cls, getlist: Callable[[str], Sequence[str]], now: datetime) -> LogQuery:
        """From a multi-valued query (``getlist(name) -> list[str]``) at wall time ``now``."""
        period, start, end = getlist("period"), getlist("start"), getlist("end")
        if period and (start or end):
            raise LogQueryError("Send either period or both start and end, not both")
        if period:
            match = _PERIOD.fullmatch(period[-1])
            if match is None:
                raise LogQueryError(
                    f"period must be a positive whole number followed by h or d "
                    f"(24h, 7d), got {period[-1]!r}"
                )
            hours = int(match[1]) * (24 if match[2] == "d" else 1)
            if hours > MAX_WINDOW / timedelta(hours=1):  # (before a timedelta could overflow)
                raise LogQueryError(_TOO_LONG)
            window_start, window_end = now - timedelta(hours=hours), now
        elif start and end:
            window_start, window_end = _parse_time("start", start[-1]), _parse_time("end", end[-1])
            if window_end < window_start:
                raise LogQueryError("end must not be earlier than start")
        else:
            raise LogQueryError("Send a window: period (e.g. 24h) or both start and end")
        if window_end - window_start > MAX_WINDOW:
            raise LogQueryError(_TOO_LONG)
        models = tuple(getlist("model"))
        if len(models) > MAX_MODELS:
            raise LogQueryError(f"Send at most {MAX_MODELS} model values, got {len(models)}")
        statuses = tuple(getlist("status"))
        for status in statuses:
            if status not in STATUSES:
                raise LogQueryError(
                    f"status must be succeeded or failed (repeat the parameter for both), "
                    f"got {status!r}"
                )
        return cls(
            start=window_start,
            end=window_end,
            models=models,
            statuses=statuses,
            limit=_parse_count("limit", getlist("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=_parse_count("offset", getlist("offset"), 0, 0, None),
        )


def row(entry: LogEntry, now: float) -> dict[str, Any]:
    """The entry as the endpoint shows it at clock time ``now``."""
    job = entry.job
    failed = job is None or job.failed_at(now)
    cost = 0.0 if job is None or not job.charged_at(now) else job.price_usd
    return {
        "created": iso_millis(entry.created),
        "status": "failed" if failed else "succeeded",
        "origin": "api",
        "model": entry.model,
        "cost": {"usd": cost, "credits": credits(cost)},
        "tokens": {"input": 0, "output": 0, "total": 0},
        "request_id": entry.request_id,
        "inference_id": entry.inference_id,
        "client_request_id": entry.client_request_id,
    }


class UsageLog:
    """Every create request's entry, appended as requests arrive (thread-safe)."""

    def __init__(self, lag: float) -> None:
        self._lag = lag
        self._entries: list[LogEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LogEntry]:
        """Every entry so far, visible or not, oldest first."""
        with self._lock:
            return list(self._entries)

    def page(self, query: LogQuery, key: str, now: float) -> dict[str, Any]:
        """The answer to ``query`` for ``key`` at clock time ``now``: rows newest first."""
        rows = [row(e, now) for e in reversed(self.entries()) if self._shown(e, query, key, now)]
        if query.statuses:
            rows = [r for r in rows if r["status"] in query.statuses]
        page = rows[query.offset : query.offset + query.limit]
        return {
            "data": page,
            "pagination": {
                "limit": query.limit,
                "offset": query.offset,
                "total": len(rows),
                "has_more": query.offset + len(page) < len(rows),
            },
        }

    def _shown(self, entry: LogEntry, query: LogQuery, key: str, now: float) -> bool:
        return (
            entry.key == key
            and now >= entry.at + self._lag
            and query.start <= entry.created <= query.end
            and (not query.models or not _names(entry.model).isdisjoint(query.models))
        )
