"""The models, the request's rules per model, what a generation is, and reading prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gen3widgets as g3
from gen3widgets._models import GEN3A_TURBO, GEN4_TURBO, PriceQuery, find_model
from gen3widgets._protocol import Endpoint, create_body, parse_generation, quote
from tests.fakes import IMAGE, png_bytes


def test_one_registry_entry_per_model_with_its_ratios_sizes_and_successor() -> None:
    assert set(g3.MODELS) == {"gen3a_turbo", "runway/gen4_turbo"}
    assert GEN3A_TURBO.sizes == {"16:9": (1280, 768), "9:16": (768, 1280)}
    assert GEN4_TURBO.sizes["21:9"] == (1584, 672) and len(GEN4_TURBO.ratios) == 6
    assert GEN3A_TURBO.successor == "runway/gen4_turbo" and GEN4_TURBO.successor is None
    assert GEN3A_TURBO.durations == GEN4_TURBO.durations == (5, 10)
    assert (
        find_model("gen4_turbo") is GEN4_TURBO and find_model("runway/gen3a_turbo") is GEN3A_TURBO
    )
    assert find_model("gen2") is None and find_model(None) is None


def test_the_default_model_is_the_one_this_project_was_made_for() -> None:
    request = g3.GenerationRequest(image=IMAGE)
    assert request.model == "gen3a_turbo" and request.duration == 5 and request.ratio == "16:9"
    assert request.output_size == (1280, 768)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"ratio": "4:3"}, "ratio"),
        ({"ratio": "21:9"}, "ratio"),
        ({"model": "runway/gen4_turbo", "ratio": "2:1"}, "ratio"),
        ({"duration": 7}, "duration"),
        ({"duration": "5"}, "duration"),
        ({"duration": 5.0}, "duration"),
        ({"seed": 4_294_967_296}, "seed"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"prompt": "😀" * 501}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"model": "gen2"}, "model"),
        ({"image": "http://images.example.com/a.png"}, "image"),
        ({"image": "https://10.0.0.1/a.png"}, "image"),
        ({"image": "/no/such/file.png"}, "image"),
        ({"image": b"not an image"}, "image"),
        ({"last_image": "http://x.example.com/b.png"}, "last_image"),
        ({"image": None}, "image"),
    ],
)
def test_bad_input_names_its_field(fields: dict[str, Any], bad: str) -> None:
    values: dict[str, Any] = {"image": IMAGE, **fields}
    with pytest.raises(g3.ValidationError) as info:
        g3.GenerationRequest(**values)
    assert bad in info.value.problems
    assert "nothing was sent" in str(info.value)


def test_validation_lists_every_problem() -> None:
    with pytest.raises(g3.ValidationError) as info:
        g3.GenerationRequest(prompt=1, image="http://1.2.3.4/x", duration=3, ratio="1:1", seed=-5)  # type: ignore[arg-type]
    assert set(info.value.problems) == {"prompt", "image", "duration", "ratio", "seed"}


def test_gen4_ratios_are_accepted_for_gen4_only() -> None:
    assert g3.GenerationRequest(
        image=IMAGE, model="runway/gen4_turbo", ratio="1:1"
    ).output_size == (960, 960)
    with pytest.raises(g3.ValidationError, match=r'"16:9", "9:16" or "auto"'):
        g3.GenerationRequest(image=IMAGE, ratio="1:1")


def test_the_prompt_is_counted_as_the_api_counts_it_in_plain_words() -> None:
    g3.GenerationRequest(prompt="😀" * 500, image=IMAGE)  # 1000: fits
    with pytest.raises(g3.ValidationError) as info:
        g3.GenerationRequest(prompt="😀" * 501, image=IMAGE)
    message = info.value.problems["prompt"][0]
    assert "1002 characters" in message and "emoji count as 2" in message
    assert "UTF-16" not in message and "code units" not in message


def test_a_lone_surrogate_is_a_problem_not_a_crash() -> None:
    pasted = "waves at dusk \ud83c and foam"  # half an emoji, as a browser may paste it
    with pytest.raises(g3.ValidationError) as info:
        g3.GenerationRequest(prompt=pasted, image=IMAGE)
    assert "U+D83C" in info.value.problems["prompt"][0]
    assert "broken character" in info.value.problems["prompt"][0]


def test_a_giant_seed_is_described_not_spelled_out() -> None:
    with pytest.raises(g3.ValidationError) as info:
        g3.GenerationRequest(image=IMAGE, seed=10**5000)
    message = info.value.problems["seed"][0]
    assert "5001-digit number" in message and len(message) < 200


def test_none_ratio_means_auto_and_auto_checks_the_image_aspect(tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(png_bytes((64, 36)))
    assert g3.GenerationRequest(image=frame, ratio=None).ratio == "auto"
    wide = tmp_path / "wide.png"
    wide.write_bytes(png_bytes((300, 100)))
    with pytest.raises(g3.ValidationError, match=r"aspect 3\.00"):
        g3.GenerationRequest(image=wide, ratio="auto")
    assert g3.GenerationRequest(image=wide, ratio="16:9").ratio == "16:9"


def test_local_images_become_data_uris() -> None:
    request = g3.GenerationRequest(image=Image.new("RGB", (40, 30)))
    assert request.image.startswith("data:image/png;base64,")
    assert request.image_info.width == 40


def test_rows_written_before_models_read_as_gen3a_turbo() -> None:
    old = {
        "prompt": "p",
        "image": IMAGE,
        "last_image": None,
        "duration": 5,
        "ratio": None,
        "seed": 3,
    }
    request = g3.GenerationRequest.from_dict(old)
    assert request.model == "gen3a_turbo" and request.ratio == "auto" and request.seed == 3


def test_restore_rebuilds_a_request_without_decoding_its_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = g3.GenerationRequest(
        image=png_bytes(), model="runway/gen4_turbo", ratio="21:9", seed=9
    )
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("decoded an image"))
    restored = g3.GenerationRequest.restore(original.to_dict(), original.image_info, None)
    assert restored == original


def test_each_path_gets_only_its_own_field_names() -> None:
    request = g3.GenerationRequest(image=IMAGE, last_image=IMAGE, ratio="9:16", seed=1)
    universal = create_body(request, Endpoint.UNIVERSAL)
    legacy = create_body(request, Endpoint.LEGACY)
    assert universal["aspect_ratio"] == "9:16" and universal["tail_image_url"] == IMAGE
    assert legacy["ratio"] == "9:16" and legacy["last_image_url"] == IMAGE
    assert not {"ratio", "last_image_url"} & set(universal)
    assert not {"aspect_ratio", "tail_image_url"} & set(legacy)


def test_status_keeps_unknown_values() -> None:
    status = g3.Status("rendering")
    assert status.value == "rendering" and not status.known and not status.done
    assert g3.Status("COMPLETED") is g3.Status.COMPLETED
    assert g3.Status("cancelled").failed
    assert g3.Status.NOT_BOUGHT.done and not g3.Status.UNCERTAIN.done


def test_a_server_cannot_claim_the_ledger_s_own_statuses() -> None:
    generation = parse_generation({"id": "abc", "status": "uncertain"})
    assert generation.status.value == "unknown"


def test_a_generation_shows_no_video_bytes_in_a_notebook(tmp_path: Path) -> None:
    video = tmp_path / "abc.mp4"
    video.write_bytes(b"\x00" * 100_000)
    generation = g3.Generation(
        id="abc", status=g3.Status.COMPLETED, local_path=video, cost_usd=0.25
    )
    html = generation._repr_html_()
    assert "base64" not in html and str(video) in html and "$0.25" in html
    assert len(html) < 1000
    assert "cost_usd=0.25" in repr(generation) and "model='gen3a_turbo'" in repr(generation)


# -- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pricing", "query", "price"),
    [
        (
            {"kind": "fixed", "units": [{"name": "second", "price": 0.05, "per": 1}]},
            PriceQuery("gen3a_turbo", 10),
            0.5,
        ),
        (
            {"kind": "fixed", "units": [{"unit": "second", "price": 0.3, "per": 5}]},
            PriceQuery("gen3a_turbo", 10),
            0.6,
        ),
        (
            {"kind": "fixed", "units": [{"name": "video", "price": 0.4, "per": 1}]},
            PriceQuery("gen3a_turbo", 10),
            0.4,
        ),
        (
            {"kind": "fixed", "units": [{"name": "token", "price": 3.25, "per": 1000000}]},
            PriceQuery("gen3a_turbo", 5),
            None,
        ),
        (
            {
                "kind": "variants",
                "variants": [
                    {"when": {"duration": 5}, "price": 0.25, "unit": "generation", "per": 1},
                    {"when": {"duration": "10"}, "price": 0.5, "unit": "generation", "per": 1},
                ],
            },
            PriceQuery("gen3a_turbo", 10),
            0.5,
        ),
        (
            {
                "kind": "variants",
                "variants": [
                    {"when": {"resolution": "720p"}, "price": 0.05, "unit": "second", "per": 1},
                    {"when": {"resolution": "1080p"}, "price": 0.1, "unit": "second", "per": 1},
                ],
            },
            PriceQuery("runway/gen4_turbo", 5, "16:9"),
            0.25,
        ),
        (
            {
                "kind": "variants",
                "variants": [{"when": {"duration": 5}, "price": 1, "unit": "video"}],
            },
            PriceQuery("gen3a_turbo", 10),
            None,
        ),
        ({"kind": "variable"}, PriceQuery("gen3a_turbo", 5), None),
        (
            {"kind": "fixed", "units": [{"name": "second", "price": "free", "per": 1}]},
            PriceQuery("gen3a_turbo", 5),
            None,
        ),
        (
            {"kind": "fixed", "units": [{"name": "second", "price": 0.1, "per": 0}]},
            PriceQuery("gen3a_turbo", 5),
            None,
        ),
        (None, PriceQuery("gen3a_turbo", 5), None),
    ],
)
def test_prices_read_price_with_per_and_unit(
    pricing: Any, query: PriceQuery, price: float | None
) -> None:
    quoted = quote(pricing, query)
    assert quoted == (pytest.approx(price) if price is not None else None)


def test_price_query_checks_its_choices() -> None:
    assert PriceQuery.of("gen4_turbo", 10, "21:9") == PriceQuery("runway/gen4_turbo", 10, "21:9")
    with pytest.raises(g3.ValidationError):
        PriceQuery.of("gen3a_turbo", 5, "21:9")
