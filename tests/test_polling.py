"""The poll schedule, driven on a fake timeline: latency and request counts."""

from __future__ import annotations

import random

import pytest

from gen3widgets._config import DEFAULT_BASE_URL
from gen3widgets._polling import (
    FEW_SAMPLES_FACTOR,
    NEAR_INTERVAL,
    SPARSE_MAX,
    DurationStats,
    next_poll_delay,
)


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
    stats.observe_many(server, [(clip, s) for s in samples])
    return stats.earliest(server, clip)


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
    stats.observe("s", 5, 30.0)
    first = stats.earliest("s", 5)
    stats.observe("s", 5, 12.0)
    assert first is not None and stats.earliest("s", 5) == pytest.approx(FEW_SAMPLES_FACTOR * 12.0)
    assert stats.earliest("other", 5) is None
    assert stats.earliest("s", 10) is None


def test_the_real_api_is_not_polled_in_its_first_seconds_even_before_learning() -> None:
    stats = DurationStats()
    assert stats.earliest(DEFAULT_BASE_URL, 5) == 10.0
    assert next_poll_delay(0.0, stats.earliest(DEFAULT_BASE_URL, 5)) == pytest.approx(10.0)
    stats.observe(DEFAULT_BASE_URL, 5, 30.0)
    assert stats.earliest(DEFAULT_BASE_URL, 5) == pytest.approx(FEW_SAMPLES_FACTOR * 30.0)


def test_learning_from_a_few_jobs_still_meets_the_latency_goal() -> None:
    # Learned from a small first wave, whose shortest job sits above the true minimum.
    rng = random.Random(7)
    for low, high in [(6, 10), (20, 30), (40, 55)]:
        latencies, gets = [], []
        for _ in range(200):
            stats = DurationStats()
            wave = rng.choice([2, 4, 8, 16])
            stats.observe_many(
                "s", [(5, rng.uniform(low, high) + rng.uniform(0, 0.9)) for _ in range(wave)]
            )
            for _ in range(8):
                latency, n = simulate(rng.uniform(low, high), stats.earliest("s", 5))
                latencies.append(latency)
                gets.append(n)
        assert p95(latencies) <= 1.0, (low, high)
        assert sorted(gets)[len(gets) // 2] <= 16, (low, high)  # a few more while learning
