"""IPython magics: ``%gen3`` and ``%%gen3``, loaded with ``%load_ext gen3widgets``.

    %gen3 "a slow dolly shot over the lake" --image lake.jpg --seed 7
    %gen3 "waves at dusk" --image lake.jpg --seeds 1,2,3,4 --model runway/gen4_turbo --ratio 21:9

    %%gen3 --image lake.jpg --duration 10
    A slow dolly shot over the lake at sunset,
    the camera rising above the trees.

One seed shows a ``GenerationPanel``, several a ``SeedGrid``; either is
submitted at once, so the video appears under the cell without running
another one. The widget is also kept in the notebook as ``_gen3`` (e.g.
``_gen3.wait()``). ``--wait`` blocks the cell until the video is done.

Options are parsed like a shell line (quotes group words). A bad option or an
invalid request prints a short message and nothing is submitted.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn, cast

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ._args import add_request_arguments, build_requests, request_seeds, widget_options
from ._errors import ConfigurationError, ValidationError

__all__ = ["Gen3Magics", "load_ipython_extension", "unload_ipython_extension"]

USER_NS_NAME = "_gen3"


class MagicUsageError(Exception):
    """A bad ``%gen3`` line: shown as a short message, never a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise MagicUsageError(f"{self.format_usage()}{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        # Reached by --help, after the help text was printed.
        raise MagicUsageError(message or "")


def build_parser(prog: str = "%gen3") -> argparse.ArgumentParser:
    """The options of ``%gen3`` / ``%%gen3``."""
    parser = _Parser(
        prog=prog,
        description="Generate a video with Runway gen3a_turbo or runway/gen4_turbo and show "
        "it here. "
        "Uses the real AI/ML API when AIMLAPI_KEY is set, else the offline simulator.",
        epilog='Example: %gen3 "a slow dolly shot" --image lake.jpg --seeds 1,2,3',
    )
    parser.add_argument("prompt", nargs="*", help="the prompt (or, with %%%%gen3, the cell body)")
    add_request_arguments(parser)
    parser.add_argument(
        "--columns", type=int, default=None, metavar="N", help="videos per row in a seed grid"
    )
    parser.add_argument(
        "--wait", action="store_true", help="block the cell until every video is done"
    )
    return parser


def parse(line: str, cell: str | None = None) -> tuple[str, argparse.Namespace]:
    """The prompt and options of a magic call; raises ``MagicUsageError`` when they are bad."""
    prog = "%%gen3" if cell is not None else "%gen3"
    parser = build_parser(prog)
    try:
        words = shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise MagicUsageError(f"{parser.format_usage()}{prog}: error: {exc}") from None
    args, extra = parser.parse_known_args(words)
    # Words after the options are still prompt words: %gen3 --image a.png a slow pan
    unknown = [word for word in extra if word.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    prompt = " ".join([*args.prompt, *extra]).strip()
    if cell is not None:
        body = cell.strip()
        if prompt and body:
            raise MagicUsageError(
                f"{prog}: error: give the prompt either on the %%gen3 line or in the cell "
                "body, not both"
            )
        prompt = prompt or body
    if args.columns is not None and args.columns < 1:
        raise MagicUsageError(f"{prog}: error: --columns must be at least 1")
    return prompt, args


def make_widget(prompt: str, args: argparse.Namespace) -> Any:
    """A submitted ``GenerationPanel`` (one seed) or ``SeedGrid`` (several seeds).

    With ``--budget`` the widget gets a client of its own with that budget (a
    grid refuses the whole batch up front when it would pass it); otherwise it
    shares the notebook's default client.
    """
    build_requests(prompt, args)  # validate first: nothing is shown or sent when invalid
    seeds = request_seeds(args)
    options = widget_options(args)
    client = None
    if args.budget is not None:
        from ._client import AsyncClient

        client = AsyncClient.auto(budget_usd=args.budget)
    if len(seeds) == 1:
        from .widgets.panel import GenerationPanel

        panel = GenerationPanel(client, prompt=prompt, image=args.image, seed=seeds[0], **options)
        panel.submit()
        return panel
    from .widgets.grid import SeedGrid

    if args.columns is not None:
        options["columns"] = args.columns
    grid = SeedGrid(
        prompt, args.image, [s for s in seeds if s is not None], client=client, **options
    )
    grid.submit()
    return grid


def run_magic(line: str, cell: str | None = None, user_ns: dict[str, Any] | None = None) -> None:
    """Parse, build, display (and optionally wait for) the widget; print problems briefly."""
    from IPython.display import display

    try:
        prompt, args = parse(line, cell)
        widget = make_widget(prompt, args)
    except MagicUsageError as exc:
        text = str(exc).strip()
        if text:
            print(text)
        return
    except (ValidationError, ConfigurationError) as exc:
        print(f"%gen3: {exc}")
        return
    if user_ns is not None:
        user_ns[USER_NS_NAME] = widget
    cast(Any, display)(widget)  # IPython's display() is untyped
    if args.wait:
        widget.wait()


@magics_class
class Gen3Magics(Magics):
    """``%gen3`` / ``%%gen3``: generate a video and show it under the cell.

    Run ``%gen3 --help`` for every option.
    """

    @line_cell_magic
    def gen3(self, line: str, cell: str | None = None) -> None:
        shell = self.shell
        run_magic(line, cell, shell.user_ns if shell is not None else None)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gen3widgets``: register ``%gen3`` and ``%%gen3``."""
    ipython.register_magics(Gen3Magics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gen3widgets``: remove ``%gen3`` and ``%%gen3`` again."""
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("gen3", None)
