"""What the subcommands share: argument types, the one model loader, safe output files.

Errors are raised as :class:`~hmmrec.errors.HmmrecError` and printed as one line by
:func:`hmmrec.cli.main`; argument types raise ``argparse.ArgumentTypeError``, which the
parser turns into one line too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from pathlib import Path

from ..errors import HmmrecError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


def int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low`` (``what``: "positive", ...), else a one-line error."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < low:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}")
        return v

    return parse


positive_int = int_at_least(1, "positive")
non_negative_int = int_at_least(0, "non-negative")


def states(text: str):
    return "auto" if text == "auto" else positive_int(text)


def factors(text: str) -> tuple:
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated factors like 0.9,1.1, got {text!r}") from None


def _number_between(text: str, low: float, high: float) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not low <= v <= high:
        raise argparse.ArgumentTypeError(f"expected a number between {low:g} and {high:g}, got {text!r}")
    return v


def unit_float(text: str) -> float:
    return _number_between(text, 0.0, 1.0)


def signed_unit_float(text: str) -> float:
    return _number_between(text, -1.0, 1.0)


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v


def device(text: str):
    return int(text) if text.strip().isdigit() else text


def refuse_existing(path, force: bool, what: str):
    """Fail now, before any long work, if ``path`` could not be written later: it exists
    (without ``force``), is a directory, or its folder is missing or read-only."""
    from ..safefile import check_writable

    if not path:
        return
    if Path(path).exists() and not Path(path).is_dir() and not force:
        raise HmmrecError(f"{path}: already exists; not overwriting the {what} (use --force to replace it)")
    check_writable(path, overwrite=True)


def write_json(path, obj, force: bool):
    from ..safefile import write_atomically

    refuse_existing(path, force, "file")
    data = (json.dumps(obj, indent=2) + "\n").encode("utf-8")
    write_atomically(path, lambda fh: fh.write(data), overwrite=True)


def add_quiet_option(p) -> None:
    """``-q/--quiet``: no progress bars (drawn only when stderr is a terminal anyway)."""
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars (they are drawn only when stderr is a terminal)")


def add_cluster_options(p) -> None:
    """``--scheduler ADDRESS`` (and ``--jobs``): where the parallel work runs."""
    p.add_argument("--jobs", type=int, default=-1, help="parallel jobs on this machine (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the work on the workers of this Dask scheduler (e.g. tcp://host:8786) instead of local "
                        "processes, with the same results; the data must be at the same paths here and on every "
                        "worker")


@contextlib.contextmanager
def on_cluster_of(args):
    """The Dask cluster of ``--scheduler`` for the ``with`` block, or nothing to do without it.

    Dask's own log lines are held back meanwhile: what goes wrong with the cluster is the
    one-line error of :class:`~hmmrec.cluster.ClusterError`.
    """
    if not getattr(args, "scheduler", None):
        yield None
        return
    from ..cluster import on_cluster

    with _dask_logs_held_back(), on_cluster(args.scheduler) as client:
        yield client


@contextlib.contextmanager
def _dask_logs_held_back():
    """Dask's loggers (``distributed.*``, each with its own level and handler) silenced in the block."""
    try:
        import distributed  # noqa: F401  (its loggers exist once it is imported)
    except ImportError:
        yield
        return
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name == "distributed" or name.startswith("distributed.")]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before):
            lg.disabled = was


def load_model(path):
    """A model file as an :class:`~hmmrec.recognizer.HMMRecognizer` (one-line error if it is not one)."""
    from ..recognizer import HMMRecognizer

    return HMMRecognizer.load(path)

