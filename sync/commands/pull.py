"""`sync pull`: read the upstream image's mapped paths and commit them to the upstream branch."""

from __future__ import annotations

import argparse

from sync.ui import UI


def configure(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `pull` and its options."""
    parser = subparsers.add_parser(
        "pull", parents=[common], help="import the upstream image into the upstream branch",
        description="Export the upstream image's mapped paths and commit them to the upstream "
                    "branch (work tree, index and HEAD are not touched).")
    parser.add_argument("--from", dest="source", default="docker-daemon:", metavar="TRANSPORT",
                        help="docker-daemon: (default), docker-archive:PATH, oci-archive:PATH, "
                             "oci:DIR")
    parser.add_argument("--max-file-size", type=_size, default=None, metavar="SIZE",
                        help="refuse files larger than SIZE (e.g. 4G; default 4G)")
    parser.add_argument("--max-layer-size", type=_size, default=None, metavar="SIZE",
                        help="refuse layers that decompress to more than SIZE (default 64G)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, ui: UI) -> int:
    raise NotImplementedError


def _size(text: str) -> int:
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    number, unit = text.rstrip("iBb").upper(), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    try:
        value = int(float(number) * units[unit])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (examples: 512M, 4G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value
