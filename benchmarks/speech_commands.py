"""Speech Commands, 12 classes (10 keywords, _unknown_, _silence_), unseen speakers. Prints JSON.

    python benchmarks/speech_commands.py [--test-size 0.3] [--seed 0 | --seeds 0,1] [--extra-train | --compare-extra]
    python benchmarks/speech_commands.py --speaker-sweep 10,20,40,80 [--seed 0]

Speakers are the hash before ``_nohash_``; the split is by speaker, so nobody is in both
train and test. ``_silence_`` clips have no speaker: each clip counts as its own.
``--extra-train`` adds ``speech_commands_train/`` (FLAC, 1432 other speakers, training
data only) to the training half; the test half stays the same. ``--compare-extra`` trains
both ways and reports each label's recall without and with the extra data, and the
largest loss (fair competition between classes: adding data for some labels must not
cost the others). ``--seeds 0,1`` runs the split of each seed and reports their mean too:
one split's test half is about 800 files, so settings that differ by a point on one split
may change places on another.

``--speaker-sweep N,...``: for each N, training on N of the training half's speakers (drawn
at random with the split's seed; every ``_silence_`` clip kept) with and without the
second, filterbank frame classifier, the same test half: how many voices that network
needs before it gains (``hmmrec.recognizer.FILTERBANK_NET_MIN_SPEAKERS``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from _common import Timer, datasets_dir, emit, log, peak_rss_mb

from hmmrec.corpus import Corpus, load_corpus, split_by_speaker
from hmmrec.evaluate import evaluate_files
from hmmrec.recognizer import HMMRecognizer


def speech_commands_corpus() -> Corpus:
    corpus = load_corpus(datasets_dir() / "speech_commands")
    return Corpus(u if u.speaker else replace(u, speaker="noise-" + u.path) for u in corpus)


def extra_training_corpus() -> Corpus:
    """``speech_commands_train/``: more speakers of 8 keywords and of ``_unknown_`` (training only)."""
    return load_corpus(datasets_dir() / "speech_commands_train")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test-size", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, metavar="S,S,...", help="several splits: each seed's, and the mean")
    ap.add_argument("--extra-train", action="store_true", help="also train on speech_commands_train/")
    ap.add_argument("--compare-extra", action="store_true", help="train without and with speech_commands_train/")
    ap.add_argument("--speaker-sweep", default=None, metavar="N,N,...",
                    help="N training speakers each, with and without the filterbank network")
    args = ap.parse_args()
    corpus = speech_commands_corpus()
    if args.speaker_sweep:
        train, test = split_by_speaker(corpus, args.test_size, args.seed)
        return emit(speaker_sweep(train, test, [int(v) for v in args.speaker_sweep.split(",")], args))
    if args.seeds:
        if args.compare_extra:
            ap.error("--seeds and --compare-extra: one at a time")
        runs = []
        for seed in (int(v) for v in args.seeds.split(",")):
            train, test = split_by_speaker(corpus, args.test_size, seed)
            runs.append(run(train, test, args.extra_train, args, seed))
        return emit({"dataset": "speech_commands", "seeds": [r["protocol"] for r in runs],
                     "accuracy_per_seed": [r["accuracy"] for r in runs],
                     "mean_accuracy": round(sum(r["accuracy"] for r in runs) / len(runs), 4), "runs": runs})
    train, test = split_by_speaker(corpus, args.test_size, args.seed)
    runs = [False, True] if args.compare_extra else [args.extra_train]
    results = [run(train, test, extra, args, args.seed) for extra in runs]
    if not args.compare_extra:
        return emit(results[0])
    before, after = (r["recall_per_label"] for r in results)
    change = {lab: round(after[lab] - before[lab], 4) for lab in before}
    worst = min(change, key=change.get)
    emit({"dataset": "speech_commands", "comparison": "without and with speech_commands_train/",
          "accuracy": {"without": results[0]["accuracy"], "with": results[1]["accuracy"]},
          "recall_change_per_label": change, "largest_loss": {"label": worst, "change": change[worst]},
          "runs": results})


def speaker_sweep(train: Corpus, test: Corpus, sizes: list, args) -> dict:
    noise = [u for u in train if u.label == "_silence_"]
    voices = sorted({u.speaker for u in train if u.label != "_silence_"})
    order = list(np.random.default_rng(args.seed).permutation(voices))
    rows = []
    for n in sizes:
        chosen = set(order[:n])
        part = Corpus([u for u in train if u.speaker in chosen] + noise)
        for second in (False, True):
            with Timer() as t:
                rec = HMMRecognizer(filterbank_net=second).fit(part.paths, part.y)
            rep = evaluate_files(rec, test)
            log(f"{n} speakers ({len(part)} files), filterbank network {second}: {rep['accuracy']:.4f}")
            rows.append({"speakers": n, "n_train": len(part), "filterbank_net": second,
                         "accuracy": round(rep["accuracy"], 4), "balanced_accuracy": round(rep["balanced_accuracy"], 4),
                         "train_seconds": round(t.seconds, 1)})
    return {"dataset": "speech_commands", "protocol": f"speaker-disjoint split, test_size={args.test_size}, "
            f"seed={args.seed}; N of the training speakers", "n_test": len(test), "runs": rows}


def run(train: Corpus, test: Corpus, extra: bool, args, seed: int) -> dict:
    if extra:
        train = Corpus(list(train) + list(extra_training_corpus()))
    assert not {u.speaker for u in train} & {u.speaker for u in test}
    log(f"train {len(train)} files, test {len(test)} files")
    with Timer() as t:
        rec = HMMRecognizer().fit(train.paths, train.y)
    with Timer() as te:
        rep = evaluate_files(rec, test)
    per_label = {lab: round(v["recall"], 4) for lab, v in rep["per_label"].items()} if "per_label" in rep else None
    return {"dataset": "speech_commands", "classes": len(rec.classes_), "protocol":
            f"speaker-disjoint split, test_size={args.test_size}, seed={seed}",
            "extra_train": extra, "n_train": len(train), "n_test": len(test),
            "n_test_speakers": len({u.speaker for u in test}),
            "accuracy": rep["accuracy"], "balanced_accuracy": rep["balanced_accuracy"], "recall_per_label": per_label,
            "train_seconds": round(t.seconds, 1), "eval_seconds": round(te.seconds, 1), "peak_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    main()
