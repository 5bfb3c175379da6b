"""The API key stays secret, hostile text stays text, and the server cannot steer files.

With ``AIMLAPI_KEY=sk-test-<random>`` and the contract imitation served on
127.0.0.1, the key must be absent from everything a user might share or see:
a notebook saved with its widget state (after a panel, a grid, the ``%gen3``
magic, a failed job and a refused input), reprs, exceptions, DEBUG log
records, the history file, the command line's output, and every request to
the video host. A server that echoes the key back (in an error, an error's
details, even a status) is redacted where its answer is parsed.

Prompts and server messages are shown as text, never as markup. Ids from the
server are checked before they name a file, and downloads refuse absurd
sizes and content that is not video.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import ipywidgets
import pytest

import gen3widgets as g3
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets._store import HistoryStore
from tests.contract_api import ContractAPI, Fault, echo_key
from tests.fakes import (
    Api,
    FakeClock,
    ServedContract,
    WallClock,
    make_client,
    png_bytes,
)
from tests.widget_support import html_text, widget_tree

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-" + secrets.token_hex(12)
XSS = "<img src=x onerror=alert(1)>"
HTML_ERROR = '<script>alert("pwned")</script><b>bold</b> the prompt was flagged'
FLAGGED = {"name": "ContentModerationError", "message": "the prompt was flagged"}


def assert_no_key(text: str, where: str) -> None:
    assert KEY not in text, f"the API key leaked into {where}"
    assert KEY.removeprefix("sk-") not in text, f"the API key leaked into {where}"


def assert_shown_as_text(widget: ipywidgets.Widget, *hostile: str) -> None:
    """No HTML value anywhere in ``widget`` carries the markup of ``hostile`` texts."""
    shown = html_text(widget)
    for text in hostile:
        for tag in ("<img", "<script", "<b>bold"):
            if tag in text:
                assert tag not in shown, f"{tag!r} reached an HTML widget unescaped"


def serve(**options: Any) -> ServedContract:
    options.setdefault("job_seconds", 0.3)
    options.setdefault("logs_lag", 0.5)
    return ServedContract(ContractAPI(WallClock(), **options))  # type: ignore[arg-type]


@pytest.fixture
def served() -> Iterator[ServedContract]:
    with serve() as running:
        yield running


@pytest.fixture
def failing() -> Iterator[ServedContract]:
    with serve(fail_with=FLAGGED) as running:
        yield running


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, served: ServedContract, tmp_path: Path) -> Path:
    """This process (and kernels or commands it starts) uses the key and the local server."""
    home = tmp_path / "home"
    monkeypatch.setenv("AIMLAPI_KEY", KEY)
    monkeypatch.setenv("AIMLAPI_BASE_URL", served.url)
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(home))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + (os.pathsep + path if path else ""))
    image = tmp_path / "first.png"
    image.write_bytes(png_bytes((320, 192), color=(50, 140, 90)))
    return image


def history_bytes(home: Path) -> bytes:
    """Everything the history holds on disk, the write-ahead log included."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("history.sqlite3*")))


# -- in this process: reprs, exceptions, logs, widget state ------------------------------


def test_the_key_is_in_no_repr_exception_log_record_or_widget_state(
    keyed: Path,
    served: ServedContract,
    failing: ServedContract,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gen3widgets.widgets.grid import SeedGrid
    from gen3widgets.widgets.panel import GenerationPanel

    texts: dict[str, str] = {}
    errors: list[BaseException] = []
    widgets: list[ipywidgets.Widget] = []
    with caplog.at_level(logging.DEBUG):  # every logger, httpx and httpcore included
        client = g3.Client()
        generation = client.generate(image=keyed, prompt="secret test", seed=1, timeout=60)
        client.download(generation, tmp_path / "videos")
        texts["estimate and balance"] = f"{client.estimate()} {client.balance()}"

        async def async_side() -> g3.Generation:
            async with g3.AsyncClient() as aclient:
                texts["async client"] = repr(aclient) + repr(vars(aclient))
                return await aclient.generate(image=keyed, seed=2, timeout=60)

        texts["async generation"] = repr(asyncio.run(async_side()))

        runner = JobRunner(g3.AsyncClient())
        failing_runner = JobRunner(g3.Client(base_url=failing.url))
        try:
            panel = GenerationPanel(runner, prompt=XSS, image=keyed, seed=3)
            panel.submit()
            panel.wait(60)
            panel.show_balance()
            grid = SeedGrid("a grid", keyed, seeds=[4, 5], client=runner)
            grid.submit()
            grid.wait(60)
            refused = GenerationPanel(runner, prompt="p", image="http://insecure.example.com/a")
            refused.generate.click()
            assert "Nothing was sent" in refused.problems.value
            failed = GenerationPanel(failing_runner, prompt="fail", image=keyed)
            failed.submit()
            with pytest.raises(g3.GenerationFailed) as caught:
                failed.wait(60)
            errors.append(caught.value)
            widgets += [panel, grid, refused, failed]
            texts["reprs"] = " ".join(
                repr(x)
                for x in (client, runner, panel, grid, panel.job, panel.generation, generation)
            )
            texts["request"] = repr(generation.request) + repr(panel.job.request)  # type: ignore[union-attr]
            texts["job vars"] = repr(vars(panel.job)) + repr(vars(runner))
            texts["history"] = repr(HistoryStore().entries()) + repr(g3.history())
            texts["rich"] = generation._repr_html_()
        finally:
            runner.close()
            failing_runner.close()
            client.close()

        # Errors from every layer, including servers that echo the key back.
        def echo(request: httpx.Request) -> httpx.Response:
            said = request.headers.get("Authorization", "")
            return httpx.Response(401, json={"message": f"bad key {said}", "statusCode": 401})

        def explode(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(
                f"cannot reach host with {request.headers.get('Authorization')}"
            )

        for handler in (echo, explode):
            with g3.Client(transport=httpx.MockTransport(handler), max_retries=0) as c:
                try:
                    c.submit(image="https://images.example.com/a.png")
                except g3.Gen3Error as exc:
                    errors.append(exc)
        with pytest.raises(g3.ValidationError) as invalid:
            g3.GenerationRequest(image=None, seed=-1)
        errors.append(invalid.value)

    assert len(errors) == 4
    for i, exc in enumerate(errors):
        formatted = "".join(traceback.format_exception(exc))
        texts[f"exception {i}"] = f"{exc} {exc!r} {exc.args!r} {formatted} {vars(exc)!r}"
    texts["log"] = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # DEBUG really was on
    for widget in widgets:
        states = [json.dumps(w.get_state(), default=repr) for w in widget_tree(widget)]
        texts[f"state of {type(widget).__name__}"] = "\n".join(states)
        assert_shown_as_text(widget, XSS)
    texts["history file"] = history_bytes(Path(os.environ["GEN3WIDGETS_HOME"])).decode("latin-1")
    for where, text in texts.items():
        assert_no_key(text, where)
    for server in (served, failing):
        assert server.api.counts["downloads_with_auth"] == 0
    assert served.api.counts["downloads"] >= 4


# -- a server that echoes the key back -------------------------------------------------------


def unknown_status_echoing_the_key() -> Fault:
    """A 200 generation whose ``status`` is a string holding the caller's key."""

    def make(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = {
            "id": request.url.params.get("generation_id"),
            "status": f"held {key}",
            "video": None,
            "error": None,
        }
        return httpx.Response(200, json=body)

    return Fault(make)


def error_detail_echoing_the_key() -> Fault:
    """A failed generation in the older error shape, the key in its details only."""

    def make(request: httpx.Request) -> httpx.Response:
        said = request.headers.get("Authorization", "")
        error = {"detail": [{"loc": ["header", "authorization"], "msg": f"rejected {said}"}]}
        body = {"id": request.url.params.get("generation_id"), "status": "failed", "error": error}
        return httpx.Response(200, json=body)

    return Fault(make)


@pytest.mark.parametrize(
    "fault", [lambda: echo_key(as_generation_error=True), error_detail_echoing_the_key]
)
def test_a_key_echoed_in_a_generation_never_reaches_what_a_user_sees_or_keeps(
    make_api: Callable[..., Api],
    server: ContractAPI,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: Callable[[], Fault],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gen3widgets._protocol._warned_statuses", set())  # logged once a process
    home = tmp_path / "home"
    api = make_api(server, api_key=KEY, history=HistoryStore(home))
    server.get_faults += [unknown_status_echoing_the_key(), fault()]
    bought = api.submit(image="https://images.example.com/a.png", prompt="echo", seed=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(g3.GenerationFailed) as caught:
        api.wait(bought, timeout=60)
    failed = caught.value.generation
    assert failed.error and failed.error_detail  # the server said something: it is kept...
    shown = {
        "repr": repr(failed) + repr(caught.value) + str(caught.value),
        "rich": failed._repr_html_(),
        "fields": f"{failed.error} {failed.error_detail!r} {failed.status!r}",
        "history()": repr(g3.history(home=home))
        + " ".join(f"{g.error} {g.error_detail!r}" for g in g3.history(home=home)),
        "history file": history_bytes(home).decode("latin-1"),
        "log": "\n".join(r.getMessage() for r in caplog.records),
    }
    unknown = [r.getMessage() for r in caplog.records if "unknown status" in r.getMessage()]
    assert len(unknown) == 1 and "held" in unknown[0]  # said once, with the key masked
    for where, text in shown.items():
        assert_no_key(text, where)
    assert "***" in failed.error or "***" in json.dumps(failed.error_detail)  # ...masked


def test_the_simulators_placeholder_key_masks_no_ordinary_word() -> None:
    with g3.Client.auto() as client:
        assert client.is_simulated
        from gen3widgets._secrets import redact

        assert redact("the offline simulator") == "the offline simulator"


# -- a notebook saved with its widget state ----------------------------------------------

NOTEBOOK = [
    "import logging\nlogging.basicConfig(level=logging.DEBUG)\n%load_ext gen3widgets",
    """
from gen3widgets import Client, GenerationFailed, GenerationPanel, SeedGrid
panel = GenerationPanel(prompt={xss!r}, image={image!r}, seed=1)
display(panel)
panel.submit()
panel.wait(60)
""",
    """
grid = SeedGrid("a grid", {image!r}, seeds=[2, 3])
display(grid)
grid.submit()
grid.wait(60)
""",
    '%gen3 "from the magic" --image {image} --seed 4 --wait',
    """
refused = GenerationPanel(prompt="p", image="http://insecure.example.com/a.png")
display(refused)
refused.generate.click()
failed = GenerationPanel(Client(base_url={failing!r}), prompt="fail", image={image!r})
display(failed)
failed.submit()
try:
    failed.wait(60)
except GenerationFailed as exc:
    print("failed as expected:", exc)
print(repr(panel), repr(grid), repr(panel.job), repr(panel.generation), repr(Client()))
""",
]


@pytest.mark.kernel
@pytest.mark.slow
def test_a_saved_notebook_never_contains_the_key(
    keyed: Path, served: ServedContract, failing: ServedContract, tmp_path: Path
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    cells = [c.format(image=str(keyed), xss=XSS, failing=failing.url) for c in NOTEBOOK]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()

    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells])
    assert "failed as expected" in outputs and "DEBUG" in outputs  # the cells really ran
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) > 50  # panel, grid, magic panel, refused and failed panels
    assert served.api.bought == 4 and failing.api.bought == 1
    assert_no_key(text, "the saved notebook")
    for model in state.values():  # binary buffers are base64 in the file: look inside
        for buffer in model.get("buffers", []):
            assert KEY.encode() not in base64.b64decode(buffer["data"])
    html = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    shown = "\n".join(html)
    assert "<img src=x" not in shown
    assert "Nothing was sent" in shown
    # Cards carry their texts as data, which their front end shows with textContent.
    views = json.dumps([m["state"].get("view") for m in state.values()])
    assert json.dumps(XSS)[1:-1] in views
    assert "flagged" in views  # the failed job's reason
    for server in (served, failing):
        assert server.api.counts["downloads_with_auth"] == 0


# -- the command line ----------------------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gen3widgets", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=dict(os.environ),
    )


@pytest.mark.slow
def test_the_command_line_never_prints_the_key(
    keyed: Path,
    served: ServedContract,
    failing: ServedContract,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = cli(
        "generate", "--image", str(keyed), "--seeds", "1,2", "--timeout", "60", "-v", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    paths = [line.split("\t")[1] for line in made.stdout.splitlines()]
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)
    listed = cli("history", cwd=tmp_path)
    as_json = cli("history", "--json", cwd=tmp_path)
    balance = cli("balance", cwd=tmp_path)
    reconciled = cli("reconcile", cwd=tmp_path)
    assert listed.returncode == 0 and as_json.returncode == 0 and balance.returncode == 0
    assert reconciled.returncode == 0
    assert len(json.loads(as_json.stdout)) == 2
    invalid = cli("generate", "--image", "http://insecure.example.com/a.png", cwd=tmp_path)
    assert invalid.returncode == 2 and "https" in invalid.stderr
    monkeypatch.setenv("AIMLAPI_BASE_URL", failing.url)
    broken = cli("generate", "--image", str(keyed), "--seed", "9", "--timeout", "60", cwd=tmp_path)
    assert broken.returncode == 1
    assert "flagged" in broken.stderr
    for run in (made, listed, as_json, balance, reconciled, invalid, broken):
        assert_no_key(run.stdout + run.stderr, f"the output of {run.args[3:]}")
    assert served.api.bought == 2
    assert served.api.counts["downloads_with_auth"] == 0


# -- hostile text is shown as text -----------------------------------------------------------


def hostile_api(message: str, video: Any = None) -> Callable[[httpx.Request], httpx.Response]:
    """One generation that fails with ``message`` (or completes with ``video`` as its link)."""
    counter = iter(range(1_000_000))

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v2/video/generations":
            return httpx.Response(404, json={"message": f"Cannot GET {request.url.path}"})
        usage = {"usage": {"credits_used": 500000}}
        gid = "gen-hostile" if request.method == "GET" else f"gen-hostile-{next(counter)}"
        if request.method == "POST":
            return httpx.Response(200, json={"id": gid, "status": "queued", "meta": usage})
        if video is not None:
            return httpx.Response(
                200, json={"id": gid, "status": "completed", "video": {"url": video}, "meta": usage}
            )
        error = {"name": "ModerationError", "message": message}
        return httpx.Response(200, json={"id": gid, "status": "error", "error": error})

    return handle


@pytest.fixture
def hostile_runner(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., JobRunner]]:
    made: list[JobRunner] = []

    def make(handler: Callable[[httpx.Request], httpx.Response]) -> JobRunner:
        client = g3.AsyncClient(
            "sk-test-hostile",
            base_url="http://hostile.test",
            transport=httpx.MockTransport(handler),
            history=HistoryStore(tmp_path / f"home{len(made)}"),
        )
        client._flows.clock = clock
        made.append(JobRunner(client))
        return made[-1]

    yield make
    for runner in made:
        runner.close()


def test_a_hostile_prompt_and_server_error_are_shown_as_text(
    hostile_runner: Callable[..., JobRunner],
) -> None:
    from gen3widgets.widgets.grid import SeedGrid
    from gen3widgets.widgets.panel import GenerationPanel

    runner = hostile_runner(hostile_api(HTML_ERROR))
    panel = GenerationPanel(runner, prompt=XSS, image=png_bytes(), seed=1)
    panel.submit()
    with pytest.raises(g3.GenerationFailed):
        panel.wait(30)
    # The card carries texts as data; its front end puts them in the page as text.
    assert HTML_ERROR in " ".join(panel.card.view["message"])
    assert panel.card.title == XSS
    assert_shown_as_text(panel, XSS, HTML_ERROR)

    grid = SeedGrid(image=png_bytes(), prompts=[XSS, "calm"], seeds=[1, 2], client=runner)
    grid.submit()
    assert all(g.status is g3.Status.ERROR for g in grid.wait(30))  # failed cells are results
    assert all(cell.job is not None and cell.job.state is JobState.FAILED for cell in grid.cells)
    assert all(HTML_ERROR in " ".join(view["message"]) for view in grid.cell_views)
    assert_shown_as_text(grid, XSS, HTML_ERROR)

    generation = panel.generation
    assert generation is not None
    rich = generation._repr_html_()
    assert "<script" not in rich and "&lt;script&gt;" in rich
    panel.close()
    grid.close()


def test_a_hostile_video_link_is_never_a_clickable_script(
    hostile_runner: Callable[..., JobRunner],
) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    runner = hostile_runner(hostile_api("", video="javascript:alert(1)//.mp4"))
    panel = GenerationPanel(runner, prompt="p", image=png_bytes(), seed=1)
    panel.submit()
    with pytest.raises(g3.DownloadError, match="not an http"):
        panel.wait(30)
    view = panel.card.view
    assert "javascript:alert(1)" in " ".join(view["message"])  # said, as text...
    assert view["link"] is None  # ...never offered as a link (the front end links http(s) only)
    shown = html_text(panel)
    assert "href='javascript" not in shown and 'href="javascript' not in shown
    panel.close()


def test_a_hostile_image_url_is_shown_as_text(
    hostile_runner: Callable[..., JobRunner],
) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    panel = GenerationPanel(hostile_runner(hostile_api("")), prompt="p", image=png_bytes())
    panel.image.url.value = 'https://images.example.com/a.png?"><script>alert(1)</script>'
    panel.last_image.url.value = "javascript:alert(1)"
    assert_shown_as_text(panel, "<script")
    assert panel.last_image.thumbnail.value == b""  # never handed to the browser as a URL
    panel.close()


# -- ids from the server never name a file outside the video folder ---------------------------

HOSTILE_IDS = [
    "../../x",
    "..",
    "../",
    "/etc/passwd",
    "a/../../b",
    "a/b",
    "a\\..\\..\\b",
    "C:\\Windows\\x",
    "x\x00.mp4",
    ".hidden",
    "",
    " ",
    "a" * 300,
    42,
    None,
    ["list"],
]


def files_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def hostile_ids_api(gid: Any, counts: dict[str, int]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        counts[request.method] = counts.get(request.method, 0) + 1
        if request.url.host == "cdn.test":
            return httpx.Response(200, content=b"video", headers={"Content-Type": "video/mp4"})
        body = {"id": gid, "status": "completed", "video": {"url": "https://cdn.test/v.mp4"}}
        return httpx.Response(200, content=json.dumps(body).encode())

    return handle


@pytest.mark.parametrize("gid", HOSTILE_IDS, ids=[repr(i)[:20] for i in HOSTILE_IDS])
def test_a_hostile_id_from_the_server_is_refused_before_it_names_a_file(
    gid: Any, tmp_path: Path, clock: FakeClock
) -> None:
    videos = tmp_path / "sandbox" / "videos"
    videos.mkdir(parents=True)
    before = files_under(tmp_path)
    counts: dict[str, int] = {}
    client = g3.Client(
        "sk-test-ids",
        transport=httpx.MockTransport(hostile_ids_api(gid, counts)),
        download_dir=videos,
        history=False,
        max_retries=1,
        reconcile_timeout=0,
    )
    client._flows.clock = clock
    with client:
        with pytest.raises(g3.SubmissionUncertain, match="unusable generation id"):
            client.submit(image="https://images.example.com/a.png")
        assert counts["POST"] == 1  # bought once, never sent again
        if gid:
            with pytest.raises(g3.TransportError, match="unusable generation id"):
                client.get("gen-ok")  # the answer names another, hostile id
        else:  # an answer naming no id is about the generation asked for
            assert client.get("gen-ok").id == "gen-ok"
        if isinstance(gid, str):
            with pytest.raises(g3.TransportError, match="unusable generation id"):
                client.download(
                    g3.Generation(
                        id=gid, status=g3.Status.COMPLETED, video_url="https://cdn.test/v.mp4"
                    )
                )
            with pytest.raises(g3.TransportError):
                client.wait(gid, timeout=5)
    assert files_under(tmp_path) == before
    assert counts["POST"] == 1 and "cdn.test" not in str(counts)


def test_the_job_runner_records_no_generation_for_a_hostile_id(
    tmp_path: Path, clock: FakeClock
) -> None:
    counts: dict[str, int] = {}
    store = HistoryStore(tmp_path / "home")
    client = g3.AsyncClient(
        "sk-test-ids",
        transport=httpx.MockTransport(hostile_ids_api("../../x", counts)),
        history=store,
        reconcile_timeout=0,
    )
    client._flows.clock = clock
    runner = JobRunner(client)
    try:
        job = runner.submit(g3.GenerationRequest(image="https://images.example.com/a.png"))
        with pytest.raises(g3.SubmissionUncertain):
            job.wait(30)
    finally:
        runner.close()
    assert job.state is JobState.UNCERTAIN and counts["POST"] == 1
    (kept,) = store.entries()  # the purchase, uncertain, and no generation under that id
    assert kept.generation.id is None and kept.generation.status.value == "uncertain"
    assert len(store.unresolved(client.base_url)) == 1
    assert list(store.videos_dir.iterdir()) == []
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path.parent / "x.mp4").exists()


# -- downloads refuse what is not a video ------------------------------------------------------


def cdn(headers: dict[str, str], body: bytes | list[bytes]) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        if isinstance(body, bytes):
            return httpx.Response(200, headers=headers, content=body)
        return httpx.Response(200, headers=headers, stream=ChunkStream(body))

    return handle


class ChunkStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body without a Content-Length, sent in chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    async def __aiter__(self) -> Any:
        for chunk in self._chunks:
            yield chunk


REFUSED_DOWNLOADS = {
    "absurd-content-length": (
        {"Content-Type": "video/mp4", "Content-Length": str(10**12)},
        b"",
        "far larger",
    ),
    "html": ({"Content-Type": "text/html"}, b"<html>login</html>", "not a video"),
    "json": ({"Content-Type": "application/json"}, b"{}", "not a video"),
    "image": ({"Content-Type": "image/png"}, png_bytes((8, 8)), "not a video"),
    "endless-stream": (
        {"Content-Type": "video/mp4"},
        [b"\x00" * 4096] * 64,  # 256 KB against a 100 KB cap (set below)
        "more bytes than any",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_DOWNLOADS))
def test_downloads_refuse_absurd_sizes_and_non_video_content(
    case: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gen3widgets._download.MAX_VIDEO_BYTES", 100_000)
    headers, body, message = REFUSED_DOWNLOADS[case]
    generation = g3.Generation(
        id="gen-dl", status=g3.Status.COMPLETED, video_url="https://cdn.test/gen-dl.mp4"
    )
    folder = tmp_path / "videos"
    server = httpx.MockTransport(cdn(headers, body))
    with (
        make_client(kind, server, history=False, download_dir=folder) as api,
        pytest.raises(g3.DownloadError, match=message),
    ):
        api.download(generation)
    assert not folder.exists() or list(folder.iterdir()) == []  # no video, no leftover .part
    assert generation.local_path is None
