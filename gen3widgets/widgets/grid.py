"""``SeedGrid``: one image, one prompt (or several) and several seeds, bought at once, side by side.

    grid = SeedGrid("a slow dolly shot", "cat.png", seeds=6)        # 6 random seeds
    grid = SeedGrid(image="cat.png", prompts=["dusk", "dawn"], seeds=[1, 2, 3])
    grid = SeedGrid("a boat", "cat.png", seeds=2, models=["gen3a_turbo", "runway/gen4_turbo"])
    grid                      # shows the cost; nothing is bought until Generate
    grid.submit()             # the same as clicking Generate, from code
    gens = grid.wait()        # generations in grid order (row-major: prompt, then seed)
    grid.save("out/")         # MP4s + index.html + stills.png; returns index.html's path
    grid.show_stills()        # a static PNG that survives in a saved notebook / on GitHub

The plan (every request, validated, and the cost) comes from ``_plans``; any
problem is shown in the grid and nothing can be bought. All jobs go to the
``JobRunner`` at once (it bounds concurrent creates and retries 429s), so the
grid takes about as long as its slowest job. Cells fill in as their jobs
finish, in any order, without running another notebook cell.

The grid is one anywidget (so marimo shows it too): this class wires jobs to
the front end's state and turns clicks into calls; the JavaScript draws every
cell with the shared video component. Cells show a poster at once and play a
small preview; full resolution loads on demand (expand, A/B wipe). The
toolbar plays, pauses, seeks, scrubs and steps every cell together, loops,
and wipes between two chosen cells.

Per cell: a star marks a favourite (``grid.favorites``); "10 s" and "+ last
frame" re-run that cell (each a new purchase: the cell first says what it
costs and waits for a confirming click; the previous video stays until the new
one is there); "Fetch again" follows a bought video that did not arrive
(free). "Retry failed" re-buys only cells that were not bought or that the
server reports failed, and fetches again (free) those bought but not here. A
cell whose submission state is unknown is never re-bought by the grid: check
the history, then ``grid.rerun(i)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets

from .._client import AsyncClient, Client
from .._errors import Gen3Error, NotReadyError, ValidationError
from .._images import prepare_image
from .._jobs import (
    FOLLOW_AGAIN_STATES,
    REBUY_STATES,
    Job,
    JobRunner,
    JobState,
    runner_for,
    wait_all,
    wait_all_async,
)
from .._models import DEFAULT_MODEL, Generation, GenerationRequest
from .._plans import PlannedCell, plan_grid
from .._text import short_text
from ._base import FrontWidget, static_html
from ._contact_sheet import SheetCell, save_contact_sheet, still_strip
from ._describe import (
    SIMULATED_BANNER,
    cost_line,
    describe,
    frame_size,
    price_text,
    seconds,
)

if TYPE_CHECKING:
    from IPython.display import Image

TEN_S, LAST_FRAME = "ten_s", "last_frame"
PRICING = "pricing…"  # what a price says while the API's catalogue is asked


@dataclass
class Pending:
    """A re-run the user asked for, waiting for a confirming click."""

    kind: str  # TEN_S or LAST_FRAME
    request: GenerationRequest | None = None  # None: the last frame is not chosen yet
    last_image: Any = None
    problem: str | None = None
    price: str = PRICING  # what it costs, as the cell says it


class GridCell:
    """One cell: its place in the grid, its request, its job and the video it shows."""

    def __init__(self, planned: PlannedCell) -> None:
        self.index, self.row, self.col = planned.index, planned.row, planned.col
        self.prompt, self.seed = planned.prompt, planned.seed
        self.request = planned.request
        self.job: Job | None = None
        self.unobserve: Callable[[], None] | None = None
        self.favorite = False
        self.shown: Generation | None = None  # the last finished video, kept during a re-run
        self.pending: Pending | None = None
        self.extras: list[str] = []  # what a re-run changed: "10 s", "new last frame"

    @property
    def generation(self) -> Generation | None:
        return self.job.generation if self.job is not None else None

    @property
    def label(self) -> str:
        return " · ".join([f"seed {self.seed}", *self.extras])

    def __repr__(self) -> str:
        state = self.job.state.value if self.job else "not submitted"
        return f"GridCell(index={self.index}, row={self.row}, col={self.col}, seed={self.seed}, {state})"


class SeedGrid(FrontWidget):
    """The same image and prompt(s) across several seeds, compared side by side.

    ``seeds`` is a count (that many distinct random seeds) or a list of seeds.
    ``prompts=[...]`` makes a prompts × seeds matrix (rows: prompts, columns:
    seeds); ``prompt`` is then left empty. ``models=[...]`` makes the models an
    axis too (rows: each prompt on each model, labelled by model), so the same
    shot on gen3a_turbo and on runway/gen4_turbo plays side by side, in step.
    ``last_image``, ``model`` and every other field are part of every cell's request.
    ``columns`` sets how many cells a plain grid shows per row (a matrix has
    one column per seed). ``client`` is a ``Client``, ``AsyncClient`` or
    ``JobRunner``; by default the process-wide runner (the simulator without
    ``AIMLAPI_KEY``).
    """

    header = traitlets.Dict().tag(sync=True)
    cell_views = traitlets.List(traitlets.Dict()).tag(sync=True)

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
        models: Sequence[str] | None = None,
        client: AsyncClient | Client | JobRunner | None = None,
        columns: int | None = None,
    ) -> None:
        super().__init__(kind="grid")
        self._client = client
        self._runner: JobRunner | None = None
        self._submitted = False
        self._bought: list[Job] = []  # every job this grid started, re-runs included
        plan = plan_grid(
            prompt,
            image,
            seeds,
            last_image=last_image,
            duration=duration,
            ratio=ratio,
            model=model,
            prompts=prompts,
            models=models,
            columns=columns,
        )
        self.plan = plan
        self.model = model
        self.models = plan.models
        self.prompts, self.seeds, self.columns = plan.prompts, plan.seeds, plan.columns
        self.duration, self.ratio, self.is_matrix = duration, ratio, plan.matrix
        self.last_image = plan.last_image
        self.problems: ValidationError | None = (
            ValidationError(plan.problems) if plan.problems else None
        )
        self.cells: list[GridCell] = [GridCell(planned) for planned in plan.cells]
        self._price = PRICING if self.cells else ""  # of buying every cell once
        self._simulated = self._is_simulated()
        self._actions.update(
            generate=lambda content, buffers: self.submit(),
            retry=lambda content, buffers: self.retry_failed(),
            star=lambda content, buffers: self.set_favorite(
                self._index(content), bool(content.get("value"))
            ),
            ask=lambda content, buffers: self._ask(self._index(content), str(content.get("kind"))),
            image=self._choose_last_frame,
            confirm=lambda content, buffers: self._confirm(self._index(content)),
            cancel=lambda content, buffers: self._cancel(self._index(content)),
            fetch=lambda content, buffers: self.fetch_again(self._index(content)),
        )
        self._refresh()
        if self.cells and self._runner is not None:
            self._quote(self.plan.requests, self._priced)

    # -- buying ----------------------------------------------------------------------

    @property
    def runner(self) -> JobRunner:
        """The runner that buys and follows this grid's jobs (made on first use)."""
        if self._runner is None:
            self._runner = runner_for(self._client)
        return self._runner

    def _is_simulated(self) -> bool:
        try:
            return self.runner.simulated
        except Exception as exc:  # shown now; submit() tries again and raises it
            self.set_notice(exc.message if isinstance(exc, Gen3Error) else str(exc), tone="failed")
            return False

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
        self._refresh()  # Generate is off from now on: a double click never buys twice
        try:
            runner = self.runner
        except BaseException:
            with self._lock:  # nothing was sent: let the user try again
                self._submitted = False
            self._refresh()
            raise
        # All at once, priced and checked against the budget before anything is bought.
        labels = [self._job_label(cell) for cell in self.cells]
        jobs = runner.submit_many(self.plan.requests, labels=labels)
        for cell, job in zip(self.cells, jobs, strict=True):
            self._follow(cell, job)
        self._refresh()
        return self.jobs

    def rerun(
        self, index: int | tuple[int, int], *, duration: int | None = None, last_image: Any = None
    ) -> Job:
        """Buy cell ``index`` again (grid order, or ``(row, col)``), optionally changed.

        ``duration=10`` makes it a 10 s clip; ``last_image`` ends it on that frame.
        The cell keeps showing its video until the new one is there. Invalid
        changes raise ``ValidationError`` (nothing is bought).
        """
        cell = self.cell(index)
        request = self._rerun_request(cell, duration, last_image)
        with self._lock:
            cell.request = request
            cell.pending = None
            cell.extras = [seconds(request.duration)] if request.duration != self.duration else []
            if request.last_image != (self.last_image.value if self.last_image else None):
                cell.extras.append("new last frame")
            job = self.runner.submit(request, label=self._job_label(cell))
            self._follow(cell, job)
        self._refresh()
        return job

    def _rerun_request(
        self, cell: GridCell, duration: int | None, last_image: Any
    ) -> GenerationRequest:
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
        return cell.request.replace(**changes) if changes else cell.request

    def retry_failed(self) -> list[Job]:
        """Buy again only cells not bought or reported failed; fetch again (free) the
        ones bought whose video is not here, or whose wait gave up.

        Cells whose submission state is unknown are left alone (they may have
        been bought): check the history, then ``rerun(i)`` if needed.
        """
        with self._lock:
            done = [c for c in self.cells if c.job is not None]
            again = [c for c in done if c.job is not None and c.job.state in REBUY_STATES]
            fetch = [c for c in done if c.job is not None and c.job.state in FOLLOW_AGAIN_STATES]
            jobs = [self.fetch_again(cell.index) for cell in fetch]
            if again:
                labels = [self._job_label(cell) for cell in again]
                bought = self.runner.submit_many([c.request for c in again], labels=labels)
                for cell, job in zip(again, bought, strict=True):
                    self._follow(cell, job)
                jobs += bought
        self._refresh()
        return jobs

    def fetch_again(self, index: int | tuple[int, int]) -> Job:
        """Follow cell ``index``'s bought video again, when it did not arrive (free)."""
        cell = self.cell(index)
        if cell.job is None:
            raise RuntimeError(f"Cell {cell.index} (seed {cell.seed}) was not generated yet.")
        return self.runner.fetch_again(cell.job)  # the same job goes on: nothing is bought

    def _follow(self, cell: GridCell, job: Job) -> None:
        with self._lock:
            if cell.unobserve is not None:
                cell.unobserve()
            cell.job = job
            self._bought.append(job)
            cell.unobserve = job.add_observer(self._on_job)

    def _quote(
        self, requests: list[GenerationRequest], done: Callable[[float | None], None]
    ) -> None:
        """Ask the API's catalogue what ``requests`` cost, in the background; then ``done``."""

        def priced(price: float | BaseException | None) -> None:
            done(None if isinstance(price, BaseException) else price)
            self._refresh()

        self.runner.background(lambda: self.runner.quote_async(requests), priced)

    def _priced(self, price: float | None) -> None:
        self._price = price_text(price, simulated=self._simulated)

    def _job_label(self, cell: GridCell) -> str:
        prompt = short_text(cell.prompt, 40) if len(self.prompts) > 1 else ""
        model = cell.request.model if self.models else ""
        return " · ".join(filter(None, [cell.label, model, prompt]))

    # -- re-runs asked for by a click, confirmed by another ------------------------------

    def _ask(self, index: int, kind: str) -> None:
        cell = self.cell(index)
        if kind not in (TEN_S, LAST_FRAME):
            raise ValueError(f"unknown re-run {kind!r}")
        request = self._rerun_request(cell, 10, None) if kind == TEN_S else None
        pending = Pending(kind, request)
        with self._lock:
            cell.pending = pending
        self._refresh()
        if request is not None:
            self._price_pending(pending, request)

    def _price_pending(self, pending: Pending, request: GenerationRequest) -> None:
        def done(price: float | None) -> None:
            pending.price = price_text(price, simulated=self._simulated)

        self._quote([request], done)

    def _choose_last_frame(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """The last frame for a pending re-run: an uploaded file, or a URL typed in."""
        cell = self.cell(self._index(content))
        pending = cell.pending
        if pending is None or pending.kind != LAST_FRAME:
            return
        source: Any = buffers[0] if buffers else str(content.get("url") or "").strip()
        prepared, errors = prepare_image(source) if source else (None, ["choose an image"])
        with self._lock:
            if errors or prepared is None:
                pending.request, pending.problem = None, "; ".join(errors)
            else:
                try:
                    pending.request = self._rerun_request(cell, None, prepared)
                    pending.last_image, pending.problem = prepared, None
                except ValidationError as exc:
                    pending.request = None
                    pending.problem = "; ".join(m for ms in exc.problems.values() for m in ms)
        self._refresh()
        if pending.request is not None:
            self._price_pending(pending, pending.request)

    def _confirm(self, index: int) -> None:
        cell = self.cell(index)
        with self._lock:
            pending = cell.pending
            if pending is None or pending.request is None:
                return  # a second click, or nothing chosen yet: nothing to buy
            cell.pending = None
        if pending.kind == TEN_S:
            self.rerun(index, duration=10)
        else:
            self.rerun(index, last_image=pending.last_image)

    def _cancel(self, index: int) -> None:
        with self._lock:
            self.cell(index).pending = None
        self._refresh()

    def _pending_view(self, cell: GridCell) -> dict[str, Any] | None:
        pending = cell.pending
        if pending is None:
            return None
        if pending.request is None:
            text = f"Choose the last frame for seed {cell.seed}: an image file, or an https URL."
        else:
            what = "as a 10 s clip" if pending.kind == TEN_S else "ending on the chosen frame"
            purchase = "" if self._simulated else ", a new purchase"
            text = f"Re-run seed {cell.seed} {what}: {pending.price}{purchase}."
        return {
            "kind": pending.kind,
            "text": text,
            "ready": pending.request is not None,
            "problem": pending.problem,
        }

    # -- following -------------------------------------------------------------------

    def _state(self) -> None:
        self.cell_views = [self._cell_view(cell) for cell in self.cells]
        self.header = self._header()

    def _cell_view(self, cell: GridCell) -> dict[str, Any]:
        job = cell.job
        if job is not None and job.ok and job.generation is not None:
            cell.shown = job.generation
        shown = self._shown(cell.shown)
        view = describe(job, cell.request, shown, self._shelf, simulated=self._simulated)
        finished = job is not None and job.done
        view.update(
            index=cell.index,
            row=cell.row,
            col=cell.col,
            label=cell.label,
            favorite=cell.favorite,
            can_ten_s=finished and cell.request.duration != 10 and cell.pending is None,
            can_last_frame=finished and cell.pending is None,
            pending=self._pending_view(cell),
        )
        return view

    def _header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "title": self._title(),
            "cost": self._cost_line(),
            "simulated": SIMULATED_BANNER if self._simulated else "",
            "can_generate": self.problems is None and not self._submitted,
            "problems": str(self.problems).splitlines() if self.problems else [],
            "model": self.model,
            "ratio": list(frame_size(self.cells[0].request, None)) if self.cells else None,
            "matrix": self.is_matrix,
            "columns": self.columns if not self.is_matrix else len(self.seeds),
            "seeds": self.seeds,
            "rows": self.plan.row_labels if self.is_matrix else [],
        }
        header.update(self._status())
        return header

    def _cost_line(self) -> str:
        """What buying the grid costs before Generate; what it cost (so far) after."""
        return cost_line(len(self.cells), self._price, self._bought, simulated=self._simulated)

    def _status(self) -> dict[str, Any]:
        jobs = self.jobs
        if not jobs:
            return {"status": "", "status_tone": "idle", "can_retry": False}
        done = [job for job in jobs if job.done]
        failed = sum(job.state in REBUY_STATES for job in done)
        missing = sum(job.state in FOLLOW_AGAIN_STATES for job in done)
        uncertain = sum(job.state is JobState.UNCERTAIN for job in done)
        parts = [f"{len(done)} of {len(self.cells)} done"]
        if failed:
            parts.append(f"{failed} failed")
        if missing:
            parts.append(f"{missing} bought, video not fetched")
        if uncertain:
            parts.append(f"{uncertain} maybe bought (see the history; rerun(i))")
        trouble = failed or missing or uncertain
        tone = "failed" if trouble else "done" if len(done) == len(jobs) else "running"
        return {
            "status": " · ".join(parts),
            "status_tone": tone,
            "can_retry": bool(failed or missing),
        }

    def _index(self, content: dict[str, Any]) -> int:
        index = content.get("cell")
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not 0 <= index < len(self.cells)
        ):
            raise ValueError(f"no cell {index!r} in this grid")
        return index

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
        with self._lock:
            self.cell(index).favorite = bool(value)
        self._refresh()

    def cell(self, index: int | tuple[int, int]) -> GridCell:
        """A cell by grid-order index or by ``(row, col)``."""
        if isinstance(index, tuple):
            index = self.plan.index_of(*index)
        return self.cells[index]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the prompts × seeds matrix: (1, seeds) for a plain grid."""
        return self.plan.shape

    def wait(self, timeout: float | None = None) -> list[Generation]:
        """Block until every cell is done (and shown); return the generations in grid order.

        Row-major: prompt order, then seed order. A cell that failed on the
        server is there as its ``Generation`` with status ``error``. If a cell
        has no generation at all (the create was refused, or its state is
        unknown), the first such error is raised once every job has finished;
        the other cells are still in ``grid.generations``. ``WaitTimeout`` when
        ``timeout`` seconds pass first (the jobs go on).
        """
        started = time.monotonic()
        wait_all(self._jobs_to_wait(), timeout)
        self.settled_since(started, timeout)
        return self._results()

    async def wait_async(self, timeout: float | None = None) -> list[Generation]:
        """``wait()`` for async code."""
        started = time.monotonic()
        await wait_all_async(self._jobs_to_wait(), timeout)
        await self.settled_since_async(started, timeout)
        return self._results()

    def _jobs_to_wait(self) -> list[Job]:
        if not self._submitted:
            raise NotReadyError("Nothing to wait for: click Generate or call grid.submit() first.")
        return self.jobs

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
        """Play every video of the grid from the same moment, in every view of it."""
        self.send_command("play")

    def pause_all(self) -> None:
        self.send_command("pause")

    def restart_all(self) -> None:
        self.send_command("restart")

    def save(self, directory: str | Path) -> Path:
        """Write the videos, ``index.html`` and ``stills.png`` into ``directory``.

        Videos are named ``r<row>_c<col>_seed<seed>.mp4``; ``index.html`` plays
        them offline (Play all / Pause all / Restart all in plain JavaScript).
        A clip whose frames cannot be decoded is left out of the still strip
        (and the grid says so); ``index.html`` is written in any case. Cells
        still running are saved as "still running". Returns the path of
        ``index.html``.
        """
        cells = self._sheet_cells()
        saved = save_contact_sheet(
            directory,
            cells,
            title=self._title(),
            columns=self.columns,
            seed_headers=self.seeds if self.is_matrix else None,
            row_labels=self.plan.row_labels if self.is_matrix else None,
        )
        message = f"Saved to {saved.index}"
        if saved.skipped:
            message += f" ({saved.skipped_text()})"
        self.set_notice(message)
        return saved.index

    def show_stills(self) -> Image:
        """The first, middle and last frame of each cell as one PNG, to display in a notebook.

        Unlike widgets, an image output is kept in the saved notebook, so it
        shows on GitHub and nbviewer: end a cell with ``grid.show_stills()``.
        A clip that cannot be decoded shows as grey boxes, and the grid says which.
        """
        from IPython.display import Image

        strip = still_strip(self._sheet_cells())
        if strip.skipped:
            self.set_notice(strip.skipped_text(), tone="warning")
        return Image(data=strip.png, format="png")  # type: ignore[no-untyped-call]

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
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''}"
        axes = []
        if len(self.prompts) > 1 or (self.is_matrix and not self.models):
            axes.append(f"{len(self.prompts)} prompts")
        if self.models:
            axes.append(f"{len(self.models)} models")
        if axes:
            return f"Seed grid: {' × '.join([*axes, seeds])}"
        prompt = self.prompts[0] if self.prompts else ""
        return f"Seed grid: {short_text(prompt, 80)}" if prompt else "Seed grid"

    def _static_html(self) -> str:
        stills = [
            (
                f"{cell.label}: {self.plan.row_labels[cell.row]}" if self.is_matrix else cell.label,
                self.posters.get(cell.shown.id or "") if cell.shown is not None else None,
            )
            for cell in self.cells
        ]
        return static_html(
            self._title(),
            stills,
            "A gen3widgets seed grid: it plays where Jupyter widgets run with the kernel. "
            "grid.show_stills() keeps a still strip in the notebook.",
        )

    def close(self) -> None:
        """Stop following the jobs and close the widget."""
        for cell in getattr(
            self, "cells", ()
        ):  # __del__ calls close() even after a failed __init__
            if cell.unobserve is not None:
                cell.unobserve()
                cell.unobserve = None
        super().close()

    def __repr__(self) -> str:
        rows, cols = self.shape
        state = "invalid" if self.problems else f"{len(self.jobs)} of {len(self.cells)} submitted"
        return f"SeedGrid({rows}×{cols}, {state})"
