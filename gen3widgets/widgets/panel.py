"""``GenerationPanel``: prompt, frames, ratio, duration, seed, a Generate button, and the result.

The button and ``panel.submit()`` take the same path: the fields become a
``GenerationRequest`` (any problem is shown in the panel and nothing is sent),
the request goes to the ``JobRunner`` of the panel's client, and a
``GenerationCard`` follows the job. The panel never speaks HTTP, and neither
the client nor its key is ever a widget trait, so neither reaches the
browser or a saved notebook.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets

from .._errors import ValidationError
from .._images import short_text
from .._jobs import Job, JobRunner, runner_for
from .._models import DURATIONS, GenerationRequest, check_choices, estimate_tokens
from . import _html
from ._describe import SIMULATED_BANNER
from .card import GenerationCard
from .inputs import ImagePicker, PromptBox, SeedControl, random_seed

if TYPE_CHECKING:
    from .._client import AsyncClient, Client
    from .._models import Generation

log = logging.getLogger("gen3widgets")

FROM_IMAGE = "image"  # ratio option meaning None: the model takes the ratio from the image
_FIELD_NAMES = {
    "prompt": "Prompt",
    "image": "First frame",
    "last_image": "Last frame",
    "duration": "Duration",
    "ratio": "Ratio",
    "seed": "Seed",
}
_HIDDEN = "none"


class GenerationPanel(ipywidgets.VBox):  # type: ignore[misc]
    """Make one gen3a_turbo video from a prompt and a first frame, and watch it arrive.

    ``client`` is a ``Client``, ``AsyncClient`` or ``JobRunner``; by default the
    real API when ``AIMLAPI_KEY`` is set, else the offline simulator. A
    ``seed`` given here is locked (kept for every run); see ``SeedControl``.

    In code, ``panel.submit()`` does what the Generate button does and returns
    the ``Job``; ``panel.wait()`` blocks until the video is there and returns
    the ``Generation`` (widgets keep updating meanwhile).
    """

    def __init__(
        self,
        client: AsyncClient | Client | JobRunner | None = None,
        *,
        prompt: str = "",
        image: Any = None,
        last_image: Any = None,
        duration: int = 5,
        ratio: str | None = "16:9",
        seed: int | None = None,
    ) -> None:
        problems = check_choices(duration, ratio)
        if problems:  # fail at construction: these come from code, not from the fields
            raise ValidationError(problems)
        self._runner = runner_for(client)
        self._job: Job | None = None
        self._submitting = False
        self._unobserve: Callable[[], None] | None = None
        self._lock = threading.RLock()

        self.banner = ipywidgets.HTML(self._banner_html())
        self.prompt = PromptBox(prompt)
        self.image = ImagePicker("First frame", image)
        self.last_image = ImagePicker("Last frame (optional)", last_image)
        self.ratio = ipywidgets.ToggleButtons(
            options=[("16:9", "16:9"), ("9:16", "9:16"), ("from image", FROM_IMAGE)],
            value=FROM_IMAGE if ratio is None else ratio,
            description="Ratio",
            tooltips=["1280x768", "768x1280", "Let the model follow the first frame"],
        )
        self.duration = ipywidgets.ToggleButtons(
            options=[(f"{d} s", d) for d in DURATIONS], value=duration, description="Duration"
        )
        self.seed = SeedControl(seed, locked=seed is not None)
        self.generate = ipywidgets.Button(
            description="Generate",
            button_style="primary",
            icon="play",
            tooltip="Submit one generation",
        )
        self.estimate = ipywidgets.HTML()
        self.problems = ipywidgets.HTML()
        self.card = GenerationCard()
        self.card.layout.display = _HIDDEN
        self.new_seed = ipywidgets.Button(
            description="New seed", icon="random", tooltip="Same request, a new random seed"
        )
        self.seed_grid = ipywidgets.Button(
            description="Seed grid…", icon="th", tooltip="The same request over several seeds"
        )
        self.after = ipywidgets.HBox([self.new_seed, self.seed_grid])
        self.after.layout.display = _HIDDEN
        self.below = ipywidgets.VBox()  # seed grids opened from this panel
        super().__init__(
            children=[
                self.banner,
                self.prompt,
                ipywidgets.HBox([self.image, self.last_image]),
                self.ratio,
                self.duration,
                self.seed,
                ipywidgets.HBox([self.generate, self.estimate]),
                self.problems,
                self.card,
                self.after,
                self.below,
            ]
        )
        self.generate.on_click(lambda _: self._clicked(None))
        self.new_seed.on_click(lambda _: self._clicked(random_seed()))
        self.seed_grid.on_click(lambda _: self.open_seed_grid())
        self.duration.observe(lambda _: self._show_estimate(), names="value")
        self._show_estimate()

    # -- programmatic use ------------------------------------------------------------

    @property
    def runner(self) -> JobRunner:
        return self._runner

    @property
    def job(self) -> Job | None:
        """The job the panel currently shows (``None`` before the first submission)."""
        return self._job

    @property
    def generation(self) -> Generation | None:
        """The current job's generation, once the create was answered."""
        return self._job.generation if self._job is not None else None

    @property
    def request(self) -> GenerationRequest:
        """The request the fields describe now; raises ``ValidationError`` listing every problem.

        An empty seed field gives ``seed=None``; ``submit()`` draws the seed then.
        """
        return self._build_request(self.seed.current())

    def submit(self) -> Job:
        """Do what the Generate button does; return the new ``Job``.

        Raises ``ValidationError`` (after showing it in the panel) when the
        fields are invalid: nothing is sent then. Raises ``RuntimeError`` if
        the previous generation is still running.
        """
        job = self._start(None)
        if job is None:
            raise RuntimeError(
                "The previous generation is still running: wait for it (panel.wait()) "
                "before submitting again, or use a SeedGrid to run several at once."
            )
        return job

    def wait(self, timeout: float | None = None) -> Generation:
        """Block until the current job ends; return its ``Generation`` or raise what ended it."""
        job = self._job
        if job is None:
            raise RuntimeError("Nothing was submitted yet: press Generate or call panel.submit().")
        return job.wait(timeout)

    def open_seed_grid(self) -> Any:
        """Open a ``SeedGrid`` below the panel for the current job's request (or the fields').

        Returns the grid, or ``None`` when it could not be opened (the reason is shown).
        """
        request = self._job.request if self._job is not None else None
        try:
            if request is None:
                request = self.request
            from .grid import SeedGrid  # lazily: a separate, heavier widget

            grid = SeedGrid(
                client=self._runner,
                prompt=request.prompt,
                image=request.image,
                last_image=request.last_image,
                duration=request.duration,
                ratio=request.ratio,
            )
        except ValidationError as exc:
            self._show_problems(exc)
            return None
        except ImportError as exc:
            self._show_error(f"The seed grid is not available in this installation ({exc}).")
            return None
        except Exception as exc:
            log.exception("GenerationPanel could not open a seed grid")
            self._show_error(f"Could not open the seed grid: {exc}")
            return None
        self.below.children = (*self.below.children, grid)
        return grid

    # -- submitting ------------------------------------------------------------------

    def _clicked(self, seed: int | None) -> None:
        # A button handler must never raise into the kernel: problems are shown instead.
        try:
            self._start(seed, from_last_job=seed is not None)
        except ValidationError:
            pass
        except Exception as exc:
            log.exception("GenerationPanel could not submit")
            self._show_error(f"Could not submit: {exc}")

    def _start(self, seed: int | None, *, from_last_job: bool = False) -> Job | None:
        """Submit once; ``None`` if a submission is already under way (a double click)."""
        with self._lock:
            if self._submitting:
                return None
            self._submitting = True
            self._set_buttons()
        try:
            request = self._request_for_run(seed, from_last_job)
            job = self._runner.submit(request, label=short_text(request.prompt, 60))
        except BaseException as exc:
            with self._lock:
                self._submitting = False
                self._set_buttons()
            if isinstance(exc, ValidationError):
                self._show_problems(exc)
            raise
        self._show_problems(None)
        if isinstance(request.seed, int):
            self.seed.used(request.seed)
        self._follow(job)
        return job

    def _request_for_run(self, seed: int | None, from_last_job: bool) -> GenerationRequest:
        if from_last_job and self._job is not None and self._job.request is not None:
            return self._job.request.replace(seed=seed)
        return self._build_request(self.seed.for_run())

    def _build_request(self, seed: Any) -> GenerationRequest:
        ratio = self.ratio.value
        return GenerationRequest(
            prompt=self.prompt.value,
            image=self.image.value,
            last_image=self.last_image.value,
            duration=self.duration.value,
            ratio=None if ratio == FROM_IMAGE else ratio,
            seed=seed,
        )

    def _follow(self, job: Job) -> None:
        with self._lock:
            self._job = job
        self.after.layout.display = _HIDDEN
        self.card.layout.display = None
        prompt = job.request.prompt if job.request else ""
        self.card.set_title(short_text(prompt, 120))
        self.card.bind(job)
        if self._unobserve is not None:
            self._unobserve()
        self._unobserve = job.add_observer(self._on_job)
        self._on_job(job)  # it may have moved on before the observer was added

    def _on_job(self, job: Job) -> None:
        with self._lock:
            # Generate stays off until the job ends: one panel runs one job at a
            # time, so even a fast create can never turn a double click into two.
            if job.done and job is self._job and self._submitting:
                self._submitting = False
                self._set_buttons()
            if job is self._job:
                self.after.layout.display = None if job.ok else _HIDDEN

    def _set_buttons(self) -> None:
        self.generate.disabled = self._submitting
        self.new_seed.disabled = self._submitting

    # -- showing ---------------------------------------------------------------------

    def _show_problems(self, error: ValidationError | None) -> None:
        if error is None:
            self.problems.value = ""
            return
        rows = [
            f"{_FIELD_NAMES.get(field, field)}: {message}"
            for field, messages in error.problems.items()
            for message in messages
        ]
        head = "Nothing was sent. Fix this and press Generate again:"
        self.problems.value = _html.span(head, color=_html.ERROR_COLOR, bold=True) + _html.lines(
            [f"• {row}" for row in rows], color=_html.ERROR_COLOR
        )

    def _show_error(self, text: str) -> None:
        self.problems.value = _html.lines([text], color=_html.ERROR_COLOR)

    def _show_estimate(self) -> None:
        if self.duration.value not in DURATIONS:  # no choice (value None): nothing to estimate
            self.estimate.value = ""
            return
        tokens = estimate_tokens(int(self.duration.value))
        if self._runner.simulated:
            text = f"simulated: nothing is bought (a real {self.duration.value} s clip ≈ {tokens:,} tokens)"
        else:
            text = f"one {self.duration.value} s clip ≈ {tokens:,} tokens"
        self.estimate.value = _html.span(text, color=_html.MUTED_COLOR, small=True)

    def _banner_html(self) -> str:
        if not self._runner.simulated:
            return ""
        return (
            "<div style='background:#fff4ce;border:1px solid #e0c060;padding:6px 10px;"
            f"border-radius:4px'>{_html.esc(SIMULATED_BANNER)}</div>"
        )

    def close(self) -> None:
        # Also runs from __del__, even when __init__ failed half-way.
        card = getattr(self, "card", None)
        if card is not None:
            card.close()
        super().close()
