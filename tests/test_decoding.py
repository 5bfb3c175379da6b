"""Decoding runs on one thread whoever asks, so FFmpeg's buffers stay in one malloc arena."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gen3widgets import _frames
from gen3widgets._decoding import decoded
from tests.fakes import tiny_mp4


def test_work_from_many_threads_runs_on_one_thread() -> None:
    seen: set[int] = set()
    callers: set[int] = set()

    def work() -> int:
        seen.add(threading.get_ident())
        return 1

    def call() -> int:
        callers.add(threading.get_ident())
        return decoded(work)

    async def many() -> list[int]:
        return await asyncio.gather(*(asyncio.to_thread(call) for _ in range(16)))

    assert asyncio.run(many()) == [1] * 16
    assert len(seen) == 1 and seen.isdisjoint(callers)


def test_errors_reach_the_caller() -> None:
    def broken() -> None:
        raise ValueError("bad clip")

    with pytest.raises(ValueError, match="bad clip"):
        decoded(broken)


def test_last_frame_decodes_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_mp4())
    threads: set[str] = set()
    real_pick = _frames._pick

    def pick(path: Path, count: int) -> object:
        threads.add(threading.current_thread().name)
        return real_pick(path, count)

    monkeypatch.setattr(_frames, "_pick", pick)
    assert _frames.last_frame(clip).size == (64, 36)
    assert len(threads) == 1 and threads.pop().startswith("gen3widgets-decode")


def test_a_download_is_checked_in_a_child_process(tmp_path: Path) -> None:
    # PyAV and a decoder cost a process tens of MB it keeps: a kernel never pays them.
    good, cut = tmp_path / "good.mp4", tmp_path / "cut.mp4"
    good.write_bytes(tiny_mp4())
    cut.write_bytes(tiny_mp4()[:-200])
    code = (
        "import sys; from pathlib import Path; from gen3widgets._download import mp4_problem; "
        f"print(mp4_problem(Path({str(good)!r})), repr(mp4_problem(Path({str(cut)!r})))); "
        "print('av' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("None ") and "None" not in first[5:]
    assert second == "False"


def test_a_checker_that_died_is_replaced(tmp_path: Path) -> None:
    from gen3widgets import _decoding

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_mp4())
    assert _decoding.first_frame_problem(clip) is None
    process = _decoding._checker._process
    assert process is not None
    process.kill()
    process.wait()
    assert _decoding.first_frame_problem(clip) is None  # a new helper answered
    assert _decoding._checker._process is not process


def test_a_checker_that_hangs_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gen3widgets import _decoding

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_mp4())
    checker = _decoding._Checker()
    monkeypatch.setattr(_decoding, "CHECK_TIMEOUT", 0.5)
    popen = subprocess.Popen
    stuck = [sys.executable, "-c", "import time; time.sleep(30)"]
    monkeypatch.setattr(_decoding.subprocess, "Popen", lambda *a, **k: popen(stuck, **k))
    assert "no answer" in (checker.check(clip) or "")
    assert checker._process is None  # the stuck one is gone
