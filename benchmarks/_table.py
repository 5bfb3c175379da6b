"""Turning section results into the one markdown table (and its notes).

Every figure is the median over repeats, followed by the min–max over
repeats in parentheses (omitted when there was a single repeat). A repeat's
figure is computed from the jobs of that repeat (e.g. the p95 of its jobs'
latencies). ``ratio`` is gen3widgets ÷ baseline: below 1 means gen3widgets
is lower (faster, fewer requests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from _common import mean, median, percentile

BASELINE_NAMES = {
    "docs": "(a) docs' 10 s loop",
    "runway": "(b) Runway SDK 6±1.5 s",
}
HEADER = "| metric | gen3widgets | baseline(s), same run | ratio | goal | met? |"


@dataclass
class Row:
    metric: str
    ours: str
    baselines: str
    ratio: str
    goal: str
    met: bool | None  # None: not measured

    def markdown(self) -> str:
        met = "n/a" if self.met is None else ("yes" if self.met else "**NO**")
        cells = [self.metric, self.ours, self.baselines, self.ratio, self.goal, met]
        return "| " + " | ".join(cells) + " |"


# -- formatting -----------------------------------------------------------------------------


def fmt(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """``median unit (min–max)`` over repeats."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    sep = "" if unit in ("", "%") else " "
    text = f"{median(values):.{digits}f}{sep}{unit}"
    if len(values) > 1 and min(values) != max(values):
        text += f" ({min(values):.{digits}f}–{max(values):.{digits}f})"
    return text


def ratio(ours: Sequence[float], theirs: Sequence[float]) -> str:
    a, b = median(ours), median(theirs)
    if math.isnan(a) or math.isnan(b) or b == 0:
        return "n/a"
    return f"{a / b:.2f}×"


def per_repeat(repeats: list[dict[str, Any]], who: str, key: str, stat: Callable) -> list[float]:
    """``stat`` of ``who``'s per-job ``key`` values, one figure per repeat."""
    return [stat(r[who][key]) if r[who][key] else math.nan for r in repeats]


def p50(values: Sequence[float]) -> float:
    return percentile(values, 50)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def _missing(name: str, results: dict[str, Any]) -> str | None:
    error = results.get(name, {}).get("error")
    return f"not measured: {error}" if error else None


def _unmeasured(metric: str, goal: str, why: str) -> Row:
    return Row(metric, why, "—", "—", goal, None)


# -- rows -----------------------------------------------------------------------------------

LATENCY = "completion-detection latency (server done → client knows), p50 and p95"
GETS_SHORT = "GETs per job for 6–10 s jobs"
GETS_REALISTIC = (
    'GETs per job for realistic jobs (simulator preset "realistic": 20–30 s for 5 s clips, '
    "40–55 s for 10 s clips), same p95 latency; the library learns typical durations from "
    "history instead of polling fast from the start"
)
GRID = "16-seed grid wall time vs its slowest job"
GRID_C4 = "same with the server allowing only 4 jobs at once (simulator `concurrency=4`)"
KERNEL = "kernel responsiveness while 16 jobs poll: event-loop lag p99, and time for a trivial cell to run"
CPU = "CPU used by the kernel while 16 jobs poll"
IMPORT = "`import gen3widgets` time over `import ipywidgets` alone"
FRONT = "16-clip grid of realistic 10 s clips in JupyterLab + Chromium (gen3widgets vs the old bytes-in-state grid)"
FRONT_MEMORY = f"{FRONT}: kernel memory growth"
FRONT_BYTES = "same grid: bytes over the websocket, as a share of the video files"
FRONT_PLAYABLE = "same grid: last video playable after the slowest job finishes"
FRONT_STILL = "same grid: first still on screen after the first job finishes (a poster; the baseline has none: its first playable video)"
FRONT_NOTEBOOK = "same grid: the notebook saved by JupyterLab with widget state"
PREVIEW = "preview cost per clip: a 480 px ~1 Mbit/s H.264 preview and a JPEG poster, made in a child process"
BASELINE_FRONT = "(d) bytes in widget state"
RENDER = "simulator render time, 5 s and 10 s clips"
STORE = "listing the history: 1,000 generations that share one 2 MB image"


def latency_row(results: dict[str, Any]) -> Row:
    goal = "p95 <= 1.0 s"
    if why := _missing("poll", results):
        return _unmeasured(LATENCY, goal, why)
    reps = results["poll"]["repeats"]

    def both(who: str) -> str:
        lat = "latency"
        return f"p50 {fmt(per_repeat(reps, who, lat, p50))} · p95 {fmt(per_repeat(reps, who, lat, p95))}"

    ours95 = per_repeat(reps, "gen3widgets", "latency", p95)
    theirs = "<br>".join(f"{label}: {both(name)}" for name, label in BASELINE_NAMES.items())
    ratios = " · ".join(
        f"{ratio(ours95, per_repeat(reps, name, 'latency', p95))} {label[:3]}"
        for name, label in BASELINE_NAMES.items()
    )
    return Row(LATENCY, both("gen3widgets"), theirs, "p95: " + ratios, goal, median(ours95) <= 1.0)


def _gets_cells(reps: list[dict[str, Any]], who: str) -> str:
    med = per_repeat(reps, who, "gets", median)
    avg = per_repeat(reps, who, "gets", mean)
    return f"median {fmt(med, '', 1)} · mean {fmt(avg, '', 1)}"


def _gets_ratio(reps: list[dict[str, Any]]) -> str:
    ours = per_repeat(reps, "gen3widgets", "gets", mean)
    return "mean: " + " · ".join(
        f"{ratio(ours, per_repeat(reps, name, 'gets', mean))} {label[:3]}"
        for name, label in BASELINE_NAMES.items()
    )


def gets_short_row(results: dict[str, Any]) -> Row:
    goal = "<= 10"
    if why := _missing("poll", results):
        return _unmeasured(GETS_SHORT, goal, why)
    reps = results["poll"]["repeats"]
    theirs = "<br>".join(
        f"{label}: {_gets_cells(reps, name)}" for name, label in BASELINE_NAMES.items()
    )
    ok = median(per_repeat(reps, "gen3widgets", "gets", mean)) <= 10
    return Row(GETS_SHORT, _gets_cells(reps, "gen3widgets"), theirs, _gets_ratio(reps), goal, ok)


def gets_realistic_row(results: dict[str, Any]) -> Row:
    goal = "<= 15 (and p95 latency <= 1.0 s)"
    if why := _missing("realistic", results):
        return _unmeasured(GETS_REALISTIC, goal, why)
    reps = results["realistic"]["repeats"]

    def cell(who: str) -> str:
        return (
            f"{_gets_cells(reps, who)}<br>p95 latency {fmt(per_repeat(reps, who, 'latency', p95))}"
        )

    theirs = "<br>".join(f"{label}: {cell(name)}" for name, label in BASELINE_NAMES.items())
    gets_ok = median(per_repeat(reps, "gen3widgets", "gets", mean)) <= 15
    lat_ok = median(per_repeat(reps, "gen3widgets", "latency", p95)) <= 1.0
    return Row(
        GETS_REALISTIC, cell("gen3widgets"), theirs, _gets_ratio(reps), goal, gets_ok and lat_ok
    )


def _column(reps: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key][0] for r in reps]


def _naive(results: dict[str, Any], variant: str) -> tuple[list[float], str]:
    if why := _missing("naive", results):
        return [], why
    naive = results["naive"]
    walls = _column(naive["variants"][variant], "wall")
    note = (
        ""
        if naive["scale"] == 1
        else f" (est.: {naive['measured_seeds']} seeds measured ×{naive['scale']:.1f})"
    )
    return walls, f"(c) naive sequential grid: {fmt(walls)}{note}"


def grid_row(results: dict[str, Any]) -> Row:
    goal = "<= slowest + 1.5 s"
    if why := _missing("grid", results):
        return _unmeasured(GRID, goal, why)
    reps = results["grid"]["repeats"]
    walls, slowest = _column(reps, "wall"), _column(reps, "slowest")
    over = [w - s for w, s in zip(walls, slowest, strict=True)]
    failures = sum(_column(reps, "failures"))
    ours = f"wall {fmt(walls)} vs slowest {fmt(slowest)}: +{fmt(over)}"
    if failures:
        ours += f"; {failures:g} failed"
    naive_walls, theirs = _naive(results, "plain")
    ok = median(over) <= 1.5 and failures == 0
    return Row(GRID, ours, theirs, "wall: " + ratio(walls, naive_walls), goal, ok)


def grid_c4_row(results: dict[str, Any]) -> Row:
    goal = "no failures; <= ideal schedule + 10 %"
    if why := _missing("grid_c4", results):
        return _unmeasured(GRID_C4, goal, why)
    reps = results["grid_c4"]["repeats"]
    walls, ideal = _column(reps, "wall"), _column(reps, "ideal")
    over = [100 * (w / i - 1) for w, i in zip(walls, ideal, strict=True)]
    failures = sum(_column(reps, "failures"))
    ours = f"wall {fmt(walls)} vs ideal {fmt(ideal)}: +{fmt(over, '%', 1)}; {failures:g} failed"
    naive_walls, theirs = _naive(results, "c4")
    ok = failures == 0 and median(over) <= 10
    return Row(GRID_C4, ours, theirs, "wall: " + ratio(walls, naive_walls), goal, ok)


def kernel_row(results: dict[str, Any]) -> Row:
    goal = "lag p99 <= 20 ms"
    if why := _missing("kernel", results):
        return _unmeasured(KERNEL, goal, why)
    reps = results["kernel"]["repeats"]
    lag, cell = _column(reps, "lag_p99"), _column(reps, "cell")
    ours = (
        f"lag p99 {fmt(lag, 'ms', 1)} (max {fmt(_column(reps, 'lag_max'), 'ms', 0)})<br>"
        f"`1+1`: {fmt(cell, 'ms', 1)} (p95 {fmt(_column(reps, 'cell_p95'), 'ms', 1)})"
    )
    theirs, ratios = "not measured", "n/a"
    if not _missing("kernel_baseline", results):
        base = results["kernel_baseline"]["repeats"]
        b_lag, b_cell = _column(base, "lag_p99"), _column(base, "cell")
        theirs = (
            f"(a) docs' loop in a cell (1 job): lag p99 {fmt([x / 1000 for x in b_lag], 's', 1)}"
            f"<br>`1+1` waits {fmt([x / 1000 for x in b_cell], 's', 1)}"
        )
        ratios = f"lag: {ratio(lag, b_lag)} · `1+1`: {ratio(cell, b_cell)}"
    return Row(KERNEL, ours, theirs, ratios, goal, median(lag) <= 20)


def cpu_row(results: dict[str, Any]) -> Row:
    goal = "<= 5 % of a core"
    if why := _missing("kernel", results):
        return _unmeasured(CPU, goal, why)
    reps = results["kernel"]["repeats"]
    cpu = _column(reps, "cpu")
    ours = (
        f"{fmt(cpu, '%', 2)}<br>(during it: {fmt(_column(reps, 'gets_per_s'), 'GETs/s', 1)}, "
        f"{fmt(_column(reps, 'comm_per_s'), 'comm msgs/s', 0)})"
    )
    theirs, ratios = "not measured", "n/a"
    if not _missing("kernel_baseline", results):
        b_cpu = _column(results["kernel_baseline"]["repeats"], "cpu")
        theirs = f"(a) docs' loop in a cell (1 job, kernel blocked): {fmt(b_cpu, '%', 2)}"
        ratios = ratio(cpu, b_cpu)
    return Row(CPU, ours, theirs, ratios, goal, median(cpu) <= 5)


def import_row(results: dict[str, Any]) -> Row:
    goal = "<= 150 ms extra"
    if why := _missing("imports", results):
        return _unmeasured(IMPORT, goal, why)
    reps = results["imports"]["repeats"]
    extra, widgets, ipyw = (_column(reps, k) for k in ("extra", "widgets", "ipywidgets"))
    ours = (
        f"+{fmt(extra, 'ms', 0)} (CPU time: +{fmt(_column(reps, 'extra_cpu'), 'ms', 0)})<br>"
        f"(`from gen3widgets import GenerationPanel, SeedGrid`: "
        f"{fmt(widgets, 'ms', 0)}; bare `import gen3widgets`: {fmt(_column(reps, 'bare'), 'ms', 0)})"
    )
    theirs = f"`import ipywidgets`: {fmt(ipyw, 'ms', 0)}"
    return Row(IMPORT, ours, theirs, ratio(widgets, ipyw), goal, median(extra) <= 150)


def _front(results: dict[str, Any]) -> dict[str, Any]:
    return dict(results["front"]["repeats"][0])


def _front_row(
    results: dict[str, Any],
    metric: str,
    key: str,
    unit: str,
    goal: str,
    limit: float | None,
    digits: int = 1,
) -> Row:
    """One front-end figure for gen3widgets and for the baseline; met when ours <= ``limit``."""
    if why := _missing("front", results):
        return _unmeasured(metric, goal, why)
    r = _front(results)
    ours, theirs = r["gen3widgets"][key], r["baseline"][key]
    met = None if limit is None else median(ours) <= limit
    base = f"{BASELINE_FRONT}: {fmt(theirs, unit, digits)}"
    return Row(metric, fmt(ours, unit, digits), base, ratio(ours, theirs), goal, met)


def front_memory_row(results: dict[str, Any]) -> Row:
    return _front_row(results, FRONT_MEMORY, "rss_growth_mb", "MB", "<= 30 MB", 30)


def front_bytes_row(results: dict[str, Any]) -> Row:
    goal = "<= 30 % of the video files"
    if why := _missing("front", results):
        return _unmeasured(FRONT_BYTES, goal, why)
    r = _front(results)

    def cell(who: str) -> tuple[str, float]:
        f = r[who]
        share = 100 * f["ws_in_mb"][0] / f["video_mb"][0]
        return (
            f"{f['ws_in_mb'][0]:.1f} MB to the browser = {share:.0f} % of {f['videos'][0]:g} "
            f"videos' {f['video_mb'][0]:.1f} MB ({f['ws_out_mb'][0]:.2f} MB back)",
            share,
        )

    (ours, share), (theirs, _) = cell("gen3widgets"), cell("baseline")
    ratios = ratio(r["gen3widgets"]["ws_in_mb"], r["baseline"]["ws_in_mb"])
    return Row(FRONT_BYTES, ours, f"{BASELINE_FRONT}: {theirs}", ratios, goal, share <= 30)


def front_playable_row(results: dict[str, Any]) -> Row:
    """From the server finishing the slowest job (the goal), and from the kernel having it."""
    row = _front_row(results, FRONT_PLAYABLE, "last_playable_s", "s", "<= 2 s", 2.0, 2)
    if row.met is None:
        return row
    r = _front(results)
    after = "after the kernel had the job (video saved)"
    ours, theirs = (
        fmt(r[w]["last_playable_after_job_s"], "s", 2) for w in ("gen3widgets", "baseline")
    )
    row.ours += f"<br>{ours} {after}, its preview made meanwhile"
    row.baselines += f"<br>{theirs} {after}"
    return row


def front_still_row(results: dict[str, Any]) -> Row:
    return _front_row(results, FRONT_STILL, "first_still_s", "s", "—", None, 2)


def front_notebook_row(results: dict[str, Any]) -> Row:
    return _front_row(results, FRONT_NOTEBOOK, "notebook_mb", "MB", "< 1 MB", 1.0, 2)


def preview_row(results: dict[str, Any]) -> Row:
    if why := _missing("front", results):
        return _unmeasured(PREVIEW, "—", why)
    p = _front(results)["previews"]
    ours = (
        f"{fmt(p['wall'], 's', 2)} wall, {fmt(p['cpu'], 's', 2)} CPU (child); preview "
        f"{fmt([100 * x for x in p['size_ratio']], '%', 0)} of the clip's bytes, poster "
        f"{fmt(p['poster_kb'], 'KB', 0)}"
    )
    return Row(PREVIEW, ours, "— (the baseline made none)", "—", "—", None)


def render_row(results: dict[str, Any]) -> Row:
    goal = "<= 3 s and <= 6 s"
    if why := _missing("render", results):
        return _unmeasured(RENDER, goal, why)
    cases = results["render"]["cases"]
    parts, ok = [], True
    for duration in (5, 10):
        mine = [c for c in cases if c["duration"] == duration]
        worst = max(mine, key=lambda c: c["median_s"])
        ok = ok and all(c["ok"] for c in mine)
        spread = (
            f" ({worst['min_s']:.2f}–{worst['max_s']:.2f})" if len(worst["times_s"]) > 1 else ""
        )
        parts.append(
            f"{duration} s: {worst['median_s']:.2f} s{spread}, slowest of {len(mine)} cases"
        )
    return Row(RENDER, "<br>".join(parts), "—", "—", goal, ok)


def store_row(results: dict[str, Any]) -> Row:
    goal = "<= 100 ms (no image decoded)"
    if why := _missing("store", results):
        return _unmeasured(STORE, goal, why)
    section = results["store"]
    reps = section["repeats"]
    now, decoding = _column(reps, "now_ms"), _column(reps, "decoding_ms")
    rows = section["rows"]
    scaled = "" if rows == 1000 else f" ({rows} rows measured)"
    ours = f"{fmt(now, 'ms', 1)}{scaled}"
    theirs = (
        f"previous version (each row validated again, decoding its image): {fmt(decoding, 'ms', 0)}"
    )
    times = median(decoding) / median(now) if median(now) > 0 else math.nan
    share = f"{ratio(now, decoding)} (1/{times:,.0f})"
    return Row(STORE, ours, theirs, share, goal, median(now) * 1000 / rows <= 100)


ROWS: list[tuple[str, Callable[[dict[str, Any]], Row]]] = [
    (LATENCY, latency_row),
    (GETS_SHORT, gets_short_row),
    (GETS_REALISTIC, gets_realistic_row),
    (GRID, grid_row),
    (GRID_C4, grid_c4_row),
    (KERNEL, kernel_row),
    (CPU, cpu_row),
    (IMPORT, import_row),
    (FRONT_MEMORY, front_memory_row),
    (FRONT_BYTES, front_bytes_row),
    (FRONT_PLAYABLE, front_playable_row),
    (FRONT_STILL, front_still_row),
    (FRONT_NOTEBOOK, front_notebook_row),
    (PREVIEW, preview_row),
    (RENDER, render_row),
    (STORE, store_row),
]


def build_rows(results: dict[str, Any]) -> list[Row]:
    rows = []
    for metric, make in ROWS:
        try:
            rows.append(make(results))
        except Exception as exc:  # one broken section must not hide the others
            rows.append(Row(metric, f"error: {exc!r}", "—", "—", "—", None))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [HEADER, "|---|---|---|---|---|---|"]
    lines += [row.markdown() for row in rows]
    return "\n".join(lines)


# -- notes: evidence behind the figures ----------------------------------------------------


def _ok(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    section = results.get(name)
    return section if section and not section.get("error") else None


def evidence(results: dict[str, Any]) -> list[str]:
    """Facts from the same run that explain the table's figures."""
    lines: list[str] = []
    if poll := _ok(results, "poll"):
        waves = list(zip(*(r["wave_gets"]["gets"] for r in poll["repeats"]), strict=True))
        per_wave = ", ".join(f"wave {i + 1}: {fmt(list(w), '', 1)}" for i, w in enumerate(waves))
        lines.append(
            "6–10 s jobs, gen3widgets' mean GETs per job by wave (wave 1 starts with nothing "
            f"learned): {per_wave}."
        )
    if real := _ok(results, "realistic"):
        reps = real["repeats"]
        lines.append(
            "Realistic jobs, first wave (nothing learned yet; not in the table): GETs per job "
            f"{_gets_cells(reps, 'first_wave')}, p95 latency "
            f"{fmt(per_repeat(reps, 'first_wave', 'latency', p95))}."
        )
        for key in sorted(k for k in reps[0] if k.startswith("gen3widgets_")):
            clip = key.removeprefix("gen3widgets_").removesuffix("s") + " s"
            lines.append(
                f"Realistic jobs, second wave, {clip} clips: GETs per job {_gets_cells(reps, key)}, "
                f"p95 latency {fmt(per_repeat(reps, key, 'latency', p95))}."
            )
    for name, what in (("poll", "6–10 s jobs"), ("realistic", "Realistic jobs, second wave")):
        if section := _ok(results, name):
            figures = [r["gen3widgets"] for r in section["repeats"]]
            jobs = sum(len(f["latency"]) for f in figures)
            late = sum(f["late"][0] for f in figures)
            early = sum(f.get("late_before_earliest", [0])[0] for f in figures)
            lines.append(
                f"{what}: gen3widgets saw {late:g} of {jobs} jobs more than 1 s after they "
                f"completed; {early:g} of those had completed before the earliest finish the "
                "client had learned for them (a margin below the shortest recent job, see "
                "gen3widgets/_polling.py), so it was still "
                "in its sparse phase, not checking."
            )
    for name, what in (("grid", "16-seed grid"), ("grid_c4", "Grid with concurrency=4")):
        if section := _ok(results, name):
            problems = sorted({p for r in section["repeats"] for p in r.get("problems", [])})
            if problems:
                lines.append(f"{what}: why jobs failed: " + " · ".join(problems))
    if kernel := _ok(results, "kernel"):
        reps = kernel["repeats"]
        counts = ", ".join(
            f"{r['polling_at_start'][0]:g} → {r['running_at_end'][0]:g} of {r['jobs'][0]:g}"
            for r in reps
        )
        lines.append(
            "Kernel: jobs still running when the CPU window started → when the lag window "
            f"ended, per repeat: {counts}."
        )
    if front := _ok(results, "front"):
        r = front["repeats"][0]
        ours, base = r["gen3widgets"], r["baseline"]
        shared = base["rss_growth_mb"][0] - base["video_mb"][0]
        lines.append(
            "Front end, kernel memory: the baseline's growth less the video bytes it holds is "
            f"{shared:.1f} MB, the path both kernels share (the client's download, including the "
            "downloader's check that decodes each clip's first frame in the kernel); "
            f"gen3widgets' growth beyond it: {ours['rss_growth_mb'][0] - shared:.1f} MB."
        )
        lines.append(
            "Front end, from the Generate click to the last video playable: gen3widgets "
            f"{ours['click_to_last_playable_s'][0]:.1f} s, the baseline "
            f"{base['click_to_last_playable_s'][0]:.1f} s; videos made: "
            f"{ours['videos'][0]:g} and {base['videos'][0]:g}, every one playable in the page."
        )
    return lines
