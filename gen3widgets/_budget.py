"""A spending cap that counts what is in flight, so a budget is never passed.

``spent`` is what generations this client bought have been charged;
``committed`` is what purchases still in flight will cost at their estimates
(an uncertain one counts: it may have been bought). A purchase is allowed
only when spent + committed + its own price stays within the budget, checked
and reserved in one step under a lock, so concurrent jobs cannot both slip in.
"""

from __future__ import annotations

import threading

from ._errors import BudgetExceededError


class Spending:
    """This client's purchases, in USD, against an optional budget."""

    def __init__(self, budget_usd: float | None = None) -> None:
        if budget_usd is not None and not budget_usd >= 0:
            raise ValueError(f"budget_usd must be a number of dollars >= 0, not {budget_usd!r}")
        self.budget = budget_usd
        self._lock = threading.Lock()
        self._spent = 0.0
        self._held: dict[str, float] = {}  # purchase key -> estimate, while in flight

    @property
    def spent(self) -> float:
        return self._spent

    @property
    def committed(self) -> float:
        with self._lock:
            return sum(self._held.values())

    def check(self, asked: float | None, what: str) -> None:
        """Raise ``BudgetExceededError`` if buying ``asked`` more would pass the budget."""
        with self._lock:
            self._check(asked, what)

    def reserve(self, key: str, asked: float | None, what: str) -> None:
        """Check, then hold ``asked`` for purchase ``key`` until it is settled or released."""
        with self._lock:
            self._check(asked, what)
            self._held[key] = asked or 0.0

    def settle(self, key: str, charged: float | None) -> None:
        """The purchase ended: count what it was charged (its estimate when unknown)."""
        with self._lock:
            held = self._held.pop(key, None)
            if held is None:
                return
            self._spent += held if charged is None else charged

    def release(self, key: str) -> None:
        """Nothing was bought after all."""
        with self._lock:
            self._held.pop(key, None)

    def _check(self, asked: float | None, what: str) -> None:
        if self.budget is None:
            return
        committed = sum(self._held.values())
        if asked is None:
            raise BudgetExceededError(
                budget=self.budget,
                spent=self._spent,
                committed=committed,
                asked=None,
                what=what,
            )
        if self._spent + committed + asked > self.budget + 1e-9:
            raise BudgetExceededError(
                budget=self.budget, spent=self._spent, committed=committed, asked=asked, what=what
            )
