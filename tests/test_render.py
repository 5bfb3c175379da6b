"""The simulator's renderer makes real, deterministic, browser-friendly H.264 MP4s."""

from __future__ import annotations

import functools
import io
import subprocess
import sys
from typing import Any

import pytest

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from PIL import Image, ImageOps  # noqa: E402

from gen3widgets.simulator import _render  # noqa: E402
from gen3widgets.simulator._render import (  # noqa: E402
    PLACEHOLDER_TITLE,
    RenderSpec,
    output_size,
    render_mp4,
)

LABEL = "https://example.com/cat.png (not fetched offline)"


# --------------------------------------------------------------------------- helpers


def textured(width: int, height: int, seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A photo-like image with detail at several scales, so camera moves show."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((6, 1.0), (24, 0.6), (96, 0.3)):
        small = rng.integers(0, 256, (max(2, cells * height // width), cells, 3), dtype=np.uint8)
        big = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        acc += weight * np.asarray(big, np.float32)
    img = Image.fromarray(np.clip(acc / 1.9, 0, 255).astype(np.uint8))
    return encode(img, fmt)


def solid(color: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> bytes:
    return encode(Image.new("RGB", size, color), "PNG")


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


LANDSCAPE = textured(640, 360, seed=1)
PORTRAIT = textured(360, 640, seed=2)


@functools.cache
def render(spec: RenderSpec) -> bytes:
    """Renders shared between tests (each spec rendered once per session)."""
    return render_mp4(spec)


class Probe:
    """What a player sees: stream parameters and decoded frames."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            self.format = container.format.name
            self.container_duration = container.duration / 1_000_000
            self.codec = ctx.name
            self.profile = ctx.profile
            self.pix_fmt = ctx.pix_fmt
            self.width, self.height = ctx.width, ctx.height
            self.rate = stream.average_rate
            self.stream_frames = stream.frames
            self.stream_duration = float(stream.duration * stream.time_base)
            stream.thread_type = "AUTO"
            self.frame_count = 0
            self._frames: dict[int, Any] = {}
            last = self.stream_frames - 1
            for frame in container.decode(stream):
                if self.frame_count in (0, 40, 59, 60, 90, last):
                    self._frames[self.frame_count] = frame.to_ndarray(format="rgb24")
                self.frame_count += 1

    def frame(self, index: int) -> Any:
        """Decoded frame ``index`` (one of 0, 40, 59, 60, 90 and the last) as float RGB."""
        return self._frames[index].astype(np.float32)


@functools.cache
def probe(spec: RenderSpec) -> Probe:
    return Probe(render(spec))


def luma(spec: RenderSpec, index: int) -> Any:
    """Frame ``index``'s Y' plane before encoding (no x264 round trip: fast and exact)."""
    plan = _render._plan(spec)
    y, _, _ = _render._frame_planes(plan, index)
    width, height = plan.size
    return np.frombuffer(y, dtype=np.uint8).reshape(height, width).astype(np.float32)


def mad(a: Any, b: Any) -> float:
    """Mean absolute difference of two frames, in 8-bit levels."""
    return float(np.abs(a - b).mean())


# --------------------------------------------------------------------------- format


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (1280, 768)), ("9:16", (768, 1280))])
def test_h264_mp4_that_browsers_play(ratio: str, size: tuple[int, int]) -> None:
    p = probe(RenderSpec(LANDSCAPE, ratio=ratio, seed=12345))
    assert p.format.startswith("mov,mp4")
    assert p.codec == "h264"
    assert p.profile in ("High", "Main")
    assert p.pix_fmt == "yuv420p"
    assert (p.width, p.height) == size
    assert p.rate == 24
    assert p.stream_frames == 120
    assert p.frame_count == 120
    assert p.container_duration == pytest.approx(5.0, abs=1 / 24)
    assert p.stream_duration == pytest.approx(5.0, abs=1 / 24)


def test_faststart_puts_the_index_first() -> None:
    data = render(RenderSpec(LANDSCAPE, seed=12345))
    assert data[4:8] == b"ftyp"
    assert 0 <= data.index(b"moov") < data.index(b"mdat")
    # No muxer version string: output does not depend on the FFmpeg build's name.
    assert b"Lavf" not in data


def test_ten_seconds_is_240_frames() -> None:
    p = Probe(render_mp4(RenderSpec(LANDSCAPE, duration=10, seed=3)))
    assert p.codec == "h264"
    assert (p.width, p.height) == (1280, 768)
    assert p.stream_frames == 240
    assert p.frame_count == 240
    assert p.container_duration == pytest.approx(10.0, abs=1 / 24)
    assert p.stream_duration == pytest.approx(10.0, abs=1 / 24)


# --------------------------------------------------------------------------- content


def test_same_spec_gives_identical_bytes() -> None:
    spec = RenderSpec(LANDSCAPE, seed=12345, prompt="a cat")
    assert render_mp4(spec) == render(spec)


def test_another_seed_moves_the_camera_differently() -> None:
    a = probe(RenderSpec(LANDSCAPE, seed=12345))
    b = probe(RenderSpec(LANDSCAPE, seed=777))
    assert a.data != b.data
    assert mad(a.frame(60), b.frame(60)) > 8.0
    assert mad(a.frame(119), b.frame(119)) > 8.0


def test_the_camera_moves() -> None:
    p = probe(RenderSpec(LANDSCAPE, seed=12345))
    assert mad(p.frame(0), p.frame(119)) > 8.0
    # Smoothly: neighbouring frames are far closer than the ends of the clip.
    assert mad(p.frame(59), p.frame(60)) < mad(p.frame(0), p.frame(119)) / 4


def correlation(a: Any, b: Any) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def fitted_luma(image: bytes, size: tuple[int, int] = (1280, 768)) -> Any:
    """The image cover-cropped to ``size``, as BT.709 luma."""
    img = Image.open(io.BytesIO(image)).convert("RGB")
    rgb = np.asarray(ImageOps.fit(img, size, Image.Resampling.BILINEAR), np.float32)
    return rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_clip_starts_on_the_first_frame(seed: int) -> None:
    # Cover-cropped, then moved a little by the camera (a zoom-out starts zoomed in).
    ref = fitted_luma(LANDSCAPE)
    assert correlation(luma(RenderSpec(LANDSCAPE, seed=seed), 0), ref) > 0.6
    assert correlation(luma(RenderSpec(PORTRAIT, seed=seed), 0), ref) < 0.4


def test_the_clip_ends_exactly_on_the_last_frame() -> None:
    spec = RenderSpec(LANDSCAPE, last_frame=PORTRAIT, seed=12345)
    below_caption = slice(100, 768)
    final = luma(spec, 119)[below_caption]
    assert correlation(final, fitted_luma(PORTRAIT)[below_caption]) > 0.99


def test_crossfade_ends_on_the_last_frame() -> None:
    red = (220, 30, 40)
    p = probe(RenderSpec(LANDSCAPE, last_frame=solid(red), seed=12345))
    region = slice(p.height // 2, p.height)  # away from the caption in the top-left corner
    final = p.frame(119)[region].reshape(-1, 3).mean(axis=0)
    assert np.abs(final - red).max() < 8
    # The first half is the first frame only, then the last one fades in.
    plain = probe(RenderSpec(LANDSCAPE, seed=12345))
    assert mad(p.frame(40), plain.frame(40)) < 1.0
    halfway = p.frame(90)[region].reshape(-1, 3).mean(axis=0)
    assert np.abs(halfway - red).max() > 20


def test_caption_names_the_seed() -> None:
    # The caption differs between seeds even when the picture cannot move (solid colour).
    grey = solid((90, 90, 90))
    a = luma(RenderSpec(grey, seed=1), 0)
    b = luma(RenderSpec(grey, seed=4294967295), 0)
    corner = (slice(0, 60), slice(0, 400))  # the top, which players leave visible
    rest = (slice(100, 768), slice(None))
    assert mad(a[corner], b[corner]) > 1.0
    assert mad(a[rest], b[rest]) == 0.0


# --------------------------------------------------------------------------- placeholder


def test_placeholder_when_the_image_was_not_fetched() -> None:
    p = probe(RenderSpec(None, placeholder_label=LABEL, seed=7))
    assert (p.width, p.height) == (1280, 768)
    assert p.frame_count == 120
    # The seed decides the colours and the motion...
    other = probe(RenderSpec(None, placeholder_label=LABEL, seed=8))
    assert mad(p.frame(60), other.frame(60)) > 8.0


def test_placeholder_shows_title_and_label() -> None:
    plan = _render._plan(RenderSpec(None, placeholder_label=LABEL, seed=7))
    assert plan.panel is not None
    # Another label changes the middle of the frame (the text panel) only.
    a = luma(RenderSpec(None, placeholder_label=LABEL, seed=7), 0)
    b = luma(RenderSpec(None, placeholder_label="https://example.org/x.png", seed=7), 0)
    middle = (slice(384, 384 + 60), slice(300, 980))
    top = (slice(0, 250), slice(None))
    assert mad(a[middle], b[middle]) > 2.0
    assert mad(a[top], b[top]) == 0.0
    # A very long label is shortened to fit rather than overflowing.
    long = luma(RenderSpec(None, placeholder_label="https://example.com/" + "x" * 500, seed=7), 0)
    assert long.shape == (768, 1280)


def test_undecodable_bytes_render_the_placeholder() -> None:
    p = probe(RenderSpec(b"definitely not an image", placeholder_label="upload.png", seed=7))
    assert p.codec == "h264"
    assert (p.width, p.height) == (1280, 768)
    assert p.frame_count == 120
    # Not the "not fetched" placeholder: its text panel says something else.
    not_fetched = luma(RenderSpec(None, placeholder_label="upload.png", seed=7), 0)
    undecodable = luma(
        RenderSpec(b"definitely not an image", placeholder_label="upload.png", seed=7), 0
    )
    assert mad(undecodable, not_fetched) > 0.1


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        LANDSCAPE[: len(LANDSCAPE) // 3],  # truncated JPEG
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing sensible
        b"GIF89a" + b"\xff" * 20,
    ],
)
def test_undecodable_bytes_never_raise(garbage: bytes) -> None:
    plan = _render._plan(RenderSpec(garbage, seed=7))
    assert plan.panel is not None  # the placeholder's text panel
    assert plan.size == (1280, 768)
    assert luma(RenderSpec(garbage, seed=7), 60).shape == (768, 1280)


def test_undecodable_last_frame_is_ignored() -> None:
    spec = RenderSpec(LANDSCAPE, last_frame=b"garbage", seed=12345)
    assert _render._plan(spec).last is None
    below = slice(100, 768)  # the caption gains a note
    plain = RenderSpec(LANDSCAPE, seed=12345)
    assert mad(luma(spec, 119)[below], luma(plain, 119)[below]) == 0.0


def test_placeholder_crossfades_to_a_last_frame() -> None:
    green = (30, 200, 60)
    p = probe(RenderSpec(None, placeholder_label=LABEL, last_frame=solid(green), seed=2))
    final = p.frame(119)[100:].reshape(-1, 3).mean(axis=0)
    assert np.abs(final - green).max() < 8  # the text panel has faded out too


# --------------------------------------------------------------------------- sizes


def test_output_size() -> None:
    assert output_size("16:9", None) == (1280, 768)
    assert output_size("9:16", None) == (768, 1280)
    assert output_size("16:9", PORTRAIT) == (1280, 768)
    assert output_size(None, None) == (1280, 768)
    assert output_size(None, LANDSCAPE) == (1280, 768)
    assert output_size(None, solid((0, 0, 0), (300, 300))) == (1280, 768)  # square
    assert output_size(None, PORTRAIT) == (768, 1280)
    assert output_size(None, b"garbage") == (1280, 768)
    with pytest.raises(ValueError, match="gen3a_turbo has no ratio '4:3'"):
        output_size("4:3", None)


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("16:9", (1280, 720)),
        ("9:16", (720, 1280)),
        ("4:3", (1104, 832)),
        ("3:4", (832, 1104)),
        ("1:1", (960, 960)),
        ("21:9", (1584, 672)),
    ],
)
def test_gen4_turbo_output_sizes(ratio: str, size: tuple[int, int]) -> None:
    assert output_size(ratio, None, model="runway/gen4_turbo") == size


def test_an_omitted_ratio_takes_the_models_closest_ratio() -> None:
    gen4 = "runway/gen4_turbo"
    assert output_size(None, solid((0, 0, 0), (300, 300)), model=gen4) == (960, 960)
    assert output_size(None, solid((0, 0, 0), (400, 300)), model=gen4) == (1104, 832)
    assert output_size(None, PORTRAIT, model=gen4) == (720, 1280)
    assert output_size(None, None, model=gen4) == (1280, 720)
    assert _render._plan(RenderSpec(solid((0, 0, 0), (300, 400)), ratio=None, model=gen4)).size == (
        832,
        1104,
    )


@pytest.mark.parametrize("ratio", ["21:9", "1:1"])
def test_gen4_turbo_clips_play_at_their_size(ratio: str) -> None:
    p = probe(RenderSpec(LANDSCAPE, ratio=ratio, seed=9, model="runway/gen4_turbo"))
    assert (p.width, p.height) == output_size(ratio, None, model="runway/gen4_turbo")
    assert (p.codec, p.pix_fmt, p.rate) == ("h264", "yuv420p", 24)
    assert p.frame_count == p.stream_frames == 120
    assert p.container_duration == pytest.approx(5.0, abs=1 / 24)


def test_sizes_whose_rows_are_padded_still_encode_byte_identically() -> None:
    # 1584 and 792 (its chroma) are not multiples of 64: frames carry padding.
    spec = RenderSpec(LANDSCAPE, ratio="21:9", seed=9, model="runway/gen4_turbo")
    assert render_mp4(spec) == render(spec)


# --------------------------------------------------------------------------- quality


def test_realistic_quality_is_as_big_as_real_720p_ai_video() -> None:
    spec = RenderSpec(LANDSCAPE, seed=12345, quality="realistic")
    data = render(spec)
    # About 5 Mbit/s: 3-3.5 MB for 5 s (a loose bound: the encoder aims at an average).
    assert 2.9e6 <= len(data) <= 3.8e6
    assert render_mp4(spec) == data  # still byte-identical per spec
    light = render(RenderSpec(LANDSCAPE, seed=12345))
    assert len(light) < len(data) / 3
    p = probe(spec)
    assert (p.width, p.height, p.frame_count) == (1280, 768, 120)
    # The grain changes every frame: no two neighbours are alike, the picture is the same.
    assert 1.0 < mad(p.frame(59), p.frame(60)) < 8.0
    assert mad(p.frame(60), probe(RenderSpec(LANDSCAPE, seed=12345)).frame(60)) < 8.0


def test_output_size_follows_exif_rotation() -> None:
    img = Image.new("RGB", (400, 200), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees: portrait
    data = encode(img, "JPEG", exif=exif.tobytes())
    assert output_size(None, data) == (768, 1280)


def test_ratio_none_takes_the_orientation_from_the_image() -> None:
    portrait = probe(RenderSpec(PORTRAIT, ratio=None, seed=1))
    assert (portrait.width, portrait.height) == (768, 1280)
    assert portrait.frame_count == 120
    webp = encode(Image.open(io.BytesIO(LANDSCAPE)), "WEBP")
    assert _render._plan(RenderSpec(webp, ratio=None)).size == (1280, 768)
    assert _render._plan(RenderSpec(None, ratio=None)).size == (1280, 768)


@pytest.mark.parametrize(
    "spec",
    [
        RenderSpec(LANDSCAPE, duration=7),
        RenderSpec(LANDSCAPE, ratio="1:1"),
        RenderSpec(LANDSCAPE, ratio="21:9"),  # a gen4_turbo ratio, not gen3a_turbo's
        RenderSpec(LANDSCAPE, model="gen2"),
        RenderSpec(LANDSCAPE, quality="4k"),  # type: ignore[arg-type]
        RenderSpec(LANDSCAPE, seed=-1),
        RenderSpec(LANDSCAPE, seed=4294967296),
    ],
)
def test_invalid_specs_are_refused(spec: RenderSpec) -> None:
    with pytest.raises(ValueError):
        render_mp4(spec)


def test_transparent_png_renders() -> None:
    img = Image.new("RGBA", (300, 200), (255, 0, 0, 0))
    spec = RenderSpec(encode(img, "PNG"), seed=1)
    assert _render._plan(spec).panel is None  # decoded, not the placeholder
    assert luma(spec, 0).shape == (768, 1280)


def test_import_is_lazy() -> None:
    code = (
        "import sys; import gen3widgets.simulator._render; "
        "print(sorted(m for m in ('av', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_placeholder_title_is_as_documented() -> None:
    assert PLACEHOLDER_TITLE == "Simulated video — image URL not fetched offline"
