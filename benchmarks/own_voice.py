"""A new speaker's own recordings added to training (FSDD). Prints JSON.

    python benchmarks/own_voice.py [--speakers george,nicolas] [--takes 5] [--weights 1,5]

For each speaker: the recognizer is trained on the other five speakers alone, then with
``--takes`` of the speaker's own recordings per digit (takes 40, 41, ...) added, each
counted ``w`` times for every ``w`` of ``--weights`` (``HMMRecognizer.fit``'s
``sample_weight``, ``hmmrec train --own DATA --own-weight W``). Every setting is tested
on the same files, the speaker's takes 0-39 (400 files), none of them trained on.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import Timer, emit, log
from fsdd import fsdd_corpus

from hmmrec.corpus import Corpus
from hmmrec.evaluate import evaluate_files
from hmmrec.recognizer import HMMRecognizer

FIRST_OWN_TAKE = 40
FSDD_SPEAKERS = "george,jackson,lucas,nicolas,theo,yweweler"


def split_own_voice(corpus, speaker: str, takes: int) -> tuple[Corpus, Corpus, Corpus]:
    """(the other speakers, ``takes`` own recordings per label from take 40 on, the
    speaker's takes 0-39); exits with a message when the speaker has not got them."""
    others = Corpus(u for u in corpus if u.speaker != speaker)
    mine = [u for u in corpus if u.speaker == speaker]
    own = Corpus(u for u in mine if FIRST_OWN_TAKE <= u.take < FIRST_OWN_TAKE + takes)
    test = Corpus(u for u in mine if u.take < FIRST_OWN_TAKE)
    if not others or not own or not test:
        raise SystemExit(f"no FSDD speaker {speaker!r} with takes 0-{FIRST_OWN_TAKE + takes - 1}")
    return others, own, test


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--speakers", default=FSDD_SPEAKERS)
    ap.add_argument("--takes", type=int, default=5, help="own recordings per digit")
    ap.add_argument("--weights", default="1,5", help="how many times each own recording counts")
    args = ap.parse_args()
    corpus = fsdd_corpus()
    weights = [int(w) for w in args.weights.split(",")]
    rows = []
    for spk in args.speakers.split(","):
        others, own, test = split_own_voice(corpus, spk, args.takes)
        row = {"speaker": spk, "test_files": len(test), "own_files": len(own)}
        for w in [0] + weights:
            with Timer() as t:
                rec = HMMRecognizer().fit(others.paths + own.paths, others.y + own.y,
                                          sample_weight=[1] * len(others) + [w] * len(own))
            acc = round(evaluate_files(rec, test)["accuracy"], 4)
            row["without_own" if w == 0 else f"own_weight_{w}"] = acc
            log(f"{spk}: own weight {w}: accuracy {acc} (trained in {t.seconds:.1f} s)")
        rows.append(row)
    keys = ["without_own"] + [f"own_weight_{w}" for w in weights]
    emit({"dataset": "fsdd", "protocol": f"train on the other speakers (+ {args.takes} own takes per digit), "
          f"test on the speaker's takes 0-{FIRST_OWN_TAKE - 1}", "speakers": rows,
          "mean": {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}})


if __name__ == "__main__":
    main()
