"""hmmrec's parallel steps on a Dask cluster: past one machine.

Feature extraction, training and evaluation hand their jobs to
:func:`hmmrec.progress.run_jobs`. Inside :func:`on_cluster` those jobs go to the workers
of a Dask scheduler instead of local processes::

    from hmmrec import HMMRecognizer
    from hmmrec.cluster import on_cluster

    with on_cluster("tcp://scheduler-host:8786"):
        rec = HMMRecognizer().fit(paths, labels)

The command line's ``--scheduler ADDRESS`` (train, eval, crossval) does the same. The
models are the same bits as trained with local processes or in one process: results
come back in the order of the jobs, every random choice is made in this process from a
fixed seed, and each job runs with one BLAS thread. (Workers on other kinds of processor,
or with other versions of NumPy, SciPy or Numba, may round differently.) The workers read
audio files by their paths, and this process reads some of them too (sample rates, the
background recordings mixed in as noise), so the data must be at the same paths here and
on every worker, e.g. on shared storage; the workers need hmmrec installed.

Each job's arguments are scattered straight to a worker rather than embedded in the task
(some are large: a label's training sequences), and only as many jobs as the cluster has
worker threads are out at a time, as with local processes. Needs the ``cluster`` extra
(``dask[distributed]``).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Callable

from .errors import HmmrecError

__all__ = ["ClusterError", "on_cluster", "connect", "active_client", "cluster_threads", "run_on_cluster",
           "DEFAULT_TIMEOUT_S"]

# seconds to wait for the scheduler to answer, and for a first worker to be there
DEFAULT_TIMEOUT_S = 5.0
# short jobs travel in groups: at most this many jobs in a task ...
_MAX_JOBS_PER_TASK = 64
# ... and at least this many tasks per worker thread (for progress and balance)
_TASKS_PER_THREAD = 8

_ACTIVE: ContextVar = ContextVar("hmmrec_cluster_client", default=None)


class ClusterError(HmmrecError):
    """The Dask cluster cannot be used: unreachable, without workers, or lost during the work."""


def active_client():
    """The Dask client of the innermost :func:`on_cluster` block, or None."""
    return _ACTIVE.get()


def cluster_threads(client) -> int:
    """Worker threads of the cluster (jobs it runs at once), at least 1."""
    return max(1, sum(client.nthreads().values()))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _describe(scheduler) -> str:
    return scheduler if isinstance(scheduler, str) else getattr(scheduler, "scheduler_address", repr(scheduler))


def _hmmrec_version() -> str:  # run on each worker: can it import hmmrec, and which?
    from . import __version__

    return __version__


def _client_class():
    """Dask's Client, or a ClusterError saying how to install Dask."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("running on a Dask cluster needs Dask: pip install 'hmmrec[cluster]'") from None
    return Client


def connect(scheduler, timeout_s: float = DEFAULT_TIMEOUT_S):
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (an address such as
    ``tcp://host:8786``, or a cluster object such as ``LocalCluster``), with at least one
    worker that runs this version of hmmrec.

    Raises
    ------
    ClusterError
        One line: Dask missing, the scheduler not answering within ``timeout_s`` seconds,
        no worker within ``timeout_s``, or workers that cannot import hmmrec.
    """
    Client = _client_class()
    where = _describe(scheduler)
    if isinstance(scheduler, str):  # checked first: a Client that fails on a malformed address hangs when collected
        from distributed.comm import get_address_host_port

        try:
            get_address_host_port(scheduler)
        except ValueError as exc:
            if "don't know how to extract" not in str(exc):  # (addresses without host and port: inproc, ucx)
                raise ClusterError(f"not a Dask scheduler address: {scheduler!r} ({_one_line(exc)}; "
                                   "expected e.g. tcp://host:8786)") from None
    try:
        client = Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, ValueError, TypeError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {where}: {_one_line(exc)}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except (OSError, TimeoutError):
            raise ClusterError(f"the Dask scheduler at {where} has no worker (waited {timeout_s:g} s); "
                               f"start some with 'dask worker {where}'") from None
        from . import __version__

        try:
            versions = client.run(_hmmrec_version)
        except Exception as exc:  # noqa: BLE001 (whatever a worker raised: one line)
            raise ClusterError(f"a worker of {where} cannot run hmmrec ({type(exc).__name__}: {_one_line(exc)}); "
                               "install it on every worker") from None
        other = sorted({v for v in versions.values() if v != __version__})
        if other:
            raise ClusterError(f"workers of {where} run hmmrec {', '.join(other)}, this is {__version__}: "
                               "install the same version everywhere")
    except BaseException:
        client.close()
        raise
    return client


def _lost(where: str, exc: BaseException) -> ClusterError:
    reason = getattr(exc, "reason", None)  # a cancelled task says why (e.g. scheduler-connection-lost)
    why = reason if isinstance(reason, str) and reason else f"{type(exc).__name__}: {_one_line(exc)}"
    return ClusterError(f"the Dask cluster at {where} failed during the work ({why})")


def _dask_failures() -> tuple:
    """Exceptions that mean the cluster, not the job, failed."""
    import concurrent.futures

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    return (concurrent.futures.CancelledError, CommClosedError, KilledWorker)


@contextlib.contextmanager
def on_cluster(scheduler, timeout_s: float = DEFAULT_TIMEOUT_S):
    """Run hmmrec's parallel steps on a Dask cluster inside the block; yields the client.

    ``scheduler``: an address (``tcp://host:8786``), a cluster object (``LocalCluster``)
    or a ``distributed.Client`` (used as it is and left open; the others are connected
    with :func:`connect` and closed at the end of the block). The cluster's failures during
    the work are :class:`ClusterError` s; the jobs' own errors (an unreadable file, ...)
    come through as they are.
    """
    Client = _client_class()
    own = not isinstance(scheduler, Client)
    client = connect(scheduler, timeout_s) if own else scheduler
    where = _describe(scheduler) if own else client.scheduler.address
    token = _ACTIVE.set(client)
    try:
        yield client
    except _dask_failures() as exc:
        raise _lost(where, exc) from None
    finally:
        _ACTIVE.reset(token)
        if own:
            client.close()


def _run_task(fn: Callable, jobs: list) -> list:
    """One task on a worker: ``[fn(*job) for job in jobs]`` with one BLAS thread. The limit is
    left in place in the worker process (Dask's own workers start with one BLAS thread too):
    restoring it while another thread of the worker computes would race."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    return [fn(*job) for job in jobs]


def run_on_cluster(client, fn: Callable, jobs: list, on_result: Callable | None = None,
                   one_by_one: bool = False) -> list:
    """``[fn(*job) for job in jobs]`` on the workers of ``client``, results in order.

    ``on_result(result, done, total)`` is called for each job in order as results arrive.
    ``one_by_one``: one job per task (long jobs of unequal length); else short jobs travel
    in contiguous groups. At most as many tasks as the cluster has worker threads are out
    at a time, each with its arguments scattered to a worker.
    """
    from distributed import as_completed

    n = cluster_threads(client)
    size = 1 if one_by_one else max(1, min(_MAX_JOBS_PER_TASK, len(jobs) // (_TASKS_PER_THREAD * n)))
    groups = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    results: list = [None] * len(groups)  # a group's results, until handed on
    running: dict = {}
    finished = as_completed(loop=client.loop)  # (the client is not Dask's default one)
    out: list = []
    submitted = 0

    def submit(g: int) -> None:
        [data] = client.scatter([groups[g]], hash=False)
        future = client.submit(_run_task, fn, data, pure=False)
        running[future] = g
        finished.add(future)

    try:
        while submitted < min(n, len(groups)):
            submit(submitted)
            submitted += 1
        for future in finished:
            g = running.pop(future)
            results[g] = future.result()
            if submitted < len(groups):
                submit(submitted)
                submitted += 1
            while len(out) < len(jobs) and results[len(out) // size] is not None:
                g, i = divmod(len(out), size)
                out.append(results[g][i])
                if i == len(results[g]) - 1:
                    results[g] = None  # handed on: not kept twice
                if on_result is not None:
                    on_result(out[-1], len(out), len(jobs))
        return out
    finally:
        for future in running:
            future.cancel()
