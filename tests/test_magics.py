"""``%load_ext gen3widgets`` then ``%gen3`` / ``%%gen3``, in a real IPython shell.

Cells are run with ``shell.run_cell`` exactly as typed in a notebook, and the
displayed outputs captured the way a front end receives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

IMAGE = Path(__file__).resolve().parents[1] / "notebooks" / "assets" / "lake.jpg"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    result = ip.run_cell("%load_ext gen3widgets")
    assert result.success
    ip.user_ns.pop("_gen3", None)
    yield ip
    ip.run_cell("%unload_ext gen3widgets")


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
        (f'%gen3 "a lake" --image {IMAGE} --ratio 4:3', "invalid choice: '4:3'"),
        ('%gen3 "a lake"', "the following arguments are required: --image"),
        (f"%gen3 a lake --image {IMAGE} --seeds 1,x", "not a whole number"),
        (f"%gen3 a lake --image {IMAGE} --seed 1 --seeds 2,3", "not allowed with"),
        (f'%gen3 "a lake --image {IMAGE}', "No closing quotation"),
        ('%gen3 "a lake" --image no-such.png', "file 'no-such.png' does not exist"),
        (f"%%gen3 on the line --image {IMAGE}\nand in the body", "not both"),
    ],
)
def test_bad_options_print_a_short_message(
    shell: InteractiveShell, cell: str, expected: str
) -> None:
    result, captured = run(shell, cell)
    assert result.success  # no exception reached the cell
    assert expected in captured.stdout
    assert "Traceback" not in captured.stdout + captured.stderr
    assert len(captured.stdout.splitlines()) <= 8
    assert widget_ids(captured) == []  # nothing shown...
    assert "_gen3" not in shell.user_ns  # ...and nothing submitted


def test_help_lists_the_options(shell: InteractiveShell) -> None:
    result, captured = run(shell, "%gen3 --help")
    assert result.success
    for option in ("--image", "--seeds", "--ratio", "--duration", "--last-image", "--wait"):
        assert option in captured.stdout
    assert "Traceback" not in captured.stdout


def test_line_magic_shows_a_submitted_panel(shell: InteractiveShell) -> None:
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
    assert generation.request.seed == 7
    assert generation.local_path is not None and generation.local_path.is_file()
    assert "Traceback" not in captured.stdout + captured.stderr


def test_cell_magic_with_seeds_shows_a_seed_grid(shell: InteractiveShell) -> None:
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
