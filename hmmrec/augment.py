"""Training copies: more voices and more rooms from the same recordings.

Every training input can be joined by copies of itself played faster or slower (speed
perturbation, as Kaldi does), with the mel filterbank warped (vocal tract length
perturbation: shorter and longer vocal tracts) and with background noise mixed in. The
noise is a random stretch of the training data's own background recordings (labels such
as ``_silence_``) when there are some, else white, pink and brown noise. All choices
come from fixed seeds, so that the same data always trains the same models.
"""

from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction

import numpy as np

from . import audio
from .features import FeatureConfig, filterbank_frames, raw_features
from .normalization import check_long_enough, normalize, spoken_span
from .labels import is_whole

__all__ = ["speed_perturb", "synthetic_noises", "add_noise", "noise_plan", "training_features", "signal_of"]

# each noisy copy's signal-to-noise ratio is drawn from [v, v + this] dB for a setting v
NOISE_SNR_SPAN_DB = 10.0


def signal_of(x, cfg: FeatureConfig) -> np.ndarray:
    """A float mono signal at ``cfg.sr`` from a path or an array (already at that rate)."""
    if isinstance(x, (str, os.PathLike)):
        y, _ = audio.load(x, cfg.sr)
        return y
    return audio.to_float_mono(x)


def speed_perturb(y: np.ndarray, factor: float) -> np.ndarray:
    """Play ``y`` ``factor`` times faster (tempo and pitch), as Kaldi's speed perturbation."""
    from scipy.signal import resample_poly

    frac = Fraction(factor).limit_denominator(100)
    return resample_poly(y, frac.denominator, frac.numerator).astype(np.float32)


def synthetic_noises(sr: int, seconds: float = 2.0) -> list[np.ndarray]:
    """White, pink and brown noise (fixed seed): stand-ins for recorded background."""
    rng = np.random.default_rng(12345)
    n = int(sr * seconds)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / sr), 1.0)
    out = []
    for slope in (0.0, 0.5, 1.0):  # amplitude ~ f**-slope: white, pink, brown
        y = np.fft.irfft(spec / f**slope, n)
        out.append((y / np.sqrt(np.mean(y * y))).astype(np.float32))
    return out


def add_noise(y: np.ndarray, noise: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``y`` plus a random stretch of ``noise`` (repeated as needed) at ``snr_db``."""
    rng = np.random.default_rng(seed)
    start = int(rng.integers(len(noise)))
    n = np.resize(np.roll(noise, -start), len(y)).astype(np.float64)
    p_signal, p_noise = float(np.mean(np.square(y, dtype=np.float64))), float(np.mean(n * n))
    if p_signal == 0 or p_noise == 0:
        return y
    return (y + n * np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))).astype(np.float32)


def noise_plan(X, y, cfg: FeatureConfig, noise_snrs) -> list:
    """Per input, the (noise signal, SNR in dB, seed) of each of its noisy copies (fixed seed).

    Inputs of whole labels (background recordings) get none: they are the noise.
    """
    plan = [[] for _ in X]
    if not noise_snrs:
        return plan
    noise = [signal_of(x, cfg) for x, lab in zip(X, y) if is_whole(lab)]
    noise = [n for n in noise if len(n) > 0 and np.any(n != 0)]
    if not noise:  # no recorded background: coloured noise stands in for it
        noise = synthetic_noises(cfg.sr)
    rng = np.random.default_rng(0)
    for i, lab in enumerate(y):
        if is_whole(lab):
            continue
        for v in noise_snrs:
            plan[i].append((noise[int(rng.integers(len(noise)))], float(rng.uniform(v, v + NOISE_SNR_SPAN_DB)),
                            int(rng.integers(1 << 30))))
    return plan


def training_features(x, cfg: FeatureConfig, speeds: tuple, warps: tuple, noise_plans: list,
                      name: str, filterbank: bool = False) -> tuple[list, object]:
    """The training copies of one input, as (normalised features, spoken span, filterbank
    frames) triples, and what the voice activity detector hears in it
    (:class:`hmmrec.speech.Speech`).

    One list per copy of the input (one per plan of its noisy copies, see
    :func:`noise_plan`; an input counted k times has k plans): the input's own,
    speed-perturbed and warped features, computed once and shared by the copies, then
    the copy's noisy ones. The filterbank frames (:func:`~hmmrec.features.filterbank_frames`,
    the frame classifier's second view) are None unless ``filterbank``. Copies too short
    for two frames are left out; the input itself too short is a
    :class:`~hmmrec.errors.ParameterError`.
    """
    from .speech import listen

    y = signal_of(x, cfg)

    def triple(signal, c, raw) -> tuple:
        return normalize(raw, c), spoken_span(raw), filterbank_frames(signal, c) if filterbank else None

    def triples(variants) -> list:
        out = []
        for signal, c in variants:
            raw = raw_features(signal, c)
            if len(raw) >= 2:
                out.append(triple(signal, c, raw))
        return out

    raw = raw_features(y, cfg)
    check_long_enough(raw, y, cfg, name)
    shared = [triple(y, cfg, raw)]
    shared += triples([(speed_perturb(y, s), cfg) for s in speeds] + [(y, replace(cfg, warp=w)) for w in warps])
    copies = [shared + triples([(add_noise(y, n, snr, seed), cfg) for n, snr, seed in plan]) for plan in noise_plans]
    return copies, listen(y, cfg.sr)
