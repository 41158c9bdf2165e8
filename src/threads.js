// How many WASM threads onnxruntime-web will really run, decided up front so the badge tells
// the truth. Pure: the probe gathers the facts, threadCount decides.
//
// onnxruntime-web falls back to one thread (with a console warning) unless its multi-thread test
// passes: SharedArrayBuffer exists, can be posted through a MessageChannel (Firefox), and the
// engine validates a module with shared memory and atomics. crossOriginIsolated alone is not
// enough: WebKitGTK is isolated under COOP/COEP but never exposes SharedArrayBuffer, and it
// reports navigator.hardwareConcurrency 4 on a 2-core machine.

/** Most threads matte asks for: past this, more workers cost memory and start-up, not speed. */
export const MAX_THREADS = 16;

// (module (memory 1 1 shared) (func i32.const 0 i32.atomic.load drop)): the same module
// onnxruntime-web validates before it creates a thread pool.
const THREADED_WASM = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5,
  4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11]);

/** True when WebAssembly threads can run here (onnxruntime-web's own test). Never throws. */
export function sharedMemoryWorks(g = globalThis) {
  if (typeof g.SharedArrayBuffer === "undefined") return false;
  try {
    if (typeof g.MessageChannel !== "undefined") {
      new g.MessageChannel().port1.postMessage(new g.SharedArrayBuffer(1));
    }
    return g.WebAssembly.validate(THREADED_WASM);
  } catch {
    return false;
  }
}

/**
 * The number of WASM threads to ask onnxruntime-web for.
 * @param {{isolated: boolean, sharedMemory: boolean, cores: number}} facts
 * @returns {number} 1 unless the page is cross-origin isolated *and* shared memory works; then
 *   the reported cores, at least 1 and at most MAX_THREADS.
 */
export function threadCount({ isolated, sharedMemory, cores }) {
  if (!isolated || !sharedMemory) return 1;
  const n = Math.floor(Number(cores));
  return Number.isFinite(n) && n > 1 ? Math.min(n, MAX_THREADS) : 1;
}
