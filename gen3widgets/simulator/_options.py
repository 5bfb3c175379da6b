"""What a simulator can be told: paths, models, prices, timing, answer shapes, faults."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal

from ._models import MODELS, model_named
from ._pricing import DEFAULT_PRICING, PricingBlock, price_usd
from ._validate import LEGACY, UNIVERSAL, PathName, PathSchema

if TYPE_CHECKING:
    from ._render import RenderSpec

Phase = Literal["queued", "generating", "completed", "error"]
PHASES: tuple[Phase, ...] = ("queued", "generating", "completed", "error")
PRESETS = ("fast", "realistic")
PATHS = ("both", "universal", "legacy")
VIDEO_SHAPES = ("url", "list", "object")
USAGE_FIELDS = ("credits_used", "tokens_used")
VIDEO_QUALITIES = ("light", "realistic")
# What each path answers unless told otherwise: the universal path as documented
# today, the legacy path as it answered in 2025.
_PATH_VIDEO_SHAPE: Mapping[PathName, str] = {"universal": "url", "legacy": "list"}
_PATH_USAGE_FIELD: Mapping[PathName, str] = {"universal": "credits_used", "legacy": "tokens_used"}

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
    logs_429: float = 0.0  # GET /v2/logs refused for going over the rate limit
    logs_429_retry_after: float | None = 1.0  # seconds sent in Retry-After; None: no header

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("slow_seconds", "create_429_retry_after", "logs_429_retry_after"):
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

    All timing (job progress, video link expiry, log lag, rate-limit windows)
    reads ``clock``, so a test can pass a fake clock and move time by hand.
    """

    paths: Literal["both", "universal", "legacy"] = "both"
    """Which create/retrieve paths exist: ``/v2/video/generations`` (universal),
    ``/v2/generate/video/runway/generation`` (legacy) or both. A path not served
    answers 404 ``Cannot POST ...`` (nothing bought)."""
    retired_models: Collection[str] = frozenset()
    """Models (ids or aliases) retired upstream: a create naming one answers 404
    "deprecated" (nothing bought) and the catalogue leaves it out. Stored as ids."""
    pricing: Mapping[str, PricingBlock] = field(default_factory=dict)
    """Pricing blocks by model id, replacing the default (``_pricing.DEFAULT_PRICING``)
    for the models named; e.g. ``{"gen3a_turbo": {"kind": "variable"}}``."""
    balance_usd: float = 100.0
    """The account's balance before anything is bought. Each generation is charged
    when it completes; failed ones never are."""
    enforce_balance: bool = True
    """Refuse (403, nothing bought) a create costing more than the balance left
    after the generations still running are paid."""
    logs_lag: float = 2.0
    """Seconds (on ``clock``) before a request shows in ``GET /v2/logs``."""
    wall_clock: Callable[[], float] = time.time
    """Read once, at construction, to tie ``clock`` to calendar time (log rows'
    ``created`` and log windows)."""
    video_quality: Literal["light", "realistic"] = "light"
    """``"realistic"``: clips at about 5 Mbit/s with film grain, as big as real
    720p AI video (about 3.2 MB for 5 s); ``"light"``: small files, rendered fast."""
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
    video_shape: Literal["url", "list", "object"] | None = None
    """``video`` as ``{"url": ...}`` (documented today), ``["url"]`` (2025 DTO) or
    ``{"url": ..., "duration": 5}``. None: each path's own (universal ``url``, legacy ``list``)."""
    usage_field: Literal["credits_used", "tokens_used"] | None = None
    """The key under ``meta.usage``. None: each path's own (universal ``credits_used``,
    legacy ``tokens_used``). Either way its value is the price in credits."""
    error_shape: Literal["name_message", "detail"] = "name_message"
    status_names: Mapping[str, str] = field(default_factory=dict)
    """Names reported for internal phases, e.g. ``{"queued": "waiting", "generating": "processing"}``.
    Empty: the documented ``queued``/``generating``/``completed``/``error``."""
    url_ttl: float = 3600.0
    """Seconds a video link works after it was handed out; then the file answers 403."""
    seed: int = 0
    """Seeds the random timings, faults and omitted request seeds."""
    render: Callable[[RenderSpec], bytes] | None = None
    """Turns a request into MP4 bytes; None: the real renderer (``_render.render_mp4``)."""
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        low, high = self.job_seconds
        if not 0 <= low <= high:
            raise ValueError(
                f"job_seconds must be (min, max) with 0 <= min <= max, got {self.job_seconds}"
            )
        _check_choice("paths", self.paths, PATHS)
        _check_choice("preset", self.preset, (None, *PRESETS))
        _check_choice("video_shape", self.video_shape, (None, *VIDEO_SHAPES))
        _check_choice("usage_field", self.usage_field, (None, *USAGE_FIELDS))
        _check_choice("error_shape", self.error_shape, ("name_message", "detail"))
        _check_choice("video_quality", self.video_quality, VIDEO_QUALITIES)
        if self.queue_seconds < 0:
            raise ValueError(f"queue_seconds must be >= 0, got {self.queue_seconds}")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1 or None, got {self.concurrency}")
        unknown = set(self.status_names) - set(PHASES)
        if unknown:
            raise ValueError(f"status_names keys must be among {PHASES}, got {sorted(unknown)}")
        if self.url_ttl <= 0:
            raise ValueError(f"url_ttl must be > 0, got {self.url_ttl}")
        if self.logs_lag < 0:
            raise ValueError(f"logs_lag must be >= 0, got {self.logs_lag}")
        if self.balance_usd < 0:
            raise ValueError(f"balance_usd must be >= 0, got {self.balance_usd}")
        if isinstance(self.retired_models, str):
            raise ValueError(
                f"retired_models must be a set of model ids, got the string {self.retired_models!r}"
            )
        # Frozen: normalise through object.__setattr__ (names to ids, overrides merged).
        retired = frozenset(model_named(name).id for name in self.retired_models)
        object.__setattr__(self, "retired_models", retired)
        pricing = {model_named(name).id: block for name, block in self.pricing.items()}
        object.__setattr__(self, "pricing", {**DEFAULT_PRICING, **pricing})
        for model in MODELS:
            for duration in model.durations:
                for ratio in model.ratios:
                    try:
                        self.price_usd(model.id, duration, ratio)
                    except (ValueError, TypeError, KeyError, AttributeError) as exc:
                        raise ValueError(
                            f"pricing[{model.id!r}] cannot price a {duration} s {ratio} video: {exc}"
                        ) from None

    def job_time(self, duration: int, rng: random.Random) -> float:
        """A job's total time in seconds for a clip of ``duration`` seconds."""
        low, high = self.job_seconds
        if self.preset == "realistic":
            low, high = REALISTIC_JOB_SECONDS.get(duration, REALISTIC_JOB_SECONDS[10])
        return rng.uniform(low, high)

    def status_name(self, phase: Phase) -> str:
        return self.status_names.get(phase, phase)

    def served(self) -> tuple[PathSchema, ...]:
        """The paths that exist."""
        return {"both": (UNIVERSAL, LEGACY), "universal": (UNIVERSAL,), "legacy": (LEGACY,)}[
            self.paths
        ]

    def video_shape_on(self, path: PathName) -> str:
        return self.video_shape or _PATH_VIDEO_SHAPE[path]

    def usage_field_on(self, path: PathName) -> str:
        return self.usage_field or _PATH_USAGE_FIELD[path]

    def price_usd(self, model_id: str, duration: int, ratio: str) -> float:
        """What one generation costs, in USD, by the model's pricing block."""
        return price_usd(self.pricing[model_id], {"duration": duration, "aspect_ratio": ratio})

    def renderer(self) -> Callable[[RenderSpec], bytes]:
        return self.render if self.render is not None else _default_render()


def _check_choice(name: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
