"""Fruit words (7 words x 15 takes, no speaker ids): stratified 5-fold. Prints JSON.

    python benchmarks/fruit.py [--folds 5]
"""

from __future__ import annotations

import argparse

from _common import Timer, datasets_dir, emit, log

from hmmrec.corpus import kfold, load_corpus
from hmmrec.evaluate import evaluate_files, summarize_folds
from hmmrec.recognizer import HMMRecognizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    corpus = load_corpus(datasets_dir() / "fruit")
    accs, secs, n_right = {}, 0.0, 0
    for i, (train, test) in enumerate(kfold(corpus, args.folds, seed=0)):
        with Timer() as t:
            rec = HMMRecognizer().fit(train.paths, train.y)
        rep = evaluate_files(rec, test)
        accs[f"fold{i}"] = rep["accuracy"]
        n_right += round(rep["accuracy"] * rep["n"])
        secs += t.seconds
        log(f"fold {i}: {rep['accuracy']:.4f} ({t.seconds:.1f} s)")
    result = {"dataset": "fruit", "protocol": f"stratified {args.folds}-fold (seed 0)", "n_files": len(corpus),
              "accuracy": n_right / len(corpus), "folds": summarize_folds(accs),
              "train_seconds_total": round(secs, 1)}
    emit(result)


if __name__ == "__main__":
    main()
