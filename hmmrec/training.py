"""Training data and training jobs: what :meth:`HMMRecognizer.fit` is made of.

:func:`training_data` extracts the features of every input and its training copies
(:mod:`hmmrec.augment`) and splits them as the models need them: the spoken parts train
the word models, whole utterances the background model and the discriminative step,
and what lies around the spoken parts the filler model. :func:`model_jobs` lists one
training job per word model (several for ``_unknown_``, one per cluster of similar
examples); :func:`fit_one` runs one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import audio
from .augment import noise_plan, training_features
from .errors import ParameterError
from .features import FeatureConfig
from .hmm import HMMParams, WordHMM
from .labels import has_several_models, is_whole
from .progress import run_jobs

__all__ = ["TrainingData", "training_data", "model_jobs", "fit_one", "background_sample", "stage", "resolve_config",
           "training_summary"]

_FRAMES_PER_STATE = 4.0
_MIN_STATES, _MAX_STATES = 3, 16
# a non-keyword label gets at most one stream model per this many training examples
_MIN_EXAMPLES_PER_MODEL = 5
# audio at this rate or below is narrowband: its filterbank stops at the telephone band's
# top, since above it recordings differ most from microphone to microphone
_NARROWBAND_SR = 8000
_NARROWBAND_TOP_HZ = 3400.0
_BACKGROUND_MAX_FRAMES = 20000  # a random sample of training frames is plenty for 16 Gaussians


def resolve_config(cfg: FeatureConfig | None, X) -> FeatureConfig:
    """The feature settings: given, or inferred from the training files' sample rate."""
    if cfg is not None:
        return cfg
    rates = [audio.info(x).sr for x in X if isinstance(x, (str, Path))]
    sr = int(np.median(rates)) if rates else FeatureConfig().sr
    n_fft = 1 << int(np.ceil(np.log2(FeatureConfig.win_s * sr)))
    high = _NARROWBAND_TOP_HZ if sr <= _NARROWBAND_SR else 0.0
    return FeatureConfig(sr=sr, n_fft=max(n_fft, 256), high_hz=high)


def background_sample(by_label: dict) -> list[np.ndarray]:
    """Training frames of every label, at most ``_BACKGROUND_MAX_FRAMES`` (fixed seed).

    The sampled frames are gathered from the sequences where they are, not from a copy of
    all frames stacked together (on a large corpus that copy was the peak of training's memory).
    """
    seqs = [s for group in by_label.values() for s in group]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    if offsets[-1] > _BACKGROUND_MAX_FRAMES:
        pick = np.sort(np.random.default_rng(0).choice(int(offsets[-1]), _BACKGROUND_MAX_FRAMES, replace=False))
        which = np.searchsorted(offsets, pick, side="right") - 1
        frames = np.array([seqs[w][i] for w, i in zip(which, pick - offsets[which])])
    else:
        frames = np.vstack(seqs)
    return np.array_split(frames, max(1, len(frames) // 100))


def stage(model: WordHMM, n_mix: int) -> HMMParams:
    """The model at the last mixture stage with at most ``n_mix`` Gaussians (0: the final one)."""
    if n_mix <= 0:
        return model.params_
    return model.stages_[max(k for k in model.stages_ if k <= n_mix)]


def clusters(groups: list[list[np.ndarray]], k_max: int) -> list[np.ndarray]:
    """Indices of the inputs in each cluster of similar examples (k-means, fixed seed).

    ``groups``: per input, the spoken parts of its copies (the first is the input itself),
    summarised by its features' mean and spread and its length.
    """
    k = min(k_max, len(groups) // _MIN_EXAMPLES_PER_MODEL)
    if k < 2:
        return [np.arange(len(groups))]
    from sklearn.cluster import KMeans

    x = np.array([np.r_[g[0].mean(0), g[0].std(0), len(g[0])] for g in groups])
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)
    assign = KMeans(k, n_init=10, random_state=0).fit_predict(x)
    return [np.flatnonzero(assign == c) for c in range(k) if np.any(assign == c)]


def fit_one(label, seqs, n_states, n_mix, skip, n_iter, var_floor):
    """(label, fitted WordHMM, seconds): one training job (see :func:`model_jobs`)."""
    t0 = time.perf_counter()
    model = WordHMM(n_states=n_states, n_mix=n_mix, skip=skip, n_iter=n_iter, var_floor=var_floor).fit(seqs)
    return label, model, time.perf_counter() - t0


def repeats(sample_weight, n: int) -> np.ndarray:
    """Whole-number sample weights -> repeat counts, or a ParameterError saying what is wrong."""
    try:
        w = np.asarray(sample_weight, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ParameterError("sample_weight must be numbers, one per example") from None
    if len(w) != n:
        raise ParameterError(f"sample_weight has {len(w)} values for {n} examples")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w != np.round(w)):
        raise ParameterError("sample_weight must be whole numbers >= 0 (how many times each example counts)")
    return w.astype(int)


@dataclass
class TrainingData:
    """Features of a training set, arranged for the steps of ``fit``."""

    feature_config: FeatureConfig
    labels: list
    spoken: dict  # label -> spoken parts (word models)
    whole: dict  # label -> whole utterances (background, discriminative training, calibration)
    outside: list  # frames around the spoken parts (the filler)
    groups: dict  # label -> per input, the spoken parts of its copies (clusters of _unknown_)
    counts: dict  # label -> files, whatever their weights
    n_files: int
    n_copies: int
    speech_limits: dict  # whole label -> longest speech (s) in its training files (hmmrec.speech)
    no_speech: dict  # every other label -> share of its training files without speech
    filterbank: dict = field(default_factory=dict)  # label -> filterbank frames of each of whole (or empty)


def training_data(X, y, sample_weight, *, feature_config, speeds, warps, noise_snrs, n_jobs,
                  on_input=None, filterbank: bool = False) -> TrainingData:
    """Features of every input and its training copies, split as the models need them.

    ``feature_config`` None: inferred from the files (see :func:`resolve_config`).
    ``on_input(done, total, name)``: called as the features of each input (of weight > 0)
    arrive, in order. ``filterbank``: also the filterbank frames of every copy (the frame
    classifier's second view), in ``filterbank``.
    """
    X, y = list(X), [str(v) for v in y]
    if len(X) != len(y):
        raise ParameterError(f"X and y have different lengths ({len(X)} and {len(y)})")
    reps = np.ones(len(X), dtype=int) if sample_weight is None else repeats(sample_weight, len(X))
    counts: dict[str, int] = {}
    for label, r in zip(y, reps):
        if r:
            counts[label] = counts.get(label, 0) + 1
    n_files = int(np.count_nonzero(reps))
    if not n_files:
        raise ParameterError("no training examples")
    names = [str(x) if isinstance(x, (str, Path)) else f"example {i}" for i, x in enumerate(X)]
    # an input of weight k stands for k copies of it: the settings and the noise plan are
    # those of the copies, but its own and warped features are computed once for all k
    copies_x = [x for x, r in zip(X, reps) for _ in range(r)]
    copies_y = [v for v, r in zip(y, reps) for _ in range(r)]
    cfg = resolve_config(feature_config, copies_x)
    noises = noise_plan(copies_x, copies_y, cfg, noise_snrs)
    bounds = np.concatenate([[0], np.cumsum(reps)])
    used = np.flatnonzero(reps)
    # (each input also says what speech it holds: hmmrec.speech)
    jobs = [(X[i], cfg, tuple(speeds), tuple(warps), noises[bounds[i]:bounds[i + 1]], names[i], filterbank)
            for i in used]

    def arrived(result, done, total):
        on_input(done, total, jobs[done - 1][5])

    per_input = run_jobs(training_features, jobs, n_jobs, on_result=arrived if on_input is not None else None)
    feats = [copy for copies, _ in per_input for copy in copies]
    limits: dict[str, float] = {}
    silent: dict[str, int] = {}
    for i, (_, speech) in zip(used, per_input):
        if is_whole(y[i]):
            limits[y[i]] = max(limits.get(y[i], 0.0), speech.longest_s)
        else:
            silent[y[i]] = silent.get(y[i], 0) + (not speech.heard)
    no_speech = {lab: n / counts[lab] for lab, n in silent.items()}
    data = TrainingData(cfg, [], {}, {}, [], {}, {}, n_files, len(copies_x), limits, no_speech)
    for label, triples in zip(copies_y, feats):
        data.whole.setdefault(label, []).extend(f for f, _, _ in triples)
        if filterbank:
            data.filterbank.setdefault(label, []).extend(g for _, _, g in triples)
        for f, (a, b), _ in triples:
            data.outside.extend([f] if is_whole(label) else [f[:a], f[b:]])
        spans = [f if is_whole(label) else f[a:b] for f, (a, b), _ in triples]
        data.spoken.setdefault(label, []).extend(spans)
        if spans:
            data.groups.setdefault(label, []).append(spans)
    data.labels = sorted(data.spoken)
    data.counts = {lab: counts[lab] for lab in data.labels}
    return data


def model_jobs(data: TrainingData, *, n_states, n_mix, skip, n_iter, var_floor, unknown_models) -> tuple[list, list]:
    """Training jobs of the word models and (owner label, model number) of each: 0 the
    label's model, 1, 2, ... its stream models where it has several (unknown_models)."""
    jobs, owners = [], []
    for k, label in enumerate(data.labels):
        parts = [data.spoken[label]]
        if has_several_models(label) and unknown_models > 1 and label in data.groups:
            groups = clusters(data.groups[label], unknown_models)
            if len(groups) > 1:
                parts += [[s for i in members for s in data.groups[label][i]] for members in groups]
        for j, seqs in enumerate(parts):
            states = n_states
            if states == "auto":
                med = float(np.median([len(s) for s in seqs]))
                states = int(np.clip(round(med / _FRAMES_PER_STATE), _MIN_STATES, _MAX_STATES))
            name = label if j == 0 else f"{label}#{j}"
            jobs.append((name, seqs, states, n_mix, skip, n_iter, var_floor))
            owners.append((k, j))
    return jobs, owners


def training_summary(rec, data: TrainingData, seconds: float) -> dict:
    """The training summary a fitted recognizer keeps (and its model file holds): files and
    examples per label, model sizes and settings, word durations, EM histories."""
    hop = data.feature_config.hop_s
    durations = {lab: [len(s) * hop for s in data.spoken[lab]] for lab in data.labels}
    return {
        "n_files": data.n_files,
        "examples": rec.n_examples_,
        "n_states": {lab: int(m.n_states) for lab, m in zip(data.labels, rec.models_)},
        "n_mix": int(rec.n_mix),
        "stream_n_mix": int(max(m.n_mix for m in rec.stream_models_)),
        "speeds": [float(s) for s in rec.speeds],
        "warps": [float(w) for w in rec.warps],
        "noise_snrs": [float(v) for v in rec.noise_snrs],
        "mmi_iter": int(rec.mmi_iter),
        "stream_models_per_label": {lab: 1 + int(np.sum(rec.extra_labels_ == k)) for k, lab in enumerate(data.labels)},
        "seconds": round(seconds, 2),  # (not written to model files: see HMMRecognizer.save)
        "duration_s": {lab: {"p50": round(float(np.percentile(d, 50)), 3), "p95": round(float(np.percentile(d, 95)), 3)}
                       for lab, d in durations.items()},
        "speech_s": {lab: float(v) for lab, v in data.speech_limits.items()},
        "no_speech_share": {lab: round(float(v), 4) for lab, v in data.no_speech.items()},
        "log_likelihood_history": {lab: m.log_likelihood_history for lab, m in zip(data.labels, rec.models_)},
    }
