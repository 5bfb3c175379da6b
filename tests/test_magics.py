"""``%load_ext gen3widgets`` then ``%gen3`` / ``%%gen3``, in a real IPython shell.

Cells are run with ``shell.run_cell`` exactly as typed in a notebook, and the
displayed outputs captured the way a front end receives them. With a (fake)
key the magic speaks to the contract imitation served on 127.0.0.1, so
models, prices and budgets are the API's; one test runs keyless, on the
built-in simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

import gen3widgets as g3
from gen3widgets import _jobs
from gen3widgets._jobs import JobState
from tests.contract_api import ContractAPI
from tests.fakes import ServedContract, WallClock

IMAGE = Path(__file__).resolve().parents[1] / "notebooks" / "assets" / "lake.jpg"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
FAKE_KEY = "sk-test-magics-5d1e"


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    result = ip.run_cell("%load_ext gen3widgets")
    assert result.success
    ip.user_ns.pop("_gen3", None)
    yield ip
    ip.run_cell("%unload_ext gen3widgets")
    widget = ip.user_ns.pop("_gen3", None)
    if widget is not None:
        widget.close()


@pytest.fixture(autouse=True)
def fresh_default_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's magic makes its own default runner (with this test's settings)."""
    monkeypatch.setattr(_jobs, "_default_runner", None)
    yield
    made = _jobs._default_runner
    if made is not None:
        made.close()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContractAPI]:
    """The API the magic uses: the contract imitation on a port, with a fake key."""
    contract = ContractAPI(WallClock(), job_seconds=0.2, logs_lag=0.0)  # type: ignore[arg-type]
    with ServedContract(contract) as served:
        monkeypatch.setenv("AIMLAPI_KEY", FAKE_KEY)
        monkeypatch.setenv("AIMLAPI_BASE_URL", served.url)
        yield contract


def run(shell: InteractiveShell, cell: str) -> tuple[Any, CapturedIO]:
    with capture_output() as captured:
        result = shell.run_cell(cell)
    return result, captured


def widget_ids(captured: CapturedIO) -> list[str]:
    return [o.data[WIDGET_MIME]["model_id"] for o in captured.outputs if WIDGET_MIME in o.data]


def test_load_and_unload_register_the_magics(shell: InteractiveShell) -> None:
    magics = shell.magics_manager.magics
    assert "gen3" in magics["line"] and "gen3" in magics["cell"]
    shell.run_cell("%unload_ext gen3widgets")
    assert "gen3" not in magics["line"] and "gen3" not in magics["cell"]
    shell.run_cell("%load_ext gen3widgets")  # and back, for the fixture's teardown
    assert "gen3" in magics["line"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (f'%gen3 "a lake" --image {IMAGE} --ratio 21:9', "gen3a_turbo takes"),
        (f'%gen3 "a lake" --image {IMAGE} --model gen5', "not a model here"),
        (f'%gen3 "a lake" --image {IMAGE} --budget lots', "not an amount of dollars"),
        ('%gen3 "a lake"', "the following arguments are required: --image"),
        (f"%gen3 a lake --image {IMAGE} --seeds 1,x", "not a whole number"),
        (f"%gen3 a lake --image {IMAGE} --seed 1 --seeds 2,3", "not allowed with"),
        (f'%gen3 "a lake --image {IMAGE}', "No closing quotation"),
        ('%gen3 "a lake" --image no-such.png', "file 'no-such.png' does not exist"),
        (f"%%gen3 on the line --image {IMAGE}\nand in the body", "not both"),
    ],
)
def test_bad_options_print_a_short_message(
    shell: InteractiveShell, api: ContractAPI, cell: str, expected: str
) -> None:
    result, captured = run(shell, cell)
    assert result.success  # no exception reached the cell
    assert expected in captured.stdout
    assert "Traceback" not in captured.stdout + captured.stderr
    assert len(captured.stdout.splitlines()) <= 8
    assert widget_ids(captured) == []  # nothing shown...
    assert "_gen3" not in shell.user_ns  # ...and nothing submitted
    assert api.counts["creates"] == 0


def test_help_lists_the_options(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%gen3 --help")
    assert result.success
    for option in (
        "--image",
        "--seeds",
        "--model",
        "--ratio",
        "--duration",
        "--last-image",
        "--budget",
        "--wait",
    ):
        assert option in captured.stdout
    assert "runway/gen4_turbo" in captured.stdout and "auto" in captured.stdout
    assert "Traceback" not in captured.stdout


def test_line_magic_shows_a_submitted_panel(shell: InteractiveShell, api: ContractAPI) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    result, captured = run(
        shell, f"%gen3 the sun sets --image {IMAGE} behind the hills --seed 7 --ratio 16:9 --wait"
    )
    assert result.success, captured.stdout
    panel = shell.user_ns["_gen3"]
    assert isinstance(panel, GenerationPanel)
    assert widget_ids(captured) == [panel.model_id]  # displayed once, under the cell
    assert panel.job is not None and panel.job.ok  # submitted, and --wait waited
    generation = panel.generation
    assert generation is not None and generation.request is not None
    assert generation.request.prompt == "the sun sets behind the hills"
    assert generation.request.seed == 7 and generation.model == "gen3a_turbo"
    assert generation.local_path is not None and generation.local_path.is_file()
    assert "Traceback" not in captured.stdout + captured.stderr
    assert api.bought == 1


def test_the_model_option_reaches_the_panel_and_the_purchase(
    shell: InteractiveShell, api: ContractAPI
) -> None:
    result, captured = run(
        shell, f'%gen3 "wide" --image {IMAGE} --model runway/gen4_turbo --ratio 21:9 --wait'
    )
    assert result.success, captured.stdout
    panel = shell.user_ns["_gen3"]
    assert (panel.model.value, panel.ratio.value) == ("runway/gen4_turbo", "21:9")
    assert panel.generation is not None and panel.generation.ok
    assert panel.generation.model == "runway/gen4_turbo"
    (job,) = api.jobs.values()
    assert (job.model, job.body["aspect_ratio"]) == ("runway/gen4_turbo", "21:9")


def test_cell_magic_with_seeds_shows_a_seed_grid(shell: InteractiveShell, api: ContractAPI) -> None:
    from gen3widgets.widgets.grid import SeedGrid

    result, captured = run(
        shell, f"%%gen3 --image {IMAGE} --seeds 1,2 --duration 5\nwaves roll in\nat dusk\n"
    )
    assert result.success, captured.stdout
    grid = shell.user_ns["_gen3"]
    assert isinstance(grid, SeedGrid)
    assert widget_ids(captured) == [grid.model_id]
    generations = grid.wait(120)  # submitted already: the magic does not wait without --wait
    assert [g.seed for g in generations] == [1, 2]
    assert all(g.ok for g in generations)
    assert {g.request.prompt for g in generations if g.request} == {"waves roll in\nat dusk"}
    assert api.bought == 2


def test_a_budget_too_small_for_the_batch_buys_nothing(
    shell: InteractiveShell, api: ContractAPI
) -> None:
    result, captured = run(shell, f'%gen3 "waves" --image {IMAGE} --seeds 1,2,3 --budget 0.60')
    assert result.success, captured.stdout
    grid = shell.user_ns["_gen3"]
    with pytest.raises(g3.BudgetExceededError):
        grid.wait(60)
    assert [job.state for job in grid.jobs] == [JobState.REFUSED] * 3
    message = grid.jobs[0].message or ""
    assert "$0.75" in message and "budget of $0.60" in message and "Nothing was sent" in message
    assert api.counts["creates"] == 0


def test_a_budget_that_fits_buys_the_batch(shell: InteractiveShell, api: ContractAPI) -> None:
    result, captured = run(shell, f'%gen3 "waves" --image {IMAGE} --seeds 1,2 --budget 0.50 --wait')
    assert result.success, captured.stdout
    grid = shell.user_ns["_gen3"]
    assert all(job.ok for job in grid.jobs) and api.bought == 2
    assert grid.runner.client.budget_usd == 0.5


def test_without_a_key_it_runs_on_the_simulator(shell: InteractiveShell) -> None:
    result, captured = run(shell, f'%gen3 "a lake" --image {IMAGE} --seed 3 --wait')
    assert result.success, captured.stdout
    panel = shell.user_ns["_gen3"]
    assert panel.runner.simulated and "Offline simulator" in panel.banner.value
    assert panel.generation is not None and panel.generation.ok
