"""Today's API: the universal path by default, Runway's legacy path as a fallback, two models.

Against the independent contract imitation (tests/contract_api.py), each
test once per client: which path each request takes and with which field
names, the fallback buying exactly once, servers with one path only, a
retired model, per-model validation before anything is sent, and
runway/gen4_turbo end to end.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from tests.contract_api import LEGACY, UNIVERSAL, ContractAPI
from tests.fakes import IMAGE, Api, FakeClock, png_bytes

LAST = "https://images.example.com/end.png"


def _creates(server: ContractAPI) -> list[httpx.Request]:
    return [r for r in server.requests if r.method == "POST"]


def _polls(server: ContractAPI) -> list[httpx.Request]:
    return [r for r in server.requests if r.method == "GET" and "generation_id" in r.url.params]


def test_creates_and_polls_use_the_universal_path_and_its_names(
    api: Api, server: ContractAPI
) -> None:
    generation = api.generate(prompt="a cat", image=IMAGE, last_image=LAST, seed=42, ratio="9:16")
    (create,) = _creates(server)
    assert create.url.path == UNIVERSAL
    assert json.loads(create.content) == {
        "model": "gen3a_turbo",
        "image_url": IMAGE,
        "tail_image_url": LAST,
        "prompt": "a cat",
        "duration": 5,
        "aspect_ratio": "9:16",
        "seed": 42,
    }
    assert {r.url.path for r in _polls(server)} == {UNIVERSAL}
    assert generation.ok and server.counts["creates_legacy"] == 0


def test_legacy_names_are_never_sent_to_the_universal_path(api: Api, server: ContractAPI) -> None:
    api.submit(image=IMAGE, last_image=LAST, ratio="16:9")
    body = json.loads(_creates(server)[0].content)
    assert "ratio" not in body and "last_image_url" not in body


def test_auto_ratio_sends_no_ratio_on_either_path(make_api: Any, clock: FakeClock) -> None:
    for paths in ("universal", "legacy"):
        server = ContractAPI(clock, paths=paths)
        make_api(server).submit(image=png_bytes((64, 36)), ratio="auto")
        body = json.loads(_creates(server)[-1].content)
        assert not {"ratio", "aspect_ratio"} & set(body), paths


def test_a_legacy_only_server_gets_one_purchase_per_generation(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock, paths="legacy")
    api = make_api(server)
    first = api.generate(prompt="a cat", image=IMAGE, last_image=LAST, seed=1)
    assert first.ok and server.bought == 1
    creates = _creates(server)
    assert [r.url.path for r in creates] == [UNIVERSAL, LEGACY]  # the 404 bought nothing
    assert json.loads(creates[1].content) == {
        "model": "gen3a_turbo",
        "image_url": IMAGE,
        "last_image_url": LAST,
        "prompt": "a cat",
        "duration": 5,
        "ratio": "16:9",
        "seed": 1,
    }
    # Both attempts were one purchase: one submission id.
    assert creates[0].headers["x-client-request-id"] == creates[1].headers["x-client-request-id"]
    # Remembered: later creates and polls go straight to the legacy path.
    second = make_api(server).generate(image=IMAGE, seed=2)
    assert second.ok and server.bought == 2
    assert [r.url.path for r in _creates(server)] == [UNIVERSAL, LEGACY, LEGACY]
    assert {r.url.path for r in _polls(server)} == {LEGACY}


def test_a_universal_only_server_works_untouched(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, paths="universal")
    generation = make_api(server).generate(image=IMAGE)
    assert generation.ok and server.bought == 1
    assert server.counts["unrouted"] == 0


def test_an_explicit_choice_is_kept_even_when_it_fails(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, paths="legacy")
    with pytest.raises(g3.NotFoundError, match="no video generation path"):
        make_api(server, endpoint="universal").submit(image=IMAGE)
    assert server.bought == 0 and server.counts["creates_legacy"] == 0
    generation = make_api(server, endpoint="legacy").generate(image=IMAGE)
    assert generation.ok and server.counts["unrouted"] == 1  # the universal attempt only


def test_the_endpoint_may_be_chosen_in_the_environment(
    make_api: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEN3WIDGETS_ENDPOINT", "legacy")
    server = ContractAPI(clock)
    make_api(server).submit(image=IMAGE)
    assert [r.url.path for r in _creates(server)] == [LEGACY]


def test_a_server_with_neither_path_buys_nothing_and_says_so(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock)

    def nowhere(request: httpx.Request) -> httpx.Response:
        server.requests.append(request)
        return httpx.Response(404, json={"message": f"Cannot POST {request.url.path}"})

    api = make_api(server)
    api.client._http._transport = httpx.MockTransport(nowhere)
    with pytest.raises(g3.NotFoundError, match="AIMLAPI_BASE_URL"):
        api.submit(image=IMAGE)
    assert [r.url.path for r in _creates(server)] == [UNIVERSAL, LEGACY]


# -- a retired model ------------------------------------------------------------------------


def test_a_retired_model_raises_model_unavailable_naming_the_successor(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock, retired={"gen3a_turbo"})
    api = make_api(server, reconcile_timeout=0)
    with pytest.raises(g3.ModelUnavailableError) as info:
        api.submit(image=IMAGE)
    error = info.value
    assert not isinstance(error, g3.SubmissionUncertain)
    assert isinstance(error, g3.Gen3Error)
    assert error.model == "gen3a_turbo" and error.successor == "runway/gen4_turbo"
    text = str(error)
    assert "gen3a_turbo" in text and "Nothing was bought" in text
    assert 'model="runway/gen4_turbo"' in text and "Model menu" in text
    assert server.bought == 0
    assert len(_creates(server)) == 1  # a retired model is not a missing route: no fallback
    # Switching is all it takes.
    assert api.generate(image=IMAGE, model="runway/gen4_turbo").ok
    assert server.bought == 1


def test_a_retired_model_is_recorded_as_refused_not_uncertain(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock, retired={"gen3a_turbo"})
    api = make_api(server)
    with pytest.raises(g3.ModelUnavailableError):
        api.submit(image=IMAGE)
    history = api.client.history
    assert history is not None
    (row,) = history.submissions()
    assert row["state"] == "refused" and "no longer available" in row["cause"]
    assert history.unresolved(api.client.base_url) == []


# -- models ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", ["21:9", "1:1", "4:3"])
def test_gen3a_turbo_refuses_gen4_ratios_before_sending(
    api: Api, server: ContractAPI, ratio: str
) -> None:
    with pytest.raises(g3.ValidationError) as info:
        api.submit(image=IMAGE, ratio=ratio)
    message = info.value.problems["ratio"][0]
    assert '"16:9", "9:16" or "auto"' in message and ratio in message
    assert server.requests == []


def test_an_unknown_model_is_refused_listing_the_models(api: Api, server: ContractAPI) -> None:
    with pytest.raises(g3.ValidationError) as info:
        api.submit(image=IMAGE, model="runway/gen9_hyper")
    assert "gen3a_turbo" in info.value.problems["model"][0]
    assert "runway/gen4_turbo" in info.value.problems["model"][0]
    assert server.requests == []


def test_gen4_turbo_at_21_9_completes_end_to_end(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE, model="runway/gen4_turbo", ratio="21:9", duration=10)
    assert generation.ok and generation.model == "runway/gen4_turbo"
    body = json.loads(_creates(server)[0].content)
    assert body["model"] == "runway/gen4_turbo" and body["aspect_ratio"] == "21:9"
    assert generation.cost_usd == pytest.approx(0.60)
    path = api.download(generation)
    assert path.read_bytes() == server.video_bytes
    (stored,) = g3.history()
    assert stored.model == "runway/gen4_turbo" and stored.request is not None
    assert stored.request.ratio == "21:9"


def test_an_alias_is_stored_as_the_model_id(api: Api, server: ContractAPI) -> None:
    generation = api.submit(image=IMAGE, model="gen4_turbo")
    assert generation.model == "runway/gen4_turbo"
    assert json.loads(_creates(server)[0].content)["model"] == "runway/gen4_turbo"
