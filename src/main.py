# PyScript entry point: everything lives in the matte package (unpacked from matte.zip).
from matte.web import boot

app = await boot()  # noqa: F704 - PyScript runs this file with top-level await
