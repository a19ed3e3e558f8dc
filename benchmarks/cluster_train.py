"""Training time on a Dask cluster of 1 and of 2 workers, beside local processes and one process. Prints JSON.

    python benchmarks/cluster_train.py [--extra-train] [--limit N] [--skip-one-process]

The data is the training half of ``speech_commands/`` as ``speech_commands.py`` splits it
(by speaker, ``test_size=0.3``, seed 0); ``--extra-train`` adds ``speech_commands_train/``
(the whole training set of the shipped ``commands`` model's kind); ``--limit N`` keeps the
first N files of each label. Default training settings. Each run trains the same
recognizer and saves its model file: one process (``n_jobs=1``), local worker processes
(``n_jobs=-1``), then a ``LocalCluster`` of 1 and of 2 worker processes of one thread
each (``hmmrec.cluster.on_cluster``), first as Dask starts its workers by default, then
without the ``MALLOC_TRIM_THRESHOLD_=65536`` that Dask's nannies put in their workers'
environment (``distributed.nanny.pre-spawn-environ``), which makes glibc hand memory back
at once and hmmrec's numerical work slower. The clusters are started before the clock starts;
the time of a run is ``fit`` alone, workers' first imports included (as for local
processes). The JSON gives each run's seconds and model file hash, the time ratio of 1
to 2 workers, and whether every model file is the same bytes; each run's stages (seconds
of feature extraction, word models, discriminative training, and what follows).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from _common import Timer, emit, log
from speech_commands import extra_training_corpus, speech_commands_corpus

from hmmrec.cluster import on_cluster
from hmmrec.corpus import Corpus, split_by_speaker
from hmmrec.recognizer import HMMRecognizer


def training_corpus(extra: bool, limit: int | None) -> Corpus:
    train, _ = split_by_speaker(speech_commands_corpus(), 0.3, 0)  # as benchmarks/speech_commands.py
    if extra:
        train = Corpus(list(train) + list(extra_training_corpus()))
    if limit:
        kept: dict[str, int] = {}
        rows = []
        for u in train:
            if kept.get(u.label, 0) < limit:
                kept[u.label] = kept.get(u.label, 0) + 1
                rows.append(u)
        train = Corpus(rows)
    return train


def train_and_save(corpus: Corpus, out: Path, **kwargs) -> dict:
    """Seconds of ``fit`` and of its stages, and the model file's SHA-256."""
    ends: dict[str, float] = {}

    def progress(event):  # when each stage ended, from the start of fit
        if event.stage in ("features", "model", "discriminative") and event.done == event.total:
            ends[event.stage] = event.seconds

    with Timer() as t:
        rec = HMMRecognizer(**kwargs).fit(corpus.paths, corpus.y, progress=progress)
    rec.save(out)
    stages, start = {}, 0.0
    for stage, name in (("features", "features"), ("model", "models"), ("discriminative", "discriminative")):
        if stage in ends:
            stages[name] = round(ends[stage] - start, 1)
            start = ends[stage]
    stages["calibration"] = round(t.seconds - start, 1)
    return {"seconds": round(t.seconds, 1), "stages_seconds": stages,
            "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}


# Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers; None leaves it unset
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def main():
    import dask
    from distributed import LocalCluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--extra-train", action="store_true", help="also train on speech_commands_train/")
    ap.add_argument("--limit", type=int, default=None, help="at most N files per label")
    ap.add_argument("--skip-one-process", action="store_true", help="no n_jobs=1 run")
    args = ap.parse_args()
    corpus = training_corpus(args.extra_train, args.limit)
    log(f"training on {len(corpus)} files, {len(corpus.labels)} labels")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        def run(name: str, **kwargs):
            log(f"{name} ...")
            runs[name] = train_and_save(corpus, Path(tmp) / f"{name}.model", **kwargs)
            log(f"{name}: {runs[name]['seconds']} s {runs[name]['stages_seconds']}")

        if not args.skip_one_process:
            run("one_process", n_jobs=1)
        run("local_processes", n_jobs=-1)
        for env, suffix in ((None, ""), (NO_MALLOC_TRIM, "_no_malloc_trim")):
            for workers in (1, 2):
                saved = dict(os.environ)  # the nannies write their workers' variables into this process
                with dask.config.set(env or {}):
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
                os.environ.clear()
                os.environ.update(saved)
                with cluster, on_cluster(cluster):
                    run(f"cluster_{workers}_worker{'s' if workers > 1 else ''}{suffix}")
    ratios = {f"time_ratio_1_over_2_workers{suffix}": round(runs[f"cluster_1_worker{suffix}"]["seconds"]
                                                             / runs[f"cluster_2_workers{suffix}"]["seconds"], 2)
              for suffix in ("", "_no_malloc_trim")}
    emit({"benchmark": "cluster_train", "data": "speech_commands/ training half (speaker split 0.3, seed 0)"
          + (" + speech_commands_train/" if args.extra_train else "")
          + (f", at most {args.limit} files per label" if args.limit else ""),
          "n_files": len(corpus), "labels": len(corpus.labels), "cpus": os.cpu_count(), "runs": runs,
          **ratios,
          "model_files_identical": len({r["sha256"] for r in runs.values()}) == 1})


if __name__ == "__main__":
    main()
