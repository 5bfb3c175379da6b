"""Shots chained into a sequence: each shot starts from the previous shot's last frame.

``ShotChain`` is a sequence without its widget: it plans the shots, buys
them one after another on a ``JobRunner`` (a shot is bought only once the
one before it has its video, since its first frame is that video's last
frame), re-makes one shot on request (later shots become stale, or are
re-made too with ``cascade``), and cuts the shots into one film.

Nothing is bought twice across kernels: before the first purchase the plan
(first frame, prompts, seeds, settings) is written to the history, and each
shot's purchase carries the tags ``sequence``, ``shot`` and ``parent`` (the
generation it started from), written before it is sent. ``resume`` rebuilds
the chain from those rows, follows what was bought and buys only what is
missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import BudgetExceededError, Gen3Error, NotReadyError, ValidationError, WaitTimeout
from ._film import cut
from ._frames import last_frame
from ._jobs import Job, JobRunner, wait_all, wait_all_async
from ._loop import run_nested
from ._models import (
    Generation,
    GenerationRequest,
    PriceQuery,
    check_prompt,
    check_seed,
    random_seeds,
)
from ._store import StoredGeneration

log = logging.getLogger("gen3widgets")

TAG_SEQUENCE, TAG_SHOT, TAG_PARENT = "sequence", "shot", "parent"


@dataclass
class Shot:
    """One shot: its prompt and seed, the job that made its current take, and earlier takes."""

    index: int
    prompt: str
    seed: int
    job: Job | None = None
    takes: list[Job] = field(default_factory=list)
    stale: bool = False  # made from an earlier take of the shot before it

    @property
    def generation(self) -> Generation | None:
        return self.job.generation if self.job is not None else None

    @property
    def done(self) -> bool:
        return self.job is not None and self.job.ok

    @property
    def video(self) -> Path | None:
        generation = self.generation
        return generation.local_path if generation is not None and self.done else None

    @property
    def status(self) -> str:
        if self.job is None:
            return "not started"
        label = self.job.state.label
        return f"{label} (stale)" if self.stale else label

    def __repr__(self) -> str:
        return f"<Shot {self.index + 1}: seed {self.seed}, {self.status}, {self.prompt[:40]!r}>"


def _seeds(seed: int | Sequence[int] | None, count: int) -> tuple[list[int], list[str]]:
    """One seed per shot: the same for all, one each, or random (drawn now, so it is known)."""
    if seed is None:
        return random_seeds(count), []
    if isinstance(seed, int):
        return ([seed] * count, []) if not check_seed(seed) else ([], check_seed(seed))
    values: list[Any] = list(seed) if not isinstance(seed, (str, bytes)) else [seed]
    problems = [f"a seed {p}" for value in values for p in check_seed(value, optional=False)]
    if len(values) != count:
        problems.append(f"give one seed per prompt ({count}), not {len(values)}")
    return [int(v) for v in values] if not problems else [], problems


class ShotChain:
    """A sequence of shots on a runner (the logic of ``gen3widgets.Sequence``)."""

    def __init__(
        self,
        runner: JobRunner,
        *,
        image: Any,
        prompts: Sequence[str],
        seed: int | Sequence[int] | None = None,
        duration: int = 5,
        ratio: str = "16:9",
        model: str = "gen3a_turbo",
        sharpest_of: int = 1,
        sequence_id: str | None = None,
    ) -> None:
        problems: dict[str, list[str]] = {}
        texts = list(prompts) if not isinstance(prompts, str) else []
        if not texts:
            problems["prompts"] = ["give a list of prompts, one per shot"]
        seeds, seed_problems = _seeds(seed, max(len(texts), 1))
        if seed_problems:
            problems["seed"] = seed_problems
        if isinstance(sharpest_of, bool) or not isinstance(sharpest_of, int) or sharpest_of < 1:
            problems["sharpest_of"] = [
                f"must be a whole number of frames, 1 or more, not {sharpest_of!r}"
            ]
        base: GenerationRequest | None = None
        try:
            base = GenerationRequest(
                prompt=texts[0] if texts else "",
                image=image,
                duration=duration,
                ratio=ratio,
                model=model,
            )
        except ValidationError as exc:
            for name, found in exc.problems.items():
                problems.setdefault(name, []).extend(found)
        for i, text in enumerate(texts[1:], 1):
            if found := check_prompt(text):
                problems[f"prompts[{i}]"] = found
        if problems:
            raise ValidationError(problems)
        assert base is not None
        self.runner = runner
        self.id = sequence_id or "seq-" + secrets.token_hex(6)
        self.base = base
        self.sharpest_of = sharpest_of
        self.shots = [Shot(i, text, seeds[i]) for i, text in enumerate(texts)]
        self._lock = threading.Lock()
        self._task_done = threading.Event()
        self._task_done.set()
        self._observers: list[Callable[[ShotChain], None]] = []
        self._started = False
        self.problem: Gen3Error | None = None  # why the chain stopped before a shot was bought

    # -- observing ---------------------------------------------------------------------

    def add_observer(self, observer: Callable[[ShotChain], None]) -> Callable[[], None]:
        """Call ``observer(chain)`` whenever a shot changes; returns what stops it."""
        self._observers.append(observer)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._observers.remove(observer)

        return remove

    def _changed(self, *_: Any) -> None:
        for observer in list(self._observers):
            try:
                observer(self)
            except Exception:
                log.exception("A sequence observer failed")

    @property
    def started(self) -> bool:
        """Whether shots were bought (or asked for): ``submit()``, ``rerun()`` or ``resume()``."""
        return self._started

    @property
    def running(self) -> bool:
        return not self._task_done.is_set()

    def price(self) -> PriceQuery:
        return self.base.price_query

    # -- buying ------------------------------------------------------------------------

    def submit(self) -> None:
        """Buy the shots in order, each from the previous shot's last frame (in the background).

        The plan is written to the history first; a second call buys nothing more.
        """
        with self._lock:
            if self._started:
                return
            self._started = True
        store = self.runner.client.history
        if store is not None:
            store.save_sequence(self.id, self._plan())
        self._start(0, cascade=True)

    def rerun(self, index: int, *, cascade: bool = False) -> Job | None:
        """Re-make shot ``index`` (a new purchase) from the previous shot's last frame.

        Later shots are marked stale; ``cascade=True`` re-makes them too, in order.
        Returns the new job once it exists (after a moment in the background:
        see ``shots[index].job``).
        """
        if not 0 <= index < len(self.shots):
            raise IndexError(f"no shot {index}: the sequence has {len(self.shots)}")
        if self.running:
            raise NotReadyError("The sequence is still buying shots: wait() for it first.")
        if index > 0 and not self.shots[index - 1].done:
            raise NotReadyError(
                f"Shot {index} (the one before) has no video yet, and shot {index + 1} starts "
                "from its last frame."
            )
        for later in self.shots[index + 1 :]:
            if later.job is not None:
                later.stale = True
        self._started = True
        self._start(index, cascade=cascade)
        return None

    def _start(self, first: int, *, cascade: bool) -> None:
        self._task_done.clear()

        async def chain() -> None:
            try:
                await self._chain(first, cascade=cascade)
            finally:
                self._task_done.set()
                self._changed()

        self.runner._schedule(chain)

    async def _chain(self, first: int, *, cascade: bool) -> None:
        self.problem = None
        count = len(self.shots) - first if cascade else 1
        try:  # the whole run is priced against the budget before its first shot is bought
            client = self.runner.client
            if client.budget_usd is not None:
                price = await self.runner.quote_async([self.base.price_query] * count)
                client.check_budget(price, f"{count} shot{'s' if count != 1 else ''}")
        except BudgetExceededError as exc:
            self.problem = exc
            return
        for shot in self.shots[first:]:
            if shot.index > first and not cascade and shot.job is not None:
                break
            job = await self._buy(shot)
            if job is None:
                break
            with contextlib.suppress(Exception):
                await job.wait_async()  # its outcome is on the job
            if not job.ok:
                break  # the next shot has no first frame: it waits

    async def _buy(self, shot: Shot) -> Job | None:
        previous = self.shots[shot.index - 1] if shot.index else None
        frame: Any = self.base.image_info
        if previous is not None:
            if previous.video is None:
                return None
            try:
                frame = await asyncio.to_thread(
                    last_frame, previous.video, sharpest_of=self.sharpest_of
                )
            except Exception as exc:  # an unreadable clip: say so, buy nothing
                self.problem = Gen3Error(
                    f"Shot {shot.index + 1} was not bought: the last frame of shot "
                    f"{shot.index} could not be read ({exc}). Re-make shot {shot.index} "
                    f"(rerun({shot.index - 1}))."
                )
                return None
        try:
            request = self.base.replace(prompt=shot.prompt, seed=shot.seed, image=frame)
        except ValidationError as exc:  # e.g. a frame the API would refuse: nothing is sent
            self.problem = ValidationError(
                {f"shot {shot.index + 1}": [m for ms in exc.problems.values() for m in ms]}
            )
            return None
        parent = previous.generation.id if previous and previous.generation else None
        tags = {TAG_SEQUENCE: self.id, TAG_SHOT: str(shot.index), TAG_PARENT: parent or ""}
        job = self.runner.submit(request, label=f"shot {shot.index + 1}", tags=tags)
        self._take(shot, job)
        return job

    def _take(self, shot: Shot, job: Job) -> None:
        shot.job, shot.stale = job, False
        shot.takes.append(job)
        job.add_observer(self._changed)
        self._changed()

    # -- results -----------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> list[Generation]:
        """Block until the chain stops (every shot made, or one failed); the generations.

        In a notebook cell the kernel's loop (where the shots are bought) keeps turning.
        """
        if not self._started:
            raise NotReadyError("Nothing to wait for: submit() the sequence first.")
        loop = self.runner.loop
        if loop is not None and loop.is_running() and self.runner.on_loop_thread():
            return run_nested(loop, self.wait_async(timeout))
        if not self._task_done.wait(timeout):
            raise WaitTimeout(f"The sequence was still buying shots after {timeout:g} s.")
        wait_all([s.job for s in self.shots if s.job is not None], timeout)
        return self._results()

    async def wait_async(self, timeout: float | None = None) -> list[Generation]:
        """``wait()`` for async code."""
        if not self._started:
            raise NotReadyError("Nothing to wait for: submit() the sequence first.")
        done = await asyncio.to_thread(self._task_done.wait, timeout)
        if not done:
            raise WaitTimeout(f"The sequence was still buying shots after {timeout:g} s.")
        await wait_all_async([s.job for s in self.shots if s.job is not None], timeout)
        return self._results()

    def _results(self) -> list[Generation]:
        if self.problem is not None:
            raise self.problem
        for shot in self.shots:
            job = shot.job
            if job is None:
                raise NotReadyError(
                    f"Shot {shot.index + 1} was not made: the shot before it has no video."
                )
            if not job.ok:
                raise job.exception or Gen3Error(job.message or f"Shot {shot.index + 1} failed.")
        return [s.generation for s in self.shots if s.generation is not None]

    def export(self, path: str | os.PathLike[str], *, crossfade: float = 0.0) -> Path:
        """Cut the shots into one MP4 at ``path`` (see ``gen3widgets._film.cut``); its path."""
        missing = [s.index + 1 for s in self.shots if s.video is None]
        if missing:
            raise NotReadyError(
                f"Shot(s) {', '.join(map(str, missing))} have no video yet: wait() first."
            )
        stale = [s.index + 1 for s in self.shots if s.stale]
        if stale:
            warnings.warn(
                f"Shot(s) {', '.join(map(str, stale))} start from an earlier take of the shot "
                "before them (rerun(..., cascade=True) re-makes them).",
                RuntimeWarning,
                stacklevel=2,
            )
        clips = [s.video for s in self.shots if s.video is not None]
        return cut(clips, path, crossfade=crossfade)

    # -- persistence -------------------------------------------------------------------

    def _plan(self) -> dict[str, Any]:
        return {
            "request": self.base,
            "prompts": [s.prompt for s in self.shots],
            "seeds": [s.seed for s in self.shots],
            "sharpest_of": self.sharpest_of,
        }

    @classmethod
    def resume(cls, runner: JobRunner, sequence: str | Generation | StoredGeneration) -> ShotChain:
        """The sequence as the history knows it, going on where it stopped.

        ``sequence`` is its id, or any of its shots as ``history()`` lists them.
        Shots already bought are followed (nothing is bought twice); the first
        shot without a video and those after it are bought in order. A shot
        made from an earlier take of the one before it is marked stale again.
        """
        sequence_id = _sequence_id(sequence)
        store = runner.client.history
        plan = store.load_sequence(sequence_id) if store is not None else None
        if plan is None or store is None:
            raise NotReadyError(
                f"No sequence {sequence_id!r} in the history of this client ({store})."
            )
        request: GenerationRequest = plan["request"]
        chain = cls(
            runner,
            image=request.image_info,
            prompts=plan["prompts"],
            seed=plan["seeds"],
            duration=request.duration,
            ratio=request.ratio,
            model=request.model,
            sharpest_of=int(plan.get("sharpest_of", 1)),
            sequence_id=sequence_id,
        )
        chain._started = True
        rows = store.tagged(**{TAG_SEQUENCE: sequence_id})
        for shot in chain.shots:
            takes = [
                r.generation for r in rows if r.generation.tags.get(TAG_SHOT) == str(shot.index)
            ]
            if not takes:
                continue
            latest = takes[-1]
            if latest.id is None:
                raise NotReadyError(
                    f"Shot {shot.index + 1}'s purchase is uncertain (its answer was lost): "
                    "run gen3widgets.Client().reconcile() (or `gen3widgets reconcile`), then "
                    "resume again. Nothing was bought twice."
                )
            chain._take(shot, runner.resume(latest, label=f"shot {shot.index + 1}"))
            before = chain.shots[shot.index - 1].generation if shot.index else None
            shot.stale = before is not None and latest.tags.get(TAG_PARENT) != before.id
        first_missing = next((s.index for s in chain.shots if s.job is None), None)

        async def go_on() -> None:
            try:
                made = [s.job for s in chain.shots if s.job is not None]
                await wait_all_async(made)
                if first_missing is not None and all(j.ok for j in made):
                    await chain._chain(first_missing, cascade=True)
            finally:
                chain._task_done.set()
                chain._changed()

        chain._task_done.clear()
        runner._schedule(go_on)
        return chain


def _sequence_id(sequence: str | Generation | StoredGeneration) -> str:
    """A sequence's id from itself or from one of its shots."""
    if isinstance(sequence, str):
        return sequence
    generation = sequence.generation if isinstance(sequence, StoredGeneration) else sequence
    found = generation.tags.get(TAG_SEQUENCE) if isinstance(generation, Generation) else None
    if not found:
        raise ValidationError(
            {"sequence": [f"give a sequence id or one of its shots, not {sequence!r}"]}
        )
    return found
