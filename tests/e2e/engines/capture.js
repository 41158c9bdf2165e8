// Captures the app's downloads in the page (used by the Firefox and WebKit smoke flows).
// The app saves a file through a temporary <a download> element; headless engines would write
// it to a folder the test cannot choose, so the click is kept as {name, b64} in window.__downloads.
(() => {
  window.__downloads = [];
  const click = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () {
    if (!this.download) return click.call(this);
    const name = this.download;
    window.__downloads.push(fetch(this.href).then((r) => r.arrayBuffer()).then((buf) => {
      let s = "";
      const u8 = new Uint8Array(buf);
      for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
      return { name, b64: btoa(s) };
    }));
  };
})();
