"""The Sequence widget and Extend: shots chained from each clip's last frame, on the contract
imitation, tested through the widget's state and the messages a browser sends (``FrontEnd``).
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import os
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageChops

import gen3widgets as g3
from gen3widgets import Sequence
from gen3widgets._jobs import JobRunner
from gen3widgets.widgets.panel import GenerationPanel
from tests.widget_support import FrontEnd, Harness, png_bytes, until_state

WAIT = 60.0
NBSP = "\u00a0"
PROMPTS = ["a boat leaves the harbour", "it rounds the lighthouse", "it sails into the dusk"]


def _sent_image(data_uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("RGB")


def _same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _posted(api: Any) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in api.requests if r.method == "POST"]


def _buttons(seq: Sequence, index: int) -> list[str]:
    return [b["label"] for b in seq.cell_views[index]["buttons"]]


def test_three_shots_from_clicks_are_priced_bought_in_order_and_exported(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    monkeypatch.chdir(notebook)  # a kernel runs in its notebook's folder
    api, runner = harness.contract_runner()
    seq = Sequence(image=png_bytes(), prompts=PROMPTS, seed=7, client=runner)
    front = FrontEnd(seq)
    until_state(seq, lambda: "$" in seq.header["cost"])
    price = runner.loop_run(runner.quote_async([seq.chain.base.price_query] * 3))  # type: ignore[union-attr]
    assert seq.header["cost"] == f"3{NBSP}videos · about ${price:.2f}"
    assert seq.header["title"] == "Sequence: 3 shots" and seq.header["can_generate"]
    assert [v["label"] for v in seq.cell_views] == [f"{i + 1}. {p}" for i, p in enumerate(PROMPTS)]
    assert api.counts["creates"] == 0  # nothing is bought before Generate

    front.click("generate")
    front.click("generate")  # a second click buys nothing more
    generations = seq.wait(WAIT)
    assert api.bought == 3 and [p["prompt"] for p in _posted(api)] == PROMPTS
    for before, after in itertools.pairwise(generations):
        assert after.tags["parent"] == before.id
    until_state(seq, lambda: seq.header["status"] == "3 of 3 shots done")
    assert seq.header["status_tone"] == "done" and not seq.header["can_generate"]
    assert (
        seq.header["cost"]
        == f"3{NBSP}videos bought · ${sum(g.cost_usd or 0 for g in generations):.2f}"
    )
    assert [b["label"] for b in seq.header["buttons"]] == ["Export film"]

    front.click("export")
    film = notebook / f"{seq.id}.mp4"
    assert seq.notice["text"] == f"Film saved to {film.name}"  # beside the notebook
    assert _frames(film) == sum(_frames(g.local_path) for g in generations)  # type: ignore[arg-type]
    elsewhere = seq.export(tmp_path / "cuts" / "film.mp4")
    assert seq.notice["text"] == f"Film saved to {elsewhere}"  # outside it: the whole path
    monkeypatch.setenv("HOME", str(tmp_path))
    seq.export(tmp_path / "cuts" / "again.mp4")
    assert seq.notice["text"] == f"Film saved to ~{os.sep}{Path('cuts', 'again.mp4')}"


def test_remaking_a_shot_says_its_cost_waits_for_a_click_and_marks_later_shots_stale(
    harness: Harness,
) -> None:
    api, runner = harness.contract_runner()
    seq = Sequence(image=png_bytes(), prompts=PROMPTS, seed=[1, 2, 3], client=runner)
    front = FrontEnd(seq)
    seq.submit()
    first = seq.wait(WAIT)
    until_state(seq, lambda: _buttons(seq, 1) == ["Re-make", "Re-make from here"])
    assert _buttons(seq, 2) == ["Re-make"]  # nothing after the last shot to re-make

    front.click("ask", cell=1, kind="rerun")
    until_state(seq, lambda: "$" in (seq.cell_views[1]["pending"] or {}).get("text", ""))
    assert seq.cell_views[1]["pending"]["text"].startswith("Make shot 2 again: about $")
    assert _buttons(seq, 1) == [] and api.bought == 3  # asking buys nothing
    front.click("confirm", cell=1)
    front.click("confirm", cell=1)  # one purchase for one confirmation
    seq.wait(WAIT)
    assert api.bought == 4
    remade = seq.shots[1].generation
    assert remade is not None and remade.id != first[1].id and remade.seed == 2
    assert _same(_sent_image(_posted(api)[3]["image_url"]), g3.last_frame(first[0]))
    until_state(seq, lambda: "stale" in seq.header["status"])
    assert seq.cell_views[2]["label"].endswith("· stale")
    assert any("earlier take of shot 2" in line for line in seq.cell_views[2]["message"])
    assert seq.header["status_tone"] == "warning"

    front.click("ask", cell=1, kind="cascade")
    until_state(seq, lambda: "shots 2–3" in (seq.cell_views[1]["pending"] or {}).get("text", ""))
    front.click("confirm", cell=1)
    seq.wait(WAIT)
    assert api.bought == 6 and not any(shot.stale for shot in seq.shots)
    assert _same(
        _sent_image(_posted(api)[5]["image_url"]),
        g3.last_frame(seq.shots[1].generation),  # type: ignore[arg-type]
    )


def test_the_budget_is_checked_for_the_whole_sequence_before_its_first_shot(
    harness: Harness,
) -> None:
    api, runner = harness.contract_runner(client_options={"budget_usd": 0.60})
    seq = Sequence(image=png_bytes(), prompts=PROMPTS, seed=1, client=runner)
    seq.submit()
    with pytest.raises(g3.BudgetExceededError, match="3 shots"):
        seq.wait(WAIT)
    assert api.bought == 0 and api.counts["creates"] == 0
    until_state(seq, lambda: any("budget" in p for p in seq.header["problems"]))
    assert seq.header["status_tone"] == "failed"


def test_invalid_input_is_shown_and_nothing_can_be_bought(harness: Harness) -> None:
    api, runner = harness.contract_runner()
    seq = Sequence(image=png_bytes(), prompts=["fine", "x" * 1001], ratio="21:9", client=runner)
    assert seq.problems is not None and {"prompts[1]", "ratio"} <= set(seq.problems.problems)
    assert not seq.header["can_generate"] and seq.header["problems"]
    assert repr(seq) == "Sequence(invalid)"
    with pytest.raises(g3.ValidationError):
        seq.submit()
    FrontEnd(seq).click("generate")  # said in the widget, never raised into the kernel
    assert "ratio" in seq.notice["text"] and api.counts["creates"] == 0


def test_a_sequence_reopened_from_the_history_in_another_session_buys_nothing_twice(
    harness: Harness,
) -> None:
    api, runner = harness.contract_runner()
    seq = Sequence(image=png_bytes(), prompts=PROMPTS, seed=3, client=runner)
    seq.submit()
    seq.wait(WAIT)
    seq.rerun(1)  # shot 3 is now stale
    seq.wait(WAIT)
    assert api.bought == 4
    runner.close()  # the kernel restarts

    later = harness.runner(harness.client(api.transport()))
    shot = next(g for g in g3.history() if g.tags.get("sequence") == seq.id)
    again = Sequence.resume(shot, client=later)  # any of its shots from history() will do
    generations = again.wait(WAIT)
    assert api.bought == 4 and again.id == seq.id
    assert [g.id for g in generations] == [g.id for g in seq.generations]  # type: ignore[union-attr]
    assert [s.stale for s in again.shots] == [False, False, True]
    with pytest.raises(g3.NotReadyError, match="No sequence"):
        Sequence.resume("seq-unknown", client=later)


def test_extend_on_a_finished_card_starts_the_next_shot_from_its_last_frame(
    harness: Harness,
) -> None:
    api, runner = harness.contract_runner()
    panel = GenerationPanel(runner, prompt="a boat leaves", image=png_bytes(), seed=4)
    assert "buttons" not in panel.card.view
    with pytest.raises(g3.NotReadyError, match="Nothing to extend"):
        panel.extend()
    first = panel.submit().wait(WAIT)
    until_state(panel.card, lambda: bool(panel.card.view.get("buttons")))
    assert [b["label"] for b in panel.card.view["buttons"]] == ["Extend"]

    FrontEnd(panel.card).click("extend")
    assert panel.image.prepared is not None
    assert _same(_sent_image(panel.image.prepared.value), g3.last_frame(first))
    assert panel.last_image.value is None and first.id in panel.extend_note.value
    panel.prompt.value = "it rounds the lighthouse"
    panel.duration.value = 10
    second = panel.submit().wait(WAIT)
    assert api.bought == 2 and second.tags == {"parent": str(first.id)}
    sent = _posted(api)[1]
    assert sent["prompt"] == "it rounds the lighthouse" and sent["duration"] == 10
    assert _same(_sent_image(sent["image_url"]), g3.last_frame(first))
    stored = g3.HistoryStore().get(str(second.id))
    assert stored is not None and stored.generation.tags["parent"] == first.id

    panel.image.load(png_bytes(color=(0, 0, 255)))  # another first frame: no parent any more
    third = panel.submit().wait(WAIT)
    assert third.tags == {} and panel.extend_note.value == ""


def test_a_blocking_wait_in_a_notebook_cell_keeps_the_kernels_loop_turning(
    harness: Harness,
) -> None:
    api = harness.contract()

    async def cell() -> list[g3.Generation]:
        # Made inside a running loop, as in a notebook cell: the runner buys on this loop,
        # so a wait that blocked the thread would never see a shot finish.
        runner = JobRunner(harness.client(api.transport()))
        seq = Sequence(image=png_bytes(), prompts=PROMPTS[:2], seed=2, client=runner)
        seq.submit()
        generations = seq.wait(WAIT)
        await runner.aclose()
        return generations

    generations = asyncio.run(cell())
    assert [g.tags["shot"] for g in generations] == ["0", "1"] and api.bought == 2
