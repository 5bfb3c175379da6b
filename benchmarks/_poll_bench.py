"""Polling sections: completion-detection latency and GETs per job, gen3widgets vs the baselines.

Detection latency of a job = the client's ``time.monotonic()`` when a GET
first showed it completed (gen3widgets: its ``on_update`` / job observer;
baselines: right after that GET) minus ``sim.stats.completed_at[id]``, the
simulator's clock time the job completed. The simulator runs in this very
process with ``clock=time.monotonic``, so both times are on one clock.
GETs per job = ``sim.stats.gets_per_job[id]``: every status request the
server received for that job (video downloads are not counted).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import API_KEY, PROMPT, gets, payload, per_job_figures, serve
from baselines import docs_loop, runway_sdk

BASELINES: dict[str, Callable[..., dict[str, Any]]] = {
    "docs": docs_loop.run,
    "runway": runway_sdk.run,
}


# -- baselines (blocking scripts, one thread per job) -------------------------------------


def start_baselines(
    pool: ThreadPoolExecutor,
    url: str,
    image: bytes,
    clips: list[int],
    jobs_per_clip: int,
    time_scale: float,
) -> dict[str, list[Future[dict[str, Any]]]]:
    """Start every baseline job at once; each is an independent blocking script."""
    futures: dict[str, list[Future[dict[str, Any]]]] = {}
    for name, run in BASELINES.items():
        futures[name] = [
            pool.submit(run, url, API_KEY, payload(image, duration=clip), time_scale=time_scale)
            for clip in clips
            for _ in range(jobs_per_clip)
        ]
    return futures


def baseline_figures(
    sim: Any, futures: dict[str, list[Future[dict[str, Any]]]], timeout: float
) -> dict[str, dict[str, list[float]]]:
    figures = {}
    for name, jobs in futures.items():
        results = [f.result(timeout=timeout) for f in jobs]
        figures[name] = per_job_figures(sim, {r["id"]: r["seen_at"] for r in results})
    return figures


# -- gen3widgets --------------------------------------------------------------------------


def _first_completed(seen: dict[str, float]) -> Callable[[Any], None]:
    """An ``on_update`` that notes when each generation was first seen completed."""
    from gen3widgets import Status

    def on_update(generation: Any) -> None:
        if generation.status is Status.COMPLETED and generation.id not in seen:
            seen[generation.id] = time.monotonic()

    return on_update


async def client_waves(
    url: str, image: bytes, waves: int, per_wave: int, timeout: float
) -> tuple[dict[str, float], list[list[str]], dict[str, float | None]]:
    """``waves`` rounds of ``per_wave`` concurrent ``AsyncClient.generate`` calls on one client.

    Later waves benefit from what earlier ones taught the client about job
    durations on this server (learned in-process, as jobs complete). Also
    returns, per job, the learned earliest finish when its wave started.
    """
    from gen3widgets import AsyncClient

    seen: dict[str, float] = {}
    on_update = _first_completed(seen)
    ids: list[list[str]] = []
    earliest: dict[str, float | None] = {}
    async with AsyncClient(api_key=API_KEY, base_url=url) as client:
        for _ in range(waves):
            learned = client._flows.durations.earliest(client.base_url, "gen3a_turbo", 5)
            calls = [
                client.generate(
                    prompt=PROMPT, image=image, duration=5, on_update=on_update, timeout=timeout
                )
                for _ in range(per_wave)
            ]
            generations = await asyncio.wait_for(asyncio.gather(*calls), timeout)
            ids.append([g.id for g in generations])
            earliest.update((g.id, learned) for g in generations)
    return seen, ids, earliest


async def runner_wave(
    url: str, home: str, clips: list[int], per_clip: int, image: bytes, timeout: float
) -> dict[str, Any]:
    """One wave of jobs through a fresh ``JobRunner`` over the history in ``home``.

    A new runner reads past job durations from the history (as after a kernel
    restart), so a second wave polls on what the first one recorded.
    """
    from gen3widgets import AsyncClient, GenerationRequest, Status
    from gen3widgets._jobs import JobRunner
    from gen3widgets._polling import DurationStats
    from gen3widgets._store import HistoryStore

    store = HistoryStore(home)
    client = AsyncClient(api_key=API_KEY, base_url=url, history=store)
    runner = JobRunner(client)
    # What the client will learn from the history on first use (as after a restart).
    past = DurationStats()
    past.observe_many(url, store.job_durations(url))
    learned = {clip: past.earliest(url, "gen3a_turbo", clip) for clip in clips}
    seen: dict[str, float] = {}
    clip_of: dict[str, int] = {}

    def observe(job: Any) -> None:
        generation = job.generation
        if generation is not None and generation.status is Status.COMPLETED:
            seen.setdefault(generation.id, time.monotonic())
            clip_of[generation.id] = job.request.duration

    jobs = []
    for clip in clips:
        for _ in range(per_clip):
            request = GenerationRequest(prompt=PROMPT, image=image, duration=clip)
            job = runner.submit(request)
            job.add_observer(observe)
            jobs.append(job)
    try:
        waits = asyncio.gather(*(job.wait_async() for job in jobs), return_exceptions=True)
        await asyncio.wait_for(waits, timeout)
    finally:
        await client.close()
    earliest = {gid: learned[clip] for gid, clip in clip_of.items()}
    failures = sum(not job.ok for job in jobs)
    return {"seen": seen, "clip_of": clip_of, "earliest": earliest, "failures": failures}


# -- sections -----------------------------------------------------------------------------


def poll_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """One repeat with short (6–10 s) jobs: waves through one ``AsyncClient``, and the baselines.

    Each repeat runs in its own process with its own simulator; the baseline
    scripts run in threads at the same time as gen3widgets' waves.
    """
    image = Path(config["image"]).read_bytes()
    timeout = config["timeout"]
    seed = 1000 + config.get("repeat", 0)
    sim = serve(config["clips_dir"], job_seconds=tuple(config["job_seconds"]), seed=seed)
    threads = len(BASELINES) * config["baseline_jobs"]
    try:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            ready()
            futures = start_baselines(
                pool, sim.url, image, [5], config["baseline_jobs"], config["time_scale"]
            )
            waves = client_waves(sim.url, image, config["waves"], config["per_wave"], timeout)
            seen, wave_ids, earliest = asyncio.run(waves)
            figures: dict[str, Any] = baseline_figures(sim.app, futures, timeout)
    finally:
        sim.stop()
    figures["gen3widgets"] = per_job_figures(sim.app, seen, earliest)
    figures["wave_gets"] = {
        "gets": [sum(gets(sim.app, g) for g in ids) / len(ids) for ids in wave_ids]
    }
    return {"repeats": [figures]}


def realistic_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """Realistic job times: a first wave records durations, a second wave (reported) uses them.

    Each wave has a new client, so the second wave knows only what the
    history on disk says (as in a new kernel).
    """
    image = Path(config["image"]).read_bytes()
    clips, per_clip, timeout = config["clips"], config["per_clip"], config["timeout"]
    options: dict[str, Any] = {"seed": 2000 + config.get("repeat", 0)}
    if config.get("job_seconds"):
        options["job_seconds"] = tuple(config["job_seconds"])
    else:
        options["preset"] = "realistic"
    sim = serve(config["clips_dir"], **options)
    home = tempfile.mkdtemp(prefix="gen3bench-history-")
    threads = len(BASELINES) * len(clips) * config["baseline_jobs"]
    try:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            ready()
            futures = start_baselines(
                pool, sim.url, image, clips, config["baseline_jobs"], config["time_scale"]
            )
            first = asyncio.run(runner_wave(sim.url, home, clips, per_clip, image, timeout))
            second = asyncio.run(runner_wave(sim.url, home, clips, per_clip, image, timeout))
            figures: dict[str, Any] = baseline_figures(sim.app, futures, timeout)
    finally:
        sim.stop()
    for name, wave in (("first_wave", first), ("gen3widgets", second)):
        figures[name] = per_job_figures(sim.app, wave["seen"], wave["earliest"])
        figures[name]["failures"] = [float(wave["failures"])]
        for clip in clips:
            ids = {g: t for g, t in wave["seen"].items() if wave["clip_of"].get(g) == clip}
            figures[f"{name}_{clip}s"] = per_job_figures(sim.app, ids)
    return {"repeats": [figures]}
