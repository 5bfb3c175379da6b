"""``Client`` and ``AsyncClient``: the same methods over one set of flows, two drivers.

Every operation is a flow in ``_flows`` (a generator of actions). ``Client``
performs those actions with blocking I/O and ``AsyncClient`` with ``await``;
that is all either driver does, so retries, the rule for paid requests, the
path fallback, polling and the ledger cannot drift between them. Both take
the same parameters and have the same public methods (checked by a test).

A driver performs one action at a time and sends the result back into the
flow. When performing it raises (a ledger write that fails, Ctrl-C,
cancellation), the exception is thrown into the flow at that point, so the
flow can leave the ledger right (an interrupted create becomes
``uncertain``) before it propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from . import _download
from ._config import (
    API_KEY_ENV,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RECONCILE_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    data_home,
    resolve_api_key,
    resolve_base_url,
)
from ._download import (
    MAX_REDIRECTS,
    Fetched,
    Limits,
    check_headers,
    check_link,
    expected_length,
    finish,
    open_part,
    resolves_internally,
    storage_error,
)
from ._errors import AuthenticationError, DownloadError, describe_exception
from ._flows import (
    Action,
    Blocking,
    Fetch,
    Flow,
    Ledger,
    MemoryLedger,
    Notify,
    OnUpdate,
    Reply,
    RequestFlows,
    Send,
    Sleep,
)
from ._models import (
    DEFAULT_MODEL,
    Generation,
    GenerationRequest,
    PriceQuery,
    Status,
    check_tags,
)
from ._protocol import ACCEPT_ENCODING, BoundedBody, check_generation_id
from ._retry import AnswerTooLarge
from ._secrets import Secret, redact
from ._store import HistoryStore

log = logging.getLogger("gen3widgets")

T = TypeVar("T")


class _BaseClient:
    """What both clients share: settings, the ledger, and building requests from fields."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        endpoint: str | None = None,
        history: HistoryStore | bool = True,
        download_dir: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
    ) -> None:
        key = resolve_api_key(api_key)
        if key is None:
            raise AuthenticationError(
                f"No API key: set the {API_KEY_ENV} environment variable or pass api_key=... "
                "(nothing was sent). Without a key, Client.auto() and the widgets use the "
                "built-in offline simulator.",
                status_code=0,
            )
        self.download_dir = Path(download_dir).expanduser() if download_dir is not None else None
        if history is True:
            self._history: HistoryStore | None = HistoryStore()
        else:
            self._history = history or None
        ledger: Ledger = self._history or MemoryLedger(self.download_dir or data_home() / "videos")
        self._flows = RequestFlows(
            key=Secret(key),
            base_url=resolve_base_url(base_url),
            timeout=timeout,
            max_retries=max_retries,
            endpoint=endpoint,
            ledger=ledger,
            budget_usd=budget_usd,
            reconcile_timeout=reconcile_timeout,
            simulated=False,
        )

    def __repr__(self) -> str:
        mode = ", simulated" if self.is_simulated else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{mode})"

    @property
    def base_url(self) -> str:
        return self._flows.base_url

    @property
    def is_simulated(self) -> bool:
        """True when this client talks to the built-in offline simulator (nothing is bought)."""
        return self._flows.simulated

    @property
    def history(self) -> HistoryStore | None:
        """The ledger every purchase is written to before it is sent (None: ``history=False``)."""
        return self._history

    @property
    def budget_usd(self) -> float | None:
        return self._flows.spending.budget

    @property
    def spent_usd(self) -> float:
        """What generations this client bought were charged, in USD."""
        return self._flows.spending.spent

    @property
    def committed_usd(self) -> float:
        """What this client's purchases in flight will cost at their estimates, in USD."""
        return self._flows.spending.committed

    def check_budget(self, asked_usd: float | None, what: str = "these videos") -> None:
        """Raise ``BudgetExceededError`` if buying ``asked_usd`` more would pass the budget."""
        self._flows.spending.check(asked_usd, what)

    def _simulate(self) -> None:
        self._flows.simulated = True
        if self._history is not None:
            self._history.simulated = True

    @staticmethod
    def _as_request(request: GenerationRequest | None, fields: dict[str, Any]) -> GenerationRequest:
        if request is not None and not isinstance(request, GenerationRequest):
            raise TypeError(
                f"expected a GenerationRequest or keyword fields, not {type(request).__name__}"
            )
        if request is not None:
            return request.replace(**fields) if fields else request
        return GenerationRequest(**fields)

    @classmethod
    def _price_query(cls, request: GenerationRequest | None, fields: dict[str, Any]) -> PriceQuery:
        if request is not None or "image" in fields:
            return cls._as_request(request, fields).price_query
        unknown = set(fields) - {"model", "duration", "ratio", "prompt", "seed", "last_image"}
        if unknown:
            raise TypeError(f"estimate() got unexpected fields: {', '.join(sorted(unknown))}")
        return PriceQuery.of(
            fields.get("model", DEFAULT_MODEL),
            fields.get("duration", 5),
            fields.get("ratio", "16:9"),
        )

    @staticmethod
    def _as_generation(generation: Generation | str) -> Generation:
        if isinstance(generation, Generation):
            return generation
        return Generation(id=check_generation_id(generation), status=Status.QUEUED)

    @staticmethod
    def _prepare(action: Send) -> httpx.Request:
        """The request with its timeout, asking only for encodings ``BoundedBody`` reads."""
        request = action.request
        seconds = action.timeout
        request.extensions["timeout"] = httpx.Timeout(seconds, connect=min(seconds, 10.0)).as_dict()
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", request.method, redact(str(request.url)))
        return request

    @staticmethod
    def _reply(response: httpx.Response, content: bytes) -> Reply:
        return Reply(response.status_code, response.reason_phrase, response.headers, content)


def _body(response: httpx.Response) -> BoundedBody:
    """Where an answer's body is read into, under the cap."""
    if response.is_stream_consumed:  # made and read in-process (a mock transport)
        body = BoundedBody("")
        body.feed(response.content)
        return body
    return BoundedBody(response.headers.get("Content-Encoding", ""))


def _video_timeout() -> httpx.Timeout:
    # Read at call time, so the limits are one setting in ``_download``.
    return httpx.Timeout(_download.IDLE_SECONDS, connect=10.0)


class Client(_BaseClient):
    """A blocking client for Runway image-to-video on the AI/ML API.

    ``Client()`` reads ``AIMLAPI_KEY`` (and ``AIMLAPI_BASE_URL``); without a key it
    raises ``AuthenticationError``. ``Client.auto()`` uses the offline simulator
    instead when no key is set.

    ``endpoint`` chooses the video path: ``"auto"`` (the universal path, falling
    back once to Runway's legacy path where the universal one does not exist),
    ``"universal"`` or ``"legacy"``. ``budget_usd`` caps what this client may
    spend, counting purchases in flight. ``reconcile_timeout`` is how long a lost
    create answer is looked for in the usage logs before ``SubmissionUncertain``.
    ``history`` is where every purchase is written before it is sent (``True``:
    ``GEN3WIDGETS_HOME``). ``transport`` is an ``httpx`` transport (tests).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        endpoint: str | None = None,
        history: HistoryStore | bool = True,
        download_dir: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            endpoint=endpoint,
            history=history,
            download_dir=download_dir,
            budget_usd=budget_usd,
            reconcile_timeout=reconcile_timeout,
        )
        self._http = httpx.Client(transport=transport)

    @classmethod
    def auto(
        cls,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        endpoint: str | None = None,
        history: HistoryStore | bool = True,
        download_dir: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> Client:
        """The real API when a key is set, else the built-in in-process simulator."""
        settings: dict[str, Any] = {
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "endpoint": endpoint,
            "history": history,
            "download_dir": download_dir,
            "budget_usd": budget_usd,
            "reconcile_timeout": reconcile_timeout,
        }
        if resolve_api_key(api_key) is not None or transport is not None:
            return cls(api_key, transport=transport, **settings)
        from ._simulated import SIMULATOR_BASE_URL, SIMULATOR_KEY, sync_transport

        settings["base_url"] = base_url or SIMULATOR_BASE_URL
        client = cls(SIMULATOR_KEY, transport=sync_transport(), **settings)
        client._simulate()
        return client

    # -- public API -----------------------------------------------------------------

    def submit(
        self,
        request: GenerationRequest | None = None,
        /,
        *,
        reconcile_timeout: float | None = None,
        tags: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Generation:
        """Buy one generation and return it at once (status ``queued``).

        ``fields`` are ``GenerationRequest``'s (``prompt``, ``image``, ``model``…).
        The submission is on disk before the request is sent; if its answer is
        lost it is looked up in the usage logs for ``reconcile_timeout`` seconds
        (default: the client's) before ``SubmissionUncertain``. Never sent twice.
        ``tags`` are labels kept with the purchase in the history (a project, a shot).
        """
        flow = self._flows.submit(
            self._as_request(request, fields),
            reconcile_timeout=reconcile_timeout,
            tags=check_tags(tags),
        )
        return self._drive(flow)

    def get(self, generation_id: str) -> Generation:
        """The generation's current state."""
        return self._drive(self._flows.get(generation_id))

    def wait(
        self,
        generation: Generation | str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
    ) -> Generation:
        """Poll until the generation ends; ``GenerationFailed`` or ``GenerationTimeout`` otherwise.

        ``timeout`` (seconds; ``None``: no limit) is a true deadline.
        """
        return self._drive(self._flows.wait(self._as_generation(generation), timeout, on_update))

    def generate(
        self,
        request: GenerationRequest | None = None,
        /,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
        reconcile_timeout: float | None = None,
        tags: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Generation:
        """Submit and wait: the finished generation."""
        generation = self.submit(request, reconcile_timeout=reconcile_timeout, tags=tags, **fields)
        return self.wait(generation, timeout=timeout, on_update=on_update)

    def download(
        self, generation: Generation | str, directory: str | os.PathLike[str] | None = None
    ) -> Path:
        """Save the video into the history's videos folder; also copy it into ``directory``.

        Returns the absolute path of the copy in ``directory`` (or
        ``download_dir``), else of the saved file.
        """
        if isinstance(generation, str):
            generation = self.get(generation)
        folder = Path(directory) if directory is not None else self.download_dir
        return self._drive(self._flows.download(generation, folder))

    def reconcile(self, *, timeout: float = 0.0) -> list[Generation]:
        """Find uncertain submissions in the usage logs; the generations found (never re-sent)."""
        return self._drive(self._flows.reconcile(None, timeout=timeout))

    def estimate(self, request: GenerationRequest | None = None, /, **fields: Any) -> float | None:
        """What a video would cost in USD, from the API's catalogue; None if unquotable.

        Give a request, or the fields a price depends on: ``model``, ``duration``, ``ratio``.
        """
        return self._drive(self._flows.estimate(self._price_query(request, fields)))

    def balance(self) -> float:
        """The account's balance in USD."""
        return self._drive(self._flows.balance())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- driver ---------------------------------------------------------------------

    def _drive(self, flow: Flow[T]) -> T:
        result: object = None
        error: BaseException | None = None
        while True:
            try:
                action = flow.send(result) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            try:
                result = self._perform(action)
            except BaseException as exc:  # thrown into the flow, which decides
                error = exc

    def _perform(self, action: Action) -> object:
        if isinstance(action, Send):
            return self._send(action)
        if isinstance(action, Sleep):
            self._flows.clock.sleep(action.seconds)
            return None
        if isinstance(action, Notify):
            outcome = action.callback(action.generation)
            if inspect.iscoroutine(outcome):
                outcome.close()
                raise TypeError("Client calls on_update synchronously: pass a plain function")
            return None
        if isinstance(action, Blocking):
            return action.work()
        return self._fetch(action)

    def _send(self, action: Send) -> Reply | Exception:
        request = self._prepare(action)
        started = time.monotonic()
        try:
            response = self._http.send(request, stream=True)
            try:
                body = _body(response)
                if not response.is_stream_consumed:
                    for chunk in response.iter_raw():
                        body.feed(chunk)
                        if time.monotonic() - started > action.timeout:
                            raise httpx.ReadTimeout(
                                "the answer trickled in too slowly", request=request
                            )
            finally:
                response.close()
        except (httpx.HTTPError, AnswerTooLarge) as exc:
            return exc
        return self._reply(response, body.content())

    def _fetch(self, action: Fetch) -> Fetched:
        url = action.url
        gid = action.target.stem
        for _hop in range(MAX_REDIRECTS + 1):
            parsed = httpx.URL(url)
            if action.strict and (inside := resolves_internally(parsed.host, parsed.port or 443)):
                raise DownloadError(
                    f"Refusing to download the video of generation {gid}: {parsed.host} "
                    f"resolves to an internal address ({inside})."
                )
            fd, part = open_part(action.target)
            try:
                with (
                    os.fdopen(fd, "wb") as out,
                    self._http.stream("GET", url, timeout=_video_timeout()) as response,
                ):
                    if response.is_redirect:
                        location = response.headers.get("Location", "")
                        url = check_link(
                            str(response.url.join(location)), gid=gid, strict=action.strict
                        )
                        continue
                    if response.status_code != 200:
                        return Fetched(response.status_code)
                    check_headers(response, parsed.host)
                    limits = Limits(parsed.host)
                    for chunk in response.iter_bytes():  # as it arrives: deadlines checked
                        limits.add(chunk)
                        out.write(chunk)
                    expected = expected_length(response)
                return Fetched(200, finish(part, action.target, expected, limits.written))
            except httpx.HTTPError as exc:
                log.warning("Download of %s failed: %s", gid, describe_exception(exc))
                return Fetched(None)
            except OSError as exc:
                raise storage_error(exc, action.target.parent, "save the video") from None
            finally:
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
        raise DownloadError(f"The video link of generation {gid} redirected too many times.")


class AsyncClient(_BaseClient):
    """The ``asyncio`` twin of ``Client``: the same parameters and methods, awaited."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        endpoint: str | None = None,
        history: HistoryStore | bool = True,
        download_dir: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            endpoint=endpoint,
            history=history,
            download_dir=download_dir,
            budget_usd=budget_usd,
            reconcile_timeout=reconcile_timeout,
        )
        self._http = httpx.AsyncClient(transport=transport)

    @classmethod
    def auto(
        cls,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        endpoint: str | None = None,
        history: HistoryStore | bool = True,
        download_dir: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        reconcile_timeout: float = DEFAULT_RECONCILE_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncClient:
        """The real API when a key is set, else the built-in in-process simulator."""
        settings: dict[str, Any] = {
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "endpoint": endpoint,
            "history": history,
            "download_dir": download_dir,
            "budget_usd": budget_usd,
            "reconcile_timeout": reconcile_timeout,
        }
        if resolve_api_key(api_key) is not None or transport is not None:
            return cls(api_key, transport=transport, **settings)
        from ._simulated import SIMULATOR_BASE_URL, SIMULATOR_KEY, async_transport

        settings["base_url"] = base_url or SIMULATOR_BASE_URL
        client = cls(SIMULATOR_KEY, transport=async_transport(), **settings)
        client._simulate()
        return client

    async def submit(
        self,
        request: GenerationRequest | None = None,
        /,
        *,
        reconcile_timeout: float | None = None,
        tags: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Generation:
        """Buy one generation and return it at once (status ``queued``); see ``Client.submit``."""
        flow = self._flows.submit(
            self._as_request(request, fields),
            reconcile_timeout=reconcile_timeout,
            tags=check_tags(tags),
        )
        return await self._drive(flow)

    async def get(self, generation_id: str) -> Generation:
        """The generation's current state."""
        return await self._drive(self._flows.get(generation_id))

    async def wait(
        self,
        generation: Generation | str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
    ) -> Generation:
        """Poll until the generation ends; ``timeout`` (None: no limit) is a true deadline."""
        flow = self._flows.wait(self._as_generation(generation), timeout, on_update)
        return await self._drive(flow)

    async def generate(
        self,
        request: GenerationRequest | None = None,
        /,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_update: OnUpdate | None = None,
        reconcile_timeout: float | None = None,
        tags: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Generation:
        """Submit and wait: the finished generation."""
        generation = await self.submit(
            request, reconcile_timeout=reconcile_timeout, tags=tags, **fields
        )
        return await self.wait(generation, timeout=timeout, on_update=on_update)

    async def download(
        self, generation: Generation | str, directory: str | os.PathLike[str] | None = None
    ) -> Path:
        """Save the video (see ``Client.download``); returns its absolute path."""
        if isinstance(generation, str):
            generation = await self.get(generation)
        folder = Path(directory) if directory is not None else self.download_dir
        return await self._drive(self._flows.download(generation, folder))

    async def reconcile(self, *, timeout: float = 0.0) -> list[Generation]:
        """Find uncertain submissions in the usage logs; the generations found (never re-sent)."""
        return await self._drive(self._flows.reconcile(None, timeout=timeout))

    async def estimate(
        self, request: GenerationRequest | None = None, /, **fields: Any
    ) -> float | None:
        """What a video would cost in USD; see ``Client.estimate``."""
        return await self._drive(self._flows.estimate(self._price_query(request, fields)))

    async def balance(self) -> float:
        """The account's balance in USD."""
        return await self._drive(self._flows.balance())

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

    # -- driver ---------------------------------------------------------------------

    async def _drive(self, flow: Flow[T]) -> T:
        result: object = None
        error: BaseException | None = None
        while True:
            try:
                action = flow.send(result) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result, error = None, None
            try:
                result = await self._perform(action)
            except BaseException as exc:  # thrown into the flow (cancellation too)
                error = exc

    async def _perform(self, action: Action) -> object:
        if isinstance(action, Send):
            return await self._send(action)
        if isinstance(action, Sleep):
            await self._flows.clock.async_sleep(action.seconds)
            return None
        if isinstance(action, Notify):
            outcome = action.callback(action.generation)
            if inspect.isawaitable(outcome):
                await outcome
            return None
        if isinstance(action, Blocking):
            return await asyncio.to_thread(action.work)  # sqlite never blocks the event loop
        return await self._fetch(action)

    async def _send(self, action: Send) -> Reply | Exception:
        request = self._prepare(action)
        try:
            with anyio.fail_after(action.timeout):  # the whole answer, not each read
                response = await self._http.send(request, stream=True)
                try:
                    body = _body(response)
                    if not response.is_stream_consumed:
                        async for chunk in response.aiter_raw():
                            body.feed(chunk)
                finally:
                    await response.aclose()
        except TimeoutError:
            return httpx.ReadTimeout("no whole answer in time", request=request)
        except (httpx.HTTPError, AnswerTooLarge) as exc:
            return exc
        return self._reply(response, body.content())

    async def _fetch(self, action: Fetch) -> Fetched:
        url = action.url
        gid = action.target.stem
        for _hop in range(MAX_REDIRECTS + 1):
            parsed = httpx.URL(url)
            if action.strict:
                inside = await asyncio.to_thread(
                    resolves_internally, parsed.host, parsed.port or 443
                )
                if inside:
                    raise DownloadError(
                        f"Refusing to download the video of generation {gid}: {parsed.host} "
                        f"resolves to an internal address ({inside})."
                    )
            fd, part = open_part(action.target)
            try:
                limits = Limits(parsed.host)
                with os.fdopen(fd, "wb") as out, anyio.fail_after(_download.OVERALL_SECONDS):
                    async with self._stream(url) as response:
                        if response.is_redirect:
                            location = response.headers.get("Location", "")
                            url = check_link(
                                str(response.url.join(location)), gid=gid, strict=action.strict
                            )
                            continue
                        if response.status_code != 200:
                            return Fetched(response.status_code)
                        check_headers(response, parsed.host)
                        async for chunk in response.aiter_bytes():
                            limits.add(chunk)
                            out.write(chunk)
                        expected = expected_length(response)
                problem = await asyncio.to_thread(
                    finish, part, action.target, expected, limits.written
                )
                return Fetched(200, problem)
            except (httpx.HTTPError, TimeoutError) as exc:
                log.warning("Download of %s failed: %s", gid, describe_exception(exc))
                return Fetched(None)
            except OSError as exc:
                raise storage_error(exc, action.target.parent, "save the video") from None
            finally:
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
        raise DownloadError(f"The video link of generation {gid} redirected too many times.")

    @contextlib.asynccontextmanager
    async def _stream(self, url: str) -> AsyncIterator[httpx.Response]:
        async with self._http.stream("GET", url, timeout=_video_timeout()) as response:
            yield response
