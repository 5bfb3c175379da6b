"""The ``gen3widgets`` command: generate videos, list the history, run the simulator.

    gen3widgets generate --image cat.png --prompt "a slow dolly shot" --seeds 1,2,3
    gen3widgets history --limit 20
    gen3widgets simulate --port 8000

``generate`` uses the real AI/ML API when ``AIMLAPI_KEY`` is set, else the
built-in offline simulator (it says which on stderr). All seeds are submitted
at once through a ``JobRunner`` on its private loop thread, while the main
thread draws their progress on stderr. The saved files' paths go to stdout,
one a line, so ``gen3widgets generate ... | xargs open`` works.

Exit status: 0 when every video was made, 1 when one failed (or its purchase
is uncertain, or the wait timed out), 2 for bad usage or invalid input,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._config import API_KEY_ENV, DEFAULT_WAIT_TIMEOUT
from ._errors import ConfigurationError, ValidationError
from ._models import DURATIONS, MAX_SEED, RATIOS, GenerationRequest, estimate_tokens

if TYPE_CHECKING:
    from ._jobs import Job

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "gen3widgets"


class UsageError(Exception):
    """Bad command-line input: printed as one short message, exit status 2."""


# -- parsing ---------------------------------------------------------------------------


def _seed(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and {MAX_SEED}")
    return value


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` → ``[1, 2, 3]`` (duplicates dropped, order kept)."""
    seeds = [_seed(part) for part in text.split(",") if part.strip()]
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed, e.g. --seeds 1,2,3")
    return list(dict.fromkeys(seeds))


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that describe a generation (shared with the ``%gen3`` magic)."""
    parser.add_argument("--image", required=True, metavar="PATH_OR_URL", help="first frame")
    parser.add_argument("--last-image", metavar="PATH_OR_URL", help="optional last frame")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=parse_seeds, metavar="1,2,3", help="one video per seed")
    seeds.add_argument("--seed", type=_seed, metavar="N", help="one video with this seed")
    parser.add_argument(
        "--ratio",
        choices=(*RATIOS, "auto"),
        default="16:9",
        help="16:9 (1280x768), 9:16 (768x1280) or auto (from the image); default 16:9",
    )
    parser.add_argument(
        "--duration", type=int, choices=DURATIONS, default=5, help="seconds of video (default 5)"
    )


def request_seeds(args: argparse.Namespace) -> list[int | None]:
    """The seeds asked for: ``--seeds``, else ``[--seed]`` (``[None]``: a random seed)."""
    return list(args.seeds) if args.seeds else [args.seed]


def build_requests(prompt: str, args: argparse.Namespace) -> list[GenerationRequest]:
    """One validated request per seed; raises ``ValidationError`` before anything is sent."""
    seeds = request_seeds(args)
    base = GenerationRequest(
        prompt=prompt,
        image=args.image,
        last_image=args.last_image,
        duration=args.duration,
        ratio=None if args.ratio == "auto" else args.ratio,
        seed=seeds[0],
    )
    return [base if seed == base.seed else base.replace(seed=seed) for seed in seeds]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``simulate`` is only listed here; its own parser takes over)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Runway gen3a_turbo image-to-video on the AI/ML API, from the shell. "
        f"Uses the real API when {API_KEY_ENV} is set, else a built-in offline simulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gen = commands.add_parser(
        "generate",
        help="make videos from a first frame and a prompt (one per seed, all at once)",
        description="Make one video per seed, all submitted at once, and print the saved files. "
        "Each video is a purchase on the real API.",
    )
    gen.add_argument("--prompt", default="", help="what should happen (at most 1000 characters)")
    add_request_arguments(gen)
    gen.add_argument("--out", type=Path, metavar="DIR", help="also copy the videos into DIR")
    gen.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT,
        metavar="S",
        help=f"give up waiting after S seconds (default {DEFAULT_WAIT_TIMEOUT:g}); "
        "the generation keeps running on the server",
    )
    gen.add_argument("-v", "--verbose", action="store_true", help="log each request")

    hist = commands.add_parser(
        "history",
        help="list past generations",
        description="Past generations from the local history, newest first.",
    )
    hist.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")
    hist.add_argument("--json", action="store_true", help="print JSON instead of a table")

    commands.add_parser(
        "simulate",
        help="serve the offline simulator on a port (see: gen3widgets simulate --help)",
        add_help=False,
    )
    return parser


# -- generate --------------------------------------------------------------------------


def _label(request: GenerationRequest) -> str:
    return f"seed {request.seed}" if request.seed is not None else "random seed"


def _generate(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    requests = build_requests(args.prompt, args)  # ValidationError → exit 2, nothing sent

    from ._client import AsyncClient
    from ._jobs import JobRunner
    from ._store import HistoryStore

    client = AsyncClient.auto()
    count = len(requests)
    if client.is_simulated:
        print(
            f"No {API_KEY_ENV} set: using the built-in offline simulator (placeholder videos, "
            f"nothing is bought). Set {API_KEY_ENV} to use the real AI/ML API.",
            file=err,
        )
    else:
        tokens = estimate_tokens(args.duration, count)
        print(
            f"Using the AI/ML API at {client.base_url}: buying {count} video"
            f"{'s' if count != 1 else ''} (about {tokens:,} tokens).",
            file=err,
        )
    store = HistoryStore()
    runner = JobRunner(client, store=store, wait_timeout=args.timeout)
    try:
        jobs = [runner.submit(request, label=_label(request)) for request in requests]
        display = Progress(jobs, err, tty=_is_tty(err))
        try:
            display.run()
        except KeyboardInterrupt:
            display.interrupted()
            return EXIT_INTERRUPTED
    finally:
        runner.close()

    status = EXIT_OK
    for job in jobs:
        if not job.ok:
            status = EXIT_FAILED
            print(f"{job.label}: {job.state.value}: {job.message or 'no reason given'}", file=err)
            continue
        path = job.generation.local_path if job.generation else None
        if path is None:
            status = EXIT_FAILED
            print(f"{job.label}: completed but no video was saved", file=err)
            continue
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            path = Path(shutil.copy2(path, args.out / path.name))
        print(path, file=out)
    return status


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Live progress of a few jobs on a terminal: one line per job.

    On a TTY the block of lines is redrawn in place (ANSI cursor-up + clear
    line) a few times a second. Elsewhere (a log file, CI) a line is printed
    when a job changes status, and every ``interval`` seconds for each job
    still running, so the output stays readable.
    """

    def __init__(
        self, jobs: Sequence[Job], stream: TextIO, *, tty: bool, interval: float = 10.0
    ) -> None:
        self.jobs = list(jobs)
        self.stream = stream
        self.tty = tty
        self.interval = interval
        self._changed = threading.Event()
        self._drawn = 0
        self._last_status: dict[int, str] = {}
        self._last_periodic = time.monotonic()
        self._start = time.monotonic()
        width = max((len(job.label) for job in self.jobs), default=0)
        self._width = max(width, 6)
        for job in self.jobs:
            job.add_observer(lambda _job: self._changed.set())

    def run(self) -> None:
        """Draw until every job is finished (returns at once if they already are)."""
        refresh = 0.2 if self.tty else 1.0
        while True:
            finished = all(job.done for job in self.jobs)
            self.draw()
            if finished:
                return
            # Wake on any job event, or in time to refresh the elapsed seconds.
            self._changed.wait(refresh)
            self._changed.clear()

    def line(self, job: Job) -> str:
        status = _status(job)
        gid = job.generation.id[:8] if job.generation is not None else "--------"
        text = f"{job.label:<{self._width}}  {gid}  {status:<11} {job.elapsed:6.1f}s"
        if job.done and not job.ok and job.message:
            text += f"  {_first_line(job.message, 100)}"
        elif not job.done:
            text += "  " + _bar(job.progress())
        return text

    def draw(self) -> None:
        if self.tty:
            self._draw_tty()
        else:
            self._draw_plain()
        self.stream.flush()

    def _draw_tty(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")  # to the start of the block
        for job in self.jobs:
            self.stream.write("\r\x1b[2K" + self.line(job) + "\n")
        self._drawn = len(self.jobs)

    def _draw_plain(self) -> None:
        now = time.monotonic()
        periodic = now - self._last_periodic >= self.interval
        if periodic:
            self._last_periodic = now
        for job in self.jobs:
            status = _status(job)
            if self._last_status.get(job.key) != status or (periodic and not job.done):
                self._last_status[job.key] = status
                self.stream.write(f"[{now - self._start:6.1f}s] " + self.line(job) + "\n")

    def interrupted(self) -> None:
        running = [job.generation.id for job in self.jobs if job.generation and not job.done]
        self.stream.write("\nInterrupted.")
        if running:
            self.stream.write(
                " These generations were bought and keep running on the server: "
                + ", ".join(running)
                + ". They are in `gen3widgets history`."
            )
        self.stream.write("\n")
        self.stream.flush()


def _status(job: Job) -> str:
    """The job's status, saying "downloading" (not "completed") until the file is saved."""
    generation = job.generation
    if not job.done and generation is not None and generation.ok:
        return "downloading"
    return job.status_text


def _bar(fraction: float, width: int = 16) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _first_line(text: str, limit: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- history ---------------------------------------------------------------------------


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _history_rows(limit: int) -> tuple[list[dict[str, Any]], str]:
    from ._store import HistoryStore

    store = HistoryStore()
    rows = []
    for entry in store.entries(limit):
        g = entry.generation
        request = g.request
        rows.append(
            {
                "id": g.id,
                "status": g.status.value,
                "seed": g.seed,
                "duration": request.duration if request else None,
                "ratio": request.ratio if request else None,
                "prompt": request.prompt if request else None,
                "submitted_at": _iso(g.submitted_at),
                "finished_at": _iso(g.finished_at),
                "file": str(g.local_path) if g.local_path else None,
                "error": g.error,
                "tokens_used": g.tokens_used,
                "server": entry.server,
                "simulated": entry.simulated,
                "_when": _when(g.submitted_at),
            }
        )
    return rows, str(store.home)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat()


def _history(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    rows, home = _history_rows(args.limit)
    if args.json:
        json.dump(
            [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows], out, indent=2
        )
        out.write("\n")
        return EXIT_OK
    if not rows:
        print(
            f"No generations yet (history in {home}). Make one with:\n"
            f'  {PROG} generate --image PATH_OR_URL --prompt "..."',
            file=err,
        )
        return EXIT_OK
    headers = ("ID", "STATUS", "SEED", "DUR", "WHEN", "FILE")
    table = [
        (
            r["id"],
            r["status"] + (" (sim)" if r["simulated"] else ""),
            "-" if r["seed"] is None else str(r["seed"]),
            "-" if r["duration"] is None else f"{r['duration']}s",
            r["_when"],
            r["file"] or "-",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    for row in (headers, *table):
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )
    return EXIT_OK


# -- entry point -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "simulate":
        return _simulate(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse printed the usage and a short message (or --help)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    err, out = sys.stderr, sys.stdout
    if getattr(args, "verbose", False):
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    command = _generate if args.command == "generate" else _history
    try:
        return command(args, err, out)
    except (UsageError, ValidationError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=err)
        print(f"(see: {PROG} {args.command} --help)", file=err)
        return EXIT_USAGE
    except ConfigurationError as exc:
        print(f"{PROG} {args.command}: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nInterrupted.", file=err)
        return EXIT_INTERRUPTED


def _simulate(argv: list[str]) -> int:
    try:
        from .simulator import cli_main
    except ImportError as exc:
        print(
            f"{PROG} simulate: the simulator is not installed ({exc.name or exc}). "
            "Install it with: pip install 'gen3widgets[simulator]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return cli_main(argv)
