"""Shared helpers of the benchmark scripts: dataset location, timing, JSON output."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def one_core() -> None:
    """Numerical libraries on one thread (unless the caller's environment says otherwise):
    the stream's real-time targets are for one core. Call before numpy is imported."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def datasets_dir() -> Path:
    """``../shared/datasets`` beside the repository (or $HMMREC_DATASETS)."""
    d = Path(os.environ.get("HMMREC_DATASETS", REPO.parent / "shared" / "datasets"))
    if not d.is_dir():
        sys.exit(f"benchmark: datasets not found at {d} (set HMMREC_DATASETS)")
    return d


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def emit(result: dict) -> None:
    """Print the result as JSON on stdout (progress goes to stderr)."""
    print(json.dumps(result, indent=2))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
