"""Saving a video safely: checked links, partial files, limits, and proof it is a whole MP4.

Both drivers (``Client`` and ``AsyncClient``) stream a video the same way:
the link is checked (http(s) only; no internal addresses when the API is the
real one), the answer's headers are checked (a video, not too large), bytes
go to a hidden ``.<id>.*.part`` file in the target folder under an idle and
an overall deadline and a size cap, and only a file that is verifiably a
complete MP4 (the promised length, top-level boxes that add up to the file,
``ftyp`` first, a ``moov`` and an ``mdat``, a decodable first frame) is
renamed into place. A cut-short or non-video answer is never saved under the
final name, so it is never reused.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from ._decoding import first_frame_problem
from ._errors import DownloadError, StorageError
from ._text import short_text

# A 10 s 1280x768 clip at a generous 20 Mbit/s is 25 MB; anything far larger is not one.
MAX_VIDEO_BYTES = 64 * 1024 * 1024
IDLE_SECONDS = 60.0  # no byte for this long: the host has stalled
OVERALL_SECONDS = 600.0  # a whole download never takes longer than this
STALE_PART_SECONDS = 3600.0  # a partial download untouched this long was abandoned
MAX_REDIRECTS = 5
VIDEO_CONTENT_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")
_FILE_MODE = 0o666  # before the umask, like any file a user saves


@dataclass(frozen=True)
class Fetched:
    """How one attempt to fetch a video went.

    ``status`` is the video host's HTTP status (``None``: no answer at all);
    ``problem`` says why a 200 was not saved (the file was not a whole video).
    """

    status: int | None
    problem: str | None = None

    @property
    def saved(self) -> bool:
        return self.status == 200 and self.problem is None


# -- links -------------------------------------------------------------------------------


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, in any form a resolver accepts (``127.1``, ``0x7f.0.0.1``)."""
    name = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except (OSError, ValueError):
        return None


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return not address.is_global or address.is_multicast


def check_link(url: str | None, *, gid: str, strict: bool) -> str:
    """The video link if it may be fetched, else ``DownloadError``.

    Only http(s). ``strict`` (the API is the real one, on https) also refuses
    links to loopback, private, link-local and other non-public addresses, so a
    hostile answer cannot make the client fetch from the user's own network;
    the simulator on localhost is not strict.
    """
    shown = short_text(str(url), 80)
    try:
        parsed = httpx.URL(url or "")
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise DownloadError(
            f"Refusing to download the video of generation {gid}: its link {shown!r} "
            "is not an http(s) URL."
        )
    host = parsed.host.lower().rstrip(".")
    if strict:
        address = _ip_literal(host)
        if (
            (address is not None and _internal(address))
            or host == "localhost"
            or host.endswith(".localhost")
        ):
            raise DownloadError(
                f"Refusing to download the video of generation {gid}: its link points at an "
                f"internal address ({host}). The API's video links are public hosts."
            )
    return str(parsed)


def resolves_internally(host: str, port: int) -> str | None:
    """The first internal address ``host`` resolves to, or None (also when it does not resolve).

    A public-looking name may resolve to a private address; checked just before
    each fetch. When the name does not resolve here, the fetch itself fails.
    """
    if _ip_literal(host) is not None:
        return None  # literals were checked by ``check_link``
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        address = _ip_literal(str(info[4][0]).split("%")[0])
        if address is not None and _internal(address):
            return str(address)
    return None


def check_headers(response: httpx.Response, host: str) -> None:
    """Refuse an answer that says it is not a video, or that it is far too large."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind and not kind.startswith(VIDEO_CONTENT_TYPES):
        raise DownloadError(f"Refusing the download from {host}: it is {kind!r}, not a video.")
    length = expected_length(response)
    if length is not None and length > MAX_VIDEO_BYTES:
        raise DownloadError(
            f"Refusing the download from {host}: {length} bytes is far larger than any "
            "generated video."
        )


def expected_length(response: httpx.Response) -> int | None:
    length = response.headers.get("Content-Length", "").strip()
    # Compressed answers are counted after decoding, so only a plain length can be checked.
    if not length.isdigit() or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    return int(length)


# -- the partial file ----------------------------------------------------------------------


class Limits:
    """The size cap and the overall deadline of one download, checked as bytes arrive.

    (The idle deadline is the read timeout of the video request.)
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.started = time.monotonic()
        self.written = 0

    def add(self, chunk: bytes) -> None:
        self.written += len(chunk)
        if self.written > MAX_VIDEO_BYTES:
            raise DownloadError(
                f"Refusing the download from {self.host}: it sent more bytes than any "
                "generated video has."
            )
        if time.monotonic() - self.started > OVERALL_SECONDS:
            raise DownloadError(
                f"The download from {self.host} took over {OVERALL_SECONDS:.0f} s; gave up."
            )


def clean_stale_parts(target: Path) -> None:
    """Remove partial downloads of ``target`` abandoned long ago (a crash, a kill -9).

    A younger one may belong to another kernel downloading the same video.
    """
    cutoff = time.time() - STALE_PART_SECONDS
    with contextlib.suppress(OSError):
        for stale in target.parent.glob(f".{target.stem}.*.part"):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink()


def open_part(target: Path) -> tuple[int, Path]:
    """A new hidden partial file beside ``target``; ``StorageError`` if the folder refuses."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise storage_error(exc, target.parent, "save the video") from None
    return fd, Path(name)


def storage_error(exc: OSError, folder: Path, doing: str) -> StorageError:
    reason = exc.strerror or type(exc).__name__
    return StorageError(
        f"Could not {doing} in {folder} ({reason}). Free some space or make the folder "
        "writable (or point GEN3WIDGETS_HOME elsewhere), then try again: nothing was bought "
        "twice.",
        folder=str(folder),
    )


def finish(part: Path, target: Path, expected: int | None, written: int) -> str | None:
    """Rename ``part`` to ``target`` if it is a whole video; else say why not (and drop it)."""
    problem = _incomplete(part, expected, written)
    if problem is not None:
        with contextlib.suppress(OSError):
            part.unlink()
        return problem
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(part, _FILE_MODE & ~umask)  # mkstemp made it private; a video is not
        os.replace(part, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        raise storage_error(exc, target.parent, "save the video") from None
    return None


def _incomplete(path: Path, expected: int | None, written: int) -> str | None:
    if expected is not None and written != expected:
        return f"it was cut short ({written} of {expected} bytes)"
    return mp4_problem(path)


# -- is it a whole MP4? ----------------------------------------------------------------------


def mp4_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete, decodable MP4 (None when it is)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            problem = _box_problem(f, size)
    except OSError as exc:
        return f"it could not be read back ({exc.strerror or exc})"
    if problem is not None:
        return problem
    return first_frame_problem(path)


def _box_problem(f: BinaryIO, size: int) -> str | None:
    """Walk the top-level boxes: they must tile the file exactly, ``ftyp`` first."""
    offset, kinds = 0, []
    while offset < size:
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            return "it ends inside a box header (cut short)"
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1:
            if len(header) < 16:
                return "it ends inside a box header (cut short)"
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - offset  # "to the end of the file"
        if box_size < 8:
            return "it is not an MP4 file (a malformed box)"
        kinds.append(kind)
        if kinds[0] != b"ftyp":
            return "it is not an MP4 file (it does not start with 'ftyp')"
        offset += box_size
    if offset != size:
        return f"it was cut short (its last box needs {offset - size} more bytes)"
    missing = [k.decode() for k in (b"moov", b"mdat") if k not in kinds]
    if missing:
        return f"it is not a whole MP4 (no {' or '.join(missing)} box)"
    return None
