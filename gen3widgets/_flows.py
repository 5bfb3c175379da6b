"""The request flows: each operation written once, as a generator of actions.

A flow never does I/O itself. It yields an *action* and the driver (the
blocking one in ``Client``, the awaiting one in ``AsyncClient``) performs it
and sends back the result, like ``httpx.Auth.auth_flow``. So the rule for
paid requests, the path fallback, polling and reconciliation exist exactly
once and the two clients cannot drift apart. Each action, and what the
driver sends back for it:

* ``Send(request, timeout)`` → a ``Reply`` (status, headers, body read up to
  ``MAX_ANSWER_BYTES``), or the ``Exception`` that stopped it (an
  ``httpx.HTTPError``, or ``AnswerTooLarge``). ``timeout`` bounds the request.
* ``Sleep(seconds)`` → ``None`` after that long on the client's clock.
* ``Notify(callback, generation)`` → ``None`` once the callback ran (awaited
  on ``AsyncClient`` when it returns an awaitable).
* ``Blocking(work)`` → what ``work()`` returned (or raises what it raised):
  local work such as ledger writes, run in a worker thread by ``AsyncClient``
  so sqlite never blocks the event loop.
* ``Fetch(url, target, strict)`` → a ``Fetched``: the video streamed into a
  partial file, verified and renamed to ``target`` (see ``_download``).

The typed helpers ``send``, ``sleep``, ``notify``, ``blocking`` and ``fetch``
yield one action each and check what came back, so nothing untyped leaves a
``yield``. A flow's handler for ``BaseException`` (Ctrl-C, task
cancellation) must not yield: drivers throw those into the flow once, so it
can leave the ledger right, and then let them propagate.

Create → wire, in order: ``submit`` (budget, write-ahead, reconcile) →
``_buy`` (path choice and fallback) → ``_send_retrying`` (the rule for paid
requests) → ``Send``.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

import httpx

from ._budget import Spending
from ._clock import SYSTEM_CLOCK, Clock
from ._config import resolve_endpoint
from ._download import check_link, clean_stale_parts, mp4_problem
from ._errors import (
    DownloadError,
    Gen3Error,
    GenerationFailed,
    GenerationTimeout,
    NotFoundError,
    NotReadyError,
    RateLimitError,
    ServerError,
    SubmissionUncertain,
    TransportError,
    describe_exception,
)
from ._models import (
    Generation,
    GenerationRequest,
    PriceQuery,
    Status,
    Submission,
    SubmissionState,
    find_model,
)
from ._polling import DurationStats, PollTimeline
from ._protocol import (
    BILLING_PATH,
    CLIENT_REQUEST_ID,
    LOGS_PATH,
    MODELS_PATH,
    CatalogueEntry,
    Endpoint,
    LogRow,
    api_error,
    catalogue_entry,
    check_generation_id,
    cost_headers,
    create_body,
    decode_json,
    model_unavailable,
    new_submission_id,
    parse_balance,
    parse_catalogue,
    parse_generation,
    parse_logs,
    quote,
    route_missing,
)
from ._retry import Backoff, Outcome, classify_exception, classify_status, parse_retry_after
from ._secrets import Secret

log = logging.getLogger("gen3widgets")

T = TypeVar("T")
OnUpdate = Callable[[Generation], Awaitable[None] | None]

CATALOGUE_FRESH = 600.0  # seconds a price is trusted before it is revalidated (ETag)
RECONCILE_FIRST_LOOK = 3.0  # the logs lag the request: the first look waits this long
RECONCILE_MAX_GAP = 15.0  # the longest pause between two looks (the logs allow 200 a minute)
MAX_LOG_PAGES = 20  # 2000 rows: far more than one client's lost answers
# A submission with no row in the usage logs this long after it was sent never reached
# the server (the logs list every request, failed ones too).
NO_TRACE_SECONDS = 24 * 3600.0
_QUEUED = frozenset({Status.QUEUED, Status.WAITING})


# -- actions and what comes back ------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """An answer, read whole (up to the size cap)."""

    status_code: int
    reason_phrase: str
    headers: httpx.Headers
    content: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    timeout: float


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Notify:
    callback: OnUpdate
    generation: Generation


@dataclass(frozen=True)
class Blocking(Generic[T]):
    work: Callable[[], T]


@dataclass(frozen=True)
class Fetch:
    url: str
    target: Path
    strict: bool  # refuse hosts that resolve to internal addresses


Action = Send | Sleep | Notify | Blocking[Any] | Fetch
Flow = Generator[Action, object, T]


def send(request: httpx.Request, timeout: float) -> Flow[Reply | Exception]:
    result = yield Send(request, timeout)
    if not isinstance(result, (Reply, Exception)):
        raise TypeError(f"a driver answered Send with {type(result).__name__}")
    return result


def sleep(seconds: float) -> Flow[None]:
    if seconds > 0:
        yield Sleep(seconds)


def notify(callback: OnUpdate | None, generation: Generation) -> Flow[None]:
    if callback is not None:
        yield Notify(callback, generation)


def blocking(work: Callable[[], T]) -> Flow[T]:
    result = yield Blocking(work)
    return cast(T, result)  # the driver hands back exactly what ``work()`` returned


def fetch(url: str, target: Path, *, strict: bool) -> Flow[Fetched]:
    from ._download import Fetched

    result = yield Fetch(url, target, strict)
    if not isinstance(result, Fetched):
        raise TypeError(f"a driver answered Fetch with {type(result).__name__}")
    return result


if False:  # pragma: no cover - for the annotation above only
    from ._download import Fetched


# -- what the flows record into ----------------------------------------------------------------


class Ledger(Protocol):
    """Where purchases are written; the history store is the one writer (``_store``).

    Every method may raise ``StorageError`` when the disk refuses.
    """

    @property
    def videos_dir(self) -> Path: ...

    def begin(self, submission: Submission) -> None: ...

    def bought(
        self, submission_id: str, generation: Generation, *, found_in_logs: bool = False
    ) -> None: ...

    def refused(self, submission_id: str, cause: str) -> None: ...

    def uncertain(self, submission_id: str, cause: str) -> None: ...

    def not_bought(self, submission_id: str, cause: str) -> None: ...

    def update(self, generation: Generation) -> None: ...

    def unresolved(self, server: str) -> list[Submission]: ...

    def job_durations(self, server: str) -> list[tuple[str, int, float]]: ...


class MemoryLedger:
    """The ledger of a client made with ``history=False``: this process only."""

    def __init__(self, videos_dir: Path) -> None:
        self._videos_dir = videos_dir
        self._lock = threading.Lock()
        self.submissions: dict[str, Submission] = {}

    @property
    def videos_dir(self) -> Path:
        return self._videos_dir

    def begin(self, submission: Submission) -> None:
        with self._lock:
            self.submissions[submission.id] = submission

    def _set(self, submission_id: str, state: SubmissionState, cause: str | None = None) -> None:
        with self._lock:
            found = self.submissions.get(submission_id)
            if found is not None:
                found.state = state
                found.cause = cause or found.cause

    def bought(
        self, submission_id: str, generation: Generation, *, found_in_logs: bool = False
    ) -> None:
        self._set(submission_id, SubmissionState.BOUGHT)
        with self._lock:
            if submission_id in self.submissions:
                self.submissions[submission_id].generation_id = generation.id

    def refused(self, submission_id: str, cause: str) -> None:
        self._set(submission_id, SubmissionState.REFUSED, cause)

    def uncertain(self, submission_id: str, cause: str) -> None:
        self._set(submission_id, SubmissionState.UNCERTAIN, cause)

    def not_bought(self, submission_id: str, cause: str) -> None:
        self._set(submission_id, SubmissionState.NOT_BOUGHT, cause)

    def update(self, generation: Generation) -> None:
        return None

    def unresolved(self, server: str) -> list[Submission]:
        with self._lock:
            return [
                s
                for s in self.submissions.values()
                if s.server == server and s.state is SubmissionState.UNCERTAIN
            ]

    def job_durations(self, server: str) -> list[tuple[str, int, float]]:
        return []


@dataclass(frozen=True)
class _Looked:
    """What the catalogue said of one model, and when (or why it could not be read)."""

    etag: str | None
    entry: CatalogueEntry | None
    checked_at: float
    error: Gen3Error | None = None


class LostAnswer(Exception):
    """A paid request was (maybe) received but its answer is unknown; ``cause`` says why."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


# Which path works, per base URL, for every client in the process.
_known_endpoints: dict[str, Endpoint] = {}
_endpoints_lock = threading.Lock()


# -- the flows ---------------------------------------------------------------------------


class RequestFlows:
    """The settings of one client and every flow it can run.

    ``clock``, ``backoff``, ``durations`` and ``wall`` are plain attributes so
    that tests can put in a fake clock or a seeded backoff.
    """

    def __init__(
        self,
        *,
        key: Secret,
        base_url: str,
        timeout: float,
        max_retries: int,
        endpoint: str | None,
        ledger: Ledger,
        budget_usd: float | None,
        reconcile_timeout: float,
        simulated: bool,
    ) -> None:
        self.key = key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.endpoint_setting = resolve_endpoint(endpoint)
        self.ledger = ledger
        self.spending = Spending(budget_usd)
        self.reconcile_timeout = reconcile_timeout
        self.simulated = simulated
        self.clock: Clock = SYSTEM_CLOCK
        self.wall: Callable[[], float] = time.time
        self.backoff = Backoff()
        self.durations = DurationStats()
        # Link checks are strict when the API is a real one (https), not the local simulator.
        self.strict_links = base_url.startswith("https://")
        self._submitted: OrderedDict[str, float] = OrderedDict()  # id -> clock time bought
        self._catalogue: dict[str, _Looked] = {}
        self._seeded = False  # job times learned from the history
        self._looked_for_leftovers = False  # earlier sessions' uncertain submissions

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> httpx.Request:
        all_headers = {"Accept": "application/json", "User-Agent": "gen3widgets"}
        if auth:
            all_headers["Authorization"] = f"Bearer {self.key.reveal()}"
        all_headers.update(headers or {})
        return httpx.Request(
            method, self.base_url + path, params=params, json=json, headers=all_headers
        )

    def _timeout_until(self, deadline: float | None) -> float:
        if deadline is None:
            return self.timeout
        return max(min(self.timeout, deadline - self.clock.now()), 0.001)

    def _send_retrying(
        self,
        make: Callable[[], httpx.Request],
        *,
        paid: bool,
        what: str,
        deadline: float | None = None,
    ) -> Flow[Reply]:
        """Send until there is a final answer, following the rule for paid requests.

        Returns the final ``Reply`` (a success or an error for the caller to
        read). Retries what may be retried (for a create: only what the server
        cannot have bought) with backoff and ``Retry-After``, never past
        ``deadline``; raises ``LostAnswer`` when a create's outcome is unknown,
        and the last failure when retries run out.
        """
        attempt = 0
        while True:
            result = yield from send(make(), self._timeout_until(deadline))
            retry_after: float | None = None
            if isinstance(result, Exception):
                outcome = classify_exception(result, paid=paid)
                reason = describe_exception(result)
                if outcome is Outcome.UNCERTAIN:
                    raise LostAnswer(reason)
                nothing = " Nothing was sent or bought." if paid else ""
                failure: Gen3Error = TransportError(
                    f"Could not get an answer to the {what} from {self.base_url} ({reason})."
                    f"{nothing} Check your network and AIMLAPI_BASE_URL."
                )
                if outcome is Outcome.FAIL:
                    raise failure
            else:
                outcome = classify_status(result.status_code, paid=paid)
                if outcome is Outcome.UNCERTAIN:
                    raise LostAnswer(
                        f"the server answered {result.status_code} {result.reason_phrase}".strip()
                    )
                if outcome is Outcome.FAIL:
                    return result
                retry_after = parse_retry_after(result.headers.get("Retry-After"))
                failure = api_error(
                    result.status_code, result.text(), retry_after=retry_after, what=what
                )
            if attempt >= self.max_retries:
                raise failure
            attempt += 1
            delay = self.backoff.delay(attempt, retry_after)
            if deadline is not None and self.clock.now() + delay >= deadline:
                raise failure  # a true deadline: no retry may carry the caller past it
            log.info("The %s was not answered (%s); retrying in %.1f s.", what, failure, delay)
            yield from sleep(delay)

    # -- paths ---------------------------------------------------------------------------------

    def _endpoint(self) -> Endpoint:
        if self.endpoint_setting != "auto":
            return Endpoint(self.endpoint_setting)
        with _endpoints_lock:
            return _known_endpoints.get(self.base_url, Endpoint.UNIVERSAL)

    def _remember(self, endpoint: Endpoint) -> None:
        if self.endpoint_setting == "auto":
            with _endpoints_lock:
                _known_endpoints[self.base_url] = endpoint

    # -- first use -------------------------------------------------------------------------------

    def _first_use(self, *, resolve_leftovers: bool) -> Flow[None]:
        """Learn job times from the history; then find lost answers of earlier sessions."""
        if not self._seeded:
            self._seeded = True
            try:
                samples = yield from blocking(
                    functools.partial(self.ledger.job_durations, self.base_url)
                )
                self.durations.observe_many(self.base_url, samples)
            except Gen3Error as exc:  # a broken history must not stop new work
                log.warning("Could not read past job times from the history: %s", exc)
        if resolve_leftovers and not self._looked_for_leftovers:
            yield from self.resolve_leftovers()

    def resolve_leftovers(self) -> Flow[list[Generation]]:
        """Look up, once, submissions an earlier session left uncertain (never re-sent)."""
        try:
            found = yield from self.reconcile(None, timeout=0.0)
        except Gen3Error as exc:
            log.warning("Could not look up earlier uncertain submissions: %s", exc)
            return []
        for generation in found:
            log.warning(
                "Found generation %s in the usage logs: submission %s, whose answer was lost "
                "earlier, was bought. It is in the history.",
                generation.id,
                generation.submission_id,
            )
        return found

    # -- buying ------------------------------------------------------------------------------

    def submit(
        self,
        request: GenerationRequest,
        *,
        reconcile_timeout: float | None = None,
        tags: dict[str, str] | None = None,
    ) -> Flow[Generation]:
        """Buy one generation: priced, checked against the budget, on disk before it is sent.

        Whatever interrupts it between sending and recording leaves the
        submission ``uncertain`` in the ledger; an uncertain create is looked up
        in the usage logs for ``reconcile_timeout`` seconds before
        ``SubmissionUncertain`` is raised. It is never sent twice.
        """
        yield from self._first_use(resolve_leftovers=True)
        estimate = None
        try:
            estimate = yield from self.estimate(request.price_query)
        except Gen3Error as exc:
            log.info("No price for %s (%s).", request.model, exc)
        submission = Submission(
            id=new_submission_id(),
            request=request,
            server=self.base_url,
            estimate_usd=estimate,
            tags=dict(tags or {}),
            created_at=self.wall(),
        )
        what = f"a {request.duration} s {request.model} video"
        self.spending.reserve(submission.id, estimate, what)  # BudgetExceededError: nothing sent
        try:
            yield from blocking(functools.partial(self.ledger.begin, submission))
        except BaseException:
            self.spending.release(submission.id)  # nothing was sent
            raise
        try:
            generation = yield from self._buy(submission)
        except SubmissionUncertain as exc:
            yield from self._note(
                functools.partial(self.ledger.uncertain, submission.id, exc.cause)
            )
            return (yield from self._after_lost_answer(submission, exc, reconcile_timeout))
        except Gen3Error as exc:  # refused: nothing was bought
            self.spending.release(submission.id)
            yield from self._note(
                functools.partial(self.ledger.refused, submission.id, exc.message)
            )
            raise
        except BaseException as exc:  # Ctrl-C, cancellation, a bug: it may be in flight
            self._mark_uncertain_now(submission, describe_exception(exc) or "interrupted")
            raise
        generation.submission_id = submission.id
        generation.submitted_at = submission.created_at
        generation.tags = dict(submission.tags)
        self._remember_submitted(generation)
        yield from self._note(functools.partial(self.ledger.bought, submission.id, generation))
        log.info(
            "Bought generation %s (%s, seed %s, submission %s).",
            generation.id,
            generation.model,
            request.seed,
            submission.id,
        )
        return generation

    def _buy(self, submission: Submission) -> Flow[Generation]:
        """Send the create to the right path: universal, or legacy when the universal is absent."""
        request = submission.request
        endpoint = self._endpoint()
        switched = False
        while True:
            body = create_body(request, endpoint)
            path = endpoint.path

            def make(path: str = path, body: dict[str, Any] = body) -> httpx.Request:
                return self._request(
                    "POST", path, json=body, headers={CLIENT_REQUEST_ID: submission.id}
                )

            try:
                reply = yield from self._send_retrying(make, paid=True, what="create request")
            except LostAnswer as lost:
                raise SubmissionUncertain(
                    request, lost.cause, submission_id=submission.id
                ) from None
            except BaseException:
                raise
            if reply.ok:
                generation = self._read_bought(reply, submission)
                self._remember(endpoint)
                return generation
            text = reply.text()
            if route_missing(reply.status_code, text):
                if self.endpoint_setting == "auto" and not switched:
                    log.info(
                        "%s has no %s video path (404: nothing was bought); sending the "
                        "create once to the %s path.",
                        self.base_url,
                        endpoint.value,
                        endpoint.other.value,
                    )
                    endpoint, switched = endpoint.other, True
                    continue
                raise NotFoundError(
                    f"{self.base_url} has no video generation path at {path} (404). Nothing "
                    "was bought. Check AIMLAPI_BASE_URL, or choose the path with "
                    "endpoint='universal' or 'legacy'.",
                    status_code=404,
                )
            unavailable = model_unavailable(
                reply.status_code, text, model=request.model, base_url=self.base_url
            )
            if unavailable is not None:
                raise unavailable
            retry_after = parse_retry_after(reply.headers.get("Retry-After"))
            raise api_error(reply.status_code, text, retry_after=retry_after, what="create request")

    def _read_bought(self, reply: Reply, submission: Submission) -> Generation:
        """The generation a 2xx create answer describes; any reading error makes it uncertain."""
        inference_id = reply.headers.get("x-inference-id")
        try:
            return parse_generation(
                decode_json(reply.content),
                request=submission.request,
                cost=cost_headers(reply.headers),
                fallback_id=inference_id,
            )
        except Exception as exc:  # a bought video must never end in a raw exception
            try:
                gid = check_generation_id(inference_id)
            except TransportError:
                raise SubmissionUncertain(
                    submission.request,
                    f"the create answered {reply.status_code} but {describe_exception(exc)}",
                    submission_id=submission.id,
                ) from None
            log.warning(
                "The create answer could not be read (%s); its x-inference-id header names "
                "generation %s.",
                describe_exception(exc),
                gid,
            )
            return Generation(
                id=gid,
                status=Status.QUEUED,
                model=submission.model,
                request=submission.request,
                cost_usd=cost_headers(reply.headers).usd,
            )

    def _after_lost_answer(
        self, submission: Submission, lost: SubmissionUncertain, timeout: float | None
    ) -> Flow[Generation]:
        window = self.reconcile_timeout if timeout is None else timeout
        started = self.clock.now()
        if window > 0:
            log.warning(
                "The answer to create %s was lost (%s); looking it up in the usage logs "
                "for up to %.0f s. It is NOT sent again.",
                submission.id,
                lost.cause,
                window,
            )
            try:
                found = yield from self.reconcile([submission], timeout=window)
            except Gen3Error as exc:
                log.warning("Could not read the usage logs: %s", exc)
                found = []
            if found:
                return found[0]
            if submission.state is SubmissionState.NOT_BOUGHT:
                raise TransportError(
                    f"The answer to create {submission.id} was lost ({lost.cause}), and the "
                    "API's usage logs show the request failed: nothing was bought. You may "
                    "submit it again."
                )
        raise SubmissionUncertain(
            submission.request,
            lost.cause,
            submission_id=submission.id,
            looked_for=self.clock.now() - started,
        )

    def _mark_uncertain_now(self, submission: Submission, cause: str) -> None:
        # Called while an interruption propagates: no yielding, and never mask it.
        try:
            self.ledger.uncertain(submission.id, f"interrupted while sending ({cause})")
        except Exception:
            log.exception("Could not mark submission %s uncertain", submission.id)

    def _note(self, work: Callable[[], None]) -> Flow[None]:
        """A ledger write after the fact: its failure is logged, never hides the outcome."""
        try:
            yield from blocking(work)
        except Gen3Error as exc:
            log.error("Could not write to the history: %s", exc)

    def _remember_submitted(self, generation: Generation) -> None:
        if generation.id is not None:
            self._submitted[generation.id] = self.clock.now()
            while len(self._submitted) > 1000:
                self._submitted.popitem(last=False)

    # -- reconciliation --------------------------------------------------------------------------

    def reconcile(
        self, submissions: list[Submission] | None = None, *, timeout: float = 0.0
    ) -> Flow[list[Generation]]:
        """Tie uncertain submissions to generations through the usage logs; return those found.

        ``submissions`` defaults to every unresolved one of this server in the
        ledger. Looks again until each is resolved or ``timeout`` seconds pass;
        nothing is ever sent again.
        """
        if submissions is None:
            self._looked_for_leftovers = True
            pending = yield from blocking(functools.partial(self.ledger.unresolved, self.base_url))
        else:
            pending = [s for s in submissions if s.state is not SubmissionState.BOUGHT]
        deadline = self.clock.now() + max(timeout, 0.0)
        found: list[Generation] = []
        gap = RECONCILE_FIRST_LOOK
        first = timeout > 0 and submissions is not None  # a fresh loss: the logs lag it
        while pending:
            if first:
                first = False
                yield from sleep(min(gap, max(deadline - self.clock.now(), 0.0)))
            rows = yield from self._log_rows(pending)
            still = []
            for submission in pending:
                row = rows.get(submission.id)
                outcome = yield from self._settle_from_logs(submission, row)
                if isinstance(outcome, Generation):
                    found.append(outcome)
                elif outcome is None:
                    still.append(submission)
            pending = still
            left = deadline - self.clock.now()
            if not pending or left <= 0:
                break
            gap = min(gap * 1.5, RECONCILE_MAX_GAP)
            yield from sleep(min(gap, left))
        return found

    def _settle_from_logs(
        self, submission: Submission, row: LogRow | None
    ) -> Flow[Generation | bool | None]:
        """A generation when the logs show a purchase; True when settled as not bought; None."""
        if row is not None and row.succeeded and row.inference_id:
            try:
                gid = check_generation_id(row.inference_id)
            except TransportError:
                return None
            generation = Generation(
                id=gid,
                status=Status.QUEUED,
                model=submission.model,
                request=submission.request,
                submission_id=submission.id,
                tags=dict(submission.tags),
                submitted_at=submission.created_at,
            )
            submission.state, submission.generation_id = SubmissionState.BOUGHT, gid
            yield from self._note(
                functools.partial(self.ledger.bought, submission.id, generation, found_in_logs=True)
            )
            self._remember_submitted(generation)
            return generation
        if row is not None:
            cause = "the usage logs show the request failed: nothing was charged"
        elif self.wall() - submission.created_at > NO_TRACE_SECONDS:
            cause = "no trace of it in the usage logs a day later: it never reached the API"
        else:
            return None
        submission.state = SubmissionState.NOT_BOUGHT
        self.spending.release(submission.id)
        yield from self._note(functools.partial(self.ledger.not_bought, submission.id, cause))
        return True

    def _log_rows(self, pending: list[Submission]) -> Flow[dict[str, LogRow]]:
        """Rows of the usage logs carrying the pending submissions' ids, newest first, paged."""
        wanted = {s.id for s in pending}
        models: list[str] = []
        for submission in pending:
            found = find_model(submission.model)
            for name in found.names() if found else (submission.model,):
                if name not in models:
                    models.append(name)
        age = self.wall() - min(s.created_at for s in pending)
        hours = max(1, math.ceil((age + 600) / 3600))
        period = f"{hours}h" if hours <= 48 else f"{min(92, math.ceil(hours / 24))}d"
        rows: dict[str, LogRow] = {}
        offset = 0
        for _page in range(MAX_LOG_PAGES):
            params = [("period", period), *(("model", m) for m in models)]
            params += [("limit", "100"), ("offset", str(offset))]

            def make(params: list[tuple[str, str]] = params) -> httpx.Request:
                return self._request("GET", LOGS_PATH, params=params)

            reply = yield from self._send_retrying(make, paid=False, what="usage-log request")
            if not reply.ok:
                raise api_error(reply.status_code, reply.text(), what="usage-log request")
            page, more = parse_logs(decode_json(reply.content))
            for row in page:
                crid = row.client_request_id
                if crid in wanted and (crid not in rows or row.succeeded):
                    rows[crid] = row  # a purchase outweighs a failed attempt
            if not more or not page or wanted <= rows.keys():
                break
            offset += len(page)
        return rows

    # -- following ---------------------------------------------------------------------------

    def get(
        self,
        generation_id: str,
        request: GenerationRequest | None = None,
        *,
        model: str | None = None,
        deadline: float | None = None,
    ) -> Flow[Generation]:
        """The generation's current state (GETs are free: transient failures are retried)."""
        gid = check_generation_id(generation_id)
        endpoint = self._endpoint()
        switched = False
        unreadable = 0
        while True:
            path = endpoint.path

            def make(path: str = path) -> httpx.Request:
                return self._request("GET", path, params={"generation_id": gid})

            reply = yield from self._send_retrying(
                make, paid=False, what=f"status request for generation {gid}", deadline=deadline
            )
            if reply.ok:
                try:
                    return parse_generation(
                        decode_json(reply.content),
                        request=request,
                        model=model,
                        cost=cost_headers(reply.headers),
                        fallback_id=gid,
                    )
                except TransportError:
                    unreadable += 1  # a truncated answer: ask again (free)
                    if unreadable > self.max_retries:
                        raise
                    yield from sleep(
                        min(self.backoff.delay(unreadable), self._timeout_until(deadline))
                    )
                    continue
            text = reply.text()
            auto = self.endpoint_setting == "auto"
            if auto and not switched and route_missing(reply.status_code, text):
                endpoint, switched = endpoint.other, True
                self._remember(endpoint)
                continue
            failure = api_error(reply.status_code, text, what=f"status request for {gid}")
            if isinstance(failure, NotFoundError):
                raise NotFoundError(
                    f"Generation {gid} was not found on {self.base_url} (404). Check the id, "
                    "and that it was made with this API key.",
                    status_code=404,
                    server_message=failure.server_message,
                    request_id=failure.request_id,
                    body=failure.body,
                )
            raise failure

    def wait(
        self, generation: Generation, timeout: float | None, on_update: OnUpdate | None
    ) -> Flow[Generation]:
        """Poll until the generation ends; ``timeout`` (None: forever) is a true deadline."""
        if generation.id is None:
            raise NotReadyError(
                f"Submission {generation.submission_id} has no generation id yet (its create "
                "answer was lost): run reconcile() to look it up in the usage logs first."
            )
        gid = generation.id
        yield from self._first_use(resolve_leftovers=False)
        clip = generation.request.duration if generation.request else None
        now = self.clock.now()
        deadline = math.inf if timeout is None else now + timeout
        timeline = PollTimeline(
            now=now,
            deadline=deadline,
            submitted_at=self._submitted.get(gid),
            earliest=lambda: self.durations.earliest(self.base_url, generation.model, clip),
        )
        warned = False
        while not generation.done:
            yield from sleep(timeline.next_delay(now))
            fresh: Generation | None = None
            if self.clock.now() < deadline:
                try:
                    fresh = yield from self.get(
                        gid,
                        generation.request,
                        model=generation.model,
                        deadline=None if timeout is None else deadline,
                    )
                except (TransportError, ServerError, RateLimitError) as exc:
                    # The job keeps running on the server; a flaky poll must not end the wait.
                    if not warned:
                        log.warning("Polling %s failed (%s); will keep trying.", gid, exc)
                        warned = True
            now = self.clock.now()
            if fresh is not None:
                changed = generation.update_from(fresh)
                timeline.saw(now=now, queued=generation.status in _QUEUED, done=generation.done)
                if generation.ok and clip is not None:
                    generation.job_seconds = timeline.job_seconds(now)
                    self.durations.observe(
                        self.base_url, generation.model, clip, generation.job_seconds
                    )
                if changed:
                    yield from notify(on_update, generation)
            if not generation.done and now >= deadline:
                yield from self._note(functools.partial(self.ledger.update, generation))
                raise GenerationTimeout(generation, timeout or 0.0)
        self._submitted.pop(gid, None)
        if generation.submission_id is not None:
            self.spending.settle(generation.submission_id, generation.cost_usd)
        yield from self._note(functools.partial(self.ledger.update, generation))
        if generation.status.failed:
            raise GenerationFailed(generation)
        return generation

    # -- saving --------------------------------------------------------------------------------

    def download(self, generation: Generation, directory: Path | None) -> Flow[Path]:
        """Save the video into the history's videos folder (and copy it to ``directory``)."""
        if generation.id is None:
            raise NotReadyError(
                f"Submission {generation.submission_id} has no generation id yet: nothing to "
                "download until reconcile() finds it."
            )
        gid = check_generation_id(generation.id)
        target = self.ledger.videos_dir.expanduser().resolve() / f"{gid}.mp4"
        yield from blocking(functools.partial(clean_stale_parts, target))
        exists = yield from blocking(lambda: target.is_file() and mp4_problem(target) is None)
        if not exists:
            yield from self._fetch_video(generation, gid, target)
        generation.local_path = target
        yield from self._note(functools.partial(self.ledger.update, generation))
        if directory is None:
            return target
        copied = yield from blocking(functools.partial(_copy_into, target, Path(directory)))
        if copied is None:
            raise DownloadError(f"Could not copy the video of generation {gid} into {directory}.")
        return copied

    def _fetch_video(self, generation: Generation, gid: str, target: Path) -> Flow[None]:
        if not generation.video_url:
            fresh = yield from self.get(gid, generation.request, model=generation.model)
            generation.update_from(fresh)
        if not generation.ok or not generation.video_url:
            raise DownloadError(
                f"Generation {gid} has no video to download (status '{generation.status}'). "
                "Wait for it to complete first."
            )
        refreshed = False
        attempt = 0
        while True:
            url = check_link(generation.video_url, gid=gid, strict=self.strict_links)
            fetched = yield from fetch(url, target, strict=self.strict_links)
            if fetched.saved:
                log.info("Saved generation %s to %s.", gid, target)
                return
            status = fetched.status
            if status in (401, 403, 404, 410) and not refreshed:
                # The signed link expired: one fresh GET gives a new one.
                refreshed = True
                fresh = yield from self.get(gid, generation.request, model=generation.model)
                generation.update_from(fresh)
                continue
            final = status is not None and status != 200 and status < 500 and status != 429
            if final or attempt >= self.max_retries:
                said = fetched.problem or (
                    f"the video host answered {status}"
                    if status is not None
                    else "the video host could not be reached"
                )
                advice = (
                    "The link may have expired; get a fresh one with client.get(id)."
                    if status in (401, 403, 404, 410)
                    else "Try again with client.download(generation): nothing is bought again."
                )
                raise DownloadError(
                    f"Could not download the video of generation {gid}: {said}. {advice}"
                )
            attempt += 1
            yield from sleep(self.backoff.delay(attempt))

    # -- prices and balance ------------------------------------------------------------------

    def catalogue(self, model: str) -> Flow[CatalogueEntry | None]:
        """The catalogue's entry for ``model`` (None: not listed), cached and revalidated by ETag.

        Fetched once per session and model; after ``CATALOGUE_FRESH`` seconds it is
        asked again with ``If-None-Match`` (a 304 costs no body). A catalogue that
        could not be read is not asked again for a while either: its error is
        raised again from memory, so a broken catalogue never slows each purchase.
        """
        cached = self._catalogue.get(model)
        now = self.clock.now()
        if cached is not None and now - cached.checked_at < CATALOGUE_FRESH:
            if cached.error is not None:
                raise cached.error
            return cached.entry
        etag = cached.etag if cached is not None else None
        headers = {"If-None-Match": etag} if etag else {}

        def make() -> httpx.Request:
            # The catalogue matches ``id`` against ids and aliases alike.
            params = {"id": model, "include": "pricing"}
            return self._request("GET", MODELS_PATH, params=params, headers=headers, auth=False)

        try:
            reply = yield from self._send_retrying(make, paid=False, what="model catalogue request")
            if reply.status_code == 304 and cached is not None and cached.error is None:
                self._catalogue[model] = _Looked(cached.etag, cached.entry, now)
                return cached.entry
            if not reply.ok:
                raise api_error(reply.status_code, reply.text(), what="model catalogue request")
            entry = catalogue_entry(parse_catalogue(decode_json(reply.content)), model)
        except Gen3Error as exc:
            self._catalogue[model] = _Looked(None, None, now, exc)
            raise
        self._catalogue[model] = _Looked(reply.headers.get("ETag"), entry, now)
        return entry

    def estimate(self, query: PriceQuery) -> Flow[float | None]:
        """The price in USD of one video from the catalogue; None when it cannot be quoted."""
        entry = yield from self.catalogue(query.model)
        return quote(entry.pricing, query) if entry is not None else None

    def balance(self) -> Flow[float]:
        reply = yield from self._send_retrying(
            lambda: self._request("GET", BILLING_PATH), paid=False, what="balance request"
        )
        if not reply.ok:
            raise api_error(reply.status_code, reply.text(), what="balance request")
        return parse_balance(decode_json(reply.content))


def _copy_into(source: Path, folder: Path) -> Path | None:
    """A copy of ``source`` in ``folder`` (a hard link when possible); its absolute path."""
    import os
    import shutil

    from ._download import storage_error

    target = folder.expanduser().resolve() / source.name
    if target == source:
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    except OSError as exc:
        raise storage_error(exc, folder, "copy the video") from None
    return target
