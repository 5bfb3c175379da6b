"""Grid planning without widgets: requests, order, the seed rule, problems."""

from __future__ import annotations

import pytest

from gen3widgets._models import MAX_SEED
from gen3widgets._plans import default_columns, pick_seeds, plan_grid
from tests.widget_support import png_bytes


def test_a_prompts_by_seeds_plan_is_row_major_and_fully_validated() -> None:
    plan = plan_grid(
        image=png_bytes(),
        prompts=["dusk", "dawn"],
        seeds=[5, 6, 7],
        duration=10,
        model="runway/gen4_turbo",
    )
    assert plan.problems == {} and plan.matrix and plan.shape == (2, 3)
    assert [(c.index, c.row, c.col, c.prompt, c.seed) for c in plan.cells] == [
        (r * 3 + c, r, c, p, s)
        for r, p in enumerate(["dusk", "dawn"])
        for c, s in enumerate([5, 6, 7])
    ]
    assert all(c.request.duration == 10 and c.request.seed == c.seed for c in plan.cells)
    assert {c.request.model for c in plan.cells} == {"runway/gen4_turbo"}
    assert plan.requests == [c.request for c in plan.cells]
    # The first frame is decoded once and shared: every request carries the same image.
    assert len({c.request.image for c in plan.cells}) == 1
    assert plan.index_of(1, 2) == 5
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        plan.index_of(2, 0)
    assert plan.columns == 3


def test_a_count_of_seeds_is_that_many_distinct_random_seeds() -> None:
    plan = plan_grid("p", png_bytes(), seeds=8)
    assert len(set(plan.seeds)) == 8 and all(0 <= s <= MAX_SEED for s in plan.seeds)
    assert [c.seed for c in plan.cells] == plan.seeds
    assert not plan.matrix and plan.shape == (1, 8)


@pytest.mark.parametrize(
    ("seeds", "says"),
    [
        (0, "at least 1 seed"),
        (True, "a number of seeds or a list"),
        ([], "empty"),
        ([1, 1], "more than once"),
        ([-1], "a seed must be between 0 and 4294967295, not -1"),
        (["7"], "a seed must be a whole number from 0 to 4294967295, not '7'"),
        ([None], "a seed must be a whole number from 0 to 4294967295, not nothing"),
        (3.5, "a number of seeds or a list"),
    ],
)
def test_the_seed_rule_names_each_problem(seeds: object, says: str) -> None:
    problems: dict[str, list[str]] = {}
    assert pick_seeds(seeds, problems) == []  # type: ignore[arg-type]
    assert says in " ".join(problems["seeds"])


def test_every_problem_is_collected_and_nothing_is_planned() -> None:
    plan = plan_grid(
        "also a prompt",
        "no-such-file.png",
        seeds=[1, 1],
        duration=7,
        model="no-such-model",
        prompts=["fine", "x" * 1001],
        columns=0,
    )
    assert set(plan.problems) == {"seeds", "prompts", "image", "model", "columns"}
    assert "give either prompt= or prompts=" in " ".join(plan.problems["prompts"])
    assert plan.cells == []

    one_bad_row = plan_grid(image=png_bytes(), prompts=["fine", "x" * 1001], seeds=2)
    assert list(one_bad_row.problems) == ["prompts[1]"]


def test_default_columns() -> None:
    assert [default_columns(n) for n in (1, 2, 3, 4, 5, 16)] == [1, 2, 3, 2, 3, 3]


def test_models_are_an_axis_each_row_labelled_by_its_model() -> None:
    models = ["gen3a_turbo", "runway/gen4_turbo"]
    plan = plan_grid("a boat", png_bytes(), seeds=[1, 2], models=models)
    assert plan.problems == {} and plan.matrix and plan.shape == (2, 2)
    assert plan.row_labels == models
    assert [(c.row, c.col, c.model, c.seed) for c in plan.cells] == [
        (0, 0, "gen3a_turbo", 1),
        (0, 1, "gen3a_turbo", 2),
        (1, 0, "runway/gen4_turbo", 1),
        (1, 1, "runway/gen4_turbo", 2),
    ]
    both = plan_grid(image=png_bytes(), prompts=["calm", "storm"], seeds=[3], models=models)
    assert both.shape == (4, 1)
    assert both.row_labels == [
        "gen3a_turbo · calm",
        "runway/gen4_turbo · calm",
        "gen3a_turbo · storm",
        "runway/gen4_turbo · storm",
    ]


def test_a_models_axis_checks_each_model_with_the_grid_s_ratio() -> None:
    plan = plan_grid(
        "a boat", png_bytes(), seeds=1, ratio="21:9", models=["runway/gen4_turbo", "gen3a_turbo"]
    )
    assert plan.cells == [] and "gen3a_turbo: ratio" in " ".join(plan.problems["models"])
    for models, said in (
        (["gen2"], "not a model here"),
        (["gen3a_turbo", "gen3a_turbo"], "given twice"),
        ([], "empty"),
        ("gen3a_turbo", "not one name"),
    ):
        problems = plan_grid("a boat", png_bytes(), seeds=1, models=models).problems
        assert said in " ".join(problems["models"]), models
    both = plan_grid(
        "a boat", png_bytes(), seeds=1, model="runway/gen4_turbo", models=["gen3a_turbo"]
    )
    assert "either model= or models=" in " ".join(both.problems["models"])
