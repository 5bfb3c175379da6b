"""A seed grid in a real Jupyter kernel, on the built-in simulator (no key set)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent

SETUP = """
import io, json, os
from PIL import Image
from gen3widgets import SeedGrid

buffer = io.BytesIO()
Image.new("RGB", (320, 192), (30, 90, 160)).save(buffer, "PNG")
grid = SeedGrid("a slow dolly shot", buffer.getvalue(), seeds=[6, 5, 4, 3, 2, 1])
grid
"""

RUN = """
from pathlib import Path
grid.submit()
gens = grid.wait(timeout=240)
print(json.dumps({
    "seeds": [g.seed for g in gens],
    "ok": [g.ok for g in gens],
    "files": [str(g.local_path) for g in gens],
    "simulated": grid.runner.simulated,
    "on_kernel_loop": grid.runner._loop_thread is None,
    "previews": [str(p) for p in sorted(Path(gens[0].local_path).parent.glob("*.preview.mp4"))],
    "home": os.environ["GEN3WIDGETS_HOME"],
}))
"""

STILLS = "grid.show_stills()"


def test_six_seed_grid_in_a_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    home = tmp_path / "home"
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(home))
    monkeypatch.delenv("AIMLAPI_KEY", raising=False)
    # The kernel imports this checkout, installed or not.
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(src) for src in (SETUP, RUN, STILLS)]
    client = nbclient.NotebookClient(
        notebook,
        timeout=280,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    shown = notebook.cells[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in shown)
    printed = "".join(
        o.get("text", "") for o in notebook.cells[1].outputs if o.output_type == "stream"
    )
    result = json.loads(printed.strip().splitlines()[-1])
    assert result["seeds"] == [6, 5, 4, 3, 2, 1]
    assert result["ok"] == [True] * 6
    assert result["simulated"] and result["on_kernel_loop"]
    assert Path(result["home"]) == home
    for name in result["files"]:
        path = Path(name)
        assert path.is_file() and path.parent == home / "videos"
    # Each clip's preview was made by the runner before its job was done.
    assert result["previews"] == sorted(
        str(Path(name).with_name(Path(name).stem + ".preview.mp4")) for name in result["files"]
    )
    stills = notebook.cells[2].outputs
    assert any("image/png" in o.get("data", {}) for o in stills)  # static: survives saving
