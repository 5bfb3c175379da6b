"""``FrontWidget``: what the card and the grid share: one anywidget front end and clips on demand.

The JavaScript (``_front/gen3.js``) and the CSS (``_front/gen3.css``) ship in
the package and are handed to anywidget as files: no build step, nothing
fetched from a CDN, so it works offline, in JupyterLab 4, Notebook 7, VS Code,
Colab and marimo (``mo.ui.anywidget``). One module renders every kind of view
(``kind``: "card" or "grid") with the same video component.

Traffic between the two sides:

* widget state: small JSON (texts, states, clip keys) and the posters, as
  ``data:`` URIs in ``posters`` (generation id -> JPEG), so that a notebook
  saved with widget state carries stills, never videos;
* browser -> kernel, custom messages: ``{"type": "clip", "key", "request"}``
  (see ``_clips``) and ``{"type": "action", "name", ...}`` (a button);
* kernel -> browser, custom messages: clip chunks, and
  ``{"type": "command", "name"}`` (play, pause, restart, from Python).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .._errors import Gen3Error
from .._jobs import Job
from .._models import Generation
from . import _html
from ._clips import ClipShelf, Media, clip_messages, in_background, prepare
from ._describe import Shown

log = logging.getLogger("gen3widgets")

FRONT = Path(__file__).parent / "_front"
COMMANDS = ("play", "pause", "restart")
# Running jobs tick once a second each; a widget redraws for ticks at most this often.
TICK_REFRESH_SECONDS = 0.9
Action = Callable[[dict[str, Any], list[bytes]], object]


class FrontWidget(anywidget.AnyWidget):
    """A view rendered by gen3widgets' front end; subclasses fill in state and actions."""

    _esm = FRONT / "gen3.js"
    _css = FRONT / "gen3.css"
    kind = traitlets.Unicode("").tag(sync=True)
    posters = traitlets.Dict().tag(sync=True)  # generation id -> poster as a data: URI
    notice = traitlets.Dict().tag(sync=True)  # {"text", "tone"}: the outcome of a click

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shelf = ClipShelf()
        # generation id -> what is prepared (None: under way; not ``ready``: its poster only)
        self._media: dict[str, Media | None] = {}
        self._preparing = 0  # clips whose previews and poster are being made
        # Observers run on the runner's loop thread, clicks on the kernel's, clips on workers.
        self._lock = threading.RLock()
        self._prepared = threading.Condition(self._lock)
        self._actions: dict[str, Action] = {}
        self._seen: dict[int, tuple[object, object]] = {}  # job key -> (state, server status)
        self._refreshed = 0.0  # when the state was last brought up to date (monotonic)
        self.on_msg(self._on_front)

    # -- from the browser ------------------------------------------------------------

    def _on_front(self, _widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "clip":
            self._serve(content.get("key"), str(content.get("request", ""))[:64])
        elif content.get("type") == "action":
            action = self._actions.get(str(content.get("name")))
            if action is not None:
                self._run_action(lambda: action(content, [bytes(b) for b in buffers or ()]))

    def _serve(self, key: object, request: str) -> None:
        path = self._shelf.path(key)
        if path is None:
            self.send({"type": "clip", "request": request, "error": "unknown clip"})
            return

        def send_all() -> None:
            for content, chunk in clip_messages(path, request):
                self.send(content, [chunk] if chunk else None)

        in_background(send_all, sending=True)

    def _run_action(self, action: Callable[[], object]) -> None:
        """Run a button's action; a failure is shown in the widget, never raised into the kernel."""
        self.set_notice("")
        try:
            action()
        except Exception as exc:
            if not isinstance(exc, (Gen3Error, ValueError, RuntimeError)):
                log.exception("A gen3widgets button failed")
            text = exc.message if isinstance(exc, Gen3Error) else str(exc)
            self.set_notice(text or type(exc).__name__, tone="failed")

    def set_notice(self, text: str, *, tone: str = "idle") -> None:
        """Show ``text`` (plain text) as the outcome of the last action; "" hides it."""
        self.notice = {"text": text, "tone": tone} if text else {}

    def send_command(self, name: str) -> None:
        """Ask every view of this widget to ``name`` its videos ("play", "pause", "restart")."""
        if name not in COMMANDS:
            raise ValueError(f"the command must be one of {', '.join(COMMANDS)}, not {name!r}")
        self.send({"type": "command", "name": name})

    # -- finished clips --------------------------------------------------------------

    def _shown(self, generation: Generation | None) -> Shown | None:
        """What this view can show of ``generation``; prepares it in the background once."""
        if generation is None or not generation.ok or not generation.id:
            return None
        if generation.local_path is None:
            return None
        gid, path = generation.id, Path(generation.local_path)
        with self._lock:
            if gid in self._media:
                return Shown(generation, self._media[gid])
            self._media[gid] = None
            self._preparing += 1

        def show(media: Media) -> None:
            with self._lock:
                self._media[gid] = media
                if media.poster_uri is not None:
                    self.posters = {**self.posters, gid: media.poster_uri}
            self._refresh()

        def work() -> None:
            try:
                show(prepare(path, on_poster=show))  # the poster first, then the preview
            finally:
                with self._prepared:
                    self._preparing -= 1
                    self._prepared.notify_all()

        in_background(work)
        return Shown(generation, None)

    def settled(self, timeout: float | None = None) -> bool:
        """Wait until every finished clip this widget shows has its preview and poster.

        ``wait()`` ends with this, so a notebook saved right after holds the stills.
        False when ``timeout`` seconds pass first.
        """
        with self._prepared:
            return self._prepared.wait_for(lambda: self._preparing == 0, timeout)

    def settled_since(self, started: float, timeout: float | None) -> bool:
        """``settled()`` within what is left of ``timeout`` seconds counted from ``started``
        (``time.monotonic()``): how a ``wait(timeout)`` ends after its jobs."""
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        return self.settled(left)

    async def settled_since_async(self, started: float, timeout: float | None) -> bool:
        """``settled_since`` for async code (the waiting happens on a worker thread)."""
        return await asyncio.to_thread(self.settled_since, started, timeout)

    def _on_job(self, job: Job) -> None:
        """An observer call: a change shows at once; ticks (elapsed time only) of all the
        widget's running jobs fold into one redraw a second, not one per job."""
        seen = (job.state, job.generation.status if job.generation is not None else None)
        with self._lock:
            changed = self._seen.get(job.key) != seen
            self._seen[job.key] = seen
            if not changed and time.monotonic() - self._refreshed < TICK_REFRESH_SECONDS:
                return
        self._refresh()

    def _refresh(self) -> None:
        """Bring the widget state up to date: ``_state()``, under the lock."""
        with self._lock:
            self._refreshed = time.monotonic()
            self._state()

    def _state(self) -> None:
        """Set the synced traits from the jobs (subclasses)."""
        raise NotImplementedError

    # -- where widgets do not render -------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:  # closed
            return None
        data, metadata = bundle
        data["text/html"] = self._static_html()
        return data, metadata

    def _static_html(self) -> str:
        """A plain HTML stand-in (posters and labels) for viewers that cannot run widgets."""
        raise NotImplementedError


def static_html(title: str, stills: Sequence[tuple[str, str | None]], hint: str) -> str:
    """``title``, then each (label, poster data URI or None), then ``hint``; all escaped."""
    figures = "".join(
        "<figure style='margin:0;display:inline-block;vertical-align:top;width:240px'>"
        + (f"<img src='{_html.esc(uri)}' style='width:100%' alt=''>" if uri else "")
        + f"<figcaption style='font-size:smaller'>{_html.esc(label)}</figcaption></figure>"
        for label, uri in stills
    )
    note = f"<div style='font-size:smaller;color:{_html.MUTED_COLOR}'>{_html.esc(hint)}</div>"
    return f"<div><b>{_html.esc(title)}</b><div style='display:flex;flex-wrap:wrap;gap:8px'>{figures}</div>{note}</div>"
