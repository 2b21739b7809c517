"""L4: the command line. The only module family that prints or exits.

Exit codes, as docker's:

====  =====================================================
125   minictr itself failed (bad flag, unknown image, ...)
126   the command was found but cannot be invoked
127   the command was not found
N     otherwise the container's own exit status
128+N the container was killed by signal N
====  =====================================================

Every subcommand area lives in its own ``cli_*.py`` module with a
``register(subparsers)`` function, listed in ``SUBCOMMAND_MODULES``. Each
command's function takes the parsed args and returns an exit code; errors are
raised as ``MinictrError`` and printed here, once, as one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import MinictrError

EXIT_RUNTIME_ERROR = 125

#: Modules that add subcommands. Each has register(subparsers).
SUBCOMMAND_MODULES: tuple[str, ...] = ("minictr.cli_images",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minictr",
        description="A small, real container runtime for learning how containers work.",
    )
    parser.add_argument("--version", action="version", version=f"minictr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and setup details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in SUBCOMMAND_MODULES:
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage; docker uses 125
        return EXIT_RUNTIME_ERROR if e.code not in (0, None) else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MinictrError as e:
        if args.debug or os.environ.get("MINICTR_DEBUG"):
            import traceback
            traceback.print_exc()
        print(f"minictr: {e}", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    except KeyboardInterrupt:
        return 130
