"""Listing the history: 1,000 rows that share one large image, without decoding it.

The history stores each data-URI image once, with its size and format, so a
listing rebuilds each row's request from what is stored
(``GenerationRequest.restore``) and decodes nothing. The baseline is what the
previous version did with the very same rows, in the same process: validate
each row's request again (``GenerationRequest.from_dict``), which decodes the
image once per row. Both read the same sqlite file; the figure is the wall
time of one whole listing.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def large_jpeg() -> bytes:
    """A 1600x1200 photo-like JPEG of a couple of MB (noise compresses badly)."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(5).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def fill(home: Path, rows: int) -> int:
    """A history of ``rows`` generations sharing one large image; the image's size in bytes."""
    import gen3widgets as g3

    image = large_jpeg()
    store = g3.HistoryStore(home)
    shared = g3.GenerationRequest(prompt="a slow dolly shot", image=image, seed=1)
    for i in range(rows):
        generation = g3.Generation(id=f"gen-{i:05d}", status=g3.Status.COMPLETED, request=shared)
        store.record(generation, server="https://api.bench")
    return len(image)


def list_now(home: Path, rows: int) -> float:
    """Seconds for ``history()`` to list every row, requests included."""
    import gen3widgets as g3

    started = time.perf_counter()
    listed = g3.history(rows, home=home)
    took = time.perf_counter() - started
    assert len(listed) == rows and all(g.request is not None for g in listed)
    return took


def list_decoding_every_row(home: Path, rows: int) -> float:
    """Seconds for the previous version's listing: each row's request validated again."""
    from gen3widgets import GenerationRequest

    started = time.perf_counter()
    with sqlite3.connect(home / "history.sqlite3") as conn:
        images = dict(conn.execute("SELECT sha256, data FROM images"))
        texts = [r[0] for r in conn.execute("SELECT request FROM generations LIMIT ?", (rows,))]
    requests = []
    for text in texts:
        data = json.loads(text)
        data["image"] = images[data["image"].removeprefix("sha256:")]
        requests.append(GenerationRequest.from_dict(data))
    took = time.perf_counter() - started
    assert len(requests) == rows
    return took


def store_section(config: dict[str, Any], ready: Callable[[], None]) -> dict[str, Any]:
    rows = int(config["rows"])
    home = Path(tempfile.mkdtemp(prefix="gen3bench-store-"))
    image_bytes = fill(home, rows)
    list_now(home, rows)  # warm: imports and the OS file cache, for both
    ready()
    out = []
    for _ in range(config["repeats"]):
        out.append(
            {
                "now_ms": [list_now(home, rows) * 1000],
                "decoding_ms": [list_decoding_every_row(home, rows) * 1000],
            }
        )
    return {"repeats": out, "rows": rows, "image_bytes": image_bytes}
