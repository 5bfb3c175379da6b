"""``GenerationCard``: one job's view (title, status chip, progress, the video, details, failure).

How the video reaches the browser: not as widget state. The finished MP4
stays in the history's ``videos/`` folder; when the card's player is on
screen, the front end asks the kernel for it by an opaque key and the kernel
sends the file in chunks of at most 1 MiB, keeping nothing (see ``_clips``).
A page reload or a second view of the same output asks again. The
alternatives are worse: bytes in widget state stay in kernel memory for the
whole session, cross the websocket even when nobody looks and fill every
notebook saved with widget state (ipywidgets#3036); the API's video URLs are
signed and expire within a day or two; and a file URL needs the Jupyter file
server to see the data folder, which it usually cannot.

The card plays the full-resolution clip (a grid plays small previews); its
poster, a JPEG of the middle frame, is widget state, so a saved notebook
shows a still where the video was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import traitlets

from .._jobs import Job
from .._models import Generation
from ._base import FrontWidget, static_html
from ._describe import describe


class GenerationCard(FrontWidget):
    """One job's view. ``bind(job)`` starts following a job; the card then updates
    itself from the job's observer calls (on every change, and once a second while
    it runs).

    ``view`` is what the front end renders: title, status chip, progress while
    running, details (behind an info toggle), a failure message, the clip.
    """

    view = traitlets.Dict().tag(sync=True)

    def __init__(self, title: str = "") -> None:
        super().__init__(kind="card")
        self.job: Job | None = None
        self._title = title
        self._unobserve: Callable[[], None] | None = None
        self._extend: Callable[[Generation], object] | None = None
        self._actions["fetch"] = lambda content, buffers: self.fetch_again()
        self._actions["extend"] = lambda content, buffers: self._extend_clicked()
        self._refresh()

    # -- public ----------------------------------------------------------------------

    @property
    def title(self) -> str:
        return self._title

    def set_title(self, title: str) -> None:
        """Show ``title`` (plain text) above the video; an empty title hides the line."""
        self._title = title
        self._refresh()

    def bind(self, job: Job) -> None:
        """Follow ``job`` from now on (and stop following the previous one)."""
        with self._lock:
            self.unbind()
            self.job = job
            self.set_notice("")
            self._unobserve = job.add_observer(self._on_job)
        self._refresh()

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

    def fetch_again(self) -> Job:
        """Follow the job's bought video again, when it did not arrive (free: nothing is bought)."""
        if self.job is None:
            raise RuntimeError("The card shows no job yet: nothing to fetch.")
        return self.job.runner.fetch_again(self.job)

    def on_extend(self, callback: Callable[[Generation], object] | None) -> None:
        """Offer **Extend** on a finished clip: a click calls ``callback(generation)``
        (the panel starts the next shot from this clip's last frame); ``None`` hides it."""
        self._extend = callback
        self._refresh()

    def _extend_clicked(self) -> None:
        generation = self.job.generation if self.job is not None else None
        if self._extend is None or generation is None or not generation.ok:
            return
        self._extend(generation)

    def play(self) -> None:
        """Play the video in every view of this card."""
        self.send_command("play")

    def pause(self) -> None:
        self.send_command("pause")

    # -- rendering -------------------------------------------------------------------

    def _on_job(self, job: Job) -> None:
        if job is self.job:  # else a late call from a job we no longer follow
            super()._on_job(job)

    def _state(self) -> None:
        job = self.job
        shown = self._shown(job.generation) if job is not None and job.ok else None
        simulated = job.runner.simulated if job is not None else False
        view: dict[str, Any] = {"title": self._title, "bound": job is not None}
        view.update(describe(job, None, shown, self._shelf, simulated=simulated))
        if self._extend is not None and shown is not None:
            view["buttons"] = [
                {
                    "name": "extend",
                    "label": "Extend",
                    "title": "A new shot that starts from this clip's last frame",
                }
            ]
        self.view = view

    def _static_html(self) -> str:
        job = self.job
        generation = job.generation if job is not None else None
        poster = self.posters.get(generation.id or "") if generation is not None else None
        still = [(self.view.get("chip", ""), poster)] if job is not None else []
        return static_html(
            self._title or "gen3widgets video",
            still,
            "A gen3widgets video: it plays where Jupyter widgets run with the kernel.",
        )
