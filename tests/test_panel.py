"""GenerationPanel without a kernel: traits, button clicks, and jobs on the in-process simulator."""

from __future__ import annotations

import json
import sys
from typing import Any

import ipywidgets
import pytest

from gen3widgets import GenerationFailed, GenerationRequest, ValidationError
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets.simulator import Faults
from gen3widgets.widgets.panel import SIMULATED_BANNER, GenerationPanel
from tests.widget_support import (
    KEY,
    XSS,
    CountingMock,
    FrontEnd,
    GatedTransport,
    Harness,
    harness,
    png_bytes,
    until,
    widget_tree,
)

__all__ = ["harness"]  # the fixture, imported for pytest


def _panel(runner: JobRunner, **fields: Any) -> GenerationPanel:
    fields.setdefault("prompt", "a slow dolly shot")
    fields.setdefault("image", png_bytes())
    return GenerationPanel(runner, **fields)


def _all_html(widget: ipywidgets.Widget) -> str:
    """Every HTML value shown anywhere inside ``widget``."""
    texts = []
    if isinstance(widget, ipywidgets.HTML):
        texts.append(widget.value)
    for child in getattr(widget, "children", ()):
        texts.append(_all_html(child))
    return "\n".join(texts)


# -- validation -------------------------------------------------------------------------


def test_invalid_input_shows_every_problem_and_sends_nothing(harness: Harness) -> None:
    mock = CountingMock()
    runner = harness.runner(mock.transport)
    panel = GenerationPanel(runner, prompt="x" * 1001, last_image=b"not an image", seed=5)
    panel.seed.field.value = "-3"

    panel.generate.click()

    shown = panel.problems.value
    assert "Nothing was sent" in shown
    assert "Prompt: is 1001 UTF-16 code units long" in shown
    assert "First frame: a first frame is required" in shown
    assert "Last frame: the data is not an image" in shown
    assert "Seed: must be between 0 and 4294967295" in shown
    assert mock.requests == []
    assert runner.loop is None  # nothing was even scheduled
    assert panel.job is None
    assert not panel.generate.disabled  # ready for the corrected input

    with pytest.raises(ValidationError) as caught:
        panel.submit()
    assert set(caught.value.fields) == {"prompt", "image", "last_image", "seed"}
    with pytest.raises(ValidationError):
        _ = panel.request
    assert mock.requests == []


def test_request_reflects_the_fields(harness: Harness) -> None:
    runner = harness.runner(CountingMock().transport)
    panel = _panel(runner, duration=10, ratio=None)
    request = panel.request
    assert isinstance(request, GenerationRequest)
    assert (request.prompt, request.duration, request.ratio, request.seed) == (
        "a slow dolly shot",
        10,
        None,
        None,
    )
    panel.ratio.value = "9:16"
    panel.seed.field.value = "77"
    assert (panel.request.ratio, panel.request.seed) == ("9:16", 77)


def test_bad_constructor_choices_raise_at_once(harness: Harness) -> None:
    runner = harness.runner(CountingMock().transport)
    with pytest.raises(ValidationError, match="duration"):
        GenerationPanel(runner, duration=7)
    with pytest.raises(ValidationError, match="ratio"):
        GenerationPanel(runner, ratio="4:3")


def test_prompt_counter_in_the_panel(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport), prompt="ab😀")
    assert "4 / 1000" in panel.prompt.counter.value


# -- submitting -------------------------------------------------------------------------


def test_generate_is_disabled_while_the_job_runs_and_a_double_click_buys_once(
    harness: Harness,
) -> None:
    sim = harness.simulator()
    gated = GatedTransport(sim.async_transport())
    runner = harness.runner(gated)
    panel = _panel(runner)
    assert panel.generate.description == "Generate"

    panel.generate.click()
    assert panel.generate.disabled
    assert panel.new_seed.disabled
    job = panel.job
    assert job is not None and job.state is JobState.SUBMITTING
    panel.generate.click()  # a second click while the first create is on its way
    with pytest.raises(RuntimeError, match="still running"):
        panel.submit()
    assert panel.job is job

    gated.gate.set()
    panel.wait(30)
    assert sim.stats.creates_bought == 1
    assert gated.creates == 1
    assert not panel.generate.disabled


def test_completed_job_shows_the_video_and_details(harness: Harness) -> None:
    sim, runner = harness.sim_runner()
    panel = _panel(runner, seed=4242)
    job = panel.submit()
    generation = panel.wait(30)

    assert panel.job is job and panel.generation is generation
    assert job.state is JobState.COMPLETED
    assert generation.seed == 4242
    assert generation.local_path is not None and generation.local_path.is_file()
    until(panel.card, lambda: bool(panel.card.view["clip"] and panel.card.view["clip"]["ready"]))
    clip = panel.card.view["clip"]
    assert clip["id"] == generation.id
    assert FrontEnd(panel.card).fetch(clip["full"]) == generation.local_path.read_bytes()
    details = dict(panel.card.view["details"])
    assert details["seed"] == "4242" and details["file"] == str(generation.local_path)
    assert panel.after.layout.display != "none"  # "New seed" and "Seed grid…" are offered
    assert panel.seed.field.value == "4242"  # a constructor seed is locked
    assert sim.stats.creates_bought == 1


def test_new_seed_reruns_the_same_request_with_another_seed(harness: Harness) -> None:
    sim, runner = harness.sim_runner()
    panel = _panel(runner, seed=1)
    first = panel.submit()
    panel.wait(30)
    panel.prompt.value = "edited after the run"  # New seed re-runs the run, not the fields

    panel.new_seed.click()
    second = panel.job
    assert second is not None and second is not first
    panel.wait(30)
    assert first.request is not None and second.request is not None
    assert second.request.seed != 1
    assert second.request.replace(seed=1) == first.request
    assert panel.seed.field.value == str(second.request.seed)  # locked: the new seed is kept
    assert sim.stats.creates_bought == 2


def test_unlocked_empty_seed_is_drawn_per_run(harness: Harness) -> None:
    _, runner = harness.sim_runner()
    panel = _panel(runner)
    assert panel.request.seed is None
    job = panel.submit()
    panel.wait(30)
    assert job.request is not None and isinstance(job.request.seed, int)
    assert panel.seed.field.value == ""
    assert str(job.request.seed) in panel.seed.field.placeholder
    assert dict(panel.card.view["details"])["seed"] == str(job.request.seed)


def test_failed_job_shows_a_readable_message(harness: Harness) -> None:
    _, runner = harness.sim_runner(faults=Faults(job_error=1.0))
    panel = _panel(runner)
    panel.generate.click()
    with pytest.raises(GenerationFailed):
        panel.wait(30)
    shown = _all_html(panel)
    assert "failed" in " ".join(panel.card.view["message"])
    assert "Traceback" not in shown
    assert panel.after.layout.display == "none"
    assert not panel.generate.disabled


def test_prompt_html_is_shown_as_text(harness: Harness) -> None:
    _, runner = harness.sim_runner()
    panel = _panel(runner, prompt=XSS)
    panel.submit()
    panel.wait(30)
    shown = _all_html(panel)
    assert "<img" not in shown
    assert panel.card.title == XSS  # plain text for the front end's textContent


def test_wait_before_submitting_says_what_to_do(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport))
    with pytest.raises(RuntimeError, match="press Generate"):
        panel.wait()
    assert panel.job is None and panel.generation is None


# -- simulator mode, secrets ------------------------------------------------------------


def test_simulated_banner_without_a_key() -> None:
    runner = JobRunner()  # no AIMLAPI_KEY in tests: the built-in simulator
    try:
        panel = GenerationPanel(runner, prompt="p", image=png_bytes())
        assert runner.simulated
        assert "Offline simulator — no AIMLAPI_KEY is set" in panel.banner.value
        assert SIMULATED_BANNER.startswith("Offline simulator")
        assert "nothing is bought" in panel.estimate.value
    finally:
        runner.close()


def test_no_banner_with_a_real_client(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport))
    assert panel.banner.value == ""
    assert "tokens" in panel.estimate.value


def test_the_key_is_in_no_widget_state(harness: Harness) -> None:
    _, runner = harness.sim_runner()
    panel = _panel(runner)
    panel.submit()
    panel.wait(30)
    panel.open_seed_grid()
    states = [
        json.dumps(widget.get_state(), default=lambda v: repr(v)[:200])
        for widget in widget_tree(panel)
    ]
    assert len(states) > 30 and not any(KEY in s for s in states)
    assert "client" not in panel.trait_names()


# -- the seed grid ----------------------------------------------------------------------


def test_seed_grid_button_is_guarded_when_the_grid_is_missing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, runner = harness.sim_runner()
    panel = _panel(runner)
    panel.submit()
    panel.wait(30)
    monkeypatch.setitem(sys.modules, "gen3widgets.widgets.grid", None)  # import fails
    panel.seed_grid.click()
    assert "seed grid is not available" in panel.problems.value
    assert panel.below.children == ()


def test_seed_grid_opens_below_the_panel(harness: Harness) -> None:
    pytest.importorskip("gen3widgets.widgets.grid")
    _, runner = harness.sim_runner()
    panel = _panel(runner, prompt="grid me")
    panel.submit()
    panel.wait(30)
    panel.seed_grid.click()
    assert panel.problems.value == ""
    assert len(panel.below.children) == 1
