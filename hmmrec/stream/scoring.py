"""Windows of a stream scored against every model at once.

:class:`WindowScorer` takes every ``hop_s`` the last ``window_s`` of raw frames,
normalises them as one training utterance is (the same RASTA filter and histogram
equalisation) and scores them against every label's stream model, each wrapped between
two copies of the background model so that a word may sit anywhere inside the window.
The background model alone, and every non-keyword label, is the non-keyword hypothesis.
A label with several stream models (``_unknown_``) scores as its best one, worked out
only in windows where a decision could depend on it (:meth:`WindowScorer.refine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..bank import ModelBank
from ..errors import ParameterError
from ..features import floor_log_energy
from ..normalization import normalize
from ..hmm import viterbi_wrapped

__all__ = ["WindowScore", "WindowScorer", "KEYWORD_SLACK", "VERIFY_PAD_S"]

# a window whose loudest frame is less than this far above the feature floor (digital
# silence, an unplugged microphone) cannot hold a word and is not scored
_MIN_PEAK_OVER_FLOOR_DB = 20.0
# a keyword must also beat every other keyword: by the decision threshold less this many
# nats per frame (at strict settings most false alarms are one keyword heard as another;
# the value was chosen on the keyword stream, see benchmarks/RESULTS.md)
KEYWORD_SLACK = 3.0
# the word a decision rests on is checked as one utterance of its own (from this long
# before its aligned start to this long after its end, within the window; wider cuts,
# closer to Speech Commands' 1-s clips, help one stream and hurt another, and hurt
# models of closely trimmed clips such as FSDD's: see benchmarks/RESULTS.md)
VERIFY_PAD_S = 0.1


@dataclass
class WindowScore:
    """Scores of one window.

    Attributes
    ----------
    start, end : float
        Seconds.
    loglik : np.ndarray, shape (n_labels,)
        Log-likelihood of each label's filler-wrapped model (``classes_`` order).
    background : float
        Log-likelihood of the background model alone.
    best : int
        Index of the best keyword label (-1 if the model has none).
    margin : float
        (best keyword - best non-keyword hypothesis) / typical frames of that keyword,
        or, if smaller, (best keyword - second-best keyword) / the same frames + 3 (so
        that at a threshold above 3 nats per frame the keyword must also beat every
        other keyword by the difference); ``-inf`` when the window holds no sound
        above the feature floor.
    margins : np.ndarray, shape (n_labels,)
        The same margin for every label, each against the best other keyword
        (``-inf`` for non-keyword labels).
    exact : bool (read-only)
        False while the further models of labels with several (``_unknown_``, see
        ``HMMRecognizer.unknown_models``) are not yet scored: those labels' scores are
        then lower bounds and the margins upper bounds (:meth:`WindowScorer.refine`).
    """

    start: float
    end: float
    first_frame: int
    loglik: np.ndarray
    background: float
    best: int
    margin: float
    margins: np.ndarray | None = None
    _x: np.ndarray | None = field(default=None, repr=False, compare=False)  # normalised frames, until refined

    @property
    def exact(self) -> bool:
        return self._x is None


class WindowScorer:
    """Scores windows of raw frames against every word model.

    Parameters
    ----------
    models : StreamModels
        What the recognizer hands the stream (:meth:`HMMRecognizer.stream_models`).
    window_s, hop_s : float
        Window length and hop in seconds.

    Attributes
    ----------
    lazy : bool
        Score labels with several models (``HMMRecognizer.unknown_models``) with their
        first model only, and the others when :meth:`refine` asks (default False: every
        window exact). The stream recognizer asks only for a window that would otherwise
        become a decision: elsewhere the upper bounds decide the same.
    """

    def __init__(self, models, window_s: float, hop_s: float):
        cfg = models.feature_config
        self.cfg = cfg
        self.window_frames = max(int(round(window_s / cfg.hop_s)), 2)
        self.hop_frames = max(int(round(hop_s / cfg.hop_s)), 1)
        self.classes = models.labels
        self.keyword = np.asarray(models.keyword, dtype=bool)
        self._kw_index, self._other_index = np.flatnonzero(self.keyword), np.flatnonzero(~self.keyword)
        self.set_models(models)
        self.lazy = False
        # margins are per frame of the word (its median training duration), not per frame
        # of the window: frames outside the word score about equally in both hypotheses
        word_s = np.where(np.isfinite(models.word_s), models.word_s, window_s)
        self.word_frames = np.maximum(word_s / cfg.hop_s, 1.0)
        # raw c0 is the log frame energy; this is its value for a frame at the floor + 20 dB
        self._min_log_energy = floor_log_energy(cfg, _MIN_PEAK_OVER_FLOOR_DB)
        self.reset()

    @property
    def models(self):
        """The :class:`~hmmrec.recognizer.StreamModels` scored with now (see :meth:`set_models`)."""
        return self._models

    def set_models(self, models) -> None:
        """Score with ``models`` (the same labels, e.g. adapted) from the next window on."""
        self._models = models
        # every label's stream model between two copies of the background: here the
        # non-keyword models (_silence_ too) are rivals that may explain any stretch of the window
        wrapped = models.wrapped
        self._wrapped = [w[0] for w in wrapped]
        # (adapted models differ from the last ones in a few means: the banks are built from theirs)
        self.bank = ModelBank.reusing(getattr(self, "bank", None), self._wrapped + [models.background],
                                      starts=[w[1] for w in wrapped] + [np.ones(1)],
                                      finals=[w[2] for w in wrapped] + [np.ones(1, bool)], single_precision=True)
        # the further models of labels with several: scored only for windows where they
        # could matter (see lazy)
        extra = models.extra_wrapped
        self._extra_bank = (ModelBank.reusing(getattr(self, "_extra_bank", None), [w[0] for w in extra],
                                              starts=[w[1] for w in extra], finals=[w[2] for w in extra],
                                              single_precision=True) if extra else None)
        self._last_log_b = None

    @property
    def next_window_end(self) -> int:
        """Frame index (from the stream's start) at which the next window ends."""
        return self._next_end

    def reset(self) -> None:
        """Start a new stream."""
        self._last_log_b = None
        self._frames = np.zeros((0, self.cfg.n_features))
        self._f0 = 0  # global index of self._frames[0]
        self._next_end = self.window_frames  # global frame index where the next window ends

    def _score(self, first: int, frames: np.ndarray) -> WindowScore:
        n = len(frames)
        hop = self.cfg.hop_s
        start, end = first * hop, (first + n) * hop + self.cfg.win_s - hop
        n_labels = len(self.classes)
        if frames[:, 0].max() < self._min_log_energy:
            # nothing but (digital) silence: not worth scoring, and never a keyword
            return WindowScore(start, end, first, np.full(n_labels, -np.inf), -np.inf, -1, -np.inf,
                               np.full(n_labels, -np.inf))
        x = normalize(frames, self.cfg)
        log_b = self.bank.state_loglik(x)
        self._last_log_b = (first, n, log_b)  # for align(), which mostly asks about this window
        ll = self.bank.forward(log_b)
        words, bg = ll[:-1], ll[-1]
        margins = self._margins(words, bg, n)
        if self.keyword.any():
            best = int(np.argmax(np.where(self.keyword, words, -np.inf)))
            margin = float(margins[best])
        else:
            best, margin = -1, -np.inf
        ws = WindowScore(start, end, first, words, float(bg), best, margin, margins)
        if self._extra_bank is not None:
            ws._x = x
            if not self.lazy:
                self.refine(ws)
        return ws

    def score_segment(self, frames: np.ndarray) -> WindowScore:
        """Score raw ``frames`` (at least two, any number) as one exact window starting at
        frame 0, whatever ``window_s``: a whole recording judged by the stream's rules
        (:func:`hmmrec.stream.decide.judge_recording`). Does not touch the stream's state."""
        frames = np.asarray(frames, dtype=np.float64)
        if frames.ndim != 2 or len(frames) < 2:
            raise ParameterError(f"score_segment needs at least two frames, got shape {frames.shape}")
        cached = self._last_log_b  # align()'s cache belongs to the stream's windows
        try:
            return self.refine(self._score(0, frames))
        finally:
            self._last_log_b = cached

    def refine(self, ws: WindowScore) -> WindowScore:
        """Make ``ws`` exact (in place): score the further models of labels with several.

        They can only raise those labels (all non-keyword), so the best keyword stays and
        the margins can only fall.
        """
        if ws.exact:
            return ws
        words = self._models.label_scores(np.r_[ws.loglik, self._extra_bank.score(ws._x)])
        n = len(ws._x)
        ws.loglik, ws.margins = words, self._margins(words, ws.background, n)
        ws.margin = float(ws.margins[ws.best]) if ws.best >= 0 else -np.inf
        ws._x = None
        return ws

    def _margins(self, words: np.ndarray, bg: float, n: int) -> np.ndarray:
        """Per label: the smaller of its margin over the non-keyword hypotheses and its
        margin over the best other keyword plus ``KEYWORD_SLACK`` (nats per frame)."""
        kw = self._kw_index
        frames = np.minimum(self.word_frames[kw], n)
        own = words[kw]
        rival = max(bg, float(words[self._other_index].max())) if len(self._other_index) else bg
        margins = np.full(len(words), -np.inf)
        margins[kw] = (own - rival) / frames
        if len(kw) > 1:
            top = int(np.argmax(own))
            other = np.full(len(own), own[top])
            other[top] = np.max(np.delete(own, top))
            margins[kw] = np.minimum(margins[kw], (own - other) / frames + KEYWORD_SLACK)
        return margins

    def push(self, frames: np.ndarray, final: bool = False) -> list[tuple[WindowScore, np.ndarray]]:
        """Add raw frames; return ``(score, frames)`` of every window that became complete.

        With ``final=True`` (end of stream) a last, partial window covering the newest
        frames is scored too, and the scorer is reset.
        """
        if len(frames):
            self._frames = np.vstack([self._frames, frames])
        total = self._f0 + len(self._frames)
        out = []
        while self._next_end <= total:
            first = self._next_end - self.window_frames
            seg = self._frames[first - self._f0 : self._next_end - self._f0]
            out.append((self._score(first, seg), seg))
            self._next_end += self.hop_frames
        if final:
            last_end = self._next_end - self.hop_frames
            if total > last_end and len(self._frames) >= 2:
                first = max(total - self.window_frames, self._f0)
                seg = self._frames[first - self._f0 :]
                out.append((self._score(first, seg), seg))
            self.reset()
            return out
        keep_from = max(self._next_end - self.window_frames, self._f0)
        self._frames = self._frames[keep_from - self._f0 :]
        self._f0 = keep_from
        return out

    def posterior(self, ws: WindowScore, frames: np.ndarray, start: float, end: float, signal=None) -> np.ndarray:
        """Posterior over labels of the stretch ``start``-``end`` (seconds) of the window,
        classified as one utterance by the recognizer's file models.

        The stretch is widened by ``VERIFY_PAD_S`` each side (within the window) and
        normalised on its own, as a training utterance is. ``signal(first, stop)``: the
        samples of the stream's frames ``first`` to ``stop`` (or None), for models whose
        check also reads a filterbank (``StreamModels.filterbank_of``).
        """
        hop, n = self.cfg.hop_s, len(frames)
        first = int(np.clip(round((start - VERIFY_PAD_S - ws.start) / hop), 0, max(n - 2, 0)))
        stop = int(np.clip(round((end + VERIFY_PAD_S - self.cfg.win_s - ws.start) / hop) + 1, first + 2, n))
        x = normalize(np.asarray(frames[first:stop], dtype=np.float64), self.cfg)
        view = self._models.filterbank_of
        y = signal(ws.first_frame + first, ws.first_frame + stop) if view is not None and signal is not None else None
        return self._models.word_posterior(x, None if y is None else view(y))

    def align(self, ws: WindowScore, frames: np.ndarray) -> tuple[float, float]:
        """Start and end (seconds) of the word of ``ws.best`` inside its window (Viterbi)."""
        k = ws.best
        p = self._wrapped[k]
        last = self._last_log_b
        if last is not None and last[:2] == (ws.first_frame, len(frames)):
            log_b = last[2][:, k, : p.n_states]
        else:
            log_b = self.bank.state_loglik(normalize(frames, self.cfg))[:, k, : p.n_states]
        _, path = viterbi_wrapped(log_b, p.transmat)
        inside = np.flatnonzero((path > 0) & (path < p.n_states - 1))
        hop = self.cfg.hop_s
        if len(inside) == 0:
            return ws.start, ws.end
        return (ws.first_frame + inside[0]) * hop, (ws.first_frame + inside[-1]) * hop + self.cfg.win_s
