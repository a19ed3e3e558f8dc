"""Adapting the word models to the voice they hear, without labels.

Recognise every input of one speaker, keep the inputs recognised with a posterior of at
least ``min_posterior``, align each to its label's model (Viterbi, the word between its
fillers) and move the means of that model's Gaussians towards the frames they explain:
maximum a posteriori adaptation (Gauvain and Lee, 1994), each mean weighted against
``tau`` frames of its trained value, so that a Gaussian that saw little of the voice
stays near where it was. The inputs are then recognised again by the adapted models and
the adaptation is redone from the trained means with the new decisions (``passes``).
Labels of pure background (``_silence_``) are left as they are.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from .discriminative import occupancy_stats
from .hmm import viterbi_wrapped
from .labels import is_whole

__all__ = ["adapt", "adapt_features", "map_means", "Adaptation", "OnlineAdapter", "DEFAULT_MIN_POSTERIOR", "DEFAULT_TAU",
           "DEFAULT_PASSES", "STREAM_TAU"]

# decisions kept for adaptation: posterior of the recognised label at least this
DEFAULT_MIN_POSTERIOR = 0.5
# frames of its trained value that each mean is weighed against
DEFAULT_TAU = 10.0
DEFAULT_PASSES = 2
# a stream's prior, in frames, while it has heard one voice: weaker than a folder's, since a
# stream learns one word at a time and a voice the models do not know must move them within
# its first few words; each change of voice adds as much again (OnlineAdapter)
STREAM_TAU = 5.0


@dataclass(frozen=True)
class Adaptation:
    """What one adaptation did: inputs used (recognised confidently enough) and labels adapted."""

    n_inputs: int
    n_used: int
    labels: tuple


def map_means(p, occ: np.ndarray, sum_x: np.ndarray, tau: float):
    """``p`` with the MAP estimate of each mean: its trained value counted ``tau`` frames
    against the frames it explains (``occ`` and ``sum_x`` from :func:`occupancy_stats`)."""
    s, m, d = p.means.shape
    means = (tau * p.means.reshape(s * m, d) + sum_x) / (tau + occ[:, None])
    return replace(p, means=means.reshape(s, m, d))


def _word_frames(rec, x: np.ndarray, k: int) -> np.ndarray:
    """The frames of ``x`` that label ``k``'s word states hold (Viterbi path of its file model)."""
    bank = rec.bank
    p = bank.params[k]
    _, path = viterbi_wrapped(bank.state_loglik(x)[:, k, : p.n_states], p.transmat)
    return x[(path >= 1) & (path <= p.n_states - 2)]


def _map_means(rec, feats: list, decisions: list, min_posterior: float, tau: float) -> tuple[list, Adaptation]:
    """Word models with their means moved towards the confidently recognised inputs."""
    by_label: dict[int, list] = {}
    for x, r in zip(feats, decisions):
        if r.confidence >= min_posterior and not is_whole(r.label):
            frames = _word_frames(rec, x, r.best)
            if len(frames) >= 2:
                by_label.setdefault(r.best, []).append(frames)
    models = list(rec.models_)
    for k, seqs in by_label.items():
        occ, sum_x, _ = occupancy_stats(models[k], seqs, np.ones(len(seqs)))
        models[k] = map_means(models[k], occ, sum_x, tau)
    used = sum(len(v) for v in by_label.values())
    return models, Adaptation(len(feats), used, tuple(str(rec.classes_[k]) for k in sorted(by_label)))


def adapt_features(rec, feats: list, *, min_posterior: float = DEFAULT_MIN_POSTERIOR, tau: float = DEFAULT_TAU,
                   passes: int = DEFAULT_PASSES, speech=None, filterbank=None):
    """:func:`adapt` for normalised feature sequences, each (n_frames, n_features);
    ``speech``: what the voice activity detector heard in each input (``rec.speech``), and
    ``filterbank`` its filterbank frames (``rec.filterbank_of``), if known."""
    current, report = rec, Adaptation(len(feats), 0, ())
    speech = [None] * len(feats) if speech is None else speech
    filterbank = [None] * len(feats) if filterbank is None else filterbank
    for _ in range(passes):
        decisions = [current.recognize_features(x, s, g) for x, s, g in zip(feats, speech, filterbank)]
        models, report = _map_means(rec, feats, decisions, min_posterior, tau)
        current = copy.copy(rec)
        current.models_ = models
        current._bank = current._make_bank(previous=rec._bank)
    return current, report


def adapt(rec, X, *, min_posterior: float = DEFAULT_MIN_POSTERIOR, tau: float = DEFAULT_TAU,
          passes: int = DEFAULT_PASSES):
    """A copy of the fitted recognizer ``rec`` adapted to the speaker of the inputs ``X``
    (paths or signals), and an :class:`Adaptation` saying what was used. ``rec`` is left
    as it was; no label of ``X`` is needed or used."""
    if passes < 1 or not 0 <= min_posterior <= 1 or tau <= 0:
        from .errors import ParameterError

        raise ParameterError(f"adapt needs passes >= 1, 0 <= min_posterior <= 1 and tau > 0, got {passes}, "
                             f"{min_posterior}, {tau}")
    pairs = [rec.signal_and_features(x) for x in X]
    return adapt_features(rec, [f for _, f in pairs], min_posterior=min_posterior, tau=tau, passes=passes,
                          speech=[rec.speech(y) for y, _ in pairs], filterbank=[rec.filterbank_of(y) for y, _ in pairs])


class OnlineAdapter:
    """Adaptation during one stream: each confident keyword event moves its label's file
    and stream models' means towards the event's frames (MAP from the trained means, with
    the statistics of every event so far). :meth:`reset` starts a new session; an event
    whose word the adapted models fit worse than the trained ones did starts the adapting
    afresh: the voice has changed, and what was learnt of the last one would only mislead.

    Each change of voice also makes the prior stronger (:attr:`prior`: ``tau`` frames
    more for each change this session): a stream of many voices, where what one voice
    teaches says little about the next, then adapts ever more cautiously and stays close
    to the trained models, while one voice keeps the quick adapting of the weak prior.

    Parameters
    ----------
    recognizer : HMMRecognizer (fitted)
    tau : float
        Frames of its trained value each mean is weighed against while the session has
        heard one voice.
    min_posterior : float
        An event adapts only if its word, classified on its own, gets its label with at
        least this posterior.
    """

    def __init__(self, recognizer, tau: float = STREAM_TAU, min_posterior: float = DEFAULT_MIN_POSTERIOR):
        self.original = recognizer
        self.tau = float(tau)
        self.min_posterior = float(min_posterior)
        self.reset()

    def reset(self) -> None:
        """A new session: the trained models, no voice heard yet."""
        self.n_changes = 0
        self._forget()

    def _forget(self) -> None:
        self.current = self.original
        self._stats: dict[tuple[str, int], list] = {}  # ("file" | "stream", label) -> [occ, sum_x]
        self.n_events = 0

    @property
    def prior(self) -> float:
        """Frames of its trained value each mean is weighed against now."""
        return self.tau * (1 + self.n_changes)

    def add(self, k: int, x: np.ndarray) -> bool:
        """Adapt to one event of label ``k`` whose word stretch has normalised frames ``x``;
        True if the models changed (then :attr:`current` is a new recognizer)."""
        rec = self.current
        r = rec.recognize_features(x, unknown_bias=False)  # (as the stream checked the event)
        if r.best != k or r.confidence < self.min_posterior or is_whole(r.label):
            return False
        changed = rec is not self.original and r.loglik[k] < self.original.loglik_features(x)[k]
        if changed:  # the adapted models fit this word worse than the trained ones: another voice
            self.n_changes += 1
            self._forget()
            rec = self.current
        frames = _word_frames(rec, x, k)
        if len(frames) < 2:
            return changed  # (back to the trained models)
        new = copy.copy(rec)
        new.models_, new.stream_models_ = list(rec.models_), list(rec.stream_models_)
        for kind, now, trained in (("file", rec.models_, self.original.models_),
                                   ("stream", rec.stream_models_, self.original.stream_models_)):
            occ, sum_x, _ = occupancy_stats(now[k], [frames], np.ones(1))
            acc = self._stats.setdefault((kind, k), [np.zeros_like(occ), np.zeros_like(sum_x)])
            acc[0] += occ
            acc[1] += sum_x
            target = new.models_ if kind == "file" else new.stream_models_
            target[k] = map_means(trained[k], acc[0], acc[1], self.prior)
        new._bank = new._make_bank(previous=rec._bank)
        self.current = new
        self.n_events += 1
        return True
