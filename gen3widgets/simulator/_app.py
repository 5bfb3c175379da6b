"""``Simulator``: the AI/ML API's Runway gen3a_turbo endpoints as an ASGI app.

Routes:

* ``POST /v2/generate/video/runway/generation`` buys a generation;
* ``GET  /v2/generate/video/runway/generation?generation_id=...`` reports on it;
* ``GET  /v1/files/<id>.mp4?_jwt=...`` serves its video (signed, expiring, Range);
* ``GET  /`` and ``/health`` say ``{"simulator": true}``.

Rendering starts when a job is bought, on a two-thread pool, so the event loop
never waits on CPU work; a poll that finds a job due but not yet rendered
awaits the render (in a worker thread), so a fake clock never makes a client
spin forever.
"""

from __future__ import annotations

import logging
import random
import threading
import types
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from ._jobs import Job, SimulatorStats, Slots
from ._links import LinkSigner
from ._options import Faults, Phase, SimulatorOptions
from ._render import RenderSpec
from ._responses import DroppedResponse, api_error, html_502, parse_range, truncated_json
from ._transport import LoopThread, SimulatorTransport, TimeoutASGITransport
from ._validate import MAX_DATA_URI_CHARS, MAX_SEED, BodyError, CreateParams, validate_create_body

logger = logging.getLogger("gen3widgets.simulator")

GENERATION_PATH = "/v2/generate/video/runway/generation"
FILES_PATH = "/v1/files"
MAX_BODY_BYTES = 2 * MAX_DATA_URI_CHARS + 64 * 1024  # two images and a prompt
RENDER_THREADS = 2  # renders are CPU-heavy: two at once keeps a laptop usable

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
_RENDER_FAILED = ("GenerationError", "Internal generation failure", ["generation"])


def _bearer_ok(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _rendered(job: Job) -> bytes | None:
    """The job's video if its render finished well, else None."""
    if job.render is None or not job.render.done() or job.render.cancelled():
        return None
    return None if job.render.exception() is not None else job.render.result()


class Simulator:
    """The API as an ASGI application: ``Simulator(options=None, **option_overrides)``.

    In-process use::

        sim = Simulator(render=fake_render, clock=clock.now)
        httpx.AsyncClient(transport=sim.async_transport(), base_url="http://sim.test")
        httpx.Client(transport=sim.sync_transport(), base_url="http://sim.test")

    ``stats`` counts what happened, ``jobs`` shows every job, and ``faults``
    may be swapped at any time (e.g. to fail the next polls only).
    """

    def __init__(self, options: SimulatorOptions | None = None, **option_overrides: Any) -> None:
        self._options = replace(options or SimulatorOptions(), **option_overrides)
        self._render = self._options.renderer()
        self.stats = SimulatorStats()
        self._jobs: dict[str, Job] = {}
        # Separate streams, so that turning a fault on does not change job timings.
        seed = self._options.seed
        self._timing_rng = random.Random(f"{seed}:timing")
        self._fault_rng = random.Random(f"{seed}:faults")
        self._id_rng = random.Random(f"{seed}:ids")
        self._slots = Slots(self._options.concurrency)
        self._links = LinkSigner()
        self._rate_limited_until = float("-inf")
        self._buying = threading.Lock()
        self._loop_thread = LoopThread("gen3sim-loop")
        self._renders = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="gen3sim-render")
        self._router = Router(
            routes=[
                Route(GENERATION_PATH, self._generation, methods=["GET", "POST"]),
                Route(FILES_PATH + "/{name}", self._file, methods=["GET"]),
                Route("/", self._health, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ],
            default=self._not_found,
        )

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
    def jobs(self) -> Mapping[str, Job]:
        """Every job bought so far, by id (read-only)."""
        return types.MappingProxyType(self._jobs)

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

    # -- faults ------------------------------------------------------------------------

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

    # -- routes ------------------------------------------------------------------------

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"simulator": True, "model": "gen3a_turbo", "jobs": len(self._jobs)})

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets: nothing to do
            return
        request = Request(scope, receive)
        response = api_error(404, f"Cannot {request.method} {request.url.path}", request.url.path)
        await response(scope, receive, send)

    async def _generation(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        return await self._retrieve(request)

    async def _create(self, request: Request) -> Response:
        stats, path = self.stats, request.url.path
        stats.creates_received += 1
        admitted = await self._admit(request)
        if isinstance(admitted, Response):
            stats.creates_refused += 1
            return admitted
        job = self._buy(admitted)
        answer = {
            "id": job.id,
            "status": self._options.status_name("queued"),
            "meta": self._usage(job),
        }
        await self._maybe_slow()
        if self._roll("create_lost_answer"):
            return DroppedResponse(answer)
        if self._roll("create_500_after_buying"):
            return api_error(500, "Internal server error", path)
        return JSONResponse(answer)

    async def _admit(self, request: Request) -> CreateParams | Response:
        """The create's parameters, or the answer refusing it (nothing bought)."""
        path, now = request.url.path, self._options.clock()
        if not _bearer_ok(request):
            return api_error(401, _UNAUTHORIZED, path)
        if now < self._rate_limited_until:
            # A client that ignores Retry-After keeps hitting the same wall.
            self.stats.faults_injected["create_429_early_retry"] += 1
            return self._too_many(path, self._rate_limited_until - now)
        if self._roll("create_429"):
            retry_after = self.faults.create_429_retry_after
            if retry_after is not None:
                self._rate_limited_until = now + retry_after
            return self._too_many(path, retry_after)
        if self._roll("create_503"):
            return api_error(503, "Service temporarily unavailable, please retry later", path)
        chunks, size = [], 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return api_error(413, f"Request body is larger than {MAX_BODY_BYTES} bytes", path)
        try:
            return await anyio.to_thread.run_sync(validate_create_body, b"".join(chunks))
        except BodyError as exc:
            return api_error(400, f"Body validation error: {exc}", path)

    @staticmethod
    def _too_many(path: str, retry_after: float | None) -> Response:
        headers = None if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        message = "Too many requests: rate limit reached, please slow down"
        return api_error(429, message, path, headers=headers)

    def _buy(self, params: CreateParams) -> Job:
        # Locked: an async client on its own loop may buy while sync clients buy on ours.
        with self._buying:
            job = self._new_job(params)
            self._jobs[job.id] = job
            self.stats.creates_bought += 1
        if job.error is not None:
            self.stats.failed_at[job.id] = job.due_at
        else:
            job.render = self._renders.submit(self._render_job, job)
        return job

    def _new_job(self, params: CreateParams) -> Job:
        """Draw the job's timing and fate, and book its slot."""
        options, now = self._options, self._options.clock()
        work = options.job_time(params.duration, self._timing_rng)
        error = None
        if self._roll("job_error"):
            name, message, loc = self._fault_rng.choice(_JOB_ERRORS)
            error = self._error_object(name, message, loc)
            work *= self._fault_rng.uniform(0.3, 0.8)  # failures come before the end
        started = self._slots.start(now, work)
        return Job(
            # Ids are truly random, like the API's: a restarted simulator must never
            # hand out an id that a history written earlier already holds.
            id=str(uuid.uuid4()),
            params=params,
            seed=params.seed if params.seed is not None else self._id_rng.randint(0, MAX_SEED),
            usage=params.duration * options.tokens_per_second,
            created_at=now,
            started_at=started,
            generating_at=started + min(options.queue_seconds, work),
            due_at=started + work,
            error=error,
        )

    def _render_job(self, job: Job) -> bytes:
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
        )
        try:
            video = self._render(spec)
        except Exception:
            logger.exception("rendering generation %s failed", job.id)
            raise
        job.rendered_at = self._options.clock()
        self.stats.completed_at[job.id] = max(job.due_at, job.rendered_at)
        return video

    def _usage(self, job: Job) -> dict[str, Any]:
        return {"usage": {self._options.usage_field: job.usage}}

    def _error_object(self, name: str, message: str, loc: list[str]) -> dict[str, Any]:
        if self._options.error_shape == "detail":
            return {"detail": [{"loc": loc, "msg": message, "type": name}]}
        return {"name": name, "message": message}

    async def _retrieve(self, request: Request) -> Response:
        stats, path = self.stats, request.url.path
        stats.gets += 1
        generation_id = request.query_params.get("generation_id", "")
        if generation_id:
            stats.gets_per_job[generation_id] = stats.gets_per_job.get(generation_id, 0) + 1
        if not _bearer_ok(request):
            return api_error(401, _UNAUTHORIZED, path)
        await self._maybe_slow()
        if not generation_id:
            return api_error(400, "Query validation error: generation_id: Required", path)
        job = self._jobs.get(generation_id)
        if job is None:
            return api_error(404, f"Generation {generation_id} not found", path)
        body = await self._describe(job, request)
        # Trouble between the API and the client: the answer is lost or mangled on its way.
        if self._roll("get_drop"):
            return DroppedResponse(body)
        if self._roll("get_5xx"):
            status, message = self._fault_rng.choice(_GET_5XX)
            return api_error(status, message, path)
        if self._roll("get_html_502"):
            return html_502()
        if self._roll("get_truncated_json"):
            return truncated_json(body)
        return JSONResponse(body)

    async def _describe(self, job: Job, request: Request) -> dict[str, Any]:
        """The generation's JSON at the current clock time."""
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
                video = self._video(job, request)
        return {
            "id": job.id,
            "status": self._options.status_name(phase),
            "meta": self._usage(job),
            "video": video,
            "error": error,
        }

    def _video(self, job: Job, request: Request) -> Any:
        """A fresh signed link, good for ``url_ttl`` from now, in the configured shape."""
        expires_at = self._options.clock() + self._options.url_ttl
        token = self._links.token(job.id, expires_at)
        url = f"{str(request.base_url).rstrip('/')}{FILES_PATH}/{job.id}.mp4?_jwt={token}"
        if self._options.video_shape == "object":
            return {"url": url, "duration": job.params.duration}
        return [url]

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
