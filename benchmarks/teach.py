"""Teach-a-word: the waiting in the dashboard's Teach words flow, and how well taught words are recognised. Prints JSON.

    python benchmarks/teach.py [--words kiwi,lime] [--takes 5] [--no-accuracy]

**Waiting** (the issue's target: record 2 words x 5 takes, train, first live result
within 60 s of waiting on 2 cores). The Teach words page is run as the server runs it
(streamlit.testing AppTest, a store folder of its own): each take goes in through the
page's recorder as a browser recording would (a real take of the shared ``fruit`` set,
8 kHz, with 0.6 s of quiet room noise before and after it, at 16 kHz), and every script
run is timed: a take kept (checked, trimmed, written, the page drawn again), training
(on the takes alone, and on top of the shipped ``commands`` model), trying a held-out
take. The first live result: a StreamRecognizer of the stored model is built and fed the
held-out take in 0.1 s chunks as live audio; its compute time, and the decision latency
(audio seconds from the end of the word to its event). Speaking time is not waiting and
is not counted; the browser's own drawing is not either (tests/test_dashboard_teach_browser.py
runs the flow in Chromium).

**Accuracy** (``--no-accuracy`` to skip): the shared fruit words (one unknown speaker set,
15 takes a word), 5 takes of each of 4 words taught, the other 10 of each recognised
(trimmed as the page trims, and untrimmed with 0.6 s of room noise around), three
choices of the 5 takes: on top of ``commands`` with 1 Gaussian per state for the new
words (hmmrec.enroll's default) and with 8, and on the takes alone; takes kept with
0.25 s (the page's and ``hmmrec record``'s) and 0.1 s (a tight cut: ``hmmrec record``'s
before it kept 0.25 s) around the word.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO, Timer, datasets_dir, emit, log

sys.path.insert(0, str(REPO / "tests"))
from helpers import wav_bytes  # noqa: E402  (the tests' WAV bytes of a signal)

from hmmrec import HMMRecognizer, audio
from hmmrec.enroll import extend
from hmmrec.record import PAD_S, trim_silence
from hmmrec.stream import StreamRecognizer

SR = 16000
ROOM_S = 0.6  # quiet before and after the word in a "recording"
ROOM_LEVEL = 1e-3
CHUNK_S = 0.1
PAGE_PAD_S = PAD_S  # dashboard/views/teach.py TAKE_PAD_S, as hmmrec record keeps
TIGHT_PAD_S = 0.1  # hmmrec record's until it kept PAD_S
ACCURACY_WORDS = ["kiwi", "lime", "peach", "apple"]
STARTS = (0, 5, 10)


def fruit_files(word: str) -> list[Path]:
    return sorted((datasets_dir() / "fruit" / word).glob("*.wav"))


def recording(path, seed: int = 0) -> np.ndarray:
    """A take as the browser's microphone gives it: room noise, the word, room noise (16 kHz)."""
    y, _ = audio.load(path, SR)
    rng = np.random.default_rng(seed)
    noise = [rng.normal(0, ROOM_LEVEL, int(ROOM_S * SR)).astype(np.float32) for _ in range(2)]
    return np.concatenate([noise[0], y, noise[1]])


def timed_run(at) -> float:
    t0 = time.perf_counter()
    at.run()
    if at.exception:
        sys.exit(f"benchmark: the page failed: {at.exception[0].value}")
    return time.perf_counter() - t0


def key_of(at, kind: str, prefix: str):
    return next(w for w in getattr(at, kind) if (w.key or "").startswith(prefix))


def dashboard_flow(words: list[str], n_takes: int, base: str | None, held_out: Path) -> dict:
    """The Teach words page, from typing the words to a model and a recognised held-out take."""
    from streamlit.testing.v1 import AppTest

    store = Path(tempfile.mkdtemp(prefix="hmmrec-teach-bench-"))
    os.environ["HMMREC_DASHBOARD_STORE"] = str(store)
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=600)
    opened = timed_run(at)
    at.switch_page("views/teach.py")
    opened += timed_run(at)
    at.text_input(key="teach_words").set_value(", ".join(words))
    typed = timed_run(at)
    at.number_input(key="teach_n_takes").set_value(n_takes)
    typed += timed_run(at)
    takes = []
    for w in words:
        for k, f in enumerate(fruit_files(w)[:n_takes]):
            key_of(at, "audio_input", f"teach_mic:{w}:").set_value(("take.wav", wav_bytes(recording(f, k)), "audio/wav"))
            takes.append(timed_run(at))
            if at.error:
                sys.exit(f"benchmark: take {k + 1} of {w} refused: {at.error[0].value}")
    choice = "My takes alone" if base is None else f"On top of {base} (shipped)"
    at.radio(key="teach_base").set_value(choice)
    timed_run(at)
    at.button(key="teach_train").click()
    train = timed_run(at)
    if at.error:
        sys.exit(f"benchmark: training failed: {at.error[0].value}")
    key_of(at, "audio_input", "teach_try:").set_value(("try.wav", wav_bytes(recording(held_out, 99)), "audio/wav"))
    tried = timed_run(at)
    recognised = {m.label: m.value for m in at.metric}.get("Recognised")
    (model,) = (store / "models").glob("*.model")
    return {"model": model, "page_open_s": round(opened, 2), "words_typed_s": round(typed, 2),
            "take_s": {"n": len(takes), "total": round(sum(takes), 2), "median": round(float(np.median(takes)), 2),
                       "max": round(max(takes), 2)},
            "train_s": round(train, 2), "try_s": round(tried, 2), "try_recognised": recognised}


def first_live_result(model: Path, held_out: Path) -> dict:
    """A stream recognizer of the stored model fed the held-out take as live audio."""
    with Timer() as load:
        rec = HMMRecognizer.load(model)
        stream = StreamRecognizer(rec)
    y = recording(held_out, 7)
    step = int(CHUNK_S * SR)
    compute, first = 0.0, None
    for i in range(0, len(y), step):
        t0 = time.perf_counter()
        events = stream.push(y[i:i + step])
        compute += time.perf_counter() - t0
        if events:
            first = events[0]
            break
    if first is None:
        t0 = time.perf_counter()
        events = stream.flush()
        compute += time.perf_counter() - t0
        first = events[0] if events else None
    return {"load_s": round(load.seconds, 2), "compute_s": round(compute, 3),
            "event": None if first is None else first.label,
            "decision_latency_s": None if first is None else round(first.time - first.end, 2)}


def waiting(flow: dict, live: dict) -> float:
    """Seconds the visitor waits: every take kept, training, and the first live result."""
    latency = live["decision_latency_s"] or 0.0
    return round(flow["take_s"]["total"] + flow["train_s"] + live["load_s"] + live["compute_s"] + latency, 1)


def accuracy() -> dict:
    """Taught fruit words recognised, by how the new words are modelled and how takes are trimmed."""
    base = HMMRecognizer.load("commands")
    rows = {}
    for pad in (PAGE_PAD_S, TIGHT_PAD_S):
        for start in STARTS:
            X, y, tests = [], [], []
            for w in ACCURACY_WORDS:
                files = fruit_files(w)
                chosen = files[start:start + 5]
                X += [trim_silence(recording(f, i), SR, pad_s=pad)[0] for i, f in enumerate(chosen)]
                y += [w] * len(chosen)
                tests += [(f, w) for f in files if f not in chosen]
            truth = np.array([w for _, w in tests])
            raw = [recording(f, 50 + i) for i, (f, _) in enumerate(tests)]
            trimmed = [trim_silence(r, SR, pad_s=pad)[0] for r in raw]
            models = {"on commands, 1 Gaussian": extend(base, X, y, n_mix=1),
                      "alone": HMMRecognizer(n_jobs=1).fit(X, y)}
            if pad == PAGE_PAD_S:
                models["on commands, 8 Gaussians"] = extend(base, X, y, n_mix=8)
            for name, rec in models.items():
                for test, signals in (("trimmed", trimmed), ("untrimmed", raw)):
                    key = f"pad {pad} s, {name}, test {test}"
                    rows.setdefault(key, []).append(float((rec.predict(signals) == truth).mean()))
            log(f"accuracy: pad {pad}, takes {start + 1}-{start + 5} done")
    return {k: {"mean": round(float(np.mean(v)), 3), "each": [round(a, 3) for a in v]} for k, v in rows.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", default="kiwi,lime", help="words of the shared fruit set to teach")
    ap.add_argument("--takes", type=int, default=5)
    ap.add_argument("--no-accuracy", action="store_true")
    args = ap.parse_args()
    words = args.words.split(",")
    held_out = fruit_files(words[0])[args.takes]
    out = {"words": words, "takes": args.takes, "cores": os.cpu_count(), "held_out": held_out.name, "flows": {}}
    for base in (None, "commands"):
        name = "takes alone" if base is None else f"on top of {base}"
        log(f"flow: {name}")
        flow = dashboard_flow(words, args.takes, base, held_out)
        live = first_live_result(flow.pop("model"), held_out)
        out["flows"][name] = {**flow, "first_live_result": live, "waiting_s": waiting(flow, live)}
        log(f"flow: {name}: waiting {out['flows'][name]['waiting_s']} s")
    if not args.no_accuracy:
        out["accuracy"] = accuracy()
    emit(out)


if __name__ == "__main__":
    main()
