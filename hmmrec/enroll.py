"""Teaching a trained recognizer a speaker's own words, from a few takes, without its training data.

:func:`extend` returns a copy of a fitted :class:`~hmmrec.recognizer.HMMRecognizer` (such as
a shipped model, :mod:`hmmrec.models`) that also knows the words of a few labelled takes:

* a word the model does not know gets a word model trained on the takes, as ``fit``
  trains one (the same features, training copies and model settings as the base model's),
  but with ``n_mix`` Gaussians per state, one by default: a few takes of one voice are
  described better by one broad Gaussian per state than by the base's eight, which fit
  the takes so closely that the base's models of words in general (``_unknown_``) win
  on the next take of the same word (``benchmarks/teach.py``, in benchmarks/RESULTS.md).
  Each take counts once: all the word's examples are takes, so counting each
  ``own_weight`` times would only add noisy copies and let the model grow as if there
  were more takes than there are;
* a word it knows keeps its model, with the means of its Gaussians moved towards the
  takes: maximum a posteriori adaptation (as :mod:`hmmrec.adapt` does without labels),
  each take aligned to the word's model and counted ``own_weight`` times, each mean
  weighed against ``tau`` frames of its trained value;
* everything else is the base model's own: its labels and their models, the non-keyword
  models (``_silence_``, ``_unknown_`` and its further stream models), the background
  and filler models, the feature settings and the calibration (temperature).

Why not ``fit`` again on the base's corpus plus the takes (``hmmrec train DATA --own
OWN``)? A shipped model's training data is not shipped (gigabytes of other people's
recordings), so at run time, in the dashboard or on a user's machine, the trained models
are all there is. What needs every label's examples is therefore kept as trained: the
discriminative step (its rivals are the other labels' examples) and the temperature
(fitted on all training data); the new words' models are maximum-likelihood models.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import clone

from .adapt import DEFAULT_TAU, _word_frames, map_means
from .discriminative import occupancy_stats
from .errors import NotFittedError, ParameterError
from .labels import is_keyword
from .progress import TrainingProgress, plural, run_jobs
from .recognizer import DEFAULT_OWN_WEIGHT
from .speech import listen
from .training import fit_one, model_jobs, stage, training_data

__all__ = ["DEFAULT_OWN_WEIGHT", "DEFAULT_TAU", "NEW_WORD_MIX", "extend"]

# Gaussians per state of a new word's model (see the module docstring)
NEW_WORD_MIX = 1


def _map_means(p, frames: list, weight: float, tau: float):
    """``p`` with each Gaussian's mean moved towards ``frames`` (each sequence counted ``weight`` times)."""
    occ, sum_x, _ = occupancy_stats(p, frames, np.full(len(frames), float(weight)))
    return map_means(p, occ, sum_x, tau)


def _check(base, X, y, own_weight, tau, n_mix) -> tuple[list, list[str]]:
    if not hasattr(base, "models_"):
        raise NotFittedError("extend needs a fitted recognizer (HMMRecognizer.load or fit) to start from")
    X, y = list(X), [str(v) for v in y]
    if not X:
        raise ParameterError("extend needs at least one take")
    if len(X) != len(y):
        raise ParameterError(f"X and y have different lengths ({len(X)} and {len(y)})")
    others = sorted({v for v in y if not is_keyword(v)})
    if others:
        raise ParameterError(f"extend teaches words only; got the non-keyword label {others[0]!r} "
                             "(labels beginning with '_' keep the base model's models)")
    if (not isinstance(own_weight, (int, np.integer)) or isinstance(own_weight, bool)) or own_weight < 1:
        raise ParameterError(f"own_weight must be a whole number >= 1, got {own_weight!r}")
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ParameterError(f"tau must be > 0 frames, got {tau!r}")
    if not isinstance(n_mix, (int, np.integer)) or isinstance(n_mix, bool) or n_mix < 1:
        raise ParameterError(f"n_mix must be a positive integer, got {n_mix!r}")
    return X, y


def extend(base, X, y, own_weight: int = DEFAULT_OWN_WEIGHT, *, tau: float = DEFAULT_TAU, n_mix: int = NEW_WORD_MIX,
           n_jobs: int = 1, progress=None):
    """A copy of the fitted recognizer ``base`` that also knows the words of the takes ``X``.

    Parameters
    ----------
    base : HMMRecognizer (fitted)
        Left as it was.
    X : list of paths or float mono signals (at ``base.feature_config_.sr``)
        The takes, each one word (trimmed or with a little silence around it).
    y : list of str
        The word of each take; keyword labels only (not beginning with ``_``).
    own_weight : int
        How many times each take of a word ``base`` knows counts against its trained
        model (``hmmrec train --own-weight``): the weight of its frames in the adaptation.
    tau : float
        Frames of its trained value that each adapted mean is weighed against.
    n_mix : int
        Gaussians per state of the new words' models, at most.
    n_jobs : int
        Worker processes (``-1``: all cores).
    progress : callable or None
        Called with a :class:`~hmmrec.progress.TrainingProgress` at every step: stage
        ``"features"``, then ``"model"`` once per new or adapted word, then ``"done"``.

    Returns
    -------
    HMMRecognizer
        Labels: the base's and the new words, sorted. Its training summary is the base's
        (with its data's licence and attribution) plus the takes, under ``"extended"``.
    """
    X, y = _check(base, X, y, own_weight, tau, n_mix)
    t0 = time.perf_counter()

    def step(stage_, done, total, message):
        if progress is not None:
            progress(TrainingProgress(stage_, done, total, message, time.perf_counter() - t0))

    known = {str(c): k for k, c in enumerate(base.classes_)}
    new_words = sorted({w for w in y if w not in known})
    adapted = sorted({w for w in y if w in known})
    total = len(new_words) + len(adapted)
    # new words: trained as fit trains a word model, on the takes and their training copies
    new_x = [x for x, lab in zip(X, y) if lab not in known]
    data = training_data(new_x, [lab for lab in y if lab not in known], None, feature_config=base.feature_config_,
                         speeds=base.speeds, warps=base.warps, noise_snrs=base.noise_snrs,
                         n_jobs=n_jobs) if new_x else None
    step("features", 1, 1, f"features: {plural(len(X), 'take')}, {plural(len(new_words), 'new word')}, "
                           f"{plural(len(adapted), 'known word')}, {time.perf_counter() - t0:.1f} s")
    # (one model a word: extend teaches keywords only, so no label has further models)
    jobs = model_jobs(data, n_states=base.n_states, n_mix=int(n_mix), skip=base.skip, n_iter=base.n_iter,
                      var_floor=base.var_floor, unknown_models=1)[0] if data else []

    def trained(result, done, total_):
        label, model, secs = result
        p = model.params_
        step("model", done, total, f"[{done}/{total}] {label}: new, {plural(model.n_sequences_, 'sequence')}, "
                                   f"{plural(p.n_states, 'state')} x {plural(p.n_mix, 'Gaussian')}, {secs:.1f} s")

    step("model", 0, total, f"training {plural(len(new_words), 'new word model')}, "
                            f"adapting {plural(len(adapted), 'known word model')}")
    fitted = {label: model for label, model, _ in run_jobs(fit_one, jobs, n_jobs, on_result=trained,
                                                           one_by_one=True)}

    # known words: their models' means adapted towards the takes, aligned as adapt aligns them
    models, streams = list(base.models_), list(base.stream_models_)
    takes_silent = {}  # known word -> its takes without speech
    for i, word in enumerate(adapted, start=len(new_words) + 1):
        t1 = time.perf_counter()
        k = known[word]
        signals = [base.signal_and_features(x) for x, lab in zip(X, y) if lab == word]
        frames = [f for f in (_word_frames(base, x, k) for _, x in signals) if len(f) >= 2]
        if word in base.no_speech_share_:  # (a base without the word's share keeps none: nothing to count)
            takes_silent[word] = sum(not listen(sig, base.feature_config_.sr).heard for sig, _ in signals)
        if frames:
            models[k] = _map_means(models[k], frames, own_weight, tau)
            streams[k] = _map_means(streams[k], frames, own_weight, tau)
        step("model", i, total, f"[{i}/{total}] {word}: adapted to {plural(len(frames), 'take')}, "
                                f"{time.perf_counter() - t1:.1f} s")

    rec = _assemble(base, fitted, models, streams)
    counts = {w: y.count(w) for w in sorted(set(y))}
    rec.training_summary_ = _summary(base, rec, data, fitted, adapted, counts, takes_silent, own_weight, tau,
                                     time.perf_counter() - t0)
    step("done", 1, 1, f"extended {plural(len(base.classes_), 'label')} with {plural(len(new_words), 'new word')} "
                       f"and adapted {plural(len(adapted), 'word')} in {rec.training_summary_['seconds']:.1f} s")
    return rec


def _assemble(base, fitted: dict, models: list, streams: list):
    """The base's fitted state with the new word models added (labels sorted) and the
    adapted ones in place; ``extra_labels_`` renumbered to the new order."""
    old = [str(c) for c in base.classes_]
    labels = sorted(old + list(fitted))
    rec = clone(base)
    rec.feature_config_ = base.feature_config_
    rec.classes_ = np.array(labels)
    by_label = {lab: (m, s) for lab, m, s in zip(old, models, streams)}
    for lab, model in fitted.items():
        by_label[lab] = (model.params_, stage(model, base.stream_n_mix))
    rec.models_ = [by_label[lab][0] for lab in labels]
    rec.stream_models_ = [by_label[lab][1] for lab in labels]
    index = {lab: i for i, lab in enumerate(labels)}
    rec.extra_labels_ = np.array([index[old[k]] for k in base.extra_labels_], dtype=int)
    rec.extra_stream_models_ = list(base.extra_stream_models_)
    rec.background_, rec.filler_ = base.background_, base.filler_
    rec.temperature_ = base.temperature_
    rec._bank = rec._make_bank()
    # the base's frame classifiers know the base's states only: the extended model scores with its Gaussians
    rec.frame_net_, rec.filterbank_net_, rec._net_bank = None, None, rec._bank
    return rec


def _summary(base, rec, data, fitted: dict, adapted: list, takes: dict, takes_silent: dict, own_weight: int,
             tau: float, seconds: float) -> dict:
    """The base's training summary, with the new words and the takes (``takes_silent``:
    known word -> how many of its takes held no speech)."""
    import copy

    summary = copy.deepcopy(base.training_summary_)
    hop = base.feature_config_.hop_s
    examples = dict(summary.get("examples", getattr(base, "n_examples_", {})))
    for lab, n in takes.items():
        examples[lab] = int(examples.get(lab, 0)) + int(n)
    rec.n_examples_ = examples
    summary["examples"] = examples
    summary["n_files"] = int(summary.get("n_files", 0)) + sum(takes.values())
    for lab, model in fitted.items():
        durations = [len(s) * hop for s in data.spoken[lab]]
        summary.setdefault("n_states", {})[lab] = int(model.params_.n_states)
        summary.setdefault("stream_models_per_label", {})[lab] = 1
        summary.setdefault("duration_s", {})[lab] = {"p50": round(float(np.percentile(durations, 50)), 3),
                                                    "p95": round(float(np.percentile(durations, 95)), 3)}
        summary.setdefault("log_likelihood_history", {})[lab] = model.params_.log_likelihood_history
    shares = summary.setdefault("no_speech_share", {})
    for lab in fitted:
        shares[lab] = round(float(data.no_speech[lab]), 4)
    for lab, silent in takes_silent.items():
        before = int(base.n_examples_.get(lab, 0))
        shares[lab] = round((shares[lab] * before + silent) / (before + takes[lab]), 4)
    summary["extended"] = {"new_words": sorted(fitted), "adapted_words": list(adapted), "takes": takes,
                           "own_weight": int(own_weight), "tau": float(tau),
                           "base_labels": [str(c) for c in base.classes_]}
    summary["seconds"] = round(seconds, 2)
    return summary
