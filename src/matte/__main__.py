"""``python -m matte``: the command-line tool (see :mod:`matte.cli`)."""

import sys

from matte.cli import main

if __name__ == "__main__":
    sys.exit(main())
