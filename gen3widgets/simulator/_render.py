"""The simulator's video renderer: a real H.264 MP4 made from the request's images.

``render_mp4`` turns a :class:`RenderSpec` into the bytes of an MP4 file that plays
in Chromium, VS Code and Safari: H.264 (High profile), ``yuv420p``, BT.709
limited range, 24 fps, ``+faststart``; the model's output size for the ratio
(gen3a_turbo: 1280x768 for ``16:9``, 768x1280 for ``9:16``; runway/gen4_turbo:
1280x720, 720x1280, 1104x832, 832x1104, 960x960, 1584x672 for ``16:9``,
``9:16``, ``4:3``, ``3:4``, ``1:1``, ``21:9``); exactly ``duration * 24`` frames
and a container duration of exactly ``duration`` seconds.

What the video shows:

* the first frame, cover-cropped to the output size, with a slow "camera move"
  derived from the seed: a zoom in or out, a pan in some direction and a gentle
  drift/wobble (``random.Random(seed)``, so the same seed always moves the same
  way and another seed moves differently);
* when a last frame is given, a crossfade to it over the clip's second half,
  the final frame being the last image (cover-cropped) itself;
* a small caption in the bottom-left corner: ``seed 12345 · gen3widgets simulator``;
* when there is no first frame (an ``https`` URL the simulator cannot fetch) or
  its bytes do not decode, a clearly labelled placeholder: a gradient whose
  colours come from the seed, with a static text panel.

Two qualities: ``"light"`` (the default) spends few bits on these smooth
pictures, so files are small and renders fast; ``"realistic"`` adds a
per-frame film grain and encodes at about 5 Mbit/s (average bitrate, single
encoder thread so that it stays deterministic), so files are as big as real
720p AI video: about 3.2 MB for 5 s and 6.3 MB for 10 s.

The same spec always gives byte-identical bytes (fixed encoder threads and
options, bit-exact muxing, no creation time, grain drawn from the seed). The
prompt is not drawn and does not change the motion: the seed alone decides it.

Speed: every image is converted once to a slightly larger Y'CbCr "canvas"
(three PIL ``L`` images, chroma at half size); each frame is then three
``Image.resize(..., box=...)`` calls on those planes (sub-pixel crop + scale,
in C, releasing the GIL), an optional ``Image.blend`` for the crossfade and a
pre-rendered caption pasted with its alpha mask. There is no per-frame RGB to
YUV conversion. Frames are produced in worker threads while libx264
(``superfast``) encodes, so a 5 s clip takes about a second on two cores.

NumPy, Pillow and PyAV are imported lazily: importing this module is cheap.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from .. import _drawing
from ._models import GEN3A_TURBO, MODELS, model_named

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image as PILImage

__all__ = [
    "DURATIONS",
    "FPS",
    "MAX_SEED",
    "PLACEHOLDER_TITLE",
    "RenderSpec",
    "output_size",
    "render_mp4",
]

FPS = 24
DURATIONS = (5, 10)
MAX_SEED = 4294967295
PLACEHOLDER_TITLE = "Simulated video — image URL not fetched offline"
UNDECODABLE_TITLE = "Simulated video — first frame could not be decoded"
CAPTION_SUFFIX = "gen3widgets simulator"

# Encoder settings. Fixed thread count and options: the output must not depend
# on the machine's core count. No macroblock-tree rate control: with it, x264
# turned the same frames into different bytes from run to run at every size
# whose width in macroblocks is not a multiple of 16 (most gen4_turbo sizes).
# At an average bitrate, frame threading is not repeatable either: "realistic"
# encodes on one thread (frames are still made on two).
_PRESET = "superfast"
Quality = Literal["light", "realistic"]
# "realistic": ~5 Mbit/s like real 720p AI video (6-7 MB for 10 s), capped by a
# VBV so no second of it is far above; the grain makes the encoder spend it.
_REALISTIC_KBPS = 5000


@dataclass(frozen=True)
class _Encoder:
    threads: int
    rate_control: dict[str, str]  # libx264 options choosing the rate control
    x264_params: str  # appended to _X264_PARAMS


_ENCODERS: dict[str, _Encoder] = {
    # CRF 27 without mbtree: about the size CRF 23 with it gave (a 5 s clip ~0.5 MB).
    "light": _Encoder(2, {"crf": "27"}, ""),
    "realistic": _Encoder(
        1,
        {},
        f":bitrate={_REALISTIC_KBPS}:vbv-maxrate={_REALISTIC_KBPS * 3 // 2}"
        f":vbv-bufsize={_REALISTIC_KBPS * 2}",
    ),
}
# Film grain of "realistic" clips: Gaussian, this many 8-bit levels of luma (sigma),
# cut from a few pre-drawn planes at a per-frame offset so no two frames repeat.
_GRAIN_SIGMA = 3.0
_GRAIN_PLANES = 2
_GRAIN_MARGIN = 64
# Frames are made by this many threads, at most this many ahead of the encoder.
_FRAME_WORKERS = 2
_FRAMES_AHEAD = 8
# BT.709, limited ("tv") range, written into the stream's VUI. The muxer adds
# the matching ``colr`` box from the codec parameters.
_X264_PARAMS = "mbtree=0:rc-lookahead=10:colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"

# Each image is cover-fitted once to a "canvas" slightly larger than the output.
# At the base zoom the camera samples it 1:1; zooming in upsamples it by at most
# 13% (bilinear upsampling is cheaper than downsampling in Pillow, and a soft
# zoom looks natural). The base zoom leaves a sliver of margin so the
# drift/wobble shows from the first frame.
_BASE_ZOOM = 1.02
_CANVAS_SCALE = _BASE_ZOOM
_MAX_ZOOM = 1.15
# Bigger images are refused (placeholder) rather than decoded.
_MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class RenderSpec:
    """What to render. See the module docstring for what the video looks like."""

    # Encoded image bytes (JPEG/PNG/WebP) decoded from a data URI; None when the
    # first frame was an https URL the simulator cannot fetch.
    first_frame: bytes | None
    # Shown on the placeholder frame, e.g. "https://example.com/cat.png (not fetched offline)".
    placeholder_label: str = ""
    # Same as first_frame, optional; when given, crossfade to it over the clip's second half.
    last_frame: bytes | None = None
    # One of the model's ratios (gen3a_turbo: "16:9" -> 1280x768, "9:16" -> 768x1280),
    # or None: the model's ratio closest to the first frame's shape.
    ratio: str | None = "16:9"
    duration: int = 5  # 5 or 10 seconds exactly
    seed: int = 0  # 0..4294967295
    prompt: str = ""
    model: str = GEN3A_TURBO.id  # decides the output size of each ratio
    quality: Quality = "light"  # "realistic": film grain at about 5 Mbit/s


# --------------------------------------------------------------------------- sizes


def output_size(
    ratio: str | None, first_frame: bytes | None, model: str = GEN3A_TURBO.id
) -> tuple[int, int]:
    """The video's ``(width, height)`` for ``model``.

    A ratio gives the model's size for it (gen3a_turbo: ``"16:9"`` 1280x768,
    ``"9:16"`` 768x1280). ``None`` takes the model's ratio closest to the first
    frame's shape (after its EXIF rotation; a square goes to the ratio listed
    first); no image or one that cannot be read gives the model's default ratio.
    ``ValueError`` for an unknown model or a ratio the model lacks.
    """
    spec = model_named(model)
    if ratio is not None:
        return spec.output_size(ratio)
    size = _probe_size(first_frame) if first_frame is not None else None
    if size is None or min(size) < 1:
        return spec.output_size(spec.default_ratio)
    return spec.output_size(spec.closest_ratio(*size))


def _probe_size(data: bytes) -> tuple[int, int] | None:
    """An image's displayed size without decoding its pixels, or None if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,  # when warnings are errors
    ):
        return None
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees
        width, height = height, width
    return width, height


# --------------------------------------------------------------------------- decoding


class _Undecodable(Exception):
    """The image bytes could not be turned into pixels."""


def _decode_rgb(data: bytes, target: tuple[int, int]) -> PILImage.Image:
    """Decode image bytes to an upright RGB image (at least ``target`` big when possible).

    Raises :class:`_Undecodable` with a short reason for anything that is not a
    readable still image. Transparency is flattened onto black.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise _Undecodable("empty image data")
    # (No warnings.catch_warnings() here: it is not thread-safe and callers run
    # this in threads. Pillow's decompression-bomb check warns above about 89
    # megapixels and raises above twice that; a smaller limit is enforced below.)
    try:
        opened = Image.open(io.BytesIO(data))
        if opened.width * opened.height > _MAX_PIXELS:
            raise _Undecodable(f"image too large ({opened.width}x{opened.height})")
        if opened.format == "JPEG":
            # Let libjpeg decode at a reduced scale: much faster for big photos.
            opened.draft("RGB", target)
        opened.load()
        img: PILImage.Image = ImageOps.exif_transpose(opened) or opened
    except UnidentifiedImageError:
        raise _Undecodable("not a JPEG, PNG or WebP image") from None
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,  # when warnings are errors
    ) as exc:
        raise _Undecodable(f"{type(exc).__name__}: {exc}") from None
    if img.width < 1 or img.height < 1:
        raise _Undecodable("empty image")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        # High bit depth greyscale: scale to 8 bits rather than clip.
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) or 1.0
        grey = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return img.convert("RGB")


def _cover_fit(img: PILImage.Image, size: tuple[int, int]) -> PILImage.Image:
    """Scale and centre-crop ``img`` to exactly ``size`` (like CSS ``object-fit: cover``)."""
    from PIL import Image

    width, height = size
    scale = max(width / img.width, height / img.height)
    crop_w, crop_h = min(width / scale, img.width), min(height / scale, img.height)
    left, top = max((img.width - crop_w) / 2, 0.0), max((img.height - crop_h) / 2, 0.0)
    box = (left, top, left + crop_w, top + crop_h)
    return img.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


# --------------------------------------------------------------------------- colour


# BT.709 limited range: Y' in 16..235, Cb/Cr in 16..240.
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


def _rgb_to_yuv_planes(
    rgb: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Full-resolution Y', Cb, Cr float planes (limited range) of an RGB array."""
    import numpy as np

    f = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = _KR * r + _KG * g + _KB * b
    cb = (b - y) / (2.0 * (1.0 - _KB))
    cr = (r - y) / (2.0 * (1.0 - _KR))
    return (
        (16.0 + 219.0 * y).astype(np.float32),
        (128.0 + 224.0 * cb).astype(np.float32),
        (128.0 + 224.0 * cr).astype(np.float32),
    )


def _to_u8(plane: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    import numpy as np

    return np.clip(np.rint(plane), 0, 255).astype(np.uint8)


def _half(plane: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """2x2 box-filter downsample (odd edges dropped)."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = plane[:h, :w]
    out: npt.NDArray[np.float32] = (
        p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
    ) * 0.25
    return out


@dataclass(frozen=True)
class _Planes:
    """An image as Y' (full size) and Cb/Cr (half size) PIL ``L`` images."""

    y: PILImage.Image
    u: PILImage.Image
    v: PILImage.Image

    @property
    def size(self) -> tuple[int, int]:
        return self.y.size


def _planes_from_rgb(img: PILImage.Image) -> _Planes:
    import numpy as np
    from PIL import Image

    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    y, u, v = _rgb_to_yuv_planes(rgb)
    return _Planes(
        Image.fromarray(_to_u8(y), "L"),
        Image.fromarray(_to_u8(_half(u)), "L"),
        Image.fromarray(_to_u8(_half(v)), "L"),
    )


@dataclass(frozen=True)
class _Overlay:
    """A pre-rendered RGBA patch as Y'/Cb/Cr planes with alpha masks, at a fixed place."""

    x: int  # even, so the half-size chroma position is exact
    y: int
    planes: _Planes
    alpha: PILImage.Image  # full size
    alpha_half: PILImage.Image  # chroma size

    def paste_onto(
        self, y: PILImage.Image, u: PILImage.Image, v: PILImage.Image, opacity: float = 1.0
    ) -> None:
        if opacity <= 0.0:
            return
        alpha, alpha_half = self.alpha, self.alpha_half
        if opacity < 1.0:
            lut = [round(a * opacity) for a in range(256)]
            alpha, alpha_half = alpha.point(lut), alpha_half.point(lut)
        y.paste(self.planes.y, (self.x, self.y), alpha)
        u.paste(self.planes.u, (self.x // 2, self.y // 2), alpha_half)
        v.paste(self.planes.v, (self.x // 2, self.y // 2), alpha_half)


def _overlay_from_rgba(patch: PILImage.Image, x: int, y: int) -> _Overlay:
    import numpy as np
    from PIL import Image

    # Even size and position keep the chroma planes aligned with the luma.
    w, h = patch.width + patch.width % 2, patch.height + patch.height % 2
    if (w, h) != patch.size:
        padded = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        padded.paste(patch, (0, 0))
        patch = padded
    arr = np.asarray(patch, dtype=np.uint8)
    alpha = arr[..., 3].astype(np.float32)
    return _Overlay(
        x=x - x % 2,
        y=y - y % 2,
        planes=_planes_from_rgb(Image.fromarray(np.ascontiguousarray(arr[..., :3]), "RGB")),
        alpha=Image.fromarray(arr[..., 3], "L"),
        alpha_half=Image.fromarray(_to_u8(_half(alpha)), "L"),
    )


# --------------------------------------------------------------------------- text


def _caption_overlay(text: str, frame_size: tuple[int, int]) -> _Overlay:
    """A small rounded dark label with white text for the top-left corner.

    At the top, where players leave it visible: browsers draw their controls
    over the bottom of a video.
    """
    from PIL import Image, ImageDraw

    width, height = frame_size
    font_px = max(12, round(min(width, height) * 0.024))
    font = _drawing.font(font_px)
    pad_x, pad_y = round(font_px * 0.6), round(font_px * 0.35)
    text = _drawing.fit_text(text, font, width * 0.9 - 2 * pad_x)
    left, top, right, bottom = font.getbbox(text)
    box_w, box_h = int(right - left) + 2 * pad_x, int(bottom - top) + 2 * pad_y
    patch = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    draw.rounded_rectangle(
        (0, 0, box_w - 1, box_h - 1), radius=round(font_px * 0.4), fill=(0, 0, 0, 150)
    )
    draw.text((pad_x - left, pad_y - top), text, font=font, fill=(255, 255, 255, 235))
    margin = round(min(width, height) * 0.02)
    return _overlay_from_rgba(patch, margin, margin)


def _placeholder_panel(title: str, label: str, frame_size: tuple[int, int]) -> _Overlay:
    """The centred text panel of the placeholder: the title and the label below it."""
    from PIL import Image, ImageDraw

    width, height = frame_size
    short = min(width, height)
    title_font = _drawing.font(max(14, round(short * 0.04)))
    label_font = _drawing.font(max(12, round(short * 0.028)))
    max_text_w = width * 0.84
    lines = [(_drawing.fit_text(title, title_font, max_text_w), title_font)]
    if label.strip():
        lines.append((_drawing.fit_text(label, label_font, max_text_w), label_font))
    gap = round(short * 0.025)
    pad = round(short * 0.035)
    boxes = [font.getbbox(text) for text, font in lines]
    text_w = max(int(r - left) for left, _, r, _ in boxes)
    text_h = sum(int(b - t) for _, t, _, b in boxes) + gap * (len(lines) - 1)
    panel_w, panel_h = text_w + 2 * pad, text_h + 2 * pad
    patch = Image.new("RGBA", (panel_w, panel_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    draw.rounded_rectangle(
        (0, 0, panel_w - 1, panel_h - 1), radius=round(short * 0.02), fill=(0, 0, 0, 170)
    )
    y = pad
    for (text, font), (left, top, right, bottom) in zip(lines, boxes, strict=True):
        x = (panel_w - int(right - left)) // 2 - left
        fill = (255, 255, 255, 255) if font is title_font else (220, 220, 220, 255)
        draw.text((x, y - top), text, font=font, fill=fill)
        y += int(bottom - top) + gap
    return _overlay_from_rgba(patch, (width - panel_w) // 2, (height - panel_h) // 2)


# --------------------------------------------------------------------------- placeholder


def _placeholder_canvas(seed: int, size: tuple[int, int]) -> _Planes:
    """A seed-coloured diagonal gradient with soft stripes, directly as Y'/Cb/Cr planes."""
    import colorsys

    import numpy as np

    rng = random.Random(f"placeholder:{seed}")
    hue = rng.random()
    hue2 = (hue + rng.uniform(0.12, 0.35)) % 1.0
    c1 = np.array(colorsys.hsv_to_rgb(hue, 0.65, 0.85), dtype=np.float32)
    c2 = np.array(colorsys.hsv_to_rgb(hue2, 0.75, 0.35), dtype=np.float32)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    stripe_angle = angle + rng.uniform(0.6, 1.2)
    stripes = rng.uniform(7.0, 14.0)

    width, height = size
    # The gradient is smooth, so compute it at a quarter size and scale up.
    sw, sh = max(2, width // 4), max(2, height // 4)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xs /= sw - 1
    ys /= sh - 1
    t = (xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    s = (xs - 0.5) * math.cos(stripe_angle) + (ys - 0.5) * math.sin(stripe_angle)
    shade = 1.0 + 0.07 * np.sin(s * (2.0 * math.pi * stripes))
    rgb = (c1 * (1.0 - t[..., None]) + c2 * t[..., None]) * shade[..., None]
    small = np.clip(rgb * 255.0, 0, 255).astype(np.uint8)
    from PIL import Image

    img = Image.fromarray(small, "RGB").resize(size, Image.Resampling.BILINEAR)
    return _planes_from_rgb(img)


# --------------------------------------------------------------------------- motion


@dataclass(frozen=True)
class _View:
    """Where the camera looks: zoom (>= 1) and centre offset in canvas fractions."""

    zoom: float
    dx: float  # -0.5..0.5 of the canvas width, clamped so the view stays inside
    dy: float

    def box(self, canvas: tuple[int, int]) -> tuple[float, float, float, float]:
        cw, ch = canvas
        zoom = max(self.zoom, 1.0)
        bw, bh = cw / zoom, ch / zoom
        max_dx, max_dy = (cw - bw) / 2, (ch - bh) / 2
        cx = cw / 2 + min(max(self.dx * cw, -max_dx), max_dx)
        cy = ch / 2 + min(max(self.dy * ch, -max_dy), max_dy)
        # (Clamped again: rounding must not push the box a hair outside the canvas.)
        x0, y0 = max(cx - bw / 2, 0.0), max(cy - bh / 2, 0.0)
        return (x0, y0, min(x0 + bw, float(cw)), min(y0 + bh, float(ch)))


def _ease(t: float) -> float:
    """Half linear, half smoothstep: the camera starts and stops softly but keeps moving."""
    return 0.5 * t + 0.5 * t * t * (3.0 - 2.0 * t)


def _first_motion(seed: int, duration: int) -> Callable[[float], _View]:
    """The seed's camera move over the first frame, as a function of ``t`` in 0..1."""
    rng = random.Random(seed)
    zoom_in = rng.random() < 0.5
    zoom_amount = rng.uniform(0.05, _MAX_ZOOM - _BASE_ZOOM)
    pan_angle = rng.uniform(0.0, 2.0 * math.pi)
    pan_strength = rng.uniform(0.45, 0.95)  # of the margin the zoom leaves
    wobble = rng.uniform(0.002, 0.005)  # of the canvas size
    freq_x, freq_y = rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)  # Hz
    phase_x, phase_y = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(0.0, 2.0 * math.pi)
    cos_a, sin_a = math.cos(pan_angle), math.sin(pan_angle)
    max_zoom = _BASE_ZOOM + zoom_amount
    # The largest offset that keeps the view inside the canvas at the deepest zoom.
    margin = (1.0 - 1.0 / max_zoom) / 2.0

    def view(t: float) -> _View:
        e = _ease(t)
        progress = e if zoom_in else 1.0 - e
        zoom = _BASE_ZOOM + zoom_amount * progress
        pan = pan_strength * margin * progress
        seconds = t * duration
        wx = wobble * math.sin(2.0 * math.pi * freq_x * seconds + phase_x)
        wy = wobble * math.sin(2.0 * math.pi * freq_y * seconds + phase_y)
        return _View(zoom, pan * cos_a + wx, pan * sin_a + wy)

    return view


def _last_motion(t: float) -> _View:
    """The last frame settles: a slight zoom out to exactly the image at ``t == 1``."""
    return _View(1.0 + 0.05 * (1.0 - _ease(t)), 0.0, 0.0)


def _crossfade(t: float) -> float:
    """How much of the last frame shows: 0 in the first half, rising smoothly to 1."""
    if t <= 0.5:
        return 0.0
    u = min((t - 0.5) / 0.5, 1.0)
    return u * u * (3.0 - 2.0 * u)


# --------------------------------------------------------------------------- frames


class _Source:
    """An image's canvas planes and a per-frame ``render(view)`` into output-size planes."""

    def __init__(self, canvas: _Planes, out_size: tuple[int, int]) -> None:
        self.canvas = canvas
        self.out = out_size
        self.half_out = (out_size[0] // 2, out_size[1] // 2)

    def render(self, view: _View) -> tuple[PILImage.Image, PILImage.Image, PILImage.Image]:
        from PIL import Image

        bilinear = Image.Resampling.BILINEAR
        x0, y0, x1, y1 = view.box(self.canvas.size)
        half_box = (x0 / 2, y0 / 2, x1 / 2, y1 / 2)
        return (
            self.canvas.y.resize(self.out, bilinear, box=(x0, y0, x1, y1)),
            self.canvas.u.resize(self.half_out, bilinear, box=half_box),
            self.canvas.v.resize(self.half_out, bilinear, box=half_box),
        )


def _canvas_size(out_size: tuple[int, int]) -> tuple[int, int]:
    w, h = out_size
    # Even, so the half-size chroma canvas maps exactly.
    cw, ch = math.ceil(w * _CANVAS_SCALE), math.ceil(h * _CANVAS_SCALE)
    return cw + cw % 2, ch + ch % 2


def _decode_target(out_size: tuple[int, int] | None) -> tuple[int, int]:
    """The smallest decode size (for JPEG draft mode) that still covers the canvas
    (any model's canvas when the size is not known yet)."""
    sizes = [out_size] if out_size else [s for m in MODELS for s in m.sizes.values()]
    side = max(max(_canvas_size(size)) for size in sizes)
    return side, side


def _image_source(img: PILImage.Image, out_size: tuple[int, int]) -> _Source:
    size = _canvas_size(out_size)
    return _Source(_planes_from_rgb(_cover_fit(img, size)), out_size)


@dataclass(frozen=True)
class _Plan:
    size: tuple[int, int]
    frames: int
    duration: int
    first: _Source
    first_motion: Callable[[float], _View]
    last: _Source | None
    panel: _Overlay | None  # the placeholder's text; fades out with the crossfade
    caption: _Overlay
    grain: _Grain | None  # "realistic" quality only


def _plan(spec: RenderSpec) -> _Plan:
    model = model_named(spec.model)
    if spec.ratio is not None:
        model.output_size(spec.ratio)  # ValueError for a ratio the model lacks
    if spec.quality not in _ENCODERS:
        raise ValueError(f"quality must be 'light' or 'realistic', not {spec.quality!r}")
    if spec.duration not in DURATIONS or isinstance(spec.duration, bool):
        raise ValueError(f"duration must be 5 or 10 seconds, not {spec.duration!r}")
    if not isinstance(spec.seed, int) or isinstance(spec.seed, bool):
        raise ValueError(f"seed must be an integer, not {spec.seed!r}")
    if not 0 <= spec.seed <= MAX_SEED:
        raise ValueError(f"seed must be in 0..{MAX_SEED}, not {spec.seed}")

    first_img: PILImage.Image | None = None
    problem = ""
    if spec.first_frame is not None:
        try:
            first_img = _decode_rgb(spec.first_frame, _decode_target(None))
        except _Undecodable as exc:
            problem = str(exc)

    if spec.ratio is None and first_img is not None:
        size = model.output_size(model.closest_ratio(first_img.width, first_img.height))
    else:
        size = model.output_size(spec.ratio or model.default_ratio)

    notes: list[str] = []
    last: _Source | None = None
    if spec.last_frame is not None:
        try:
            last = _image_source(_decode_rgb(spec.last_frame, _decode_target(size)), size)
        except _Undecodable:
            notes.append("last frame could not be decoded")

    panel: _Overlay | None = None
    if first_img is not None:
        first = _image_source(first_img, size)
    else:
        first = _Source(_placeholder_canvas(spec.seed, _canvas_size(size)), size)
        if spec.first_frame is None:
            title, label = PLACEHOLDER_TITLE, spec.placeholder_label
        else:
            title = UNDECODABLE_TITLE
            label = f"image could not be decoded ({problem})"
            if spec.placeholder_label.strip():
                label = f"{spec.placeholder_label} — {label}"
        panel = _placeholder_panel(title, label, size)

    caption = " · ".join([f"seed {spec.seed}", CAPTION_SUFFIX, *notes])
    return _Plan(
        size=size,
        frames=spec.duration * FPS,
        duration=spec.duration,
        first=first,
        first_motion=_first_motion(spec.seed, spec.duration),
        last=last,
        panel=panel,
        caption=_caption_overlay(caption, size),
        grain=_Grain(spec.seed, size) if spec.quality == "realistic" else None,
    )


def _frame_planes(plan: _Plan, index: int) -> tuple[bytes, bytes, bytes]:
    """Frame ``index`` as raw Y', Cb, Cr plane bytes."""
    from PIL import Image

    t = index / (plan.frames - 1)
    fade = _crossfade(t) if plan.last is not None else 0.0
    if plan.last is not None and fade >= 1.0:
        y, u, v = plan.last.render(_last_motion(t))
    else:
        y, u, v = plan.first.render(plan.first_motion(t))
        if plan.last is not None and fade > 0.0:
            ly, lu, lv = plan.last.render(_last_motion(t))
            y, u, v = Image.blend(y, ly, fade), Image.blend(u, lu, fade), Image.blend(v, lv, fade)
    if plan.panel is not None:
        plan.panel.paste_onto(y, u, v, opacity=1.0 - fade)
    plan.caption.paste_onto(y, u, v)
    luma = y.tobytes() if plan.grain is None else plan.grain.apply(y, index)
    return luma, u.tobytes(), v.tobytes()


class _Grain:
    """Film grain for the luma plane: a few Gaussian planes drawn once from the seed,
    each frame adding a window of one of them at an offset of its own (so no frame
    repeats the last one's grain and the encoder cannot predict it away)."""

    def __init__(self, seed: int, size: tuple[int, int]) -> None:
        import numpy as np

        width, height = size
        rng = np.random.default_rng([seed, 0x6772])
        shape = (_GRAIN_PLANES, height + _GRAIN_MARGIN, width + _GRAIN_MARGIN)
        self._planes = np.rint(rng.normal(0.0, _GRAIN_SIGMA, shape)).astype(np.int16)
        self._seed = seed
        self._size = size

    def apply(self, y: PILImage.Image, index: int) -> bytes:
        import numpy as np

        width, height = self._size
        pick = random.Random(f"grain:{self._seed}:{index}")
        dx, dy = pick.randrange(_GRAIN_MARGIN), pick.randrange(_GRAIN_MARGIN)
        grain = self._planes[index % _GRAIN_PLANES, dy : dy + height, dx : dx + width]
        luma = np.asarray(y, dtype=np.int16) + grain
        grained: bytes = np.clip(luma, 16, 235).astype(np.uint8).tobytes()
        return grained


def _frames_in_parallel(plan: _Plan) -> Iterator[Any]:
    """Yield the frames as ``av.VideoFrame`` objects, in order.

    They are made a few ahead by a small thread pool: PIL's resize, blend and
    paste release the GIL, so this overlaps with x264's own threads. Each frame
    is a pure function of its index, so the result does not depend on timing.
    """
    import av
    import numpy as np

    width, height = plan.size
    sizes = ((width, height), (width // 2, height // 2), (width // 2, height // 2))

    def make(index: int) -> Any:
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, data, (w, h) in zip(
            frame.planes, _frame_planes(plan, index), sizes, strict=True
        ):
            rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(h, plane.line_size)
            rows[:, :w] = np.frombuffer(data, dtype=np.uint8).reshape(h, w)
            # Rows are padded for alignment when a width is not a multiple of 64
            # (most gen4_turbo sizes). x264 reads some of it: left uninitialised,
            # it would make the same spec encode to different bytes.
            rows[:, w:] = 0
        frame.pts = index
        frame.time_base = Fraction(1, FPS)
        frame.color_range = 1  # AVCOL_RANGE_MPEG (limited)
        return frame

    pending: collections.deque[concurrent.futures.Future[Any]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=_FRAME_WORKERS, thread_name_prefix="gen3widgets-render"
    ) as pool:
        try:
            for index in range(plan.frames):
                pending.append(pool.submit(make, index))
                if len(pending) > _FRAMES_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


# --------------------------------------------------------------------------- encoding


def render_mp4(spec: RenderSpec) -> bytes:
    """Render ``spec`` to the bytes of an H.264 MP4 file.

    Blocking and CPU-bound (about a second for 5 s on two cores): call it in
    a thread from async code. Raises ``ValueError`` for an unknown model, a
    ratio the model lacks, a duration other than 5 or 10, a seed outside
    0..4294967295 or an unknown quality. Image bytes that do not decode never raise: the
    video becomes the placeholder (first frame) or has no crossfade (last frame).
    """
    plan = _plan(spec)
    # ``+faststart`` re-opens the output by name to move the index to the front,
    # so the muxer writes to a real (temporary) file rather than a BytesIO.
    with tempfile.TemporaryDirectory(prefix="gen3widgets-render-") as tmp:
        path = os.path.join(tmp, "video.mp4")
        _encode(plan, path, spec.quality)
        with open(path, "rb") as f:
            return f.read()


def _encode(plan: _Plan, path: str, quality: Quality) -> None:
    import av

    encoder = _ENCODERS[quality]
    width, height = plan.size
    rate = Fraction(FPS, 1)
    time_base = Fraction(1, FPS)
    with av.open(
        path,
        mode="w",
        format="mp4",
        # Bit-exact muxing: no library version strings or creation times.
        options={"movflags": "+faststart", "fflags": "+bitexact"},
    ) as container:
        stream = container.add_stream(
            "libx264",
            rate=rate,
            options={
                "preset": _PRESET,
                **encoder.rate_control,
                "profile": "high",
                "x264-params": _X264_PARAMS + encoder.x264_params,
            },
        )
        ctx = stream.codec_context
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = time_base
        ctx.framerate = rate
        ctx.thread_count = encoder.threads
        ctx.thread_type = "FRAME"
        ctx.color_range = 1  # AVCOL_RANGE_MPEG (limited)
        ctx.color_primaries = 1  # AVCOL_PRI_BT709
        ctx.color_trc = 1  # AVCOL_TRC_BT709
        ctx.colorspace = 1  # AVCOL_SPC_BT709
        ctx.flags |= av.codec.context.Flags.bitexact
        stream.time_base = time_base

        for frame in _frames_in_parallel(plan):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
