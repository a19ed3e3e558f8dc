"""Speech Commands, 12 classes (10 keywords, _unknown_, _silence_), unseen speakers. Prints JSON.

    python benchmarks/speech_commands.py [--test-size 0.3] [--seed 0 | --seeds 0,1] [--extra-train | --compare-extra]
        [--extra-floor DB] [--extra-per-label N] [--folds K]
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

Which extra clips (``--extra-train``, ``--compare-extra``): ``--extra-floor -50`` keeps the
clips of at least 0.99 s that peak at 0.1 or more and whose background lies at least 50 dB
below their loudest frame (the extra clips are noisier recordings than the test
speakers'); ``--extra-per-label 40`` then draws at most 40 clips of each label at random.
``--compare-extra --folds 3`` compares over three folds by speaker of all of
``speech_commands/`` instead of the split, each label's recall pooled over the folds
(200-240 test files a label, where the split has 61-73: one file is half a point, not 1.5).

``--speaker-sweep N,...``: for each N, training on N of the training half's speakers (drawn
at random with the split's seed; every ``_silence_`` clip kept) with and without the
second, filterbank frame classifier, the same test half: how many voices that network
needs before it gains (``hmmrec.recognizer.FILTERBANK_NET_MIN_SPEAKERS``).
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace

import numpy as np
import soundfile as sf

from _common import Timer, datasets_dir, emit, log, peak_rss_mb

from hmmrec.corpus import Corpus, load_corpus, split_by_speaker
from hmmrec.evaluate import classification_report, evaluate_files
from hmmrec.recognizer import HMMRecognizer
from hmmrec.record import frame_levels_db


def speech_commands_corpus() -> Corpus:
    corpus = load_corpus(datasets_dir() / "speech_commands")
    return Corpus(u if u.speaker else replace(u, speaker="noise-" + u.path) for u in corpus)


def extra_training_corpus(floor_db: float | None = None, per_label: int | None = None) -> Corpus:
    """``speech_commands_train/``: more speakers of 8 keywords and of ``_unknown_`` (training only).

    ``floor_db``: only clips of at least 0.99 s, peaking at 0.1 or more, whose background
    (:func:`background_floor_db`) is at most ``floor_db``. ``per_label``: then at most that
    many clips of each label, drawn at random (seed 0)."""
    extra = load_corpus(datasets_dir() / "speech_commands_train")
    if floor_db is not None:
        kept = []
        for u in extra:
            y, sr = sf.read(u.path, dtype="float64")
            if len(y) >= 0.99 * sr and np.abs(y).max() >= 0.1 and background_floor_db(y, sr) <= floor_db:
                kept.append(u)
        log(f"extra clips: {len(kept)} of {len(extra)} with a background at most {floor_db:g} dB")
        extra = Corpus(kept)
    if per_label is not None:
        rng = random.Random(0)
        by_label: dict[str, list] = {}
        for u in extra:
            by_label.setdefault(u.label, []).append(u)
        chosen = []
        for label in sorted(by_label):
            clips = by_label[label][:]
            rng.shuffle(clips)
            chosen += clips[:per_label]
        extra = Corpus(chosen)
    return extra


def background_floor_db(y: np.ndarray, sr: int) -> float:
    """The level of a clip's background against its loudest frame, in dB: the 10th
    percentile of 25 ms frame levels (every 10 ms, whole frames only) below the highest."""
    win, hop = int(0.025 * sr), int(0.010 * sr)
    levels = frame_levels_db(y, sr, 0.025, 0.010)[: 1 + (len(y) - win) // hop]
    return float(np.percentile(levels, 10) - levels.max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test-size", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, metavar="S,S,...", help="several splits: each seed's, and the mean")
    ap.add_argument("--extra-train", action="store_true", help="also train on speech_commands_train/")
    ap.add_argument("--compare-extra", action="store_true", help="train without and with speech_commands_train/")
    ap.add_argument("--extra-floor", type=float, default=None, metavar="DB",
                    help="only extra clips whose background is at most DB below their loudest frame (e.g. -50)")
    ap.add_argument("--extra-per-label", type=int, default=None, metavar="N", help="at most N extra clips per label")
    ap.add_argument("--folds", type=int, default=None, metavar="K",
                    help="with --compare-extra: K folds by speaker of all of speech_commands/, recall pooled")
    ap.add_argument("--speaker-sweep", default=None, metavar="N,N,...",
                    help="N training speakers each, with and without the filterbank network")
    args = ap.parse_args()
    choosing = args.extra_floor is not None or args.extra_per_label is not None
    if choosing and not (args.extra_train or args.compare_extra):
        ap.error("--extra-floor and --extra-per-label go with --extra-train or --compare-extra")
    if args.extra_per_label is not None and args.extra_per_label < 1:
        ap.error("--extra-per-label needs at least 1")
    corpus = speech_commands_corpus()
    if args.folds is not None and not args.compare_extra:
        ap.error("--folds goes with --compare-extra")
    if args.folds is not None and args.folds < 2:
        ap.error("--folds needs at least 2")
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
    if args.folds:
        results = compare_in_folds(corpus, args)
    else:
        train, test = split_by_speaker(corpus, args.test_size, args.seed)
        runs = [False, True] if args.compare_extra else [args.extra_train]
        results = [run(train, test, extra, args, args.seed) for extra in runs]
    if not args.compare_extra:
        return emit(results[0])
    before, after = (r["recall_per_label"] for r in results)
    change = {lab: round(after[lab] - before[lab], 4) for lab in before}
    worst = min(change, key=change.get)
    emit({"dataset": "speech_commands", "comparison": "without and with speech_commands_train/",
          "extra_floor_db": args.extra_floor, "extra_per_label": args.extra_per_label,
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


def compare_in_folds(corpus: Corpus, args) -> list:
    """Without and with the extra clips, over ``args.folds`` folds by speaker of the whole
    corpus: one pooled result each (each label's recall over every fold's test files)."""
    from sklearn.model_selection import GroupKFold

    extra = list(extra_training_corpus(args.extra_floor, args.extra_per_label))
    folds = list(GroupKFold(args.folds).split(np.zeros(len(corpus)), groups=[u.speaker for u in corpus]))
    results = []
    for with_extra in (False, True):
        truth, pred, fold_acc, seconds = [], [], [], 0.0
        for train_idx, test_idx in folds:
            train, test = corpus.subset(train_idx), corpus.subset(test_idx)
            train = Corpus(list(train) + extra) if with_extra else train
            log(f"fold {len(fold_acc) + 1}/{args.folds}, extra {with_extra}: train {len(train)}, test {len(test)}")
            with Timer() as t:
                rec = HMMRecognizer().fit(train.paths, train.y)
            seconds += t.seconds
            rep = evaluate_files(rec, test)
            fold_acc.append(round(rep["accuracy"], 4))
            for i, row in enumerate(rep["confusion"]):  # (true label i, predicted j, count)
                for j, count in enumerate(row):
                    truth += [rep["labels"][i]] * count
                    pred += [rep["labels"][j]] * count
        rep = classification_report(truth, pred)
        results.append({"dataset": "speech_commands", "classes": len(rep["per_label"]),
                        "protocol": f"{args.folds} folds by speaker (sklearn GroupKFold), pooled",
                        "extra_train": with_extra, "n_extra": len(extra) if with_extra else 0, "n_test": rep["n"],
                        "accuracy": rep["accuracy"], "accuracy_per_fold": fold_acc,
                        "balanced_accuracy": rep["balanced_accuracy"],
                        "recall_per_label": {lab: round(v["recall"], 4) for lab, v in rep["per_label"].items()},
                        "support_per_label": {lab: v["support"] for lab, v in rep["per_label"].items()},
                        "train_seconds": round(seconds, 1), "peak_rss_mb": peak_rss_mb()})
    return results


def run(train: Corpus, test: Corpus, extra: bool, args, seed: int) -> dict:
    if extra:
        train = Corpus(list(train) + list(extra_training_corpus(args.extra_floor, args.extra_per_label)))
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
