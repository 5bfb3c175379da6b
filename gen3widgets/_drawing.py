"""Text on pictures with Pillow's bundled font: the same on every machine, nothing missing drawn
as a box. The simulator's captions and the contact sheet's labels both draw through here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from PIL import ImageFont

Font: TypeAlias = "ImageFont.FreeTypeFont | ImageFont.ImageFont"


def font(size: int) -> Font:
    """Pillow's bundled font at ``size`` px (the same on every machine)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def fit_text(text: str, face: Font, width: float) -> str:
    """``text`` shortened with an ellipsis so it is at most ``width`` px wide."""
    text = drawable(text, face)
    if face.getlength(text) <= width:
        return text
    ellipsis = drawable("…", face)
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if face.getlength(text[:mid] + ellipsis) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + ellipsis


def drawable(text: str, face: Font) -> str:
    """``text`` on one line with what the font has no glyph for replaced.

    Pillow's bundled font covers ASCII and some punctuation only; dashes become
    ``-``, accented letters lose their accents and anything else becomes ``?``.
    """
    from PIL import ImageFont

    text = " ".join(text.split())  # no newlines or tabs
    if not isinstance(face, ImageFont.FreeTypeFont):  # the bitmap fallback: Latin-1 only
        text = text.replace("—", "-").replace("…", "...").replace("·", "-")
        return text.encode("latin-1", "replace").decode("latin-1")

    def glyph(ch: str) -> tuple[tuple[int, int], bytes]:
        mask = face.getmask(ch)
        return mask.size, bytes(mask)

    missing = glyph("\uffff")  # what the font draws for a character it does not have
    out: list[str] = []
    known: dict[str, str] = {}
    for ch in text:
        if ch not in known:
            known[ch] = ch
            if ch != " " and glyph(ch) == missing:
                known[ch] = _ascii_stand_in(ch)
        out.append(known[ch])
    return "".join(out)


def _ascii_stand_in(ch: str) -> str:
    import unicodedata

    if unicodedata.category(ch) == "Pd":  # dashes
        return "-"
    stripped = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return stripped if stripped.isascii() and stripped.isprintable() and stripped else "?"
