"""The ``gen3widgets`` command, run the way a person runs it: as a separate process.

Every run gets its own ``GEN3WIDGETS_HOME`` and no ``AIMLAPI_KEY`` (so the
built-in simulator answers), except the runs against the contract imitation
served on 127.0.0.1 (``tests.fakes.ServedContract``: prices, usage logs,
balance, retired models, held creates), which get a fake key that must never
be printed. Ctrl-C and kill -9 land while a create is in flight; a new
process must then find the purchase, never buy it again.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gen3widgets._args import seeds
from gen3widgets._cli import Progress, main
from tests.contract_api import ContractAPI
from tests.fakes import ServedContract, WallClock

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "notebooks" / "assets" / "lake.jpg"
FAKE_KEY = "sk-test-0123456789abcdef-NEVER-PRINT-ME"
ELAPSED = re.compile(r"\d+\.\ds\b")


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
        umask=0o022,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def printed(result: subprocess.CompletedProcess[str]) -> dict[int, Path]:
    """stdout's ``seed<TAB>path`` lines, by seed."""
    found = {}
    for line in result.stdout.splitlines():
        seed, path = line.split("\t")
        found[int(seed)] = Path(path)
    return found


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
        "The sun sets over the lake!",
        "--seeds",
        "11,12",
        "--out",
        str(out),
        home=home,
    )
    return Generated(home, out, result)


# -- generate on the simulator ---------------------------------------------------------------


def test_generate_prints_each_seed_and_its_file_named_by_prompt_and_seed(
    generated: Generated,
) -> None:
    result = generated.result
    assert result.returncode == 0, result.stderr
    paths = printed(result)
    assert set(paths) == {11, 12}
    for seed, path in paths.items():
        assert path.parent == generated.out and path.is_absolute()
        assert path.name == f"the-sun-sets-over-the-lake-seed{seed}.mp4"
        assert path.read_bytes()[4:8] == b"ftyp"  # an MP4 file
        assert path.stat().st_mode & 0o044 == 0o044  # readable by others, like any saved file
    # The originals stay in the history (beside their previews, made by the job runner).
    videos = [
        v for v in (generated.home / "videos").glob("*.mp4") if not v.name.endswith(".preview.mp4")
    ]
    assert len(videos) == 2
    assert {v.read_bytes() for v in videos} == {p.read_bytes() for p in paths.values()}
    assert_no_traceback(result)


def test_generate_says_it_uses_the_simulator_and_shows_progress(generated: Generated) -> None:
    err = generated.result.stderr
    assert "No AIMLAPI_KEY set" in err and "simulator" in err and "nothing is bought" in err
    # The summary agrees: the simulator bills as the API does, but nothing was spent.
    assert "Charged" not in err and "Simulated: nothing was charged" in err
    # not a TTY: plain lines, one per status change, no ANSI escapes
    assert "\x1b[" not in err
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert progress and all(len(ELAPSED.findall(line)) == 1 for line in progress), progress
    for seed in ("seed 11", "seed 12"):
        lines = [line for line in progress if seed in line]
        assert any("submitting" in line for line in lines)
        assert "completed" in lines[-1] and "gen3a_turbo" in lines[-1]


def test_history_lists_the_generations(generated: Generated) -> None:
    result = run_cli("history", home=generated.home)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "MODEL", "STATUS", "SEED", "DUR", "COST", "WHEN", "FILE"]
    assert len(rows) == 2
    names = {p.name for p in (generated.home / "videos").iterdir()}
    for row in rows:
        gid, model, status, *_ = row.split()
        assert f"{gid}.mp4" in names
        assert (model, status) == ("gen3a_turbo", "completed")
        assert " 5s " in row and "(sim)" in row and "$" not in row  # nothing was spent
    assert {row.split()[4] for row in rows} == {"11", "12"}


def test_history_json(generated: Generated) -> None:
    result = run_cli("history", "--json", "--limit", "1", home=generated.home)
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["status"] == "completed" and entry["model"] == "gen3a_turbo"
    assert entry["seed"] in (11, 12) and entry["submission_id"]
    assert entry["prompt"] == "The sun sets over the lake!"
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


def test_a_ratio_the_model_does_not_take_is_a_short_error(tmp_path: Path) -> None:
    result = run_cli(
        "generate", "--image", str(IMAGE), "--prompt", "x", "--ratio", "21:9", home=tmp_path
    )
    assert result.returncode == 2
    assert "ratio: gen3a_turbo takes" in result.stderr and "not '21:9'" in result.stderr
    assert "nothing was sent" in result.stderr
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
        (["generate", "--image", "a.png", "--seed", "4294967296"], "between 0 and 4294967295"),
        (["generate", "--image", "a.png", "--duration", "7"], "invalid choice"),
        (["generate", "--image", "a.png", "--model", "gen5"], "not a model here"),
        (["generate", "--image", "a.png", "--budget", "-1"], "0 or more dollars"),
        (["generate", "--image", "a.png", "--budget", "lots"], "not an amount of dollars"),
        (["generate", "--image", "a.png", "--endpoint", "v3"], "invalid choice"),
        (["history", "--limit", "0"], "at least 1"),
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


def test_seeds_are_parsed_once_each_in_order() -> None:
    assert seeds("3, 1,3,2") == [3, 1, 2]


# -- entry points ----------------------------------------------------------------------------


def test_help_and_version(tmp_path: Path) -> None:
    result = run_cli("--help", home=tmp_path)
    assert result.returncode == 0
    for command in ("generate", "history", "reconcile", "balance", "simulate"):
        assert command in result.stdout
    generate = run_cli("generate", "--help", home=tmp_path)
    for option in ("--model", "--budget", "--out", "--ratio", "runway/gen4_turbo", "auto"):
        assert option in generate.stdout
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


# -- against the contract imitation on a port, with a (fake) key ---------------------------------


def served_contract(**options: Any) -> ServedContract:
    options.setdefault("job_seconds", 0.3)
    options.setdefault("logs_lag", 0.0)
    return ServedContract(ContractAPI(WallClock(), **options))  # type: ignore[arg-type]


@pytest.fixture
def served() -> Iterator[ServedContract]:
    with served_contract() as running:
        yield running


def with_key(*args: str, home: Path, url: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, home=home, AIMLAPI_KEY=FAKE_KEY, AIMLAPI_BASE_URL=url)


def generate(home: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return with_key(
        "generate", "--image", str(IMAGE), "--prompt", "waves", *extra, home=home, url=url
    )


def history_json(home: Path) -> list[dict[str, Any]]:
    listed = run_cli("history", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    entries: list[dict[str, Any]] = json.loads(listed.stdout)
    return entries


def test_with_a_key_it_buys_at_the_quoted_price_and_never_prints_the_key(
    served: ServedContract, tmp_path: Path
) -> None:
    result = generate(tmp_path, served.url, "--seed", "5", "--model", "runway/gen4_turbo")
    assert result.returncode == 0, result.stderr
    assert f"Using the AI/ML API at {served.url}: buying 1 video for $0.30." in result.stderr
    assert "Charged $0.30 in all." in result.stderr
    assert FAKE_KEY not in result.stdout + result.stderr
    (path,) = printed(result).values()
    assert 5 in printed(result) and path.is_file()
    (entry,) = history_json(tmp_path)
    assert FAKE_KEY not in json.dumps(entry)
    assert entry["simulated"] is False and entry["model"] == "runway/gen4_turbo"
    assert entry["cost_usd"] == 0.3 and entry["seed"] == 5
    listed = run_cli("history", home=tmp_path)
    assert "runway/gen4_turbo" in listed.stdout and "$0.30" in listed.stdout
    (job,) = served.api.jobs.values()
    assert job.model == "runway/gen4_turbo" and job.path == "universal"
    assert job.body["seed"] == 5


def test_without_a_seed_one_is_drawn_and_printed(served: ServedContract, tmp_path: Path) -> None:
    result = generate(tmp_path, served.url)
    assert result.returncode == 0, result.stderr
    ((seed, path),) = printed(result).items()
    (job,) = served.api.jobs.values()
    assert job.body["seed"] == seed and path.is_file()


def test_a_budget_is_refused_before_anything_is_sent_with_the_arithmetic(
    served: ServedContract, tmp_path: Path
) -> None:
    result = generate(tmp_path, served.url, "--seeds", "1,2,3", "--budget", "0.60")
    assert result.returncode == 2
    assert "$0.00 spent + $0.00 in flight + $0.75 for this = $0.75" in result.stderr
    assert "over the budget of $0.60" in result.stderr and "Nothing was sent" in result.stderr
    assert "Using the AI/ML API" not in result.stderr  # it never said it would buy
    assert result.stdout == ""
    assert_no_traceback(result)
    assert served.api.counts["creates"] == 0
    fits = generate(tmp_path, served.url, "--seeds", "1,2", "--budget", "0.50")
    assert fits.returncode == 0, fits.stderr
    assert served.api.bought == 2


def test_a_retired_model_is_said_once_for_the_batch(tmp_path: Path) -> None:
    with served_contract(retired={"gen3a_turbo"}) as served:
        result = generate(tmp_path, served.url, "--seeds", "1,2,3")
        bought = served.api.bought
    assert result.returncode == 1 and result.stdout == ""
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert sum("is no longer available" in line for line in progress) == 1, result.stderr
    assert sum("(same reason as seed" in line for line in progress) == 2
    summary = [line for line in result.stderr.splitlines() if not line.startswith("[")]
    assert sum("is no longer available" in line for line in summary) == 1, result.stderr
    assert "seed 1, seed 2, seed 3: not bought:" in result.stderr
    assert "runway/gen4_turbo" in result.stderr and "Nothing was bought" in result.stderr
    assert bought == 0
    assert_no_traceback(result)


def test_a_failed_generation_exits_1(tmp_path: Path) -> None:
    failure = {"name": "ContentModerationError", "message": "the prompt was flagged"}
    with served_contract(fail_with=failure) as served:
        result = generate(tmp_path, served.url, "--seed", "5")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "seed 5: failed:" in result.stderr and "flagged" in result.stderr
    assert "submit again" in result.stderr  # says what to do next
    assert FAKE_KEY not in result.stdout + result.stderr
    assert_no_traceback(result)
    (entry,) = history_json(tmp_path)
    assert entry["status"] == "error" and "flagged" in entry["error"]


def test_reconcile_and_balance(served: ServedContract, tmp_path: Path) -> None:
    balance = with_key("balance", home=tmp_path, url=served.url)
    assert balance.returncode == 0, balance.stderr
    assert balance.stdout.strip() == "$100.00"
    nothing = with_key("reconcile", home=tmp_path, url=served.url)
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "Found 0 generation(s)" in nothing.stderr
    assert generate(tmp_path, served.url, "--seed", "1").returncode == 0
    after = with_key("balance", home=tmp_path, url=served.url)
    assert after.stdout.strip() == "$99.75"


# -- interrupted while a create is in flight ----------------------------------------------------


def start_generate(home: Path, url: str, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gen3widgets",
            "generate",
            "--image",
            str(IMAGE),
            "--prompt",
            "held",
            "--seed",
            str(seed),
        ],
        env=cli_env(home, AIMLAPI_KEY=FAKE_KEY, AIMLAPI_BASE_URL=url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def submission_rows(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "history.sqlite3") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT id, state, pid FROM submissions")]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "kill-9"])
def test_a_create_interrupted_in_flight_is_found_by_the_next_run(
    served: ServedContract, tmp_path: Path, how: str
) -> None:
    served.hold.clear()  # creates are bought, but their answers are held back
    proc = start_generate(tmp_path, served.url, seed=7)
    try:
        assert served.held.wait(60), "the create never arrived"
        (row,) = submission_rows(tmp_path)
        assert row["state"] == "sending" and row["pid"] == proc.pid  # on disk before it left
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    served.hold.set()  # the held answer goes nowhere: the process is gone
    assert served.api.bought == 1 and served.api.counts["creates"] == 1
    (row,) = submission_rows(tmp_path)
    if how == "ctrl-c":
        assert proc.returncode == 130 and "Traceback" not in err
        assert "in flight" in err and "uncertain" in err
        assert row["state"] == "uncertain"
        (entry,) = history_json(tmp_path)
        assert entry["status"] == "uncertain" and entry["submission_id"] == row["id"]
        assert entry["id"] is None and entry["seed"] == 7
        listed = run_cli("history", home=tmp_path)
        assert f"({row['id']})" in listed.stdout and "gen3widgets reconcile" in listed.stderr
    else:
        assert proc.returncode == -signal.SIGKILL
        assert row["state"] == "sending"  # nobody was left to say more

    # A new process looks it up in the usage logs: the purchase, found, never bought again.
    found = with_key("reconcile", home=tmp_path, url=served.url)
    assert found.returncode == 0, found.stderr
    (job_id,) = served.api.jobs
    assert found.stdout.strip() == f"{row['id']}\t{job_id}"
    assert [r["state"] for r in submission_rows(tmp_path)] == ["bought"]
    (entry,) = history_json(tmp_path)
    assert entry["id"] == job_id and entry["seed"] == 7
    assert served.api.bought == 1 and served.api.counts["creates"] == 1
    assert FAKE_KEY not in out + err + found.stdout + found.stderr


@pytest.mark.slow
def test_the_next_generate_follows_a_purchase_an_interrupted_run_left(
    served: ServedContract, tmp_path: Path
) -> None:
    served.hold.clear()
    proc = start_generate(tmp_path, served.url, seed=7)
    try:
        assert served.held.wait(60), "the create never arrived"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    served.hold.set()
    result = generate(tmp_path, served.url, "--seed", "8")
    assert result.returncode == 0, result.stderr
    assert "Found generation" in result.stderr and "not bought again" in result.stderr
    assert set(printed(result)) == {7, 8}  # the earlier run's video too, now saved
    assert all(path.is_file() for path in printed(result).values())
    assert served.api.bought == 2 and served.api.counts["creates"] == 2


# -- the terminal display ------------------------------------------------------------------


class _StubJob:
    """Just enough of a ``Job`` for the display."""

    def __init__(self, key: int, label: str) -> None:
        self.key = key
        self.label = label
        self.model = "gen3a_turbo"
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


def test_plain_display_stamps_each_line_once_and_says_a_shared_reason_once() -> None:
    jobs = [_StubJob(i, f"seed {i}") for i in (1, 2, 3)]
    stream = io.StringIO()
    display = Progress(jobs, stream, tty=False)  # type: ignore[arg-type]
    display.draw()
    for job in jobs:
        job.status_text, job.done = "not bought", True
        job.message = "The model gen3a_turbo is no longer available. Nothing was bought."
    display.draw()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6 and all(len(ELAPSED.findall(line)) == 1 for line in lines)
    assert sum("no longer available" in line for line in lines) == 1
    assert sum("(same reason as seed 1)" in line for line in lines) == 2
