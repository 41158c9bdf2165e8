"""matte: private background removal with a numpy + Pillow core.

The package is pure Python (numpy, Pillow) and imports the same under CPython and Pyodide.
Only :mod:`matte.web` touches the browser (``js``, ``pyodide``); nothing else may import it.
"""

from matte.errors import DecodeError, ImageTooLargeError, MatteError, ModelError

__all__ = ["DecodeError", "ImageTooLargeError", "MatteError", "ModelError", "__version__"]
__version__ = "0.1.0"
