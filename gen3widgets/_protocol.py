"""The API's wire format, without I/O: build requests, read answers, name errors."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ._config import GENERATION_PATH
from ._errors import (
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    redact,
)
from ._images import short_text
from ._models import Generation, GenerationRequest, Status

log = logging.getLogger("gen3widgets")

# Ids name files: letters, digits, '.', '_' and '-' only (':' would name an NTFS stream).
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_warned_statuses: set[str] = set()


def check_generation_id(value: Any) -> str:
    """A generation id that is safe to put in a URL query and a file name."""
    if not isinstance(value, str) or not _SAFE_ID.match(value) or ".." in value:
        raise TransportError(
            f"The server returned an unusable generation id {short_text(repr(value), 60)}; "
            "refusing to use it (it could name a file outside the video folder)."
        )
    return value


def decode_json(text: str) -> Any:
    """The JSON body, or ``TransportError`` for a truncated / non-JSON body."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TransportError(
            f"The API answered with a body that is not valid JSON ({exc.msg}): "
            f"{short_text(text.strip(), 80)!r}"
        ) from None


def _usage_tokens(data: dict[str, Any]) -> int | None:
    meta = data.get("meta")
    usage = meta.get("usage") if isinstance(meta, dict) else None
    if not isinstance(usage, dict):
        return None
    for key in ("tokens_used", "credits_used"):
        value = usage.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def _video(data: dict[str, Any]) -> tuple[str | None, float | None]:
    video = data.get("video")
    if isinstance(video, list):
        first = next((v for v in video if isinstance(v, str) and v), None)
        if first is None:
            first = next((v.get("url") for v in video if isinstance(v, dict)), None)
        return (first if isinstance(first, str) else None), None
    if isinstance(video, dict):
        url = video.get("url")
        duration = video.get("duration")
        return (
            url if isinstance(url, str) and url else None,
            float(duration) if isinstance(duration, (int, float)) else None,
        )
    if isinstance(video, str) and video:
        return video, None
    return None, None


def error_sentence(error: Any) -> str | None:
    """A readable sentence from any documented (or undocumented) error shape."""
    if error is None or error == "" or error == {}:
        return None
    if isinstance(error, str):
        return error.strip() or None
    if isinstance(error, dict):
        detail = error.get("detail")
        if isinstance(detail, list) and detail:
            parts = []
            for item in detail:
                if isinstance(item, dict):
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
        return short_text(json.dumps(error, sort_keys=True), 200)
    if isinstance(error, list):
        return "; ".join(filter(None, (error_sentence(e) for e in error))) or None
    return str(error)


def parse_generation(data: Any, request: GenerationRequest | None = None) -> Generation:
    """A ``Generation`` from a create or retrieve answer."""
    if not isinstance(data, dict):
        raise TransportError(f"Expected a JSON object from the API, got {type(data).__name__}")
    gid = check_generation_id(data.get("id") or data.get("generation_id"))
    raw_status = data.get("status")
    status = Status(raw_status if isinstance(raw_status, str) and raw_status else "queued")
    if not status.known and status.value not in _warned_statuses:
        _warned_statuses.add(status.value)
        log.warning("Generation %s has unknown status %r; still polling.", gid, status.value)
    video_url, video_duration = _video(data)
    error_raw = data.get("error")
    sentence = error_sentence(error_raw)
    if status.failed and not sentence:
        sentence = f"the server reported status '{status.value}' without a reason"
    return Generation(
        id=gid,
        status=status,
        video_url=video_url,
        error=sentence,
        error_detail=error_raw,
        tokens_used=_usage_tokens(data),
        request=request,
        video_duration=video_duration,
    )


def api_error(
    status_code: int,
    text: str,
    *,
    retry_after: float | None = None,
    what: str = "request",
) -> APIError:
    """The right ``APIError`` subclass for an error answer, with a helpful message."""
    body: Any = None
    server_message: str | None = None
    request_id: str | None = None
    try:
        body = json.loads(text)
    except ValueError:
        stripped = re.sub(r"<[^>]+>", " ", text)
        server_message = " ".join(stripped.split())[:200] or None
    if isinstance(body, dict):
        msg = body.get("message") or body.get("error") or body.get("detail")
        if isinstance(msg, (dict, list)):
            msg = error_sentence(msg)
        server_message = str(msg) if msg else None
        rid = body.get("requestId") or body.get("request_id")
        request_id = str(rid) if rid else None
    said = f": {server_message}" if server_message else ""
    rid_note = f" (request id {request_id})" if request_id else ""
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "server_message": server_message,
        "request_id": request_id,
        "body": body,
    }
    if status_code == 401:
        return AuthenticationError(
            f"The API refused the key (401){said}{rid_note}. Check AIMLAPI_KEY.", **kwargs
        )
    if status_code == 403:
        return InsufficientCreditsError(
            f"The API refused the {what} (403){said}{rid_note}. Your account may be out of "
            "credits: top up on the AI/ML API dashboard.",
            **kwargs,
        )
    if status_code == 404:
        return NotFoundError(f"Not found (404){said}{rid_note}.", **kwargs)
    if status_code == 429:
        wait = f" The server asked to wait {retry_after:g} s." if retry_after is not None else ""
        return RateLimitError(
            f"Rate limited (429){said}{rid_note}.{wait} Wait a little, or submit fewer jobs "
            "at once.",
            retry_after=retry_after,
            **kwargs,
        )
    if status_code >= 500:
        return ServerError(
            f"The API had a server error ({status_code}){said}{rid_note}. Try again later.",
            **kwargs,
        )
    if status_code == 400:
        return APIError(
            f"The API rejected the {what} (400){said}{rid_note}. Fix the input and try again.",
            **kwargs,
        )
    return APIError(f"The API answered {status_code}{said}{rid_note}.", **kwargs)


def create_url(base_url: str) -> str:
    return base_url + GENERATION_PATH


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() == "authorization" else redact(v)) for k, v in headers.items()}
