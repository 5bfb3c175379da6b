"""Draw ``lake.jpg``, the notebooks' sample first frame: a lake at sunset, 1280x720.

Procedural (Pillow only, fixed random seed), so the repository needs no
third-party picture and the image can be remade: ``python make_sample.py``.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

W, H = 1280, 720
HORIZON = 430
SUN = (860, 360)


def _sky(img: Image.Image) -> None:
    px = img.load()
    assert px is not None
    for y in range(HORIZON):
        t = y / HORIZON
        color = (int(40 + 215 * t**1.4), int(60 + 120 * t**1.8), int(120 - 40 * t))
        for x in range(W):
            px[x, y] = color


def _sun(img: Image.Image) -> None:
    sx, sy = SUN
    for radius in range(160, 0, -4):
        a = radius / 160
        glow = Image.new("RGB", (W, H), (255, int(200 - 60 * a), int(120 - 80 * a)))
        mask = Image.new("L", (W, H), 0)
        box = (sx - radius, sy - radius, sx + radius, sy + radius)
        ImageDraw.Draw(mask).ellipse(box, fill=int(18 * (1 - a) + 4))
        img.paste(glow, (0, 0), mask)
    ImageDraw.Draw(img).ellipse((sx - 46, sy - 46, sx + 46, sy + 46), fill=(255, 236, 190))


def _ridge(draw: ImageDraw.ImageDraw, base: int, amp: int, color: tuple[int, int, int]) -> None:
    r = random.Random(base)
    phase = [r.uniform(0, 2 * math.pi) for _ in range(4)]
    points = [(0.0, float(H))]
    for x in range(0, W + 8, 8):
        wave = (
            0.5 * math.sin(x / 210 + phase[0])
            + 0.3 * math.sin(x / 97 + phase[1])
            + 0.15 * math.sin(x / 41 + phase[2])
            + 0.05 * math.sin(x / 13 + phase[3])
        )
        points.append((float(x), base - amp * wave))
    points.append((float(W), float(H)))
    draw.polygon(points, fill=color)


def _lake(img: Image.Image, rng: random.Random) -> None:
    reflection = img.crop((0, HORIZON - 300, W, HORIZON)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    water = reflection.resize((W, H - HORIZON))
    water = Image.blend(water, Image.new("RGB", water.size, (20, 30, 60)), 0.45)
    img.paste(water, (0, HORIZON))
    draw = ImageDraw.Draw(img)
    for _ in range(260):
        y, x, length = rng.randint(HORIZON + 4, H - 2), rng.randint(0, W), rng.randint(20, 120)
        color = (255, 210, 150) if abs(x - SUN[0]) < 140 else (150, 140, 170)
        draw.line((x, y, x + length, y), fill=color, width=1)


def _trees(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    for i in range(40):
        x = rng.randint(-20, 380) if i < 28 else rng.randint(1050, 1300)
        height = rng.randint(60, 170)
        base = HORIZON + rng.randint(0, 12)
        draw.polygon(
            [(x, base - height), (x - height // 5, base), (x + height // 5, base)],
            fill=(18, 26, 30),
        )


def draw_sample() -> Image.Image:
    rng = random.Random(7)
    img = Image.new("RGB", (W, H))
    _sky(img)
    _sun(img)
    draw = ImageDraw.Draw(img)
    _ridge(draw, 360, 90, (112, 78, 110))
    _ridge(draw, 395, 70, (78, 56, 88))
    _ridge(draw, 425, 45, (48, 38, 62))
    _lake(img, rng)
    _trees(ImageDraw.Draw(img), rng)
    return img.filter(ImageFilter.SMOOTH)


if __name__ == "__main__":
    target = Path(__file__).with_name("lake.jpg")
    draw_sample().save(target, quality=86, optimize=True, progressive=True)
    print(f"wrote {target} ({target.stat().st_size // 1024} KB)")
