"""Keyword spotting for one user, with and without their own recordings in training. Prints JSON.

    python benchmarks/kws_own_voice.py [--speakers george,nicolas] [--takes 5] [--weight 5]

One FSDD speaker whom the recognizer has not heard says digits: 0-4 are the keywords,
5-9 the other words (``_unknown_``), takes 0-39 of each in random order with gaps of
1.5-4 s over Speech Commands background noise at 20 dB SNR (the stream of ``kws.py``,
at FSDD's 8 kHz). The recognizer is trained on the other five speakers, then again with
``--takes`` of the speaker's own recordings of every digit (takes 40, 41, ...) counted
``--weight`` times, as ``hmmrec train DATA --own MINE`` does. Scored as ``kws.py``
scores (misses, false alarms per hour) across the sensitivity knob.
"""

from __future__ import annotations

from _common import datasets_dir, emit, log, one_core

one_core()  # (before numpy is imported)

import argparse  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
from fsdd import fsdd_corpus  # noqa: E402
from kws import build_stream, keywords_on_their_own, score  # noqa: E402
from own_voice import split_own_voice  # noqa: E402

from hmmrec.corpus import Corpus  # noqa: E402
from hmmrec.recognizer import HMMRecognizer  # noqa: E402
from hmmrec.stream import (DEFAULT_SENSITIVITY, StreamRecognizer, events_at_sensitivities,  # noqa: E402
                           strictest_score)

SR = 8000
KEYWORDS = {"0", "1", "2", "3", "4"}


def as_keyword_task(corpus) -> Corpus:
    """Digits outside KEYWORDS become ``_unknown_``."""
    return Corpus(u if u.label in KEYWORDS else replace(u, label="_unknown_") for u in corpus)


def spot(rec, signal, truth, sensitivities) -> dict:
    chunk = SR // 10
    swept = events_at_sensitivities(rec, (signal[i:i + chunk] for i in range(0, len(signal), chunk)), sensitivities)
    rows = [{"sensitivity": s, **score([(e.label, e.start, e.end, e.time) for e in swept[s]], truth, len(signal) / SR)}
            for s in sorted(sensitivities)]
    ok = [r["miss_rate"] for r in rows if r["false_alarms_per_hour"] <= 1.0]
    return {"miss_rate_at_1_fa_per_hour": min(ok) if ok else None,
            "default": next(r for r in rows if r["sensitivity"] == DEFAULT_SENSITIVITY), "sweep": rows,
            "keywords_on_their_own": keywords_on_their_own(rec, signal, truth, sr=SR)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--speakers", default="george,jackson,lucas,nicolas,theo,yweweler")
    ap.add_argument("--takes", type=int, default=5, help="own recordings per digit")
    ap.add_argument("--weight", type=int, default=5, help="how many times each own recording counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--adapt", default="", metavar="S,S,...",
                    help="also stream the speaker's stream at these sensitivities adapting to the voice, no own takes")
    args = ap.parse_args()
    corpus = as_keyword_task(fsdd_corpus())
    noise = sorted(str(p) for p in (datasets_dir() / "speech_commands" / "_silence_").glob("*.wav"))
    sens = sorted({round(s, 2) for s in np.arange(0, 1.001, 0.02)} | {DEFAULT_SENSITIVITY})  # (one pass for all)
    out = []
    for spk in args.speakers.split(","):
        others, own, test = split_own_voice(corpus, spk, args.takes)
        signal, truth = build_stream(test, noise, args.seed, sr=SR)
        row = {"speaker": spk, "stream_minutes": round(len(signal) / SR / 60, 1), "keywords": len(truth),
               "other_words": sum(u.label == "_unknown_" for u in test)}
        for name, weight in (("without_own", 0), (f"own_weight_{args.weight}", args.weight)):
            rec = HMMRecognizer().fit(others.paths + own.paths, others.y + own.y,
                                      sample_weight=[1] * len(others) + [weight] * len(own))
            row[name] = spot(rec, signal, truth, sens) | {"strictest_score": round(strictest_score(rec), 4)}
            if weight == 0 and args.adapt:  # the same model, adapting to the voice as it streams
                row["adapting"] = []
                for s in [float(v) for v in args.adapt.split(",")]:
                    ev = StreamRecognizer(rec, sensitivity=s, adapt=True).push_clip(signal, SR // 10)
                    r = {"sensitivity": s, **score([(e.label, e.start, e.end, e.time) for e in ev], truth,
                                                   len(signal) / SR)}
                    row["adapting"].append(r)
                    log(f"{spk} adapting at {s}: miss {r['miss_rate']} at {r['false_alarms_per_hour']} FA/h")
                ok = [r["miss_rate"] for r in row["adapting"] if r["false_alarms_per_hour"] <= 1.0]
                row["adapting_miss_rate_at_1_fa_per_hour"] = float(min(ok)) if ok else None
            d = row[name]["default"]
            log(f"{spk} {name}: miss at <= 1 FA/h {row[name]['miss_rate_at_1_fa_per_hour']}, default "
                f"{d['miss_rate']} at {d['false_alarms_per_hour']} FA/h")
        out.append(row)
    names = ["without_own", f"own_weight_{args.weight}"]
    means = {n: round(float(np.mean([r[n]["miss_rate_at_1_fa_per_hour"] or 1.0 for r in out])), 4) for n in names}
    if args.adapt:  # the best of the adapting sensitivities with at most 1 FA/h, each speaker; none: 1.0
        means["adapting"] = round(float(np.mean([r["adapting_miss_rate_at_1_fa_per_hour"] or 1.0 for r in out])), 4)
    emit({"dataset": "fsdd", "keywords": sorted(KEYWORDS), "speakers": out, "mean_miss_rate_at_1_fa_per_hour": means})


if __name__ == "__main__":
    main()
