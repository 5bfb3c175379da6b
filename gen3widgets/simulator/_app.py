"""``Simulator``: the AI/ML API's Runway image-to-video endpoints as an ASGI app.

Routes:

* ``POST /v2/video/generations`` buys a generation (universal path: ``aspect_ratio``,
  ``tail_image_url``); ``GET /v2/video/generations?generation_id=...`` reports on it;
* ``POST``/``GET /v2/generate/video/runway/generation``: the same on the legacy
  path (``ratio``, ``last_image_url``). ``paths=`` chooses which exist;
* ``GET /v2/logs``: one row per create request (``_logs``);
* ``GET /v1/models`` (also ``/models``, ``/api/v1/models``): the catalogue (``_catalogue``);
* ``GET /v2/billing``: the balance (``_billing``);
* ``GET /v1/files/<id>.mp4?_jwt=...`` serves a video (signed, expiring, Range);
* ``GET /`` and ``/health`` say ``{"simulator": true}``.

Every answer of a create or a poll carries the tracing and cost headers
(``_tracing``). Rendering starts when a job is bought, on a two-thread pool,
so the event loop never waits on CPU work; a poll that finds a job due but
not yet rendered awaits the render (in a worker thread), so a fake clock
never makes a client spin forever.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import types
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import anyio
import anyio.to_thread
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from .._loop import LoopThread  # shared plumbing (see _transport)
from ._billing import OUT_OF_CREDITS, balance_usd, spendable_usd
from ._catalogue import answer, catalogue, encode, etag, not_modified
from ._jobs import SimulatedJob, SimulatorStats, Slots
from ._links import LinkSigner
from ._logs import LogEntry, LogQuery, LogQueryError, UsageLog
from ._models import MODELS, find_model
from ._options import Faults, Phase, SimulatorOptions
from ._render import RenderSpec
from ._responses import DroppedResponse, api_error, html_502, parse_range, truncated_json
from ._tracing import Trace, looks_like_generation_id, new_inference_id, valid_client_request_id
from ._transport import SimulatorTransport, TimeoutASGITransport
from ._validate import (
    MAX_DATA_URI_CHARS,
    MAX_SEED,
    BodyError,
    CreateParams,
    PathSchema,
    parse_json_object,
    validate_create,
)

logger = logging.getLogger("gen3widgets.simulator")

FILES_PATH = "/v1/files"
LOGS_PATH = "/v2/logs"
BILLING_PATH = "/v2/billing"
CATALOGUE_PATHS = ("/v1/models", "/models", "/api/v1/models")
MAX_BODY_BYTES = 2 * MAX_DATA_URI_CHARS + 64 * 1024  # two images and a prompt
RENDER_THREADS = 2  # renders are CPU-heavy: two at once keeps a laptop usable
DEPRECATED_DOCS = "https://docs.aimlapi.com/404-model-is-deprecated"

_GET_5XX = (
    (500, "Internal server error"),
    (503, "Service Unavailable"),
    (504, "Generation timeout"),
)
_JOB_ERRORS = (
    ("ContentModerationError", "Content moderation: the prompt was flagged", ["body", "prompt"]),
    (
        "ContentModerationError",
        "Content moderation: the input image was flagged",
        ["body", "image_url"],
    ),
    ("GenerationError", "Internal generation failure", ["generation"]),
)
_UNAUTHORIZED = "Unauthorized: send your API key as 'Authorization: Bearer <key>'"
_TOO_MANY = "Too many requests: rate limit reached, please slow down"
_RENDER_FAILED = ("GenerationError", "Internal generation failure", ["generation"])


def _bearer_key(request: Request) -> str | None:
    """The request's API key (any non-blank bearer token), or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _rendered(job: SimulatedJob) -> bytes | None:
    """The job's video if its render finished well, else None."""
    if job.render is None or not job.render.done() or job.render_failed:
        return None
    return job.render.result()


def _retry_after(seconds: float | None) -> dict[str, str]:
    return {} if seconds is None else {"Retry-After": f"{seconds:g}"}


def _trace(request: Request) -> Trace:
    client_id = valid_client_request_id(request.headers.get("x-client-request-id"))
    return Trace(request_id=str(uuid.uuid4()), client_request_id=client_id)


class Simulator:
    """The API as an ASGI application: ``Simulator(options=None, **option_overrides)``.

    In-process use::

        sim = Simulator(render=fake_render, clock=clock.now)
        httpx.AsyncClient(transport=sim.async_transport(), base_url="http://sim.test")
        httpx.Client(transport=sim.sync_transport(), base_url="http://sim.test")

    ``stats`` counts what happened, ``jobs`` shows every job, ``log_entries()``
    every create request the usage log holds, and ``faults`` may be swapped at
    any time (e.g. to fail the next polls only).
    """

    def __init__(self, options: SimulatorOptions | None = None, **option_overrides: Any) -> None:
        self._options = replace(options or SimulatorOptions(), **option_overrides)
        options = self._options
        self._render = options.renderer()
        self.stats = SimulatorStats()
        self._jobs: dict[str, SimulatedJob] = {}
        self._on_sale = tuple(m for m in MODELS if m.id not in options.retired_models)
        # Separate streams, so that turning a fault on does not change job timings.
        self._timing_rng = random.Random(f"{options.seed}:timing")
        self._fault_rng = random.Random(f"{options.seed}:faults")
        self._seed_rng = random.Random(f"{options.seed}:seeds")
        self._slots = Slots(options.concurrency)
        self._links = LinkSigner()
        self._log = UsageLog(options.logs_lag)
        # The simulator's clock need not be a calendar: tie it to one once.
        self._wall_offset = options.wall_clock() - options.clock()
        self._rate_limited_until = float("-inf")
        self._buying = threading.Lock()
        self._loop_thread = LoopThread("gen3sim-loop")
        self._renders = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="gen3sim-render")
        routes = [
            Route(
                schema.route,
                functools.partial(self._generation, schema=schema),
                methods=["GET", "POST"],
            )
            for schema in options.served()
        ]
        routes += [Route(path, self._catalogue, methods=["GET"]) for path in CATALOGUE_PATHS]
        routes += [
            Route(LOGS_PATH, self._logs, methods=["GET"]),
            Route(BILLING_PATH, self._billing, methods=["GET"]),
            Route(FILES_PATH + "/{name}", self._file, methods=["GET"]),
            Route("/", self._health, methods=["GET"]),
            Route("/health", self._health, methods=["GET"]),
        ]
        self._router = Router(routes=routes, default=self._not_found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._router(scope, receive, send)

    # -- public helpers ----------------------------------------------------------------

    @property
    def options(self) -> SimulatorOptions:
        return self._options

    @property
    def faults(self) -> Faults:
        return self._options.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._options = replace(self._options, faults=faults)

    @property
    def jobs(self) -> Mapping[str, SimulatedJob]:
        """Every job bought so far, by id (read-only)."""
        return types.MappingProxyType(self._jobs)

    def log_entries(self) -> list[LogEntry]:
        """Every create request the usage log holds, oldest first, shown yet or not."""
        return self._log.entries()

    def balance_usd(self) -> float:
        """The balance ``GET /v2/billing`` reports now."""
        return balance_usd(self._options.balance_usd, self._snapshot(), self._options.clock())

    def async_transport(self) -> httpx.ASGITransport:
        """For ``httpx.AsyncClient``: this app in-process, honouring read timeouts."""
        return TimeoutASGITransport(app=self)

    def sync_transport(self) -> httpx.BaseTransport:
        """For ``httpx.Client``: this app on the simulator's private event-loop thread.

        Every sync transport of one simulator shares that thread, so the
        simulator's state is only ever touched from one loop.
        """
        return SimulatorTransport(self.async_transport(), self._loop_thread)

    def close(self) -> None:
        """Stop the loop thread of sync transports and the render threads."""
        self._loop_thread.close()
        self._renders.shutdown(wait=False, cancel_futures=True)

    # -- helpers -----------------------------------------------------------------------

    def _roll(self, fault: str) -> bool:
        """Whether ``fault`` strikes this time; counted when it does."""
        rate: float = getattr(self.faults, fault)
        if rate > 0 and self._fault_rng.random() < rate:
            self.stats.faults_injected[fault] += 1
            return True
        return False

    async def _maybe_slow(self) -> None:
        if self.faults.slow_seconds > 0 and self._roll("slow_rate"):
            await anyio.sleep(self.faults.slow_seconds)  # real time: it is the network being slow

    def _wall(self, now: float) -> datetime:
        """Clock time ``now`` as a calendar moment."""
        return datetime.fromtimestamp(now + self._wall_offset, tz=timezone.utc)

    def _snapshot(self) -> list[SimulatedJob]:
        with self._buying:  # a sync client's loop may be buying meanwhile
            return list(self._jobs.values())

    # -- routes ------------------------------------------------------------------------

    async def _health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "simulator": True,
                "models": [m.id for m in self._on_sale],
                "paths": [s.route for s in self._options.served()],
                "jobs": len(self._jobs),
            }
        )

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets: nothing to do
            return
        request = Request(scope, receive)
        response = api_error(404, f"Cannot {request.method} {request.url.path}", request.url.path)
        await response(scope, receive, send)

    async def _generation(self, request: Request, schema: PathSchema) -> Response:
        if request.method == "POST":
            return await self._create(request, schema)
        return await self._retrieve(request, schema)

    # -- create ------------------------------------------------------------------------

    async def _create(self, request: Request, schema: PathSchema) -> Response:
        stats = self.stats
        stats.creates_received += 1
        stats.creates_received_by_path[schema.name] += 1
        trace = _trace(request)
        admitted = await self._admit(request, schema, trace)
        if isinstance(admitted, Response):
            return admitted
        params, key = admitted
        job = self._buy(params, schema, trace, key)
        if job is None:
            return self._refuse(403, OUT_OF_CREDITS, request, trace, key, params.model.id)
        body = self._generation_body(job, schema, "queued", None, None)
        if schema.name == "legacy":  # the 2025 create answer: no video or error yet
            body = {k: body[k] for k in ("id", "status", "meta")}
        await self._maybe_slow()
        if self._roll("create_lost_answer"):
            return DroppedResponse(body)
        if self._roll("create_500_after_buying"):
            # From a layer that never learnt the generation's id: the client cannot know.
            headers = trace.headers(new_inference_id())
            return api_error(
                500, "Internal server error", request.url.path, headers, trace.request_id
            )
        return JSONResponse(body, headers=trace.headers(job.id, job.price_usd))

    def _refuse(
        self,
        status: int,
        message: str,
        request: Request,
        trace: Trace,
        key: str | None,
        model: str | None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Refuse a create (nothing bought); log it when it named a model and had a key."""
        self.stats.creates_refused += 1
        inference_id = new_inference_id()
        if key is not None and model is not None:
            now = self._options.clock()
            self._log.record(
                LogEntry(
                    at=now,
                    created=self._wall(now),
                    key=key,
                    model=model,
                    request_id=trace.request_id,
                    inference_id=inference_id,
                    client_request_id=trace.client_request_id,
                    job=None,
                )
            )
        headers = {**trace.headers(inference_id), **(extra_headers or {})}
        return api_error(status, message, request.url.path, headers, trace.request_id)

    async def _admit(
        self, request: Request, schema: PathSchema, trace: Trace
    ) -> tuple[CreateParams, str] | Response:
        """The create's parameters and key, or the answer refusing it (nothing bought)."""
        now, key = self._options.clock(), _bearer_key(request)

        def refuse(
            status: int, message: str, model: str | None = None, retry_after: float | None = None
        ) -> Response:
            headers = _retry_after(retry_after)
            return self._refuse(status, message, request, trace, key, model, headers)

        if key is None:
            return refuse(401, _UNAUTHORIZED)
        chunks, size = [], 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return refuse(413, f"Request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = await anyio.to_thread.run_sync(parse_json_object, b"".join(chunks))
        except BodyError as exc:
            return refuse(400, f"Body validation error: {exc}")
        named = body.get("model")
        model = find_model(named)
        logged_model = model.id if model is not None else named if isinstance(named, str) else None
        if now < self._rate_limited_until:
            # A client that ignores Retry-After keeps hitting the same wall.
            self.stats.faults_injected["create_429_early_retry"] += 1
            return refuse(429, _TOO_MANY, logged_model, self._rate_limited_until - now)
        if self._roll("create_429"):
            retry_after = self.faults.create_429_retry_after
            if retry_after is not None:
                self._rate_limited_until = now + retry_after
            return refuse(429, _TOO_MANY, logged_model, retry_after)
        if self._roll("create_503"):
            return refuse(503, "Service temporarily unavailable, please retry later", logged_model)
        if model is not None and model.id in self._options.retired_models:
            return refuse(
                404,
                f"Model {named} is deprecated and no longer available. See {DEPRECATED_DOCS}",
                logged_model,
            )
        try:
            params = await anyio.to_thread.run_sync(validate_create, body, schema, self._on_sale)
        except BodyError as exc:
            return refuse(400, f"Body validation error: {exc}", logged_model)
        return params, key

    def _buy(
        self, params: CreateParams, schema: PathSchema, trace: Trace, key: str
    ) -> SimulatedJob | None:
        """Create and book the job, or None when the balance cannot pay for it."""
        options = self._options
        price = options.price_usd(params.model.id, params.duration, params.ratio)
        # Locked: an async client on its own loop may buy while sync clients buy on ours.
        with self._buying:
            now = options.clock()
            jobs = list(self._jobs.values())
            if options.enforce_balance and price > spendable_usd(options.balance_usd, jobs, now):
                return None
            job = self._new_job(params, schema, price, now)
            self._jobs[job.id] = job
            self.stats.creates_bought += 1
            self.stats.creates_bought_by_path[schema.name] += 1
            self._log.record(
                LogEntry(
                    at=now,
                    created=self._wall(now),
                    key=key,
                    model=params.model.id,
                    request_id=trace.request_id,
                    inference_id=job.id,
                    client_request_id=trace.client_request_id,
                    job=job,
                )
            )
        if job.error is not None:
            self.stats.failed_at[job.id] = job.due_at
        else:
            job.render = self._renders.submit(self._render_job, job)
        return job

    def _new_job(
        self, params: CreateParams, schema: PathSchema, price: float, now: float
    ) -> SimulatedJob:
        """Draw the job's timing and fate, and book its slot."""
        options = self._options
        work = options.job_time(params.duration, self._timing_rng)
        error = None
        if self._roll("job_error"):
            name, message, loc = self._fault_rng.choice(_JOB_ERRORS)
            error = self._error_object(name, message, loc)
            work *= self._fault_rng.uniform(0.3, 0.8)  # failures come before the end
        started = self._slots.start(now, work)
        return SimulatedJob(
            # Ids are truly random, like the API's: a restarted simulator must never
            # hand out an id that a history written earlier already holds.
            id=str(uuid.uuid4()),
            path=schema.name,
            params=params,
            seed=params.seed if params.seed is not None else self._seed_rng.randint(0, MAX_SEED),
            price_usd=price,
            created_at=now,
            started_at=started,
            generating_at=started + min(options.queue_seconds, work),
            due_at=started + work,
            error=error,
        )

    def _render_job(self, job: SimulatedJob) -> bytes:
        """Runs on a render thread."""
        params = job.params
        spec = RenderSpec(
            first_frame=params.image.data,
            placeholder_label=params.image.label,
            last_frame=params.last_image.data if params.last_image else None,
            ratio=params.ratio,
            duration=params.duration,
            seed=job.seed,
            prompt=params.prompt,
            model=params.model.id,
            quality=self._options.video_quality,
        )
        try:
            video = self._render(spec)
        except Exception:
            logger.exception("rendering generation %s failed", job.id)
            raise
        job.rendered_at = self._options.clock()
        self.stats.completed_at[job.id] = max(job.due_at, job.rendered_at)
        return video

    def _error_object(self, name: str, message: str, loc: list[str]) -> dict[str, Any]:
        if self._options.error_shape == "detail":
            return {"detail": [{"loc": loc, "msg": message, "type": name}]}
        return {"name": name, "message": message}

    # -- retrieve ----------------------------------------------------------------------

    async def _retrieve(self, request: Request, schema: PathSchema) -> Response:
        stats, path, trace = self.stats, request.url.path, _trace(request)
        stats.gets += 1
        generation_id = request.query_params.get("generation_id", "")
        # On a poll the inference id is the one asked about, when it could be one.
        asked = generation_id if looks_like_generation_id(generation_id) else None
        if generation_id:
            stats.gets_per_job[generation_id] = stats.gets_per_job.get(generation_id, 0) + 1
        if _bearer_key(request) is None:
            return api_error(401, _UNAUTHORIZED, path, trace.headers(asked), trace.request_id)
        await self._maybe_slow()
        if not generation_id:
            message = "Query validation error: generation_id: Required"
            return api_error(400, message, path, trace.headers(None), trace.request_id)
        job = self._jobs.get(generation_id)
        if job is None:
            message = f"Generation {generation_id} not found"
            return api_error(404, message, path, trace.headers(asked), trace.request_id)
        phase, video, error = await self._state(job, request)
        body = self._generation_body(job, schema, phase, video, error)
        headers = trace.headers(job.id, 0.0 if phase == "error" else job.price_usd)
        # Trouble between the API and the client: the answer is lost or mangled on its way.
        if self._roll("get_drop"):
            return DroppedResponse(body)
        if self._roll("get_5xx"):
            status, message = self._fault_rng.choice(_GET_5XX)
            return api_error(status, message, path, trace.headers(job.id), trace.request_id)
        if self._roll("get_html_502"):
            return html_502()  # the gateway's own page: none of the API's headers
        if self._roll("get_truncated_json"):
            return truncated_json(body, headers)
        return JSONResponse(body, headers=headers)

    async def _state(
        self, job: SimulatedJob, request: Request
    ) -> tuple[Phase, str | None, dict[str, Any] | None]:
        """The generation's phase, video link and error at the current clock time."""
        phase: Phase = job.phase_at(self._options.clock())
        error, video = job.error, None
        if phase == "completed" and job.render is not None:
            try:
                if not job.render.done():
                    await anyio.to_thread.run_sync(job.render.result, abandon_on_cancel=True)
                job.render.result()
            except Exception:
                phase, error = "error", self._error_object(*_RENDER_FAILED)
                self.stats.failed_at.setdefault(job.id, self._options.clock())
            else:
                video = self._video_url(job, request)
        return phase, video, error

    def _generation_body(
        self,
        job: SimulatedJob,
        schema: PathSchema,
        phase: Phase,
        video_url: str | None,
        error: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The create/retrieve answer in the path's shape (or the configured one)."""
        options = self._options
        video: Any = None
        if video_url is not None:
            shape = options.video_shape_on(schema.name)
            if shape == "list":
                video = [video_url]
            elif shape == "object":
                video = {"url": video_url, "duration": job.params.duration}
            else:
                video = {"url": video_url}
        credits_used = 0 if phase == "error" else job.credits  # failed generations are free
        return {
            "id": job.id,
            "status": options.status_name(phase),
            "video": video,
            "error": error,
            "meta": {"usage": {options.usage_field_on(schema.name): credits_used}},
        }

    def _video_url(self, job: SimulatedJob, request: Request) -> str:
        """A fresh signed link, good for ``url_ttl`` from now."""
        expires_at = self._options.clock() + self._options.url_ttl
        token = self._links.token(job.id, expires_at)
        return f"{str(request.base_url).rstrip('/')}{FILES_PATH}/{job.id}.mp4?_jwt={token}"

    # -- account and catalogue ---------------------------------------------------------

    async def _logs(self, request: Request) -> Response:
        self.stats.logs_requests += 1
        path, key = request.url.path, _bearer_key(request)
        if key is None:
            return api_error(401, _UNAUTHORIZED, path)
        if self._roll("logs_429"):
            headers = _retry_after(self.faults.logs_429_retry_after)
            return api_error(429, _TOO_MANY, path, headers)
        now = self._options.clock()
        try:
            query = LogQuery.parse(request.query_params.getlist, self._wall(now))
        except LogQueryError as exc:
            return api_error(400, f"Query validation error: {exc}", path)
        return JSONResponse(self._log.page(query, key, now))

    async def _catalogue(self, request: Request) -> Response:
        self.stats.catalogue_requests += 1
        options = self._options
        entries = catalogue(frozenset(options.retired_models), options.pricing)
        body = encode(answer(entries, request.query_params.getlist))
        tag = etag(body)
        if not_modified(request.headers.get("if-none-match", ""), tag):
            self.stats.catalogue_not_modified += 1
            return Response(b"", status_code=304, headers={"ETag": tag})
        return Response(body, media_type="application/json", headers={"ETag": tag})

    async def _billing(self, request: Request) -> Response:
        self.stats.billing_requests += 1
        if _bearer_key(request) is None:
            return api_error(401, _UNAUTHORIZED, request.url.path)
        return JSONResponse({"current_balance": self.balance_usd(), "currency": "USD"})

    # -- video files -------------------------------------------------------------------

    async def _file(self, request: Request) -> Response:
        stats = self.stats
        stats.downloads += 1
        if "authorization" in request.headers:
            stats.downloads_with_authorization += 1
        name: str = request.path_params["name"]
        job = self._jobs.get(name.removesuffix(".mp4")) if name.endswith(".mp4") else None
        video = _rendered(job) if job is not None else None
        if job is None or video is None:
            stats.downloads_refused += 1
            return Response(
                "404 Not Found: no such video\n", status_code=404, media_type="text/plain"
            )
        problem = self._links.problem(
            job.id, request.query_params.get("_jwt"), self._options.clock()
        )
        if problem is not None:
            stats.downloads_refused += 1
            return Response(f"403 Forbidden: {problem}\n", status_code=403, media_type="text/plain")
        return self._serve_bytes(request, video, etag=f'"{job.id}"')

    def _serve_bytes(self, request: Request, video: bytes, etag: str) -> Response:
        """The whole file (200) or one byte range of it (206), so players can seek."""
        size = len(video)
        headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "private, max-age=3600"}
        status, start, end = 200, 0, size - 1
        try:
            wanted = parse_range(request.headers.get("range", ""), size)
        except ValueError:
            self.stats.downloads_refused += 1
            headers["Content-Range"] = f"bytes */{size}"
            return Response(b"", status_code=416, headers=headers)
        if wanted is not None:
            (start, end), status = wanted, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        body = b"" if request.method == "HEAD" else video[start : end + 1]
        return Response(body, status_code=status, headers=headers, media_type="video/mp4")
