# PyScript entry point: everything lives in the matte package (unpacked from matte.zip).
import js
from pyodide.ffi import to_js

try:
    from matte.web import boot

    app = await boot()  # noqa: F704 - PyScript runs this file with top-level await
except Exception as exc:  # tell the page, which shows it, instead of waiting forever
    detail = to_js({"detail": f"{type(exc).__name__}: {exc}"}, dict_converter=js.Object.fromEntries)
    js.window.dispatchEvent(js.CustomEvent.new("matte:py-failed", detail))
    raise
