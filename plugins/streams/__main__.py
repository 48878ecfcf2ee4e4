"""``python -m netscript.plugins.streams``: the streams server, as ``netscript streams serve``.

This is how ``netscript up`` runs the streams resource: straight to the server, without the
CLI's command lookup.
"""

from __future__ import annotations

import argparse
import sys

from .cli import serve_flags, server_settings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m netscript.plugins.streams", description="the Durable Streams server"
    )
    serve_flags(parser)
    settings = server_settings(parser.parse_args(argv))
    from .server.serve import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
