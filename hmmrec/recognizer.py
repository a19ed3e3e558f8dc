"""The word recognizer: one left-to-right GMM-HMM per label, scored together.

:class:`HMMRecognizer` follows scikit-learn's estimator contract: ``__init__`` only
stores its arguments, ``fit(X, y)`` validates and trains and returns ``self``, fitted
state ends in ``_``, and ``predict``/``predict_proba``/``score`` work as usual. ``X``
is a list of audio file paths or of float mono signals at ``feature_config.sr``.

``fit`` is a short template of named steps: the features of every input and its
training copies (:mod:`hmmrec.augment`), maximum-likelihood word models (:mod:`hmmrec.hmm`),
a background and a filler model, discriminative training, a frame classifier beside
the Gaussians (:mod:`hmmrec.framenet`) and calibration (:mod:`hmmrec.discriminative`).
Model files are :mod:`hmmrec.modelfile`. The stream recognizer gets what it needs
through one object, :meth:`HMMRecognizer.stream_models`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .augment import signal_of
from .bank import ModelBank, best_of_models, filler_or_model, wrap_with_filler
from .corpus import speaker_of
from .discriminative import MMITrainer, calibration_sample, fit_temperature, true_label_leads
from .errors import ModelFileError, NotFittedError, ParameterError
from .features import FeatureConfig, extract, filterbank_frames
from .framenet import EPOCHS, train_frame_net
from .normalization import check_long_enough
from .hmm import HMMParams, viterbi, viterbi_wrapped
from .labels import has_several_models, is_keyword, is_whole
from .modelfile import ModelContents, read_model, write_model
from .progress import Background, Stopped, TrainingProgress, plural, print_progress, resolve_n_jobs, run_jobs
from .speech import Speech, listen, ruled_out
from .training import TrainingData, background_sample, fit_one, model_jobs, stage, training_data, training_summary

__all__ = ["HMMRecognizer", "Recognition", "StreamModels", "DEFAULT_OWN_WEIGHT"]

# how many times a speaker's own recordings count beside a corpus of other voices
# (hmmrec train --own; chosen with benchmarks/own_voice.py)
DEFAULT_OWN_WEIGHT = 5
_BACKGROUND = "(background)"
_BACKGROUND_MIX = 16
_FILLER = "(filler)"
_FILLER_MIX = 8
_FILLER_MIN_FRAMES = 100
# the stream window holds the longest typical keyword (95th percentile) plus this, within bounds
_WINDOW_MARGIN_S = 0.1
_MIN_WINDOW_S, _MAX_WINDOW_S = 0.5, 2.0
# how training ran, not what it made: left out of model files (see HMMRecognizer.save)
_NOT_SAVED_PARAMS = ("feature_config", "n_jobs", "verbose")  # (feature_config is saved on its own)
_NOT_SAVED_SUMMARY = ("seconds",)
# progress events while the features are extracted: about this many, whatever the number of files
_FILE_EVENTS = 200
# filterbank_net="auto": the second network is trained from this many distinct speakers up
# (it cost FSDD's five training voices and gained on Speech Commands from ten: RESULTS.md)
FILTERBANK_NET_MIN_SPEAKERS = 10
# unknown_bias: nats per frame for _unknown_ when inputs are classified (see the class docstring)
UNKNOWN_BIAS = 0.15


def _count_speakers(X, y, speakers) -> int:
    """Distinct known speakers among training examples (``speakers`` given, or from the file names)."""
    if speakers is None:
        speakers = [speaker_of(x, label) for x, label in zip(X, y)]
    elif len(speakers) != len(y):
        raise ParameterError(f"fit: {len(speakers)} speakers for {len(y)} examples")
    return len({s for s in speakers if s})


@dataclass(frozen=True)
class Recognition:
    """What the recognizer says about one input (:meth:`HMMRecognizer.recognize`).

    Attributes
    ----------
    labels : np.ndarray of str, shape (n_labels,)
    loglik : np.ndarray, shape (n_labels,)
        Log-likelihood of the input under each label's model (nats).
    proba : np.ndarray, shape (n_labels,)
        Calibrated posterior over the labels.
    n_frames : int
        Feature frames of the input (one per ``feature_config_.hop_s`` seconds).
    """

    labels: np.ndarray
    loglik: np.ndarray
    proba: np.ndarray
    n_frames: int
    ruled_out: frozenset = frozenset()

    @property
    def best(self) -> int:
        """Index of the best label, among those the speech in the input does not rule out
        (:mod:`hmmrec.speech`). Its posterior stays what the models say: a voice that
        scores as silence but is speech gets a word with a low confidence."""
        if not self.ruled_out or len(self.ruled_out) >= len(self.labels):
            return int(np.argmax(self.loglik))
        ll = np.array(self.loglik, dtype=float)
        ll[list(self.ruled_out)] = -np.inf
        return int(np.argmax(ll))

    @property
    def label(self) -> str:
        """The best label."""
        return str(self.labels[self.best])

    @property
    def confidence(self) -> float:
        """Posterior of the best label."""
        return float(self.proba[self.best])

    def ranked(self) -> list[tuple[str, float, float]]:
        """(label, log-likelihood, posterior) of every label, best first (labels the speech
        rules out last)."""
        order = sorted(range(len(self.labels)), key=lambda i: (i in self.ruled_out, -self.loglik[i]))
        return [(str(self.labels[i]), float(self.loglik[i]), float(self.proba[i])) for i in order]


@dataclass(frozen=True)
class StreamModels:
    """What the stream recognizer needs of a fitted recognizer (:meth:`HMMRecognizer.stream_models`).

    Attributes
    ----------
    labels : np.ndarray of str
    keyword : np.ndarray of bool
        True for keyword labels (see :mod:`hmmrec.labels`).
    feature_config : FeatureConfig
    wrapped : list of (HMMParams, start, final)
        Each label's stream model between two copies of the background model (for
        :class:`~hmmrec.bank.ModelBank`), in ``labels`` order.
    background : HMMParams
        The one-state background model: the non-keyword hypothesis of the stream.
    extra_wrapped : list of (HMMParams, start, final)
        Further stream models of the labels ``extra_labels`` (``_unknown_``), wrapped alike.
    extra_labels : np.ndarray of int
    word_s : np.ndarray of float, shape (n_labels,)
        Typical (median) duration in seconds of each label's spoken part in training
        (NaN where unknown).
    window_s : float
        Default window: the longest typical keyword (95th percentile) plus a margin.
    word_posterior : callable
        ``word_posterior(x, filterbank=None)`` -> posterior over labels of one normalised
        segment ``x`` (n_frames, n_features), classified as one utterance by the file
        models; ``filterbank``: the segment's filterbank frames, for a second network.
    filterbank_of : callable or None
        ``filterbank_of(y)`` -> the filterbank frames of a segment's samples that
        ``word_posterior`` reads; None when the models read none.
    """

    labels: np.ndarray
    keyword: np.ndarray
    feature_config: FeatureConfig
    wrapped: list
    background: HMMParams
    extra_wrapped: list
    extra_labels: np.ndarray
    word_s: np.ndarray
    window_s: float
    word_posterior: Callable = field(repr=False)
    filterbank_of: Callable | None = field(default=None, repr=False)

    def label_scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores of one model per label, then of the ``extra_wrapped`` models (last axis)
        -> scores of the labels: each label's best model."""
        return best_of_models(rows, len(self.labels), self.extra_labels)


class HMMRecognizer(ClassifierMixin, BaseEstimator):
    """Isolated-word recognizer with one left-to-right GMM-HMM per label.

    Parameters
    ----------
    n_states : int or "auto"
        States per word model; ``"auto"`` gives each label about one state per
        4 frames of its median spoken part, between 3 and 16.
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
        perturbation). ``()`` for none.
    warps : tuple of float
        Extra copies of every training utterance with the mel filterbank warped by
        these factors (vocal tract length perturbation). ``()`` for none.
    noise_snrs : tuple of float
        Extra copies of every word utterance with background noise added: for each
        value ``v`` one copy at a signal-to-noise ratio drawn from ``[v, v + 10]`` dB
        (see :mod:`hmmrec.augment`). ``()`` for none.
    mmi_iter : int
        Iterations of discriminative training after the maximum-likelihood one (see
        :mod:`hmmrec.discriminative`). ``0``: none.
    net_weight : float
        Share of each file's label scores that comes from a frame classifier trained on
        the aligned states of all the word models (:mod:`hmmrec.framenet`), the rest
        from the Gaussians; ``0``: no classifier (faster training). The two make
        different mistakes on new voices. The stream spots candidates with the
        Gaussians and checks each as a file is scored.
    filterbank_net : "auto" or bool
        Train a second frame classifier beside the first, reading a log mel filterbank
        of the signal (:func:`~hmmrec.features.filterbank_frames`) instead of the
        cepstra; the two networks' scaled likelihoods are averaged. It reads detail the
        cepstra smooth away and errs elsewhere, at twice the network's training time,
        but that detail includes the voice: trained on a handful of speakers it learns
        their voices and does worse on a new one. ``"auto"``: only when the training
        data has at least ``FILTERBANK_NET_MIN_SPEAKERS`` distinct known speakers (see
        ``speakers`` in :meth:`fit`). Inputs scored from their features alone, without
        the signal, use the first only.
    unknown_bias : float
        Nats per frame added to the score of each non-keyword label of speech
        (``_unknown_``) when inputs are classified. One model of many different words
        fits a new voice's word less tightly than that word's own model fits it, so
        without it the keywords take the words they should leave. The default is the
        value whose worst label's recall was highest in cross-validation over the
        training speakers of Speech Commands (``benchmarks/unknown_bias.py``).
        Training does not use it, nor does the stream's check of a candidate: there
        the sensitivity sets the trade, and most false alarms are keywords heard as
        other keywords.
    unknown_models : int
        Stream models for each non-keyword label of speech (``_unknown_``: many
        different words), at most one per 5 of its training examples: the examples are
        grouped by k-means on the mean and spread of their features and their length,
        one model per group, and in the stream the label scores as its best model.
        Sharper models of the words to ignore make a stricter rival for the keywords.
        Files are still classified with one model per label, which recognises unseen
        ``_unknown_`` words better. ``1``: one model.
    stream_n_mix : int
        Gaussians per state of the word models that the stream recognizer uses: the
        same models as they were at that stage of mixture splitting (1, 2, 4, ...),
        kept from the same training. Fewer Gaussians spot keywords with fewer false
        alarms and stream faster, more classify whole files better. ``0``: the final models.
    feature_config : FeatureConfig or None
        ``None``: default settings at the (median) sample rate of the training files,
        with the mel filterbank ending at 3400 Hz for audio at 8 kHz or less.
    n_jobs : int
        Worker processes for training (``-1``: all cores). Inside
        :func:`hmmrec.cluster.on_cluster` the work goes to the Dask cluster's workers
        instead, and ``n_jobs`` is not used. The models are the same bits either way.
    verbose : int
        1 prints training progress to stderr (see :func:`hmmrec.progress.print_progress`).

    The defaults are the settings that did best on unseen speakers; see
    benchmarks/RESULTS.md.
    """

    def __init__(self, n_states="auto", n_mix=8, skip=True, n_iter=8, var_floor=0.05, speeds=(), warps=(0.9, 1.1),
                 noise_snrs=(10.0,), mmi_iter=1, net_weight=0.4, filterbank_net="auto", unknown_bias=UNKNOWN_BIAS,
                 unknown_models=16,
                 stream_n_mix=4, feature_config=None, n_jobs=-1, verbose=0):
        self.n_states = n_states
        self.n_mix = n_mix
        self.skip = skip
        self.n_iter = n_iter
        self.var_floor = var_floor
        self.speeds = speeds
        self.warps = warps
        self.noise_snrs = noise_snrs
        self.mmi_iter = mmi_iter
        self.net_weight = net_weight
        self.filterbank_net = filterbank_net
        self.unknown_bias = unknown_bias
        self.unknown_models = unknown_models
        self.stream_n_mix = stream_n_mix
        self.feature_config = feature_config
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- training ------------------------------------------------------------------
    def _check_params(self):
        if not (self.n_states == "auto" or (isinstance(self.n_states, (int, np.integer)) and self.n_states >= 1)):
            raise ParameterError(f"n_states must be a positive integer or 'auto', got {self.n_states!r}")
        for name, low in (("n_mix", 1), ("mmi_iter", 0), ("unknown_models", 1), ("stream_n_mix", 0)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < low:
                kind = "a positive" if low else "a non-negative"
                raise ParameterError(f"{name} must be {kind} integer, got {v!r}")
        if self.n_jobs is not None and (not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool)
                                        or self.n_jobs == 0 or abs(self.n_jobs) > 4096):
            raise ParameterError(f"n_jobs must be a non-zero integer (-1: every core), got {self.n_jobs!r}")
        for name, low, high, unit in (("net_weight", 0, 1, ""), ("unknown_bias", -1, 1, " (nats per frame)")):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not low <= v <= high:
                raise ParameterError(f"{name} must be a number from {low} to {high}{unit}, got {v!r}")
        if not (isinstance(self.filterbank_net, (bool, np.bool_)) or self.filterbank_net == "auto"):
            raise ParameterError(f"filterbank_net must be 'auto', True or False, got {self.filterbank_net!r}")
        if not isinstance(self.var_floor, (int, float)) or not 0 < self.var_floor < 1:
            raise ParameterError(f"var_floor must be between 0 and 1, got {self.var_floor!r}")
        for name, low, high, unit in (("speeds", 0.5, 2.0, ""), ("warps", 0.7, 1.3, ""),
                                      ("noise_snrs", -10.0, 60.0, " dB")):
            for v in getattr(self, name):
                if not low <= v <= high:
                    raise ParameterError(f"{name} must lie between {low:g} and {high:g}{unit}, got {v!r}")

    def fit(self, X, y, sample_weight=None, *, speakers=None,
            progress: Callable[[TrainingProgress], None] | None = None):
        """Train one model per distinct label of ``y``; returns self.

        Parameters
        ----------
        X : list of paths or float mono signals
        y : list of str
        sample_weight : list of int or None
            Per example, how many times it counts (whole numbers >= 0; default 1 each).
            An example of weight 5 trains the models exactly as five copies of it in
            ``X`` would, each with its own noisy copy: for a speaker's own few recordings
            among a corpus of many other voices.
        speakers : list of str or None
            Per example, its speaker (None: unknown); default: from the file names, as
            :mod:`hmmrec.corpus` reads them. Only counted (``filterbank_net="auto"``).
        progress : callable or None
            Called with a :class:`~hmmrec.progress.TrainingProgress` at every step;
            ``None``: printed to stderr when ``verbose``, else silent.

        Everything runs with one BLAS thread (the workers too): the last bits of a BLAS
        product can change with the number of threads, and the models must be the same
        however many processes, or which cluster, trained them.
        """
        from threadpoolctl import threadpool_limits

        self._check_params()
        with threadpool_limits(1, user_api="blas"):
            return self._fit(X, y, sample_weight, speakers, progress)

    def _fit(self, X, y, sample_weight, speakers, progress):
        t0 = time.perf_counter()
        report = progress or (print_progress if self.verbose else None)

        def step(stage, done, total, message, item=""):
            if report is not None:
                report(TrainingProgress(stage, done, total, message, time.perf_counter() - t0, item))

        def read(done, total, name):  # (about _FILE_EVENTS events, not one per file of a large corpus)
            if done == total or done % max(1, total // _FILE_EVENTS) == 0:
                step("files", done, total, f"features: {done}/{total} files", name)

        n_speakers = _count_speakers(X, y, speakers)
        second = (n_speakers >= FILTERBANK_NET_MIN_SPEAKERS if self.filterbank_net == "auto"
                  else bool(self.filterbank_net))
        data = training_data(X, y, sample_weight, feature_config=self.feature_config, speeds=self.speeds,
                             warps=self.warps, noise_snrs=self.noise_snrs, n_jobs=self.n_jobs, on_input=read,
                             filterbank=bool(self.net_weight) and second)
        self.feature_config_ = data.feature_config
        weighted = f" ({data.n_copies} counting their weights)" if data.n_copies != data.n_files else ""
        step("features", 1, 1, f"features: {data.n_files} files{weighted}, {len(data.labels)} labels, "
                               f"{time.perf_counter() - t0:.1f} s")
        self._fit_models(data, step)
        self._fit_discriminative(data, step)
        self._bank = self._make_bank()
        self._fit_frame_net(data, step)
        views = {id(f): g for label, fs in data.filterbank.items() for f, g in zip(data.whole[label], fs)}
        z, truth = calibration_sample(lambda f: self.loglik_features(f, views.get(id(f))), self.classes_, data.whole)
        self.temperature_ = fit_temperature(z, truth)
        leads = true_label_leads(z, truth, self.temperature_)[self.keyword_mask_[truth]]
        self.training_summary_ = training_summary(self, data, time.perf_counter() - t0) | {"speakers": n_speakers}
        if len(leads):  # (how confidently the models know their own keywords: see strictest_score)
            self.training_summary_["keyword_lead_p50"] = round(float(np.median(leads)), 4)
        step("done", 1, 1, f"trained {len(data.labels)} models in {self.training_summary_['seconds']:.1f} s")
        return self

    def _fit_models(self, data: TrainingData, step) -> None:
        """Maximum-likelihood word models, the background model and the filler model."""
        jobs, owners = model_jobs(data, n_states=self.n_states, n_mix=self.n_mix, skip=self.skip, n_iter=self.n_iter,
                                  var_floor=self.var_floor, unknown_models=self.unknown_models)
        # a one-state background model of all training frames: the non-keyword hypothesis
        # of the stream, and the filler around words when there is too little silence
        jobs.append((_BACKGROUND, background_sample(data.whole), 1, _BACKGROUND_MIX, False, self.n_iter,
                     self.var_floor))
        outside = [f for f in data.outside if len(f)]
        has_filler = sum(len(f) for f in outside) >= _FILLER_MIN_FRAMES
        if has_filler:
            jobs.append((_FILLER, background_sample({"": outside}), 1, _FILLER_MIX, False, self.n_iter,
                         self.var_floor))

        def trained(result, done, total):
            label, model, secs = result
            p = model.params_
            step("model", done, total, f"[{done}/{total}] {label}: {plural(model.n_sequences_, 'sequence')}, "
                                       f"{plural(p.n_states, 'state')} x {plural(p.n_mix, 'Gaussian')}, "
                                       f"{plural(len(p.log_likelihood_history), 'EM iteration')}, {secs:.1f} s",
                 label)

        step("model", 0, len(jobs), f"training {plural(len(jobs), 'model')}")
        results = run_jobs(fit_one, jobs, self.n_jobs, on_result=trained, one_by_one=True)
        self.filler_ = results.pop()[1].params_ if has_filler else None
        self.background_ = results.pop()[1].params_
        if self.filler_ is None:
            self.filler_ = self.background_
        self.classes_ = np.array(data.labels)
        first = [m for (_, m, _), (_, j) in zip(results, owners) if j == 0]
        self.models_ = [m.params_ for m in first]
        self.stream_models_ = [stage(m, self.stream_n_mix) for m in first]
        self._var_floors = [m.var_floor_ for m in first]
        # a label with several stream models: its first group's model takes the label's
        # place in the stream, the others follow (extra_labels_: their label indices)
        extra_labels, self.extra_stream_models_ = [], []
        for (k, j), (_, m, _) in zip(owners, results):
            if j == 1:
                self.stream_models_[k] = stage(m, self.stream_n_mix)
            elif j > 1:
                extra_labels.append(k)
                self.extra_stream_models_.append(stage(m, self.stream_n_mix))
        self.extra_labels_ = np.array(extra_labels, dtype=int)
        self.n_examples_ = dict(data.counts)

    def _fit_discriminative(self, data: TrainingData, step) -> None:
        """``mmi_iter`` MMI iterations of the word models and of the stream models."""
        trainer = MMITrainer(data.labels, data.whole, data.spoken, self._var_floors, self._make_bank, self.n_jobs)
        # the stream uses the final models themselves when stream_n_mix >= n_mix (same objects)
        stream_is_final = all(sm is m for sm, m in zip(self.stream_models_, self.models_))
        if self.mmi_iter:
            step("discriminative", 0, self.mmi_iter, f"discriminative training, {plural(self.mmi_iter, 'iteration')}")
        for i in range(self.mmi_iter):
            t1 = time.perf_counter()
            self.models_, changed = trainer.step(self.models_)
            self.stream_models_ = (self.models_ if stream_is_final else
                                   trainer.step(self.stream_models_, self.extra_stream_models_, self.extra_labels_)[0])
            weighed = (f"{plural(changed, 'training example')} weighed" if changed
                       else "every training example already recognised with certainty")
            step("discriminative", i + 1, self.mmi_iter,
                 f"discriminative iteration {i + 1}: {weighed}, {time.perf_counter() - t1:.1f} s")

    def _fit_frame_net(self, data: TrainingData, step) -> None:
        """The frame classifiers (``frame_net_`` and ``filterbank_net_``, None with
        ``net_weight=0``): every training utterance aligned to its own label's model as
        files are scored, each frame's emission state the target of both."""
        self.frame_net_, self.filterbank_net_, self._net_bank = None, None, self._bank
        if not self.net_weight:
            return
        bank = self._bank
        seqs, views, targets = [], [], []
        for k, label in enumerate(self.classes_):
            for i, seq in enumerate(data.whole[label]):
                path = bank.best_path(bank.state_loglik(seq), k)
                if len(path) and path[0] >= 0:
                    seqs.append(seq)
                    targets.append(bank.emission_columns(k)[path])
                    if data.filterbank:
                        views.append(data.filterbank[label][i])
        nets = [("cepstra", seqs)] + ([("filterbank", views)] if data.filterbank else [])
        total = EPOCHS * len(nets)
        step("network", 0, total, f"frame classifier: {sum(map(len, seqs))} frames of {len(seqs)} utterances")
        done = [0] * len(nets)

        def train(j, stop=None):
            def epoch(d, _, loss):
                done[j] = d
                if stop is not None:  # (in the background: the caller reports)
                    if stop.is_set():
                        raise Stopped
                    return
                step("network", sum(done), total, f"frame classifier ({nets[j][0]}): epoch {d}/{EPOCHS}, loss "
                                                  f"{loss:.3f}" + "".join(f"; {view}: epoch {done[i]}/{EPOCHS}"
                                                                          for i, (view, _) in enumerate(nets) if i != j))

            return train_frame_net(nets[j][1], targets, bank.n_emissions, epochs=EPOCHS,
                                   weight=float(self.net_weight), progress=epoch, view=nets[j][0])

        if len(nets) > 1 and resolve_n_jobs(self.n_jobs) > 1:
            # the second network in a thread beside the first: BLAS (one thread each) and
            # numpy's array work release the GIL, so two cores train both in about the time
            # of one, to the same bits
            rest = Background(lambda stop: [train(j, stop) for j in range(1, len(nets))])
            try:
                trained = [train(0)] + rest.result()
            finally:
                rest.stop()
            step("network", total, total, "frame classifiers trained")
        else:
            trained = [train(j) for j in range(len(nets))]
        self.frame_net_ = trained[0]
        self.filterbank_net_ = trained[1] if len(trained) > 1 else None

    # -- scoring -------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "models_"):
            raise NotFittedError("this HMMRecognizer is not fitted yet; call fit() or HMMRecognizer.load()")

    def _scored(self, label, m: HMMParams):
        """One label's model as files are scored: a word between two copies of the filler;
        a whole label (``_silence_``) its own model throughout, or the filler alone."""
        if is_whole(label):
            return filler_or_model(m, self.filler_)
        return wrap_with_filler(m, self.filler_)

    def scoring_models(self, models=None) -> list[tuple[HMMParams, np.ndarray, np.ndarray]]:
        """(params, start probabilities, final states) of every label's model as scored.

        ``models``: other word models in the place of ``models_``.
        """
        self._check_fitted()
        return [self._scored(label, m) for label, m in zip(self.classes_, self.models_ if models is None else models)]

    def _make_bank(self, models=None, extras=(), previous: ModelBank | None = None) -> ModelBank:
        """Bank of one model per label (``classes_`` order), then ``extras`` (of labels
        ``extra_labels_``); ``previous``: a bank of the same models before some of their
        means moved, to build from (see :meth:`ModelBank.reusing`)."""
        scored = self.scoring_models(models)
        scored += [self._scored(self.classes_[k], m) for k, m in zip(self.extra_labels_, extras)]
        return ModelBank.reusing(previous, [w[0] for w in scored], starts=[w[1] for w in scored],
                                 finals=[w[2] for w in scored])

    @property
    def bank(self) -> ModelBank:
        """The joint scorer of all word models as files are scored (see :meth:`scoring_models`)."""
        self._check_fitted()
        return self._bank

    @property
    def keyword_mask_(self) -> np.ndarray:
        """True for labels that are keywords (not ``_...``)."""
        return np.array([is_keyword(c) for c in self.classes_])

    @property
    def unknown_mask_(self) -> np.ndarray:
        """True for the non-keyword labels of speech (``_unknown_``), which ``unknown_bias`` favours."""
        return np.array([has_several_models(c) for c in self.classes_])

    def features(self, X) -> list[np.ndarray]:
        """Normalised feature sequences, each (n_frames, n_features), of each input."""
        self._check_fitted()
        return [self.signal_and_features(x)[1] for x in X]

    def signal_and_features(self, x) -> tuple[np.ndarray, np.ndarray]:
        """(float mono signal at the model's rate, normalised features) of one input."""
        self._check_fitted()
        cfg = self.feature_config_
        y = signal_of(x, cfg)
        feats = extract(y, cfg)
        check_long_enough(feats, y, cfg, str(x) if isinstance(x, (str, Path)) else "signal")
        return y, feats

    def filterbank_of(self, y: np.ndarray) -> np.ndarray | None:
        """The filterbank frames of a signal at the model's rate that ``filterbank_net_``
        reads (None without that network: nothing to compute)."""
        if getattr(self, "filterbank_net_", None) is None:
            return None
        return filterbank_frames(y, self.feature_config_)

    def loglik_features(self, feats: np.ndarray, filterbank: np.ndarray | None = None) -> np.ndarray:
        """Log-likelihood of one normalised feature sequence under every label, (n_labels,):
        the Gaussians' and, where there is a frame classifier, its scaled likelihoods
        through the same models, weighted (see ``net_weight``).

        ``filterbank``: the input's :meth:`filterbank_of`, for the second network; without
        it the first network scores alone.
        """
        ll = self.bank.score(feats)
        net = self.frame_net_
        if net is None or not net.weight:
            return ll
        scaled = net.scaled_loglik(feats)
        second = getattr(self, "filterbank_net_", None)
        if second is not None and filterbank is not None:
            if len(filterbank) != len(feats):
                raise ParameterError(f"loglik_features: {len(filterbank)} filterbank frames for {len(feats)} frames")
            scaled = 0.5 * (scaled + second.scaled_loglik(filterbank))
        bank = self._net_bank  # (the models it was trained on: adapted copies keep it)
        return (1.0 - net.weight) * ll + net.weight * bank.forward(bank.per_state(scaled))

    def loglik(self, X) -> np.ndarray:
        """(n_inputs, n_labels) log-likelihoods, columns in ``classes_`` order."""
        out = []
        for x in X:
            y, feats = self.signal_and_features(x)
            out.append(self.loglik_features(feats, self.filterbank_of(y)))
        return np.array(out)

    decision_function = loglik

    def proba_from_loglik(self, ll: np.ndarray, n_frames) -> np.ndarray:
        """Posterior over labels from log-likelihoods of sequences of ``n_frames``:
        ``softmax(temperature_ * loglik / n_frames)``."""
        ll = np.atleast_2d(ll)
        n = np.asarray(n_frames, dtype=float).reshape(-1, 1)
        z = ll / n * self.temperature_
        z = np.where(np.isfinite(z), z, -np.inf)
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def recognize_features(self, feats: np.ndarray, speech: Speech | None = None,
                           filterbank: np.ndarray | None = None, *, unknown_bias: bool = True) -> Recognition:
        """:meth:`recognize` of one normalised feature sequence (n_frames, n_features);
        ``speech``: what the voice activity detector heard in the input (:meth:`speech`), if known;
        ``filterbank``: its :meth:`filterbank_of`, if known (see :meth:`loglik_features`);
        ``unknown_bias``: False scores without the ``unknown_bias`` parameter, as the
        stream checks its candidates (there the sensitivity sets the trade)."""
        ll = self.loglik_features(feats, filterbank)
        if self.unknown_bias and unknown_bias:
            ll = ll + self.unknown_bias * len(feats) * self.unknown_mask_
        out = (frozenset() if speech is None else
               ruled_out(self.classes_, self.speech_limits_, speech, self.no_speech_share_))
        if len(out) == len(self.classes_):  # (a model without _silence_, a file without speech: the models decide)
            out = frozenset()
        return Recognition(self.classes_, ll, self.proba_from_loglik(ll, len(feats))[0], len(feats), out)

    def recognize(self, x) -> Recognition:
        """Scores, posterior and best label of one input (a path or a signal).

        A whole label (``_silence_``) is not the answer for an input holding clearly
        more speech than any of its training clips, nor a word nearly all of whose
        clips held speech for an input without any (see :mod:`hmmrec.speech`).
        """
        self._check_fitted()
        y, feats = self.signal_and_features(x)
        return self.recognize_features(feats, self.speech(y), self.filterbank_of(y))

    @property
    def speech_limits_(self) -> dict:
        """Whole label -> longest speech (s) in its training files (:mod:`hmmrec.speech`);
        empty for models trained before the check existed."""
        self._check_fitted()
        return self.training_summary_.get("speech_s", {})

    @property
    def no_speech_share_(self) -> dict:
        """Every other label -> share of its training files without speech (:mod:`hmmrec.speech`);
        empty for models trained before the check existed."""
        self._check_fitted()
        return self.training_summary_.get("no_speech_share", {})

    def speech(self, y: np.ndarray) -> Speech | None:
        """What the voice activity detector hears in a signal at the model's rate
        (:mod:`hmmrec.speech`); ``None`` when the model has no label to check (saves the work)."""
        if not self.speech_limits_ and not self.no_speech_share_:
            return None
        return listen(y, self.feature_config_.sr)

    def predict_proba(self, X) -> np.ndarray:
        """(n_inputs, n_labels) posterior over labels (calibrated softmax of per-frame log-likelihood)."""
        out = []
        for x in X:
            y, feats = self.signal_and_features(x)
            out.append(self.recognize_features(feats, filterbank=self.filterbank_of(y)).proba)
        return np.array(out).reshape(-1, len(self.classes_))

    def predict(self, X) -> np.ndarray:
        """Best label of each input (:meth:`recognize`)."""
        return np.array([self.recognize(x).label for x in X], dtype=self.classes_.dtype)

    def decode(self, x, label=None) -> tuple[str, np.ndarray]:
        """Viterbi state path of one input under ``label``'s model (default: the best label).

        Returns
        -------
        label : str
        states : np.ndarray, shape (n_frames,), int
            The word model's state of each frame, ``-1`` before and after the word
            (frames the filler model explains). Frame ``i`` starts at
            ``i * feature_config_.hop_s`` seconds.
        """
        y, feats = self.signal_and_features(x)
        if label is None:  # (as recognize decides)
            label = self.recognize_features(feats, self.speech(y), self.filterbank_of(y)).label
        if label not in self.classes_:
            raise ParameterError(f"unknown label {label!r}; the model knows {', '.join(self.classes_)}")
        k = int(np.flatnonzero(self.classes_ == label)[0])
        n = self.models_[k].n_states
        scored = self.bank.params[k]
        log_b = self.bank.state_loglik(feats)[:, k, : scored.n_states]
        if is_whole(label):  # the label's own model, first frame to last
            return str(label), viterbi(log_b[:, 1:], self.models_[k].transmat)[1]
        _, path = viterbi_wrapped(log_b, scored.transmat)
        return str(label), np.where((path >= 1) & (path <= n), path - 1, -1)

    def stream_models(self) -> StreamModels:
        """What the stream recognizer needs: the stream models wrapped in the background
        model, the further models of ``_unknown_``, word durations and the check of a
        word on its own."""
        self._check_fitted()
        bg = self.background_
        stats = self.training_summary_.get("duration_s", {})
        word_s = np.array([stats.get(str(c), {}).get("p50", np.nan) for c in self.classes_], dtype=float)
        p95 = [v["p95"] for k, v in stats.items() if is_keyword(k)]
        window_s = float(np.clip(max(p95) + _WINDOW_MARGIN_S, _MIN_WINDOW_S, _MAX_WINDOW_S)) if p95 else 1.0

        def word_posterior(x: np.ndarray, filterbank: np.ndarray | None = None) -> np.ndarray:
            return self.recognize_features(x, filterbank=filterbank, unknown_bias=False).proba

        return StreamModels(labels=self.classes_, keyword=self.keyword_mask_, feature_config=self.feature_config_,
                            wrapped=[wrap_with_filler(m, bg) for m in self.stream_models_], background=bg,
                            extra_wrapped=[wrap_with_filler(m, bg) for m in self.extra_stream_models_],
                            extra_labels=self.extra_labels_, word_s=word_s, window_s=window_s,
                            word_posterior=word_posterior,
                            filterbank_of=self.filterbank_of if self.filterbank_net_ is not None else None)

    # -- files ---------------------------------------------------------------------
    def save(self, path, overwrite: bool = False) -> Path:
        """Write the model as a safe model file (see :mod:`hmmrec.modelfile`); refuses to overwrite.

        The file holds what the model is, not how its training ran: not ``n_jobs`` nor
        ``verbose``, nor the training time (kept in ``training_summary_["seconds"]``), so
        the same data and settings give the same file in one process, on worker processes
        or on a cluster.
        """
        self._check_fitted()
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()
                  if k not in _NOT_SAVED_PARAMS}
        training = {k: v for k, v in self.training_summary_.items() if k not in _NOT_SAVED_SUMMARY}
        contents = ModelContents(labels=list(self.classes_), feature_config=self.feature_config_, params=params,
                                 models=self.models_, stream_models=self.stream_models_,
                                 extra_labels=list(self.extra_labels_), extra_stream_models=self.extra_stream_models_,
                                 background=self.background_, filler=self.filler_, temperature=self.temperature_,
                                 training=training, frame_net=self.frame_net_,
                                 filterbank_net=getattr(self, "filterbank_net_", None))
        return write_model(path, contents, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> "HMMRecognizer":
        """Read a model file written by :meth:`save`, or a shipped model by name
        (:mod:`hmmrec.models`). Never executes code from the file."""
        from .models import resolve

        c = read_model(resolve(path))
        try:
            rec = cls(**c.params)
            rec._check_params()
        except (TypeError, ValueError, ParameterError) as exc:
            raise ModelFileError(f"{path}: damaged hmmrec model file (params: {exc})") from None
        rec.feature_config_ = c.feature_config
        rec.classes_ = np.array(c.labels)
        rec.models_, rec.stream_models_ = c.models, c.stream_models
        rec.extra_labels_ = np.array(c.extra_labels, dtype=int)
        rec.extra_stream_models_ = c.extra_stream_models
        rec.background_, rec.filler_ = c.background, c.filler
        rec.temperature_ = c.temperature
        rec.training_summary_ = c.training
        rec.n_examples_ = c.training.get("examples", {})
        rec._bank = rec._make_bank()
        rec.frame_net_, rec.filterbank_net_, rec._net_bank = c.frame_net, c.filterbank_net, rec._bank
        for net in (c.frame_net, c.filterbank_net):
            if net is not None and net.n_outputs != rec._bank.n_emissions:
                raise ModelFileError(f"{path}: damaged hmmrec model file (a frame network has {net.n_outputs} "
                                     f"outputs for {rec._bank.n_emissions} emission states)")
        return rec
