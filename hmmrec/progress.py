"""Progress as events and as bars, and the workers that every parallel step runs on.

Training reports what it is doing through a callback that receives
:class:`TrainingProgress` events (per stage, per input whose features are extracted,
per trained model) instead of printing: the command line draws them as bars on a
terminal (:class:`TrainingBars`), ``verbose=1`` prints them as lines
(:func:`print_progress`), the dashboard draws its own progress bar from them.

Bars are for a person watching: they are drawn on stderr only when it is a terminal
and the command was not given ``--quiet`` (:func:`shows_progress`); in a log or a pipe a
command prints its results and nothing else.

Every parallel step goes through :func:`run_jobs`: local worker processes (joblib), or
the workers of a Dask cluster when one is active (:mod:`hmmrec.cluster`). Whichever runs
the jobs, the results come back in the order of the jobs and each job runs with one BLAS
thread, so that models do not depend on where they were trained: the last bits of a
BLAS product can change with the number of threads that computed it.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable

__all__ = ["TrainingProgress", "TrainingBars", "print_progress", "plural", "shows_progress", "progress_bar",
           "write_line", "resolve_n_jobs", "effective_n_jobs", "run_jobs", "Background", "Stopped"]

# seconds between two drawings of a bar (however often it is updated)
BAR_INTERVAL_S = 0.1
# share of the whole training at the start and end of each stage (about the time each
# takes on a large corpus)
_STAGE_SPANS = {"files": (0.0, 0.15), "features": (0.15, 0.15), "model": (0.15, 0.55),
                "discriminative": (0.55, 0.6), "network": (0.6, 0.99)}
# training stages drawn as a bar of their own: stage -> (name on the bar, unit)
_STAGE_BARS = {"files": ("features", "file"), "model": ("models", "model"),
               "discriminative": ("discriminative", "iteration"), "network": ("frame classifier", "epoch")}


@dataclass(frozen=True)
class TrainingProgress:
    """One step of a training run.

    Attributes
    ----------
    stage : str
        ``"files"`` (the features of one more input extracted), ``"features"`` (features
        of every input extracted: the summary), ``"model"`` (one more model trained; ``done``
        0 when the stage starts), ``"discriminative"`` (one discriminative iteration done;
        ``done`` 0 when the stage starts), ``"network"`` (one more epoch of the frame
        classifier; ``done`` 0 when it starts, with how many frames it learns from) or ``"done"``.
    done, total : int
        Steps of this stage done so far, out of ``total``.
    message : str
        One line for a person.
    seconds : float
        Seconds since training started.
    item : str
        What the step was about: the model just trained (``"model"``), the input just
        read (``"files"``), else empty.
    """

    stage: str
    done: int
    total: int
    message: str
    seconds: float = 0.0
    item: str = ""

    @property
    def fraction(self) -> float:
        """Rough share of the whole training done (for progress bars)."""
        share = self.done / self.total if self.total else 1.0
        if self.stage not in _STAGE_SPANS:
            return 1.0
        a, b = _STAGE_SPANS[self.stage]
        return a * (1.0 - share) + b * share  # (exactly a at the start and b at the end)

    @property
    def brief(self) -> str:
        """A few words for a bar's side: ``models 3/7``, ``features 12/40``."""
        if self.stage in _STAGE_BARS:
            return f"{_STAGE_BARS[self.stage][0]} {self.done}/{self.total}"
        return "features done" if self.stage == "features" else self.stage

    @property
    def is_milestone(self) -> bool:
        """Worth a line in a log: a stage's summary, a model or an iteration done; not the
        start of a stage nor each input read (those are for bars); of the frame classifier,
        what it learns from and every epoch (each takes a while on a large corpus)."""
        return self.stage != "files" and not (self.stage in ("model", "discriminative") and self.done == 0)


def plural(n: int, word: str) -> str:
    """``1 state``, ``2 states``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def print_progress(event: TrainingProgress, stream=None) -> None:
    """The line reporter (``verbose=1``): each milestone's message on a line of its own (stderr)."""
    if event.is_milestone:
        print(event.message, file=stream or sys.stderr, flush=True)


# -- bars ----------------------------------------------------------------------------------------
def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def shows_progress(quiet: bool = False) -> bool:
    """Whether progress is drawn: stderr is a terminal and ``quiet`` is not set."""
    return not quiet and _is_terminal(sys.stderr)


def progress_bar(total, desc: str, unit: str = "it", quiet: bool = False, **kwargs):
    """A tqdm bar on stderr that draws nothing unless :func:`shows_progress` (then it is
    cleared when closed, leaving only the command's results). Its rate and time left are
    averages over the whole run: the steps of hmmrec's jobs are of unequal length."""
    from tqdm import tqdm

    kwargs.setdefault("smoothing", 0.0)
    kwargs.setdefault("mininterval", BAR_INTERVAL_S)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not shows_progress(quiet), leave=False,
                dynamic_ncols=True, **kwargs)


def write_line(text: str, file=None) -> None:
    """Print a line of results (stdout by default) without tearing the bars drawn on stderr."""
    from tqdm import tqdm

    tqdm.write(text, file=file or sys.stdout)
    (file or sys.stdout).flush()


class TrainingBars:
    """The command line's training reporter on a terminal: a bar of the whole training (its
    share done) over a bar of the current stage (inputs whose features are extracted,
    models trained with the name of the last one, discriminative iterations).

    Call it with each :class:`TrainingProgress`; it closes its bars at ``"done"``, and
    :meth:`close` closes them on any other way out. Draws nothing unless :func:`shows_progress`.
    """

    def __init__(self, quiet: bool = False, desc: str = "training"):
        self.quiet = quiet
        self.overall = progress_bar(100, desc, quiet=quiet, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
                                    position=0)
        self.stage_bar = None
        self._stage = None

    def __call__(self, event: TrainingProgress) -> None:
        self.overall.update(round(100 * event.fraction) - self.overall.n)
        if event.stage in _STAGE_BARS:
            if event.stage != self._stage:
                self._close_stage()
                name, unit = _STAGE_BARS[event.stage]
                self.stage_bar = progress_bar(event.total, name, unit, quiet=self.quiet, position=1)
                self._stage = event.stage
            if event.item:  # the model's name (drawn for each model), or the input's file name
                self.stage_bar.set_postfix_str(os.path.basename(event.item), refresh=event.stage == "model")
            self.stage_bar.update(event.done - self.stage_bar.n)
        elif event.stage == "done":
            self.close()

    def _close_stage(self) -> None:
        if self.stage_bar is not None:
            self.stage_bar.close()
        self.stage_bar, self._stage = None, None

    def close(self) -> None:
        self._close_stage()
        self.overall.close()

    def __enter__(self) -> "TrainingBars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- workers -------------------------------------------------------------------------------------
def resolve_n_jobs(n_jobs) -> int:
    """Worker processes to use: ``n_jobs``, with None or 0 meaning 1 and a negative value every core."""
    n = n_jobs if n_jobs not in (None, 0) else 1
    return (os.cpu_count() or 1) if n < 0 else int(n)


def effective_n_jobs(n_jobs) -> int:
    """Jobs that run at once: the worker threads of the active cluster (:mod:`hmmrec.cluster`),
    else :func:`resolve_n_jobs` of ``n_jobs``."""
    from .cluster import active_client, cluster_threads

    client = active_client()
    return cluster_threads(client) if client is not None else resolve_n_jobs(n_jobs)


def one_blas_thread(fn: Callable, *args):
    """``fn(*args)`` with BLAS limited to one thread (the same bits wherever it runs)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return fn(*args)


class Stopped(Exception):
    """Raised inside work that :class:`Background` was asked to stop."""


class Background:
    """``fn(stop)`` in a daemon thread, beside the caller's own work.

    ``result()`` waits for it and returns its value or raises its error. ``stop()`` sets
    the :class:`threading.Event` it was given, for work that checks it between steps (and
    raises :class:`Stopped`), so that a caller that failed or was interrupted does not
    leave it using a core; a daemon thread never holds up the interpreter's exit.
    """

    def __init__(self, fn: Callable):
        self._stop, self._value, self._error = threading.Event(), None, None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True, name="hmmrec-background")
        self._thread.start()

    def _run(self, fn):
        try:
            self._value = fn(self._stop)
        except BaseException as exc:  # (handed to the caller by result())
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def stop(self) -> None:
        self._stop.set()


def run_jobs(fn: Callable, jobs: list, n_jobs, on_result: Callable | None = None, one_by_one: bool = False) -> list:
    """``[fn(*job) for job in jobs]``, on up to ``n_jobs`` worker processes (joblib), or on the
    workers of the active Dask cluster (:func:`hmmrec.cluster.on_cluster`; ``n_jobs`` is then
    not used).

    Results come back in order; ``on_result(result, done, total)`` is called as each
    arrives, in order. ``one_by_one``: hand the workers one job at a time (long jobs of
    unequal length, whose progress is reported). Each job runs with one BLAS thread
    (:func:`one_blas_thread`), in this process as in the workers.
    """
    from .cluster import active_client, run_on_cluster

    client = active_client()
    if client is not None and len(jobs) >= 2:
        return run_on_cluster(client, fn, jobs, on_result=on_result, one_by_one=one_by_one)
    n = resolve_n_jobs(n_jobs)
    results = []
    if n == 1 or len(jobs) < 2:
        for job in jobs:
            results.append(one_blas_thread(fn, *job))
            if on_result is not None:
                on_result(results[-1], len(results), len(jobs))
        return results
    from joblib import Parallel, delayed

    # jobs are handed out as workers free up, not queued ahead: a job's arguments (sequences
    # of features) can be large, and only the jobs running need to be in memory
    gen = Parallel(n_jobs=min(n, len(jobs)), return_as="generator", batch_size=1 if one_by_one else "auto",
                   pre_dispatch="n_jobs")(delayed(one_blas_thread)(fn, *job) for job in jobs)
    for r in gen:
        results.append(r)
        if on_result is not None:
            on_result(r, len(results), len(jobs))
    return results
