"""The simulator in-process, spoken to with plain httpx (not the gen3widgets client).

Paths, schemas, tracing, logs, catalogue and billing have files of their own
(``test_simulator_*.py``); this one covers the life of a job, answer shapes,
video files and faults.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from gen3widgets.simulator import Faults, RenderSpec, Simulator, SimulatorOptions
from tests.fakes import FakeClock
from tests.simulator_support import (
    BASE,
    FAKE_MP4,
    LEGACY,
    PATHS,
    UNIVERSAL,
    FakeRender,
    Make,
    api,
    assert_api_error,
    body,
    create,
    data_uri,
    make_sim,
    poll,
)

__all__ = ["make_sim"]  # a fixture, used by name


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- auth and validation -----------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_requests_without_a_bearer_key_are_refused(make_sim: Make, path: str) -> None:
    sim = make_sim()
    async with api(sim, key=None) as client:
        assert_api_error(await client.post(path, json=body(path)), 401)
        bad = await client.post(path, json=body(path), headers={"Authorization": "Bearer  "})
        assert_api_error(bad, 401)
        assert_api_error(await client.get(path, params={"generation_id": "x"}), 401)
    stats = sim.stats
    assert (stats.creates_received, stats.creates_refused, stats.creates_bought) == (2, 2, 0)
    assert sim.log_entries() == []  # no key, no account: nothing to log


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"aspect_ratio": "4:3"},
            "aspect_ratio: Invalid enum value. Expected '16:9' | '9:16', received '4:3'",
        ),
        ({"duration": 7}, "duration: Invalid input, expected 5 | 10, received 7"),
        ({"duration": "5"}, "duration:"),
        ({"seed": -1}, "seed: Number must be greater than or equal to 0"),
        ({"seed": 4_294_967_296}, "seed: Number must be less than or equal to 4294967295"),
        ({"seed": 1.5}, "seed: Expected integer"),
        ({"image_url": "http://example.com/a.png"}, "image_url: URL must use https"),
        ({"image_url": "https://93.184.216.34/a.png"}, "image_url: URL host must be a domain name"),
        ({"image_url": "https://example.com/" + "a" * 2048}, "image_url: URL must be at most 2048"),
        ({"image_url": None}, "image_url: Required"),
        (
            {"image_url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA"},
            "image_url: Image data could not",
        ),
        ({"image_url": "data:image/png;base64,@@@"}, "image_url: Data URI is not valid base64"),
        (
            {"image_url": data_uri("JPEG", "image/png")},
            "image_url: Data URI says png but holds JPEG",
        ),
        ({"image_url": "data:image/gif;base64,R0lGOD"}, "image_url: Data URI must be"),
        ({"tail_image_url": "http://example.com/b.png"}, "tail_image_url: URL must use https"),
        # 501 emoji are 501 characters but 1002 UTF-16 code units.
        (
            {"prompt": "🎬" * 501},
            "prompt: String must contain at most 1000 character(s), received 1002",
        ),
        ({"prompt": 12}, "prompt: Expected string, received number"),
        (
            {"model": "gen5_turbo"},
            "model: Invalid enum value. Expected 'gen3a_turbo' | 'runway/gen4_turbo', "
            "received 'gen5_turbo'",
        ),
        ({"model": None}, "model: Required"),
    ],
)
@pytest.mark.anyio
async def test_invalid_bodies_get_400_with_the_api_error_body(
    make_sim: Make, fields: dict[str, Any], expected: str
) -> None:
    sim = make_sim()
    async with api(sim) as client:
        answer = assert_api_error(await client.post(UNIVERSAL, json=body(**fields)), 400)
    assert answer["message"].startswith("Body validation error: ")
    assert expected in answer["message"]
    assert (sim.stats.creates_refused, sim.stats.creates_bought, len(sim.jobs)) == (1, 0, 0)


@pytest.mark.anyio
async def test_every_problem_is_reported_and_malformed_json_is_a_400(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim) as client:
        answer = assert_api_error(
            await client.post(UNIVERSAL, json=body(aspect_ratio="1:1", duration=3)), 400
        )
        assert "aspect_ratio:" in answer["message"] and "duration:" in answer["message"]
        broken = await client.post(
            UNIVERSAL, content=b'{"model": "gen3a', headers={"Content-Type": "application/json"}
        )
        assert "Malformed JSON" in assert_api_error(broken, 400)["message"]
        assert_api_error(await client.post(UNIVERSAL, json=[1, 2]), 400)


@pytest.mark.anyio
async def test_defaults_and_limits_that_are_accepted(make_sim: Make) -> None:
    render = FakeRender()
    sim = make_sim(render=render, seed=7)
    async with api(sim) as client:
        # No duration, ratio or seed: 5 s (the docs' default), the image's ratio, a random seed.
        first = await create(client, duration=None, aspect_ratio=None, seed=None, prompt="🎬" * 500)
        await create(
            client,
            image_url="https://cdn.example.com/cat.png",
            aspect_ratio="9:16",
            seed=4_294_967_295,
        )
        await create(client, tail_image_url=data_uri("WEBP", "image/webp"), seed=0, duration=10.0)
    # gen3a_turbo: $0.05 a second, 2,000,000 credits a dollar.
    assert first["meta"] == {"usage": {"credits_used": 500_000}}
    job = sim.jobs[first["id"]]
    assert (job.params.duration, job.params.ratio, job.price_usd) == (5, "16:9", 0.25)
    assert 0 <= job.seed <= 4_294_967_295
    await anyio.to_thread.run_sync(
        lambda: [j.render.result() for j in sim.jobs.values() if j.render]
    )
    by_ratio = {spec.ratio: spec for spec in render.specs}
    assert by_ratio["9:16"].first_frame is None
    assert by_ratio["9:16"].placeholder_label == "cdn.example.com/cat.png"
    assert by_ratio["9:16"].seed == 4_294_967_295
    with_last = next(spec for spec in render.specs if spec.last_frame is not None)
    assert with_last.first_frame is not None and with_last.duration == 10
    assert {spec.model for spec in render.specs} == {"gen3a_turbo"}
    assert {spec.quality for spec in render.specs} == {"light"}


@pytest.mark.anyio
async def test_the_same_seed_gives_the_same_timings_but_never_the_same_ids(
    make_sim: Make,
) -> None:
    runs, all_ids = [], []
    for _ in range(2):
        sim = make_sim(seed=3)
        async with api(sim) as client:
            ids = [(await create(client, seed=None))["id"] for _ in range(3)]
        all_ids += ids
        runs.append([(sim.jobs[i].due_at, sim.jobs[i].seed) for i in ids])
    assert runs[0] == runs[1]
    # A restarted simulator must not reuse ids that a history already holds.
    assert len(set(all_ids)) == 6


# -- the life of a job ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_job_is_queued_then_generating_then_completed(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(job_seconds=(3.0, 3.0), queue_seconds=1.0)
    start = clock.now()
    async with api(sim) as client:
        created = await create(client)
        assert created == {
            "id": created["id"],
            "status": "queued",
            "video": None,
            "error": None,
            "meta": {"usage": {"credits_used": 500_000}},
        }
        seen = []
        for step in (0.5, 1.0, 1.0, 1.0):
            clock.advance(step)
            seen.append(await poll(client, created["id"]))
    assert [s["status"] for s in seen] == ["queued", "generating", "generating", "completed"]
    assert all(s["video"] is None and s["error"] is None for s in seen[:3])
    done = seen[-1]
    assert done["meta"] == {"usage": {"credits_used": 500_000}}
    assert set(done["video"]) == {"url"}
    assert done["video"]["url"].startswith(f"{BASE}/v1/files/{created['id']}.mp4?_jwt=")
    assert sim.stats.completed_at[created["id"]] == pytest.approx(start + 3.0)
    assert sim.stats.gets == sim.stats.gets_per_job[created["id"]] == 4


@pytest.mark.anyio
async def test_the_legacy_path_answers_in_its_2025_shape(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim()
    async with api(sim) as client:
        created = await create(client, LEGACY)
        assert created == {
            "id": created["id"],
            "status": "queued",
            "meta": {"usage": {"tokens_used": 500_000}},
        }
        clock.advance(10)
        done = await poll(client, created["id"], LEGACY)
        # A generation is one generation, whichever path asks about it.
        universal = await poll(client, created["id"], UNIVERSAL)
    assert done["status"] == "completed" and isinstance(done["video"], list)
    assert done["meta"] == {"usage": {"tokens_used": 500_000}}
    assert universal["video"] == {"url": universal["video"]["url"]}
    assert sim.stats.creates_bought_by_path == {"legacy": 1}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("options", "check"),
    [
        ({"video_shape": "url"}, lambda b: set(b["video"]) == {"url"}),
        ({"video_shape": "list"}, lambda b: isinstance(b["video"], list) and len(b["video"]) == 1),
        (
            {"video_shape": "object"},
            lambda b: set(b["video"]) == {"url", "duration"} and b["video"]["duration"] == 5,
        ),
        (
            {"usage_field": "credits_used"},
            lambda b: b["meta"] == {"usage": {"credits_used": 500_000}},
        ),
        (
            {"usage_field": "tokens_used"},
            lambda b: b["meta"] == {"usage": {"tokens_used": 500_000}},
        ),
    ],
)
@pytest.mark.anyio
async def test_answer_shapes_set_explicitly_apply_to_both_paths(
    make_sim: Make,
    clock: FakeClock,
    path: str,
    options: dict[str, Any],
    check: Callable[..., bool],
) -> None:
    sim = make_sim(**options)
    async with api(sim) as client:
        created = await create(client, path)
        clock.advance(10)
        assert check(await poll(client, created["id"], path))


@pytest.mark.parametrize("shape", ["name_message", "detail"])
@pytest.mark.anyio
async def test_failed_jobs_report_error_in_either_shape(
    make_sim: Make, clock: FakeClock, shape: str
) -> None:
    render = FakeRender()
    sim = make_sim(error_shape=shape, faults=Faults(job_error=1.0), render=render)
    async with api(sim) as client:
        created = await create(client)
        assert created["meta"] == {"usage": {"credits_used": 500_000}}  # not failed yet
        clock.advance(10)
        answer = await poll(client, created["id"])
    assert answer["status"] == "error" and answer["video"] is None
    assert answer["meta"] == {"usage": {"credits_used": 0}}  # failed generations are free
    if shape == "name_message":
        assert set(answer["error"]) == {"name", "message"}
        assert answer["error"]["message"]
    else:
        (detail,) = answer["error"]["detail"]
        assert set(detail) == {"loc", "msg", "type"} and detail["msg"]
    assert sim.stats.faults_injected["job_error"] == 1
    assert created["id"] in sim.stats.failed_at and created["id"] not in sim.stats.completed_at
    assert render.specs == []  # a doomed job is never rendered


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_status_names_can_be_remapped(make_sim: Make, clock: FakeClock, path: str) -> None:
    sim = make_sim(
        job_seconds=(2.0, 2.0),
        queue_seconds=1.0,
        status_names={"queued": "waiting", "generating": "processing"},
    )
    async with api(sim) as client:
        created = await create(client, path)
        clock.advance(1.5)
        middle = await poll(client, created["id"], path)
        clock.advance(1.0)
        done = await poll(client, created["id"], path)
    assert (created["status"], middle["status"], done["status"]) == (
        "waiting",
        "processing",
        "completed",
    )


@pytest.mark.anyio
async def test_concurrency_keeps_extra_jobs_queued_until_a_slot_frees(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(job_seconds=(2.0, 2.0), queue_seconds=0.0, concurrency=2)
    async with api(sim) as client:
        ids = [(await create(client))["id"] for _ in range(3)]

        async def statuses() -> list[str]:
            return [(await poll(client, i))["status"] for i in ids]

        clock.advance(1.0)
        assert await statuses() == ["generating", "generating", "queued"]
        clock.advance(1.0)
        assert await statuses() == ["completed", "completed", "generating"]
        clock.advance(2.0)
        assert await statuses() == ["completed", "completed", "completed"]
    assert sim.jobs[ids[2]].started_at == pytest.approx(sim.jobs[ids[0]].due_at)


@pytest.mark.anyio
async def test_realistic_preset_times_jobs_by_clip_length(make_sim: Make) -> None:
    sim = make_sim(preset="realistic", job_seconds=(1.0, 1.0))
    async with api(sim) as client:
        short = [(await create(client, duration=5))["id"] for _ in range(5)]
        long = [(await create(client, duration=10))["id"] for _ in range(5)]
    for ids, (low, high) in ((short, (20, 30)), (long, (40, 55))):
        for i in ids:
            assert low <= sim.jobs[i].due_at - sim.jobs[i].created_at <= high


@pytest.mark.anyio
async def test_a_due_job_waits_for_its_render_before_completing(
    make_sim: Make, clock: FakeClock
) -> None:
    release = threading.Event()

    def slow_render(spec: RenderSpec) -> bytes:
        release.wait(10)
        clock.advance(50)  # the render took longer than the job's time
        return FAKE_MP4

    sim = make_sim(job_seconds=(2.0, 2.0), render=slow_render)
    async with api(sim) as client:
        created = await create(client)
        clock.advance(5)
        result: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:

            async def run_poll() -> None:
                result.update(await poll(client, created["id"]))

            tg.start_soon(run_poll)
            await anyio.lowlevel.checkpoint()
            assert not result  # still waiting for the render
            release.set()
    assert result["status"] == "completed"
    assert sim.stats.completed_at[created["id"]] == pytest.approx(clock.now())


@pytest.mark.anyio
async def test_a_failed_render_ends_the_job_in_error(make_sim: Make, clock: FakeClock) -> None:
    def broken(spec: RenderSpec) -> bytes:
        raise RuntimeError("encoder exploded")

    sim = make_sim(render=broken)
    async with api(sim) as client:
        created = await create(client)
        clock.advance(10)
        answer = await poll(client, created["id"])
    assert answer["status"] == "error"
    assert answer["error"]["message"] == "Internal generation failure"
    assert sim.balance_usd() == 100.0  # never charged


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_unknown_or_missing_generation_ids(make_sim: Make, path: str) -> None:
    sim = make_sim()
    async with api(sim) as client:
        assert_api_error(await client.get(path, params={"generation_id": str(uuid.uuid4())}), 404)
        assert_api_error(await client.get(path), 400)
        assert_api_error(await client.get("/v2/generate/video/other"), 404)
        health = (await client.get("/health")).json()
    assert health["simulator"] is True
    assert health["models"] == ["gen3a_turbo", "runway/gen4_turbo"]


# -- video files ---------------------------------------------------------------------------


async def _completed_url(client: httpx.AsyncClient, clock: FakeClock) -> tuple[str, str]:
    created = await create(client)
    clock.advance(10)
    return created["id"], (await poll(client, created["id"]))["video"]["url"]


@pytest.mark.anyio
async def test_video_links_expire_and_a_new_poll_gives_a_fresh_one(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(url_ttl=60.0)
    async with api(sim) as client, httpx.AsyncClient(transport=sim.async_transport()) as cdn:
        generation_id, url = await _completed_url(client, clock)
        first = await cdn.get(url)
        assert first.status_code == 200 and first.content == FAKE_MP4
        assert first.headers["content-type"] == "video/mp4"
        assert first.headers["content-length"] == str(len(FAKE_MP4))
        clock.advance(61)
        assert (await cdn.get(url)).status_code == 403
        fresh = (await poll(client, generation_id))["video"]["url"]
        assert fresh != url
        assert (await cdn.get(fresh)).content == FAKE_MP4
        tampered = fresh.replace(generation_id, str(uuid.uuid4()))
        assert (await cdn.get(tampered)).status_code == 404
        assert (await cdn.get(fresh.split("?")[0])).status_code == 403
        assert (await cdn.get(fresh[:-2] + "xx")).status_code == 403
    assert sim.stats.downloads == 6 and sim.stats.downloads_refused == 4
    assert sim.stats.downloads_with_authorization == 0


@pytest.mark.anyio
async def test_video_files_support_range_requests(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim()
    size = len(FAKE_MP4)
    async with api(sim) as client, httpx.AsyncClient(transport=sim.async_transport()) as cdn:
        _, url = await _completed_url(client, clock)
        part = await cdn.get(url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == FAKE_MP4[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{size}"
        assert (await cdn.get(url, headers={"Range": "bytes=100-"})).content == FAKE_MP4[100:]
        assert (await cdn.get(url, headers={"Range": "bytes=-16"})).content == FAKE_MP4[-16:]
        beyond = await cdn.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        assert (await cdn.get(url, headers={"Range": "pages=1-2"})).status_code == 200
        head = await cdn.head(url)
        assert (
            head.status_code == 200
            and head.headers["content-length"] == str(size)
            and head.content == b""
        )
        assert head.headers["accept-ranges"] == "bytes"
        # A client that sends its key to the video host is caught.
        await client.get(url)
    assert sim.stats.downloads_with_authorization == 1


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("status_fault", ["get_5xx", "get_html_502"])
@pytest.mark.anyio
async def test_get_server_errors(make_sim: Make, status_fault: str) -> None:
    sim = make_sim()
    async with api(sim) as client:
        created = await create(client)
        sim.faults = Faults(**{status_fault: 1.0})
        response = await client.get(UNIVERSAL, params={"generation_id": created["id"]})
    if status_fault == "get_5xx":
        assert response.status_code in (500, 503, 504)
        assert_api_error(response, response.status_code)
        assert response.headers["x-inference-id"] == created["id"]
    else:
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        assert "<html>" in response.text
        assert "x-inference-id" not in response.headers  # the gateway's page, not the API's
    assert sim.stats.faults_injected[status_fault] == 1


@pytest.mark.anyio
async def test_get_truncated_json(make_sim: Make) -> None:
    sim = make_sim(faults=Faults(get_truncated_json=1.0))
    async with api(sim) as client:
        created = await create(client)
        response = await client.get(UNIVERSAL, params={"generation_id": created["id"]})
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert sim.stats.faults_injected["get_truncated_json"] == 1


@pytest.mark.anyio
async def test_get_drop_reaches_the_client_as_a_protocol_error(make_sim: Make) -> None:
    sim = make_sim(faults=Faults(get_drop=1.0))
    async with api(sim) as client:
        created = await create(client)
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(UNIVERSAL, params={"generation_id": created["id"]})
    assert sim.stats.faults_injected["get_drop"] == 1 and sim.stats.gets == 1


@pytest.mark.anyio
async def test_slow_answers_trip_the_clients_read_timeout(make_sim: Make) -> None:
    sim = make_sim(faults=Faults(slow_rate=1.0, slow_seconds=30.0))
    async with api(sim) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(UNIVERSAL, json=body(), timeout=httpx.Timeout(5.0, read=0.01))
    # The create was bought before the answer stalled: exactly the dangerous case.
    assert sim.stats.creates_bought == 1 and sim.stats.faults_injected["slow_rate"] == 1


@pytest.mark.anyio
async def test_create_429_with_and_without_retry_after(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim(faults=Faults(create_429=1.0))
    async with api(sim) as client:
        plain = await client.post(UNIVERSAL, json=body())
        assert "retry-after" not in plain.headers
        # The docs' sample sends statusCode as a string for 429.
        assert assert_api_error(plain, 429)["statusCode"] == "429"
        sim.faults = Faults(create_429=1.0, create_429_retry_after=5.0)
        timed = await client.post(UNIVERSAL, json=body())
        assert timed.status_code == 429 and timed.headers["retry-after"] == "5"
        sim.faults = Faults()
        clock.advance(2)
        early = await client.post(UNIVERSAL, json=body())  # ignoring Retry-After: refused again
        assert early.status_code == 429 and early.headers["retry-after"] == "3"
        clock.advance(3)
        assert (await client.post(UNIVERSAL, json=body())).status_code == 200
    stats = sim.stats
    assert (stats.creates_received, stats.creates_refused, stats.creates_bought) == (4, 3, 1)
    assert stats.faults_injected == {"create_429": 2, "create_429_early_retry": 1}


@pytest.mark.anyio
async def test_create_503_buys_nothing(make_sim: Make) -> None:
    sim = make_sim(faults=Faults(create_503=1.0))
    async with api(sim) as client:
        assert_api_error(await client.post(UNIVERSAL, json=body()), 503)
    assert (sim.stats.creates_refused, sim.stats.creates_bought, len(sim.jobs)) == (1, 0, 0)
    assert sim.stats.faults_injected["create_503"] == 1


@pytest.mark.anyio
async def test_create_lost_answer_buys_then_drops(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim(faults=Faults(create_lost_answer=1.0))
    async with api(sim) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(UNIVERSAL, json=body())
        (job_id,) = sim.jobs
        clock.advance(10)
        assert (await poll(client, job_id))["status"] == "completed"  # it really was bought
    assert (sim.stats.creates_bought, sim.stats.creates_refused) == (1, 0)
    assert sim.stats.faults_injected["create_lost_answer"] == 1


@pytest.mark.anyio
async def test_create_500_after_buying(make_sim: Make) -> None:
    sim = make_sim(faults=Faults(create_500_after_buying=1.0))
    async with api(sim) as client:
        response = await client.post(UNIVERSAL, json=body())
    assert_api_error(response, 500)
    (job_id,) = sim.jobs
    # The answer does not give the generation away: only the usage logs can.
    assert response.headers["x-inference-id"] != job_id
    assert job_id not in response.text
    assert sim.stats.creates_bought == 1
    assert sim.stats.faults_injected["create_500_after_buying"] == 1


@pytest.mark.anyio
async def test_fault_rates_are_probabilities(make_sim: Make) -> None:
    sim = make_sim(faults=Faults(get_5xx=0.5), seed=1)
    async with api(sim) as client:
        created = await create(client)
        codes = [
            (await client.get(UNIVERSAL, params={"generation_id": created["id"]})).status_code
            for _ in range(40)
        ]
    assert 5 < codes.count(200) < 35
    assert sim.stats.faults_injected["get_5xx"] == 40 - codes.count(200)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="rate"):
        Faults(get_5xx=1.5)
    with pytest.raises(ValueError, match="job_seconds"):
        SimulatorOptions(job_seconds=(3.0, 1.0))
    with pytest.raises(ValueError, match="status_names"):
        SimulatorOptions(status_names={"done": "ok"})
    with pytest.raises(ValueError, match="video_shape"):
        Simulator(video_shape="dict", render=FakeRender())
    with pytest.raises(ValueError, match="paths"):
        SimulatorOptions(paths="new")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown model 'gen2'"):
        SimulatorOptions(retired_models={"gen2"})
    with pytest.raises(ValueError, match="set of model ids"):
        SimulatorOptions(retired_models="gen3a_turbo")
    with pytest.raises(ValueError, match=r"pricing\['gen3a_turbo'\] cannot price"):
        SimulatorOptions(pricing={"gen3a_turbo": {"kind": "fixed", "units": []}})
    with pytest.raises(ValueError, match="no variant matches"):
        SimulatorOptions(pricing={"runway/gen4_turbo": {"kind": "variants", "variants": []}})
    with pytest.raises(ValueError, match="video_quality"):
        SimulatorOptions(video_quality="4k")  # type: ignore[arg-type]
    # Names are stored as ids; pricing blocks given replace only the models they name.
    options = SimulatorOptions(
        retired_models={"runway/gen3a_turbo"}, pricing={"gen4_turbo": {"kind": "variable"}}
    )
    assert options.retired_models == frozenset({"gen3a_turbo"})
    assert options.pricing["runway/gen4_turbo"] == {"kind": "variable"}
    assert options.pricing["gen3a_turbo"]["kind"] == "fixed"


# -- sync clients and the real renderer -----------------------------------------------------


def test_sync_transport_serves_sync_clients(clock: FakeClock) -> None:
    sim = Simulator(clock=clock.now, render=FakeRender(), faults=Faults())
    headers = {"Authorization": "Bearer k"}
    with httpx.Client(transport=sim.sync_transport(), base_url=BASE, headers=headers) as client:
        created = client.post(UNIVERSAL, json=body()).json()
        clock.advance(10)
        answer = client.get(UNIVERSAL, params={"generation_id": created["id"]}).json()
        assert answer["status"] == "completed"
        with httpx.Client(transport=sim.sync_transport()) as cdn:
            assert cdn.get(answer["video"]["url"]).content == FAKE_MP4
        sim.faults = Faults(get_drop=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(UNIVERSAL, params={"generation_id": created["id"]})
        sim.faults = Faults(slow_rate=1.0, slow_seconds=30.0)
        with pytest.raises(httpx.ReadTimeout):
            client.get(
                UNIVERSAL,
                params={"generation_id": created["id"]},
                timeout=httpx.Timeout(5.0, read=0.01),
            )
    # Closing a client leaves the simulator's loop thread to the others.
    with httpx.Client(transport=sim.sync_transport(), base_url=BASE) as again:
        assert again.get("/health").json()["jobs"] == 1
    sim.close()


@pytest.mark.parametrize(
    ("model", "ratio", "size"),
    [("gen3a_turbo", "9:16", (768, 1280)), ("runway/gen4_turbo", "21:9", (1584, 672))],
)
@pytest.mark.anyio
async def test_the_default_renderer_makes_a_real_mp4_at_the_models_size(
    clock: FakeClock, model: str, ratio: str, size: tuple[int, int]
) -> None:
    av = pytest.importorskip("av")
    sim = Simulator(clock=clock.now, job_seconds=(1.0, 1.0))
    assert sim.options.render is None
    async with api(sim) as client, httpx.AsyncClient(transport=sim.async_transport()) as cdn:
        created = await create(client, model=model, aspect_ratio=ratio, seed=42, prompt="a test")
        clock.advance(5)
        answer = await poll(client, created["id"])
        assert answer["status"] == "completed"
        video = (await cdn.get(answer["video"]["url"])).content
    sim.close()
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == size
        assert stream.frames == 5 * 24
        assert float(container.duration / 1_000_000) == pytest.approx(5.0, abs=0.1)
