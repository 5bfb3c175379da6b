// gen3widgets' front end: one ES module for every view (anywidget), shipped in the
// Python package. No imports and nothing fetched: it works offline.
//
// Safety: every text from the kernel goes into the page with textContent; nothing is
// ever parsed as HTML. Links are made only for http(s) URLs.
//
// Video bytes are not widget state: a player asks the kernel for its clip by an opaque
// key when it comes on screen (custom message "clip"), assembles the chunks into a Blob
// and plays it from a blob: URL; a player far off screen gives its URL back.

const LOAD_AT_ONCE = 3; // clips fetched at the same time by one view
const CLIP_TIMEOUT_MS = 60000; // no chunk for this long: the kernel is gone or busy
const FAR_SCREENS = 1.5; // a player this many screen heights away releases its clip
const HARD_SYNC_S = 0.25; // drift beyond this is corrected by seeking, below by rate
const SYNC_GAIN = 0.5; // playbackRate correction per second of drift (bounded below)
const MAX_RATE_NUDGE = 0.08;

// -- small DOM helpers -------------------------------------------------------------------

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined && text !== null) n.textContent = String(text);
  return n;
}

// Icons are drawn, not taken from a font: every platform has these.
const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  play: "M8 5v14l11-7z",
  pause: "M6 5h4v14H6zM14 5h4v14h-4z",
  restart: "M12 5V2L7 6.5 12 11V7.5a4.5 4.5 0 1 1-4.5 4.5H5a7 7 0 1 0 7-7z",
  previous: "M6 6h2v12H6zM9.5 12 18 18V6z",
  next: "M16 6h2v12h-2zM6 18l8.5-6L6 6z",
  loop: "M7 7h10v3l4-4-4-4v3H5v6h2zM17 17H7v-3l-4 4 4 4v-3h12v-6h-2z",
  info: "M11 7h2v2h-2zM11 11h2v6h-2zM12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16z",
  expand: "M4 4h6v2H6v4H4zM14 4h6v6h-2V6h-4zM4 14h2v4h4v2H4zM18 14h2v6h-6v-2h4z",
  star: "M12 17.3 18.2 21l-1.6-7 5.4-4.8-7.2-.6L12 2 9.2 8.6 2 9.2l5.5 4.8L5.8 21z",
  starOutline:
    "M22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2l5.5 4.8L5.8 21l6.2-3.7 6.2 3.7-1.6-7zM12 15.4l-3.8 2.3 1-4.3-3.3-2.9 4.4-.4L12 6.1l1.7 4 4.4.4-3.3 2.9 1 4.3z",
  close: "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z",
};

function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "gen3-svg");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

/** Swap a button's icon (play/pause, star on/off). */
function setIcon(b, name) {
  if (b.dataset.icon === name) return;
  b.dataset.icon = name;
  b.replaceChildren(icon(name));
}

/** A button with a text label, or an icon (`label` "icon:name"); `title` names it for everyone. */
function button(label, title, onClick, cls = "") {
  const b = node("button", `gen3-btn ${cls}`.trim());
  b.type = "button";
  if (title) b.title = title;
  if (label.startsWith("icon:")) {
    setIcon(b, label.slice(5));
    b.setAttribute("aria-label", title); // an icon's name; a text button is named by its text
  } else {
    b.textContent = label;
  }
  b.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick(event);
  });
  return b;
}

function show(n, visible) {
  n.hidden = !visible;
}

function setText(n, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (n.textContent !== value) n.textContent = value;
}

function safeLink(url) {
  const a = node("a", "gen3-link", url);
  if (/^https?:\/\//i.test(url)) {
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  return a;
}

// -- time arithmetic (exported for tests) ------------------------------------------------

/** Where a video of length `duration` should be when the group is at `t`. */
export function targetTime(t, duration, loop) {
  if (!(duration > 0) || !isFinite(duration)) return Math.max(0, t);
  if (loop) return ((t % duration) + duration) % duration;
  return Math.min(Math.max(0, t), Math.max(0, duration - 0.001));
}

/** The time of frame `frame` (its middle, so the decoder shows exactly that frame). */
export function frameTime(frame, fps) {
  return (Math.max(0, frame) + 0.5) / fps;
}

/** The frame shown at `t`. */
export function frameAt(t, fps) {
  return Math.floor(t * fps + 1e-6);
}

/** A playback rate that closes `drift` seconds (positive: ahead) without a seek. */
export function nudgedRate(drift) {
  const nudge = Math.max(-MAX_RATE_NUDGE, Math.min(MAX_RATE_NUDGE, drift * SYNC_GAIN));
  return 1 - nudge;
}

export function clock(t) {
  return `${Math.max(0, t).toFixed(2)}\u00a0s`;
}

// -- clips from the kernel ---------------------------------------------------------------

/** Asks the kernel for clips, at most LOAD_AT_ONCE at a time; one per view. */
export class ClipSource {
  constructor(model) {
    this.model = model;
    this.prefix = Math.random().toString(36).slice(2, 10);
    this.count = 0;
    this.waiting = [];
    this.active = new Map(); // request id -> {key, parts, got, resolve, reject, timer}
    this.urls = new Map(); // key -> {url, users, promise}
    this.onMessage = (msg, buffers) => this.receive(msg, buffers);
    model.on("msg:custom", this.onMessage);
  }

  /** A blob: URL for `key`, shared by this view's players until each releases it. */
  acquire(key) {
    let entry = this.urls.get(key);
    if (!entry) {
      entry = { url: null, users: 0, promise: null };
      entry.promise = this.ask(key).then(
        (blob) => {
          entry.url = URL.createObjectURL(blob);
          if (entry.users === 0) this.drop(key, entry);
          return entry.url;
        },
        (error) => {
          this.urls.delete(key);
          throw error;
        },
      );
      entry.promise.catch(() => {}); // a player that gave up meanwhile never hears of it
      this.urls.set(key, entry);
    }
    entry.users += 1;
    return entry.promise;
  }

  release(key) {
    const entry = this.urls.get(key);
    if (!entry) return;
    entry.users -= 1;
    if (entry.users <= 0 && entry.url) this.drop(key, entry);
  }

  drop(key, entry) {
    URL.revokeObjectURL(entry.url);
    this.urls.delete(key);
  }

  ask(key) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ key, resolve, reject });
      this.pump();
    });
  }

  pump() {
    while (this.active.size < LOAD_AT_ONCE && this.waiting.length) {
      const job = this.waiting.shift();
      const request = `${this.prefix}-${++this.count}`;
      const entry = { ...job, parts: [], got: 0, timer: null };
      this.active.set(request, entry);
      this.arm(request, entry);
      this.model.send({ type: "clip", key: job.key, request });
    }
  }

  arm(request, entry) {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(
      () => this.finish(request, new Error("the kernel did not send the clip: is it running?")),
      CLIP_TIMEOUT_MS,
    );
  }

  receive(msg, buffers) {
    if (!msg || msg.type !== "clip") return;
    const entry = this.active.get(msg.request);
    if (!entry) return; // another view's request
    if (msg.error) {
      this.finish(msg.request, new Error(msg.error));
      return;
    }
    const buffer = buffers && buffers[0];
    if (buffer) entry.parts[msg.index] = buffer;
    entry.got += 1;
    this.arm(msg.request, entry);
    if (entry.got >= msg.count) {
      this.finish(msg.request, null, new Blob(entry.parts, { type: msg.mime || "video/mp4" }));
    }
  }

  finish(request, error, blob) {
    const entry = this.active.get(request);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.active.delete(request);
    if (error) entry.reject(error);
    else entry.resolve(blob);
    this.pump();
  }

  dispose() {
    this.model.off("msg:custom", this.onMessage);
    for (const [request] of this.active) this.finish(request, new Error("closed"));
    for (const job of this.waiting) job.reject(new Error("closed"));
    this.waiting = [];
    for (const [key, entry] of this.urls) if (entry.url) this.drop(key, entry);
  }
}

// -- what is on screen ---------------------------------------------------------------------

/** Tells players when they come on screen, and when they are far enough away to let go. */
class Visibility {
  constructor() {
    this.watched = new Map(); // element -> {enter, leave, visible, loaded}
    this.io = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const w = this.watched.get(entry.target);
        if (!w) continue;
        w.visible = entry.isIntersecting;
        if (w.visible) {
          w.loaded = true;
          w.enter();
        }
      }
      this.sweep();
    });
    this.frame = 0;
    this.onScroll = () => {
      if (!this.frame) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.sweep()));
    };
    document.addEventListener("scroll", this.onScroll, { capture: true, passive: true });
    this.timer = setInterval(() => this.sweep(), 5000); // cells detached by a windowed notebook
  }

  watch(element, enter, leave) {
    this.watched.set(element, { enter, leave, visible: false, loaded: false });
    this.io.observe(element);
  }

  unwatch(element) {
    this.io.unobserve(element);
    this.watched.delete(element);
  }

  isVisible(element) {
    const w = this.watched.get(element);
    return Boolean(w && w.visible);
  }

  sweep() {
    const height = window.innerHeight || 800;
    for (const [element, w] of this.watched) {
      if (w.visible || !w.loaded) continue;
      const box = element.getBoundingClientRect();
      const away = box.top > height ? box.top - height : box.bottom < 0 ? -box.bottom : 0;
      if (!element.isConnected || away > FAR_SCREENS * height) {
        w.loaded = false;
        w.leave();
      }
    }
  }

  dispose() {
    this.io.disconnect();
    document.removeEventListener("scroll", this.onScroll, { capture: true });
    clearInterval(this.timer);
    cancelAnimationFrame(this.frame);
    this.watched.clear();
  }
}

// -- one player: the video view component shared by every widget ------------------------

class Player {
  /**
   * @param {{clips: ClipSource, visibility: Visibility, full?: boolean, controls?: boolean}} opts
   * `full` plays the full-resolution clip; otherwise the preview when there is one.
   */
  constructor({ clips, visibility, full = false, controls = false, onLoaded = null }) {
    this.clips = clips;
    this.visibility = visibility;
    this.full = full;
    this.onLoaded = onLoaded;
    this.clip = null;
    this.loadedKey = null;
    this.wanted = null;
    this.el = node("div", "gen3-frame");
    this.video = node("video", "gen3-video");
    this.video.muted = true;
    this.video.loop = true;
    this.video.playsInline = true;
    this.video.preload = "auto";
    this.video.controls = controls;
    this.video.setAttribute("muted", "");
    this.video.setAttribute("playsinline", "");
    this.note = node("div", "gen3-frame-note");
    this.bar = node("div", "gen3-progress");
    this.fill = node("div", "gen3-progress-fill");
    this.bar.append(this.fill);
    this.el.append(this.video, this.note, this.bar);
    this.video.addEventListener("loadeddata", () => this.onLoaded && this.onLoaded(this));
    visibility.watch(
      this.el,
      () => this.load(),
      () => this.release(),
    );
  }

  key() {
    // Not before the kernel has prepared the clip: only then is it known whether a
    // preview exists (else the full clip would be fetched for nothing).
    if (!this.clip || !this.clip.ready) return null;
    return this.full ? this.clip.full : this.clip.preview || this.clip.full;
  }

  /** Show `clip` (or nothing), with `poster` (a data: URI) until it plays. */
  set(clip, poster, ratio) {
    const [w, h] = ratio || (clip ? [clip.width, clip.height] : [16, 9]);
    this.el.style.setProperty("--gen3-ar", `${w} / ${h}`);
    this.el.style.setProperty("--gen3-ratio", String(w / h));
    const before = this.key();
    this.clip = clip;
    if (poster) {
      if (this.video.getAttribute("poster") !== poster) this.video.poster = poster;
    } else if (this.video.hasAttribute("poster")) {
      this.video.removeAttribute("poster");
    }
    this.el.dataset.empty = clip ? "" : "yes";
    if (this.key() !== before) this.release();
    if (this.visibility.isVisible(this.el)) this.load();
  }

  setFull(full) {
    if (this.full === full) return;
    this.release();
    this.full = full;
    if (this.visibility.isVisible(this.el)) this.load();
  }

  setNote(text) {
    setText(this.note, text);
    show(this.note, Boolean(text));
  }

  setProgress(fraction) {
    const running = fraction !== null && fraction !== undefined;
    show(this.bar, running);
    if (running) this.fill.style.transform = `scaleX(${Math.min(1, Math.max(0, fraction)).toFixed(3)})`;
  }

  get loaded() {
    return this.loadedKey !== null && this.video.readyState >= 1;
  }

  async load() {
    const key = this.key();
    if (!key || this.loadedKey === key || this.wanted === key) return;
    this.wanted = key;
    let url;
    try {
      url = await this.clips.acquire(key);
    } catch (error) {
      if (this.wanted === key) {
        this.wanted = null;
        this.setNote(`The video could not be loaded: ${error.message}`);
      }
      return;
    }
    if (this.wanted !== key) {
      this.clips.release(key); // released or changed meanwhile
      return;
    }
    this.wanted = null;
    this.loadedKey = key;
    this.setNote("");
    this.video.src = url;
  }

  release() {
    this.wanted = null;
    if (this.loadedKey === null) return;
    const key = this.loadedKey;
    this.loadedKey = null;
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    this.clips.release(key);
  }

  dispose() {
    this.visibility.unwatch(this.el);
    this.release();
  }
}

// -- playing many videos as one ------------------------------------------------------------

/** Play, pause, seek, step and loop a set of players together. */
export class SyncGroup {
  constructor(onTime) {
    this.players = new Set();
    this.playing = false;
    this.loop = true;
    this.time = 0;
    this.fps = 24;
    this.onTime = onTime;
    this.raf = 0;
  }

  add(player) {
    this.players.add(player);
  }

  remove(player) {
    this.players.delete(player);
  }

  ready() {
    return [...this.players].filter((p) => p.loaded).map((p) => p.video);
  }

  duration() {
    const lengths = this.ready()
      .map((v) => v.duration)
      .filter((d) => isFinite(d) && d > 0);
    return lengths.length ? Math.max(...lengths) : 0;
  }

  leader() {
    const videos = this.ready();
    let best = null;
    for (const v of videos) if (!best || v.duration > best.duration) best = v;
    return best;
  }

  /** Put every ready video at the group's time (after loading, seeking, pausing). */
  align() {
    for (const v of this.ready()) {
      v.loop = this.loop;
      const want = targetTime(this.time, v.duration, this.loop);
      if (Math.abs(v.currentTime - want) > 0.5 / this.fps) v.currentTime = want;
    }
  }

  play() {
    this.playing = true;
    this.align();
    for (const v of this.ready()) {
      v.playbackRate = 1;
      const started = v.play();
      if (started) started.catch(() => {});
    }
    this.tick();
  }

  pause() {
    this.playing = false;
    const leader = this.leader();
    if (leader) this.time = leader.currentTime;
    for (const v of this.ready()) {
      v.pause();
      v.playbackRate = 1;
    }
    this.align();
    this.report();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  restart() {
    this.time = 0;
    this.align();
    this.play();
  }

  seek(t) {
    const length = this.duration();
    this.time = Math.max(0, length ? Math.min(t, length) : t);
    for (const v of this.ready()) v.currentTime = targetTime(this.time, v.duration, this.loop);
    this.report();
  }

  step(frames) {
    if (this.playing) this.pause();
    this.seek(frameTime(frameAt(this.time, this.fps) + frames, this.fps));
  }

  setLoop(loop) {
    this.loop = loop;
    for (const v of this.ready()) v.loop = loop;
  }

  /** A newly loaded player joins at the group's time, playing if the group plays. */
  joined(player) {
    const v = player.video;
    v.loop = this.loop;
    v.currentTime = targetTime(this.time, v.duration, this.loop);
    if (this.playing) {
      const started = v.play();
      if (started) started.catch(() => {});
    }
    this.report();
  }

  tick() {
    cancelAnimationFrame(this.raf);
    if (!this.playing) return;
    const leader = this.leader();
    if (leader) {
      this.time = leader.currentTime;
      for (const v of this.ready()) {
        if (v === leader) continue;
        const want = targetTime(this.time, v.duration, this.loop);
        const drift = v.currentTime - want;
        if (!this.loop && this.time >= v.duration) continue; // it ended: stays on its last frame
        if (Math.abs(drift) > HARD_SYNC_S) {
          v.currentTime = want;
          v.playbackRate = 1;
        } else {
          v.playbackRate = nudgedRate(drift);
        }
        if (v.paused) {
          const started = v.play();
          if (started) started.catch(() => {});
        }
      }
      if (!this.loop && leader.ended) {
        this.playing = false;
        this.report();
        return;
      }
    }
    this.report();
    this.raf = requestAnimationFrame(() => this.tick());
  }

  report() {
    if (this.onTime) this.onTime(this.time, this.duration(), this.playing);
  }

  dispose() {
    cancelAnimationFrame(this.raf);
    this.players.clear();
  }
}

// -- the pieces of a view ---------------------------------------------------------------------

function chip() {
  return node("span", "gen3-chip");
}

function setChip(n, text, tone) {
  setText(n, text);
  n.dataset.tone = tone || "idle";
}

/** True when `n` already shows `value` (remembered on the node): no DOM work then. */
function unchanged(n, value) {
  const key = JSON.stringify(value === undefined ? null : value);
  if (n.gen3Shown === key) return true;
  n.gen3Shown = key;
  return false;
}

/** The info toggle's details: a definition list of [label, value] rows. */
function setDetails(dl, rows) {
  if (unchanged(dl, rows)) return;
  dl.replaceChildren();
  for (const [label, value] of rows || []) {
    dl.append(node("dt", "", label), node("dd", "", value));
  }
}

function setMessage(box, lines, link) {
  if (unchanged(box, [lines, link])) return;
  box.replaceChildren();
  for (const line of lines || []) box.append(node("div", "", line));
  if (link) {
    box.append(node("div", "", "The video is still at this link (it expires within a day):"));
    box.append(safeLink(link));
  }
  show(box, Boolean((lines && lines.length) || link));
}

/** "Fetch again": follow a bought video that did not arrive (free: nothing is bought). */
function fetchButton(onClick) {
  const b = button("Fetch again", "Follow the bought video again: free, nothing is bought", () => {
    b.disabled = true;
    onClick();
  }, "gen3-small");
  b.hidden = true;
  return b;
}

function showFetch(b, can) {
  if (b.hidden === !can) return;
  show(b, Boolean(can));
  b.disabled = false;
}

/**
 * Buttons the kernel asks for: [{name, label, title, primary, args}], each sending the action
 * `name` (with `args`): a clicked button stays off until the kernel next redraws the view.
 */
function setButtons(box, buttons, act) {
  if (unchanged(box, buttons)) {
    for (const b of box.children) b.disabled = false; // the kernel has answered the click
    return;
  }
  box.replaceChildren(
    ...(buttons || []).map((spec) => {
      const b = button(spec.label, spec.title || "", () => {
        b.disabled = true;
        act(spec.name, spec.args || {});
      }, spec.primary ? "gen3-small gen3-primary" : "gen3-small");
      return b;
    }),
  );
  show(box, Boolean(buttons && buttons.length));
}

function noticeBox() {
  return node("div", "gen3-notice");
}

function setNotice(box, notice) {
  setText(box, notice && notice.text);
  box.dataset.tone = (notice && notice.tone) || "idle";
  show(box, Boolean(notice && notice.text));
}

function frameNote(cell) {
  if (cell.clip && !cell.clip.ready) return "preparing…";
  if (cell.clip) return "";
  if (cell.running) return cell.chip;
  return cell.tone === "idle" ? "" : cell.chip;
}

// -- the card: one job, full resolution --------------------------------------------------------

function renderCard(model, el, clips, visibility) {
  const root = node("div", "gen3 gen3-card");
  const head = node("div", "gen3-cardhead");
  const title = node("div", "gen3-title");
  const status = chip();
  const info = button("icon:info", "Details", () => show(details, details.hidden), "gen3-icon");
  head.append(title, status, info);
  const player = new Player({ clips, visibility, full: true, controls: true });
  const details = node("dl", "gen3-info");
  details.hidden = true;
  const message = node("div", "gen3-message");
  const fetch = fetchButton(() => model.send({ type: "action", name: "fetch" }));
  const extra = node("div", "gen3-rerun");
  const notice = noticeBox();
  root.append(head, player.el, details, message, fetch, extra, notice);
  el.append(root);

  const update = () => {
    const view = model.get("view") || {};
    setText(title, view.title);
    show(title, Boolean(view.title));
    setChip(status, view.chip, view.tone);
    show(root, Boolean(view.bound));
    const clip = view.clip || null;
    const posters = model.get("posters") || {};
    player.set(clip, clip && clip.poster ? posters[clip.id] : null);
    show(player.el, Boolean(clip) || Boolean(view.running));
    player.setNote(frameNote(view));
    player.setProgress(view.running ? view.progress : null);
    setDetails(details, view.details);
    setMessage(message, view.message, view.link);
    showFetch(fetch, view.can_fetch);
    setButtons(extra, view.buttons, (name, args) => model.send({ type: "action", name, ...args }));
    setNotice(notice, model.get("notice"));
  };
  const onCommand = (msg) => {
    if (!msg || msg.type !== "command") return;
    if (msg.name === "pause") player.video.pause();
    else {
      if (msg.name === "restart") player.video.currentTime = 0;
      const started = player.video.play();
      if (started) started.catch(() => {});
    }
  };
  const events = ["change:view", "change:posters", "change:notice"];
  for (const e of events) model.on(e, update);
  model.on("msg:custom", onCommand);
  update();
  return () => {
    for (const e of events) model.off(e, update);
    model.off("msg:custom", onCommand);
    player.dispose();
  };
}

// -- the grid: every cell in step -------------------------------------------------------------

class GridCellView {
  constructor(grid, index) {
    this.grid = grid;
    this.index = index;
    this.el = node("div", "gen3-cell");
    this.player = new Player({
      clips: grid.clips,
      visibility: grid.visibility,
      onLoaded: (p) => grid.sync.joined(p),
    });
    grid.sync.add(this.player);
    this.player.video.addEventListener("click", () => grid.sync.toggle());
    const bar = node("div", "gen3-cellbar");
    this.label = node("span", "gen3-label");
    this.modelName = node("span", "gen3-model");
    this.status = chip();
    this.star = button("icon:starOutline", "Mark as a favourite", () => this.act("star", { value: !this.data.favorite }), "gen3-icon");
    this.expand = button("icon:expand", "Open full size", () => grid.openSingle(this.index), "gen3-icon");
    this.infoButton = button("icon:info", "Details", () => show(this.info, this.info.hidden), "gen3-icon");
    const tools = node("span", "gen3-tools");
    tools.append(this.star, this.expand, this.infoButton);
    bar.append(this.label, this.modelName, this.status, tools);
    this.rerun = node("div", "gen3-rerun");
    this.tenS = button("10\u00a0s", "Re-run this cell as a 10 s clip (shows the cost first)", () => this.act("ask", { kind: "ten_s" }), "gen3-small");
    this.lastFrame = button("+ last frame", "Re-run this cell ending on a frame you choose (shows the cost first)", () => this.act("ask", { kind: "last_frame" }), "gen3-small");
    this.fetch = fetchButton(() => this.act("fetch"));
    this.extra = node("span", "gen3-extra");
    this.rerun.append(this.tenS, this.lastFrame, this.fetch, this.extra);
    this.pending = node("div", "gen3-pending");
    this.pending.hidden = true;
    this.info = node("dl", "gen3-info");
    this.info.hidden = true;
    this.message = node("div", "gen3-message");
    this.el.append(this.player.el, bar, this.rerun, this.pending, this.info, this.message);
    this.data = {};
    this.pendingKind = null;
  }

  act(name, extra = {}) {
    this.grid.act(name, { cell: this.index, ...extra });
  }

  update(data, posters, header) {
    this.data = data;
    const clip = data.clip || null;
    this.player.set(clip, clip && clip.poster ? posters[clip.id] : null, this.grid.ratio);
    this.player.setNote(frameNote(data));
    this.player.setProgress(data.running ? data.progress : null);
    setText(this.label, data.label);
    this.label.title = data.label || "";
    const otherModel = header.model && data.model && data.model !== header.model;
    setText(this.modelName, otherModel ? data.model : "");
    show(this.modelName, Boolean(otherModel));
    setChip(this.status, data.chip, data.tone);
    this.el.dataset.tone = data.tone || "idle";
    setIcon(this.star, data.favorite ? "star" : "starOutline");
    this.star.classList.toggle("gen3-on", Boolean(data.favorite));
    this.star.setAttribute("aria-pressed", data.favorite ? "true" : "false");
    this.expand.disabled = !clip;
    show(this.tenS, Boolean(data.can_ten_s));
    show(this.lastFrame, Boolean(data.can_last_frame));
    showFetch(this.fetch, data.can_fetch);
    setButtons(this.extra, data.buttons, (name, args) => this.act(name, args));
    const extra = Boolean(data.buttons && data.buttons.length);
    show(this.rerun, Boolean(data.can_ten_s || data.can_last_frame || data.can_fetch || extra));
    this.renderPending(data.pending);
    setDetails(this.info, data.details);
    setMessage(this.message, data.message, data.link);
  }

  renderPending(pending) {
    const key = pending ? JSON.stringify(pending) : null;
    if (key === this.pendingKind) return;
    this.pendingKind = key;
    this.pending.replaceChildren();
    show(this.pending, Boolean(pending));
    if (!pending) return;
    this.pending.append(node("div", "gen3-pending-text", pending.text));
    if (pending.problem) this.pending.append(node("div", "gen3-problem", pending.problem));
    if (pending.kind === "last_frame") {
      const file = node("input", "gen3-file");
      file.type = "file";
      file.accept = ".png,.jpg,.jpeg,.webp";
      file.addEventListener("change", async () => {
        const chosen = file.files && file.files[0];
        if (chosen) this.grid.act("image", { cell: this.index }, [await chosen.arrayBuffer()]);
      });
      const url = node("input", "gen3-url");
      url.type = "url";
      url.placeholder = "https://… image URL";
      url.addEventListener("change", () => this.act("image", { url: url.value }));
      const row = node("div", "gen3-row");
      row.append(file, url);
      this.pending.append(row);
    }
    const buttons = node("div", "gen3-row");
    const buy = button("Buy", "Buy this re-run", () => {
      buy.disabled = true; // one click, one purchase
      this.act("confirm");
    }, "gen3-primary");
    buy.disabled = !pending.ready;
    buttons.append(buy, button("Cancel", "Keep the cell as it is", () => this.act("cancel")));
    this.pending.append(buttons);
  }

  dispose() {
    this.grid.sync.remove(this.player);
    this.player.dispose();
  }
}

class GridView {
  constructor(model, el, clips, visibility) {
    this.model = model;
    this.clips = clips;
    this.visibility = visibility;
    this.cells = [];
    this.ratio = null;
    this.root = node("div", "gen3 gen3-grid");
    this.sync = new SyncGroup((t, length, playing) => this.showTime(t, length, playing));
    this.buildHead();
    this.buildToolbar();
    this.buildStage();
    this.body = node("div", "gen3-cells");
    this.root.append(this.body);
    el.append(this.root);
    this.update = () => this.render();
    this.onCommand = (msg) => this.command(msg);
    this.events = ["change:header", "change:cell_views", "change:posters", "change:notice"];
    for (const e of this.events) model.on(e, this.update);
    model.on("msg:custom", this.onCommand);
    this.render();
  }

  act(name, extra = {}, buffers = undefined) {
    this.model.send({ type: "action", name, ...extra }, undefined, buffers);
  }

  buildHead() {
    const head = node("div", "gen3-head");
    this.title = node("div", "gen3-title");
    this.cost = node("div", "gen3-cost");
    const left = node("div", "gen3-headtext");
    left.append(this.title, this.cost);
    this.generate = button("Generate", "Buy every cell at once", () => {
      this.generate.disabled = true; // the kernel also refuses a second purchase
      this.act("generate");
    }, "gen3-primary");
    this.retry = button("Retry failed", "Buy again only the cells that failed", () => this.act("retry"));
    this.status = chip();
    this.headButtons = node("span", "gen3-extra");
    head.append(left, this.status, this.headButtons, this.retry, this.generate);
    this.simulated = node("div", "gen3-simulated");
    this.problems = node("ul", "gen3-problems");
    this.notice = noticeBox();
    this.root.append(head, this.simulated, this.problems, this.notice);
  }

  buildToolbar() {
    const bar = node("div", "gen3-toolbar");
    this.playButton = button("icon:play", "Play all", () => this.sync.toggle(), "gen3-icon");
    const restart = button("icon:restart", "Restart all", () => this.sync.restart(), "gen3-icon");
    const back = button("icon:previous", "Previous frame", () => this.sync.step(-1), "gen3-icon");
    const forward = button("icon:next", "Next frame", () => this.sync.step(1), "gen3-icon");
    this.loopButton = button("icon:loop", "Loop", () => {
      this.sync.setLoop(!this.sync.loop);
      this.loopButton.classList.toggle("gen3-on", this.sync.loop);
      this.loopButton.setAttribute("aria-pressed", String(this.sync.loop));
    }, "gen3-icon gen3-on");
    this.loopButton.setAttribute("aria-pressed", "true");
    this.scrub = node("input", "gen3-scrub");
    this.scrub.type = "range";
    this.scrub.min = "0";
    this.scrub.max = "0";
    this.scrub.step = "any";
    this.scrub.value = "0";
    this.scrub.setAttribute("aria-label", "Position of every video");
    let resume = false;
    this.scrub.addEventListener("pointerdown", () => {
      resume = this.sync.playing;
      if (resume) this.sync.pause();
    });
    this.scrub.addEventListener("input", () => this.sync.seek(Number(this.scrub.value)));
    this.scrub.addEventListener("change", () => {
      this.sync.seek(Number(this.scrub.value));
      if (resume) this.sync.play();
      resume = false;
    });
    this.time = node("span", "gen3-time", clock(0));
    this.pickA = node("select", "gen3-pick");
    this.pickB = node("select", "gen3-pick");
    this.pickA.setAttribute("aria-label", "A: the left side of the wipe");
    this.pickB.setAttribute("aria-label", "B: the right side of the wipe");
    this.wipeButton = button("A|B", "A/B wipe between two cells", () => this.toggleWipe(), "gen3-small");
    const ab = node("span", "gen3-ab");
    ab.append(node("span", "gen3-muted", "A"), this.pickA, node("span", "gen3-muted", "B"), this.pickB, this.wipeButton);
    bar.append(this.playButton, restart, back, forward, this.loopButton, this.scrub, this.time, ab);
    this.toolbar = bar;
    this.root.append(bar);
  }

  buildStage() {
    this.stage = node("div", "gen3-stage");
    this.stage.hidden = true;
    const head = node("div", "gen3-stagehead");
    this.stageTitle = node("span", "gen3-label");
    const fullscreen = button("icon:expand", "Full screen", () => {
      const target = this.stageBox;
      if (target.requestFullscreen) target.requestFullscreen().catch(() => {});
    }, "gen3-icon");
    const close = button("icon:close", "Close", () => this.closeStage(), "gen3-icon");
    head.append(this.stageTitle, node("span", "gen3-spacer"), fullscreen, close);
    this.stageBox = node("div", "gen3-stagebox");
    const joined = (p) => this.sync.joined(p);
    this.single = new Player({ clips: this.clips, visibility: this.visibility, full: true, controls: false, onLoaded: joined });
    this.wipeB = new Player({ clips: this.clips, visibility: this.visibility, full: true, onLoaded: joined });
    this.wipeA = new Player({ clips: this.clips, visibility: this.visibility, full: true, onLoaded: joined });
    this.wipeA.el.classList.add("gen3-wipe-a");
    this.handle = node("div", "gen3-wipe-handle");
    this.split = node("input", "gen3-split");
    this.split.type = "range";
    this.split.min = "0";
    this.split.max = "100";
    this.split.value = "50";
    this.split.setAttribute("aria-label", "Where A ends and B begins");
    this.split.addEventListener("input", () => this.setSplit(Number(this.split.value)));
    this.wipe = node("div", "gen3-wipe");
    this.wipe.append(this.wipeB.el, this.wipeA.el, this.handle);
    this.wipe.addEventListener("pointermove", (event) => {
      if (event.buttons !== 1) return;
      const box = this.wipe.getBoundingClientRect();
      this.setSplit(((event.clientX - box.left) / box.width) * 100);
    });
    this.stageBox.append(this.single.el, this.wipe);
    this.stage.append(head, this.stageBox, this.split);
    this.root.append(this.stage);
    this.stageMode = null; // null, {single: index}, {a: index, b: index}
    this.setSplit(50);
  }

  setSplit(percent) {
    const p = Math.max(0, Math.min(100, percent));
    this.wipe.style.setProperty("--gen3-split", `${p}%`);
    this.split.value = String(p);
  }

  openSingle(index) {
    this.stageMode = { single: index };
    this.renderStage();
  }

  toggleWipe() {
    if (this.stageMode && "a" in this.stageMode) {
      this.closeStage();
      return;
    }
    const a = Number(this.pickA.value);
    const b = Number(this.pickB.value);
    if (!(a >= 0) || !(b >= 0)) return;
    this.stageMode = { a, b };
    this.renderStage();
  }

  closeStage() {
    this.stageMode = null;
    this.renderStage();
  }

  renderStage() {
    const mode = this.stageMode;
    const views = this.model.get("cell_views") || [];
    const posters = this.model.get("posters") || {};
    const put = (player, index) => {
      const data = views[index];
      const clip = (data && data.clip) || null;
      player.set(clip, clip && clip.poster ? posters[clip.id] : null, this.ratio);
      if (clip) this.sync.add(player);
      else this.sync.remove(player);
    };
    const off = (player) => {
      this.sync.remove(player);
      player.set(null, null, this.ratio);
    };
    show(this.stage, Boolean(mode));
    const single = Boolean(mode && "single" in mode);
    const wipe = Boolean(mode && "a" in mode);
    show(this.single.el, single);
    show(this.wipe, wipe);
    show(this.split, wipe);
    this.wipeButton.classList.toggle("gen3-on", wipe);
    if (single) {
      put(this.single, mode.single);
      setText(this.stageTitle, `${(views[mode.single] || {}).label || ""} · full resolution`);
    } else off(this.single);
    if (wipe) {
      const [w, h] = this.ratio || [5, 3];
      this.wipe.style.setProperty("--gen3-ratio", String(w / h));
      put(this.wipeA, mode.a);
      put(this.wipeB, mode.b);
      const label = (i) => (views[i] || {}).label || "";
      setText(this.stageTitle, `A: ${label(mode.a)} | B: ${label(mode.b)}`);
    } else {
      off(this.wipeA);
      off(this.wipeB);
    }
  }

  command(msg) {
    if (!msg || msg.type !== "command") return;
    if (msg.name === "play") this.sync.play();
    else if (msg.name === "pause") this.sync.pause();
    else if (msg.name === "restart") this.sync.restart();
  }

  showTime(t, length, playing) {
    this.scrub.max = String(length || 0);
    if (document.activeElement !== this.scrub || playing) this.scrub.value = String(t);
    setText(this.time, `${clock(t)} / ${clock(length)}`);
    setIcon(this.playButton, playing ? "pause" : "play");
    this.playButton.title = playing ? "Pause all" : "Play all";
    this.playButton.setAttribute("aria-label", this.playButton.title);
  }

  layout(header, count) {
    const columns = Math.max(1, header.columns || 1);
    this.body.style.setProperty("--gen3-columns", String(columns));
    this.body.classList.toggle("gen3-matrix", Boolean(header.matrix));
    if (this.cells.length === count && this.laidOut === JSON.stringify([header.matrix, header.rows, header.seeds])) return;
    this.laidOut = JSON.stringify([header.matrix, header.rows, header.seeds]);
    for (const cell of this.cells) cell.dispose();
    this.cells = [];
    this.body.replaceChildren();
    for (let i = 0; i < count; i++) this.cells.push(new GridCellView(this, i));
    if (!header.matrix) {
      for (const cell of this.cells) this.body.append(cell.el);
      return;
    }
    const seeds = header.seeds || [];
    this.body.append(node("div", "gen3-corner"));
    for (const seed of seeds) this.body.append(node("div", "gen3-colhead", `seed ${seed}`));
    (header.rows || []).forEach((prompt, r) => {
      const label = node("div", "gen3-rowlabel", prompt || "(no prompt)");
      label.title = prompt || "";
      this.body.append(label);
      for (let c = 0; c < seeds.length; c++) {
        const cell = this.cells[r * seeds.length + c];
        if (cell) this.body.append(cell.el);
      }
    });
  }

  render() {
    const header = this.model.get("header") || {};
    const views = this.model.get("cell_views") || [];
    const posters = this.model.get("posters") || {};
    setText(this.title, header.title);
    this.title.title = header.title || "";
    setText(this.cost, header.cost);
    this.generate.disabled = !header.can_generate;
    this.generate.title = header.generate_title || "Buy every cell at once";
    show(this.retry, Boolean(header.can_retry));
    setButtons(this.headButtons, header.buttons, (name, args) => this.act(name, args));
    setChip(this.status, header.status, header.status_tone);
    show(this.status, Boolean(header.status));
    setText(this.simulated, header.simulated);
    show(this.simulated, Boolean(header.simulated));
    if (!unchanged(this.problems, header.problems)) {
      this.problems.replaceChildren(...(header.problems || []).map((line) => node("li", "", line)));
    }
    show(this.problems, Boolean(header.problems && header.problems.length));
    setNotice(this.notice, this.model.get("notice"));
    const first = views.find((v) => v.clip);
    this.ratio = header.ratio || (first ? [first.clip.width, first.clip.height] : null);
    if (first && first.clip.fps) this.sync.fps = first.clip.fps;
    this.layout(header, views.length);
    views.forEach((data, i) => this.cells[i] && this.cells[i].update(data, posters, header));
    show(this.toolbar, views.some((v) => v.clip));
    this.renderPicks(views);
    if (this.stageMode) this.renderStage();
  }

  renderPicks(views) {
    const options = views
      .filter((v) => v.clip)
      .map((v) => [String(v.index), v.label + rowSuffix(v, this.model)]);
    const key = JSON.stringify(options);
    if (key === this.picks) return;
    this.picks = key;
    for (const [select, fallback] of [
      [this.pickA, 0],
      [this.pickB, 1],
    ]) {
      const keep = select.value;
      select.replaceChildren(
        ...options.map(([value, label]) => {
          const option = node("option", "", label);
          option.value = value;
          return option;
        }),
      );
      const values = options.map(([value]) => value);
      select.value = values.includes(keep) ? keep : values[Math.min(fallback, values.length - 1)] || "";
    }
    if (this.pickA.value === this.pickB.value && options.length > 1) {
      this.pickB.value = options.find(([value]) => value !== this.pickA.value)[0];
    }
    this.wipeButton.disabled = options.length < 2;
  }

  dispose() {
    for (const e of this.events) this.model.off(e, this.update);
    this.model.off("msg:custom", this.onCommand);
    for (const cell of this.cells) cell.dispose();
    for (const player of [this.single, this.wipeA, this.wipeB]) player.dispose();
    this.sync.dispose();
  }
}

/** In a prompts × seeds matrix, the row's place: " · prompt 2". */
function rowSuffix(view, model) {
  const header = model.get("header") || {};
  return header.matrix ? ` · prompt ${view.row + 1}` : "";
}

export default {
  render({ model, el }) {
    const clips = new ClipSource(model);
    const visibility = new Visibility();
    let stop;
    if (model.get("kind") === "grid") {
      const grid = new GridView(model, el, clips, visibility);
      stop = () => grid.dispose();
    } else {
      stop = renderCard(model, el, clips, visibility);
    }
    return () => {
      stop();
      visibility.dispose();
      clips.dispose();
    };
  },
};
