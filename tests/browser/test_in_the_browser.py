"""A person in JupyterLab and Notebook 7: build the widget, click Generate, watch the video.

No cell runs after the click: the video must arrive by itself and be playable
(``readyState >= 2``, a known duration) inside the widget's output.
"""

from __future__ import annotations

from typing import Any

from gen3widgets._store import HistoryStore

from .conftest import playwright_expect as expect
from .ui import (
    click_button,
    open_notebook,
    run_cell,
    screenshot_for_docs,
    wait_for_playable_videos,
    widget_output,
)

# Code cells of the shipped notebooks: the import, then the widget (not the wait() cells).
QUICKSTART_PANEL_CELLS = (1, 3)
SEED_GRID_CELLS = (1, 3)
TYPED_PROMPT = "Mist rolls over the water at dawn, the camera drifts left"


def _build_panel_and_generate(page: Any, jupyter: Any) -> Any:
    for index in QUICKSTART_PANEL_CELLS:
        panel_cell = run_cell(page, index)
    panel = widget_output(panel_cell)
    prompt = panel.locator("textarea").first
    prompt.fill(TYPED_PROMPT)
    click_button(panel, "Generate")
    videos = wait_for_playable_videos(page, panel, 1)
    assert len(videos) == 1
    (video,) = videos
    assert video["readyState"] >= 2 and video["duration"] > 0
    assert (video["width"], video["height"]) == (1280, 768)  # 16:9 as the API renders it
    return panel


def _assert_recorded_with_typed_prompt(jupyter: Any) -> None:
    entries = HistoryStore(jupyter.home).entries()
    prompts = [e.generation.request.prompt for e in entries if e.generation.request]
    assert TYPED_PROMPT in prompts  # what was typed in the browser is what was sent


def test_lab_panel_generate_button_shows_a_playable_video(page: Any, jupyter: Any) -> None:
    open_notebook(page, jupyter, "01_quickstart.ipynb", ui="lab")
    panel = _build_panel_and_generate(page, jupyter)
    expect(panel).to_contain_text("completed", timeout=10_000)
    _assert_recorded_with_typed_prompt(jupyter)
    screenshot_for_docs(panel, "panel.png")


def test_lab_seed_grid_shows_four_playable_videos(page: Any, jupyter: Any) -> None:
    open_notebook(page, jupyter, "02_seed_grid.ipynb", ui="lab")
    for index in SEED_GRID_CELLS:
        grid_cell = run_cell(page, index)
    grid = widget_output(grid_cell)
    assert "4 videos" in grid.inner_text()  # the cost is shown before anything is bought
    click_button(grid, "Generate")
    videos = wait_for_playable_videos(page, grid, 4)
    assert len(videos) == 4
    assert all(v["readyState"] >= 2 and v["duration"] > 0 for v in videos)
    expect(grid).to_contain_text("4 of 4 done", timeout=10_000)
    screenshot_for_docs(grid, "grid.png")


def test_notebook7_panel_generate_button_shows_a_playable_video(page: Any, jupyter: Any) -> None:
    open_notebook(page, jupyter, "01_quickstart.ipynb", ui="notebook")
    panel = _build_panel_and_generate(page, jupyter)
    expect(panel).to_contain_text("completed", timeout=10_000)
