"""Unsupervised adaptation to a new speaker. Prints JSON.

    python benchmarks/adapt.py [--min-posterior 0.5] [--tau 10] [--passes 2] [--speech-commands [--seed 0]]

FSDD (default), leave one speaker out: for each speaker the recognizer is trained on the
other five, then adapted to the speaker's 500 recordings without their labels
(:func:`hmmrec.adapt.adapt_features`, as ``hmmrec eval MODEL DATA --adapt``) and tested
on the same recordings. Reports accuracy without and with adaptation, mean and worst
speaker.

``--speech-commands``: the split of ``speech_commands.py`` (trained on the training
speakers), then each held-out speaker's few files (about eight, of any labels) adapted
to and classified on their own, as ``eval --adapt`` does for data that names its speakers
(``hmmrec.evaluate.evaluate_adapted``): the case of a handful of files and of a model
trained on many voices. ``--model``: a saved model of the same split instead of training.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Timer, emit, log
from fsdd import fsdd_corpus

from hmmrec.adapt import DEFAULT_MIN_POSTERIOR, DEFAULT_PASSES, DEFAULT_TAU, adapt_features
from hmmrec.corpus import leave_one_speaker_out, split_by_speaker
from hmmrec.evaluate import evaluate_adapted, evaluate_files, file_features
from hmmrec.recognizer import HMMRecognizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-posterior", type=float, default=DEFAULT_MIN_POSTERIOR)
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU)
    ap.add_argument("--passes", type=int, default=DEFAULT_PASSES)
    ap.add_argument("--speech-commands", action="store_true", help="Speech Commands' held-out speakers, a few files each")
    ap.add_argument("--seed", type=int, default=0, help="the Speech Commands split (as speech_commands.py)")
    ap.add_argument("--model", help="with --speech-commands: a saved model of the same split instead of training one "
                                    "(kws.py --save-model's)")
    args = ap.parse_args()
    if args.speech_commands:
        return emit(speech_commands(args))
    rows = []
    for spk, train, test in leave_one_speaker_out(fsdd_corpus()):
        rec = HMMRecognizer().fit(train.paths, train.y)
        feats, speech, views = file_features(rec, test.paths, speech=True)  # once, for both evaluations and the adaptation
        before = evaluate_files(rec, test, features=feats, speech=speech, filterbank=views)["accuracy"]
        with Timer() as t:
            adapted, how = _adapt(rec, feats, speech, views, args)
        after = evaluate_files(adapted, test, features=feats, speech=speech, filterbank=views)["accuracy"]
        log(f"{spk}: {before:.4f} -> {after:.4f} ({how.n_used} of {how.n_inputs} files used, {t.seconds:.1f} s)")
        rows.append({"speaker": spk, "without": round(before, 4), "adapted": round(after, 4), "used": how.n_used,
                     "files": how.n_inputs, "adapt_seconds": round(t.seconds, 1)})
    emit({"dataset": "fsdd", "protocol": "leave one speaker out; adapted to the left-out speaker's files, unlabelled",
          "min_posterior": args.min_posterior, "tau": args.tau, "passes": args.passes, "speakers": rows,
          "mean": {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("without", "adapted")},
          "worst": {k: round(float(np.min([r[k] for r in rows])), 4) for k in ("without", "adapted")}})


def speech_commands(args) -> dict:
    from speech_commands import speech_commands_corpus

    train, test = split_by_speaker(speech_commands_corpus(), 0.3, args.seed)
    if args.model:
        rec = HMMRecognizer.load(args.model)
        log(f"{args.model}: trained on {rec.training_summary_.get('n_files', '?')} files")
    else:
        log(f"training on {len(train)} files")
        rec = HMMRecognizer().fit(train.paths, train.y)
    feats, speech, views = file_features(rec, test.paths, speech=True)
    without = evaluate_files(rec, test, features=feats, speech=speech, filterbank=views)
    adapted, hows = evaluate_adapted(rec, test, feats, speech, views, min_posterior=args.min_posterior, tau=args.tau,
                                     passes=args.passes)  # as eval --adapt: each speaker apart
    runs = {key: {"accuracy": round(r["accuracy"], 4),
                  "recall_per_label": {lab: round(v["recall"], 4) for lab, v in sorted(r["per_label"].items())}}
            for key, r in (("without", without), ("adapted", adapted))}
    return {"dataset": "speech_commands", "protocol": f"speaker-disjoint split, test_size=0.3, seed={args.seed}; "
            "each held-out speaker's files adapted to (unlabelled) and classified on their own",
            "speakers": len(hows), "files": len(test), "min_posterior": args.min_posterior, "tau": args.tau,
            "passes": args.passes, "files_used": sum(h.n_used for h in hows),
            "label_models_moved": sum(len(h.labels) for h in hows), **runs}


def _adapt(rec, feats, speech, views, args):
    return adapt_features(rec, feats, min_posterior=args.min_posterior, tau=args.tau, passes=args.passes,
                          speech=speech, filterbank=views)


if __name__ == "__main__":
    main()
