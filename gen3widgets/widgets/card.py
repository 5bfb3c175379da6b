"""``GenerationCard``: one job's view (title, status, progress, video, details, failure).

How the video reaches the browser: the finished MP4 is read from the history's
``videos/`` folder and put into an ``ipywidgets.Video`` as bytes, once per
video, over the widget comm. That works unchanged in JupyterLab 4, Notebook 7,
VS Code and Colab with no front-end code of ours. The alternatives are worse:
the API's video URLs are signed and expire within a day or two (a saved
notebook would show dead players), and a local file URL needs the Jupyter
file server to see the data folder, which it usually cannot. A clip is a few
MB, so one transfer is cheap; the card never sends the same video twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import ipywidgets

from .._jobs import Job, JobState
from .._models import Generation
from . import _html

log = logging.getLogger("gen3widgets")

_HIDDEN = "none"
_BAR_STYLES = {
    JobState.COMPLETED: "success",
    JobState.FAILED: "danger",
    JobState.UNCERTAIN: "warning",
    JobState.TIMEOUT: "warning",
}


class GenerationCard(ipywidgets.VBox):  # type: ignore[misc]
    """One job's view: title, status + elapsed time, progress bar, the video when done,
    a details line (seed, id, tokens, saved path), a failure as readable text.

    ``bind(job)`` starts following a job; the card then updates itself from the
    job's observer calls (on every change and once a second while it runs).
    """

    def __init__(
        self, title: str = "", *, video_width: str = "100%", show_details: bool = True
    ) -> None:
        self.job: Job | None = None
        self.title = ipywidgets.HTML()
        self.status = ipywidgets.HTML(value=_html.span("idle", color=_html.MUTED_COLOR))
        self.progress = ipywidgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=ipywidgets.Layout(width="100%")
        )
        self.video = ipywidgets.Video(
            value=b"",
            format="mp4",
            controls=True,
            loop=True,
            autoplay=False,
            layout=ipywidgets.Layout(width=video_width, display=_HIDDEN),
        )
        self.details = ipywidgets.HTML()
        self.message = ipywidgets.HTML()
        self._show_details = show_details
        if not show_details:
            self.details.layout.display = _HIDDEN
        self._video_of: str | None = None  # generation id whose bytes self.video holds
        self._unobserve: Callable[[], None] | None = None
        # Observers run on the runner's loop thread; bind() may run on another.
        self._lock = threading.RLock()
        self.set_title(title)
        super().__init__(
            children=[
                self.title,
                self.status,
                self.progress,
                self.video,
                self.details,
                self.message,
            ]
        )

    # -- public ----------------------------------------------------------------------

    def set_title(self, title: str) -> None:
        """Show ``title`` (as text) above the card; an empty title hides the line."""
        self.title.value = f"<b>{_html.esc(title)}</b>" if title else ""
        self.title.layout.display = None if title else _HIDDEN

    def bind(self, job: Job) -> None:
        """Follow ``job`` from now on (and stop following the previous one)."""
        with self._lock:
            self.unbind()
            self.job = job
            if job.generation is None or job.generation.id != self._video_of:
                self._clear_video()
            self.message.value = ""
            self._unobserve = job.add_observer(self._on_job)
            self._render(job)

    def unbind(self) -> None:
        """Stop following the current job (the card keeps showing its last state)."""
        with self._lock:
            if self._unobserve is not None:
                self._unobserve()
                self._unobserve = None

    def close(self) -> None:
        if hasattr(self, "_lock"):  # __del__ calls close() even after a failed __init__
            self.unbind()
        super().close()

    # -- rendering -------------------------------------------------------------------

    def _on_job(self, job: Job) -> None:
        with self._lock:
            if job is self.job:  # a late call from a job we no longer follow
                self._render(job)

    def _render(self, job: Job) -> None:
        state = job.state
        self.status.value = self._status_html(job)
        self.progress.value = job.progress()
        self.progress.bar_style = _BAR_STYLES.get(state, "")
        generation = job.generation
        self.details.value = self._details_html(job, generation)
        if state is JobState.COMPLETED and generation is not None:
            self._show_video(generation)
        elif state.finished:
            self.message.value = self._failure_html(job, generation)

    @staticmethod
    def _status_html(job: Job) -> str:
        took = _html.elapsed(job.elapsed)
        state = job.state
        if state is JobState.COMPLETED:
            return _html.span(f"completed in {took}", color="#1b7f3b", bold=True)
        if state is JobState.FAILED:
            return _html.span(f"failed after {took}", color=_html.ERROR_COLOR, bold=True)
        if state is JobState.UNCERTAIN:
            return _html.span("submission state unknown", color=_html.WARNING_COLOR, bold=True)
        if state is JobState.TIMEOUT:
            return _html.span(
                f"still running on the server after {took}", color=_html.WARNING_COLOR, bold=True
            )
        if state is JobState.DOWNLOADING:
            return _html.span(f"downloading the video · {took}")
        return _html.span(f"{job.status_text} · {took}")

    def _details_html(self, job: Job, generation: Generation | None) -> str:
        request = generation.request if generation and generation.request else job.request
        parts: list[str] = []
        if request is not None:
            parts.append(f"seed {request.seed}" if request.seed is not None else "seed random")
        if generation is not None:
            parts.append(f"id {generation.id}")
            if generation.cost_usd is not None:
                parts.append(f"${generation.cost_usd:.2f}")
            if generation.local_path is not None and job.state is JobState.COMPLETED:
                parts.append(f"saved to {generation.local_path}")
        return _html.span(" · ".join(parts), color=_html.MUTED_COLOR, small=True) if parts else ""

    @staticmethod
    def _failure_html(job: Job, generation: Generation | None) -> str:
        text = job.message or f"The job ended as '{job.state.value}'."
        html = _html.lines([text], color=_html.ERROR_COLOR)
        if generation is not None and generation.ok and generation.video_url:
            # Completed on the server but not saved here: the link still works for a while.
            html += _html.lines(["The video is still at this link (it expires within a day):"])
            html += _html.link(generation.video_url)
        return html

    def _show_video(self, generation: Generation) -> None:
        if self._video_of == generation.id:
            return  # already sent: never send the same bytes twice
        path = Path(generation.local_path) if generation.local_path else None
        data: bytes | None = None
        reason = "it was not downloaded"
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                reason = f"the file {path} could not be read ({exc.strerror or exc})"
        if not data:
            self._clear_video()
            lines = [f"Generation {generation.id} completed, but {reason}."]
            html = _html.lines(lines, color=_html.ERROR_COLOR)
            if generation.video_url:
                html += _html.lines(["Its video is at this link (it expires within a day):"])
                html += _html.link(generation.video_url)
            self.message.value = html
            return
        self.video.value = data
        self.video.layout.display = None
        self._video_of = generation.id
        self.message.value = ""

    def _clear_video(self) -> None:
        if self._video_of is not None or self.video.value:
            self.video.value = b""
        self.video.layout.display = _HIDDEN
        self._video_of = None
