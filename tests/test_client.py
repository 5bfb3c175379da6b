"""Client and AsyncClient against an independent imitation of the contract: the everyday paths.

Every test runs twice, once per client, through the same ``api`` fixture.
The paths and models are in test_paths.py, the ledger (write-ahead,
reconciliation, prices, budgets) in test_ledger.py, hostile answers in
test_hostile_answers.py, pure retry rules in test_retry.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from tests.contract_api import BASE, ContractAPI, Fault, html_502, raising, status, truncated
from tests.fakes import IMAGE, KEY, Api, FakeClock, tune

# -- configuration -----------------------------------------------------------------------


def test_no_key_raises_naming_the_variable_and_sends_nothing(
    kind: str, server: ContractAPI
) -> None:
    cls = g3.Client if kind == "sync" else g3.AsyncClient
    with pytest.raises(g3.AuthenticationError, match="AIMLAPI_KEY"):
        cls(transport=server.transport())  # type: ignore[arg-type]
    assert server.requests == []


def test_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, server: ContractAPI, make_api: Any
) -> None:
    monkeypatch.setenv("AIMLAPI_KEY", "env-key-123456")
    env_api = make_api(server, api_key=None)
    env_api.submit(image=IMAGE)
    create = next(r for r in server.requests if r.method == "POST")
    assert create.headers["Authorization"] == "Bearer env-key-123456"


def test_a_bad_endpoint_setting_is_refused(kind: str) -> None:
    cls = g3.Client if kind == "sync" else g3.AsyncClient
    with pytest.raises(g3.ConfigurationError, match="auto, universal, legacy"):
        cls(KEY, endpoint="sideways")


# -- the happy path --------------------------------------------------------------------


def test_generate_follows_queued_and_generating_to_the_video(api: Api, server: ContractAPI) -> None:
    seen: list[str] = []
    generation = api.generate(image=IMAGE, on_update=lambda gen: seen.append(gen.status.value))
    assert generation.ok and generation.done
    assert generation.video_url and generation.video_url.startswith("https://cdn.test/")
    assert generation.credits_used == 500_000
    assert generation.cost_usd == pytest.approx(0.25)
    assert seen == ["generating", "completed"]
    assert server.bought == 1


@pytest.mark.parametrize("shape", ["list", "object", "object_with_duration"])
@pytest.mark.parametrize("usage_key", ["tokens_used", "credits_used"])
def test_every_documented_answer_shape_is_read(
    make_api: Any, clock: FakeClock, shape: str, usage_key: str
) -> None:
    server = ContractAPI(clock, video_shape=shape, usage_key=usage_key)
    generation = make_api(server).generate(image=IMAGE)
    assert generation.ok and generation.video_url
    assert generation.credits_used == 500_000


def test_older_status_names_are_followed(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, phases=("waiting", "active", "processing"))
    seen: list[str] = []
    make_api(server).generate(image=IMAGE, on_update=lambda g: seen.append(g.status.value))
    assert seen == ["active", "processing", "completed"]


def test_async_on_update_may_be_a_coroutine(
    clock: FakeClock, loop: asyncio.AbstractEventLoop
) -> None:
    server = ContractAPI(clock)
    client = g3.AsyncClient(KEY, base_url=BASE, transport=server.transport())
    tune(client, clock)
    seen: list[str] = []

    async def note(gen: g3.Generation) -> None:
        await asyncio.sleep(0)
        seen.append(gen.status.value)

    loop.run_until_complete(client.generate(image=IMAGE, on_update=note))
    loop.run_until_complete(client.close())
    assert seen[-1] == "completed"


def test_a_sync_client_refuses_a_coroutine_callback(clock: FakeClock, server: ContractAPI) -> None:
    client = g3.Client(KEY, base_url=BASE, transport=server.transport())
    tune(client, clock)

    async def note(gen: g3.Generation) -> None:
        return None

    with pytest.raises(TypeError, match="plain function"):
        client.generate(image=IMAGE, on_update=note)


def test_completion_is_noticed_within_a_second_with_few_gets(
    make_api: Any, clock: FakeClock
) -> None:
    api = None
    for seconds in (6.0, 7.3, 8.1, 9.4, 10.0, 6.6, 9.9, 7.7):
        server = ContractAPI(clock, job_seconds=seconds)
        fresh = make_api(server)
        if api is not None:  # one client's learning carries over from job to job
            fresh.client._flows.durations = api.client._flows.durations
        api = fresh
        generation = api.submit(image=IMAGE)
        done_at = clock.now() + seconds
        api.wait(generation)
        assert clock.now() - done_at <= 1.0, f"noticed {clock.now() - done_at:.2f} s late"
        assert server.counts["gets"] <= 10


def test_job_times_are_learned_per_model(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, job_seconds=20.0)
    api = make_api(server)
    api.generate(image=IMAGE, model="runway/gen4_turbo")
    durations = api.client._flows.durations
    assert durations.earliest(BASE, "runway/gen4_turbo", 5) is not None
    assert durations.earliest(BASE, "gen3a_turbo", 5) is None  # gen4_turbo is not gen3a_turbo
    assert durations.earliest(BASE, "runway/gen4_turbo", 10) is None


def test_an_unknown_status_is_polled_through_and_logged_once(
    make_api: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = ContractAPI(clock, phases=("rendering-frames",))
    with caplog.at_level(logging.WARNING, logger="gen3widgets"):
        generation = make_api(server).generate(image=IMAGE)
    assert generation.ok
    unknown = [r for r in caplog.records if "unknown status" in r.getMessage()]
    assert len(unknown) <= 1  # once per process, whichever test saw it first


def test_wait_by_id_looks_at_once(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, job_seconds=1)
    first = make_api(server).submit(image=IMAGE)
    clock.advance(100)
    fresh = make_api(server)  # e.g. after a kernel restart
    gets = server.counts["gets"]
    start = clock.now()
    generation = fresh.wait(first.id)
    assert generation.ok and clock.now() == start
    assert server.counts["gets"] == gets + 1


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
    with pytest.raises(g3.GenerationFailed) as info:
        make_api(server).generate(image=IMAGE)
    assert info.value.generation.status is g3.Status.ERROR
    assert sentence in (info.value.generation.error or "")
    assert sentence in str(info.value)
    assert info.value.generation.cost_usd == 0.0  # failed generations are never charged
    assert "Nothing was charged" in str(info.value)
    assert server.bought == 1


def test_wait_times_out_at_the_deadline(api: Api, clock: FakeClock, server: ContractAPI) -> None:
    server.job_seconds = 1000
    generation = api.submit(image=IMAGE)
    start = clock.now()
    with pytest.raises(g3.GenerationTimeout) as info:
        api.wait(generation, timeout=30)
    assert 30 <= clock.now() - start <= 30.001
    assert info.value.generation.id == generation.id
    assert generation.id in str(info.value)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, g3.WaitTimeout)


def test_timeout_none_waits_without_a_limit(
    api: Api, clock: FakeClock, server: ContractAPI
) -> None:
    server.job_seconds = 3600
    generation = api.generate(image=IMAGE, timeout=None)
    assert generation.ok and clock.now() >= 4600


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
    generation = make_api(server).submit(image=IMAGE)
    assert generation.id in server.jobs
    assert server.bought == 1
    assert server.counts["creates"] == len(faults) + 1
    sent = {r.headers.get("x-client-request-id") for r in server.requests if r.method == "POST"}
    assert len(sent) == 1  # retries of one purchase carry one submission id


def test_retry_after_is_honoured(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, create_faults=[status(429, headers={"Retry-After": "7"})])
    make_api(server).submit(image=IMAGE)
    assert 7.0 in clock.sleeps


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
        status(504),
    ],
    ids=["read-timeout", "dropped", "read-error", "write-error", "500", "502", "html-502", "504"],
)
def test_ambiguous_create_failures_are_never_sent_again(
    make_api: Any, clock: FakeClock, fault: Fault
) -> None:
    server = ContractAPI(clock, create_faults=[fault])
    api = make_api(server, reconcile_timeout=0)
    request = g3.GenerationRequest(image=IMAGE, seed=7)
    with pytest.raises(g3.SubmissionUncertain) as info:
        api.submit(request)
    assert server.counts["creates"] == 1
    assert info.value.request == request
    assert info.value.submission_id == server.client_request_ids[0]
    assert "NOT sent again" in str(info.value)


def test_a_rate_limit_that_never_clears_buys_nothing(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, create_faults=[status(429)] * 10)
    with pytest.raises(g3.RateLimitError):
        make_api(server, max_retries=3).submit(image=IMAGE)
    assert server.counts["creates"] == 4
    assert server.bought == 0


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, g3.APIError),
        (401, g3.AuthenticationError),
        (403, g3.InsufficientCreditsError),
    ],
)
def test_final_create_errors_are_raised_with_the_server_message(
    make_api: Any, clock: FakeClock, code: int, error: type[g3.APIError]
) -> None:
    body = {"message": "Not today", "path": "/v2/...", "requestId": "req-9", "statusCode": code}
    server = ContractAPI(clock, create_faults=[status(code, body)])
    with pytest.raises(error) as info:
        make_api(server).submit(image=IMAGE)
    assert info.value.status_code == code
    assert info.value.request_id == "req-9"
    assert info.value.server_message == "Not today"
    assert server.counts["creates"] == 1


def test_out_of_credits_is_refused_and_nothing_is_bought(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, starting_balance=0.0)
    with pytest.raises(g3.InsufficientCreditsError, match="top up"):
        make_api(server).submit(image=IMAGE)
    assert server.bought == 0


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
    generation = make_api(server).generate(image=IMAGE)
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


def test_download_saves_into_the_history_and_copies_where_asked(
    api: Api, server: ContractAPI, tmp_path: Path
) -> None:
    generation = api.generate(image=IMAGE)
    path = api.download(generation, tmp_path / "out")
    assert path == (tmp_path / "out" / f"{generation.id}.mp4").resolve()
    assert path.is_absolute() and path.read_bytes() == server.video_bytes
    history = api.client.history
    assert history is not None
    kept = history.videos_dir / f"{generation.id}.mp4"
    assert kept.read_bytes() == server.video_bytes  # every video is also in the history's folder
    assert generation.local_path == kept
    stored = history.get(generation.id)
    assert stored is not None and stored.generation.local_path == kept
    assert server.counts["downloads_with_auth"] == 0
    assert sorted(p.name for p in kept.parent.iterdir()) == [kept.name]  # no temp files left


def test_a_relative_download_folder_is_recorded_absolute(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    generation = api.generate(image=IMAGE)
    path = api.download(generation, "out/videos")
    assert path.is_absolute() and path == (tmp_path / "out" / "videos" / path.name).resolve()
    assert all(g.local_path is None or g.local_path.is_absolute() for g in g3.history())


def test_an_expired_video_url_is_refreshed_once(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    server.expired_versions.add(1)
    path = api.download(generation)
    assert path.read_bytes() == server.video_bytes
    assert "_jwt=v2" in (generation.video_url or "")


def test_a_url_that_stays_expired_gives_a_clear_error(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    server.expired_versions.update({1, 2, 3})
    with pytest.raises(g3.DownloadError, match="expired"):
        api.download(generation)
    assert generation.local_path is None


def test_a_dropped_download_leaves_no_file_and_is_retried(api: Api, server: ContractAPI) -> None:
    server.video_faults = [raising(httpx.RemoteProtocolError), status(503)]
    generation = api.generate(image=IMAGE)
    path = api.download(generation)
    assert path.read_bytes() == server.video_bytes
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_video_already_saved_is_not_fetched_again(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    first = api.download(generation)
    again = api.download(generation)
    assert first == again and server.counts["downloads"] == 1


# -- secrets ---------------------------------------------------------------------------


def test_the_key_never_shows(
    make_api: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"message": f"Invalid key Bearer {KEY} ({KEY})", "statusCode": 401}
    server = ContractAPI(clock, create_faults=[status(401, echo), status(500)])
    api = make_api(server, reconcile_timeout=0)
    with caplog.at_level(logging.DEBUG, logger="gen3widgets"):
        with pytest.raises(g3.AuthenticationError) as auth:
            api.submit(image=IMAGE)
        with pytest.raises(g3.SubmissionUncertain) as uncertain:
            api.submit(image=IMAGE)
        api.generate(image=IMAGE)
    texts = [repr(api.client), str(auth.value), repr(auth.value), str(auth.value.server_message)]
    texts += [json.dumps(auth.value.body), str(uncertain.value), caplog.text]
    texts += [repr(vars(api.client)), repr(vars(api.client._flows))]
    for text in texts:
        assert KEY not in text


def test_the_key_holder_cannot_be_pickled(api: Api) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(api.client._flows.key)


def test_history_can_be_turned_off(make_api: Any, server: ContractAPI) -> None:
    api = make_api(server, history=False)
    api.download(api.generate(image=IMAGE))
    assert api.client.history is None
    assert g3.history() == []


def test_a_short_key_masks_no_ordinary_word(kind: str, server: ContractAPI) -> None:
    # Keys are masked process-wide; a 4-letter "key" would mask every "cdn.test" link.
    from gen3widgets._secrets import redact

    cls = g3.Client if kind == "sync" else g3.AsyncClient
    cls("test", base_url=BASE, transport=server.transport())  # type: ignore[arg-type]
    assert redact("https://cdn.test/clip.mp4") == "https://cdn.test/clip.mp4"
    cls("sk-real-looking-key-0123456789", base_url=BASE)
    assert redact("key sk-real-looking-key-0123456789") == "key ***"
