"""Training progress as events, and the pool of worker processes that training uses.

Training reports what it is doing through a callback that receives
:class:`TrainingProgress` events (one per stage and per trained model) instead of
printing: the command line prints them (:func:`print_progress`), the dashboard draws a
progress bar from them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

__all__ = ["TrainingProgress", "print_progress", "plural", "resolve_n_jobs", "run_jobs"]


@dataclass(frozen=True)
class TrainingProgress:
    """One step of a training run.

    Attributes
    ----------
    stage : str
        ``"features"`` (features of every input extracted), ``"model"`` (one more
        model trained), ``"discriminative"`` (one discriminative iteration done) or
        ``"done"``.
    done, total : int
        Steps of this stage done so far, out of ``total``.
    message : str
        One line for a person.
    seconds : float
        Seconds since training started.
    """

    stage: str
    done: int
    total: int
    message: str
    seconds: float = 0.0

    @property
    def fraction(self) -> float:
        """Rough share of the whole training done (for progress bars)."""
        share = self.done / self.total if self.total else 1.0
        if self.stage == "features":
            return 0.15
        if self.stage == "model":
            return 0.15 + 0.75 * share
        if self.stage == "discriminative":
            return 0.9 + 0.09 * share
        return 1.0


def plural(n: int, word: str) -> str:
    """``1 state``, ``2 states``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def print_progress(event: TrainingProgress, stream=None) -> None:
    """The command line's reporter: the event's message on a line of its own (stderr)."""
    print(event.message, file=stream or sys.stderr, flush=True)


def resolve_n_jobs(n_jobs) -> int:
    """Worker processes to use: ``n_jobs``, with None or 0 meaning 1 and a negative value every core."""
    n = n_jobs if n_jobs not in (None, 0) else 1
    return (os.cpu_count() or 1) if n < 0 else int(n)


def run_jobs(fn: Callable, jobs: list, n_jobs, on_result: Callable | None = None, one_by_one: bool = False) -> list:
    """``[fn(*job) for job in jobs]``, on up to ``n_jobs`` worker processes (joblib).

    Results come back in order; ``on_result(result, done, total)`` is called as each
    arrives. ``one_by_one``: hand the workers one job at a time (long jobs of unequal
    length, whose progress is reported).
    """
    n = resolve_n_jobs(n_jobs)
    results = []
    if n == 1 or len(jobs) < 2:
        for job in jobs:
            results.append(fn(*job))
            if on_result is not None:
                on_result(results[-1], len(results), len(jobs))
        return results
    from joblib import Parallel, delayed

    # jobs are handed out as workers free up, not queued ahead: a job's arguments (sequences
    # of features) can be large, and only the jobs running need to be in memory
    gen = Parallel(n_jobs=min(n, len(jobs)), return_as="generator", batch_size=1 if one_by_one else "auto",
                   pre_dispatch="n_jobs")(delayed(fn)(*job) for job in jobs)
    for r in gen:
        results.append(r)
        if on_result is not None:
            on_result(r, len(results), len(jobs))
    return results
