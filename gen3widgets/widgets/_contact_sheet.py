"""A seed grid saved to a folder: the MP4s, an offline ``index.html`` and ``stills.png``.

The folder is self-contained: ``index.html`` refers to the videos by relative
path and carries its own CSS and plain JavaScript (play / pause / restart all
in step), so it plays offline and can be zipped or published as is. Every
piece of user or server text (prompts, ids, errors) is HTML-escaped.

``stills.png`` shows the first, middle and last frame of each video, one row
per cell, labelled by seed and prompt. It is a plain image, so it also shows
where widgets do not render (a saved notebook on GitHub, nbviewer). Frames are
decoded with PyAV, imported lazily. A clip that cannot be decoded gets grey
boxes and is listed in ``skipped``: one bad file never costs the others.
"""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _drawing
from .._models import Generation
from .._text import short_text
from ._html import esc

if TYPE_CHECKING:
    from PIL import Image as PILImage

log = logging.getLogger("gen3widgets")

# Plays every <video> in ``videos`` from the same moment. Shared by the saved
# page and the live widget (``_sync_player``), so both behave the same.
SYNC_VIDEOS_JS = """
function gen3SyncVideos(videos, command) {
  if (!videos.length) return;
  const at = command === "restart" ? 0 : videos[0].currentTime;
  for (const v of videos) {
    v.pause();
    if (Math.abs(v.currentTime - at) > 0.04) v.currentTime = at;
  }
  if (command === "pause") return;
  for (const v of videos) {
    v.muted = true;  // browsers only let muted videos start from script
    const started = v.play();
    if (started) started.catch(() => {});
  }
}
"""

STILLS_NAME = "stills.png"
INDEX_NAME = "index.html"
FRAMES = ("first", "middle", "last")
# Still-strip geometry, in pixels: one row per cell, a label column then 3 frames.
THUMB_W, THUMB_H = 240, 144
GAP = 8
LABEL_W = 300
ROW_H = THUMB_H + 2 * GAP
BACKGROUND = (24, 24, 27)
MISSING = (60, 60, 66)
TEXT = (235, 235, 240)
MUTED = (160, 160, 170)


@dataclass(frozen=True)
class SheetCell:
    """One grid cell as saved: where it sits, what it asked for, what it became."""

    row: int
    col: int
    prompt: str
    seed: int
    generation: Generation | None = None
    favorite: bool = False
    note: str | None = None  # why there is no video (failed, still running, ...)

    @property
    def video_name(self) -> str:
        return f"r{self.row}_c{self.col}_seed{self.seed}.mp4"

    @property
    def source(self) -> Path | None:
        """The downloaded MP4, when there is one on disk."""
        gen = self.generation
        if gen is not None and gen.ok and gen.local_path and Path(gen.local_path).is_file():
            return Path(gen.local_path)
        return None

    @property
    def label(self) -> str:
        """How the cell is named on the sheet (its prompt follows on the next lines)."""
        return f"seed {self.seed}"

    def status_text(self) -> str:
        if self.note:
            return self.note
        gen = self.generation
        if gen is None:
            return "not generated"
        if gen.error:
            return f"{gen.status.value}: {gen.error}"
        return gen.status.value


@dataclass(frozen=True)
class Stills:
    """A still strip, and the cells whose clip could not be decoded: (label, reason)."""

    png: bytes
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skipped_text(self) -> str:
        """``no stills for seed 5 (reason)``: what a person should know about ``skipped``."""
        return "no stills for " + "; ".join(f"{label} ({why})" for label, why in self.skipped)


@dataclass(frozen=True)
class SavedSheet:
    """What ``save_contact_sheet`` wrote."""

    index: Path
    stills: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skipped_text(self) -> str:
        return Stills(b"", self.skipped).skipped_text()


def stills_size(cells: int) -> tuple[int, int]:
    """Width and height of a still strip for ``cells`` cells."""
    return LABEL_W + len(FRAMES) * (THUMB_W + GAP) + GAP, cells * ROW_H


# -- the folder ---------------------------------------------------------------------------


def save_contact_sheet(
    directory: str | Path,
    cells: Sequence[SheetCell],
    *,
    title: str,
    columns: int,
    seed_headers: Sequence[int] | None = None,
    row_labels: Sequence[str] | None = None,
) -> SavedSheet:
    """Write videos, ``index.html`` and ``stills.png`` into ``directory``.

    ``seed_headers`` / ``row_labels`` lay the page out as a prompts × seeds
    matrix; without them cells simply flow in ``columns`` columns. A clip that
    cannot be decoded is still copied and played by the page; only its stills
    are missing (listed in ``skipped``).
    """
    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    copied: set[int] = set()
    for i, cell in enumerate(cells):
        source = cell.source
        if source is not None:
            target = folder / cell.video_name
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            copied.add(i)
    strip = still_strip(cells)
    stills = folder / STILLS_NAME
    stills.write_bytes(strip.png)
    page = render_index(
        cells,
        copied,
        title=title,
        columns=columns,
        seed_headers=seed_headers,
        row_labels=row_labels,
        stills=True,
    )
    index = folder / INDEX_NAME
    index.write_text(page, encoding="utf-8")
    return SavedSheet(index, stills, strip.skipped)


# -- index.html ---------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{font-size:1.3em}
.controls{margin:.8em 0}
.controls button{font-size:1em;margin-right:.4em;padding:.3em .9em}
.grid{display:grid;gap:12px;align-items:start}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}
figure.fav{border:2px solid #e0a800}
video{width:100%;display:block;background:#000}
figcaption{font-size:.85em;margin-top:4px;overflow-wrap:anywhere}
.missing{aspect-ratio:16/9;display:flex;align-items:center;justify-content:center;
 background:#eee;color:#b00020;font-size:.85em;padding:8px;text-align:center}
.head{font-weight:bold;text-align:center;align-self:end}
.rowlabel{font-size:.9em;align-self:center;overflow-wrap:anywhere}
.muted{color:#666}
img.stills{max-width:100%;margin-top:1.5em}
"""


def render_index(
    cells: Sequence[SheetCell],
    with_video: set[int],
    *,
    title: str,
    columns: int,
    seed_headers: Sequence[int] | None,
    row_labels: Sequence[str] | None,
    stills: bool,
) -> str:
    """The contact sheet page (a string of HTML; everything user-given is escaped)."""
    items: list[str] = []
    if seed_headers is not None and row_labels is not None:
        template = f"minmax(8em,16em) repeat({len(seed_headers)},minmax(0,1fr))"
        items.append("<div></div>")
        items += [f"<div class='head'>seed {seed}</div>" for seed in seed_headers]
        by_row: dict[int, list[str]] = {}
        for i, cell in enumerate(cells):
            by_row.setdefault(cell.row, []).append(_figure(cell, i in with_video))
        for row, label in enumerate(row_labels):
            items.append(f"<div class='rowlabel' title='{esc(label)}'>{esc(label)}</div>")
            items += by_row.get(row, [])
    else:
        template = f"repeat({max(1, columns)},minmax(0,1fr))"
        items += [_figure(cell, i in with_video) for i, cell in enumerate(cells)]
    strip = (
        f"<h2>Stills (first, middle, last frame)</h2><img class='stills' src='{STILLS_NAME}' "
        "alt='first, middle and last frame of each video'>"
        if stills
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{esc(title)}</h1>
<div class="controls">
<button type="button" onclick="gen3All('play')">Play all</button>
<button type="button" onclick="gen3All('pause')">Pause all</button>
<button type="button" onclick="gen3All('restart')">Restart all</button>
<span class="muted">{len(with_video)} of {len(cells)} videos</span>
</div>
<div class="grid" style="grid-template-columns:{template}">
{"".join(items)}
</div>
{strip}
<script>{SYNC_VIDEOS_JS}
function gen3All(command) {{
  gen3SyncVideos(Array.from(document.querySelectorAll(".grid video")), command);
}}
</script>
</body></html>
"""


def _figure(cell: SheetCell, has_video: bool) -> str:
    gen = cell.generation
    star = "★ " if cell.favorite else ""
    caption = [f"<b>{star}seed {cell.seed}</b>"]
    if cell.prompt:
        caption.append(
            f"<span title='{esc(cell.prompt)}'>{esc(short_text(cell.prompt, 90))}</span>"
        )
    if gen is not None:
        caption.append(f"<code>{esc(gen.id)}</code>")
    if has_video:
        media = (
            f"<video src='{esc(cell.video_name)}' controls loop muted playsinline "
            "preload='metadata'></video>"
        )
    else:
        media = f"<div class='missing'>{esc(cell.status_text())}</div>"
    css = " class='fav'" if cell.favorite else ""
    return f"<figure{css}>{media}<figcaption>{'<br>'.join(caption)}</figcaption></figure>"


# -- stills.png ---------------------------------------------------------------------------


def video_stills(path: Path) -> list[PILImage.Image]:
    """The first, middle and last frame of an MP4, as PIL images (raises if undecodable)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = stream.frames or sum(1 for p in container.demux(stream) if p.size)
    middle = max(total, 1) // 2
    images: list[PILImage.Image] = []
    last = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if index in (0, middle) and len(images) < 2:
                images.append(frame.to_image())
            last = frame  # only a reference: converting every frame would be slow
    if last is None:
        raise ValueError(f"{path} has no video frames")
    while len(images) < 2:  # a clip shorter than expected: repeat what there is
        images.append(images[-1] if images else last.to_image())
    images.append(last.to_image())
    return images


def still_strip(cells: Sequence[SheetCell]) -> Stills:
    """The still strip: per cell a label then its first, middle, last frame (grey if none)."""
    from PIL import Image, ImageDraw

    width, height = stills_size(len(cells))
    strip = Image.new("RGB", (width, max(height, 1)), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    font, small = _drawing.font(15), _drawing.font(12)
    skipped: list[tuple[str, str]] = []
    for i, cell in enumerate(cells):
        top = i * ROW_H
        source = cell.source
        frames: list[PILImage.Image] | None = None
        note = cell.status_text()
        if source is not None:
            try:
                frames = video_stills(source)
            except Exception as exc:  # one bad clip must not cost the whole sheet
                note = f"its frames could not be decoded: {getattr(exc, 'strerror', None) or exc}"
                log.warning("No stills for %s: %s", source, note)
                skipped.append((cell.label, note))
        lines = [cell.label + (" · favourite" if cell.favorite else "")]
        if cell.prompt:
            lines += _wrap(cell.prompt, 38, 3)
        if cell.generation is not None and cell.generation.id:
            lines.append(cell.generation.id)
        if frames is None:
            lines += _wrap(note, 38, 2)
        y = top + GAP
        for n, line in enumerate(lines):
            use = font if n == 0 else small
            draw.text(
                (GAP, y), _drawing.drawable(line, use), fill=TEXT if n == 0 else MUTED, font=use
            )
            y += 20 if n == 0 else 16
        for k, name in enumerate(FRAMES):
            x = LABEL_W + GAP + k * (THUMB_W + GAP)
            box = (x, top + GAP, x + THUMB_W, top + GAP + THUMB_H)
            if frames is None:
                draw.rectangle(box, fill=MISSING)
                continue
            thumb = frames[k].convert("RGB")
            thumb.thumbnail((THUMB_W, THUMB_H))
            strip.paste(
                thumb,
                (x + (THUMB_W - thumb.width) // 2, top + GAP + (THUMB_H - thumb.height) // 2),
            )
            draw.text((x + 4, top + GAP + 2), name, fill=TEXT, font=small)
    out = io.BytesIO()
    strip.save(out, format="PNG")
    return Stills(out.getvalue(), skipped)


def _wrap(text: str, width: int, max_lines: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = short_text(word, width)
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = short_text(lines[-1] + " …", width)
    return lines
