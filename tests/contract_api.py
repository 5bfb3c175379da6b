"""An independent imitation of the AI/ML API contract, for the client's tests.

Written from ``API_CONTRACT.md`` alone and deliberately apart from
``gen3widgets.simulator``, so the client is checked against a server it was
not written alongside. It runs through ``httpx.MockTransport`` (for
``httpx.Client`` and ``httpx.AsyncClient`` alike), keeps time on a
``FakeClock`` and plays scripted faults in order.

What it serves, by the contract's sections:

- *Endpoints*: create and retrieve on the universal path and on the legacy
  path, each with its own strict schema (*Models with the image-to-video
  inputs*); a route not served answers ``404 Cannot POST …``.
- *Responses*: the generation object, in each documented shape.
- *Tracing and cost*: ``x-inference-id``, ``x-client-request-id``,
  ``x-aimlapi-credits-used``, ``x-aimlapi-usd-spent`` on create and retrieve.
- *Usage logs*, *Model catalogue*, *Balance*.
- *Errors*: the documented error body and status codes.
- The video host (``CDN``): a real tiny MP4, URLs that expire by version, and
  a count of requests that wrongly carry the API key.

Where the contract is silent the choice is a named constant or option here,
with its reason. A generation's state is a pure function of the clock: it is
charged (balance, log cost) the moment the clock passes its end, whether or
not anyone polls.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.fakes import FakeClock, tiny_mp4

BASE = "https://api.test"
CDN = "https://cdn.test"
UNIVERSAL = "/v2/video/generations"
LEGACY = "/v2/generate/video/runway/generation"
LOGS = "/v2/logs"
CATALOGUE = "/v1/models"
BILLING = "/v2/billing"

ROUTES = {"universal": UNIVERSAL, "legacy": LEGACY}
# The two fields renamed between the paths ("What changed"); the rest are shared.
RENAMED = {
    "universal": {"ratio": "aspect_ratio", "last_image": "tail_image_url"},
    "legacy": {"ratio": "ratio", "last_image": "last_image_url"},
}
SHARED_FIELDS = ("model", "prompt", "image_url", "duration", "seed")

# The contract names no exchange rate; this one is the imitation's, fixed so
# that credits and USD in headers, logs and answers always agree.
CREDITS_PER_USD = 2_000_000
# What a generation priced ``{"kind": "variable"}`` turns out to cost: such a
# price cannot be quoted ahead, but the generation is still charged.
VARIABLE_USD = 0.42
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SEED_MAX = 4_294_967_295
PROMPT_MAX = 1000  # counted in UTF-16 code units, as the server's JavaScript validator counts
URL_MAX = 2048
DATA_URI_MAX = 5_000_000  # "5 MB", read strictly
LOGS_MAX_DAYS = 92
LOGS_DEFAULT_LIMIT = 20  # not documented; any client should send its own

REASONS = {
    400: "Body validation error",
    401: "Unauthorized: missing or invalid API key",
    403: "You've run out of credits. Please top up your balance to continue.",
    404: "Not found",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Generation timeout",
}


@dataclass(frozen=True)
class Model:
    """One image-to-video model of the contract's table. The aliases are invented."""

    id: str
    ratios: tuple[str, ...]
    aliases: tuple[str, ...]


MODELS = (
    Model("gen3a_turbo", ("16:9", "9:16"), ("runway/gen3a_turbo",)),
    Model("runway/gen4_turbo", ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9"), ("gen4_turbo",)),
)


def default_prices() -> dict[str, dict[str, Any]]:
    """The two models priced with different kinds, and ``per`` that is not always 1.

    gen3a_turbo: 0.25 USD a 5-second video, 0.50 a 10-second one (``variants``).
    runway/gen4_turbo: 0.30 USD per 5 seconds, i.e. 0.30 / 0.60 (``fixed``).
    """
    return {
        "gen3a_turbo": {
            "kind": "variants",
            "variants": [
                {"when": {"duration": 5}, "price": 0.25, "unit": "generation", "per": 1},
                {"when": {"duration": 10}, "price": 0.5, "unit": "generation", "per": 1},
            ],
        },
        "runway/gen4_turbo": {
            "kind": "fixed",
            "units": [{"name": "second", "price": 0.3, "per": 5}],
        },
    }


def price_usd(block: dict[str, Any], fields: dict[str, Any]) -> float:
    """What one generation with ``fields`` (universal names, defaults filled) costs.

    ``fixed`` is read in the ``units`` list shape and in the contract's flat
    ``price``/``unit``/``per`` shape; every price is divided by its ``per``.
    """
    kind = block.get("kind")
    if kind == "variable":
        return VARIABLE_USD
    if kind == "fixed":
        lines = block.get("units") or [
            {"name": block["unit"], "price": block["price"], "per": block["per"]}
        ]
        return float(
            sum(line["price"] * _quantity(line["name"], fields) / line["per"] for line in lines)
        )
    if kind == "variants":
        for variant in block["variants"]:
            if all(fields.get(key) == value for key, value in variant["when"].items()):
                return float(variant["price"] * _quantity(variant["unit"], fields) / variant["per"])
        raise ValueError(f"no price variant matches {fields}: give the test a variant for it")
    raise ValueError(f"unknown pricing kind {kind!r}: use fixed, variants or variable")


def _quantity(unit: str, fields: dict[str, Any]) -> float:
    if unit == "second":
        return float(fields["duration"])
    if unit in ("generation", "video"):
        return 1.0
    raise ValueError(f"unknown price unit {unit!r}: use second, generation or video")


def iso(t: float) -> str:
    """A clock reading as the ISO-8601 UTC text the logs speak (``1970-01-01T00:16:40.000Z``)."""
    stamp = datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def error_body(code: int, message: str, path: str, t: float) -> dict[str, Any]:
    """The contract's error body (*Errors*)."""
    return {
        "message": message,
        "path": path,
        "requestId": str(uuid.uuid4()),
        "statusCode": code,
        "timestamp": iso(t),
    }


# -- scripted faults -------------------------------------------------------------------
#
# A fault answers one request in the imitation's place, raw: no tracing headers.
# ``bought`` says whether the create was charged before the fault happened: such
# a generation exists, runs on the clock and has its log row; only its answer
# was lost. Faults are popped in order from ``create_faults``, ``get_faults``,
# ``video_faults`` and ``logs_faults``, on whichever path the request used.


@dataclass
class Fault:
    """``make`` answers (or raises for) the request; ``bought``: the create was charged first."""

    make: Callable[[httpx.Request], httpx.Response]
    bought: bool = False


def _fault_error(code: int, message: str, request: httpx.Request) -> dict[str, Any]:
    """An error body for a fault: faults hold no clock, so it is stamped with the wall time."""
    return error_body(code, message, request.url.path, datetime.now(timezone.utc).timestamp())


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body handed over chunk by chunk, as a socket would: nothing is decoded
    (gzip included) until the client reads it."""

    def __init__(self, data: bytes, size: int = 1024) -> None:
        self._chunks = [data[i : i + size] for i in range(0, len(data), size)]

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def status(
    code: int, body: Any = None, headers: dict[str, str] | None = None, bought: bool = False
) -> Fault:
    """An answer with ``code``: by default the contract's error body with the usual meaning."""

    def make(request: httpx.Request) -> httpx.Response:
        reason = REASONS.get(code, f"error {code}")
        payload = body if body is not None else _fault_error(code, reason, request)
        content = payload if isinstance(payload, str) else json.dumps(payload)
        return httpx.Response(code, content=content, headers=headers or {})

    return Fault(make, bought)


def raising(exc_type: type[Exception], bought: bool = False) -> Fault:
    """The request fails with an httpx exception (timeout, dropped connection…)."""

    def make(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated fault", request=request)  # type: ignore[call-arg]

    return Fault(make, bought)


def html_502(bought: bool = False) -> Fault:
    """A gateway's HTML page instead of JSON (*Errors*: "A 502 may arrive with an HTML body")."""
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return Fault(
        lambda r: httpx.Response(502, content=page, headers={"Content-Type": "text/html"}), bought
    )


def truncated(bought: bool = False) -> Fault:
    """A 200 whose JSON body stops half way (*Errors*: "a 200 with a truncated body")."""
    return Fault(
        lambda r: httpx.Response(
            200, content=b'{"id": "abc", "sta', headers={"Content-Type": "application/json"}
        ),
        bought,
    )


def gzip_bomb(size_mb: int, bought: bool = False) -> Fault:
    """A 200 of ``Content-Encoding: gzip`` that inflates to ``size_mb`` MB of zeros.

    The compressed body is about a thousandth of that; it is inflated only as the
    client reads it, so a client that caps what it reads never holds it all.
    """
    compressed = _gzip_zeros(size_mb)
    headers = {
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
        "Content-Length": str(len(compressed)),
    }
    return Fault(
        lambda r: httpx.Response(200, headers=headers, stream=_Chunks(compressed, 65536)), bought
    )


def _gzip_zeros(size_mb: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size_mb)]
    parts.append(packer.flush())
    return b"".join(parts)


def echo_key(as_generation_error: bool = False, bought: bool = False) -> Fault:
    """An answer that repeats the caller's key, which the client must never show.

    By default a 401 error body whose ``message`` quotes the Authorization header
    and the bare key. With ``as_generation_error`` a 200 generation object in
    status ``error`` whose ``error.message`` holds the key.
    """

    def make(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        key = header.removeprefix("Bearer ")
        message = f"Invalid authorization header '{header}': key {key} is not valid"
        if not as_generation_error:
            return httpx.Response(401, json=_fault_error(401, message, request))
        generation = {
            "id": request.url.params.get("generation_id") or str(uuid.uuid4()),
            "status": "error",
            "video": None,
            "error": {"name": "AuthenticationError", "message": message},
            "meta": {"usage": {"credits_used": 0}},
        }
        return httpx.Response(200, json=generation)

    return Fault(make, bought)


def odd_json(text: str, bought: bool = True) -> Fault:
    """A 200 create answer carrying ``text`` verbatim as JSON, e.g. with ``Infinity``
    or ``NaN`` in it, or the wrong types. The create was bought."""
    return Fault(
        lambda r: httpx.Response(
            200, content=text.encode(), headers={"Content-Type": "application/json"}
        ),
        bought,
    )


def cut_short(data: bytes | None = None, keep: float = 0.5, close_delimited: bool = False) -> Fault:
    """A video answer that ends early: only ``keep`` of ``data`` (default: ``tiny_mp4()``).

    It promises the full length in ``Content-Length``; with ``close_delimited``
    it promises nothing and simply stops, so only decoding can tell.
    """
    video = tiny_mp4() if data is None else data
    part = video[: int(len(video) * keep)]
    headers = {"Content-Type": "video/mp4"}
    if not close_delimited:
        headers["Content-Length"] = str(len(video))
    return Fault(lambda r: httpx.Response(200, headers=headers, stream=_Chunks(part)))


def html_as_video() -> Fault:
    """The video host answers 200 with an HTML page and no ``Content-Type`` at all."""
    page = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
    return Fault(
        lambda r: httpx.Response(
            200, stream=_Chunks(page), headers={"Content-Length": str(len(page))}
        )
    )


# -- the imitation ---------------------------------------------------------------------


@dataclass
class Job:
    """One bought generation. Its state follows from the clock (see ``status_at``)."""

    id: str
    model: str
    path: str  # "universal" or "legacy": where it was bought
    body: dict[str, Any]  # as sent
    created: float
    seconds: float
    usd: float  # its price; charged only when it completes
    client_request_id: str | None = None  # as stored: None when absent or invalid
    fail_with: Any = None
    gets: int = 0
    url_version: int = 0

    @property
    def ends(self) -> float:
        return self.created + self.seconds

    def status_at(self, now: float, phases: tuple[str, ...]) -> str:
        """The phases share the job's time evenly; then ``completed``, or ``error`` with ``fail_with``."""
        elapsed = now - self.created
        if elapsed >= self.seconds:
            return "completed" if self.fail_with is None else "error"
        return phases[min(int(elapsed / self.seconds * len(phases)), len(phases) - 1)]

    def charged_by(self, now: float) -> bool:
        """*Tracing and cost*: charged after ``completed``; failed generations never."""
        return now >= self.ends and self.fail_with is None

    def usd_billed(self, now: float) -> float:
        """What the headers and ``meta.usage`` report: the price, or 0 once it failed."""
        return 0.0 if (now >= self.ends and self.fail_with is not None) else self.usd


@dataclass
class LogEntry:
    """One create that reached a handler; a usage-log row is drawn from it at query time."""

    seq: int
    created: float
    model: str | None
    request_id: str
    inference_id: str  # the generation id when bought, else the refused answer's id
    client_request_id: str | None
    job: Job | None  # None: refused (a ``failed`` row, cost 0)


def credits(usd: float) -> int:
    return round(usd * CREDITS_PER_USD)


@dataclass
class ContractAPI:
    """The imitation. Options first, then the state tests look at.

    Give ``transport()`` to an ``httpx.Client`` or ``httpx.AsyncClient`` and the
    same ``FakeClock`` to the client under test.

    ``counts`` keys: ``creates`` (all), ``creates_universal``, ``creates_legacy``,
    ``bought``, ``gets``, ``gets_universal``, ``gets_legacy``, ``downloads``,
    ``downloads_with_auth`` (0 for a correct client), ``logs``, ``catalogue``,
    ``catalogue_304``, ``billing``, ``unrouted`` (answered "Cannot POST …").
    """

    clock: FakeClock
    job_seconds: float = 8.0
    paths: str = "both"  # "both" | "universal" | "legacy": the create/retrieve routes served
    retired: set[str] = field(default_factory=set)  # model ids answered 404 "model is deprecated"
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)  # merged over default_prices()
    starting_balance: float = 100.0  # USD; a create is refused 403 once the balance is <= 0
    api_key: str | None = None  # None: any "Bearer <something>" is accepted
    video_shape: str = "object"  # "object" | "list" | "object_with_duration"
    usage_key: str = "credits_used"  # or "tokens_used", the older name
    phases: tuple[str, ...] = ("queued", "generating")  # in-progress statuses, in order
    fail_with: Any = None  # an error object: every job ends in "error" with it
    create_status: int = 200  # the status of an accepted create
    string_status_codes: bool = False  # "statusCode" as text in error bodies ("int|str")
    logs_lag: float = 5.0  # seconds before a create's row shows in the usage logs
    logs_per_minute: int = 200  # log queries served a minute before 429
    create_faults: list[Fault] = field(default_factory=list)
    get_faults: list[Fault] = field(default_factory=list)
    video_faults: list[Fault] = field(default_factory=list)
    logs_faults: list[Fault] = field(default_factory=list)
    expired_versions: set[int] = field(default_factory=set)  # video URL versions that 403
    video_bytes: bytes = field(default_factory=tiny_mp4)
    video_content_type: str = "video/mp4"
    # State, for tests to read.
    jobs: dict[str, Job] = field(init=False, repr=False, default_factory=dict)
    counts: Counter[str] = field(init=False, repr=False, default_factory=Counter)
    requests: list[httpx.Request] = field(init=False, repr=False, default_factory=list)
    # Each create's X-Client-Request-Id as sent (None: no header), valid or not.
    client_request_ids: list[str | None] = field(init=False, repr=False, default_factory=list)
    log_entries: list[LogEntry] = field(init=False, repr=False, default_factory=list)
    _served_log_queries: list[float] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.paths not in ("both", *ROUTES):
            raise ValueError(f"paths={self.paths!r}: use 'both', 'universal' or 'legacy'")
        if self.video_shape not in ("object", "list", "object_with_duration"):
            raise ValueError(
                f"video_shape={self.video_shape!r}: use object, list or object_with_duration"
            )
        if not self.phases:
            raise ValueError("phases needs at least one in-progress status")
        self.prices = {**default_prices(), **self.prices}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def bought(self) -> int:
        return self.counts["bought"]

    def current_balance(self) -> float:
        """*Balance*: the starting balance less every generation completed by now."""
        now = self.clock.now()
        spent = sum(job.usd for job in self.jobs.values() if job.charged_by(now))
        return round(self.starting_balance - spent, 9)

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == httpx.URL(CDN).host:
            return self._video(request)
        route = self._route(request)
        if route is None:
            self.counts["unrouted"] += 1
            return self._error(404, f"Cannot {request.method} {request.url.path}", request)
        action, path = route
        inference = action in ("create", "retrieve")
        if action != "catalogue" and not self._authorized(request):
            headers = self._tracing(request) if inference else None
            return self._error(401, REASONS[401], request, headers)
        if action == "create":
            return self._create(request, path)
        if action == "retrieve":
            return self._retrieve(request, path)
        return {"logs": self._logs, "catalogue": self._catalogue, "billing": self._billing}[action](
            request
        )

    def _route(self, request: httpx.Request) -> tuple[str, str] | None:
        """(action, path) for a served route: path is "universal"/"legacy" for inference."""
        served = ROUTES if self.paths == "both" else {self.paths: ROUTES[self.paths]}
        for path, route in served.items():
            if request.url.path == route and request.method in ("POST", "GET"):
                return ("create" if request.method == "POST" else "retrieve"), path
        others = {LOGS: "logs", CATALOGUE: "catalogue", BILLING: "billing"}
        if request.method == "GET" and request.url.path in others:
            return others[request.url.path], ""
        return None

    def _authorized(self, request: httpx.Request) -> bool:
        header: str = request.headers.get("Authorization", "")
        if self.api_key is not None:
            return header == f"Bearer {self.api_key}"
        return header.startswith("Bearer ") and bool(header.removeprefix("Bearer ").strip())

    def _error(
        self,
        code: int,
        message: str,
        request: httpx.Request,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = error_body(code, message, request.url.path, self.clock.now())
        if self.string_status_codes:
            body["statusCode"] = str(code)
        return httpx.Response(code, json=body, headers=headers)

    def _tracing(
        self, request: httpx.Request, inference_id: str | None = None, usd: float = 0.0
    ) -> dict[str, str]:
        """*Tracing and cost*: the four headers of every create and retrieve answer."""
        headers = {
            "x-inference-id": inference_id or str(uuid.uuid4()),
            "x-aimlapi-credits-used": str(credits(usd)),
            "x-aimlapi-usd-spent": f"{usd:.9f}",
        }
        sent = _valid_client_request_id(request)
        if sent is not None:
            headers["x-client-request-id"] = sent
        return headers

    # -- create and retrieve (*Endpoints*, *Responses*) -------------------------------

    def _create(self, request: httpx.Request, path: str) -> httpx.Response:
        self.counts["creates"] += 1
        self.counts[f"creates_{path}"] += 1
        self.client_request_ids.append(request.headers.get("x-client-request-id"))
        try:
            body: Any = json.loads(request.content)
        except ValueError:
            body = _NOT_JSON
        if self.create_faults:
            return self._play_create_fault(self.create_faults.pop(0), request, path, body)
        refusal = self._refusal(body, path)
        if refusal is not None:
            code, message = refusal
            headers = self._tracing(request)
            self._log(request, headers["x-inference-id"], _row_model(body), None)
            return self._error(code, message, request, headers)
        job = self._buy(request, path, body)
        return self._answer(job, request, self.create_status)

    def _play_create_fault(
        self, fault: Fault, request: httpx.Request, path: str, body: Any
    ) -> httpx.Response:
        if fault.bought:
            problems = self._refusal(body, path)
            if problems is not None:
                raise ValueError(f"a bought fault needs a create the server accepts: {problems}")
            self._buy(request, path, body)
        response = fault.make(request)  # an exception here: no row unless bought
        if not fault.bought:
            self._log(request, str(uuid.uuid4()), _row_model(body), None)
        return response

    def _refusal(self, body: Any, path: str) -> tuple[int, str] | None:
        """Why a create is refused (status, message), or None when it would be bought."""
        model = _model_named(body)
        resolved = _resolve(model)
        if resolved is not None and resolved.id in self.retired:
            return 404, f"This model is deprecated: {model} is no longer available"
        problems = _create_problems(body, path)
        if problems:
            return 400, f"{REASONS[400]}: " + "; ".join(problems)
        if self.current_balance() <= 0:
            return 403, REASONS[403]
        return None

    def _buy(self, request: httpx.Request, path: str, body: dict[str, Any]) -> Job:
        model = _resolve(body["model"])
        assert model is not None  # checked by _create_problems
        names = RENAMED[path]
        fields = {
            "duration": body.get("duration", 5),
            "aspect_ratio": body.get(names["ratio"], model.ratios[0]),
        }
        self.counts["bought"] += 1
        job = Job(
            id=str(uuid.uuid4()),
            model=model.id,
            path=path,
            body=body,
            created=self.clock.now(),
            seconds=self.job_seconds,
            usd=price_usd(self.prices[model.id], fields),
            client_request_id=_valid_client_request_id(request),
            fail_with=self.fail_with,
        )
        self.jobs[job.id] = job
        self._log(request, job.id, model.id, job)
        return job

    def _log(
        self, request: httpx.Request, inference_id: str, model: str | None, job: Job | None
    ) -> None:
        entry = LogEntry(
            seq=len(self.log_entries),
            created=self.clock.now(),
            model=model,
            request_id=str(uuid.uuid4()),
            inference_id=inference_id,
            client_request_id=_valid_client_request_id(request),
            job=job,
        )
        self.log_entries.append(entry)

    def _retrieve(self, request: httpx.Request, path: str) -> httpx.Response:
        self.counts["gets"] += 1
        self.counts[f"gets_{path}"] += 1
        generation_id = request.url.params.get("generation_id")
        if not generation_id:
            message = "Query validation error: generation_id: Required"
            return self._error(400, message, request, self._tracing(request))
        job = self.jobs.get(generation_id)
        if job is None:
            return self._error(404, "Generation not found", request, self._tracing(request))
        job.gets += 1
        if self.get_faults:
            return self.get_faults.pop(0).make(request)
        return self._answer(job, request, 200)

    def _answer(self, job: Job, request: httpx.Request, code: int) -> httpx.Response:
        usd = job.usd_billed(self.clock.now())
        return httpx.Response(
            code, json=self.describe(job), headers=self._tracing(request, job.id, usd)
        )

    def describe(self, job: Job) -> dict[str, Any]:
        """The generation object (*Responses*); each completed answer gets a fresh video URL."""
        now = self.clock.now()
        state = job.status_at(now, self.phases)
        data: dict[str, Any] = {
            "id": job.id,
            "status": state,
            "video": None,
            "error": None,
            "meta": {"usage": {self.usage_key: credits(job.usd_billed(now))}},
        }
        if state == "error":
            data["error"] = job.fail_with
        elif state == "completed":
            job.url_version += 1
            url = f"{CDN}/{job.id}.mp4?_jwt=v{job.url_version}"
            duration = job.body.get("duration", 5)
            data["video"] = {
                "object": {"url": url},
                "list": [url],
                "object_with_duration": {"url": url, "duration": duration},
            }[self.video_shape]
        return data

    # -- usage logs (*Usage logs*) ------------------------------------------------------

    def _logs(self, request: httpx.Request) -> httpx.Response:
        self.counts["logs"] += 1
        if self.logs_faults:
            return self.logs_faults.pop(0).make(request)
        now = self.clock.now()
        recent = [t for t in self._served_log_queries if t > now - 60]
        if len(recent) >= self.logs_per_minute:
            self._served_log_queries = recent
            return self._error(429, REASONS[429], request)
        self._served_log_queries = [*recent, now]
        query = _logs_query(request.url.params, now)
        if isinstance(query, str):
            return self._error(400, f"Query validation error: {query}", request)
        since, until, models, statuses, limit, offset = query
        rows = [
            self._row(entry, now)
            for entry in sorted(self.log_entries, key=lambda e: (e.created, e.seq), reverse=True)
            if entry.created + self.logs_lag <= now and since <= entry.created <= until
        ]
        rows = [
            row
            for row in rows
            if (not models or row["model"] in models)
            and (not statuses or row["status"] in statuses)
        ]
        page = rows[offset : offset + limit]
        pagination = {
            "limit": limit,
            "offset": offset,
            "total": len(rows),
            "has_more": offset + len(page) < len(rows),
        }
        return httpx.Response(200, json={"data": page, "pagination": pagination})

    def _row(self, entry: LogEntry, now: float) -> dict[str, Any]:
        job = entry.job
        failed = job is None or job.status_at(now, self.phases) == "error"
        usd = job.usd if job is not None and job.charged_by(now) else 0.0
        return {
            "created": iso(entry.created),
            "status": "failed" if failed else "succeeded",
            "origin": "api",
            "model": entry.model,
            "cost": {"usd": usd, "credits": credits(usd)},
            "tokens": {"input": 0, "output": 0},
            "request_id": entry.request_id,
            "inference_id": entry.inference_id,
            "client_request_id": entry.client_request_id,
        }

    # -- model catalogue (*Model catalogue*) ---------------------------------------------

    def _catalogue(self, request: httpx.Request) -> httpx.Response:
        """Open without a key (an assumption: the contract does not say)."""
        self.counts["catalogue"] += 1
        params = request.url.params
        wanted = params.get_list("id")
        includes = {part for value in params.get_list("include") for part in value.split(",")}
        data = []
        for model in MODELS:
            if model.id in self.retired:
                continue
            if wanted and not any(name in (model.id, *model.aliases) for name in wanted):
                continue
            entry: dict[str, Any] = {
                "id": model.id,
                "type": "video",
                "aliases": list(model.aliases),
            }
            if "pricing" in includes:
                entry["pricing"] = self.prices[model.id]
            data.append(entry)
        content = json.dumps({"object": "list", "data": data}, sort_keys=True).encode()
        etag = '"' + hashlib.sha256(content).hexdigest()[:24] + '"'
        sent = request.headers.get("If-None-Match", "")
        tags = {tag.strip().removeprefix("W/") for tag in sent.split(",")}
        if etag in tags or "*" in tags:
            self.counts["catalogue_304"] += 1
            return httpx.Response(304, headers={"ETag": etag})
        headers = {"ETag": etag, "Content-Type": "application/json"}
        return httpx.Response(200, content=content, headers=headers)

    # -- balance (*Balance*) -------------------------------------------------------------

    def _billing(self, request: httpx.Request) -> httpx.Response:
        self.counts["billing"] += 1
        return httpx.Response(
            200, json={"current_balance": self.current_balance(), "currency": "USD"}
        )

    # -- the video host ------------------------------------------------------------------

    def _video(self, request: httpx.Request) -> httpx.Response:
        self.counts["downloads"] += 1
        if "authorization" in request.headers:
            self.counts["downloads_with_auth"] += 1
        if self.video_faults:
            return self.video_faults.pop(0).make(request)
        match = re.fullmatch(r"/([0-9a-f-]+)\.mp4", request.url.path)
        version = request.url.params.get("_jwt", "")
        if match is None or match[1] not in self.jobs or not re.fullmatch(r"v\d+", version):
            return httpx.Response(404, content=b"<Error>NoSuchKey</Error>")
        if int(version[1:]) in self.expired_versions:
            return httpx.Response(403, content=b"<Error>AccessDenied: Request has expired</Error>")
        headers = {
            "Content-Type": self.video_content_type,
            "Content-Length": str(len(self.video_bytes)),
        }
        return httpx.Response(200, headers=headers, stream=_Chunks(self.video_bytes))


# -- request checks: pure functions of what was sent ------------------------------------

_NOT_JSON = object()  # a create body that did not parse


def _valid_client_request_id(request: httpx.Request) -> str | None:
    """The ``X-Client-Request-Id`` as the server keeps it: None when absent or invalid."""
    sent = request.headers.get("x-client-request-id")
    return sent if sent is not None and CLIENT_REQUEST_ID.fullmatch(sent) else None


def _model_named(body: Any) -> str | None:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def _resolve(name: str | None) -> Model | None:
    return next((m for m in MODELS if name in (m.id, *m.aliases)), None)


def _row_model(body: Any) -> str | None:
    """The model a refused create's log row names: its id when known, else as sent."""
    name = _model_named(body)
    model = _resolve(name)
    return model.id if model is not None else name


def _js_type(value: Any) -> str:
    """A value's type in the validator's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _create_problems(body: Any, path: str) -> list[str]:
    """Every way a create body breaks the path's schema, in the validator's words.

    Allowed keys only: the shared fields plus the path's own names for the ratio
    and the last frame; a key of the other path is an unrecognized key.
    """
    if body is _NOT_JSON:
        return ["Unexpected token: the body is not JSON"]
    if not isinstance(body, dict):
        return [f"Expected object, received {_js_type(body)}"]
    names = RENAMED[path]
    allowed = {*SHARED_FIELDS, names["ratio"], names["last_image"]}
    problems = []
    unknown = [key for key in body if key not in allowed]
    if unknown:
        problems.append("Unrecognized key(s) in object: " + ", ".join(f"'{k}'" for k in unknown))
    model = _resolve(body.get("model")) if isinstance(body.get("model"), str) else None
    if "model" not in body:
        problems.append("model: Required")
    elif model is None:
        expected = " | ".join(f"'{m.id}'" for m in MODELS)
        problems.append("model: " + _enum(expected, body["model"]))
    checks: dict[str, Callable[[Any], str | None]] = {
        "prompt": _prompt_problem,
        "image_url": _image_problem,
        names["last_image"]: _image_problem,
        "duration": _duration_problem,
        "seed": _seed_problem,
    }
    if model is not None:
        checks[names["ratio"]] = lambda value: _ratio_problem(value, model)
    if "image_url" not in body:
        problems.append("image_url: Required")
    for name, check in checks.items():
        if name in body:
            problem = check(body[name])
            if problem is not None:
                problems.append(f"{name}: {problem}")
    return problems


def _enum(expected: str, received: Any) -> str:
    return f"Invalid enum value. Expected {expected}, received {json.dumps(received)}"


def _prompt_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"Expected string, received {_js_type(value)}"
    if len(value.encode("utf-16-le")) // 2 > PROMPT_MAX:
        return f"String must contain at most {PROMPT_MAX} character(s)"
    return None


def _image_problem(value: Any) -> str | None:
    """An HTTPS URL naming a domain, or a JPEG/PNG/WebP base64 data URI (Runway's rules)."""
    if not isinstance(value, str):
        return f"Expected string, received {_js_type(value)}"
    if value.startswith("data:"):
        if not re.fullmatch(r"data:image/(jpeg|png|webp);base64,[A-Za-z0-9+/]+={0,2}", value):
            return "Invalid data URI: expected data:image/jpeg, png or webp;base64,…"
        return None if len(value) <= DATA_URI_MAX else "Data URI must be at most 5 MB"
    if len(value) > URL_MAX:
        return f"URL must be at most {URL_MAX} characters"
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        return "Invalid url: expected an https URL or a data:image/…;base64, URI"
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    return "URL must name a domain, not an IP address"


def _duration_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"Expected number, received {_js_type(value)}"
    return None if value in (5, 10) else _enum("5 | 10", value)


def _seed_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"Expected number, received {_js_type(value)}"
    if value != int(value):
        return "Expected integer, received float"
    if value < 0:
        return "Number must be greater than or equal to 0"
    return None if value <= SEED_MAX else f"Number must be less than or equal to {SEED_MAX}"


def _ratio_problem(value: Any, model: Model) -> str | None:
    if not isinstance(value, str):
        return f"Expected string, received {_js_type(value)}"
    expected = " | ".join(f"'{r}'" for r in model.ratios)
    return None if value in model.ratios else _enum(expected, value)


def _logs_query(
    params: httpx.QueryParams, now: float
) -> tuple[float, float, set[str], set[str], int, int] | str:
    """The logs query read as (since, until, models, statuses, limit, offset), or what is wrong.

    ``model`` and ``status`` repeat; a comma is part of the value (it matches no model).
    """
    period, start, end = params.get("period"), params.get("start"), params.get("end")
    if period is not None and (start or end):
        return "give period or start and end, not both"
    if period is not None:
        match = re.fullmatch(r"(\d+)([mhd])", period)
        if match is None:
            return f"period: expected a length such as 1h or 24h, received {period!r}"
        seconds = int(match[1]) * {"m": 60, "h": 3600, "d": 86400}[match[2]]
        since, until = now - seconds, now
    elif start and end:
        try:
            since, until = _parse_iso(start), _parse_iso(end)
        except ValueError:
            return "start and end: expected ISO-8601 dates"
        if until < since:
            return "end is before start"
        if until - since > timedelta(days=LOGS_MAX_DAYS).total_seconds():
            return f"start to end: at most {LOGS_MAX_DAYS} days"
    else:
        return "give period, or start and end"
    statuses = set(params.get_list("status"))
    if not statuses <= {"succeeded", "failed"}:
        return "status: Invalid enum value. Expected 'succeeded' | 'failed'"
    try:
        limit = int(params.get("limit", LOGS_DEFAULT_LIMIT))
        offset = int(params.get("offset", 0))
    except ValueError:
        return "limit and offset: expected integers"
    if not 1 <= limit <= 100:
        return "limit: Number must be between 1 and 100"
    if offset < 0:
        return "offset: Number must be greater than or equal to 0"
    return since, until, set(params.get_list("model")), statuses, limit, offset


def _parse_iso(text: str) -> float:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
