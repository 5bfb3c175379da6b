"""``GenerationPanel``: prompt, frames, model, ratio, duration, seed, the price, Generate, the result.

The button and ``panel.submit()`` take the same path: the fields become a
``GenerationRequest`` (any problem is shown in the panel, kept current as
fields change, and nothing is sent), the request goes to the ``JobRunner``
of the panel's client, and a ``GenerationCard`` follows the job. The panel
never speaks HTTP, and neither the client nor its key is ever a widget
trait, so neither reaches the browser or a saved notebook.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets

from .._errors import (
    ConfigurationError,
    ModelUnavailableError,
    NotReadyError,
    ValidationError,
    describe_exception,
)
from .._frames import last_frame
from .._jobs import REBUY_STATES, Job, JobRunner, JobState, runner_for, wait_all, wait_all_async
from .._models import (
    AUTO_RATIO,
    DEFAULT_MODEL,
    MODELS,
    GenerationRequest,
    PriceQuery,
    check_choices,
    find_model,
    random_seed,
)
from .._text import short_text
from . import _html
from ._describe import SIMULATED_BANNER
from .card import GenerationCard
from .inputs import HIDDEN, ImagePicker, PromptBox, SeedControl

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .._client import AsyncClient, Client
    from .._models import Generation

log = logging.getLogger("gen3widgets")

_FIELD_NAMES = {
    "prompt": "Prompt",
    "image": "First frame",
    "last_image": "Last frame",
    "model": "Model",
    "duration": "Duration",
    "ratio": "Ratio",
    "seed": "Seed",
}
_RATIO_TIPS = {
    "16:9": "landscape",
    "9:16": "portrait",
    "4:3": "landscape, classic",
    "3:4": "portrait, classic",
    "1:1": "square",
    "21:9": "cinema widescreen",
}


class GenerationPanel(ipywidgets.VBox):  # type: ignore[misc]
    """Make one video from a prompt and a first frame, and watch it arrive.

    ``client`` is a ``Client``, ``AsyncClient`` or ``JobRunner``; by default the
    real API when ``AIMLAPI_KEY`` is set, else the offline simulator.
    ``budget_usd`` caps what the panel's own client may spend. A ``seed``
    given here is locked (kept for every run); see ``SeedControl``.

    In code, ``panel.submit()`` does what the Generate button does and returns
    the ``Job`` (called again with the same fields, it returns that job instead
    of buying another: "Run All" never buys twice); ``panel.wait()`` blocks until
    the video is there and returns the ``Generation``.
    """

    def __init__(
        self,
        client: AsyncClient | Client | JobRunner | None = None,
        *,
        prompt: str = "",
        image: Any = None,
        last_image: Any = None,
        model: str = DEFAULT_MODEL,
        duration: int = 5,
        ratio: str | None = "16:9",
        seed: int | None = None,
        budget_usd: float | None = None,
    ) -> None:
        ratio = AUTO_RATIO if ratio is None else ratio
        problems = check_choices(model, duration, ratio)
        if problems:  # fail at construction: these come from code, not from the fields
            raise ValidationError(problems)
        self._runner = _runner(client, budget_usd)
        self._job: Job | None = None
        self._job_fields: tuple[Any, ...] | None = None
        self._submitting = False
        self._unobserve: Callable[[], None] | None = None
        self._lock = threading.RLock()
        chosen = find_model(model)
        assert chosen is not None

        self.banner = ipywidgets.HTML(self._banner_html())
        self.prompt = PromptBox(prompt)
        self.image = ImagePicker("First frame", image)
        self.last_image = ImagePicker("Last frame (optional)", last_image)
        self.model = ipywidgets.Dropdown(
            options=[(f"{m.id} — {m.name}", m.id) for m in MODELS.values()],
            value=chosen.id,
            description="Model",
            layout=ipywidgets.Layout(width="auto", min_width="24em"),
        )
        self.ratio = ipywidgets.ToggleButtons(description="Ratio")
        self.duration = ipywidgets.ToggleButtons(description="Duration")
        self._set_model_choices(ratio, duration)
        self.seed = SeedControl(seed, locked=seed is not None)
        self.generate = ipywidgets.Button(
            description="Generate",
            button_style="primary",
            icon="play",
            tooltip="Buy one video",
        )
        self.estimate = ipywidgets.HTML()
        self.balance_button = ipywidgets.Button(
            description="Balance",
            icon="credit-card",
            tooltip="Ask the API for your account's balance",
            layout=ipywidgets.Layout(width="auto"),
        )
        self.balance = ipywidgets.HTML()
        self.problems = ipywidgets.HTML()
        self.switch_note = ipywidgets.HTML()
        self.switch_button = ipywidgets.Button(button_style="warning", icon="exchange")
        self.switch_box = ipywidgets.HBox(
            [self.switch_note, self.switch_button],
            layout=ipywidgets.Layout(display=HIDDEN, align_items="center", flex_flow="row wrap"),
        )
        self.card = GenerationCard()
        self.card.layout.display = HIDDEN
        self.card.on_extend(lambda _generation: self._extend_clicked())
        self.extend_note = ipywidgets.HTML()
        self._parent: tuple[str, Any] | None = None  # (generation id, first frame) after Extend
        self.new_seed = ipywidgets.Button(
            description="New seed", icon="random", tooltip="Same request, a new random seed"
        )
        self.seed_grid = ipywidgets.Button(
            description="Seed grid…", icon="th", tooltip="The same request over several seeds"
        )
        self.after = ipywidgets.HBox([self.new_seed, self.seed_grid])
        self.after.layout.display = HIDDEN
        self.below = ipywidgets.VBox()  # seed grids opened from this panel
        wrap = ipywidgets.Layout(flex_flow="row wrap", align_items="center")
        super().__init__(
            children=[
                self.banner,
                self.prompt,
                ipywidgets.HBox([self.image, self.last_image], layout=wrap),
                self.extend_note,
                self.model,
                self.ratio,
                self.duration,
                self.seed,
                ipywidgets.HBox(
                    [self.generate, self.estimate, self.balance_button, self.balance],
                    layout=ipywidgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.problems,
                self.switch_box,
                self.card,
                self.after,
                self.below,
            ]
        )
        self.generate.on_click(lambda _: self._clicked(None))
        self.new_seed.on_click(lambda _: self._clicked(random_seed()))
        self.seed_grid.on_click(lambda _: self.open_seed_grid())
        self.balance_button.on_click(lambda _: self.show_balance())
        self.switch_button.on_click(lambda _: self._switch_model())
        self.model.observe(lambda _: self._model_changed(), names="value")
        for field in (self.ratio, self.duration):
            field.observe(lambda _: self._fields_changed(price=True), names="value")
        self.ratio.observe(lambda _: self._ratio_changed(), names="value")
        for field in (self.prompt.text, self.seed.field):
            field.observe(lambda _: self._fields_changed(), names="value")
        for picker in (self.image, self.last_image):
            picker.observe(lambda _: self._fields_changed(), names="value")
        self._ratio_changed()
        self._show_price()

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

    def submit(self, *, again: bool = False) -> Job:
        """Do what the Generate button does; return the new ``Job``.

        When the current job was submitted from the very same fields, it is
        returned instead of buying again (so a notebook's "Run All" after a
        Generate click never buys twice), unless it ended with nothing bought
        or failed on the server (never charged); a job whose answer was lost may
        have been bought, and is returned too. ``again=True`` buys another. Raises ``ValidationError`` (after showing it in the panel) when
        the fields are invalid: nothing is sent then. Raises ``NotReadyError``
        if the previous generation is still being submitted.
        """
        with self._lock:
            job = self._job
            same = job is not None and self._job_fields == self._fields()
            if not again and job is not None and same and job.state not in REBUY_STATES:
                log.info("The panel already submitted these fields: %r", job)
                return job
        job = self._start(None)
        if job is None:
            raise NotReadyError(
                "The previous generation is still running: wait for it (panel.wait()) "
                "before submitting again, or use a SeedGrid to run several at once."
            )
        return job

    def wait(self, timeout: float | None = None) -> Generation:
        """Block until the current job ends (and its video shows); return its ``Generation``
        or raise what ended it."""
        started = time.monotonic()
        job = self._current_job()
        wait_all([job], timeout)
        self.card.settled_since(started, timeout)
        return job.result()

    async def wait_async(self, timeout: float | None = None) -> Generation:
        """``wait()`` for async code."""
        started = time.monotonic()
        job = self._current_job()
        await wait_all_async([job], timeout)
        await self.card.settled_since_async(started, timeout)
        return job.result()

    def extend(self, *, sharpest_of: int = 1) -> PILImage.Image:
        """Start the next shot from the current clip's last frame (what **Extend** does).

        The first frame becomes that frame (``sharpest_of=N``: the sharpest of the
        last N) and the last frame is cleared; give the shot its own prompt, seed
        and duration, then Generate. Its purchase records this clip as its
        parent in the history (``tags["parent"]``). Returns the frame.
        """
        generation = self.generation
        if generation is None or not generation.ok or generation.local_path is None:
            raise NotReadyError(
                "Nothing to extend yet: the panel has no finished video (panel.wait() first)."
            )
        frame = last_frame(generation, sharpest_of=sharpest_of)
        self.image.load(frame)
        self.last_image.clear()
        self._parent = (str(generation.id), self.image.value)
        text = (
            f"Next shot: starts from the last frame of {generation.id}. Give it its prompt, "
            "seed and duration, then Generate."
        )
        self.extend_note.value = _html.span(text, color=_html.MUTED_COLOR, small=True)
        return frame

    def _extend_clicked(self) -> None:
        try:
            self.extend()
        except Exception as exc:
            log.exception("GenerationPanel could not extend the clip")
            self._show_error(f"Could not extend the clip: {describe_exception(exc)}")

    def _parent_tags(self) -> dict[str, str] | None:
        """``{"parent": id}`` while the first frame is still the one Extend put there."""
        parent = self._parent
        if parent is None or self.image.value is not parent[1]:
            self.extend_note.value = ""
            self._parent = None
            return None
        return {"parent": parent[0]}

    def show_balance(self) -> None:
        """Ask the API for the account's balance and show it (only when asked: never polled)."""
        self.balance.value = _html.span("asking…", color=_html.MUTED_COLOR, small=True)

        def shown(result: float | BaseException) -> None:
            if isinstance(result, BaseException):
                text = f"balance unavailable: {describe_exception(result)}"
                self.balance.value = _html.span(text, color=_html.ERROR_COLOR, small=True)
                return
            note = " (the simulator's)" if self._runner.simulated else ""
            self.balance.value = _html.span(f"balance ${result:,.2f}{note}", small=True)

        self._runner.background(lambda: self._runner.call("balance"), shown)

    def open_seed_grid(self) -> Any:
        """Open a ``SeedGrid`` below the panel for the current job's request (or the fields').

        Returns the grid, or ``None`` when it could not be opened (the reason is shown).
        """
        request = self._job.request if self._job is not None else None
        try:
            if request is None:
                request = self.request
            try:
                from .grid import SeedGrid  # lazily: a separate, heavier widget
            except ImportError as exc:
                self._show_error(
                    f"The seed grid is not available here: its module could not be loaded "
                    f"({exc}). Reinstall gen3widgets, or use SeedGrid in a new cell."
                )
                return None

            grid = SeedGrid(
                client=self._runner,
                prompt=request.prompt,
                image=request.image,
                last_image=request.last_image,
                duration=request.duration,
                ratio=request.ratio,
                model=request.model,
            )
        except ValidationError as exc:
            self._show_problems(exc)
            return None
        except Exception as exc:
            log.exception("GenerationPanel could not open a seed grid")
            self._show_error(f"Could not open the seed grid: {describe_exception(exc)}")
            return None
        self.below.children = (*self.below.children, grid)
        return grid

    # -- submitting ------------------------------------------------------------------

    def _current_job(self) -> Job:
        if self._job is None:
            raise NotReadyError("Nothing was submitted yet: press Generate or call panel.submit().")
        return self._job

    def _clicked(self, seed: int | None) -> None:
        # A button handler must never raise into the kernel: problems are shown instead.
        try:
            self._start(seed, from_last_job=seed is not None)
        except ValidationError:
            pass
        except Exception as exc:
            log.exception("GenerationPanel could not submit")
            self._show_error(f"Could not submit: {describe_exception(exc)}")

    def _start(self, seed: int | None, *, from_last_job: bool = False) -> Job | None:
        """Submit once; ``None`` if a submission is already under way (a double click)."""
        with self._lock:
            if self._submitting:
                return None
            self._submitting = True
            self._set_buttons()
        try:
            fields = self._fields()
            request = self._request_for_run(seed, from_last_job)
            job = self._runner.submit(
                request, label=short_text(request.prompt, 60), tags=self._parent_tags()
            )
        except BaseException as exc:
            with self._lock:
                self._submitting = False
                self._set_buttons()
            if isinstance(exc, ValidationError):
                self._show_problems(exc)
            raise
        self._show_problems(None)
        self.switch_box.layout.display = HIDDEN
        if isinstance(request.seed, int):
            self.seed.used(request.seed)
        with self._lock:
            self._job_fields = fields
        self._follow(job)
        return job

    def _fields(self) -> tuple[Any, ...]:
        """What the fields say now (the seed as typed, and whether it is kept)."""
        return (
            self.prompt.value,
            _identity(self.image.value),
            _identity(self.last_image.value),
            self.model.value,
            self.duration.value,
            self.ratio.value,
            str(self.seed.field.value).strip(),
            self.seed.locked,
        )

    def _request_for_run(self, seed: int | None, from_last_job: bool) -> GenerationRequest:
        if from_last_job and self._job is not None and self._job.request is not None:
            return self._job.request.replace(seed=seed)
        return self._build_request(self.seed.for_run())

    def _build_request(self, seed: Any) -> GenerationRequest:
        return GenerationRequest(
            prompt=self.prompt.value,
            image=self.image.value,
            last_image=self.last_image.value,
            duration=self.duration.value,
            ratio=self.ratio.value,
            seed=seed,
            model=self.model.value,
        )

    def _follow(self, job: Job) -> None:
        with self._lock:
            self._job = job
        self.after.layout.display = HIDDEN
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
            if job is not self._job:
                return
            # Generate stays off until the job ends: one panel runs one job at a
            # time, so even a fast create can never turn a double click into two.
            if job.done and self._submitting:
                self._submitting = False
                self._set_buttons()
            self.after.layout.display = None if job.ok else HIDDEN
        if job.state is JobState.REFUSED and isinstance(job.exception, ModelUnavailableError):
            self._offer_switch(job.exception.model, job.exception.successor, job.exception.message)

    def _set_buttons(self) -> None:
        self.generate.disabled = self._submitting
        self.new_seed.disabled = self._submitting

    # -- models ------------------------------------------------------------------------

    def _set_model_choices(self, ratio: str, duration: int) -> None:
        """Offer the ratios and durations of the chosen model, keeping the choices it allows."""
        model = MODELS[self.model.value]
        ratios = [*model.ratios, AUTO_RATIO]
        labels = [(r if r != AUTO_RATIO else "auto (from image)", r) for r in ratios]
        tips = [
            f"{model.sizes[r][0]}x{model.sizes[r][1]}, {_RATIO_TIPS.get(r, '')}".rstrip(", ")
            if r in model.sizes
            else "let the model follow the first frame"
            for r in ratios
        ]
        self.ratio.options = labels
        self.ratio.tooltips = tips
        self.ratio.value = ratio if ratio in ratios else "16:9"
        self.duration.options = [(f"{d} s", d) for d in model.durations]
        self.duration.value = duration if duration in model.durations else model.durations[0]

    def _ratio_changed(self) -> None:
        # Only "auto" takes the ratio from the frames: only then do their aspects matter.
        for picker in (self.image, self.last_image):
            picker.set_ratio_from_image(self.ratio.value == AUTO_RATIO)

    def _model_changed(self) -> None:
        self._set_model_choices(self.ratio.value, self.duration.value)
        self.switch_box.layout.display = HIDDEN
        self._fields_changed(price=True)

    def _offer_switch(self, model: str, successor: str | None, why: str) -> None:
        if successor is None or self.model.value != model:
            return
        self.switch_note.value = _html.span(why, color=_html.WARNING_COLOR)
        self.switch_button.description = f"Use {successor}"
        self.switch_button.tooltip = f"Switch the model to {successor} (nothing is bought)"
        self.switch_box.layout.display = None

    def _switch_model(self) -> None:
        found = find_model(self.model.value)
        if found is not None and found.successor:
            self.model.value = found.successor  # the user presses Generate to buy
        self.switch_box.layout.display = HIDDEN

    # -- showing ---------------------------------------------------------------------

    def _fields_changed(self, *, price: bool = False) -> None:
        # Problems shown earlier follow the fields: fixed ones go, new ones show.
        if self.problems.value:
            try:
                self._build_request(self.seed.current())
            except ValidationError as exc:
                self._show_problems(exc)
            else:
                self._show_problems(None)
        if price:
            self._show_price()

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

    def _show_price(self) -> None:
        try:
            query = PriceQuery.of(self.model.value, self.duration.value, self.ratio.value)
        except ValidationError:  # no duration chosen: nothing to price
            self.estimate.value = ""
            return
        self.estimate.value = _html.span("pricing…", color=_html.MUTED_COLOR, small=True)

        def shown(price: float | BaseException | None) -> None:
            now = (self.model.value, self.duration.value, self.ratio.value)
            if now != (query.model, query.duration, query.ratio):
                return  # the fields moved on meanwhile
            self.estimate.value = _html.span(
                _price_text(price, query, self._runner.simulated),
                color=_html.MUTED_COLOR,
                small=True,
            )
            if price is None and self._runner.simulated is False:
                self._check_listed(query.model)

        self._runner.background(lambda: self._runner.quote_async([query]), shown)

    def _check_listed(self, model: str) -> None:
        """When a model cannot be priced, see whether the API still lists it at all."""

        def shown(listed: bool | BaseException) -> None:
            found = find_model(model)
            if listed is False and found is not None:
                why = (
                    f"The API no longer lists {model} (Runway retired it upstream); a create "
                    "would be refused. Nothing has been bought."
                )
                self._offer_switch(model, found.successor, why)

        self._runner.background(lambda: self._runner.listed(model), shown)

    def _banner_html(self) -> str:
        if not self._runner.simulated:
            return ""
        return _html.banner(SIMULATED_BANNER)

    def close(self) -> None:
        # Also runs from __del__, even when __init__ failed half-way.
        card = getattr(self, "card", None)
        if card is not None:
            card.close()
        super().close()


def _runner(client: AsyncClient | Client | JobRunner | None, budget_usd: float | None) -> JobRunner:
    if budget_usd is None:
        return runner_for(client)
    if client is not None:
        raise ConfigurationError(
            "Give the budget to the client instead: Client(budget_usd=...) or "
            "AsyncClient(budget_usd=...), then pass that client to the panel."
        )
    from .._client import AsyncClient

    return runner_for(AsyncClient.auto(budget_usd=budget_usd))


def _identity(value: Any) -> Any:
    # Bytes compare by content; the same upload or path is the same image.
    return value if isinstance(value, (str, bytes, type(None))) else id(value)


def _price_text(price: float | BaseException | None, query: PriceQuery, simulated: bool) -> str:
    clip = f"one {query.duration}\u00a0s {query.model} clip"
    amount = None if isinstance(price, BaseException) else price
    if simulated:
        listed = "" if amount is None else f": ${amount:.2f} on the simulator's price list"
        return f"simulated: nothing is bought ({clip}{listed})"
    return (
        f"{clip}: the price cannot be quoted ahead" if amount is None else f"{clip}: ${amount:.2f}"
    )
