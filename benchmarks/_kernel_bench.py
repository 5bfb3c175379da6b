"""Sections in a real Jupyter kernel (started with jupyter_client / nbclient).

* Responsiveness: a cell shows and submits a 16-seed ``SeedGrid`` (the cell
  returns at once). While the jobs poll, the kernel process's CPU time (user +
  system) is read before and after a quiet window. Then a cell starts a lag
  probe (an asyncio task that sleeps 10 ms in a loop and records how late it
  wakes) and the client runs ``1+1`` every ``cell_every`` seconds, timing each
  execute request → reply, until past the longest job; the probe's samples
  from that window are collected at the end.
* The same kernel measurement for the AI/ML API docs' loop, run in a cell as
  the docs show it (it blocks the kernel until the job is done).

What the front end costs (memory, websocket bytes, the saved notebook) is
measured in a real browser by ``_front_bench.py``.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import API_KEY, BENCH_DIR, PROMPT, ROOT, percentile, serve

PROBE_CELL = """
import asyncio as _asyncio, time as _time
_lag = []
async def _lag_probe():
    while True:
        _start = _time.monotonic()
        await _asyncio.sleep(0.01)
        _now = _time.monotonic()
        _lag.append((_now, _now - _start - 0.01))
_lag_task = _asyncio.get_running_loop().create_task(_lag_probe())
"""
GRID_CELL = """
from gen3widgets import SeedGrid
grid = SeedGrid({prompt!r}, {image!r}, seeds=list(range(1, {seeds} + 1)), columns=4)
display(grid)
jobs = grid.submit()
"""
COLLECT_LAG = "import json as _j; print(_j.dumps([l for (t, l) in _lag if {t0!r} <= t <= {t1!r}]))"


def kernel_env(url: str, home: str) -> None:
    """Point kernels started from this process at the simulator, with a fresh history."""
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), *paths]))
    os.environ.update(AIMLAPI_KEY=API_KEY, AIMLAPI_BASE_URL=url, GEN3WIDGETS_HOME=home)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (psutil, else /proc)."""
    try:
        import psutil
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


class Kernel:
    """A python3 kernel and a blocking client, stopped on exit."""

    def __init__(self, timeout: float) -> None:
        from jupyter_client import KernelManager

        self.timeout = timeout
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.pid: int = self.km.provisioner.pid  # type: ignore[union-attr]

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def run(self, code: str) -> str:
        """Execute ``code`` to the end; its stdout. Raises if the cell raised."""
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        reply = self.kc.execute_interactive(code, timeout=self.timeout, output_hook=hook)
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(
                f"kernel cell failed: {content.get('ename')}: {content.get('evalue')}"
            )
        return "".join(out)

    def reply(self, msg_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from the kernel")
            msg = self.kc.get_shell_msg(timeout=left)
            if msg["parent_header"].get("msg_id") == msg_id:
                return

    def roundtrip(self, code: str = "1+1") -> float:
        """Seconds from sending an execute request to receiving its reply."""
        started = time.monotonic()
        self.reply(self.kc.execute(code, store_history=False), self.timeout)
        return time.monotonic() - started

    def drain_iopub(self) -> collections.Counter[str]:
        """Read every iopub message waiting now; a count per message type."""
        counts: collections.Counter[str] = collections.Counter()
        while self.kc.iopub_channel.msg_ready():
            counts[self.kc.get_iopub_msg(timeout=1)["msg_type"]] += 1
        return counts

    def lag(self, t0: float, t1: float) -> list[float]:
        return [float(x) for x in json.loads(self.run(COLLECT_LAG.format(t0=t0, t1=t1)))]


def _cpu_window(sim: Any, kernel: Kernel, seconds: float) -> dict[str, list[float]]:
    """Kernel CPU, GETs and comm messages per second over ``seconds`` with nothing else running."""
    kernel.drain_iopub()
    gets0, cpu0, t0 = sim.app.stats.gets, cpu_seconds(kernel.pid), time.monotonic()
    comm = 0
    while time.monotonic() - t0 < seconds:
        time.sleep(0.5)
        comm += kernel.drain_iopub()["comm_msg"]
    span = time.monotonic() - t0
    return {
        "cpu": [100 * (cpu_seconds(kernel.pid) - cpu0) / span],
        "gets_per_s": [(sim.app.stats.gets - gets0) / span],
        "comm_per_s": [comm / span],
    }


def _lag_window(kernel: Kernel, seconds: float, cell_every: float) -> dict[str, list[float]]:
    """Start the lag probe, run ``1+1`` every ``cell_every`` s for ``seconds``, read the probe."""
    kernel.run(PROBE_CELL)
    t0 = time.monotonic()
    trips: list[float] = []
    while time.monotonic() - t0 < seconds:
        trips.append(kernel.roundtrip())
        time.sleep(cell_every)
        kernel.drain_iopub()
    lag = kernel.lag(t0, time.monotonic())
    return {
        "lag_p50": [percentile(lag, 50) * 1000],
        "lag_p99": [percentile(lag, 99) * 1000],
        "lag_max": [max(lag) * 1000],
        "cell": [percentile(trips, 50) * 1000],
        "cell_p95": [percentile(trips, 95) * 1000],
    }


def _responsiveness_once(sim: Any, config: dict[str, Any]) -> dict[str, list[float]]:
    """One kernel: submit the grid, measure CPU while the jobs poll, then lag until they finish.

    The probe and the ``1+1`` cells themselves cost the kernel about 3 % of a
    core, so CPU is read first, without them. The lag window then runs until
    past the longest job, so it also covers the jobs completing (downloads,
    videos sent over the comm).
    """
    kernel_env(sim.url, tempfile.mkdtemp(prefix="gen3bench-kernel-"))
    cell = GRID_CELL.format(prompt=PROMPT, image=config["image"], seeds=config["seeds"])
    with Kernel(config["timeout"]) as kernel:
        kernel.run(cell)
        time.sleep(config["settle"])
        polling = int(kernel.run("print(sum(not j.done for j in jobs))"))
        figures = _cpu_window(sim, kernel, config["cpu_window"])
        polled = config["settle"] + config["cpu_window"]
        lag_seconds = config["job_seconds"][1] - polled + 2.0
        figures.update(_lag_window(kernel, lag_seconds, config["cell_every"]))
        running = int(kernel.run("print(sum(not j.done for j in jobs))"))
    figures.update(
        polling_at_start=[float(polling)],
        running_at_end=[float(running)],
        jobs=[float(config["seeds"])],
    )
    return figures


def kernel_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """Event-loop lag, trivial-cell time and kernel CPU while a 16-seed grid polls (cold start)."""
    sim = serve(config["clips_dir"], job_seconds=tuple(config["job_seconds"]), seed=5000)
    try:
        ready()
        return {"repeats": [_responsiveness_once(sim, config) for _ in range(config["repeats"])]}
    finally:
        sim.stop()


def _docs_loop_kernel(sim: Any, config: dict[str, Any]) -> Kernel:
    """A kernel with the lag probe running and the docs' sample imported."""
    kernel_env(sim.url, tempfile.mkdtemp(prefix="gen3bench-kernel-"))
    kernel = Kernel(config["timeout"])
    kernel.run(
        PROBE_CELL
        + f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r})\n"
        + "from baselines import docs_loop\nfrom _common import payload\n"
        + f"_body = payload(open({config['image']!r}, 'rb').read())\n"
    )
    return kernel


def _docs_loop_once(sim: Any, kernel: Kernel, config: dict[str, Any]) -> dict[str, list[float]]:
    """Run the docs' loop in a cell, then time ``1+1`` sent while it runs."""
    call = f"_result = docs_loop.run({sim.url!r}, {API_KEY!r}, _body, time_scale={config['time_scale']!r})"
    with kernel:
        kernel.kc.execute(call)
        time.sleep(config["settle"])
        cpu0, t0 = cpu_seconds(kernel.pid), time.monotonic()
        trip = kernel.roundtrip()  # waits behind the blocking cell
        time.sleep(0.2)
        t1, cpu1 = time.monotonic(), cpu_seconds(kernel.pid)
        lag = kernel.lag(t0, t1)
    return {
        "lag_p99": [percentile(lag, 99) * 1000],
        "lag_max": [max(lag) * 1000],
        "cell": [trip * 1000],
        "cpu": [100 * (cpu1 - cpu0) / (t1 - t0)],
    }


def kernel_baseline_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """The docs' loop in a cell (one job): how long ``1+1`` waits, the probe's lag, kernel CPU.

    Kernels are started (one per repeat) before ``ready()``, so their start-up
    does not weigh on the sections measuring at the same time.
    """
    sim = serve(config["clips_dir"], job_seconds=tuple(config["job_seconds"]), seed=6000)
    try:
        kernels = [_docs_loop_kernel(sim, config) for _ in range(config["repeats"])]
        ready()
        return {"repeats": [_docs_loop_once(sim, k, config) for k in kernels]}
    finally:
        sim.stop()
