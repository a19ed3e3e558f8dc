"""The ``hmmrec`` command: one module per group of subcommands, no recognition logic.

Exit status: 0 on success, 2 for usage errors, 1 for everything else, each with a
single ``hmmrec: error: ...`` line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import HmmrecError
from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from . import dashboard, files, live

    parser = _Parser(prog="hmmrec", description="Spoken word and keyword recognition with hidden Markov models.")
    parser.add_argument("--version", action="version", version=f"hmmrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    files.add_commands(sub)
    live.add_commands(sub)
    dashboard.add_command(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.func(args)
    except _UsageError as exc:
        print(f"hmmrec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HmmrecError as exc:
        print(f"hmmrec: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hmmrec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: still one line, full trace on request
        if os.environ.get("HMMREC_DEBUG"):
            raise
        print(f"hmmrec: error: unexpected {type(exc).__name__}: {exc} (set HMMREC_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
