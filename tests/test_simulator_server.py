"""The simulator on a real port (127.0.0.1 only): ``start()`` and the ``simulate`` CLI."""

from __future__ import annotations

import ast
import logging
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from gen3widgets.simulator import (
    Faults,
    RenderSpec,
    Simulator,
    SimulatorOptions,
    cli_main,
    start,
)
from gen3widgets.simulator._server import _options, build_parser
from tests.fakes import FakeClock

GENERATION = "/v2/video/generations"
KEY = {"Authorization": "Bearer anything"}
# A tiny valid PNG, so no renderer is needed to make it.
PNG_URI = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
REPO = Path(__file__).resolve().parent.parent


def _fake_render(spec: RenderSpec) -> bytes:
    return b"\x00\x00\x00\x20ftypisom" + bytes(64)


def test_start_serves_real_http_and_stops(clock: FakeClock) -> None:
    with start(port=0, clock=clock.now, render=_fake_render) as running:
        assert running.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=running.url, headers=KEY) as client:
            assert client.get("/health").json()["simulator"] is True
            body = {
                "model": "gen3a_turbo",
                "image_url": PNG_URI,
                "duration": 5,
                "aspect_ratio": "16:9",
            }
            created = client.post(GENERATION, json=body).json()
            clock.advance(10)
            done = client.get(GENERATION, params={"generation_id": created["id"]}).json()
        assert done["status"] == "completed"
        url = done["video"]["url"]
        assert url.startswith(f"{running.url}/v1/files/")  # built from the request's host
        with httpx.Client() as cdn:
            assert cdn.get(url, headers={"Range": "bytes=0-3"}).status_code == 206
        assert running.app.stats.creates_bought == 1 and running.app.stats.downloads == 1
    running.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url + "/health")


def test_a_dropped_answer_aborts_the_connection_quietly(caplog: pytest.LogCaptureFixture) -> None:
    sim = Simulator(render=_fake_render, faults=Faults(create_lost_answer=1.0))
    running = start(app=sim)
    try:
        body = {"model": "gen3a_turbo", "image_url": PNG_URI, "duration": 5}
        with (
            caplog.at_level(logging.WARNING),
            httpx.Client(base_url=running.url, headers=KEY) as client,
        ):
            with pytest.raises(httpx.RemoteProtocolError):
                client.post(GENERATION, json=body)
            sim.faults = Faults()
            assert client.get("/health").status_code == 200  # the server lives on
        assert sim.stats.creates_bought == 1
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        running.stop()
        sim.close()


def _free_port_taken() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_cli_reports_usage_errors_and_busy_ports(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--help"]) == 0
    assert "--job-seconds" in capsys.readouterr().out
    assert cli_main(["--video-shape", "dict"]) == 2
    assert cli_main(["--retire", "gen2"]) == 2
    assert cli_main(["--logs-lag", "-1"]) == 2
    assert "logs_lag must be >= 0" in capsys.readouterr().err
    assert cli_main(["--fault", "get_5xx=2"]) == 2
    assert "within 0..1" in capsys.readouterr().err
    taken = _free_port_taken()
    try:
        assert cli_main(["--port", str(taken.getsockname()[1])]) == 1
        assert "Cannot listen" in capsys.readouterr().err
    finally:
        taken.close()


def test_cli_flags_become_simulator_options() -> None:
    argv = "--paths legacy --retire gen3a_turbo --retire gen4_turbo --logs-lag 5 --balance 20"
    chosen = SimulatorOptions(
        **_options(build_parser().parse_args(shlex.split(argv + " --realistic-bytes")))
    )
    assert (chosen.paths, chosen.logs_lag, chosen.balance_usd) == ("legacy", 5.0, 20.0)
    assert chosen.retired_models == {"gen3a_turbo", "runway/gen4_turbo"}
    assert chosen.video_quality == "realistic"
    # Left alone, each path answers in its own shape; every default is the options' own.
    assert (chosen.video_shape, chosen.usage_field) == (None, None)
    assert SimulatorOptions(**_options(build_parser().parse_args([]))) == SimulatorOptions()


def test_cli_runs_in_the_foreground_until_interrupted() -> None:
    code = (
        "import sys; from gen3widgets.simulator import cli_main; sys.exit(cli_main(sys.argv[1:]))"
    )
    argv = shlex.split(
        "--port 0 --preset fast --video-shape object --ttl 60 --concurrency 2 --fault get_5xx=0.1"
        " --paths universal --retire gen3a_turbo --logs-lag 0 --balance 5 --realistic-bytes"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # uvicorn's own log lines too, so nothing blocks on a full pipe
        text=True,
        env=env,
    )
    stdout = proc.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def read_lines() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    try:
        seen = [lines.get(timeout=60)]
        while "Press Ctrl-C" not in seen[-1]:
            seen.append(lines.get(timeout=30))
        banner = "".join(seen)
        url = banner.split("listening on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        assert f"AIMLAPI_BASE_URL={url} AIMLAPI_KEY=anything" in banner
        health = httpx.get(url + "/health").json()
        assert health["simulator"] is True
        assert health["paths"] == ["/v2/video/generations"]
        assert health["models"] == ["runway/gen4_turbo"]
        legacy = httpx.post(url + "/v2/generate/video/runway/generation", json={})
        assert legacy.status_code == 404
        key = {"Authorization": "Bearer anything"}
        assert httpx.get(url + "/v2/billing", headers=key).json()["current_balance"] == 5.0
        catalogue = httpx.get(url + "/v1/models").json()["data"]
        assert "gen3a_turbo" not in [m["id"] for m in catalogue]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        reader.join(timeout=10)
        rest = [lines.get_nowait() for _ in range(lines.qsize())]
        assert rest[-1].strip() == "Simulator stopped."
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stdout.close()


def test_importing_the_package_does_not_load_the_simulator() -> None:
    code = "import sys, gen3widgets; print(sorted(m for m in ('gen3widgets.simulator', 'starlette', 'uvicorn') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


# Shared plumbing that knows nothing of the API contract: an event loop on a thread, and
# text drawn on pictures.
SHARED_PLUMBING = {"_loop", "_drawing"}


def test_the_simulator_never_imports_the_client() -> None:
    # The client's examiner: sharing the candidate's code would pass the candidate's bugs.
    package = REPO / "gen3widgets" / "simulator"
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = {module} if module else {alias.name for alias in node.names}
                if node.level == 2 and names <= SHARED_PLUMBING:
                    continue
                assert node.level <= 1, f"{source.name} imports from outside the simulator"
            elif isinstance(node, ast.Import):
                module = ",".join(alias.name for alias in node.names)
            else:
                continue
            assert not module.startswith("gen3widgets"), f"{source.name} imports {module}"
