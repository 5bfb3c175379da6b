"""``SeedGrid``: one image, one prompt (or several) and several seeds, bought at once, side by side.

    grid = SeedGrid("a slow dolly shot", "cat.png", seeds=6)        # 6 random seeds
    grid = SeedGrid(image="cat.png", prompts=["dusk", "dawn"], seeds=[1, 2, 3])
    grid                      # shows the cost; nothing is bought until Generate
    grid.submit()             # the same as clicking Generate, from code
    gens = grid.wait()        # generations in grid order (row-major: prompt, then seed)
    grid.save("out/")         # MP4s + index.html + stills.png; returns index.html's path
    grid.show_stills()        # a static PNG that survives in a saved notebook / on GitHub

Every request is built and validated when the grid is made; any problem is
shown in the grid and nothing can be bought. All jobs go to the ``JobRunner``
at once (it bounds concurrent creates and retries 429s), so the grid takes
about as long as its slowest job. Cells fill in as their jobs finish, in any
order, without running another notebook cell.

Per cell: a star marks a favourite (``grid.favorites``); "10 s" re-runs that
cell as a 10 s clip and "+ last frame" re-runs it ending on a last frame picked
in an ``ImagePicker`` under the grid (each a new purchase, shown in place).
"Retry failed" re-buys only cells whose generation failed; a timed-out cell is
followed again for free. A cell whose submission state is unknown is never
re-bought by the grid: check the history, then ``grid.rerun(i)`` if you want.

Play all / Pause all / Restart all come from a small anywidget front-end
(``pip install 'gen3widgets[compare]'``); without anywidget the grid works and
omits them.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets

from .._client import AsyncClient, Client
from .._errors import ConfigurationError, Gen3Error, ValidationError
from .._images import PreparedImage, short_text
from .._jobs import Job, JobRunner, JobState, runner_for
from .._models import DEFAULT_MODEL, MAX_SEED, Generation, GenerationRequest
from . import _html
from ._contact_sheet import SheetCell, StillsUnavailable, save_contact_sheet, still_strip_png
from .card import GenerationCard

if TYPE_CHECKING:
    from IPython.display import Image

    from ._sync_player import SyncPlayer

COMPARE_HINT = "pip install 'gen3widgets[compare]'"
PROMPT_LABEL_CHARS = 60
_HIDDEN = "none"


@dataclass
class _Plan:
    """What the constructor's arguments ask for, or every problem with them."""

    prompts: list[str]
    seeds: list[int]
    rows: list[GenerationRequest] = field(default_factory=list)  # one per prompt, no seed
    last_image: PreparedImage | None = None  # every cell's last frame, when given
    columns: int = 1
    problems: dict[str, list[str]] = field(default_factory=dict)


class GridCell:
    """One cell: its place in the grid, its request, its card and its own buttons."""

    def __init__(
        self, index: int, row: int, col: int, prompt: str, request: GenerationRequest, title: str
    ) -> None:
        self.index, self.row, self.col = index, row, col
        self.prompt = prompt
        self.seed: int = request.seed if request.seed is not None else 0
        self.request = request
        self.title = title
        self.job: Job | None = None
        self.unobserve: Any = None  # removes the grid's observer from ``job``
        self.card = GenerationCard(title)
        small = ipywidgets.Layout(width="auto")
        self.star = ipywidgets.ToggleButton(
            value=False, description="☆", tooltip="Mark as a favourite", layout=small
        )
        self.ten_s = ipywidgets.Button(
            description="10 s",
            tooltip="Re-run this cell as a 10 s clip (a new purchase)",
            disabled=True,
            layout=small,
        )
        self.last_frame = ipywidgets.Button(
            description="+ last frame",
            tooltip="Re-run this cell ending on a last frame you pick (a new purchase)",
            disabled=True,
            layout=small,
        )
        self.box = ipywidgets.VBox(
            [self.card, ipywidgets.HBox([self.star, self.ten_s, self.last_frame])]
        )

    @property
    def generation(self) -> Generation | None:
        return self.job.generation if self.job is not None else None

    @property
    def favorite(self) -> bool:
        return bool(self.star.value)

    def __repr__(self) -> str:
        state = self.job.state.value if self.job else "not submitted"
        return f"GridCell(index={self.index}, row={self.row}, col={self.col}, seed={self.seed}, {state})"


class SeedGrid(ipywidgets.VBox):  # type: ignore[misc]
    """The same image and prompt(s) across several seeds, compared side by side.

    ``seeds`` is a count (that many distinct random seeds) or a list of seeds.
    ``prompts=[...]`` makes a prompts × seeds matrix (rows: prompts, columns:
    seeds); ``prompt`` is then left empty. ``last_image``, like every other
    field, is part of every cell's request.
    ``columns`` sets how many cells a plain grid shows per row (a matrix has
    one column per seed). ``client`` is a ``Client``, ``AsyncClient`` or
    ``JobRunner``; by default the process-wide runner (the simulator without
    ``AIMLAPI_KEY``).
    """

    def __init__(
        self,
        prompt: str = "",
        image: Any = None,
        seeds: int | Iterable[int] = 4,
        *,
        last_image: Any = None,
        duration: int = 5,
        ratio: str | None = "16:9",
        model: str = DEFAULT_MODEL,
        prompts: Sequence[str] | None = None,
        client: AsyncClient | Client | JobRunner | None = None,
        columns: int | None = None,
    ) -> None:
        self._client = client
        self._runner: JobRunner | None = None
        self._lock = threading.Lock()
        self._submitted = False
        self.is_matrix = prompts is not None
        self.duration = duration
        self.css_class = f"gen3-grid-{uuid.uuid4().hex[:12]}"
        plan = _plan(prompt, image, seeds, last_image, duration, ratio, model, prompts, columns)
        self.prompts, self.seeds, self.columns = plan.prompts, plan.seeds, plan.columns
        self.last_image = plan.last_image
        # "+ last frame": one ImagePicker under the grid (made on first use) for the chosen cell.
        self.picker_box = ipywidgets.VBox(layout=ipywidgets.Layout(display=_HIDDEN))
        self.picker_go = ipywidgets.Button(button_style="primary", icon="redo")
        self.picker_go.on_click(lambda _: self._from_button(self._rerun_picked))
        self.picker_cancel = ipywidgets.Button(description="Cancel")
        self.picker_cancel.on_click(lambda _: self._close_picker())
        self._picker: Any = None
        self._picking: int | None = None  # the cell the picker will re-run
        self.problems: ValidationError | None = (
            ValidationError(plan.problems) if plan.problems else None
        )
        self.cells: list[GridCell] = [] if self.problems else self._make_cells(plan.rows)

        count = len(self.cells)
        self.summary = ipywidgets.HTML(_html.span(f"{count} video{'s' if count != 1 else ''}"))
        self.generate_button = ipywidgets.Button(
            description="Generate",
            button_style="primary",
            tooltip=f"Buy {count} × {duration} s videos at once",
            disabled=self.problems is not None,
        )
        self.generate_button.on_click(lambda _: self._from_button(self.submit))
        self.retry_button = ipywidgets.Button(
            description="Retry failed",
            button_style="warning",
            tooltip="Buy again only the cells that failed",
            layout=ipywidgets.Layout(display=_HIDDEN),
        )
        self.retry_button.on_click(lambda _: self._from_button(self.retry_failed))
        self.problems_html = ipywidgets.HTML(
            _html.lines(str(self.problems).splitlines(), color=_html.ERROR_COLOR)
            if self.problems
            else ""
        )
        self.status = ipywidgets.HTML()
        self.notice = ipywidgets.HTML()  # outcomes of button clicks, save() and friends
        self.player, compare = self._compare_controls()
        self.body = self._layout()
        super().__init__(
            children=[
                ipywidgets.HBox([self.summary, self.generate_button, self.retry_button]),
                self.problems_html,
                compare,
                self.status,
                self.body,
                self.picker_box,
                self.notice,
            ]
        )
        self.add_class("gen3-seed-grid")
        self.add_class(self.css_class)  # the sync player finds this grid's videos by it

    # -- building --------------------------------------------------------------------

    def _make_cells(self, rows: list[GenerationRequest]) -> list[GridCell]:
        cells: list[GridCell] = []
        for r, row_request in enumerate(rows):
            for c, seed in enumerate(self.seeds):
                request = row_request.replace(seed=seed)
                title = f"seed {seed}"
                if self.is_matrix:
                    title += f" · {short_text(row_request.prompt, 40) or '(no prompt)'}"
                cell = GridCell(len(cells), r, c, row_request.prompt, request, title)
                self._wire(cell)
                cells.append(cell)
        return cells

    def _wire(self, cell: GridCell) -> None:
        def on_star(change: dict[str, Any]) -> None:
            cell.star.description = "★" if change["new"] else "☆"
            cell.star.button_style = "warning" if change["new"] else ""

        cell.star.observe(on_star, names="value")
        cell.ten_s.on_click(
            lambda _: self._from_button(lambda: self.rerun(cell.index, duration=10))
        )
        cell.last_frame.on_click(
            lambda _: self._from_button(lambda: self.pick_last_frame(cell.index))
        )

    def _layout(self) -> Any:
        gap = "12px"
        if not self.is_matrix:
            return ipywidgets.GridBox(
                [cell.box for cell in self.cells],
                layout=ipywidgets.Layout(
                    grid_template_columns=f"repeat({self.columns}, minmax(0, 1fr))", grid_gap=gap
                ),
            )
        children: list[Any] = [ipywidgets.HTML("")]
        children += [
            ipywidgets.HTML(f"<div style='text-align:center'><b>seed {seed}</b></div>")
            for seed in self.seeds
        ]
        by_row = len(self.seeds)
        for r, prompt in enumerate(self.prompts):
            children.append(_row_label(prompt))
            children += [cell.box for cell in self.cells[r * by_row : (r + 1) * by_row]]
        return ipywidgets.GridBox(
            children,
            layout=ipywidgets.Layout(
                grid_template_columns=f"minmax(6em, 14em) repeat({by_row}, minmax(0, 1fr))",
                grid_gap=gap,
                align_items="center",
            ),
        )

    def _compare_controls(self) -> tuple[SyncPlayer | None, Any]:
        try:  # anywidget is optional (the "compare" extra)
            from ._sync_player import SyncPlayer
        except ImportError:
            hint = f"Play all / Pause all / Restart all need anywidget: {COMPARE_HINT}"
            return None, ipywidgets.HTML(_html.span(hint, color=_html.MUTED_COLOR, small=True))
        player = SyncPlayer(selector=f".{self.css_class}")
        return player, player

    # -- buying ----------------------------------------------------------------------

    @property
    def runner(self) -> JobRunner:
        """The runner that buys and follows this grid's jobs (made on first use)."""
        if self._runner is None:
            self._runner = runner_for(self._client)
        return self._runner

    def submit(self) -> list[Job]:
        """Buy every cell at once (what Generate does); a second call buys nothing more.

        Raises the grid's ``ValidationError`` when its input has problems (nothing is sent).
        """
        if self.problems is not None:
            raise self.problems
        with self._lock:
            if self._submitted:
                return self.jobs
            self._submitted = True
            self.generate_button.disabled = True
        try:
            runner = self.runner
        except BaseException:
            with self._lock:  # nothing was sent: let the user try again
                self._submitted = False
                self.generate_button.disabled = False
            raise
        for cell in self.cells:
            self._follow(cell, runner.submit(cell.request, label=cell.title))
        self._refresh()
        return self.jobs

    def rerun(
        self, index: int | tuple[int, int], *, duration: int | None = None, last_image: Any = None
    ) -> Job:
        """Buy cell ``index`` again (grid order, or ``(row, col)``), optionally changed.

        ``duration=10`` makes it a 10 s clip; ``last_image`` ends it on that frame.
        The cell shows the new job in place. Invalid changes raise ``ValidationError``.
        """
        cell = self.cell(index)
        if cell.job is None or not cell.job.done:
            raise RuntimeError(
                f"Cell {cell.index} (seed {cell.seed}) has not finished yet: "
                "generate the grid and wait for the cell before re-running it."
            )
        changes: dict[str, Any] = {}
        if duration is not None:
            changes["duration"] = duration
        if last_image is not None:
            changes["last_image"] = last_image
        request = cell.request.replace(**changes) if changes else cell.request
        cell.request = request
        extras = [f"{request.duration} s"] if request.duration != self.duration else []
        if request.last_image != (self.last_image.value if self.last_image else None):
            extras.append("new last frame")
        cell.card.set_title(" · ".join([cell.title, *extras]))
        job = self.runner.submit(request, label=cell.title)
        self._follow(cell, job)
        self._refresh()
        return job

    def retry_failed(self) -> list[Job]:
        """Buy again only the cells whose job failed; follow timed-out ones again (free).

        Cells whose submission state is unknown are left alone (they may have
        been bought): check the history, then ``rerun(i)`` if needed.
        """
        with self._lock:
            chosen = [
                cell
                for cell in self.cells
                if cell.job is not None and cell.job.state in (JobState.FAILED, JobState.TIMEOUT)
            ]
            jobs: list[Job] = []
            for cell in chosen:
                old = cell.job
                assert old is not None
                if old.state is JobState.TIMEOUT and old.generation is not None:
                    job = self.runner.resume(old.generation, label=cell.title)
                else:
                    job = self.runner.submit(cell.request, label=cell.title)
                self._follow(cell, job)
                jobs.append(job)
        self._refresh()
        return jobs

    def pick_last_frame(self, index: int | tuple[int, int]) -> Any:
        """Open the last-frame picker under the grid for cell ``index``; returns the picker.

        "Re-run with this last frame" then calls ``rerun(index, last_image=...)``.
        """
        from .inputs import ImagePicker  # lazily: only this button needs it

        cell = self.cell(index)
        if self._picker is None:
            self._picker = ImagePicker("Last frame for the re-run")
            buttons = ipywidgets.HBox([self.picker_go, self.picker_cancel])
            self.picker_box.children = [self._picker, buttons]
        self._picking = cell.index
        self.picker_go.description = f"Re-run seed {cell.seed} with this last frame"
        self.picker_box.layout.display = None
        return self._picker

    def _rerun_picked(self) -> None:
        if self._picking is None or self._picker is None:
            return
        if self._picker.value is None:
            raise ValueError("Choose a last frame first (an image URL, a file path or an upload).")
        self.rerun(self._picking, last_image=self._picker.value)
        self._close_picker()

    def _close_picker(self) -> None:
        self._picking = None
        self.picker_box.layout.display = _HIDDEN

    def _follow(self, cell: GridCell, job: Job) -> None:
        if cell.unobserve is not None:
            cell.unobserve()
        cell.job = job
        cell.card.bind(job)
        cell.unobserve = job.add_observer(self._on_job)

    def _from_button(self, action: Any) -> None:
        """Run a button's action; a failure is shown in the grid, not lost in a log."""
        self.notice.value = ""
        try:
            action()
        except Exception as exc:
            text = exc.message if isinstance(exc, Gen3Error) else f"{type(exc).__name__}: {exc}"
            self.notice.value = _html.lines(text.splitlines(), color=_html.ERROR_COLOR)

    # -- following -------------------------------------------------------------------

    def _on_job(self, job: Job) -> None:
        self._refresh()

    def _refresh(self) -> None:
        jobs = self.jobs
        if not jobs:
            return
        done = [job for job in jobs if job.done]
        failed = sum(job.state in (JobState.FAILED, JobState.TIMEOUT) for job in done)
        uncertain = sum(job.state is JobState.UNCERTAIN for job in done)
        parts = [f"{len(done)} of {len(self.cells)} done"]
        if failed:
            parts.append(f"{failed} failed")
        if uncertain:
            parts.append(f"{uncertain} with unknown submission state (see history; rerun(i))")
        color = _html.ERROR_COLOR if failed or uncertain else None
        self.status.value = _html.span(" · ".join(parts), color=color)
        self.retry_button.layout.display = None if failed else _HIDDEN
        for cell in self.cells:
            finished = cell.job is not None and cell.job.done
            cell.ten_s.disabled = not finished or cell.request.duration == 10
            cell.last_frame.disabled = not finished

    # -- results ---------------------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        """The current job of every submitted cell, in grid order."""
        return [cell.job for cell in self.cells if cell.job is not None]

    @property
    def generations(self) -> list[Generation | None]:
        """Each cell's generation in grid order (``None`` until it has one)."""
        return [cell.generation for cell in self.cells]

    @property
    def requests(self) -> list[GenerationRequest]:
        return [cell.request for cell in self.cells]

    @property
    def favorites(self) -> list[Generation]:
        """Generations of the starred cells, in grid order."""
        return [c.generation for c in self.cells if c.favorite and c.generation is not None]

    def set_favorite(self, index: int | tuple[int, int], value: bool = True) -> None:
        self.cell(index).star.value = value

    def cell(self, index: int | tuple[int, int]) -> GridCell:
        """A cell by grid-order index or by ``(row, col)``."""
        if isinstance(index, tuple):
            row, col = index
            if not (0 <= row < len(self.prompts) and 0 <= col < len(self.seeds)):
                raise IndexError(f"no cell at {index}: the grid is {self.shape}")
            index = row * len(self.seeds) + col
        return self.cells[index]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the prompts × seeds matrix: (1, seeds) for a plain grid."""
        return (len(self.prompts), len(self.seeds))

    def wait(self, timeout: float | None = None) -> list[Generation]:
        """Block until every cell is done; return the generations in grid order.

        Row-major: prompt order, then seed order. A cell that failed on the
        server is there as its ``Generation`` with status ``error``. If a cell
        has no generation at all (the create failed, or its state is unknown),
        the first such error is raised once every job has finished; the other
        cells are still in ``grid.generations``. ``TimeoutError`` when
        ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while (job := self._next_pending()) is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(Exception):  # its outcome is read below
                job.wait(left)
            self._check_deadline(job, deadline, timeout)
        return self._results()

    async def wait_async(self, timeout: float | None = None) -> list[Generation]:
        """``wait()`` for async code."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (job := self._next_pending()) is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(Exception):
                await job.wait_async(left)
            self._check_deadline(job, deadline, timeout)
        return self._results()

    def _next_pending(self) -> Job | None:
        if not self._submitted:
            raise RuntimeError("Nothing to wait for: click Generate or call grid.submit() first.")
        return next((job for job in self.jobs if not job.done), None)

    def _check_deadline(self, job: Job, deadline: float | None, timeout: float | None) -> None:
        if not job.done and deadline is not None and time.monotonic() >= deadline:
            running = sum(not j.done for j in self.jobs)
            raise TimeoutError(
                f"The grid was not done within {timeout:g} s: {running} of "
                f"{len(self.cells)} cells still running. wait() again to keep waiting."
            )

    def _results(self) -> list[Generation]:
        results: list[Generation] = []
        first_error: BaseException | None = None
        for cell in self.cells:
            job = cell.job
            assert job is not None
            if job.generation is not None:
                results.append(job.generation)
            elif first_error is None:
                first_error = job.exception or Gen3Error(
                    job.message
                    or f"Cell {cell.index} (seed {cell.seed}) ended as {job.state.value}"
                )
        if first_error is not None:
            raise first_error
        return results

    # -- comparing and keeping ---------------------------------------------------------

    def play_all(self) -> None:
        """Play every video of the grid from the same moment (needs anywidget)."""
        if self.player is not None:
            self.player.play()

    def pause_all(self) -> None:
        if self.player is not None:
            self.player.pause()

    def restart_all(self) -> None:
        if self.player is not None:
            self.player.restart()

    def save(self, directory: str | Path) -> Path:
        """Write the videos, ``index.html`` and ``stills.png`` into ``directory``.

        Videos are named ``r<row>_c<col>_seed<seed>.mp4``; ``index.html`` plays
        them offline (Play all / Pause all / Restart all in plain JavaScript).
        Without PyAV the still strip is skipped with a warning. Cells still
        running are saved as "still running". Returns the path of ``index.html``.
        """
        index, stills = save_contact_sheet(
            directory,
            self._sheet_cells(),
            title=self._title(),
            columns=self.columns,
            seed_headers=self.seeds if self.is_matrix else None,
            row_labels=self.prompts if self.is_matrix else None,
        )
        message = f"Saved to {index}"
        if stills is None and any(cell.source for cell in self._sheet_cells()):
            skipped = "PyAV is not installed, so stills.png was skipped: pip install av"
            warnings.warn(skipped, RuntimeWarning, stacklevel=2)
            message += f" ({skipped})"
        self.notice.value = _html.span(message, color=_html.MUTED_COLOR)
        return index

    def show_stills(self) -> Image:
        """The first, middle and last frame of each cell as one PNG, to display in a notebook.

        Unlike widgets, an image output is kept in the saved notebook, so it
        shows on GitHub and nbviewer: end a cell with ``grid.show_stills()``.
        """
        from IPython.display import Image

        try:
            png = still_strip_png(self._sheet_cells())
        except StillsUnavailable as exc:
            raise ConfigurationError(
                f"{exc}. The still strip decodes the videos with PyAV."
            ) from None
        return Image(data=png, format="png")  # type: ignore[no-untyped-call]

    def _sheet_cells(self) -> list[SheetCell]:
        sheet: list[SheetCell] = []
        for cell in self.cells:
            job, note = cell.job, None
            if job is None:
                note = "not generated"
            elif not job.done:
                note = f"still running ({job.status_text})"
            elif not job.ok:
                note = job.message or job.state.value
            sheet.append(
                SheetCell(
                    row=cell.row,
                    col=cell.col,
                    prompt=cell.prompt,
                    seed=cell.seed,
                    generation=cell.generation,
                    favorite=cell.favorite,
                    note=note,
                )
            )
        return sheet

    def _title(self) -> str:
        if self.is_matrix:
            return f"Seed grid: {len(self.prompts)} prompts × {len(self.seeds)} seeds"
        prompt = self.prompts[0] if self.prompts else ""
        return f"Seed grid: {short_text(prompt, 80)}" if prompt else "Seed grid"

    def close(self) -> None:
        """Close the grid and every widget it made."""
        for cell in self.cells:
            if cell.unobserve is not None:
                cell.unobserve()
            cell.card.close()
            for widget in (cell.star, cell.ten_s, cell.last_frame, cell.box):
                widget.close()
        if self.player is not None:
            self.player.close()
        if self._picker is not None:
            self._picker.close()
        super().close()

    def __repr__(self) -> str:
        rows, cols = self.shape
        state = "invalid" if self.problems else f"{len(self.jobs)} of {len(self.cells)} submitted"
        return f"SeedGrid({rows}×{cols}, {state})"


# -- planning (pure: no widgets) ------------------------------------------------------------


def _plan(
    prompt: str,
    image: Any,
    seeds: int | Iterable[int],
    last_image: Any,
    duration: int,
    ratio: str | None,
    model: str,
    prompts: Sequence[str] | None,
    columns: int | None,
) -> _Plan:
    problems: dict[str, list[str]] = {}
    seed_list = pick_seeds(seeds, problems)
    prompt_list = _prompts(prompt, prompts, problems)
    plan = _Plan(prompt_list, seed_list, problems=problems)
    try:  # what every cell shares: checked (and the image decoded) once
        common = GenerationRequest(
            prompt="",
            image=image,
            last_image=last_image,
            duration=duration,
            ratio=ratio,
            model=model,
        )
    except ValidationError as exc:
        _merge(problems, exc.problems)
        common = None
    if common is not None:
        for i, text in enumerate(prompt_list):
            try:
                plan.rows.append(common.replace(prompt=text))
            except ValidationError as exc:
                where = f"prompts[{i}]" if prompts is not None else ""
                _merge(problems, exc.problems, where)
        plan.last_image = common.last_image_info
    plan.columns = _columns(columns, len(seed_list), problems)
    return plan


def pick_seeds(seeds: int | Iterable[int], problems: dict[str, list[str]]) -> list[int]:
    """A count becomes that many distinct random seeds; a list is checked.

    Problems are added to ``problems["seeds"]`` (and an empty list returned).
    """
    found: list[str] = []
    values: list[Any] = []
    if isinstance(seeds, bool):
        found.append(f"give a number of seeds or a list of seeds, not {seeds!r}")
    elif isinstance(seeds, int):
        if seeds < 1:
            found.append(f"a grid needs at least 1 seed, not {seeds}")
        else:
            return random.SystemRandom().sample(range(MAX_SEED + 1), seeds)
    else:
        try:
            values = list(seeds)
        except TypeError:
            found.append(f"give a number of seeds or a list of seeds, not {type(seeds).__name__}")
        if not values and not found:
            found.append("the list of seeds is empty")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            found.append(f"{value!r} is not a whole number")
        elif not 0 <= value <= MAX_SEED:
            found.append(f"{value} is outside 0 … {MAX_SEED}")
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        found.append(
            f"{', '.join(map(str, repeated))} appear(s) more than once: the same seed gives the "
            "same video, and each cell is a purchase"
        )
    if found:
        problems["seeds"] = found
        return []
    return [int(v) for v in values]


def _prompts(
    prompt: str, prompts: Sequence[str] | None, problems: dict[str, list[str]]
) -> list[str]:
    if prompts is None:
        return [prompt]
    if isinstance(prompts, str):
        problems["prompts"] = ["give a list of prompts, not one string"]
        return []
    texts = list(prompts)
    if not texts:
        problems["prompts"] = ["the list of prompts is empty"]
    if prompt:
        problems.setdefault("prompts", []).append("give either prompt= or prompts=, not both")
    return texts


def _columns(columns: int | None, seeds: int, problems: dict[str, list[str]]) -> int:
    if columns is None:
        return max(1, seeds if seeds <= 3 else 2 if seeds == 4 else 3)
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        problems["columns"] = [f"must be a whole number of at least 1, not {columns!r}"]
        return 1
    return columns


def _merge(into: dict[str, list[str]], found: dict[str, list[str]], where: str = "") -> None:
    for name, messages in found.items():
        key = where or name
        prefix = f"{name}: " if where and name != "prompt" else ""
        into.setdefault(key, []).extend(prefix + m for m in messages)


def _row_label(prompt: str) -> Any:
    """A prompt as a row label: escaped, shortened, the full text in a tooltip."""
    shown = short_text(prompt, PROMPT_LABEL_CHARS) if prompt else "(no prompt)"
    return ipywidgets.HTML(
        f"<div title='{_html.esc(prompt)}' style='overflow-wrap:anywhere'>{_html.esc(shown)}</div>"
    )
