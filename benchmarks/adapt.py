"""Unsupervised adaptation to a new speaker. Prints JSON.

    python benchmarks/adapt.py [--min-posterior 0.5] [--tau 10] [--passes 2] [--speech-commands [--seed 0]]

FSDD (default), leave one speaker out: for each speaker the recognizer is trained on the
other five, then adapted to the speaker's 500 recordings without their labels
(:func:`hmmrec.adapt.adapt_features`, as ``hmmrec eval MODEL DATA --adapt``) and tested
on the same recordings. Reports accuracy without and with adaptation, mean and worst
speaker.

``--speech-commands``: the split of ``speech_commands.py`` (trained on the training
speakers), then each held-out speaker's few files (about eight, of any labels) adapted
to and classified on their own, as ``eval --adapt`` over one speaker's folder would: the
case of a handful of files and of a model trained on many voices.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
from _common import Timer, emit, log
from fsdd import fsdd_corpus

from hmmrec.adapt import DEFAULT_MIN_POSTERIOR, DEFAULT_PASSES, DEFAULT_TAU, adapt_features
from hmmrec.corpus import leave_one_speaker_out, split_by_speaker
from hmmrec.evaluate import evaluate_files, file_features
from hmmrec.recognizer import HMMRecognizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-posterior", type=float, default=DEFAULT_MIN_POSTERIOR)
    ap.add_argument("--tau", type=float, default=DEFAULT_TAU)
    ap.add_argument("--passes", type=int, default=DEFAULT_PASSES)
    ap.add_argument("--speech-commands", action="store_true", help="Speech Commands' held-out speakers, a few files each")
    ap.add_argument("--seed", type=int, default=0, help="the Speech Commands split (as speech_commands.py)")
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
    log(f"training on {len(train)} files")
    rec = HMMRecognizer().fit(train.paths, train.y)
    by_speaker = defaultdict(list)
    for u in test:
        by_speaker[u.speaker].append(u)
    right = {"without": defaultdict(int), "adapted": defaultdict(int)}
    total, used, moved = defaultdict(int), 0, 0
    for units in by_speaker.values():
        feats, speech, views = file_features(rec, [u.path for u in units], speech=True)
        for u in units:
            total[u.label] += 1
        adapted, how = _adapt(rec, feats, speech, views, args)
        used, moved = used + how.n_used, moved + len(how.labels)
        for key, model in (("without", rec), ("adapted", adapted)):
            for u, x, s, g in zip(units, feats, speech, views):
                right[key][u.label] += model.recognize_features(x, s, g).label == u.label
    n = sum(total.values())
    runs = {key: {"accuracy": round(sum(r.values()) / n, 4),
                  "recall_per_label": {lab: round(r[lab] / total[lab], 4) for lab in sorted(total)}}
            for key, r in right.items()}
    return {"dataset": "speech_commands", "protocol": f"speaker-disjoint split, test_size=0.3, seed={args.seed}; "
            "each held-out speaker's files adapted to (unlabelled) and classified on their own",
            "speakers": len(by_speaker), "files": n, "min_posterior": args.min_posterior, "tau": args.tau,
            "passes": args.passes, "files_used": used, "label_models_moved": moved, **runs}


def _adapt(rec, feats, speech, views, args):
    return adapt_features(rec, feats, min_posterior=args.min_posterior, tau=args.tau, passes=args.passes,
                          speech=speech, filterbank=views)


if __name__ == "__main__":
    main()
