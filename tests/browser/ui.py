"""What a person does in JupyterLab or Notebook 7, as Playwright steps.

Every wait is on a condition in the page, with a deadline; nothing sleeps.
Both front ends share the notebook DOM (``.jp-Notebook .jp-Cell``), so the
same steps drive both; only the URL differs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
VIDEO_DEADLINE_MS = 90_000
KERNEL_DEADLINE_MS = 60_000
RUN_START_MS = 10_000
RUN_ATTEMPTS = 3

# A cell's prompt reads "[*]:" while it runs and "[n]:" after; "[ ]:" before.
_STARTED = "(prompt) => /\\[(\\*|\\d+)\\]/.test(prompt.textContent)"

# True once every <video> under ``el`` (at least ``count``) can show a frame and knows its length.
_VIDEOS_PLAYABLE = """
([el, count]) => {
  const videos = [...el.querySelectorAll("video")].filter(v => v.getAttribute("src"));
  const ready = videos.filter(v => v.readyState >= 2 && v.duration > 0 && isFinite(v.duration));
  return ready.length >= count;
}
"""

# Play every video (muted) for about a second, then pause: a frame shows and the player's
# loading spinner is gone (for screenshots). Gives up waiting after 10 s.
_SHOW_FRAME = """
async (el) => {
  const videos = [...el.querySelectorAll("video")];
  const playAWhile = v => new Promise(done => {
    v.muted = true;
    const stop = () => { v.pause(); done(); };
    v.addEventListener("timeupdate", () => { if (v.currentTime >= 1.0) stop(); });
    setTimeout(stop, 10000);
    v.currentTime = 0;
    v.play().catch(stop);
  });
  await Promise.all(videos.map(playAWhile));
}
"""


def open_notebook(page: Any, server: Any, name: str, *, ui: str = "lab") -> None:
    """Open ``name`` in JupyterLab (a fresh workspace) or Notebook 7 and wait for an idle kernel."""
    if ui == "lab":
        workspace = re.sub(r"\W", "-", name)
        url = server.page_url(f"lab/workspaces/{workspace}/tree/{name}?reset")
    else:
        url = server.page_url(f"notebooks/{name}")
    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    wait_for_idle_kernel(page)
    fail_on_dialog(page)


def fail_on_dialog(page: Any) -> None:
    """Answer Lab's "Select Kernel" question as a person would (the preselected Python 3);
    any other modal dialog (kernel or server trouble) would swallow every click: fail
    with what it says."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return
    text = dialog.first.inner_text()
    if text.startswith("Select Kernel"):
        dialog.first.locator("button.jp-mod-accept").click()
        dialog.first.wait_for(state="detached")
        wait_for_idle_kernel(page)
        return
    raise AssertionError(f"a dialog is open: {text!r}")


def wait_for_idle_kernel(page: Any) -> None:
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        timeout=KERNEL_DEADLINE_MS
    )


def cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def run_cell(page: Any, index: int) -> Any:
    """Click into cell ``index`` and press Ctrl+Enter (run it, stay on it); returns the cell.

    Right after a notebook opens, Lab may still be connecting the kernel and
    drop the key press: then the prompt stays ``[ ]:`` and the press is
    repeated (nothing ran, so nothing runs twice).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    target = cell(page, index)
    prompt = target.locator(".jp-InputPrompt").first
    for _attempt in range(RUN_ATTEMPTS):
        fail_on_dialog(page)
        target.locator(".jp-InputArea-editor").click(timeout=RUN_START_MS)
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function(_STARTED, arg=prompt.element_handle(), timeout=RUN_START_MS)
            return target
        except PlaywrightTimeout:
            fail_on_dialog(page)
            continue
    raise AssertionError(f"cell {index} did not start running after {RUN_ATTEMPTS} tries")


def widget_output(target: Any) -> Any:
    """The rendered widget output of a cell, once it is there."""
    output = target.locator(".jp-OutputArea-output").filter(
        has=target.page.locator(".jupyter-widgets, .gen3")  # ipywidgets, or our anywidgets
    )
    output.first.wait_for(timeout=KERNEL_DEADLINE_MS)
    return output.first


def click_button(area: Any, text: str) -> None:
    area.locator("button", has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).click()


def wait_for_playable_videos(page: Any, area: Any, count: int) -> list[dict[str, float]]:
    """Look at ``area`` and wait until ``count`` videos in it can play; what each reports.

    Players load only what is on screen, so ``area`` is scrolled into view first,
    as a person would.
    """
    area.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_function(
        _VIDEOS_PLAYABLE, arg=[area.element_handle(), count], timeout=VIDEO_DEADLINE_MS
    )
    videos: list[dict[str, float]] = area.locator("video").evaluate_all(
        "vs => vs.filter(v => v.getAttribute('src')).map(v => ({readyState: v.readyState,"
        " duration: v.duration, width: v.videoWidth, height: v.videoHeight}))"
    )
    return videos


# Move the grid's shared scrubber to ``t`` as a drag does; resolve once every video has
# finished seeking, with each video's position.
_SCRUB = """
async (el, t) => {
  const scrub = el.querySelector(".gen3-scrub");
  scrub.value = String(t);
  scrub.dispatchEvent(new Event("input", { bubbles: true }));
  scrub.dispatchEvent(new Event("change", { bubbles: true }));
  const videos = [...el.querySelectorAll(".gen3-cells video")];
  await Promise.all(videos.map(v => v.seeking
    ? new Promise(done => v.addEventListener("seeked", done, { once: true })) : null));
  return videos.map(v => v.currentTime);
}
"""
_POSITIONS = "el => [...el.querySelectorAll('.gen3-cells video')].map(v => v.currentTime)"


def scrub_to(area: Any, seconds: float) -> list[float]:
    """Drag the grid's scrubber to ``seconds``; every cell video's position afterwards."""
    positions: list[float] = area.evaluate(_SCRUB, seconds)
    return positions


def positions(area: Any) -> list[float]:
    """Where each cell video of a grid is now."""
    found: list[float] = area.evaluate(_POSITIONS)
    return found


def press(area: Any, name: str) -> None:
    """Click the button called ``name`` (its text, or its label for an icon button)."""
    area.get_by_role("button", name=name, exact=True).first.click()


def screenshot_for_docs(area: Any, name: str) -> Path | None:
    """With ``GEN3WIDGETS_SCREENSHOTS=1``, save ``area`` as ``docs/<name>`` (else do nothing)."""
    if os.environ.get("GEN3WIDGETS_SCREENSHOTS") != "1":
        return None
    # Tall enough that the whole output is on screen (an element screenshot is clipped
    # by the notebook's scroll area).
    area.page.set_viewport_size({"width": 1280, "height": 2600})
    area.evaluate(_SHOW_FRAME)
    area.evaluate("el => el.scrollIntoView({block: 'start'})")
    area.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
    area.page.mouse.move(0, 0)  # nor a hover outline
    DOCS.mkdir(exist_ok=True)
    path = DOCS / name
    area.screenshot(path=str(path), animations="disabled")
    return path
