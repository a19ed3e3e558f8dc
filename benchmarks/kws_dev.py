"""The development keyword stream: where the stream's decision levels are chosen. Prints JSON.

    python benchmarks/kws_dev.py [--seed 0]

The test streams of ``kws.py`` only measure. The levels of the stream's decision
(``hmmrec.stream.decide``: the margin's share in a word's score, the ranges of the two
levels the sensitivity moves) are chosen here, on speakers that neither the measured
models train on nor the test streams hold: the training half of ``kws.py``'s speaker
split is split again by speaker (60 / 40), a model is trained on the first part and a
stream of ``kws.py``'s kind (keywords and ``_unknown_`` words, 1.5-4 s apart, over
background noise at 20 dB SNR) is built from the second.

Reported:

- ``candidates``: every window the stream would take at its loosest (margin threshold
  0.5, no word check), each word cut out at its aligned place and classified on its own
  as the stream does it; whether it hits a keyword; a logistic regression of hits
  against false alarms on (margin, lead) and the ratio of its weights (the margin's
  share in the score, ``MARGIN_SHARE``); misses at the 0, 1, 2 and 5 highest-scoring
  false alarms for the margin alone, the posterior alone, the lead alone and the score.
- ``grid``: misses and false alarms of the stream at each (margin threshold, score
  level), with the package's ``MARGIN_SHARE``, all from one scoring pass.
"""

from __future__ import annotations

from _common import Timer, emit, log, one_core

one_core()  # (before numpy is imported)

import argparse  # noqa: E402

import numpy as np  # noqa: E402
from kws import SR, build_stream, chunks_of  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from speech_commands import speech_commands_corpus  # noqa: E402

from hmmrec.corpus import split_by_speaker  # noqa: E402
from hmmrec.features import FeatureStream  # noqa: E402
from hmmrec.normalization import normalize  # noqa: E402
from hmmrec.recognizer import HMMRecognizer  # noqa: E402
from hmmrec.spotting import TruthWord, match_events, score_events  # noqa: E402
from hmmrec.stream import StreamRecognizer  # noqa: E402
from hmmrec.stream.decide import MARGIN_SHARE, make_decider, word_lead  # noqa: E402
from hmmrec.stream.scoring import VERIFY_PAD_S  # noqa: E402

THRESHOLDS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
SCORE_LEVELS = tuple(round(0.5 + 0.25 * i, 2) for i in range(11))


def decide_all(rec, signal, pairs):
    """Each (margin threshold, score level)'s events over the stream (score level None: no
    word check), one scoring pass: the stream's own deciders with their levels set."""
    stream = StreamRecognizer(rec)
    cfg = rec.feature_config_
    deciders = []
    for threshold, min_score in pairs:
        d = make_decider(0.0, stream.hop_s, cfg.hop_s, cfg.win_s)
        d.threshold, d.min_score = threshold, min_score
        deciders.append(d)
    return stream.events_of(chunks_of(signal), deciders)


def misses_at(scores, hit, n_keywords, false_alarms=(0, 1, 2, 5)):
    """Miss rate with the detection level just above the k-th highest false alarm's score."""
    scores = np.asarray(scores, dtype=float)
    top = np.sort(scores[~hit])[::-1]
    return {k: round(1 - int((scores[hit] > (top[k] if k < len(top) else -np.inf)).sum()) / n_keywords, 4)
            for k in false_alarms}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0, help="kws.py's split (its training half is used here)")
    ap.add_argument("--test-size", type=float, default=0.3)
    args = ap.parse_args()
    train, _ = split_by_speaker(speech_commands_corpus(), args.test_size, args.seed)
    fit, dev = split_by_speaker(train, 0.4, 100 + args.seed)
    with Timer() as tt:
        log(f"training on {len(fit)} files of {len({u.speaker for u in fit})} speakers")
        rec = HMMRecognizer().fit(fit.paths, fit.y)
    signal, truth = build_stream(dev, [u.path for u in dev if u.label == "_silence_"], 100 + args.seed)
    duration = len(signal) / SR
    words = [TruthWord(t["label"], t["start"], t["end"]) for t in truth]
    log(f"stream: {duration / 60:.1f} min, {len(truth)} keywords of {len({u.speaker for u in dev})} speakers")

    # every window the loosest stream would take, and the word on its own
    loosest, = decide_all(rec, signal, [(0.5, None)])
    cfg = rec.feature_config_
    fs = FeatureStream(cfg)
    raw = np.vstack([fs.push(signal.astype(np.float32)), fs.flush()])
    labels = list(rec.classes_)
    hit = np.array([h is not None for h in match_events(loosest, words)], dtype=bool)
    rows = []
    for e in loosest:
        a = max(int(round((e.start - VERIFY_PAD_S) / cfg.hop_s)), 0)
        b = int(round((e.end + VERIFY_PAD_S - cfg.win_s) / cfg.hop_s)) + 1
        view = rec.filterbank_of(signal[a * cfg.hop_samples:(b - 1) * cfg.hop_samples + cfg.win_samples])
        p = rec.recognize_features(normalize(np.asarray(raw[a:b], dtype=np.float64), cfg), filterbank=view).proba
        k = labels.index(e.label)
        rows.append((e.margin, word_lead(p, k), float(p[k])))
    margin, lead, posterior = (np.array(v) for v in zip(*rows))
    lr = LogisticRegression(max_iter=1000).fit(np.c_[margin, lead], hit)
    w_margin, w_lead = (float(v) for v in lr.coef_[0])
    n = len(words)
    candidates = {"windows": len(rows), "hits": int(hit.sum()), "false_alarms": int((~hit).sum()),
                  "logistic_weights": {"margin": round(w_margin, 4), "lead": round(w_lead, 4)},
                  "margin_share": round(w_margin / w_lead, 4), "package_margin_share": MARGIN_SHARE,
                  "misses_at_false_alarms": {
                      "margin": misses_at(margin, hit, n), "posterior": misses_at(posterior, hit, n),
                      "lead": misses_at(lead, hit, n), "score": misses_at(lead + MARGIN_SHARE * margin, hit, n)}}
    log(f"candidates: {candidates}")

    pairs = [(t, s) for t in THRESHOLDS for s in SCORE_LEVELS]
    grid = []
    for (t, s), events in zip(pairs, decide_all(rec, signal, pairs)):
        r = score_events(events, words, duration, rec.classes_)
        grid.append({"threshold": t, "min_score": s, "miss_rate": r["miss_rate"], "false_alarms": r["false_alarms"],
                     "false_alarms_per_hour": r["false_alarms_per_hour"]})
    emit({"dataset": "speech_commands", "protocol": f"training half of kws.py seed {args.seed}, split 60/40 by speaker",
          "train_files": len(fit), "stream_minutes": round(duration / 60, 1), "keywords": n,
          "train_seconds": round(tt.seconds, 1), "candidates": candidates, "grid": grid})


if __name__ == "__main__":
    main()
