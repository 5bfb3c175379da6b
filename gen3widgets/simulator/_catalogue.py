"""``GET /v1/models``: the model catalogue, its filters, ``include`` sections and ETag.

The catalogue holds the two image-to-video models the simulator serves (less
any retired one), plus ``runway/gen4_aleph`` and a chat model, so a client
that looks a model up meets the neighbours a real catalogue has. No key is
needed. Filters: ``id`` (an id or an alias), ``type``, ``tags``,
``capabilities``, ``modalities``, ``input_modalities``, ``output_modalities``:
values case-insensitive, comma-separated or repeated (OR within a parameter,
AND across). ``include=pricing,modalities,capabilities`` (or ``all``, or
``details=true``) attaches those sections; unknown values are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._models import MODELS, VideoModel
from ._pricing import PricingBlock

SECTIONS = ("pricing", "modalities", "capabilities")
_VIDEO_TYPE = "internal/video-generations/submit"
_FILTERS = ("type", "tags", "capabilities", "modalities", "input_modalities", "output_modalities")


def _video_entry(model: VideoModel) -> dict[str, Any]:
    slug = model.id.rsplit("/", 1)[-1]
    return {
        "id": model.id,
        "aliases": list(model.aliases),
        "type": _VIDEO_TYPE,
        "info": {
            "name": model.name,
            "developer": "Runway",
            "description": f"{model.name}: image-to-video, {' '.join(model.ratios)}, "
            f"{' or '.join(str(d) for d in model.durations)} seconds.",
            "url": "",
            "docsUrl": f"https://docs.aimlapi.com/api-references/video-models/runway/{slug}",
        },
        "tags": ["playground:video", "tier:tier_2"],
        "modalities": {"input": ["image", "text"], "output": ["video"]},
        "capabilities": ["image_to_video"],
    }


# Neighbours for realism: listed, never served by the simulator.
_OTHERS: tuple[dict[str, Any], ...] = (
    {
        "id": "runway/gen4_aleph",
        "aliases": ["gen4_aleph"],
        "type": _VIDEO_TYPE,
        "info": {
            "name": "Runway Aleph",
            "developer": "Runway",
            "description": "Video-to-video editing guided by a prompt and reference images.",
            "url": "",
            "docsUrl": "https://docs.aimlapi.com/api-references/video-models/runway/gen4_aleph",
        },
        "tags": ["playground:video", "tier:tier_2"],
        "modalities": {"input": ["image", "text", "video"], "output": ["video"]},
        "capabilities": ["video_to_video"],
        "pricing": {
            "kind": "fixed",
            "currency": "USD",
            "units": [{"name": "second", "measure": "output", "price": 0.2, "per": 1}],
        },
    },
    {
        "id": "openai/gpt-4o",
        "aliases": ["gpt-4o"],
        "type": "openai/chat-completions",
        "info": {
            "name": "GPT-4o",
            "developer": "Open AI",
            "description": "Multimodal AI model by OpenAI enhancing human-computer interaction.",
            "contextLength": 128000,
            "outputMax": 16384,
            "url": "",
            "docsUrl": "https://docs.aimlapi.com/api-references/text-models-llm/openai/gpt-4o",
        },
        "tags": ["playground:chat", "tier:tier_2"],
        "modalities": {"input": ["image", "text"], "output": ["text"]},
        "capabilities": ["streaming", "tools", "vision"],
        "pricing": {
            "kind": "fixed",
            "currency": "USD",
            "units": [
                {"name": "token", "measure": "input", "price": 3.25, "per": 1000000},
                {"name": "token", "measure": "output", "price": 13.0, "per": 1000000},
            ],
        },
    },
)


def catalogue(retired: frozenset[str], pricing: Mapping[str, PricingBlock]) -> list[dict[str, Any]]:
    """Every entry with every section; retired models left out."""
    served = [
        {**_video_entry(model), "pricing": dict(pricing[model.id])}
        for model in MODELS
        if model.id not in retired
    ]
    return [*served, *(dict(entry) for entry in _OTHERS)]


def _values(getlist: Callable[[str], Sequence[str]], name: str) -> set[str]:
    """A filter's values: comma-separated or repeated, case-insensitive, blanks dropped."""
    return {v.strip().lower() for text in getlist(name) for v in text.split(",") if v.strip()}


def _keeps(entry: Mapping[str, Any], name: str, wanted: set[str]) -> bool:
    if name == "type":
        have = {entry["type"].lower()}
    elif name == "modalities":
        have = {m.lower() for side in entry["modalities"].values() for m in side}
    elif name in ("input_modalities", "output_modalities"):
        have = {m.lower() for m in entry["modalities"][name.split("_")[0]]}
    else:  # tags, capabilities
        have = {v.lower() for v in entry[name]}
    return not have.isdisjoint(wanted)


def answer(
    entries: Sequence[Mapping[str, Any]], getlist: Callable[[str], Sequence[str]]
) -> dict[str, Any]:
    """The ``{"object": "list", "data": [...]}`` answer to a query (``getlist(name)``)."""
    ids = _values(getlist, "id")
    if ids:
        entries = [
            e for e in entries if not ids.isdisjoint(n.lower() for n in (e["id"], *e["aliases"]))
        ]
    for name in _FILTERS:
        wanted = _values(getlist, name)
        if wanted:
            entries = [e for e in entries if _keeps(e, name, wanted)]
    include = _values(getlist, "include")
    if "all" in include or any(v in ("true", "1") for v in getlist("details")):
        include = set(SECTIONS)
    data = [{k: v for k, v in e.items() if k not in SECTIONS or k in include} for e in entries]
    return {"object": "list", "data": data}


def etag(body: bytes) -> str:
    """A weak ETag over the whole answer, shaped like the API's (``W/"<len>-<hash>"``)."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


def not_modified(if_none_match: str, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (weak comparison) or is ``*``."""

    def bare(t: str) -> str:
        return t.strip().removeprefix("W/")

    sent = [bare(t) for t in if_none_match.split(",") if t.strip()]
    return "*" in sent or bare(tag) in sent


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
