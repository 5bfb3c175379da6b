"""GenerationPanel in a real ipykernel, run by nbclient like a notebook.

The kernel's own event loop runs the job while ``panel.wait()`` blocks the
cell (the path a user takes), and the saved notebook, widget state included,
must not contain the API key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from gen3widgets.simulator import RunningSimulator, start  # noqa: E402
from tests.widget_support import png_bytes  # noqa: E402

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SECRET = "sk-test-SECRET123"

RUN_PANEL = """
import json
from pathlib import Path
from gen3widgets import GenerationPanel
panel = GenerationPanel(prompt="a slow dolly shot <b>", image={image!r}, seed=1234)
display(panel)
panel.submit()
g = panel.wait(120)
print("RESULT " + json.dumps({{
    "state": panel.job.state.value,
    "status": g.status.value,
    "seed": g.seed,
    "path": str(g.local_path),
    "exists": Path(g.local_path).is_file(),
    "clip": panel.card.view["clip"],
    "simulated": panel.runner.simulated,
    "banner": panel.banner.value != "",
    "on_kernel_loop": panel.runner.on_loop_thread(),
}}))
"""


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "first.png"
    path.write_bytes(png_bytes((320, 192), color="teal"))
    return path


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The kernel inherits this process's environment: an isolated home, this checkout."""
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(tmp_path / "home"))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + (os.pathsep + path if path else ""))


@pytest.fixture
def served() -> Iterator[RunningSimulator]:
    running = start(port=0, job_seconds=(0.5, 1.0))
    try:
        yield running
    finally:
        running.stop()


def _run(cells: list[str], workdir: Path, **options: Any) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=180,
        resources={"metadata": {"path": str(workdir)}},
        **options,
    )
    client.execute()
    return nb


def _result(nb: Any) -> dict[str, Any]:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("RESULT "):
                    return dict(json.loads(line[len("RESULT ") :]))
    raise AssertionError(f"no RESULT line in the outputs: {nb.cells[-1].get('outputs')}")


@pytest.mark.usefixtures("kernel_env")
def test_panel_runs_to_a_saved_video_in_a_real_kernel(tmp_path: Path, image: Path) -> None:
    nb = _run([RUN_PANEL.format(image=str(image))], tmp_path)
    result = _result(nb)
    assert result["state"] == "completed"
    assert result["status"] == "completed"
    assert result["seed"] == 1234
    assert result["exists"] and Path(result["path"]).is_file()
    assert Path(result["path"]).is_relative_to(tmp_path / "home")
    assert result["clip"]["id"] == Path(result["path"]).stem and result["clip"]["full"]
    assert result["simulated"] and result["banner"]  # no AIMLAPI_KEY: the offline simulator
    assert result["on_kernel_loop"]  # the job ran on the kernel's own loop, not a thread


@pytest.mark.usefixtures("kernel_env")
def test_saved_notebook_with_widget_state_never_contains_the_key(
    tmp_path: Path, image: Path, served: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real key and a real base URL: the kernel takes the real-client path, over HTTP.
    monkeypatch.setenv("AIMLAPI_KEY", SECRET)
    monkeypatch.setenv("AIMLAPI_BASE_URL", served.url)
    nb = _run([RUN_PANEL.format(image=str(image))], tmp_path, store_widget_state=True)

    result = _result(nb)
    assert result["state"] == "completed" and result["exists"]
    assert not result["simulated"] and not result["banner"]
    assert served.app.stats.creates_bought == 1
    assert served.app.stats.downloads_with_authorization == 0

    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    # Posters, never videos: the saved notebook stays small.
    video = Path(result["path"]).read_bytes()
    assert not any(s["model_name"] == "VideoModel" for s in state.values())
    buffers = [base64.b64decode(b["data"]) for s in state.values() for b in s.get("buffers", [])]
    assert sum(map(len, buffers)) < 100_000 and video not in buffers  # the inputs' thumbnails
    posters = [p for s in state.values() for p in s["state"].get("posters", {}).values()]
    assert posters and all(p.startswith("data:image/jpeg;base64,") for p in posters)
    assert base64.b64encode(video[:60]).decode()[:40] not in text
    assert len(text) < 400_000
    assert SECRET not in text
    assert SECRET.removeprefix("sk-") not in text
    # Binary buffers are base64 in the file: look inside them too.
    for model in state.values():
        for buffer in model.get("buffers", []):
            assert SECRET.encode() not in base64.b64decode(buffer["data"])


CREATE_PANEL = """
from gen3widgets import GenerationPanel
panel = GenerationPanel(prompt="clicked in a browser", image={image!r}, seed=77)
display(panel)
print("MODEL " + panel.generate.model_id)
"""

AFTER_CLICK = """
import json, threading
from gen3widgets._simulated import shared_simulator
g = panel.wait(120)
ready = threading.Event()  # the card prepares the clip in a worker thread
def check(_=None):
    if (panel.card.view["clip"] or {}).get("ready"):
        ready.set()
panel.card.observe(check, names="view")
check()
ready.wait(60)
print("RESULT " + json.dumps({
    "state": panel.job.state.value,
    "seed": g.seed,
    "path": str(g.local_path),
    "clip": panel.card.view["clip"],
    "card": panel.card.model_id,
    "bought": shared_simulator().stats.creates_bought,
    "generate_disabled": panel.generate.disabled,
}))
"""


def _execute(kc: Any, code: str) -> str:
    """Run ``code`` in the kernel; return its stdout, failing on an error."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=180, output_hook=hook)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


@pytest.mark.usefixtures("kernel_env")
def test_a_click_from_the_front_end_runs_the_panel(tmp_path: Path, image: Path) -> None:
    """The Generate click arrives as a comm message, the way a browser sends it."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        printed = _execute(kc, CREATE_PANEL.format(image=str(image)))
        model_id = printed.split("MODEL ", 1)[1].split()[0]
        click = {"method": "custom", "content": {"event": "click"}}
        kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": model_id, "data": click}))
        printed = _execute(kc, AFTER_CLICK)
        result = json.loads(printed.split("RESULT ", 1)[1].splitlines()[0])
        clip = _ask_for_clip(kc, result["card"], result["clip"]["full"])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert (result["state"], result["seed"], result["bought"]) == ("completed", 77, 1)
    assert not result["generate_disabled"]
    assert clip == Path(result["path"]).read_bytes()  # the clip, on demand, over the comm


def _ask_for_clip(kc: Any, comm_id: str, key: str) -> bytes:
    """Ask for a clip as the front end does; assemble the chunks the kernel sends back."""
    ask = {"method": "custom", "content": {"type": "clip", "key": key, "request": "k1"}}
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": ask}))
    chunks: dict[int, bytes] = {}
    count = None
    while count is None or len(chunks) < count:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != comm_id:
            continue
        content = msg["content"]["data"].get("content", {})
        if content.get("request") != "k1":
            continue
        assert "error" not in content, content
        count = content["count"]
        chunks[content["index"]] = bytes(msg["buffers"][0])
        assert len(chunks[content["index"]]) <= 1 << 20
    return b"".join(chunks[i] for i in range(count))
