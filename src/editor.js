// matte editor: view (zoom, pan, compare), pointer input (brush, pan, pinch), keyboard.
//
// Pixels never come back to JavaScript: Python renders the visible part of the image at the
// display scale straight into the canvas, and after each brush event redraws only the part of
// the view the stroke changed. This file keeps the view transform and turns pointer positions
// into image (row, col) coordinates.

const MIN_ZOOM = 0.02;
const MAX_ZOOM = 32;
const SETTLE_MS = 90;

export function createEditor({ py, stage, canvas, before, imgbox, cursor, handle, onHistory, onStatus }) {
  const view = {
    width: 0, height: 0, // image size (px)
    zoom: 1, ox: 0, oy: 0, // CSS px per image px; image coords at the stage's top-left
    mode: "result", // result | refine | compare
    comparePos: 0.5, // 0..1 of the stage width
    rendered: null, // {r0, c0, r1, c1}: what the canvas currently shows
    renderedBefore: null,
  };
  const brush = { tool: "restore", size: 40, hardness: 0.7, strength: 1, edge: false };
  const pointers = new Map(); // pointerId -> {x, y, type}
  let painting = null; // {id}
  let panning = null; // {x, y, ox, oy}
  let pinch = null; // {dist, mid, zoom, ox, oy}
  let spaceHeld = false;
  let settleTimer = null;
  let active = false;
  const brushTimes = [];

  const dpr = () => window.devicePixelRatio || 1;
  const stageSize = () => ({ w: stage.clientWidth, h: stage.clientHeight });

  // --- view transform --------------------------------------------------------------------------
  function place(el, rect) {
    if (!rect) return;
    const z = view.zoom;
    el.style.transform = `translate(${(rect.c0 - view.ox) * z}px, ${(rect.r0 - view.oy) * z}px)`;
    el.style.width = `${(rect.c1 - rect.c0) * z}px`;
    el.style.height = `${(rect.r1 - rect.r0) * z}px`;
  }

  function layout() {
    place(imgbox, { r0: 0, c0: 0, r1: view.height, c1: view.width });
    place(canvas, view.rendered);
    place(before, view.renderedBefore);
    stage.classList.toggle("pixelated", view.zoom * dpr() >= 2);
    const { w } = stageSize();
    handle.style.left = `${view.comparePos * w}px`;
    const pct = Math.round(view.comparePos * 100);
    handle.setAttribute("aria-valuenow", String(pct));
    handle.setAttribute("aria-valuetext", `${pct}% original, ${100 - pct}% cut-out`);
    before.style.clipPath = `inset(0 ${100 - view.comparePos * 100}% 0 0)`;
    if (view.mode === "compare") {
      // the clip is in the canvas's own box: convert the stage x into it
      const left = (view.renderedBefore ? (view.renderedBefore.c0 - view.ox) * view.zoom : 0);
      const width = before.getBoundingClientRect().width || 1;
      const cut = Math.max(0, Math.min(width, view.comparePos * w - left));
      before.style.clipPath = `inset(0 ${width - cut}px 0 0)`;
    }
    onStatus && onStatus(view);
  }

  function visibleRect() {
    const { w, h } = stageSize();
    const z = view.zoom;
    const r0 = Math.max(0, Math.floor(view.oy));
    const c0 = Math.max(0, Math.floor(view.ox));
    const r1 = Math.min(view.height, Math.ceil(view.oy + h / z));
    const c1 = Math.min(view.width, Math.ceil(view.ox + w / z));
    if (r1 <= r0 || c1 <= c0) return null;
    return { r0, c0, r1, c1 };
  }

  function render() {
    clearTimeout(settleTimer);
    settleTimer = null;
    if (!active) return;
    const rect = visibleRect();
    if (!rect) return;
    const scale = view.zoom * dpr();
    const mode = view.mode === "refine" ? "refine" : "result";
    py.render_view(canvas, rect.r0, rect.c0, rect.r1, rect.c1, scale, mode);
    view.rendered = rect;
    if (view.mode === "compare") {
      py.render_before(before, rect.r0, rect.c0, rect.r1, rect.c1, scale);
      view.renderedBefore = rect;
    }
    layout();
  }

  function scheduleRender() {
    layout();
    clearTimeout(settleTimer);
    settleTimer = setTimeout(render, SETTLE_MS);
  }

  function clampPan() {
    const { w, h } = stageSize();
    const z = view.zoom;
    // keep at least a quarter of the stage showing image
    const minOx = -w / z * 0.75;
    const maxOx = view.width - w / z * 0.25;
    const minOy = -h / z * 0.75;
    const maxOy = view.height - h / z * 0.25;
    view.ox = Math.min(Math.max(view.ox, minOx), maxOx);
    view.oy = Math.min(Math.max(view.oy, minOy), maxOy);
  }

  function zoomAt(newZoom, sx, sy) {
    view.fitted = false;
    const z = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, newZoom));
    const ix = view.ox + sx / view.zoom;
    const iy = view.oy + sy / view.zoom;
    view.zoom = z;
    view.ox = ix - sx / z;
    view.oy = iy - sy / z;
    clampPan();
  }

  function fit() {
    const { w, h } = stageSize();
    const z = Math.min((w - 32) / view.width, (h - 32) / view.height);
    view.zoom = Math.max(MIN_ZOOM, Math.min(z, MAX_ZOOM));
    view.ox = -(w / view.zoom - view.width) / 2;
    view.oy = -(h / view.zoom - view.height) / 2;
    view.fitted = true; // a resize of the stage (batch strip, rotation) fits again
    render();
  }

  function actualPixels() {
    const { w, h } = stageSize();
    zoomAt(1 / dpr(), w / 2, h / 2);
    render();
  }

  function zoomStep(factor) {
    const { w, h } = stageSize();
    zoomAt(view.zoom * factor, w / 2, h / 2);
    scheduleRender();
  }

  // --- pointer input -----------------------------------------------------------------------
  function local(e) {
    const r = stage.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  function toImage(p) {
    return { r: view.oy + p.y / view.zoom, c: view.ox + p.x / view.zoom };
  }

  function canPaint() {
    return active && view.mode !== "compare";
  }

  function updateCursor(p) {
    if (!p || !canPaint() || panning || pinch || spaceHeld) {
      cursor.hidden = true;
      return;
    }
    const d = Math.max(4, brush.size * view.zoom);
    cursor.hidden = false;
    cursor.style.width = cursor.style.height = `${d}px`;
    cursor.style.transform = `translate(${p.x - d / 2}px, ${p.y - d / 2}px)`;
    cursor.classList.toggle("erase", brush.tool === "erase");
  }

  function startPan(p) {
    panning = { x: p.x, y: p.y, ox: view.ox, oy: view.oy };
    stage.classList.add("panning");
    cursor.hidden = true;
  }

  function endStroke() {
    if (!painting) return;
    painting = null;
    const h = py.stroke_end();
    onHistory && onHistory(h);
  }

  stage.addEventListener("pointerdown", (e) => {
    if (!active) return;
    stage.focus({ preventScroll: true });
    const p = local(e);
    pointers.set(e.pointerId, { ...p, type: e.pointerType });
    try { stage.setPointerCapture(e.pointerId); } catch { /* synthetic or already released */ }
    e.preventDefault();
    if (pointers.size === 2) {
      // two fingers: pinch/pan; a stroke that the first finger began is kept as it is
      endStroke();
      panning = null;
      const [a, b] = [...pointers.values()];
      pinch = {
        dist: Math.hypot(a.x - b.x, a.y - b.y) || 1,
        mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 },
        zoom: view.zoom, ox: view.ox, oy: view.oy,
      };
      cursor.hidden = true;
      return;
    }
    if (view.mode === "compare" && e.button === 0 && !spaceHeld) {
      view.comparePos = Math.min(1, Math.max(0, p.x / stageSize().w));
      layout();
      panning = null;
      painting = null;
      pointers.get(e.pointerId).compare = true;
      return;
    }
    if (e.button === 1 || spaceHeld || e.button === 2) {
      startPan(p);
      return;
    }
    if (e.button !== 0 || !canPaint()) return;
    const { r, c } = toImage(p);
    const pressure = e.pointerType === "pen" ? (e.pressure || 0.5) : 1;
    painting = { id: e.pointerId };
    const t0 = performance.now();
    py.stroke_begin(r, c, brush.tool, brush.size / 2, brush.hardness, brush.strength, pressure,
      brush.edge);
    brushTimes.push(performance.now() - t0);
  });

  stage.addEventListener("pointermove", (e) => {
    const p = local(e);
    const tracked = pointers.get(e.pointerId);
    if (tracked) Object.assign(tracked, p);
    if (pinch && pointers.size >= 2) {
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a.x - b.x, a.y - b.y) || 1;
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      view.zoom = pinch.zoom; view.ox = pinch.ox; view.oy = pinch.oy;
      zoomAt(pinch.zoom * dist / pinch.dist, pinch.mid.x, pinch.mid.y);
      view.ox -= (mid.x - pinch.mid.x) / view.zoom;
      view.oy -= (mid.y - pinch.mid.y) / view.zoom;
      clampPan();
      scheduleRender();
      return;
    }
    if (tracked && tracked.compare) {
      view.comparePos = Math.min(1, Math.max(0, p.x / stageSize().w));
      layout();
      return;
    }
    if (panning) {
      view.fitted = false;
      view.ox = panning.ox - (p.x - panning.x) / view.zoom;
      view.oy = panning.oy - (p.y - panning.y) / view.zoom;
      clampPan();
      scheduleRender();
      return;
    }
    updateCursor(p);
    if (!painting || painting.id !== e.pointerId) return;
    const events = (e.getCoalescedEvents && e.getCoalescedEvents().length)
      ? e.getCoalescedEvents() : [e];
    const pts = new Float32Array(events.length * 3);
    const rect = stage.getBoundingClientRect();
    events.forEach((ev, i) => {
      pts[i * 3] = view.oy + (ev.clientY - rect.top) / view.zoom;
      pts[i * 3 + 1] = view.ox + (ev.clientX - rect.left) / view.zoom;
      pts[i * 3 + 2] = ev.pointerType === "pen" ? (ev.pressure || 0.5) : 1;
    });
    const t0 = performance.now();
    py.stroke_move(pts);
    brushTimes.push(performance.now() - t0);
  });

  function pointerEnd(e) {
    pointers.delete(e.pointerId);
    if (painting && painting.id === e.pointerId) endStroke();
    if (pointers.size < 2) pinch = null;
    if (panning && pointers.size === 0) {
      panning = null;
      stage.classList.remove("panning");
      render();
    }
    if (pointers.size === 0 && settleTimer) render();
  }
  stage.addEventListener("pointerup", pointerEnd);
  stage.addEventListener("pointercancel", pointerEnd);
  stage.addEventListener("pointerleave", () => { cursor.hidden = true; });
  stage.addEventListener("contextmenu", (e) => e.preventDefault());

  stage.addEventListener("wheel", (e) => {
    if (!active) return;
    e.preventDefault();
    const p = local(e);
    if (e.ctrlKey || !e.shiftKey) {
      const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0018));
      zoomAt(view.zoom * factor, p.x, p.y);
    } else {
      view.ox += e.deltaY / view.zoom;
      clampPan();
    }
    scheduleRender();
    updateCursor(p);
  }, { passive: false });

  new ResizeObserver(() => {
    if (!active) return;
    if (view.fitted) fit(); else scheduleRender();
  }).observe(stage);

  // --- keyboard --------------------------------------------------------------------------------
  function typing(e) {
    const t = e.target;
    return t && (t.tagName === "INPUT" && !["range", "checkbox", "radio", "button", "color"].includes(t.type)
      || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable);
  }

  window.addEventListener("keydown", (e) => {
    if (!active || typing(e)) return;
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key;
    if (mod && (k === "z" || k === "Z")) {
      e.preventDefault();
      if (e.shiftKey) api.redo(); else api.undo();
      return;
    }
    if (mod && (k === "y" || k === "Y")) { e.preventDefault(); api.redo(); return; }
    if (mod || e.altKey) return;
    if (k === " ") {
      if (!spaceHeld) { spaceHeld = true; document.body.classList.add("space"); cursor.hidden = true; }
      e.preventDefault();
      return;
    }
    const handled = {
      b: () => api.setTool("restore"), B: () => api.setTool("restore"),
      e: () => api.setTool("erase"), E: () => api.setTool("erase"),
      x: () => api.setTool(brush.tool === "restore" ? "erase" : "restore"),
      X: () => api.setTool(brush.tool === "restore" ? "erase" : "restore"),
      "[": () => api.setSize(Math.max(2, Math.round(brush.size / 1.2))),
      "]": () => api.setSize(Math.min(400, Math.round(brush.size * 1.2))),
      "{": () => api.setHardness(Math.max(0, brush.hardness - 0.1)),
      "}": () => api.setHardness(Math.min(1, brush.hardness + 0.1)),
      0: fit, 1: actualPixels,
      "+": () => zoomStep(1.25), "=": () => zoomStep(1.25), "-": () => zoomStep(0.8),
      c: () => api.setMode(view.mode === "compare" ? "result" : "compare"),
      C: () => api.setMode(view.mode === "compare" ? "result" : "compare"),
      r: () => api.setMode(view.mode === "refine" ? "result" : "refine"),
      R: () => api.setMode(view.mode === "refine" ? "result" : "refine"),
    }[k];
    if (handled) {
      e.preventDefault();
      handled();
    }
  });
  window.addEventListener("keyup", (e) => {
    if (e.key === " ") { spaceHeld = false; document.body.classList.remove("space"); }
  });

  // --- public API ------------------------------------------------------------------------------
  const listeners = new Set();
  const api = {
    view, brush, brushTimes,
    open(width, height) {
      active = true;
      view.width = width;
      view.height = height;
      view.rendered = null;
      view.renderedBefore = null;
      fit();
    },
    close() { active = false; },
    get active() { return active; },
    render, fit, actualPixels, zoomIn: () => zoomStep(1.25), zoomOut: () => zoomStep(0.8),
    setMode(mode) {
      view.mode = mode;
      before.hidden = mode !== "compare";
      handle.hidden = mode !== "compare";
      stage.classList.toggle("tool-brush", mode !== "compare");
      render();
      listeners.forEach((f) => f("mode", mode));
    },
    setTool(tool) {
      brush.tool = tool;
      if (view.mode === "compare") api.setMode("result");
      listeners.forEach((f) => f("tool", tool));
    },
    setSize(v) { brush.size = v; listeners.forEach((f) => f("size", v)); },
    setHardness(v) { brush.hardness = Math.round(v * 100) / 100; listeners.forEach((f) => f("hardness", brush.hardness)); },
    setStrength(v) { brush.strength = v; },
    /** Move the before/after divider to ``pos`` (0..1 of the stage width). */
    setCompare(pos) { view.comparePos = Math.min(1, Math.max(0, pos)); layout(); },
    setEdge(v) { brush.edge = v; },
    undo() { onHistory && onHistory(py.undo()); },
    redo() { onHistory && onHistory(py.redo()); },
    on(f) { listeners.add(f); },
  };
  stage.classList.add("tool-brush");
  return api;
}
