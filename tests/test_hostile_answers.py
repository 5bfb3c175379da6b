"""Hostile and broken answers: bounded reads, true deadlines, verified videos, no internal links.

Each test once per client. Where the point is a real socket (a server that
trickles), the server runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets import _download
from tests.contract_api import ContractAPI, cut_short, gzip_bomb, html_as_video, status
from tests.fakes import IMAGE, KEY, Api, FakeClock


def _completed(gid: str, url: str) -> g3.Generation:
    return g3.Generation(id=gid, status=g3.Status.COMPLETED, video_url=url)


# -- answers are read under a cap --------------------------------------------------------


def test_a_gzip_bomb_on_a_create_is_uncertain_and_never_inflated_whole(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock, create_faults=[gzip_bomb(400, bought=True)])
    api = make_api(server, reconcile_timeout=0)
    tracemalloc.start()
    try:
        with pytest.raises(g3.SubmissionUncertain, match="larger than 4 MB"):
            api.submit(image=IMAGE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024  # a 400 MB answer, read no further than its cap
    assert server.bought == 1 and server.counts["creates"] == 1


def test_a_gzip_bomb_on_a_poll_is_skipped_and_the_wait_goes_on(
    make_api: Any, clock: FakeClock
) -> None:
    server = ContractAPI(clock, get_faults=[gzip_bomb(100)])
    generation = make_api(server).generate(image=IMAGE)
    assert generation.ok and server.bought == 1


# -- deadlines -----------------------------------------------------------------------------


def test_wait_is_a_true_deadline_against_retry_after(
    api: Api, server: ContractAPI, clock: FakeClock
) -> None:
    server.job_seconds = 100
    generation = api.submit(image=IMAGE)
    server.get_faults = [status(503, headers={"Retry-After": "8"})] * 50
    start = clock.now()
    with pytest.raises(g3.GenerationTimeout):
        api.wait(generation, timeout=3)
    assert clock.now() - start <= 3.0 + 1e-9


def test_each_poll_is_bounded_by_what_is_left_of_the_wait(make_api: Any, clock: FakeClock) -> None:
    server = ContractAPI(clock, job_seconds=100)
    timeouts: list[tuple[float, float]] = []

    def record(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            timeouts.append((request.extensions["timeout"]["read"], clock.now()))
        return server.handle(request)

    api = make_api(server, timeout=30)
    api.client._http._transport = httpx.MockTransport(record)
    generation = api.submit(image=IMAGE)
    start = clock.now()
    with pytest.raises(g3.GenerationTimeout):
        api.wait(generation, timeout=12)
    assert timeouts
    for read, at in timeouts[1:]:  # the catalogue GET came before the wait
        assert read <= max(start + 12 - at, 0.001) + 1e-9


@contextlib.contextmanager
def trickling_server(*, video: bool = False) -> Iterator[str]:
    """Headers at once, then one byte every 0.1 s for ever (until the client hangs up)."""
    stop = threading.Event()

    class Trickle(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            kind = b"video/mp4" if video else b"application/json"
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\n\r\n")
            with contextlib.suppress(OSError):
                while not stop.wait(0.1):
                    self.request.sendall(b" ")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Trickle) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            stop.set()
            server.shutdown()
            thread.join(10)


@pytest.mark.timeout(60)
def test_a_trickling_server_cannot_hold_a_request_past_its_timeout(kind: str, loop: Any) -> None:
    with trickling_server() as url:
        cls = g3.Client if kind == "sync" else g3.AsyncClient
        client = cls(KEY, base_url=url, timeout=1.0, max_retries=0)
        api = Api(client)
        started = time.monotonic()
        with pytest.raises(g3.TransportError, match="Could not get an answer"):
            api.get("some-generation")
        took = time.monotonic() - started
        api.close()
    assert took < 30  # bounded by the 1 s timeout (plus slack for a busy machine), not for ever


@pytest.mark.timeout(60)
def test_a_trickling_video_host_is_given_up_on(
    kind: str, loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_download, "OVERALL_SECONDS", 1.0)
    with trickling_server(video=True) as url:
        cls = g3.Client if kind == "sync" else g3.AsyncClient
        api = Api(cls(KEY, base_url=url, max_retries=0))
        with pytest.raises(g3.DownloadError):
            api.download(_completed("trickled", url + "/v.mp4"))
        api.close()
        videos = api.client.history.videos_dir
        assert not (videos / "trickled.mp4").exists()
        assert not list(videos.glob(".trickled.*.part"))


# -- what was saved is a whole video ---------------------------------------------------------


@pytest.mark.parametrize(
    "close_delimited", [False, True], ids=["promised-length", "close-delimited"]
)
def test_a_video_cut_short_is_never_saved(
    api: Api, server: ContractAPI, close_delimited: bool
) -> None:
    generation = api.generate(image=IMAGE)
    server.video_faults = [cut_short(close_delimited=close_delimited)] * 5
    with pytest.raises(g3.DownloadError, match=r"cut short|not a whole MP4|could not be decoded"):
        api.download(generation)
    folder = api.client.history.videos_dir
    assert not (folder / f"{generation.id}.mp4").exists()
    assert not list(folder.glob("*.part"))
    # One good answer later, it is saved (and reused from then on).
    server.video_faults = [cut_short(close_delimited=close_delimited)]
    path = api.download(generation)
    assert path.read_bytes() == server.video_bytes


def test_html_without_a_content_type_is_not_saved_as_video(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    server.video_faults = [html_as_video()] * 5
    with pytest.raises(g3.DownloadError, match="not an MP4"):
        api.download(generation)
    assert not list(api.client.history.videos_dir.iterdir())


def test_a_broken_file_already_in_place_is_fetched_again(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    folder = api.client.history.videos_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{generation.id}.mp4").write_bytes(server.video_bytes[:100])  # an older cut
    path = api.download(generation)
    assert path.read_bytes() == server.video_bytes
    assert server.counts["downloads"] == 1


def test_a_video_larger_than_any_clip_is_refused(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    too_big = str(_download.MAX_VIDEO_BYTES + 1)
    server.video_faults = [
        status(200, "x", headers={"Content-Type": "video/mp4", "Content-Length": too_big})
    ]
    with pytest.raises(g3.DownloadError, match="far larger"):
        api.download(generation)
    assert _download.MAX_VIDEO_BYTES <= 64 * 1024 * 1024  # tens of MB, not hundreds


def test_a_stale_partial_download_is_cleaned_even_when_the_video_exists(
    api: Api, server: ContractAPI
) -> None:
    generation = api.generate(image=IMAGE)
    path = api.download(generation)
    stale = path.parent / f".{generation.id}.abc123.part"
    fresh = path.parent / f".{generation.id}.def456.part"
    for part in (stale, fresh):
        part.write_bytes(b"half a video")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    assert api.download(generation) == path
    assert not stale.exists()
    assert fresh.exists()  # may belong to another kernel's download in progress


def test_a_folder_that_cannot_be_written_is_a_storage_error(
    make_api: Any, server: ContractAPI, tmp_path: Path
) -> None:
    api = make_api(server)
    generation = api.generate(image=IMAGE)
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(g3.StorageError, match="blocker"):
        api.download(generation, tmp_path / "blocker" / "videos")


# -- links to internal addresses ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v.mp4",
        "http://127.1/v.mp4",
        "http://0x7f.0.0.1/v.mp4",
        "http://2130706433/v.mp4",
        "https://10.0.0.5/v.mp4",
        "https://192.168.1.10/v.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/v.mp4",
        "http://[::ffff:127.0.0.1]/v.mp4",
        "http://localhost:8080/v.mp4",
        "http://cdn.localhost/v.mp4",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ],
)
def test_the_real_api_never_makes_the_client_fetch_an_internal_address(
    api: Api, server: ContractAPI, url: str
) -> None:
    with pytest.raises(g3.DownloadError, match=r"internal address|not an http"):
        api.download(_completed("sneaky", url))
    assert server.requests == []


def test_a_public_name_that_resolves_inside_is_refused(
    api: Api, server: ContractAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def inside(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]

    monkeypatch.setattr(_download.socket, "getaddrinfo", inside)
    generation = api.generate(image=IMAGE)
    with pytest.raises(g3.DownloadError, match=r"resolves to an internal address \(10\.1\.2\.3\)"):
        api.download(generation)
    assert server.counts["downloads"] == 0


def test_a_redirect_to_an_internal_address_is_refused(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    server.video_faults = [status(302, "", headers={"Location": "http://10.0.0.8/v.mp4"})]
    with pytest.raises(g3.DownloadError, match="internal address"):
        api.download(generation)


def test_a_redirect_to_a_public_host_is_followed(api: Api, server: ContractAPI) -> None:
    generation = api.generate(image=IMAGE)
    target = generation.video_url
    server.video_faults = [status(302, "", headers={"Location": str(target)})]
    assert api.download(generation).read_bytes() == server.video_bytes


def test_the_local_simulator_may_serve_videos_from_localhost(
    kind: str, clock: FakeClock, loop: Any
) -> None:
    seen: list[str] = []

    def local(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        from tests.fakes import tiny_mp4

        return httpx.Response(200, content=tiny_mp4(), headers={"Content-Type": "video/mp4"})

    cls = g3.Client if kind == "sync" else g3.AsyncClient
    transport: Any = httpx.MockTransport(local)
    client = cls(KEY, base_url="http://127.0.0.1:8000", transport=transport)
    api = Api(client)
    path = api.download(_completed("local-one", "http://127.0.0.1:8000/v1/files/local-one.mp4"))
    assert path.stat().st_size > 0 and seen == ["http://127.0.0.1:8000/v1/files/local-one.mp4"]
    api.close()
