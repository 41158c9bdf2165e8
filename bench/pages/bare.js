// Bare Pyodide start-up: loadPyodide, then numpy + Pillow, then import them. Times are
// performance.now() (ms since navigation start) at the end of each step, in window.bareTimings.
import { loadPyodide } from "../vendor/pyodide/pyodide.mjs";

const t = { moduleStart: performance.now() };
window.bareTimings = t;
try {
  const pyodide = await loadPyodide({
    indexURL: new URL("../vendor/pyodide/", import.meta.url).href,
    stdout: () => {},
    stderr: () => {},
  });
  t.pyodide = performance.now();
  await pyodide.loadPackage(["numpy", "pillow"], { messageCallback: () => {} });
  t.packages = performance.now();
  await pyodide.runPythonAsync("import numpy, PIL.Image");
  t.imports = performance.now();
  t.wasmHeapBytes = pyodide._module.HEAP8.length;
  window.barePyodide = pyodide;
  document.getElementById("out").textContent = `ready in ${(t.imports / 1000).toFixed(1)} s`;
  document.body.dataset.ready = "1";
} catch (err) {
  document.body.dataset.error = String(err && err.message || err);
}
