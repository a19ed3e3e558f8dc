"""Unsupervised adaptation to a new speaker (FSDD, leave one speaker out). Prints JSON.

    python benchmarks/adapt.py [--min-posterior 0.5] [--tau 10] [--passes 2]

For each speaker: the recognizer is trained on the other five, then adapted to the
speaker's 500 recordings without their labels (:func:`hmmrec.adapt.adapt`, as ``hmmrec
eval MODEL DATA --adapt``) and tested on the same recordings. Reports accuracy without
and with adaptation, mean and worst speaker.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Timer, emit, log
from fsdd import fsdd_corpus

from hmmrec.adapt import DEFAULT_MIN_POSTERIOR, DEFAULT_PASSES, DEFAULT_TAU, adapt_features
from hmmrec.corpus import leave_one_speaker_out
from hmmrec.evaluate import evaluate_files
from hmmrec.recognizer import HMMRecognizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-posterior", type=float, default=DEFAULT_MIN_POSTERIOR)
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU)
    ap.add_argument("--passes", type=int, default=DEFAULT_PASSES)
    args = ap.parse_args()
    rows = []
    for spk, train, test in leave_one_speaker_out(fsdd_corpus()):
        rec = HMMRecognizer().fit(train.paths, train.y)
        pairs = [rec.signal_and_features(p) for p in test.paths]  # once, for both evaluations and the adaptation
        feats, views = [f for _, f in pairs], [rec.filterbank_of(y) for y, _ in pairs]
        before = evaluate_files(rec, test, features=feats, filterbank=views)["accuracy"]
        with Timer() as t:
            adapted, how = adapt_features(rec, feats, min_posterior=args.min_posterior, tau=args.tau,
                                          passes=args.passes, filterbank=views)
        after = evaluate_files(adapted, test, features=feats, filterbank=views)["accuracy"]
        log(f"{spk}: {before:.4f} -> {after:.4f} ({how.n_used} of {how.n_inputs} files used, {t.seconds:.1f} s)")
        rows.append({"speaker": spk, "without": round(before, 4), "adapted": round(after, 4), "used": how.n_used,
                     "files": how.n_inputs, "adapt_seconds": round(t.seconds, 1)})
    emit({"dataset": "fsdd", "protocol": "leave one speaker out; adapted to the left-out speaker's files, unlabelled",
          "min_posterior": args.min_posterior, "tau": args.tau, "passes": args.passes, "speakers": rows,
          "mean": {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("without", "adapted")},
          "worst": {k: round(float(np.min([r[k] for r in rows])), 4) for k in ("without", "adapted")}})


if __name__ == "__main__":
    main()
