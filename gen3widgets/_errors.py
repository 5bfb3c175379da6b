"""Every error gen3widgets raises, under one base class.

    Gen3Error
    ├── ValidationError            bad input; nothing was sent           (also a ValueError)
    ├── ConfigurationError         no API key, or a setting that cannot work
    │   └── AuthenticationError    the key is missing (client side) or refused (401)
    ├── StorageError               the history or video folder cannot be written (also an OSError)
    ├── BudgetExceededError        buying this would pass the budget; nothing was sent
    ├── APIError                   the API answered with an error status
    │   ├── InsufficientCreditsError   403: out of credits / forbidden
    │   ├── NotFoundError              404: unknown generation or path
    │   ├── ModelUnavailableError      the model is retired or not served; nothing was bought
    │   ├── RateLimitError             429: too many requests
    │   ├── ServerError                5xx
    │   └── (AuthenticationError is also raised for 401, see above)
    ├── TransportError             the API could not be reached / the answer was unusable
    ├── SubmissionUncertain        a create may or may not have been bought
    ├── GenerationFailed           the generation ended with status "error"
    ├── WaitTimeout                a wait reached its deadline (also a TimeoutError)
    │   └── GenerationTimeout      ... while the generation was still running on the server
    ├── NotReadyError              asked for a result that does not exist yet (also a RuntimeError)
    └── DownloadError              the video could not be fetched, was refused, or is broken

Messages say what happened, to which generation, whether anything was
bought, and what to do next. They never contain the API key: every message
passes through ``redact``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._secrets import redact, redact_value

if TYPE_CHECKING:
    from ._models import Generation, GenerationRequest

__all__ = [
    "APIError",
    "AuthenticationError",
    "BudgetExceededError",
    "ConfigurationError",
    "DownloadError",
    "Gen3Error",
    "GenerationFailed",
    "GenerationTimeout",
    "InsufficientCreditsError",
    "ModelUnavailableError",
    "NotFoundError",
    "NotReadyError",
    "RateLimitError",
    "ServerError",
    "StorageError",
    "SubmissionUncertain",
    "TransportError",
    "ValidationError",
    "WaitTimeout",
]


def describe_exception(exc: BaseException) -> str:
    """One line for a person: the error's own message, or what kind of failure it was."""
    if isinstance(exc, Gen3Error):
        return exc.message
    text = str(exc).strip()
    name = type(exc).__name__
    return redact(f"{name}: {text}" if text else name)


class Gen3Error(Exception):
    """Base class of every gen3widgets error."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ValidationError(Gen3Error, ValueError):
    """Input broke one or more rules of the API; nothing was sent.

    ``problems`` maps each field name to the list of what is wrong with it.
    """

    def __init__(self, problems: Mapping[str, list[str]]) -> None:
        self.problems: dict[str, list[str]] = {k: list(v) for k, v in problems.items() if v}
        lines = [f"{field}: {msg}" for field, msgs in self.problems.items() for msg in msgs]
        count = len(lines)
        head = f"{count} problem{'s' if count != 1 else ''} with the generation request"
        super().__init__(head + " (nothing was sent):\n  - " + "\n  - ".join(lines))

    @property
    def fields(self) -> list[str]:
        return list(self.problems)


class ConfigurationError(Gen3Error):
    """A setting is missing or cannot work."""


class StorageError(Gen3Error, OSError):
    """The history or the video folder could not be written.

    Raised before a create is sent when its submission cannot be recorded:
    nothing is bought then. ``folder`` is where gen3widgets tried to write.
    """

    def __init__(self, message: str, *, folder: str | None = None) -> None:
        self.folder = folder
        super().__init__(message)


class BudgetExceededError(Gen3Error):
    """Buying would pass the budget; nothing was sent.

    ``budget``, ``spent`` (bought and charged), ``committed`` (in flight, at
    their estimates) and ``asked`` (what this purchase would cost) are in USD.
    """

    def __init__(
        self, *, budget: float, spent: float, committed: float, asked: float | None, what: str
    ) -> None:
        self.budget, self.spent, self.committed, self.asked = budget, spent, committed, asked
        if asked is None:
            message = (
                f"Not buying {what}: its price cannot be quoted ahead, so the budget of "
                f"${budget:.2f} could not be kept. Nothing was sent. Buy without a budget "
                "(budget_usd=None) if you accept an unknown price."
            )
        else:
            total = spent + committed + asked
            message = (
                f"Not buying {what}: ${spent:.2f} spent + ${committed:.2f} in flight + "
                f"${asked:.2f} for this = ${total:.2f}, over the budget of ${budget:.2f}. "
                "Nothing was sent. Raise the budget (budget_usd=...) or buy less."
            )
        super().__init__(message)


class APIError(Gen3Error):
    """The API answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        server_message: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.server_message = redact(server_message) if server_message else server_message
        self.request_id = request_id
        self.body = redact_value(body)  # a server may echo the request, key included
        super().__init__(message)


class AuthenticationError(APIError, ConfigurationError):
    """No API key was given, or the API refused it (401)."""

    def __init__(self, message: str, *, status_code: int = 401, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class InsufficientCreditsError(APIError):
    """403 from the API: the account is out of credits or not allowed."""


class NotFoundError(APIError):
    """404 from the API: the generation (or path) does not exist."""


class ModelUnavailableError(APIError):
    """The API no longer serves ``model`` (retired upstream, or unknown here); nothing was bought.

    ``successor`` names a model with the same inputs, when there is one.
    """

    def __init__(self, *, model: str, successor: str | None, base_url: str, **kwargs: Any) -> None:
        self.model = model
        self.successor = successor
        said = kwargs.get("server_message")
        reason = f" ({kwargs['status_code']}: {said})" if said else ""
        switch = (
            f" Its successor with the same inputs is {successor}: pass "
            f'model="{successor}" (or pick it in the panel\'s Model menu).'
            if successor
            else " Pick another model."
        )
        super().__init__(
            f"The model {model} is no longer available on {base_url}{reason}. "
            f"Nothing was bought.{switch}",
            **kwargs,
        )


class RateLimitError(APIError):
    """429 from the API: too many requests; ``retry_after`` is in seconds when given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(APIError):
    """A 5xx answer from the API."""


class TransportError(Gen3Error):
    """The API could not be reached, or its answer could not be read."""


class SubmissionUncertain(Gen3Error):
    """A create request may or may not have been bought.

    The request reached (or may have reached) the server, but no usable answer
    came back: a read timeout, a dropped connection, a 500/502/504, an answer
    that could not be read, an interruption. Sending it again could buy a
    second video, so gen3widgets never does. The submission is in the history
    with its ``submission_id`` (sent as ``X-Client-Request-Id``) and is looked
    up in the usage logs by ``client.reconcile()``.
    """

    def __init__(
        self,
        request: GenerationRequest,
        cause: str,
        *,
        submission_id: str | None = None,
        looked_for: float = 0.0,
    ) -> None:
        self.request = request
        self.cause = redact(cause)
        self.submission_id = submission_id
        looked = (
            f" It was not in the usage logs after {looked_for:.0f} s of looking."
            if looked_for > 0
            else ""
        )
        ident = f" (submission {submission_id})" if submission_id else ""
        super().__init__(
            f"The create request{ident} was sent but its answer was lost ({self.cause}), so "
            f"it may or may not have been bought.{looked} It was NOT sent again. It is kept in "
            "the history as 'uncertain': client.reconcile() finds it in the usage logs once "
            "they show it (gen3widgets does this by itself on next use). Do not submit it "
            "again before checking."
        )


class GenerationFailed(Gen3Error):
    """The generation ended with status ``error``; ``generation`` holds the details."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        reason = generation.error or "the server gave no reason"
        super().__init__(
            f"Generation {generation.id} failed: {reason}. Nothing was charged for it. Adjust "
            "the prompt or image and submit again (a new submission is a new purchase)."
        )


class WaitTimeout(Gen3Error, TimeoutError):
    """A wait reached its deadline; whatever was waited for goes on."""


class GenerationTimeout(WaitTimeout):
    """The wait reached its deadline while the generation was still running on the server."""

    def __init__(self, generation: Generation, timeout: float) -> None:
        self.generation = generation
        self.timeout = timeout
        super().__init__(
            f"Generation {generation.id} was still '{generation.status}' after {timeout:g} s. "
            f"It keeps running on the server: wait again with wait({generation.id!r})."
        )


class NotReadyError(Gen3Error, RuntimeError):
    """A result was asked for before it exists (nothing submitted yet, or still running)."""


class DownloadError(Gen3Error):
    """The video could not be downloaded, or what arrived was refused."""
