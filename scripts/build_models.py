"""Build the shipped models of real speech from the shared datasets. Prints JSON.

    python scripts/build_models.py [--datasets ../shared/datasets] [--only commands|digits] [-o hmmrec/models]
                                   [--with-extra]

``commands``: every recording of ``speech_commands/`` (all 12 labels, all its speakers).
``--with-extra`` adds ``speech_commands_train/`` (more speakers of 8 of the keywords and
of three other words): as models are trained today, that makes them worse on speakers
they have not heard, for the labels without new data and even among the 8 keywords
themselves (benchmarks/RESULTS.md, "Shipped models"), so the shipped model is built
without it; with it the frame classifier trains on about four times the frames (over 20
minutes and 5 GB here). ``digits``: all of FSDD (labels ``zero`` .. ``nine``), 8 kHz. Default
training settings; the same files always give the same models. Each model's training
summary names its data, licence and attribution (``hmmrec info``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hmmrec.corpus import Corpus, Utterance, load_corpus  # noqa: E402
from hmmrec.recognizer import HMMRecognizer  # noqa: E402

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DATA = {
    "commands": {
        "name": "Speech Commands v0.02 (speech_commands/ of the project's shared datasets)",
        "licence": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
        "attribution": "Pete Warden, Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition, "
                       "arXiv:1804.03209, 2018; recordings by Google and the dataset's volunteer speakers",
    },
    "digits": {
        "name": "Free Spoken Digit Dataset (FSDD), all 3000 recordings of its 6 speakers",
        "licence": "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)",
        "attribution": "Zohar Jackson and contributors, Free Spoken Digit Dataset, "
                       "github.com/Jakobovski/free-spoken-digit-dataset",
    },
}


EXTRA_NAME = "Speech Commands v0.02 (speech_commands/ and speech_commands_train/ of the project's shared datasets)"


def commands_corpus(datasets: Path, extra: bool = False) -> Corpus:
    corpus = list(load_corpus(datasets / "speech_commands"))
    return Corpus(corpus + list(load_corpus(datasets / "speech_commands_train")) if extra else corpus)


def digits_corpus(datasets: Path) -> Corpus:
    files = sorted((datasets / "fsdd" / "recordings").glob("*.wav"))
    if not files:
        sys.exit(f"build_models: no FSDD recordings in {datasets / 'fsdd' / 'recordings'}")
    return Corpus(Utterance(str(f), DIGITS[int(f.stem.split("_")[0])], f.stem.split("_")[1]) for f in files)


class _PeakMemory:
    """Peak resident memory of this process and its workers together, sampled (needs psutil)."""

    def __enter__(self):
        import threading

        self.peak, self._stop = 0, threading.Event()
        try:
            import psutil
        except ImportError:
            self._thread = None
            return self
        me = psutil.Process()

        def sample():
            while not self._stop.wait(0.2):
                try:
                    total = sum(p.memory_info().rss for p in [me] + me.children(recursive=True))
                except psutil.Error:
                    continue
                self.peak = max(self.peak, total)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def build(name: str, datasets: Path, out_dir: Path, extra: bool = False) -> dict:
    corpus = commands_corpus(datasets, extra) if name == "commands" else digits_corpus(datasets)
    print(f"{name}: training on {len(corpus)} files, {len(corpus.labels)} labels", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with _PeakMemory() as memory:
        rec = HMMRecognizer(verbose=1).fit(corpus.paths, corpus.y)
    seconds = time.perf_counter() - t0
    rec.training_summary_["data"] = dict(DATA[name], **({"name": EXTRA_NAME} if extra and name == "commands" else {}))
    out = out_dir / f"{name}.model"
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        staged = rec.save(Path(tmp) / out.name)
        os.replace(staged, out)
    return {"model": name, "files": len(corpus), "labels": [str(c) for c in rec.classes_],
            "train_seconds": round(seconds, 1), "peak_memory_mb": round(memory.peak / 2**20, 1) or None,
            "bytes": out.stat().st_size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=Path, default=Path(os.environ.get("HMMREC_DATASETS",
                                                                          REPO.parent / "shared" / "datasets")))
    ap.add_argument("--only", choices=sorted(DATA))
    ap.add_argument("-o", "--out", type=Path, default=REPO / "hmmrec" / "models")
    ap.add_argument("--with-extra", action="store_true", help="commands: also speech_commands_train/ (see above)")
    args = ap.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"build_models: datasets not found at {args.datasets} (set --datasets or HMMREC_DATASETS)")
    results = [build(n, args.datasets, args.out, args.with_extra) for n in ([args.only] if args.only else sorted(DATA))]
    print(json.dumps({"models": results, "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
