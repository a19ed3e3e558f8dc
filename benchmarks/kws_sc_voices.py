"""One real voice at a time with a model of many voices, adapting to it or not. Prints JSON.

    python benchmarks/kws_sc_voices.py [--seed 0] [--min-words 40] [--sensitivities 0,0.2,0.4,0.5,0.6,0.8]
                                       [--model FILE]

The case of ``hmmrec listen commands``: a model trained on many speakers, then one
person says keywords and other words, and the stream adapts to that voice (on by
default for the microphone). Every held-out speaker of ``kws.py``'s split (the same
seed) with at least ``--min-words`` words in the test half gets a stream of their own,
built as ``kws.py`` builds its stream (their keywords and other words in random order,
gaps of 1.5-4 s, the test half's background noise at 20 dB SNR), and it is scored
adapting and not, at each sensitivity, as ``kws.py`` scores. Totals are summed over
the speakers (the false alarms per hour over all their streams' time). ``--model``: a
model of ``kws.py --save-model`` for the same seed instead of training one.
"""

from __future__ import annotations

from _common import emit, log, one_core

one_core()  # (before numpy is imported)

import argparse  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402

from kws import SR, build_stream, chunks_of, run_hmmrec, score  # noqa: E402
from speech_commands import speech_commands_corpus  # noqa: E402

from hmmrec.corpus import Corpus, split_by_speaker  # noqa: E402
from hmmrec.recognizer import HMMRecognizer  # noqa: E402
from hmmrec.stream import events_at_sensitivities  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=float, default=0.3)
    ap.add_argument("--min-words", type=int, default=40)
    ap.add_argument("--sensitivities", default="0,0.2,0.4,0.5,0.6,0.8")
    ap.add_argument("--model", help="a model of kws.py --save-model for the same split, instead of training")
    args = ap.parse_args()
    sens = sorted(float(v) for v in args.sensitivities.split(","))
    train, test = split_by_speaker(speech_commands_corpus(), args.test_size, args.seed)
    if args.model:
        rec = HMMRecognizer.load(args.model)
    else:
        log(f"training on {len(train)} files")
        rec = HMMRecognizer().fit(train.paths, train.y)
    noise = [u.path for u in test if u.label == "_silence_"]
    words = defaultdict(list)
    for u in test:
        if u.label != "_silence_":
            words[u.speaker].append(u)
    voices = sorted(s for s, us in words.items() if len(us) >= args.min_words)
    rows = []
    totals = {mode: defaultdict(lambda: np.zeros(3, int)) for mode in ("fixed", "adapting")}  # misses, FAs, keywords
    seconds = 0.0
    for voice in voices:
        signal, truth = build_stream(Corpus(words[voice]), noise, args.seed)
        duration = len(signal) / SR
        seconds += duration
        swept = events_at_sensitivities(rec, chunks_of(signal), sens)
        row = {"speaker": voice, "minutes": round(duration / 60, 2), "keywords": len(truth), "fixed": [], "adapting": []}
        for s in sens:
            runs = {"fixed": [(e.label, e.start, e.end, e.time) for e in swept[s]],
                    "adapting": run_hmmrec(rec, signal, s, adapt=True)[0]}  # (a stream of its own: it adapts)
            for mode, events in runs.items():
                r = score(events, truth, duration)
                row[mode].append({"sensitivity": s, "misses": r["misses"], "false_alarms": r["false_alarms"]})
                totals[mode][s] += (r["misses"], r["false_alarms"], len(truth))
        log(f"{voice}: {len(truth)} keywords, {duration / 60:.1f} min; misses/false alarms fixed "
            f"{[(r['misses'], r['false_alarms']) for r in row['fixed']]}, adapting "
            f"{[(r['misses'], r['false_alarms']) for r in row['adapting']]}")
        rows.append(row)
    summary = {mode: [{"sensitivity": s, "miss_rate": round(t[0] / t[2], 4), "false_alarms": int(t[1]),
                       "false_alarms_per_hour": round(t[1] / (seconds / 3600), 2)}
                      for s, t in sorted(totals[mode].items())] for mode in totals}
    emit({"dataset": "speech_commands", "protocol": f"speaker-disjoint split, test_size={args.test_size}, "
          f"seed={args.seed}; one stream per held-out speaker with >= {args.min_words} words",
          "speakers": len(voices), "minutes": round(seconds / 60, 1), "total": summary, "per_speaker": rows})


if __name__ == "__main__":
    main()
