"""A real Jupyter server and a real Chromium, for tests that click what a person clicks.

* ``jupyter`` (session): ``python -m jupyter lab`` on 127.0.0.1, a free port
  and a random token, serving a temporary copy of ``notebooks/``, with its own
  ``GEN3WIDGETS_HOME``, no ``AIMLAPI_KEY`` (so the simulator answers) and its own
  Jupyter config/settings folders (no news pop-ups, no update checks). The
  same server answers JupyterLab (``/lab``) and Notebook 7 (``/notebooks``).
* ``browser`` (per module): Debian's ``/usr/bin/chromium`` through Playwright
  (browser downloads are not used). Missing Chromium skips these tests,
  unless ``GEN3WIDGETS_REQUIRE_BROWSER=1`` (as in CI), where it fails them.
* ``page`` (per test): a fresh browser context; every kernel is shut down
  after the test. When a test fails, a screenshot and the server log are kept
  in the artifacts folder (``GEN3WIDGETS_ARTIFACTS``, else a new folder under
  ``$TMPDIR/gen3widgets-browser-artifacts/``) and their paths are printed in the failure report.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("GEN3WIDGETS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 90.0
# JupyterLab settings for a quiet, predictable UI: no news or update toasts, and the
# notebook's own kernel started without asking (Lab may otherwise ask when the list of
# kernels arrives late, as on a busy machine).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    configured = os.environ.get("GEN3WIDGETS_ARTIFACTS")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    # Outside pytest's temporary folders, which later runs rotate away.
    base = Path(tempfile.gettempdir()) / "gen3widgets-browser-artifacts"
    base.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base))


def _need_chromium() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[test]')"
    if problem is None:
        return
    if os.environ.get("GEN3WIDGETS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here but cannot run: {problem}")
    pytest.skip(f"browser tests need Chromium and Playwright: {problem}")


def playwright_expect(locator: Any, **kwargs: Any) -> Any:
    """Playwright's ``expect`` (imported late: a missing Playwright skips, not errors)."""
    from playwright.sync_api import expect

    return expect(locator, **kwargs)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class JupyterServer:
    url: str
    token: str
    root: Path
    home: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def page_url(self, path: str) -> str:
        """``path`` (e.g. ``lab/tree/x.ipynb``) on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.url}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")


def _settings(folder: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_until_up(server: JupyterServer) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if server.process.poll() is not None:
            tail = "\n".join(server.log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(
                f"jupyter lab exited with {server.process.returncode}; {server.log} ends:\n{tail}"
            )
        try:
            server.api("GET", "status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyter lab did not answer within {SERVER_START_SECONDS:g} s; see {server.log}"
                ) from None
            time.sleep(0.25)  # polling the server's readiness, with a deadline


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[JupyterServer]:
    _need_chromium()
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns("out", ".ipynb_*"))
    home = base / "gen3home"
    for name in ("config", "data", "runtime", "settings", "workspaces"):
        (base / name).mkdir()
    _settings(base / "settings")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "JUPYTER"))}
    env.update(
        GEN3WIDGETS_HOME=str(home),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = artifacts / "jupyter-server.log"
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--ServerApp.allow_root=True",  # CI machines often run as root
        f"--LabApp.user_settings_dir={base / 'settings'}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, home, log, process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Ask a server process to stop; kill it if it has not within 20 s."""
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one test module at a time: Playwright's sync API keeps an asyncio
    loop marked as running in the main thread while it is open, which would break
    later tests that call ``asyncio.run()``."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    report = outcome.get_result()
    page = getattr(item, "_gen3_page", None)
    if report.when != "call" or not report.failed or page is None:
        return
    folder: Path = item._gen3_artifacts  # type: ignore[attr-defined]
    shot = folder / f"{item.name}.png"
    lines = []
    try:
        page.screenshot(path=str(shot), full_page=True)
        lines.append(f"screenshot: {shot}")
    except Exception as exc:  # the page may be gone: say so, keep the report
        lines.append(f"no screenshot ({type(exc).__name__}: {exc})")
    lines.append(f"server log: {folder / 'jupyter-server.log'}")
    report.sections.append(("browser artifacts", "\n".join(lines)))


@pytest.fixture
def page(
    browser: Any, jupyter: JupyterServer, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    request.node._gen3_page = page
    request.node._gen3_artifacts = artifacts
    try:
        yield page
    finally:
        context.close()
        jupyter.shutdown_kernels()
