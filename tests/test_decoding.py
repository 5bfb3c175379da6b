"""Decoding runs on one thread whoever asks, so FFmpeg's buffers stay in one malloc arena."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from gen3widgets import _download, _frames
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


def test_the_library_decodes_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_mp4())
    threads: set[str] = set()
    real_first, real_pick = _download._decode_first_frame, _frames._pick

    def first(path: Path) -> str | None:
        threads.add(threading.current_thread().name)
        return real_first(path)

    def pick(path: Path, count: int) -> object:
        threads.add(threading.current_thread().name)
        return real_pick(path, count)

    monkeypatch.setattr(_download, "_decode_first_frame", first)
    monkeypatch.setattr(_frames, "_pick", pick)
    assert _download.mp4_problem(clip) is None
    assert _frames.last_frame(clip).size == (64, 36)
    assert len(threads) == 1 and threads.pop().startswith("gen3widgets-decode")
