// Example host page for matte's embed API (README "Embedding").
//
// The matte site must list this page's origin in its allowlist
// (`python build.py build --embed-origin <this origin>`); otherwise the iframe never answers.
// Where the app lives: ?app=<url> (default: the folder above this page).

const $ = (id) => document.getElementById(id);
const appUrl = new URL(new URLSearchParams(location.search).get("app") || "../", location.href);
const APP_ORIGIN = appUrl.origin;
const frame = $("matte");
let ready = false;
let nextId = 1;
let resultUrl = null;
let pinger = null;

function setState(state, text) {
  document.body.dataset.state = state;
  $("connection").textContent = text;
}

function log(direction, msg) {
  const li = document.createElement("li");
  li.className = direction === "→" ? "out" : "in";
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  const dir = document.createElement("span");
  dir.className = "dir";
  dir.textContent = direction;
  const body = document.createElement("code");
  const shown = { ...msg };
  for (const key of ["blob", "file"]) {
    if (shown[key] instanceof Blob) shown[key] = `Blob(${shown[key].size} bytes)`;
  }
  body.textContent = JSON.stringify(shown); // textContent only: names come from files
  li.append(time, dir, body);
  $("log").prepend(li);
}

/** Send one message to the iframe, addressed to the app's origin only (never "*"). */
function send(type, fields = {}) {
  const msg = { matte: 1, type, id: `req-${nextId++}`, ...fields };
  frame.contentWindow.postMessage(msg, APP_ORIGIN);
  log("→", msg);
  return msg.id;
}

function options() {
  const bg = $("background").value;
  return {
    background: bg === "custom" ? $("color").value : bg,
    format: $("format").value,
    quality: Number($("quality").value),
    crop: $("crop").checked,
    maskOnly: $("mask").checked,
  };
}

function updateButtons() {
  $("send").disabled = !ready || !$("file").files.length;
  $("export").disabled = !ready || !resultUrl;
}

function showResult(msg) {
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(msg.blob);
  const img = $("result");
  img.src = resultUrl;
  img.hidden = false;
  $("no-result").hidden = true;
  const link = $("download");
  link.href = resultUrl;
  link.download = msg.name;
  link.textContent = `Download ${msg.name}`;
  link.hidden = false;
  $("result-meta").textContent = `${msg.width}×${msg.height} · ${msg.mime} · `
    + `${(msg.blob.size / 1024).toFixed(0)} KB`;
  $("progress").textContent = "Done. Edit in the editor, then get the edited result.";
  document.body.dataset.results = String(Number(document.body.dataset.results || 0) + 1);
  setState("result", "Result received");
  updateButtons();
}

window.addEventListener("message", (event) => {
  // Only our iframe, only from the app's origin.
  if (event.source !== frame.contentWindow || event.origin !== APP_ORIGIN) return;
  const msg = event.data;
  if (!msg || msg.matte !== 1) return;
  log("←", msg);
  if (msg.type === "ready") {
    ready = true;
    clearInterval(pinger);
    if (document.body.dataset.state === "connecting") setState("ready", `Connected to ${APP_ORIGIN}`);
    updateButtons();
  } else if (msg.type === "progress") {
    $("progress").textContent = `Working: ${msg.stage}…`;
  } else if (msg.type === "result") {
    showResult(msg);
  } else if (msg.type === "error") {
    $("progress").textContent = msg.message;
    setState("error", "Error");
    updateButtons();
  }
});

$("file").addEventListener("change", () => {
  const f = $("file").files[0];
  $("file-name").textContent = f ? f.name : "No file chosen";
  updateButtons();
});
$("background").addEventListener("change", () => { $("color-row").hidden = $("background").value !== "custom"; });
$("format").addEventListener("change", () => { $("quality-row").hidden = $("format").value === "png"; });
$("quality").addEventListener("input", () => { $("quality-out").textContent = $("quality").value; });
$("send").addEventListener("click", () => {
  const file = $("file").files[0];
  setState("working", "Working…");
  send("open", { file, name: file.name, options: options() });
});
$("export").addEventListener("click", () => {
  setState("working", "Working…");
  // only the file format: background, crop and edits are whatever the editor shows now
  const { format, quality, maskOnly } = options();
  send("export", { options: { format, quality, maskOnly } });
});

// The app announces `ready` when it can tell our origin; `ping` covers the other cases (for
// example a browser without location.ancestorOrigins and a no-referrer policy).
frame.addEventListener("load", () => {
  clearInterval(pinger);
  let tries = 0;
  pinger = setInterval(() => {
    if (ready || ++tries > 60) { clearInterval(pinger); return; }
    frame.contentWindow.postMessage({ matte: 1, type: "ping" }, APP_ORIGIN);
  }, 1000);
});
frame.src = appUrl.href;
