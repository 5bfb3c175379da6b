"""The answers the simulator sends, good and bad, built on Starlette responses."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

_HTML_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


class SimulatedDisconnect(httpx.RemoteProtocolError):
    """The connection a simulated fault dropped after the headers went out.

    Over ``httpx.ASGITransport`` it reaches the client exactly as a real drop
    would (an ``httpx.RemoteProtocolError``); under uvicorn it makes the server
    abort the connection.
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a complete response")


def iso_millis(when: datetime) -> str:
    """A moment in UTC as the API writes it: ``2026-07-02T03:04:05.000Z``."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def api_error(
    status: int,
    message: str,
    path: str,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    """The API's error body: message, path, requestId, statusCode, timestamp."""
    body = {
        "message": message,
        "path": path,
        "requestId": request_id or str(uuid.uuid4()),
        # The docs' own 429 sample sends the code as a string; clients must take both.
        "statusCode": str(status) if status == 429 else status,
        "timestamp": iso_millis(datetime.now(timezone.utc)),
    }
    return JSONResponse(body, status_code=status, headers=headers)


def html_502() -> Response:
    return Response(_HTML_502, status_code=502, media_type="text/html")


def truncated_json(body: Any, headers: dict[str, str] | None = None) -> Response:
    """A 200 with a correct Content-Length for a JSON body cut in the middle."""
    raw = json.dumps(body).encode()
    return Response(
        raw[: max(1, len(raw) // 2)],
        status_code=200,
        headers=headers,
        media_type="application/json",
    )


class DroppedResponse(Response):
    """Sends the status line and headers (with a Content-Length), then drops the connection."""

    def __init__(self, body: Any) -> None:
        super().__init__(json.dumps(body).encode(), status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        raise SimulatedDisconnect()


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The first byte range of a ``Range`` header as (start, end inclusive).

    None: serve the whole file (a malformed header, a unit other than bytes,
    or several ranges, all of which a server may ignore). ``ValueError``: the
    range cannot be satisfied (answer 416).
    """
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    digits = all(part == "" or part.isdigit() for part in (first, last))
    if (
        unit.strip().lower() != "bytes"
        or "," in spec
        or not dash
        or not digits
        or not (first or last)
    ):
        return None
    if not first:  # "-N": the last N bytes
        if int(last) == 0 or size == 0:
            raise ValueError(f"range {header!r} is empty")
        return max(0, size - int(last)), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise ValueError(f"range {header!r} starts after the last byte ({size - 1})")
    return start, min(int(last) if last else size - 1, size - 1)
