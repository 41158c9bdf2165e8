// Unit tests of the thread probe (node --test; run by tests/test_js.py).
import assert from "node:assert/strict";
import test from "node:test";

import { MAX_THREADS, sharedMemoryWorks, threadCount } from "../../src/threads.js";

test("one thread without isolation, whatever the cores", () => {
  assert.equal(threadCount({ isolated: false, sharedMemory: true, cores: 8 }), 1);
  assert.equal(threadCount({ isolated: false, sharedMemory: false, cores: 8 }), 1);
});

test("isolated without SharedArrayBuffer (WebKitGTK) is one thread, not the reported 4", () => {
  assert.equal(threadCount({ isolated: true, sharedMemory: false, cores: 4 }), 1);
});

test("isolated with shared memory uses every reported core, capped", () => {
  assert.equal(threadCount({ isolated: true, sharedMemory: true, cores: 2 }), 2);
  assert.equal(threadCount({ isolated: true, sharedMemory: true, cores: 128 }), MAX_THREADS);
});

test("odd core counts fall back to one thread", () => {
  for (const cores of [undefined, null, 0, -3, NaN, "x", 1, 1.9]) {
    assert.equal(threadCount({ isolated: true, sharedMemory: true, cores }), 1, String(cores));
  }
});

test("shared memory works in node (it has SharedArrayBuffer and wasm threads)", () => {
  assert.equal(sharedMemoryWorks(), true);
});

test("no SharedArrayBuffer means no threads", () => {
  const g = { ...globalThis, SharedArrayBuffer: undefined, WebAssembly, MessageChannel };
  assert.equal(sharedMemoryWorks(g), false);
});

test("a SharedArrayBuffer that cannot be posted (old Firefox) means no threads", () => {
  class Refusing { constructor() { this.port1 = { postMessage() { throw new Error("DataCloneError"); } }; } }
  const g = { SharedArrayBuffer, WebAssembly, MessageChannel: Refusing };
  assert.equal(sharedMemoryWorks(g), false);
});

test("an engine without wasm threads means no threads", () => {
  const g = { SharedArrayBuffer, MessageChannel, WebAssembly: { validate: () => false } };
  assert.equal(sharedMemoryWorks(g), false);
});
