"""Fruit words (7 words x 15 takes, no speaker ids): stratified 5-fold. Prints JSON.

    python benchmarks/fruit.py [--folds 5]
    python benchmarks/fruit.py --from-sounds

``--from-sounds``: instead, a model trained on the synthetic voices of ``sounds/train``
(README's first command) recognises all 105 real recordings: how many come out as
``_silence_``, how many the models alone would have called silence, the accuracy and
the confidences.
"""

from __future__ import annotations

import argparse

from _common import Timer, datasets_dir, emit, log

from _common import REPO

from hmmrec.corpus import kfold, load_corpus
from hmmrec.evaluate import evaluate_files, summarize_folds
from hmmrec.recognizer import HMMRecognizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--from-sounds", action="store_true", help="model of sounds/train, tested on the real recordings")
    args = ap.parse_args()
    corpus = load_corpus(datasets_dir() / "fruit")
    if args.from_sounds:
        return from_sounds(corpus)
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


def from_sounds(corpus):
    import numpy as np

    train = load_corpus(REPO / "sounds" / "train")
    with Timer() as t:
        rec = HMMRecognizer().fit(train.paths, train.y)
    results = [rec.recognize(f) for f in corpus.paths]
    labels = [r.label for r in results]
    models_alone = [str(r.labels[int(np.argmax(r.loglik))]) for r in results]
    conf = np.array([r.confidence for r in results])
    emit({"dataset": "fruit", "protocol": "model of sounds/train (synthetic voices), all real recordings",
          "n_files": len(corpus), "labelled_silence": labels.count("_silence_"),
          "silence_by_the_models_alone": models_alone.count("_silence_"),
          "silence_limit_s": rec.speech_limits_.get("_silence_"),
          "accuracy": float(np.mean([a == b for a, b in zip(labels, corpus.y)])),
          "confidence": {"median": round(float(np.median(conf)), 3), "max": round(float(conf.max()), 3)},
          "train_seconds": round(t.seconds, 1)})


if __name__ == "__main__":
    main()
