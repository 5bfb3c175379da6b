"""CPU-bound sections, run alone at the end: import time and the simulator's render time.

Import time: each repeat starts fresh interpreters (after one untimed
warm-up of each, so the files are in the OS cache) and times, with
``time.perf_counter`` inside the process, ``import ipywidgets`` alone, and
what a notebook user runs, ``from gen3widgets import GenerationPanel, SeedGrid``
(which imports ipywidgets too). The figure is the difference, per repeat, in
wall time (what the goal is about) and in CPU time (which other load on the
machine barely changes).
Bare ``import gen3widgets`` (lazy: no ipywidgets, no httpx) is timed as well.

Render time: ``measure_render`` from ``benchmarks/bench_render.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from _common import ROOT

IMPORTS = {
    "ipywidgets": "import ipywidgets",
    "widgets": "from gen3widgets import GenerationPanel, SeedGrid",
    "bare": "import gen3widgets",
}


def time_import(statement: str, cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds ``statement`` takes in a fresh interpreter (start-up excluded).

    CPU time barely depends on what else the machine is doing; wall time does.
    """
    code = (
        "import resource, time\n"
        "def cpu():\n"
        "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    return r.ru_utime + r.ru_stime\n"
        f"c, t = cpu(), time.perf_counter()\n{statement}\n"
        "print(time.perf_counter() - t, cpu() - c)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def import_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    cwd = tempfile.mkdtemp(prefix="gen3bench-import-")
    ready()
    for statement in IMPORTS.values():
        time_import(statement, cwd)  # warm the OS file cache
    out = []
    for _ in range(config["repeats"]):
        t = {name: time_import(statement, cwd) for name, statement in IMPORTS.items()}
        wall = {name: ms[0] * 1000 for name, ms in t.items()}
        cpu = {name: ms[1] * 1000 for name, ms in t.items()}
        out.append(
            {
                "extra": [wall["widgets"] - wall["ipywidgets"]],
                "extra_cpu": [cpu["widgets"] - cpu["ipywidgets"]],
                "ipywidgets": [wall["ipywidgets"]],
                "widgets": [wall["widgets"]],
                "bare": [wall["bare"]],
            }
        )
    return {"repeats": out}


def render_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    from bench_render import measure_render

    ready()
    return {"cases": measure_render(config["repeats"])}
