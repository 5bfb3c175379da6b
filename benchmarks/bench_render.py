"""How long the simulator takes to render a clip (goal on 2 cores: 5 s in <= 3 s, 10 s in <= 6 s).

Run it::

    python benchmarks/bench_render.py [--repeats N]

or import it (add this folder to ``sys.path``) and call :func:`measure_render`,
which returns one dict per case.

The input is a synthetic 1920x1080 "photo" (JPEG, detail at every scale), which
is harder to encode than most real pictures. Wall time is what the goals are
about; CPU time (all threads) is reported too because it does not depend on
what else the machine is doing.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from gen3widgets.simulator._render import RenderSpec, render_mp4  # noqa: E402

GOALS_S = {5: 3.0, 10: 6.0}


def photo_like(width: int = 1920, height: int = 1080, seed: int = 0) -> bytes:
    """A JPEG with detail at several scales plus fine noise (a hard case for x264)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    acc = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((8, 1.0), (32, 0.5), (128, 0.25), (512, 0.12)):
        small = rng.integers(0, 256, (max(2, cells * height // width), cells, 3), dtype=np.uint8)
        big = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        acc += weight * np.asarray(big, np.float32)
    acc += 0.15 * 255 * rng.random((height, width, 3), dtype=np.float32)
    img = Image.fromarray(np.clip(acc * (255.0 / float(acc.max())), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y, r = (
            int(rng.integers(0, width)),
            int(rng.integers(0, height)),
            int(rng.integers(10, 120)),
        )
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=color, width=3)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _cases() -> list[tuple[str, RenderSpec]]:
    first = photo_like(seed=1)
    last = photo_like(seed=2)
    label = "https://example.com/cat.png (not fetched offline)"
    return [
        ("5 s, first frame", RenderSpec(first, duration=5, seed=12345)),
        ("5 s, first + last frame", RenderSpec(first, last_frame=last, duration=5, seed=1)),
        ("5 s, placeholder (URL)", RenderSpec(None, placeholder_label=label, seed=7)),
        ("10 s, first frame", RenderSpec(first, duration=10, seed=12345)),
        ("10 s, first + last frame", RenderSpec(first, last_frame=last, duration=10, seed=1)),
        ("10 s, 9:16", RenderSpec(first, ratio="9:16", duration=10, seed=99)),
        (
            "5 s, gen4_turbo 21:9 (1584x672)",
            RenderSpec(first, model="runway/gen4_turbo", ratio="21:9", seed=5),
        ),
        # video_quality="realistic": film grain at ~5 Mbit/s, files as big as real AI video.
        ("5 s, realistic bytes", RenderSpec(first, seed=12345, quality="realistic")),
        ("10 s, realistic bytes", RenderSpec(first, duration=10, seed=12345, quality="realistic")),
    ]


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def measure_render(repeats: int = 3) -> list[dict[str, Any]]:
    """Render each case ``repeats`` times; one dict per case with the timings in seconds.

    Keys: ``name``, ``duration`` (clip seconds), ``goal_s``, ``median_s``,
    ``min_s``, ``max_s``, ``times_s`` (every run), ``cpu_s`` (median CPU time
    of all threads), ``bytes`` (MP4 size), ``ok`` (median within the goal),
    ``cores`` (CPUs available to this process).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    cases = _cases()
    render_mp4(RenderSpec(None))  # warm up: imports, fonts, FFmpeg
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    results: list[dict[str, Any]] = []
    for name, spec in cases:
        walls: list[float] = []
        cpus: list[float] = []
        size = 0
        for _ in range(repeats):
            cpu0, wall0 = _cpu_seconds(), time.perf_counter()
            data = render_mp4(spec)
            walls.append(time.perf_counter() - wall0)
            cpus.append(_cpu_seconds() - cpu0)
            size = len(data)
        goal = GOALS_S[spec.duration]
        median = statistics.median(walls)
        results.append(
            {
                "name": name,
                "duration": spec.duration,
                "goal_s": goal,
                "median_s": round(median, 3),
                "min_s": round(min(walls), 3),
                "max_s": round(max(walls), 3),
                "times_s": [round(t, 3) for t in walls],
                "cpu_s": round(statistics.median(cpus), 3),
                "bytes": size,
                "ok": median <= goal,
                "cores": cores,
            }
        )
    return results


def markdown_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| clip | goal | wall: median (min–max) | CPU (all threads) | MP4 size | within goal |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | ≤ {r['goal_s']:.0f} s "
            f"| {r['median_s']:.2f} s ({r['min_s']:.2f}–{r['max_s']:.2f}) "
            f"| {r['cpu_s']:.2f} s | {r['bytes'] / 1024:.0f} KB "
            f"| {'yes' if r['ok'] else '**no**'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="renders per case (default 3)")
    args = parser.parse_args(argv)
    results = measure_render(args.repeats)
    cores = results[0]["cores"] if results else "?"
    print(f"Render times, {args.repeats} run(s) per case, {cores} CPU(s) available\n")
    print(markdown_table(results))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
