"""The simulator's two paths, their strict schemas, both models, retired models and tracing."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from gen3widgets.simulator import Faults
from tests.fakes import FakeClock
from tests.simulator_support import (
    LEGACY,
    PATHS,
    UNIVERSAL,
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

GEN4 = "runway/gen4_turbo"
GEN4_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9")
RATIO_FIELD = {UNIVERSAL: "aspect_ratio", LEGACY: "ratio"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _rotated_jpeg_uri(size: tuple[int, int]) -> str:
    """A JPEG stored at ``size`` whose EXIF says to show it turned by 90 degrees."""
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", size, (20, 90, 160)).save(buffer, "JPEG", exif=exif.tobytes())
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


# -- strict schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "extra", "message"),
    [
        # The legacy names on the universal path, and the other way round.
        (UNIVERSAL, {"ratio": "16:9"}, "Unrecognized key(s) in object: 'ratio'"),
        (
            UNIVERSAL,
            {"ratio": "16:9", "last_image_url": data_uri()},
            "Unrecognized key(s) in object: 'ratio', 'last_image_url'",
        ),
        (LEGACY, {"aspect_ratio": "16:9"}, "Unrecognized key(s) in object: 'aspect_ratio'"),
        (
            LEGACY,
            {"tail_image_url": data_uri()},
            "Unrecognized key(s) in object: 'tail_image_url'",
        ),
        # Keys the official SDK may add for other models.
        (
            UNIVERSAL,
            {"negative_prompt": "blur"},
            "Unrecognized key(s) in object: 'negative_prompt'",
        ),
        (LEGACY, {"provider": "fal-ai"}, "Unrecognized key(s) in object: 'provider'"),
    ],
)
@pytest.mark.anyio
async def test_unknown_keys_are_refused_like_the_apis_validator(
    make_sim: Make, path: str, extra: dict[str, Any], message: str
) -> None:
    sim = make_sim()
    sent = body(path, **{RATIO_FIELD[path]: None}, **extra)
    async with api(sim) as client:
        answer = assert_api_error(await client.post(path, json=sent), 400)
    assert answer["message"] == f"Body validation error: {message}"
    assert (sim.stats.creates_bought, sim.stats.creates_refused, len(sim.jobs)) == (0, 1, 0)


@pytest.mark.anyio
async def test_unknown_keys_are_reported_with_the_other_problems(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim) as client:
        sent = body(UNIVERSAL, duration=7, ratio="16:9")
        answer = assert_api_error(await client.post(UNIVERSAL, json=sent), 400)
    assert answer["message"] == (
        "Body validation error: duration: Invalid input, expected 5 | 10, received 7; "
        "Unrecognized key(s) in object: 'ratio'"
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_each_path_takes_its_own_last_frame_field(make_sim: Make, path: str) -> None:
    sim = make_sim()
    field = "tail_image_url" if path == UNIVERSAL else "last_image_url"
    async with api(sim) as client:
        created = await create(client, path, **{field: data_uri("WEBP", "image/webp")})
    assert sim.jobs[created["id"]].params.last_image is not None
    assert sim.jobs[created["id"]].path == ("universal" if path == UNIVERSAL else "legacy")


# -- both models ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_gen3a_turbo_refuses_gen4_ratios_naming_the_paths_field(
    make_sim: Make, path: str
) -> None:
    sim = make_sim()
    field = RATIO_FIELD[path]
    async with api(sim) as client:
        sent = body(path, **{field: "21:9"})
        answer = assert_api_error(await client.post(path, json=sent), 400)
    assert answer["message"] == (
        f"Body validation error: {field}: Invalid enum value. "
        "Expected '16:9' | '9:16', received '21:9'"
    )
    assert sim.stats.creates_bought == 0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_gen4_turbo_takes_its_six_ratios_on_both_paths(make_sim: Make, path: str) -> None:
    sim = make_sim()
    field = RATIO_FIELD[path]
    async with api(sim) as client:
        ids = [
            (await create(client, path, model=GEN4, **{field: ratio}))["id"]
            for ratio in GEN4_RATIOS
        ]
        wrong = await client.post(path, json=body(path, model=GEN4, **{field: "2:1"}))
    assert [sim.jobs[i].params.ratio for i in ids] == list(GEN4_RATIOS)
    assert assert_api_error(wrong, 400)["message"] == (
        f"Body validation error: {field}: Invalid enum value. Expected "
        "'16:9' | '9:16' | '4:3' | '3:4' | '1:1' | '21:9', received '2:1'"
    )


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("gen3a_turbo", "gen3a_turbo"),
        ("runway/gen3a_turbo", "gen3a_turbo"),
        (GEN4, GEN4),
        ("gen4_turbo", GEN4),
    ],
)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_models_answer_to_their_ids_and_aliases_with_a_five_second_default(
    make_sim: Make, path: str, name: str, model_id: str
) -> None:
    sim = make_sim()
    async with api(sim) as client:
        created = await create(client, path, model=name, duration=None)
    job = sim.jobs[created["id"]]
    assert (job.params.model.id, job.params.duration) == (model_id, 5)


@pytest.mark.parametrize(
    ("model", "size", "ratio"),
    [
        (GEN4, (640, 480), "4:3"),
        (GEN4, (480, 640), "3:4"),
        (GEN4, (500, 500), "1:1"),
        # 21:9 is wider than 2:1, the widest image allowed: never chosen from an image.
        (GEN4, (1000, 500), "16:9"),
        (GEN4, (360, 640), "9:16"),
        ("gen3a_turbo", (640, 480), "16:9"),
        ("gen3a_turbo", (500, 500), "16:9"),  # a tie goes to the ratio listed first
        ("gen3a_turbo", (480, 640), "9:16"),
    ],
)
@pytest.mark.anyio
async def test_an_omitted_ratio_follows_the_first_frame(
    make_sim: Make, model: str, size: tuple[int, int], ratio: str
) -> None:
    sim = make_sim()
    async with api(sim) as client:
        created = await create(
            client, model=model, image_url=data_uri(size=size), aspect_ratio=None
        )
    assert sim.jobs[created["id"]].params.ratio == ratio


@pytest.mark.anyio
async def test_the_first_frames_shape_is_read_after_its_exif_rotation(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim) as client:
        rotated = _rotated_jpeg_uri((640, 360))  # stored landscape, shown portrait
        created = await create(client, image_url=rotated, aspect_ratio=None)
    assert sim.jobs[created["id"]].params.ratio == "9:16"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_an_omitted_ratio_needs_an_image_within_one_to_two(make_sim: Make, path: str) -> None:
    sim = make_sim()
    field = RATIO_FIELD[path]
    async with api(sim) as client:
        wide = body(path, image_url=data_uri(size=(300, 100)), **{field: None})
        answer = assert_api_error(await client.post(path, json=wide), 400)
        # The same image is fine once the ratio is given; a URL is never fetched: the default.
        await create(client, path, image_url=data_uri(size=(300, 100)))
        by_url = await create(client, path, image_url="https://example.com/a.png", **{field: None})
    assert answer["message"] == (
        "Body validation error: image_url: Image width/height must be between 0.5 and 2 when "
        f"{field} is omitted, received 300x100 (3.00); crop the image or send {field}"
    )
    assert sim.jobs[by_url["id"]].params.ratio == "16:9"
    assert sim.stats.creates_bought == 2


# -- which paths exist ----------------------------------------------------------------------


@pytest.mark.parametrize(("paths", "missing"), [("universal", LEGACY), ("legacy", UNIVERSAL)])
@pytest.mark.anyio
async def test_a_path_not_served_is_a_route_that_does_not_exist(
    make_sim: Make, paths: str, missing: str
) -> None:
    sim = make_sim(paths=paths)
    served = UNIVERSAL if missing == LEGACY else LEGACY
    async with api(sim) as client:
        refused = await client.post(missing, json=body(missing))
        polled = await client.get(missing, params={"generation_id": "x"})
        await create(client, served)
    assert assert_api_error(refused, 404)["message"] == f"Cannot POST {missing}"
    assert assert_api_error(polled, 404)["message"] == f"Cannot GET {missing}"
    # The request reached no handler: nothing bought, nothing counted as a create.
    assert (sim.stats.creates_received, sim.stats.creates_bought) == (1, 1)
    assert "x-inference-id" not in refused.headers


@pytest.mark.anyio
async def test_both_paths_are_served_by_default_and_counted_apart(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim) as client:
        await create(client, UNIVERSAL)
        await create(client, UNIVERSAL)
        await create(client, LEGACY)
        await client.post(LEGACY, json=body(UNIVERSAL))  # refused: aspect_ratio is not legacy
    stats = sim.stats
    assert stats.creates_received_by_path == {"universal": 2, "legacy": 2}
    assert stats.creates_bought_by_path == {"universal": 2, "legacy": 1}
    assert stats.creates_bought == 3


# -- retired models ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["gen3a_turbo", "runway/gen3a_turbo"])
@pytest.mark.anyio
async def test_a_retired_model_answers_404_deprecated_and_sells_nothing(
    make_sim: Make, path: str, name: str
) -> None:
    sim = make_sim(retired_models={"gen3a_turbo"})
    async with api(sim) as client:
        refused = await client.post(path, json=body(path, model=name))
        successor = await create(client, path, model=GEN4)
        # A body that names no live model says which ones are on sale.
        other = await client.post(path, json=body(path, model="gen2"))
    assert assert_api_error(refused, 404)["message"] == (
        f"Model {name} is deprecated and no longer available. "
        "See https://docs.aimlapi.com/404-model-is-deprecated"
    )
    assert list(sim.jobs) == [successor["id"]]
    assert "Expected 'runway/gen4_turbo', received 'gen2'" in other.json()["message"]


# -- tracing and cost headers --------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_a_generation_is_traced_by_its_own_id_and_priced(
    make_sim: Make, clock: FakeClock, path: str
) -> None:
    sim = make_sim()
    trace = {"X-Client-Request-Id": "sub-01H:order_8f21.c4"}
    async with api(sim) as client:
        created = await client.post(path, json=body(path, model=GEN4, duration=10), headers=trace)
        generation_id = created.json()["id"]
        clock.advance(10)
        polled = await client.get(path, params={"generation_id": generation_id}, headers=trace)
    for response in (created, polled):
        assert response.headers["x-inference-id"] == generation_id
        assert response.headers["x-client-request-id"] == "sub-01H:order_8f21.c4"
        # runway/gen4_turbo: $0.50 for 10 s.
        assert response.headers["x-aimlapi-credits-used"] == "1000000"
        assert response.headers["x-aimlapi-usd-spent"] == "0.500000000"
        assert "x-inference-id" in response.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    "bad_id",
    ["has space", "é-accent", "x" * 129, "", "semi;colon"],
)
@pytest.mark.anyio
async def test_an_invalid_client_request_id_is_dropped_silently(
    make_sim: Make, bad_id: str
) -> None:
    sim = make_sim()
    async with api(sim) as client:
        response = await client.post(
            UNIVERSAL, json=body(), headers={"X-Client-Request-Id": bad_id.encode()}
        )
    assert response.status_code == 200  # still runs, still bought
    assert "x-client-request-id" not in response.headers
    assert response.headers["x-inference-id"] == response.json()["id"]
    (entry,) = sim.log_entries()
    assert entry.client_request_id is None


@pytest.mark.anyio
async def test_the_longest_valid_client_request_id_is_kept(make_sim: Make) -> None:
    sim = make_sim()
    longest = "A-z0.9_:" * 16  # 128 characters
    async with api(sim) as client:
        response = await client.post(
            UNIVERSAL, json=body(), headers={"X-Client-Request-Id": longest}
        )
    assert response.headers["x-client-request-id"] == longest


@pytest.mark.anyio
async def test_a_failed_generation_reports_zero_cost(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim(faults=Faults(job_error=1.0))
    async with api(sim) as client:
        created = await client.post(UNIVERSAL, json=body())
        generation_id = created.json()["id"]
        clock.advance(10)
        polled = await client.get(UNIVERSAL, params={"generation_id": generation_id})
    assert created.headers["x-aimlapi-usd-spent"] == "0.250000000"  # not failed yet
    assert polled.json()["status"] == "error"
    assert polled.headers["x-aimlapi-credits-used"] == "0"
    assert polled.headers["x-aimlapi-usd-spent"] == "0.000000000"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.anyio
async def test_refusals_and_polls_carry_tracing_but_no_cost(make_sim: Make, path: str) -> None:
    sim = make_sim()
    trace = {"X-Client-Request-Id": "abc"}
    unknown = "0b5e8a52-43b8-4f7c-9a3c-2b8d7c6e1f00"
    async with api(sim) as client:
        refusals = [await client.post(path, json={"model": "x"}, headers=trace) for _ in range(2)]
        missing = await client.get(path, params={"generation_id": unknown}, headers=trace)
        malformed = await client.get(path, params={"generation_id": "not-an-id"}, headers=trace)
    first, second = (r.headers["x-inference-id"] for r in refusals)
    assert first != second and len(first) == 21  # fresh ids, shaped like the API's
    assert missing.status_code == 404 and missing.headers["x-inference-id"] == unknown
    # On a poll the id comes from the query: one we could never have issued is left out.
    assert malformed.status_code == 404 and "x-inference-id" not in malformed.headers
    for response in (*refusals, missing, malformed):
        assert response.headers["x-client-request-id"] == "abc"
        assert "x-aimlapi-credits-used" not in response.headers
    # The error body and the log row name the same HTTP call.
    (entry,) = [e for e in sim.log_entries() if e.inference_id == second]
    assert entry.request_id == refusals[1].json()["requestId"]


@pytest.mark.anyio
async def test_a_legacy_generation_can_be_polled_on_the_universal_path(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim()
    async with api(sim) as client:
        created = await create(client, LEGACY, model=GEN4)
        clock.advance(10)
        answer = await poll(client, created["id"], UNIVERSAL)
    assert answer["status"] == "completed"
    assert answer["meta"] == {"usage": {"credits_used": 500_000}}
