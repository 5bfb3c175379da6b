"""Shared pieces of the simulator tests: a fast simulator, images, plain-httpx helpers.

The simulator is spoken to with plain httpx, never with the gen3widgets client:
these tests check the examiner, not the candidate.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from gen3widgets.simulator import RenderSpec, Simulator
from tests.fakes import FakeClock

BASE = "http://sim.test"
UNIVERSAL = "/v2/video/generations"
LEGACY = "/v2/generate/video/runway/generation"
PATHS = (UNIVERSAL, LEGACY)
FAKE_MP4 = b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 8
# 2026-08-21T00:00:00Z: log rows and windows read the simulator's calendar.
WALL_START = 1_787_270_400.0


class FakeRender:
    """Instant renderer that remembers what it was asked for."""

    def __init__(self) -> None:
        self.specs: list[RenderSpec] = []

    def __call__(self, spec: RenderSpec) -> bytes:
        self.specs.append(spec)
        return FAKE_MP4


def data_uri(fmt: str = "PNG", mime: str = "image/png", size: tuple[int, int] = (64, 36)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, fmt)
    return f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode()


PNG_URI = data_uri()


def body(path: str = UNIVERSAL, **fields: Any) -> dict[str, Any]:
    """A valid create body for ``path`` (its own field names), with ``fields`` changed;
    a field set to None is left out."""
    ratio = "aspect_ratio" if path == UNIVERSAL else "ratio"
    result: dict[str, Any] = {
        "model": "gen3a_turbo",
        "image_url": PNG_URI,
        "duration": 5,
        ratio: "16:9",
    }
    result.update(fields)
    return {k: v for k, v in result.items() if v is not None}


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Callable[..., Simulator]]:
    """Simulators on the test's fake clock and calendar, with an instant renderer."""
    sims: list[Simulator] = []

    def make(**options: Any) -> Simulator:
        options.setdefault("clock", clock.now)
        options.setdefault("wall_clock", lambda: WALL_START)
        options.setdefault("render", FakeRender())
        sims.append(Simulator(**options))
        return sims[-1]

    yield make
    for sim in sims:
        sim.close()


@asynccontextmanager
async def api(sim: Simulator, key: str | None = "any-key") -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with httpx.AsyncClient(
        transport=sim.async_transport(), base_url=BASE, headers=headers
    ) as client:
        yield client


async def create(client: httpx.AsyncClient, path: str = UNIVERSAL, **fields: Any) -> dict[str, Any]:
    response = await client.post(path, json=body(path, **fields))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def poll(
    client: httpx.AsyncClient, generation_id: str, path: str = UNIVERSAL
) -> dict[str, Any]:
    response = await client.get(path, params={"generation_id": generation_id})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_api_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The API's error body, checked field by field."""
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    assert set(result) == {"message", "path", "requestId", "statusCode", "timestamp"}
    assert int(result["statusCode"]) == status
    assert result["path"] == response.request.url.path
    uuid.UUID(result["requestId"])
    datetime.fromisoformat(result["timestamp"].replace("Z", "+00:00"))
    return result


Make = Callable[..., Simulator]
