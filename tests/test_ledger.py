"""The spend-safe ledger: every purchase on disk before it is sent, found again when its
answer is lost, never repeated, priced and capped.

Against the independent contract imitation, each test once per client.
Processes that are killed or interrupted mid-create run as real
subprocesses against the imitation behind a real socket (``tests.fakes.ServedContract``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets import _store
from gen3widgets._store import HistoryStore
from tests.contract_api import BASE, ContractAPI, odd_json, raising, status
from tests.fakes import IMAGE, KEY, Api, FakeClock, ServedContract, tune

ROOT = Path(__file__).resolve().parents[1]
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _rows(api: Api) -> list[dict[str, Any]]:
    history = api.client.history
    assert history is not None
    return history.submissions()


# -- write-ahead ---------------------------------------------------------------------------


def test_the_submission_is_on_disk_before_the_create_is_sent(
    kind: str, clock: FakeClock, server: ContractAPI, loop: asyncio.AbstractEventLoop
) -> None:
    seen_on_disk: list[list[dict[str, Any]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            # Read the file from a fresh store object: what a new process would see.
            seen_on_disk.append(HistoryStore().submissions())
        return server.handle(request)

    cls = g3.Client if kind == "sync" else g3.AsyncClient
    client = cls(KEY, base_url=BASE, transport=httpx.MockTransport(handle))  # type: ignore[arg-type]
    tune(client, clock)
    api = Api(client)
    generation = api.submit(image=IMAGE, seed=3, model="runway/gen4_turbo")
    (before,) = seen_on_disk
    (row,) = before
    sent = server.client_request_ids[0]
    assert sent is not None and REQUEST_ID.match(sent)
    assert row["id"] == sent and row["state"] == "sending"
    assert row["model"] == "runway/gen4_turbo" and row["estimate_usd"] == pytest.approx(0.30)
    (after,) = _rows(api)
    assert after["state"] == "bought" and after["generation_id"] == generation.id
    assert generation.submission_id == sent
    api.close()


@pytest.mark.parametrize("trouble", ["a file where the folder should be", "disk full", "locked"])
def test_when_the_ledger_cannot_be_written_nothing_is_sent(
    make_api: Any,
    server: ContractAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trouble: str,
) -> None:
    home = tmp_path / "home"
    if trouble == "a file where the folder should be":
        tmp_path.joinpath("blocker").write_text("not a folder")
        home = tmp_path / "blocker" / "home"
    api = make_api(server, history=HistoryStore(home))
    if trouble == "disk full":
        real = sqlite3.connect

        class Full:
            def __init__(self, conn: sqlite3.Connection) -> None:
                self._conn = conn

            def execute(self, sql: str, *args: Any) -> Any:
                if sql.lstrip().startswith("INSERT INTO submissions"):
                    raise sqlite3.OperationalError("database or disk is full")
                return self._conn.execute(sql, *args)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._conn, name)

            def __enter__(self) -> Any:
                return self._conn.__enter__()

            def __exit__(self, *exc: Any) -> Any:
                return self._conn.__exit__(*exc)

        monkeypatch.setattr(_store.sqlite3, "connect", lambda *a, **k: Full(real(*a, **k)))
    if trouble == "locked":
        HistoryStore(home).submissions()  # create the file
        holder = sqlite3.connect(home / "history.sqlite3", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        monkeypatch.setattr(_store, "BUSY_SECONDS", 0.2)
    with pytest.raises(g3.StorageError) as info:
        api.submit(image=IMAGE)
    text = str(info.value)
    assert str(home.parent if trouble.startswith("a file") else home) in text
    assert "Nothing was sent" in text and "GEN3WIDGETS_HOME" in text
    assert isinstance(info.value, OSError) and info.value.folder is not None
    assert server.counts["creates"] == 0 and server.bought == 0
    assert api.client.committed_usd == 0.0  # the budget hold was released
    if trouble == "locked":
        holder.rollback()
        holder.close()


# -- answers that cannot be read -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "gen-inf", "status": "queued", "meta": {"usage": {"credits_used": Infinity}}}',
        '{"id": "gen-nan", "status": NaN, "meta": {"usage": {"credits_used": NaN}}}',
        '{"id": "gen-big", "status": "queued", "meta": {"usage": {"credits_used": 1e999}}}',
        '{"id": "gen-huge", "status": "queued", "meta": {"usage": {"credits_used": 100000000000000000000}}}',
        '{"id": "gen-long", "status": "queued", "video": {"url": "https://cdn.test/x.mp4", "duration": 1e308}}',
    ],
    ids=["infinity", "nan", "1e999", "10**20", "huge-duration"],
)
def test_odd_numbers_in_a_create_answer_keep_the_purchase(
    make_api: Any, clock: FakeClock, text: str
) -> None:
    server = ContractAPI(clock, create_faults=[odd_json(text)])
    api = make_api(server)
    generation = api.submit(image=IMAGE)
    assert generation.id == json.loads(text)["id"]
    assert generation.credits_used is None and generation.video_duration is None
    (row,) = _rows(api)
    assert row["state"] == "bought" and row["generation_id"] == generation.id


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"id": ' + "1" * 5000 + "}",
        '{"id": "../../etc", "status": "queued"}',
        "[1, 2]",
    ],
    ids=["deep-nesting", "too-many-digits", "unsafe-id", "not-an-object"],
)
def test_an_unreadable_create_answer_is_uncertain_never_a_raw_exception(
    make_api: Any, clock: FakeClock, text: str
) -> None:
    server = ContractAPI(clock, create_faults=[odd_json(text)])
    api = make_api(server, reconcile_timeout=0)
    with pytest.raises(g3.SubmissionUncertain) as info:
        api.submit(image=IMAGE)
    assert "answered 200" in info.value.cause
    (row,) = _rows(api)
    assert row["state"] == "uncertain" and row["id"] == info.value.submission_id
    # The purchase happened (the imitation bought it): the usage logs find it.
    clock.advance(10)
    (found,) = api.reconcile()
    assert found.id in server.jobs and server.bought == 1
    assert _rows(api)[0]["state"] == "bought"


def test_an_unreadable_answer_with_an_inference_id_header_is_not_even_uncertain(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock)

    def lost_body(request: httpx.Request) -> httpx.Response:
        answer = server.handle(request)
        return httpx.Response(200, content=b'{"id": "', headers=answer.headers)

    api = make_api(server)
    api.client._http._transport = httpx.MockTransport(
        lambda r: lost_body(r) if r.method == "POST" else server.handle(r)
    )
    generation = api.submit(image=IMAGE)
    assert generation.id in server.jobs  # from x-inference-id
    assert api.wait(generation).ok


# -- lost answers are found again, never re-sent ---------------------------------------------


def test_a_lost_answer_is_found_in_the_usage_logs(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, create_faults=[raising(httpx.ReadTimeout, bought=True)])
    api = make_api(server, reconcile_timeout=120)
    generation = api.submit(image=IMAGE, seed=5)
    (job,) = server.jobs.values()
    assert generation.id == job.id and generation.submission_id == job.client_request_id
    assert server.counts["creates"] == 1 and server.bought == 1
    assert server.counts["logs"] >= 1
    assert api.wait(generation).ok
    (row,) = _rows(api)
    assert row["state"] == "bought" and row["found_in_logs"] == 1


def test_logs_that_lag_past_the_window_leave_it_uncertain_and_bought_once(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(
        clock, logs_lag=600, create_faults=[raising(httpx.RemoteProtocolError, bought=True)]
    )
    api = make_api(server, reconcile_timeout=30)
    start = clock.now()
    with pytest.raises(g3.SubmissionUncertain) as info:
        api.submit(image=IMAGE)
    assert 30 <= clock.now() - start <= 30.001  # looked for the whole window, not beyond
    assert "30 s of looking" in str(info.value)
    assert server.counts["creates"] == 1 and server.bought == 1
    (entry,) = g3.history()
    assert entry.status is g3.Status.UNCERTAIN and entry.id is None
    assert entry.submission_id == info.value.submission_id
    # Later (a new session), the logs have caught up: found, tied, never re-sent.
    clock.advance(600)
    fresh = make_api(server)
    (found,) = fresh.reconcile()
    assert found.submission_id == info.value.submission_id and found.id in server.jobs
    assert server.counts["creates"] == 1
    (entry,) = g3.history()
    assert entry.id == found.id and entry.submission_id == found.submission_id


def test_a_failed_row_in_the_logs_settles_it_as_not_bought(make_api: Any, clock: FakeClock) -> None:
    # A 500 before buying: the server logged a failed request and charged nothing.
    server = ContractAPI(clock, create_faults=[status(500)])
    api = make_api(server, reconcile_timeout=0)
    with pytest.raises(g3.SubmissionUncertain):
        api.submit(image=IMAGE)
    clock.advance(10)
    assert api.reconcile() == []
    (row,) = _rows(api)
    assert row["state"] == "not_bought" and "nothing was charged" in row["cause"]
    (entry,) = g3.history()
    assert entry.status is g3.Status.NOT_BOUGHT
    assert api.client.committed_usd == 0.0


def test_leftovers_are_resolved_on_first_use_by_a_new_client(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock, create_faults=[raising(httpx.ReadTimeout, bought=True)])
    with pytest.raises(g3.SubmissionUncertain):
        make_api(server, reconcile_timeout=0).submit(image=IMAGE, seed=1)
    clock.advance(10)
    fresh = make_api(server)
    fresh.submit(image=IMAGE, seed=2)  # its first use looks the leftover up first
    states = sorted(row["state"] for row in _rows(fresh))
    assert states == ["bought", "bought"] and server.bought == 2
    assert server.counts["creates"] == 2


def test_ctrl_c_during_a_create_leaves_it_uncertain_and_nothing_is_re_sent(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock)

    def interrupted(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            server.handle(request)  # bought...
            raise KeyboardInterrupt  # ...and the user pressed Ctrl-C before the answer
        return server.handle(request)

    api = make_api(server)
    api.client._http._transport = httpx.MockTransport(interrupted)
    with pytest.raises(KeyboardInterrupt):
        api.submit(image=IMAGE)
    (row,) = _rows(api)
    assert row["state"] == "uncertain" and "KeyboardInterrupt" in row["cause"]
    clock.advance(10)
    later = make_api(server)
    (found,) = later.reconcile()
    assert found.id in server.jobs and server.counts["creates"] == 1


def test_cancelling_an_async_submit_mid_create_leaves_it_uncertain(
    clock: FakeClock, server: ContractAPI, loop: asyncio.AbstractEventLoop
) -> None:
    bought = asyncio.Event()

    class Held(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await request.aread()
            response = server.handle(request)
            if request.method == "POST":
                bought.set()
                await asyncio.Event().wait()  # the answer never comes
            return response

    client = g3.AsyncClient(KEY, base_url=BASE, transport=Held())
    tune(client, clock)

    async def scenario() -> None:
        task = asyncio.create_task(client.submit(image=IMAGE))
        await bought.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    loop.run_until_complete(scenario())
    loop.run_until_complete(client.close())
    (row,) = HistoryStore().submissions()
    assert row["state"] == "uncertain" and "CancelledError" in row["cause"]
    assert server.bought == 1


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import gen3widgets as g3
    url, kind = sys.argv[1], sys.argv[2]
    print("ready", flush=True)
    if kind == "sync":
        g3.Client("sk-child-key-123", base_url=url, timeout=120).submit(image="{image}")
    else:
        async def main():
            async with g3.AsyncClient("sk-child-key-123", base_url=url, timeout=120) as c:
                await c.submit(image="{image}")
        asyncio.run(main())
    """
).replace("{image}", IMAGE)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_process_stopped_mid_create_is_found_by_the_next_one(
    kind: str, clock: FakeClock, tmp_path: Path, how: signal.Signals
) -> None:
    server = ContractAPI(clock)
    home = tmp_path / "home"
    env = {**os.environ, "GEN3WIDGETS_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("AIMLAPI_KEY", None)
    with ServedContract(server) as served:
        url = served.url
        served.hold.clear()  # creates are bought, their answers held back
        with subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, kind],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as child:
            try:
                assert child.stdout is not None and child.stdout.readline().strip() == "ready"
                assert served.held.wait(60), "the create never arrived"
                assert server.bought == 1
                child.send_signal(how)
                child.wait(30)
            finally:
                if child.poll() is None:
                    child.kill()
                served.hold.set()
        store = HistoryStore(home)
        (row,) = store.submissions()
        expected = "sending" if how is signal.SIGKILL else "uncertain"
        assert row["state"] == expected, row
        # A new process (here: a new client on the same folder) finds it: one purchase.
        (pending,) = store.unresolved(url)
        assert pending.id == row["id"] == server.client_request_ids[0]
        clock.advance(10)  # the usage logs catch up
        client = g3.Client(KEY, base_url=url, history=store)
        tune(client, clock)
        (found,) = client.reconcile()
        (job,) = server.jobs.values()
        assert found.id == job.id and found.submission_id == row["id"]
        assert server.counts["creates"] == 1 and server.bought == 1
        assert client.wait(found).ok
        client.close()
    (row,) = HistoryStore(home).submissions()
    assert row["state"] == "bought" and row["found_in_logs"] == 1


# -- prices, balance, cost ---------------------------------------------------------------


def test_estimates_come_from_the_catalogue_and_are_revalidated_with_the_etag(
    api: Api, server: ContractAPI, clock: FakeClock
) -> None:
    assert api.estimate(model="gen3a_turbo", duration=5) == pytest.approx(0.25)
    assert api.estimate(model="gen3a_turbo", duration=10) == pytest.approx(0.50)
    assert api.estimate(model="runway/gen4_turbo", duration=10, ratio="21:9") == pytest.approx(0.60)
    assert api.estimate(g3.GenerationRequest(image=IMAGE)) == pytest.approx(0.25)
    assert server.counts["catalogue"] == 2  # once per model and session
    catalogue = [r for r in server.requests if r.url.path == "/v1/models"]
    assert all("authorization" not in r.headers for r in catalogue)  # it is public
    clock.advance(3600)
    assert api.estimate(model="gen3a_turbo") == pytest.approx(0.25)
    assert server.counts["catalogue"] == 3 and server.counts["catalogue_304"] == 1
    assert server.bought == 0


def test_an_unquotable_or_unlisted_price_is_none(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(
        clock, prices={"runway/gen4_turbo": {"kind": "variable"}}, retired={"gen3a_turbo"}
    )
    api = make_api(server)
    assert api.estimate(model="runway/gen4_turbo") is None
    assert api.estimate(model="gen3a_turbo") is None


def test_estimate_checks_the_fields_it_is_given(api: Api, server: ContractAPI) -> None:
    with pytest.raises(g3.ValidationError):
        api.estimate(model="gen3a_turbo", ratio="21:9")
    assert server.requests == []


def test_balance_and_costs_agree_with_the_server(api: Api, server: ContractAPI) -> None:
    assert api.balance() == pytest.approx(100.0)
    first = api.generate(image=IMAGE)
    second = api.generate(image=IMAGE, duration=10)
    assert first.cost_usd == pytest.approx(0.25) and second.cost_usd == pytest.approx(0.50)
    assert api.balance() == pytest.approx(100.0 - 0.75)
    assert api.client.spent_usd == pytest.approx(0.75) and api.client.committed_usd == 0.0
    costs = sorted(g.cost_usd or 0 for g in g3.history())
    assert costs == pytest.approx([0.25, 0.50])


# -- budgets ---------------------------------------------------------------------------------


def test_a_budget_counts_jobs_in_flight_and_is_never_passed(
    make_api: Any, server: ContractAPI
) -> None:
    api = make_api(server, budget_usd=0.60)
    first = api.submit(image=IMAGE)  # 0.25 in flight
    api.submit(image=IMAGE)  # 0.50 in flight
    with pytest.raises(g3.BudgetExceededError) as info:
        api.submit(image=IMAGE)
    error = info.value
    assert (error.budget, error.spent, error.committed, error.asked) == pytest.approx(
        (0.60, 0.0, 0.50, 0.25)
    )
    assert "$0.00 spent + $0.50 in flight + $0.25 for this = $0.75" in str(error)
    assert "Nothing was sent" in str(error)
    assert server.counts["creates"] == 2
    api.wait(first)
    assert api.client.spent_usd == pytest.approx(0.25)  # settled at what it cost
    with pytest.raises(g3.BudgetExceededError):
        api.submit(image=IMAGE)
    assert server.counts["creates"] == 2


def test_a_failed_generation_frees_its_share_of_the_budget(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, fail_with={"name": "Moderation", "message": "flagged"})
    api = make_api(server, budget_usd=0.30)
    with pytest.raises(g3.GenerationFailed):
        api.generate(image=IMAGE)
    assert api.client.spent_usd == 0.0 and api.client.committed_usd == 0.0
    server.fail_with = None
    assert api.generate(image=IMAGE).ok


def test_a_budget_refuses_a_price_it_cannot_quote(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, prices={"gen3a_turbo": {"kind": "variable"}})
    api = make_api(server, budget_usd=100.0)
    with pytest.raises(g3.BudgetExceededError, match="cannot be quoted"):
        api.submit(image=IMAGE)
    assert server.counts["creates"] == 0


def test_a_catalogue_that_cannot_be_read_is_not_asked_before_every_purchase(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock)

    def no_catalogue(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            server.counts["catalogue"] += 1
            return httpx.Response(404, json={"message": "Cannot GET /v1/models"})
        return server.handle(request)

    api = make_api(server)
    api.client._http._transport = httpx.MockTransport(no_catalogue)
    for seed in (1, 2, 3):
        api.submit(image=IMAGE, seed=seed)  # no price: bought all the same (no budget)
    assert server.bought == 3 and server.counts["catalogue"] == 1
    assert [row["estimate_usd"] for row in _rows(api)] == [None, None, None]
