"""gen3widgets' grid before issue 14, kept as a baseline: video bytes as widget state.

Each cell is an ``ipywidgets.Video`` whose ``value`` becomes the finished
MP4's bytes, as the old ``GenerationCard`` did: every video crosses the
websocket whether anyone looks at it or not, stays in kernel memory for the
life of the widget, and goes into every notebook saved with widget state. The
jobs run on today's ``JobRunner`` (which makes no previews: today's widgets do,
and this grid has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets

from gen3widgets import GenerationRequest
from gen3widgets._jobs import Job, runner_for


class BytesGrid(ipywidgets.VBox):  # type: ignore[misc]
    """A Generate button over a grid of ``Video`` widgets that receive each MP4's bytes."""

    def __init__(
        self, prompt: str, image: Any, seeds: Sequence[int], duration: int = 5, columns: int = 4
    ) -> None:
        self.runner = runner_for(None)
        self.requests = [
            GenerationRequest(prompt=prompt, image=image, seed=s, duration=duration) for s in seeds
        ]
        self.videos = [
            ipywidgets.Video(
                value=b"", format="mp4", controls=True, loop=True, autoplay=False,
                layout=ipywidgets.Layout(width="100%"),
            )
            for _ in seeds
        ]  # fmt: skip
        self.status = [ipywidgets.HTML(f"seed {s}") for s in seeds]
        self.jobs: list[Job] = []
        self.button = ipywidgets.Button(description="Generate", button_style="primary")
        self.button.on_click(lambda _: self.submit())
        cells = [ipywidgets.VBox([v, s]) for v, s in zip(self.videos, self.status, strict=True)]
        grid = ipywidgets.GridBox(
            cells, layout=ipywidgets.Layout(grid_template_columns=f"repeat({columns}, 1fr)")
        )
        super().__init__([self.button, grid])

    def submit(self) -> list[Job]:
        self.button.disabled = True
        self.jobs = self.runner.submit_many(self.requests)
        for i, job in enumerate(self.jobs):
            job.add_observer(lambda job, i=i: self._show(i, job))
        return self.jobs

    def _show(self, i: int, job: Job) -> None:
        self.status[i].value = job.state.label
        path = job.generation.local_path if job.generation is not None else None
        if job.ok and path is not None and not self.videos[i].value:
            self.videos[i].value = Path(path).read_bytes()  # what the old card did
