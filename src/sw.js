// matte service worker: the app works offline after the first visit, one build at a time.
//
// build.py copies this file to the site root (so its scope is the whole app) and fills in the
// three values below from the build's asset manifest: the build id (a hash over every file of
// the site and over this file), the sha256 and size of every file, and the files to precache
// (the app shell and the runtime of the WASM path; not the models, not the WebGPU build of
// onnxruntime-web, not PyScript's editor/terminal chunks). A new build therefore changes this
// file's bytes, which is what makes the browser install the new worker.
//
// Caches (names carry the scope's path, so two matte sites under one origin never collide):
//   matte:<scope>:build-<id>  this build's files, each verified against its sha256 before it is
//                             stored; never modified once complete, deleted when a newer build
//                             activates.
//   matte:<scope>:models      the models, keyed by "models/<file>?sha256=<hash>": content
//                             addressed, so a model survives deploys that do not change it and a
//                             build can only ever be served the model bytes it names. The page
//                             stores a model here itself after fetchModel() has downloaded and
//                             verified it (src/app.js), so it is downloaded once, also on the
//                             first visit, which this worker does not control yet.
//
// Never a stale mix. A worker serves only its own build: every file comes from its own cache,
// and a file it did not precache (the WebGPU build, a lazily loaded chunk) is fetched, checked
// against this build's sha256 and refused (503) when the server already has other bytes.
// What happens when a new build is deployed while a tab is controlled by the old worker A:
//   1. the browser re-fetches sw.js (on navigation and on register(); updateViaCache "none"),
//      sees new bytes and installs worker B next to A;
//   2. B precaches its own files into its own cache (revalidating the HTTP cache and checking
//      every sha256: a file still cached by a proxy or the browser from the old deploy is
//      fetched again with cache "reload"; if it still does not match, B's install fails and A
//      stays in charge; B tries again on the next visit);
//   3. B waits (no skipWaiting): every open tab keeps being served by A from A's cache, so a
//      tab never mixes A's HTML with B's scripts. The page says that an update is ready;
//   4. when the last tab controlled by A closes, B activates, deletes A's cache and the models
//      no longer named by B; the next visit is entirely B.
// The worker never calls clients.claim(): a page that started without a worker (the first
// visit, or a hard reload) finishes with the network it started with.
//
// Cross-origin isolation on static hosts: GitHub Pages cannot send COOP/COEP headers, so
// onnxruntime-web gets no SharedArrayBuffer and runs on one thread. This worker adds COOP
// same-origin and COEP require-corp to what it serves (where the server sent none), so from the
// second visit on the page is cross-origin isolated and inference uses threads. Everything the
// page loads is same-origin, so COEP blocks nothing of ours. Two exceptions keep embedding as it
// was: a page loaded in an iframe (its isolation is the parent's business) and a page opened
// with ?embed=1 (a popup must keep its cross-origin opener, which COOP would cut off).
//
// The worker only ever requests files of its own origin, inside its scope.

"use strict";

const BUILD = /*@BUILD@*/"dev";
const ASSETS = /*@ASSETS@*/{}; // path -> [bytes, sha256]
const PRECACHE = /*@PRECACHE@*/[]; // paths

const SCOPE = new URL(self.registration.scope);
const PREFIX = `matte:${SCOPE.pathname}:`;
const BUILD_CACHE = `${PREFIX}build-${BUILD}`;
const MODEL_CACHE = `${PREFIX}models`;
const PARALLEL = 4;

const keyOf = (rel) => new URL(rel, SCOPE).href;
const modelKey = (rel) => `${keyOf(rel)}?sha256=${ASSETS[rel][1]}`;
const isModel = (rel) => rel.startsWith("models/") && rel.endsWith(".onnx");

/** The site path of a request inside our scope, or null when it is not one of our files. */
function assetPath(request) {
  const url = new URL(request.url);
  if (url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return null;
  let rel;
  try {
    rel = decodeURIComponent(url.pathname.slice(SCOPE.pathname.length));
  } catch {
    return null;
  }
  if (request.mode === "navigate" && rel === "") rel = "index.html";
  return Object.prototype.hasOwnProperty.call(ASSETS, rel) ? rel : null;
}

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

class StaleError extends Error {}

/**
 * Fetch one file of this build from the network and store it, but only if its bytes are this
 * build's (size and sha256). The first try revalidates the HTTP cache (a 304 costs no body);
 * a mismatch is tried once more past every cache. Throws StaleError when the server has other
 * bytes (a newer or older deploy).
 */
async function fetchVerified(rel, cache) {
  const [bytes, hash] = ASSETS[rel];
  let last = "";
  for (const mode of ["no-cache", "reload"]) {
    const resp = await fetch(keyOf(rel), { cache: mode, credentials: "same-origin" });
    if (!resp.ok) {
      last = `HTTP ${resp.status}`;
      continue;
    }
    const body = await resp.arrayBuffer();
    if (body.byteLength === bytes && (await sha256Hex(body)) === hash) {
      const headers = new Headers(resp.headers);
      headers.delete("Content-Encoding"); // the body is stored decoded (GitHub Pages gzips)
      headers.set("Content-Length", String(bytes));
      const stored = new Response(body, { status: 200, headers });
      await cache.put(keyOf(rel), stored.clone());
      return stored;
    }
    last = `${body.byteLength} bytes, not this build's ${bytes}-byte file`;
  }
  throw new StaleError(`${rel}: ${last}`);
}

/** Whether a response to `request` gets the isolation headers (see the top of this file). */
function isolates(request) {
  if (request.mode !== "navigate") return true; // scripts and workers of an isolated page
  return request.destination === "document"
    && new URL(request.url).searchParams.get("embed") !== "1";
}

/** A copy of `resp` with the isolation headers (when missing) and where it came from. */
function finish(resp, source, isolate) {
  const headers = new Headers(resp.headers);
  if (isolate && !headers.has("Cross-Origin-Opener-Policy")) {
    headers.set("Cross-Origin-Opener-Policy", "same-origin");
  }
  if (isolate && !headers.has("Cross-Origin-Embedder-Policy")) {
    headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  }
  headers.set("X-Matte-Cache", source);
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

async function respond(request, rel) {
  const isolate = isolates(request);
  if (isModel(rel)) {
    // Served from the content-addressed cache, else streamed from the network untouched (the
    // page shows progress, checks the sha256 and then stores it, see the comment above).
    const hit = await (await caches.open(MODEL_CACHE)).match(modelKey(rel));
    return finish(hit || await fetch(request), hit ? "hit" : "network", isolate);
  }
  const cache = await caches.open(BUILD_CACHE);
  const hit = await cache.match(keyOf(rel));
  if (hit) return finish(hit, "hit", isolate);
  try {
    return finish(await fetchVerified(rel, cache), "network", isolate);
  } catch (err) {
    if (!(err instanceof StaleError)) throw err; // offline: the browser reports a network error
    const clients = await self.clients.matchAll({ includeUncontrolled: true });
    for (const c of clients) c.postMessage({ type: "matte:stale", build: BUILD, path: rel });
    return new Response(`matte was updated on the server: ${err.message}. Close every matte `
      + "tab and open it again.", { status: 503, headers: { "Content-Type": "text/plain" } });
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || request.headers.has("range")) return;
  const rel = assetPath(request);
  if (rel === null) return; // not one of our files: the browser fetches it as usual
  event.respondWith(respond(request, rel));
});

async function precache() {
  const cache = await caches.open(BUILD_CACHE);
  const have = new Set((await cache.keys()).map((r) => r.url)); // a resumed install
  const todo = PRECACHE.filter((rel) => !have.has(keyOf(rel)));
  let next = 0;
  const worker = async () => {
    while (next < todo.length) await fetchVerified(todo[next++], cache);
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache()); // a failure keeps the previous worker (if any) in charge
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== BUILD_CACHE && name !== MODEL_CACHE) {
        await caches.delete(name);
      }
    }
    const wanted = new Set(Object.keys(ASSETS).filter(isModel).map(modelKey));
    const models = await caches.open(MODEL_CACHE);
    for (const request of await models.keys()) {
      if (!wanted.has(request.url)) await models.delete(request);
    }
  })());
});

/** What is cached: the page shows "Available offline" from this, tests read it. */
async function status() {
  const cache = await caches.open(BUILD_CACHE);
  const have = new Set((await cache.keys()).map((r) => r.url));
  const models = await caches.open(MODEL_CACHE);
  const cachedModels = [];
  for (const rel of Object.keys(ASSETS).filter(isModel)) {
    if (await models.match(modelKey(rel))) cachedModels.push(rel);
  }
  const missing = PRECACHE.filter((rel) => !have.has(keyOf(rel)));
  const bytes = PRECACHE.reduce((n, rel) => n + ASSETS[rel][0], 0)
    + cachedModels.reduce((n, rel) => n + ASSETS[rel][0], 0);
  return { build: BUILD, cache: BUILD_CACHE, files: PRECACHE.length, missing,
    models: cachedModels, bytes };
}

self.addEventListener("message", (event) => {
  const port = event.ports && event.ports[0];
  if (!port || !event.data || event.data.type !== "matte:status") return;
  event.waitUntil(status().then((s) => port.postMessage(s),
    (err) => port.postMessage({ build: BUILD, error: String(err) })));
});
