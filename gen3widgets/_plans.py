"""Planning a seed grid without widgets: which requests, in which cells.

    plan = plan_grid("a slow dolly shot", "cat.png", seeds=4)
    plan.problems            # {} when every request is valid; else every problem, by field
    plan.requests            # row-major: row (prompt, then model), then seed
    plan_grid("a boat", "cat.png", seeds=2, models=["gen3a_turbo", "runway/gen4_turbo"])

A grid's rows are its prompts, or its models, or each prompt with each model
(rows: prompts × models, columns: seeds), so the same shot on two models sits
side by side, played in step.

Nothing here buys, speaks HTTP or shows anything: ``SeedGrid``, the ``%gen3``
magic and scripts all plan the same way. Every request is built (and so
validated) here; the first frame is decoded once and shared by every cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ValidationError
from ._images import PreparedImage
from ._models import (
    DEFAULT_MODEL,
    MODELS,
    GenerationRequest,
    check_choices,
    check_seed,
    find_model,
    random_seeds,
)


@dataclass(frozen=True)
class PlannedCell:
    """One cell of a grid: where it sits and what it buys."""

    index: int  # grid order (row-major)
    row: int  # the row's index (a prompt, a model, or a prompt with a model)
    col: int  # the seed's index
    request: GenerationRequest

    @property
    def prompt(self) -> str:
        return self.request.prompt

    @property
    def model(self) -> str:
        return self.request.model

    @property
    def seed(self) -> int:
        assert self.request.seed is not None  # every planned request has its seed
        return self.request.seed


@dataclass
class GridPlan:
    """What a grid's arguments ask for, or every problem with them (``problems``)."""

    prompts: list[str]
    seeds: list[int]
    duration: int
    matrix: bool  # rows × seeds (``prompts=`` or ``models=``), else one row of seeds
    models: list[str] = field(default_factory=list)  # the models axis (empty: one model)
    row_labels: list[str] = field(default_factory=list)  # what each row shows on its left
    columns: int = 1
    cells: list[PlannedCell] = field(default_factory=list)
    last_image: PreparedImage | None = None  # every cell's last frame, when given
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the matrix: (1, seeds) for one prompt on one model."""
        return (max(len(self.row_labels), 1) if self.matrix else 1, len(self.seeds))

    def index_of(self, row: int, col: int) -> int:
        """The grid-order index of ``(row, col)``; ``IndexError`` outside the grid."""
        rows, cols = self.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise IndexError(f"no cell at {(row, col)}: the grid is {self.shape}")
        return row * cols + col

    @property
    def requests(self) -> list[GenerationRequest]:
        """Every cell's request, in grid order."""
        return [cell.request for cell in self.cells]


def plan_grid(
    prompt: str = "",
    image: Any = None,
    seeds: int | Iterable[int] = 4,
    *,
    last_image: Any = None,
    duration: int = 5,
    ratio: str | None = "16:9",
    model: str = DEFAULT_MODEL,
    prompts: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    columns: int | None = None,
) -> GridPlan:
    """Every cell's request for one image over ``seeds`` (and ``prompts``, ``models``),
    checked up front.

    ``seeds`` is a count (that many distinct random seeds) or a list of
    seeds; ``prompts=[...]`` and ``models=[...]`` add rows (each prompt with
    each model). Problems are collected in ``problems`` (and ``cells`` is then
    empty), never raised.
    """
    problems: dict[str, list[str]] = {}
    seed_list = pick_seeds(seeds, problems)
    prompt_list = _prompts(prompt, prompts, problems)
    model_list = _models(model, models, ratio, duration, problems)
    matrix = prompts is not None or models is not None
    plan = GridPlan(prompt_list, seed_list, duration, matrix=matrix, models=list(models or []))
    plan.columns = _columns(columns, len(seed_list), problems)
    rows: list[GenerationRequest] = []
    try:  # what every cell shares: checked (and the image decoded) once
        common = GenerationRequest(
            prompt="",
            image=image,
            last_image=last_image,
            duration=duration,
            ratio=ratio,
            model=model_list[0] if model_list else model,
        )
    except ValidationError as exc:
        _merge(problems, exc.problems)
        common = None
    if common is not None:
        plan.last_image = common.last_image_info
        for i, text in enumerate(prompt_list):
            try:
                row = common.replace(prompt=text)
            except ValidationError as exc:
                _merge(problems, exc.problems, f"prompts[{i}]" if prompts is not None else "")
                continue
            for name in model_list or [row.model]:
                try:
                    rows.append(row.replace(model=name) if name != row.model else row)
                except ValidationError:
                    continue  # a choice this model does not offer: said under "models"
                plan.row_labels.append(_row_label(text, name, prompts, models))
    plan.problems = problems
    if not problems:
        plan.cells = [
            PlannedCell(r * len(seed_list) + c, r, c, row.replace(seed=seed))
            for r, row in enumerate(rows)
            for c, seed in enumerate(seed_list)
        ]
    return plan


def pick_seeds(seeds: int | Iterable[int], problems: dict[str, list[str]]) -> list[int]:
    """The seed rule: a count becomes that many distinct random seeds; a list is checked.

    Each seed is a purchase and the same seed gives the same video, so a list
    must not repeat one. Problems are added to ``problems["seeds"]`` (and an
    empty list returned).
    """
    found: list[str] = []
    values: list[Any] = []
    if isinstance(seeds, bool):
        found.append(f"give a number of seeds or a list of seeds, not {seeds!r}")
    elif isinstance(seeds, int):
        if seeds < 1:
            found.append(f"a grid needs at least 1 seed, not {seeds}")
        else:
            return random_seeds(seeds)
    else:
        try:
            values = list(seeds)
        except TypeError:
            found.append(f"give a number of seeds or a list of seeds, not {type(seeds).__name__}")
        if not values and not found:
            found.append("the list of seeds is empty")
    for value in values:
        found += [f"a seed {p}" for p in check_seed(value, optional=False)]
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        found.append(
            f"{', '.join(map(str, repeated))} appear(s) more than once: the same seed gives the "
            "same video, and each cell is a purchase"
        )
    if found:
        problems["seeds"] = found
        return []
    return [int(v) for v in values]


def default_columns(seeds: int) -> int:
    """Cells per row for a one-prompt grid: all of up to 3, 2 × 2 for 4, else 3."""
    return max(1, seeds if seeds <= 3 else 2 if seeds == 4 else 3)


def _prompts(
    prompt: str, prompts: Sequence[str] | None, problems: dict[str, list[str]]
) -> list[str]:
    if prompts is None:
        return [prompt]
    if isinstance(prompts, str):
        problems["prompts"] = ["give a list of prompts, not one string"]
        return []
    texts = list(prompts)
    if not texts:
        problems["prompts"] = ["the list of prompts is empty"]
    if prompt:
        problems.setdefault("prompts", []).append("give either prompt= or prompts=, not both")
    return texts


def _models(
    model: str,
    models: Sequence[str] | None,
    ratio: str | None,
    duration: int,
    problems: dict[str, list[str]],
) -> list[str]:
    """The models axis, each model checked with the grid's ratio and duration."""
    if models is None:
        return []
    if isinstance(models, str):
        problems["models"] = ["give a list of models, not one name"]
        return []
    names = list(models)
    found: list[str] = []
    if not names:
        found.append("the list of models is empty")
    if model != DEFAULT_MODEL:
        found.append("give either model= or models=, not both")
    chosen: list[str] = []
    for name in names:
        known = find_model(name)
        if known is None:
            found.append(f"{name!r} is not a model here; choose among {', '.join(MODELS)}")
            continue
        for field_name, said in check_choices(known.id, duration, ratio).items():
            if field_name != "model":
                found.extend(f"{known.id}: {field_name} {m}" for m in said)
        if known.id in chosen:
            found.append(f"{known.id} is given twice: each row is a purchase")
        chosen.append(known.id)
    if found:
        problems["models"] = found
    return chosen


def _row_label(
    prompt: str, model: str, prompts: Sequence[str] | None, models: Sequence[str] | None
) -> str:
    if prompts is not None and models is not None:
        return f"{model} · {prompt}" if prompt else model
    return model if models is not None else prompt


def _columns(columns: int | None, seeds: int, problems: dict[str, list[str]]) -> int:
    if columns is None:
        return default_columns(seeds)
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        problems["columns"] = [f"must be a whole number of at least 1, not {columns!r}"]
        return 1
    return columns


def _merge(into: dict[str, list[str]], found: dict[str, list[str]], where: str = "") -> None:
    for name, messages in found.items():
        key = where or name
        prefix = f"{name}: " if where and name != "prompt" else ""
        into.setdefault(key, []).extend(prefix + m for m in messages)
