"""The front end: a 16-clip grid of realistic 10 s clips in real JupyterLab and Debian Chromium.

Two approaches, in the same run, one after the other, each in a fresh kernel
with its own simulator and history:

* gen3widgets: ``SeedGrid`` (clips on demand, posters, previews);
* the baseline: ``baselines/bytes_in_state.py``, the grid as it was (an
  ``ipywidgets.Video`` per cell whose value is the MP4's bytes).

For each, Playwright opens the notebook in JupyterLab (a viewport tall enough
for the whole grid), runs the cell that shows the grid and clicks Generate.
Measured:

* kernel memory growth: RSS of the kernel process (psutil) from just before
  the click until every video is playable;
* bytes over the websocket: every frame of the kernel's websocket, both ways,
  from the click on (Playwright ``page.on("websocket")``), against the bytes of
  the video files the jobs produced;
* last video playable after the slowest job finished: the page notes (every
  25 ms) when each ``<video>`` first reaches ``readyState >= 2``; the simulator
  notes when each job completed on the server, the kernel when each ``Job``
  finished (video saved; the widget makes the previews after that); all on
  this machine's clock;
* first still after the first job finished: a poster on screen (gen3widgets)
  or the first playable video (the baseline, which has no posters);
* the saved notebook's size, saved by JupyterLab with widget state;
* preview cost per clip: ``ensure_previews`` on copies of the realistic clip,
  here, with the CPU time of its child process.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import API_KEY, BENCH_DIR, PROMPT, ROOT, clip_path, serve

CHROMIUM = Path(os.environ.get("GEN3WIDGETS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
LAB_SETTINGS = {  # a quiet Lab that saves widget state with the notebook
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}
SETUP = """import os, sys
os.environ.update(AIMLAPI_BASE_URL={url!r}, GEN3WIDGETS_HOME={home!r})
sys.path.insert(0, {bench!r})
"""
CELLS = {
    "gen3widgets": "from gen3widgets import SeedGrid\n"
    "grid = SeedGrid({prompt!r}, 'lake.jpg', seeds=list(range(1, {seeds} + 1)), "
    "duration={duration}, columns=4)\ngrid",
    "baseline": "from baselines.bytes_in_state import BytesGrid\n"
    "grid = BytesGrid({prompt!r}, 'lake.jpg', seeds=list(range(1, {seeds} + 1)), "
    "duration={duration}, columns=4)\ngrid",
}
# Notes, every 25 ms, when each video first becomes playable and when a poster first shows.
WATCH = """() => {
  const seen = new WeakSet();
  const state = (window.__gen3bench = { playable: [], poster: null });
  setInterval(() => {
    const now = Date.now();
    for (const v of document.querySelectorAll(".jp-OutputArea-output video")) {
      if (state.poster === null && v.getAttribute("poster")) state.poster = now;
      if (!seen.has(v) && v.getAttribute("src") && v.readyState >= 2) {
        seen.add(v);
        state.playable.push(now);
      }
    }
  }, 25);
}"""
FINISHED = "import json; print('FINISHED', json.dumps([j.finished_at for j in grid.jobs]))"
MB = 1024 * 1024


class Lab:
    """JupyterLab on 127.0.0.1 serving ``root``, with its own settings; stopped on exit."""

    def __init__(self, root: Path, work: Path, timeout: float) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        settings = work / "settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "JUPYTER"))}
        env.update(
            AIMLAPI_KEY=API_KEY,
            JUPYTER_CONFIG_DIR=str(work / "config"),
            JUPYTER_DATA_DIR=str(work / "data"),
            JUPYTER_RUNTIME_DIR=str(work / "runtime"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={root}",
            "--ServerApp.allow_root=True", f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={work / 'workspaces'}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        with (work / "lab.log").open("wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + min(timeout, 120)
        while True:
            try:
                self.api("GET", "status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"JupyterLab did not start; see {work / 'lab.log'}"
                    ) from None
                time.sleep(0.25)  # the server's readiness, with a deadline

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path}?reset&token={self.token}"

    def kernel_pid(self) -> int:
        import psutil

        (session,) = self.api("GET", "sessions")
        kernel = session["kernel"]["id"]
        for process in psutil.process_iter(["cmdline"]):
            if any(kernel in part for part in process.info["cmdline"] or ()):
                return int(process.pid)
        raise RuntimeError(f"no process for kernel {kernel}")

    def stop_kernels(self) -> None:
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss)


def _run_grid(
    browser: Any, lab: Lab, sim: Any, notebook: str, config: dict[str, Any]
) -> dict[str, Any]:
    """Show the grid, click Generate, wait for every video; what the approach cost."""
    seeds, deadline_ms = config["seeds"], int(config["timeout"] * 1000)
    context = browser.new_context(viewport={"width": 1400, "height": 1700})
    page = context.new_page()
    page.set_default_timeout(deadline_ms)
    traffic = {"in": 0, "out": 0}

    def on_socket(ws: Any) -> None:
        if "/api/kernels/" not in ws.url:
            return

        def count(way: str) -> Callable[[Any], None]:
            def add(payload: Any) -> None:
                traffic[way] += len(payload.encode() if isinstance(payload, str) else payload)

            return add

        ws.on("framereceived", count("in"))
        ws.on("framesent", count("out"))

    page.on("websocket", on_socket)
    failed = True
    try:
        page.goto(lab.page_url(f"lab/tree/{notebook}"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for()
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first
        idle.wait_for(state="attached")
        _run_cell(page, 0)
        output = page.locator(".jp-OutputArea-output").first
        generate = output.get_by_role("button", name="Generate", exact=True)
        generate.wait_for(timeout=120_000)
        page.evaluate(WATCH)
        pid = lab.kernel_pid()
        before, sent_before = _rss(pid), dict(traffic)
        clicked = time.time()
        generate.click()
        page.wait_for_function(
            f"() => window.__gen3bench.playable.length >= {seeds}", timeout=deadline_ms
        )
        after = _rss(pid)
        marks = page.evaluate("() => window.__gen3bench")
        received = traffic["in"] - sent_before["in"]
        sent = traffic["out"] - sent_before["out"]
        done = _run_cell(page, 1).locator(".jp-OutputArea-output", has_text="FINISHED")
        jobs_done = json.loads(done.inner_text().split("FINISHED", 1)[1])
        saved = _save(page, lab, notebook)
        failed = False
    finally:
        if failed:  # what the page showed, for the section's log
            shot = Path(tempfile.gettempdir()) / f"gen3bench-{notebook}.png"
            page.screenshot(path=str(shot))
            print(f"front end: {notebook} failed; the page is in {shot}", file=sys.stderr)
        context.close()
        lab.stop_kernels()
    offset = time.time() - time.monotonic()  # the simulator's clock is this process's monotonic
    finished = [offset + t for t in sim.app.stats.completed_at.values()]
    playable = [t / 1000 for t in marks["playable"]]
    first_still = marks["poster"] / 1000 if marks["poster"] is not None else min(playable)
    home = Path(config["homes"][notebook])
    videos = [p for p in (home / "videos").glob("*.mp4") if not p.name.endswith(".preview.mp4")]
    return {
        "rss_growth_mb": [(after - before) / MB],
        "ws_in_mb": [received / MB],
        "ws_out_mb": [sent / MB],
        "video_mb": [sum(p.stat().st_size for p in videos) / MB],
        "videos": [float(len(videos))],
        "last_playable_s": [max(playable) - max(finished)],
        "last_playable_after_job_s": [max(playable) - max(jobs_done)],
        "first_still_s": [first_still - min(finished)],
        "click_to_last_playable_s": [max(playable) - clicked],
        "notebook_mb": [saved / MB],
    }


def _run_cell(page: Any, index: int) -> Any:
    """Run cell ``index``; again if Lab dropped the key press (its kernel still connecting)."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt").first
    for _attempt in range(3):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function(
                "(p) => /\\[(\\*|\\d+)\\]/.test(p.textContent)",
                arg=prompt.element_handle(),
                timeout=10_000,
            )
            return cell
        except Exception:
            continue
    raise RuntimeError("the notebook's cell did not start running")


def _save(page: Any, lab: Lab, notebook: str) -> int:
    """Save the notebook from JupyterLab (widget state included); its size on disk."""
    path = lab.root / notebook
    before = path.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=120_000)
    deadline = time.monotonic() + 60
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.1)  # the contents API writes after the front end's request returns
    return path.stat().st_size


def _preview_cost(clip: Path, repeats: int) -> dict[str, list[float]]:
    """``ensure_previews`` on fresh copies of ``clip``: wall and child CPU seconds, sizes."""
    from gen3widgets._previews import ensure_previews

    folder = Path(tempfile.mkdtemp(prefix="gen3bench-previews-"))
    walls, cpus, ratios, posters = [], [], [], []
    for i in range(repeats):
        copy = folder / f"clip{i}.mp4"
        shutil.copyfile(clip, copy)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        made = ensure_previews(copy)
        walls.append(time.monotonic() - started)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime)
        if made.preview is None or made.poster is None:
            raise RuntimeError(f"no preview: {made.problem}")
        ratios.append(made.preview.stat().st_size / copy.stat().st_size)
        posters.append(made.poster.stat().st_size / 1024)
    shutil.rmtree(folder, ignore_errors=True)
    return {"wall": walls, "cpu": cpus, "size_ratio": ratios, "poster_kb": posters}


def front_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    """Both approaches in JupyterLab + Chromium; each one's figures, and the preview cost."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="gen3bench-front-"))
    root = work / "notebooks"
    root.mkdir()
    shutil.copyfile(config["image"], root / "lake.jpg")
    quality, duration = config["quality"], config["duration"]
    timing = {"preset": "realistic"} if config["job_seconds"] is None else {}
    timing.update(job_seconds=tuple(config["job_seconds"] or (2.0, 4.0)))
    sims, homes = {}, {}
    for i, (name, source) in enumerate(CELLS.items()):
        sims[name] = serve(config["clips_dir"], video_quality=quality, seed=9000 + i, **timing)
        home = work / f"home-{name}"
        notebook = f"{name}.ipynb"
        homes[notebook] = str(home)
        cell = SETUP.format(url=sims[name].url, home=str(home), bench=str(BENCH_DIR))
        cell += source.format(prompt=PROMPT, seeds=config["seeds"], duration=duration)
        _write_notebook(root / notebook, cell)
    config = {**config, "homes": homes}
    lab = Lab(root, work, config["timeout"])
    try:
        cost = _preview_cost(clip_path(config["clips_dir"], duration, quality), config["previews"])
        ready()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                runs = {
                    name: _run_grid(browser, lab, sims[name], f"{name}.ipynb", config)
                    for name in CELLS
                }
            finally:
                browser.close()
    finally:
        lab.stop()
        for sim in sims.values():
            sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"repeats": [{**runs, "previews": cost}]}


def _write_notebook(path: Path, source: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell(FINISHED)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
