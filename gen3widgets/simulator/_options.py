"""What a simulator can be told: timing, answer shapes, faults to inject."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._render import RenderSpec

Phase = Literal["queued", "generating", "completed", "error"]
PHASES: tuple[Phase, ...] = ("queued", "generating", "completed", "error")
PRESETS = ("fast", "realistic")

# Runway's own figures: a 5 s clip takes roughly 20-30 s, a 10 s clip 40-55 s.
REALISTIC_JOB_SECONDS: Mapping[int, tuple[float, float]] = {5: (20.0, 30.0), 10: (40.0, 55.0)}


@dataclass
class Faults:
    """Trouble to inject. Rates are probabilities in 0..1 per request; all off by default.

    GET faults hit polls of a generation (not video downloads); create faults hit
    ``POST``. ``create_lost_answer`` and ``create_500_after_buying`` are the
    dangerous ones: the job IS created and paid for, but the client cannot know.
    """

    get_5xx: float = 0.0  # 500 / 503 / 504 with the API's JSON error body
    get_html_502: float = 0.0  # 502 with an HTML page from a "gateway"
    get_truncated_json: float = 0.0  # 200 whose JSON body stops half-way
    get_drop: float = 0.0  # headers sent, then the connection dies
    slow_rate: float = 0.0  # API answers delayed by slow_seconds of real time
    slow_seconds: float = 0.0
    create_429: float = 0.0  # refused, nothing bought
    create_429_retry_after: float | None = None  # seconds sent in Retry-After; None: no header
    create_503: float = 0.0  # refused, nothing bought
    create_lost_answer: float = 0.0  # bought, then the connection dies
    create_500_after_buying: float = 0.0  # bought, then a 500 answer
    job_error: float = 0.0  # the job ends with status "error"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("slow_seconds", "create_429_retry_after"):
                if value is not None and value < 0:
                    raise ValueError(f"Faults.{f.name} must be >= 0, got {value!r}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"Faults.{f.name} is a rate and must be within 0..1, got {value!r}"
                )


def _default_render() -> Callable[[RenderSpec], bytes]:
    from ._render import render_mp4

    return render_mp4


@dataclass(frozen=True)
class SimulatorOptions:
    """How the simulator behaves. Every field has a default that imitates the real API.

    All timing (job progress, video link expiry, rate-limit windows) reads
    ``clock``, so a test can pass a fake clock and move time by hand.
    """

    job_seconds: tuple[float, float] = (2.0, 4.0)
    """Range of a job's total time (start of work to completion), drawn per job."""
    preset: str | None = None
    """``"realistic"``: 20-30 s for 5 s clips, 40-55 s for 10 s clips (wins over job_seconds).
    ``"fast"`` or None: ``job_seconds``."""
    queue_seconds: float = 0.3
    """Time a started job still reports ``queued`` before ``generating`` (part of job time)."""
    concurrency: int | None = None
    """At most this many jobs work at once; later ones stay queued until a slot frees."""
    clock: Callable[[], float] = time.monotonic
    video_shape: Literal["list", "object"] = "list"
    """``video`` as ``["url"]`` (2025 DTO) or ``{"url": ..., "duration": 5}`` (later docs)."""
    usage_field: Literal["tokens_used", "credits_used"] = "tokens_used"
    error_shape: Literal["name_message", "detail"] = "name_message"
    status_names: Mapping[str, str] = field(default_factory=dict)
    """Names reported for internal phases, e.g. ``{"queued": "waiting", "generating": "processing"}``."""
    url_ttl: float = 3600.0
    """Seconds a video link works after it was handed out; then the file answers 403."""
    tokens_per_second: int = 52_500
    seed: int = 0
    """Seeds the random timings, faults, ids and omitted request seeds."""
    render: Callable[[RenderSpec], bytes] | None = None
    """Turns a request into MP4 bytes; None: the real renderer (``_render.render_mp4``)."""
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        low, high = self.job_seconds
        if not 0 <= low <= high:
            raise ValueError(
                f"job_seconds must be (min, max) with 0 <= min <= max, got {self.job_seconds}"
            )
        if self.preset not in (None, *PRESETS):
            raise ValueError(f"preset must be one of {PRESETS} or None, got {self.preset!r}")
        if self.queue_seconds < 0:
            raise ValueError(f"queue_seconds must be >= 0, got {self.queue_seconds}")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1 or None, got {self.concurrency}")
        if self.video_shape not in ("list", "object"):
            raise ValueError(f"video_shape must be 'list' or 'object', got {self.video_shape!r}")
        if self.usage_field not in ("tokens_used", "credits_used"):
            raise ValueError(
                f"usage_field must be 'tokens_used' or 'credits_used', got {self.usage_field!r}"
            )
        if self.error_shape not in ("name_message", "detail"):
            raise ValueError(
                f"error_shape must be 'name_message' or 'detail', got {self.error_shape!r}"
            )
        unknown = set(self.status_names) - set(PHASES)
        if unknown:
            raise ValueError(f"status_names keys must be among {PHASES}, got {sorted(unknown)}")
        if self.url_ttl <= 0:
            raise ValueError(f"url_ttl must be > 0, got {self.url_ttl}")

    def job_time(self, duration: int, rng: random.Random) -> float:
        """A job's total time in seconds for a clip of ``duration`` seconds."""
        low, high = self.job_seconds
        if self.preset == "realistic":
            low, high = REALISTIC_JOB_SECONDS.get(duration, REALISTIC_JOB_SECONDS[10])
        return rng.uniform(low, high)

    def status_name(self, phase: Phase) -> str:
        return self.status_names.get(phase, phase)

    def renderer(self) -> Callable[[RenderSpec], bytes]:
        return self.render if self.render is not None else _default_render()
