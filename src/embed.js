// matte embed API: a versioned postMessage protocol for pages that show matte in an iframe.
//
// Who may talk to the app is decided by whoever deploys the site, never by the embedding page:
// `python build.py build --embed-origin ORIGIN` (repeatable) writes ./embed.json, which this
// module fetches (same origin) before it answers anything. The app's own origin is always
// allowed. A message from any other origin is ignored (one console warning in the iframe) and
// gets no answer at all, and every message this module sends goes to exactly one window, the
// one that asked (event.source), with that window's verified origin as targetOrigin (never
// "*"), so the browser drops it if that window has navigated elsewhere in the meantime.
//
// Protocol (all messages are plain objects {matte: 1, type, id?, ...}; see README "Embedding"):
//   parent -> app: ping | open {file, name?, options?} | export {options?}
//   app -> parent: ready | progress {stage} | result {blob, mime, name, width, height} |
//                  error {message, code}

export const PROTOCOL = 1;
const FORMATS = new Set(["png", "webp", "jpeg", "jpg"]);
/** Internal stages (matte:stage events) -> the stage names the protocol documents. */
const STAGES = {
  "fetch:model": "model",
  "compute:session": "model",
  "start:python-ready": "python",
  "compute:decode": "decode",
  "compute:preprocess": "inference",
  "compute:inference": "inference",
  "compute:postprocess": "edges",
  "compute:export": "encode",
};

/** The allowlist from ./embed.json (same origin); a missing or broken file allows no one. */
export async function loadAllowlist(url = "./embed.json") {
  try {
    const resp = await fetch(url, { cache: "no-cache", credentials: "same-origin" });
    if (!resp.ok) return [];
    const conf = await resp.json();
    if (!conf || conf.version !== 1 || !Array.isArray(conf.allowed_origins)) return [];
    // only exact, already normalized origins count (build.py writes them that way)
    return conf.allowed_origins.filter((o) => typeof o === "string" && isOrigin(o));
  } catch {
    return [];
  }
}

function isOrigin(value) {
  try {
    return value !== "null" && new URL(value).origin === value;
  } catch {
    return false;
  }
}

/** Is `origin` allowed to talk to the app? Exact string match; the app's own origin is. */
export function allowed(origin, list) {
  return typeof origin === "string" && origin !== "null"
    && (origin === location.origin || list.includes(origin));
}

function ancestorsAllowed(list) {
  // Like CSP frame-ancestors: every ancestor must be allowed, so an allowed page framed by a
  // foreign site does not pass the foreign site's user into the protocol.
  const ao = location.ancestorOrigins;
  return !ao || Array.from(ao).every((o) => allowed(o, list));
}

function parentOriginGuess() {
  const ao = location.ancestorOrigins;
  if (ao && ao.length) return ao[0];
  try {
    return document.referrer ? new URL(document.referrer).origin : null;
  } catch {
    return null;
  }
}

function bytesOf(value) {
  if (value instanceof Blob) return value;
  if (value instanceof ArrayBuffer) return new Blob([value]);
  if (ArrayBuffer.isView(value)) return new Blob([value]);
  return null;
}

/** Check the options of a request; throws a RequestError naming the bad field. */
export function checkOptions(options, { defaults }) {
  const o = options == null ? {} : options;
  if (typeof o !== "object" || Array.isArray(o)) throw new RequestError("options must be an object");
  const out = {};
  if (o.format !== undefined) {
    const f = String(o.format).toLowerCase();
    if (!FORMATS.has(f)) throw new RequestError(`format: expected png, webp or jpeg, got ${JSON.stringify(o.format)}`);
    out.format = f === "jpg" ? "jpeg" : f;
  } else {
    out.format = "png";
  }
  if (o.quality !== undefined) {
    const q = Number(o.quality);
    if (!Number.isInteger(q) || q < 1 || q > 100) throw new RequestError("quality: expected an integer 1-100");
    out.quality = q;
  } else {
    out.quality = 90;
  }
  out.maskOnly = Boolean(o.maskOnly);
  if (out.maskOnly) out.format = "png";
  if (o.background !== undefined) {
    const image = bytesOf(o.background);
    if (image) out.background = { kind: "image", image };
    else if (typeof o.background !== "string") throw new RequestError("background: expected 'transparent', 'blur', a colour or an image Blob");
    else if (["transparent", "none", ""].includes(o.background.trim().toLowerCase())) out.background = { kind: "transparent" };
    else if (o.background.trim().toLowerCase() === "blur") out.background = { kind: "blur" };
    else out.background = { kind: "color", color: cssColor(o.background) };
  } else if (defaults) {
    out.background = { kind: "transparent" };
  }
  if (o.crop !== undefined) {
    if (typeof o.crop === "boolean") out.crop = { on: o.crop };
    else if (Number.isFinite(o.crop) && o.crop >= 0 && o.crop <= 10000) out.crop = { on: true, margin: o.crop };
    else throw new RequestError("crop: expected true, false or a margin in pixels");
  } else if (defaults) {
    out.crop = { on: false };
  }
  if (o.shadow !== undefined) out.shadow = Boolean(o.shadow);
  else if (defaults) out.shadow = false;
  return out;
}

let colorCtx = null;

/** A CSS colour as '#rrggbb' (opaque colours only), via the canvas colour parser. */
function cssColor(value) {
  colorCtx ||= document.createElement("canvas").getContext("2d");
  const probe = (sentinel) => {
    colorCtx.fillStyle = sentinel;
    colorCtx.fillStyle = value;
    return colorCtx.fillStyle;
  };
  const a = probe("#000000");
  if (a !== probe("#ffffff") || !/^#[0-9a-f]{6}$/.test(a)) {
    throw new RequestError(`background: ${JSON.stringify(value)} is not an opaque CSS colour`);
  }
  return a;
}

export class RequestError extends Error {
  constructor(message, code = "bad-request") {
    super(message);
    this.code = code;
  }
}

/**
 * Start answering embed messages. `app` provides:
 *   openFile(blob, name, options) -> Promise<{bytes, mime, name}>
 *   exportActive(options) -> Promise<{bytes, mime, name}>
 *   info() -> object merged into `ready`
 *   delivered() called after a result went out (the parent has the file now)
 */
export function start(app) {
  const list = loadAllowlist();
  const warned = new Set();
  let chain = Promise.resolve(); // requests run one at a time, in order
  let current = null; // {reply} of the running request: progress goes there

  const replyTo = (source, origin) => (type, fields = {}) => {
    // the only postMessage calls of the app: one window, its exact origin
    try {
      source.postMessage({ matte: PROTOCOL, type, ...fields }, { targetOrigin: origin });
    } catch (err) {
      console.warn(`matte embed: could not answer ${origin}: ${err && err.message}`);
    }
  };

  window.addEventListener("matte:stage", (e) => {
    const stage = STAGES[e.detail && e.detail.stage];
    if (current && stage && stage !== current.last) {
      current.last = stage;
      current.reply("progress", { id: current.id, stage });
    }
  });

  window.addEventListener("message", async (event) => {
    const msg = event.data;
    if (!msg || typeof msg !== "object" || !("matte" in msg)) return; // not for us
    const origins = await list;
    if (!allowed(event.origin, origins) || !ancestorsAllowed(origins) || !event.source
        || (event.source !== window.parent && event.source !== window.opener)) {
      if (!warned.has(event.origin)) {
        warned.add(event.origin);
        console.warn(`matte embed: ignored a message from ${event.origin}: that origin is not `
          + "allowed to embed this app (see embed.json / build.py --embed-origin).");
      }
      return; // nothing at all goes back
    }
    const reply = replyTo(event.source, event.origin);
    const id = msg.id;
    if (msg.matte !== PROTOCOL) {
      reply("error", { id, code: "version", message: `this app speaks protocol version ${PROTOCOL}` });
      return;
    }
    if (msg.type === "ping") {
      reply("ready", { id, version: PROTOCOL, ...app.info() });
      return;
    }
    if (msg.type !== "open" && msg.type !== "export") {
      reply("error", { id, code: "bad-request", message: `unknown message type ${JSON.stringify(msg.type)}` });
      return;
    }
    const job = chain.then(() => handle(msg, reply));
    chain = job.catch(() => {});
  });

  async function handle(msg, reply) {
    const id = msg.id;
    current = { id, reply, last: null };
    try {
      let out;
      if (msg.type === "open") {
        const file = bytesOf(msg.file);
        if (!file) throw new RequestError("open: `file` must be a Blob, File, ArrayBuffer or typed array");
        const options = checkOptions(msg.options, { defaults: true });
        const name = String(msg.name || (msg.file && msg.file.name) || "image");
        reply("progress", { id, stage: "queued" });
        current.last = "queued";
        out = await app.openFile(file, name, options);
      } else {
        out = await app.exportActive(checkOptions(msg.options, { defaults: false }));
      }
      const blob = new Blob([out.bytes], { type: out.mime });
      const size = await imageSize(blob);
      reply("result", { id, blob, mime: out.mime, name: out.name, ...size });
      app.delivered();
    } catch (err) {
      reply("error", { id, code: err.code || "failed", message: String(err && err.message || err) });
    } finally {
      current = null;
    }
  }

  // Announce readiness to the parent when its origin is known and allowed; otherwise stay
  // silent (a parent that sends `ping` gets `ready` once the allowlist says it may).
  list.then((origins) => {
    const target = window.parent !== window ? window.parent : window.opener;
    const origin = parentOriginGuess();
    if (target && origin && allowed(origin, origins) && ancestorsAllowed(origins)) {
      // targetOrigin makes the browser drop it unless the parent really has that origin
      replyTo(target, origin)("ready", { version: PROTOCOL, ...app.info() });
    }
  });
  return list;
}

async function imageSize(blob) {
  try {
    const bmp = await createImageBitmap(blob);
    const size = { width: bmp.width, height: bmp.height };
    bmp.close();
    return size;
  } catch {
    return { width: null, height: null };
  }
}
