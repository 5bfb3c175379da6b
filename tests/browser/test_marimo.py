"""The seed grid in a marimo app (``mo.ui.anywidget``), in Chromium: click Generate, play.

marimo renders anywidgets only, which is why the grid is one anywidget drawn
by the shipped front end. The app runs with ``marimo run`` on 127.0.0.1 and the
built-in simulator (no key); the prompt is hostile, to show it stays text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, _free_port, stop_server
from .conftest import playwright_expect as expect
from .ui import click_button, scrub_to, wait_for_playable_videos

PROMPT = "A slow dolly shot <img src=x onerror=alert(1)>"
APP = f"""
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    from gen3widgets import SeedGrid

    grid = mo.ui.anywidget(SeedGrid({PROMPT!r}, "lake.jpg", seeds=[1, 2]))
    tall = mo.ui.anywidget(SeedGrid("portrait", "lake.jpg", seeds=[3], ratio="9:16", columns=1))
    mo.vstack([grid, tall])
    return


if __name__ == "__main__":
    app.run()
"""
START_SECONDS = 90.0
FRAME = 1 / 24


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[str]:
    pytest.importorskip("marimo")
    folder = tmp_path_factory.mktemp("marimo")
    shutil.copy(ROOT / "notebooks" / "assets" / "lake.jpg", folder / "lake.jpg")
    (folder / "app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMLAPI_")}
    env.update(
        GEN3WIDGETS_HOME=str(folder / "gen3home"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    port = _free_port()
    command = [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--no-token"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = artifacts / "marimo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"marimo exited with {process.returncode}; see {log}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"marimo did not answer; see {log}") from None
                time.sleep(0.25)  # polling the server's readiness, with a deadline
        yield url
    finally:
        stop_server(process)


def test_marimo_app_grid_generates_and_plays_in_step(browser: Any, marimo_app: str) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(marimo_app)
        grid = page.locator(".gen3-grid").first  # Playwright's CSS reaches into shadow roots
        expect(grid).to_contain_text("2\u00a0videos")
        expect(grid.locator(".gen3-title")).to_have_text(f"Seed grid: {PROMPT}")
        assert page.locator("img[src=x]").count() == 0  # the prompt stayed text

        click_button(grid, "Generate")
        videos = wait_for_playable_videos(page, grid, 2)
        assert len(videos) == 2 and all(v["readyState"] >= 2 for v in videos)
        expect(grid).to_contain_text("2 of 2 done")
        at = scrub_to(grid, 2.0)
        assert len(at) == 2 and all(abs(t - 2.0) <= FRAME for t in at), at

        # A 9:16 video alone in a wide grid is still never taller than the window.
        tall = page.locator(".gen3-grid").nth(1)
        click_button(tall, "Generate")
        (video,) = wait_for_playable_videos(page, tall, 1)
        assert (video["width"], video["height"]) == (288, 480)  # its preview
        frame = tall.locator(".gen3-cells .gen3-frame").first.bounding_box()
        assert frame is not None and frame["height"] <= 0.76 * 1000  # the viewport's height
        assert frame["width"] == pytest.approx(frame["height"] * 768 / 1280, abs=2)
    finally:
        context.close()
