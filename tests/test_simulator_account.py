"""The simulator's account endpoints: usage logs, the balance, and the model catalogue."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from gen3widgets.simulator import Faults
from tests.fakes import FakeClock
from tests.simulator_support import (
    LEGACY,
    UNIVERSAL,
    Make,
    api,
    assert_api_error,
    body,
    create,
    make_sim,
    poll,
)

__all__ = ["make_sim"]  # a fixture, used by name

GEN4 = "runway/gen4_turbo"
ROW_KEYS = {
    "created",
    "status",
    "origin",
    "model",
    "cost",
    "tokens",
    "request_id",
    "inference_id",
    "client_request_id",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _logs(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    params.setdefault("period", "1h")
    response = await client.get(
        "/v2/logs", params={k: v for k, v in params.items() if v is not None}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _rows(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await _logs(client, **params))["data"]
    return rows


# -- usage logs ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_bought_create_shows_after_the_lag_and_is_charged_once_completed(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(job_seconds=(5.0, 5.0))
    async with api(sim) as client:
        created = await client.post(
            UNIVERSAL, json=body(), headers={"X-Client-Request-Id": "sub-1"}
        )
        generation_id = created.json()["id"]
        assert await _rows(client) == []  # the analytics pipeline has not caught up
        clock.advance(2.0)
        (pending,) = await _rows(client)
        clock.advance(3.0)
        (charged,) = await _rows(client)
    assert set(pending) == ROW_KEYS
    assert pending == {
        "created": "2026-08-21T00:00:00.000Z",
        "status": "succeeded",
        "origin": "api",
        "model": "gen3a_turbo",
        "cost": {"usd": 0.0, "credits": 0},  # charged after the generation completes
        "tokens": {"input": 0, "output": 0, "total": 0},
        "request_id": pending["request_id"],
        "inference_id": generation_id,
        "client_request_id": "sub-1",
    }
    assert charged["cost"] == {"usd": 0.25, "credits": 500_000}


@pytest.mark.parametrize(
    "fault", [Faults(create_lost_answer=1.0), Faults(create_500_after_buying=1.0)]
)
@pytest.mark.anyio
async def test_a_create_whose_answer_was_lost_is_found_by_its_client_request_id(
    make_sim: Make, clock: FakeClock, fault: Faults
) -> None:
    sim = make_sim(faults=fault, logs_lag=0.0)
    async with api(sim) as client:
        with contextlib.suppress(httpx.RemoteProtocolError):  # the dropped answer
            await client.post(UNIVERSAL, json=body(), headers={"X-Client-Request-Id": "sub-7"})
        sim.faults = Faults()
        await create(client)  # another purchase, without a client request id
        rows = await _rows(client)
    (generation_id, _) = list(sim.jobs)
    (mine,) = [r for r in rows if r["client_request_id"] == "sub-7"]
    assert mine["inference_id"] == generation_id and mine["status"] == "succeeded"


@pytest.mark.anyio
async def test_refused_and_failed_creates_are_failed_rows_at_no_cost(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(logs_lag=0.0, retired_models={"gen3a_turbo"}, faults=Faults(job_error=1.0))
    async with api(sim) as client:
        await client.post(UNIVERSAL, json=body(model=GEN4, ratio="16:9"))  # unknown key
        await client.post(UNIVERSAL, json=body(), headers={"X-Client-Request-Id": "gone"})
        doomed = await create(client, model=GEN4)
        await client.post(UNIVERSAL, json={"prompt": "no model"})  # names none: not logged
        before = await _rows(client)
        clock.advance(10)
        after = await _rows(client)
    retired, refused = before[1], before[2]
    assert [r["status"] for r in before] == ["succeeded", "failed", "failed"]
    assert (retired["model"], retired["client_request_id"]) == ("gen3a_turbo", "gone")
    assert refused["model"] == GEN4
    for row in (retired, refused):
        assert row["cost"] == {"usd": 0.0, "credits": 0}
        assert row["inference_id"] not in sim.jobs  # an id of its own: nothing bought
    assert after[0]["inference_id"] == doomed["id"]
    assert (after[0]["status"], after[0]["cost"]["usd"]) == ("failed", 0.0)


@pytest.mark.anyio
async def test_logs_filter_by_model_and_status(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim(logs_lag=0.0)
    async with api(sim) as client:
        await create(client, model=GEN4)
        await create(client, LEGACY, model="gen3a_turbo")
        await client.post(UNIVERSAL, json=body(duration=7))
        clock.advance(10)

        async def models(**params: Any) -> list[str]:
            return [r["model"] for r in await _rows(client, **params)]

        assert await models() == ["gen3a_turbo", "gen3a_turbo", GEN4]  # newest first
        assert await models(model=GEN4) == [GEN4]
        assert await models(model="gen4_turbo") == [GEN4]  # the bare alias
        assert await models(model="runway/gen3a_turbo") == ["gen3a_turbo", "gen3a_turbo"]
        assert await models(model=["gen4_turbo", "gen3a_turbo"]) == [
            "gen3a_turbo",
            "gen3a_turbo",
            GEN4,
        ]
        # Commas do not split: one model literally called that, which matches nothing.
        assert await models(model="gen4_turbo,gen3a_turbo") == []
        assert await models(model="GEN4_TURBO") == []  # matched exactly
        assert await models(status="failed") == ["gen3a_turbo"]
        assert len(await models(status=["succeeded", "failed"])) == 3
        for bad in ("succeeded,failed", "ok"):
            refused = await client.get("/v2/logs", params={"period": "1h", "status": bad})
            assert "status must be succeeded or failed" in assert_api_error(refused, 400)["message"]


@pytest.mark.anyio
async def test_logs_are_paginated_newest_first(make_sim: Make) -> None:
    sim = make_sim(logs_lag=0.0)
    async with api(sim) as client:
        ids = [(await create(client))["id"] for _ in range(5)]
        first = await _logs(client, limit=2)
        last = await _logs(client, limit=2, offset=4)
        beyond = await _logs(client, offset=10)
        default = await _logs(client)
        for name, value in (("limit", 0), ("limit", 101), ("limit", "x"), ("offset", -1)):
            refused = await client.get("/v2/logs", params={"period": "1h", name: value})
            assert f"{name} must be a whole number" in assert_api_error(refused, 400)["message"]
    assert [r["inference_id"] for r in first["data"]] == ids[:2:-1][:2]
    assert first["pagination"] == {"limit": 2, "offset": 0, "total": 5, "has_more": True}
    assert [r["inference_id"] for r in last["data"]] == [ids[0]]
    assert last["pagination"] == {"limit": 2, "offset": 4, "total": 5, "has_more": False}
    assert beyond["data"] == [] and beyond["pagination"]["has_more"] is False
    assert default["pagination"]["limit"] == 50


@pytest.mark.anyio
async def test_log_windows(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim(logs_lag=0.0)  # the simulator's calendar starts at 2026-08-21T00:00:00Z
    async with api(sim) as client:
        await create(client)
        clock.advance(2 * 3600)
        assert await _rows(client, period="1h") == []
        assert len(await _rows(client, period="3h")) == 1
        assert len(await _rows(client, period="1d")) == 1
        inside = {"start": "2026-08-20T23:00:00", "end": "2026-08-21T00:30:00"}  # no offset: UTC
        assert len(await _rows(client, period=None, **inside)) == 1
        # Offsets are honoured: 01:00-03:00 at +02:00 holds 00:00Z, 23:00-00:30 at -02:00 does not.
        east = {"start": "2026-08-21T01:00:00+02:00", "end": "2026-08-21T03:00:00+02:00"}
        assert len(await _rows(client, period=None, **east)) == 1
        west = {"start": "2026-08-20T23:00:00-02:00", "end": "2026-08-21T00:30:00-02:00"}
        assert len(await _rows(client, period=None, **west)) == 0
        exact = {"start": "2026-08-21T00:00:00Z", "end": "2026-08-21T00:00:00Z"}
        assert len(await _rows(client, period=None, **exact)) == 1
        bad: list[tuple[dict[str, str], str]] = [
            ({}, "Send a window"),
            ({"start": "2026-08-20T00:00:00Z"}, "Send a window"),
            ({"period": "1h", "start": "2026-08-20T00:00:00Z"}, "not both"),
            ({"period": "0h"}, "period must be"),
            ({"period": "7w"}, "period must be"),
            ({"period": "93d"}, "must not exceed 92 days"),
            ({"period": "2209h"}, "must not exceed 92 days"),
            ({"period": "99999999999999d"}, "must not exceed 92 days"),
            ({"start": "2026-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}, "92 days"),
            ({"start": "2026-08-21T00:00:00Z", "end": "2026-08-20T00:00:00Z"}, "not be earlier"),
            ({"start": "yesterday", "end": "2026-08-20T00:00:00Z"}, "start must be an ISO-8601"),
        ]
        for params, message in bad:
            answer = assert_api_error(await client.get("/v2/logs", params=params), 400)
            assert message in answer["message"], params
        assert len(await _rows(client, period="92d")) == 1
        assert len(await _rows(client, period="2208h")) == 1


@pytest.mark.anyio
async def test_logs_need_a_key_show_only_its_requests_and_may_be_rate_limited(
    make_sim: Make,
) -> None:
    sim = make_sim(logs_lag=0.0)
    async with api(sim, key="key-a") as a, api(sim, key="key-b") as b, api(sim, key=None) as anon:
        await create(a)
        assert len(await _rows(a)) == 1
        assert await _rows(b) == []
        assert_api_error(await anon.get("/v2/logs", params={"period": "1h"}), 401)
        sim.faults = Faults(logs_429=1.0)
        limited = await a.get("/v2/logs", params={"period": "1h"})
    assert_api_error(limited, 429)
    assert limited.headers["retry-after"] == "1"
    assert sim.stats.logs_requests == 4


# -- balance -------------------------------------------------------------------------------


async def _balance(client: httpx.AsyncClient) -> float:
    response = await client.get("/v2/billing")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["currency"] == "USD"
    balance: float = answer["current_balance"]
    return balance


@pytest.mark.anyio
async def test_the_balance_drops_when_a_generation_completes_never_when_it_fails(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(job_seconds=(4.0, 4.0))
    async with api(sim) as client, api(sim, key=None) as anon:
        assert await _balance(client) == 100.0
        await create(client)  # gen3a_turbo, 5 s: $0.25
        await create(client, model=GEN4, duration=10)  # $0.50
        sim.faults = Faults(job_error=1.0)
        await create(client, model=GEN4)  # fails: never charged
        clock.advance(3.9)
        assert await _balance(client) == 100.0  # nothing completed yet
        clock.advance(0.1)
        assert await _balance(client) == 99.25
        clock.advance(10)
        assert await _balance(client) == 99.25
        assert_api_error(await anon.get("/v2/billing"), 401)
    assert sim.stats.billing_requests == 5


@pytest.mark.anyio
async def test_a_create_the_balance_cannot_pay_is_refused_with_403(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(balance_usd=0.5, job_seconds=(4.0, 4.0))
    async with api(sim) as client:
        await create(client)
        await create(client)  # $0.25 running + $0.25 running = the whole balance
        refused = await client.post(UNIVERSAL, json=body())
        clock.advance(4)
        assert await _balance(client) == 0.0
        still = await client.post(UNIVERSAL, json=body())
    message = assert_api_error(refused, 403)["message"]
    assert message.startswith("You've run out of credits. Please top up your balance")
    assert still.status_code == 403
    assert (sim.stats.creates_bought, sim.stats.creates_refused) == (2, 2)


@pytest.mark.anyio
async def test_failed_generations_give_back_what_they_held(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(balance_usd=0.25, faults=Faults(job_error=1.0))
    async with api(sim) as client:
        await create(client)
        assert (await client.post(UNIVERSAL, json=body())).status_code == 403  # held
        clock.advance(10)  # the first one failed: its $0.25 is free again
        sim.faults = Faults()
        await create(client)
    assert sim.stats.creates_bought == 2


@pytest.mark.anyio
async def test_without_enforcement_the_balance_goes_negative(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(balance_usd=0.0, enforce_balance=False)
    async with api(sim) as client:
        await create(client)
        clock.advance(10)
        assert await _balance(client) == -0.25


@pytest.mark.anyio
async def test_a_variable_price_is_charged_an_internal_amount(
    make_sim: Make, clock: FakeClock
) -> None:
    sim = make_sim(pricing={"gen3a_turbo": {"kind": "variable"}})
    async with api(sim) as client:
        created = await client.post(UNIVERSAL, json=body())
        catalogue = (await client.get("/v1/models", params={"include": "pricing"})).json()
        clock.advance(10)
        balance = await _balance(client)
    gen3a = next(m for m in catalogue["data"] if m["id"] == "gen3a_turbo")
    assert gen3a["pricing"] == {"kind": "variable"}
    assert created.json()["meta"] == {"usage": {"credits_used": 800_000}}
    assert created.headers["x-aimlapi-usd-spent"] == "0.400000000"
    assert balance == 99.6


# -- catalogue -----------------------------------------------------------------------------


async def _catalogue(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/models", params=params)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["object"] == "list"
    data: list[dict[str, Any]] = answer["data"]
    return data


@pytest.mark.anyio
async def test_the_catalogue_needs_no_key_and_lists_both_models(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim, key=None) as client:
        models = await _catalogue(client)
        again = await _catalogue(client)
        for alias in ("/models", "/api/v1/models"):
            assert (await client.get(alias)).json()["data"] == models
    assert models == again
    by_id = {m["id"]: m for m in models}
    assert list(by_id) == ["gen3a_turbo", GEN4, "runway/gen4_aleph", "openai/gpt-4o"]
    assert by_id["gen3a_turbo"]["aliases"] == ["runway/gen3a_turbo"]
    assert by_id[GEN4]["aliases"] == ["gen4_turbo"]
    for model in models:
        assert {"id", "aliases", "type", "info", "tags"} <= set(model)
        assert {"name", "developer"} <= set(model["info"])
        assert "pricing" not in model and "capabilities" not in model


@pytest.mark.anyio
async def test_catalogue_filters(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim, key=None) as client:

        async def ids(**params: Any) -> list[str]:
            return [m["id"] for m in await _catalogue(client, **params)]

        assert await ids(id="gen4_turbo") == [GEN4]  # an alias finds the model
        assert await ids(id="GEN3A_TURBO") == ["gen3a_turbo"]  # case-insensitive
        assert await ids(id="gen4_turbo,gpt-4o") == [GEN4, "openai/gpt-4o"]
        assert await ids(id=["runway/gen3a_turbo", "gpt-4o"]) == ["gen3a_turbo", "openai/gpt-4o"]
        assert await ids(id="gen2") == []
        assert await ids(capabilities="image_to_video") == ["gen3a_turbo", GEN4]
        assert await ids(output_modalities="text") == ["openai/gpt-4o"]
        assert await ids(input_modalities="video", tags="playground:video") == ["runway/gen4_aleph"]
        assert await ids(type="openai/chat-completions") == ["openai/gpt-4o"]


@pytest.mark.anyio
async def test_catalogue_include_sections(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim, key=None) as client:
        priced = await _catalogue(client, id="gen3a_turbo,gen4_turbo", include="pricing,typo")
        everything = await _catalogue(client, id="gen3a_turbo", include="all")
        details = await _catalogue(client, id="gen3a_turbo", details="true")
        ignored = await _catalogue(client, id="gen3a_turbo", include="typo")
    gen3a, gen4 = priced
    assert gen3a["pricing"] == {
        "kind": "fixed",
        "currency": "USD",
        "units": [{"name": "second", "measure": "output", "price": 0.05, "per": 1}],
    }
    assert gen4["pricing"] == {
        "kind": "variants",
        "currency": "USD",
        "dimensions": ["duration"],
        "variants": [
            {"when": {"duration": 5}, "price": 0.25, "unit": "video", "per": 1},
            {"when": {"duration": 10}, "price": 0.5, "unit": "video", "per": 1},
        ],
    }
    assert "capabilities" not in gen3a
    assert {"pricing", "modalities", "capabilities"} <= set(everything[0])
    assert details == everything
    assert "pricing" not in ignored[0]


@pytest.mark.anyio
async def test_catalogue_etag_gives_304_with_no_body(make_sim: Make) -> None:
    sim = make_sim()
    async with api(sim, key=None) as client:
        first = await client.get("/v1/models", params={"include": "pricing"})
        tag = first.headers["etag"]
        cached = await client.get(
            "/v1/models", params={"include": "pricing"}, headers={"If-None-Match": tag}
        )
        other = await client.get("/v1/models", headers={"If-None-Match": tag})
        listed = await client.get(
            "/v1/models", params={"include": "pricing"}, headers={"If-None-Match": f'"x", {tag}'}
        )
    assert tag.startswith('W/"')
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == tag
    assert other.status_code == 200 and other.headers["etag"] != tag  # another answer
    assert listed.status_code == 304
    assert (sim.stats.catalogue_requests, sim.stats.catalogue_not_modified) == (4, 2)


@pytest.mark.anyio
async def test_a_retired_model_leaves_the_catalogue(make_sim: Make) -> None:
    sim = make_sim(retired_models={"gen3a_turbo"})
    async with api(sim, key=None) as client:
        assert await _catalogue(client, id="gen3a_turbo") == []
        assert [m["id"] for m in await _catalogue(client, capabilities="image_to_video")] == [GEN4]


@pytest.mark.anyio
async def test_polls_and_account_reads_are_free(make_sim: Make, clock: FakeClock) -> None:
    sim = make_sim(logs_lag=0.0)
    async with api(sim) as client:
        created = await create(client)
        clock.advance(10)
        for _ in range(3):
            await poll(client, created["id"])
            await _rows(client)
            await client.get("/v1/models")
        assert await _balance(client) == 99.75
        assert len(await _rows(client)) == 1  # one row per create, not per poll
