"""hmmrec on a Dask cluster (a LocalCluster of 2 worker processes): the same model file bit
for bit as in one process or on local worker processes, the same reports, results in the
order of the jobs, and one-line errors when the cluster cannot be used."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time

import pytest

from hmmrec import HMMRecognizer, audio
from hmmrec.cli import main
from hmmrec.cluster import ClusterError, active_client, on_cluster
from hmmrec.errors import AudioError
from hmmrec.progress import run_jobs

from helpers import FRUIT_LABELS, sound_files

distributed = pytest.importorskip("distributed", reason="the cluster needs Dask (pip install 'hmmrec[cluster]')")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster():
    saved = dict(os.environ)
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                 silence_logs=logging.ERROR)
    # the nannies write their workers' variables (one BLAS thread, MALLOC_TRIM_THRESHOLD_, ...)
    # into this process's environment: not for the processes later tests start
    os.environ.clear()
    os.environ.update(saved)
    with c:
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Manifests of every fruit label: 3 training files each, and the whole test split."""
    root = tmp_path_factory.mktemp("cluster")
    out = {}
    for split, n in (("train", 3), ("test", None)):
        rows = ["path,label"] + [f"{f},{lab}" for lab in FRUIT_LABELS for f in sound_files(split, lab, n)]
        out[split] = root / f"{split}.csv"
        out[split].write_text("\n".join(rows) + "\n")
    out["root"] = root
    return out


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hmmrec: error: ") and "Traceback" not in err, err
    return lines[0]


def test_training_on_the_cluster_writes_the_same_model_file_bit_for_bit(cluster, data, capsys):
    # the default training copies (warped and noisy: noise from _silence_ recordings travel to
    # the workers) and discriminative training: every parallel step of training
    settings = ["--mix", "2"]
    files = {}
    for how, where in (("one process", ["--jobs", "1"]), ("local processes", ["--jobs", "2"]),
                       ("cluster", ["--scheduler", cluster.scheduler_address])):
        files[how] = data["root"] / f"{how.replace(' ', '_')}.model"
        with distributed.Client(cluster, set_as_default=False) as watcher:
            with distributed.get_task_stream(client=watcher) as tasks:
                assert main(["train", str(data["train"]), "-o", str(files[how]), *settings, *where]) == 0
        # on the cluster: at least one task per file (features) and per model (8 labels, background, filler)
        assert len(tasks.data) >= 34 if how == "cluster" else not tasks.data
        out, err = capsys.readouterr()
        assert err == "" and out.startswith(f"saved {files[how]}: 8 labels, trained on 24 files")
    reference = files["one process"].read_bytes()
    assert files["local processes"].read_bytes() == reference
    assert files["cluster"].read_bytes() == reference
    data["model"] = files["cluster"]


@pytest.mark.parametrize("adapt", [[], ["--adapt"]])
def test_evaluation_on_the_cluster_gives_the_same_report(cluster, data, capsys, adapt):
    model = data.get("model") or pytest.skip("needs the model of the training test")
    reports = {}
    for how, where in (("local", ["--jobs", "1"]), ("cluster", ["--scheduler", cluster.scheduler_address])):
        report = data["root"] / f"eval_{how}{'_adapted' if adapt else ''}.json"
        with distributed.Client(cluster, set_as_default=False) as watcher:
            with distributed.get_task_stream(client=watcher) as tasks:
                assert main(["eval", str(model), str(data["test"]), "--json", str(report), *adapt, *where]) == 0
        capsys.readouterr()
        reports[how] = json.loads(report.read_text())
        # 64 test files: two jobs of 32 files for the workers (features, then recognition with --adapt)
        assert len(tasks.data) == (0 if how == "local" else 2 * (1 + len(adapt))), tasks.data
    assert reports["cluster"] == reports["local"] and reports["local"]["n"] == 64


def test_crossval_on_the_cluster_gives_the_same_folds(cluster, data, capsys):
    fast = ["--by", "kfold", "--k", "2", "--mix", "1", "--warps", "none", "--noise", "none"]
    assert main(["crossval", str(data["train"]), *fast, "--jobs", "1"]) == 0
    local = capsys.readouterr().out
    assert main(["crossval", str(data["train"]), *fast, "--scheduler", cluster.scheduler_address]) == 0
    assert capsys.readouterr().out == local and local.count("accuracy") == 3


# -- the API ------------------------------------------------------------------------------------------------
def _waits_then_returns(i: int, delay: float) -> int:
    time.sleep(delay)
    return i


def test_jobs_come_back_in_order_whichever_finishes_first(cluster):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    try:
        arrived = []
        with distributed.Client(cluster, set_as_default=False) as client:
            with on_cluster(client) as c:
                assert c is client and active_client() is client
                # the first job is the slowest: the others finish before it
                got = run_jobs(_waits_then_returns, [(i, 0.5 if i == 0 else 0.0) for i in range(6)], n_jobs=1,
                               on_result=lambda r, done, total: arrived.append((r, done, total)), one_by_one=True)
                assert got == list(range(6)) and arrived == [(i, i + 1, 6) for i in range(6)]
                # short jobs travel in groups: still in order
                assert run_jobs(_waits_then_returns, [(i, 0.0) for i in range(100)], n_jobs=1) == list(range(100))
            assert active_client() is None and client.status == "running"  # a client given is left open
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_jobs_own_error_comes_through_as_it_is(cluster, tmp_path):
    with on_cluster(cluster.scheduler_address):
        with pytest.raises(AudioError, match="missing"):
            run_jobs(audio.info, [(str(tmp_path / "missing.wav"),), (str(tmp_path / "missing2.wav"),)], n_jobs=1)


def test_fit_on_the_cluster_equals_fit_in_one_process(cluster):
    X = [str(f) for lab in ("kiwi", "_silence_") for f in sound_files("train", lab, 3)]
    y = ["kiwi"] * 3 + ["_silence_"] * 3
    settings = dict(n_mix=1, warps=(), noise_snrs=(), mmi_iter=1)
    here = HMMRecognizer(**settings, n_jobs=1).fit(X, y)
    with on_cluster(cluster):  # a cluster object works as well as its address
        there = HMMRecognizer(**settings).fit(X, y)
    for a, b in zip(here.models_ + [here.background_], there.models_ + [there.background_]):
        assert a.means.tobytes() == b.means.tobytes() and a.variances.tobytes() == b.variances.tobytes()
    assert here.temperature_ == there.temperature_


# -- a cluster that cannot be used ---------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_within_seconds(data, capsys):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    model = data["root"] / "never.model"
    t0 = time.perf_counter()
    assert main(["train", str(data["train"]), "-o", str(model), "--scheduler", address]) == 1
    assert time.perf_counter() - t0 < 15
    out, err = capsys.readouterr()
    assert out == "" and not model.exists()
    assert f"cannot reach the Dask scheduler at {address}" in one_error_line(err)


@pytest.mark.parametrize("command", ["train", "eval", "crossval"])
def test_a_malformed_address_is_one_line(data, capsys, command):
    args = {"train": ["train", str(data["train"]), "-o", str(data["root"] / "x.model")],
            "eval": ["eval", "commands", str(data["test"])],
            "crossval": ["crossval", str(data["train"]), "--k", "2"]}[command]
    assert main([*args, "--scheduler", "no port here"]) == 1
    assert "not a Dask scheduler address: 'no port here'" in one_error_line(capsys.readouterr().err)


def test_a_scheduler_without_workers_is_a_cluster_error():
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as empty:
        with pytest.raises(ClusterError, match="has no worker .*dask worker"):
            with on_cluster(empty.scheduler_address, timeout_s=1):
                pass
