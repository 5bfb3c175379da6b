"""The API's wire format, without I/O: build requests for a path, read answers, name errors.

Two paths serve the same video models (see API_CONTRACT.md): the universal
``/v2/video/generations`` (``aspect_ratio``, ``tail_image_url``), the default,
and Runway's legacy path (``ratio``, ``last_image_url``). Each gets only its
own field names. Everything read from an answer is checked (ids safe for a
file name, numbers finite and plausible) and scrubbed of the API key here,
where it enters, so no later layer can leak what a server echoed back.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ._errors import (
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    ModelUnavailableError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from ._models import AUTO_RATIO, Generation, GenerationRequest, PriceQuery, Status, find_model
from ._retry import AnswerTooLarge
from ._secrets import redact, redact_value
from ._text import short_text

log = logging.getLogger("gen3widgets")

MAX_ANSWER_BYTES = 4 * 1024 * 1024  # an API answer is a few KB; a catalogue page a few hundred
LOGS_PATH = "/v2/logs"
MODELS_PATH = "/v1/models"
BILLING_PATH = "/v2/billing"
CLIENT_REQUEST_ID = "X-Client-Request-Id"
CREDITS_PER_USD = 2_000_000  # the usage logs' example: 500000 credits for $0.25


class Endpoint(str, Enum):
    """Which video path a request goes to."""

    UNIVERSAL = "universal"
    LEGACY = "legacy"

    @property
    def path(self) -> str:
        return _PATHS[self]

    @property
    def other(self) -> Endpoint:
        return Endpoint.LEGACY if self is Endpoint.UNIVERSAL else Endpoint.UNIVERSAL


_PATHS = {
    Endpoint.UNIVERSAL: "/v2/video/generations",
    Endpoint.LEGACY: "/v2/generate/video/runway/generation",
}
# Field names that differ between the paths; the rest are shared.
_FIELD_NAMES = {
    Endpoint.UNIVERSAL: {"ratio": "aspect_ratio", "last_image": "tail_image_url"},
    Endpoint.LEGACY: {"ratio": "ratio", "last_image": "last_image_url"},
}

# Ids name files: letters, digits, '.', '_' and '-' only (':' would name an NTFS stream).
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # what X-Client-Request-Id allows
_STATUS_CHARS = 40  # an unknown status longer than this is not a status
_warned_statuses: set[str] = set()


def new_submission_id() -> str:
    """A fresh submission id: sent as ``X-Client-Request-Id``, searched for in the usage logs."""
    return "g3w-" + secrets.token_hex(16)


def check_submission_id(value: str) -> str:
    if not _SUBMISSION_ID.match(value):
        raise ValueError(f"{value!r} is not a valid X-Client-Request-Id")
    return value


def check_generation_id(value: Any) -> str:
    """A generation id that is safe to put in a URL query and a file name."""
    if not isinstance(value, str) or not _SAFE_ID.match(value) or ".." in value:
        shown = short_text(redact(repr(value)), 60)
        raise TransportError(
            f"The server returned an unusable generation id {shown}; refusing to use it "
            "(it could name a file outside the video folder)."
        )
    return value


# -- building ------------------------------------------------------------------------------


def create_body(request: GenerationRequest, endpoint: Endpoint) -> dict[str, Any]:
    """The JSON body of a create on ``endpoint``, with that path's field names only."""
    names = _FIELD_NAMES[endpoint]
    body: dict[str, Any] = {"model": request.model, "image_url": request.image}
    if request.last_image:
        body[names["last_image"]] = request.last_image
    if request.prompt:
        body["prompt"] = request.prompt
    body["duration"] = request.duration  # always explicit: the docs' default has varied
    if request.ratio != AUTO_RATIO:
        body[names["ratio"]] = request.ratio
    if request.seed is not None:
        body["seed"] = request.seed
    return body


# -- reading -------------------------------------------------------------------------------

ACCEPT_ENCODING = "gzip, deflate"  # only what ``BoundedBody`` can inflate under its cap


class BoundedBody:
    """An answer's body, decoded as it arrives and refused past ``limit`` bytes.

    Inflating happens here, a bounded step at a time, so a small compressed
    body that would inflate to hundreds of MB is never held whole: the cap
    applies to what the body becomes, not to what crossed the wire.
    """

    def __init__(self, content_encoding: str, limit: int = MAX_ANSWER_BYTES) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
            raise AnswerTooLarge(f"the answer used an encoding not asked for ({content_encoding})")
        # 47: zlib or gzip framing, detected from the header (deflate is zlib-framed).
        self._inflate = zlib.decompressobj(47) if encodings else None

    def feed(self, chunk: bytes) -> None:
        if self._inflate is None:
            self._add(chunk)
            return
        data = chunk
        try:
            while data:
                out = self._inflate.decompress(data, self.limit - self._size + 1)
                self._add(out)
                data = self._inflate.unconsumed_tail
        except zlib.error as exc:
            raise AnswerTooLarge(f"the answer's compressed body is broken ({exc})") from None

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise AnswerTooLarge(f"the answer was larger than {self.limit // (1024 * 1024)} MB")
        self._parts.append(data)

    def content(self) -> bytes:
        return b"".join(self._parts)


def decode_json(content: bytes | str) -> Any:
    """The JSON body, or ``TransportError`` for a body that is truncated, odd or hostile.

    Odd numbers (``NaN``, ``Infinity``, ``1e999``, 10**20) parse, and each field
    that needs a number checks it is finite and plausible; nesting deep enough to
    exhaust the parser, or digits beyond Python's limit, make the body unreadable.
    """
    try:
        return json.loads(content)
    except RecursionError:
        raise TransportError("The API answered with JSON nested too deeply to read.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        raise TransportError(
            f"The API answered with a body that could not be read ({_reason(exc)}): "
            f"{short_text(redact(text.strip()), 80)!r}"
        ) from None


def _reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def _count(value: Any) -> int | None:
    """A plausible non-negative count (credits), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not (math.isfinite(value) and 0 <= value < 10**15):
        return None
    return int(value)


def _usd(value: Any) -> float | None:
    """A plausible amount of dollars, else ``None`` (strings such as ``"0.250000000"`` too)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 <= value < 1e6 else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 < value <= 3600 else None


def _usage_credits(data: Mapping[str, Any]) -> int | None:
    meta = data.get("meta")
    usage = meta.get("usage") if isinstance(meta, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    for key in ("credits_used", "tokens_used"):
        credits = _count(usage.get(key))
        if credits is not None:
            return credits
    return None


def _video(data: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The video link and length from any documented shape: an object, a list, a string."""
    video = data.get("video")
    url: Any = None
    duration: Any = None
    if isinstance(video, Mapping):
        url, duration = video.get("url"), video.get("duration")
    elif isinstance(video, list):
        url = next((v for v in video if isinstance(v, str) and v), None)
        if url is None:
            url = next((v.get("url") for v in video if isinstance(v, Mapping)), None)
    elif isinstance(video, str):
        url = video
    if not isinstance(url, str) or not url.strip():
        return None, _seconds(duration)
    return redact(url.strip()), _seconds(duration)


def error_sentence(error: Any) -> str | None:
    """A readable sentence from any documented (or undocumented) error shape."""
    if error is None or error == "" or error == {}:
        return None
    if isinstance(error, str):
        return error.strip() or None
    if isinstance(error, Mapping):
        detail = error.get("detail")
        if isinstance(detail, list) and detail:
            parts = []
            for item in detail:
                if isinstance(item, Mapping):
                    loc = item.get("loc")
                    where = ".".join(str(x) for x in loc) if isinstance(loc, list) else ""
                    msg = str(item.get("msg") or item.get("message") or item.get("type") or "")
                    parts.append(f"{where}: {msg}" if where else msg)
                else:
                    parts.append(str(item))
            return "; ".join(p for p in parts if p) or None
        if isinstance(detail, str) and detail:
            return detail
        name, message = error.get("name"), error.get("message")
        if message and name and str(name) not in str(message):
            return f"{name}: {message}"
        if message or name:
            return str(message or name)
        code = error.get("code")
        if code:
            return f"error code {code}"
        return short_text(json.dumps(error, sort_keys=True, default=str), 200)
    if isinstance(error, list):
        return "; ".join(filter(None, (error_sentence(e) for e in error))) or None
    return str(error)


def _status(raw: Any, gid: str) -> Status:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > _STATUS_CHARS:
        text = "queued" if not text else "unreadable"
    status = Status(redact(text))
    if status in (Status.UNCERTAIN, Status.NOT_BOUGHT):  # the ledger's words, not a server's
        status = Status("unknown")
    if not status.known and status.value not in _warned_statuses:
        _warned_statuses.add(status.value)
        log.warning("Generation %s has unknown status %r; still polling.", gid, status.value)
    return status


@dataclass(frozen=True)
class Cost:
    """What an answer's cost headers say (``None`` when absent or unreadable)."""

    credits: int | None = None
    usd: float | None = None


def cost_headers(headers: Mapping[str, str]) -> Cost:
    credits_text = headers.get("x-aimlapi-credits-used", "").strip()
    credits = _count(int(credits_text)) if credits_text.isdigit() else None
    return Cost(credits, _usd(headers.get("x-aimlapi-usd-spent")))


def parse_generation(
    data: Any,
    *,
    request: GenerationRequest | None = None,
    model: str | None = None,
    cost: Cost | None = None,
    fallback_id: str | None = None,
) -> Generation:
    """A ``Generation`` from a create or retrieve answer (redacted, numbers checked).

    ``fallback_id`` is the ``x-inference-id`` header, used when the body has no id.
    """
    if not isinstance(data, Mapping):
        raise TransportError(f"Expected a JSON object from the API, got {type(data).__name__}")
    gid = check_generation_id(data.get("id") or data.get("generation_id") or fallback_id)
    status = _status(data.get("status"), gid)
    video_url, video_duration = _video(data)
    error_raw = redact_value(data.get("error"))
    sentence = error_sentence(error_raw)
    if sentence is not None:
        sentence = short_text(sentence, 500)
    if status.failed and not sentence:
        sentence = f"the server reported status '{status.value}' without a reason"
    cost = cost or Cost()
    found = find_model(data.get("model"))
    return Generation(
        id=gid,
        status=status,
        model=request.model if request else (found.id if found else model) or "gen3a_turbo",
        video_url=video_url,
        error=sentence,
        error_detail=error_raw,
        credits_used=_usage_credits(data) if cost.credits is None else cost.credits,
        # A failed generation is never charged, whatever a header said earlier.
        cost_usd=0.0 if status.failed else cost.usd,
        request=request,
        video_duration=video_duration,
    )


# -- errors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorBody:
    """What an error answer says: the parsed body (if JSON), its message and request id."""

    body: Any
    message: str | None
    request_id: str | None


def read_error(text: str) -> ErrorBody:
    body: Any = None
    message: str | None = None
    try:
        body = decode_json(text)
    except TransportError:
        stripped = re.sub(r"<[^>]+>", " ", text)
        message = " ".join(stripped.split())[:200] or None
    request_id: str | None = None
    if isinstance(body, Mapping):
        msg = body.get("message") or body.get("error") or body.get("detail")
        if isinstance(msg, (Mapping, list)):
            msg = error_sentence(msg)
        message = short_text(str(msg), 300) if msg else None
        rid = body.get("requestId") or body.get("request_id")
        request_id = short_text(str(rid), 80) if rid else None
    return ErrorBody(redact_value(body), redact(message) if message else None, request_id)


def route_missing(status_code: int, text: str) -> bool:
    """A 404 saying the path itself does not exist (no handler ran, so nothing was bought)."""
    if status_code != 404:
        return False
    said = read_error(text)
    message = said.message or ""
    # Express/Nest say "Cannot POST /path"; a bare proxy 404 says little or nothing.
    return message.startswith("Cannot ") or not isinstance(said.body, Mapping) or not message


_RETIRED_WORDS = re.compile(
    r"deprecat|no longer|not available|unavailable|retired|not supported|unknown model"
    r"|model .*not found|invalid (enum|literal) value",
    re.I,
)


def model_unavailable(
    status_code: int, text: str, *, model: str, base_url: str
) -> ModelUnavailableError | None:
    """``ModelUnavailableError`` when a refused create says the model is not served, else None."""
    if status_code not in (400, 404, 410):
        return None
    said = read_error(text)
    message = said.message or ""
    if status_code == 400 and "model" not in message.lower():
        return None  # a 400 about another field
    if not _RETIRED_WORDS.search(message):
        return None
    found = find_model(model)
    return ModelUnavailableError(
        model=model,
        successor=found.successor if found else None,
        base_url=base_url,
        status_code=status_code,
        server_message=message,
        request_id=said.request_id,
        body=said.body,
    )


def api_error(
    status_code: int,
    text: str,
    *,
    retry_after: float | None = None,
    what: str = "request",
) -> APIError:
    """The right ``APIError`` subclass for an error answer, with a helpful message."""
    said = read_error(text)
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "server_message": said.message,
        "request_id": said.request_id,
        "body": said.body,
    }
    quoted = f": {said.message}" if said.message else ""
    rid = f" (request id {said.request_id})" if said.request_id else ""
    if status_code == 401:
        return AuthenticationError(
            f"The API refused the key (401){quoted}{rid}. Check AIMLAPI_KEY.", **kwargs
        )
    if status_code == 403:
        return InsufficientCreditsError(
            f"The API refused the {what} (403){quoted}{rid}. Your account may be out of "
            "credits: top up on the AI/ML API dashboard.",
            **kwargs,
        )
    if status_code == 404:
        return NotFoundError(f"Not found (404){quoted}{rid}.", **kwargs)
    if status_code == 429:
        wait = f" The server asked to wait {retry_after:g} s." if retry_after is not None else ""
        return RateLimitError(
            f"Rate limited (429){quoted}{rid}.{wait} Wait a little, or submit fewer jobs at once.",
            retry_after=retry_after,
            **kwargs,
        )
    if status_code >= 500:
        return ServerError(
            f"The API had a server error ({status_code}){quoted}{rid}. Try again later.",
            **kwargs,
        )
    if status_code == 400:
        return APIError(
            f"The API rejected the {what} (400){quoted}{rid}. Fix the input and try again.",
            **kwargs,
        )
    return APIError(f"The API answered {status_code}{quoted}{rid}.", **kwargs)


# -- usage logs, catalogue, balance --------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    """One request in the usage logs (only what reconciliation needs)."""

    client_request_id: str | None
    inference_id: str | None
    succeeded: bool
    model: str | None
    cost_usd: float | None


def parse_logs(data: Any) -> tuple[list[LogRow], bool]:
    """The rows of a ``GET /v2/logs`` page and whether another page follows."""
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        raise TransportError("The usage logs answered without a list of rows.")
    rows = []
    for item in data["data"]:
        if not isinstance(item, Mapping):
            continue
        crid, iid, model = (item.get(k) for k in ("client_request_id", "inference_id", "model"))
        cost = item.get("cost")
        rows.append(
            LogRow(
                client_request_id=crid if isinstance(crid, str) else None,
                inference_id=iid if isinstance(iid, str) else None,
                succeeded=item.get("status") == "succeeded",
                model=model if isinstance(model, str) else None,
                cost_usd=_usd(cost.get("usd")) if isinstance(cost, Mapping) else None,
            )
        )
    pagination = data.get("pagination")
    more = isinstance(pagination, Mapping) and pagination.get("has_more") is True
    return rows, more


@dataclass(frozen=True)
class CatalogueEntry:
    """A model as the catalogue lists it: its names and its pricing block (if asked for)."""

    id: str
    aliases: tuple[str, ...]
    pricing: Any


def parse_catalogue(data: Any) -> list[CatalogueEntry]:
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), list):
        raise TransportError("The model catalogue answered without a list of models.")
    entries = []
    for item in data["data"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        aliases = item.get("aliases")
        names = tuple(a for a in aliases if isinstance(a, str)) if isinstance(aliases, list) else ()
        entries.append(CatalogueEntry(item["id"], names, item.get("pricing")))
    return entries


def catalogue_entry(entries: list[CatalogueEntry], model: str) -> CatalogueEntry | None:
    """The entry for ``model``, matching ids and aliases together (as the docs advise)."""
    found = find_model(model)
    names = set(found.names()) if found else {model}
    return next((e for e in entries if names & {e.id, *e.aliases}), None)


# Units a video is priced in that a request's fields can count.
_PER_SECOND = {"second", "seconds", "sec", "s"}
_PER_ITEM = {"video", "videos", "generation", "generations", "request", "requests", "clip", "item"}


def _rate(item: Any, request: PriceQuery) -> float | None:
    """Dollars for ``request`` under one ``{price, per, unit|name}`` rate, or None."""
    if not isinstance(item, Mapping):
        return None
    price, per = _usd(item.get("price")), item.get("per", 1)
    unit = str(item.get("unit") or item.get("name") or "").strip().lower()
    if price is None or isinstance(per, bool) or not isinstance(per, (int, float)) or per <= 0:
        return None
    if unit in _PER_SECOND:
        amount = float(request.duration)
    elif unit in _PER_ITEM:
        amount = 1.0
    else:
        return None  # tokens, megapixels…: not something a request's fields can count
    return price / float(per) * amount


def _matches(when: Any, request: PriceQuery) -> bool:
    if not isinstance(when, Mapping) or not when:
        return False
    fields = {
        "duration": request.duration,
        "aspect_ratio": request.ratio,
        "ratio": request.ratio,
        "model": request.model,
    }
    size = request.output_size
    if size is not None:
        fields["resolution"] = f"{min(size)}p"
    return all(k in fields and str(fields[k]) == str(v) for k, v in when.items())


def quote(pricing: Any, request: PriceQuery) -> float | None:
    """The price in USD of one video under a catalogue ``pricing`` block; None if unquotable."""
    if not isinstance(pricing, Mapping):
        return None
    kind = pricing.get("kind")
    if kind == "fixed" and isinstance(pricing.get("units"), list) and pricing["units"]:
        rates = [_rate(item, request) for item in pricing["units"]]
        return None if any(r is None for r in rates) else sum(r for r in rates if r is not None)
    if kind == "variants" and isinstance(pricing.get("variants"), list):
        for variant in pricing["variants"]:
            if isinstance(variant, Mapping) and _matches(variant.get("when"), request):
                return _rate(variant, request)
    return None  # "variable", unknown kinds, or no variant for these fields


def parse_balance(data: Any) -> float:
    balance = data.get("current_balance") if isinstance(data, Mapping) else None
    if isinstance(balance, bool) or not isinstance(balance, (int, float)):
        raise TransportError("The billing answer has no readable balance.")
    if not math.isfinite(balance) or abs(balance) >= 1e9:
        raise TransportError("The billing answer has an implausible balance.")
    return float(balance)
