"""Helpers shared by the benchmark sections: statistics, the simulator on a port, inputs.

Every section runs in its own process (see ``_worker.py``), with its own
simulator(s) served by ``gen3widgets.simulator.start`` on 127.0.0.1, so
sections never share gen3widgets' process-global duration learning.
"""

from __future__ import annotations

import base64
import itertools
import math
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

API_KEY = "bench"
MODEL = "gen3a_turbo"
PROMPT = "a slow dolly shot over a lake at dawn"


# -- statistics --------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): always one of the measured values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def flatten(groups: Iterable[Iterable[Any]]) -> list[Any]:
    return list(itertools.chain.from_iterable(groups))


# -- the simulator -----------------------------------------------------------------------


def clip_path(clips_dir: str | Path, duration: int, quality: str = "light") -> Path:
    """Where ``run.py`` keeps its pre-rendered clip of that length and quality."""
    suffix = "" if quality == "light" else f"_{quality}"
    return Path(clips_dir) / f"clip_{duration}s{suffix}.mp4"


def prerendered(clips_dir: str | Path) -> Callable[[Any], bytes]:
    """A simulator renderer that returns clips rendered once by ``run.py``.

    The real API renders on Runway's GPUs, not on the client's machine; the
    simulator's real renderer would put seconds of CPU per job on the same
    two cores as the client under test. The clip matches the job's length and
    the simulator's ``video_quality`` ("realistic": ~5 Mbit/s, 6–7 MB per 10 s,
    as real 720p AI video is). Each job still gets distinct bytes (a valid MP4
    ``free`` box carrying the seed and a counter is appended), so "each video
    sent once" can be checked by content.
    """
    clips = {
        (d, q): clip_path(clips_dir, d, q).read_bytes()
        for d in (5, 10)
        for q in ("light", "realistic")
        if clip_path(clips_dir, d, q).exists()
    }
    counter = itertools.count()

    def render(spec: Any) -> bytes:
        tag = int(spec.seed).to_bytes(8, "big") + next(counter).to_bytes(8, "big")
        clip = clips[(spec.duration, spec.quality)]
        return clip + (8 + len(tag)).to_bytes(4, "big") + b"free" + tag

    return render


def serve(clips_dir: str | Path, **options: Any) -> Any:
    """The simulator on 127.0.0.1 (a free port), rendering pre-rendered clips."""
    from gen3widgets.simulator import start

    return start(port=0, host="127.0.0.1", render=prerendered(clips_dir), **options)


def data_uri(image: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(image).decode("ascii")


def payload(image: bytes, *, duration: int = 5, seed: int | None = None) -> dict[str, Any]:
    """The create body the baselines send on the universal path (as the library does)."""
    body: dict[str, Any] = {
        "model": MODEL,
        "prompt": PROMPT,
        "image_url": data_uri(image),
        "duration": duration,
        "aspect_ratio": "16:9",
    }
    if seed is not None:
        body["seed"] = seed
    return body


def latency(sim: Any, generation_id: str, seen_at: float | None) -> float | None:
    """Seconds from the simulator completing a job to the client seeing it (same clock)."""
    done = sim.stats.completed_at.get(generation_id)
    if done is None or seen_at is None:
        return None
    return seen_at - done


def gets(sim: Any, generation_id: str) -> int:
    return int(sim.stats.gets_per_job.get(generation_id, 0))


def per_job_figures(
    sim: Any, seen: dict[str, float | None], earliest: dict[str, float | None] | None = None
) -> dict[str, list[float]]:
    """Latencies and GET counts of the jobs in ``seen`` (id -> time first seen completed).

    With ``earliest`` (id -> the client's learned earliest finish when the job
    was submitted) it also counts the jobs seen more than 1 s late, and how many
    of those finished before that learned earliest finish.
    """
    lat = {gid: latency(sim, gid, at) for gid, at in seen.items()}
    late = [gid for gid, x in lat.items() if x is not None and x > 1.0]
    figures = {
        "latency": [x for x in lat.values() if x is not None],
        "gets": [float(gets(sim, gid)) for gid in seen],
        "missing": [float(sum(x is None for x in lat.values()))],
        "late": [float(len(late))],
    }
    if earliest is not None:
        early = [g for g in late if (e := earliest.get(g)) is not None and server_time(sim, g) < e]
        figures["late_before_earliest"] = [float(len(early))]
    return figures


def server_time(sim: Any, generation_id: str) -> float:
    """Seconds from the simulator receiving the create to the job completing."""
    done = sim.stats.completed_at.get(generation_id, float("inf"))
    return float(done - sim.jobs[generation_id].created_at)
