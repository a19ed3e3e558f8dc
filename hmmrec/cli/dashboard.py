"""The ``hmmrec dashboard`` command: start the Streamlit app in ``dashboard/app.py``.

The app itself lives outside the package (``dashboard/`` next to ``hmmrec/`` in a source
checkout) and only presents what the :mod:`hmmrec` API computes. This module finds it,
checks that Streamlit is installed, and replaces the current process with
``python -m streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port N
--server.headless true --browser.gatherUsageStats false --server.maxUploadSize 50 --
--model PATH --data DIR`` (no usage statistics are sent).

The server listens on this machine only (127.0.0.1) unless ``--host`` says otherwise:
the dashboard has no login, and whoever reaches it can read the data folders it was
given and use the server's processor. Its file pickers only see the built-in corpus
and the folders given with ``--data``; uploads are limited to ``MAX_UPLOAD_MB``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ..errors import HmmrecError

__all__ = ["DEFAULT_PORT", "DEFAULT_HOST", "MAX_UPLOAD_MB", "app_path", "command", "run", "add_command"]

DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"
MAX_UPLOAD_MB = 50
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
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


def command(port: int = DEFAULT_PORT, model=None, headless: bool = True, host: str = DEFAULT_HOST,
            data=(), ice_servers=()) -> list[str]:
    """The argument vector that starts the dashboard server."""
    if not host or any(c.isspace() for c in host):
        raise HmmrecError(f"host must be an address or name such as 127.0.0.1 or 0.0.0.0, got {host!r}")
    argv = [sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.address", host,
            "--server.port", str(_check_port(port)),
            "--server.headless", "true" if headless else "false",
            "--server.maxUploadSize", str(MAX_UPLOAD_MB),
            "--browser.gatherUsageStats", "false"]
    extra = []
    if model is not None:
        from ..models import SHIPPED, resolve

        try:
            m = resolve(model)
        except HmmrecError:
            raise HmmrecError(f"{model}: no such model file (shipped models: {', '.join(SHIPPED)})") from None
        if not m.is_file():
            raise HmmrecError(f"{model}: no such model file")
        extra += ["--model", str(m.resolve())]
    for d in data:
        if not Path(d).is_dir():
            raise HmmrecError(f"{d}: no such folder (--data takes a folder of recordings)")
        extra += ["--data", str(Path(d).resolve())]
    for url in ice_servers:
        if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
            raise HmmrecError(f"--ice-server takes a STUN or TURN URL such as stun:stun.example.org:3478, got {url!r}")
        extra += ["--ice-server", url]
    return argv + (["--"] + extra if extra else [])


def run(port: int = DEFAULT_PORT, model=None, headless: bool = True, host: str = DEFAULT_HOST, data=(),
        ice_servers=()) -> None:
    """Start the dashboard in place of this process (does not return on success).

    Parameters
    ----------
    port : int
        TCP port of the web server.
    model : str or Path or None
        Model file to show; ``None``: the shipped ``commands`` model.
    headless : bool
        Do not open a browser window.
    host : str
        Address to listen on: ``127.0.0.1`` (default) serves this machine only;
        ``0.0.0.0`` every network the machine is on (a warning is printed).
    data : list of folders
        Folders whose recordings the dashboard's file pickers may read, besides the
        built-in corpus.
    ice_servers : list of str
        STUN/TURN URLs for the browser microphone's WebRTC connection. None are needed
        when browser and server share a host or a network (the default: nothing leaves
        the machine); a visitor behind NAT needs one.

    Raises
    ------
    HmmrecError
        If Streamlit is not installed, the app cannot be found or the arguments are bad.
    """
    if importlib.util.find_spec("streamlit") is None:
        raise HmmrecError(_NO_STREAMLIT)
    argv = command(port, model, headless, host, data, ice_servers)
    if host not in _LOOPBACK:
        print(f"hmmrec: warning: the dashboard will be reachable from other machines at {host}:{port}; it has no "
              "login: anyone who reaches it can use it and read its data folders", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def _cmd_dashboard(args) -> int:
    run(port=args.port, model=args.model, host=args.host, data=args.data or (), ice_servers=args.ice_server or ())
    return 0  # not reached: run() replaces the process


def add_command(sub) -> None:
    """Register ``hmmrec dashboard [--port N] [--host ADDR] [--data DIR] [--model PATH]`` on argparse sub-parsers."""
    p = sub.add_parser("dashboard", help="open the browser dashboard (Streamlit)",
                       description="Start the Streamlit dashboard: recognise recordings, watch the stream "
                                   "recognizer, train and evaluate, inspect the word models.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"web server port (default {DEFAULT_PORT})")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every network, "
                        "with no login)")
    p.add_argument("--data", action="append", metavar="DIR",
                   help="a folder of recordings the dashboard's file pickers may open (besides the built-in corpus); "
                        "may be repeated")
    p.add_argument("--ice-server", action="append", metavar="URL",
                   help="a STUN or TURN server for the browser microphone (WebRTC) when visitors are not on this "
                        "machine or network, e.g. stun:stun.example.org:3478; none by default; may be repeated")
    p.add_argument("--model", metavar="PATH",
                   help="model file or shipped model name to show (default: the shipped commands model)")
    p.set_defaults(func=_cmd_dashboard)
