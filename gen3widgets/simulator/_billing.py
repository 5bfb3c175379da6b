"""The account's balance: what ``GET /v2/billing`` reports and what a create may spend.

A generation is charged when it completes (on the simulator's clock), never
when it fails. A create is refused (403, nothing bought) when its price is
more than the balance left once the generations still running are paid.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._jobs import SimulatedJob

OUT_OF_CREDITS = (
    "You've run out of credits. Please top up your balance or update your payment "
    "method to continue: https://aimlapi.com/app/billing/"
)


def balance_usd(initial: float, jobs: Sequence[SimulatedJob], now: float) -> float:
    """The balance at clock time ``now``: ``initial`` less every completed generation."""
    return round(initial - sum(job.price_usd for job in jobs if job.charged_at(now)), 9)


def spendable_usd(initial: float, jobs: Sequence[SimulatedJob], now: float) -> float:
    """What a new create may cost: the balance less the price of jobs still running."""
    running = sum(job.price_usd for job in jobs if job.running_at(now))
    return round(balance_usd(initial, jobs, now) - running, 9)
