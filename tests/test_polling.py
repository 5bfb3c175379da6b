"""The poll schedule, driven on a fake timeline: latency and request counts.

``next_poll_delay`` is a pure schedule, ``DurationStats`` what it learns (per
server, model and clip length) and ``PollTimeline`` one wait's sense of time.
"""

from __future__ import annotations

import random

import pytest

from gen3widgets._config import DEFAULT_BASE_URL
from gen3widgets._polling import (
    FEW_SAMPLES_FACTOR,
    NEAR_INTERVAL,
    SPARSE_MAX,
    DurationStats,
    PollTimeline,
    next_poll_delay,
)

TURBO, GEN4 = "gen3a_turbo", "runway/gen4_turbo"


def simulate(job_seconds: float, earliest: float | None) -> tuple[float, int]:
    """(detection latency, number of GETs) for one job under the schedule."""
    t, gets = 0.0, 0
    while True:
        t += next_poll_delay(t, earliest)
        gets += 1
        if t >= job_seconds:
            return t - job_seconds, gets


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def learned(server: str, clip: int, samples: list[float]) -> float | None:
    stats = DurationStats()
    stats.observe_many(server, [(TURBO, clip, s) for s in samples])
    return stats.earliest(server, TURBO, clip)


@pytest.mark.parametrize(
    ("low", "high", "max_median_gets"),
    [(6, 10, 10), (20, 30, 15), (40, 55, 15)],
)
def test_learned_schedule_meets_latency_and_request_goals(
    low: float, high: float, max_median_gets: int
) -> None:
    rng = random.Random(1)
    history = [rng.uniform(low, high) for _ in range(20)]
    earliest = learned("s", 5, history)
    results = [simulate(rng.uniform(low, high), earliest) for _ in range(500)]
    latencies = [lat for lat, _ in results]
    gets = sorted(n for _, n in results)
    assert p95(latencies) <= 1.0
    assert gets[len(gets) // 2] <= max_median_gets


def test_without_history_the_first_jobs_are_still_noticed_quickly() -> None:
    latencies = [simulate(seconds, None)[0] for seconds in (2, 3.3, 6, 8.8, 10, 19.9)]
    assert max(latencies) <= NEAR_INTERVAL


def test_without_history_long_jobs_back_off() -> None:
    assert next_poll_delay(5, None) == NEAR_INTERVAL
    assert NEAR_INTERVAL < next_poll_delay(40, None) <= 4.0
    _, gets = simulate(600, None)
    assert gets < 250  # a 10-minute job does not cost hundreds of requests a minute


def test_sparse_checks_land_on_the_earliest_finish() -> None:
    t, checks = 0.0, []
    while t < 45:
        t += next_poll_delay(t, 45.0)
        checks.append(t)
    assert checks[-1] == pytest.approx(45.0)
    gaps = [b - a for a, b in zip([0.0, *checks], checks, strict=False)]
    assert max(gaps) <= SPARSE_MAX
    assert len(checks) == 3


def test_a_job_faster_than_learned_moves_the_estimate_down() -> None:
    stats = DurationStats()
    stats.observe("s", TURBO, 5, 30.0)
    first = stats.earliest("s", TURBO, 5)
    stats.observe("s", TURBO, 5, 12.0)
    assert first is not None
    assert stats.earliest("s", TURBO, 5) == pytest.approx(FEW_SAMPLES_FACTOR * 12.0)
    assert stats.earliest("other", TURBO, 5) is None
    assert stats.earliest("s", TURBO, 10) is None


def test_each_model_is_learned_on_its_own() -> None:
    stats = DurationStats()
    stats.observe_many("s", [(TURBO, 5, 25.0), (GEN4, 5, 50.0), (GEN4, 10, 90.0)])
    assert stats.earliest("s", TURBO, 5) == pytest.approx(FEW_SAMPLES_FACTOR * 25.0)
    assert stats.earliest("s", GEN4, 5) == pytest.approx(FEW_SAMPLES_FACTOR * 50.0)
    assert stats.earliest("s", GEN4, 10) == pytest.approx(FEW_SAMPLES_FACTOR * 90.0)
    assert stats.earliest("s", TURBO, 10) is None
    stats.observe("s", GEN4, 5, 0.0)  # not a duration: ignored
    assert stats.earliest("s", GEN4, 5) == pytest.approx(FEW_SAMPLES_FACTOR * 50.0)
    stats.clear()
    assert stats.earliest("s", GEN4, 5) is None


def test_the_real_api_is_not_polled_in_its_first_seconds_even_before_learning() -> None:
    stats = DurationStats()
    assert stats.earliest(DEFAULT_BASE_URL, TURBO, 5) == 10.0
    assert stats.earliest(DEFAULT_BASE_URL, GEN4, 10) == 10.0
    assert next_poll_delay(0.0, stats.earliest(DEFAULT_BASE_URL, TURBO, 5)) == pytest.approx(10.0)
    stats.observe(DEFAULT_BASE_URL, TURBO, 5, 30.0)
    assert stats.earliest(DEFAULT_BASE_URL, TURBO, 5) == pytest.approx(FEW_SAMPLES_FACTOR * 30.0)


def test_learning_from_a_few_jobs_still_meets_the_latency_goal() -> None:
    # Learned from a small first wave, whose shortest job sits above the true minimum.
    rng = random.Random(7)
    for low, high in [(6, 10), (20, 30), (40, 55)]:
        latencies, gets = [], []
        for _ in range(200):
            stats = DurationStats()
            wave = rng.choice([2, 4, 8, 16])
            stats.observe_many(
                "s", [(TURBO, 5, rng.uniform(low, high) + rng.uniform(0, 0.9)) for _ in range(wave)]
            )
            for _ in range(8):
                latency, n = simulate(rng.uniform(low, high), stats.earliest("s", TURBO, 5))
                latencies.append(latency)
                gets.append(n)
        assert p95(latencies) <= 1.0, (low, high)
        assert sorted(gets)[len(gets) // 2] <= 16, (low, high)  # a few more while learning


# -- one wait's timeline ------------------------------------------------------------------------


def test_a_timeline_never_hands_out_a_delay_past_its_deadline() -> None:
    timeline = PollTimeline(now=100.0, deadline=103.0, submitted_at=100.0, earliest=lambda: 45.0)
    assert timeline.next_delay(100.0) == pytest.approx(3.0)  # not the 20 s sparse step
    assert timeline.next_delay(102.5) == pytest.approx(0.5)
    assert timeline.next_delay(104.0) == 0.0 and timeline.remaining(104.0) == 0.0


def test_a_job_this_client_did_not_just_submit_is_looked_at_at_once() -> None:
    resumed = PollTimeline(now=50.0, deadline=1e9, submitted_at=None, earliest=lambda: 30.0)
    assert resumed.next_delay(50.0) == 0.0  # it may have finished long ago
    assert resumed.next_delay(50.0) == pytest.approx(15.0)  # then the schedule: 2 steps to 30 s
    fresh = PollTimeline(now=50.0, deadline=1e9, submitted_at=50.0, earliest=lambda: 30.0)
    assert fresh.next_delay(50.0) == pytest.approx(15.0)


def test_time_queued_counts_neither_for_the_schedule_nor_for_what_is_learned() -> None:
    timeline = PollTimeline(now=0.0, deadline=1e9, submitted_at=0.0, earliest=lambda: None)
    timeline.saw(now=10.0, queued=True, done=False)  # waited for a server slot until 10 s
    assert timeline.since == 10.0
    assert timeline.next_delay(12.0) == NEAR_INTERVAL  # brisk again: the job just started
    timeline.saw(now=30.0, queued=False, done=False)
    timeline.saw(now=31.0, queued=False, done=True)
    # It finished between the last two looks (30 s and 31 s): the midpoint, from the slot.
    assert timeline.job_seconds(31.0) == pytest.approx(20.5)


def test_a_wait_uses_what_other_jobs_taught_meanwhile() -> None:
    # A grid's jobs start with nothing learned; the first to finish teaches the rest.
    learned: list[float | None] = [None]
    timeline = PollTimeline(now=0.0, deadline=1e9, submitted_at=0.0, earliest=lambda: learned[0])
    assert timeline.next_delay(50.0) == pytest.approx(min(0.9 + 30 * 0.1, 4.0))  # backing off
    learned[0] = 30.0  # another job of the grid finished after 40 s
    assert timeline.next_delay(50.0) == pytest.approx(0.9)  # now near: checked briskly
