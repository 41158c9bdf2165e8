// matte page controller: UI shell, model download, start-up orchestration.
//
// Start-up runs three things at once: the UI shell (this file, shown immediately), the model
// download + session creation (onnxruntime-web, via bridge.js), and Python (PyScript loads
// Pyodide, numpy, Pillow and the matte package, then fires `matte:py-ready`). Pixels live in
// Python; this file moves only the dropped file's bytes in and the encoded download out.

import * as bridge from "./bridge.js";
import { createEditor } from "./editor.js";
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
window.matteBridge = bridge; // Python (matte.web) calls run() through this
const STORAGE_KEY = "matte.model";
const PY_TIMEOUT_MS = 180_000;

const state = {
  caps: null,
  catalog: null, // {default, models: [...]}
  modelId: null,
  sessions: new Map(), // model id -> Promise<{backend}>
  busy: false,
  hasResult: false,
  queue: null,
  fileName: null,
  timings: {},
  t0: performance.now(),
};
window.matteApp = state; // read by tests and benchmarks

// ---------------------------------------------------------------------------------------------
// Small UI helpers (textContent only: file names are user-controlled text)

function setState(s) {
  document.body.dataset.state = s;
}

function status(text) {
  $("status-line").textContent = text;
}

// Messages are toasts in a fixed layer (.toasts): they never move the editor. A notice fades
// out by itself (longer when it offers an action); an error stays until it is dismissed.
function showError(message) {
  $("error-text").textContent = message;
  $("error").classList.remove("fading");
  $("error").hidden = false;
  document.body.dataset.error = message;
}

function clearError() {
  $("error").hidden = true;
  $("error-retry").hidden = true;
  delete document.body.dataset.error;
}

let noticeTimer = null;
/** Show a transient message; `actions`: [{label, id?, onClick}] buttons in the toast. */
function notice(message, { actions = [], ms } = {}) {
  const el = $("notice");
  clearTimeout(noticeTimer);
  $("notice-text").textContent = message;
  const box = $("notice-actions");
  box.replaceChildren(...actions.map((a) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button small";
    if (a.id) b.id = a.id;
    b.textContent = a.label;
    b.addEventListener("click", a.onClick);
    return b;
  }));
  el.classList.remove("fading");
  el.hidden = !message;
  if (!message) return;
  const life = ms ?? (actions.length ? 15_000 : 6_000) + message.length * 30;
  noticeTimer = setTimeout(dismissNotice, life);
}

function dismissNotice() {
  const el = $("notice");
  clearTimeout(noticeTimer);
  if (el.hidden) return;
  el.classList.add("fading");
  noticeTimer = setTimeout(() => { el.hidden = true; el.classList.remove("fading"); }, 400);
}

// The progress card over the photo: what runs now, with a bar for that step only.
function progress(text, fraction, meta = "") {
  $("busy-text").textContent = text;
  $("busy-meta").textContent = meta;
  bar(fraction);
}

/** Show the dropped photo at once: the browser decodes it from the file (off the main thread,
 * scaled to the stage), before Python has it. A canvas, not a blob: URL, so nothing that looks
 * like a request is made. */
let photoToken = 0;
let photoShown = Promise.resolve(); // settles once the photo is on screen (or cannot be)
function showPhoto(file) {
  const c = $("photo");
  const token = ++photoToken;
  delete c.dataset.drawn;
  c.getContext("2d").clearRect(0, 0, c.width, c.height);
  c.hidden = false;
  $("stage").classList.add("processing");
  $("imgbox").hidden = true;
  $("canvas").hidden = true;
  $("crop-frame").hidden = true;
  $("busy").hidden = false;
  document.body.dataset.photo = "1";
  const stage = $("stage");
  const px = Math.min(2560, Math.round(Math.max(stage.clientWidth, stage.clientHeight) * (window.devicePixelRatio || 1)));
  // one decode, scaled to the stage's pixels as it decodes (the height keeps the aspect)
  photoShown = createImageBitmap(file, { resizeWidth: px, resizeQuality: "medium" }).then((bmp) => {
    if (token === photoToken && !c.hidden) {
      c.width = bmp.width;
      c.height = bmp.height;
      c.getContext("2d").drawImage(bmp, 0, 0);
      c.dataset.drawn = "1";
    }
    bmp.close();
    // settled after the frame that paints it: a main-thread decode started then cannot delay it
    return new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  }).catch(() => { /* a format the browser cannot show: the progress card stays alone */ });
}

/** Wait until the dropped photo is painted, at most `ms`: Python's decode blocks the main
 * thread, so it starts after the browser's own (off-thread) decode has drawn the photo. */
function photoPainted(ms = 250) {
  return Promise.race([photoShown, new Promise((r) => setTimeout(r, ms))]);
}

function hidePhoto() {
  photoToken += 1;
  $("photo").hidden = true;
  $("stage").classList.remove("processing");
  $("imgbox").hidden = false;
  $("canvas").hidden = false;
  $("busy").hidden = true;
  delete document.body.dataset.photo;
}

function step(name, cls, meta) {
  const li = document.querySelector(`#steps li[data-step="${name}"]`);
  if (!li) return;
  if (cls !== undefined) {
    li.classList.remove("active", "done", "failed");
    if (cls) li.classList.add(cls);
  }
  if (meta !== undefined) $(`step-${name}`).textContent = meta;
}

// The busy indicators' motion: a --tick counter on the root, about 4 steps a second while one
// shows (see style.css: no 60 fps CSS animation competes with the model for the CPU). No
// motion with prefers-reduced-motion.
const still = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
let ticks = 0;
setInterval(() => {
  if (document.hidden || (still && still.matches)) return;
  if ($("busy").hidden && $("stage-chip").hidden) return;
  ticks = (ticks + 1) % 8;
  document.documentElement.style.setProperty("--tick", String(ticks));
}, 250);

function bar(fraction) {
  const el = $("bar");
  if (fraction == null) {
    el.classList.add("indeterminate");
    el.style.width = "";
  } else {
    el.classList.remove("indeterminate");
    el.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  }
}

const mb = (n) => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
const mbNum = (n) => (n / 1e6).toFixed(n < 1e7 ? 1 : 0);
/** A file size the way people read it: 410 KB, 3.2 MB. */
const size = (n) => (n < 1e6 ? `${Math.max(1, Math.round(n / 1e3))} KB` : mb(n));
const shortLabel = (id) => modelInfo(id).label.split(" (")[0];
const downloadText = (id) => (state.firstDownload
  ? `Downloading the AI model (${shortLabel(id)}), once`
  : `Downloading the AI model (${shortLabel(id)})`);
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

function emit(stage, detail = {}) {
  window.dispatchEvent(new CustomEvent("matte:stage", { detail: { stage, ...detail } }));
}

// ---------------------------------------------------------------------------------------------
// Python readiness

/** "webgpu" unless the user chose WASM (?backend=wasm, or remembered in localStorage). */
function preferredBackend() {
  const asked = new URLSearchParams(location.search).get("backend");
  if (asked === "wasm" || asked === "webgpu") return asked;
  return localStorage.getItem("matte.backend") === "wasm" ? "wasm" : "webgpu";
}

window.addEventListener("matte:backend", (e) => { // WebGPU failed during a run: now WASM
  state.backend = e.detail.backend;
  $("backend").textContent = backendText(e.detail.backend);
});

const pyReady = new Promise((resolve, reject) => {
  if (window.mattePy) resolve(window.mattePy);
  window.addEventListener("matte:py-ready", () => resolve(window.mattePy), { once: true });
  // main.py reports a failed start-up on this event; surface it instead of waiting forever.
  window.addEventListener("matte:py-failed", (e) => reject(new Error(String(e.detail))));
  setTimeout(() => reject(new Error("Python did not start within 3 minutes.")), PY_TIMEOUT_MS);
});
pyReady.then(() => {
  state.timings.pythonReady = performance.now() - state.t0;
  step("python", "done", secs(state.timings.pythonReady));
  emit("start:python-ready");
}, (err) => {
  step("python", "failed", "");
  showError(`Python could not start: ${err.message} Reload the page to try again.`);
});

window.addEventListener("matte:progress", (e) => {
  const { stage, detail } = e.detail;
  emit(stage, detail ? { phase: detail } : {}); // phase: "preview" or "final" for model runs
});

// ---------------------------------------------------------------------------------------------
// Models: manifest, download with progress and hash check, session

async function loadCatalog() {
  const resp = await fetch("./models/models.json");
  if (!resp.ok) throw new Error(`models/models.json: HTTP ${resp.status}`);
  const catalog = await resp.json();
  // a fusion (kind "fusion", e.g. "best") has no file: it runs its edges model (ISNet) as its
  // session and reuses its preview's output (u2netp); size and license are its members'
  for (const f of catalog.models.filter((m) => m.kind === "fusion")) {
    const members = Object.values(f.members).map((id) => catalog.models.find((m) => m.id === id));
    f.bytes = members.reduce((sum, m) => sum + m.bytes, 0);
    f.license = members.map((m) => m.license).join(" + ");
    f.license_note = members.map((m) => m.license_note).join(" ");
  }
  return catalog;
}

function modelInfo(id) {
  return state.catalog.models.find((m) => m.id === id);
}

/** The model file whose session runs a model's final stage: a fusion's edges member. */
function fileModelId(id) {
  const info = modelInfo(id);
  return info && info.kind === "fusion" ? info.members.edges : id;
}

async function sha256Hex(bytes) {
  if (!globalThis.crypto || !crypto.subtle) return null; // not a secure context: size check only
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchModel(info, onProgress) {
  const url = `./models/${info.file}`;
  const resp = await fetch(url);
  if (!resp.ok) {
    throw new Error(`The model file ${info.file} could not be loaded (HTTP ${resp.status}). `
      + "Rebuild the site with `python build.py build`.");
  }
  const buf = new Uint8Array(info.bytes);
  let got = 0;
  const reader = resp.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > info.bytes) {
      throw new Error(`The model file ${info.file} is larger than the manifest says `
        + `(${info.bytes} bytes): the site is out of date. Rebuild it.`);
    }
    buf.set(value, got);
    got += value.length;
    onProgress(got, info.bytes);
  }
  if (got !== info.bytes) {
    throw new Error(`The model file ${info.file} is truncated (${got} of ${info.bytes} bytes). `
      + "Reload the page; if it persists, rebuild the site.");
  }
  const hex = await sha256Hex(buf);
  if (hex !== null && hex !== info.sha256) {
    throw new Error(`The model file ${info.file} is corrupt (sha256 ${hex.slice(0, 12)}…, `
      + `expected ${info.sha256.slice(0, 12)}…). Rebuild the site with \`python build.py build\`.`);
  }
  if (hex !== null) keepModelOffline(info, buf, resp); // offline section: cache the verified bytes
  return buf;
}

/** The session of a preview model (the fast model whose mask shows first): loaded quietly
 * beside the chosen model, warmed up with one run so its first real run is not slower. */
function ensurePreviewSession(id) {
  if (state.sessions.has(id)) return state.sessions.get(id);
  const info = modelFile(id, preferredBackend());
  const p = (async () => {
    const bytes = await fetchModel(info, () => {});
    const [h, w] = info.input.size;
    return bridge.createSession(id, bytes, { backend: preferredBackend(), caps: state.caps,
      warmup: { input: info.input.name, dims: [1, 3, h, w] } });
  })();
  p.catch(() => state.sessions.delete(id)); // no preview then; the full run still happens
  state.sessions.set(id, p);
  return p;
}

/** The file to download for a model on this browser: the float32 variant where WebGPU will
 * run it on an adapter without shader-f16 (float16 kernels need it), else the model's own. */
function modelFile(id, backend) {
  const info = modelInfo(id);
  const fp32 = info.variants && info.variants.fp32;
  if (backend === "webgpu" && state.caps.webgpu && !state.caps.shaderF16 && fp32) {
    return { ...info, ...fp32, variant: "fp32" };
  }
  return info;
}

function ensureSession(model) {
  const id = fileModelId(model);
  if (state.sessions.has(id)) return state.sessions.get(id);
  const backend = preferredBackend();
  const info = modelFile(id, backend);
  const p = (async () => {
    const t0 = performance.now();
    step("model", "active", "");
    emit("fetch:model", { model: id });
    const bytes = await fetchModel(info, (got, total) => {
      step("model", undefined, `${mb(got)} / ${mb(total)}`);
      state.download = { id, got, total };
      if (state.waiting === id) progress(downloadText(id), got / total, `${mbNum(got)} of ${mb(total)}`);
      if (state.download.tick !== Math.floor(got / total * 20)) { state.download.tick = Math.floor(got / total * 20); updateChip(); }
    });
    state.download = null;
    state.timings.modelFetch = performance.now() - t0;
    step("model", undefined, "preparing…");
    emit("compute:session", { model: id });
    const t1 = performance.now();
    const entry = await bridge.createSession(id, bytes, {
      backend, caps: state.caps, onNotice: notice,
    });
    state.timings.session = performance.now() - t1;
    state.backend = entry.backend;
    $("backend").textContent = backendText(entry.backend);
    step("model", "done", `${mb(info.bytes)}`);
    emit("ready:model", { model: id, backend: entry.backend });
    return entry;
  })();
  p.catch((err) => {
    state.sessions.delete(id);
    step("model", "failed", "");
    status("The model did not load; drop an image or pick another model to try again.");
    showError(`The model could not be loaded: ${err.message || err}`);
  });
  state.sessions.set(id, p);
  return p;
}

// ---------------------------------------------------------------------------------------------
// The queue: every dropped file becomes an item, processed one at a time while the user edits

let editor = null;
const queue = []; // {key, file, name, pyId, status, error, el}
state.queue = queue;
let queueRunning = false;
let nextKey = 1;

class UserError extends Error {}

function itemByKey(key) {
  return queue.find((q) => q.key === key);
}

function setItemStatus(item, status, text) {
  item.status = status;
  if (!item.el) return;
  item.el.classList.remove("queued", "working", "preview", "done", "failed");
  item.el.classList.add(status);
  item.el.querySelector(".q-status").textContent = text || {
    queued: "Waiting", working: "Working…", preview: "Preview", done: "Done", failed: "Failed" }[status];
  item.el.title = `${item.name}${item.error ? ` — ${item.error}` : ""}`;
  if (item.cell) item.cell.dataset.status = status;
  item.el.setAttribute("aria-label", `${item.name}: ${item.el.querySelector(".q-status").textContent}`
    + `${item.error ? ` (${item.error})` : ""}`);
}

async function makeThumb(item) {
  const cell = document.createElement("div");
  cell.className = "queue-cell";
  const el = document.createElement("button");
  el.type = "button";
  el.className = "queue-item queued";
  const status = document.createElement("span");
  status.className = "q-status";
  el.append(status);
  el.addEventListener("click", () => activate(item));
  const remove = document.createElement("button"); // each item can go, failed ones too
  remove.type = "button";
  remove.className = "q-remove";
  remove.textContent = "✕";
  remove.setAttribute("aria-label", `Remove ${item.name}`);
  remove.title = `Remove ${item.name}`;
  remove.addEventListener("click", () => removeItem(item));
  const pick = document.createElement("input"); // in the zip or not (done images)
  pick.type = "checkbox";
  pick.className = "q-pick";
  pick.checked = true;
  pick.setAttribute("aria-label", `Include ${item.name} in the zip`);
  pick.title = "Include in Download all";
  pick.addEventListener("change", updateQueueVisibility);
  const prev = queue[queue.indexOf(item) - 1];
  if (prev && prev.drop !== item.drop) cell.classList.add("drop-start"); // a new drop
  cell.append(el, pick, remove);
  item.el = el;
  item.cell = cell;
  item.pick = pick;
  $("queue").append(cell);
  setItemStatus(item, item.status || "queued");
  try { // display only: the browser decodes a small thumbnail, no pixels go to Python
    const bmp = await createImageBitmap(item.file, { resizeWidth: 152, resizeQuality: "medium" });
    if (el.querySelector("canvas.cutout")) { bmp.close(); return; }
    const c = document.createElement("canvas");
    c.width = bmp.width;
    c.height = bmp.height;
    c.getContext("2d").drawImage(bmp, 0, 0);
    bmp.close();
    el.prepend(c);
  } catch { /* formats the browser cannot preview still get processed by Python */ }
}

/** Replace an item's thumbnail by its cut-out (Python draws it, edits included). */
function drawCutout(item) {
  if (!item || !item.el || item.pyId == null || !window.mattePy) return;
  const c = document.createElement("canvas");
  const r = window.mattePy.thumbnail(c, item.pyId);
  if (r.error) return;
  c.className = "cutout";
  item.el.querySelectorAll("canvas").forEach((x) => x.remove());
  item.el.prepend(c);
}

/** Remove an item from the batch (not the one whose model run is in flight). */
function removeItem(item) {
  if (item.status === "working") return;
  const i = queue.indexOf(item);
  if (i < 0) return;
  queue.splice(i, 1);
  if (item.cell) item.cell.remove();
  const wasActive = state.activeKey === item.key;
  if (item.pyId != null && window.mattePy) window.mattePy.remove_item(item.pyId);
  if (!queue.some((q) => q.status === "failed")) clearError();
  state.batchDirty = true;
  if (wasActive) {
    state.activeKey = null;
    const next = queue.find((q, j) => j >= i && ["done", "preview"].includes(q.status))
      || [...queue].reverse().find((q) => ["done", "preview"].includes(q.status));
    if (next) {
      activate(next);
    } else { // nothing left to edit: back to the start screen
      state.hasResult = false;
      editor.close();
      $("result").hidden = !queue.length;
      $("dropzone").hidden = Boolean(queue.length);
      $("download").disabled = true;
      setState(queue.length ? "loading" : "ready-shell");
      store.clear().catch(() => {});
    }
  } else {
    scheduleAutosave();
  }
  updateQueueVisibility();
  status(`Removed ${item.name}.`);
}

function updateQueueVisibility() {
  const many = queue.length > 1;
  $("queue").hidden = !many;
  const done = queue.filter((q) => q.status === "done");
  const picked = done.filter((q) => !q.pick || q.pick.checked);
  const btn = $("download-all");
  btn.hidden = !many || done.length < 2; // one finished image: Download is the button
  btn.disabled = !picked.length;
  btn.textContent = picked.length === done.length ? `Download all ${done.length} (.zip)`
    : `Download ${picked.length} of ${done.length} (.zip)`;
}

function handleFiles(list) {
  const files = Array.from(list || []).filter(Boolean);
  if (!files.length) return;
  clearError();
  notice("");
  latestDrop += 1;
  const added = files.map((file) => ({ key: nextKey++, file, name: file.name || "pasted image",
    pyId: null, status: "queued", error: null, el: null, drop: latestDrop, stage: null }));
  queue.push(...added);
  // the photo itself shows at once, under the progress; the editor opens when its mask is in
  if (!state.hasResult) {
    $("dropzone").hidden = true;
    $("result").hidden = false;
    setState("loading");
  }
  showPhoto(added[0].file); // before the thumbnails: its decode goes first
  added.forEach(makeThumb);
  updateQueueVisibility();
  if (files.length > 1) notice(`${files.length} images added. They are done one after another; open any finished one to edit it.`);
  // the first new image is shown as soon as it is done, unless the user is busy editing
  state.showNext = added[0].key;
  progress(window.mattePy ? "Reading your photo…" : "Getting ready…", null);
  status(files.length > 1 ? `Working on ${files.length} images…` : `Working on ${added[0].name}…`);
  runQueue();
}

// Order of work: the newest drop's images first (a preview of a just-dropped image comes
// before the pending full-quality run of an older one), then older queued images, then the
// full-quality runs still pending. A model run in flight cannot be interrupted (onnxruntime-web
// has no abort); what is cancelled is the work not started yet, which is deferred, not lost.
let latestDrop = 0;

function nextWork() {
  return queue.find((q) => q.status === "queued" && q.drop === latestDrop)
    || queue.find((q) => q.status === "queued")
    || queue.find((q) => q.status === "preview");
}

async function runQueue() {
  if (queueRunning) return;
  queueRunning = true;
  try {
    for (;;) {
      const item = nextWork();
      if (!item) break;
      await processItem(item);
      updateQueueVisibility();
    }
  } finally {
    queueRunning = false;
    state.busy = false;
    document.body.dataset.busy = "";
  }
}

function failItem(item, err) {
  item.error = err instanceof UserError ? err.message : `Something went wrong: ${err.message || err}`;
  setItemStatus(item, "failed");
  bar(0);
  const failed = queue.filter((q) => q.status === "failed");
  // a failure of the model or the run can be retried with the same file (and a model picked
  // meanwhile); a file that cannot be decoded cannot
  $("error-retry").hidden = !failed.some((q) => q.retryable);
  showError(failed.length > 1
    ? `${failed.length} files could not be used. ${failed.map((q) => `${q.name}: ${q.error}`).join(" · ")}`
    : (queue.length > 1 ? `${item.name}: ${item.error}` : item.error));
  if (!state.hasResult) {
    $("result").hidden = true;
    $("dropzone").hidden = false;
    setState("error");
  }
  status(state.hasResult ? "Ready" : "Ready: choose another image");
}

/** Decode the next queued image ahead (its bytes to Python, once); a failure is left for
 * processItem to report when the image's turn comes. */
async function prefetchNext(py) {
  const next = queue.find((q) => q.status === "queued" && q.pyId == null && !q.prefetching);
  if (!next) return;
  next.prefetching = true;
  try {
    const opened = py.add_image(new Uint8Array(await next.file.arrayBuffer()), next.name);
    if (!opened.error && next.status === "queued") {
      next.pyId = opened.id;
      next.size = [opened.width, opened.height];
      next.opened = opened;
    }
  } catch { /* processItem decodes it again and reports the error */ }
  next.prefetching = false;
}

/** Decode an item, show a quick preview mask when the model has one, then the full mask. */
async function processItem(item) {
  item.retryable = false;
  state.busy = true;
  document.body.dataset.busy = "1";
  const resumed = item.status === "preview"; // its preview is shown; the full run was deferred
  setItemStatus(item, "working", resumed ? "Refining…" : undefined);
  const t0 = performance.now();
  if (!resumed) item.timings = { start: t0 };
  const T = item.timings; // this image's timings (state.timings.run: the latest image's)
  state.timings.run = T;
  const first = !state.hasResult;
  const shown = () => state.showNext === item.key && !$("photo").hidden; // its photo is up
  if (first) {
    $("dropzone").hidden = true;
    $("result").hidden = false;
    setState("loading");
  }
  if (shown() && !window.mattePy) progress("Getting ready…", null);
  try {
    const py = await pyReady;
    if (item.pyId != null) item.retryable = true; // a retry, or decoded ahead: Python has it
    let opened = item.opened || null; // decoded ahead while the previous image's model ran
    item.opened = null;
    if (!resumed) {
      ["decode", "inference", "finish"].forEach((st) => step(st, "", ""));
      $("file-info").textContent = `${item.name} · ${mb(item.file.size)}`;
    }
    if (!resumed && item.pyId == null) {
      const bytes = new Uint8Array(await item.file.arrayBuffer());
      step("decode", "active", "");
      if (shown()) progress("Reading your photo…", null);
      // the photo and the card paint before the decode holds the main thread
      if (shown()) await photoPainted(); else await new Promise((r) => setTimeout(r, 0));
      opened = py.add_image(bytes, item.name);
      if (opened.error) {
        step("decode", "failed", "");
        throw new UserError(opened.error);
      }
      item.pyId = opened.id;
      item.size = [opened.width, opened.height];
      item.retryable = true; // decoded: what fails from here on (model, run) can be retried
    }
    if (opened) {
      T.decode = opened.ms;
      step("decode", "done", `${opened.width}×${opened.height}`);
      item.facts = { decode: `${opened.width}×${opened.height}` };
      if (opened.notes && opened.notes.length) notice(Array.from(opened.notes).join(" "));
    }
    const [w, h] = item.size;
    const modelId = state.modelId;
    step("inference", "active", "");
    const session = ensureSession(modelId); // the preview below does not wait for it
    const run = async (stage) => {
      const tInf = performance.now();
      if (shown()) progress("Removing the background…", null);
      const timer = setInterval(() => step("inference", undefined, secs(performance.now() - tInf)), 500);
      try {
        const seg = await py.segment(item.pyId, modelId, stage);
        if (seg.error) {
          step("inference", "failed", "");
          throw new UserError(`${seg.error} Your image is kept: try again, or pick the fast model.`);
        }
        return seg;
      } finally {
        clearInterval(timer);
      }
    };
    const previewId = modelInfo(modelId).preview;
    const previewReady = !resumed && previewId && await ensurePreviewSession(previewId)
      .then(() => true, () => false);
    if (previewReady) {
      status(`Removing the background of ${item.name} with ${modelInfo(modelId).label}…`);
      const pre = await run("preview");
      if (!pre.skipped) {
        T.preview = { ...pre.times, shown: performance.now() - t0 };
        item.stage = "preview";
        setItemStatus(item, "preview", "Preview");
        drawCutout(item);
        if (first || state.showNext === item.key) activate(item);
        document.body.dataset.stage = "preview";
        emit("preview", { name: item.name, timings: T });
        if (item.drop !== latestDrop) { // newer images were dropped: their previews first
          status(`Preview of ${item.name}; its full-quality mask follows the new images.`);
          return;
        }
        setItemStatus(item, "working", "Refining…");
        updateChip();
      }
    }
    if (!bridge.hasSession(fileModelId(modelId))) {
      status(state.download ? `Downloading the AI model (${shortLabel(modelId)})…` : "Preparing the AI model…");
      state.waiting = fileModelId(modelId); // a fusion waits for its edges model's file
      if (shown()) {
        const d = state.download && state.download.id === state.waiting ? state.download : null;
        progress(d ? downloadText(state.waiting) : "Preparing the AI model…", d ? d.got / d.total : null,
          d ? `${mbNum(d.got)} of ${mb(d.total)}` : "");
      }
    }
    try {
      await session;
      state.waiting = null;
    } catch (err) {
      throw new UserError(`The model could not be loaded (${err.message || err}). Your image `
        + "is kept: press Try again, or pick another model.");
    }
    state.waiting = null;
    if (shown()) progress("Removing the background…", null);
    status(item.stage === "preview"
      ? `Preview shown; computing the full-quality mask of ${item.name}… You can edit already.`
      : `Removing the background of ${item.name} with ${modelInfo(modelId).label}…`);
    const finalRun = run("final");
    prefetchNext(py); // decode the next image while this one's model runs in the worker
    const seg = await finalRun;
    const times = seg.times;
    step("inference", "done", secs(times.inference));
    step("finish", "done", secs(times.postprocess));
    item.facts = { ...item.facts, inference: secs(times.inference), finish: secs(times.postprocess) };
    Object.assign(T, times, { total: performance.now() - T.start });
    state.timings.run = T;
    const wasPreview = item.stage === "preview";
    item.stage = "final";
    setItemStatus(item, "done");
    drawCutout(item);
    state.batchDirty = true;
    if (state.hasResult) scheduleAutosave();
    updateChip();
    state.unsaved = true;
    if (state.activeKey === item.key) {
      // Python has redrawn the view with the new mask (or does so when the stroke or refine
      // preview in progress ends: seg.pending)
      document.body.dataset.stage = seg.pending ? "pending" : "final";
      if (wasPreview) onHistory(seg);
    } else if (first || state.showNext === item.key) {
      activate(item);
      document.body.dataset.stage = "final";
    }
    status(state.activeKey === item.key || !state.activeKey ? `${item.name} is ready · ${w}×${h}`
      : `${item.name} is ready: open it from the strip below the image.`);
    emit("done", { name: item.name, timings: T });
  } catch (err) {
    if (item.status === "working" && item.stage === "preview") {
      // the preview stays usable: report the failed full run and keep the item editable
      setItemStatus(item, "done", "Preview only");
      item.stage = "final";
      updateChip();
      showError(`${item.name}: the full-quality run failed (${err.message || err}); `
        + "the preview mask and your edits are kept.");
      status("Ready");
    } else {
      failItem(item, err);
    }
  } finally {
    state.waiting = null;
    if (state.showNext === item.key && ["done", "preview", "failed"].includes(item.status)) hidePhoto();
  }
}

/** The chip over the image while it shows a preview mask and the full-quality run is pending. */
function updateChip() {
  const item = itemByKey(state.activeKey);
  const preview = Boolean(item && item.stage === "preview");
  $("stage-chip").hidden = !preview;
  if (preview) {
    const d = state.download && state.download.id === fileModelId(state.modelId) ? state.download : null;
    $("stage-chip-text").textContent = d
      ? `Preview · downloading the full-quality model (${mbNum(d.got)} of ${mb(d.total)})`
      : item.status === "working"
        ? `Preview · ${shortLabel(state.modelId)} is refining it…`
        : "Preview · the full-quality mask follows";
  }
}

function activate(item) {
  if (!item || !["done", "preview"].includes(item.status) && !(item.status === "working"
    && item.stage === "preview") || !window.mattePy) return;
  const prev = itemByKey(state.activeKey);
  const info = window.mattePy.activate(item.pyId);
  if (info.error) {
    showError(info.error);
    return;
  }
  if (prev && prev !== item) { drawCutout(prev); state.batchDirty = true; }
  state.activeKey = item.key;
  state.fileName = item.name;
  state.hasResult = true;
  queue.forEach((q) => q.el && q.el.setAttribute("aria-current", String(q === item)));
  $("file-info").textContent = `${item.name} · ${info.width}×${info.height}`;
  if (!state.busy || item.status === "done") status(`${item.name} · ${info.width}×${info.height}`); // the footer follows the open image
  if (item.facts) { // the About dialog's steps describe the open image, not the last one run
    for (const st of ["decode", "inference", "finish"]) step(st, item.facts[st] ? "done" : "", item.facts[st] || "");
  }
  $("download").disabled = false;
  $("copy").disabled = !(navigator.clipboard && window.ClipboardItem);
  hidePhoto();
  editor.open(info.width, info.height);
  if (!state.userBrushSize) sizeBrushToView();
  syncPanels(info);
  onHistory(info);
  setState("done");
  updateChip();
  scheduleAutosave();
}

// ---------------------------------------------------------------------------------------------
// Autosave: after each change (debounced) the open image, its masks and settings go to IndexedDB

let autosaveTimer = null;

function scheduleAutosave() {
  clearTimeout(autosaveTimer);
  autosaveTimer = setTimeout(autosave, 1200);
}

async function autosave() {
  if (!window.mattePy || !state.hasResult || state.embed) return; // embedded: nothing is kept
  const snap = window.mattePy.snapshot();
  if (snap.empty) return;
  if (snap.busy) { scheduleAutosave(); return; } // mid-stroke or previewing: save once it ends
  try {
    // ops: the edit log (undo/redo survive a reload); background: the picture of an image bg
    await store.save({ name: snap.name, file: snap.file, ai: snap.ai, mask: snap.mask,
      ops: snap.ops, background: snap.background, settings: snap.settings,
      width: snap.width, height: snap.height, saved: Date.now() });
    if (state.batchDirty) await saveBatch();
    document.body.dataset.autosaved = String(Date.now());
  } catch (err) {
    notice(`Autosave is off: this browser refused to store the session (${err && err.name || err}). `
      + "Editing still works; download your result before closing the tab.");
  }
}

/** The batch's other finished images, in strip order, with the open image's place in it. */
async function saveBatch() {
  state.batchDirty = false;
  const snap = window.mattePy.batch_snapshot();
  const byId = new Map(Array.from(snap.items, (r) => [r.id, r]));
  const order = [];
  for (const q of queue) {
    if (q.key === state.activeKey) order.push({ active: true });
    else if (byId.has(q.pyId)) order.push(byId.get(q.pyId));
  }
  await store.saveBatch({ order, skipped: Array.from(snap.skipped), bytes: snap.bytes, saved: Date.now() });
}

async function restoreSaved() {
  if (state.embed) return; // embedded: the parent's images are never stored, nothing to restore
  let saved = null;
  try {
    saved = await store.load();
  } catch {
    return; // storage unavailable (private mode): nothing to restore
  }
  if (!saved || !saved.file) return;
  const py = await pyReady;
  if (state.hasResult || state.busy) return; // the user already started something new
  const info = py.restore(saved.file, saved.name, saved.ai, saved.mask, saved.settings,
    saved.ops, saved.background);
  if (info.error) {
    notice(info.error);
    await store.clear().catch(() => {});
    return;
  }
  const item = { key: nextKey++, file: new File([saved.file], saved.name), name: saved.name,
    pyId: info.id, status: "done", error: null, el: null };
  // the rest of the batch, in its order around the open image
  let batch = null;
  try { batch = await store.loadBatch(); } catch { batch = null; }
  const others = [];
  const failedBack = [];
  for (const rec of (batch && batch.order) || [{ active: true }]) {
    if (rec.active) { queue.push(item); continue; }
    const r = py.restore_item(rec.file, rec.name, rec.width, rec.height, rec.ai, rec.mask);
    if (r.error) { failedBack.push(rec.name); continue; }
    const q = { key: nextKey++, file: new File([rec.file], rec.name), name: rec.name, pyId: r.id,
      status: "done", stage: "final", error: null, el: null };
    queue.push(q);
    others.push(q);
  }
  if (!queue.includes(item)) queue.unshift(item);
  for (const q of queue) {
    await makeThumb(q);
    setItemStatus(q, "done");
    if (q !== item) drawCutout(q);
  }
  updateQueueVisibility();
  $("dropzone").hidden = true;
  $("result").hidden = false;
  ["decode", "inference", "finish"].forEach((s) => step(s, "done", ""));
  activate(item);
  state.unsaved = false;
  drawCutout(item);
  const lost = [...((batch && batch.skipped) || []), ...failedBack];
  const n = others.length + 1;
  notice(`Restored your last session (${n > 1 ? `${n} images, ` : ""}${saved.name} open, saved `
    + `${new Date(saved.saved).toLocaleString()}).${lost.length ? ` Not kept: ${lost.join(", ")} `
    + "(over the 200 MB the browser storage keeps for a batch)." : ""}`, {
    actions: [{ label: "Discard it", id: "discard-restore", onClick: async () => {
      await store.clear().catch(() => {});
      state.unsaved = false;
      location.reload();
    } }] });
  document.body.dataset.restored = "1";
}

// ---------------------------------------------------------------------------------------------
// Editor panels

function onHistory(h) {
  if (!h) return;
  if (h.rebased) { // the full-quality mask replaced the preview under the user's edits
    document.body.dataset.stage = "final";
    notice(h.can_undo ? "Full-quality mask ready; your edits were carried over to it."
      : "Full-quality mask ready.");
  }
  if (h.can_undo) state.unsaved = true;
  scheduleAutosave();
  $("undo").disabled = !h.can_undo;
  $("redo").disabled = !h.can_redo;
  if (h.error) showError(h.error);
  if (h.applied) showApplied(Array.from(h.applied));
  updateOutput();
}

const REFINE_NAMES = { feather: "Feather", grow: "Grow", smooth: "Smooth", islands: "Remove specks",
  holes: "Fill holes", edges: "Refine edges" };

/** The refinements in effect on the mask (since the AI mask or the last reset), in order. */
function showApplied(list) {
  const ul = $("applied");
  const items = list.map((a) => {
    const li = document.createElement("li");
    const unit = a.op === "islands" || a.op === "holes" ? " px²" : " px";
    const v = a.op === "edges" ? "" : ` ${a.op === "grow" && a.value > 0 ? "+" : ""}${a.value}${unit}`;
    li.textContent = `${REFINE_NAMES[a.op] || a.op}${v}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "Nothing yet";
    items.push(li);
  }
  ul.replaceChildren(...items);
  state.applied = list;
}

/** What the download will be, shown before it is made: the crop frame on the image, and the
 * size, format and transparency under the Download button (what you see is what you get). */
function updateOutput() {
  const py = window.mattePy;
  if (!py || !state.hasResult) return;
  const out = py.output_info();
  if (!out || out.error) return;
  state.output = { width: out.width, height: out.height, crop: out.crop ? [out.crop.r0, out.crop.c0, out.crop.r1, out.crop.c1] : null };
  const f = $("format").value;
  const bg = document.querySelector("[data-bg][aria-pressed=true]")?.dataset.bg || "transparent";
  const opaque = f === "jpeg" || bg !== "transparent";
  $("format").options[0].textContent = opaque ? "PNG" : "PNG (transparent)";
  $("format").options[1].textContent = opaque ? "WebP" : "WebP (transparent)";
  const what = f === "mask" ? "black-and-white mask"
    : f === "jpeg" ? (bg === "transparent" ? "white background" : "background as shown")
      : opaque ? "background as shown" : "transparent background";
  $("export-summary").textContent = `${out.width} × ${out.height} px · ${what}${out.crop ? " · cropped" : ""}`;
  placeCropFrame();
}

function placeCropFrame() {
  const el = $("crop-frame");
  const o = state.output;
  const v = editor && editor.view;
  if (!o || !o.crop || !v || !v.width || !$("photo").hidden || v.mode === "compare") { el.hidden = true; return; }
  const [r0, c0, r1, c1] = o.crop;
  el.hidden = false;
  el.style.transform = `translate(${(c0 - v.ox) * v.zoom}px, ${(r0 - v.oy) * v.zoom}px)`;
  el.style.width = `${(c1 - c0) * v.zoom}px`;
  el.style.height = `${(r1 - r0) * v.zoom}px`;
  $("crop-size").textContent = `${c1 - c0} × ${r1 - r0}`;
}

/** A brush of about 32 screen pixels on the fitted image, whatever the photo's resolution. */
function sizeBrushToView() {
  const z = editor.view.zoom || 1;
  const px = Math.max(2, Math.min(400, Math.round(32 / z)));
  $("brush-size").value = px;
  $("brush-size-out").textContent = `${px} px`;
  editor.setSize(px);
}

function pressed(selector, value, attr) {
  document.querySelectorAll(selector).forEach((b) => b.setAttribute("aria-pressed", String(b.dataset[attr] === value)));
}

function syncPanels(info) {
  pressed("[data-bg]", info.background || "transparent", "bg");
  $("shadow").checked = Boolean(info.shadow);
  $("crop").checked = Boolean(info.crop);
  $("decontaminate").checked = Boolean(info.decontaminate);
  updateImgboxBackground();
  updateOutput();
}

function updateImgboxBackground() {
  const kind = document.querySelector("[data-bg][aria-pressed=true]")?.dataset.bg || "transparent";
  $("imgbox").classList.toggle("checker", kind === "transparent");
  $("imgbox").style.backgroundColor = kind === "color" ? $("bg-color").value : "";
}

function wireEditor() {
  editor = createEditor({
    py: new Proxy({}, { get: (_, name) => (...args) => window.mattePy[name](...args) }),
    stage: $("stage"), canvas: $("canvas"), before: $("canvas-before"), imgbox: $("imgbox"),
    cursor: $("cursor"), handle: $("compare-handle"), onHistory,
    onStatus: (v) => {
      $("zoom-label").textContent = `${Math.round(v.zoom * (window.devicePixelRatio || 1) * 100)}%`;
      placeCropFrame();
    },
  });
  state.editor = editor;
  state.brushTimes = editor.brushTimes;
  document.querySelectorAll("[data-view]").forEach((b) => b.addEventListener("click", () => editor.setMode(b.dataset.view)));
  document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => editor.setTool(b.dataset.tool)));
  editor.on((what, value) => {
    if (what === "mode") { pressed("[data-view]", value, "view"); placeCropFrame(); }
    if (what === "tool") pressed("[data-tool]", value, "tool");
    if (what === "size") { $("brush-size").value = value; $("brush-size-out").textContent = `${value} px`; }
    if (what === "hardness") { $("brush-hardness").value = Math.round(value * 100); $("brush-hardness-out").textContent = `${Math.round(value * 100)}%`; }
  });
  $("undo").addEventListener("click", () => editor.undo());
  $("redo").addEventListener("click", () => editor.redo());
  $("zoom-in").addEventListener("click", () => editor.zoomIn());
  $("zoom-out").addEventListener("click", () => editor.zoomOut());
  $("zoom-fit").addEventListener("click", () => editor.fit());
  $("zoom-100").addEventListener("click", () => editor.actualPixels());
  const slider = (id, fmt, apply) => {
    const el = $(id);
    const out = $(`${id}-out`);
    const update = () => { out.textContent = fmt(Number(el.value)); apply(Number(el.value)); };
    el.addEventListener("input", update);
    update();
  };
  slider("brush-size", (v) => `${v} px`, (v) => editor.setSize(v));
  $("brush-size").addEventListener("input", () => { state.userBrushSize = true; });
  slider("brush-hardness", (v) => `${v}%`, (v) => editor.setHardness(v / 100));
  slider("brush-strength", (v) => `${v}%`, (v) => editor.setStrength(v / 100));
  $("brush-edge").addEventListener("change", (e) => editor.setEdge(e.target.checked));

  // refine sliders: live preview while dragging, one undo step on release
  document.querySelectorAll("[data-refine]").forEach((el) => {
    const out = el.parentElement.querySelector("output");
    let pending = null;
    const preview = () => {
      pending = null;
      const r = window.mattePy.refine_preview(el.dataset.refine, Number(el.value));
      if (r && r.error) showError(r.error);
      editor.render();
    };
    const unit = ` ${el.dataset.unit || ""}`;
    el.addEventListener("input", () => {
      out.textContent = `${el.value}${unit}`;
      if (!pending) pending = requestAnimationFrame(preview);
    });
    el.addEventListener("change", () => {
      if (pending) { cancelAnimationFrame(pending); preview(); }
      onHistory(window.mattePy.refine_commit());
      el.value = 0; // the change is applied (listed under Applied); the slider adds the next one
      out.textContent = `0${unit}`;
      editor.render();
    });
  });
  $("refine-edges").addEventListener("click", () => {
    window.mattePy.refine_preview("edges", 1);
    onHistory(window.mattePy.refine_commit());
    editor.render();
  });
  $("reset-mask").addEventListener("click", () => { onHistory(window.mattePy.reset_mask()); editor.render(); });
  $("decontaminate").addEventListener("change", (e) => { window.mattePy.set_decontaminate(e.target.checked); editor.render(); });

  // background
  const setBg = (kind) => {
    if (kind === "image") { $("bg-image").click(); return; }
    const r = window.mattePy.set_background(kind, $("bg-color").value);
    if (r && r.error) { showError(r.error); return; }
    pressed("[data-bg]", kind, "bg");
    updateImgboxBackground();
    editor.render();
    updateOutput();
    scheduleAutosave();
  };
  document.querySelectorAll("[data-bg]").forEach((b) => b.addEventListener("click", () => setBg(b.dataset.bg)));
  document.querySelectorAll(".swatch[data-color]").forEach((b) => b.addEventListener("click", () => {
    $("bg-color").value = b.dataset.color;
    document.querySelectorAll(".swatch").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
    setBg("color");
  }));
  $("bg-color").addEventListener("input", () => setBg("color"));
  $("bg-image").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    e.target.value = "";
    if (!f) return;
    const r = window.mattePy.set_background_image(new Uint8Array(await f.arrayBuffer()), f.name);
    if (r.error) { showError(r.error); return; }
    pressed("[data-bg]", "image", "bg");
    updateImgboxBackground();
    editor.render();
    scheduleAutosave();
  });
  document.querySelector(".side").addEventListener("change", scheduleAutosave);
  $("shadow").addEventListener("change", (e) => { window.mattePy.set_shadow(e.target.checked); editor.render(); updateOutput(); });
  const crop = () => { window.mattePy.set_crop($("crop").checked, Number($("crop-margin").value)); updateOutput(); };
  $("crop").addEventListener("change", crop);
  $("crop-margin").addEventListener("input", () => { $("crop-margin-out").textContent = `${$("crop-margin").value} px`; crop(); });

  // export
  const fmtLabel = { png: "Download PNG", webp: "Download WebP", jpeg: "Download JPEG", mask: "Download mask" };
  $("format").addEventListener("change", () => {
    const f = $("format").value;
    $("download").textContent = fmtLabel[f];
    $("quality-row").hidden = !(f === "webp" || f === "jpeg");
    updateOutput();
  });
  $("quality-row").hidden = true;
  $("quality").addEventListener("input", () => { $("quality-out").textContent = $("quality").value; });
  $("copy").addEventListener("click", copyToClipboard);
  $("download-all").addEventListener("click", downloadAll);
  $("help-button").addEventListener("click", () => toggleHelp(true));
  $("help-close").addEventListener("click", () => toggleHelp(false));
  $("help").addEventListener("click", (e) => { if (e.target === $("help")) toggleHelp(false); });
  $("about-button").addEventListener("click", () => toggleAbout(true));
  $("about-close").addEventListener("click", () => toggleAbout(false));
  $("about").addEventListener("click", (e) => { if (e.target === $("about")) toggleAbout(false); });
  window.addEventListener("keydown", (e) => {
    if (e.key === "?" && !e.ctrlKey && !e.metaKey && e.target.tagName !== "INPUT") { e.preventDefault(); toggleHelp($("help").hidden); }
    if (e.key === "Escape" && !$("help").hidden) toggleHelp(false);
    if (e.key === "Escape" && !$("about").hidden) toggleAbout(false);
  });
  // the compare divider is a slider: arrow keys move it, Home/End to the sides
  $("compare-handle").addEventListener("keydown", (e) => {
    const stepBy = { ArrowLeft: -0.05, ArrowDown: -0.05, ArrowRight: 0.05, ArrowUp: 0.05, PageDown: -0.25, PageUp: 0.25 }[e.key];
    const to = e.key === "Home" ? 0 : e.key === "End" ? 1 : null;
    if (stepBy === undefined && to === null) return;
    e.preventDefault();
    e.stopPropagation();
    editor.setCompare(to ?? editor.view.comparePos + stepBy);
  });
}

function toggleHelp(show) {
  $("help").hidden = !show;
  if (show) $("help-close").focus();
}

function toggleAbout(show) {
  $("about").hidden = !show;
  if (show) $("about-close").focus();
  else $("about-button").focus({ preventScroll: true });
}

function exportOptions() {
  const f = $("format").value;
  return { format: f === "mask" ? "png" : f, maskOnly: f === "mask", quality: Number($("quality").value) };
}

function saveBlob(bytes, name, mime) {
  const url = URL.createObjectURL(new Blob([bytes], { type: mime }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function download() {
  const py = await pyReady;
  $("download").disabled = true;
  const o = exportOptions();
  status(`Preparing ${o.maskOnly ? "the mask" : `the ${o.format.toUpperCase()}`}…`);
  await new Promise((r) => setTimeout(r, 0)); // let the status paint
  try {
    const out = py.export_image(o.format, o.quality, o.maskOnly);
    if (out.error) throw new UserError(out.error);
    saveBlob(out.bytes, out.name, out.mime);
    state.unsaved = false;
    status(`Saved ${out.name} (${size(out.bytes.length)})`);
  } catch (err) {
    showError(`The download failed: ${err.message || err}`);
  } finally {
    $("download").disabled = false;
  }
}

async function copyToClipboard() {
  const py = await pyReady;
  try {
    const out = py.export_image("png", 90, false);
    if (out.error) throw new UserError(out.error);
    await navigator.clipboard.write([new ClipboardItem({ "image/png": new Blob([out.bytes], { type: "image/png" }) })]);
    status("Copied the cut-out to the clipboard.");
  } catch (err) {
    showError(`Copy failed (${err.message || err}). Use Download instead.`);
  }
}

async function downloadAll() {
  const py = await pyReady;
  const o = exportOptions();
  status("Preparing the zip of all images…");
  await new Promise((r) => setTimeout(r, 0));
  const ids = queue.filter((q) => q.status === "done" && (!q.pick || q.pick.checked)).map((q) => q.pyId);
  const out = py.export_zip(o.format, o.quality, o.maskOnly, ids);
  if (out.error) { showError(out.error); return; }
  saveBlob(out.bytes, out.name, "application/zip");
  state.unsaved = false;
  status(`Saved ${out.name} with ${out.count} images.`);
}

// ---------------------------------------------------------------------------------------------
// Input: drop, pick, paste, sample

function wireInput() {
  // Edited or processed images that were not downloaded: ask before the tab closes.
  window.addEventListener("beforeunload", (e) => {
    if (state.unsaved || state.busy) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
  for (const id of ["file", "file-again"]) {
    $(id).addEventListener("change", (e) => {
      handleFiles(e.target.files);
      e.target.value = "";
    });
  }
  let depth = 0;
  window.addEventListener("dragenter", (e) => {
    e.preventDefault();
    depth += 1;
    document.body.classList.add("dragging");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    handleFiles(e.dataTransfer && e.dataTransfer.files);
  });
  window.addEventListener("paste", (e) => {
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (files.length) {
      e.preventDefault();
      handleFiles(files);
    }
  });
  $("sample").addEventListener("click", async () => {
    const resp = await fetch("./src/sample.jpg");
    const blob = await resp.blob();
    handleFiles([new File([blob], "astronaut.jpg", { type: "image/jpeg" })]);
  });
  $("download").addEventListener("click", download);
  $("error-close").addEventListener("click", clearError);
  $("notice-close").addEventListener("click", dismissNotice);
  $("error-retry").addEventListener("click", () => { // the failed images, again, same files
    clearError();
    for (const q of queue) {
      if (q.status === "failed" && q.retryable) {
        q.error = null;
        q.status = "queued";
        setItemStatus(q, "queued");
      }
    }
    runQueue();
  });
}

function wireModelPicker() {
  const select = $("model");
  for (const m of state.catalog.models) {
    const opt = document.createElement("option");
    opt.value = m.id;
    opt.textContent = `${m.label} · ${mb(m.bytes)}`;
    opt.title = `${m.summary} License: ${m.license}.`;
    select.append(opt);
  }
  select.value = state.modelId;
  select.disabled = false;
  select.addEventListener("change", () => {
    state.modelId = select.value;
    localStorage.setItem(STORAGE_KEY, state.modelId);
    updateLicense();
    ensureSession(state.modelId);
    if (modelInfo(state.modelId).preview) ensurePreviewSession(modelInfo(state.modelId).preview);
  });
  updateLicense();
}

function updateLicense() {
  const m = modelInfo(state.modelId);
  $("about-model").textContent = `${m.label}. ${m.summary || `${mb(m.bytes)} download.`}`;
  $("license").textContent = `${m.license}. ${m.license_note || ""}`;
}

/** Where the AI runs, in words (About dialog), with the technical name after it. */
function backendText(backend) {
  $("backend-words").textContent = backend === "webgpu" ? "This device's graphics chip" : "This device's processor";
  return bridge.backendLabel(backend, state.caps);
}

// ---------------------------------------------------------------------------------------------
// NEW: offline. sw.js (build.py puts it at the site root with the build id) caches the app and
// the runtime; this page stores the model it has just downloaded and verified, so the model is
// downloaded once (the first visit is not controlled by the worker yet). See sw.js for how the
// cache follows builds. The footer says "Available offline" once everything is stored.

const OFFLINE = "serviceWorker" in navigator && window.isSecureContext && "caches" in window;
const modelStores = new Map(); // model file -> Promise<boolean> (this page's cache write)
let offlineReg = null;

function offlineState(text, flag = "no") { // flag: ready | update | stale | no
  const el = $("offline-state");
  el.textContent = text;
  el.dataset.ok = flag === "ready" ? "1" : "";
  el.hidden = !text;
  document.body.dataset.offline = flag;
}

/** Store a verified model where sw.js serves it from (content addressed, see sw.js). */
function keepModelOffline(info, bytes, resp) {
  if (!OFFLINE || resp.headers.get("X-Matte-Cache") === "hit") return; // already stored
  const body = new Blob([bytes]); // a copy: `bytes` goes to onnxruntime's worker next
  const base = new URL("./", location.href);
  const key = new URL(`models/${info.file}?sha256=${info.sha256}`, base).href;
  const done = caches.open(`matte:${base.pathname}:models`)
    .then((cache) => cache.put(key, new Response(body, { headers: {
      "Content-Type": "application/octet-stream", "Content-Length": String(info.bytes) } })))
    .then(() => true, (err) => {
      offlineState(err && err.name === "QuotaExceededError"
        ? "Not available offline: the browser has no room for the model." : "");
      return false;
    });
  modelStores.set(info.file, done);
  if (offlineReg) done.then((ok) => ok && refreshOffline());
}

function askWorker(worker) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve({ error: "no answer" }), 10_000);
    channel.port1.onmessage = (e) => { clearTimeout(timer); resolve(e.data); };
    worker.postMessage({ type: "matte:status" }, [channel.port2]);
  });
}

async function refreshOffline() {
  const reg = await navigator.serviceWorker.ready; // active: its precache is complete
  const file = modelInfo(fileModelId(state.modelId)).file;
  if (modelStores.has(file)) await modelStores.get(file);
  const s = await askWorker(reg.active);
  state.offline = s;
  if (reg.waiting && navigator.serviceWorker.controller) {
    offlineState("Update ready: it applies once every matte tab is closed.", "update");
  } else if (!s.error && !s.missing.length && s.models.includes(`models/${file}`)) {
    offlineState("Available offline", "ready");
  }
}

/** Register sw.js once start-up is over, so installing it never slows the first visit. */
async function registerOffline() {
  if (!OFFLINE) return;
  if (document.body.dataset.ready !== "1") {
    await new Promise((resolve) => window.addEventListener("matte:stage", (e) => {
      if (e.detail.stage === "ready") resolve();
    }));
  }
  try {
    offlineReg = await navigator.serviceWorker.register("./sw.js", { updateViaCache: "none" });
  } catch (err) {
    console.warn(`matte: no offline use (${err.message || err})`);
    return;
  }
  navigator.serviceWorker.addEventListener("message", (e) => {
    if (e.data && e.data.type === "matte:stale") {
      offlineState("matte was updated: close every matte tab and open it again.", "stale");
    }
  });
  offlineReg.addEventListener("updatefound", () => {
    const worker = offlineReg.installing;
    if (worker) worker.addEventListener("statechange", () => refreshOffline());
  });
  await refreshOffline();
}

// ---------------------------------------------------------------------------------------------
// Boot

const TOUCH = window.matchMedia("(pointer: coarse)").matches;
const RUNTIME_BYTES = 33e6; // PyScript, Pyodide, numpy, Pillow, onnxruntime-web (README "Offline")

/** Touch screens get touch words: no "drop", no Ctrl+V, touch gestures first in the help. */
function touchWording() {
  if (!TOUCH) return;
  document.body.dataset.touch = "1";
  $("drop-title").textContent = "Choose a photo to remove its background";
  $("drop-hint").textContent = "from your photos or camera, or";
  $("stage").setAttribute("aria-label", "Image. Paint with one finger; pinch to zoom; two fingers to move.");
  document.querySelectorAll("#help .keys-only").forEach((el) => { el.hidden = true; });
}

/** Phones and slow or metered connections start with the fast model (unless one was chosen). */
function slowStart(catalog) {
  const c = navigator.connection;
  const slow = Boolean(c && (c.saveData || ["slow-2g", "2g", "3g"].includes(c.effectiveType)));
  const small = window.matchMedia("(max-width: 600px)").matches;
  const fast = catalog.models.find((m) => m.id === (catalog.models.find((x) => x.id === catalog.default) || {}).preview);
  return (slow || small) && fast ? { fast, reason: slow ? "connection" : "phone" } : null;
}

/** What the first use downloads, once, said before it starts (on the start screen). */
function firstUseCost() {
  const el = $("first-use");
  if (navigator.serviceWorker && navigator.serviceWorker.controller) { // a later visit: stored
    el.textContent = "The app is stored on this device: it works offline too.";
    el.hidden = false;
    return;
  }
  const m = modelInfo(state.modelId);
  const inSize = m.members && Object.values(m.members).includes(m.preview); // a fusion counts it
  const pre = m.preview && m.preview !== m.id && !inSize ? modelInfo(m.preview) : null;
  const total = RUNTIME_BYTES + m.bytes + (pre ? pre.bytes : 0);
  el.textContent = `First use downloads about ${Math.round(total / 1e6)} MB (the app and the `
    + `${shortLabel(m.id)} AI model), once; after that it works offline.`;
  if (state.slowStart && state.slowStart.best) {
    const b = state.slowStart.best;
    el.textContent += ` The fast model is used ${state.slowStart.reason === "phone" ? "on phones" : "on this connection"}; `;
    const btn = document.createElement("button");
    btn.type = "button";
    btn.id = "use-best";
    btn.textContent = `use the best (${mb(b.bytes)})`;
    btn.addEventListener("click", () => {
      $("model").value = b.id;
      $("model").dispatchEvent(new Event("change"));
      state.slowStart = null;
      firstUseCost();
    });
    el.append(btn);
  }
  el.hidden = false;
}

async function boot() {
  wireInput();
  wireEditor();
  touchWording();
  status("Starting…");
  step("python", "active", "");
  const [caps, catalog] = await Promise.all([bridge.probe(), loadCatalog()]);
  state.caps = caps;
  state.catalog = catalog;
  const saved = localStorage.getItem(STORAGE_KEY);
  const params = new URLSearchParams(location.search);
  let wanted = params.get("model") || saved || catalog.default;
  const slowly = !params.get("model") && !saved && slowStart(catalog);
  if (slowly) {
    state.slowStart = { reason: slowly.reason, best: modelInfo(catalog.default) || catalog.models.find((m) => m.id === catalog.default) };
    wanted = slowly.fast.id;
  }
  state.modelId = catalog.models.some((m) => m.id === wanted) ? wanted : catalog.default;
  state.firstDownload = !(navigator.serviceWorker && navigator.serviceWorker.controller);
  wireModelPicker();
  firstUseCost();
  $("backend").textContent = backendText(caps.webgpu && preferredBackend() === "webgpu" ? "webgpu" : "wasm");
  emit("probe", { caps });
  startEmbed(); // the postMessage API when framed (NEW section at the end)
  ensureSession(state.modelId); // in parallel with Python start-up
  if (modelInfo(state.modelId).preview) ensurePreviewSession(modelInfo(state.modelId).preview);
  restoreSaved(); // a session autosaved before a reload or a crash comes back
  registerOffline(); // offline section: sw.js, once start-up is over
  setState("ready-shell");
  status(state.hasResult || state.busy ? "Getting ready…" : "Getting ready in the background: you can choose an image now.");
  Promise.allSettled([pyReady, state.sessions.get(fileModelId(state.modelId))]).then((r) => {
    if (r.every((x) => x.status === "fulfilled")) {
      state.timings.ready = performance.now() - state.t0;
      if (!state.busy && !state.hasResult) status("Ready. Your images stay on this device.");
      document.body.dataset.ready = "1";
      emit("ready");
    }
  });
}

boot().catch((err) => showError(`matte could not start: ${err.message || err}`));

// ---------------------------------------------------------------------------------------------
// NEW: embed API. When the page is framed (or opened with ?embed=1), src/embed.js answers the
// postMessage protocol for parent origins on the deployer's allowlist (embed.json; README
// "Embedding"); these functions are what it drives. The editor stays fully usable.

function startEmbed() {
  let framed = true;
  try { framed = window.parent !== window; } catch { /* a cross-origin parent: framed */ }
  state.embed = framed || new URLSearchParams(location.search).get("embed") === "1";
  if (!state.embed) return;
  document.body.dataset.embed = "1";
  import("./embed.js").then((embed) => embed.start({
    openFile,
    exportActive,
    info: () => ({ model: state.modelId, formats: ["png", "webp", "jpeg"] }),
    delivered: () => { state.unsaved = false; }, // the parent has the file: no leave prompt
  })).catch((err) => console.warn(`matte embed API unavailable: ${err.message || err}`));
}

const embedError = (message, code) => Object.assign(new Error(message), { code });

/** Open one image as a drop does, wait until it is processed, show it, apply the output
 * options (checked by embed.checkOptions) and export it: {bytes, mime, name}. */
export async function openFile(blob, name, options = {}) {
  const file = new File([blob], name, { type: blob.type || "" });
  const key = nextKey; // handleFiles numbers the new item from here, synchronously
  handleFiles([file]);
  const item = itemByKey(key);
  if (!item) throw embedError("The image could not be queued.", "failed");
  await new Promise((resolve) => {
    const check = () => {
      if (item.status !== "done" && item.status !== "failed") return;
      clearInterval(timer);
      window.removeEventListener("matte:stage", check);
      resolve();
    };
    const timer = setInterval(check, 100);
    window.addEventListener("matte:stage", check);
  });
  if (item.status === "failed") throw embedError(item.error || "The image could not be processed.", "image");
  if (state.activeKey !== item.key) activate(item); // the user may have opened another meanwhile
  if (state.activeKey !== item.key) throw embedError("The result could not be opened.", "failed");
  return exportActive(options);
}

/** Export the open image (with the user's edits) after applying the given output options. */
export async function exportActive(options = {}) {
  const py = await pyReady;
  if (!state.hasResult) throw embedError("Nothing to export yet: send an image with `open` first.", "no-image");
  const check = (r) => { if (r && r.error) throw embedError(r.error, "bad-request"); };
  const bg = options.background;
  if (bg) {
    if (bg.kind === "image") {
      check(py.set_background_image(new Uint8Array(await bg.image.arrayBuffer()), "background"));
    } else {
      if (bg.kind === "color") $("bg-color").value = bg.color;
      check(py.set_background(bg.kind, $("bg-color").value));
    }
    pressed("[data-bg]", bg.kind, "bg");
    updateImgboxBackground();
  }
  if (options.crop) {
    const margin = options.crop.margin ?? Number($("crop-margin").value);
    $("crop").checked = options.crop.on;
    $("crop-margin").value = margin;
    $("crop-margin-out").textContent = `${margin} px`;
    py.set_crop(options.crop.on, margin);
  }
  if (options.shadow !== undefined) {
    $("shadow").checked = options.shadow;
    py.set_shadow(options.shadow);
  }
  editor.render();
  const out = py.export_image(options.format || "png", options.quality ?? 90, Boolean(options.maskOnly));
  if (out.error) throw embedError(out.error, "export");
  status(`Sent ${out.name} to the embedding page (${mb(out.bytes.length)}).`);
  return { bytes: out.bytes, mime: out.mime, name: out.name };
}
