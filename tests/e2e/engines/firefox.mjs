// Cross-engine smoke flow for Firefox, driven over WebDriver BiDi by puppeteer-core (no browser
// download: Debian's firefox-esr). Run by tests/e2e/test_engines.py, which checks the result:
//
//   node firefox.mjs '{"origin": "...", "image": "/abs/photo.png", "firefox": "/usr/bin/firefox-esr",
//                    "out": "/abs/artifacts/prefix"}'
//
// Prints one JSON line: page facts, every request the page made, and the downloaded files as
// base64 (the app's own Download button, captured in the page; see CAPTURE). Steps are driven
// like a person: the file picker, a mouse stroke with the eraser, the Undo button, Download, a
// reload that restores the autosaved session.
import { readFileSync } from "node:fs";

import puppeteer from "puppeteer-core";

const args = JSON.parse(process.argv[2]);

const CAPTURE = readFileSync(new URL("./capture.js", import.meta.url), "utf8");

const log = [];
const requests = [];
const errors = [];
const out = { steps: log, requests, errors };

async function waitFor(page, expr, timeout) {
  await page.waitForFunction(expr, { timeout, polling: 250 });
}

async function download(page, fmt) {
  await page.select("#format", fmt);
  const n = await page.evaluate("window.__downloads.length");
  await page.click("#download");
  await waitFor(page, `window.__downloads.length > ${n}`, 60_000);
  return page.evaluate(`window.__downloads[${n}]`);
}

async function stroke(page, row, c0, c1) {
  const v = await page.evaluate(`(() => { const v = window.matteApp.editor.view;
    const b = document.querySelector('#stage').getBoundingClientRect();
    return [v.zoom, v.ox, v.oy, b.left, b.top]; })()`);
  const [z, ox, oy, bx, by] = v;
  await page.mouse.move(bx + (c0 - ox) * z, by + (row - oy) * z);
  await page.mouse.down();
  await page.mouse.move(bx + (c1 - ox) * z, by + (row - oy) * z, { steps: 10 });
  await page.mouse.up();
}

async function facts(page) {
  return page.evaluate(`({
    isolated: Boolean(globalThis.crossOriginIsolated),
    sab: typeof SharedArrayBuffer !== 'undefined',
    backend: window.matteApp.backend,
    threads: window.matteApp.caps && window.matteApp.caps.threads,
    cores: navigator.hardwareConcurrency,
    badge: (document.querySelector('#backend') || {}).textContent || '',
    userAgent: navigator.userAgent,
  })`);
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: args.firefox,
  headless: true,
  protocolTimeout: 600_000,
  extraPrefsFirefox: { "browser.download.folderList": 2, "dom.serviceWorkers.testing.enabled": true },
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => errors.push(String(e && e.message || e)));
  await page.evaluateOnNewDocument(CAPTURE);
  const t0 = Date.now();
  await page.goto(`${args.origin}/?model=u2netp`);
  await waitFor(page, "document.body.dataset.ready === '1' || Boolean(document.body.dataset.error)",
    300_000);
  const bootError = await page.evaluate("document.body.dataset.error || ''");
  if (bootError) throw new Error(`start-up failed: ${bootError}`);
  log.push(["ready", Date.now() - t0]);

  const input = await page.$("#file");
  await input.uploadFile(args.image);
  await waitFor(page, "['done', 'error'].includes(document.body.dataset.state) && !window.matteApp.busy",
    300_000);
  out.state = await page.evaluate("document.body.dataset.state");
  log.push(["done", Date.now() - t0]);
  out.facts = await facts(page);
  await page.screenshot({ path: `${args.out}-done.png` });
  out.result = await download(page, "png");

  await page.keyboard.press("e"); // eraser
  await stroke(page, 400, 100, 300);
  out.stroked = await download(page, "mask");
  await page.click("#undo");
  out.undone = await download(page, "mask");
  await stroke(page, 150, 180, 330); // the edit that the reload must bring back
  out.edited = await download(page, "mask");
  log.push(["edited", Date.now() - t0]);
  const t = await page.evaluate("Date.now()");
  await waitFor(page, `Number(document.body.dataset.autosaved || 0) > ${t}`, 30_000);

  await page.reload();
  await waitFor(page, "document.body.dataset.restored === '1'", 300_000);
  log.push(["restored", Date.now() - t0]);
  await page.screenshot({ path: `${args.out}-restored.png` });
  out.restored = await download(page, "mask");
  out.resources = await page.evaluate(
    "performance.getEntriesByType('resource').map((e) => e.name)");
} catch (err) {
  out.failure = String(err && err.stack || err);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
