"""The simulator on a real port: ``start()`` in a background thread, ``cli_main()`` in the foreground.

Both bind the listening socket themselves before uvicorn starts, so the port
is known (even port 0) and connections are accepted from the moment we return.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any

from ._app import Simulator
from ._models import MODELS
from ._options import PATHS, PHASES, PRESETS, USAGE_FIELDS, VIDEO_SHAPES, Faults, SimulatorOptions
from ._responses import SimulatedDisconnect

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_STARTUP_TIMEOUT = 10.0
_FAULT_NAMES = [f.name for f in dataclasses.fields(Faults)]
_DEFAULTS = SimulatorOptions()


class _QuietSimulatedDrops(logging.Filter):
    """uvicorn logs every app exception as an error; a simulated drop is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDisconnect)


_QUIET = _QuietSimulatedDrops()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose
    # proto says TCP. Without it every answer after the first on a kept-alive connection
    # waits ~40 ms (Nagle's algorithm against the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Simulator, log_level: str, quiet_logging: bool) -> Any:
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_QUIET)  # idempotent: a set of filters
    config = uvicorn.Config(
        app,
        lifespan="off",
        loop="asyncio",
        log_level=log_level,
        # In a notebook or a test run, leave the host program's logging alone.
        log_config=None if quiet_logging else uvicorn.config.LOGGING_CONFIG,
        access_log=not quiet_logging,
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


class RunningSimulator:
    """A simulator served by uvicorn on a background thread. Stop it with ``stop()`` or ``with``."""

    def __init__(self, app: Simulator, sock: socket.socket, owns_app: bool) -> None:
        self.app = app
        self.url = _url(sock)
        self._sock = sock
        self._owns_app = owns_app
        self._server = _server(app, "warning", quiet_logging=True)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="gen3sim-uvicorn", daemon=True
        )
        self._stopped = False

    def _start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start on {self.url}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Shut the server down and wait for its thread (safe to call twice)."""
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=_STARTUP_TIMEOUT)
        self._sock.close()
        if self._owns_app:
            self.app.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<RunningSimulator {self.url} {state}>"


def start(
    port: int = 0, host: str = "127.0.0.1", *, app: Simulator | None = None, **options: Any
) -> RunningSimulator:
    """Serve a simulator (``app``, or a new one from ``options``) on ``host:port`` in a thread.

    Returns once connections are accepted; ``port=0`` picks a free port (see ``.url``).
    """
    sim = app if app is not None else Simulator(**options)
    running = RunningSimulator(sim, _bind(host, port), owns_app=app is None)
    running._start()
    return running


def _fault(text: str) -> tuple[str, float]:
    name, eq, rate = text.partition("=")
    if not eq or name not in _FAULT_NAMES:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME among: {', '.join(_FAULT_NAMES)}"
        )
    try:
        return name, float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{rate!r} is not a number") from None


def _status_name(text: str) -> tuple[str, str]:
    phase, eq, name = text.partition("=")
    if not eq or phase not in PHASES or not name:
        raise argparse.ArgumentTypeError(
            f"expected PHASE=NAME with PHASE among: {', '.join(PHASES)}"
        )
    return phase, name


def build_parser(prog: str = "gen3widgets simulate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the offline simulator of the AI/ML API (Runway gen3a_turbo and "
        "runway/gen4_turbo image-to-video) until Ctrl-C.",
    )
    add = parser.add_argument
    add(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    add("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default 8000)")
    add(
        "--paths",
        choices=PATHS,
        default=_DEFAULTS.paths,
        help="serve the universal path (/v2/video/generations), the legacy Runway path, "
        "or both (default %(default)s)",
    )
    add("--retire", action="append", default=[], metavar="MODEL",
        choices=[name for m in MODELS for name in m.names],
        help="answer creates for MODEL with 404 'deprecated' and leave it out of the "
        "catalogue (repeatable)")  # fmt: skip
    add("--logs-lag", type=float, default=_DEFAULTS.logs_lag, metavar="SECONDS",
        help="seconds before a request shows in GET /v2/logs (default %(default)s)")  # fmt: skip
    add("--balance", type=float, default=_DEFAULTS.balance_usd, metavar="USD",
        help="the account's balance in USD before anything is bought (default %(default)s)")  # fmt: skip
    add("--realistic-bytes", action="store_true",
        help="render clips at about 5 Mbit/s with film grain, as big as real AI video "
        "(slower to render)")  # fmt: skip
    add(
        "--job-seconds",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="range of each job's time",
    )
    add(
        "--preset", choices=PRESETS, help="realistic: 20-30 s for 5 s clips, 40-55 s for 10 s clips"
    )
    add(
        "--video-shape",
        choices=VIDEO_SHAPES,
        help="shape of the 'video' field on both paths (default: universal url, legacy list)",
    )
    add(
        "--usage-field",
        choices=USAGE_FIELDS,
        help="key under meta.usage on both paths (default: universal credits_used, "
        "legacy tokens_used)",
    )
    add("--error-shape", choices=("name_message", "detail"), default=_DEFAULTS.error_shape)
    add("--status", type=_status_name, action="append", default=[], metavar="PHASE=NAME",
        help="report a phase under another name, e.g. queued=waiting (repeatable)")  # fmt: skip
    add(
        "--ttl",
        type=float,
        default=_DEFAULTS.url_ttl,
        metavar="SECONDS",
        help="video links expire after this (default %(default)s)",
    )
    add("--concurrency", type=int, help="at most N jobs generate at once; the rest stay queued")
    add("--seed", type=int, default=0, help="seed for timings, faults and omitted seeds")
    add("--fault", type=_fault, action="append", default=[], metavar="NAME=VALUE",
        help="inject trouble, e.g. get_5xx=0.2 or slow_rate=0.5 (repeatable)")  # fmt: skip
    add("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "paths": args.paths,
        "retired_models": frozenset(args.retire),
        "logs_lag": args.logs_lag,
        "balance_usd": args.balance,
        "video_quality": "realistic" if args.realistic_bytes else "light",
        "preset": args.preset,
        "video_shape": args.video_shape,
        "usage_field": args.usage_field,
        "error_shape": args.error_shape,
        "status_names": dict(args.status),
        "url_ttl": args.ttl,
        "concurrency": args.concurrency,
        "seed": args.seed,
        "faults": Faults(**dict(args.fault)),
    }
    if args.job_seconds:
        options["job_seconds"] = tuple(args.job_seconds)
    return options


def cli_main(argv: list[str] | None = None) -> int:
    """``gen3widgets simulate [...]``: serve the simulator in the foreground until Ctrl-C."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        sim = Simulator(**_options(args))
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    url = _url(sock)
    print(f"gen3widgets simulator listening on {url}", flush=True)
    if args.host not in LOOPBACK_HOSTS:
        print(f"Warning: bound to {args.host}: other machines can reach it.", flush=True)
    print(
        "Point the client at it:\n"
        f"  export AIMLAPI_BASE_URL={url} AIMLAPI_KEY=anything\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        _server(sim, args.log_level, quiet_logging=False).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled
        pass
    finally:
        sock.close()
        sim.close()
    print("Simulator stopped.", flush=True)
    return 0
