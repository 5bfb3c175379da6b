"""The shipped JavaScript: what it may never do, and its clip and sync logic under Node.js.

The browser tests (``tests/browser``) drive the whole front end in Chromium;
these run its pieces fast, with fake models and fake videos.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gen3widgets.widgets._base import FRONT

SCRIPT = FRONT / "gen3.js"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


def test_text_is_never_parsed_as_html_and_nothing_is_fetched() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in source, f"{risky} would parse text as markup or code"
    assert "new Function" not in source
    # Offline: no imports, no requests of its own (clips come over the widget's comm).
    assert not re.search(r"^\s*import\b", source, re.MULTILINE)
    for network in ("fetch(", "XMLHttpRequest", "WebSocket", "import("):
        assert network not in source
    urls = re.findall(r"https?://[\w-]+\.[\w.-]+[^\s\"'`)]*", source)
    assert urls == ["http://www.w3.org/2000/svg"]  # a namespace name, never loaded
    css = (FRONT / "gen3.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css


def run_node(tmp_path: Path, body: str) -> dict[str, object]:
    """Run ``body`` (an async function body with ``m``, the module) in Node; its JSON result."""
    harness = tmp_path / "harness.mjs"
    harness.write_text(
        f"const m = await import({json.dumps(SCRIPT.as_uri())});\n"
        f"const out = await (async () => {{ {body} }})();\n"
        "console.log(JSON.stringify(out));\n"
    )
    done = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@needs_node
def test_time_arithmetic(tmp_path: Path) -> None:
    out = run_node(
        tmp_path,
        """
        return {
          loop: m.targetTime(7.5, 5, true),
          clamp: m.targetTime(7.5, 5, false),
          unknown: m.targetTime(2, NaN, true),
          frame: m.frameAt(m.frameTime(12, 24), 24),
          middle: m.frameTime(0, 24),
          ahead: m.nudgedRate(0.04), behind: m.nudgedRate(-1), even: m.nudgedRate(0),
          clock: m.clock(3.14159),
        };
        """,
    )
    assert out["loop"] == 2.5 and out["clamp"] == pytest.approx(4.999)
    assert out["unknown"] == 2 and out["frame"] == 12
    assert out["middle"] == pytest.approx(1 / 48)
    assert out["ahead"] < 1 < out["behind"] <= 1.08 and out["even"] == 1
    assert out["clock"] == "3.14\u00a0s"


@needs_node
def test_clips_arrive_in_chunks_three_at_a_time_and_are_released(tmp_path: Path) -> None:
    out = run_node(
        tmp_path,
        """
        const sent = [];
        const handlers = {};
        const model = {
          send: (msg) => sent.push(msg),
          on: (name, fn) => (handlers[name] = fn),
          off: (name) => delete handlers[name],
        };
        const clips = new m.ClipSource(model);
        const urls = ["a", "b", "c", "d"].map((key) => clips.acquire(key));
        const asked = sent.map((s) => s.key);
        const bytes = (text) => new DataView(new TextEncoder().encode(text).buffer);
        const deliver = (request, index, count, text) =>
          handlers["msg:custom"]({ type: "clip", request, index, count, size: 9, mime: "video/mp4" }, [bytes(text)]);
        handlers["msg:custom"]({ type: "clip", request: "another-view-1", index: 0, count: 1 }, [bytes("x")]);
        deliver(sent[0].request, 1, 2, "-world");  // chunks may come in any order
        deliver(sent[0].request, 0, 2, "hello");
        const first = await urls[0];
        const text = await (await fetch(first)).text();
        const afterOne = sent.map((s) => s.key);
        handlers["msg:custom"]({ type: "clip", request: sent[1].request, error: "unknown clip" }, []);
        let refused = null;
        try { await urls[1]; } catch (error) { refused = error.message; }
        const shared = clips.acquire("a");  // a second player of the same clip: no new request
        const sameUrl = (await shared) === first;
        clips.release("a");
        clips.release("a");
        let revoked = false;
        try { await fetch(first); } catch { revoked = true; }
        clips.dispose();
        return { asked, afterOne, text, refused, sameUrl, revoked, sentTotal: sent.length,
                 unsubscribed: !("msg:custom" in handlers) };
        """,
    )
    assert out["asked"] == ["a", "b", "c"]  # the fourth waits for a free slot
    assert out["afterOne"] == ["a", "b", "c", "d"]
    assert out["text"] == "hello-world"
    assert out["refused"] == "unknown clip"
    assert out["sameUrl"] and out["sentTotal"] == 4
    assert out["revoked"]  # released by its last player: the blob URL is gone
    assert out["unsubscribed"]


@needs_node
def test_the_group_seeks_steps_plays_and_pauses_every_video_together(tmp_path: Path) -> None:
    out = run_node(
        tmp_path,
        """
        globalThis.requestAnimationFrame = () => 0;
        globalThis.cancelAnimationFrame = () => {};
        const video = (duration, t) => ({
          duration, currentTime: t, paused: true, loop: false, playbackRate: 1, ended: false,
          play() { this.paused = false; return Promise.resolve(); },
          pause() { this.paused = true; },
        });
        const players = [video(5, 0.3), video(5, 1.2), video(2.5, 0)].map((v) => ({ loaded: true, video: v }));
        const times = [];
        const group = new m.SyncGroup((t, length, playing) => times.push([t, length, playing]));
        players.forEach((p) => group.add(p));
        group.add({ loaded: false, video: video(5, 4) });  // not loaded yet: left alone
        const at = () => players.map((p) => p.video.currentTime);
        group.seek(3.2);
        const seeked = at();
        group.step(1);
        const stepped = at();
        group.play();
        const playing = players.map((p) => !p.video.paused);
        players[0].video.currentTime = 4.0;  // the leader moved on; one follower lags
        players[1].video.currentTime = 3.96;
        players[2].video.currentTime = 0.2;
        group.tick();
        const rates = players.map((p) => p.video.playbackRate);
        const corrected = at();
        group.pause();
        const paused = at();
        group.setLoop(false);
        group.seek(4.5);
        return { seeked, stepped, playing, rates, corrected, paused, notLoop: at(),
                 length: group.duration(), last: times[times.length - 1] };
        """,
    )
    assert out["seeked"] == pytest.approx([3.2, 3.2, 0.7])  # a shorter clip loops
    frame = 1 / 24
    assert out["stepped"][0] == pytest.approx((int(3.2 * 24) + 1.5) * frame)
    assert out["playing"] == [True, True, True]
    rates = out["rates"]
    assert rates[0] == 1 and 1 < rates[1] <= 1.08  # behind: nudged faster, no seek
    assert out["corrected"][2] == pytest.approx(1.5)  # far off: seeked to where it belongs
    assert out["paused"] == pytest.approx([4.0, 4.0, 1.5])  # pausing lines them all up
    assert out["notLoop"] == pytest.approx([4.5, 4.5, 2.499])  # without loop: its last frame
    assert out["length"] == 5
    assert out["last"] == [4.5, 5, False]
