"""Check a create request's body the way the API does, and say what is wrong.

Written independently of the client's own checks (``gen3widgets._images``) on
purpose: the simulator is the client's examiner, and an examiner that shares
the candidate's code would pass the candidate's bugs.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MODEL = "gen3a_turbo"
RATIOS = ("16:9", "9:16")
DURATIONS = (5, 10)
DEFAULT_DURATION = 10  # one revision of the docs; the client should always send it
DEFAULT_RATIO = "16:9"
MAX_SEED = 4_294_967_295
MAX_PROMPT_UTF16 = 1000
MAX_URL_CHARS = 2048
MAX_DATA_URI_CHARS = 5 * 1024 * 1024
_DATA_URI = re.compile(r"data:image/(jpeg|png|webp);base64,", re.I)
_FORMAT_OF_MIME = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.I)


@dataclass(frozen=True)
class ImageInput:
    """An accepted image: the decoded bytes of a data URI, or just its URL."""

    url: str | None = None
    data: bytes | None = None

    @property
    def label(self) -> str:
        """What a placeholder frame shows for a URL the simulator will not fetch."""
        if self.url is None:
            return ""
        parts = urlsplit(self.url)
        return f"{parts.hostname}{parts.path}"[:80]


@dataclass(frozen=True)
class CreateParams:
    """A valid create request, with the API's defaults filled in (except a missing seed)."""

    image: ImageInput
    last_image: ImageInput | None
    prompt: str
    duration: int
    ratio: str
    seed: int | None


class BodyError(ValueError):
    """The body broke the API's rules; ``issues`` are ``"field: problem"`` sentences."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__("; ".join(issues))
        self.issues = issues


def _js_type(value: object) -> str:
    """Name a JSON value's type as the API's (TypeScript) validator does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError([f"body: Malformed JSON ({exc})"]) from None
    if not isinstance(body, dict):
        raise BodyError([f"body: Expected object, received {_js_type(body)}"])
    return body


def _check_url(url: str) -> list[str]:
    problems = []
    if len(url) > MAX_URL_CHARS:
        problems.append(f"URL must be at most {MAX_URL_CHARS} characters, received {len(url)}")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return ["Invalid url"]
    if parts.scheme != "https":
        problems.append("URL must use https")
    try:
        ipaddress.ip_address(host)
        problems.append("URL host must be a domain name, not an IP address")
    except ValueError:
        labels = host.split(".")
        if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            problems.append(f"URL host {host!r} is not a domain name")
    return problems


def _decode_image(data: bytes, expected: str) -> str | None:
    """Why ``data`` is not a whole image in format ``expected``, or None when it is."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # A decompression bomb is an invalid input here, not a warning to print.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                actual = img.format
                img.load()
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return "Image data could not be decoded as JPEG, PNG or WebP"
    if actual != expected:
        return f"Data URI says {expected.lower()} but holds {actual or 'unknown'} data"
    return None


def _check_image(name: str, value: object) -> tuple[ImageInput | None, list[str]]:
    if not isinstance(value, str):
        return None, [f"{name}: Expected string, received {_js_type(value)}"]
    match = _DATA_URI.match(value)
    if match:
        if len(value) > MAX_DATA_URI_CHARS:
            return None, [f"{name}: Data URI must be at most 5MB, received {len(value)} bytes"]
        try:
            data = base64.b64decode(value[match.end() :], validate=True)
        except (binascii.Error, ValueError):
            return None, [f"{name}: Data URI is not valid base64"]
        problem = _decode_image(data, _FORMAT_OF_MIME[match.group(1).lower()])
        return (None, [f"{name}: {problem}"]) if problem else (ImageInput(data=data), [])
    if value.startswith("data:"):
        return None, [f"{name}: Data URI must be data:image/jpeg, image/png or image/webp;base64"]
    problems = _check_url(value)
    return (None, [f"{name}: {p}" for p in problems]) if problems else (ImageInput(url=value), [])


def _check_int(name: str, value: object, low: int, high: int) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [f"{name}: Expected number, received {_js_type(value)}"]
    if value != int(value):
        return [f"{name}: Expected integer, received float"]
    if value < low:
        return [f"{name}: Number must be greater than or equal to {low}"]
    if value > high:
        return [f"{name}: Number must be less than or equal to {high}"]
    return []


def validate_create(body: dict[str, Any]) -> CreateParams:
    """The request's parameters, or ``BodyError`` listing every problem found."""
    issues: list[str] = []
    model = body.get("model")
    if model is None:
        issues.append("model: Required")
    elif model != MODEL:
        issues.append(f"model: Invalid literal value, expected {json.dumps(MODEL)}")

    image: ImageInput | None = None
    if body.get("image_url") is None:
        issues.append("image_url: Required")
    else:
        image, problems = _check_image("image_url", body["image_url"])
        issues += problems
    last_image = None
    if body.get("last_image_url") is not None:
        last_image, problems = _check_image("last_image_url", body["last_image_url"])
        issues += problems

    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        issues.append(f"prompt: Expected string, received {_js_type(prompt)}")
    elif prompt is not None and (units := len(prompt.encode("utf-16-le")) // 2) > MAX_PROMPT_UTF16:
        issues.append(
            f"prompt: String must contain at most {MAX_PROMPT_UTF16} character(s), received {units}"
        )

    duration = body.get("duration", DEFAULT_DURATION)
    if isinstance(duration, bool) or duration not in DURATIONS:
        issues.append(f"duration: Invalid input, expected 5 | 10, received {json.dumps(duration)}")

    ratio = body.get("ratio", DEFAULT_RATIO)
    if ratio not in RATIOS:
        expected = " | ".join(f"'{r}'" for r in RATIOS)
        shown = f"'{ratio}'" if isinstance(ratio, str) else json.dumps(ratio)
        issues.append(f"ratio: Invalid enum value. Expected {expected}, received {shown}")

    seed = body.get("seed")
    if seed is not None:
        issues += _check_int("seed", seed, 0, MAX_SEED)

    if issues or image is None:
        raise BodyError(issues)
    return CreateParams(
        image=image,
        last_image=last_image,
        prompt=prompt or "",
        duration=int(duration),
        ratio=ratio,
        seed=None if seed is None else int(seed),
    )


def validate_create_body(raw: bytes) -> CreateParams:
    """Parse and validate raw bytes (CPU work for big data URIs: run it off the event loop)."""
    return validate_create(parse_json_object(raw))
