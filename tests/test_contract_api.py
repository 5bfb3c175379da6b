"""The contract imitation (``tests/contract_api.py``) checked on its own.

Plain ``httpx`` against ``ContractAPI.transport()``, no gen3widgets client: if
the imitation drifts from ``API_CONTRACT.md``, these fail before any client
test is trusted. Each part names the contract section it follows.
"""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from tests.contract_api import (
    BASE,
    BILLING,
    CATALOGUE,
    CDN,
    CREDITS_PER_USD,
    LEGACY,
    LOGS,
    UNIVERSAL,
    VARIABLE_USD,
    ContractAPI,
    cut_short,
    echo_key,
    gzip_bomb,
    html_502,
    html_as_video,
    iso,
    odd_json,
    raising,
    status,
    truncated,
)
from tests.fakes import FakeClock, tiny_mp4

KEY = "sk-test-SECRET-42"
IMAGE = "https://images.example.com/cat.png"
ROUTE = {"universal": UNIVERSAL, "legacy": LEGACY}
NAMES = {
    "universal": {"ratio": "aspect_ratio", "last_image": "tail_image_url"},
    "legacy": {"ratio": "ratio", "last_image": "last_image_url"},
}


@pytest.fixture
def api(clock: FakeClock) -> ContractAPI:
    return ContractAPI(clock)


@pytest.fixture
def http(api: ContractAPI) -> Iterator[httpx.Client]:
    with client_for(api) as client:
        yield client


def client_for(api: ContractAPI) -> httpx.Client:
    headers = {"Authorization": f"Bearer {KEY}"}
    return httpx.Client(base_url=BASE, transport=api.transport(), headers=headers)


def body(path: str = "universal", **fields: Any) -> dict[str, Any]:
    """A valid create body in the path's own names; ``ratio``/``last_image`` are renamed."""
    sent: dict[str, Any] = {
        "model": "gen3a_turbo",
        "image_url": IMAGE,
        "duration": 5,
        "ratio": "16:9",
    }
    sent.update(fields)
    return {NAMES[path].get(key, key): value for key, value in sent.items()}


def create(
    http: httpx.Client,
    path: str = "universal",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    return http.post(ROUTE[path], json=body(path, **fields), headers=headers)


def retrieve(http: httpx.Client, generation_id: str, path: str = "universal") -> httpx.Response:
    return http.get(ROUTE[path], params={"generation_id": generation_id})


def logs(http: httpx.Client, **params: Any) -> dict[str, Any]:
    params.setdefault("period", "24h")
    answer = http.get(LOGS, params=params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# -- Endpoints: both paths, each with its own names ---------------------------------------


@pytest.mark.parametrize("path", ["universal", "legacy"])
def test_a_generation_runs_through_its_phases_to_a_video(
    http: httpx.Client, api: ContractAPI, clock: FakeClock, path: str
) -> None:
    created = create(http, path, prompt="a cat", seed=7, last_image=IMAGE)
    assert created.status_code == 200
    answer = created.json()
    assert set(answer) == {"id", "status", "video", "error", "meta"}
    assert answer["status"] == "queued" and answer["video"] is None and answer["error"] is None
    job = api.jobs[answer["id"]]
    assert job.path == path and job.model == "gen3a_turbo"
    clock.advance(api.job_seconds / 2)
    assert retrieve(http, job.id, path).json()["status"] == "generating"
    clock.advance(api.job_seconds / 2)
    done = retrieve(http, job.id, path).json()
    assert done["status"] == "completed"
    assert done["video"] == {"url": f"{CDN}/{job.id}.mp4?_jwt=v1"}
    assert api.counts["creates"] == api.counts[f"creates_{path}"] == api.bought == 1
    assert api.counts[f"gets_{path}"] == 2


def test_a_generation_may_be_retrieved_on_the_other_path(
    http: httpx.Client, api: ContractAPI
) -> None:
    generation_id = create(http, "universal").json()["id"]
    assert retrieve(http, generation_id, "legacy").status_code == 200
    assert api.counts["gets_legacy"] == 1


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("universal", "ratio"),
        ("universal", "last_image_url"),
        ("legacy", "aspect_ratio"),
        ("legacy", "tail_image_url"),
        ("universal", "resolution"),
    ],
)
def test_a_key_of_the_other_path_is_refused_and_nothing_bought(
    http: httpx.Client, api: ContractAPI, path: str, key: str
) -> None:
    sent = body(path)
    sent[key] = "16:9" if "ratio" in key else IMAGE
    answer = http.post(ROUTE[path], json=sent)
    assert answer.status_code == 400
    error = answer.json()
    assert set(error) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert error["message"].startswith("Body validation error")
    assert f"Unrecognized key(s) in object: '{key}'" in error["message"]
    assert error["path"] == ROUTE[path] and error["statusCode"] == 400
    assert api.bought == 0 and api.jobs == {}


@pytest.mark.parametrize("served", ["universal", "legacy"])
def test_a_route_not_served_reached_no_handler(clock: FakeClock, served: str) -> None:
    api = ContractAPI(clock, paths=served)
    missing = "legacy" if served == "universal" else "universal"
    with client_for(api) as http:
        answer = create(http, missing)
        assert answer.status_code == 404
        assert answer.json()["message"] == f"Cannot POST {ROUTE[missing]}"
        assert retrieve(http, "any", missing).json()["message"] == f"Cannot GET {ROUTE[missing]}"
        assert create(http, served).status_code == 200
    assert api.bought == 1 and api.counts["unrouted"] == 2
    assert api.counts[f"creates_{missing}"] == 0
    assert len(api.log_entries) == 1  # only the create that reached a handler


def test_paths_must_be_one_of_the_three_options(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="paths='v1'"):
        ContractAPI(clock, paths="v1")


# -- Models with the image-to-video inputs: each field checked per model ------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        (
            {"ratio": "4:3"},
            "aspect_ratio: Invalid enum value. Expected '16:9' | '9:16', received \"4:3\"",
        ),
        ({"duration": 7}, "duration: Invalid enum value. Expected 5 | 10, received 7"),
        ({"duration": "5"}, "duration: Expected number, received string"),
        ({"seed": -1}, "seed: Number must be greater than or equal to 0"),
        ({"seed": 4_294_967_296}, "seed: Number must be less than or equal to 4294967295"),
        ({"seed": 1.5}, "seed: Expected integer, received float"),
        ({"seed": True}, "seed: Expected number, received boolean"),
        ({"prompt": "x" * 1001}, "prompt: String must contain at most 1000 character(s)"),
        ({"prompt": "😀" * 501}, "prompt: String must contain at most 1000"),  # UTF-16 units
        ({"prompt": None}, "prompt: Expected string, received null"),
        ({"image_url": "http://images.example.com/a.png"}, "image_url: Invalid url"),
        ({"image_url": "https://10.0.0.1/a.png"}, "image_url: URL must name a domain"),
        ({"image_url": "https://example.com/" + "a" * 2100}, "image_url: URL must be at most 2048"),
        ({"image_url": "data:image/gif;base64,R0lG"}, "image_url: Invalid data URI"),
        ({"last_image": "ftp://images.example.com/b.png"}, "tail_image_url: Invalid url"),
        (
            {"model": "gen9"},
            "model: Invalid enum value. Expected 'gen3a_turbo' | 'runway/gen4_turbo'",
        ),
    ],
)
def test_each_field_is_checked_and_named(
    http: httpx.Client, api: ContractAPI, fields: dict[str, Any], named: str
) -> None:
    answer = create(http, **fields)
    assert answer.status_code == 400
    assert named in answer.json()["message"]
    assert api.bought == 0


def test_missing_fields_and_non_objects_are_refused(http: httpx.Client) -> None:
    message = http.post(UNIVERSAL, json={"duration": 5}).json()["message"]
    assert "model: Required" in message and "image_url: Required" in message
    assert "Expected object, received array" in http.post(UNIVERSAL, json=[1]).json()["message"]
    assert http.post(UNIVERSAL, content=b"{not json").status_code == 400


def test_prompt_limit_counts_utf16_units_and_allows_exactly_1000(http: httpx.Client) -> None:
    assert create(http, prompt="😀" * 500).status_code == 200
    assert create(http, prompt="x" * 1000).status_code == 200


@pytest.mark.parametrize("ratio", ["4:3", "3:4", "1:1", "21:9", "9:16"])
def test_gen4_turbo_takes_its_wider_ratios(
    http: httpx.Client, api: ContractAPI, ratio: str
) -> None:
    answer = create(http, model="runway/gen4_turbo", ratio=ratio, duration=10)
    assert answer.status_code == 200
    assert api.jobs[answer.json()["id"]].model == "runway/gen4_turbo"


def test_data_uris_and_an_alias_are_accepted(http: httpx.Client, api: ContractAPI) -> None:
    answer = create(http, model="gen4_turbo", image_url="data:image/png;base64,iVBORw0KGgo=")
    assert answer.status_code == 200
    assert api.jobs[answer.json()["id"]].model == "runway/gen4_turbo"


def test_a_retired_model_is_deprecated_and_nothing_is_bought(clock: FakeClock) -> None:
    api = ContractAPI(clock, retired={"gen3a_turbo"})
    with client_for(api) as http:
        for path in ("universal", "legacy"):
            answer = create(http, path)
            assert answer.status_code == 404
            assert "model is deprecated" in answer.json()["message"]
        assert create(http, model="runway/gen4_turbo").status_code == 200
        catalogue = http.get(CATALOGUE).json()["data"]
    assert api.bought == 1
    assert [m["id"] for m in catalogue] == ["runway/gen4_turbo"]


def test_a_request_without_a_valid_key_is_401(clock: FakeClock) -> None:
    api = ContractAPI(clock, api_key=KEY)
    with httpx.Client(base_url=BASE, transport=api.transport()) as http:
        assert create(http).status_code == 401
        wrong = create(http, headers={"Authorization": "Bearer sk-other"})
        assert wrong.status_code == 401 and "x-inference-id" in wrong.headers
        assert create(http, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert http.get(BILLING).status_code == 401
        assert http.get(CATALOGUE).status_code == 200  # the catalogue is open
    assert api.bought == 1


def test_out_of_credits_is_403_and_nothing_is_bought(clock: FakeClock) -> None:
    api = ContractAPI(clock, starting_balance=0.0, string_status_codes=True)
    with client_for(api) as http:
        answer = create(http)
    assert answer.status_code == 403
    assert answer.json()["message"].startswith("You've run out of credits")
    assert answer.json()["statusCode"] == "403"
    assert api.bought == 0


# -- Responses: the shapes the contract lists -------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("object", lambda url: {"url": url}),
        ("list", lambda url: [url]),
        ("object_with_duration", lambda url: {"url": url, "duration": 10}),
    ],
)
def test_each_video_shape(clock: FakeClock, shape: str, expected: Any) -> None:
    api = ContractAPI(clock, video_shape=shape, usage_key="tokens_used", job_seconds=0)
    with client_for(api) as http:
        answer = create(http, duration=10).json()
    url = f"{CDN}/{answer['id']}.mp4?_jwt=v1"
    assert answer["video"] == expected(url)
    assert answer["meta"] == {"usage": {"tokens_used": CREDITS_PER_USD // 2}}


def test_phases_share_the_job_time_in_order(clock: FakeClock) -> None:
    api = ContractAPI(clock, job_seconds=9, phases=("waiting", "active", "processing"))
    with client_for(api) as http:
        generation_id = create(http).json()["id"]
        seen = []
        for _ in range(4):
            seen.append(retrieve(http, generation_id).json()["status"])
            clock.advance(3)
    assert seen == ["waiting", "active", "processing", "completed"]


def test_a_failed_generation_carries_its_error_and_costs_nothing(clock: FakeClock) -> None:
    error = {"name": "ContentModeration", "message": "The prompt was flagged"}
    api = ContractAPI(clock, fail_with=error)
    with client_for(api) as http:
        generation_id = create(http).json()["id"]
        clock.advance(api.job_seconds)
        answer = retrieve(http, generation_id)
        assert answer.json()["status"] == "error" and answer.json()["error"] == error
        assert answer.json()["meta"]["usage"]["credits_used"] == 0
        assert answer.headers["x-aimlapi-usd-spent"] == "0.000000000"
        assert http.get(BILLING).json()["current_balance"] == 100.0
        assert logs(http)["data"][0]["status"] == "failed"


def test_an_unknown_generation_is_404(http: httpx.Client) -> None:
    answer = retrieve(http, "no-such-id")
    assert answer.status_code == 404 and answer.json()["message"] == "Generation not found"
    assert http.get(UNIVERSAL).status_code == 400  # no generation_id at all


def test_accepted_creates_may_answer_201(clock: FakeClock) -> None:
    api = ContractAPI(clock, create_status=201)
    with client_for(api) as http:
        assert create(http).status_code == 201


# -- Tracing and cost --------------------------------------------------------------------


def test_create_and_retrieve_carry_the_tracing_and_cost_headers(
    http: httpx.Client, api: ContractAPI
) -> None:
    created = create(http, headers={"X-Client-Request-Id": "sub:2026-08-21_a.b-1"})
    generation_id = created.json()["id"]
    assert created.headers["x-inference-id"] == generation_id
    assert created.headers["x-client-request-id"] == "sub:2026-08-21_a.b-1"
    assert created.headers["x-aimlapi-credits-used"] == str(round(0.25 * CREDITS_PER_USD))
    assert created.headers["x-aimlapi-usd-spent"] == "0.250000000"
    assert api.jobs[generation_id].client_request_id == "sub:2026-08-21_a.b-1"
    got = retrieve(http, generation_id)
    assert got.headers["x-inference-id"] == generation_id
    assert "x-client-request-id" not in got.headers  # the GET sent none
    refused = create(http, ratio="4:3", headers={"X-Client-Request-Id": "r-1"})
    assert refused.headers["x-client-request-id"] == "r-1"
    assert refused.headers["x-aimlapi-usd-spent"] == "0.000000000"


@pytest.mark.parametrize("sent", ["has space", "naïve", "a" * 129, "semi;colon"])
def test_an_invalid_client_request_id_is_silently_dropped(
    http: httpx.Client, api: ContractAPI, clock: FakeClock, sent: str
) -> None:
    answer = http.post(
        UNIVERSAL, json=body(), headers={"X-Client-Request-Id": sent.encode("utf-8")}
    )
    assert answer.status_code == 200
    assert "x-client-request-id" not in answer.headers
    assert api.jobs[answer.json()["id"]].client_request_id is None
    assert api.client_request_ids == [sent]  # what was sent, for the test to see
    clock.advance(api.logs_lag)
    assert logs(http)["data"][0]["client_request_id"] is None
    assert api.bought == 1


def test_a_client_request_id_of_128_characters_is_kept(
    http: httpx.Client, api: ContractAPI
) -> None:
    sent = "A" * 128
    assert (
        create(http, headers={"X-Client-Request-Id": sent}).headers["x-client-request-id"] == sent
    )


# -- Model catalogue: prices, filters, ETag ------------------------------------------------


def test_the_two_models_are_priced_with_different_kinds(http: httpx.Client) -> None:
    data = http.get(CATALOGUE, params={"include": "pricing"}).json()["data"]
    pricing = {m["id"]: m["pricing"] for m in data}
    assert pricing["gen3a_turbo"]["kind"] == "variants"
    assert {"when", "price", "unit", "per"} <= set(pricing["gen3a_turbo"]["variants"][0])
    assert pricing["runway/gen4_turbo"] == {
        "kind": "fixed",
        "units": [{"name": "second", "price": 0.3, "per": 5}],
    }
    assert "pricing" not in http.get(CATALOGUE).json()["data"][0]


@pytest.mark.parametrize(
    ("model", "duration", "usd"),
    [
        ("gen3a_turbo", 5, "0.250000000"),
        ("gen3a_turbo", 10, "0.500000000"),
        ("runway/gen4_turbo", 5, "0.300000000"),  # 0.3 per 5 seconds
        ("runway/gen4_turbo", 10, "0.600000000"),
    ],
)
def test_a_generation_costs_what_its_price_says_read_with_per(
    http: httpx.Client, model: str, duration: int, usd: str
) -> None:
    assert create(http, model=model, duration=duration).headers["x-aimlapi-usd-spent"] == usd


def test_a_variable_price_cannot_be_quoted_but_is_charged(clock: FakeClock) -> None:
    api = ContractAPI(clock, prices={"gen3a_turbo": {"kind": "variable"}}, job_seconds=1)
    with client_for(api) as http:
        pricing = http.get(CATALOGUE, params={"include": "pricing", "id": "gen3a_turbo"})
        assert pricing.json()["data"][0]["pricing"] == {"kind": "variable"}
        create(http)
        clock.advance(1)
        assert http.get(BILLING).json()["current_balance"] == pytest.approx(100 - VARIABLE_USD)


def test_the_contracts_flat_fixed_shape_is_priced_too(clock: FakeClock) -> None:
    flat = {"kind": "fixed", "price": 0.07, "unit": "second", "per": 1}
    api = ContractAPI(clock, prices={"runway/gen4_turbo": flat})
    with client_for(api) as http:
        answer = create(http, model="runway/gen4_turbo", duration=10)
    assert answer.headers["x-aimlapi-usd-spent"] == "0.700000000"


@pytest.mark.parametrize("wanted", ["runway/gen4_turbo", "gen4_turbo"])
def test_the_catalogue_filters_by_id_or_alias(http: httpx.Client, wanted: str) -> None:
    data = http.get(CATALOGUE, params={"id": wanted}).json()["data"]
    assert [(m["id"], m["aliases"]) for m in data] == [("runway/gen4_turbo", ["gen4_turbo"])]
    assert http.get(CATALOGUE, params={"id": "gen9"}).json()["data"] == []


def test_the_catalogue_answers_304_to_its_own_etag(http: httpx.Client, api: ContractAPI) -> None:
    first = http.get(CATALOGUE, params={"include": "pricing"})
    etag = first.headers["ETag"]
    again = http.get(CATALOGUE, params={"include": "pricing"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    api.prices["gen3a_turbo"] = {"kind": "variable"}  # the price changed: so does the tag
    changed = http.get(CATALOGUE, params={"include": "pricing"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert api.counts["catalogue"] == 3 and api.counts["catalogue_304"] == 1


# -- Balance --------------------------------------------------------------------------------


def test_the_balance_falls_when_a_generation_completes_on_the_clock(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    create(http, model="runway/gen4_turbo")
    assert http.get(BILLING).json() == {"current_balance": 100.0, "currency": "USD"}
    clock.advance(api.job_seconds)  # nobody polls: it is charged all the same
    assert http.get(BILLING).json()["current_balance"] == pytest.approx(99.7)
    assert api.counts["billing"] == 2


# -- Usage logs -----------------------------------------------------------------------------


def test_a_row_shows_only_after_the_lag(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    generation_id = create(http, headers={"X-Client-Request-Id": "sub-1"}).json()["id"]
    assert logs(http)["data"] == []
    clock.advance(api.logs_lag - 0.5)
    assert logs(http)["data"] == []
    clock.advance(0.5)
    (row,) = logs(http)["data"]
    assert row["inference_id"] == generation_id and row["client_request_id"] == "sub-1"
    assert row["status"] == "succeeded" and row["model"] == "gen3a_turbo"
    assert row["cost"] == {"usd": 0.0, "credits": 0}  # charged after completion only
    assert {"created", "origin", "tokens", "request_id"} <= set(row)
    clock.advance(api.job_seconds)
    assert logs(http)["data"][0]["cost"] == {"usd": 0.25, "credits": 500_000}
    assert api.counts["logs"] == 4


def test_a_purchase_whose_answer_was_lost_has_its_row(clock: FakeClock) -> None:
    api = ContractAPI(
        clock,
        create_faults=[
            raising(httpx.ReadTimeout, bought=True),
            raising(httpx.ConnectError),
            status(429),
        ],
    )
    with client_for(api) as http:
        with pytest.raises(httpx.ReadTimeout):
            create(http, headers={"X-Client-Request-Id": "lost-1"})
        with pytest.raises(httpx.ConnectError):
            create(http, headers={"X-Client-Request-Id": "refused-2"})
        assert create(http, headers={"X-Client-Request-Id": "limited-3"}).status_code == 429
        clock.advance(api.logs_lag)
        rows = logs(http)["data"]
    (job,) = api.jobs.values()
    assert api.bought == 1 and api.counts["creates"] == 3
    # Newest first; the connection that never opened left no row.
    assert [(r["client_request_id"], r["status"]) for r in rows] == [
        ("limited-3", "failed"),  # answered 429: reached the server, not bought
        ("lost-1", "succeeded"),  # bought, answer lost: the row names the generation
    ]
    assert rows[1]["inference_id"] == job.id and job.client_request_id == "lost-1"


def test_refused_creates_are_failed_rows_of_no_cost(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    create(http, ratio="4:3", headers={"X-Client-Request-Id": "bad-ratio"})
    clock.advance(api.logs_lag)
    (row,) = logs(http)["data"]
    assert row["status"] == "failed" and row["cost"] == {"usd": 0.0, "credits": 0}
    assert row["client_request_id"] == "bad-ratio"


def test_logs_filter_by_repeated_model_and_status_newest_first(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    for model, request_id in [
        ("gen3a_turbo", "a"),
        ("runway/gen4_turbo", "b"),
        ("gen3a_turbo", "c"),
    ]:
        create(http, model=model, headers={"X-Client-Request-Id": request_id})
        clock.advance(1)
    create(http, ratio="4:3", headers={"X-Client-Request-Id": "d"})
    clock.advance(api.logs_lag)

    def ids(**params: Any) -> list[str]:
        return [row["client_request_id"] for row in logs(http, **params)["data"]]

    assert ids() == ["d", "c", "b", "a"]
    assert ids(model="runway/gen4_turbo") == ["b"]
    assert ids(model=["runway/gen4_turbo", "gen3a_turbo"], status="succeeded") == ["c", "b", "a"]
    assert ids(status="failed") == ["d"]
    assert ids(model="gen3a_turbo,runway/gen4_turbo") == []  # commas are not a list


def test_logs_page_with_limit_offset_and_has_more(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    for _ in range(5):
        create(http)
    clock.advance(api.logs_lag)
    first = logs(http, limit=2)
    assert first["pagination"] == {"limit": 2, "offset": 0, "total": 5, "has_more": True}
    last = logs(http, limit=2, offset=4)
    assert len(last["data"]) == 1 and last["pagination"]["has_more"] is False


def test_logs_windows_by_period_or_start_and_end(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    create(http)
    early = clock.now()
    clock.advance(7200)
    create(http)
    clock.advance(api.logs_lag)
    assert logs(http, period="1h")["pagination"]["total"] == 1
    assert logs(http, period="24h")["pagination"]["total"] == 2
    answer = http.get(LOGS, params={"start": iso(early - 1), "end": iso(early + 1)})
    assert answer.status_code == 200 and answer.json()["pagination"]["total"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"period": "1h", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-04-03T00:00:01Z"},  # 92 days and a second
        {"period": "soon"},
        {"period": "1h", "limit": 0},
        {"period": "1h", "limit": 101},
        {"period": "1h", "offset": -1},
        {"period": "1h", "status": "completed"},
    ],
)
def test_logs_queries_outside_the_contract_are_400(
    http: httpx.Client, params: dict[str, Any]
) -> None:
    answer = http.get(LOGS, params=params)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Query validation error")


def test_logs_rate_limit_and_scripted_faults(clock: FakeClock) -> None:
    api = ContractAPI(clock, logs_per_minute=3, logs_faults=[status(503), html_502()])
    with client_for(api) as http:
        codes = [http.get(LOGS, params={"period": "1h"}).status_code for _ in range(6)]
        clock.advance(60)
        codes.append(http.get(LOGS, params={"period": "1h"}).status_code)
    assert codes == [503, 502, 200, 200, 200, 429, 200]
    assert api.counts["logs"] == 7


# -- Scripted faults ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["universal", "legacy"])
def test_create_faults_play_in_order_on_either_path(clock: FakeClock, path: str) -> None:
    api = ContractAPI(clock, create_faults=[status(503), truncated(bought=True), html_502()])
    with client_for(api) as http:
        answers = [create(http, path) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 200, 502, 200]
    assert answers[1].content == b'{"id": "abc", "sta'
    assert "x-inference-id" not in answers[1].headers  # a fault answers raw
    assert api.bought == 2 and api.counts[f"creates_{path}"] == 4


def test_a_bought_fault_needs_a_create_the_server_would_accept(clock: FakeClock) -> None:
    api = ContractAPI(clock, create_faults=[truncated(bought=True)])
    with client_for(api) as http, pytest.raises(ValueError, match="bought fault"):
        create(http, ratio="4:3")


def test_get_and_video_faults_play_in_order(clock: FakeClock) -> None:
    api = ContractAPI(
        clock,
        job_seconds=0,
        get_faults=[raising(httpx.ReadTimeout)],
        video_faults=[status(503)],
    )
    with client_for(api) as http:
        generation_id = create(http).json()["id"]
        with pytest.raises(httpx.ReadTimeout):
            retrieve(http, generation_id)
        url = retrieve(http, generation_id).json()["video"]["url"]
        with httpx.Client(transport=api.transport()) as cdn:
            assert cdn.get(url).status_code == 503
            assert cdn.get(url).content == api.video_bytes
    assert api.jobs[generation_id].gets == 2


def test_gzip_bomb_inflates_only_as_it_is_read(clock: FakeClock) -> None:
    api = ContractAPI(clock, create_faults=[gzip_bomb(8)])
    with client_for(api) as http, http.stream("POST", UNIVERSAL, json=body()) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        compressed = int(answer.headers["Content-Length"])
        inflated = sum(len(chunk) for chunk in answer.iter_bytes())
    assert inflated == 8 * 1024 * 1024
    assert compressed < inflated / 100
    assert api.bought == 0


def test_gzip_bomb_is_real_gzip() -> None:
    request = httpx.Request("GET", f"{BASE}{LOGS}")
    answer = gzip_bomb(1).make(request)
    raw = b"".join(answer.iter_raw())
    assert zlib.decompress(raw, 16 + zlib.MAX_WBITS) == bytes(1024 * 1024)


def test_echo_key_repeats_the_callers_key(clock: FakeClock) -> None:
    api = ContractAPI(
        clock,
        job_seconds=0,
        create_faults=[echo_key()],
        get_faults=[echo_key(as_generation_error=True)],
    )
    with client_for(api) as http:
        refused = create(http)
        generation_id = create(http).json()["id"]
        answer = retrieve(http, generation_id)
    assert refused.status_code == 401 and KEY in refused.json()["message"]
    assert answer.status_code == 200 and answer.json()["id"] == generation_id
    assert answer.json()["status"] == "error" and KEY in answer.json()["error"]["message"]
    assert api.bought == 1


def test_odd_json_is_answered_verbatim_and_bought(clock: FakeClock) -> None:
    text = '{"id": "x", "status": "queued", "meta": {"usage": {"credits_used": Infinity}}}'
    api = ContractAPI(clock, create_faults=[odd_json(text)])
    with client_for(api) as http:
        answer = create(http, headers={"X-Client-Request-Id": "odd-1"})
    assert answer.status_code == 200 and answer.text == text
    (job,) = api.jobs.values()
    assert api.bought == 1 and job.client_request_id == "odd-1"


def test_cut_short_promises_more_than_it_sends(clock: FakeClock) -> None:
    video = tiny_mp4()
    request = httpx.Request("GET", f"{CDN}/x.mp4")
    promised = cut_short().make(request)
    assert int(promised.headers["Content-Length"]) == len(video)
    assert promised.read() == video[: len(video) // 2]
    silent = cut_short(close_delimited=True, keep=0.9).make(request)
    assert "Content-Length" not in silent.headers
    with pytest.raises(av.error.InvalidDataError):  # only decoding can tell
        av.open(io.BytesIO(silent.read()))


def test_html_as_video_has_no_content_type(clock: FakeClock) -> None:
    answer = html_as_video().make(httpx.Request("GET", f"{CDN}/x.mp4"))
    assert answer.status_code == 200 and "Content-Type" not in answer.headers
    assert answer.read().startswith(b"<!DOCTYPE html>")


# -- The video host ------------------------------------------------------------------------


def test_the_video_is_a_real_decodable_mp4() -> None:
    video = tiny_mp4()
    assert video[4:8] == b"ftyp"
    with av.open(io.BytesIO(video)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 8 and (frames[0].width, frames[0].height) == (64, 36)
    assert tiny_mp4() is video  # made once


def test_video_urls_expire_by_version_and_the_key_is_counted(
    http: httpx.Client, api: ContractAPI, clock: FakeClock
) -> None:
    generation_id = create(http).json()["id"]
    clock.advance(api.job_seconds)
    first = retrieve(http, generation_id).json()["video"]["url"]
    api.expired_versions.add(1)
    with httpx.Client(transport=api.transport()) as cdn:
        assert cdn.get(first).status_code == 403
        fresh = retrieve(http, generation_id).json()["video"]["url"]
        assert fresh.endswith("_jwt=v2")
        answer = cdn.get(fresh)
        assert answer.content == api.video_bytes
        assert answer.headers["Content-Type"] == "video/mp4"
        assert answer.headers["Content-Length"] == str(len(api.video_bytes))
        assert cdn.get(f"{CDN}/no-such.mp4?_jwt=v1").status_code == 404
    assert api.counts["downloads_with_auth"] == 0
    http.get(fresh)  # the API client's key goes along: a bug the counter catches
    assert api.counts["downloads_with_auth"] == 1 and api.counts["downloads"] == 4


# -- One transport for both kinds of client -------------------------------------------------


def test_the_transport_serves_an_async_client(api: ContractAPI, clock: FakeClock) -> None:
    async def run() -> tuple[str, bytes]:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(
            base_url=BASE, transport=api.transport(), headers=headers
        ) as http:
            generation_id = (await http.post(UNIVERSAL, json=body())).json()["id"]
            clock.advance(api.job_seconds)
            answer = await http.get(UNIVERSAL, params={"generation_id": generation_id})
            url = answer.json()["video"]["url"]
        async with httpx.AsyncClient(transport=api.transport()) as cdn:
            return answer.json()["status"], (await cdn.get(url)).content

    assert asyncio.run(run()) == ("completed", api.video_bytes)


def test_unknown_options_are_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="video_shape"):
        ContractAPI(clock, video_shape="dict")
    with pytest.raises(ValueError, match="phases"):
        ContractAPI(clock, phases=())
