"""SeedGrid on the in-process simulator: what it buys, in what order, and what it shows.

The grid is one anywidget: it is tested through its state (``header``,
``cell_views``, ``posters``) and the messages a browser sends (``FrontEnd``).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gen3widgets import AsyncClient, ServerError, ValidationError
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets._models import MAX_SEED
from gen3widgets._store import HistoryStore
from gen3widgets.simulator import Faults, Simulator
from gen3widgets.simulator._render import RenderSpec
from gen3widgets.widgets.grid import SeedGrid
from tests.fakes import FakeClock, fake_render, tiny_mp4, tune
from tests.widget_support import FrontEnd, Harness, until_state

BASE = "http://grid-sim.test"  # its own server name: polling statistics stay apart
SEEDS = [11, 7, 123456, 4294967295, 0, 42]
WAIT = 60.0  # generous: a safety net, never the way a test waits
NBSP = "\u00a0"


def png_bytes(
    size: tuple[int, int] = (64, 40), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def make_runner(sim: Simulator, clock: FakeClock, home: Path, **client_kwargs: Any) -> JobRunner:
    client = AsyncClient(
        api_key="sk-test-grid-0123456789",
        base_url=BASE,
        transport=sim.async_transport(),
        history=HistoryStore(home),
        **client_kwargs,
    )
    tune(client, clock)
    return JobRunner(client)


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    simulator = Simulator(job_seconds=(0.05, 0.2), render=fake_render, clock=clock.now, seed=3)
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


def prepared(grid: SeedGrid) -> bool:
    """Every finished cell's clip is prepared (previews, size) for the front end."""
    return all(
        view["clip"] is not None and view["clip"]["ready"]
        for view, cell in zip(grid.cell_views, grid.cells, strict=True)
        if cell.job is not None and cell.job.ok
    )


def view(grid: SeedGrid, index: int) -> dict[str, Any]:
    return dict(grid.cell_views[index])


# -- buying -------------------------------------------------------------------------------


def test_six_seed_grid_buys_six_and_returns_them_in_seed_order(
    sim: Simulator, runner: JobRunner, png: bytes
) -> None:
    grid = SeedGrid("a slow dolly shot", png, seeds=SEEDS, client=runner)
    front = FrontEnd(grid)
    # The price comes from the API's catalogue, asked in the background: nothing waits.
    until_state(grid, lambda: "$" in grid.header["cost"])
    price = runner.loop_run(runner.quote_async(grid.plan.requests))
    assert price is not None and price > 0
    assert grid.header["cost"] == f"6{NBSP}videos · about ${price:.2f}"
    assert grid.header["can_generate"] and grid.header["simulated"] == ""
    assert [v["chip"] for v in grid.cell_views] == ["not started"] * 6
    assert sim.stats.creates_received == 0  # nothing is bought before Generate

    front.click("generate")
    assert not grid.header["can_generate"]
    generations = grid.wait(timeout=WAIT)
    until_state(grid, lambda: prepared(grid))

    assert sim.stats.creates_bought == 6
    assert [g.seed for g in generations] == SEEDS
    assert all(g.ok and g.local_path is not None and g.local_path.is_file() for g in generations)
    assert grid.generations == generations
    for i, cell in enumerate(grid.cells):
        shown = view(grid, i)
        assert shown["label"] == f"seed {cell.seed}" and shown["tone"] == "done"
        assert shown["clip"]["id"] == generations[i].id
        assert front.fetch(shown["clip"]["full"], f"r{i}") == generations[i].local_path.read_bytes()  # type: ignore[union-attr]
    assert grid.header["status"] == "6 of 6 done" and not grid.header["can_retry"]
    charged = sum(g.cost_usd or 0 for g in generations)
    assert charged > 0 and grid.header["cost"] == f"6{NBSP}videos bought · ${charged:.2f}"
    # Posters are state (a saved notebook keeps them); the videos are not.
    assert set(grid.posters) == {g.id for g in generations}
    state = json.dumps(grid.get_state(), default=repr)
    assert len(state) < 200_000


def test_a_count_of_seeds_gives_distinct_random_seeds(png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=8)
    assert len(set(grid.seeds)) == 8
    assert all(0 <= seed <= MAX_SEED for seed in grid.seeds)
    assert [r.seed for r in grid.requests] == grid.seeds
    assert grid.columns == 3 and grid.header["columns"] == 3


def test_a_prompts_by_seeds_matrix_names_each_prompt_once(png: bytes) -> None:
    long_prompt = "<b>bold</b> & 'quoted' " + "very long " * 20
    prompts = ["dusk over the sea", long_prompt]
    grid = SeedGrid(image=png, prompts=prompts, seeds=[5, 6, 7])

    assert grid.shape == (2, 3)
    assert [(c.row, c.col, c.prompt, c.seed) for c in grid.cells] == [
        (r, c, p, s) for r, p in enumerate(prompts) for c, s in enumerate([5, 6, 7])
    ]
    assert grid.cell((1, 2)) is grid.cells[5]
    assert [(r.prompt, r.seed) for r in grid.requests] == [(c.prompt, c.seed) for c in grid.cells]
    header = grid.header
    assert header["matrix"] and header["columns"] == 3 and header["seeds"] == [5, 6, 7]
    assert header["rows"] == prompts  # each prompt once, whole, as a row label
    assert [v["label"] for v in grid.cell_views] == ["seed 5", "seed 6", "seed 7"] * 2
    assert all(long_prompt not in json.dumps(v) for v in grid.cell_views)


def test_invalid_input_is_shown_and_nothing_is_sent(sim: Simulator, runner: JobRunner) -> None:
    grid = SeedGrid(
        image="no-such-file.png",
        prompts=["fine", "x" * 1001],
        seeds=[1, 1, -5, "<seven>"],  # type: ignore[list-item]
        duration=7,
        client=runner,
    )
    front = FrontEnd(grid)
    assert grid.problems is not None
    assert set(grid.problems.problems) >= {"seeds", "image", "duration"}
    text = "\n".join(grid.header["problems"])
    assert "no-such-file.png" in text and "5 or 10" in text and "'<seven>'" in text
    assert "appear(s) more than once" in text
    assert not grid.header["can_generate"]
    assert grid.cells == [] and grid.cell_views == []
    with pytest.raises(ValidationError):
        grid.submit()
    front.click("generate")  # a click shows why, never raises into the kernel
    assert grid.notice["tone"] == "failed" and "no-such-file.png" in grid.notice["text"]
    assert sim.stats.creates_received == 0


def test_double_click_on_generate_buys_once(sim: Simulator, runner: JobRunner, png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=[1, 2], client=runner)
    front = FrontEnd(grid)
    front.click("generate")
    assert not grid.header["can_generate"]
    front.click("generate")
    first_jobs = grid.jobs
    assert grid.submit() == first_jobs
    grid.wait(timeout=WAIT)
    assert sim.stats.creates_bought == 2
    assert len(runner.jobs) == 2


def test_cells_fill_in_as_their_own_jobs_finish(
    clock: FakeClock, tmp_path: Path, png: bytes
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
        until_state(grid, lambda: prepared(grid))
        assert not jobs[0].done
        first = view(grid, 0)
        assert first["clip"] is None and first["running"] and first["tone"] == "running"
        assert first["progress"] is not None  # a bar while it runs...
        assert all(view(grid, i)["clip"] for i in range(1, 6))
        assert all(view(grid, i)["progress"] is None for i in range(1, 6))  # ...and only then
        assert grid.header["status"] == "5 of 6 done"

        release.set()
        generations = grid.wait(timeout=WAIT)
        until_state(grid, lambda: prepared(grid))
        assert [g.seed for g in generations] == SEEDS
        assert view(grid, 0)["clip"]["id"] == generations[0].id
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
    assert grid.header["can_retry"]
    assert f"{len(failed)} failed" in grid.header["status"]
    assert all(view(grid, i)["tone"] == "failed" for i in failed)
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
    assert not grid.header["can_retry"]
    assert grid.retry_failed() == []  # nothing left to buy
    assert grid.header["cost"].startswith(f"{6 + len(failed)}{NBSP}videos bought")


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
        assert all(job.state is JobState.REFUSED for job in grid.jobs)  # not bought
        assert all(v["chip"] == "not bought" for v in grid.cell_views)
        assert grid.header["can_retry"]
        assert sim.stats.creates_bought == 0

        sim.faults = Faults()
        FrontEnd(grid).click("retry")
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
    front = FrontEnd(grid)
    assert grid.favorites == []
    grid.submit()
    generations = grid.wait(timeout=WAIT)
    front.click("star", cell=2, value=True)
    grid.set_favorite(0)
    assert grid.favorites == [generations[0], generations[2]]
    assert view(grid, 0)["favorite"] and not view(grid, 1)["favorite"]
    grid.set_favorite(0, False)
    assert grid.favorites == [generations[2]]
    front.click("star", cell=99, value=True)  # a cell that does not exist: said, not raised
    assert "no cell 99" in grid.notice["text"]


def test_ten_s_shows_the_cost_waits_for_a_click_and_keeps_the_old_video(
    sim: Simulator, clock: FakeClock, tmp_path: Path, png: bytes
) -> None:
    release = threading.Event()

    def gated(spec: RenderSpec) -> bytes:
        if spec.duration == 10:
            release.wait(WAIT)  # the new take is held back
        return tiny_mp4(spec.seed)

    held = Simulator(job_seconds=(0.05, 0.2), render=gated, clock=clock.now, seed=3)
    runner = make_runner(held, clock, tmp_path)
    try:
        grid = SeedGrid("p", png, seeds=[1, 2], client=runner)
        front = FrontEnd(grid)
        with pytest.raises(RuntimeError, match="not finished"):
            grid.rerun(0, duration=10)
        assert not view(grid, 1)["can_ten_s"]
        first = grid.submit()
        grid.wait(timeout=WAIT)
        until_state(grid, lambda: prepared(grid))
        assert view(grid, 1)["can_ten_s"] and view(grid, 1)["can_last_frame"]
        old_clip = view(grid, 1)["clip"]

        front.click("ask", cell=1, kind="ten_s")
        until_state(grid, lambda: "$" in view(grid, 1)["pending"]["text"])
        pending = view(grid, 1)["pending"]
        price = runner.loop_run(runner.quote_async([grid.cells[1].request.replace(duration=10)]))
        assert pending["ready"] and pending["text"] == (
            f"Re-run seed 2 as a 10 s clip: about ${price:.2f}, a new purchase."
        )
        assert held.stats.creates_received == 2  # nothing bought by asking
        front.click("confirm", cell=1)
        front.click("confirm", cell=1)  # a second click buys nothing
        longer = grid.cells[1].job
        assert longer is not None and longer is not first[1]
        assert longer.request is not None and longer.request.duration == 10
        assert longer.request.seed == 2

        # While the new take runs, the cell still shows (and plays) the previous video.
        running = view(grid, 1)
        assert running["clip"] == old_clip and running["running"]
        assert running["label"] == f"seed 2 · 10{NBSP}s" and running["pending"] is None
        charged = sum(g.cost_usd or 0 for g in grid.generations[:1]) + (
            first[1].generation.cost_usd or 0  # type: ignore[union-attr]
        )
        assert grid.header["cost"] == (
            f"3{NBSP}videos bought · ${charged:.2f} so far"
        )  # the header counts the re-run, whose cost is not reported yet

        release.set()
        generations = grid.wait(timeout=WAIT)
        until_state(grid, lambda: view(grid, 1)["clip"]["id"] == generations[1].id)
        assert held.stats.creates_bought == 3
        assert not view(grid, 1)["can_ten_s"]  # already 10 s
        with pytest.raises(ValidationError):
            grid.rerun(0, duration=7)
        assert held.stats.creates_bought == 3
    finally:
        release.set()
        runner.close()
        held.close()


def test_last_frame_is_chosen_then_costed_then_bought(
    sim: Simulator, runner: JobRunner, png: bytes
) -> None:
    grid = SeedGrid("p", png, seeds=[1, 2], client=runner)
    front = FrontEnd(grid)
    grid.submit()
    grid.wait(timeout=WAIT)

    front.click("ask", cell=1, kind="last_frame")
    pending = view(grid, 1)["pending"]
    assert not pending["ready"] and "Choose the last frame for seed 2" in pending["text"]
    front.click("confirm", cell=1)  # nothing chosen: nothing bought
    assert sim.stats.creates_bought == 2

    front.click("image", cell=1, url="http://insecure.example.com/a.png")
    assert not view(grid, 1)["pending"]["ready"] and "https" in view(grid, 1)["pending"]["problem"]
    front.click("image", [b"not an image"], cell=1)
    assert not view(grid, 1)["pending"]["ready"]

    front.click("image", [png_bytes(color=(20, 20, 220))], cell=1)
    pending = view(grid, 1)["pending"]
    assert pending["ready"] and pending["problem"] is None
    assert "ending on the chosen frame" in pending["text"]
    front.click("confirm", cell=1)
    generations = grid.wait(timeout=WAIT)
    assert sim.stats.creates_bought == 3
    assert generations[0].request.last_image is None  # type: ignore[union-attr]
    assert generations[1].request.last_image.startswith("data:image/png")  # type: ignore[union-attr]
    assert view(grid, 1)["label"] == "seed 2 · new last frame"

    front.click("ask", cell=0, kind="last_frame")
    front.click("cancel", cell=0)
    assert view(grid, 0)["pending"] is None and sim.stats.creates_bought == 3


def test_last_image_is_part_of_every_cells_request(png: bytes) -> None:
    last = png_bytes(color=(20, 20, 220))
    grid = SeedGrid("p", png, seeds=[1, 2], last_image=last)
    assert all(r.last_image and r.last_image.startswith("data:image/png") for r in grid.requests)
    assert view(grid, 0)["label"] == "seed 1"
    broken = SeedGrid("p", png, seeds=[1], last_image=b"not an image")
    assert broken.problems is not None and "last_image" in broken.problems.problems


# -- what it says -------------------------------------------------------------------------


def test_on_the_simulator_the_grid_says_so_and_shows_no_cost_as_spent(png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=[1, 2])  # no key: the built-in simulator
    assert grid.runner.simulated
    assert grid.header["simulated"].startswith("Offline simulator")
    until_state(grid, lambda: "$" in grid.header["cost"])
    assert grid.header["cost"].startswith(f"2{NBSP}videos · simulated, nothing is bought (about $")
    grid.submit()
    grid.wait(timeout=WAIT)
    assert grid.header["cost"].startswith(f"2{NBSP}videos simulated · nothing is bought")
    for cell_view in grid.cell_views:
        assert dict(cell_view["details"])["cost"] == "simulated: nothing bought"
    front = FrontEnd(grid)
    front.click("ask", cell=0, kind="ten_s")
    until_state(grid, lambda: "$" in view(grid, 0)["pending"]["text"])
    assert "simulated, nothing is bought" in view(grid, 0)["pending"]["text"]
    grid.close()


def test_play_pause_and_restart_reach_every_view(png: bytes) -> None:
    grid = SeedGrid("p", png, seeds=2)
    front = FrontEnd(grid)
    grid.play_all()
    grid.pause_all()
    grid.restart_all()
    assert front.commands() == ["play", "pause", "restart"]


def test_where_widgets_do_not_run_the_grid_shows_posters(runner: JobRunner, png: bytes) -> None:
    grid = SeedGrid(image=png, prompts=["<script>x</script>", "calm"], seeds=[1], client=runner)
    grid.submit()
    generations = grid.wait(timeout=WAIT)
    until_state(grid, lambda: len(grid.posters) == 2)
    html = grid._repr_mimebundle_()[0]["text/html"]
    assert all(grid.posters[g.id] in html for g in generations)
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_a_grid_of_two_models_by_two_seeds_buys_two_of_each(harness: Harness, png: bytes) -> None:
    api, runner = harness.contract_runner()
    models = ["gen3a_turbo", "runway/gen4_turbo"]
    grid = SeedGrid("a paper boat", png, seeds=[5, 9], models=models, client=runner)
    assert grid.shape == (2, 2) and grid.header["rows"] == models
    assert "2 models × 2 seeds" in grid.header["title"]
    grid.submit()
    generations = grid.wait(WAIT)
    assert [(g.model, g.seed) for g in generations] == [
        ("gen3a_turbo", 5),
        ("gen3a_turbo", 9),
        ("runway/gen4_turbo", 5),
        ("runway/gen4_turbo", 9),
    ]
    bought = sorted(job.model for job in api.jobs.values())
    assert bought == ["gen3a_turbo", "gen3a_turbo", "runway/gen4_turbo", "runway/gen4_turbo"]
    assert grid.plan.requests[2].model == "runway/gen4_turbo"
