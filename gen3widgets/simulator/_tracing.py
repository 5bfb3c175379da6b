"""Request tracing and cost headers, as every answer of an inference endpoint carries them.

* ``x-inference-id``: the generation's id on a create or poll of a generation,
  else a fresh id. On a poll the id comes from the query: one that does not look
  like an id the API issues leaves the header out (as the docs say).
* ``x-client-request-id``: the request's ``X-Client-Request-Id`` echoed, when it
  is 1-128 characters of ``A-Z a-z 0-9 . _ : -``. Any other value is dropped
  without a word: the request still runs and is billed, and its log row says null.
* ``x-aimlapi-credits-used`` / ``x-aimlapi-usd-spent``: on JSON answers about a
  generation, its price (zero once it failed: failed generations are free).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from ._pricing import credits, usd_text

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_NANOID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
EXPOSED = "x-inference-id, x-client-request-id, x-aimlapi-credits-used, x-aimlapi-usd-spent"


def valid_client_request_id(value: str | None) -> str | None:
    """``value`` when the API would keep it, else None (dropped silently)."""
    return value if value is not None and _CLIENT_REQUEST_ID.fullmatch(value) else None


def new_inference_id() -> str:
    """A fresh id for an answer that is not about one generation (21 characters, like the API's)."""
    return "".join(secrets.choice(_NANOID_ALPHABET) for _ in range(21))


def looks_like_generation_id(value: str) -> bool:
    """Whether ``value`` could be an id the simulator issued (a UUID)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


@dataclass(frozen=True)
class Trace:
    """What one request to an inference endpoint is known by."""

    request_id: str
    """The HTTP call's own id (``requestId`` of an error body, ``request_id`` of its log row)."""
    client_request_id: str | None
    """The caller's ``X-Client-Request-Id`` when valid."""

    def headers(self, inference_id: str | None, cost_usd: float | None = None) -> dict[str, str]:
        """The answer's tracing headers; cost headers only when ``cost_usd`` is given."""
        headers = {"Access-Control-Expose-Headers": EXPOSED}
        if inference_id is not None:
            headers["x-inference-id"] = inference_id
        if self.client_request_id is not None:
            headers["x-client-request-id"] = self.client_request_id
        if cost_usd is not None:
            headers["x-aimlapi-credits-used"] = str(credits(cost_usd))
            headers["x-aimlapi-usd-spent"] = usd_text(cost_usd)
        return headers
