"""What a job looks like to the front end: plain data, plain text.

``describe`` turns a ``Job`` (or a cell not yet submitted) into the dict the
JavaScript view renders: a status chip, a progress figure while it runs,
details for the info toggle, a failure message, and the clip (by key). The
texts are plain: the front end puts them in the page with ``textContent``,
so nothing here is ever markup. Numbers and their units are joined by
no-break spaces ("12 s", "16 videos"), so a narrow cell never breaks a line
inside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._jobs import FOLLOW_AGAIN_STATES, Job, JobState
from .._models import Generation, GenerationRequest
from ._clips import ClipShelf, Media

NBSP = "\u00a0"
SIMULATED_BANNER = (
    "Offline simulator — no AIMLAPI_KEY is set, videos are simulated and nothing is bought. "
    "Set AIMLAPI_KEY in the environment that starts Jupyter or marimo (not with %env, which "
    "would save it in the notebook) and restart the kernel to use the real API."
)
DEFAULT_SIZE = (1280, 768)  # a clip's box before anything better is known
DEFAULT_FPS = 24.0

# Tones the front end colours chips by.
IDLE, RUNNING, DONE, FAILED, WARNING = "idle", "running", "done", "failed", "warning"
_TONES = {
    JobState.SUBMITTING: RUNNING,
    JobState.CHECKING: RUNNING,
    JobState.RUNNING: RUNNING,
    JobState.DOWNLOADING: RUNNING,
    JobState.COMPLETED: DONE,
    JobState.REFUSED: FAILED,
    JobState.FAILED: FAILED,
    JobState.NOT_FETCHED: WARNING,
    JobState.UNCERTAIN: WARNING,
    JobState.TIMEOUT: WARNING,
}


# States whose chip says how long they took, in a word that fits a narrow cell.
_TIMED = {
    JobState.DOWNLOADING: "saving",
    JobState.COMPLETED: "done",
    JobState.FAILED: "failed",
    JobState.TIMEOUT: "still running",
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


def usd(value: float) -> str:
    """``$0.25``."""
    return f"${value:,.2f}"


def videos(count: int) -> str:
    """``16 videos``."""
    return f"{count}{NBSP}video{'s' if count != 1 else ''}"


def price_text(price: float | None, *, simulated: bool) -> str:
    """A price quoted ahead (``None``: it could not be), as a person reads it."""
    said = f"about {usd(price)}" if price is not None else "the price cannot be quoted ahead"
    if simulated:
        return f"simulated, nothing is bought ({said} on the simulator's price list)"
    return said


def cost_line(planned: int, price: str, bought: list[Job], *, simulated: bool) -> str:
    """What ``planned`` videos cost before anything is bought (``price`` as quoted); once
    jobs were bought, what they cost so far (every take counts)."""
    if not bought:
        return f"{videos(planned)} · {price}" if planned else ""
    if simulated:
        return f"{videos(len(bought))} simulated · nothing is bought"
    costs = [job.generation.cost_usd if job.generation else None for job in bought]
    known = [cost for cost in costs if cost is not None]
    line = f"{videos(len(bought))} bought"
    if known:
        line += f" · {usd(sum(known))}" + (" so far" if len(known) < len(costs) else "")
    return line


# -- a job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """The clip a view shows: a finished generation and what was prepared of it."""

    generation: Generation
    media: Media | None  # None while it is being prepared (then a poster, not yet ``ready``)


def chip(job: Job | None) -> tuple[str, str]:
    """The status chip: (text, tone)."""
    if job is None:
        return "not started", IDLE
    state, took = job.state, elapsed(job.elapsed)
    if state is JobState.RUNNING:
        text = f"{job.status_text} · {took}"
    elif state in _TIMED:
        text = f"{_TIMED[state]} · {took}"
    else:
        text = state.label
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
        "model": request.model if request is not None else None,
        "can_fetch": job is not None and job.state in FOLLOW_AGAIN_STATES and bool(generation),
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
    if generation is not None and generation.id:
        rows.append(["id", generation.id])
    if request is not None:
        rows.append(["seed", str(request.seed) if request.seed is not None else "random"])
        rows.append(["model", request.model])
        rows.append(["length", seconds(request.duration)])
        rows.append(["ratio", request.ratio])
        if request.last_image is not None:
            rows.append(["last frame", "given"])
    if simulated:
        rows.append(["cost", "simulated: nothing bought"])
    elif generation is not None and generation.cost_usd is not None:
        rows.append(["cost", usd(generation.cost_usd)])
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
        "ready": media is not None and media.ready,  # a poster may show before then
    }
    if media is not None and media.previews.preview is not None:
        clip["preview"] = shelf.key(media.previews.preview)
    return clip


def frame_size(request: GenerationRequest | None, media: Media | None) -> tuple[int, int]:
    """A clip's width and height: measured once prepared, else what the request implies."""
    if media is not None and media.width and media.height:
        return media.width, media.height
    if request is not None:
        if request.output_size is not None:
            return request.output_size
        info = request.image_info
        if info.width and info.height:  # "auto": the model follows the first frame
            return info.width, info.height
    return DEFAULT_SIZE
