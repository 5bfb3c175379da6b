"""The history store (the ledger) and the job runner that reads it, one piece at a time.

The store is the library's memory across kernel restarts, so these tests pin
down what it keeps (every purchase before it is sent, every generation), what
it refuses to lose (uncertain creates, a history written by the previous
version), that several threads or kernels may use it at once, that listing
never decodes an image, and that a folder it cannot write stops a purchase
before anything is sent. The job runner tests drive it against the
independent contract imitation (``tests/contract_api.py``) on a fake clock.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import gen3widgets as g3
from gen3widgets._jobs import Job, JobRunner, JobState
from gen3widgets._models import Submission, SubmissionState
from gen3widgets._store import HistoryStore
from tests.contract_api import BASE, ContractAPI, status
from tests.fakes import FakeClock, dead_pid, png_bytes

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-store-0123456789"
URL_IMAGE = "https://images.example.com/first.png"


def request(seed: int = 1, image: Any = URL_IMAGE, **fields: Any) -> g3.GenerationRequest:
    return g3.GenerationRequest(prompt="a slow dolly shot", image=image, seed=seed, **fields)


def generation(gid: str, seed: int = 1, **fields: Any) -> g3.Generation:
    fields.setdefault("request", request(seed))
    return g3.Generation(id=gid, status=g3.Status.QUEUED, **fields)


def submission(sid: str = "g3w-sub-1", seed: int = 1, **fields: Any) -> Submission:
    fields.setdefault("request", request(seed))
    fields.setdefault("server", BASE)
    return Submission(id=sid, **fields)


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "home")


def states(store: HistoryStore) -> dict[str, str]:
    return {row["id"]: row["state"] for row in store.submissions()}


def set_owner(store: HistoryStore, sid: str, *, pid: int, host: str | None = None) -> None:
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE submissions SET pid = ? WHERE id = ?", (pid, sid))
        if host is not None:
            conn.execute("UPDATE submissions SET host = ? WHERE id = ?", (host, sid))


# -- submissions: the write-ahead ledger ---------------------------------------------------


def test_a_submission_is_on_disk_before_it_is_sent_then_bought(store: HistoryStore) -> None:
    store.begin(submission("g3w-a", seed=7, estimate_usd=0.25))
    again = HistoryStore(store.home)  # a new instance: another kernel, or after a restart
    (row,) = again.submissions()
    assert (row["id"], row["state"], row["model"], row["server"]) == (
        "g3w-a",
        "sending",
        "gen3a_turbo",
        BASE,
    )
    assert row["estimate_usd"] == 0.25 and row["generation_id"] is None
    assert again.entries() == []  # nothing bought yet, nothing uncertain

    bought = generation("gen-a", seed=7, cost_usd=0.25, credits_used=500000)
    again.bought("g3w-a", bought)
    assert bought.submission_id == "g3w-a" and bought.submitted_at is not None
    assert states(store) == {"g3w-a": "bought"}
    (entry,) = store.entries()
    listed = entry.generation
    assert (listed.id, listed.submission_id, listed.model) == ("gen-a", "g3w-a", "gen3a_turbo")
    assert (listed.cost_usd, listed.credits_used) == (0.25, 500000)
    assert listed.request == request(7)
    assert entry.server == BASE and not entry.simulated
    assert store.get("gen-a") is not None and store.get("gen-b") is None


def test_refused_uncertain_and_not_bought_each_keep_their_cause(store: HistoryStore) -> None:
    for sid in ("g3w-refused", "g3w-lost", "g3w-never", "g3w-found"):
        store.begin(submission(sid))
    store.refused("g3w-refused", "400: Body validation error")
    store.uncertain("g3w-lost", "ReadTimeout: timed out")
    store.uncertain("g3w-never", "the server answered 502")
    store.not_bought("g3w-never", "the usage logs show the request failed")
    store.bought("g3w-found", generation("gen-found"))
    store.uncertain("g3w-found", "a late, stale report")  # a purchase never becomes uncertain
    assert states(store) == {
        "g3w-refused": "refused",
        "g3w-lost": "uncertain",
        "g3w-never": "not_bought",
        "g3w-found": "bought",
    }
    causes = {row["id"]: row["cause"] for row in store.submissions()}
    assert causes["g3w-refused"] == "400: Body validation error"
    assert causes["g3w-never"] == "the usage logs show the request failed"

    (lost,) = store.unresolved(BASE)
    assert (lost.id, lost.state, lost.cause) == (
        "g3w-lost",
        SubmissionState.UNCERTAIN,
        "ReadTimeout: timed out",
    )
    assert lost.request == request(1) and lost.model == "gen3a_turbo"
    assert store.unresolved("https://elsewhere.test") == []

    listed = {(g.generation.submission_id, g.generation.status.value) for g in store.entries()}
    assert listed == {
        ("g3w-lost", "uncertain"),
        ("g3w-never", "not_bought"),
        ("g3w-found", "queued"),
    }  # a refused create bought nothing: it is not a generation
    uncertain = next(
        e.generation for e in store.entries() if e.generation.submission_id == "g3w-lost"
    )
    assert uncertain.id is None and uncertain.error == "ReadTimeout: timed out"
    assert uncertain.request == request(1)


def test_a_sending_row_of_a_dead_process_is_unresolved_but_not_of_a_live_one(
    store: HistoryStore,
) -> None:
    for sid in ("g3w-mine", "g3w-dead", "g3w-live", "g3w-far", "g3w-old"):
        store.begin(submission(sid))
    set_owner(store, "g3w-dead", pid=dead_pid())  # kill -9 while its create was in flight
    set_owner(store, "g3w-live", pid=os.getppid())  # another live process is still sending
    set_owner(store, "g3w-far", pid=dead_pid(), host="another-machine")  # cannot tell: wait
    set_owner(store, "g3w-old", pid=os.getppid(), host="another-machine")
    with sqlite3.connect(store.path) as conn:  # sent two hours ago: no create takes that long
        conn.execute(
            "UPDATE submissions SET created_at = ? WHERE id = 'g3w-old'", (time.time() - 7200,)
        )
    found = {s.id: s for s in store.unresolved(BASE)}
    assert set(found) == {"g3w-dead", "g3w-old"}
    assert all(s.state is SubmissionState.UNCERTAIN for s in found.values())
    assert states(store)["g3w-dead"] == "sending"  # reading it changes nothing on disk


def test_history_shows_a_create_whose_process_died_mid_send_as_uncertain(
    store: HistoryStore,
) -> None:
    store.begin(submission("g3w-killed", seed=3))
    set_owner(store, "g3w-killed", pid=dead_pid())
    listed = [g for g in g3.history(home=store.home) if g.submission_id == "g3w-killed"]
    assert [g.status.value for g in listed] == ["uncertain"]


# -- generations ---------------------------------------------------------------------------


def test_local_images_are_stored_once_however_many_generations_use_them(
    store: HistoryStore,
) -> None:
    image = png_bytes()
    for i in range(5):
        store.record(generation(f"gen-{i}", request=request(i, image=image)), server=BASE)
    rows = store.entries()
    assert [row.generation.seed for row in rows] == [4, 3, 2, 1, 0]
    assert all(row.generation.request.image.startswith("data:image/png") for row in rows)  # type: ignore[union-attr]
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 1
        stored = [r[0] for r in conn.execute("SELECT request FROM generations")]
    assert all("data:image" not in text and "sha256:" in text for text in stored)


def test_recording_an_id_twice_keeps_the_first(store: HistoryStore) -> None:
    store.record(generation("gen-1", seed=1), server=BASE)
    store.record(generation("gen-1", seed=2), server="https://other.test")
    rows = store.entries()
    assert len(rows) == 1 and rows[0].generation.seed == 1 and rows[0].server == BASE


def test_update_keeps_what_it_is_not_told(store: HistoryStore, tmp_path: Path) -> None:
    gen = generation("gen-1", model="runway/gen4_turbo")
    store.record(gen, server=BASE)
    gen.status = g3.Status.COMPLETED
    gen.video_url = "https://cdn.test/gen-1.mp4"
    gen.finished_at = 1234.0
    gen.job_seconds = 42.0
    gen.cost_usd = 0.3
    store.update(gen)
    video = tmp_path / "gen-1.mp4"
    video.write_bytes(b"mp4")
    later = store.get("gen-1")
    assert later is not None
    later.generation.local_path = video
    later.generation.video_url = None  # e.g. a later view without the link
    later.generation.cost_usd = None
    store.update(later.generation)
    row = store.get("gen-1")
    assert row is not None
    assert row.generation.video_url == "https://cdn.test/gen-1.mp4"
    assert row.generation.local_path == video
    assert row.generation.finished_at == 1234.0 and row.generation.cost_usd == 0.3
    assert row.generation.model == "runway/gen4_turbo"
    assert row.job_seconds == 42.0
    video.unlink()  # a deleted video is not reported as on disk
    row = store.get("gen-1")
    assert row is not None and row.generation.local_path is None


def test_pending_only_server_filter_limit_and_order(store: HistoryStore) -> None:
    for i, state in enumerate(["queued", "completed", "generating", "error", "waiting"]):
        gen = generation(f"gen-{i}", submitted_at=1000.0 + i)
        store.record(gen, server=BASE if i % 2 == 0 else "https://b.test")
        gen.status = g3.Status(state)
        store.update(gen)
    assert [r.generation.id for r in store.entries()] == [f"gen-{i}" for i in (4, 3, 2, 1, 0)]
    assert [r.generation.id for r in store.entries(pending_only=True)] == [
        "gen-4",
        "gen-2",
        "gen-0",
    ]
    assert [r.generation.id for r in store.entries(server="https://b.test")] == [
        "gen-3",
        "gen-1",
    ]
    assert [r.generation.id for r in store.entries(2)] == ["gen-4", "gen-3"]


def test_job_durations_come_from_completed_jobs_only_per_model(store: HistoryStore) -> None:
    cases = [
        ("completed", 30.0, "gen3a_turbo"),
        ("error", 5.0, "gen3a_turbo"),
        ("completed", 41.0, "runway/gen4_turbo"),
    ]
    for i, (state, seconds, model) in enumerate(cases):
        gen = generation(f"gen-{i}", submitted_at=1000.0 + i, model=model)
        store.record(gen, server=BASE)
        gen.status = g3.Status(state)
        gen.job_seconds = seconds
        store.update(gen)
    assert store.job_durations(BASE) == [("gen3a_turbo", 5, 30.0), ("runway/gen4_turbo", 5, 41.0)]
    assert store.job_durations("https://elsewhere.test") == []


def test_a_row_whose_image_is_gone_still_lists(store: HistoryStore) -> None:
    store.record(generation("gen-1", request=request(1, image=png_bytes())), server=BASE)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DELETE FROM images")
    (row,) = HistoryStore(store.home).entries()
    assert row.generation.id == "gen-1" and row.generation.request is None


def test_many_threads_and_two_stores_on_one_home_lose_nothing(store: HistoryStore) -> None:
    other = HistoryStore(store.home)  # a second kernel on the same data folder
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        target = store if worker % 2 else other
        try:
            for i in range(25):
                sid = f"g3w-w{worker}-{i}"
                target.begin(submission(sid, seed=i))
                gen = generation(f"w{worker}-{i}", seed=i)
                target.bought(sid, gen)
                gen.status = g3.Status.GENERATING
                target.update(gen)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = {row.generation.id for row in store.entries()}
    assert ids == {f"w{w}-{i}" for w in range(8) for i in range(25)}
    assert set(states(store).values()) == {"bought"}


def test_a_fresh_history_used_from_many_threads_at_once_refuses_nothing(tmp_path: Path) -> None:
    errors: list[str] = []
    for attempt in range(5):  # the race needs two threads inside the migration at once
        home = tmp_path / f"home{attempt}"
        start = threading.Barrier(8)

        def work(worker: int, home: Path = home, start: threading.Barrier = start) -> None:
            store = HistoryStore(home)  # one kernel each, all opening it for the first time
            start.wait()
            try:
                store.begin(submission(f"g3w-{worker}"))
            except g3.StorageError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_history_reads_the_home_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEN3WIDGETS_HOME", str(tmp_path / "env-home"))
    HistoryStore().record(generation("gen-env"), server=BASE)
    assert [g.id for g in g3.history()] == ["gen-env"]
    assert (tmp_path / "env-home" / "history.sqlite3").is_file()
    assert g3.history(home=tmp_path / "elsewhere") == []


def test_history_lists_uncertain_purchases_with_their_submission_id(store: HistoryStore) -> None:
    store.begin(submission("g3w-bought", seed=1))
    store.bought("g3w-bought", generation("gen-1", seed=1))
    store.begin(submission("g3w-lost", seed=2))
    store.uncertain("g3w-lost", "RemoteProtocolError: the connection dropped")
    listed = {g.submission_id: g for g in g3.history(home=store.home)}
    assert set(listed) == {"g3w-bought", "g3w-lost"}
    lost = listed["g3w-lost"]
    assert (lost.id, lost.status.value, lost.seed) == (None, "uncertain", 2)
    assert "uncertain" in repr(lost) and "g3w-lost" in lost._repr_html_()
    assert listed["g3w-bought"].id == "gen-1"


# -- a history written by the previous version ------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE generations (
    id TEXT PRIMARY KEY, server TEXT NOT NULL, simulated INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL, request TEXT, video_url TEXT, error TEXT, error_detail TEXT,
    tokens_used INTEGER, local_path TEXT, submitted_at REAL NOT NULL, finished_at REAL,
    job_seconds REAL, clip_seconds INTEGER
);
CREATE INDEX generations_submitted ON generations (submitted_at DESC);
CREATE TABLE images (sha256 TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE uncertain_submissions (
    at REAL NOT NULL, server TEXT NOT NULL, request TEXT, cause TEXT NOT NULL
);
"""


def write_old_history(home: Path, image_uri: str) -> None:
    """A history exactly as the previous version left it (no models, costs or submission ids)."""
    import hashlib

    home.mkdir(parents=True)
    digest = hashlib.sha256(image_uri.encode()).hexdigest()
    old_request = {
        "prompt": "an old dolly shot",
        "image": "sha256:" + digest,
        "last_image": None,
        "duration": 10,
        "ratio": None,  # the previous version's "from the image"
        "seed": 31,
    }
    with sqlite3.connect(home / "history.sqlite3") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(OLD_SCHEMA)
        conn.execute("INSERT INTO images VALUES (?, ?)", (digest, image_uri))
        conn.execute(
            "INSERT INTO generations (id, server, simulated, status, request, video_url, "
            "tokens_used, submitted_at, finished_at, job_seconds, clip_seconds) "
            "VALUES ('gen-old', ?, 0, 'completed', ?, 'https://cdn.test/gen-old.mp4', 525000, "
            "1000.0, 1040.0, 38.5, 10)",
            (BASE, json.dumps(old_request)),
        )
        conn.execute(
            "INSERT INTO uncertain_submissions VALUES (1500.0, ?, ?, 'ReadTimeout: timed out')",
            (BASE, json.dumps({**old_request, "seed": 32})),
        )


def test_a_history_from_the_previous_version_reads_as_gen3a_turbo_and_keeps_uncertain_ones(
    tmp_path: Path,
) -> None:
    home = tmp_path / "old-home"
    image_uri = g3.GenerationRequest(image=png_bytes((64, 36))).image
    write_old_history(home, image_uri)

    store = HistoryStore(home)
    entries = {e.generation.submission_id or e.generation.id: e for e in store.entries()}
    old = entries["gen-old"].generation
    assert (old.id, old.model, old.status.value, old.submission_id) == (
        "gen-old",
        "gen3a_turbo",
        "completed",
        None,
    )
    assert old.credits_used == 525000 and old.cost_usd is None
    assert old.request is not None and old.request.model == "gen3a_turbo"
    assert (old.request.seed, old.request.duration, old.request.ratio) == (31, 10, "auto")
    assert old.request.image == image_uri
    assert store.job_durations(BASE) == [("gen3a_turbo", 10, 38.5)]

    # The create whose answer was lost then is kept, uncertain, for the user to check: it
    # had no submission id, so the usage logs cannot find it (and nothing looks it up).
    (kept,) = [e.generation for e in store.entries() if e.generation.id is None]
    assert kept.status.value == "uncertain" and kept.seed == 32
    assert kept.submission_id is not None and "dashboard" in (kept.error or "")
    assert store.unresolved(BASE) == []
    with sqlite3.connect(store.path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "uncertain_submissions" not in tables and "submissions" in tables

    # And it goes on working: a new purchase, read back by another instance.
    store.begin(submission("g3w-new", seed=5, request=request(5, model="runway/gen4_turbo")))
    store.bought("g3w-new", generation("gen-new", seed=5, model="runway/gen4_turbo"))
    again = {e.generation.id: e.generation for e in HistoryStore(home).entries()}
    assert again["gen-new"].model == "runway/gen4_turbo"
    assert [g.id for g in g3.history(home=home)][:1] == ["gen-new"]


# -- listing never decodes an image -------------------------------------------------------------


def big_png() -> bytes:
    """A noisy 1.4 MB PNG: decoding it is slow enough to notice, and it compresses badly."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(3).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def test_listing_a_thousand_rows_sharing_a_large_image_decodes_no_image(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = request(0, image=big_png())
    for i in range(1000):
        store.record(
            g3.Generation(id=f"gen-{i}", status=g3.Status.QUEUED, request=shared), server=BASE
        )

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("listing the history decoded an image")

    from PIL import Image

    monkeypatch.setattr(Image, "open", no_decoding)
    monkeypatch.setattr("gen3widgets._images.prepare_image", no_decoding)
    monkeypatch.setattr("gen3widgets._models.prepare_image", no_decoding)
    monkeypatch.setattr("gen3widgets._images._decode", no_decoding)
    listed = g3.history(home=store.home)
    assert len(listed) == 1000
    assert all(g.request is not None and g.request.image == shared.image for g in listed)
    first = listed[0].request
    assert first is not None and first.image_info.width == 800 and first.image_info.format == "PNG"
    assert len(store.entries(50, pending_only=True)) == 50


# -- folders that cannot be written: nothing is sent ---------------------------------------------

SUBMIT_INTO = """
import json, sys, httpx, gen3widgets as g3
sent = []
def api(request):
    sent.append(request.method + " " + request.url.path)
    return httpx.Response(404, json={"message": "Cannot " + request.method + " " + request.url.path})
client = g3.Client("sk-test-disk", base_url="https://api.test", max_retries=0,
                   transport=httpx.MockTransport(api), history=g3.HistoryStore(sys.argv[1]))
outcome = {"error": None}
try:
    client.submit(image="https://images.example.com/a.png", seed=1)
except g3.Gen3Error as exc:
    outcome = {"error": str(exc), "type": type(exc).__name__, "folder": getattr(exc, "folder", None)}
outcome["creates"] = [s for s in sent if s.startswith("POST")]
print(json.dumps(outcome))
"""

FILL_THE_DISK = """
import sys
with open(sys.argv[1] + "/filler", "wb", buffering=0) as f:
    try:
        while True:
            f.write(b"\\0" * 4096)
    except OSError:  # full
        pass
"""


def on_a_tiny_disk(home: Path, steps: list[str]) -> str:
    """Run shell ``steps`` with a 256 KB tmpfs mounted at ``home`` (in a private mount namespace).

    Skips when this machine cannot make a mount namespace (no root, no user namespaces).
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1) to make a small or read-only folder")
    home.mkdir(parents=True, exist_ok=True)
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    script = " && ".join([f"mount -t tmpfs -o size=256k tmpfs {home}", *steps])
    done = subprocess.run(
        [unshare, *user, "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    if "mount:" in done.stderr or "unshare:" in done.stderr:
        pytest.skip(f"cannot mount a test folder here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_full_data_folder_refuses_the_purchase_before_sending(tmp_path: Path) -> None:
    home = tmp_path / "full"
    (tmp_path / "fill.py").write_text(FILL_THE_DISK)
    (tmp_path / "submit.py").write_text(SUBMIT_INTO)
    out = on_a_tiny_disk(
        home,
        [
            f"{sys.executable} {tmp_path / 'fill.py'} {home}",
            f"{sys.executable} {tmp_path / 'submit.py'} {home}",
        ],
    )
    outcome = json.loads(out.strip().splitlines()[-1])
    assert outcome["type"] == "StorageError" and outcome["folder"] == str(home)
    assert str(home) in outcome["error"] and "Nothing was sent" in outcome["error"]
    assert outcome["creates"] == []


def test_a_read_only_data_folder_refuses_the_purchase_before_sending(tmp_path: Path) -> None:
    home = tmp_path / "read-only"
    (tmp_path / "submit.py").write_text(SUBMIT_INTO)
    first = textwrap.dedent(
        """
        import sys, gen3widgets as g3
        g3.HistoryStore(sys.argv[1]).entries()  # a history that exists, then turns read-only
        """
    )
    (tmp_path / "first.py").write_text(first)
    out = on_a_tiny_disk(
        home,
        [
            f"{sys.executable} {tmp_path / 'first.py'} {home}",
            f"mount -o remount,ro {home}",
            f"{sys.executable} {tmp_path / 'submit.py'} {home}",
        ],
    )
    outcome = json.loads(out.strip().splitlines()[-1])
    assert outcome["type"] == "StorageError" and outcome["folder"] == str(home)
    assert str(home) in outcome["error"] and "writable" in outcome["error"]
    assert outcome["creates"] == []


# -- the job runner --------------------------------------------------------------------------


class RunnerHarness:
    """A JobRunner on a loop this test owns (like a kernel's), against the contract imitation."""

    def __init__(self, tmp_path: Path, clock: FakeClock, *, sync_client: bool = False) -> None:
        self.clock = clock
        self.api = ContractAPI(clock, job_seconds=6.0, logs_lag=1.0)
        self.store = HistoryStore(tmp_path / "home")
        self.seen_before_create: list[str | None] = []  # the ledger state of each create
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        self.client = self.make_client(sync_client)
        self.runner = JobRunner(self.client, loop=self.loop)

    def make_client(self, sync_client: bool = False) -> g3.Client | g3.AsyncClient:
        def write_ahead(request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                sid = request.headers.get("x-client-request-id")
                self.seen_before_create.append(states(self.store).get(sid or ""))
            return self.api.handle(request)

        cls = g3.Client if sync_client else g3.AsyncClient
        client = cls(
            KEY,
            base_url=BASE,
            transport=httpx.MockTransport(write_ahead),
            history=self.store,
            reconcile_timeout=0.0,
        )
        client._flows.clock = self.clock
        return client

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def wait(self, *jobs: Job) -> None:
        self.run(g3.wait_all_async(jobs, timeout=60))

    def close(self) -> None:
        async def finish() -> None:
            await self.runner.aclose()
            closing = self.client.close()
            if asyncio.iscoroutine(closing):
                await closing

        self.run(finish())
        gc.collect()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()
        assert self.loop_errors == []


@pytest.fixture
def runner_harness(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., RunnerHarness]]:
    made: list[RunnerHarness] = []

    def make(**kwargs: Any) -> RunnerHarness:
        made.append(RunnerHarness(tmp_path, clock, **kwargs))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.mark.parametrize("sync_client", [False, True], ids=["AsyncClient", "Client"])
def test_a_job_is_on_disk_before_its_create_and_ends_with_the_video(
    runner_harness: Callable[..., RunnerHarness], sync_client: bool
) -> None:
    h = runner_harness(sync_client=sync_client)
    seen: list[tuple[JobState, bool]] = []

    def observe(job: Job) -> None:
        gid = job.generation.id if job.generation is not None else None
        seen.append((job.state, gid is not None and h.store.get(gid) is not None))

    job = h.runner.submit(request(5), label="seed 5")
    job.add_observer(observe)
    h.wait(job)
    assert job.state is JobState.COMPLETED, job.message
    assert h.seen_before_create == ["sending"]  # written, committed, then sent
    generation = job.result()
    assert generation.local_path is not None and generation.local_path.is_file()
    assert generation.local_path.parent == h.store.videos_dir
    assert generation.local_path.read_bytes() == h.api.video_bytes
    # Every state from "running" on was observed with the generation already on disk.
    assert (JobState.RUNNING, True) in seen
    assert all(recorded for state, recorded in seen if state is not JobState.SUBMITTING)
    assert seen[-1] == (JobState.COMPLETED, True)
    row = h.store.get(generation.id)  # type: ignore[arg-type]
    assert row is not None
    assert row.generation.status is g3.Status.COMPLETED
    assert row.generation.local_path == generation.local_path
    assert row.generation.cost_usd == 0.25 and row.generation.submission_id is not None
    assert row.job_seconds is not None
    assert h.api.bought == 1 and h.api.counts["downloads_with_auth"] == 0


def test_a_failed_job_keeps_the_servers_reason(
    runner_harness: Callable[..., RunnerHarness],
) -> None:
    h = runner_harness()
    h.api.fail_with = {"name": "ContentModeration", "message": "The prompt was flagged"}
    job = h.runner.submit(request(1))
    h.wait(job)
    assert job.state is JobState.FAILED
    assert "ContentModeration: The prompt was flagged" in (job.message or "")
    with pytest.raises(g3.GenerationFailed, match="The prompt was flagged"):
        job.result()
    assert job.generation is not None and job.generation.id is not None
    row = h.store.get(job.generation.id)
    assert row is not None and row.generation.status is g3.Status.ERROR
    assert row.generation.error == "ContentModeration: The prompt was flagged"
    assert row.generation.cost_usd == 0.0  # a failed generation is never charged


def test_an_uncertain_create_is_recorded_and_not_sent_again(
    runner_harness: Callable[..., RunnerHarness],
) -> None:
    h = runner_harness()
    h.client._flows.reconcile_timeout = 0.0  # not looked up here: see test_lost_answers
    h.api.create_faults.append(status(500, bought=True))
    job = h.runner.submit(request(1))
    h.wait(job)
    assert job.state is JobState.UNCERTAIN
    assert "NOT sent again" in (job.message or "")
    assert isinstance(job.exception, g3.SubmissionUncertain)
    assert h.api.counts["creates"] == 1 and h.api.bought == 1
    (entry,) = h.store.unresolved(BASE)
    assert "500" in (entry.cause or "") and entry.id == job.exception.submission_id


def test_a_broken_observer_does_not_break_the_job(
    runner_harness: Callable[..., RunnerHarness], caplog: pytest.LogCaptureFixture
) -> None:
    h = runner_harness()

    def broken(job: Job) -> None:
        raise RuntimeError("widget bug")

    job = h.runner.submit(request(1))
    job.add_observer(broken)
    with caplog.at_level(logging.ERROR, logger="gen3widgets"):
        h.wait(job)
    assert job.state is JobState.COMPLETED
    assert any("observer failed" in r.getMessage() for r in caplog.records)


def test_resume_after_a_restart_finds_the_request_and_the_video(
    runner_harness: Callable[..., RunnerHarness],
) -> None:
    h = runner_harness()
    bought = h.run(h.client.submit(request(9, image=png_bytes())))  # type: ignore[arg-type]
    assert h.store.get(bought.id) is not None  # the client recorded it: nobody else has to
    # A new process: a new client and runner, the same server and data folder.
    later = runner_harness()
    later.api = h.api
    later.store = HistoryStore(h.store.home)
    later.client = later.make_client()
    later.runner = JobRunner(later.client, loop=later.loop)
    job = later.runner.resume(bought.id)
    assert job.request is not None and job.request.seed == 9
    later.wait(job)
    assert job.state is JobState.COMPLETED, job.message
    assert job.result().local_path is not None
    assert h.api.bought == 1


def test_a_runner_without_a_running_loop_uses_its_own_thread(
    tmp_path: Path, clock: FakeClock
) -> None:
    api = ContractAPI(clock, job_seconds=4.0)
    client = g3.Client(
        KEY,
        base_url=BASE,
        transport=api.transport(),
        history=HistoryStore(tmp_path / "home"),
    )
    client._flows.clock = clock
    runner = JobRunner(client)
    try:
        jobs = [runner.submit(request(seed)) for seed in range(3)]
        results = [job.wait(timeout=30) for job in jobs]
        assert all(g.ok and g.local_path is not None for g in results)
        assert runner._loop_thread is not None and runner.loop is not None
        loop = runner.loop
        assert loop.is_running()
    finally:
        runner.close()
        client.close()
    assert loop.is_closed()
    assert api.bought == 3
