"""Client and AsyncClient against an independent imitation of the contract.

Every test runs twice, once per client, through the same ``api`` fixture.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

import gen3widgets as g3
from gen3widgets._retry import Backoff
from tests.contract_api import (
    BASE,
    ContractAPI,
    Fault,
    html_502,
    raising,
    status,
    truncated,
)
from tests.fakes import FakeClock

KEY = "sk-live-TOPSECRET-0123456789"
IMAGE = "https://images.example.com/cat.png"


class Api:
    """One face for both clients: async calls are run on a private loop."""

    def __init__(self, client: g3.Client | g3.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                return self._loop.run_until_complete(result)
            return result

        return call


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def server(clock: FakeClock) -> ContractAPI:
    return ContractAPI(clock)


@pytest.fixture
def make_api(kind: str, clock: FakeClock, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Any:
    made: list[Api] = []

    def make(server: ContractAPI, **kwargs: Any) -> Api:
        cls = g3.Client if kind == "sync" else g3.AsyncClient
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("download_dir", tmp_path / "videos")
        client = cls(
            transport=server.transport(),
            _clock=clock,
            _durations=g3._polling.DurationStats()
            if "_durations" not in kwargs
            else kwargs.pop("_durations"),
            **kwargs,
        )
        api = Api(client, loop)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(make_api: Any, server: ContractAPI) -> Api:
    return make_api(server)


def png_bytes(size: tuple[int, int] = (64, 36)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(buffer, "PNG")
    return buffer.getvalue()


# -- configuration and validation ------------------------------------------------------


def test_no_key_raises_naming_the_variable_and_sends_nothing(
    kind: str, server: ContractAPI
) -> None:
    cls = g3.Client if kind == "sync" else g3.AsyncClient
    with pytest.raises(g3.AuthenticationError, match="AIMLAPI_KEY"):
        cls(transport=server.transport())
    assert server.requests == []


def test_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, api: Api, server: ContractAPI, make_api: Any
) -> None:
    monkeypatch.setenv("AIMLAPI_KEY", "env-key-123456")
    env_api = make_api(server, api_key=None)
    env_api.submit(image=IMAGE)
    assert server.requests[-1].headers["Authorization"] == "Bearer env-key-123456"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"image": IMAGE, "ratio": "4:3"}, "ratio"),
        ({"image": IMAGE, "duration": 7}, "duration"),
        ({"image": IMAGE, "duration": "5"}, "duration"),
        ({"image": IMAGE, "seed": 4_294_967_296}, "seed"),
        ({"image": IMAGE, "seed": -1}, "seed"),
        ({"image": IMAGE, "seed": True}, "seed"),
        ({"image": IMAGE, "prompt": "😀" * 501}, "prompt"),
        ({"image": "http://images.example.com/a.png"}, "image"),
        ({"image": "ftp://images.example.com/a.png"}, "image"),
        ({"image": "https://10.0.0.1/a.png"}, "image"),
        ({"image": "https://example.com/" + "a" * 2100}, "image"),
        ({"image": "/no/such/file.png"}, "image"),
        ({"image": b"not an image"}, "image"),
        ({"image": IMAGE, "last_image": "http://x.example.com/b.png"}, "last_image"),
        ({}, "image"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    api: Api, server: ContractAPI, fields: dict[str, Any], bad: str
) -> None:
    with pytest.raises(g3.ValidationError) as info:
        api.submit(**fields)
    assert bad in info.value.problems
    assert server.requests == []


def test_validation_lists_every_problem() -> None:
    with pytest.raises(g3.ValidationError) as info:
        g3.GenerationRequest(prompt=1, image="http://1.2.3.4/x", duration=3, ratio="1:1", seed=-5)  # type: ignore[arg-type]
    assert set(info.value.problems) == {"prompt", "image", "duration", "ratio", "seed"}
    assert "nothing was sent" in str(info.value)


def test_prompt_counts_utf16_code_units() -> None:
    g3.GenerationRequest(prompt="😀" * 500, image=IMAGE)  # 1000 units: fits
    with pytest.raises(g3.ValidationError, match="1002 UTF-16"):
        g3.GenerationRequest(prompt="😀" * 501, image=IMAGE)


def test_local_images_become_data_uris_and_ratio_from_image_checks_aspect(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    path.write_bytes(png_bytes((64, 36)))
    request = g3.GenerationRequest(image=path, ratio=None)
    assert request.image.startswith("data:image/png;base64,")
    assert request.image_info.width == 64
    too_wide = tmp_path / "wide.png"
    too_wide.write_bytes(png_bytes((300, 100)))
    with pytest.raises(g3.ValidationError, match=r"aspect ratio 3\.00"):
        g3.GenerationRequest(image=too_wide, ratio=None)
    assert g3.GenerationRequest(image=too_wide, ratio="16:9").ratio == "16:9"
    pil = Image.new("RGB", (40, 30))
    assert g3.GenerationRequest(image=pil).image.startswith("data:image/png")


def test_corrupt_png_and_mislabelled_data_uri_are_refused() -> None:
    data = png_bytes()
    with pytest.raises(g3.ValidationError, match="corrupt or truncated"):
        g3.GenerationRequest(image=data[: len(data) // 2])
    import base64

    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    with pytest.raises(g3.ValidationError, match="holds a PNG"):
        g3.GenerationRequest(image=uri)


# -- the happy path --------------------------------------------------------------------


def test_submit_sends_the_documented_payload(api: Api, server: ContractAPI) -> None:
    generation = api.submit(prompt="a cat", image=IMAGE, seed=42)
    sent = json.loads(server.requests[0].content)
    assert sent == {
        "model": "gen3a_turbo",
        "image_url": IMAGE,
        "prompt": "a cat",
        "duration": 5,
        "ratio": "16:9",
        "seed": 42,
    }
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert generation.status is g3.Status.QUEUED
    assert generation.tokens_used == 262500
    assert generation.request is not None and generation.request.seed == 42


@pytest.mark.parametrize("shape", ["list", "object"])
@pytest.mark.parametrize("usage_key", ["tokens_used", "credits_used"])
def test_generate_follows_waiting_and_processing_to_the_video(
    make_api: Any, clock: FakeClock, shape: str, usage_key: str
) -> None:
    server = ContractAPI(clock, video_shape=shape, usage_key=usage_key)
    api = make_api(server)
    seen: list[str] = []
    generation = api.generate(image=IMAGE, on_update=lambda gen: seen.append(gen.status.value))
    assert generation.ok and generation.done
    assert generation.video_url and generation.video_url.startswith("https://cdn.test/")
    assert generation.tokens_used == 262500
    assert seen == ["waiting", "processing", "completed"]


def test_async_on_update_may_be_a_coroutine(
    clock: FakeClock, loop: asyncio.AbstractEventLoop
) -> None:
    server = ContractAPI(clock)
    client = g3.AsyncClient(KEY, base_url=BASE, transport=server.transport(), _clock=clock)
    seen: list[str] = []

    async def note(gen: g3.Generation) -> None:
        await asyncio.sleep(0)
        seen.append(gen.status.value)

    loop.run_until_complete(client.generate(image=IMAGE, on_update=note))
    loop.run_until_complete(client.close())
    assert seen[-1] == "completed"


def test_completion_is_noticed_within_a_second_with_few_gets(
    make_api: Any, clock: FakeClock
) -> None:
    durations = g3._polling.DurationStats()
    for seconds in (6.0, 7.3, 8.1, 9.4, 10.0, 6.6, 9.9, 7.7):
        server = ContractAPI(clock, job_seconds=seconds)
        api = make_api(server, _durations=durations)
        generation = api.submit(image=IMAGE)
        done_at = clock.now() + seconds
        api.wait(generation)
        assert clock.now() - done_at <= 1.0, f"noticed {clock.now() - done_at:.2f} s late"
        assert server.counts["gets"] <= 10


def test_an_unknown_status_is_polled_through_and_logged_once(
    make_api: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = ContractAPI(clock, phases=("rendering-frames", "rendering-frames"))
    api = make_api(server)
    with caplog.at_level(logging.WARNING, logger="gen3widgets"):
        generation = api.generate(image=IMAGE)
    assert generation.ok
    unknown = [r for r in caplog.records if "unknown status" in r.getMessage()]
    assert len(unknown) <= 1  # once per process, whichever test saw it first


def test_wait_by_id_looks_at_once(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, job_seconds=1)
    first = make_api(server).submit(image=IMAGE)
    clock.advance(100)
    fresh = make_api(server)  # e.g. after a kernel restart
    start = clock.now()
    generation = fresh.wait(first.id)
    assert generation.ok and clock.now() == start
    assert server.counts["gets"] == 1


# -- failures and deadlines ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            {"name": "ContentModeration", "message": "The prompt was flagged"},
            "ContentModeration: The prompt was flagged",
        ),
        (
            {"detail": [{"loc": ["body", "prompt"], "msg": "too long", "type": "value_error"}]},
            "body.prompt: too long",
        ),
        ("Generation timeout", "Generation timeout"),
        ({}, "status 'error' without a reason"),
    ],
)
def test_a_failed_generation_raises_with_a_readable_reason(
    make_api: Any, clock: FakeClock, error: Any, sentence: str
) -> None:
    server = ContractAPI(clock, fail_with=error)
    api = make_api(server)
    with pytest.raises(g3.GenerationFailed) as info:
        api.generate(image=IMAGE)
    assert info.value.generation.status is g3.Status.ERROR
    assert sentence in (info.value.generation.error or "")
    assert sentence in str(info.value)
    assert server.bought == 1


def test_wait_times_out_at_the_deadline(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, job_seconds=1000)
    api = make_api(server)
    generation = api.submit(image=IMAGE)
    start = clock.now()
    with pytest.raises(g3.GenerationTimeout) as info:
        api.wait(generation, timeout=30)
    assert 30 <= clock.now() - start <= 31
    assert info.value.generation.id == generation.id
    assert generation.id in str(info.value)


# -- the rule for paid requests --------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        [raising(httpx.ConnectError)],
        [raising(httpx.ConnectTimeout), raising(httpx.ConnectError)],
        [status(429)],
        [status(429, headers={"Retry-After": "7"})],
        [status(503), status(429)],
    ],
    ids=["refused", "refused-twice", "429", "429-retry-after", "503-then-429"],
)
def test_safe_create_failures_are_retried_and_bought_once(
    make_api: Any, clock: FakeClock, faults: list[Fault]
) -> None:
    server = ContractAPI(clock, create_faults=list(faults))
    api = make_api(server)
    generation = api.submit(image=IMAGE)
    assert generation.id in server.jobs
    assert server.bought == 1
    assert server.counts["creates"] == len(faults) + 1


def test_retry_after_is_honoured(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, create_faults=[status(429, headers={"Retry-After": "7"})])
    api = make_api(server)
    api.submit(image=IMAGE)
    assert clock.sleeps == [7.0]


@pytest.mark.parametrize(
    "fault",
    [
        raising(httpx.ReadTimeout, bought=True),
        raising(httpx.RemoteProtocolError, bought=True),
        raising(httpx.ReadError, bought=False),
        raising(httpx.WriteError, bought=False),
        status(500),
        status(502),
        html_502(),
        status(504, {"message": "Generation timeout", "statusCode": 504}),
        truncated(bought=True),
    ],
    ids=[
        "read-timeout",
        "dropped",
        "read-error",
        "write-error",
        "500",
        "502",
        "html-502",
        "504",
        "truncated",
    ],
)
def test_ambiguous_create_failures_are_never_sent_again(
    make_api: Any, clock: FakeClock, fault: Fault
) -> None:
    server = ContractAPI(clock, create_faults=[fault])
    api = make_api(server)
    request = g3.GenerationRequest(image=IMAGE, seed=7)
    with pytest.raises(g3.SubmissionUncertain) as info:
        api.submit(request)
    assert server.counts["creates"] == 1
    assert info.value.request == request
    assert "NOT sent again" in str(info.value)


def test_rate_limit_that_never_clears_buys_nothing(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, create_faults=[status(429)] * 10)
    api = make_api(server, max_retries=3)
    with pytest.raises(g3.RateLimitError):
        api.submit(image=IMAGE)
    assert server.counts["creates"] == 4
    assert server.bought == 0


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, g3.APIError),
        (401, g3.AuthenticationError),
        (403, g3.InsufficientCreditsError),
        (404, g3.NotFoundError),
    ],
)
def test_final_create_errors_are_raised_with_the_server_message(
    make_api: Any, clock: FakeClock, code: int, error: type[g3.APIError]
) -> None:
    body = {
        "message": "Invalid enum value",
        "path": "/v2/...",
        "requestId": "req-9",
        "statusCode": code,
    }
    server = ContractAPI(clock, create_faults=[status(code, body)])
    api = make_api(server)
    with pytest.raises(error) as info:
        api.submit(image=IMAGE)
    assert info.value.status_code == code
    assert info.value.request_id == "req-9"
    assert info.value.server_message == "Invalid enum value"
    assert server.counts["creates"] == 1


# -- GETs are free: retried through every transient fault -------------------------------


def test_gets_survive_every_transient_fault(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(
        clock,
        get_faults=[
            html_502(),
            truncated(),
            raising(httpx.RemoteProtocolError),
            raising(httpx.ReadTimeout),
            status(500),
            status(503),
            status(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            raising(httpx.ConnectError),
        ],
    )
    api = make_api(server)
    generation = api.generate(image=IMAGE)
    assert generation.ok
    assert server.bought == 1


def test_get_of_an_unknown_id_is_not_found(api: Api) -> None:
    with pytest.raises(g3.NotFoundError, match="was not found"):
        api.get("no-such-id")


def test_an_id_that_could_name_a_path_is_refused(api: Api, server: ContractAPI) -> None:
    with pytest.raises(g3.TransportError, match="unusable generation id"):
        api.get("../../etc/passwd")
    assert server.requests == []


# -- downloads -------------------------------------------------------------------------


def test_download_streams_to_disk_without_the_key(
    api: Api, server: ContractAPI, tmp_path: Path
) -> None:
    generation = api.generate(image=IMAGE)
    path = api.download(generation, tmp_path / "out")
    assert path == tmp_path / "out" / f"{generation.id}.mp4"
    assert path.read_bytes() == server.video_bytes
    assert generation.local_path == path
    assert server.counts["downloads_with_auth"] == 0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_an_expired_video_url_is_refreshed_once(
    api: Api, server: ContractAPI, tmp_path: Path
) -> None:
    generation = api.generate(image=IMAGE)
    server.expired_versions.add(1)
    path = api.download(generation, tmp_path)
    assert path.read_bytes() == server.video_bytes
    assert "_jwt=v2" in (generation.video_url or "")


def test_a_url_that_stays_expired_gives_a_clear_error(
    api: Api, server: ContractAPI, tmp_path: Path
) -> None:
    generation = api.generate(image=IMAGE)
    server.expired_versions.update({1, 2, 3})
    with pytest.raises(g3.DownloadError, match="expired"):
        api.download(generation, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_non_video_content_is_refused(api: Api, server: ContractAPI, tmp_path: Path) -> None:
    server.video_content_type = "text/html"
    generation = api.generate(image=IMAGE)
    with pytest.raises(g3.DownloadError, match="not a video"):
        api.download(generation, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_download_leaves_no_file_and_is_retried(
    api: Api, server: ContractAPI, tmp_path: Path
) -> None:
    server.video_faults = [raising(httpx.RemoteProtocolError), status(503)]
    generation = api.generate(image=IMAGE)
    path = api.download(generation, tmp_path)
    assert path.read_bytes() == server.video_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# -- secrets ---------------------------------------------------------------------------


def test_the_key_never_shows(
    make_api: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"message": f"Invalid key Bearer {KEY}", "statusCode": 401}
    server = ContractAPI(clock, create_faults=[status(401, echo), status(500)])
    api = make_api(server)
    with caplog.at_level(logging.DEBUG, logger="gen3widgets"):
        with pytest.raises(g3.AuthenticationError) as auth:
            api.submit(image=IMAGE)
        with pytest.raises(g3.SubmissionUncertain) as uncertain:
            api.submit(image=IMAGE)
        api.generate(image=IMAGE)
    texts = [repr(api.client), str(auth.value), repr(auth.value), str(auth.value.server_message)]
    texts += [str(uncertain.value), caplog.text, repr(vars(api.client))]
    for text in texts:
        assert KEY not in text


def test_the_key_holder_cannot_be_pickled(api: Api) -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(api.client._key)


# -- small pure pieces -----------------------------------------------------------------


def test_backoff_grows_and_respects_retry_after() -> None:
    backoff = Backoff(base=0.5, cap=8.0)
    assert backoff.delay(3, retry_after=12.0) == 12.0
    delays = [backoff.delay(n) for n in range(1, 8)]
    assert all(0 < d <= 8.0 for d in delays)
    assert delays[-1] >= 4.0


def test_retry_after_parsing() -> None:
    from gen3widgets._retry import RETRY_AFTER_CAP, parse_retry_after

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("100000") == RETRY_AFTER_CAP
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_status_keeps_unknown_values() -> None:
    status_ = g3.Status("rendering")
    assert status_.value == "rendering" and not status_.known and not status_.done
    assert g3.Status("COMPLETED") is g3.Status.COMPLETED
    assert g3.Status("cancelled").failed


def test_an_abandoned_partial_download_is_cleaned_up(
    api: Api, server: ContractAPI, tmp_path: Path
) -> None:
    import os
    import time

    generation = api.generate(image=IMAGE)
    stale = tmp_path / f".{generation.id}.abc123.part"
    fresh = tmp_path / f".{generation.id}.def456.part"
    for part in (stale, fresh):
        part.write_bytes(b"half a video")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    path = api.download(generation, tmp_path)
    assert path.read_bytes() == server.video_bytes
    assert not stale.exists()
    assert fresh.exists()  # may belong to another kernel's download in progress


# -- nothing lost: every purchase goes to the history ----------------------------------


def test_every_purchase_is_in_the_history_before_submit_returns(
    make_api: Any, clock: FakeClock, tmp_path: Path
) -> None:
    from gen3widgets._store import HistoryStore

    store = HistoryStore(tmp_path / "home")
    server = ContractAPI(clock, create_faults=[status(502)])
    api = make_api(server, history=store, download_dir=None)
    with pytest.raises(g3.SubmissionUncertain):
        api.submit(image=IMAGE, seed=1)
    assert [u["cause"] for u in store.uncertain()] == ["the server answered 502 Bad Gateway"]

    generation = api.submit(image=IMAGE, seed=2)
    stored = store.get(generation.id)
    assert stored is not None and stored.generation.status is g3.Status.QUEUED
    assert stored.generation.request is not None and stored.generation.request.seed == 2
    assert stored.server == BASE

    api.wait(generation)
    path = api.download(generation)
    stored = store.get(generation.id)
    assert stored is not None and stored.generation.status is g3.Status.COMPLETED
    assert stored.generation.local_path == path and path.parent == store.videos_dir
    assert stored.job_seconds is not None and stored.job_seconds > 0


def test_a_failure_is_recorded_with_its_reason(
    make_api: Any, clock: FakeClock, tmp_path: Path
) -> None:
    from gen3widgets._store import HistoryStore

    store = HistoryStore(tmp_path / "home")
    server = ContractAPI(clock, fail_with={"name": "Moderation", "message": "flagged"})
    api = make_api(server, history=store)
    with pytest.raises(g3.GenerationFailed) as info:
        api.generate(image=IMAGE)
    stored = store.get(info.value.generation.id)
    assert stored is not None and stored.generation.status is g3.Status.ERROR
    assert stored.generation.error == "Moderation: flagged"


def test_history_can_be_turned_off(make_api: Any, server: ContractAPI) -> None:
    api = make_api(server, history=False)
    api.generate(image=IMAGE)
    assert api.client.history is None
    assert g3.history() == []
