"""GenerationPanel without a kernel: traits, button clicks, and jobs on the contract imitation.

The panel's runner works on its own loop thread; the client and the
imitation share a ``FakeClock``, so jobs end without real waiting. What the
panel shows after asking the API (a price, a balance) is awaited with
``until`` (an observer and an event), never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import ipywidgets
import pytest

import gen3widgets as g3
from gen3widgets import GenerationFailed, GenerationRequest, NotReadyError, ValidationError
from gen3widgets._jobs import JobRunner, JobState
from gen3widgets.widgets.panel import SIMULATED_BANNER, GenerationPanel
from tests.widget_support import (
    KEY,
    XSS,
    CountingMock,
    FrontEnd,
    GatedTransport,
    Harness,
    html_text,
    png_bytes,
    until,
    until_state,
    upload,
    widget_tree,
)

NBSP = "\u00a0"


def _panel(runner: JobRunner, **fields: Any) -> GenerationPanel:
    fields.setdefault("prompt", "a slow dolly shot")
    fields.setdefault("image", png_bytes())
    return GenerationPanel(runner, **fields)


def priced(panel: GenerationPanel) -> str:
    """The estimate once the API answered (not "pricing…")."""
    return str(until(panel.estimate, lambda v: bool(v) and "pricing" not in v))


# -- validation -------------------------------------------------------------------------


def test_invalid_input_shows_every_problem_and_sends_nothing(harness: Harness) -> None:
    mock = CountingMock()
    runner = harness.runner(mock.transport)
    panel = GenerationPanel(runner, prompt="x" * 1001, last_image=b"not an image", seed=5)
    panel.seed.field.value = "-3"

    panel.generate.click()

    shown = panel.problems.value
    assert "Nothing was sent" in shown
    assert "Prompt: is 1001 characters long as the API counts them" in shown
    assert "First frame: a first frame is required" in shown
    assert "Last frame: the data is not an image" in shown
    assert "Seed: must be between 0 and 4294967295" in shown
    assert [r for r in mock.requests if r.method == "POST"] == []
    assert panel.job is None and runner.jobs == []
    assert not panel.generate.disabled  # ready for the corrected input

    with pytest.raises(ValidationError) as caught:
        panel.submit()
    assert set(caught.value.fields) == {"prompt", "image", "last_image", "seed"}
    with pytest.raises(ValidationError):
        _ = panel.request
    assert [r for r in mock.requests if r.method == "POST"] == []


def test_the_problems_follow_the_fields_as_they_are_fixed(harness: Harness) -> None:
    panel = GenerationPanel(harness.runner(CountingMock().transport), prompt="x" * 1001, seed=5)
    panel.generate.click()
    assert "Prompt:" in panel.problems.value and "First frame:" in panel.problems.value
    panel.prompt.value = "a slow dolly shot"  # fixed: its problem goes, the other stays
    assert "Prompt:" not in panel.problems.value and "First frame:" in panel.problems.value
    panel.seed.field.value = "-1"  # a new problem shows as soon as it is made
    assert "Seed:" in panel.problems.value
    panel.seed.field.value = "5"
    upload(panel.image, png_bytes())
    assert panel.problems.value == ""
    assert isinstance(panel.request, GenerationRequest)


def test_a_ratio_from_an_image_it_cannot_take_is_said_once_and_goes_with_the_ratio(
    harness: Harness,
) -> None:
    wide = png_bytes((300, 100))  # aspect 3: the model cannot take a ratio from it
    panel = _panel(harness.runner(CountingMock().transport), image=wide, ratio="auto")
    panel.generate.click()
    assert "First frame: is 300x100 (aspect 3.00)" in panel.problems.value
    assert "pick a ratio" in panel.image.info.value  # the picker agrees with the panel
    panel.ratio.value = "16:9"
    assert panel.problems.value == ""  # no message is left that asks for another ratio
    assert "pick a ratio" not in html_text(panel)
    assert panel.request.ratio == "16:9"


def test_request_reflects_the_fields(harness: Harness) -> None:
    runner = harness.runner(CountingMock().transport)
    panel = _panel(runner, duration=10, ratio=None)
    request = panel.request
    assert isinstance(request, GenerationRequest)
    assert (request.prompt, request.duration, request.ratio, request.seed, request.model) == (
        "a slow dolly shot",
        10,
        "auto",
        None,
        "gen3a_turbo",
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
    with pytest.raises(ValidationError, match="ratio"):
        GenerationPanel(runner, ratio="21:9")  # gen3a_turbo has no 21:9
    with pytest.raises(ValidationError, match="model"):
        GenerationPanel(runner, model="gen5_turbo")
    assert GenerationPanel(runner, model="runway/gen4_turbo", ratio="21:9").ratio.value == "21:9"


def test_prompt_counter_in_the_panel(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport), prompt="ab😀")
    assert f"4{NBSP}/{NBSP}1000" in panel.prompt.counter.value


def test_a_lone_surrogate_is_counted_and_the_request_names_it(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport))
    panel.prompt.value = "a slow pan \ud83c over the lake"  # half an emoji, pasted from a page
    assert f"26{NBSP}/{NBSP}1000" in panel.prompt.counter.value
    panel.generate.click()
    assert "Prompt: contains a broken character (U+D83C)" in panel.problems.value
    with pytest.raises(ValidationError) as caught:
        _ = panel.request
    assert caught.value.fields == ["prompt"]


# -- models -------------------------------------------------------------------------------


def test_the_model_menu_sets_the_ratios_and_durations_on_offer(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport))
    assert [value for _, value in panel.model.options] == ["gen3a_turbo", "runway/gen4_turbo"]
    assert panel.model.value == "gen3a_turbo"
    ratios = [value for _, value in panel.ratio.options]
    assert ratios == ["16:9", "9:16", "auto"]  # no 21:9, no 1:1 for gen3a_turbo
    assert [value for _, value in panel.duration.options] == [5, 10]
    assert "1280x768" in panel.ratio.tooltips[0]

    panel.model.value = "runway/gen4_turbo"
    ratios = [value for _, value in panel.ratio.options]
    assert ratios == ["16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "auto"]
    assert "1584x672" in panel.ratio.tooltips[ratios.index("21:9")]
    panel.ratio.value = "21:9"
    panel.duration.value = 10
    assert (panel.request.model, panel.request.ratio, panel.request.duration) == (
        "runway/gen4_turbo",
        "21:9",
        10,
    )
    panel.model.value = "gen3a_turbo"  # 21:9 is not on offer: back to the default ratio
    assert (panel.ratio.value, panel.duration.value) == ("16:9", 10)
    assert panel.problems.value == "" and panel.request.ratio == "16:9"


def test_the_price_is_in_dollars_from_the_catalogue_and_follows_the_fields(
    harness: Harness,
) -> None:
    api, runner = harness.contract_runner()
    panel = _panel(runner)
    assert priced(panel).endswith(f"one 5{NBSP}s gen3a_turbo clip: $0.25</span>")
    panel.duration.value = 10
    until(panel.estimate, lambda v: "$0.50" in v)
    panel.model.value = "runway/gen4_turbo"
    until(panel.estimate, lambda v: "gen4_turbo clip: $0.60" in v)
    assert "simulated" not in panel.estimate.value and "tokens" not in panel.estimate.value
    assert api.counts["catalogue"] >= 2 and api.counts["creates"] == 0  # priced, not bought


def test_the_balance_is_asked_for_only_on_demand(harness: Harness) -> None:
    api, runner = harness.contract_runner()
    panel = _panel(runner)
    priced(panel)
    assert api.counts["billing"] == 0 and panel.balance.value == ""  # never polled
    panel.balance_button.click()
    assert "balance $100.00" in until(panel.balance, lambda v: "$" in v)
    panel.submit()
    panel.wait(30)
    panel.balance_button.click()
    assert "balance $99.75" in until(panel.balance, lambda v: "99.75" in v)
    assert api.counts["billing"] == 2


def test_a_retired_model_offers_a_one_click_switch_to_its_successor(harness: Harness) -> None:
    api, runner = harness.contract_runner(retired={"gen3a_turbo"})
    panel = _panel(runner, seed=4)
    # Priced first: the catalogue no longer lists it, so the switch is offered before any purchase.
    until(panel.switch_box.layout, lambda v: v != "none", name="display")
    assert panel.switch_button.description == "Use runway/gen4_turbo"
    assert "no longer lists gen3a_turbo" in panel.switch_note.value
    assert api.counts["creates"] == 0

    job = panel.submit()  # pressed anyway: refused by the API, nothing bought
    with pytest.raises(g3.ModelUnavailableError):
        panel.wait(30)
    assert job.state is JobState.REFUSED
    message = " ".join(panel.card.view["message"])
    assert "no longer available" in message and "Nothing was bought" in message
    assert "runway/gen4_turbo" in message
    assert panel.switch_box.layout.display != "none"
    assert api.bought == 0

    panel.switch_button.click()  # one click: the model, nothing else, changes
    assert panel.model.value == "runway/gen4_turbo"
    assert panel.switch_box.layout.display == "none"
    assert api.bought == 0  # switching buys nothing
    generation = panel.submit().wait(30)
    assert generation.ok and generation.model == "runway/gen4_turbo" and generation.seed == 4
    assert api.bought == 1


# -- budget ---------------------------------------------------------------------------------


def test_a_budget_refuses_what_would_pass_it_and_says_the_arithmetic(harness: Harness) -> None:
    api, runner = harness.contract_runner(client_options={"budget_usd": 0.30})
    panel = _panel(runner, seed=1)
    assert panel.submit().wait(30).ok
    second = panel.submit(again=True)
    with pytest.raises(g3.BudgetExceededError):
        second.wait(30)
    assert second.state is JobState.REFUSED
    message = " ".join(panel.card.view["message"])
    assert "$0.25 spent" in message and "over the budget of $0.30" in message
    assert "Nothing was sent" in message
    assert api.bought == 1 and api.counts["creates"] == 1


def test_budget_usd_gives_the_panel_its_own_capped_client(harness: Harness) -> None:
    panel = GenerationPanel(prompt="p", image=png_bytes(), budget_usd=1.5)
    try:
        assert panel.runner.client.budget_usd == 1.5 and panel.runner.simulated
    finally:
        panel.runner.close()
    with pytest.raises(g3.ConfigurationError, match="budget_usd"):
        GenerationPanel(harness.runner(CountingMock().transport), budget_usd=1.0)


# -- submitting -------------------------------------------------------------------------


def test_generate_is_disabled_while_the_job_runs_and_a_double_click_buys_once(
    harness: Harness,
) -> None:
    api = harness.contract()
    gated = GatedTransport(api.transport())
    runner = harness.runner(gated)
    panel = _panel(runner)
    assert panel.generate.description == "Generate"

    panel.generate.click()
    assert panel.generate.disabled
    assert panel.new_seed.disabled
    job = panel.job
    assert job is not None and job.state is JobState.SUBMITTING
    panel.generate.click()  # a second click while the first create is on its way
    assert panel.submit() is job  # the same fields: the same job
    with pytest.raises(NotReadyError, match="still running"):
        panel.submit(again=True)
    assert panel.job is job

    gated.gate.set()
    panel.wait(30)
    assert api.bought == 1
    assert gated.creates == 1
    assert not panel.generate.disabled


def test_submit_again_with_the_same_fields_returns_the_same_job(harness: Harness) -> None:
    api, runner = harness.contract_runner()
    panel = _panel(runner, seed=11)
    first = panel.submit()
    panel.wait(30)
    assert panel.submit() is first  # "Run All" after a Generate click: nothing bought twice
    assert api.bought == 1
    panel.prompt.value = "another prompt"
    second = panel.submit()  # other fields: another video
    assert second is not first
    panel.wait(30)
    third = panel.submit(again=True)  # asked for: the same fields, bought again
    assert third is not second
    panel.wait(30)
    assert api.bought == 3


def test_completed_job_shows_the_video_and_details(harness: Harness) -> None:
    api, runner = harness.contract_runner()
    panel = _panel(runner, seed=4242)
    job = panel.submit()
    generation = panel.wait(30)

    assert panel.job is job and panel.generation is generation
    assert job.state is JobState.COMPLETED
    assert generation.seed == 4242 and generation.cost_usd == 0.25
    assert generation.local_path is not None and generation.local_path.is_file()
    # The card plays the saved video: what its front end gets when it asks for the clip.
    until_state(panel.card, lambda: bool((panel.card.view["clip"] or {}).get("ready")))
    clip = panel.card.view["clip"]
    assert FrontEnd(panel.card).fetch(clip["full"]) == generation.local_path.read_bytes()
    details = dict(panel.card.view["details"])
    assert details["seed"] == "4242" and details["file"] == str(generation.local_path)
    assert panel.after.layout.display != "none"  # "New seed" and "Seed grid…" are offered
    assert panel.seed.field.value == "4242"  # a constructor seed is locked
    assert api.bought == 1


def test_new_seed_reruns_the_same_request_with_another_seed(harness: Harness) -> None:
    api, runner = harness.contract_runner()
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
    assert api.bought == 2


def test_unlocked_empty_seed_is_drawn_per_run(harness: Harness) -> None:
    _, runner = harness.contract_runner()
    panel = _panel(runner)
    assert panel.request.seed is None
    job = panel.submit()
    panel.wait(30)
    assert job.request is not None and isinstance(job.request.seed, int)
    assert panel.seed.field.value == ""
    assert str(job.request.seed) in panel.seed.field.placeholder
    assert dict(panel.card.view["details"])["seed"] == str(job.request.seed)


def test_failed_job_shows_a_readable_message(harness: Harness) -> None:
    failure = {"name": "ContentModerationError", "message": "the prompt was flagged"}
    _, runner = harness.contract_runner(fail_with=failure)
    panel = _panel(runner)
    panel.generate.click()
    with pytest.raises(GenerationFailed):
        panel.wait(30)
    shown = html_text(panel)
    message = " ".join(panel.card.view["message"])
    assert "failed" in message and "flagged" in message
    assert "Traceback" not in shown
    assert panel.after.layout.display == "none"
    assert not panel.generate.disabled


def test_prompt_html_is_shown_as_text(harness: Harness) -> None:
    _, runner = harness.contract_runner()
    panel = _panel(runner, prompt=XSS)
    panel.submit()
    panel.wait(30)
    shown = html_text(panel)
    assert "<img" not in shown
    assert panel.card.title == XSS  # plain text: the card's front end sets textContent


def test_wait_before_submitting_says_what_to_do(harness: Harness) -> None:
    panel = _panel(harness.runner(CountingMock().transport))
    with pytest.raises(NotReadyError, match="press Generate"):
        panel.wait()
    assert panel.job is None and panel.generation is None


def test_wait_async_on_the_runners_loop_like_a_notebook_cell(harness: Harness) -> None:
    api = harness.contract()

    async def cell() -> g3.Generation:
        # Made inside a running loop, as in a notebook cell: the runner takes this loop.
        runner = JobRunner(harness.client(api.transport()))
        panel = _panel(runner, seed=5)
        panel.submit()
        generation = await panel.wait_async(30)
        await runner.aclose()
        return generation

    generation = asyncio.run(cell())
    assert generation.ok and generation.seed == 5 and api.bought == 1


def test_wait_async_from_another_loop_wakes_when_the_job_ends(harness: Harness) -> None:
    api = harness.contract()
    gated = GatedTransport(api.transport())
    panel = _panel(harness.runner(gated), seed=6)  # the runner's own loop thread
    panel.submit()
    watchdog_fired: list[bool] = []

    async def script() -> g3.Generation:
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(panel.wait_async(60))
        await asyncio.sleep(0)  # the wait has begun before the job can end
        # Nothing else would wake this loop: if the job's end does not, this timer will.
        watchdog = loop.call_later(5, watchdog_fired.append, True)
        gated.gate.set()
        generation = await waiting
        watchdog.cancel()
        return generation

    assert asyncio.run(script()).ok
    assert watchdog_fired == []  # woken by the job's end, not by the watchdog


# -- simulator mode, secrets ------------------------------------------------------------


def test_simulated_banner_and_price_wording_without_a_key() -> None:
    runner = JobRunner()  # no AIMLAPI_KEY in tests: the built-in simulator
    try:
        panel = GenerationPanel(runner, prompt="p", image=png_bytes())
        assert runner.simulated
        assert "Offline simulator — no AIMLAPI_KEY is set" in panel.banner.value
        assert SIMULATED_BANNER.startswith("Offline simulator")
        shown = priced(panel)
        assert "simulated: nothing is bought" in shown
        assert "switch" not in html_text(panel).lower()  # the simulator's catalogue is no verdict
    finally:
        runner.close()


def test_no_banner_with_a_real_client(harness: Harness) -> None:
    _, runner = harness.contract_runner()
    panel = _panel(runner)
    assert panel.banner.value == ""
    assert "$0.25" in priced(panel) and "simulated" not in panel.estimate.value


def test_the_key_is_in_no_widget_state(harness: Harness) -> None:
    _, runner = harness.contract_runner()
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


def test_an_upload_shows_in_the_button_but_its_bytes_stay_in_the_kernel(
    harness: Harness,
) -> None:
    panel = _panel(harness.runner(CountingMock().transport), image=None)
    data = png_bytes((320, 180))
    upload(panel.image, data, name="lake.png")
    assert len(panel.image.upload.value) == 1  # the button reads "Upload (1)"
    state = json.dumps(panel.image.upload.get_state(), default=lambda v: bytes(v).hex())
    assert data.hex() not in state and "lake.png" in state
    assert panel.request.image_info.width == 320
    panel.image.clear()
    assert panel.image.upload.value == ()  # and "Upload (0)" once it is gone


# -- the seed grid ----------------------------------------------------------------------


def test_seed_grid_button_is_guarded_when_the_grid_is_missing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, runner = harness.contract_runner()
    panel = _panel(runner)
    panel.submit()
    panel.wait(30)
    monkeypatch.setitem(sys.modules, "gen3widgets.widgets.grid", None)  # import fails
    panel.seed_grid.click()
    assert "seed grid is not available" in panel.problems.value
    assert "Traceback" not in panel.problems.value
    assert panel.below.children == ()


def test_seed_grid_opens_below_the_panel_with_the_model(harness: Harness) -> None:
    _, runner = harness.contract_runner()
    panel = _panel(runner, prompt="grid me", model="runway/gen4_turbo", ratio="21:9")
    panel.submit()
    panel.wait(30)
    panel.seed_grid.click()
    assert panel.problems.value == ""
    (grid,) = panel.below.children
    assert isinstance(grid, ipywidgets.Widget)
    assert all(cell.request.model == "runway/gen4_turbo" for cell in grid.cells)
    assert all(cell.request.ratio == "21:9" for cell in grid.cells)
