"""A person in JupyterLab and Notebook 7: build the widget, click Generate, watch the video.

No cell runs after the click: the video must arrive by itself and be playable
(``readyState >= 2``, a known duration) inside the widget's output. A grid's
cells play small previews fetched on demand; its toolbar seeks, plays, pauses
and steps them together, and its A/B wipe shows two cells at full resolution.
"""

from __future__ import annotations

from typing import Any

from gen3widgets._store import HistoryStore

from .conftest import playwright_expect as expect
from .ui import (
    click_button,
    open_notebook,
    positions,
    press,
    run_cell,
    screenshot_for_docs,
    scrub_to,
    wait_for_playable_videos,
    widget_output,
)

# Code cells of the shipped notebooks: the import, then the widget (not the wait() cells).
QUICKSTART_PANEL_CELLS = (1, 3)
SEED_GRID_CELLS = (1, 3)
SEQUENCE_CELLS = (1, 3)
TYPED_PROMPT = "Mist rolls over the water at dawn, the camera drifts left"
FRAME = 1 / 24  # the simulator renders 24 fps
_PLAYING_PAST = (
    "([el, t]) => [...el.querySelectorAll('.gen3-cells video')]"
    ".every(v => !v.paused && v.currentTime > t)"
)


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
    expect(panel).to_contain_text("done", timeout=10_000)
    _assert_recorded_with_typed_prompt(jupyter)
    screenshot_for_docs(panel, "panel.png")
    # Extend on the finished card: the next shot starts from this clip's last frame.
    click_button(panel, "Extend")
    expect(panel).to_contain_text("Next shot: starts from the last frame of", timeout=10_000)


def test_lab_sequence_is_bought_shot_by_shot_remade_on_a_click_and_exported(
    page: Any, jupyter: Any
) -> None:
    open_notebook(page, jupyter, "04_sequences.ipynb", ui="lab")
    for index in SEQUENCE_CELLS:
        seq_cell = run_cell(page, index)
    seq = widget_output(seq_cell)
    expect(seq).to_contain_text("3\u00a0videos")  # the cost, before anything is bought
    click_button(seq, "Generate")
    videos = wait_for_playable_videos(page, seq, 3)
    assert len(videos) == 3 and all(v["readyState"] >= 2 for v in videos)
    expect(seq).to_contain_text("3 of 3 shots done", timeout=30_000)

    second = seq.locator(".gen3-cell").nth(1)
    click_button(second, "Re-make")
    expect(second).to_contain_text("Make shot 2 again:", timeout=10_000)  # the cost first
    click_button(second, "Buy")
    expect(seq).to_contain_text("1 stale", timeout=60_000)
    expect(seq.locator(".gen3-cell").nth(2)).to_contain_text("stale")

    click_button(seq, "Export film")
    expect(seq).to_contain_text("Film saved to", timeout=30_000)
    entries = HistoryStore(jupyter.home).entries()
    assert sum(1 for e in entries if e.generation.tags.get("sequence")) == 4
    screenshot_for_docs(seq, "sequence.png")


def _open_seed_grid(page: Any, jupyter: Any, ui: str) -> Any:
    open_notebook(page, jupyter, "02_seed_grid.ipynb", ui=ui)
    for index in SEED_GRID_CELLS:
        grid_cell = run_cell(page, index)
    grid = widget_output(grid_cell)
    expect(grid).to_contain_text("4\u00a0videos")  # the cost, before anything is bought
    return grid


# How a running cell's bar moves between the kernel's once-a-second ticks.
_RUNNING_BAR = """el => {
  const fill = el.querySelector('.gen3-progress:not([hidden]) .gen3-progress-fill');
  if (!fill) return null;
  const style = getComputedStyle(fill);
  return {property: style.transitionProperty, seconds: parseFloat(style.transitionDuration)};
}"""


def _generate_and_play_in_step(page: Any, grid: Any) -> None:
    click_button(grid, "Generate")
    # While jobs run, bars step by scaling, briefly: a width transition lasting the whole
    # tick relayouts and repaints every bar on every frame (without a GPU, 16 running cells
    # kept half a core busy that the previews of finished cells needed).
    bar = page.wait_for_function(_RUNNING_BAR, arg=grid.element_handle()).json_value()
    assert bar["property"] == "transform" and bar["seconds"] <= 0.5, bar
    videos = wait_for_playable_videos(page, grid, 4)
    assert len(videos) == 4
    assert all(v["readyState"] >= 2 and v["duration"] > 0 for v in videos)
    assert {(v["width"], v["height"]) for v in videos} == {(480, 288)}  # previews, not full size
    expect(grid).to_contain_text("4 of 4 done", timeout=10_000)

    # The shared scrubber moves every cell to the same frame.
    for target in (1.5, 3.2, 0.25):
        at = scrub_to(grid, target)
        assert len(at) == 4 and all(abs(t - target) <= FRAME for t in at), at
    press(grid, "Next frame")
    stepped = positions(grid)
    assert all(abs(t - stepped[0]) <= FRAME for t in stepped)
    assert FRAME / 2 < stepped[0] - 0.25 <= 2 * FRAME  # one frame on

    # Played together, then paused together.
    press(grid, "Play all")
    page.wait_for_function(_PLAYING_PAST, arg=[grid.element_handle(), 1.0], timeout=30_000)
    press(grid, "Pause all")
    paused = positions(grid)
    assert max(paused) - min(paused) <= FRAME, paused


def _wipe_shows_two_full_size_videos(page: Any, grid: Any) -> None:
    press(grid, "A|B")
    wipe = grid.locator(".gen3-wipe")
    videos = wait_for_playable_videos(page, wipe, 2)
    assert len(videos) == 2
    assert {(v["width"], v["height"]) for v in videos} == {(1280, 768)}  # full resolution
    sources = wipe.locator("video").evaluate_all("vs => vs.map(v => v.currentSrc)")
    assert len(set(sources)) == 2  # two different cells


def test_lab_seed_grid_plays_in_step_and_wipes(page: Any, jupyter: Any) -> None:
    grid = _open_seed_grid(page, jupyter, "lab")
    _generate_and_play_in_step(page, grid)
    screenshot_for_docs(grid, "grid.png")
    _wipe_shows_two_full_size_videos(page, grid)
    screenshot_for_docs(grid.locator(".gen3-stage"), "wipe.png")

    # The page reloaded while the kernel runs: the new views ask for the clips again.
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")  # the outputs (the widget's place) are on disk then
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')")
    page.reload()
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    grid = widget_output(page.locator(".jp-Notebook .jp-Cell").nth(SEED_GRID_CELLS[-1]))
    videos = wait_for_playable_videos(page, grid, 4)
    assert len(videos) == 4 and all(v["readyState"] >= 2 for v in videos)


def test_notebook7_seed_grid_plays_in_step_and_wipes(page: Any, jupyter: Any) -> None:
    grid = _open_seed_grid(page, jupyter, "notebook")
    _generate_and_play_in_step(page, grid)
    _wipe_shows_two_full_size_videos(page, grid)


def test_notebook7_panel_generate_button_shows_a_playable_video(page: Any, jupyter: Any) -> None:
    open_notebook(page, jupyter, "01_quickstart.ipynb", ui="notebook")
    panel = _build_panel_and_generate(page, jupyter)
    expect(panel).to_contain_text("done", timeout=10_000)
