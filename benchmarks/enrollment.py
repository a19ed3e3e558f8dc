"""Enrollment from few takes: how many recordings of each word a user should make. Prints JSON.

    python benchmarks/enrollment.py [--speakers george,...] [--takes 1,3,5,10] [--weight 5] [--no-base]

FSDD, for each speaker: a model trained on the speaker's own takes alone (``takes`` per
digit, from take 40 on), and the same takes added to a model of the other five speakers
(the stand-in for a shipped model, which must not have heard the speaker; each own take
counted ``--weight`` times, as ``hmmrec train --own``). Both are tested on the speaker's
takes 0-39 (400 files), none of them trained on.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Timer, emit, log
from fsdd import fsdd_corpus
from own_voice import FSDD_SPEAKERS, split_own_voice

from hmmrec.evaluate import evaluate_files
from hmmrec.recognizer import HMMRecognizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--speakers", default=FSDD_SPEAKERS)
    ap.add_argument("--takes", default="1,3,5,10", help="own recordings per digit")
    ap.add_argument("--weight", type=int, default=5, help="how many times each own take counts beside other voices")
    ap.add_argument("--no-base", action="store_true", help="only the models of the own takes alone")
    args = ap.parse_args()
    takes = [int(k) for k in args.takes.split(",")]
    corpus, rows = fsdd_corpus(), []
    for spk in args.speakers.split(","):
        for k in takes:
            others, own, test = split_own_voice(corpus, spk, k)
            row = {"speaker": spk, "takes": k}
            with Timer() as t:
                rec = HMMRecognizer().fit(own.paths, own.y)
            row["own_only"] = round(evaluate_files(rec, test)["accuracy"], 4)
            log(f"{spk}, {k} takes: own only {row['own_only']} ({t.seconds:.1f} s)")
            if not args.no_base:
                with Timer() as t:
                    rec = HMMRecognizer().fit(others.paths + own.paths, others.y + own.y,
                                              sample_weight=[1] * len(others) + [args.weight] * len(own))
                row["with_other_voices"] = round(evaluate_files(rec, test)["accuracy"], 4)
                log(f"{spk}, {k} takes: with other voices {row['with_other_voices']} ({t.seconds:.1f} s)")
            rows.append(row)
    keys = ["own_only"] + ([] if args.no_base else ["with_other_voices"])
    emit({"dataset": "fsdd", "protocol": "own takes 40.. per digit; test on the speaker's takes 0-39",
          "weight": args.weight, "rows": rows,
          "mean": {str(k): {key: round(float(np.mean([r[key] for r in rows if r["takes"] == k])), 4) for key in keys}
                   for k in takes},
          "worst": {str(k): {key: round(float(np.min([r[key] for r in rows if r["takes"] == k])), 4) for key in keys}
                    for k in takes}})


if __name__ == "__main__":
    main()
