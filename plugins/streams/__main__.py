"""``python -m netscript.plugins.streams``: the streams server, as ``netscript streams serve``."""

from __future__ import annotations

import sys

from netscript.cli import main

if __name__ == "__main__":
    sys.exit(main(["streams", "serve", *sys.argv[1:]]))
