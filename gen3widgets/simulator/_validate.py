"""Check a create request's body the way the API does, and say what is wrong.

Each path has its own strict schema (:class:`PathSchema`): the universal path
takes ``aspect_ratio`` and ``tail_image_url``, the legacy Runway path
``ratio`` and ``last_image_url``, and any other key is refused as the API's
validator refuses it (``Unrecognized key(s) in object: 'ratio'``). Fields
are then checked against the model the body names (its ratios, durations).

When the ratio is left out and the first frame's bytes are known (a data
URI), the model follows the image: the allowed ratio closest to its shape,
which must be within 1:2 … 2:1. For an ``https`` URL (never fetched) the
ratio is the model's default.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from ._models import MAX_IMAGE_ASPECT, MIN_IMAGE_ASPECT, VideoModel, find_model

MAX_SEED = 4_294_967_295
MAX_PROMPT_UTF16 = 1000
MAX_URL_CHARS = 2048
MAX_DATA_URI_CHARS = 5 * 1024 * 1024
_DATA_URI = re.compile(r"data:image/(jpeg|png|webp);base64,", re.I)
_FORMAT_OF_MIME = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.I)
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that turn the image by 90 degrees

PathName = Literal["universal", "legacy"]


@dataclass(frozen=True)
class PathSchema:
    """Where a path is and what its create body may hold."""

    name: PathName
    route: str
    ratio_field: str
    last_frame_field: str

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the body may hold; the API refuses any other."""
        return (
            "model",
            "prompt",
            "image_url",
            self.last_frame_field,
            self.ratio_field,
            "duration",
            "seed",
        )


UNIVERSAL = PathSchema("universal", "/v2/video/generations", "aspect_ratio", "tail_image_url")
LEGACY = PathSchema("legacy", "/v2/generate/video/runway/generation", "ratio", "last_image_url")


@dataclass(frozen=True)
class ImageInput:
    """An accepted image: the decoded bytes of a data URI, or just its URL."""

    url: str | None = None
    data: bytes | None = None
    size: tuple[int, int] | None = None
    """Displayed (width, height) after EXIF rotation; None for a URL."""

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

    model: VideoModel
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


def _quoted(values: Sequence[object]) -> str:
    return " | ".join(f"'{v}'" for v in values)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``BodyError``."""
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


def _decode_image(data: bytes, expected: str) -> tuple[str | None, tuple[int, int]]:
    """Why ``data`` is not a whole image in format ``expected`` (None when it is), and its
    displayed size."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # A decompression bomb is an invalid input here, not a warning to print.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                actual = img.format
                img.load()
                width, height = img.size
                if img.getexif().get(0x0112, 1) in _ROTATED:
                    width, height = height, width
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        return "Image data could not be decoded as JPEG, PNG or WebP", (0, 0)
    if actual != expected:
        return f"Data URI says {expected.lower()} but holds {actual or 'unknown'} data", (0, 0)
    return None, (width, height)


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
        problem, size = _decode_image(data, _FORMAT_OF_MIME[match.group(1).lower()])
        if problem:
            return None, [f"{name}: {problem}"]
        return ImageInput(data=data, size=size), []
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


def _ratio_from_image(
    model: VideoModel, image: ImageInput | None, schema: PathSchema
) -> tuple[str, list[str]]:
    """The ratio for a body that names none: the image's, when its bytes are known."""
    if image is None or image.size is None:
        return model.default_ratio, []
    width, height = image.size
    aspect = width / height
    if not MIN_IMAGE_ASPECT <= aspect <= MAX_IMAGE_ASPECT:
        return model.default_ratio, [
            f"image_url: Image width/height must be between {MIN_IMAGE_ASPECT:g} and "
            f"{MAX_IMAGE_ASPECT:g} when {schema.ratio_field} is omitted, received "
            f"{width}x{height} ({aspect:.2f}); crop the image or send {schema.ratio_field}"
        ]
    return model.closest_ratio(width, height), []


def validate_create(
    body: dict[str, Any], schema: PathSchema, models: Sequence[VideoModel]
) -> CreateParams:
    """The request's parameters, or ``BodyError`` listing every problem found.

    ``models`` are the models on sale (retired ones left out).
    """
    unknown = [key for key in body if key not in schema.keys]
    unrecognized = []
    if unknown:
        listed = ", ".join(f"'{key}'" for key in unknown)
        unrecognized.append(f"Unrecognized key(s) in object: {listed}")
    name = body.get("model")
    model = find_model(name)
    if model is None or model not in models:
        if name is None:
            problem = "model: Required"
        else:
            shown = f"'{name}'" if isinstance(name, str) else json.dumps(name)
            problem = f"model: Invalid enum value. Expected {_quoted([m.id for m in models])}, received {shown}"
        # The body is validated per model: without one, nothing else can be checked.
        raise BodyError([problem, *unrecognized])

    issues: list[str] = []
    image: ImageInput | None = None
    if body.get("image_url") is None:
        issues.append("image_url: Required")
    else:
        image, problems = _check_image("image_url", body["image_url"])
        issues += problems
    last_image = None
    if body.get(schema.last_frame_field) is not None:
        last_image, problems = _check_image(schema.last_frame_field, body[schema.last_frame_field])
        issues += problems

    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        issues.append(f"prompt: Expected string, received {_js_type(prompt)}")
    elif prompt is not None and (units := len(prompt.encode("utf-16-le")) // 2) > MAX_PROMPT_UTF16:
        issues.append(
            f"prompt: String must contain at most {MAX_PROMPT_UTF16} character(s), received {units}"
        )

    duration = body.get("duration", model.default_duration)
    if isinstance(duration, bool) or duration not in model.durations:
        expected = " | ".join(str(d) for d in model.durations)
        issues.append(
            f"duration: Invalid input, expected {expected}, received {json.dumps(duration)}"
        )

    ratio = body.get(schema.ratio_field)
    if ratio is None:
        ratio, problems = _ratio_from_image(model, image, schema)
        issues += problems
    elif ratio not in model.ratios:
        shown = f"'{ratio}'" if isinstance(ratio, str) else json.dumps(ratio)
        issues.append(
            f"{schema.ratio_field}: Invalid enum value. "
            f"Expected {_quoted(model.ratios)}, received {shown}"
        )

    seed = body.get("seed")
    if seed is not None:
        issues += _check_int("seed", seed, 0, MAX_SEED)

    issues += unrecognized
    if issues or image is None:
        raise BodyError(issues)
    return CreateParams(
        model=model,
        image=image,
        last_image=last_image,
        prompt=prompt or "",
        duration=int(duration),
        ratio=ratio,
        seed=None if seed is None else int(seed),
    )
