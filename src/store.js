// Autosave store: a record in IndexedDB holding the open image's file, masks and settings,
// and one with the batch's other finished images.
// Everything stays in this browser's storage on this device.

const DB = "matte";
const STORE = "autosave";
const KEY = "current";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("storage transaction aborted"));
    });
  } finally {
    db.close();
  }
}

export const load = () => tx("readonly", (s) => s.get(KEY));
export const save = (record) => tx("readwrite", (s) => s.put(record, KEY));
// The rest of a batch (finished images other than the open one), one record, within the
// budget matte.app.autosave.BATCH_BUDGET; see app.js "Autosave".
export const loadBatch = () => tx("readonly", (s) => s.get("batch"));
export const saveBatch = (record) => tx("readwrite", (s) => s.put(record, "batch"));
export const clear = () => tx("readwrite", (s) => { s.delete("batch"); return s.delete(KEY); });
