"""Every notebook, run top to bottom in a real Jupyter kernel, as a person would run it.

Each runs on a copy of ``notebooks/`` (so nothing is written into the
checkout), with the kernel's working directory there, a fresh
``GEN3WIDGETS_HOME`` and no ``AIMLAPI_KEY``: the built-in simulator answers.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of notebooks/ and an environment the kernel inherits."""
    target = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns("out", ".ipynb_checkpoints"))
    # The kernel imports gen3widgets from this checkout even when it is not installed.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    return target


def execute(path: Path) -> Any:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=240,  # per cell; a whole notebook takes seconds on the simulator
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute()
    return nb


def outputs(nb: Any) -> list[dict[str, Any]]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def text_of(nb: Any) -> str:
    parts = []
    for out in outputs(nb):
        if "text" in out:
            parts.append(out["text"])
        for value in out.get("data", {}).values():
            parts.append(value if isinstance(value, str) else json.dumps(value))
    return "\n".join(parts)


def test_the_notebooks_are_stored_clean() -> None:
    assert NAMES == ["01_quickstart.ipynb", "02_seed_grid.ipynb", "03_scripting.ipynb"]
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert nb.nbformat == 4
        assert nb.metadata.kernelspec.name == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name
        assert "widgets" not in nb.metadata  # no saved widget state


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_on_the_simulator(name: str, workdir: Path) -> None:
    nb = execute(workdir / name)
    errors = [out for out in outputs(nb) if out.get("output_type") == "error"]
    assert errors == []
    text = text_of(nb)
    assert "Traceback" not in text
    stderr = "".join(o.get("text", "") for o in outputs(nb) if o.get("name") == "stderr")
    assert "Warning" not in stderr, stderr
    check = CHECKS[name]
    check(nb, workdir)


def _check_quickstart(nb: Any, workdir: Path) -> None:
    text = text_of(nb)
    assert "completed" in text
    widgets = [o for o in outputs(nb) if WIDGET_MIME in o.get("data", {})]
    assert len(widgets) >= 2  # the panel and the %gen3 panel
    assert (
        "state" in nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]
    )  # the widgets were saved with their state


def _check_seed_grid(nb: Any, workdir: Path) -> None:
    for folder, videos in (("seed_grid", 4), ("prompt_matrix", 4)):
        saved = workdir / "out" / folder
        assert (saved / "index.html").is_file()
        assert (saved / "stills.png").is_file()
        assert len(list(saved.glob("*.mp4"))) == videos
    pngs = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(pngs) == 2  # the two still strips, kept as plain images
    assert text_of(nb).count(": completed ") == 4


def _check_scripting(nb: Any, workdir: Path) -> None:
    videos = list((workdir / "out" / "videos").glob("*.mp4"))
    assert len(videos) == 4  # one blocking + three async
    text = text_of(nb)
    assert "problems with the generation request" in text
    assert "saved: /" in text  # the command line printed the file it saved
    assert "completed  seed=5" in text  # ... and the history lists it


CHECKS = {
    "01_quickstart.ipynb": _check_quickstart,
    "02_seed_grid.ipynb": _check_seed_grid,
    "03_scripting.ipynb": _check_scripting,
}


@pytest.fixture
def served() -> Iterator[Any]:
    from gen3widgets.simulator import start

    with start(port=0, job_seconds=(0.5, 1.0)) as running:
        yield running


def test_a_saved_notebook_never_contains_the_key(
    workdir: Path, served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-fake-3141592653589793-do-not-save"
    monkeypatch.setenv("AIMLAPI_KEY", key)
    monkeypatch.setenv("AIMLAPI_BASE_URL", served.url)
    nb = execute(workdir / "01_quickstart.ipynb")
    saved = nbformat.writes(nb)
    assert served.app.stats.creates_received == 2  # it really used the "real" API path
    assert "widget-state" in saved
    assert key not in saved
    assert "Offline simulator" not in saved  # the panel knew it was not simulated
