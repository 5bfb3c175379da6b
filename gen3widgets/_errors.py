"""Every error gen3widgets raises, under one base class.

    Gen3Error
    ├── ValidationError          bad input; nothing was sent
    ├── ConfigurationError       no API key, or a setting that cannot work
    │   └── AuthenticationError  the key is missing (client side) or refused (401)
    ├── APIError                 the API answered with an error status
    │   ├── InsufficientCreditsError   403: out of credits / forbidden
    │   ├── NotFoundError              404: unknown generation or path
    │   ├── RateLimitError             429: too many requests
    │   ├── ServerError                5xx
    │   └── (AuthenticationError is also raised for 401, see above)
    ├── TransportError           the API could not be reached / the answer was unusable
    ├── SubmissionUncertain      a create may or may not have been bought
    ├── GenerationFailed         the generation ended with status "error"
    ├── GenerationTimeout        the wait reached its deadline
    └── DownloadError            the video could not be fetched or was refused

Messages say what happened, to which generation, and what to do next.
They never contain the API key: every message passes through ``redact``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Generation, GenerationRequest

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "DownloadError",
    "Gen3Error",
    "GenerationFailed",
    "GenerationTimeout",
    "InsufficientCreditsError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "SubmissionUncertain",
    "TransportError",
    "ValidationError",
]

# Keys registered by clients in this process; messages are scrubbed of them.
_SECRETS: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


def register_secret(secret: str | None) -> None:
    """Remember a secret so that ``redact`` removes it from any text."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every known secret and bearer token masked."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)


def redact_value(value: Any) -> Any:
    """``value`` (e.g. a decoded JSON body) with ``redact`` applied to every string in it."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


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
    came back: a read timeout, a dropped connection, or a 500/502/504. Sending
    it again could buy a second video, so gen3widgets never does that by
    itself. ``request`` is what was sent; ``cause`` is what went wrong.
    """

    def __init__(self, request: GenerationRequest, cause: str) -> None:
        self.request = request
        self.cause = redact(cause)
        super().__init__(
            f"The create request was sent but its answer was lost ({self.cause}), so it may "
            "or may not have been bought. It was NOT sent again. Check your generations and "
            "credits on the AI/ML API dashboard before submitting again; the request is "
            "kept on this error as .request."
        )


class GenerationFailed(Gen3Error):
    """The generation ended with status ``error``; ``generation`` holds the details."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        reason = generation.error or "the server gave no reason"
        super().__init__(
            f"Generation {generation.id} failed: {reason}. Adjust the prompt or image and "
            "submit again (a new submission is a new purchase)."
        )


class GenerationTimeout(Gen3Error):
    """The wait reached its deadline before the generation finished."""

    def __init__(self, generation: Generation, timeout: float) -> None:
        self.generation = generation
        self.timeout = timeout
        super().__init__(
            f"Generation {generation.id} was still '{generation.status}' after {timeout:g} s. "
            f"It keeps running on the server: wait again with wait({generation.id!r})."
        )


class DownloadError(Gen3Error):
    """The video could not be downloaded, or its content was refused."""
