"""Generate the small synthetic speech corpus shipped in ``sounds/``.

Fruit words are spoken by espeak-ng "speakers" (voice + variant), trimmed,
padded and mixed with light background noise; ``_silence_`` clips are pure
background (coloured noise, mains hum, soft clicks).  Train and test use
disjoint speakers, and ``streams/`` holds continuous recordings of test
speakers with a truth CSV.  Output is byte-identical for a given ``--seed``.

Usage:  python scripts/make_sounds.py [--out DIR] [--seed N] [--force]
"""
import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

WORDS = ["apple", "banana", "kiwi", "lime", "orange", "peach", "pineapple"]
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
DISTRACTORS = ["window", "table", "seven", "yellow", "garden"]
# Test variants (m1 m3 f2 f4) never occur in train, so test timbres are unseen.
# 9 train + 4 test speakers (not 12 + 4) keeps sounds/ under 8 MB.
TRAIN_SPEAKERS = [
    "en-us+m2", "en-us+f5", "en-us-nyc+m4", "en-gb+f1", "en-gb-x-rp+m6",
    "en-gb-scotland+m7", "en-gb-x-gbclan+f3", "en-gb-x-gbcwmd+m5", "en-029+f1",
]
TEST_SPEAKERS = ["en-us+m3", "en-gb-scotland+f2", "en-029+m1", "en-gb-x-rp+f4"]
TAKES = 2                            # takes per speaker and label
SR = 16000                           # output sample rate (Hz)
SPEED_WPM = (120, 200)               # espeak-ng -s
PITCH = (25, 75)                     # espeak-ng -p
AMPLITUDE = (70, 130)                # espeak-ng -a
FRAME_S = 0.010                      # energy frame for trimming
TRIM_DB = 40.0                       # keep frames within this of the loudest
TRIM_MARGIN_S = 0.010                # kept around the detected speech
FADE_S = 0.005                       # raised-cosine fade on trimmed speech
PAD_S = (0.10, 0.25)                 # background padding each side
SNR_DB = (25.0, 40.0)                # speech-to-noise ratio of word clips
PEAK_DBFS = (-12.0, -1.0)            # final peak of word clips
SILENCE_S = (0.8, 1.0)               # duration of _silence_ clips
SILENCE_DBFS = (-60.0, -30.0)        # RMS level of _silence_ clips
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power ~ 1/f**alpha
HUM_HZ = (50.0, 60.0)
HUM_HARMONICS = (1.0, 0.5, 0.25)     # relative amplitudes of f0, 2f0, 3f0
HUM_PROB, CLICK_PROB = 0.4, 0.3
HUM_REL_DB = (-12.0, 0.0)            # hum level relative to the noise
CLICK_REL_DB = (6.0, 18.0)           # click peak relative to background RMS
CLICK_MS = (2.0, 6.0)                # click decay time constant
MAX_CLICKS = 3
STREAMS = [("stream1", 8, 0), ("stream2", 7, 2)]  # (name, keywords, distractors)
STREAM_LEN_S = (25.0, 30.0)          # short streams keep sounds/ under 8 MB
STREAM_GAP_S = (1.5, 4.0)
STREAM_EDGE_S = 1.0                  # background before first / after last word
STREAM_BG_DBFS = -45.0
STREAM_PEAK_DBFS = (-12.0, -3.0)
MAX_GAP_DRAWS = 1000                 # attempts to fit a stream into STREAM_LEN_S
INT16_MAX = 32767


def db_to_lin(db):
    """Convert decibels to a linear amplitude factor."""
    return 10.0 ** (db / 20.0)


def voice_id(speaker):
    """Filesystem-safe speaker id: ``en-gb-x-rp+f4`` -> ``en-gb-x-rp_f4``."""
    return speaker.replace("+", "_")


def synthesize(text, speaker, rng, tmpdir):
    """Speak ``text`` with espeak-ng (random speed/pitch/amplitude); float at SR."""
    path = Path(tmpdir) / "espeak.wav"
    cmd = ["espeak-ng", "-v", speaker, "-w", str(path),
           "-s", str(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1)),
           "-p", str(rng.integers(PITCH[0], PITCH[1] + 1)),
           "-a", str(rng.integers(AMPLITUDE[0], AMPLITUDE[1] + 1)), text]
    subprocess.run(cmd, check=True, capture_output=True)
    rate, data = wavfile.read(path)
    x = data.astype(np.float64) / (INT16_MAX + 1)
    g = gcd(SR, rate)
    return resample_poly(x, SR // g, rate // g)


def trim(x):
    """Cut leading/trailing silence by frame energy and fade the edges."""
    n = int(FRAME_S * SR)
    frames = x[: len(x) // n * n].reshape(-1, n)
    energy_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(energy_db > energy_db.max() - TRIM_DB)
    margin = int(TRIM_MARGIN_S * SR)
    y = x[max(0, loud[0] * n - margin): min(len(x), (loud[-1] + 1) * n + margin)].copy()
    fade = int(FADE_S * SR)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    y[:fade] *= ramp
    y[-fade:] *= ramp[::-1]
    return y


def coloured_noise(n, rng, colour):
    """Unit-RMS noise of ``n`` samples with power spectrum ~ 1/f**alpha."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    f[0] = f[1]
    spec *= f ** (-COLOURS[colour] / 2.0)
    y = np.fft.irfft(spec, n)
    y -= y.mean()
    return y / np.sqrt(np.mean(y ** 2))


def hum(n, rng):
    """Unit-RMS mains hum at 50 or 60 Hz with a few harmonics."""
    t = np.arange(n) / SR
    f0 = HUM_HZ[rng.integers(len(HUM_HZ))]
    y = sum(a * np.sin(2 * np.pi * (k + 1) * f0 * t + rng.uniform(0, 2 * np.pi))
            for k, a in enumerate(HUM_HARMONICS))
    return y / np.sqrt(np.mean(y ** 2))


def add_clicks(y, rng, rms):
    """Add 1..MAX_CLICKS soft decaying clicks relative to background ``rms``."""
    for _ in range(rng.integers(1, MAX_CLICKS + 1)):
        tau = rng.uniform(*CLICK_MS) / 1000.0 * SR
        m = min(int(6 * tau), len(y))
        click = rng.standard_normal(m) * np.exp(-np.arange(m) / tau)
        click *= rms * db_to_lin(rng.uniform(*CLICK_REL_DB)) / np.abs(click).max()
        pos = rng.integers(0, len(y) - m + 1)
        y[pos:pos + m] += click
    return y


def background(n, rng, rms, extras=True):
    """Background of ``n`` samples at ``rms``: random colour, maybe hum/clicks."""
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    y = coloured_noise(n, rng, colour)
    if extras and rng.random() < HUM_PROB:
        y = y + db_to_lin(rng.uniform(*HUM_REL_DB)) * hum(n, rng)
        y /= np.sqrt(np.mean(y ** 2))
    y *= rms
    if extras and rng.random() < CLICK_PROB:
        y = add_clicks(y, rng, rms)
    return y


def word_clip(speech, rng):
    """Pad trimmed speech with background, add noise at random SNR, set peak."""
    pad = [int(rng.uniform(*PAD_S) * SR) for _ in range(2)]
    y = np.concatenate([np.zeros(pad[0]), speech, np.zeros(pad[1])])
    rms = np.sqrt(np.mean(speech ** 2)) / db_to_lin(rng.uniform(*SNR_DB))
    y += background(len(y), rng, rms, extras=False)
    return y * db_to_lin(rng.uniform(*PEAK_DBFS)) / np.abs(y).max()


def silence_clip(rng):
    """One ``_silence_`` clip: background noise at a random level."""
    n = int(rng.uniform(*SILENCE_S) * SR)
    return background(n, rng, db_to_lin(rng.uniform(*SILENCE_DBFS)))


def write_wav(path, y):
    """Write float audio as 16-bit PCM mono at SR, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.round(y * INT16_MAX), -INT16_MAX - 1, INT16_MAX)
    wavfile.write(path, SR, pcm.astype(np.int16))


def make_split(out, split, speakers, rng, tmpdir):
    """Write word and silence clips for one split; return the file count."""
    count = 0
    for speaker in speakers:
        for label in WORDS + [SILENCE]:
            for take in range(1, TAKES + 1):
                if label == SILENCE:
                    y = silence_clip(rng)
                else:
                    y = word_clip(trim(synthesize(label, speaker, rng, tmpdir)), rng)
                name = f"{label}_{voice_id(speaker)}_{take}.wav"
                write_wav(out / split / label / name, y)
                count += 1
    return count


def stream_plan(n_keywords, n_distractors, rng):
    """Shuffled list of words for a stream: every fruit at least once."""
    words = WORDS + list(rng.choice(WORDS, n_keywords - len(WORDS)))
    words += list(rng.choice(DISTRACTORS, n_distractors, replace=False))
    return [str(w) for w in rng.permutation(words)]


def make_stream(out, name, n_keywords, n_distractors, rng, tmpdir):
    """Write ``name``.wav (test speakers only) and its truth ``name``.csv."""
    words = stream_plan(n_keywords, n_distractors, rng)
    clips = []
    for word in words:
        speaker = TEST_SPEAKERS[rng.integers(len(TEST_SPEAKERS))]
        speech = trim(synthesize(word, speaker, rng, tmpdir))
        clips.append(speech * db_to_lin(rng.uniform(*STREAM_PEAK_DBFS))
                     / np.abs(speech).max())
    for _ in range(MAX_GAP_DRAWS):  # redraw gaps until the stream is short enough
        gaps = rng.uniform(*STREAM_GAP_S, len(words) - 1)
        total = 2 * STREAM_EDGE_S + gaps.sum() + sum(len(c) for c in clips) / SR
        if total <= STREAM_LEN_S[1]:
            break
    else:
        raise ValueError(f"{name}: {len(words)} words do not fit in {STREAM_LEN_S[1]} s")
    total = max(total, STREAM_LEN_S[0])
    y = background(int(total * SR), rng, db_to_lin(STREAM_BG_DBFS))
    rows, pos = [], int(STREAM_EDGE_S * SR)
    for i, (word, clip) in enumerate(zip(words, clips)):
        y[pos:pos + len(clip)] += clip
        label = word if word in WORDS else UNKNOWN
        rows.append((label, f"{pos / SR:.3f}", f"{(pos + len(clip)) / SR:.3f}"))
        pos += len(clip) + (int(gaps[i] * SR) if i < len(gaps) else 0)
    write_wav(out / "streams" / f"{name}.wav", y)
    with open(out / "streams" / f"{name}.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["label", "start", "end"])
        writer.writerows(rows)
    return total


def parse_args(argv):
    """Command-line options."""
    default_out = Path(__file__).resolve().parent.parent / "sounds"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=default_out,
                   help=f"output folder (default: {default_out})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true",
                   help="write even if --out is not empty (replaces train/test/streams)")
    return p.parse_args(argv)


def main(argv=None):
    """Generate the corpus; return a process exit code."""
    args = parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("error: espeak-ng not found; install it with: apt-get install espeak-ng",
              file=sys.stderr)
        return 1
    out = args.out
    if out.exists() and any(out.iterdir()) and not args.force:
        print(f"error: {out} is not empty; use --force to overwrite", file=sys.stderr)
        return 1
    for sub in ("train", "test", "streams"):
        shutil.rmtree(out / sub, ignore_errors=True)
    rng = np.random.default_rng(args.seed)
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            n_train = make_split(out, "train", TRAIN_SPEAKERS, rng, tmpdir)
            n_test = make_split(out, "test", TEST_SPEAKERS, rng, tmpdir)
            (out / "streams").mkdir(parents=True, exist_ok=True)
            lengths = [make_stream(out, name, k, d, rng, tmpdir)
                       for name, k, d in STREAMS]
    except subprocess.CalledProcessError as exc:
        msg = exc.stderr.decode(errors="replace").strip()
        print(f"error: {' '.join(exc.cmd)} failed: {msg}", file=sys.stderr)
        return 1
    print(f"wrote {n_train} train + {n_test} test clips ({len(WORDS) + 1} labels), "
          f"{len(lengths)} streams ({sum(lengths):.1f} s) to {out} (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
