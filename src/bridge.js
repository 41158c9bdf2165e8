// matte bridge to onnxruntime-web: capability probing, one session per model, inference.
//
// The page owns no pixels here: Python hands over a Float32Array tensor (one copy made on the
// Python side), this module wraps it in an ort.Tensor without copying, and returns the output
// tensor's Float32Array, which Python copies once into numpy. With the WASM backend inference
// runs in onnxruntime's proxy worker, so the page stays responsive.

import { sharedMemoryWorks, threadCount } from "./threads.js";

const ORT_DIR = new URL("../vendor/ort/", import.meta.url).href;
const BUILDS = {
  wasm: "ort.wasm.min.mjs", // CPU: WASM + SIMD (+ threads when cross-origin isolated)
  webgpu: "ort.webgpu.min.mjs", // native WebGPU backend (falls back to WASM kernels per op)
};

const loaded = new Map(); // backend -> Promise<ort module>
const sessions = new Map(); // model id -> {session, backend}
const lostDevices = new WeakMap(); // GPUDevice -> GPUDeviceLostInfo, once lost

/** Probe what this browser offers. Never throws. */
export async function probe() {
  const caps = {
    isolated: Boolean(globalThis.crossOriginIsolated),
    cores: navigator.hardwareConcurrency || 1,
    webgpu: false,
    adapter: null,
    shaderF16: false,
    simd: WebAssembly.validate(
      new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10,
        1, 8, 0, 65, 0, 253, 15, 253, 98, 11]),
    ),
  };
  caps.sharedMemory = sharedMemoryWorks();
  caps.threads = threadCount(caps); // what onnxruntime-web will really run (see threads.js)
  try {
    if (navigator.gpu) {
      const adapter = await navigator.gpu.requestAdapter();
      if (adapter) {
        caps.webgpu = true;
        const info = adapter.info || {};
        caps.adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ")
          || "unknown adapter";
        caps.shaderF16 = adapter.features.has("shader-f16");
      }
    }
  } catch (err) {
    caps.webgpuError = String(err && err.message || err);
  }
  return caps;
}

async function runtime(backend, caps) {
  if (!loaded.has(backend)) {
    loaded.set(backend, (async () => {
      const ort = await import(ORT_DIR + BUILDS[backend]);
      ort.env.wasm.wasmPaths = ORT_DIR;
      ort.env.wasm.numThreads = caps.threads;
      // The proxy worker keeps the page responsive during WASM inference; WebGPU runs on the
      // main thread (the GPU does the work).
      ort.env.wasm.proxy = backend === "wasm";
      ort.env.logLevel = "error";
      return ort;
    })());
  }
  return loaded.get(backend);
}

/** Human name of a backend choice, for the UI. */
export function backendLabel(backend, caps) {
  if (backend === "webgpu") return `WebGPU (${caps.adapter || "GPU"})`;
  return caps.threads > 1 ? `WASM, ${caps.threads} threads` : "WASM, 1 thread";
}

/**
 * Create (once) the session of a model from its bytes. Tries WebGPU first when asked and
 * available, and falls back to WASM; `onNotice` hears about a fallback.
 * The bytes may be transferred to a worker: the caller must not reuse them.
 */
export async function createSession(modelId, bytes, { backend = "wasm", caps, onNotice,
  warmup = null } = {}) {
  if (sessions.has(modelId)) return sessions.get(modelId);
  const order = backend === "webgpu" && caps.webgpu ? ["webgpu", "wasm"] : ["wasm"];
  let lastError = null;
  for (const b of order) {
    try {
      const entry = await openSession(b, b === "webgpu" ? bytes.slice() : bytes, caps);
      // A WebGPU session keeps the model bytes (a copy was given to onnxruntime), so a
      // failure during a run (device lost, an operator that fails only at run time) can
      // still fall back to WASM without downloading the model again.
      if (b === "webgpu") Object.assign(entry, { bytes, caps, onNotice });
      // A first run pays one-off costs (memory arenas, kernel set-up: about 0.4 s of a 1.2 s
      // ISNet preview run, measured); a tiny run ({input, dims}) pays them in the background.
      entry.warm = warmup ? runOn(entry, warmup.input, new Float32Array(
        warmup.dims.reduce((a, n) => a * n, 1)), warmup.dims, null).catch(() => {}) : null;
      sessions.set(modelId, entry);
      return entry;
    } catch (err) {
      lastError = err;
      if (b === "webgpu" && onNotice) {
        onNotice(`WebGPU could not run this model (${String(err && err.message || err)
          .slice(0, 160)}); using WASM instead.`);
      }
    }
  }
  throw lastError;
}

async function openSession(backend, data, caps) {
  const ort = await runtime(backend, caps);
  const session = await ort.InferenceSession.create(data, {
    executionProviders: [backend],
    graphOptimizationLevel: "all",
  });
  // onnxruntime's error after a lost device names a C++ source line; the notice says why
  const device = backend === "webgpu" && ort.env.webgpu && ort.env.webgpu.device;
  if (device && device.lost) device.lost.then((info) => lostDevices.set(device, info));
  return { session, backend, ort, device: device || null };
}

/** The backend a model's session uses now ("webgpu" or "wasm"), or null. */
export function backendOf(modelId) {
  const entry = sessions.get(modelId);
  return entry ? entry.backend : null;
}

export function hasSession(modelId) {
  return sessions.has(modelId);
}

/**
 * Run a model. `data` is a Float32Array the caller gives up; returns {data, dims} of the
 * chosen output (the Float32Array belongs to the caller).
 */
export async function run(modelId, inputName, data, dims, outputName) {
  const entry = sessions.get(modelId);
  if (!entry) throw new Error(`model ${modelId} is not loaded yet`);
  if (entry.warm) await entry.warm;
  if (entry.backend !== "webgpu") return runOn(entry, inputName, data, dims, outputName);
  // WebGPU: keep the input until the run succeeds, for a WASM retry
  try {
    return await runOn(entry, inputName, data.slice(), dims, outputName);
  } catch (err) {
    const lost = entry.device && lostDevices.get(entry.device);
    const why = lost ? `the GPU device was lost: ${lost.message || lost.reason}`
      : String(err && err.message || err).slice(0, 160);
    if (entry.onNotice) entry.onNotice(`WebGPU failed during inference (${why}); `
      + "switched to WASM, your image and edits are kept.");
    const wasm = await openSession("wasm", entry.bytes, entry.caps);
    sessions.set(modelId, wasm);
    try { await entry.session.release(); } catch { /* the device may be gone */ }
    window.dispatchEvent(new CustomEvent("matte:backend", { detail: { modelId, backend: "wasm" } }));
    return runOn(wasm, inputName, data, dims, outputName);
  }
}

async function runOn(entry, inputName, data, dims, outputName) {
  const { session, ort } = entry;
  const feeds = { [inputName]: new ort.Tensor("float32", data, Array.from(dims)) };
  const name = outputName || session.outputNames[0];
  const results = await session.run(feeds, [name]);
  const out = results[name];
  const result = { data: out.data, dims: Array.from(out.dims) };
  for (const t of Object.values(results)) if (t.dispose) t.dispose();
  return result;
}

/** Raw inference timing, for benchmarks: run `n` times on a constant tensor. */
export async function timeRaw(modelId, inputName, dims, n = 1) {
  const size = dims.reduce((a, b) => a * b, 1);
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run(modelId, inputName, new Float32Array(size), dims, null);
    times.push(performance.now() - t0);
  }
  return times;
}
