"""Previews and posters: made once beside the clip (in a child process), small, the same
length, never raising."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from PIL import Image, ImageStat

from gen3widgets import _previews
from gen3widgets._previews import (
    PREVIEW_LONG_SIDE,
    ClipInfo,
    Previews,
    ensure_previews,
    existing_previews,
    poster_path,
    preview_path,
)
from tests.clips import noisy_mp4
from tests.fakes import tiny_mp4


def _clip(folder: Path, data: bytes, name: str = "gen-1.mp4") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _video(path: Path) -> tuple[int, int, int, float, str, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        ctx = stream.codec_context
        return ctx.width, ctx.height, frames, float(stream.average_rate), ctx.name, ctx.pix_fmt


def _brightness(image: Image.Image) -> float:
    return float(ImageStat.Stat(image.convert("L")).mean[0])


def test_a_preview_and_a_poster_are_made_beside_the_clip(tmp_path: Path) -> None:
    clip = _clip(tmp_path, noisy_mp4())  # 640x384, 2 s at 24 fps, ~4 Mbit/s
    made = ensure_previews(clip)

    assert made.problem is None
    assert made.info == ClipInfo(640, 384, 24.0, 2.0)  # the full clip's, from the poster
    assert made.preview == preview_path(clip) == tmp_path / "gen-1.preview.mp4"
    assert made.poster == poster_path(clip) == tmp_path / "gen-1.poster.jpg"
    width, height, frames, fps, codec, pix_fmt = _video(made.preview)
    assert (width, height) == (PREVIEW_LONG_SIDE, 288)  # the long side, the ratio kept
    source = _video(clip)
    assert (frames, fps) == (source[2], source[3]) == (48, 24.0)  # same length and rate
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    seconds = frames / fps
    assert made.preview.stat().st_size * 8 / seconds < 1_400_000  # about 1 Mbit/s
    assert made.preview.stat().st_size < clip.stat().st_size / 2
    data = made.preview.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # playable before it is all there
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gen-1.mp4",
        "gen-1.poster.jpg",
        "gen-1.preview.mp4",
    ]  # no temporary files left behind

    with Image.open(made.poster) as poster:
        assert poster.format == "JPEG" and poster.size == (PREVIEW_LONG_SIDE, 288)
        middle = _brightness(poster)
    with av.open(str(clip)) as container:
        decoded = [f.to_image() for f in container.decode(video=0)]
    # The clip brightens steadily: the poster is its middle frame, not its first.
    assert _brightness(decoded[20]) < middle < _brightness(decoded[28])


def test_the_poster_is_heard_of_before_the_preview_is_done(tmp_path: Path) -> None:
    clip = _clip(tmp_path, noisy_mp4())
    heard: list[tuple[Previews, bool]] = []

    def on_poster(found: Previews) -> None:
        # The preview is still being written (a hidden temporary file) when this is called.
        heard.append((found, preview_path(clip).exists()))

    made = ensure_previews(clip, on_poster=on_poster)

    assert made.problem is None and made.preview is not None
    ((early, preview_existed),) = heard
    assert not preview_existed and early.preview is None
    assert early.poster == made.poster and early.info == made.info == ClipInfo(640, 384, 24.0, 2.0)
    ensure_previews(clip, on_poster=on_poster)  # both fresh: nothing made, nothing heard
    assert len(heard) == 1


def test_a_failing_poster_listener_does_not_stop_the_preview(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = _clip(tmp_path, tiny_mp4(6))

    def on_poster(found: Previews) -> None:
        raise RuntimeError("the view went away")

    with caplog.at_level(logging.ERROR, logger="gen3widgets"):
        made = ensure_previews(clip, on_poster=on_poster)
    assert made.problem is None and made.preview is not None and made.poster is not None
    assert "poster listener failed" in caplog.text


def test_a_portrait_clip_keeps_its_shape_and_a_thin_clip_is_not_inflated(
    tmp_path: Path,
) -> None:
    portrait = _clip(tmp_path, noisy_mp4(width=384, height=640, seconds=1.0), "tall.mp4")
    made = ensure_previews(portrait)
    assert made.preview is not None
    assert _video(made.preview)[:2] == (288, PREVIEW_LONG_SIDE)

    small = _clip(tmp_path, tiny_mp4(3), "small.mp4")  # 64x36: never scaled up
    made = ensure_previews(small)
    assert made.preview is not None and _video(made.preview)[:2] == (64, 36)


def test_fresh_previews_are_kept_and_stale_ones_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = _clip(tmp_path, tiny_mp4(4))
    made_by = _previews._run_maker
    calls: list[Path] = []

    def counted(video: Path, heard: Callable[[str], None]) -> str | None:
        calls.append(video)
        return made_by(video, heard)

    monkeypatch.setattr(_previews, "_run_maker", counted)

    first = ensure_previews(clip)
    again = ensure_previews(clip)
    assert again == first and len(calls) == 1
    assert existing_previews(clip) == first

    earlier = clip.stat().st_mtime - 10
    for made in (preview_path(clip), poster_path(clip)):
        os.utime(made, (earlier, earlier))  # the clip was replaced after they were made
    assert existing_previews(clip).preview is None
    ensure_previews(clip)
    assert len(calls) == 2 and existing_previews(clip).preview is not None


def test_threads_asking_at_once_make_the_previews_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = _clip(tmp_path, tiny_mp4(5))
    made_by = _previews._run_maker
    entered, release = threading.Event(), threading.Event()
    active: list[int] = []
    calls: list[int] = []

    def slow_make(video: Path, heard: Callable[[str], None]) -> str | None:
        active.append(1)
        assert len(active) == 1, "two makers ran at once"
        calls.append(1)
        entered.set()
        release.wait(30)
        problem = made_by(video, heard)
        active.pop()
        return problem

    monkeypatch.setattr(_previews, "_run_maker", slow_make)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_previews(clip))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    assert entered.wait(30)
    release.set()
    for thread in threads:
        thread.join(30)
    assert len(calls) == 1
    assert len(results) == 4 and all(r == results[0] for r in results)


def test_a_bad_clip_gives_what_could_be_made_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _clip(tmp_path, b"\x00\x00\x00\x20ftypisom" + b"x" * 200)
    with caplog.at_level(logging.WARNING, logger="gen3widgets"):
        made = ensure_previews(broken)
    assert (made.preview, made.poster) == (None, None)
    assert made.problem and "Invalid data" in made.problem
    assert "Could not make a preview" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen-1.mp4"]  # nothing half-made

    missing = ensure_previews(tmp_path / "gone.mp4")
    assert missing.preview is None and missing.problem == "No such file or directory"


def test_previews_are_as_private_as_their_clip(tmp_path: Path) -> None:
    clip = _clip(tmp_path, tiny_mp4(6))
    clip.chmod(0o600)
    made = ensure_previews(clip)
    assert made.preview is not None and made.poster is not None
    assert made.preview.stat().st_mode & 0o777 == 0o600
    assert made.poster.stat().st_mode & 0o777 == 0o600
