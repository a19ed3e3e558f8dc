"""Subcommands on public corpora: ``data fetch`` (download, check, unpack, manifests) and ``data list``.

Parsing and printing only; the work is done by :mod:`hmmrec.fetch`.
"""

from __future__ import annotations

import argparse
import re
import sys

from .common import EXIT_OK, EXIT_USAGE, positive_float


def _sha256(text: str) -> str:
    s = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", s):
        raise argparse.ArgumentTypeError(f"expected a SHA-256 (64 hexadecimal digits), got {text!r}")
    return s


def _size(n) -> str:
    if n is None:
        return "size unknown"
    if n < 1e6:
        return f"{n / 1e3:.0f} kB"
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def cmd_fetch(args) -> int:
    from ..fetch import fetch

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    r = fetch(args.name, args.dir, url=args.url, sha256=args.sha256, force=args.force, quiet=args.quiet,
              timeout=args.timeout, log=log)
    dl = r.download
    if dl.downloaded == 0 and dl.resumed_from == 0:
        how = "already downloaded"
    elif dl.resumed_from:
        how = f"resumed at {_size(dl.resumed_from)}, {_size(dl.downloaded)} more in {dl.seconds:.1f} s"
    else:
        how = f"downloaded in {dl.seconds:.1f} s"
    print(f"fetched {r.corpus.title} from {r.url}: {dl.path} ({_size(dl.size)}, {how}), SHA-256 {dl.sha256} verified")
    print(f"extracted to {r.folder}")
    for path, (n, labels) in r.manifests.items():
        print(f"wrote {path}: {n} files, {labels} labels")
    print(f"licence: {r.corpus.licence}")
    print(f"attribution: {r.corpus.attribution}")
    return EXIT_OK


def cmd_list(args) -> int:
    from ..fetch import CORPORA

    for c in CORPORA.values():
        print(f"{c.name}: {c.title}")
        print(f"    url: {c.url} ({_size(c.size)})")
        print(f"    sha256: {c.sha256 or 'not known: fetch it with --sha256'}")
        print(f"    licence: {c.licence}")
        print(f"    attribution: {c.attribution}")
    return EXIT_OK


def add_commands(sub) -> None:
    """Register ``data`` with its subcommands ``fetch`` and ``list``."""
    from ..fetch import CORPORA

    data = sub.add_parser("data", help="download public speech corpora and write their manifests")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", parser_class=type(data))

    def data_help(args) -> int:  # 'hmmrec data' alone
        data.print_help(sys.stderr)
        return EXIT_USAGE

    data.set_defaults(func=data_help)

    names = list(CORPORA)
    p = data_sub.add_parser(
        "fetch", help="download a corpus, check its SHA-256, unpack it and write train/test manifests",
        description="Download NAME into DIR (resuming an interrupted download), check its SHA-256, unpack it "
                    "safely into DIR/NAME and write CSV manifests (path,label,speaker) from the corpus's own "
                    "split: speech_commands: train.csv, validation.csv, test.csv (12 classes: 10 keywords, "
                    "_unknown_, _silence_) and *_all35.csv (the 35 words); fsdd: train.csv (takes 5+) and "
                    "test.csv (takes 0-4).")
    p.add_argument("name", choices=names, metavar="NAME", help=f"the corpus: {', '.join(names)}")
    p.add_argument("dir", metavar="DIR", help="folder for the archive and the corpus (created if missing)")
    p.add_argument("--url", help="download from this mirror instead (http://, https:// or file://); "
                                 "the archive is still checked against the known SHA-256")
    p.add_argument("--sha256", type=_sha256, metavar="HEX",
                   help="expected SHA-256 of the archive instead of the known one (a mirror of another version)")
    p.add_argument("--force", action="store_true", help="replace an existing DIR/NAME folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or progress lines")
    p.add_argument("--timeout", type=positive_float, default=60.0,
                   help="seconds to wait for the server before giving up (default 60; run again to resume)")
    p.set_defaults(func=cmd_fetch)

    p = data_sub.add_parser("list", help="the corpora 'data fetch' knows: URL, size, SHA-256, licence")
    p.set_defaults(func=cmd_list)
