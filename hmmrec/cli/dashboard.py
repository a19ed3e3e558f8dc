"""The ``hmmrec dashboard`` command: start the Streamlit app in ``dashboard/app.py``.

The app itself lives outside the package (``dashboard/`` next to ``hmmrec/`` in a source
checkout) and only presents what the :mod:`hmmrec` API computes. This module finds it,
checks that Streamlit is installed, and replaces the current process with
``python -m streamlit run dashboard/app.py --server.port N --server.headless true
--browser.gatherUsageStats false -- --model PATH`` (no usage statistics are sent).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ..errors import HmmrecError

__all__ = ["DEFAULT_PORT", "app_path", "command", "run", "add_command"]

DEFAULT_PORT = 8501
_MAX_PORT = 65535
_APP = Path("dashboard") / "app.py"
_NO_STREAMLIT = "the dashboard needs Streamlit: pip install 'hmmrec[dashboard]'"


def app_path() -> Path:
    """Path of ``dashboard/app.py`` in the source tree next to the package."""
    package = Path(__file__).resolve().parent.parent  # hmmrec/cli/dashboard.py -> hmmrec
    candidate = package.parent / _APP
    if candidate.is_file():
        return candidate
    raise HmmrecError(f"cannot find the dashboard app ({candidate}); it ships with the source tree: "
                      "install hmmrec from a checkout (pip install -e '.[dashboard]')")


def _check_port(port) -> int:
    try:
        p = int(port)
    except (TypeError, ValueError):
        raise HmmrecError(f"port must be an integer, got {port!r}") from None
    if not 1 <= p <= _MAX_PORT:
        raise HmmrecError(f"port must be between 1 and {_MAX_PORT}, got {p}")
    return p


def command(port: int = DEFAULT_PORT, model=None, headless: bool = True) -> list[str]:
    """The argument vector that starts the dashboard server."""
    argv = [sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.port", str(_check_port(port)),
            "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false"]
    if model is not None:
        from ..models import SHIPPED, resolve

        try:
            m = resolve(model)
        except HmmrecError:
            raise HmmrecError(f"{model}: no such model file (shipped models: {', '.join(SHIPPED)})") from None
        if not m.is_file():
            raise HmmrecError(f"{model}: no such model file")
        argv += ["--", "--model", str(m.resolve())]
    return argv


def run(port: int = DEFAULT_PORT, model=None, headless: bool = True) -> None:
    """Start the dashboard in place of this process (does not return on success).

    Parameters
    ----------
    port : int
        TCP port of the web server.
    model : str or Path or None
        Model file to show; ``None``: a model of the built-in ``sounds/`` corpus,
        trained once and cached in ``~/.cache/hmmrec/``.
    headless : bool
        Do not open a browser window.

    Raises
    ------
    HmmrecError
        If Streamlit is not installed, the app cannot be found or the arguments are bad.
    """
    if importlib.util.find_spec("streamlit") is None:
        raise HmmrecError(_NO_STREAMLIT)
    argv = command(port, model, headless)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def _cmd_dashboard(args) -> int:
    run(port=args.port, model=args.model)
    return 0  # not reached: run() replaces the process


def add_command(sub) -> None:
    """Register ``hmmrec dashboard [--port N] [--model PATH]`` on argparse sub-parsers."""
    p = sub.add_parser("dashboard", help="open the browser dashboard (Streamlit)",
                       description="Start the Streamlit dashboard: recognise recordings, watch the stream "
                                   "recognizer, train and evaluate, inspect the word models.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"web server port (default {DEFAULT_PORT})")
    p.add_argument("--model", metavar="PATH",
                   help="model file or shipped model name to show (default: the shipped commands model)")
    p.set_defaults(func=_cmd_dashboard)
