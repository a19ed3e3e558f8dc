"""Keyword spotting on a long stream of unseen speakers (Speech Commands). Prints JSON.

    python benchmarks/kws.py [--sensitivities 0,0.02,...,1] [--hour] [--no-peer] [--extra-train]
        [--extra-floor DB] [--extra-per-label N]

The stream: keywords and ``_unknown_`` words (distractors) of the held-out speakers,
in random order, separated by gaps of 1.5-4 s, over ``_silence_`` background noise
mixed at 20 dB SNR (speech level = RMS of the spoken part of the keyword clips).
The recognizer is trained on the other speakers (speaker split of
``speech_commands.py``), with ``_unknown_`` and ``_silence_`` as non-keyword models;
``--extra-train`` also trains on ``speech_commands_train/`` (the same stream;
``--extra-floor`` and ``--extra-per-label`` choose which clips, as in ``speech_commands.py``).

Scoring: an event is a hit when its label is that of a keyword whose spoken part it
overlaps (each keyword counts once); every other event is a false alarm. Reported per
sensitivity: miss rate, false alarms per hour, decision latency (event ``time`` minus
the end of the spoken keyword; p50/p95). Real-time factor: processing time / audio
time at the default sensitivity, one thread. All sensitivities are decided from one
scoring pass (``hmmrec.stream.events_at_sensitivities``, exactly the events of separate
streams; the plain default-sensitivity stream is checked against it). ``--hour`` also
streams one hour (the stream repeated) and reports the memory growth. The peer, pocketsphinx's keyword
spotter (``pip install pocketsphinx``), runs on the same stream with the same scoring
across its detection threshold. ``keywords_on_their_own`` is the word models' ceiling:
every keyword cut out at its true place and classified as a file (see
:func:`keywords_on_their_own`).
"""

from __future__ import annotations

from _common import Timer, emit, log, one_core

one_core()  # (before numpy is imported)

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from speech_commands import extra_training_corpus, speech_commands_corpus  # noqa: E402

from hmmrec import audio  # noqa: E402
from hmmrec.corpus import Corpus, split_by_speaker  # noqa: E402
from hmmrec.labels import is_keyword  # noqa: E402
from hmmrec.recognizer import HMMRecognizer  # noqa: E402
from hmmrec.spotting import TruthWord, match_events, score_events  # noqa: E402
from hmmrec.stream import (DEFAULT_SENSITIVITY, StreamRecognizer, events_at_sensitivities,  # noqa: E402
                           strictest_score)

SR = 16000
SNR_DB = 20.0
GAP_S = (1.5, 4.0)
CHUNK = 1600  # 0.1 s, as from a microphone


def spoken_part(y: np.ndarray, sr: int = SR, below_db: float = 30.0) -> tuple[int, int]:
    """First and last sample of the 10 ms frames within ``below_db`` of the loudest one."""
    hop = sr // 100
    n = max(1, len(y) // hop)
    e = np.array([np.mean(y[i * hop:(i + 1) * hop] ** 2) + 1e-12 for i in range(n)])
    db = 10 * np.log10(e)
    on = np.flatnonzero(db > db.max() - below_db)
    return int(on[0] * hop), int(min(len(y), (on[-1] + 1) * hop))


def build_stream(test, noise_files, seed=0, sr=SR):
    """(signal, truth) where truth lists {label, start, end} of every keyword (seconds)."""
    rng = np.random.default_rng(seed)
    items = [u for u in test if u.label != "_silence_"]
    items = [items[i] for i in rng.permutation(len(items))]
    pieces, truth, levels = [], [], []
    t = int(rng.uniform(*GAP_S) * sr)
    pieces.append(np.zeros(t, np.float32))
    for u in items:
        y, _ = audio.load(u.path, sr)
        a, b = spoken_part(y, sr)
        if is_keyword(u.label):
            truth.append({"label": u.label, "start": (t + a) / sr, "end": (t + b) / sr, "file": Path(u.path).name})
            levels.append(np.sqrt(np.mean(y[a:b] ** 2)))
        pieces.append(y.astype(np.float32))
        t += len(y)
        gap = int(rng.uniform(*GAP_S) * sr)
        pieces.append(np.zeros(gap, np.float32))
        t += gap
    speech = np.concatenate(pieces)
    noise = np.concatenate([audio.load(p, sr, max_s=None)[0] for p in noise_files]).astype(np.float32)
    noise = np.resize(noise, len(speech))  # repeat the noise clips over the whole stream
    speech_rms = float(np.median(levels))
    noise *= speech_rms / (np.sqrt(np.mean(noise**2)) * 10 ** (SNR_DB / 20))
    return np.clip(speech + noise, -1, 1), truth


def score(events, truth, duration_s, scores=None):
    """Misses, false alarms per hour and latencies of (label, start, end, time) events
    (:func:`hmmrec.spotting.score_events`, the scoring of ``hmmrec kws``).

    With ``scores`` (one per event), also the score distribution of hits and false alarms.
    """
    words = [TruthWord(t["label"], t["start"], t["end"]) for t in truth]
    out = score_events(events, words, duration_s)
    if scores is None:
        return out
    hits = match_events(events, words)
    hit_scores = [v for v, h in zip(scores, hits) if h is not None]
    fa_scores = [v for v, h in zip(scores, hits) if h is None]
    return {"hit_score_percentiles": {p: round(float(np.percentile(hit_scores, p)), 3) for p in (5, 25, 50)}
            if hit_scores else {},
            "top_false_alarm_scores": [round(float(v), 3) for v in sorted(fa_scores, reverse=True)[:10]]} | out


def keywords_on_their_own(rec, signal, truth, pad_s=0.1, sr=SR):
    """Each keyword cut from the stream at its true place (spoken part +- ``pad_s``) and
    classified as a file is: the fraction labelled right among all labels, and among the
    keywords only (as if it were known to be a keyword). One minus the second figure is
    what the word models alone miss with the place of every keyword given: a detector
    that labels with these models cannot be expected to miss fewer, at any false-alarm
    rate."""
    cuts = [signal[max(0, int((t["start"] - pad_s) * sr)):int((t["end"] + pad_s) * sr)] for t in truth]
    ll = rec.loglik(cuts)
    y = np.array([t["label"] for t in truth])
    among_keywords = np.where(rec.keyword_mask_, ll, -np.inf)
    return {"right_among_all_labels": round(float(np.mean(rec.classes_[ll.argmax(1)] == y)), 4),
            "right_among_keywords": round(float(np.mean(rec.classes_[among_keywords.argmax(1)] == y)), 4)}


def chunks_of(signal):
    return (signal[i:i + CHUNK] for i in range(0, len(signal), CHUNK))


def run_hmmrec(rec, signal, sensitivity, adapt=False):
    stream = StreamRecognizer(rec, sensitivity=sensitivity, adapt=adapt)
    events = []
    t0 = time.process_time()
    for chunk in chunks_of(signal):
        events += stream.push(chunk)
    events += stream.flush()
    cpu = time.process_time() - t0
    return [(e.label, e.start, e.end, e.time) for e in events], [e.score for e in events], cpu


def memory_over_hour(rec, signal):
    """RSS (MB) after the first minute and after one hour of streaming (signal repeated)."""
    import psutil

    proc = psutil.Process()
    stream = StreamRecognizer(rec)
    n_total, fed, marks = 3600 * SR, 0, {}
    while fed < n_total:
        for i in range(0, len(signal), CHUNK):
            stream.push(signal[i:i + CHUNK])
            fed += CHUNK
            if "after_1_min" not in marks and fed >= 60 * SR:
                marks["after_1_min"] = proc.memory_info().rss / 2**20
            if fed >= n_total:
                break
    marks["after_60_min"] = proc.memory_info().rss / 2**20
    return {k: round(v, 1) for k, v in marks.items()} | {
        "growth_mb": round(marks["after_60_min"] - marks["after_1_min"], 1)}


def run_pocketsphinx(signal, keywords, threshold):
    """Events of pocketsphinx's keyword search (all keywords, one threshold)."""
    from pocketsphinx import Decoder

    with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as fh:
        for k in keywords:
            fh.write(f"{k} /{threshold:.0e}/\n")
    try:
        dec = Decoder(kws=fh.name, loglevel="FATAL")
    finally:
        os.unlink(fh.name)
    frate = int(dec.config["frate"])
    pcm = (signal * 32767).astype(np.int16)
    events, utt_start, step = [], 0.0, 1600
    t0 = time.process_time()
    dec.start_utt()
    for i in range(0, len(pcm), step):
        dec.process_raw(pcm[i:i + step].tobytes(), False, False)
        if dec.hyp() is not None:
            now = (i + step) / SR
            for seg in dec.seg():
                events.append((seg.word.strip(), utt_start + seg.start_frame / frate,
                               utt_start + seg.end_frame / frate, now))
            dec.end_utt()
            dec.start_utt()
            utt_start = now
    dec.end_utt()
    return events, time.process_time() - t0


def main():
    ap = argparse.ArgumentParser()
    # (steps of 0.02: where each stream's curve crosses 1 false alarm per hour is found to that step)
    ap.add_argument("--sensitivities", default=",".join(f"{v / 50:g}" for v in range(51)))
    ap.add_argument("--hour", action="store_true", help="also measure memory over one hour of streaming")
    ap.add_argument("--no-peer", action="store_true", help="skip pocketsphinx")
    ap.add_argument("--peer-only", action="store_true", help="only pocketsphinx (no training)")
    ap.add_argument("--test-size", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-wav", help="write the stream to this WAV (and its truth beside it: .csv, .truth.json)")
    ap.add_argument("--save-model", help="write the trained model to this file (to replay with `hmmrec kws`)")
    ap.add_argument("--extra-train", action="store_true", help="also train on speech_commands_train/")
    ap.add_argument("--extra-floor", type=float, default=None, metavar="DB",
                    help="only extra clips whose background is at most DB below their loudest frame (e.g. -50)")
    ap.add_argument("--extra-per-label", type=int, default=None, metavar="N", help="at most N extra clips per label")
    ap.add_argument("--adapt", default="", metavar="S,S,...",
                    help="also stream at these sensitivities adapting to the voices heard (StreamRecognizer(adapt=True))")
    args = ap.parse_args()
    if (args.extra_floor is not None or args.extra_per_label is not None) and not args.extra_train:
        ap.error("--extra-floor and --extra-per-label go with --extra-train")
    if args.extra_per_label is not None and args.extra_per_label < 1:
        ap.error("--extra-per-label needs at least 1")

    corpus = speech_commands_corpus()
    train, test = split_by_speaker(corpus, args.test_size, args.seed)
    if args.extra_train:
        train = Corpus(list(train) + list(extra_training_corpus(args.extra_floor, args.extra_per_label)))
    noise = [u.path for u in test if u.label == "_silence_"]
    rec = None
    with Timer() as tt:
        if not args.peer_only:
            log(f"training on {len(train)} files of {len({u.speaker for u in train})} speakers")
            rec = HMMRecognizer().fit(train.paths, train.y)
    signal, truth = build_stream(test, noise, args.seed)
    duration = len(signal) / SR
    keywords = sorted({t["label"] for t in truth})
    log(f"stream: {duration / 60:.1f} min, {len(truth)} keywords, "
        f"{sum(1 for u in test if u.label == '_unknown_')} distractors")
    if args.save_wav:
        import json

        audio.write_wav(args.save_wav, signal, SR)
        Path(args.save_wav).with_suffix(".truth.json").write_text(json.dumps(truth, indent=1))
        # the truth list `hmmrec kws MODEL WAV` reads beside the recording
        Path(args.save_wav).with_suffix(".csv").write_text(
            "label,start,end\n" + "".join(f"{t['label']},{t['start']:.4f},{t['end']:.4f}\n" for t in truth))
    if args.save_model and rec is not None:
        rec.save(args.save_model, overwrite=True)

    result = {"dataset": "speech_commands", "stream_minutes": round(duration / 60, 1), "keywords": len(truth),
              "distractors": sum(1 for u in test if u.label == "_unknown_"), "snr_db": SNR_DB,
              "extra_train": args.extra_train, "extra_floor_db": args.extra_floor,
              "extra_per_label": args.extra_per_label, "train_seconds": round(tt.seconds, 1),
              "strictest_score": None if rec is None else round(strictest_score(rec), 4), "hmmrec": []}
    sens = [float(s) for s in args.sensitivities.split(",")]
    if DEFAULT_SENSITIVITY not in sens:
        sens.append(DEFAULT_SENSITIVITY)
    if rec is not None:
        # one scoring pass decides at every sensitivity (exactly as separate streams would)
        t0 = time.process_time()
        swept = events_at_sensitivities(rec, chunks_of(signal), sens)
        result["sweep_cpu_seconds"] = round(time.process_time() - t0, 1)
        for s in sorted(sens):
            evs = swept[s]
            row = {"sensitivity": s, **score([(e.label, e.start, e.end, e.time) for e in evs], truth, duration,
                                            [e.score for e in evs] if s == max(sens) else None)}
            result["hmmrec"].append(row)
            log(f"hmmrec sensitivity {s}: {row}")
        # real-time factor: a plain stream at the default sensitivity, as `hmmrec stream` runs it
        events, _, cpu = run_hmmrec(rec, signal, DEFAULT_SENSITIVITY)
        assert events == [(e.label, e.start, e.end, e.time) for e in swept[DEFAULT_SENSITIVITY]]
        result["real_time_factor"] = round(cpu / duration, 5)
        log(f"real-time factor {result['real_time_factor']}")
        ok = [r for r in result["hmmrec"] if r["false_alarms_per_hour"] <= 1.0]
        result["hmmrec_miss_rate_at_1_fa_per_hour"] = min(r["miss_rate"] for r in ok) if ok else None
        result["keywords_on_their_own"] = keywords_on_their_own(rec, signal, truth)
        log(f"keywords cut out at their true place: {result['keywords_on_their_own']}")
        result["hmmrec_default"] = next(r for r in result["hmmrec"] if r["sensitivity"] == DEFAULT_SENSITIVITY)
        if args.adapt:  # a stream of its own per sensitivity: each adapts to what it decided
            result["hmmrec_adapting"] = []
            for s in [float(v) for v in args.adapt.split(",")]:
                events, _, cpu = run_hmmrec(rec, signal, s, adapt=True)
                row = {"sensitivity": s, **score(events, truth, duration), "real_time_factor": round(cpu / duration, 5)}
                result["hmmrec_adapting"].append(row)
                log(f"hmmrec adapting, sensitivity {s}: {row}")
    if args.hour and rec is not None:
        result["memory_one_hour"] = memory_over_hour(rec, signal)
        log(f"memory: {result['memory_one_hour']}")
    if not args.no_peer:
        result["pocketsphinx"] = []
        for thr in (1e-20, 1e-10, 1e0, 1e10, 1e20):
            events, cpu = run_pocketsphinx(signal, keywords, thr)
            row = {"kws_threshold": thr, **score(events, truth, duration), "real_time_factor": round(cpu / duration, 4)}
            result["pocketsphinx"].append(row)
            log(f"pocketsphinx {thr:.0e}: {row}")
        ok = [r for r in result["pocketsphinx"] if r["false_alarms_per_hour"] <= 1.0]
        result["pocketsphinx_miss_rate_at_1_fa_per_hour"] = min(r["miss_rate"] for r in ok) if ok else None
    emit(result)


if __name__ == "__main__":
    main()
