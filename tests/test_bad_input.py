"""A corpus of bad input: each case is refused by name, and nothing is ever sent.

Every case goes three ways: straight into ``GenerationRequest``, through a
client (sync over a counting ``MockTransport``, async over the contract
imitation, which must see no request at all), and through the panel the way
a person would enter it (typing, uploading, picking, clicking Generate),
where it must show a readable message naming the field and send nothing.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import traitlets
from PIL import Image

import gen3widgets as g3
from gen3widgets._jobs import JobRunner
from tests.contract_api import ContractAPI
from tests.fakes import Api, FakeClock, png_bytes
from tests.widget_support import upload

KEY = "sk-test-bad-input-77aa"
BASE = "http://bad-input.test"
FROM_IMAGE = "auto"  # the panel's ratio option for "take it from the image"
HUGE = 10**5000  # a seed with more digits than Python prints by default


def image_bytes(size: tuple[int, int] = (64, 36), fmt: str = "PNG") -> bytes:
    return png_bytes(size, (120, 80, 40), fmt)


@functools.lru_cache(maxsize=1)
def six_megabyte_png() -> bytes:
    """A real PNG of about 6.5 MB (noise does not compress)."""
    pixels = np.random.default_rng(1).integers(0, 256, (1450, 1500, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=0)
    data = buffer.getvalue()
    assert len(data) > 6_000_000
    return data


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def write(tmp: Path, name: str, data: bytes) -> str:
    path = tmp / name
    path.write_bytes(data)
    return str(path)


@dataclass(frozen=True)
class Case:
    id: str
    field: str  # the field the ValidationError must name
    fields: Callable[[Path], dict[str, Any]]  # bad fields, given a scratch folder


def case(id: str, field: str, **values: Any) -> Case:
    return Case(id, field, lambda tmp: dict(values))


def file_case(id: str, make: Callable[[Path], str], field: str = "image") -> Case:
    return Case(id, field, lambda tmp: {field: make(tmp)})


LONG_URL = "https://images.example.com/" + "a" * 2100 + ".png"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n%%EOF\n"
CASES = [
    # model, and ratios per model
    case("model-unknown", "model", model="gen5_turbo"),
    case("model-not-text", "model", model=4),
    case("model-empty", "model", model=""),
    case("ratio-21:9-on-gen3a", "ratio", ratio="21:9"),
    case("ratio-1:1-on-gen3a", "ratio", ratio="1:1"),
    case("ratio-2:1-on-gen4", "ratio", ratio="2:1", model="runway/gen4_turbo"),
    # ratio
    case("ratio-4:3", "ratio", ratio="4:3"),
    case("ratio-empty-string", "ratio", ratio=""),
    case("ratio-float", "ratio", ratio=16 / 9),
    case("ratio-lowercase-x", "ratio", ratio="16x9"),
    # duration
    case("duration-7", "duration", duration=7),
    case("duration-string", "duration", duration="5"),
    case("duration-bool", "duration", duration=True),
    case("duration-float", "duration", duration=5.0),
    case("duration-none", "duration", duration=None),
    # seed
    case("seed-negative", "seed", seed=-1),
    case("seed-2**32", "seed", seed=2**32),
    case("seed-bool", "seed", seed=True),
    case("seed-float", "seed", seed=1.5),
    case("seed-string", "seed", seed="forty-two"),
    case("seed-5001-digits", "seed", seed=HUGE),
    # prompt, counted in UTF-16 code units
    case("prompt-1001-ascii", "prompt", prompt="a" * 1001),
    case("prompt-501-emoji", "prompt", prompt="🎬" * 501),  # 501 characters, 1002 units
    case("prompt-not-text", "prompt", prompt=123),
    case("prompt-lone-surrogate", "prompt", prompt="a slow pan \ud83c over the lake"),
    # image URLs
    case("url-http", "image", image="http://images.example.com/cat.png"),
    case("url-ftp", "image", image="ftp://images.example.com/cat.png"),
    case("url-ipv4", "image", image="https://192.168.1.10/cat.png"),
    case("url-ipv6", "image", image="https://[::1]/cat.png"),
    case("url-single-label-host", "image", image="https://localhost/cat.png"),
    case("url-credentials", "image", image="https://user:pw@images.example.com/cat.png"),
    case("url-too-long", "image", image=LONG_URL),
    case("url-too-long-once-encoded", "image", image="https://images.example.com/" + "é" * 700),
    case("url-ipv4-trailing-dot", "image", image="https://127.0.0.1./cat.png"),
    case("url-ipv4-short", "image", image="https://127.1/cat.png"),
    case("url-ipv4-hex", "image", image="https://0x7f.0.0.1/cat.png"),
    case("url-ipv4-integer", "image", image="https://2130706433/cat.png"),
    case("url-ipv4-octal", "image", image="https://0177.0.0.1/cat.png"),
    case("url-newline", "image", image="https://images.example.com/ca\nt.png"),
    case("url-tab", "image", image="https://images.exam\tple.com/cat.png"),
    case("url-space", "image", image="https://images.example.com/my cat.png"),
    case("url-port-99999", "image", image="https://images.example.com:99999/cat.png"),
    case("url-port-0", "image", image="https://images.example.com:0/cat.png"),
    case("url-port-abc", "image", image="https://images.example.com:abc/cat.png"),
    case("url-empty-credentials", "image", image="https://:@images.example.com/cat.png"),
    case("url-backslash", "image", image="https://images.example.com\\evil.example/cat.png"),
    case("last-image-url-http", "last_image", last_image="http://images.example.com/end.png"),
    # files
    Case("file-missing", "image", lambda tmp: {"image": str(tmp / "no-such-image.png")}),
    Case("file-is-a-directory", "image", lambda tmp: {"image": str(tmp)}),
    file_case("file-not-an-image", lambda tmp: write(tmp, "notes.png", b"just some text\n")),
    file_case("file-corrupt-png", lambda tmp: write(tmp, "broken.png", image_bytes()[:60])),
    file_case("file-6mb", lambda tmp: write(tmp, "huge.png", six_megabyte_png())),
    file_case("file-4.5mb-data-uri-too-big", lambda tmp: write(tmp, "big.png", bytes(4_500_000))),
    file_case("file-eps-named-png", lambda tmp: write(tmp, "photo.png", EPS)),
    Case("file-name-too-long", "image", lambda tmp: {"image": str(tmp / ("a" * 5000 + ".png"))}),
    case("file-name-with-nul", "image", image="cat\x00.png"),
    file_case("file-gif", lambda tmp: write(tmp, "anim.gif", image_bytes(fmt="GIF"))),
    file_case(
        "last-image-file-bmp",
        lambda tmp: write(tmp, "end.bmp", image_bytes(fmt="BMP")),
        field="last_image",
    ),
    # raw bytes and objects
    case("bytes-empty", "image", image=b""),
    case("bytes-gif", "image", image=image_bytes(fmt="GIF")),
    case("bytes-bmp", "image", image=image_bytes(fmt="BMP")),
    case("bytes-tiff", "image", image=image_bytes(fmt="TIFF")),
    case("bytes-eps", "image", image=EPS),
    case("bytes-6mb", "image", image=b"lazy"),  # replaced below: built on first use
    case("string-empty", "image", image="   "),
    case("image-missing", "image", image=None),
    case("image-wrong-type", "image", image=42),
    # data URIs
    case("data-uri-mislabelled", "image", image=data_uri(image_bytes(), "image/jpeg")),
    case("data-uri-gif", "image", image=data_uri(image_bytes(fmt="GIF"), "image/gif")),
    case("data-uri-bad-base64", "image", image="data:image/png;base64,@@not-base64@@"),
    case("data-uri-no-type", "image", image="data:;base64,AAAA"),
    case("data-uri-eps-as-png", "image", image=data_uri(EPS, "image/png")),
    case("data-uri-over-5mb", "image", image="data:image/png;base64," + "A" * (5 * 2**20)),
    # aspect ratio outside 0.5-2 when the ratio comes from the image
    case("aspect-3:1", "image", ratio=None, image=image_bytes((300, 100))),
    case("aspect-1:3", "image", ratio=None, image=image_bytes((100, 300))),
    case(
        "last-image-aspect-5:2",
        "last_image",
        ratio=None,
        last_image=image_bytes((250, 100)),
    ),
]
CASES[[c.id for c in CASES].index("bytes-6mb")] = Case(
    "bytes-6mb", "image", lambda tmp: {"image": six_megabyte_png()}
)


def full_fields(case: Case, tmp: Path) -> dict[str, Any]:
    fields: dict[str, Any] = {"prompt": "a slow dolly shot", "image": image_bytes()}
    fields.update(case.fields(tmp))
    return fields


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def bad(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


def test_the_request_names_the_field(bad: Case, tmp_path: Path) -> None:
    with pytest.raises(g3.ValidationError) as caught:
        g3.GenerationRequest(**full_fields(bad, tmp_path))
    error = caught.value
    assert bad.field in error.fields, error.problems
    assert f"{bad.field}: " in str(error) and "nothing was sent" in str(error)
    assert all(message.strip() for message in error.problems[bad.field])
    assert isinstance(error, ValueError)  # also catchable as the builtin


class Counting:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    @property
    def creates(self) -> list[httpx.Request]:
        """What would have bought something (the panel may still ask for a price: free)."""
        return [r for r in self.requests if r.method == "POST"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500)


def test_the_sync_client_sends_nothing(bad: Case, tmp_path: Path, clock: FakeClock) -> None:
    seen = Counting()
    with g3.Client(KEY, base_url=BASE, transport=httpx.MockTransport(seen)) as client:
        client._flows.clock = clock
        with pytest.raises(g3.ValidationError) as caught:
            client.submit(**full_fields(bad, tmp_path))
        with pytest.raises(g3.ValidationError):
            client.generate(**full_fields(bad, tmp_path))
        with pytest.raises(g3.ValidationError):
            client.estimate(**full_fields(bad, tmp_path))
    assert bad.field in caught.value.fields
    assert seen.requests == []


def test_the_async_client_sends_nothing_to_the_contract_imitation(
    bad: Case, tmp_path: Path, server: ContractAPI
) -> None:
    client = g3.AsyncClient(KEY, base_url=BASE, transport=server.transport())
    with Api(client) as api, pytest.raises(g3.ValidationError) as caught:
        api.submit(**full_fields(bad, tmp_path))
    assert bad.field in caught.value.fields
    assert server.requests == [] and server.client_request_ids == []
    assert g3.history() == []  # not even a submission was written


# -- the panel -------------------------------------------------------------------------

PANEL_LABELS = {
    "model": "Model",
    "prompt": "Prompt",
    "image": "First frame",
    "last_image": "Last frame",
    "duration": "Duration",
    "ratio": "Ratio",
    "seed": "Seed",
}


def enter(panel: Any, name: str, value: Any) -> None:
    """Put ``value`` into the panel's field ``name`` the way a person would."""
    if name == "prompt":
        panel.prompt.value = value
    elif name in ("image", "last_image"):
        picker = getattr(panel, name)
        if isinstance(value, (bytes, bytearray)) and value:
            upload(picker, bytes(value))
        elif isinstance(value, str):
            picker.url.value = value  # typed (or pasted) into the URL / path field
        elif value is None:
            picker.clear()
        else:
            picker.value = value  # set from code: picker.value = 42
    elif name == "seed":
        panel.seed.field.value = "1" + "0" * 5000 if value == HUGE else str(value)
    elif name == "ratio":
        panel.ratio.value = FROM_IMAGE if value is None else value
    elif name == "duration":
        panel.duration.value = value
    elif name == "model":
        panel.model.value = value
    else:  # pragma: no cover - a new field in the corpus
        raise AssertionError(name)


@pytest.fixture
def panel_runner(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[JobRunner, Counting]]:
    seen = Counting()
    client = g3.AsyncClient(KEY, base_url=BASE, transport=httpx.MockTransport(seen))
    client._flows.clock = clock
    runner = JobRunner(client)
    yield runner, seen
    runner.close()


def check_refused_on_generate(panel: Any, field: str, runner: JobRunner, seen: Counting) -> None:
    panel.generate.click()
    shown = panel.problems.value
    assert "Nothing was sent" in shown
    assert f"{PANEL_LABELS[field]}:" in shown
    assert "Traceback" not in shown and "ValidationError" not in shown
    assert panel.job is None and not panel.generate.disabled
    with pytest.raises(g3.ValidationError) as caught:
        panel.submit()
    assert field in caught.value.fields
    assert seen.creates == [] and runner.jobs == []


def test_the_panel_shows_a_readable_message_and_sends_nothing(
    bad: Case, tmp_path: Path, panel_runner: tuple[JobRunner, Counting]
) -> None:
    from gen3widgets.widgets.panel import GenerationPanel

    runner, seen = panel_runner
    fields = bad.fields(tmp_path)
    if bad.field in ("model", "ratio", "duration"):
        # A bad choice given to the constructor is refused at once, by name.
        with pytest.raises(g3.ValidationError) as caught:
            GenerationPanel(runner, prompt="p", image=image_bytes(), **fields)
        assert bad.field in caught.value.fields

    panel = GenerationPanel(runner, prompt="a slow dolly shot", image=image_bytes())
    try:
        for name, value in fields.items():
            enter(panel, name, value)
    except traitlets.TraitError:
        # The widget cannot hold it at all (a toggle with no such option, a text box
        # given a number), so there is nothing to submit.
        assert bad.field in ("model", "ratio", "duration") or bad.id == "prompt-not-text"
        assert seen.creates == [] and runner.jobs == []
    else:
        held = getattr(panel, bad.field).value if bad.field in ("ratio", "duration") else None
        if bad.field == "duration" and held in (5, 10) and type(held) is int:
            pass  # the toggle turned 5.0 into its own option 5: nothing bad is left
        else:
            check_refused_on_generate(panel, bad.field, runner, seen)
    finally:
        panel.close()
