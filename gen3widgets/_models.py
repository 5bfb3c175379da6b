"""The models on offer, what a generation is asked for, and what it became.

* ``VideoModel`` / ``MODELS``: the image-to-video models and their rules
  (ratios with output sizes, durations, successor). A model with the same
  inputs is one more entry, nothing else.
* ``GenerationRequest``: one video's inputs, validated per model when made;
  nothing is ever sent for an invalid request.
* ``Generation`` / ``Status``: a generation as the server (or the ledger)
  last described it.
"""

from __future__ import annotations

import html
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ._errors import ValidationError
from ._images import MAX_ASPECT, MIN_ASPECT, PreparedImage, prepare_image
from ._text import short_text

MAX_SEED = 4_294_967_295
MAX_PROMPT_UNITS = 1000  # the API counts UTF-16 code units: emoji and some symbols count 2
AUTO_RATIO = "auto"  # the one name, everywhere, for "let the model take it from the image"


# -- models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoModel:
    """One image-to-video model: what it accepts and what it makes."""

    id: str
    name: str
    sizes: Mapping[str, tuple[int, int]]  # aspect ratio -> output width x height
    durations: tuple[int, ...] = (5, 10)
    successor: str | None = None  # a model with the same inputs, for when this one is retired
    aliases: tuple[str, ...] = ()

    @property
    def ratios(self) -> tuple[str, ...]:
        return tuple(self.sizes)

    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


GEN3A_TURBO = VideoModel(
    id="gen3a_turbo",
    name="Runway Gen-3 Alpha Turbo",
    sizes={"16:9": (1280, 768), "9:16": (768, 1280)},
    successor="runway/gen4_turbo",
    aliases=("runway/gen3a_turbo",),
)
GEN4_TURBO = VideoModel(
    id="runway/gen4_turbo",
    name="Runway Gen-4 Turbo",
    sizes={
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "4:3": (1104, 832),
        "3:4": (832, 1104),
        "1:1": (960, 960),
        "21:9": (1584, 672),
    },
    aliases=("gen4_turbo",),
)
MODELS: Mapping[str, VideoModel] = {m.id: m for m in (GEN3A_TURBO, GEN4_TURBO)}
DEFAULT_MODEL = GEN3A_TURBO.id  # the model this project was made for
_BY_NAME = {name: m for m in MODELS.values() for name in m.names()}


def find_model(name: object) -> VideoModel | None:
    """The model called ``name`` (its id or an alias), or ``None``."""
    return _BY_NAME.get(name) if isinstance(name, str) else None


def _listing(values: tuple[Any, ...]) -> str:
    shown = [f'"{v}"' if isinstance(v, str) else str(v) for v in values]
    return ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]


def check_choices(model: Any, duration: Any, ratio: Any) -> dict[str, list[str]]:
    """Problems with the model, duration and ratio choices (every front door shares these)."""
    problems: dict[str, list[str]] = {}
    found = find_model(model)
    if found is None:
        problems["model"] = [f"must be one of {_listing(tuple(MODELS))}, not {_show(model)}"]
        return problems
    # 5.0 == 5 would pass a plain ``in``: the API wants a whole number.
    if isinstance(duration, bool) or not isinstance(duration, int):
        problems["duration"] = [
            f"must be {_listing(found.durations)} seconds (a whole number), not {_show(duration)}"
        ]
    elif duration not in found.durations:
        problems["duration"] = [f"must be {_listing(found.durations)} seconds, not {duration}"]
    if ratio is not None and ratio != AUTO_RATIO and ratio not in found.sizes:
        problems["ratio"] = [
            f"{found.id} takes {_listing((*found.ratios, AUTO_RATIO))} "
            f"(from the image), not {_show(ratio)}"
        ]
    return problems


# -- field rules ---------------------------------------------------------------------------


def prompt_units(text: str) -> int:
    """The prompt's length as the API counts it (emoji and some symbols count as 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_prompt(prompt: Any) -> list[str]:
    if not isinstance(prompt, str):
        return [f"must be text, not {_kind(prompt)}"]
    problems = []
    lone = next((ch for ch in prompt if 0xD800 <= ord(ch) <= 0xDFFF), None)
    if lone is not None:
        problems.append(
            f"contains a broken character (U+{ord(lone):04X}), often left by copying text from "
            "a web page; delete it or type it again"
        )
    units = prompt_units(prompt)
    if units > MAX_PROMPT_UNITS:
        problems.append(
            f"is {units} characters long as the API counts them (emoji count as 2); "
            f"it takes at most {MAX_PROMPT_UNITS}"
        )
    return problems


def random_seed() -> int:
    """A fresh seed in the API's range, drawn here so every run's seed is known."""
    return secrets.randbelow(MAX_SEED + 1)


def random_seeds(count: int) -> list[int]:
    """``count`` distinct fresh seeds (the same seed gives the same video)."""
    return secrets.SystemRandom().sample(range(MAX_SEED + 1), count)


def check_seed(seed: Any, *, optional: bool = True) -> list[str]:
    """The one seed rule: a whole number in 0 … 4294967295 (``None``: a random seed,
    unless not ``optional``: in a list of seeds, each is a seed)."""
    if seed is None and optional:
        return []
    if isinstance(seed, bool) or not isinstance(seed, int):
        return [f"must be a whole number from 0 to {MAX_SEED}, not {_show(seed)}"]
    if not 0 <= seed <= MAX_SEED:
        return [f"must be between 0 and {MAX_SEED}, not {_show(seed)}"]
    return []


def _kind(value: Any) -> str:
    names = {str: "text", int: "a number", float: "a number", bytes: "bytes", list: "a list"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value for a message: short, and never a giant number spelled out."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**15:
        digits = math.floor(math.log10(abs(value))) + 1
        return f"a {digits}-digit number"
    if value is None:
        return "nothing"
    return short_text(repr(value), 40)


# -- the request -----------------------------------------------------------------------


@dataclass(frozen=True)
class PriceQuery:
    """What a price depends on: the model, the clip's length and its ratio."""

    model: str
    duration: int
    ratio: str = "16:9"

    @classmethod
    def of(cls, model: Any = DEFAULT_MODEL, duration: Any = 5, ratio: Any = "16:9") -> PriceQuery:
        """A checked query (``ValidationError`` for choices the model does not offer)."""
        problems = check_choices(model, duration, ratio)
        if problems:
            raise ValidationError(problems)
        found = find_model(model)
        assert found is not None
        return cls(found.id, duration, AUTO_RATIO if ratio is None else ratio)

    @property
    def output_size(self) -> tuple[int, int] | None:
        return MODELS[self.model].sizes.get(self.ratio)


@dataclass(frozen=True, init=False, repr=False)
class GenerationRequest:
    """Everything the API needs for one video, validated when it is made.

    ``image`` (first frame, required) and ``last_image`` take an https URL, a
    ``data:image/...`` URI, a local path, raw bytes or an image object; local
    inputs become data URIs. ``ratio="auto"`` lets the model take the ratio
    from the image. ``model`` is ``"gen3a_turbo"`` (the default) or
    ``"runway/gen4_turbo"``. Any broken rule raises ``ValidationError``
    listing every problem by field; nothing is ever sent for an invalid request.
    """

    prompt: str
    image: str
    last_image: str | None
    duration: int
    ratio: str
    seed: int | None
    model: str
    image_info: PreparedImage = field(compare=False)
    last_image_info: PreparedImage | None = field(compare=False)

    def __init__(
        self,
        prompt: str = "",
        image: Any = None,
        last_image: Any = None,
        duration: int = 5,
        ratio: str | None = "16:9",
        seed: int | None = None,
        model: str = DEFAULT_MODEL,
    ) -> None:
        problems: dict[str, list[str]] = {}
        add = problems.setdefault
        if ratio is None:  # accepted for older code and history rows: the same as "auto"
            ratio = AUTO_RATIO

        if errs := check_prompt(prompt):
            add("prompt", []).extend(errs)
        first: PreparedImage | None = None
        if image is None:
            add("image", []).append("a first frame is required (a URL, a file or an image)")
        else:
            first, errs = prepare_image(image)
            if errs:
                add("image", []).extend(errs)
        last: PreparedImage | None = None
        if last_image is not None:
            last, errs = prepare_image(last_image)
            if errs:
                add("last_image", []).extend(errs)

        for name, errs in check_choices(model, duration, ratio).items():
            add(name, []).extend(errs)
        found = find_model(model)
        if ratio == AUTO_RATIO:
            for name, info in (("image", first), ("last_image", last)):
                aspect = info.aspect if info else None
                if (
                    info is not None
                    and aspect is not None
                    and not MIN_ASPECT <= aspect <= MAX_ASPECT
                ):
                    add(name, []).append(
                        f"is {info.width}x{info.height} (aspect {aspect:.2f}), outside "
                        f"{MIN_ASPECT}–{MAX_ASPECT}, which the model needs to take the ratio "
                        "from the image: crop it, or pick a ratio"
                    )
        if errs := check_seed(seed):
            add("seed", []).extend(errs)

        if problems:
            raise ValidationError(problems)
        assert first is not None and found is not None
        set_ = object.__setattr__
        set_(self, "prompt", prompt)
        set_(self, "image", first.value)
        set_(self, "last_image", last.value if last else None)
        set_(self, "duration", duration)
        set_(self, "ratio", ratio)
        set_(self, "seed", seed)
        set_(self, "model", found.id)  # an alias is stored as the model's id
        set_(self, "image_info", first)
        set_(self, "last_image_info", last)

    @property
    def video_model(self) -> VideoModel:
        return MODELS[self.model]

    @property
    def output_size(self) -> tuple[int, int] | None:
        """The video's width and height, when the ratio is chosen (not taken from the image)."""
        return self.video_model.sizes.get(self.ratio)

    @property
    def price_query(self) -> PriceQuery:
        return PriceQuery(self.model, self.duration, self.ratio)

    def replace(self, **changes: Any) -> GenerationRequest:
        """A copy with some fields changed (validated again)."""
        values: dict[str, Any] = {
            "prompt": self.prompt,
            "image": self.image_info,
            "last_image": self.last_image_info,
            "duration": self.duration,
            "ratio": self.ratio,
            "seed": self.seed,
            "model": self.model,
        }
        values.update(changes)
        return GenerationRequest(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of the request (what the history stores)."""
        return {
            "prompt": self.prompt,
            "image": self.image,
            "last_image": self.last_image,
            "duration": self.duration,
            "ratio": self.ratio,
            "seed": self.seed,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationRequest:
        """The request a history row describes (validated); rows from before models read as gen3a_turbo."""
        names = ("prompt", "image", "last_image", "duration", "ratio", "seed", "model")
        values: dict[str, Any] = {k: data[k] for k in names if k in data}
        values.setdefault("model", DEFAULT_MODEL)
        return cls(**values)

    @classmethod
    def restore(
        cls,
        data: Mapping[str, Any],
        image: PreparedImage,
        last_image: PreparedImage | None,
    ) -> GenerationRequest:
        """A request exactly as this library stored it, without validating (or decoding) again.

        Only for the ledger's own rows, which were validated when first made:
        listing a long history must not decode every image it holds.
        """
        request = object.__new__(cls)
        found = find_model(data.get("model")) or GEN3A_TURBO
        ratio = data.get("ratio")
        values = {
            "prompt": str(data.get("prompt") or ""),
            "image": image.value,
            "last_image": last_image.value if last_image else None,
            "duration": int(data.get("duration") or 5),
            "ratio": ratio if isinstance(ratio, str) else AUTO_RATIO,
            "seed": data.get("seed") if isinstance(data.get("seed"), int) else None,
            "model": found.id,
            "image_info": image,
            "last_image_info": last_image,
        }
        for name, value in values.items():
            object.__setattr__(request, name, value)
        return request

    def __repr__(self) -> str:
        parts = [
            f"model={self.model!r}",
            f"prompt={short_text(self.prompt, 60)!r}",
            f"image={_short_image(self.image_info)}",
        ]
        if self.last_image_info:
            parts.append(f"last_image={_short_image(self.last_image_info)}")
        parts += [f"duration={self.duration}", f"ratio={self.ratio!r}", f"seed={self.seed!r}"]
        return f"GenerationRequest({', '.join(parts)})"


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Labels for a purchase: a few short text keys and values (``ValidationError`` else)."""
    if tags is None:
        return {}
    problems = []
    if not isinstance(tags, Mapping) or len(tags) > 20:
        problems.append("must be a mapping of at most 20 labels")
    else:
        for key, value in tags.items():
            if not (isinstance(key, str) and isinstance(value, str)):
                problems.append(f"{_show(key)}: keys and values must be text")
            elif not 0 < len(key) <= 64 or len(value) > 256:
                problems.append(f"{_show(key)}: keys are 1-64 characters, values at most 256")
    if problems:
        raise ValidationError({"tags": problems})
    return dict(tags)


def _short_image(info: PreparedImage) -> str:
    if info.is_url:
        return repr(short_text(info.value, 60))
    return f"<{info.describe()}>"


# -- what it became ----------------------------------------------------------------------


class Status(str, Enum):
    """A generation's status. Unknown values from the server are kept as-is.

    ``uncertain`` and ``not_bought`` are the ledger's, not the server's: a create
    whose answer was lost, and one the usage logs show was never bought.
    """

    QUEUED = "queued"
    WAITING = "waiting"
    ACTIVE = "active"
    GENERATING = "generating"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"
    NOT_BOUGHT = "not_bought"

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        if not isinstance(value, str):
            return None
        known = {m.value: m for m in cls}
        if value.lower() in known:
            return known[value.lower()]
        # An unknown status becomes a pseudo-member that keeps its value.
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    def __str__(self) -> str:
        return str(self.value)

    @property
    def known(self) -> bool:
        return self.value in _KNOWN_VALUES

    @property
    def done(self) -> bool:
        return self in _TERMINAL

    @property
    def failed(self) -> bool:
        return self in _FAILURES


_KNOWN_VALUES = {m.value for m in Status}
_FAILURES = frozenset({Status.ERROR, Status.FAILED, Status.CANCELLED})
_TERMINAL = _FAILURES | {Status.COMPLETED, Status.NOT_BOUGHT}


@dataclass(eq=False)
class Generation:
    """One generation as the server (or the ledger) last described it.

    ``id`` is ``None`` only for a submission whose create answer was lost and
    that the usage logs have not tied to a generation yet (status
    ``uncertain``). ``error`` is a readable sentence; ``error_detail`` keeps the
    raw error object. ``cost_usd`` is what the API reported charging (0 for a
    failed generation, which is never charged). ``local_path`` is set once the
    video is saved. Times ending in ``_at`` are wall-clock seconds
    (``time.time()``).
    """

    id: str | None
    status: Status
    model: str = DEFAULT_MODEL
    video_url: str | None = None
    error: str | None = None
    error_detail: Any = None
    credits_used: int | None = None
    cost_usd: float | None = None
    request: GenerationRequest | None = None
    local_path: Path | None = None
    video_duration: float | None = None
    submission_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    submitted_at: float | None = None
    finished_at: float | None = None
    # How long the server took, as seen by polling (from submission, or from the
    # last time it was seen queued); what the poll schedule learns from.
    job_seconds: float | None = None

    @property
    def done(self) -> bool:
        return self.status.done

    @property
    def ok(self) -> bool:
        return self.status is Status.COMPLETED

    @property
    def seed(self) -> int | None:
        return self.request.seed if self.request else None

    def update_from(self, newer: Generation) -> bool:
        """Take the server's newer view; keep what only this side knows. True if status changed."""
        changed = newer.status != self.status
        self.status = newer.status
        for name in (
            "id",
            "video_url",
            "error",
            "error_detail",
            "credits_used",
            "cost_usd",
            "video_duration",
        ):
            value = getattr(newer, name)
            if value is not None:
                setattr(self, name, value)
        if self.request is None:
            self.request = newer.request
        if self.done and self.finished_at is None:
            self.finished_at = time.time()
        return changed

    def copy(self) -> Generation:
        return replace(self)

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}", f"model={self.model!r}", f"status={self.status.value!r}"]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.cost_usd is not None:
            parts.append(f"cost_usd={self.cost_usd:.2f}")
        if self.local_path:
            parts.append(f"local_path={str(self.local_path)!r}")
        elif self.video_url:
            parts.append(f"video_url={short_text(self.video_url, 50)!r}")
        if self.error:
            parts.append(f"error={self.error!r}")
        return f"Generation({', '.join(parts)})"

    def _repr_html_(self) -> str:
        # A still and the path, never the video's bytes: a saved notebook stays small.
        esc = html.escape
        name = esc(self.id) if self.id else f"(submission {esc(self.submission_id or '?')})"
        head = (
            f"<b>Generation</b> <code>{name}</code> · {esc(self.model)} · {esc(self.status.value)}"
        )
        if self.seed is not None:
            head += f" · seed {self.seed}"
        if self.cost_usd is not None:
            head += f" · ${self.cost_usd:.2f}"
        if self.error:
            return f"<div>{head}<br><span style='color:#b00020'>{esc(self.error)}</span></div>"
        body = ""
        if self.local_path is not None:
            body = f"<br><small>saved at {esc(str(self.local_path))}</small>"
        elif self.ok and self.video_url:
            body = (
                f"<br><video src='{esc(self.video_url, quote=True)}' controls loop muted "
                "playsinline style='max-width:100%;max-height:60vh'></video>"
                "<br><small>(a remote link that expires within a day or two)</small>"
            )
        return f"<div>{head}{body}</div>"


class SubmissionState(str, Enum):
    """Where a purchase stands in the ledger."""

    SENDING = "sending"  # written before the create is sent; may be in flight
    BOUGHT = "bought"  # the create was answered (or found in the usage logs): a generation id
    REFUSED = "refused"  # the server refused it, or it never left: nothing was bought
    UNCERTAIN = "uncertain"  # sent, but the answer was lost: maybe bought
    NOT_BOUGHT = "not_bought"  # was uncertain; the usage logs show nothing was bought


@dataclass
class Submission:
    """One purchase as the ledger keeps it: written before the create is sent.

    ``id`` goes out as ``X-Client-Request-Id`` and comes back in the usage logs
    as ``client_request_id``, which is how a lost answer is found again.
    ``tags`` are the caller's labels (a sequence and its shot, a grid's cell),
    written with the submission so they survive whatever happens to the answer.
    """

    id: str
    request: GenerationRequest
    server: str
    estimate_usd: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    state: SubmissionState = SubmissionState.SENDING
    created_at: float = field(default_factory=time.time)
    generation_id: str | None = None
    cause: str | None = None

    @property
    def model(self) -> str:
        return self.request.model
