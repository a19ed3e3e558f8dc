"""FSDD digits: official split (takes 0-4 test) and leave-one-speaker-out. Prints JSON.

    python benchmarks/fsdd.py [--split official|loso|both]
"""

from __future__ import annotations

import argparse

from _common import Timer, datasets_dir, emit, log

from hmmrec.corpus import leave_one_speaker_out, load_corpus, split_by_take
from hmmrec.evaluate import evaluate_files, summarize_folds
from hmmrec.recognizer import HMMRecognizer


def fsdd_corpus():
    from hmmrec.corpus import Corpus, Utterance

    folder = datasets_dir() / "fsdd" / "recordings"
    out = Corpus()
    for p in sorted(folder.glob("*.wav")):
        digit, speaker, take = p.stem.split("_")
        out.append(Utterance(str(p), digit, speaker, int(take)))
    return out


def run(train, test, **kw):
    with Timer() as t:
        rec = HMMRecognizer(**kw).fit(train.paths, train.y)
    rep = evaluate_files(rec, test)
    return rep, t.seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["official", "loso", "both"], default="both")
    args = ap.parse_args()
    corpus = fsdd_corpus()
    result = {"dataset": "fsdd", "n_files": len(corpus)}
    if args.split in ("official", "both"):
        train, test = split_by_take(corpus, 5)
        rep, secs = run(train, test)
        result["official"] = {"accuracy": rep["accuracy"], "n_test": rep["n"], "train_seconds": round(secs, 1)}
        log(f"official: {rep['accuracy']:.4f} ({secs:.1f} s)")
    if args.split in ("loso", "both"):
        accs = {}
        for spk, train, test in leave_one_speaker_out(corpus):
            rep, secs = run(train, test)
            accs[spk] = rep["accuracy"]
            log(f"loso {spk}: {rep['accuracy']:.4f} ({secs:.1f} s)")
        result["leave_one_speaker_out"] = summarize_folds(accs)
    emit(result)


if __name__ == "__main__":
    main()
