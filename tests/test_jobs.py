"""The job runner: one job's states, what a retry may do, batches, and waiting.

Jobs run on the runner's private loop thread with a client on the fake
clock of the independent contract imitation, so jobs of minutes finish in
milliseconds; the test thread waits on the jobs' events, never on time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets._jobs import JobRunner, JobState, runner_for, wait_all
from tests.contract_api import BASE, ContractAPI, raising, status
from tests.fakes import IMAGE, KEY, FakeClock, tune
from tests.widget_support import Harness

WAIT = 60.0  # seconds of real time a test may wait for jobs that take milliseconds


@pytest.fixture
def runner_for_server(harness: Harness) -> Callable[..., JobRunner]:
    def make(server: ContractAPI, *, kind: str = "async", **client_options: Any) -> JobRunner:
        client = harness.client(server.transport(), kind=kind, base_url=BASE, **client_options)
        return harness.runner(client)

    return make


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_job_goes_from_submitting_to_completed_with_its_video(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock, kind: str
) -> None:
    server = ContractAPI(clock)
    runner = runner_for_server(server, kind=kind)
    seen: list[JobState] = []
    job = runner.submit(g3.GenerationRequest(image=IMAGE, seed=4), label="seed 4")
    job.add_observer(lambda j: seen.append(j.state))
    generation = job.wait(WAIT)
    assert job.state is JobState.COMPLETED and generation.local_path is not None
    assert generation.local_path.read_bytes() == server.video_bytes
    assert seen[-1] is JobState.COMPLETED and JobState.DOWNLOADING in seen
    assert server.bought == 1
    text = repr(job)
    assert "seed 4" in text and "gen3a_turbo" in text and "completed" in text
    assert str(generation.local_path) in text


def test_a_download_that_keeps_failing_is_bought_not_fetched_and_fetched_again_free(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, video_faults=[status(503)] * 5)
    runner = runner_for_server(server)
    job = runner.submit(g3.GenerationRequest(image=IMAGE))
    wait_all([job], WAIT)
    assert job.state is JobState.NOT_FETCHED
    assert "bought" in (job.message or "") and "Fetch it again" in (job.message or "")
    assert server.bought == 1
    runner.fetch_again(job)
    assert job.wait(WAIT).ok and job.state is JobState.COMPLETED
    assert server.counts["creates"] == 1  # fetching again bought nothing


def test_a_poll_refused_401_is_not_fetched_never_re_bought(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, get_faults=[status(401)])
    runner = runner_for_server(server)
    job = runner.submit(g3.GenerationRequest(image=IMAGE))
    wait_all([job], WAIT)
    assert job.state is JobState.NOT_FETCHED
    assert isinstance(job.exception, g3.AuthenticationError)
    runner.fetch_again(job)
    job.wait(WAIT)
    assert job.ok and server.counts["creates"] == 1


def test_only_a_bought_job_may_be_fetched_again(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, create_faults=[status(400)])
    runner = runner_for_server(server)
    job = runner.submit(g3.GenerationRequest(image=IMAGE))
    wait_all([job], WAIT)
    assert job.state is JobState.REFUSED and job.state.label == "not bought"
    with pytest.raises(g3.NotReadyError, match="nothing to fetch again"):
        runner.fetch_again(job)


def test_a_server_failure_is_failed_and_charges_nothing(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, fail_with={"name": "Moderation", "message": "flagged"})
    job = runner_for_server(server).submit(g3.GenerationRequest(image=IMAGE))
    with pytest.raises(g3.GenerationFailed):
        job.wait(WAIT)
    assert job.state is JobState.FAILED and job.generation is not None
    assert job.generation.cost_usd == 0.0


def test_a_lost_answer_is_checked_in_the_logs_then_followed(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, create_faults=[raising(httpx.ReadTimeout, bought=True)])
    runner = runner_for_server(server)
    seen: list[JobState] = []
    job = runner.submit(g3.GenerationRequest(image=IMAGE))
    job.add_observer(lambda j: seen.append(j.state))
    assert job.wait(WAIT).ok
    assert JobState.CHECKING in seen
    assert server.bought == 1 and server.counts["creates"] == 1
    assert job.generation is not None and job.generation.id in server.jobs


def test_a_lost_answer_not_in_the_logs_ends_uncertain_and_is_never_re_bought(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(
        clock, logs_lag=10_000, create_faults=[raising(httpx.ReadTimeout, bought=True)]
    )
    runner = runner_for_server(server, reconcile_timeout=30)
    job = runner.submit(g3.GenerationRequest(image=IMAGE))
    wait_all([job], WAIT)
    assert job.state is JobState.UNCERTAIN and job.state.label == "maybe bought"
    assert isinstance(job.exception, g3.SubmissionUncertain)
    assert server.counts["creates"] == 1
    with pytest.raises(g3.NotReadyError):
        runner.fetch_again(job)


def test_a_batch_over_budget_is_refused_whole_before_anything_is_bought(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock)
    runner = runner_for_server(server, budget_usd=1.0)
    requests = [g3.GenerationRequest(image=IMAGE, seed=s) for s in range(5)]  # 5 x $0.25
    jobs = runner.submit_many(requests, labels=[f"seed {s}" for s in range(5)])
    wait_all(jobs, WAIT)
    assert {job.state for job in jobs} == {JobState.REFUSED}
    assert len({id(job.exception) for job in jobs}) == 1  # one reason, said once
    assert "$1.25" in (jobs[0].message or "") and "$1.00" in (jobs[0].message or "")
    assert server.counts["creates"] == 0
    fits = runner.submit_many(requests[:4])
    wait_all(fits, WAIT)
    assert all(job.ok for job in fits) and server.bought == 4


def test_a_retired_model_is_asked_once_for_a_whole_batch(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, retired={"gen3a_turbo"})
    runner = JobRunner(runner_for_server(server).client, create_concurrency=1)
    jobs = runner.submit_many([g3.GenerationRequest(image=IMAGE, seed=s) for s in range(6)])
    wait_all(jobs, WAIT)
    runner.close()
    assert {job.state for job in jobs} == {JobState.REFUSED}
    assert len({id(job.exception) for job in jobs}) == 1
    assert isinstance(jobs[0].exception, g3.ModelUnavailableError)
    assert server.counts["creates"] == 1 and server.bought == 0


def test_wait_all_raises_a_gen3_timeout_and_the_jobs_go_on(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    import threading

    gate = threading.Event()
    server = ContractAPI(clock)

    def held(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            gate.wait(WAIT)
        return server.handle(request)

    client = g3.Client(KEY, base_url=BASE, transport=httpx.MockTransport(held))
    tune(client, clock)
    runner = JobRunner(client)
    job = runner.submit(g3.GenerationRequest(image=IMAGE))
    with pytest.raises(g3.WaitTimeout, match="still going") as info:
        wait_all([job], 0.05)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, g3.Gen3Error)
    with pytest.raises(g3.NotReadyError):
        job.result()
    gate.set()
    assert job.wait(WAIT).ok
    runner.close()


def test_leftovers_of_an_earlier_session_are_followed_when_a_runner_starts(
    runner_for_server: Callable[..., JobRunner], clock: FakeClock
) -> None:
    server = ContractAPI(clock, create_faults=[raising(httpx.ReadTimeout, bought=True)])
    earlier = g3.Client(KEY, base_url=BASE, transport=server.transport(), reconcile_timeout=0)
    tune(earlier, clock)
    with pytest.raises(g3.SubmissionUncertain):
        earlier.submit(image=IMAGE)
    earlier.close()
    clock.advance(10)
    runner = runner_for_server(server)
    job = runner.submit(g3.GenerationRequest(image=IMAGE, seed=2))
    job.wait(WAIT)
    found = [j for j in runner.jobs if j.label == "found in the usage logs"]
    assert len(found) == 1
    assert found[0].wait(WAIT).local_path is not None
    assert server.counts["creates"] == 2 and server.bought == 2


def test_one_runner_per_client_without_touching_the_client(
    clock: FakeClock, server: ContractAPI
) -> None:
    client = g3.AsyncClient(KEY, base_url=BASE, transport=server.transport())
    first = runner_for(client)
    assert runner_for(client) is first and runner_for(first) is first
    assert not any("runner" in name for name in vars(client))
    first.close()
