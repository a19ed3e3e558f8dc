"""Choose ``unknown_bias`` by cross-validation over training speakers only. Prints JSON.

    python benchmarks/unknown_bias.py [--seed 0] [--folds 3] [--test-size 0.3]

The training half of ``speech_commands.py``'s split of that seed (its test half is never
read) is split by speaker into folds; a model trained with the default settings on all
folds but one scores the files of the one left out. Every bias on a grid is then applied
to those held-out scores, as :meth:`HMMRecognizer.recognize` applies it, and the chosen
value is the one whose worst label's recall is highest (ties: the smaller bias), the
aim being that no class loses to the others. Accuracy and balanced accuracy are printed
for each value too.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Timer, emit, log
from speech_commands import speech_commands_corpus

from hmmrec.corpus import Corpus, split_by_speaker
from hmmrec.recognizer import HMMRecognizer

GRID = np.round(np.arange(-0.1, 0.301, 0.01), 2)


def held_out_scores(rec: HMMRecognizer, files: Corpus):
    """(log-likelihoods without the bias, labels the speech rules out, frames, true label) per file."""
    labels = list(rec.classes_)
    rows = []
    for u in files:
        y, feats = rec.signal_and_features(u.path)
        r = rec.recognize_features(feats, rec.speech(y), rec.filterbank_of(y), unknown_bias=False)
        rows.append((r.loglik, [k in r.ruled_out for k in range(len(labels))], len(feats), labels.index(str(u.label))))
    return rows


def recalls(ll, out, n, y, several, bias) -> tuple[np.ndarray, float]:
    """Each label's recall and the accuracy with ``bias`` per frame on the ``several`` labels."""
    scored = np.where(out, -np.inf, ll + bias * n[:, None] * several)
    pred = scored.argmax(1)
    return np.array([(pred[y == k] == k).mean() for k in range(ll.shape[1])]), (pred == y).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--test-size", type=float, default=0.3)
    args = ap.parse_args()
    train, _ = split_by_speaker(speech_commands_corpus(), args.test_size, args.seed)
    speakers = np.random.default_rng(1000 + args.seed).permutation(train.speakers)
    rows, seconds = [], []
    for f in range(args.folds):
        held = set(speakers[f :: args.folds])
        fit_on = Corpus(u for u in train if u.speaker not in held)
        with Timer() as t:
            rec = HMMRecognizer().fit(fit_on.paths, fit_on.y)
        seconds.append(round(t.seconds, 1))
        rows += held_out_scores(rec, Corpus(u for u in train if u.speaker in held))
        log(f"fold {f + 1}/{args.folds}: trained on {len(fit_on)} files in {t.seconds:.0f} s, {len(rows)} scored")
    ll, out, n, y = (np.array(v) for v in zip(*rows))
    labels, several = list(rec.classes_), rec.unknown_mask_.astype(float)  # (every fold's labels are the same)
    grid = []
    for b in GRID:
        rec_k, acc = recalls(ll, out, n.astype(float), y, several, float(b))
        worst = int(np.argmin(rec_k))
        grid.append({"bias": float(b), "accuracy": round(float(acc), 4), "balanced_accuracy": round(float(rec_k.mean()), 4),
                     "worst_label": labels[worst], "worst_recall": round(float(rec_k[worst]), 4),
                     "recall_per_label": {lab: round(float(r), 4) for lab, r in zip(labels, rec_k)}})
    best = max(grid, key=lambda g: (g["worst_recall"], -abs(g["bias"])))
    emit({"dataset": "speech_commands", "protocol": f"training half of seed {args.seed} "
          f"(test_size={args.test_size}), {args.folds} folds by speaker", "n_files": len(rows),
          "train_seconds": seconds, "chosen": {k: best[k] for k in ("bias", "accuracy", "worst_label", "worst_recall")},
          "without": {k: next(g for g in grid if g["bias"] == 0.0)[k]
                      for k in ("accuracy", "worst_label", "worst_recall")},
          "grid": grid})


if __name__ == "__main__":
    main()
