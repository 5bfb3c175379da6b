"""``Client`` and ``AsyncClient``: one set of request flows, two ways to drive them.

Each operation (create, retrieve, wait, download) is written once as a
generator that yields what it needs done (send this request, sleep this
long, tell the observer) and receives the result. ``Client`` drives those
generators with blocking I/O and ``AsyncClient`` with ``await``, so the two
can never drift apart on retries, the rule for paid requests, or polling.

Unlike the first layer sketch, the client writes the history itself (loading
``_store`` on first use): every purchase must reach the disk the moment the
create answers, whichever front door made it, not only through the widgets.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._clock import SYSTEM_CLOCK, Clock
from ._config import (
    API_KEY_ENV,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    data_home,
    resolve_api_key,
    resolve_base_url,
)
from ._errors import (
    AuthenticationError,
    DownloadError,
    Gen3Error,
    GenerationFailed,
    GenerationTimeout,
    NotFoundError,
    RateLimitError,
    ServerError,
    SubmissionUncertain,
    TransportError,
    redact,
    register_secret,
)
from ._images import short_text
from ._models import Generation, GenerationRequest, Status

if TYPE_CHECKING:
    from ._store import HistoryStore
from ._polling import DURATIONS, DurationStats, next_poll_delay
from ._protocol import (
    api_error,
    check_generation_id,
    create_url,
    decode_json,
    parse_generation,
)
from ._retry import Backoff, Outcome, classify_exception, classify_status, parse_retry_after

log = logging.getLogger("gen3widgets")

T = TypeVar("T")
OnUpdate = Callable[[Generation], Awaitable[None] | None]

MAX_VIDEO_BYTES = 512 * 1024 * 1024  # a 10 s 1280x768 clip is a few MB; anything huge is wrong
STALE_PART_SECONDS = 3600.0  # a partial download untouched this long was abandoned
VIDEO_CONTENT_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")
_QUEUED = frozenset({Status.QUEUED, Status.WAITING})


# -- what a flow asks its driver to do ------------------------------------------------


@dataclass
class _Send:
    request: httpx.Request


@dataclass
class _Sleep:
    seconds: float


@dataclass
class _Notify:
    callback: OnUpdate
    generation: Generation


@dataclass
class _Fetch:
    """Stream ``url`` into ``path``; the driver answers with the status code."""

    url: str
    path: Path


Action = _Send | _Sleep | _Notify | _Fetch
Flow = Generator[Action, Any, T]


class _Secret:
    """Holds the API key; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    def __reduce__(self) -> Any:
        raise TypeError("the API key holder cannot be pickled")


def _describe_exception(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")


class _BaseClient:
    """Settings and the request flows shared by ``Client`` and ``AsyncClient``."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: Any = None,
        download_dir: str | os.PathLike[str] | None = None,
        history: HistoryStore | bool = True,
        _clock: Clock | None = None,
        _durations: DurationStats | None = None,
        _backoff: Backoff | None = None,
        _simulated: bool = False,
    ) -> None:
        key = resolve_api_key(api_key)
        if key is None:
            raise AuthenticationError(
                f"No API key: set the {API_KEY_ENV} environment variable or pass api_key=... "
                "(nothing was sent). Without a key, Client.auto() and the widgets use the "
                "built-in offline simulator.",
                status_code=0,
            )
        self._key = _Secret(key)
        self.base_url = resolve_base_url(base_url)
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self._history_setting = history
        self._history: HistoryStore | None = None
        self.is_simulated = _simulated
        self._clock: Clock = _clock or SYSTEM_CLOCK
        self._durations = _durations or DURATIONS
        self._backoff = _backoff or Backoff()
        # When this client created a job (clock time); lets wait() schedule from submission.
        self._submitted: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        mode = ", simulated" if self.is_simulated else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{mode})"

    @property
    def history(self) -> HistoryStore | None:
        """Where this client records every generation it buys (``None`` when turned off).

        Every id is written the moment the create answers, so nothing bought is
        lost if the process dies: ``gen3widgets.history()`` lists it afterwards.
        """
        if self._history is None and self._history_setting is not False:
            if self._history_setting is True:
                from ._store import HistoryStore  # the store sits above; load it on use

                self._history = HistoryStore()
            else:
                self._history = self._history_setting
        return self._history

    def _record(self, write: Callable[[HistoryStore], None]) -> None:
        store = self.history
        if store is None:
            return
        try:
            write(store)
        except Exception:  # a full disk must not lose the answer the caller paid for
            log.exception("Could not write to the generation history at %s", store.path)

    # -- building requests ----------------------------------------------------------

    def _api_request(self, method: str, **kwargs: Any) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {self._key.reveal()}",
            "Accept": "application/json",
            "User-Agent": "gen3widgets",
        }
        return httpx.Request(method, create_url(self.base_url), headers=headers, **kwargs)

    def _as_request(
        self, request: GenerationRequest | None, fields: dict[str, Any]
    ) -> GenerationRequest:
        if request is not None and fields:
            return request.replace(**fields)
        if request is not None:
            if not isinstance(request, GenerationRequest):
                raise TypeError(
                    f"submit() takes a GenerationRequest or keyword fields, not {type(request).__name__}"
                )
            return request
        return GenerationRequest(**fields)

    # -- flows ----------------------------------------------------------------------

    def _create_flow(self, request: GenerationRequest) -> Flow[Generation]:
        """Buy one generation and record it in the history before anything else."""
        try:
            generation = yield from self._buy_flow(request)
        except SubmissionUncertain as exc:
            cause = exc.cause
            self._record(
                lambda store: store.record_uncertain(request, server=self.base_url, cause=cause)
            )
            raise
        generation.submitted_at = time.time()
        self._record(
            lambda store: store.record_submitted(
                generation, server=self.base_url, simulated=self.is_simulated
            )
        )
        return generation

    def _buy_flow(self, request: GenerationRequest) -> Flow[Generation]:
        """Send the create, following the rule for paid requests exactly."""
        attempt = 0
        while True:
            result = yield _Send(self._api_request("POST", json=request.to_payload()))
            retry_after: float | None = None
            if isinstance(result, Exception):
                outcome = classify_exception(result, paid=True)
                if outcome is Outcome.UNCERTAIN:
                    raise SubmissionUncertain(request, _describe_exception(result))
                if outcome is Outcome.FAIL:
                    raise result
                failure: Gen3Error = TransportError(
                    f"Could not connect to {self.base_url} ({_describe_exception(result)}). "
                    "Nothing was sent or bought. Check your network and AIMLAPI_BASE_URL."
                )
            else:
                response: httpx.Response = result
                if response.is_success:
                    try:
                        generation = parse_generation(decode_json(response.text), request)
                    except TransportError as exc:
                        raise SubmissionUncertain(
                            request, f"the create answered {response.status_code} but {exc}"
                        ) from None
                    self._remember_submission(generation)
                    log.info("Submitted generation %s (seed %s).", generation.id, request.seed)
                    return generation
                outcome = classify_status(response.status_code, paid=True)
                if outcome is Outcome.UNCERTAIN:
                    raise SubmissionUncertain(
                        request,
                        f"the server answered {response.status_code} {response.reason_phrase}",
                    )
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                failure = api_error(
                    response.status_code,
                    response.text,
                    retry_after=retry_after,
                    what="create request",
                )
                if outcome is Outcome.FAIL:
                    raise failure
            if attempt >= self.max_retries:
                raise failure
            attempt += 1
            delay = self._backoff.delay(attempt, retry_after)
            log.info(
                "Create not accepted (%s); nothing bought; retrying in %.1f s.", failure, delay
            )
            yield _Sleep(delay)

    def _get_flow(
        self, generation_id: str, request: GenerationRequest | None = None
    ) -> Flow[Generation]:
        """Retrieve a generation, retrying any transient failure (GETs are free)."""
        check_generation_id(generation_id)
        attempt = 0
        while True:
            result = yield _Send(self._api_request("GET", params={"generation_id": generation_id}))
            retry_after: float | None = None
            if isinstance(result, Exception):
                if classify_exception(result, paid=False) is Outcome.FAIL:
                    raise result
                failure: Gen3Error = TransportError(
                    f"Could not get generation {generation_id} from {self.base_url}: "
                    f"{_describe_exception(result)}."
                )
            else:
                response: httpx.Response = result
                if response.is_success:
                    try:
                        return parse_generation(decode_json(response.text), request)
                    except TransportError as exc:
                        failure = exc  # a truncated body: ask again
                else:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    failure = api_error(
                        response.status_code, response.text, retry_after=retry_after
                    )
                    if classify_status(response.status_code, paid=False) is Outcome.FAIL:
                        if isinstance(failure, NotFoundError):
                            failure = NotFoundError(
                                f"Generation {generation_id} was not found on {self.base_url} "
                                "(404). Check the id, and that it was made with this API key.",
                                status_code=404,
                                server_message=failure.server_message,
                                request_id=failure.request_id,
                                body=failure.body,
                            )
                        raise failure
            if attempt >= self.max_retries:
                raise failure
            attempt += 1
            yield _Sleep(self._backoff.delay(attempt, retry_after))

    def _wait_flow(
        self,
        generation_or_id: Generation | str,
        timeout: float | None,
        on_update: OnUpdate | None,
    ) -> Flow[Generation]:
        if isinstance(generation_or_id, Generation):
            generation = generation_or_id
        else:
            generation = Generation(id=check_generation_id(generation_or_id), status=Status.QUEUED)
        timeout = DEFAULT_WAIT_TIMEOUT if timeout is None else timeout
        clock = self._clock
        now = clock.now()
        deadline = now + timeout
        submitted = self._submitted.get(generation.id)
        # A job this client did not just submit may have finished long ago: look at once.
        since = submitted if submitted is not None else now
        running_at = since  # the last time the job was seen unfinished
        first = submitted is None
        clip = generation.request.duration if generation.request else None
        warned_transient = False
        while not generation.done:
            if first:
                delay, first = 0.0, False
            else:
                earliest = self._durations.earliest(self.base_url, clip)
                delay = next_poll_delay(now - since, earliest)
            delay = min(delay, max(deadline - now, 0.0))
            if delay > 0:
                yield _Sleep(delay)
            try:
                fresh = yield from self._get_flow(generation.id, generation.request)
            except (TransportError, ServerError, RateLimitError) as exc:
                # The job keeps running server-side; a flaky poll must not end the wait.
                if not warned_transient:
                    log.warning("Polling %s failed (%s); will keep trying.", generation.id, exc)
                    warned_transient = True
                fresh = None
            now = clock.now()
            if fresh is not None:
                changed = generation.update_from(fresh)
                if clip is None and fresh.request is not None:
                    clip = fresh.request.duration
                if generation.status in _QUEUED:
                    since = now
                if not generation.done:
                    running_at = now
                elif generation.ok:
                    # It finished between the last two looks: learn the midpoint, not the
                    # moment it was noticed, or slow early polls would inflate what is learned.
                    generation.job_seconds = (running_at + now) / 2 - since
                    if clip is not None:
                        self._durations.observe(self.base_url, clip, generation.job_seconds)
                if changed and on_update is not None:
                    yield _Notify(on_update, generation)
            if not generation.done and now >= deadline:
                self._record(lambda store: store.update(generation))
                raise GenerationTimeout(generation, timeout)
        self._submitted.pop(generation.id, None)
        self._record(lambda store: store.update(generation))
        if generation.status.failed:
            raise GenerationFailed(generation)
        return generation

    def _download_flow(
        self, generation: Generation, directory: str | os.PathLike[str] | None
    ) -> Flow[Path]:
        gid = check_generation_id(generation.id)
        folder = Path(directory) if directory is not None else self.download_dir
        if folder is None:
            folder = self.history.videos_dir if self.history else data_home() / "videos"
        target = folder / f"{gid}.mp4"
        if target.is_file() and target.stat().st_size > 0:
            generation.local_path = target
            self._record(lambda store: store.update(generation))
            return target
        if not generation.video_url:
            fresh = yield from self._get_flow(gid, generation.request)
            generation.update_from(fresh)
        if not generation.ok or not generation.video_url:
            raise DownloadError(
                f"Generation {gid} has no video to download (status '{generation.status}'). "
                "Wait for it to complete first."
            )
        folder.mkdir(parents=True, exist_ok=True)
        refreshed = False
        attempt = 0
        while True:
            _check_video_url(gid, generation.video_url)
            status = yield _Fetch(generation.video_url, target)
            if status == 200:
                generation.local_path = target
                self._record(lambda store: store.update(generation))
                log.info("Saved generation %s to %s.", gid, target)
                return target
            if status in (401, 403, 404, 410) and not refreshed:
                # The signed URL expired: one fresh GET gives a new one.
                refreshed = True
                fresh = yield from self._get_flow(gid, generation.request)
                generation.update_from(fresh)
                if fresh.video_url:
                    generation.video_url = fresh.video_url
                continue
            final_status = status is not None and status < 500 and status != 429
            if final_status or attempt >= self.max_retries:
                raise DownloadError(
                    f"Could not download the video of generation {gid}: the video host answered "
                    f"{status if status is not None else 'with a network error'}. "
                    + (
                        "The link may have expired; get a fresh one with client.get(id)."
                        if status in (401, 403, 404, 410)
                        else "Try again with client.download(generation)."
                    )
                )
            attempt += 1
            yield _Sleep(self._backoff.delay(attempt))

    def _remember_submission(self, generation: Generation) -> None:
        self._submitted[generation.id] = self._clock.now()
        while len(self._submitted) > 1000:
            self._submitted.popitem(last=False)

    # -- shared pieces of the drivers ----------------------------------------------------

    @staticmethod
    def _check_video_response(response: httpx.Response, url: str) -> None:
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind and not kind.startswith(VIDEO_CONTENT_TYPES):
            raise DownloadError(
                f"Refusing the download from {httpx.URL(url).host}: it is {kind!r}, not a video."
            )
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > MAX_VIDEO_BYTES:
            raise DownloadError(
                f"Refusing the download from {httpx.URL(url).host}: {int(length)} bytes is far "
                "larger than any gen3a_turbo video."
            )

    @staticmethod
    def _temp_file(target: Path) -> tuple[int, Path]:
        # Leftovers of a crashed download are removed once clearly abandoned; a
        # younger one may belong to another kernel downloading the same video.
        cutoff = time.time() - STALE_PART_SECONDS
        for stale in target.parent.glob(f".{target.stem}.*.part"):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink()
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".part", dir=target.parent)
        return fd, Path(name)

    @staticmethod
    def _too_large(written: int) -> None:
        if written > MAX_VIDEO_BYTES:
            raise DownloadError(
                "Refusing the download: the video host sent far more bytes than a video."
            )

    def _log_send(self, request: httpx.Request) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", request.method, redact(str(request.url)))


def _check_video_url(gid: str, url: str | None) -> None:
    """Only ever fetch a video over http(s), whatever link the server hands out."""
    scheme = url.partition(":")[0].strip().lower() if url else ""
    if scheme not in ("http", "https"):
        raise DownloadError(
            f"Refusing to download the video of generation {gid}: its link "
            f"{short_text(str(url), 80)!r} is not an http(s) URL."
        )


def _http_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


class Client(_BaseClient):
    """A blocking client for the AI/ML API's Runway gen3a_turbo endpoints.

    ``Client()`` reads ``AIMLAPI_KEY`` (and ``AIMLAPI_BASE_URL``); without a key
    it raises ``AuthenticationError``. ``Client.auto()`` uses the offline
    simulator instead when no key is set.
    """

    def __init__(self, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        transport = kwargs.get("transport")
        self._http = httpx.Client(transport=transport, timeout=_http_timeout(self.timeout))

    @classmethod
    def auto(cls, api_key: str | None = None, **kwargs: Any) -> Client:
        """The real API when a key is set, else the built-in in-process simulator."""
        from ._simulated import simulated_settings

        return cls(**simulated_settings(api_key, asynchronous=False, **kwargs))

    # -- public API -----------------------------------------------------------------

    def submit(self, request: GenerationRequest | None = None, /, **fields: Any) -> Generation:
        """Buy one generation and return it at once (status ``queued``)."""
        return self._drive(self._create_flow(self._as_request(request, fields)))

    def get(self, generation_id: str) -> Generation:
        """The generation's current state."""
        return self._drive(self._get_flow(generation_id))

    def wait(
        self,
        generation_or_id: Generation | str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
    ) -> Generation:
        """Poll until the generation completes; raise ``GenerationFailed`` or ``GenerationTimeout``."""
        return self._drive(self._wait_flow(generation_or_id, timeout, on_update))

    def generate(
        self,
        request: GenerationRequest | None = None,
        /,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
        **fields: Any,
    ) -> Generation:
        """Submit and wait: the finished generation."""
        generation = self.submit(request, **fields)
        return self.wait(generation, timeout=timeout, on_update=on_update)

    def download(
        self, generation: Generation | str, directory: str | os.PathLike[str] | None = None
    ) -> Path:
        """Save the video (streamed to a temporary file, then renamed); returns its path."""
        if isinstance(generation, str):
            generation = self.get(generation)
        return self._drive(self._download_flow(generation, directory))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- driver ---------------------------------------------------------------------

    def _drive(self, flow: Flow[T]) -> T:
        result: Any = None
        try:
            while True:
                action = flow.send(result)
                result = None
                if isinstance(action, _Send):
                    self._log_send(action.request)
                    try:
                        result = self._http.send(action.request)
                        result.read()
                    except httpx.HTTPError as exc:
                        result = exc
                elif isinstance(action, _Sleep):
                    self._clock.sleep(action.seconds)
                elif isinstance(action, _Notify):
                    action.callback(action.generation)
                else:
                    result = self._fetch(action)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _fetch(self, action: _Fetch) -> int | None:
        fd, part = self._temp_file(action.path)
        try:
            with (
                os.fdopen(fd, "wb") as out,
                self._http.stream("GET", action.url, follow_redirects=True) as r,
            ):
                if r.status_code != 200:
                    return r.status_code
                self._check_video_response(r, action.url)
                written = 0
                for chunk in r.iter_bytes(1 << 16):
                    written += len(chunk)
                    self._too_large(written)
                    out.write(chunk)
            os.replace(part, action.path)
            return 200
        except httpx.HTTPError as exc:
            log.warning("Download of %s failed: %s", action.path.name, _describe_exception(exc))
            return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()


class AsyncClient(_BaseClient):
    """The ``asyncio`` twin of ``Client``: the same methods, awaited."""

    def __init__(self, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        transport = kwargs.get("transport")
        self._http = httpx.AsyncClient(transport=transport, timeout=_http_timeout(self.timeout))

    @classmethod
    def auto(cls, api_key: str | None = None, **kwargs: Any) -> AsyncClient:
        """The real API when a key is set, else the built-in in-process simulator."""
        from ._simulated import simulated_settings

        return cls(**simulated_settings(api_key, asynchronous=True, **kwargs))

    async def submit(
        self, request: GenerationRequest | None = None, /, **fields: Any
    ) -> Generation:
        """Buy one generation and return it at once (status ``queued``)."""
        return await self._drive(self._create_flow(self._as_request(request, fields)))

    async def get(self, generation_id: str) -> Generation:
        """The generation's current state."""
        return await self._drive(self._get_flow(generation_id))

    async def wait(
        self,
        generation_or_id: Generation | str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
    ) -> Generation:
        """Poll until the generation completes; raise ``GenerationFailed`` or ``GenerationTimeout``."""
        return await self._drive(self._wait_flow(generation_or_id, timeout, on_update))

    async def generate(
        self,
        request: GenerationRequest | None = None,
        /,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
        **fields: Any,
    ) -> Generation:
        """Submit and wait: the finished generation."""
        generation = await self.submit(request, **fields)
        return await self.wait(generation, timeout=timeout, on_update=on_update)

    async def download(
        self, generation: Generation | str, directory: str | os.PathLike[str] | None = None
    ) -> Path:
        """Save the video (streamed to a temporary file, then renamed); returns its path."""
        if isinstance(generation, str):
            generation = await self.get(generation)
        return await self._drive(self._download_flow(generation, directory))

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _drive(self, flow: Flow[T]) -> T:
        result: Any = None
        try:
            while True:
                action = flow.send(result)
                result = None
                if isinstance(action, _Send):
                    self._log_send(action.request)
                    try:
                        result = await self._http.send(action.request)
                        await result.aread()
                    except httpx.HTTPError as exc:
                        result = exc
                elif isinstance(action, _Sleep):
                    await self._clock.async_sleep(action.seconds)
                elif isinstance(action, _Notify):
                    outcome = action.callback(action.generation)
                    if inspect.isawaitable(outcome):
                        await outcome
                else:
                    result = await self._fetch(action)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _fetch(self, action: _Fetch) -> int | None:
        fd, part = self._temp_file(action.path)
        try:
            with os.fdopen(fd, "wb") as out:
                async with self._http.stream("GET", action.url, follow_redirects=True) as r:
                    if r.status_code != 200:
                        return r.status_code
                    self._check_video_response(r, action.url)
                    written = 0
                    async for chunk in r.aiter_bytes(1 << 16):
                        written += len(chunk)
                        self._too_large(written)
                        out.write(chunk)
            os.replace(part, action.path)
            return 200
        except httpx.HTTPError as exc:
            log.warning("Download of %s failed: %s", action.path.name, _describe_exception(exc))
            return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
