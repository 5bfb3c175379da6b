"""What a generation is asked for (``GenerationRequest``) and what it became (``Generation``)."""

from __future__ import annotations

import base64
import html
import os
import time
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ._config import MODEL
from ._errors import ValidationError
from ._images import MAX_ASPECT, MIN_ASPECT, PreparedImage, prepare_image, short_text

RATIOS = ("16:9", "9:16")
DURATIONS = (5, 10)
MAX_SEED = 4_294_967_295
MAX_PROMPT_UTF16 = 1000
# The API charges per second of video; the documented sample shows 525000
# tokens for a 10 s clip. Used only for the estimate shown before buying.
TOKENS_PER_SECOND = 52_500


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit the API counts a prompt in."""
    return len(text.encode("utf-16-le")) // 2


def estimate_tokens(duration: int, count: int = 1) -> int:
    return TOKENS_PER_SECOND * duration * count


def check_choices(duration: Any, ratio: Any) -> dict[str, list[str]]:
    """Problems with the duration and ratio choices (the rules every front door shares)."""
    problems: dict[str, list[str]] = {}
    # 5.0 == 5 would pass a plain ``in``: the API wants an int.
    if isinstance(duration, bool) or not isinstance(duration, int):
        problems["duration"] = [f"must be 5 or 10 (an int), not {duration!r}"]
    elif duration not in DURATIONS:
        problems["duration"] = [f"must be 5 or 10 seconds, not {duration}"]
    if ratio is not None and ratio not in RATIOS:
        problems["ratio"] = [f'must be "16:9", "9:16" or None (from the image), not {ratio!r}']
    return problems


class Status(str, Enum):
    """A generation's status. Unknown values from the server are kept as-is."""

    QUEUED = "queued"
    WAITING = "waiting"
    ACTIVE = "active"
    GENERATING = "generating"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"
    FAILED = "failed"
    CANCELLED = "cancelled"

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
_TERMINAL = _FAILURES | {Status.COMPLETED}


@dataclass(frozen=True, init=False, repr=False)
class GenerationRequest:
    """Everything the API needs for one video, validated when it is made.

    ``image`` (first frame, required) and ``last_image`` take an https URL, a
    ``data:image/...`` URI, a local path, raw bytes or a PIL image; local
    inputs become data URIs. ``ratio=None`` lets the model take the ratio from
    the image. Any broken rule raises ``ValidationError`` listing every
    problem by field; nothing is ever sent for an invalid request.
    """

    prompt: str
    image: str
    last_image: str | None
    duration: int
    ratio: str | None
    seed: int | None
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
    ) -> None:
        problems: dict[str, list[str]] = {}
        add = problems.setdefault

        if not isinstance(prompt, str):
            add("prompt", []).append(f"must be text, not {type(prompt).__name__}")
            prompt = ""
        elif utf16_length(prompt) > MAX_PROMPT_UTF16:
            add("prompt", []).append(
                f"is {utf16_length(prompt)} UTF-16 code units long; the API takes at most "
                f"{MAX_PROMPT_UTF16} (emoji and some symbols count as 2)"
            )

        first: PreparedImage | None = None
        if image is None:
            add("image", []).append("a first frame is required (URL, file, bytes or PIL image)")
        else:
            first, errs = prepare_image(image)
            if errs:
                add("image", []).extend(errs)
        last: PreparedImage | None = None
        if last_image is not None:
            last, errs = prepare_image(last_image)
            if errs:
                add("last_image", []).extend(errs)

        for name, errs in check_choices(duration, ratio).items():
            add(name, []).extend(errs)
        if ratio is None:
            for name, info in (("image", first), ("last_image", last)):
                aspect = info.aspect if info else None
                if aspect is not None and not (MIN_ASPECT <= aspect <= MAX_ASPECT):
                    add(name, []).append(
                        f"aspect ratio {aspect:.2f} ({info.width}x{info.height}) is outside "  # type: ignore[union-attr]
                        f"{MIN_ASPECT}–{MAX_ASPECT}, which the model needs when the ratio comes "
                        'from the image: crop it, or pick ratio "16:9" or "9:16"'
                    )

        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int):
                add("seed", []).append(f"must be a whole number or None, not {seed!r}")
            elif not 0 <= seed <= MAX_SEED:
                add("seed", []).append(f"must be between 0 and {MAX_SEED}, not {seed}")

        if problems:
            raise ValidationError(problems)
        assert first is not None
        set_ = object.__setattr__
        set_(self, "prompt", prompt)
        set_(self, "image", first.value)
        set_(self, "last_image", last.value if last else None)
        set_(self, "duration", duration)
        set_(self, "ratio", ratio)
        set_(self, "seed", seed)
        set_(self, "image_info", first)
        set_(self, "last_image_info", last)

    def replace(self, **changes: Any) -> GenerationRequest:
        """A copy with some fields changed (validated again)."""
        values: dict[str, Any] = {
            "prompt": self.prompt,
            "image": self.image_info,
            "last_image": self.last_image_info,
            "duration": self.duration,
            "ratio": self.ratio,
            "seed": self.seed,
        }
        values.update(changes)
        return GenerationRequest(**values)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of the create request."""
        body: dict[str, Any] = {"model": MODEL, "image_url": self.image}
        if self.last_image:
            body["last_image_url"] = self.last_image
        if self.prompt:
            body["prompt"] = self.prompt
        body["duration"] = self.duration  # always explicit: the docs' default has varied
        if self.ratio:
            body["ratio"] = self.ratio
        if self.seed is not None:
            body["seed"] = self.seed
        return body

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of the request (what the history stores)."""
        return {
            "prompt": self.prompt,
            "image": self.image,
            "last_image": self.last_image,
            "duration": self.duration,
            "ratio": self.ratio,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        names = ("prompt", "image", "last_image", "duration", "ratio", "seed")
        values: dict[str, Any] = {k: data[k] for k in names if k in data}
        return cls(**values)

    def __repr__(self) -> str:
        parts = [
            f"prompt={short_text(self.prompt, 60)!r}",
            f"image={_short_image(self.image_info)}",
        ]
        if self.last_image_info:
            parts.append(f"last_image={_short_image(self.last_image_info)}")
        parts += [f"duration={self.duration}", f"ratio={self.ratio!r}", f"seed={self.seed!r}"]
        return f"GenerationRequest({', '.join(parts)})"


def _short_image(info: PreparedImage) -> str:
    if info.is_url:
        return repr(short_text(info.value, 60))
    return f"<{info.describe()}>"


@dataclass(eq=False)
class Generation:
    """One generation as the server last described it.

    ``error`` is a readable sentence (or ``None``); ``error_detail`` keeps the
    raw error object. ``local_path`` is set once the video is downloaded.
    """

    id: str
    status: Status
    video_url: str | None = None
    error: str | None = None
    error_detail: Any = None
    tokens_used: int | None = None
    request: GenerationRequest | None = None
    local_path: Path | None = None
    video_duration: float | None = None
    submitted_at: float | None = None  # wall-clock seconds (time.time())
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
        for name in ("video_url", "error", "error_detail", "tokens_used", "video_duration"):
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
        parts = [f"id={self.id!r}", f"status={self.status.value!r}"]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.local_path:
            parts.append(f"local_path={str(self.local_path)!r}")
        elif self.video_url:
            parts.append(f"video_url={short_text(self.video_url, 50)!r}")
        if self.error:
            parts.append(f"error={self.error!r}")
        return f"Generation({', '.join(parts)})"

    def _repr_html_(self) -> str:
        esc = html.escape
        head = f"<b>Generation</b> <code>{esc(self.id)}</code> — {esc(self.status.value)}"
        if self.seed is not None:
            head += f" · seed {self.seed}"
        if self.tokens_used is not None:
            head += f" · {self.tokens_used:,} tokens"
        if self.error:
            return f"<div>{head}<br><span style='color:#b00020'>{esc(self.error)}</span></div>"
        src = self._video_src()
        if not self.ok or src is None:
            return f"<div>{head}</div>"
        where = (
            f"<br><small>saved at {esc(str(self.local_path))}</small>" if self.local_path else ""
        )
        return (
            f"<div>{head}<br><video src='{esc(src, quote=True)}' controls loop muted playsinline "
            f"style='max-width:100%;max-height:480px'></video>{where}</div>"
        )

    def _video_src(self) -> str | None:
        # A local file is embedded once as a data URL (the file server may not
        # see the data folder); the remote URL is the fallback until downloaded.
        if self.local_path and Path(self.local_path).is_file():
            data = Path(self.local_path).read_bytes()
            return "data:video/mp4;base64," + base64.b64encode(data).decode()
        return self.video_url


def generation_fields() -> list[str]:
    return [f.name for f in fields(Generation)]


def as_path(value: str | os.PathLike[str] | None) -> Path | None:
    return Path(value) if value is not None else None
