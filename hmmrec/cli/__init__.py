"""The ``hmmrec`` command: one module per group of subcommands, no recognition logic.

Exit status: 0 on success, 2 for usage errors, 1 for everything else, each with a
single ``hmmrec: error: ...`` line on stderr; 130 after Ctrl-C, 143 after SIGTERM (both
end the command cleanly: no temporary file left, worker processes stopped).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .. import __version__
from ..errors import HmmrecError
from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE

__all__ = ["main", "build_parser"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    from . import dashboard, files, live
    from . import data

    parser = _Parser(prog="hmmrec", description="Spoken word and keyword recognition with hidden Markov models.")
    parser.add_argument("--version", action="version", version=f"hmmrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    files.add_commands(sub)
    data.add_commands(sub)
    live.add_commands(sub)
    dashboard.add_command(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that it ends as on Ctrl-C: clean-ups run,
    temporary files go, worker processes are stopped."""


def _on_sigterm(signum, frame):
    raise Terminated()


# loky's resource tracker (a process of its own, on our stderr) warns at exit about the
# semaphores of worker processes stopped mid-job by Ctrl-C or SIGTERM, and frees them
# itself: after "hmmrec: terminated" that is noise, not the user's concern
_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


def _quiet_resource_tracker() -> None:
    """Pass the filter to processes started from here on (PYTHONWARNINGS, kept if set)."""
    now = os.environ.get("PYTHONWARNINGS", "")
    if _QUIET_TRACKER not in now:
        os.environ["PYTHONWARNINGS"] = f"{now},{_QUIET_TRACKER}" if now else _QUIET_TRACKER


def main(argv=None) -> int:
    parser = build_parser()
    _quiet_resource_tracker()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(parser, argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(parser, argv) -> int:
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
    except Terminated:
        print("hmmrec: terminated", file=sys.stderr)
        return EXIT_TERMINATED
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
