"""The ``gen3widgets`` command: generate videos, list the history, reconcile, run the simulator.

    gen3widgets generate --image cat.png --prompt "a slow dolly shot" --seeds 1,2,3
    gen3widgets history --limit 20
    gen3widgets reconcile            # find purchases whose answer was lost
    gen3widgets balance
    gen3widgets simulate --port 8000

``generate`` uses the real AI/ML API when ``AIMLAPI_KEY`` is set, else the
built-in offline simulator (it says which on stderr). The whole batch is
priced and checked against ``--budget`` first (refused: nothing is sent);
purchases an earlier run lost the answer of are looked up in the usage logs
and followed too; then all seeds are submitted at once through a
``JobRunner`` on its private loop thread, while the main thread draws their
progress on stderr. A seed is drawn here when none is given, so every video's
seed is known. Each saved video goes to stdout as ``<seed>\\t<absolute
path>``, one a line; ``--out DIR`` also copies it there, named by prompt and seed.

Exit status: 0 when every video was made, 1 when one failed (or its purchase
is uncertain, or the wait timed out), 2 for bad usage, invalid input or a
refused purchase, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import re
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._args import add_request_arguments, build_requests
from ._config import API_KEY_ENV, DEFAULT_WAIT_TIMEOUT, ENDPOINT_CHOICES
from ._errors import ConfigurationError, Gen3Error, StorageError, ValidationError
from ._models import random_seed

if TYPE_CHECKING:
    from ._client import AsyncClient
    from ._jobs import Job, JobRunner
    from ._models import Generation

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "gen3widgets"


class UsageError(Exception):
    """Bad command-line input: printed as one short message, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``simulate`` is only listed here; its own parser takes over)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Runway image-to-video (gen3a_turbo, runway/gen4_turbo) on the AI/ML API, "
        f"from the shell. Uses the real API when {API_KEY_ENV} is set, else a built-in "
        "offline simulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gen = commands.add_parser(
        "generate",
        help="make videos from a first frame and a prompt (one per seed, all at once)",
        description="Make one video per seed, all submitted at once, and print each seed with "
        "its saved file. Each video is a purchase on the real API.",
    )
    gen.add_argument("--prompt", default="", help="what should happen (at most 1000 characters)")
    add_request_arguments(gen)
    gen.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also copy the videos into DIR, named by prompt and seed",
    )
    gen.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT,
        metavar="S",
        help=f"give up waiting after S seconds (default {DEFAULT_WAIT_TIMEOUT:g}); "
        "the generation keeps running on the server",
    )
    gen.add_argument(
        "--endpoint",
        choices=ENDPOINT_CHOICES,
        help="which API path to use (default auto: universal, else Runway's legacy path)",
    )
    gen.add_argument("-v", "--verbose", action="store_true", help="log each request")

    hist = commands.add_parser(
        "history",
        help="list past generations and purchases",
        description="Past generations from the local history, newest first, with purchases "
        "whose answer was lost ('uncertain') until the usage logs tie them to a generation.",
    )
    hist.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")
    hist.add_argument("--json", action="store_true", help="print JSON instead of a table")

    commands.add_parser(
        "reconcile",
        help="look uncertain purchases up in the API's usage logs (nothing is bought)",
        description="Find purchases whose answer was lost in the API's usage logs and record "
        "their generations. Nothing is sent again.",
    )
    commands.add_parser("balance", help="the account's balance in USD")
    commands.add_parser(
        "simulate",
        help="serve the offline simulator on a port (see: gen3widgets simulate --help)",
        add_help=False,
    )
    return parser


# -- generate --------------------------------------------------------------------------


def _label(seed: int | None) -> str:
    return f"seed {seed}" if seed is not None else "random seed"


def _client(endpoint: str | None = None, budget: float | None = None) -> AsyncClient:
    from ._client import AsyncClient

    return AsyncClient.auto(endpoint=endpoint, budget_usd=budget)


def _generate(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.seed is None and not args.seeds:
        args.seed = random_seed()  # drawn here, so the video's seed is known and printed
    requests = build_requests(args.prompt, args)  # ValidationError → exit 2, nothing sent

    from ._jobs import JobRunner

    client = _client(args.endpoint, args.budget)
    runner = JobRunner(client, wait_timeout=args.timeout)
    count = len(requests)
    videos = f"{count} video{'s' if count != 1 else ''}"
    try:
        price = runner.loop_run(runner.quote_async(requests))
        cost = f"${price:.2f}" if price is not None else "a price the API cannot quote ahead"
        if client.is_simulated:
            print(
                f"No {API_KEY_ENV} set: using the built-in offline simulator (placeholder videos, "
                f"nothing is bought; on the real API {videos} would cost {cost}). "
                f"Set {API_KEY_ENV} to use the real AI/ML API.",
                file=err,
            )
        client.check_budget(price, videos)  # BudgetExceededError → exit 2, nothing sent
        if not client.is_simulated:
            print(
                f"Using the AI/ML API at {client.base_url}: buying {videos} for {cost}.", file=err
            )
        jobs = _found_earlier(runner, err)
        jobs += runner.submit_many(requests, labels=[_label(r.seed) for r in requests])
        display = Progress(jobs, err, tty=_is_tty(err))
        try:
            display.run()
        except KeyboardInterrupt:
            display.interrupted()
            return EXIT_INTERRUPTED
    finally:
        runner.close()
    return _report(jobs, args, err, out, simulated=client.is_simulated)


def _found_earlier(runner: JobRunner, err: TextIO) -> list[Job]:
    """Jobs following purchases an earlier run lost the answer of, once the logs show them."""
    try:
        found: list[Generation] = runner.loop_run(runner.call("reconcile"))
    except Gen3Error as exc:
        print(f"Could not look up earlier uncertain purchases: {exc}", file=err)
        return []
    for generation in found:
        print(
            f"Found generation {generation.id} in the usage logs: an earlier run lost the "
            f"answer to its purchase (submission {generation.submission_id}). Following it too; "
            "it was not bought again.",
            file=err,
        )
    return [runner.resume(g, label=f"{_label(g.seed)} (earlier)") for g in found]


def _report(
    jobs: list[Job], args: argparse.Namespace, err: TextIO, out: TextIO, *, simulated: bool
) -> int:
    status = EXIT_OK
    failed: dict[str, list[Job]] = {}  # one reason shared by several jobs is said once
    spent = 0.0
    for job in jobs:
        generation = job.generation
        if generation is not None and generation.cost_usd is not None:
            spent += generation.cost_usd
        if not job.ok:
            status = EXIT_FAILED
            failed.setdefault(job.message or "no reason given", []).append(job)
            continue
        path = generation.local_path if generation else None
        if path is None:
            status = EXIT_FAILED
            print(f"{job.label}: completed but no video was saved", file=err)
            continue
        seed = generation.seed if generation else None
        if args.out is not None:
            try:
                path = _export(path, args.out, args.prompt, seed)
            except StorageError as exc:
                status = EXIT_FAILED
                print(f"{job.label}: {exc}", file=err)
                continue
        print(f"{'' if seed is None else seed}\t{path}", file=out)
    for reason, same in failed.items():
        labels = ", ".join(job.label for job in same)
        states = " / ".join(dict.fromkeys(job.state.label for job in same))
        print(f"{labels}: {states}: {reason}", file=err)
    if spent and simulated:  # the simulator bills as the API does, but nobody paid
        print(f"Simulated: nothing was charged (the real API would have: ${spent:.2f}).", file=err)
    elif spent:
        print(f"Charged ${spent:.2f} in all.", file=err)
    return status


def _export(path: Path, folder: Path, prompt: str, seed: int | None) -> Path:
    """A copy of ``path`` in ``folder`` named by prompt and seed (readable like any saved file)."""
    words = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].strip("-")
    name = "-".join(p for p in (words, f"seed{seed}" if seed is not None else path.stem) if p)
    target = (folder / f"{name}.mp4").resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # a fresh file: the umask decides who may read it
        shutil.copyfile(path, target)  # copyfile, not copy2: no private mode carried over
    except OSError as exc:
        raise StorageError(
            f"the video is saved at {path}, but could not be copied into {folder} "
            f"({exc.strerror or exc}). Make the folder writable, or pick another --out.",
            folder=str(folder),
        ) from None
    return target


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Live progress of a few jobs on a terminal: one line per job.

    On a TTY the block of lines is redrawn in place (ANSI cursor-up + clear
    line) a few times a second, each with its job's elapsed time. Elsewhere (a
    log file, CI) a line is printed when a job changes status, and every
    ``interval`` seconds for each job still running, each line stamped once
    with the time since the start.
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
        self._said: dict[str, str] = {}  # reasons printed so far (plain mode) -> by which job
        self._last_periodic = time.monotonic()
        self._start = time.monotonic()
        self._width = max([len(job.label) for job in self.jobs] + [6])
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

    def line(self, job: Job, *, elapsed: bool, said: dict[str, str] | None = None) -> str:
        """One job's line; ``said`` maps reasons already shown to the job that showed them."""
        status = _status(job)
        generation = job.generation
        gid = generation.id[:8] if generation is not None and generation.id else "--------"
        text = f"{job.label:<{self._width}}  {job.model:<17}  {gid}  {status:<11}"
        if elapsed:
            text += f" {job.elapsed:6.1f}s"
        if job.done and not job.ok and job.message:
            said = {} if said is None else said
            first = said.setdefault(job.message, job.label)
            if first == job.label:
                text += f"  {_first_line(job.message, 100)}"
            else:  # a batch refused for one reason (a retired model) says it once
                text += f"  (same reason as {first})"
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
        said: dict[str, str] = {}
        for job in self.jobs:
            self.stream.write("\r\x1b[2K" + self.line(job, elapsed=True, said=said) + "\n")
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
                stamp = f"[{now - self._start:6.1f}s] "
                self.stream.write(stamp + self.line(job, elapsed=False, said=self._said) + "\n")

    def interrupted(self) -> None:
        bought = [
            job.generation.id
            for job in self.jobs
            if job.generation is not None and job.generation.id and not job.done
        ]
        sending = sum(job.generation is None and not job.done for job in self.jobs)
        self.stream.write("\nInterrupted.")
        if bought:
            self.stream.write(
                " These generations were bought and keep running on the server: "
                + ", ".join(bought)
                + "."
            )
        if sending:
            self.stream.write(
                f" {sending} create request(s) were in flight: they are kept as 'uncertain' "
                "and looked up in the usage logs on the next run (nothing is bought twice)."
            )
        self.stream.write(f" See `{PROG} history`.\n")
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


# -- history, reconcile, balance ---------------------------------------------------------


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat()


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
                "submission_id": g.submission_id,
                "model": g.model,
                "status": g.status.value,
                "seed": g.seed,
                "duration": request.duration if request else None,
                "ratio": request.ratio if request else None,
                "prompt": request.prompt if request else None,
                "submitted_at": _iso(g.submitted_at),
                "finished_at": _iso(g.finished_at),
                "file": str(g.local_path) if g.local_path else None,
                "error": g.error,
                "credits_used": g.credits_used,
                "cost_usd": g.cost_usd,
                "server": entry.server,
                "simulated": entry.simulated,
                "_when": _when(g.submitted_at),
            }
        )
    return rows, str(store.home)


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
    headers = ("ID", "MODEL", "STATUS", "SEED", "DUR", "COST", "WHEN", "FILE")
    table = [
        (
            r["id"] or f"({r['submission_id']})",
            r["model"],
            r["status"] + (" (sim)" if r["simulated"] else ""),
            "-" if r["seed"] is None else str(r["seed"]),
            "-" if r["duration"] is None else f"{r['duration']}s",
            "-" if r["cost_usd"] is None or r["simulated"] else f"${r['cost_usd']:.2f}",
            r["_when"],
            r["file"] or "-",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    for row in (headers, *table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
    if any(r["status"] == "uncertain" for r in rows):
        print(
            f"\n'uncertain': the answer was lost; `{PROG} reconcile` looks them up in the usage "
            "logs (they are never bought again).",
            file=err,
        )
    return EXIT_OK


def _reconcile(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    import asyncio

    client = _client()

    async def run() -> list[Any]:
        async with client:
            return await client.reconcile()

    found = asyncio.run(run())
    for generation in found:
        print(f"{generation.submission_id}\t{generation.id}", file=out)
    print(f"Found {len(found)} generation(s) in the usage logs; see `{PROG} history`.", file=err)
    return EXIT_OK


def _balance(args: argparse.Namespace, err: TextIO, out: TextIO) -> int:
    import asyncio

    client = _client()

    async def run() -> float:
        async with client:
            return await client.balance()

    balance = asyncio.run(run())
    note = " (the offline simulator's)" if client.is_simulated else ""
    print(f"${balance:.2f}{note}", file=out)
    return EXIT_OK


# -- entry point -----------------------------------------------------------------------

_COMMANDS = {
    "generate": _generate,
    "history": _history,
    "reconcile": _reconcile,
    "balance": _balance,
}


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
    command = _COMMANDS[args.command]
    try:
        return command(args, err, out)
    except (UsageError, ValidationError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=err)
        print(f"(see: {PROG} {args.command} --help)", file=err)
        return EXIT_USAGE
    except (ConfigurationError, Gen3Error) as exc:
        print(f"{PROG} {args.command}: {exc}", file=err)
        return EXIT_USAGE if not isinstance(exc, OSError) else EXIT_FAILED
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
