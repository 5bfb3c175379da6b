"""Image inputs: turn a URL, data URI, path, bytes or PIL image into what the API takes.

Local inputs become ``data:`` URIs. Everything is checked against the API's
rules (HTTPS domain URLs of at most 2048 characters, JPEG/PNG/WebP that really
decodes, data URIs of at most 5 MB) and every problem is reported, not just
the first one.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from PIL import Image as PILImage

MAX_URL_LENGTH = 2048
MAX_DATA_URI_BYTES = 5 * 1024 * 1024
MIN_ASPECT, MAX_ASPECT = 0.5, 2.0
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.I)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.I)


@dataclass(frozen=True)
class PreparedImage:
    """An image as the API will receive it, with what is known about it."""

    value: str  # an https URL or a data URI
    width: int | None = None
    height: int | None = None
    format: str | None = None  # "JPEG", "PNG" or "WEBP" when the bytes are known
    nbytes: int | None = None  # size of the encoded image, when known

    @property
    def is_url(self) -> bool:
        return not self.value.startswith("data:")

    @property
    def aspect(self) -> float | None:
        if self.width and self.height:
            return self.width / self.height
        return None

    def describe(self) -> str:
        """A short human description, e.g. ``PNG 1280x720 (16:9-ish, 1.78), 412 KB``."""
        if self.is_url:
            return f"URL {short_text(self.value, 80)}"
        parts = [self.format or "image"]
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height} (aspect {self.width / self.height:.2f})")
        if self.nbytes is not None:
            parts.append(f"{self.nbytes / 1024:.0f} KB")
        return ", ".join(parts)

    def image_bytes(self) -> bytes | None:
        """The decoded image bytes of a data URI (``None`` for a URL)."""
        if self.is_url:
            return None
        return base64.b64decode(self.value.split(",", 1)[1])


def short_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_url(url: str) -> list[str]:
    """Problems with an image URL under the API's rules (empty list when fine)."""
    problems: list[str] = []
    if len(url) > MAX_URL_LENGTH:
        problems.append(
            f"URL is {len(url)} characters long; the API takes at most {MAX_URL_LENGTH}"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return [*problems, f"{short_text(url, 60)!r} is not a valid URL"]
    if parts.scheme.lower() != "https":
        problems.append(
            f"URL scheme must be https, not {parts.scheme or 'missing'!r}: "
            "host the image over HTTPS or pass a local file instead"
        )
    if not host:
        problems.append("URL has no host name")
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            labels = host.rstrip(".").split(".")
            if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
                problems.append(f"URL host {host!r} is not a domain name")
        else:
            problems.append(f"URL host {host!r} is an IP address; the API needs a domain name")
    if parts.username or parts.password:
        problems.append("URL must not contain a user name or password")
    return problems


def _decode_image(data: bytes) -> tuple[PreparedImage | None, list[str]]:
    """Open ``data`` with Pillow and check it is a whole JPEG/PNG/WebP image."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return None, ["the image is empty (0 bytes)"]
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            size = img.size
            img.load()  # decodes every pixel: a truncated or corrupt file fails here
    except UnidentifiedImageError:
        return None, ["the data is not an image Pillow can read (JPEG, PNG or WebP expected)"]
    except (OSError, SyntaxError, ValueError) as exc:
        return None, [f"the image is corrupt or truncated ({exc})"]
    except Image.DecompressionBombError as exc:  # pragma: no cover - needs a giant image
        return None, [f"the image is too large to decode safely ({exc})"]
    if fmt not in ACCEPTED_FORMATS:
        return None, [f"the image is {fmt or 'an unknown format'}; the API takes JPEG, PNG or WebP"]
    return PreparedImage("", size[0], size[1], fmt, len(data)), []


def _from_bytes(data: bytes) -> tuple[PreparedImage | None, list[str]]:
    info, problems = _decode_image(data)
    if info is None:
        return None, problems
    uri = f"data:{ACCEPTED_FORMATS[info.format or '']};base64," + base64.b64encode(data).decode()
    if len(uri) > MAX_DATA_URI_BYTES:
        return None, [
            f"the image is {len(data) / 1e6:.1f} MB, which makes a {len(uri) / 1e6:.1f} MB data "
            f"URI; the API takes at most {MAX_DATA_URI_BYTES / 1024 / 1024:.0f} MB. "
            "Resize it, save it as JPEG, or host it at an https URL"
        ]
    return PreparedImage(uri, info.width, info.height, info.format, info.nbytes), []


def _from_data_uri(uri: str) -> tuple[PreparedImage | None, list[str]]:
    match = _DATA_URI.match(uri)
    if not match:
        return None, ["data URI must look like 'data:image/png;base64,...'"]
    mime = (match.group("mime") or "").lower()
    if mime not in ACCEPTED_FORMATS.values():
        return None, [
            f"data URI type {mime or 'missing'!r}; the API takes {', '.join(ACCEPTED_FORMATS.values())}"
        ]
    if len(uri) > MAX_DATA_URI_BYTES:
        return None, [
            f"data URI is {len(uri) / 1e6:.1f} MB; the API takes at most "
            f"{MAX_DATA_URI_BYTES / 1024 / 1024:.0f} MB"
        ]
    try:
        data = base64.b64decode(uri[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        return None, ["data URI is not valid base64"]
    info, problems = _decode_image(data)
    if info is None:
        return None, problems
    if ACCEPTED_FORMATS[info.format or ""] != mime:
        return None, [f"data URI says {mime} but holds a {info.format} image"]
    return PreparedImage(uri, info.width, info.height, info.format, info.nbytes), []


def _from_pil(img: PILImage.Image) -> tuple[PreparedImage | None, list[str]]:
    # PNG keeps every pixel; fall back to JPEG when PNG would not fit in 5 MB.
    buffer = io.BytesIO()
    rgb = img if img.mode in ("RGB", "RGBA", "L", "LA", "P") else img.convert("RGB")
    rgb.save(buffer, format="PNG", optimize=False)
    if len(buffer.getvalue()) * 4 / 3 > MAX_DATA_URI_BYTES - 64:
        buffer = io.BytesIO()
        rgb.convert("RGB").save(buffer, format="JPEG", quality=90)
    return _from_bytes(buffer.getvalue())


def prepare_image(source: Any) -> tuple[PreparedImage | None, list[str]]:
    """Turn any accepted image input into a ``PreparedImage``, or say what is wrong."""
    if isinstance(source, PreparedImage):
        return source, []
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(source))
    if isinstance(source, os.PathLike):
        return _from_path(Path(os.fspath(source)))
    if isinstance(source, str):
        text = source.strip()
        if not text:
            return None, ["is empty: give an https URL, a data URI, a file path or image bytes"]
        if text[:5].lower() == "data:":
            return _from_data_uri(text)
        if "://" in text:
            problems = check_url(text)
            return (None, problems) if problems else (PreparedImage(text), [])
        return _from_path(Path(text).expanduser())
    if _is_pil_image(source):
        return _from_pil(source)
    return None, [
        f"cannot use a {type(source).__name__} as an image: give an https URL, a data URI, "
        "a file path, image bytes or a PIL image"
    ]


def _from_path(path: Path) -> tuple[PreparedImage | None, list[str]]:
    if not path.exists():
        return None, [f"file {str(path)!r} does not exist"]
    if not path.is_file():
        return None, [f"{str(path)!r} is not a file"]
    size = path.stat().st_size
    if size > MAX_DATA_URI_BYTES:
        return None, [
            f"file {path.name!r} is {size / 1e6:.1f} MB; images sent as data URIs must be under "
            f"{MAX_DATA_URI_BYTES * 3 / 4 / 1e6:.1f} MB. Resize it, save it as JPEG, or host it "
            "at an https URL"
        ]
    info, problems = _from_bytes(path.read_bytes())
    return info, [f"file {path.name!r}: {p}" for p in problems]


def _is_pil_image(obj: Any) -> bool:
    module = type(obj).__module__
    if not module.startswith("PIL."):
        return False
    from PIL import Image

    return isinstance(obj, Image.Image)
