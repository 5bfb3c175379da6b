"""The options that describe a generation, shared by the command line and the ``%gen3`` magic.

Both front doors parse the same flags into the same validated
``GenerationRequest`` objects, so a rule (which ratios a model takes, what a
seed may be) is checked in one place: ``_models``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from ._models import (
    AUTO_RATIO,
    DEFAULT_MODEL,
    MODELS,
    GenerationRequest,
    check_seed,
    find_model,
)

ALL_RATIOS = tuple(dict.fromkeys(r for m in MODELS.values() for r in m.ratios))
ALL_DURATIONS = tuple(sorted({d for m in MODELS.values() for d in m.durations}))


def seed(text: str) -> int:
    """One seed, by the one seed rule."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    problems = check_seed(value)
    if problems:
        raise argparse.ArgumentTypeError(f"the seed {problems[0]}")
    return value


def seeds(text: str) -> list[int]:
    """``"1,2,3"`` → ``[1, 2, 3]`` (duplicates dropped, order kept)."""
    values = [seed(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("give at least one seed, e.g. --seeds 1,2,3")
    return list(dict.fromkeys(values))


def model(text: str) -> str:
    found = find_model(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a model here; choose {' or '.join(MODELS)}"
        )
    return found.id


def budget(text: str) -> float:
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError("the budget must be 0 or more dollars")
    return value


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that describe a generation."""
    parser.add_argument("--image", required=True, metavar="PATH_OR_URL", help="first frame")
    parser.add_argument("--last-image", metavar="PATH_OR_URL", help="optional last frame")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seeds", type=seeds, metavar="1,2,3", help="one video per seed")
    group.add_argument("--seed", type=seed, metavar="N", help="one video with this seed")
    parser.add_argument(
        "--model",
        type=model,
        default=DEFAULT_MODEL,
        metavar="MODEL",
        help=f"{' or '.join(MODELS)} (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--ratio",
        default="16:9",
        metavar="RATIO",
        help=f"{', '.join(ALL_RATIOS)} (which ones depends on the model) or "
        f"{AUTO_RATIO} (from the image); default 16:9",
    )
    parser.add_argument(
        "--duration",
        type=int,
        choices=ALL_DURATIONS,
        default=5,
        help="seconds of video (default 5)",
    )
    parser.add_argument(
        "--budget",
        type=budget,
        metavar="USD",
        help="refuse to buy more than this many dollars in all (counting jobs in flight)",
    )


def request_seeds(args: argparse.Namespace) -> list[int | None]:
    """The seeds asked for: ``--seeds``, else ``[--seed]`` (``[None]``: a random seed)."""
    return list(args.seeds) if args.seeds else [args.seed]


def build_requests(prompt: str, args: argparse.Namespace) -> list[GenerationRequest]:
    """One validated request per seed; ``ValidationError`` before anything is sent."""
    chosen = request_seeds(args)
    base = GenerationRequest(
        prompt=prompt,
        image=args.image,
        last_image=args.last_image,
        duration=args.duration,
        ratio=args.ratio,
        seed=chosen[0],
        model=args.model,
    )
    return [base if s == base.seed else base.replace(seed=s) for s in chosen]


def widget_options(args: argparse.Namespace) -> dict[str, Any]:
    """The fields a panel or grid takes, from parsed options."""
    return {
        "last_image": args.last_image,
        "duration": args.duration,
        "ratio": args.ratio,
        "model": args.model,
    }
