"""Input widgets of the panel: ``ImagePicker``, ``PromptBox`` and ``SeedControl``.

Each holds what the user chose and hands it on in the form
``GenerationRequest`` accepts; the request itself does the validating, so the
API's rules live in one place (``_models.py`` / ``_images.py``).
"""

from __future__ import annotations

import io
from typing import Any

import ipywidgets
import traitlets

from .._images import MAX_ASPECT, MIN_ASPECT, PreparedImage, prepare_image
from .._models import MAX_PROMPT_UNITS, prompt_units, random_seed
from .._text import short_text
from . import _html

THUMBNAIL_PIXELS = 160  # longest side of the preview
ACCEPTED_UPLOADS = ".png,.jpg,.jpeg,.webp"
HIDDEN = "none"  # an ipywidgets layout's display value that hides it


class ImagePicker(ipywidgets.VBox):  # type: ignore[misc]
    """Choose one image: an https URL (or a path on the kernel's disk) typed in, or a file uploaded.

    Shows a small thumbnail (a downscaled copy, never the full image), the
    image's size and aspect ratio, and what is wrong with it, as text. When
    ``ratio_from_image`` is set (the panel's ratio is "auto"), an aspect the
    model cannot take its ratio from is pointed out too. ``value`` is what ``GenerationRequest`` accepts: the URL string, the
    image bytes, or ``None``. It may also be set from a URL, a path, a
    ``data:`` URI, bytes or a PIL image. A broken input stays in ``value`` as
    given, so that the request's validation names the real problem.
    """

    value = traitlets.Any(None, allow_none=True)  # not synced: images stay in the kernel

    def __init__(self, label: str = "First frame", value: Any = None) -> None:
        self.label = ipywidgets.HTML(f"<b>{_html.esc(label)}</b>")
        self.url = ipywidgets.Text(
            placeholder="https://… image URL, or a file path",
            continuous_update=False,  # load on Enter / leaving the field, not on every key
            layout=ipywidgets.Layout(flex="1 1 auto", min_width="12em"),
        )
        self.upload = ipywidgets.FileUpload(accept=ACCEPTED_UPLOADS, multiple=False)
        self.clear_button = ipywidgets.Button(
            description="Clear", icon="times", tooltip="Remove this image"
        )
        # Side by side with the two pickers, the buttons must not shrink to "C…".
        self.clear_button.layout = ipywidgets.Layout(width="auto", flex="0 0 auto")
        self.upload.layout = ipywidgets.Layout(flex="0 0 auto")
        self.thumbnail = ipywidgets.Image(
            format="png",
            layout=ipywidgets.Layout(
                max_width=f"{THUMBNAIL_PIXELS}px", max_height=f"{THUMBNAIL_PIXELS}px"
            ),
        )
        self.info = ipywidgets.HTML()
        self.error = ipywidgets.HTML()
        self.prepared: PreparedImage | None = None
        self.problems: list[str] = []
        self.ratio_from_image = False
        self._name: str | None = None
        self._loading = False
        super().__init__(
            children=[
                self.label,
                # Wraps in a narrow window (two pickers side by side at 800 px) instead of
                # clipping the buttons.
                ipywidgets.HBox(
                    [self.url, self.upload, self.clear_button],
                    layout=ipywidgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                ipywidgets.HBox([self.thumbnail, ipywidgets.VBox([self.info, self.error])]),
            ]
        )
        # Two pickers share a row; each keeps room for its field and buttons, or wraps.
        self.layout.flex = "1 1 22em"
        self.layout.min_width = "18em"
        self.url.observe(self._on_url, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.clear_button.on_click(lambda _: self.clear())
        self.load(value)

    # -- public ----------------------------------------------------------------------

    def load(self, source: Any, *, name: str | None = None) -> None:
        """Use ``source`` (URL, path, data URI, bytes, PIL image or None) as the image."""
        if isinstance(source, str) and not source.strip():
            source = None
        prepared, problems = prepare_image(source) if source is not None else (None, [])
        self.prepared, self.problems = prepared, problems
        self._loading = True
        try:
            if name is None and self.upload.value:
                self.upload.value = ()  # not an upload any more: "Upload (0)" again
            self.value = _request_value(source, prepared)
            # A URL or path shows in the field; a data URI is far too long to sync to it.
            typed = isinstance(source, str) and source.lstrip()[:5].lower() != "data:"
            shown = source if typed else ""
            if self.url.value != shown:
                self.url.value = shown
        finally:
            self._loading = False
        self._show(prepared, problems, name)

    def clear(self) -> None:
        """Forget the image."""
        self.load(None)

    def set_ratio_from_image(self, value: bool) -> None:
        """Whether the model takes the ratio from this image (the note on its aspect follows)."""
        if value != self.ratio_from_image:
            self.ratio_from_image = value
            self._show(self.prepared, self.problems, self._name)

    # -- events ----------------------------------------------------------------------

    @traitlets.observe("value")
    def _on_value(self, change: dict[str, Any]) -> None:
        if not self._loading:  # set from outside: picker.value = "cat.png"
            self.load(change["new"])

    def _on_url(self, change: dict[str, Any]) -> None:
        if not self._loading:
            self.load(change["new"])

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files or self._loading:
            return
        item = files[-1]
        content = item.get("content", b"")
        data = content.tobytes() if isinstance(content, memoryview) else bytes(content)
        name = str(item.get("name") or "upload")
        # Keep the upload's name (the button shows "Upload (1)") but not its bytes: they
        # stay here, never in the synced widget state or a saved notebook.
        self._loading = True
        try:
            self.upload.value = ({**item, "content": memoryview(b"")},)
        finally:
            self._loading = False
        self.load(data, name=name)

    # -- display ---------------------------------------------------------------------

    def _show(self, prepared: PreparedImage | None, problems: list[str], name: str | None) -> None:
        self._name = name
        self.error.value = _html.lines(problems, color=_html.ERROR_COLOR)
        if prepared is None:
            self.info.value = ""
            self._set_thumbnail(b"", "png")
            return
        text = prepared.describe()
        if name:
            text = f"{short_text(name, 40)}: {text}"
        aspect = prepared.aspect
        note = ""
        outside = aspect is not None and not MIN_ASPECT <= aspect <= MAX_ASPECT
        if outside and self.ratio_from_image:
            note = (
                f"Aspect {aspect:.2f} is outside {MIN_ASPECT}–{MAX_ASPECT}: "
                'pick a ratio instead of "auto".'
            )
        elif prepared.is_url:
            note = "Size unknown here: the API fetches the URL itself."
        self.info.value = _html.lines([text, note] if note else [text], color=_html.MUTED_COLOR)
        if prepared.is_url:
            # The browser shows the picture from its URL; nothing is downloaded here.
            self._set_thumbnail(prepared.value.encode(), "url")
        else:
            self._set_thumbnail(*make_thumbnail(prepared.image_bytes() or b""))

    def _set_thumbnail(self, data: bytes, fmt: str) -> None:
        self.thumbnail.format = fmt
        self.thumbnail.value = data
        self.thumbnail.layout.display = None if data else HIDDEN


def _request_value(source: Any, prepared: PreparedImage | None) -> Any:
    if prepared is None:
        return source  # None, or a broken input that validation will explain
    if prepared.is_url:
        return prepared.value
    return prepared.image_bytes()


def make_thumbnail(data: bytes, size: int = THUMBNAIL_PIXELS) -> tuple[bytes, str]:
    """A small preview of image ``data``: (bytes, "jpeg" | "png"); empty bytes if unreadable."""
    from PIL import Image

    try:
        # Only the formats the request accepted: never another decoder on these bytes.
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as img:
            img.thumbnail((size, size))
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            out = io.BytesIO()
            if has_alpha:
                img.convert("RGBA").save(out, format="PNG", optimize=True)
                return out.getvalue(), "png"
            img.convert("RGB").save(out, format="JPEG", quality=80)
            return out.getvalue(), "jpeg"
    except Exception:  # the inline problems already say what is wrong with the file
        return b"", "png"


class PromptBox(ipywidgets.VBox):  # type: ignore[misc]
    """The prompt, with a live count of its length as the API counts it, against its limit."""

    def __init__(self, value: str = "") -> None:
        self.text = ipywidgets.Textarea(
            value=value,
            placeholder="Describe the motion: camera, subject, mood…",
            continuous_update=True,  # keeps the counter live while typing
            rows=3,
            layout=ipywidgets.Layout(width="100%"),
        )
        self.counter = ipywidgets.HTML()
        super().__init__(children=[self.text, self.counter])
        self.text.observe(lambda _: self._count(), names="value")
        self._count()

    @property
    def value(self) -> str:
        return str(self.text.value)

    @value.setter
    def value(self, text: str) -> None:
        self.text.value = text

    @property
    def length(self) -> int:
        """The prompt's length as the API counts it (text pasted from a page may hold
        broken characters; they are counted, and the request names them)."""
        return prompt_units(self.value)

    def _count(self) -> None:
        n = self.length
        if n > MAX_PROMPT_UNITS:
            self.counter.value = _html.span(
                f"{n}\u00a0/\u00a0{MAX_PROMPT_UNITS} characters — {n - MAX_PROMPT_UNITS} too "
                "many (emoji and some symbols count as 2)",
                color=_html.ERROR_COLOR,
                bold=True,
            )
        else:
            self.counter.value = _html.span(
                f"{n}\u00a0/\u00a0{MAX_PROMPT_UNITS} characters",
                color=_html.MUTED_COLOR,
                small=True,
            )


class SeedControl(ipywidgets.HBox):  # type: ignore[misc]
    """The seed field, a dice button and a lock.

    Semantics:

    - The field holds the seed the next run uses. Empty means a fresh random
      seed for each run (drawn here, so every run's seed is known and shown).
    - The dice puts a random seed in the field.
    - Unlocked, a seed in the field is used for one run, then the field empties
      again (its placeholder shows the seed just used).
    - Locked, the seed stays in the field for every run (same seed + same
      request gives similar videos); if the field was empty, the seed drawn for
      the run is written in and kept.
    """

    def __init__(self, seed: int | None = None, *, locked: bool = False) -> None:
        self.field = ipywidgets.Text(
            value="" if seed is None else str(seed),
            placeholder="random",
            description="Seed",
            layout=ipywidgets.Layout(width="16em"),
        )
        self.dice = ipywidgets.Button(
            description="", icon="random", tooltip="Pick a random seed (0..4294967295)"
        )
        self.dice.layout.width = "3em"
        self.lock = ipywidgets.ToggleButton(
            value=locked,
            description="Keep seed",
            icon="unlock",
            tooltip="Keep this seed for every run (unlocked: a seed is used once, "
            "an empty field means random each run)",
        )
        super().__init__(children=[self.field, self.dice, self.lock])
        self.dice.on_click(lambda _: self.roll())
        self.lock.observe(lambda _: self._lock_icon(), names="value")
        self._lock_icon()

    @property
    def locked(self) -> bool:
        return bool(self.lock.value)

    def roll(self) -> int:
        """Put a random seed in the field and return it."""
        seed = random_seed()
        self.field.value = str(seed)
        return seed

    def current(self) -> Any:
        """The field's seed: ``None`` when empty, an int when it reads as one, else the text.

        Text that is not a whole number is handed on as is, so the request's
        validation reports it in its own words.
        """
        text = str(self.field.value).strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return text

    def for_run(self) -> Any:
        """The seed for the next run: the field's, or a fresh random one when it is empty."""
        seed = self.current()
        return random_seed() if seed is None else seed

    def used(self, seed: int) -> None:
        """Record that a run was submitted with ``seed`` (applies the lock semantics)."""
        self.field.placeholder = f"random (last: {seed})"
        self.field.value = str(seed) if self.locked else ""

    def _lock_icon(self) -> None:
        self.lock.icon = "lock" if self.locked else "unlock"
