"""The word recognizer: one :class:`~hmmrec.hmm.WordHMM` per label, scored together.

:class:`HMMRecognizer` follows scikit-learn's estimator contract: ``__init__`` only
stores its arguments, ``fit(X, y)`` validates and trains and returns ``self``, fitted
state ends in ``_``, and ``predict``/``predict_proba``/``score`` work as usual. ``X``
is a list of WAV paths or of float mono signals at ``feature_config.sr``.

Model files are data, never code: a NumPy ``.npz`` archive of plain arrays plus a JSON
header (format version, labels, feature settings, training summary), always read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from . import audio
from .corpus import is_keyword
from .errors import HmmrecError, ModelFileError, NotFittedError, ParameterError
from .features import FeatureConfig, active_span, extract, normalize
from .hmm import (HMMParams, ModelBank, WordHMM, extended_baum_welch, filler_or_model, occupancy_stats, viterbi,
                  viterbi_wrapped, wrap_with_filler)

__all__ = ["HMMRecognizer", "FORMAT_VERSION", "DEFAULT_OWN_WEIGHT"]

FORMAT_NAME = "hmmrec-model"
# 2: further stream models of non-keyword labels (x* arrays, "extra_labels")
# 3: features with a RASTA filter and histogram equalisation (a reader of 2 refuses or misreads them)
FORMAT_VERSION = 3
_FRAMES_PER_STATE = 4.0
_MIN_STATES, _MAX_STATES = 3, 16
_DEFAULT_SPEEDS = ()
_DEFAULT_WARPS = (0.9, 1.1)
_DEFAULT_NOISE_SNRS = (10.0,)
_DEFAULT_STREAM_MIX = 4
_DEFAULT_MMI_ITER = 1
_DEFAULT_UNKNOWN_MODELS = 16
# how many times a speaker's own recordings count beside a corpus of other voices
# (hmmrec train --own): on FSDD 5 did as well as 10 or 20 (benchmarks/own_voice.py)
DEFAULT_OWN_WEIGHT = 5
# a non-keyword label gets at most one model per this many training examples
_MIN_EXAMPLES_PER_MODEL = 5
_NARROWBAND_SR = 8000
_NARROWBAND_TOP_HZ = 3400.0
_NOISE_SNR_SPAN_DB = 10.0
_BACKGROUND = "(background)"
_BACKGROUND_MIX = 16
_BACKGROUND_MAX_FRAMES = 20000  # a random sample of training frames is plenty for 16 Gaussians
_FILLER = "(filler)"
_FILLER_MIX = 8
_FILLER_MIN_FRAMES = 100
# word models learn only the spoken part of each training utterance: frames within
# _TRIM_DB of the loudest one, plus a few frames each side. What lies around the words
# (silence, noise) trains the filler model, which surrounds every word model when
# recognising a file.
_TRIM_DB = 30.0
_FILLER_STAY = 0.9
# labels of pure background sound are modelled and scored whole, never trimmed or wrapped:
# a recording of silence is silence from its first frame to its last
WHOLE_LABELS = frozenset({"_silence_", "_background_", "_noise_"})
# the posterior is softmax(temperature * per-frame log-likelihood); training data is easier
# than new speakers, so the fitted temperature is capped at 1 to keep confidences honest
_LOG_TEMPERATURE_BOUNDS = (-4.0, 0.0)
# maximum mutual information training: label posteriors of the training examples are
# softmax(_MMI_KAPPA * log-likelihood), softened so that near rivals count, not only
# outright errors; examples whose weight for a model is below _MMI_MIN_WEIGHT are skipped
_MMI_KAPPA = 0.3
_MMI_MIN_WEIGHT = 1e-4
_MMI_TAU = 100.0


def _resolve_config(cfg: FeatureConfig | None, X) -> FeatureConfig:
    """The feature settings: given, or inferred from the training files' sample rate."""
    if cfg is not None:
        return cfg
    rates = [audio.info(x).sr for x in X if isinstance(x, (str, Path))]
    sr = int(np.median(rates)) if rates else FeatureConfig().sr
    win = FeatureConfig.win_s
    n_fft = 1 << int(np.ceil(np.log2(win * sr)))
    # narrowband audio: the filterbank stops at the telephone band's top, since above it
    # recordings differ most from microphone to microphone (FSDD leave-one-speaker-out:
    # worst speaker 0.78 -> 0.81, mean 0.882 -> 0.888)
    high = _NARROWBAND_TOP_HZ if sr <= _NARROWBAND_SR else 0.0
    return FeatureConfig(sr=sr, n_fft=max(n_fft, 256), high_hz=high)


def _speed_perturb(y: np.ndarray, factor: float) -> np.ndarray:
    """Play ``y`` ``factor`` times faster (tempo and pitch), as Kaldi's speed perturbation."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    frac = Fraction(factor).limit_denominator(100)
    return resample_poly(y, frac.denominator, frac.numerator).astype(np.float32)


def spoken_span(raw: np.ndarray, db: float = _TRIM_DB) -> tuple[int, int]:
    """(first, stop) frames of the spoken part of raw (unnormalised) features.

    Column 0 of raw features is the log frame energy; see :func:`~hmmrec.features.active_span`.
    """
    return active_span(raw[:, 0], db)


def _background_sample(by_label: dict) -> list[np.ndarray]:
    """Training frames of every label, at most ``_BACKGROUND_MAX_FRAMES`` (fixed seed)."""
    frames = np.vstack([s for seqs in by_label.values() for s in seqs])
    if len(frames) > _BACKGROUND_MAX_FRAMES:
        pick = np.random.default_rng(0).choice(len(frames), _BACKGROUND_MAX_FRAMES, replace=False)
        frames = frames[np.sort(pick)]
    return np.array_split(frames, max(1, len(frames) // 100))


def _stage(model: WordHMM, n_mix: int) -> HMMParams:
    """The model at the last mixture stage with at most ``n_mix`` Gaussians (0: the final one).

    Stages are 1, 2, 4, ... Gaussians and the last one is ``params_`` itself.
    """
    if n_mix <= 0:
        return model.params_
    return model.stages_[max(k for k in model.stages_ if k <= n_mix)]


def _read_params(data: dict, prefix: str, n_features: int, name: str, n_states: int | None = None) -> HMMParams:
    """One model's arrays from a model file, checked for shape and finite values."""
    m = HMMParams(*(np.asarray(data[f"{prefix}_{key}"], dtype=np.float64)
                    for key in ("transmat", "weights", "means", "variances")))
    s, mix, d = m.means.shape
    if (m.transmat.shape != (s, s) or m.weights.shape != (s, mix) or m.variances.shape != (s, mix, d)
            or d != n_features or (n_states is not None and s != n_states)):
        raise ValueError(f"inconsistent shapes in {name}")
    m.check(name)
    return m


def _score_slice(bank: ModelBank, seqs: list) -> np.ndarray:
    """(len(seqs), n_models) log-likelihoods of some sequences (a job of ``_score_many``)."""
    return np.array([bank.score(f) for f in seqs]).reshape(len(seqs), bank.n_models)


def _mmi_one(p: HMMParams, own, own_weights, rivals, rival_weights, var_floor) -> HMMParams:
    return extended_baum_welch(p, occupancy_stats(p, own, own_weights), occupancy_stats(p, rivals, rival_weights),
                               var_floor, tau=_MMI_TAU)


def _splits(label: str) -> bool:
    """Whether ``label`` may get several models: non-keywords that are speech (``_unknown_``)."""
    return not is_keyword(label) and label not in WHOLE_LABELS


def _clusters(groups: list[list[np.ndarray]], k_max: int) -> list[np.ndarray]:
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


def _fit_one(label, seqs, n_states, n_mix, skip, n_iter, var_floor):
    t0 = time.perf_counter()
    model = WordHMM(n_states=n_states, n_mix=n_mix, skip=skip, n_iter=n_iter, var_floor=var_floor).fit(seqs)
    return label, model, time.perf_counter() - t0


class HMMRecognizer(ClassifierMixin, BaseEstimator):
    """Isolated-word recognizer with one left-to-right GMM-HMM per label.

    Parameters
    ----------
    n_states : int or "auto"
        States per word model; ``"auto"`` gives each label about one state per
        4 frames of its median utterance, between 3 and 16.
    n_mix : int
        Gaussians per state.
    skip : bool
        Allow skipping one state (fast speech).
    n_iter : int
        Baum-Welch iterations per mixture stage.
    var_floor : float
        Variance floor as a fraction of the global feature variance.
    speeds : tuple of float
        Extra copies of every training utterance played at these speeds (speed
        perturbation; makes models less speaker-dependent). ``()`` for none.
    warps : tuple of float
        Extra copies of every training utterance with the mel filterbank warped by
        these factors (vocal tract length perturbation: shorter and longer vocal
        tracts). ``()`` for none.
    noise_snrs : tuple of float
        Extra copies of every word utterance with background noise added: for each
        value ``v`` one copy, mixed with a random stretch of the training data's own
        background recordings (labels such as ``_silence_``) at a signal-to-noise
        ratio drawn from ``[v, v + 10]`` dB (fixed seed). When the training data has
        no background recordings, white, pink and brown noise stand in for them (on
        FSDD leave-one-speaker-out this lifted the worst speaker by 4 points).
        ``()`` for none.
    mmi_iter : int
        Iterations of discriminative training after the maximum-likelihood one: each
        moves every word model's Gaussians towards its training examples and away
        from the examples of other words that it scores nearly as well (maximum mutual
        information, extended Baum-Welch). ``0``: none.
    unknown_models : int
        Stream models for each non-keyword label of speech (``_unknown_``: many
        different words), at most one per 5 of its training examples: the examples are
        grouped by k-means on the mean and spread of their features and their length,
        one model per group, and in the stream the label scores as its best model.
        Sharper models of the words to ignore make a stricter rival for the keywords:
        on the Speech Commands keyword stream (16 instead of 1) the misses at about 1
        false alarm per hour fell from 0.87 to 0.75. Files are still classified with
        one model per label (it recognises unseen ``_unknown_`` words better: 16 models
        took Speech Commands accuracy from 0.928 to 0.888). ``1``: one model.
    stream_n_mix : int
        Gaussians per state of the word models that the stream recognizer uses: the
        same models as they were at that stage of mixture splitting (1, 2, 4, ...),
        kept from the same training. On the Speech Commands keyword stream 4 Gaussians
        spotted keywords with fewer false alarms at the same misses than 8 (and streamed
        10-25% faster), while 8 classify whole files better. ``0``: the final models.
    feature_config : FeatureConfig or None
        ``None``: default settings at the (median) sample rate of the training files,
        with the mel filterbank ending at 3400 Hz for audio at 8 kHz or less.
    n_jobs : int
        Labels trained in parallel (``-1``: all cores).
    verbose : int
        1 prints one progress line per trained label to stderr.
    """

    def __init__(self, n_states="auto", n_mix=8, skip=True, n_iter=8, var_floor=0.05,
                 speeds=_DEFAULT_SPEEDS, warps=_DEFAULT_WARPS, noise_snrs=_DEFAULT_NOISE_SNRS,
                 mmi_iter=_DEFAULT_MMI_ITER, unknown_models=_DEFAULT_UNKNOWN_MODELS,
                 stream_n_mix=_DEFAULT_STREAM_MIX, feature_config=None, n_jobs=-1, verbose=0):
        self.n_states = n_states
        self.n_mix = n_mix
        self.skip = skip
        self.n_iter = n_iter
        self.var_floor = var_floor
        self.speeds = speeds
        self.warps = warps
        self.noise_snrs = noise_snrs
        self.mmi_iter = mmi_iter
        self.unknown_models = unknown_models
        self.stream_n_mix = stream_n_mix
        self.feature_config = feature_config
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- inputs --------------------------------------------------------------------
    @staticmethod
    def _signal(x, cfg: FeatureConfig) -> np.ndarray:
        if isinstance(x, (str, Path)):
            y, _ = audio.load(x, cfg.sr)
            return y
        return audio.to_float_mono(x)

    def _features_of_signal(self, y: np.ndarray, cfg: FeatureConfig, name="signal") -> np.ndarray:
        feats = extract(y, cfg)
        _check_long_enough(feats, y, cfg, name)
        return feats

    def features(self, X) -> list[np.ndarray]:
        """Normalised feature sequences (n_frames, n_features) of each input."""
        self._check_fitted()
        cfg = self.feature_config_
        return [self._features_of_signal(self._signal(x, cfg), cfg, str(x) if isinstance(x, (str, Path)) else "signal")
                for x in X]

    # -- training ------------------------------------------------------------------
    def _check_params(self):
        if not (self.n_states == "auto" or (isinstance(self.n_states, (int, np.integer)) and self.n_states >= 1)):
            raise ParameterError(f"n_states must be a positive integer or 'auto', got {self.n_states!r}")
        if not isinstance(self.n_mix, (int, np.integer)) or self.n_mix < 1:
            raise ParameterError(f"n_mix must be a positive integer, got {self.n_mix!r}")
        if not isinstance(self.mmi_iter, (int, np.integer)) or self.mmi_iter < 0:
            raise ParameterError(f"mmi_iter must be a non-negative integer, got {self.mmi_iter!r}")
        if not isinstance(self.unknown_models, (int, np.integer)) or self.unknown_models < 1:
            raise ParameterError(f"unknown_models must be a positive integer, got {self.unknown_models!r}")
        if not isinstance(self.stream_n_mix, (int, np.integer)) or self.stream_n_mix < 0:
            raise ParameterError(f"stream_n_mix must be a non-negative integer, got {self.stream_n_mix!r}")
        if not 0 < self.var_floor < 1:
            raise ParameterError(f"var_floor must be between 0 and 1, got {self.var_floor!r}")
        for s in self.speeds:
            if not 0.5 <= s <= 2.0:
                raise ParameterError(f"speeds must lie between 0.5 and 2.0, got {s!r}")
        for w in self.warps:
            if not 0.7 <= w <= 1.3:
                raise ParameterError(f"warps must lie between 0.7 and 1.3, got {w!r}")
        for v in self.noise_snrs:
            if not -10.0 <= v <= 60.0:
                raise ParameterError(f"noise_snrs must lie between -10 and 60 dB, got {v!r}")

    def _log(self, msg: str):
        if self.verbose:
            print(msg, file=sys.stderr, flush=True)

    def fit(self, X, y, sample_weight=None) -> "HMMRecognizer":
        """Train one model per distinct label of ``y``; returns self.

        ``sample_weight``: per example, how many times it counts (whole numbers >= 0;
        default 1 each). An example of weight 5 trains the models exactly as five copies
        of it in ``X`` would, each with its own noisy copy. The use: a speaker's own few
        recordings among a corpus of many others (on FSDD, 5 examples per digit of a new
        speaker weighted 5 removed 62% of that speaker's errors on average over the six
        speakers, 31% for the hardest; see ``benchmarks/own_voice.py``).
        """
        self._check_params()
        X, y = list(X), [str(v) for v in y]
        if len(X) != len(y):
            raise ParameterError(f"X and y have different lengths ({len(X)} and {len(y)})")
        reps = np.ones(len(X), dtype=int) if sample_weight is None else _repeats(sample_weight, len(X))
        counts: dict[str, int] = {}  # files per label, whatever their weights
        for label, r in zip(y, reps):
            if r:
                counts[label] = counts.get(label, 0) + 1
        n_files = int(np.count_nonzero(reps))
        if not n_files:
            raise ParameterError("no training examples")
        names = [str(x) if isinstance(x, (str, Path)) else f"example {i}" for i, x in enumerate(X)]
        t0 = time.perf_counter()
        # an input of weight k stands for k copies of it: the settings and the noise plan are
        # those of the copies, but its own and warped features are computed once for all k
        copies_x = [x for x, r in zip(X, reps) for _ in range(r)]
        copies_y = [v for v, r in zip(y, reps) for _ in range(r)]
        cfg = _resolve_config(self.feature_config, copies_x)
        self.feature_config_ = cfg
        noises = self._noise_plan(copies_x, copies_y, cfg)
        bounds = np.concatenate([[0], np.cumsum(reps)])
        jobs = [(X[i], cfg, tuple(self.speeds), tuple(self.warps), noises[bounds[i]:bounds[i + 1]], names[i])
                for i in np.flatnonzero(reps)]
        feats = [copy for per_input in self._parallel(_features_job, jobs) for copy in per_input]
        X, y = copies_x, copies_y
        by_label: dict[str, list[np.ndarray]] = {}  # spoken parts: the word models
        whole: dict[str, list[np.ndarray]] = {}  # whole utterances: background, calibration
        outside: list[np.ndarray] = []  # frames around the spoken parts: the filler
        groups: dict[str, list[list[np.ndarray]]] = {}  # per input, the spoken parts of its copies
        for label, pairs in zip(y, feats):
            whole.setdefault(label, []).extend(f for f, _ in pairs)
            for f, (a, b) in pairs:
                outside.extend([f] if label in WHOLE_LABELS else [f[:a], f[b:]])
            whole_label = label in WHOLE_LABELS
            spans = [f if whole_label else f[a:b] for f, (a, b) in pairs]
            by_label.setdefault(label, []).extend(spans)
            if spans:
                groups.setdefault(label, []).append(spans)
        labels = sorted(by_label)
        weighted = f" ({len(X)} counting their weights)" if len(X) != n_files else ""
        self._log(f"features: {n_files} files{weighted}, {len(labels)} labels, {time.perf_counter() - t0:.1f} s")
        # owners: per job, the label index and which model of the label it is: 0 the label's
        # model, 1, 2, ... the stream's models of a label with several (see unknown_models)
        jobs, owners = [], []
        for k, label in enumerate(labels):
            parts = [by_label[label]]
            if _splits(label) and self.unknown_models > 1 and label in groups:
                clusters = _clusters(groups[label], self.unknown_models)
                if len(clusters) > 1:
                    parts += [[s for i in members for s in groups[label][i]] for members in clusters]
            for j, seqs in enumerate(parts):
                n_states = self.n_states
                if n_states == "auto":
                    med = float(np.median([len(s) for s in seqs]))
                    n_states = int(np.clip(round(med / _FRAMES_PER_STATE), _MIN_STATES, _MAX_STATES))
                name = label if j == 0 else f"{label}#{j}"
                jobs.append((name, seqs, n_states, self.n_mix, self.skip, self.n_iter, self.var_floor))
                owners.append((k, j))
        # a one-state background model of all training frames: the filler around words
        # and the non-keyword hypothesis of the stream scorer
        jobs.append((_BACKGROUND, _background_sample(whole), 1, _BACKGROUND_MIX, False, self.n_iter,
                     self.var_floor))
        outside = [f for f in outside if len(f)]
        has_filler = sum(len(f) for f in outside) >= _FILLER_MIN_FRAMES
        if has_filler:
            jobs.append((_FILLER, _background_sample({"": outside}), 1, _FILLER_MIX, False, self.n_iter,
                         self.var_floor))
        results = self._parallel(_fit_one, jobs, progress=True)
        # too little silence around the training words: the background doubles as filler
        self.filler_ = results.pop()[1].params_ if has_filler else None
        self.background_ = results.pop()[1].params_
        if self.filler_ is None:
            self.filler_ = self.background_
        durations = {lab: [len(s) * cfg.hop_s for s in by_label[lab]] for lab in labels}
        self.classes_ = np.array(labels)
        first = [r for r, (_, j) in zip(results, owners) if j == 0]
        self.models_ = [m.params_ for _, m, _ in first]
        self.stream_models_ = [_stage(m, self.stream_n_mix) for _, m, _ in first]
        # a label with several stream models: its first group's model takes the label's
        # place in the stream, the others follow (extra_labels_: their label indices)
        extra_labels, self.extra_stream_models_ = [], []
        for (k, j), (_, m, _) in zip(owners, results):
            if j == 1:
                self.stream_models_[k] = _stage(m, self.stream_n_mix)
            elif j > 1:
                extra_labels.append(k)
                self.extra_stream_models_.append(_stage(m, self.stream_n_mix))
        self.extra_labels_ = np.array(extra_labels, dtype=int)
        self.n_examples_ = {lab: counts[lab] for lab in labels}
        floors = [m.var_floor_ for _, m, _ in first]
        # the stream uses the final models themselves when stream_n_mix >= n_mix (same objects)
        stream_is_final = all(sm is m for sm, m in zip(self.stream_models_, self.models_))
        for i in range(self.mmi_iter):
            t1 = time.perf_counter()
            self.models_, changed = self._mmi_step(self.models_, [], labels, whole, by_label, floors)
            self.stream_models_ = (self.models_ if stream_is_final else
                                   self._mmi_step(self.stream_models_, self.extra_stream_models_, labels, whole,
                                                  by_label, floors)[0])
            self._log(f"discriminative iteration {i + 1}: {changed} examples weighed, {time.perf_counter() - t1:.1f} s")
        self._bank = self._make_bank()
        self.temperature_ = self._calibrate(whole)
        self.training_summary_ = {
            "n_files": n_files,
            "examples": self.n_examples_,
            "n_states": {lab: int(m.n_states) for lab, m in zip(labels, self.models_)},
            "n_mix": int(self.n_mix),
            "stream_n_mix": int(max(m.n_mix for m in self.stream_models_)),
            "speeds": [float(s) for s in self.speeds],
            "warps": [float(w) for w in self.warps],
            "noise_snrs": [float(v) for v in self.noise_snrs],
            "mmi_iter": int(self.mmi_iter),
            "stream_models_per_label": {lab: 1 + int(np.sum(self.extra_labels_ == k)) for k, lab in enumerate(labels)},
            "seconds": round(time.perf_counter() - t0, 2),
            "duration_s": {lab: {"p50": round(float(np.percentile(d, 50)), 3), "p95": round(float(np.percentile(d, 95)), 3)}
                           for lab, d in durations.items()},
            "log_likelihood_history": {lab: m.log_likelihood_history for lab, m in zip(labels, self.models_)},
        }
        self._log(f"trained {len(labels)} models in {self.training_summary_['seconds']:.1f} s")
        return self

    def _mmi_step(self, models, extras, labels, whole, by_label, floors) -> tuple[list[HMMParams], int]:
        """One extended Baum-Welch iteration of every word model (see ``mmi_iter``).

        ``models``: one per label; ``extras``: further models of the labels
        ``extra_labels_`` (or none). The models of those labels compete but are left as they are.

        The posteriors come from scoring each whole training utterance as recognition
        does; the statistics from the spoken parts, as in the maximum-likelihood training.
        A model's own examples count with weight ``1 - posterior`` (what it still has to
        win), the others' with their posterior for it (what it wrongly claims).
        """
        n = [len(by_label[lab]) for lab in labels]
        truth = np.repeat(np.arange(len(labels)), n)
        parts = [f for lab in labels for f in by_label[lab]]
        bank = self._make_bank(models, extras)
        several = self.extra_labels_ if extras else np.zeros(0, dtype=int)
        ll = self._label_loglik(self._score_many(bank, [f for lab in labels for f in whole[lab]]), several)
        z = _MMI_KAPPA * ll
        top = z.max(1, keepdims=True)
        ok = np.isfinite(top[:, 0])
        post = np.zeros_like(z)
        with np.errstate(invalid="ignore", over="ignore"):
            post[ok] = np.exp(z[ok] - top[ok])
        post[ok] /= post[ok].sum(1, keepdims=True)
        post[~ok, truth[~ok]] = 1.0  # not scorable: no weight anywhere
        jobs = []
        changed = 0
        out = list(models)
        todo = sorted(set(range(len(labels))) - set(several.tolist()))
        for k in todo:
            own = np.flatnonzero(truth == k)
            w_own = 1.0 - post[own, k]
            keep = w_own > _MMI_MIN_WEIGHT
            rivals = np.flatnonzero((truth != k) & (post[:, k] > _MMI_MIN_WEIGHT))
            changed += int(keep.sum()) + len(rivals)
            jobs.append((models[k], [parts[i] for i in own[keep]], w_own[keep],
                         [parts[i] for i in rivals], post[rivals, k], floors[k]))
        for k, m in zip(todo, self._parallel(_mmi_one, jobs)):
            out[k] = m
        return out, changed

    def _noise_plan(self, X, y, cfg) -> list:
        """Per input, the (noise signal, SNR in dB) pairs of its noisy copies (fixed seed)."""
        plan = [[] for _ in X]
        if not self.noise_snrs:
            return plan
        noise = [self._signal(x, cfg) for x, lab in zip(X, y) if lab in WHOLE_LABELS]
        noise = [n for n in noise if len(n) > 0 and np.any(n != 0)]
        if not noise:  # no recorded background: coloured noise stands in for it
            noise = synthetic_noises(cfg.sr)
        rng = np.random.default_rng(0)
        for i, lab in enumerate(y):
            if lab in WHOLE_LABELS:
                continue
            for v in self.noise_snrs:
                plan[i].append((noise[int(rng.integers(len(noise)))], float(rng.uniform(v, v + _NOISE_SNR_SPAN_DB)),
                                int(rng.integers(1 << 30))))
        return plan

    def _score_many(self, bank: ModelBank, seqs: list) -> np.ndarray:
        """``bank.score`` of every sequence, (n, n_models), shared among the workers in
        contiguous slices (on FSDD's training set 10800 utterances, scored twice per
        discriminative iteration, for the word and the stream models: 9.4 s of a 30.6-s
        training when scored here alone)."""
        n_jobs = self._n_jobs()
        n_slices = 1 if n_jobs == 1 else 4 * n_jobs
        bounds = np.linspace(0, len(seqs), n_slices + 1).astype(int)
        jobs = [(bank, seqs[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        out = self._parallel(_score_slice, jobs)
        return np.vstack(out) if out else np.zeros((0, bank.n_models))

    def _n_jobs(self) -> int:
        """Worker processes to use: ``n_jobs``, with None or 0 meaning 1 and -1 every core."""
        n_jobs = self.n_jobs if self.n_jobs not in (None, 0) else 1
        return (os.cpu_count() or 1) if n_jobs < 0 else n_jobs

    def _parallel(self, fn, jobs, progress=False):
        n_jobs = self._n_jobs()
        results = []
        if n_jobs == 1 or len(jobs) < 2:
            for job in jobs:
                results.append(fn(*job))
                self._progress(results[-1], progress, len(results), len(jobs))
            return results
        from joblib import Parallel, delayed

        batch = "auto" if not progress else 1
        gen = Parallel(n_jobs=min(n_jobs, len(jobs)), return_as="generator", batch_size=batch)(
            delayed(fn)(*job) for job in jobs)
        for r in gen:
            results.append(r)
            self._progress(r, progress, len(results), len(jobs))
        return results

    def _progress(self, result, progress, i, n):
        if progress:
            label, model, secs = result
            p = model.params_
            self._log(f"[{i}/{n}] {label}: {model.n_sequences_} sequences, {p.n_states} states x "
                      f"{p.n_mix} Gaussians, {len(p.log_likelihood_history)} EM iterations, {secs:.1f} s")

    def _calibrate(self, by_label) -> float:
        """Temperature for the posterior over labels, fitted on (a sample of) training data."""
        from scipy.optimize import minimize_scalar

        rng = np.random.default_rng(0)
        rows, truth = [], []
        for k, label in enumerate(self.classes_):
            seqs = by_label[label]
            for i in rng.choice(len(seqs), size=min(len(seqs), 30), replace=False):
                rows.append(self._bank.score(seqs[i]) / len(seqs[i]))
                truth.append(k)
        z, truth = np.array(rows), np.array(truth)
        z = np.where(np.isfinite(z), z, np.nanmin(np.where(np.isfinite(z), z, np.nan)) - 100)

        def loss(log_t):
            s = z * np.exp(log_t)
            s = s - s.max(1, keepdims=True)
            return -(s[np.arange(len(truth)), truth] - np.log(np.exp(s).sum(1))).mean()

        return float(np.exp(minimize_scalar(loss, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded").x))

    # -- use -----------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "models_"):
            raise NotFittedError("this HMMRecognizer is not fitted yet; call fit() or HMMRecognizer.load()")

    def scoring_models(self, models=None) -> list[tuple[HMMParams, np.ndarray, np.ndarray]]:
        """(params, start probabilities, final states) of every label's model as scored.

        Word models sit between two copies of the filler model; models of
        :data:`WHOLE_LABELS` explain the whole input, or the filler alone does.
        ``models``: other word models in the place of ``models_``.
        """
        self._check_fitted()
        return [self._scored(label, m) for label, m in zip(self.classes_, self.models_ if models is None else models)]

    def _scored(self, label, m: HMMParams):
        if label in WHOLE_LABELS:
            return filler_or_model(m, self.filler_)
        return wrap_with_filler(m, self.filler_, _FILLER_STAY)

    def _make_bank(self, models=None, extras=()) -> ModelBank:
        """Bank of one model per label (``classes_`` order), then ``extras`` (of labels ``extra_labels_``)."""
        scored = self.scoring_models(models)
        scored += [self._scored(self.classes_[k], m) for k, m in zip(self.extra_labels_, extras)]
        return ModelBank([w[0] for w in scored], starts=[w[1] for w in scored], finals=[w[2] for w in scored])

    def _label_loglik(self, rows: np.ndarray, extra_labels) -> np.ndarray:
        """Scores of one model per label and then of further models of the labels
        ``extra_labels`` (last axis) -> scores of the labels: each label's best model."""
        rows = np.asarray(rows)
        n = len(self.classes_)
        out = rows[..., :n].copy()
        for j, k in enumerate(extra_labels):
            out[..., k] = np.maximum(out[..., k], rows[..., n + j])
        return out

    @property
    def bank(self) -> ModelBank:
        """The joint scorer of all word models, each between two copies of the background model.

        Model ``k`` has the background (filler) state first, then the word's states,
        then the filler again: silence or noise around a word is left to the filler.
        """
        self._check_fitted()
        return self._bank

    @property
    def keyword_mask_(self) -> np.ndarray:
        """True for labels that are keywords (not ``_...``)."""
        return np.array([is_keyword(c) for c in self.classes_])

    def loglik_features(self, feats: np.ndarray) -> np.ndarray:
        """Log-likelihood of one normalised feature sequence under every model."""
        return self.bank.score(feats)

    def loglik(self, X) -> np.ndarray:
        """(n_inputs, n_labels) log-likelihoods, columns in ``classes_`` order."""
        return np.array([self.loglik_features(f) for f in self.features(X)])

    decision_function = loglik

    def proba_from_loglik(self, ll: np.ndarray, n_frames) -> np.ndarray:
        """Posterior over labels from log-likelihoods of sequences of ``n_frames``."""
        ll = np.atleast_2d(ll)
        n = np.asarray(n_frames, dtype=float).reshape(-1, 1)
        z = ll / n * self.temperature_
        z = np.where(np.isfinite(z), z, -np.inf)
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def predict_proba(self, X) -> np.ndarray:
        """(n_inputs, n_labels) posterior over labels (calibrated softmax of per-frame log-likelihood)."""
        feats = self.features(X)
        ll = np.array([self.loglik_features(f) for f in feats])
        return self.proba_from_loglik(ll, [len(f) for f in feats])

    def predict(self, X) -> np.ndarray:
        """Best label of each input."""
        ll = self.loglik(X)
        return self.classes_[np.argmax(ll, axis=1)]

    def decode(self, x, label=None) -> tuple[str, np.ndarray]:
        """Viterbi state path of one input under ``label``'s model (default: the best label).

        Returns
        -------
        label : str
        states : np.ndarray, shape (n_frames,), int
            The word model's state of each frame, ``-1`` before and after the word
            (frames the background model explains). Frame ``i`` starts at
            ``i * feature_config_.hop_s`` seconds.
        """
        feats = self.features([x])[0]
        if label is None:
            label = self.classes_[int(np.argmax(self.loglik_features(feats)))]
        if label not in self.classes_:
            raise ParameterError(f"unknown label {label!r}; the model knows {', '.join(self.classes_)}")
        k = int(np.flatnonzero(self.classes_ == label)[0])
        n = self.models_[k].n_states
        scored = self.bank.params[k]
        log_b = self.bank.state_loglik(feats)[:, k, : scored.n_states]
        if label in WHOLE_LABELS:  # the label's own model, first frame to last
            return str(label), viterbi(log_b[:, 1:], self.models_[k].transmat)[1]
        _, path = viterbi_wrapped(log_b, scored.transmat)
        # word states 0..n-1; -1 where the filler (silence, noise around the word) holds
        return str(label), np.where((path >= 1) & (path <= n), path - 1, -1)

    # -- files ---------------------------------------------------------------------
    def save(self, path, overwrite: bool = False) -> Path:
        """Write the model as a safe ``.npz`` (arrays + JSON header); refuses to overwrite."""
        self._check_fitted()
        p = Path(path)
        if p.exists() and not overwrite:
            raise HmmrecError(f"{p}: already exists; not overwriting (choose another name or remove it)")
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "labels": [str(c) for c in self.classes_],
            "feature_config": self.feature_config_.to_dict(),
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()
                       if k not in ("feature_config",)},
            "temperature": self.temperature_,
            "training": self.training_summary_,
            "extra_labels": [int(k) for k in self.extra_labels_],
        }
        arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
        named = [(f"m{k}", m) for k, m in enumerate(self.models_)] + [("bg", self.background_), ("fl", self.filler_)]
        named += [(f"s{k}", m) for k, (m, full) in enumerate(zip(self.stream_models_, self.models_)) if m is not full]
        named += [(f"x{j}", m) for j, m in enumerate(self.extra_stream_models_)]
        for prefix, m in named:
            for key in ("transmat", "weights", "means", "variances"):
                arrays[f"{prefix}_{key}"] = getattr(m, key)
        tmp = p.with_name(p.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, p)
        return p

    @classmethod
    def load(cls, path) -> "HMMRecognizer":
        """Read a model file written by :meth:`save`. Never executes code from the file."""
        p = Path(path)
        if not p.exists():
            raise ModelFileError(f"{path}: no such file")
        if p.is_dir():
            raise ModelFileError(f"{path}: is a directory, not a model file")
        if not zipfile.is_zipfile(p):
            raise ModelFileError(f"{path}: not an hmmrec model file")
        try:
            with np.load(p, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zip or npy damage of any kind
            raise ModelFileError(f"{path}: not a readable hmmrec model file ({type(exc).__name__})") from None
        try:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
            if header.get("format") != FORMAT_NAME:
                raise ValueError("wrong format name")
        except Exception:
            raise ModelFileError(f"{path}: not an hmmrec model file (no valid header)") from None
        version = header.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelFileError(f"{path}: model format version {version!r} is newer than this hmmrec "
                                 f"understands ({FORMAT_VERSION}); upgrade hmmrec")
        if version < FORMAT_VERSION:
            warnings.warn(f"{path}: model format version {version} is older than {FORMAT_VERSION}", stacklevel=2)
        try:
            params = header["params"]
            params["speeds"] = tuple(params.get("speeds", ()))
            params["warps"] = tuple(params.get("warps", ()))
            params["noise_snrs"] = tuple(params.get("noise_snrs", ()))
            rec = cls(**params)
            rec.feature_config_ = FeatureConfig.from_dict(header["feature_config"])
            rec.feature_config = None
            labels = header["labels"]
            models = []
            prefixes = [f"m{k}" for k in range(len(labels))] + ["bg"] + (["fl"] if "fl_transmat" in data else [])
            names = list(labels) + [_BACKGROUND, _FILLER]
            n_features = rec.feature_config_.n_features
            for prefix, name in zip(prefixes, names):
                m = _read_params(data, prefix, n_features, f"model {name}")
                m.log_likelihood_history = header["training"].get("log_likelihood_history", {}).get(name, [])
                models.append(m)
            # labels with several stream models (see unknown_models)
            extra = [int(k) for k in header.get("extra_labels", [])]
            if any(not 0 <= k < len(labels) for k in extra):
                raise ValueError("extra_labels out of range")
            # the streaming stage of each word model (the same states, unless the label has
            # several stream models); absent: the final model (or an older file)
            rec.stream_models_ = [_read_params(data, f"s{k}", n_features, f"stream model {labels[k]}",
                                               n_states=None if k in extra else full.n_states)
                                  if f"s{k}_transmat" in data else full
                                  for k, full in enumerate(models[: len(labels)])]
            rec.filler_ = models.pop() if "fl_transmat" in data else None
            rec.background_ = models.pop()
            if rec.filler_ is None:  # files written before the filler model existed
                rec.filler_ = rec.background_
            rec.classes_ = np.array(labels)
            rec.models_ = models
            rec.extra_labels_ = np.array(extra, dtype=int)
            rec.extra_stream_models_ = [_read_params(data, f"x{j}", n_features, f"stream model {labels[k]} "
                                                     f"(further model {j})") for j, k in enumerate(extra)]
            rec.temperature_ = float(header["temperature"])
            rec.training_summary_ = header["training"]
            rec.n_examples_ = header["training"].get("examples", {})
            rec._bank = rec._make_bank()
        except ModelFileError:
            raise
        except Exception as exc:
            raise ModelFileError(f"{path}: damaged hmmrec model file ({exc})") from None
        return rec


def _repeats(sample_weight, n: int) -> np.ndarray:
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


def _add_noise(y: np.ndarray, noise: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``y`` plus a random stretch of ``noise`` (repeated as needed) at ``snr_db``."""
    rng = np.random.default_rng(seed)
    start = int(rng.integers(len(noise)))
    n = np.resize(np.roll(noise, -start), len(y)).astype(np.float64)
    p_signal, p_noise = float(np.mean(np.square(y, dtype=np.float64))), float(np.mean(n * n))
    if p_signal == 0 or p_noise == 0:
        return y
    return (y + n * np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))).astype(np.float32)


def _features_job(x, cfg: FeatureConfig, speeds: tuple, warps: tuple, noise_plans: list, name: str) -> list:
    """Per copy of one training input (one per plan of its noisy copies, see ``_noise_plan``)
    the (normalised features, spoken span) of the input and of its perturbed copies: the
    input's own, speed-perturbed and warped ones, computed once and shared by the copies,
    then the copy's noisy ones."""
    from dataclasses import replace

    y = HMMRecognizer._signal(x, cfg)

    def pairs(variants) -> list:
        out = []
        for signal, c in variants:
            raw = extract(signal, c, normalise=False)
            if len(raw) >= 2:
                out.append((normalize(raw, c), spoken_span(raw)))
        return out

    raw = extract(y, cfg, normalise=False)
    _check_long_enough(raw, y, cfg, name)
    shared = [(normalize(raw, cfg), spoken_span(raw))]
    shared += pairs([(_speed_perturb(y, s), cfg) for s in speeds] + [(y, replace(cfg, warp=w)) for w in warps])
    return [shared + pairs([(_add_noise(y, n, snr, seed), cfg) for n, snr, seed in plan]) for plan in noise_plans]


def _check_long_enough(frames: np.ndarray, y: np.ndarray, cfg: FeatureConfig, name: str) -> None:
    """A clear ParameterError when a signal gave fewer than two frames."""
    if len(frames) < 2:
        raise ParameterError(f"{name}: too short to recognise ({len(y) / cfg.sr * 1000:.0f} ms; "
                             f"need at least {2 * cfg.hop_s * 1000 + cfg.win_s * 1000:.0f} ms)")
