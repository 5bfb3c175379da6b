"""What a job looks like to the front end: plain data, plain text.

``describe`` turns a ``Job`` (or a cell not yet submitted) into the dict the
JavaScript view renders: a status chip, a progress figure while it runs,
details for the info toggle, a failure message, and the clip (by key). The
texts are plain: the front end puts them in the page with ``textContent``,
so nothing here is ever markup. Numbers and their units are joined by
no-break spaces ("12 s", "262,500 tokens"), so a narrow cell never breaks a
line inside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._config import MODEL
from .._jobs import Job, JobState
from .._models import Generation, GenerationRequest, estimate_tokens
from ._clips import ClipShelf, Media

NBSP = "\u00a0"
SIMULATED_BANNER = (
    "Offline simulator — no AIMLAPI_KEY is set, videos are simulated and nothing is bought. "
    "Set AIMLAPI_KEY in the environment that starts Jupyter or marimo (not with %env, which "
    "would save it in the notebook) and restart the kernel "
    "to use the real API."
)
# The size a clip has before the browser knows better (the API's sizes per ratio).
RATIO_SIZES = {"16:9": (1280, 768), "9:16": (768, 1280)}
DEFAULT_FPS = 24.0

# Tones the front end colours chips by.
IDLE, RUNNING, DONE, FAILED, WARNING = "idle", "running", "done", "failed", "warning"
_TONES = {
    JobState.SUBMITTING: RUNNING,
    JobState.RUNNING: RUNNING,
    JobState.DOWNLOADING: RUNNING,
    JobState.COMPLETED: DONE,
    JobState.FAILED: FAILED,
    JobState.UNCERTAIN: WARNING,
    JobState.TIMEOUT: WARNING,
}


# -- numbers with their units -------------------------------------------------------------


def seconds(value: float) -> str:
    """``12 s`` (a no-break space before the unit)."""
    return f"{value:g}{NBSP}s"


def elapsed(value: float) -> str:
    """``7 s``, ``1 min 05 s``: how long something has been going on."""
    whole = max(0, int(value))
    if whole < 60:
        return f"{whole}{NBSP}s"
    return f"{whole // 60}{NBSP}min {whole % 60:02d}{NBSP}s"


def tokens(count: int) -> str:
    """``262,500 tokens``."""
    return f"{count:,}{NBSP}tokens"


def videos(count: int) -> str:
    return f"{count}{NBSP}video{'s' if count != 1 else ''}"


def cost_line(count: int, spent_tokens: int, *, simulated: bool, bought: bool) -> str:
    """What ``count`` videos cost: an estimate before buying, the running total after."""
    if simulated:
        verb = "simulated" if bought else "to simulate"
        return (
            f"{videos(count)} {verb} · nothing is bought "
            f"(on the real API about {tokens(spent_tokens)})"
        )
    if bought:
        return f"{videos(count)} bought · about {tokens(spent_tokens)}"
    return f"{videos(count)} · about {tokens(spent_tokens)} (estimate)"


# -- a job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """The clip a view shows: a finished generation and what was prepared of it."""

    generation: Generation
    media: Media | None  # None while it is being prepared


def chip(job: Job | None) -> tuple[str, str]:
    """The status chip: (text, tone)."""
    if job is None:
        return "not started", IDLE
    state, took = job.state, elapsed(job.elapsed)
    text = {
        JobState.SUBMITTING: "submitting",
        JobState.RUNNING: f"{job.status_text} · {took}",
        JobState.DOWNLOADING: f"saving · {took}",
        JobState.COMPLETED: f"done · {took}",
        JobState.FAILED: f"failed · {took}",
        JobState.UNCERTAIN: "unknown: maybe bought",
        JobState.TIMEOUT: f"still running · {took}",
    }.get(state, state.value)
    return text, _TONES.get(state, IDLE)


def describe(
    job: Job | None,
    request: GenerationRequest | None,
    shown: Shown | None,
    shelf: ClipShelf,
    *,
    simulated: bool,
) -> dict[str, Any]:
    """The front end's view of one job (``None``: not submitted) and of the clip it shows.

    ``shown`` may belong to an earlier job of the same cell: a re-run keeps
    showing the previous video until its own is there.
    """
    text, tone = chip(job)
    running = job is not None and not job.done
    generation = job.generation if job is not None else None
    if request is None and job is not None:
        request = job.request
    return {
        "chip": text,
        "tone": tone,
        "running": running,
        "progress": round(job.progress(), 2) if job is not None and running else None,
        "model": MODEL,
        "details": _details(job, request, generation, shown, simulated),
        "message": _message(job, generation, shown),
        "link": _link(job, generation),
        "clip": _clip(shown, request, shelf),
    }


def _details(
    job: Job | None,
    request: GenerationRequest | None,
    generation: Generation | None,
    shown: Shown | None,
    simulated: bool,
) -> list[list[str]]:
    rows: list[list[str]] = []
    if generation is not None:
        rows.append(["id", generation.id])
    if request is not None:
        rows.append(["seed", str(request.seed) if request.seed is not None else "random"])
    rows.append(["model", MODEL])
    if request is not None:
        rows.append(["length", seconds(request.duration)])
        rows.append(["ratio", request.ratio or "from the image"])
        if request.last_image is not None:
            rows.append(["last frame", "given"])
    if simulated:
        rows.append(["cost", "simulated: nothing bought"])
    elif generation is not None and generation.tokens_used is not None:
        rows.append(["cost", tokens(generation.tokens_used)])
    elif request is not None:
        rows.append(["cost", f"about {tokens(estimate_tokens(request.duration))} (estimate)"])
    if job is not None and job.done:
        rows.append(["took", elapsed(job.elapsed)])
    if shown is not None and shown.generation.local_path is not None:
        rows.append(["file", str(shown.generation.local_path)])
        problem = shown.media.previews.problem if shown.media is not None else None
        if problem:
            rows.append(["preview", f"not made ({problem}); the full clip plays instead"])
    return rows


def _message(job: Job | None, generation: Generation | None, shown: Shown | None) -> list[str]:
    if job is None or not job.done:
        return []
    if job.ok:
        if generation is not None and generation.local_path is None:
            return [f"Generation {generation.id} completed, but it was not downloaded."]
        return []
    lines = [job.message or f"The job ended as '{job.state.value}'."]
    if shown is not None:
        lines.append("The previous video is still shown.")
    return lines


def _link(job: Job | None, generation: Generation | None) -> str | None:
    """The server's link to a video that completed but is not on disk (it expires)."""
    if job is None or not job.done or generation is None or not generation.ok:
        return None
    if job.ok and generation.local_path is not None:
        return None
    url = generation.video_url or ""
    return url if url.lower().startswith(("https://", "http://")) else None


def _clip(
    shown: Shown | None, request: GenerationRequest | None, shelf: ClipShelf
) -> dict[str, Any] | None:
    if shown is None or shown.generation.local_path is None:
        return None
    media = shown.media
    width, height = frame_size(request, media)
    clip: dict[str, Any] = {
        "id": shown.generation.id,
        "full": shelf.key(shown.generation.local_path),
        "preview": None,
        "poster": media is not None and media.poster_uri is not None,  # in ``posters`` by id
        "width": width,
        "height": height,
        "fps": (media.fps if media is not None else None) or DEFAULT_FPS,
        "duration": media.duration if media is not None else None,
        "ready": media is not None,
    }
    if media is not None and media.previews.preview is not None:
        clip["preview"] = shelf.key(media.previews.preview)
    return clip


def frame_size(request: GenerationRequest | None, media: Media | None) -> tuple[int, int]:
    """A clip's width and height: measured once prepared, else what the request implies."""
    if media is not None and media.width and media.height:
        return media.width, media.height
    if request is not None and request.ratio in RATIO_SIZES:
        return RATIO_SIZES[request.ratio]
    if request is not None and request.image_info.width and request.image_info.height:
        return request.image_info.width, request.image_info.height
    return RATIO_SIZES["16:9"]
