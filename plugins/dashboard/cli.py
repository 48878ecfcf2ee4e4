"""``netscript dashboard url``: the running app's dashboard URL with this run's token, as
``netscript up`` announced it."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="dashboard_command", metavar="COMMAND")
    commands.add_parser("url", help="the URL to open (with this run's token)")


def run(args: argparse.Namespace) -> int:
    from netscript import HostError

    from .token import read

    if args.dashboard_command != "url":
        print("usage: netscript dashboard url")
        return 2
    context = args.netscript
    url = context.resource_url("dashboard")
    secret = read(context.state_dir)
    if url is None or secret is None:
        raise HostError("the app is not running here, or runs without its dashboard: start it "
                        "with `netscript up`")  # fmt: skip
    print(f"{url}/?t={secret}")
    return 0
