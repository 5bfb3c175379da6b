"""Image inputs under hostile and careless input: every case ends as a problem, never a crash.

Bytes are sniffed before any decoder sees them, sizes are known before anything is
read or decoded, paths that the system refuses become problems, and URLs name a
domain (in any spelling of an IP address they do not) and go out as ASCII.
"""

from __future__ import annotations

import base64
import builtins
import errno
import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gen3widgets as g3
from gen3widgets import _images
from gen3widgets._images import PreparedImage, check_url, prepare_image

HOST = "https://images.example.com"
EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
    b"newpath 0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n"
)


def encode(fmt: str, size: tuple[int, int] = (64, 36), **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels."""
    data = bytearray(encode("PNG", (1, 1)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def the_problem(source: Any) -> str:
    """The one problem ``source`` has, as text (fails when it is accepted)."""
    prepared, problems = prepare_image(source)
    assert prepared is None and problems, "accepted"
    return " / ".join(problems)


class Forbidden(AssertionError):
    """Raised by whatever a test says must not be called."""


def forbid(monkeypatch: pytest.MonkeyPatch, target: Any, *names: str) -> list[str]:
    calls: list[str] = []
    for name in names:

        def refuse(*args: Any, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            raise Forbidden(f"{_name} was called")

        monkeypatch.setattr(target, name, refuse)
    return calls


# -- 1. only JPEG, PNG and WebP decoders ever see the bytes -----------------------------


def test_eps_bytes_named_png_never_start_ghostscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(EPS)
    spawned = forbid(monkeypatch, subprocess, "Popen", "check_call", "check_output", "run")
    message = the_problem(path)
    assert spawned == []
    assert "photo.png" in message and "PostScript" in message
    assert "not a JPEG, PNG or WebP image" in message


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (encode("GIF"), "GIF"),
        (encode("BMP"), "BMP"),
        (encode("TIFF"), "TIFF"),
        (EPS, "PostScript"),
        (b"\x00\x00\x01\x00" + b"\x00" * 60, ""),  # an icon: not worth naming
        (b"just some text\n", ""),
    ],
)
def test_other_formats_are_refused_without_decoding(
    data: bytes, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, Image, "open")
    message = the_problem(data)
    assert "JPEG, PNG or WebP" in message
    assert named in message


PLUGIN_PROBE = """
import json, sys
from pathlib import Path
from gen3widgets._images import prepare_image

results = {p: prepare_image(Path(p))[0] is not None for p in sys.argv[1:]}
plugins = sorted(m for m in sys.modules if m.startswith("PIL.") and m.endswith("ImagePlugin"))
print(json.dumps({"results": results, "plugins": plugins}))
"""


def test_no_other_image_plugin_is_ever_loaded(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "a camera"  # phone photos carry EXIF, read with the TIFF tag parser
    samples = {
        "ok.png": encode("PNG"),
        "ok.jpg": encode("JPEG", exif=exif.tobytes()),
        "ok.webp": encode("WEBP"),
        "eps.png": EPS,
        "gif.png": encode("GIF"),
        "tiff.png": encode("TIFF"),
        "psd.png": b"8BPS\x00\x01" + b"\x00" * 40,
    }
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
    probe = subprocess.run(
        [sys.executable, "-c", PLUGIN_PROBE, *(str(tmp_path / n) for n in samples)],
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(probe.stdout)
    accepted = {Path(p).name for p, ok in seen["results"].items() if ok}
    assert accepted == {"ok.png", "ok.jpg", "ok.webp"}
    # Image.open always imports Pillow's five common plugins (it calls preinit());
    # formats= keeps BMP, GIF and PPM from ever being asked. Anything beyond these
    # means Pillow's full plugin registry (EPS, PSD, ...) was loaded.
    allowed = {
        f"PIL.{name}ImagePlugin" for name in ("Jpeg", "Png", "WebP", "Bmp", "Gif", "Ppm", "Tiff")
    }
    assert set(seen["plugins"]) <= allowed, seen["plugins"]


def test_an_absurd_pixel_count_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    forbid(monkeypatch, ImageFile.ImageFile, "load")
    # 72 million pixels: over our limit, under Pillow's own warning (89 million).
    message = the_problem(png_claiming(9000, 8000))
    assert "9000x8000 pixels" in message and "resize" in message


@pytest.mark.parametrize("size", [(9500, 9500), (100_000, 100_000)])
def test_a_decompression_bomb_is_a_problem_not_a_warning_or_an_error(
    size: tuple[int, int],
) -> None:
    # Pillow warns above 89 million pixels and raises above twice that; warnings are
    # errors in these tests, as they may be in a user's notebook.
    message = the_problem(png_claiming(*size))
    assert "million pixels: resize it" in message


def test_a_webp_canvas_too_large_is_refused_before_the_decoder_allocates_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # VP8X header: flags, then canvas width-1 and height-1 as 24-bit little-endian.
    side = 16384
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (side - 1).to_bytes(3, "little") * 2
    data = b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x
    forbid(monkeypatch, Image, "open")
    assert f"{side}x{side} pixels" in the_problem(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # cut short
        lambda d: d[:40] + bytes(200) + d[240:],  # scribbled over
        lambda d: d[:8],  # the signature alone
    ],
    ids=["truncated", "scribbled", "signature-only"],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_damaged_images_are_problems(fmt: str, damage: Any) -> None:
    data = encode(fmt, (200, 120), **({"quality": 95} if fmt != "PNG" else {}))
    message = the_problem(damage(data))
    assert "corrupt or truncated" in message or "JPEG, PNG or WebP" in message


# -- 2. sizes are checked before anything is read or decoded ----------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("nbytes", [4_000_000, 6_000_000, 50_000_000])
def test_bytes_too_big_for_a_data_uri_are_refused_without_decoding(
    nbytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, Image, "open")
    forbid(monkeypatch, base64, "b64encode")
    message = the_problem(PNG_SIGNATURE + bytes(nbytes))
    assert "MB" in message and "at most 5 MB" in message


def test_the_5_mb_data_uri_limit_is_exact() -> None:
    # data:image/png;base64, is 22 characters; 3 bytes become 4 characters.
    largest = 3 * ((5 * 1024 * 1024 - 22) // 4)
    image = encode("PNG")
    fits = image + bytes(largest - len(image))  # bytes after the end of a PNG are ignored
    prepared, problems = prepare_image(fits)
    assert problems == [] and prepared is not None
    assert len(prepared.value) == 5 * 1024 * 1024 - 2
    assert "at most 5 MB" in the_problem(fits + b"\x00")


@pytest.mark.parametrize("nbytes", [4_500_000, 6_000_000])
def test_a_file_too_big_is_refused_without_being_read(tmp_path: Path, nbytes: int) -> None:
    path = tmp_path / "big.png"
    with path.open("wb") as f:
        f.truncate(nbytes)  # sparse: costs no disk
    message = no_reading_for(path)()
    assert "big.png" in message and "at most 5 MB" in message


def no_reading_for(path: Path) -> Any:
    def run() -> str:
        with pytest.MonkeyPatch.context() as patch:
            calls = forbid(patch, builtins, "open")
            calls += forbid(patch, io, "open")
            calls += forbid(patch, os, "open", "read")
            calls += forbid(patch, pathlib.Path, "open", "read_bytes")
            prepared, problems = prepare_image(path)
        assert calls == [], calls
        assert prepared is None
        return " / ".join(problems)

    return run


def test_a_data_uri_over_5_mb_is_refused_before_base64_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forbid(monkeypatch, base64, "b64decode", "standard_b64decode")
    forbid(monkeypatch, Image, "open")
    uri = "data:image/png;base64," + "A" * (5 * 1024 * 1024)
    assert "at most 5 MB" in the_problem(uri)


# -- 3. paths the system refuses are problems -------------------------------------------


def test_a_5000_character_path_is_a_problem() -> None:
    message = the_problem("a" * 5000 + ".png")
    assert "too long" in message
    assert len(message) < 300  # the path is shortened, not echoed whole


def test_a_path_with_a_nul_byte_is_a_problem() -> None:
    assert "null character" in the_problem("cat\x00.png")


def test_a_directory_is_a_problem(tmp_path: Path) -> None:
    assert "is a folder, not an image file" in the_problem(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    message = no_reading_for(fifo)()  # opening a FIFO for reading would block forever
    assert "not a regular file" in message


def test_a_device_is_refused() -> None:
    assert "not a regular file" in the_problem(os.devnull)


def test_an_unknown_users_home_is_a_problem() -> None:
    assert "does not exist" in the_problem("~no-such-user-g3w/cat.png")


@pytest.mark.parametrize(
    ("where", "code", "expected"),
    [
        ("stat", errno.EACCES, "permission denied"),
        ("open", errno.EACCES, "permission denied"),
        ("open", errno.EIO, "input/output error"),
        ("open", errno.EMFILE, "too many open files"),
    ],
)
def test_os_errors_are_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int, expected: str
) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(encode("PNG"))
    # The tests run as root, which no file mode stops: make the system call fail instead.
    targets = [(os, where)] + ([(builtins, "open"), (io, "open")] if where == "open" else [])
    for module, name in targets:
        real = getattr(module, name)

        def fail(target: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            if isinstance(target, (str, os.PathLike)) and os.fspath(target) == str(path):
                raise OSError(code, os.strerror(code), str(path))
            return _real(target, *args, **kwargs)

        monkeypatch.setattr(module, name, fail)
    message = the_problem(path)
    assert "cat.png" in message and expected in message


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_a_read_error_is_a_problem() -> None:
    # A regular file of size 0 whose first byte cannot be read (EIO): read it anyway,
    # as files in /proc are, and report the failure.
    assert "input/output error" in the_problem("/proc/self/mem")


# -- 4. URLs: a domain name, no hidden characters, sent as ASCII -----------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1.",
        "127.1",
        "0x7f.0.0.1",
        "0x7F000001",
        "2130706433",
        "0177.0.0.1",
        "１２７．０．０．１",  # full-width digits and dots map to 127.0.0.1
        "[::1]",
        "[::ffff:127.0.0.1]",
    ],
)
def test_ip_addresses_in_any_spelling_are_refused(host: str) -> None:
    problems = check_url(f"https://{host}/x.png")
    assert any("IP address" in p for p in problems), problems


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (f"{HOST}/a\nb.png", "line break"),
        (f"{HOST}/a\rb.png", "line break"),
        (f"{HOST}/a\tb.png", "tab"),
        (f"{HOST}/a b.png", "space"),
        ("https://images.exam\tple.com/x.png", "tab"),
        (f"{HOST}/x.png\x00", "U+0000"),
        ("https://1\x00.2/x.png", "U+0000"),
        (f"{HOST}/x\x7f.png", "U+007F"),
        (f"{HOST}/x\u200b.png", "U+200B"),  # zero-width space
        (f"{HOST}/x\u202e.png", "U+202E"),  # right-to-left override
        (f"{HOST}/x\u00a0.png", "space"),
    ],
)
def test_whitespace_and_control_characters_are_refused(url: str, named: str) -> None:
    problems = check_url(url)
    assert any(named in p for p in problems), problems


@pytest.mark.parametrize("port", ["99999", "0", "abc", "-1", "1e3", "٤٤٣", "9" * 5000])
def test_ports_outside_1_to_65535_are_refused(port: str) -> None:
    problems = check_url(f"https://images.example.com:{port}/x.png")
    assert any("port" in p for p in problems), problems


@pytest.mark.parametrize("port", ["1", "443", "8443", "65535"])
def test_valid_ports_are_kept(port: str) -> None:
    prepared, problems = prepare_image(f"https://images.example.com:{port}/x.png")
    assert problems == [] and prepared is not None
    assert prepared.value == f"https://images.example.com:{port}/x.png"


@pytest.mark.parametrize(
    "userinfo", ["user@", "user:pw@", ":@", "@", "images.example.com\\@", "a%40b@"]
)
def test_user_info_is_refused(userinfo: str) -> None:
    problems = check_url(f"https://{userinfo}images.example.com/x.png")
    assert any("user name or password" in p for p in problems), problems


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("https://bücher.example/x.png", "https://xn--bcher-kva.example/x.png"),
        ("https://BÜCHER.example/x.png", "https://xn--bcher-kva.example/x.png"),
        ("https://bücher。example/x.png", "https://xn--bcher-kva.example/x.png"),
        ("https://例え.テスト/猫.png", "https://xn--r8jz45g.xn--zckzah/%E7%8C%AB.png"),
        ("https://xn--bcher-kva.example/x.png", "https://xn--bcher-kva.example/x.png"),
        (
            "HTTPS://Images.Example.COM/Cat.PNG?v=1#top",
            "https://images.example.com/Cat.PNG?v=1#top",
        ),
        (f"{HOST}/café.png?name=é", f"{HOST}/caf%C3%A9.png?name=%C3%A9"),
        (f"{HOST}/already%20encoded.png", f"{HOST}/already%20encoded.png"),
        ("https://images.example.com./x.png", "https://images.example.com./x.png"),
    ],
)
def test_unicode_domains_are_accepted_and_sent_as_ascii(given: str, sent: str) -> None:
    prepared, problems = prepare_image(given)
    assert problems == [] and prepared is not None
    assert prepared.value == sent and prepared.value.isascii()
    assert g3.GenerationRequest(image=given).image == sent


def test_prepare_url_gives_the_url_to_send_or_the_problems() -> None:
    from gen3widgets._images import prepare_url

    assert prepare_url("https://bücher.example/x.png") == (
        "https://xn--bcher-kva.example/x.png",
        [],
    )
    sent, problems = prepare_url("http://127.1/x.png")
    assert sent is None and len(problems) == 2


@pytest.mark.parametrize(
    "host",
    [
        "xn--zz.example",
        "a..example",
        "-lead.example",
        "under_score.example",
        "%31.example",
        "example.123",
    ],
)
def test_hosts_that_are_not_domain_names_are_refused(host: str) -> None:
    problems = check_url(f"https://{host}/x.png")
    assert any("domain name" in p for p in problems), problems


def test_the_2048_character_limit_applies_to_what_is_sent() -> None:
    prefix = f"{HOST}/"
    exact = prefix + "a" * (2048 - len(prefix))
    assert check_url(exact) == []
    assert any("2049 characters" in p for p in check_url(exact + "a"))
    # 700 characters as typed, 4000 once each é is percent-encoded.
    encoded = check_url(prefix + "é" * 700)
    assert any("at most 2048" in p for p in encoded), encoded


def test_a_backslash_is_refused() -> None:
    problems = check_url(f"{HOST}\\evil.example/x.png")
    assert any("backslash" in p for p in problems), problems


def test_every_url_problem_is_reported() -> None:
    problems = check_url("http://user@127.1:99999/a b.png")
    text = " / ".join(problems)
    for expected in ("https", "IP address", "port", "user name or password", "space"):
        assert expected in text, problems


# -- 5. words users see ------------------------------------------------------------------

JARGON = ("Pillow", "PIL", "UTF-16", "None", "Errno", "Error", "Traceback", "exception")


def test_messages_use_plain_words(tmp_path: Path) -> None:
    (tmp_path / "eps.png").write_bytes(EPS)
    sources: list[Any] = [
        42,
        object(),
        b"",
        EPS,
        encode("GIF"),
        encode("PNG")[:60],
        png_claiming(100_000, 100_000),
        "data:image/gif;base64,AAAA",
        "data:image/png;base64,@@",
        "data:image/jpeg;base64," + base64.b64encode(encode("PNG")).decode(),
        tmp_path / "eps.png",
        tmp_path / "missing.png",
        tmp_path,
        "a" * 5000,
        "x\x00.png",
        "http://user@127.1:99999/a\tb.png",
    ]
    for source in sources:
        for message in prepare_image(source)[1]:
            assert not any(word in message for word in JARGON), message
            assert len(message) < 300, message
    assert "an image object" in the_problem(42)
    assert "JPEG, PNG or WebP" in the_problem(42)


# -- 6. what worked still works ----------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_the_three_formats_are_accepted_from_bytes_files_and_data_uris(
    fmt: str, mime: str, tmp_path: Path
) -> None:
    data = encode(fmt, (64, 36))
    path = tmp_path / "frame"
    path.write_bytes(data)
    uri = f"data:image/{mime};base64," + base64.b64encode(data).decode()
    for source in (data, bytearray(data), memoryview(data), path, str(path), uri):
        prepared, problems = prepare_image(source)
        assert problems == [], (source, problems)
        assert prepared == PreparedImage(uri, 64, 36, fmt, len(data))
        assert prepared.image_bytes() == data


def test_a_data_uri_must_hold_what_it_declares() -> None:
    uri = "data:image/jpeg;base64," + base64.b64encode(encode("PNG")).decode()
    assert "holds a PNG" in the_problem(uri)


def test_image_objects_become_png_or_jpeg_when_png_is_too_big() -> None:
    import numpy as np

    small, problems = prepare_image(Image.new("RGB", (40, 30)))
    assert problems == [] and small is not None and small.format == "PNG"
    noise = np.random.default_rng(7).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    big, problems = prepare_image(Image.fromarray(noise))
    assert problems == [] and big is not None
    assert big.format == "JPEG" and (big.width, big.height) == (1200, 1200)
    assert len(big.value) <= 5 * 1024 * 1024


def test_every_problem_of_a_request_is_reported() -> None:
    with pytest.raises(g3.ValidationError) as caught:
        g3.GenerationRequest(image="http://127.1/x.png", last_image=encode("GIF"), duration=7)
    problems = caught.value.problems
    assert len(problems["image"]) == 2
    assert set(problems) == {"image", "last_image", "duration"}


def test_an_image_object_with_too_many_pixels_is_refused_before_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_images, "MAX_PIXELS", 20 * 20 - 1)
    forbid(monkeypatch, Image.Image, "save")
    assert "20x20 pixels" in the_problem(Image.new("RGB", (20, 20)))
