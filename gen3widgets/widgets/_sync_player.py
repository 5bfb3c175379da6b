"""``SyncPlayer``: Play all / Pause all / Restart all for the videos of one seed grid.

A tiny anywidget (the ``compare`` extra). Its buttons act in the browser, on
every ``<video>`` inside the elements carrying the grid's CSS class, so the
videos start from the same frame with no round trip to the kernel. Python can
send the same commands (``play()``, ``pause()``, ``restart()``): ``command`` and
an ever-increasing ``nonce`` travel together, so repeating a command still
reaches the browser.

Importing this module imports anywidget; the grid imports it lazily and does
without it when it is missing.
"""

from __future__ import annotations

import anywidget
import traitlets

from ._contact_sheet import SYNC_VIDEOS_JS

COMMANDS = ("play", "pause", "restart")
LABELS = {"play": "Play all", "pause": "Pause all", "restart": "Restart all"}

_ESM = (
    SYNC_VIDEOS_JS
    + """
const LABELS = %s;

function run(model, command) {
  const selector = model.get("selector");
  if (!selector) return;
  gen3SyncVideos(Array.from(document.querySelectorAll(selector + " video")), command);
}

export default {
  render({ model, el }) {
    el.classList.add("gen3-sync-player");
    for (const [command, label] of Object.entries(LABELS)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "jupyter-widgets jupyter-button widget-button";
      button.style.marginRight = "4px";
      button.textContent = label;
      button.addEventListener("click", () => run(model, command));
      el.appendChild(button);
    }
    const onNonce = () => run(model, model.get("command"));
    model.on("change:nonce", onNonce);
    return () => model.off("change:nonce", onNonce);
  },
};
"""
    % ("{" + ", ".join(f'"{k}": "{v}"' for k, v in LABELS.items()) + "}")
)


class SyncPlayer(anywidget.AnyWidget):
    """Buttons that play, pause or restart every video under ``selector`` together."""

    _esm = _ESM
    selector = traitlets.Unicode("").tag(sync=True)
    command = traitlets.Unicode("").tag(sync=True)
    nonce = traitlets.Int(0).tag(sync=True)

    def send_command(self, command: str) -> None:
        """Ask every view of this widget to run ``command`` ("play", "pause", "restart")."""
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, not {command!r}")
        with self.hold_sync():  # command and nonce reach the browser in one message
            self.command = command
            self.nonce += 1

    def play(self) -> None:
        self.send_command("play")

    def pause(self) -> None:
        self.send_command("pause")

    def restart(self) -> None:
        self.send_command("restart")
