"""Grid sections: a 16-seed grid's wall time, gen3widgets vs a naive one-seed-after-another loop.

Wall time = from just before the first create until the last job is done
(for gen3widgets: ``Job.finished_at``, i.e. detected *and* its video saved).
Slowest job = the longest ``completed_at - created_at`` the simulator
recorded. With ``concurrency=4`` the simulator runs at most 4 jobs at once
(FIFO); the ideal schedule is then the makespan of the recorded job work
times placed in creation order on 4 slots, all available at time 0.
"""

from __future__ import annotations

import asyncio
import heapq
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import API_KEY, PROMPT, payload, serve
from baselines import naive_grid


def ideal_makespan(works: list[float], slots: int) -> float:
    """Makespan of ``works`` (in order) on ``slots`` servers, each job on the first free slot."""
    free = [0.0] * slots
    for work in works:
        heapq.heapreplace(free, free[0] + work)  # free[0] is the earliest-free slot
    return max(free)


async def runner_grid(url: str, image: bytes, seeds: list[int], timeout: float) -> dict[str, Any]:
    """Submit one job per seed through a ``JobRunner`` at once and wait for all of them."""
    from gen3widgets import AsyncClient, GenerationRequest
    from gen3widgets._jobs import JobRunner
    from gen3widgets._store import HistoryStore

    requests = [GenerationRequest(prompt=PROMPT, image=image, seed=s) for s in seeds]
    home = HistoryStore(tempfile.mkdtemp(prefix="gen3bench-grid-"))
    client = AsyncClient(api_key=API_KEY, base_url=url, history=home)
    runner = JobRunner(client)
    started = time.time()  # job.finished_at is wall-clock time
    jobs = [runner.submit(request) for request in requests]
    try:
        waits = asyncio.gather(*(job.wait_async() for job in jobs), return_exceptions=True)
        await asyncio.wait_for(waits, timeout)
    finally:
        await client.close()
    ended = max((job.finished_at or float("inf")) for job in jobs)
    return {
        "wall": ended - started,
        "ids": [job.generation.id for job in jobs if job.generation is not None],
        "failures": sum(not job.ok for job in jobs),
        # Why, in the words the user would read (a failed benchmark job is a finding).
        "problems": sorted({f"{job.state.value}: {job.message}" for job in jobs if not job.ok}),
    }


def server_view(sim: Any, ids: list[str], slots: int | None) -> dict[str, float]:
    """The slowest job and, with a concurrency limit, the ideal schedule, from the server's records."""
    jobs = sorted((sim.jobs[i] for i in ids), key=lambda job: job.created_at)
    done = sim.stats.completed_at
    slowest = max(done.get(job.id, float("inf")) - job.created_at for job in jobs)
    view = {"slowest": slowest}
    if slots:
        view["ideal"] = ideal_makespan([job.due_at - job.started_at for job in jobs], slots)
    return view


def grid_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """gen3widgets' grid, ``repeats`` times one after another, each on a new simulator."""
    image = Path(config["image"]).read_bytes()
    seeds = list(range(1, config["seeds"] + 1))
    slots = config.get("concurrency")
    first = config.get("repeat", 0)
    sims = [
        serve(
            config["clips_dir"],
            job_seconds=tuple(config["job_seconds"]),
            concurrency=slots,
            seed=3000 + first + i,
        )
        for i in range(config["repeats"])
    ]
    out = []
    try:
        ready()
        for sim in sims:
            grid = asyncio.run(runner_grid(sim.url, image, seeds, config["timeout"]))
            figures = {
                key: [value] for key, value in server_view(sim.app, grid["ids"], slots).items()
            }
            figures.update(wall=[grid["wall"]], failures=[float(grid["failures"])])
            out.append({**figures, "problems": grid["problems"]})
    finally:
        for sim in sims:
            sim.stop()
    return {"repeats": out}


def naive_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """The naive sequential grid, without and with the 4-job server limit, all repeats at once.

    With ``seeds`` below ``grid_seeds`` (``--quick``) the wall time is scaled
    up to the full grid: a sequential loop's time is the sum of its seeds'.
    """
    image = Path(config["image"]).read_bytes()
    seeds = list(range(1, config["seeds"] + 1))
    scale = config["grid_seeds"] / len(seeds)
    variants = {"plain": None, "c4": 4}
    sims = {
        (name, i): serve(
            config["clips_dir"],
            job_seconds=tuple(config["job_seconds"]),
            concurrency=slots,
            seed=4000 + i,
        )
        for name, slots in variants.items()
        for i in range(config["repeats"])
    }
    try:
        with ThreadPoolExecutor(max_workers=len(sims)) as pool:
            ready()
            futures = {
                key: pool.submit(
                    naive_grid.run,
                    s.url,
                    API_KEY,
                    payload(image),
                    seeds,
                    time_scale=config["time_scale"],
                )
                for key, s in sims.items()
            }
            results = {key: f.result(timeout=config["timeout"]) for key, f in futures.items()}
    finally:
        for s in sims.values():
            s.stop()
    out: dict[str, list[dict[str, list[float]]]] = {name: [] for name in variants}
    for (name, _), result in results.items():
        failures = sum(r["status"] != "completed" for r in result["results"])
        out[name].append({"wall": [result["wall"] * scale], "failures": [float(failures)]})
    return {"variants": out, "measured_seeds": len(seeds), "scale": scale}
