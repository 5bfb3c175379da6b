"""``python benchmarks/run.py --smoke`` runs end to end and prints every metric row.

It starts simulators on 127.0.0.1 and real kernels, so it is marked ``kernel``
and ``slow``. No timing is asserted: the smoke configuration measures nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The first words of each row the benchmark must print (issue #8).
METRICS = [
    "completion-detection latency (server done → client knows), p50 and p95",
    "GETs per job for 6–10 s jobs",
    'GETs per job for realistic jobs (simulator preset "realistic"',
    "16-seed grid wall time vs its slowest job",
    "same with the server allowing only 4 jobs at once",
    "kernel responsiveness while 16 jobs poll: event-loop lag p99",
    "CPU used by the kernel while 16 jobs poll",
    "`import gen3widgets` time over `import ipywidgets` alone",
    "16-clip grid of realistic 10 s clips in JupyterLab + Chromium",
    "same grid: bytes over the websocket, as a share of the video files",
    "same grid: last video playable after the slowest job finishes",
    "same grid: first still on screen after the first job finishes",
    "same grid: the notebook saved by JupyterLab with widget state",
    "preview cost per clip",
    "simulator render time, 5 s and 10 s clips",
]
COLUMNS = "| metric | gen3widgets | baseline(s), same run | ratio | goal | met? |"


@pytest.mark.kernel
@pytest.mark.slow
def test_smoke_run_prints_the_whole_table(tmp_path: Path) -> None:
    chromium = Path(os.environ.get("GEN3WIDGETS_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists() and os.environ.get("GEN3WIDGETS_REQUIRE_BROWSER") != "1":
        pytest.skip(f"the front-end section needs Chromium ({chromium} is missing)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMLAPI_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == COLUMNS
    for metric in METRICS:
        matching = [row for row in rows if row.startswith(f"| {metric}")]
        assert len(matching) == 1, f"no row for {metric!r} in:\n{done.stdout}"
        assert len(matching[0].split(" | ")) == 6, matching[0]
    # Every section ran (render is skipped in --smoke by design).
    assert "error" not in "\n".join(rows).lower(), done.stdout
    assert "Not measured: render: skipped in --smoke" in done.stdout
