"""gen3widgets against the alternatives, in one run, on a simulator served over real HTTP.

    python benchmarks/run.py            # the full run (several minutes)
    python benchmarks/run.py --quick    # under two minutes: fewer repeats, 5 s clips only
    python benchmarks/run.py --smoke    # seconds; checks the machinery, measures nothing
    python benchmarks/run.py --write    # also write benchmarks/results.md

Prints ONE markdown table: metric | gen3widgets | baseline(s) measured in the
same run | ratio | goal | met?, then notes with the configuration and the
evidence behind the figures. Each section runs in its own process against
its own simulator(s) on 127.0.0.1 (``gen3widgets.simulator.start``); sections
that only wait on timers run side by side, the kernel measurement runs
while only the light realistic-jobs section is left, and the CPU-bound ones
(import time, render time) run alone after it, and the front end (JupyterLab,
Chromium, a kernel, previews) runs alone last.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, ROOT, clip_path
from _table import build_rows, evidence, markdown

IMAGE = ROOT / "notebooks" / "assets" / "lake.jpg"
SHORT_JOBS = (6.0, 10.0)
# Sections (besides "realistic") whose repeats each get a process: name -> section.
REPEATED = {"poll": "poll", "grid_c4": "grid"}


# -- what each mode runs ------------------------------------------------------------------


def mode_config(mode: str) -> dict[str, dict[str, Any]]:
    """Section name -> its configuration, for ``smoke``, ``quick`` or ``full``."""
    smoke, quick = mode == "smoke", mode == "quick"
    pick = lambda s, q, f: s if smoke else q if quick else f  # noqa: E731
    scale = 0.1 if smoke else 1.0  # baselines' sleeps; only --smoke shrinks them
    short = (1.0, 1.5) if smoke else SHORT_JOBS
    grid = {"seeds": pick(4, 16, 16), "job_seconds": short, "repeats": pick(1, 3, 5)}
    # The plain grid (its repeats one after another) starts this long after the other
    # sections, once their start-up burst (a hundred creates, a kernel's first cells) is over.
    delay = pick(0.0, 8.0, 8.0)
    return {
        "poll": {
            "repeats": pick(1, 3, 5),
            "waves": pick(1, 3, 4),
            "per_wave": pick(2, 4, 4),
            "baseline_jobs": pick(1, 4, 6),
            "job_seconds": short,
            "time_scale": scale,
        },
        "realistic": {
            "repeats": pick(1, 3, 3),  # one process each
            "clips": pick([5], [5], [5, 10]),
            "per_clip": pick(1, 4, 4),
            "baseline_jobs": pick(1, 3, 3),
            "job_seconds": short if smoke else None,  # None: preset="realistic"
            "time_scale": scale,
        },
        "grid": {**grid, "concurrency": None, "delay": delay},
        "grid_c4": {**grid, "concurrency": 4},
        "naive": {
            "repeats": pick(1, 2, 3),
            "seeds": pick(2, 3, 16),
            "grid_seeds": grid["seeds"],
            "job_seconds": short,
            "time_scale": scale,
        },
        "kernel_baseline": {
            "repeats": pick(1, 1, 2),
            "job_seconds": short,
            "time_scale": scale,
            "settle": pick(0.3, 1.0, 1.0),
        },
        # A grid of realistic 10 s clips (~6.5 MB each) in JupyterLab; None: preset "realistic".
        "front": {
            "seeds": pick(2, 16, 16),
            "duration": pick(5, 10, 10),
            "quality": pick("light", "realistic", "realistic"),
            "job_seconds": pick((1.0, 1.5), (10.0, 16.0), None),
            "previews": pick(1, 2, 3),
        },
        "kernel": {
            "repeats": pick(1, 1, 3),
            "seeds": pick(4, 16, 16),
            # CPU over [settle, settle + cpu_window] while every job polls; lag from then
            # until past the longest job, so it covers the jobs completing too.
            "job_seconds": pick((4.0, 5.0), (14.0, 19.0), (24.0, 30.0)),
            "settle": pick(1.0, 3.0, 3.0),
            "cpu_window": pick(2.0, 8.0, 15.0),
            "cell_every": pick(0.25, 0.5, 0.5),
        },
        "imports": {"repeats": pick(1, 5, 15)},
        "render": {"repeats": pick(0, 1, 3)},  # 0: skipped
        # The baseline decodes a 2 MB image per row: ~25 s for 1,000 rows.
        "store": {"rows": pick(50, 1000, 1000), "repeats": pick(1, 1, 2)},
    }


# -- running sections in worker processes ---------------------------------------------------


@dataclass
class Worker:
    """One section running in ``_worker.py``; its stderr goes to a log file."""

    name: str
    section: str
    config: dict[str, Any]
    log: Path
    delay: float = 0.0  # seconds between the group's go and this worker's
    proc: asyncio.subprocess.Process | None = None
    result: dict[str, Any] = field(default_factory=dict)

    async def start(self, timeout: float) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(BENCH_DIR / "_worker.py"),
            self.section,
            json.dumps(self.config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log.open("wb"),
            cwd=str(ROOT),
            # Temporary files (histories, videos, kernels' homes) go under the run's folder,
            # which is removed at the end.
            env={**os.environ, "TMPDIR": str(self.log.parent / "tmp")},
        )
        line = await asyncio.wait_for(self._line(), timeout)
        if line != "READY":
            raise RuntimeError(f"{self.name} did not start: {line!r}")

    async def _line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                return "<exited>"
            text = raw.decode().strip()
            if text == "READY" or text.startswith("RESULT "):
                return text

    async def finish(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        await asyncio.sleep(self.delay)
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self._line(), timeout)
        await asyncio.wait_for(self.proc.wait(), 30)
        if not line.startswith("RESULT "):
            raise RuntimeError(f"{self.name} gave no result (see {self.log})")
        return dict(json.loads(line.removeprefix("RESULT ")))

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


async def start_workers(workers: list[Worker], timeout: float) -> None:
    """Start ``workers`` and wait until each has done its setup (or failed)."""

    async def start(worker: Worker) -> None:
        try:
            await worker.start(min(timeout, 120))
        except Exception as exc:
            worker.result = {"error": _describe(exc, worker)}

    await asyncio.gather(*(start(w) for w in workers))


async def finish_workers(workers: list[Worker], timeout: float) -> None:
    """Let started ``workers`` go at once; store each result (or its error); kill leftovers."""

    async def finish(worker: Worker) -> None:
        if worker.result.get("error"):
            return
        try:
            worker.result = await worker.finish(timeout)
        except Exception as exc:
            worker.result = {"error": _describe(exc, worker)}

    try:
        await asyncio.gather(*(finish(w) for w in workers))
    finally:
        for worker in workers:
            worker.kill()


async def run_workers(workers: list[Worker], timeout: float) -> None:
    await start_workers(workers, timeout)
    await finish_workers(workers, timeout)


def _describe(exc: BaseException, worker: Worker) -> str:
    kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"
    tail = worker.log.read_text(errors="replace").strip().splitlines()[-3:]
    print(f"[{worker.name}] {kind}\n  " + "\n  ".join(tail), file=sys.stderr)
    return f"{worker.name} {kind}"


def merge_repeats(workers: list[Worker]) -> dict[str, Any]:
    """One result from several single-repeat workers (the realistic-jobs section)."""
    errors = [w.result["error"] for w in workers if w.result.get("error")]
    repeats = [r for w in workers for r in w.result.get("repeats", [])]
    if not repeats:
        return {"error": "; ".join(errors) or "no repeats"}
    return {"repeats": repeats, "errors": errors}


async def run_all(
    config: dict[str, dict[str, Any]], work: Path, timeout: float, overlap_cpu: bool
) -> dict[str, Any]:
    def worker(name: str, section: str | None = None, **extra: Any) -> Worker:
        cfg = {**config[name.split("#")[0]], **extra}
        cfg.update(clips_dir=str(work), image=str(IMAGE), timeout=timeout)
        return Worker(name, section or name, cfg, work / f"{name}.log")

    def per_repeat(name: str, section: str) -> list[Worker]:
        """A section whose repeats each run in their own process (and event loop)."""
        return [
            worker(f"{name}#{i}", section, repeat=i, repeats=1)
            for i in range(config[name]["repeats"])
        ]

    realistic = per_repeat("realistic", "realistic")
    repeated = {name: per_repeat(name, section) for name, section in REPEATED.items()}
    grid = worker("grid")
    grid.delay = config["grid"]["delay"]
    short = [
        *(w for workers in repeated.values() for w in workers),
        grid,
        worker("naive"),
        worker("kernel_baseline"),
    ]
    kernel = [worker("kernel")]
    cpu = [worker("imports"), worker("store")]
    if config["render"]["repeats"]:
        cpu.append(worker("render"))

    # Timer-bound sections go together; the kernel runs when only the light realistic
    # section is left; the CPU-bound ones run alone after it (--quick: once the kernel is
    # done, over the realistic section's last seconds, to stay under two minutes).
    await start_workers(realistic + short, timeout)
    long_running = asyncio.ensure_future(finish_workers(realistic, timeout))
    await finish_workers(short, timeout)
    await run_workers(kernel, timeout)
    if not overlap_cpu:
        await long_running
    for w in cpu:  # one after the other
        await run_workers([w], timeout)
    await long_running
    front = [worker("front")]
    await run_workers(front, timeout)  # alone: a browser, a server, a kernel, previews

    results = {w.name: w.result for w in short + kernel + cpu + front if "#" not in w.name}
    results["realistic"] = merge_repeats(realistic)
    for name, workers in repeated.items():
        results[name] = merge_repeats(workers)
    if not config["render"]["repeats"]:
        results["render"] = {"error": "skipped in --smoke"}
    return results


# -- inputs ---------------------------------------------------------------------------------


def prerender(work: Path, clips: set[tuple[int, str]]) -> None:
    """Render the clips the simulators hand out, once, with the simulator's real renderer.

    ``clips``: (duration, quality) pairs; "realistic" is the simulator's ~5 Mbit/s quality.
    """
    from gen3widgets.simulator._render import RenderSpec, render_mp4

    image = IMAGE.read_bytes()
    for duration, quality in sorted(clips):
        spec = RenderSpec(image, duration=duration, seed=1, quality=quality)  # type: ignore[arg-type]
        clip_path(work, duration, quality).write_bytes(render_mp4(spec))


# -- the report -----------------------------------------------------------------------------


def load() -> str:
    """The 1-minute load average: other work on the machine skews every timing here."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with_model = Path("/proc/cpuinfo")
    if with_model.exists():
        for line in with_model.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {cores} cores available; Python {platform.python_version()}; "
        f"{platform.platform()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    )


def _span(seconds: Any) -> str:
    return f"{seconds[0]:g}–{seconds[1]:g} s"


def config_notes(mode: str, config: dict[str, dict[str, Any]]) -> list[str]:
    """How each section was run, in the words of the table's notes."""
    poll, real, naive = config["poll"], config["realistic"], config["naive"]
    kernel, grid, base, front = (
        config["kernel"],
        config["grid"],
        config["kernel_baseline"],
        config["front"],
    )
    clips = " and ".join(f"{c} s" for c in real["clips"])
    scaled = naive["seeds"] < naive["grid_seeds"]
    lines = [
        "Every job runs on a simulator served by uvicorn on 127.0.0.1 in the section's own "
        "process (real HTTP); its renderer hands out clips pre-rendered once by the "
        "simulator's real renderer (plus a per-job tag), so rendering does not compete with the "
        "client for CPU: the real API renders on Runway's machines.",
        f"Latency and GETs, {_span(poll['job_seconds'])} jobs: {poll['repeats']} repeat(s), each "
        f"its own simulator. gen3widgets: {poll['waves']} wave(s) of {poll['per_wave']} "
        "concurrent `AsyncClient.generate()` on one client, starting with nothing learned; all "
        f"its jobs count. Baselines: {poll['baseline_jobs']} job(s) each per repeat, concurrently.",
        f"Realistic jobs ({clips} clips"
        + (" only, in --quick" if mode == "quick" else "")
        + (f", {_span(real['job_seconds'])} in --smoke" if real["job_seconds"] else "")
        + f"): {real['repeats']} repeat(s), each its own process and simulator. A first wave of "
        f"{real['per_clip']} job(s) per clip length through a `JobRunner` records durations in "
        "the history; the in-memory learning is then cleared and a new `JobRunner` on the same "
        "history (as in a new kernel) runs the second wave, which is what the table reports. "
        f"Baselines: {real['baseline_jobs']} job(s) per clip length each.",
        f"Grids: {grid['seeds']} seeds through a `JobRunner` (create, poll, download, "
        f"history), {_span(grid['job_seconds'])} jobs, starting with nothing learned; wall = "
        "first create → last video saved. The plain grid's "
        f"{grid['repeats']} repeat(s) run one after another, starting {grid['delay']:g} s after the "
        "other sections (past their start-up burst); the `concurrency=4` grid's repeats run at "
        "once, each in its own process. Ideal schedule = the recorded job times in creation "
        "order on 4 slots, all submitted at time 0.",
        f"Naive grid: {naive['repeats']} repeat(s)"
        + (
            f"; {naive['seeds']} of {naive['grid_seeds']} seeds measured, the wall time scaled up"
            if scaled
            else ""
        )
        + ".",
        f"Kernel: {kernel['repeats']} repeat(s), a new kernel each with an empty history (cold "
        f"start); a {kernel['seeds']}-seed `SeedGrid` shown and submitted, "
        f"{_span(kernel['job_seconds'])} jobs. CPU: {kernel['cpu_window']:g} s from "
        f"{kernel['settle']:g} s after the submit, with no cell running (the probe and the "
        "`1+1` cells would add ~3 % of a core). Lag and `1+1` (every "
        f"{kernel['cell_every']:g} s): from then until 2 s past the longest job, so the jobs "
        f"completing (downloads, videos over the comm) are included. The baseline kernel "
        f"({base['repeats']} repeat(s)) runs the docs' sample in a cell (one "
        f"{_span(base['job_seconds'])} job), sends `1+1` {base['settle']:g} s later and reads "
        "the probe around it.",
        f"Front end: a {front['seeds']}-clip grid of {front['duration']} s clips "
        f'(simulator `video_quality="{front["quality"]}"`; jobs '
        + (
            _span(front["job_seconds"])
            if front["job_seconds"]
            else 'of the "realistic" preset, 40–55 s for 10 s clips'
        )
        + ") in JupyterLab 4 and Debian Chromium (Playwright, a 1400×1700 viewport: the whole "
        "grid on screen), gen3widgets then the baseline, each in a fresh kernel with its own "
        "simulator, one run each. Baseline: the grid as it was before issue 14 "
        "(`baselines/bytes_in_state.py`: an `ipywidgets.Video` per cell whose value is the MP4's "
        "bytes; no previews). Memory: the kernel's RSS from just before Generate to every video "
        "playable (the preview makers are child processes, not counted; their cost is the "
        "preview row). Websocket: every frame of the kernel's websocket from Generate on. The "
        "notebook is saved by JupyterLab (`saveState`: widget state included). Preview cost: "
        f"`ensure_previews` on {front['previews']} copies of the clip, alone.",
        f"History listing: {config['store']['rows']} generations recorded with one shared "
        "2 MB JPEG (stored once), listed by `gen3widgets.history()`; the baseline validates "
        "each row's request again (`GenerationRequest.from_dict`), as the previous version "
        "did, on the same file in the same process.",
    ]
    if mode == "smoke":
        lines.insert(0, "**--smoke: a check of the machinery; tiny jobs, baselines' sleeps ×0.1. "
                     "No figure here means anything.**")  # fmt: skip
    return lines


def report(mode: str, config: dict[str, Any], results: dict[str, Any], command: str) -> str:
    rows = build_rows(results)
    notes = config_notes(mode, config) + evidence(results)
    errors = [f"{name}: {r['error']}" for name, r in results.items() if r.get("error")]
    parts = [
        markdown(rows),
        "",
        "Figures: median over repeats (min–max over repeats). Ratio = gen3widgets ÷ baseline.",
        "",
        *[f"{i}. {line}" for i, line in enumerate(notes, 1)],
    ]
    if errors:
        parts += ["", "Not measured: " + "; ".join(errors)]
    return "\n".join(parts)


def results_file(table: str, command: str, took: float, loads: tuple[str, str]) -> str:
    return (
        "# Benchmark results\n\n"
        f"Machine: {machine()}; 1-minute load average {loads[0]} at the start, "
        f"{loads[1]} at the end.\n\n"
        f"Command: `{command}` (took {took / 60:.1f} min).\n\n"
        f"{table}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a run under two minutes")
    size.add_argument("--smoke", action="store_true", help="a seconds-long check (for tests)")
    parser.add_argument("--write", action="store_true", help="write benchmarks/results.md")
    parser.add_argument("--json", type=Path, help="also save the raw results here")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    command = "python " + shlex.join(["benchmarks/run.py", *(argv or sys.argv[1:])])
    config = mode_config(mode)
    timeout = {"smoke": 120.0, "quick": 300.0, "full": 1200.0}[mode]

    started, load_before = time.monotonic(), load()
    with tempfile.TemporaryDirectory(prefix="gen3bench-") as tmp:
        work = Path(tmp)
        (work / "tmp").mkdir()
        print(f"gen3widgets benchmarks ({mode}); logs in {work} while running", file=sys.stderr)
        front = config["front"]
        clips = {(d, "light") for d in {5, *config["realistic"]["clips"]}}
        prerender(work, clips | {(front["duration"], front["quality"])})
        results = asyncio.run(run_all(config, work, timeout, overlap_cpu=mode == "quick"))
    took, loads = time.monotonic() - started, (load_before, load())

    table = report(mode, config, results, command)
    print(table)
    print(f"\n({mode} run took {took:.0f} s; load average {loads[0]} → {loads[1]})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write:
        (BENCH_DIR / "results.md").write_text(results_file(table, command, took, loads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
