// matte page controller: UI shell, model download, start-up orchestration.
//
// Start-up runs three things at once: the UI shell (this file, shown immediately), the model
// download + session creation (onnxruntime-web, via bridge.js), and Python (PyScript loads
// Pyodide, numpy, Pillow and the matte package, then fires `matte:py-ready`). Pixels live in
// Python; this file moves only the dropped file's bytes in and the encoded download out.

import * as bridge from "./bridge.js";

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

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
  document.body.dataset.error = message;
}

function clearError() {
  $("error").hidden = true;
  delete document.body.dataset.error;
}

function notice(message) {
  const el = $("notice");
  el.textContent = message;
  el.hidden = !message;
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
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

function emit(stage, detail = {}) {
  window.dispatchEvent(new CustomEvent("matte:stage", { detail: { stage, ...detail } }));
}

// ---------------------------------------------------------------------------------------------
// Python readiness

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
  const { stage } = e.detail;
  emit(stage);
});

// ---------------------------------------------------------------------------------------------
// Models: manifest, download with progress and hash check, session

async function loadCatalog() {
  const resp = await fetch("./models/models.json");
  if (!resp.ok) throw new Error(`models/models.json: HTTP ${resp.status}`);
  return resp.json();
}

function modelInfo(id) {
  return state.catalog.models.find((m) => m.id === id);
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
  return buf;
}

function ensureSession(id) {
  if (state.sessions.has(id)) return state.sessions.get(id);
  const info = modelInfo(id);
  const p = (async () => {
    const t0 = performance.now();
    step("model", "active", "");
    emit("fetch:model", { model: id });
    const bytes = await fetchModel(info, (got, total) => {
      step("model", undefined, `${mb(got)} / ${mb(total)}`);
      if (!state.busy || document.body.dataset.state === "loading") bar(got / total);
    });
    state.timings.modelFetch = performance.now() - t0;
    step("model", undefined, "preparing…");
    emit("compute:session", { model: id });
    const t1 = performance.now();
    const backend = localStorage.getItem("matte.backend") === "wasm" ? "wasm" : "webgpu";
    const entry = await bridge.createSession(id, bytes, {
      backend, caps: state.caps, onNotice: notice,
    });
    state.timings.session = performance.now() - t1;
    state.backend = entry.backend;
    $("backend").textContent = bridge.backendLabel(entry.backend, state.caps);
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
// The pipeline for one file

async function handleFile(file) {
  if (!file) return;
  if (state.busy) {
    notice("Still working on the previous image; this one will have to wait until it is done.");
    return;
  }
  clearError();
  notice("");
  state.busy = true;
  const t0 = performance.now();
  const previousInfo = $("file-info").textContent;
  state.timings.run = { start: t0 };
  $("dropzone").hidden = true;
  $("result").hidden = false;
  $("download").disabled = true;
  setState("loading");
  ["decode", "inference", "finish"].forEach((s) => step(s, "", ""));
  $("file-info").textContent = `${file.name || "pasted image"} · ${mb(file.size)}`;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (!window.mattePy) {
      step("python", "active", "");
      bar(null);
      status("Starting Python…");
    }
    const py = await pyReady;
    step("decode", "active", "");
    const opened = await py.open_image(bytes, file.name || "image");
    if (opened.error) {
      // The previous image and result (if any) are untouched in Python: show them again.
      step("decode", "failed", "");
      if (state.hasResult) {
        $("file-info").textContent = previousInfo;
        ["decode", "inference", "finish"].forEach((s) => step(s, "done"));
      } else {
        $("result").hidden = true;
        $("dropzone").hidden = false;
      }
      throw new UserError(opened.error);
    }
    state.hasResult = false; // Python now holds the new image and no alpha yet
    state.timings.run.decode = opened.ms;
    step("decode", "done", `${opened.width}×${opened.height}`);
    state.fileName = file.name;
    if (opened.notes && opened.notes.length) notice(Array.from(opened.notes).join(" "));
    py.render_preview($("canvas"));
    $("busy").hidden = false;

    step("inference", "active", "");
    const modelId = state.modelId;
    const session = ensureSession(modelId);
    if (!bridge.hasSession(modelId)) status("Waiting for the model…");
    await session;
    bar(null);
    const tInf = performance.now();
    const timer = setInterval(() => step("inference", undefined, secs(performance.now() - tInf)),
      250);
    status(`Removing the background with ${modelInfo(modelId).label}…`);
    let seg;
    try {
      seg = await py.segment(modelId);
    } finally {
      clearInterval(timer);
    }
    if (seg.error) {
      step("inference", "failed", "");
      throw new UserError(`${seg.error} Your image is still here: try again, or pick the fast model.`);
    }
    if (seg.cancelled) return;
    const times = seg.times;
    step("inference", "done", secs(times.inference));
    step("finish", "active", "");
    const drawn = py.render_preview($("canvas"));
    step("finish", "done", secs(times.postprocess + drawn.ms));
    state.timings.run = { ...state.timings.run, ...Object.fromEntries(Object.entries(times)),
      draw: drawn.ms, total: performance.now() - t0 };
    state.hasResult = true;
    $("download").disabled = false;
    bar(1);
    setState("done");
    status(`Done in ${secs(performance.now() - t0)} · ${opened.width}×${opened.height}`);
    emit("done", { timings: state.timings.run });
  } catch (err) {
    setState(state.hasResult ? "done" : "error");
    bar(0);
    showError(err instanceof UserError ? err.message : `Something went wrong: ${err.message || err}`);
    status("Ready");
  } finally {
    state.busy = false;
    $("busy").hidden = true;
    $("download").disabled = !state.hasResult;
  }
}

class UserError extends Error {}

async function download() {
  const py = await pyReady;
  $("download").disabled = true;
  status("Encoding PNG…");
  try {
    const out = py.export_image("png");
    if (out.error) throw new UserError(out.error);
    const blob = new Blob([out.bytes], { type: out.mime });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = out.name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    status(`Saved ${out.name} (${mb(out.bytes.length)}, encoded in ${secs(out.ms)})`);
  } catch (err) {
    showError(`The download failed: ${err.message || err}`);
  } finally {
    $("download").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Input: drop, pick, paste, sample

function firstImageFile(list) {
  const files = Array.from(list || []);
  return files.find((f) => f.type.startsWith("image/")) || files[0] || null;
}

function wireInput() {
  for (const id of ["file", "file-again"]) {
    $(id).addEventListener("change", (e) => {
      handleFile(firstImageFile(e.target.files));
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
    handleFile(firstImageFile(e.dataTransfer && e.dataTransfer.files));
  });
  window.addEventListener("paste", (e) => {
    const items = Array.from((e.clipboardData && e.clipboardData.files) || []);
    if (items.length) {
      e.preventDefault();
      handleFile(firstImageFile(items));
    }
  });
  $("sample").addEventListener("click", async () => {
    const resp = await fetch("./src/sample.jpg");
    const blob = await resp.blob();
    handleFile(new File([blob], "astronaut.jpg", { type: "image/jpeg" }));
  });
  $("download").addEventListener("click", download);
  $("error-close").addEventListener("click", clearError);
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
  });
  updateLicense();
}

function updateLicense() {
  const m = modelInfo(state.modelId);
  $("license").textContent = `Model: ${m.label}. License ${m.license}. ${m.license_note || ""}`;
}

// ---------------------------------------------------------------------------------------------
// Boot

async function boot() {
  wireInput();
  status("Starting…");
  step("python", "active", "");
  const [caps, catalog] = await Promise.all([bridge.probe(), loadCatalog()]);
  state.caps = caps;
  state.catalog = catalog;
  const saved = localStorage.getItem(STORAGE_KEY);
  const params = new URLSearchParams(location.search);
  const wanted = params.get("model") || saved || catalog.default;
  state.modelId = catalog.models.some((m) => m.id === wanted) ? wanted : catalog.default;
  wireModelPicker();
  $("backend").textContent = bridge.backendLabel(caps.webgpu ? "webgpu" : "wasm", caps);
  emit("probe", { caps });
  ensureSession(state.modelId); // in parallel with Python start-up
  setState("ready-shell");
  status("Loading the model and Python in the background. You can drop an image now.");
  Promise.allSettled([pyReady, state.sessions.get(state.modelId)]).then((r) => {
    if (r.every((x) => x.status === "fulfilled")) {
      state.timings.ready = performance.now() - state.t0;
      if (!state.busy) status(`Ready in ${secs(state.timings.ready)}. Your images stay on this device.`);
      document.body.dataset.ready = "1";
      emit("ready");
    }
  });
}

boot().catch((err) => showError(`matte could not start: ${err.message || err}`));
