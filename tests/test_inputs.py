"""ImagePicker, PromptBox and SeedControl, tested through their traits like ipywidgets' own tests."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from gen3widgets import GenerationRequest
from gen3widgets._models import MAX_SEED, random_seed
from gen3widgets.widgets.inputs import ImagePicker, PromptBox, SeedControl, make_thumbnail
from tests.widget_support import XSS, png_bytes, uploaded

URL = "https://example.com/cat.png"
NBSP = "\u00a0"


# -- ImagePicker ------------------------------------------------------------------------


def test_picker_starts_empty() -> None:
    picker = ImagePicker()
    assert picker.value is None
    assert picker.prepared is None and picker.problems == []
    assert picker.thumbnail.layout.display == "none"
    assert picker.upload.accept == ".png,.jpg,.jpeg,.webp"


def test_picker_with_a_url() -> None:
    picker = ImagePicker()
    picker.url.value = URL
    assert picker.value == URL
    assert picker.error.value == ""
    assert "fetches the URL" in picker.info.value
    assert (picker.thumbnail.format, bytes(picker.thumbnail.value)) == ("url", URL.encode())
    assert GenerationRequest(image=picker.value).image == URL


def test_picker_with_bytes_shows_size_aspect_and_a_small_thumbnail() -> None:
    data = png_bytes((1280, 720))
    picker = ImagePicker(value=data)
    assert picker.value == data
    assert "1280x720" in picker.info.value and f"aspect{NBSP}1.78" in picker.info.value
    thumb = bytes(picker.thumbnail.value)
    assert 0 < len(thumb) < len(data)
    with Image.open(io.BytesIO(thumb)) as img:
        assert max(img.size) <= 160
    assert picker.thumbnail.format == "jpeg"


def test_picker_from_a_path_and_a_pil_image(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    path.write_bytes(png_bytes((300, 200)))
    picker = ImagePicker(value=str(path))
    assert isinstance(picker.value, bytes)
    assert picker.url.value == str(path)
    assert "300x200" in picker.info.value

    picker.value = Image.new("RGB", (200, 300), "blue")  # set from outside
    assert isinstance(picker.value, bytes)
    assert "200x300" in picker.info.value
    assert picker.url.value == ""


def test_picker_upload_shows_its_count_but_keeps_its_bytes_out_of_the_widget_state() -> None:
    data = png_bytes((640, 384))
    picker = ImagePicker()
    picker.url.value = URL
    picker.upload.value = uploaded(data, name="my <cat>.png")
    assert picker.value == data
    assert picker.url.value == ""  # the upload replaces the URL
    (kept,) = picker.upload.value  # the button reads "Upload (1)"...
    assert kept["name"] == "my <cat>.png" and bytes(kept["content"]) == b""
    state = json.dumps(picker.upload.get_state(), default=lambda v: bytes(v).hex())
    assert data.hex() not in state  # ...and the bytes never reach the browser or a notebook
    assert "my &lt;cat&gt;.png" in picker.info.value and "640x384" in picker.info.value
    picker.url.value = URL  # another source: no upload any more, "Upload (0)"
    assert picker.upload.value == () and picker.value == URL


def test_picker_bad_file_shows_the_problem_inline() -> None:
    picker = ImagePicker()
    picker.upload.value = uploaded(b"this is not an image", name="notes.png")
    assert picker.problems and "not an image" in picker.problems[0]
    assert "not an image" in picker.error.value
    assert picker.thumbnail.layout.display == "none"
    # The broken input is kept so that the request says what is wrong with it.
    assert picker.value == b"this is not an image"


def test_picker_bad_url_and_missing_path_are_explained() -> None:
    picker = ImagePicker(value="http://example.com/cat.png")
    assert "https" in picker.error.value
    picker.url.value = "/no/such/file.png"
    assert "does not exist" in picker.error.value
    picker.url.value = f"https://example.com/{XSS}"
    assert "<img" not in picker.info.value + picker.error.value


def test_the_aspect_note_appears_only_when_the_ratio_comes_from_the_image() -> None:
    picker = ImagePicker(value=png_bytes((300, 100)))  # aspect 3.00
    assert "3.00" in picker.info.value and "pick a ratio" not in picker.info.value
    picker.set_ratio_from_image(True)
    assert "pick a ratio instead of &quot;auto&quot;" in picker.info.value
    picker.set_ratio_from_image(False)
    assert "pick a ratio" not in picker.info.value
    picker.set_ratio_from_image(True)
    picker.value = png_bytes((160, 90))  # an aspect the model can take: nothing to say
    assert "pick a ratio" not in picker.info.value


def test_picker_clear_button() -> None:
    picker = ImagePicker(value=png_bytes())
    picker.clear_button.click()
    assert picker.value is None
    assert picker.info.value == "" and picker.error.value == ""
    assert picker.thumbnail.layout.display == "none"


def test_picker_does_not_put_data_uris_in_the_text_field() -> None:
    info = GenerationRequest(image=png_bytes()).image
    assert info.startswith("data:image/png;base64,")
    picker = ImagePicker(value=info)
    assert picker.url.value == ""
    assert isinstance(picker.value, bytes)


def test_thumbnail_keeps_transparency_as_png() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (400, 400), (0, 0, 0, 0)).save(buffer, "PNG")
    data, fmt = make_thumbnail(buffer.getvalue())
    assert fmt == "png" and data
    assert make_thumbnail(b"junk") == (b"", "png")


# -- PromptBox --------------------------------------------------------------------------


def count(n: int) -> str:
    return f"{n}{NBSP}/{NBSP}1000"  # a narrow column never splits the figure


def test_prompt_counter_counts_as_the_api_does() -> None:
    box = PromptBox("abc")
    assert count(3) in box.counter.value
    box.text.value = "😀"  # one emoji counts as two
    assert box.length == 2
    assert count(2) in box.counter.value
    assert "UTF-16" not in box.counter.value  # words for people, not for programmers


def test_prompt_counter_turns_red_over_the_limit() -> None:
    box = PromptBox("a" * 1000)
    assert count(1000) in box.counter.value and "#b00020" not in box.counter.value
    box.value = "a" * 999 + "😀"
    assert count(1001) in box.counter.value and "#b00020" in box.counter.value
    assert "1 too many" in box.counter.value and "emoji" in box.counter.value


def test_prompt_counter_with_a_lone_surrogate_does_not_crash() -> None:
    box = PromptBox("ab")
    box.value = "ab\udc00c"  # half of a character, as text pasted from a web page can hold
    assert box.length == 4 and count(4) in box.counter.value
    box.value = "\ud83d" * 1001
    assert count(1001) in box.counter.value and "#b00020" in box.counter.value


# -- SeedControl ------------------------------------------------------------------------


def test_seed_dice_puts_a_random_seed_in_range() -> None:
    control = SeedControl()
    assert control.current() is None
    control.dice.click()
    seed = control.current()
    assert isinstance(seed, int) and 0 <= seed <= MAX_SEED


def test_empty_unlocked_seed_is_random_each_run() -> None:
    control = SeedControl()
    seeds = set()
    for _ in range(5):
        seed = control.for_run()
        assert isinstance(seed, int) and 0 <= seed <= MAX_SEED
        control.used(seed)
        assert control.field.value == ""
        assert control.field.placeholder == f"random (last: {seed})"
        seeds.add(seed)
    assert len(seeds) > 1


def test_unlocked_typed_seed_is_used_once() -> None:
    control = SeedControl()
    control.field.value = " 42 "
    assert control.for_run() == 42
    control.used(42)
    assert control.current() is None


def test_locked_seed_is_kept_and_an_empty_locked_field_keeps_the_drawn_seed() -> None:
    control = SeedControl(99, locked=True)
    assert control.lock.icon == "lock"
    for _ in range(2):
        assert control.for_run() == 99
        control.used(99)
        assert control.field.value == "99"

    control.field.value = ""
    drawn = control.for_run()
    control.used(drawn)
    assert control.current() == drawn

    control.lock.value = False
    assert control.lock.icon == "unlock"


def test_seed_text_that_is_not_a_number_is_left_for_validation() -> None:
    control = SeedControl()
    control.field.value = "twelve"
    assert control.current() == "twelve"
    control.field.value = "9" * 5000  # more digits than Python turns into a number by default
    assert control.current() == "9" * 5000


def test_random_seeds_are_in_range() -> None:
    assert all(0 <= random_seed() <= MAX_SEED for _ in range(100))
