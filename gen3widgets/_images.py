"""Image inputs: turn a URL, data URI, path, bytes or image object into what the API takes.

Local inputs become ``data:`` URIs. Everything is checked against the API's rules
(HTTPS URLs naming a domain, at most 2048 characters as sent; JPEG, PNG or WebP
that really decodes; data URIs of at most 5 MB) and every problem is reported,
not just the first one.

Inputs may be hostile (an upload renamed ``.png``, a pasted path or URL), so:

- sizes are known before anything is read or decoded;
- the format is recognised from the first bytes, and only the JPEG, PNG or WebP
  decoder is ever given them (left to choose, Pillow would try all of its
  decoders, EPS included, which runs Ghostscript);
- the pixel count is checked before any pixel is decoded;
- whatever the system or a decoder raises becomes a problem, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import errno
import importlib
import io
import os
import socket
import stat
import unicodedata
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from ._text import short_text

if TYPE_CHECKING:
    from PIL import Image as PILImage

MAX_URL_LENGTH = 2048
MAX_DATA_URI_BYTES = 5 * 1024 * 1024
MIN_ASPECT, MAX_ASPECT = 0.5, 2.0
# Checking that an image decodes holds all its pixels in memory (3-4 bytes each):
# this keeps that under 300 MB. The videos are at most 1584 pixels wide anyway.
MAX_PIXELS = 8192 * 8192
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
_PLUGINS = {
    "JPEG": "PIL.JpegImagePlugin",
    "PNG": "PIL.PngImagePlugin",
    "WEBP": "PIL.WebPImagePlugin",
}
# Formats people try, named so the message can say what to do (first bytes -> name).
_OTHER_FORMATS = (
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%!PS", "PostScript (EPS)"),
    (b"\xc5\xd0\xd3\xc6", "PostScript (EPS)"),
    (b"%PDF", "PDF"),
)
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"avif": "AVIF"}
_ASCII_PRINTABLE = "".join(
    map(chr, range(0x21, 0x7F))
)  # kept as is in a URL; the rest is %-encoded
_NAMED_CHARACTERS = {"\n": "a line break", "\r": "a line break", "\t": "a tab", " ": "a space"}
_NAMED_CATEGORIES = {"Zs": "a space", "Zl": "a line break", "Zp": "a line break"}


@dataclass(frozen=True)
class PreparedImage:
    """An image as the API will receive it, with what is known about it."""

    value: str  # an https URL (ASCII) or a data URI
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
        """A short human description, e.g. ``PNG, 1280x720 (aspect 1.78), 412 KB``.

        Numbers and their units are joined by no-break spaces: a narrow column
        never splits "412 KB" across two lines.
        """
        if self.is_url:
            return f"URL {short_text(self.value, 80)}"
        parts = [self.format or "image"]
        if self.width and self.height:
            aspect = self.width / self.height
            parts.append(f"{self.width}x{self.height} (aspect\u00a0{aspect:.2f})")
        if self.nbytes is not None:
            parts.append(f"{self.nbytes / 1024:.0f}\u00a0KB")
        return ", ".join(parts)

    def image_bytes(self) -> bytes | None:
        """The decoded image bytes of a data URI (``None`` for a URL)."""
        if self.is_url:
            return None
        return base64.b64decode(self.value.split(",", 1)[1])


def prepare_image(source: Any) -> tuple[PreparedImage | None, list[str]]:
    """Turn any accepted image input into a ``PreparedImage``, or say what is wrong."""
    if isinstance(source, PreparedImage):
        return source, []
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(source))
    if isinstance(source, os.PathLike):
        return _from_path(os.fsdecode(os.fspath(source)))
    if isinstance(source, str):
        text = source.strip()
        if not text:
            return None, ["is empty: give an https URL, a data URI, a file path or image bytes"]
        if text[:5].lower() == "data:":
            return _from_data_uri(text)
        if "://" in text:
            url, problems = prepare_url(text)
            return (PreparedImage(url), []) if url else (None, problems)
        return _from_path(os.path.expanduser(text))
    if _is_pil_image(source):
        return _from_pil(source)
    return None, [
        f"cannot use a value of type {type(source).__name__} as an image: give a JPEG, PNG or "
        "WebP image as an https URL, a data URI, a file path, bytes or an image object"
    ]


# -- URLs ------------------------------------------------------------------------------


def check_url(url: str) -> list[str]:
    """Problems with an image URL under the API's rules (empty list when fine)."""
    return prepare_url(url)[1]


def prepare_url(url: str) -> tuple[str | None, list[str]]:
    """The URL as it will be sent, or ``(None, problems)``.

    What is sent is ASCII: a unicode domain name becomes punycode (IDNA 2008, with
    the mapping browsers apply), other characters beyond ASCII are percent-encoded,
    and the scheme and host are lower case. The host must be a domain name: an IP
    address is refused in every spelling that a browser or ``inet_aton`` reads as
    one (``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``１２７．０．０．１``, ...).
    """
    problems: list[str] = []
    if hidden := _hidden_character(url):
        problems.append(hidden)
    if "\\" in url:
        problems.append("URL contains a backslash (\\): use forward slashes (/)")
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, [*problems, f"{short_text(url, 60)!r} is not a valid URL"]
    if parts.scheme.lower() != "https":
        problems.append(
            f"URL scheme must be https, not {parts.scheme or 'missing'!r}: "
            "host the image over HTTPS or pass a local file instead"
        )
    _, at, hostport = parts.netloc.rpartition("@")
    if at:
        problems.append("URL must not contain a user name or password (the part before '@')")
    host, port, port_problem = _split_host_port(hostport)
    ascii_host, host_problem = _domain(host) if host is not None else ("", None)
    problems += [p for p in (port_problem, host_problem) if p]
    sent = None
    # Past twice the limit the URL cannot shrink back under it: spare the work.
    if not problems and len(url) <= 2 * MAX_URL_LENGTH:
        netloc = ascii_host + (f":{port}" if port else "")
        sent = urlunsplit(("https", netloc, *(quote(p, safe=_ASCII_PRINTABLE) for p in parts[2:])))
    length = len(sent) if sent is not None else len(url)
    if length > MAX_URL_LENGTH:
        encoded = " once its international characters are encoded" if len(url) < length else ""
        problems.insert(
            0,
            f"URL is {length} characters long{encoded}; the API takes at most {MAX_URL_LENGTH}",
        )
    return (None, problems) if problems else (sent, [])


def _hidden_character(url: str) -> str | None:
    """What is wrong if ``url`` holds whitespace, a control or an invisible character."""
    if url.isprintable() and " " not in url:  # the common case, in one pass in C
        return None
    position, char = next(
        (i, c) for i, c in enumerate(url, 1) if c.isspace() or not c.isprintable()
    )
    name = _NAMED_CHARACTERS.get(char) or _NAMED_CATEGORIES.get(unicodedata.category(char))
    name = name or f"an invisible or control character (U+{ord(char):04X})"
    return (
        f"URL contains {name} at position {position}: "
        "URLs cannot contain spaces, tabs, line breaks or invisible characters"
    )


def _split_host_port(hostport: str) -> tuple[str | None, str, str | None]:
    """(host, port, problem) of an authority without user info; host ``None`` for IPv6."""
    if hostport.startswith("["):
        shown = short_text(hostport, 60)
        return None, "", f"URL host {shown!r} is an IP address; the API needs a domain name"
    host, _, port = hostport.partition(":")
    # "host:" with nothing after the colon means the default port, as in browsers.
    if port and not (
        port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
    ):
        return host, "", f"URL port {short_text(port, 20)!r} is not a port number from 1 to 65535"
    return host, port.lstrip("0"), None


def _domain(host: str) -> tuple[str, str | None]:
    """``host`` in ASCII, and what is wrong if it is not a domain name."""
    if not host:
        return "", "URL has no host name"
    shown = short_text(host, 60)
    if len(host) > 253:  # the most DNS allows; spares IDNA a huge input
        return "", f"URL host {shown!r} is too long to be a domain name"
    try:
        ascii_host = _idna(host)
    except UnicodeError:
        ascii_host = ""
    labels = (ascii_host or host).split(".")
    if len(labels) > 1 and not labels[-1]:
        labels.pop()  # one trailing dot: "example.com." is the same domain
    last = labels[-1].lower()
    # Browsers read a host whose last label is a number as an IPv4 address, or refuse
    # it; no top-level domain is numeric.
    if last.isascii() and (last.isdigit() or last.startswith("0x")):
        try:
            socket.inet_aton(".".join(labels))
        except (OSError, ValueError):  # ValueError: a NUL character
            return ascii_host, f"URL host {shown!r} is not a domain name: it ends in a number"
        return ascii_host, f"URL host {shown!r} is an IP address; the API needs a domain name"
    valid = len(labels) > 1 and all(_is_ldh_label(label) for label in labels)
    if not ascii_host or not valid:
        return ascii_host, f"URL host {shown!r} is not a domain name"
    return ascii_host, None


def _is_ldh_label(label: str) -> bool:
    """Letters, digits and inner hyphens, 1 to 63 of them (RFC 1123)."""
    return (
        0 < len(label) <= 63
        and label.isascii()
        and label.replace("-", "").isalnum()
        and not label.startswith("-")
        and not label.endswith("-")
    )


def _idna(host: str) -> str:
    """``host`` as ASCII: IDNA 2008 with UTS 46 mapping, or IDNA 2003 without ``idna``."""
    try:
        import idna
    except ImportError:  # pragma: no cover - httpx depends on idna
        return host.encode("idna").decode("ascii").lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise UnicodeError(str(exc)) from exc


# -- local images ----------------------------------------------------------------------


def _prefix(fmt: str) -> str:
    return f"data:{ACCEPTED_FORMATS[fmt]};base64,"


def _data_uri_length(nbytes: int, fmt: str = "PNG") -> int:
    return len(_prefix(fmt)) + 4 * -(-nbytes // 3)


# The most bytes that can fit in a data URI (PNG has the shortest prefix).
MAX_IMAGE_BYTES = 3 * ((MAX_DATA_URI_BYTES - len(_prefix("PNG"))) // 4)


def _too_big(nbytes: int, uri_length: int) -> str:
    return (
        f"this image is {nbytes / 2**20:.1f} MB, which makes a "
        f"{-(-uri_length * 10 // 2**20) / 10:.1f} MB data URI; the API takes at most "
        f"{MAX_DATA_URI_BYTES // 2**20} MB: resize it, save it as JPEG, or host it at an https URL"
    )


def _sniff(head: bytes) -> str | None:
    """The accepted format ``head`` (an image's first 16 bytes) starts, if any."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _not_accepted(head: bytes) -> str:
    name = next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)
    if head[4:8] == b"ftyp":
        name = _HEIF_BRANDS.get(head[8:12], name)
    if name is None:
        return "the data is not an image: the API takes JPEG, PNG or WebP"
    return f"this is a {name} file, not a JPEG, PNG or WebP image: convert it to PNG or JPEG"


def _pixel_problem(size: tuple[int, int] | None) -> str:
    limit = f"{MAX_PIXELS // 10**6} million"
    if size is None:
        return f"this image has more than {limit} pixels: resize it"
    return f"this image is {size[0]}x{size[1]} pixels, more than {limit}: resize it"


def _webp_canvas(head: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP header declares (the decoder allocates it when opened)."""
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        return (
            int.from_bytes(head[26:28], "little") & 0x3FFF,
            int.from_bytes(head[28:30], "little") & 0x3FFF,
        )
    return None


def _decode(data: bytes, fmt: str) -> tuple[tuple[int, int] | None, list[str]]:
    """Decode every pixel of ``data`` with the ``fmt`` decoder only: (size, problems)."""
    from PIL import Image, features

    name = _FORMAT_NAMES[fmt]
    if fmt == "WEBP":
        if not features.check_module("webp"):
            return None, ["WebP images cannot be read here (no WebP support): convert it to PNG"]
        canvas = _webp_canvas(data[:30])
        if canvas and canvas[0] * canvas[1] > MAX_PIXELS:
            return None, [_pixel_problem(canvas)]
    # Registers this one decoder, so that Image.open never loads Pillow's other plugins.
    importlib.import_module(_PLUGINS[fmt])
    try:
        with warnings.catch_warnings():
            # Pillow warns of a "decompression bomb" past its own limit (above ours): a
            # problem here, not a warning a notebook may turn into an error. Its other
            # warnings are about metadata, which is not sent on.
            # (The filters are process-wide: other threads' warnings are muted meanwhile.)
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
                size = img.size
                if size[0] * size[1] > MAX_PIXELS:
                    return None, [_pixel_problem(size)]
                img.load()  # decodes every pixel: a truncated or corrupt file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, [_pixel_problem(None)]
    except Exception:  # hostile bytes can make a decoder raise almost anything
        return None, [f"this {name} image is corrupt or truncated: export it again"]
    return size, []


def _from_bytes(data: bytes) -> tuple[PreparedImage | None, list[str]]:
    if not data:
        return None, ["the image is empty (0 bytes)"]
    fmt = _sniff(data[:16])
    problems = [] if fmt else [_not_accepted(data[:16])]
    uri_length = _data_uri_length(len(data), fmt or "PNG")
    if uri_length > MAX_DATA_URI_BYTES:
        problems.append(_too_big(len(data), uri_length))
    if fmt is None or problems:
        return None, problems
    size, problems = _decode(data, fmt)
    if size is None:
        return None, problems
    uri = _prefix(fmt) + base64.b64encode(data).decode("ascii")
    return PreparedImage(uri, size[0], size[1], fmt, len(data)), []


def _from_data_uri(uri: str) -> tuple[PreparedImage | None, list[str]]:
    head, comma, body = uri.partition(",")
    params = head[5:].split(";")
    mime = params[0].strip().lower()
    problems: list[str] = []
    if not comma or len(params) < 2 or params[-1].strip().lower() != "base64":
        problems.append("a data URI must look like 'data:image/png;base64,...'")
    fmt = next((f for f, m in ACCEPTED_FORMATS.items() if m == mime), None)
    if fmt is None:
        problems.append(
            f"the data URI's type is {short_text(mime, 40) or 'missing'!r}; "
            "the API takes image/jpeg, image/png or image/webp"
        )
    if len(uri) > MAX_DATA_URI_BYTES:  # checked before anything is decoded
        problems.append(
            f"the data URI is {len(uri) / 2**20:.1f} MB; the API takes at most "
            f"{MAX_DATA_URI_BYTES // 2**20} MB: resize the image, save it as JPEG, "
            "or host it at an https URL"
        )
    if fmt is None or problems:
        return None, problems
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None, ["the data URI is not valid base64"]
    held = _sniff(data[:16])
    if held is None:
        return None, [_not_accepted(data[:16])]
    if held != fmt:
        return None, [f"the data URI says {mime} but holds a {_FORMAT_NAMES[held]} image"]
    size, problems = _decode(data, fmt)
    if size is None:
        return None, problems
    return PreparedImage(_prefix(fmt) + body, size[0], size[1], fmt, len(data)), []


def _from_path(path: str) -> tuple[PreparedImage | None, list[str]]:
    shown = repr(path if len(path) <= 80 else "…" + path[-79:])  # the end names the file
    if "\x00" in path:
        return None, [f"{shown} contains a null character, so it cannot name a file"]
    # stat before opening (opening a device can do things, a FIFO can block), and fstat
    # after: the path may name something else by then. Read no more than can be sent.
    try:
        if problem := _status_problem(shown, os.stat(path)):
            return None, [problem]
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        with open(os.open(path, flags), "rb") as file:
            if problem := _status_problem(shown, os.fstat(file.fileno())):
                return None, [problem]
            data = file.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        return None, [_os_problem(shown, path, exc)]
    if len(data) > MAX_IMAGE_BYTES:  # the file grew since it was measured
        return None, [f"file {shown}: {_too_big(len(data), _data_uri_length(len(data)))}"]
    info, problems = _from_bytes(data)
    return info, [f"file {shown}: {p}" for p in problems]


def _status_problem(shown: str, status: os.stat_result) -> str | None:
    """What is wrong with a file of this status, before any byte is read."""
    if stat.S_ISDIR(status.st_mode):
        return f"{shown} is a folder, not an image file"
    if not stat.S_ISREG(status.st_mode):
        return f"{shown} is not a regular file (it is a pipe, a device or a socket)"
    if status.st_size > MAX_IMAGE_BYTES:  # files in /proc say 0: those are read, up to the limit
        return f"file {shown}: {_too_big(status.st_size, _data_uri_length(status.st_size))}"
    return None


def _os_problem(shown: str, path: str, exc: OSError) -> str:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"file {shown} does not exist"
    if exc.errno == errno.ENAMETOOLONG:
        return (
            f"{shown} is too long to be a file path ({len(path)} characters): "
            "give an https URL, a data URI, a file path or image bytes"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read file {shown}: permission denied"
    reason = exc.strerror or "the system refused"
    return f"cannot read file {shown}: {reason[:1].lower()}{reason[1:]}"


def _from_pil(img: PILImage.Image) -> tuple[PreparedImage | None, list[str]]:
    if img.width * img.height > MAX_PIXELS:
        return None, [_pixel_problem(img.size)]
    # PNG keeps every pixel; fall back to JPEG when PNG would not fit in 5 MB.
    buffer = io.BytesIO()
    try:
        rgb = img if img.mode in ("RGB", "RGBA", "L", "LA", "P") else img.convert("RGB")
        rgb.save(buffer, format="PNG")
        if _data_uri_length(buffer.tell()) > MAX_DATA_URI_BYTES:
            buffer = io.BytesIO()
            rgb.convert("RGB").save(buffer, format="JPEG", quality=90)
    except Exception:  # an image opened lazily is decoded now; its file may be damaged or gone
        return None, ["this image object cannot be read: open the file again, or pass its path"]
    return _from_bytes(buffer.getvalue())


def _is_pil_image(obj: Any) -> bool:
    module = type(obj).__module__
    if not module.startswith("PIL."):
        return False
    from PIL import Image

    return isinstance(obj, Image.Image)
