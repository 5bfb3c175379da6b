"""The ``gen3widgets`` command, run the way a person runs it: as a separate process.

Every run gets its own ``GEN3WIDGETS_HOME`` and no ``AIMLAPI_KEY`` (so the
built-in simulator answers), except the runs against a simulator served on
127.0.0.1, which get a fake key that must never be printed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gen3widgets._cli import Progress, main, parse_seeds

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "notebooks" / "assets" / "lake.jpg"
FAKE_KEY = "sk-test-0123456789abcdef-NEVER-PRINT-ME"


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIMLAPI_")}
    env["GEN3WIDGETS_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str, home: Path, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gen3widgets", *args],
        env=cli_env(home, **env),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


@dataclass
class Generated:
    home: Path
    out: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """One real ``generate`` run on the simulator (two seeds), shared by the checks below."""
    home = tmp_path_factory.mktemp("cli-home")
    out = tmp_path_factory.mktemp("cli-out") / "clips"
    result = run_cli(
        "generate",
        "--image",
        str(IMAGE),
        "--prompt",
        "the sun sets over the lake",
        "--seeds",
        "11,12",
        "--out",
        str(out),
        home=home,
    )
    return Generated(home, out, result)


# -- generate ----------------------------------------------------------------------------


def test_generate_saves_one_video_per_seed_and_prints_the_paths(generated: Generated) -> None:
    result = generated.result
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 2
    for path in paths:
        assert path.parent == generated.out
        assert path.is_file()
        assert path.read_bytes()[4:8] == b"ftyp"  # an MP4 file
        # the original stays in the history's video folder
        assert (generated.home / "videos" / path.name).is_file()
    assert_no_traceback(result)


def test_generate_says_it_uses_the_simulator_and_shows_progress(generated: Generated) -> None:
    err = generated.result.stderr
    assert "No AIMLAPI_KEY set" in err and "simulator" in err
    # not a TTY: plain lines, one per status change, no ANSI escapes
    assert "\x1b[" not in err
    for seed in ("seed 11", "seed 12"):
        lines = [line for line in err.splitlines() if seed in line]
        assert any("submitting" in line for line in lines)
        assert "completed" in lines[-1]


def test_history_lists_the_generations(generated: Generated) -> None:
    result = run_cli("history", home=generated.home)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "SEED", "DUR", "WHEN", "FILE"]
    assert len(rows) == 2
    names = {p.name for p in generated.out.iterdir()}
    for row in rows:
        gid, status, *_ = row.split()
        assert f"{gid}.mp4" in names
        assert status == "completed"
        assert " 5s " in row
    assert {row.split()[3] for row in rows} == {"11", "12"}


def test_history_json(generated: Generated) -> None:
    result = run_cli("history", "--json", "--limit", "1", home=generated.home)
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["status"] == "completed"
    assert entry["seed"] in (11, 12)
    assert entry["prompt"] == "the sun sets over the lake"
    assert entry["simulated"] is True
    assert Path(entry["file"]).is_file()
    assert "image" not in entry  # no data URIs in the listing


def test_history_when_empty(tmp_path: Path) -> None:
    result = run_cli("history", home=tmp_path)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "No generations yet" in result.stderr
    assert json.loads(run_cli("history", "--json", home=tmp_path).stdout) == []


# -- bad usage: exit 2, a short message, nothing sent --------------------------------------


def test_bad_ratio_is_a_short_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        "generate", "--image", str(IMAGE), "--prompt", "x", "--ratio", "4:3", home=tmp_path
    )
    assert result.returncode == 2
    assert "invalid choice: '4:3'" in result.stderr
    assert len(result.stderr.splitlines()) < 12
    assert result.stdout == ""
    assert_no_traceback(result)
    assert not (tmp_path / "history.sqlite3").exists()  # nothing was even recorded


def test_missing_image_is_a_validation_error(tmp_path: Path) -> None:
    result = run_cli("generate", "--image", "no-such.png", "--prompt", "x", home=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "nothing was sent" in result.stderr
    assert_no_traceback(result)


def test_unsupported_image_file_is_a_validation_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    result = run_cli("generate", "--image", str(bogus), home=tmp_path)
    assert result.returncode == 2
    assert "image:" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["generate", "--prompt", "x"], "--image"),
        (["generate", "--image", "a.png", "--seeds", "1,x"], "not a whole number"),
        (["generate", "--image", "a.png", "--seed", "1", "--seeds", "2,3"], "not allowed with"),
        (["generate", "--image", "a.png", "--duration", "7"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_in_process(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_parse_seeds() -> None:
    assert parse_seeds("3, 1,3,2") == [3, 1, 2]


# -- entry points ----------------------------------------------------------------------------


def test_help_and_version(tmp_path: Path) -> None:
    result = run_cli("--help", home=tmp_path)
    assert result.returncode == 0
    for command in ("generate", "history", "simulate"):
        assert command in result.stdout
    version = run_cli("--version", home=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("gen3widgets ")


def test_simulate_is_delegated_to_the_simulator(tmp_path: Path) -> None:
    result = run_cli("simulate", "--help", home=tmp_path)
    assert result.returncode == 0
    assert "gen3widgets simulate" in result.stdout
    assert "--port" in result.stdout
    bad = run_cli("simulate", "--port", "notaport", home=tmp_path)
    assert bad.returncode == 2
    assert_no_traceback(bad)


def test_console_script_when_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("gen3widgets")
    if not script.exists():
        found = shutil.which("gen3widgets")
        if found is None:
            pytest.skip("the gen3widgets console script is not installed (pip install -e .)")
        script = Path(found)
    result = subprocess.run(
        [str(script), "history"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "No generations yet" in result.stderr


# -- against a simulator on a port, with a (fake) key -------------------------------------------


@pytest.fixture
def served() -> Iterator[Any]:
    from gen3widgets.simulator import start

    with start(port=0, job_seconds=(0.2, 0.4), queue_seconds=0.05) as running:
        yield running


def _generate_with_key(home: Path, url: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "generate",
        "--image",
        str(IMAGE),
        "--prompt",
        "waves",
        "--seed",
        "5",
        home=home,
        AIMLAPI_KEY=FAKE_KEY,
        AIMLAPI_BASE_URL=url,
    )


def test_with_a_key_it_uses_the_api_and_never_prints_the_key(served: Any, tmp_path: Path) -> None:
    result = _generate_with_key(tmp_path, served.url)
    assert result.returncode == 0, result.stderr
    assert f"Using the AI/ML API at {served.url}" in result.stderr
    assert "buying 1 video" in result.stderr
    assert FAKE_KEY not in result.stdout + result.stderr
    assert Path(result.stdout.strip()).is_file()
    history = run_cli("history", "--json", home=tmp_path)
    assert FAKE_KEY not in history.stdout
    assert json.loads(history.stdout)[0]["simulated"] is False


def test_a_failed_generation_exits_1(served: Any, tmp_path: Path) -> None:
    from gen3widgets.simulator import Faults

    served.app.faults = Faults(job_error=1.0)
    result = _generate_with_key(tmp_path, served.url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "seed 5: failed:" in result.stderr
    assert "submit again" in result.stderr  # says what to do next
    assert FAKE_KEY not in result.stdout + result.stderr
    assert_no_traceback(result)
    (entry,) = json.loads(run_cli("history", "--json", home=tmp_path).stdout)
    assert entry["status"] == "error" and entry["error"]


def test_an_uncertain_purchase_exits_1_and_says_so(served: Any, tmp_path: Path) -> None:
    from gen3widgets.simulator import Faults

    served.app.faults = Faults(create_500_after_buying=1.0)
    result = _generate_with_key(tmp_path, served.url)
    assert result.returncode == 1
    assert "uncertain" in result.stderr
    assert "may or may not have been bought" in result.stderr
    assert "NOT sent again" in result.stderr
    assert served.app.stats.creates_received == 1  # never re-sent automatically
    assert FAKE_KEY not in result.stdout + result.stderr
    assert_no_traceback(result)


# -- the terminal display ------------------------------------------------------------------


class _StubJob:
    """Just enough of a ``Job`` for the display."""

    def __init__(self, key: int, label: str) -> None:
        self.key = key
        self.label = label
        self.generation: Any = None
        self.status_text = "submitting"
        self.done = False
        self.ok = False
        self.elapsed = 0.0
        self.message: str | None = None

    def progress(self) -> float:
        return 0.5

    def add_observer(self, observer: Any) -> Any:
        return lambda: None


def test_tty_display_redraws_in_place() -> None:
    jobs = [_StubJob(1, "seed 1"), _StubJob(2, "seed 2")]
    stream = io.StringIO()
    display = Progress(jobs, stream, tty=True)  # type: ignore[arg-type]
    display.draw()
    jobs[0].status_text, jobs[0].done, jobs[0].ok = "completed", True, True
    jobs[1].status_text, jobs[1].done = "failed", True
    jobs[1].message = "Generation x failed: flagged.\nmore"
    display.draw()
    text = stream.getvalue()
    assert text.count("\x1b[2F") == 1  # moved back up over the two lines once
    assert text.count("\x1b[2K") == 4  # each line cleared before it is redrawn
    last = text.rsplit("\x1b[2F", 1)[1]
    assert "seed 1" in last and "completed" in last
    assert "Generation x failed: flagged." in last and "more" not in last
