"""Every notebook, run top to bottom in a real Jupyter kernel, as a person would run it.

Each runs on a copy of ``notebooks/`` (so nothing is written into the
checkout, and the executed outputs are never written back), with the
kernel's working directory there, a fresh ``GEN3WIDGETS_HOME`` and no
``AIMLAPI_KEY``: the built-in simulator answers. "Run All" is run after a
click on Generate, the way a person who pressed the button first would, and
must not buy anything twice. One run uses a (fake) key against the contract
imitation served on 127.0.0.1, where both models are served.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from gen3widgets._store import HistoryStore
from tests.contract_api import ContractAPI
from tests.fakes import ServedContract, WallClock

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# A click on Generate right after the widget is shown, before "Run All" reaches the submit cell.
CLICKS = {
    "01_quickstart.ipynb": ("01-03", "panel.generate.click()"),
    # The grid is an anywidget: a click is the message its front end sends.
    "02_seed_grid.ipynb": (
        "02-03",
        'grid._handle_custom_msg({"type": "action", "name": "generate"}, [])',
    ),
    "04_sequences.ipynb": (
        "04-03",
        'seq._handle_custom_msg({"type": "action", "name": "generate"}, [])',
    ),
}


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of notebooks/ and an environment the kernel inherits; the originals stay as they are."""
    before = snapshot(NOTEBOOKS)
    target = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns("out", ".ipynb_checkpoints"))
    # The kernel imports gen3widgets from this checkout even when it is not installed.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    yield target
    assert snapshot(NOTEBOOKS) == before  # running them changed nothing in the checkout


def execute(path: Path, *, click: bool = True) -> Any:
    """Run the notebook at ``path`` in a kernel (in memory: the file is never written)."""
    nb = nbformat.read(path, as_version=4)
    if click and path.name in CLICKS:
        after, source = CLICKS[path.name]
        index = next(i for i, cell in enumerate(nb.cells) if cell.get("id") == after)
        click_cell = new_code_cell(source)
        click_cell.id = "test-click"
        nb.cells.insert(index + 1, click_cell)
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


def bought() -> list[dict[str, Any]]:
    """The purchases in this test's history (the kernel shares its GEN3WIDGETS_HOME)."""
    return [row for row in HistoryStore().submissions() if row["state"] == "bought"]


def test_the_notebooks_are_stored_clean() -> None:
    assert NAMES == [
        "01_quickstart.ipynb",
        "02_seed_grid.ipynb",
        "03_scripting.ipynb",
        "04_sequences.ipynb",
    ]
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert nb.nbformat == 4
        assert nb.metadata.kernelspec.name == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name
        assert "widgets" not in nb.metadata  # no saved widget state
        text = "\n".join(cell.source for cell in nb.cells)
        assert "tokens" not in text  # prices are in dollars, from the catalogue
        assert "runway/gen4_turbo" in text, name


def test_the_quickstart_shows_the_model_choice() -> None:
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    assert "gen3a_turbo" in text and "the default" in text and "retire" in text
    wide = [
        cell.source
        for cell in nb.cells
        if cell.cell_type == "code" and 'model="runway/gen4_turbo"' in cell.source
    ]
    assert len(wide) == 1 and 'ratio="21:9"' in wide[0]  # both in one cell
    first_panel = next(c.source for c in nb.cells if "GenerationPanel(" in c.source)
    assert "model=" not in first_panel  # the default model, without saying so


def test_what_running_the_notebooks_writes_is_ignored_by_git() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for written in ("notebooks/out/seed_grid/index.html", "notebooks/out/videos/a.mp4"):
        ignored = subprocess.run(["git", "check-ignore", "-q", written], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{written} would show as a change after a run"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_on_the_simulator(name: str, workdir: Path) -> None:
    copy_before = snapshot(workdir)
    nb = execute(workdir / name)
    errors = [out for out in outputs(nb) if out.get("output_type") == "error"]
    assert errors == []
    text = text_of(nb)
    assert "Traceback" not in text
    stderr = "".join(o.get("text", "") for o in outputs(nb) if o.get("name") == "stderr")
    assert "Warning" not in stderr, stderr
    CHECKS[name](nb, workdir)
    # Executed outputs stay in memory: the notebook files on disk are as they were, and
    # what the notebooks wrote is under out/ only.
    after = snapshot(workdir)
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == copy_before


def _check_quickstart(nb: Any, workdir: Path) -> None:
    text = text_of(nb)
    assert "completed" in text
    widgets = [o for o in outputs(nb) if WIDGET_MIME in o.get("data", {})]
    assert len(widgets) >= 3  # the panel, the runway/gen4_turbo panel and the %gen3 panel
    assert (
        "state" in nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]
    )  # the widgets were saved with their state
    turbo = [row for row in bought() if row["model"] == "gen3a_turbo"]
    assert len(turbo) == 2  # the panel (its Generate click and submit() are one purchase), %gen3


def _check_seed_grid(nb: Any, workdir: Path) -> None:
    for folder, videos in (("seed_grid", 4), ("prompt_matrix", 4)):
        saved = workdir / "out" / folder
        assert (saved / "index.html").is_file()
        assert (saved / "stills.png").is_file()
        assert len(list(saved.glob("*.mp4"))) == videos
    pngs = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(pngs) == 2  # the two still strips, kept as plain images
    assert text_of(nb).count(": completed ") == 4
    assert len(bought()) == 8  # Generate, then submit(): the grid is bought once


def _check_scripting(nb: Any, workdir: Path) -> None:
    videos = list((workdir / "out" / "videos").glob("*.mp4"))
    assert len(videos) == 4  # one blocking + three async
    text = text_of(nb)
    assert "problems with the generation request" in text
    assert "saved: 5\t/" in text  # the command line printed the seed and the file it saved
    assert "gen3a_turbo       completed  seed=5" in text  # ... and the history lists it
    assert len(bought()) == 5


def _check_sequences(nb: Any, workdir: Path) -> None:
    film = workdir / "out" / "sequence" / "film.mp4"
    with av.open(str(film)) as container:
        length = float(container.duration / av.time_base)
    assert abs(length - 15.0) < 0.2  # three 5 s shots
    text = text_of(nb)
    assert text.count(", completed,") == 3  # the three shots, as printed
    assert "(2, 2, 'completed')" in text and "(3, 2, 'completed')" in text  # cascade
    pngs = [o for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(pngs) == 1  # the last frame, kept as a plain image
    rows = bought()
    # Generate, then submit(): 3 shots once; the cascade 2 more; resume none; 2 models x 2 seeds.
    assert len(rows) == 3 + 2 + 4
    assert sorted(r["model"] for r in rows).count("runway/gen4_turbo") == 2


CHECKS = {
    "01_quickstart.ipynb": _check_quickstart,
    "02_seed_grid.ipynb": _check_seed_grid,
    "03_scripting.ipynb": _check_scripting,
    "04_sequences.ipynb": _check_sequences,
}


@pytest.fixture
def served() -> Iterator[ServedContract]:
    contract = ContractAPI(WallClock(), job_seconds=0.5, logs_lag=0.0)  # type: ignore[arg-type]
    with ServedContract(contract) as running:
        yield running


def test_the_quickstart_on_an_api_with_both_models_and_no_key_saved(
    workdir: Path, served: ServedContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-fake-3141592653589793-do-not-save"
    monkeypatch.setenv("AIMLAPI_KEY", key)
    monkeypatch.setenv("AIMLAPI_BASE_URL", served.url)
    nb = execute(workdir / "01_quickstart.ipynb")
    saved = nbformat.writes(nb)
    api = served.api
    assert api.counts["creates"] == 3 == api.bought  # it really used the "real" API path
    assert sorted((job.model, job.body.get("aspect_ratio")) for job in api.jobs.values()) == [
        ("gen3a_turbo", "16:9"),
        ("gen3a_turbo", "16:9"),
        ("runway/gen4_turbo", "21:9"),
    ]
    assert {g["state"] for g in bought()} == {"bought"} and len(bought()) == 3
    assert "widget-state" in saved
    assert key not in saved
    assert "Offline simulator" not in saved  # the panel knew it was not simulated
