"""``Sequence``: shots chained from each clip's last frame, side by side, cut into one film.

    seq = Sequence(image="harbour.png", prompts=["a boat leaves", "it rounds the light",
                                                 "it sails into the dusk"], seed=7)
    seq                       # the shots and what they cost; nothing is bought until Generate
    seq.submit()              # the same as clicking Generate, from code
    gens = seq.wait()         # the generations, shot by shot
    seq.rerun(1)              # re-make shot 2 (later shots are marked stale)
    seq.rerun(1, cascade=True)  # ... and re-make the ones after it too
    seq.export("film.mp4", crossfade=0.5)

    Sequence.resume(seq.id)   # after a kernel restart: nothing is bought twice

The logic is ``ShotChain`` (``_shots``): a shot is bought only when the one
before it has its video, since its first frame is that video's last frame;
the plan and each shot's parent are in the history before anything is
bought. This class shows the chain with the grid's front end (each shot a
cell, played in step) and turns clicks into calls. Re-making a shot from a
click first says what it costs and waits for a confirming click, as a grid's
re-runs do.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import traitlets

from .._client import AsyncClient, Client
from .._errors import ValidationError
from .._jobs import Job, JobRunner, runner_for
from .._models import DEFAULT_MODEL, Generation
from .._shots import Shot, ShotChain
from .._store import StoredGeneration
from .._text import short_text, shown_path
from ._base import FrontWidget, static_html
from ._describe import SIMULATED_BANNER, cost_line, describe, frame_size, price_text

RERUN, CASCADE = "rerun", "cascade"
PRICING = "pricing…"


@dataclass
class Pending:
    """A re-make asked for by a click, waiting for the confirming one."""

    kind: str  # RERUN or CASCADE
    count: int  # shots it buys
    price: str = PRICING


class Sequence(FrontWidget):
    """Shots chained into a film: each starts from the previous shot's last frame.

    ``image`` is the first shot's first frame; ``prompts`` one text per shot.
    ``seed`` is one seed for every shot, one per shot, or ``None`` (random
    seeds, drawn now so they are known and kept). ``duration``, ``ratio`` and
    ``model`` apply to every shot. ``sharpest_of=N`` starts each shot from the
    sharpest of the previous clip's last N frames (motion blur on the very
    last frame softens a chain). ``client`` is a ``Client``, ``AsyncClient`` or
    ``JobRunner`` (its budget is respected: a run is priced as a whole before
    its first shot is bought); by default the process-wide runner (the
    simulator without ``AIMLAPI_KEY``). Invalid input is shown in the widget
    and nothing can be bought; ``submit()`` raises it.
    """

    header = traitlets.Dict().tag(sync=True)
    cell_views = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(
        self,
        image: Any = None,
        prompts: list[str] | tuple[str, ...] = (),
        *,
        seed: int | list[int] | None = None,
        duration: int = 5,
        ratio: str = "16:9",
        model: str = DEFAULT_MODEL,
        sharpest_of: int = 1,
        client: AsyncClient | Client | JobRunner | None = None,
        columns: int | None = None,
    ) -> None:
        super().__init__(kind="grid")
        runner = runner_for(client)
        chain: ShotChain | None = None
        problems: ValidationError | None = None
        try:
            chain = ShotChain(
                runner,
                image=image,
                prompts=prompts,
                seed=seed,
                duration=duration,
                ratio=ratio,
                model=model,
                sharpest_of=sharpest_of,
            )
        except ValidationError as exc:
            problems = exc
        self._setup(runner, chain, problems, columns)

    @classmethod
    def resume(
        cls,
        sequence: str | Generation | StoredGeneration,
        *,
        client: AsyncClient | Client | JobRunner | None = None,
        columns: int | None = None,
    ) -> Sequence:
        """Reopen a sequence from the history (by its id, or any of its shots from
        ``history()``), e.g. after a kernel restart: shots already bought are
        followed to their videos, the missing ones bought in order; nothing is
        bought twice. ``client`` must use the same history as the one that made it.
        """
        chain = ShotChain.resume(runner_for(client), sequence)
        widget = cls.__new__(cls)
        FrontWidget.__init__(widget, kind="grid")
        widget._setup(chain.runner, chain, None, columns)
        return widget

    def _setup(
        self,
        runner: JobRunner,
        chain: ShotChain | None,
        problems: ValidationError | None,
        columns: int | None,
    ) -> None:
        self.runner = runner
        self.chain = chain
        self.problems = problems
        self.columns = columns
        self._simulated = runner.simulated
        self._price = PRICING
        self._pending: dict[int, Pending] = {}
        self._unobserve = chain.add_observer(lambda _: self._refresh()) if chain else None
        self._actions.update(
            generate=lambda content, buffers: self.submit(),
            export=lambda content, buffers: self._export_clicked(),
            ask=lambda content, buffers: self._ask(self._index(content), str(content.get("kind"))),
            confirm=lambda content, buffers: self._confirm(self._index(content)),
            cancel=lambda content, buffers: self._cancel(self._index(content)),
            fetch=lambda content, buffers: self._fetch(self._index(content)),
        )
        self._refresh()
        if chain is not None:
            self._quote(len(chain.shots), self._priced)

    # -- buying ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The sequence's id: its shots carry it in the history (``tags["sequence"]``)."""
        return self._chain().id

    @property
    def shots(self) -> list[Shot]:
        """Each shot: its prompt, seed, status, job, video and earlier takes."""
        return self.chain.shots if self.chain is not None else []

    def submit(self) -> None:
        """Buy the shots in order (what Generate does), in the background; a second call
        buys nothing more. Raises the sequence's ``ValidationError`` when its input has
        problems (nothing is sent)."""
        self._chain().submit()
        self._refresh()

    def rerun(self, index: int, *, cascade: bool = False) -> None:
        """Re-make shot ``index`` (counted from 0; a new purchase) from the previous
        shot's last frame. Later shots are marked stale; ``cascade=True`` re-makes them
        too. ``wait()`` then waits for it."""
        with self._lock:
            self._pending.pop(index, None)
        self._chain().rerun(index, cascade=cascade)
        self._refresh()

    def wait(self, timeout: float | None = None) -> list[Generation]:
        """Block until the chain stops and its videos show; the generations, shot by shot.

        Raises what stopped it (a failed shot, the budget) and ``WaitTimeout`` when
        ``timeout`` seconds pass first (the shots go on).
        """
        started = time.monotonic()
        generations = self._chain().wait(timeout)
        self.settled_since(started, timeout)
        return generations

    async def wait_async(self, timeout: float | None = None) -> list[Generation]:
        """``wait()`` for async code."""
        started = time.monotonic()
        generations = await self._chain().wait_async(timeout)
        await self.settled_since_async(started, timeout)
        return generations

    @property
    def jobs(self) -> list[Job]:
        """The current take of every shot bought so far, in order."""
        return [shot.job for shot in self.shots if shot.job is not None]

    @property
    def generations(self) -> list[Generation | None]:
        """Each shot's generation (``None`` until it has one)."""
        return [shot.generation for shot in self.shots]

    def export(self, path: str | os.PathLike[str], *, crossfade: float = 0.0) -> Path:
        """Cut the shots into one MP4 at ``path`` and return its path.

        Stream copy when the shots share codec parameters; re-encoded only when
        they do not, or when ``crossfade`` (seconds) is asked.
        """
        film = self._chain().export(path, crossfade=crossfade)
        self.set_notice(f"Film saved to {shown_path(film)}")
        return film

    def _export_clicked(self) -> None:
        self.export(Path.cwd() / f"{self.id}.mp4")

    def _chain(self) -> ShotChain:
        if self.chain is None:
            assert self.problems is not None
            raise self.problems
        return self.chain

    # -- re-makes asked for by a click, confirmed by another -----------------------------

    def _ask(self, index: int, kind: str) -> None:
        if kind not in (RERUN, CASCADE):
            raise ValueError(f"unknown re-make {kind!r}")
        count = len(self.shots) - index if kind == CASCADE else 1
        pending = Pending(kind, count)
        with self._lock:
            self._pending[index] = pending
        self._refresh()

        def priced(price: float | None) -> None:
            pending.price = price_text(price, simulated=self._simulated)

        self._quote(count, priced)

    def _confirm(self, index: int) -> None:
        with self._lock:
            pending = self._pending.pop(index, None)
        if pending is not None:  # else a second click: nothing more to buy
            self.rerun(index, cascade=pending.kind == CASCADE)

    def _cancel(self, index: int) -> None:
        with self._lock:
            self._pending.pop(index, None)
        self._refresh()

    def _fetch(self, index: int) -> None:
        job = self.shots[index].job
        if job is None:
            raise RuntimeError(f"Shot {index + 1} was not bought yet: nothing to fetch.")
        self.runner.fetch_again(job)

    def _quote(self, count: int, done: Any) -> None:
        chain = self._chain()

        def priced(price: float | BaseException | None) -> None:
            done(None if isinstance(price, BaseException) else price)
            self._refresh()

        queries = [chain.base.price_query] * count
        self.runner.background(lambda: self.runner.quote_async(queries), priced)

    def _priced(self, price: float | None) -> None:
        self._price = price_text(price, simulated=self._simulated)

    def _index(self, content: dict[str, Any]) -> int:
        index = content.get("cell")
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not 0 <= index < len(self.shots)
        ):
            raise ValueError(f"no shot {index!r} in this sequence")
        return index

    # -- what the front end shows -----------------------------------------------------

    def _state(self) -> None:
        self.cell_views = [self._shot_view(shot) for shot in self.shots]
        self.header = self._header()

    def _shot_view(self, shot: Shot) -> dict[str, Any]:
        chain = self._chain()
        job = shot.job
        request = job.request if job is not None else None
        if request is None:
            request = chain.base.replace(prompt=shot.prompt, seed=shot.seed)
        shown_generation = next((take.generation for take in reversed(shot.takes) if take.ok), None)
        shown = self._shown(shown_generation)
        view = describe(job, request, shown, self._shelf, simulated=self._simulated)
        view["details"] = [["prompt", shot.prompt], *view["details"]]
        if shot.stale:
            view["message"] = [
                *view["message"],
                f"Made from an earlier take of shot {shot.index}: re-make from here "
                "to follow the new one.",
            ]
        label = f"{shot.index + 1}. {short_text(shot.prompt, 60)}"
        view.update(
            index=shot.index,
            row=0,
            col=shot.index,
            label=label + (" · stale" if shot.stale else ""),
            favorite=False,
            can_ten_s=False,
            can_last_frame=False,
            pending=self._pending_view(shot),
            buttons=self._buttons(shot),
        )
        return view

    def _buttons(self, shot: Shot) -> list[dict[str, Any]]:
        chain = self._chain()
        before = chain.shots[shot.index - 1] if shot.index else None
        ready = (
            chain.started
            and not chain.running
            and (shot.job is None or shot.job.done)
            and (before is None or before.done)
            and shot.index not in self._pending
        )
        if not ready:
            return []
        verb = "Make" if shot.job is None else "Re-make"
        source = f"shot {shot.index}'s last frame" if shot.index else "the first frame"
        buttons = [
            {
                "name": "ask",
                "label": verb,
                "title": f"{verb} this shot from {source} (shows the cost first)",
                "args": {"kind": RERUN},
            }
        ]
        if shot.index < len(chain.shots) - 1 and shot.job is not None:
            buttons.append(
                {
                    "name": "ask",
                    "label": "Re-make from here",
                    "title": "Re-make this shot and every one after it (shows the cost first)",
                    "args": {"kind": CASCADE},
                }
            )
        return buttons

    def _pending_view(self, shot: Shot) -> dict[str, Any] | None:
        pending = self._pending.get(shot.index)
        if pending is None:
            return None
        which = (
            f"shots {shot.index + 1}–{shot.index + pending.count}"
            if pending.count > 1
            else f"shot {shot.index + 1}"
        )
        purchase = "" if self._simulated else ", a new purchase"
        return {
            "kind": pending.kind,
            "text": f"Make {which} again: {pending.price}{purchase}.",
            "ready": True,
            "problem": None,
        }

    def _header(self) -> dict[str, Any]:
        chain = self.chain
        shots = self.shots
        bought = [take for shot in shots for take in shot.takes]
        problems = str(self.problems).splitlines() if self.problems else []
        if chain is not None and chain.problem is not None:
            problems.append(chain.problem.message)
        done = sum(shot.done for shot in shots)
        stale = sum(shot.stale for shot in shots)
        status, tone = "", "idle"
        if chain is not None and chain.started:
            status = f"{done} of {len(shots)} shots done" + (f" · {stale} stale" if stale else "")
            failed = any(s.job is not None and s.job.done and not s.job.ok for s in shots)
            tone = (
                "running"
                if chain.running
                else "failed"
                if failed or chain.problem
                else "warning"
                if stale
                else "done"
                if done == len(shots)
                else "idle"
            )
        can_export = bool(shots) and done == len(shots) and not (chain and chain.running)
        return {
            "title": self._title(),
            "cost": cost_line(len(shots), self._price, bought, simulated=self._simulated),
            "simulated": SIMULATED_BANNER if self._simulated else "",
            "can_generate": chain is not None and not chain.started,
            "generate_title": "Buy the shots in order, each from the last frame before it",
            "problems": problems,
            "model": chain.base.model if chain is not None else "",
            "ratio": list(frame_size(chain.base, None)) if chain is not None else None,
            "matrix": False,
            "columns": self.columns or max(1, min(len(shots), 3)),
            "seeds": [shot.seed for shot in shots],
            "rows": [],
            "status": status,
            "status_tone": tone,
            "can_retry": False,
            "buttons": [
                {
                    "name": "export",
                    "label": "Export film",
                    "title": f"Cut the shots into one MP4 ({self.id}.mp4 next to the notebook)",
                }
            ]
            if can_export
            else [],
        }

    def _title(self) -> str:
        count = len(self.shots)
        return f"Sequence: {count} shot{'s' if count != 1 else ''}" if count else "Sequence"

    def _static_html(self) -> str:
        stills = [
            (
                f"{shot.index + 1}. {shot.prompt}",
                self.posters.get(shot.generation.id or "") if shot.generation else None,
            )
            for shot in self.shots
        ]
        return static_html(
            self._title(),
            stills,
            "A gen3widgets sequence: it plays where Jupyter widgets run with the kernel. "
            "seq.export('film.mp4') cuts the film.",
        )

    # -- playing ---------------------------------------------------------------------

    def play_all(self) -> None:
        """Play every shot from the same moment, in every view of the sequence."""
        self.send_command("play")

    def pause_all(self) -> None:
        self.send_command("pause")

    def restart_all(self) -> None:
        self.send_command("restart")

    def close(self) -> None:
        """Stop following the shots and close the widget."""
        unobserve = getattr(self, "_unobserve", None)
        if unobserve is not None:
            unobserve()
            self._unobserve = None
        super().close()

    def __repr__(self) -> str:
        if self.chain is None:
            return "Sequence(invalid)"
        done = sum(shot.done for shot in self.shots)
        return f"Sequence({self.id}, {len(self.shots)} shots, {done} done)"
