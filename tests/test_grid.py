"""SeedGrid on the in-process simulator: what it buys, in what order, and what it shows."""

from __future__ import annotations

import functools
import io
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gen3widgets import AsyncClient, ServerError, ValidationError
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets._models import MAX_SEED, estimate_tokens
from gen3widgets._store import HistoryStore
from gen3widgets.simulator import Faults, Simulator
from gen3widgets.simulator._render import RenderSpec
from gen3widgets.widgets.grid import SeedGrid
from tests.fakes import FakeClock

BASE = "http://grid-sim.test"  # its own server name: polling statistics stay apart
SEEDS = [11, 7, 123456, 4294967295, 0, 42]
WAIT = 60.0  # generous: a safety net, never the way a test waits


def png_bytes(
    size: tuple[int, int] = (64, 40), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def tiny_mp4(seed: int, frames: int = 9) -> bytes:
    """A real, decodable H.264 MP4 (64x48): a colour from the seed, brightening frame by frame."""
    import av
    import numpy as np

    base = np.array([seed * 37 % 200, seed * 91 % 200, seed * 53 % 200], dtype=np.int32)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            pixel = np.clip(base + i * 6, 0, 255).astype(np.uint8)
            image = np.broadcast_to(pixel, (48, 64, 3)).copy()
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def tiny_render(spec: RenderSpec) -> bytes:
    return tiny_mp4(spec.seed)


def make_runner(sim: Simulator, clock: FakeClock, home: Path, **client_kwargs: Any) -> JobRunner:
    client = AsyncClient(
        api_key="test",
        base_url=BASE,
        transport=sim.async_transport(),
        _clock=clock,
        **client_kwargs,
    )
    return JobRunner(client, store=HistoryStore(home))


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    simulator = Simulator(job_seconds=(0.05, 0.2), render=tiny_render, clock=clock.now, seed=3)
    yield simulator
    simulator.close()


@pytest.fixture
def runner(sim: Simulator, clock: FakeClock, tmp_path: Path) -> Iterator[JobRunner]:
    made = make_runner(sim, clock, tmp_path)
    yield made
    made.close()


@pytest.fixture
def png() -> bytes:
    return png_bytes()


def grid_text(grid: SeedGrid) -> str:
    """Every HTML value in the grid's widget tree, joined (what a user would read)."""
    found: list[str] = []

    def walk(widget: object) -> None:
        value = getattr(widget, "value", None)
        if isinstance(value, str):
            found.append(value)
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(grid)
    return "\n".join(found)


# -- buying -------------------------------------------------------------------------------


def test_six_seed_grid_buys_six_and_returns_them_in_seed_order(
    sim: Simulator, runner: JobRunner, png: bytes
) -> None:
    grid = SeedGrid("a slow dolly shot", png, seeds=SEEDS, client=runner)
    assert f"6 videos · about {estimate_tokens(5, 6):,} tokens (estimate)" in grid.summary.value
    assert sim.stats.creates_received == 0  # nothing is bought before Generate

    jobs = grid.submit()
    assert len(jobs) == 6
    generations = grid.wait(timeout=WAIT)

    assert sim.stats.creates_bought == 6
    assert [g.seed for g in generations] == SEEDS
    assert all(g.ok and g.local_path is not None and g.local_path.is_file() for g in generations)
    assert grid.generations == generations
    for cell in grid.cells:
        assert cell.card.video.value == cell.generation.local_path.read_bytes()  # type: ignore[union-attr]
        assert cell.card.title.value == f"<b>seed {cell.seed}</b>"
    assert "6 of 6 done" in grid.status.value
    assert grid.retry_button.layout.display == "none"


def test_a_count_of_seeds_gives_distinct_random_seeds(png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=8)
    assert len(set(grid.seeds)) == 8
    assert all(0 <= seed <= MAX_SEED for seed in grid.seeds)
    assert [r.seed for r in grid.requests] == grid.seeds
    assert grid.columns == 3


def test_prompts_by_seeds_matrix_has_rows_of_prompts_and_labelled_columns(png: bytes) -> None:
    long_prompt = "<b>bold</b> & 'quoted' " + "very long " * 20
    prompts = ["dusk over the sea", long_prompt]
    grid = SeedGrid(image=png, prompts=prompts, seeds=[5, 6, 7])

    assert grid.shape == (2, 3)
    assert [(c.row, c.col, c.prompt, c.seed) for c in grid.cells] == [
        (r, c, p, s) for r, p in enumerate(prompts) for c, s in enumerate([5, 6, 7])
    ]
    assert grid.cell((1, 2)) is grid.cells[5]
    assert [(r.prompt, r.seed) for r in grid.requests] == [(c.prompt, c.seed) for c in grid.cells]

    labels = [child.value for child in grid.body.children if not hasattr(child, "children")]
    headers, row_labels = labels[1:4], labels[4:]
    assert [h.count(f"seed {s}") for h, s in zip(headers, [5, 6, 7], strict=True)] == [1, 1, 1]
    assert "dusk over the sea" in row_labels[0]
    label = row_labels[1]
    assert "<b>bold" not in label  # escaped, never markup
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27;" in label
    assert "…" in label  # shortened on screen
    assert "very long " * 19 in label.replace("&#x27;", "'")  # full text is in the tooltip
    assert grid.cells[3].card.title.value.startswith("<b>seed 5 · &lt;b&gt;bold")


def test_invalid_input_is_shown_and_nothing_is_sent(sim: Simulator, runner: JobRunner) -> None:
    grid = SeedGrid(
        image="no-such-file.png",
        prompts=["fine", "x" * 1001],
        seeds=[1, 1, -5, "<seven>"],  # type: ignore[list-item]
        duration=7,
        client=runner,
    )
    assert grid.problems is not None
    assert set(grid.problems.problems) >= {"seeds", "image", "duration"}
    text = grid.problems_html.value
    assert "no-such-file.png" in text and "5 or 10" in text and "&lt;seven&gt;" in text
    assert "appear(s) more than once" in text
    assert grid.generate_button.disabled
    assert grid.cells == []
    with pytest.raises(ValidationError):
        grid.submit()
    grid.generate_button.click()
    assert sim.stats.creates_received == 0


def test_a_too_long_prompt_in_one_row_is_named(png: bytes) -> None:
    grid = SeedGrid(image=png, prompts=["fine", "x" * 1001], seeds=2)
    assert grid.problems is not None
    assert list(grid.problems.problems) == ["prompts[1]"]
    assert "1001 UTF-16 code units" in grid.problems_html.value


def test_double_click_on_generate_buys_once(sim: Simulator, runner: JobRunner, png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=[1, 2], client=runner)
    assert grid.generate_button.description == "Generate"
    grid.generate_button.click()
    assert grid.generate_button.disabled
    grid.generate_button.click()
    first_jobs = grid.jobs
    assert grid.submit() == first_jobs
    grid.wait(timeout=WAIT)
    assert sim.stats.creates_bought == 2
    assert len(runner.jobs) == 2


def test_cells_fill_in_as_their_own_jobs_finish(
    sim: Simulator, clock: FakeClock, tmp_path: Path, png: bytes
) -> None:
    release = threading.Event()

    def gated(spec: RenderSpec) -> bytes:
        if spec.seed == SEEDS[0]:
            release.wait(WAIT)  # the first cell's video is held back
        return tiny_mp4(spec.seed)

    held = Simulator(job_seconds=(0.05, 0.2), render=gated, clock=clock.now, seed=3)
    runner = make_runner(held, clock, tmp_path)
    try:
        grid = SeedGrid("p", png, seeds=SEEDS, client=runner)
        jobs = grid.submit()
        for job in jobs[1:]:
            job.wait(WAIT)
        assert not jobs[0].done
        assert grid.cells[0].card.video.value == b""
        assert all(cell.card.video.value for cell in grid.cells[1:])
        assert "5 of 6 done" in grid.status.value
        assert grid.generations[0] is None or not grid.generations[0].ok

        release.set()
        generations = grid.wait(timeout=WAIT)
        assert [g.seed for g in generations] == SEEDS
        assert grid.cells[0].card.video.value == tiny_mp4(SEEDS[0])
    finally:
        release.set()
        runner.close()
        held.close()


# -- after the first run ------------------------------------------------------------------


def test_retry_failed_buys_only_the_failed_cells(
    sim: Simulator, runner: JobRunner, png: bytes
) -> None:
    sim.faults = Faults(job_error=0.5)
    grid = SeedGrid("p", png, seeds=SEEDS, client=runner)
    grid.submit()
    first = grid.wait(timeout=WAIT)  # server-side failures are in the list, not raised
    failed = [i for i, g in enumerate(first) if not g.ok]
    assert 0 < len(failed) < 6, "the simulator seed should fail some cells, not all"
    assert all(first[i].status.failed and first[i].error for i in failed)
    assert grid.retry_button.layout.display != "none"
    assert f"{len(failed)} failed" in grid.status.value
    kept = {i: g.id for i, g in enumerate(first) if g.ok}

    sim.faults = Faults()
    bought = sim.stats.creates_bought
    retried = grid.retry_failed()
    assert len(retried) == len(failed)
    second = grid.wait(timeout=WAIT)

    assert sim.stats.creates_bought == bought + len(failed)
    assert all(g.ok for g in second)
    assert [g.seed for g in second] == SEEDS
    assert {i: second[i].id for i in kept} == kept  # the others were not touched
    assert grid.retry_button.layout.display == "none"
    assert grid.retry_failed() == []  # nothing left to buy


def test_creates_that_fail_raise_after_all_cells_finish_and_can_be_retried(
    sim: Simulator, clock: FakeClock, tmp_path: Path, png: bytes
) -> None:
    runner = make_runner(sim, clock, tmp_path, max_retries=0)
    try:
        sim.faults = Faults(create_503=1.0)  # refused: nothing bought
        grid = SeedGrid("p", png, seeds=[1, 2, 3], client=runner)
        grid.submit()
        with pytest.raises(ServerError, match="503"):
            grid.wait(timeout=WAIT)
        assert all(job.state is JobState.FAILED for job in grid.jobs)
        assert grid.generations == [None, None, None]
        assert sim.stats.creates_bought == 0

        sim.faults = Faults()
        grid.retry_button.click()
        assert [g.seed for g in grid.wait(timeout=WAIT)] == [1, 2, 3]
        assert sim.stats.creates_bought == 3
    finally:
        runner.close()


def test_wait_before_generate_says_what_to_do(png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=2)
    with pytest.raises(RuntimeError, match="Generate"):
        grid.wait()


def test_favourites_are_the_starred_cells_generations(runner: JobRunner, png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=[1, 2, 3], client=runner)
    assert grid.favorites == []
    grid.submit()
    generations = grid.wait(timeout=WAIT)
    grid.cells[2].star.value = True
    grid.set_favorite(0)
    assert grid.favorites == [generations[0], generations[2]]
    assert grid.cells[0].star.description == "★"
    grid.set_favorite(0, False)
    assert grid.favorites == [generations[2]]
    assert grid.cells[0].star.description == "☆"


def test_rerun_a_cell_at_10_s_or_with_a_last_frame(
    sim: Simulator, runner: JobRunner, png: bytes
) -> None:
    last = png_bytes(color=(20, 20, 220))
    grid = SeedGrid("p", png, seeds=[1, 2], client=runner)
    with pytest.raises(RuntimeError, match="not finished"):
        grid.rerun(0, duration=10)
    grid.submit()
    grid.wait(timeout=WAIT)
    assert not grid.cells[1].ten_s.disabled and not grid.cells[1].last_frame.disabled

    grid.cells[1].ten_s.click()
    longer = grid.cells[1].job
    assert longer is not None and longer.request is not None
    assert longer.request.duration == 10 and longer.request.seed == 2
    assert grid.cells[1].ten_s.disabled  # while it runs
    grid.cells[1].ten_s.click()  # a second click buys nothing
    assert "not finished" in grid.notice.value
    grid.wait(timeout=WAIT)
    assert grid.cells[1].card.title.value == "<b>seed 2 · 10 s</b>"
    assert grid.cells[1].ten_s.disabled  # already 10 s

    job = grid.rerun((0, 0), last_image=last)
    assert job.request is not None and job.request.last_image is not None
    generations = grid.wait(timeout=WAIT)
    assert generations[0].request is not None and generations[0].request.last_image is not None
    assert "new last frame" in grid.cells[0].card.title.value
    assert sim.stats.creates_bought == 4
    with pytest.raises(ValidationError):
        grid.rerun(0, duration=7)
    assert sim.stats.creates_bought == 4


def test_last_frame_button_picks_an_image_then_reruns_that_cell(
    sim: Simulator, runner: JobRunner, png: bytes
) -> None:
    grid = SeedGrid("p", png, seeds=[1, 2], client=runner)
    grid.submit()
    grid.wait(timeout=WAIT)
    assert grid.picker_box.layout.display == "none"

    grid.cells[1].last_frame.click()
    assert grid.picker_box.layout.display != "none"
    assert grid.picker_go.description == "Re-run seed 2 with this last frame"
    grid.picker_go.click()  # no image chosen yet: nothing bought, and it says why
    assert "Choose a last frame" in grid.notice.value
    assert sim.stats.creates_bought == 2

    picker = grid.pick_last_frame(1)
    picker.value = png_bytes(color=(20, 20, 220))
    grid.picker_go.click()
    assert grid.picker_box.layout.display == "none"
    generations = grid.wait(timeout=WAIT)
    assert sim.stats.creates_bought == 3
    assert generations[0].request.last_image is None  # type: ignore[union-attr]
    assert generations[1].request.last_image.startswith("data:image/png")  # type: ignore[union-attr]


def test_last_image_is_part_of_every_cells_request(png: bytes) -> None:
    last = png_bytes(color=(20, 20, 220))
    grid = SeedGrid("p", png, seeds=[1, 2], last_image=last)
    assert all(r.last_image and r.last_image.startswith("data:image/png") for r in grid.requests)
    assert grid.cells[0].card.title.value == "<b>seed 1</b>"
    broken = SeedGrid("p", png, seeds=[1], last_image=b"not an image")
    assert broken.problems is not None and "last_image" in broken.problems.problems


# -- comparing ----------------------------------------------------------------------------


def test_sync_player_targets_this_grids_videos(png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=2)
    player = grid.player
    assert player is not None
    assert grid.css_class in grid._dom_classes
    assert player.selector == f".{grid.css_class}"
    for label in ("Play all", "Pause all", "Restart all"):
        assert label in player._esm
    grid.play_all()
    grid.play_all()
    assert (player.command, player.nonce) == ("play", 2)  # a repeat still reaches the browser
    grid.restart_all()
    grid.pause_all()
    assert (player.command, player.nonce) == ("pause", 4)
    with pytest.raises(ValueError):
        player.send_command("rewind")
    assert SeedGrid("p", png, seeds=2).css_class != grid.css_class


def test_without_anywidget_the_grid_works_and_says_how_to_compare(
    monkeypatch: pytest.MonkeyPatch, png: bytes
) -> None:
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget -> ImportError
    monkeypatch.delitem(sys.modules, "gen3widgets.widgets._sync_player", raising=False)
    grid = SeedGrid("p", png, seeds=2)
    assert grid.player is None
    assert "pip install &#x27;gen3widgets[compare]&#x27;" in grid_text(grid)
    grid.play_all()  # harmless


NODE_HARNESS = r"""
const log = [];
class FakeVideo {
  constructor(name, t) { this.name = name; this.currentTime = t; this.muted = false; this.playing = false; }
  pause() { this.playing = false; }
  play() { this.playing = true; return Promise.resolve(); }
}
const videos = [new FakeVideo("a", 1.5), new FakeVideo("b", 0.2), new FakeVideo("c", 3.0)];
const element = (tag) => ({
  tag, children: [], style: {}, listeners: {}, classList: { add() {} },
  appendChild(child) { this.children.push(child); },
  addEventListener(type, fn) { this.listeners[type] = fn; },
});
globalThis.document = {
  createElement: element,
  querySelectorAll(selector) { log.push(selector); return videos; },
};
const handlers = {};
const model = {
  values: { selector: ".gen3-grid-x", command: "", nonce: 0 },
  get(name) { return this.values[name]; },
  on(event, fn) { handlers[event] = fn; },
  off(event) { delete handlers[event]; },
};
const source = require("fs").readFileSync(0, "utf8");
import("data:text/javascript;base64," + Buffer.from(source).toString("base64")).then((mod) => {
  const el = element("div");
  const cleanup = mod.default.render({ model, el });
  const state = () => videos.map((v) => [v.currentTime, v.playing, v.muted]);
  const out = { labels: el.children.map((b) => b.textContent) };
  el.children[0].listeners.click();
  out.play = state();
  el.children[1].listeners.click();
  out.pause = state();
  model.values.command = "restart";
  handlers["change:nonce"]();
  out.restart = state();
  out.selectors = log;
  cleanup();
  out.unsubscribed = !("change:nonce" in handlers);
  console.log(JSON.stringify(out));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the front-end code")
def test_sync_player_front_end_plays_pauses_and_restarts_in_step(tmp_path: Path) -> None:
    from gen3widgets.widgets._sync_player import SyncPlayer

    harness = tmp_path / "harness.cjs"
    harness.write_text(NODE_HARNESS)
    done = subprocess.run(
        ["node", str(harness)], input=SyncPlayer._esm, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["labels"] == ["Play all", "Pause all", "Restart all"]
    assert out["play"] == [[1.5, True, True]] * 3  # all from the first video's moment
    assert out["pause"] == [[1.5, False, True]] * 3
    assert out["restart"] == [[0, True, True]] * 3
    assert set(out["selectors"]) == {".gen3-grid-x video"}
    assert out["unsubscribed"]
