"""One benchmark section in its own process: ``python benchmarks/_worker.py SECTION CONFIG_JSON``.

Protocol with ``run.py``: the section does its setup (imports, simulators),
prints ``READY`` and waits for a line on stdin, so that the sections of a
group start measuring together, after every process has paid its start-up
CPU; it then prints ``RESULT <json>`` as its last line.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: F401  (puts the repository on sys.path)

SECTIONS = {
    "poll": "_poll_bench:poll_section",
    "realistic": "_poll_bench:realistic_section",
    "grid": "_grid_bench:grid_section",
    "naive": "_grid_bench:naive_section",
    "kernel": "_kernel_bench:kernel_section",
    "kernel_baseline": "_kernel_bench:kernel_baseline_section",
    "front": "_front_bench:front_section",
    "imports": "_cpu_bench:import_section",
    "render": "_cpu_bench:render_section",
    "store": "_store_bench:store_section",
}


def ready() -> None:
    """Tell ``run.py`` setup is done, then wait for its go."""
    print("READY", flush=True)
    sys.stdin.readline()


def main() -> None:
    name, config = sys.argv[1], json.loads(sys.argv[2])
    # Whatever gen3widgets records (history, videos) stays out of the user's data folder.
    os.environ["GEN3WIDGETS_HOME"] = tempfile.mkdtemp(prefix="gen3bench-home-")
    module, _, function = SECTIONS[name].partition(":")
    section = getattr(importlib.import_module(module), function)
    result = section(config, ready)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
