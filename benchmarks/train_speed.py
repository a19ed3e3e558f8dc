"""Training time, peak memory and scoring time on the FSDD training set. Prints JSON.

    python benchmarks/train_speed.py

Two ways of doing the same job, each in a fresh process so that peak memory is its own:

* ``hmmrec``: ``HMMRecognizer()`` with default settings (what the accuracy benchmarks use);
* ``naive``: the usual recipe, one ``hmmlearn.hmm.GaussianHMM(n_components=3)`` per
  digit on 13 plain MFCCs from python_speech_features, trained one word after another.

Before the timed runs, a small fit (50 files, in a process of its own, not timed) makes
numba compile hmmrec's compiled loops into their on-disk cache, which the first use
after installation does once (it added about 6 s to a first training run here); the
timed run then starts its own worker processes and measures training as every later
run pays it.

Peak memory is the largest resident set of the process plus its worker processes,
sampled every 20 ms. Scoring time is the mean wall time of scoring one test utterance
(features already extracted) against all ten word models.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

import numpy as np
from _common import Timer, emit, log

from fsdd import fsdd_corpus
from hmmrec.corpus import split_by_take


class PeakMemory:
    """Peak RSS (MB) of this process and its children while the block runs."""

    def __enter__(self):
        import psutil

        self._proc = psutil.Process()
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        total = 0
        for p in [self._proc] + self._proc.children(recursive=True):
            try:
                total += p.memory_info().rss
            except Exception:  # a worker that just exited
                pass
        self.peak = max(self.peak, total / 2**20)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def ours(train, test):
    from hmmrec.recognizer import HMMRecognizer

    with PeakMemory() as mem, Timer() as t:
        rec = HMMRecognizer().fit(train.paths, train.y)
    pairs = [rec.signal_and_features(p) for p in test.paths]
    feats = [f for _, f in pairs]
    rec.loglik_features(feats[0], rec.filterbank_of(pairs[0][0]))  # compile/warm up
    with Timer() as ts:  # (the second network's filterbank included)
        ll = [rec.loglik_features(f, rec.filterbank_of(y)) for y, f in pairs]
    pred = rec.classes_[np.argmax(ll, axis=1)]
    acc = float(np.mean(pred == np.array(test.y)))
    return {"train_seconds": round(t.seconds, 2), "peak_rss_mb": round(mem.peak, 1),
            "score_ms_per_utterance": round(1000 * ts.seconds / len(feats), 3), "accuracy": round(acc, 4)}


def naive(train, test):
    import warnings

    from hmmlearn.hmm import GaussianHMM
    from python_speech_features import mfcc

    from hmmrec.audio import load

    def feat(path):
        y, sr = load(path, 8000)
        return mfcc(y, sr, nfft=256)

    with PeakMemory() as mem, Timer() as t:
        models = {}
        for label in sorted(set(train.y)):
            seqs = [feat(u.path) for u in train if u.label == label]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                models[label] = GaussianHMM(n_components=3, random_state=0).fit(np.vstack(seqs), [len(s) for s in seqs])
    feats = [feat(p) for p in test.paths]
    labels = sorted(models)
    with Timer() as ts:
        ll = [[models[lab].score(f) for lab in labels] for f in feats]
    pred = np.array(labels)[np.argmax(ll, axis=1)]
    acc = float(np.mean(pred == np.array(test.y)))
    return {"train_seconds": round(t.seconds, 2), "peak_rss_mb": round(mem.peak, 1),
            "score_ms_per_utterance": round(1000 * ts.seconds / len(feats), 3), "accuracy": round(acc, 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["hmmrec", "naive", "warmup"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    train, test = split_by_take(fsdd_corpus(), 5)
    if args.only == "warmup":
        from hmmrec.recognizer import HMMRecognizer

        HMMRecognizer().fit(train.paths[::54], train.y[::54])
        return
    if args.only:
        print(json.dumps((ours if args.only == "hmmrec" else naive)(train, test)))
        return
    result = {"dataset": "fsdd", "n_train": len(train), "n_test": len(test)}
    log("compiling hmmrec's loops (a small fit, not timed) ...")
    subprocess.run([sys.executable, __file__, "--only", "warmup"], check=True, capture_output=True, text=True)
    for name in ("hmmrec", "naive"):
        log(f"running {name} ...")
        out = subprocess.run([sys.executable, __file__, "--only", name], check=True, capture_output=True, text=True)
        result[name] = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"{name}: {result[name]}")
    result["train_time_ratio_naive_over_hmmrec"] = round(result["naive"]["train_seconds"] / result["hmmrec"]["train_seconds"], 2)
    emit(result)


if __name__ == "__main__":
    main()
