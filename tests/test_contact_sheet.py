"""Saving a grid: videos, an offline index.html with escaped labels, and a still strip."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from gen3widgets._jobs import JobRunner
from gen3widgets._models import Generation, Status
from gen3widgets.simulator import Faults, Simulator
from gen3widgets.widgets._contact_sheet import (
    FRAMES,
    GAP,
    LABEL_W,
    ROW_H,
    THUMB_H,
    THUMB_W,
    SheetCell,
    render_index,
    save_contact_sheet,
    still_strip,
    stills_size,
    video_stills,
)
from gen3widgets.widgets.grid import SeedGrid
from tests.fakes import tiny_mp4
from tests.test_grid import WAIT, png, runner, sim  # noqa: F401  (fixtures)

EVIL = "<script>alert('x')</script> & \"quotes\""


def _done_cell(
    tmp_path: Path, row: int, col: int, seed: int, *, favorite: bool = False
) -> SheetCell:
    video = tmp_path / "cache" / f"gen-{row}-{col}.mp4"
    video.parent.mkdir(exist_ok=True)
    video.write_bytes(tiny_mp4(seed))
    generation = Generation(id=f"gen-{row}-{col}", status=Status.COMPLETED, local_path=video)
    return SheetCell(
        row=row, col=col, prompt="a prompt", seed=seed, generation=generation, favorite=favorite
    )


def _sources(page: str) -> list[str]:
    return re.findall(r"<video src='([^']+)'", page)


def _pixel(strip: Image.Image, row: int, frame: int) -> tuple[int, ...]:
    x = LABEL_W + GAP + frame * (THUMB_W + GAP) + THUMB_W // 2
    y = row * ROW_H + GAP + THUMB_H // 2
    return tuple(strip.getpixel((x, y)))  # type: ignore[arg-type]


def test_video_stills_are_first_middle_and_last_frames(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(tiny_mp4(5))
    first, middle, last = video_stills(path)
    brightness = [ImageStat.Stat(img.convert("L")).mean[0] for img in (first, middle, last)]
    assert brightness[0] < brightness[1] < brightness[2]  # the clip brightens frame by frame


def test_save_writes_videos_an_escaped_index_and_a_still_strip(tmp_path: Path) -> None:
    cells = [
        _done_cell(tmp_path, 0, 0, 10, favorite=True),
        SheetCell(
            row=0,
            col=1,
            prompt=EVIL,
            seed=20,
            generation=Generation(id="gen-<bad>", status=Status.ERROR, error=EVIL),
        ),
        _done_cell(tmp_path, 1, 0, 30),
        SheetCell(row=1, col=1, prompt=EVIL, seed=40, note="still running (generating)"),
    ]
    out = tmp_path / "sheet"
    saved = save_contact_sheet(
        out, cells, title=EVIL, columns=2, seed_headers=[10, 20], row_labels=[EVIL, "second"]
    )
    index, stills = saved.index, saved.stills
    assert saved.skipped == []

    assert index == out / "index.html"
    page = index.read_text(encoding="utf-8")
    assert _sources(page) == ["r0_c0_seed10.mp4", "r1_c0_seed30.mp4"]
    for name in _sources(page):
        assert (out / name).read_bytes()[:12] == tiny_mp4(int(name.split("seed")[1][:-4]))[:12]
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)" in page
    assert "gen-&lt;bad&gt;" in page and "still running (generating)" in page
    assert page.count("class='fav'") == 1
    for label in ("Play all", "Pause all", "Restart all"):
        assert f">{label}</button>" in page
    assert "http" not in page.lower().replace("http-equiv", "")  # nothing fetched: works offline
    assert "src='stills.png'" in page

    assert stills == out / "stills.png"
    with Image.open(stills) as saved:
        assert saved.size == stills_size(4) == (LABEL_W + 3 * (THUMB_W + GAP) + GAP, 4 * ROW_H)
        strip = saved.convert("RGB")
    # Rows with a video show its frames; rows without one show grey boxes.
    assert _pixel(strip, 0, 0) != _pixel(strip, 1, 0)
    assert _pixel(strip, 1, 0) == _pixel(strip, 3, 2)
    assert _pixel(strip, 0, 0) != _pixel(strip, 2, 0)  # another seed, another colour
    assert sum(_pixel(strip, 0, 0)) < sum(_pixel(strip, 0, len(FRAMES) - 1))


def test_plain_grid_page_flows_in_columns_without_headers(tmp_path: Path) -> None:
    cells = [_done_cell(tmp_path, 0, c, seed) for c, seed in enumerate([1, 2, 3])]
    page = render_index(
        cells, {0, 1, 2}, title="t", columns=2, seed_headers=None, row_labels=None, stills=False
    )
    assert "repeat(2,minmax(0,1fr))" in page
    assert "class='head'" not in page and "stills.png" not in page


def test_grid_save_on_the_simulator(
    sim: Simulator,  # noqa: F811
    runner: JobRunner,  # noqa: F811
    png: bytes,  # noqa: F811
    tmp_path: Path,
) -> None:
    sim.faults = Faults(job_error=0.5)
    grid = SeedGrid(image=png, prompts=[EVIL, "calm"], seeds=[3, 4, 5], client=runner)
    grid.submit()
    generations = grid.wait(timeout=WAIT)
    ok = [i for i, g in enumerate(generations) if g.ok]
    assert 0 < len(ok) < 6
    grid.set_favorite(ok[0])

    index = grid.save(tmp_path / "out")
    page = index.read_text(encoding="utf-8")
    expected = [
        f"r{grid.cells[i].row}_c{grid.cells[i].col}_seed{grid.cells[i].seed}.mp4" for i in ok
    ]
    assert _sources(page) == expected
    assert all((index.parent / name).is_file() for name in expected)
    assert "<script>alert" not in page
    for i, g in enumerate(generations):
        assert g.id in page
        if not g.ok:
            assert grid.cells[i].job is not None
            assert str(grid.cells[i].job.message).split(":")[0] in page  # type: ignore[union-attr]
    with Image.open(index.parent / "stills.png") as saved:
        assert saved.size == stills_size(6)
    assert "Saved to" in grid.notice["text"]

    shown = grid.show_stills()
    with Image.open(io.BytesIO(shown.data)) as image:
        assert image.size == stills_size(6)


def test_one_undecodable_clip_costs_only_its_own_stills(
    runner: JobRunner,  # noqa: F811
    png: bytes,  # noqa: F811
    tmp_path: Path,
) -> None:
    grid = SeedGrid("a calm lake", png, seeds=[1, 2], client=runner)
    grid.submit()
    generations = grid.wait(timeout=WAIT)
    broken = generations[1].local_path
    assert broken is not None
    broken.write_bytes(b"\x00\x00\x00\x20ftypisom" + b"x" * 100)  # the file got damaged

    index = grid.save(tmp_path / "out")
    assert "no stills for seed 2" in grid.notice["text"]
    assert (index.parent / "r0_c0_seed1.mp4").is_file()
    assert (index.parent / "r0_c1_seed2.mp4").is_file()  # still copied and on the page
    assert _sources(index.read_text(encoding="utf-8")) == ["r0_c0_seed1.mp4", "r0_c1_seed2.mp4"]
    with Image.open(index.parent / "stills.png") as saved:
        strip = saved.convert("RGB")
    assert _pixel(strip, 0, 0) != _pixel(strip, 1, 0)  # seed 1 has frames, seed 2 grey boxes

    shown = grid.show_stills()
    with Image.open(io.BytesIO(shown.data)) as image:
        assert image.size == stills_size(2)
    assert grid.notice["tone"] == "warning" and "seed 2" in grid.notice["text"]


def test_cells_are_labelled_by_seed_and_prompt(tmp_path: Path) -> None:
    cell = _done_cell(tmp_path, 1, 2, 77)
    assert cell.label == "seed 77"
    strip = still_strip([cell])
    assert strip.skipped == []
    page = render_index(
        [cell], {0}, title="t", columns=1, seed_headers=None, row_labels=None, stills=False
    )
    assert "seed 77" in page and "a prompt" in page and "r1 c2" not in page


PAGE_HARNESS = r"""
class FakeVideo {
  constructor(t) { this.currentTime = t; this.playing = false; this.muted = false; }
  pause() { this.playing = false; }
  play() { this.playing = true; return Promise.resolve(); }
}
const videos = [new FakeVideo(2), new FakeVideo(0.5)];
globalThis.document = { querySelectorAll: (s) => (s === ".grid video" ? videos : []) };
const script = require("fs").readFileSync(0, "utf8");
(0, eval)(script);
const state = () => videos.map((v) => [v.currentTime, v.playing]);
gen3All("play"); const play = state();
gen3All("pause"); const pause = state();
gen3All("restart"); const restart = state();
console.log(JSON.stringify({ play, pause, restart }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's script")
def test_index_page_script_plays_all_videos_in_step(tmp_path: Path) -> None:
    cells = [_done_cell(tmp_path, 0, c, seed) for c, seed in enumerate([1, 2])]
    page = render_index(
        cells, {0, 1}, title="t", columns=2, seed_headers=None, row_labels=None, stills=False
    )
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    harness = tmp_path / "harness.cjs"
    harness.write_text(PAGE_HARNESS)
    done = subprocess.run(
        ["node", str(harness)], input=script, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "play": [[2, True], [2, True]],
        "pause": [[2, False], [2, False]],
        "restart": [[0, True], [0, True]],
    }


def test_a_label_the_font_cannot_draw_shows_stand_ins_not_empty_boxes() -> None:
    # One text drawer for the contact sheet and the simulator's captions: a character the
    # bundled font has no glyph for is drawn as the simulator draws it ("?"), not as a box.
    def strip(prompt: str) -> bytes:
        cell = SheetCell(row=0, col=0, prompt=prompt, seed=1, generation=None, note="not generated")
        with Image.open(io.BytesIO(still_strip([cell]).png)) as image:
            return image.convert("RGB").tobytes()

    assert strip("boat 日本 — dusk") == strip("boat ?? - dusk")
    assert strip("boat 日本 — dusk") != strip("boat")  # the label is drawn at all
