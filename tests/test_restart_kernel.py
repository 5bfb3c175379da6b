"""Kill the kernel mid-generation: the next kernel still finds and fetches every video.

A real ipykernel (through jupyter_client) talks to the contract imitation
served on a port by this test process. It buys a seed grid, the test waits
until every generation is in the on-disk history, then kills the kernel with
the jobs still running. A fresh kernel must find every one in
``gen3widgets.history()`` and get every video, by ``Client().wait`` +
``download`` and by ``JobRunner().resume``, without buying anything again.

A process killed while a download is being written must leave no broken
file at the video's name: only a ``.part`` temporary file, which the next
download ignores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets._store import HistoryStore
from tests.contract_api import ContractAPI
from tests.fakes import ServedContract, WallClock, poll_until, tiny_mp4

REPO = Path(__file__).resolve().parents[1]
FAKE_KEY = "sk-test-restart-9d3e1f"
SEEDS = [11, 22, 33, 44]


# -- kernels -------------------------------------------------------------------------------


class Kernel:
    """A real IPython kernel in its own process, with a given environment."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 120) -> str:
        """Run ``code`` as a cell; its printed output, or AssertionError with the traceback."""
        out: list[str] = []
        errors: list[str] = []

        def hook(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(
            textwrap.dedent(code), timeout=timeout, output_hook=hook
        )
        if reply["content"]["status"] != "ok" or errors:
            raise AssertionError(f"the cell failed:\n{''.join(out)}\n" + "\n".join(errors))
        return "".join(out)

    def kill(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)  # no goodbye: the process is killed

    @property
    def alive(self) -> bool:
        return bool(self.manager.is_alive())


def result_of(output: str) -> Any:
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"no RESULT line in:\n{output}")


@pytest.fixture
def served() -> Iterator[ServedContract]:
    # Jobs of 6 s: the first kernel is killed well before they end.
    with ServedContract(ContractAPI(WallClock(), job_seconds=6.0, logs_lag=0.0)) as running:  # type: ignore[arg-type]
        yield running


@pytest.fixture
def kernels(tmp_path: Path, served: ServedContract) -> Iterator[Callable[[], Kernel]]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env.update(
        AIMLAPI_KEY=FAKE_KEY,
        AIMLAPI_BASE_URL=served.url,
        GEN3WIDGETS_HOME=str(tmp_path / "home"),
        PYTHONPATH=str(REPO) + (os.pathsep + path if path else ""),
    )
    started: list[Kernel] = []

    def make() -> Kernel:
        started.append(Kernel(env, tmp_path))
        return started[-1]

    yield make
    for kernel in started:
        if kernel.alive:
            kernel.kill()


BUY_A_GRID = """
from gen3widgets.widgets.grid import SeedGrid
grid = SeedGrid("a restart test", {image!r}, seeds={seeds!r})
jobs = grid.submit()
print("RESULT", len(jobs), grid.runner.simulated)
"""

FETCH_EVERYTHING = """
import json
from pathlib import Path
import gen3widgets
from gen3widgets import Client
from gen3widgets._jobs import JobRunner
from gen3widgets._store import HistoryStore

found = gen3widgets.history()
store = HistoryStore()
half = len(found) // 2
client = Client()
paths = {}
for generation in found[:half]:  # the plain client: wait, then download
    done = client.wait(generation.id, timeout=120)
    paths[done.id] = str(client.download(done, store.videos_dir))
runner = JobRunner()  # the job runner, on this kernel's loop
jobs = [runner.resume(generation.id) for generation in found[half:]]
for job in jobs:
    done = job.wait(120)
    paths[done.id] = str(done.local_path)
print("RESULT " + json.dumps({
    "ids": [g.id for g in found],
    "seeds": {g.id: g.seed for g in found},
    "paths": paths,
    "resumed_states": [job.state.value for job in jobs],
    "simulated": runner.simulated,
}))
"""


@pytest.mark.kernel
@pytest.mark.slow
def test_a_killed_kernel_loses_no_generation(
    kernels: Callable[[], Kernel], served: ServedContract, tmp_path: Path
) -> None:
    from PIL import Image

    image = tmp_path / "first.png"
    Image.new("RGB", (320, 192), (20, 120, 160)).save(image)
    store = HistoryStore(tmp_path / "home")

    first = kernels()
    count, simulated = first.run(BUY_A_GRID.format(image=str(image), seeds=SEEDS)).split()[1:]
    assert count == "4" and simulated == "False"  # the real-client path, over HTTP
    rows = poll_until(
        lambda: (r := store.entries()) and len(r) == len(SEEDS) and r,
        timeout=30,
        what="every id in the history",
    )
    pending = [row.generation.id for row in rows if not row.generation.done]
    first.kill()  # mid-way: the jobs take 6 s on the server
    assert len(pending) == len(SEEDS), "the jobs finished before the kill: nothing was tested"
    assert not any(store.videos_dir.glob("*.mp4"))

    second = kernels()
    result = result_of(second.run(FETCH_EVERYTHING))
    assert not result["simulated"]
    assert sorted(result["ids"]) == sorted(pending)
    assert sorted(result["seeds"].values()) == sorted(SEEDS)
    assert result["resumed_states"] == ["completed"] * (len(SEEDS) - len(SEEDS) // 2)
    for gid, path in result["paths"].items():
        video = Path(path)
        assert video == store.videos_dir / f"{gid}.mp4"
        assert video.read_bytes() == served.api.video_bytes
    assert set(result["paths"]) == set(pending)
    by_id = {job.id: job for job in served.api.jobs.values()}
    assert {gid: by_id[gid].body["seed"] for gid in result["ids"]} == result["seeds"]
    for gid in result["ids"][len(SEEDS) // 2 :]:  # the runner recorded what it resumed
        row = store.get(gid)
        assert row is not None and row.generation.status is g3.Status.COMPLETED
        assert row.generation.local_path == store.videos_dir / f"{gid}.mp4"

    counts = served.api.counts
    assert served.api.bought == len(SEEDS) == counts["creates"]  # nothing bought twice
    assert counts["downloads_with_auth"] == 0
    second.kill()


# -- a crash while a download is being written -------------------------------------------


class SlowVideoHost:
    """An HTTP server on 127.0.0.1 that starts sending a video and then stalls forever."""

    def __init__(self, total: int = 2_000_000, sent: int = 200_000) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1/files/gen-crash.mp4?_jwt=abc"
        self._total, self._sent = total, sent
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(conn)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            headers = (
                "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n"
                f"Content-Length: {self._total}\r\n\r\n"
            )
            conn.sendall(headers.encode() + b"\x00" * self._sent)  # ...and nothing more

    def stop(self) -> None:
        self._stop.set()
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        for conn in self._connections:
            conn.close()


DOWNLOAD_IN_A_SUBPROCESS = """
import sys
from gen3widgets import Client, Generation, Status
generation = Generation(id="gen-crash", status=Status.COMPLETED, video_url=sys.argv[1])
Client("sk-test-crash", base_url="http://api.invalid", timeout=120).download(generation)
"""


def test_a_download_killed_mid_stream_leaves_only_a_part_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    videos = home / "videos"  # the history's video folder, where downloads are written
    host = SlowVideoHost()
    env = dict(os.environ, PYTHONPATH=str(REPO), GEN3WIDGETS_HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, "-c", DOWNLOAD_IN_A_SUBPROCESS, host.url],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        part = poll_until(
            lambda: (
                next((p for p in videos.glob("*.part") if p.stat().st_size > 0), None)
                if proc.poll() is None
                else pytest.fail(f"the download ended early: {proc.stderr.read()!r}")
            ),  # type: ignore[union-attr]
            timeout=30,
            what="the download to start writing",
        )
        # Mid-stream, the bytes are only ever in the temporary file.
        assert not (videos / "gen-crash.mp4").exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
        host.stop()

    assert sorted(p.name for p in videos.iterdir()) == [part.name]
    assert part.name.startswith(".gen-crash.") and part.name.endswith(".part")
    assert 0 < part.stat().st_size < 2_000_000

    # The next download ignores the leftover and writes the whole video at its name.
    video = tiny_mp4(9)

    def cdn(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        return httpx.Response(200, content=video, headers={"Content-Type": "video/mp4"})

    generation = g3.Generation(
        id="gen-crash", status=g3.Status.COMPLETED, video_url="https://cdn.test/gen-crash.mp4"
    )
    history = HistoryStore(home)
    with g3.Client("sk-test-crash", transport=httpx.MockTransport(cdn), history=history) as client:
        path = client.download(generation)
    assert path == videos / "gen-crash.mp4" and path.read_bytes() == video
    assert generation.local_path == path
    leftovers = [p.name for p in videos.iterdir() if p.name != "gen-crash.mp4"]
    assert leftovers == [part.name]  # young: it might be another kernel's; never taken for a video
