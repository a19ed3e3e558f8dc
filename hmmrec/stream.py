"""Keyword recognition on a stream: windows of frames become keyword events.

The pieces, each doing one thing:

* :class:`~hmmrec.features.FeatureStream` turns chunks of samples into raw frames,
  each computed once.
* :class:`WindowScorer` takes every ``hop_s`` the last ``window_s`` of frames,
  normalises them (the same RASTA filter and histogram equalisation as for one
  training utterance) and scores them against every word model at once. Each word
  model is wrapped between two copies of
  the background model, so a word may sit anywhere inside the window; the background
  model alone (and every ``_...`` label) is the non-keyword hypothesis. A label with
  several stream models (``_unknown_``, see ``HMMRecognizer.unknown_models``) scores
  as its best one, worked out only in windows where a decision could depend on it.
* :class:`Decider` turns window scores into :class:`KeywordEvent` s: a keyword is a
  candidate while its margin over the best non-keyword hypothesis is above the
  threshold set by ``sensitivity`` (and its margin over every other keyword above the
  threshold less 3 nats per frame) in a window that holds the fade of the word's sound
  (0.05-0.35 s before the window's end) and whose loudest sound is the window's (within
  6 dB) and which, cut out and classified on its own as a file is, gets a posterior
  above the one ``sensitivity`` sets; the best such window is emitted once
  ``patience_s`` has passed since the sound faded; overlapping detections are merged
  and a refractory time follows each event.
* :class:`StreamRecognizer` wires them together behind ``push(chunk)`` /
  ``flush()``. Files (:func:`stream_file`), arrays and the microphone
  (:mod:`hmmrec.live`) all feed this one object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import audio
from .corpus import is_keyword
from .errors import ParameterError
from .features import FeatureStream, floor_log_energy, normalize
from .hmm import ModelBank, viterbi_wrapped, wrap_with_filler

__all__ = ["KeywordEvent", "WindowScore", "WindowScorer", "Decider", "StreamRecognizer", "stream_file",
           "sensitivity_to_threshold", "sensitivity_to_min_posterior", "events_at_sensitivities"]

DEFAULT_HOP_S = 0.2
DEFAULT_SENSITIVITY = 0.5
DEFAULT_REFRACTORY_S = 0.3
DEFAULT_PATIENCE_S = 0.1
_MIN_WINDOW_S, _MAX_WINDOW_S = 0.5, 2.0
_WINDOW_MARGIN_S = 0.1
# margin (nats per frame) at sensitivity 0 and 1; the threshold moves linearly between them
_THRESHOLD_AT_0, _THRESHOLD_AT_1 = 4.5, 0.5
# ... and so does the posterior the word must get when classified on its own (see Decider)
_POSTERIOR_AT_0, _POSTERIOR_AT_1 = 0.8, 0.1
# a window whose loudest frame is less than this far above the feature floor (digital
# silence, an unplugged microphone) cannot hold a word and is not scored
_MIN_PEAK_OVER_FLOOR_DB = 20.0
_FILLER_STAY = 0.9
# a word's sound has faded where its log energy stays this far below its loudest frame
_SOUND_END_DB = 15.0
# a window may only decide on a word whose sound has faded at least this long before the
# window's end: when it runs up to the end, the window may hold just the start of a
# longer word, which a short keyword may fit
_MIN_TAIL_S = 0.05
# ... and at most this long (or the hop plus the above, if longer) before it: a window that
# only finds the word later would decide too late to be of use, and being one more look at
# the same sound it is as likely a false alarm as a hit (on the Speech Commands stream the
# miss/false-alarm curve stayed the same while the p95 latency fell from 0.72 to 0.43 s)
_MAX_TAIL_S = 0.35
# the word a window decides on must hold the window's loudest sound (within this many dB)
_MAX_PEAK_GAP_DB = 6.0
# a keyword must also beat every other keyword: by the threshold less this many nats per
# frame. At strict settings most false alarms are one keyword heard as another; on the
# Speech Commands stream misses with no false alarm fell from 0.750 to 0.674 (slack 2:
# 0.732, 2.5: 0.699, 3.5: 0.710, 4: 0.753; 2 was best from 4 to 20 false alarms per hour)
_KEYWORD_SLACK = 3.0
# the word a decision rests on is checked as one utterance of its own (from this long
# before its aligned start to this long after its end, within the window)
_VERIFY_PAD_S = 0.1


def _check_sensitivity(sensitivity: float) -> float:
    if not 0.0 <= sensitivity <= 1.0:
        raise ParameterError(f"sensitivity must be between 0 and 1, got {sensitivity}")
    return float(sensitivity)


def sensitivity_to_threshold(sensitivity: float) -> float:
    """The one knob: sensitivity in [0, 1] -> margin threshold in nats per frame.

    Higher sensitivity: more detections, fewer misses, more false alarms. The same knob
    sets :func:`sensitivity_to_min_posterior`.
    """
    s = _check_sensitivity(sensitivity)
    return _THRESHOLD_AT_0 + (_THRESHOLD_AT_1 - _THRESHOLD_AT_0) * s


def sensitivity_to_min_posterior(sensitivity: float) -> float:
    """Sensitivity in [0, 1] -> the posterior a word needs when classified on its own.

    See ``Decider.min_posterior``: 0.8 at sensitivity 0 down to 0.1 at 1.
    """
    s = _check_sensitivity(sensitivity)
    return _POSTERIOR_AT_0 + (_POSTERIOR_AT_1 - _POSTERIOR_AT_0) * s


@dataclass(frozen=True)
class KeywordEvent:
    """One detected keyword.

    Attributes
    ----------
    label : str
    start, end : float
        Seconds from the start of the stream where the word was aligned.
    score : float
        Margin over the best non-keyword hypothesis, nats per frame of the word.
    time : float
        Seconds of audio consumed when the event was emitted (``time - end`` is the
        decision latency).
    """

    label: str
    start: float
    end: float
    score: float
    time: float

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("start", "end", "time"):
            d[k] = round(d[k], 3)
        d["score"] = round(d["score"], 4)
        return d


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
    recognizer : HMMRecognizer (fitted)
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

    def __init__(self, recognizer, window_s: float, hop_s: float):
        cfg = recognizer.feature_config_
        self.cfg = cfg
        self.window_frames = max(int(round(window_s / cfg.hop_s)), 2)
        self.hop_frames = max(int(round(hop_s / cfg.hop_s)), 1)
        self.classes = recognizer.classes_
        self.keyword = np.array([is_keyword(c) for c in self.classes])
        self._kw_index, self._other_index = np.flatnonzero(self.keyword), np.flatnonzero(~self.keyword)
        # every label's model between two copies of the background: here the non-keyword
        # models (_silence_ too) are rivals that may explain any stretch of the window
        # the models kept for streaming (an earlier mixture stage of the same training)
        models = getattr(recognizer, "stream_models_", recognizer.models_)
        wrapped = [wrap_with_filler(m, recognizer.background_, _FILLER_STAY) for m in models]
        bg = recognizer.background_
        self._wrapped = [w[0] for w in wrapped]
        # the further models of labels with several (HMMRecognizer.unknown_models): scored
        # only for windows where they could matter (see lazy)
        self._recognizer = recognizer
        extra = [wrap_with_filler(m, bg, _FILLER_STAY) for m in getattr(recognizer, "extra_stream_models_", [])]
        self._extra_bank = (ModelBank([w[0] for w in extra], starts=[w[1] for w in extra],
                                      finals=[w[2] for w in extra], single_precision=True) if extra else None)
        self.lazy = False
        # margins are per frame of the word (its median training duration), not per frame
        # of the window: frames outside the word score about equally in both hypotheses
        stats = recognizer.training_summary_.get("duration_s", {})
        self.word_frames = np.array([max(stats.get(str(c), {}).get("p50", window_s) / cfg.hop_s, 1.0)
                                     for c in self.classes])
        # raw c0 is the log frame energy; this is its value for a frame at the floor + 20 dB
        self._min_log_energy = floor_log_energy(cfg, _MIN_PEAK_OVER_FLOOR_DB)
        self.bank = ModelBank(self._wrapped + [bg], starts=[w[1] for w in wrapped] + [np.ones(1)],
                              finals=[w[2] for w in wrapped] + [np.ones(1, bool)], single_precision=True)
        self.reset()

    def reset(self) -> None:
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

    def refine(self, ws: WindowScore) -> WindowScore:
        """Make ``ws`` exact (in place): score the further models of labels with several.

        They can only raise those labels (all non-keyword), so the best keyword stays and
        the margins can only fall.
        """
        if ws.exact:
            return ws
        words = self._recognizer._label_loglik(np.r_[ws.loglik, self._extra_bank.score(ws._x)],
                                               self._recognizer.extra_labels_)
        n = len(ws._x)
        ws.loglik, ws.margins = words, self._margins(words, ws.background, n)
        ws.margin = float(ws.margins[ws.best]) if ws.best >= 0 else -np.inf
        ws._x = None
        return ws

    def _margins(self, words: np.ndarray, bg: float, n: int) -> np.ndarray:
        """Per label: the smaller of its margin over the non-keyword hypotheses and its
        margin over the best other keyword plus ``_KEYWORD_SLACK`` (nats per frame)."""
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
            margins[kw] = np.minimum(margins[kw], (own - other) / frames + _KEYWORD_SLACK)
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

    def posterior(self, ws: WindowScore, frames: np.ndarray, start: float, end: float) -> np.ndarray:
        """Posterior over labels of the stretch ``start``-``end`` (seconds) of the window,
        classified as one utterance by the recognizer's file models.

        The stretch is widened by ``_VERIFY_PAD_S`` each side (within the window) and
        normalised on its own, as a training utterance is.
        """
        hop, n = self.cfg.hop_s, len(frames)
        first = int(np.clip(round((start - _VERIFY_PAD_S - ws.start) / hop), 0, max(n - 2, 0)))
        stop = int(np.clip(round((end + _VERIFY_PAD_S - self.cfg.win_s - ws.start) / hop) + 1, first + 2, n))
        x = normalize(np.asarray(frames[first:stop], dtype=np.float64), self.cfg)
        rec = self._recognizer
        return rec.proba_from_loglik(rec.loglik_features(x), [len(x)])[0]

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


@dataclass
class _Candidate:
    """The best window of the current run of above-threshold windows."""

    label: int
    margin: float
    window: WindowScore
    start: float  # the word inside the window (Viterbi alignment), seconds
    end: float
    sound_end: float  # where the word's sound fades (<= end; see Decider.sound_end)
    stale: int = 0  # windows since the margin last improved


class Decider:
    """Turns window scores into keyword events.

    Parameters
    ----------
    threshold : float
        Minimum margin (nats per frame) for a keyword.
    patience_windows : int
        Emit the best window once this many later windows did not beat it.
    refractory_s : float
        After an event, no event may start before ``end + refractory_s``.
    patience_s : float or None
        Also emit the best window once ``patience_s`` seconds of audio have passed
        since the end of its word: later windows hold the same word and could only
        delay the decision. The end that counts here is where the word's sound fades
        (see :meth:`sound_end`), which the Viterbi end can overshoot by a few tenths of
        a second in noise.
    frame_s, frame_len_s : float
        Hop and length of the frames handed to :meth:`update`, in seconds.
    min_tail_s, max_tail_s : float
        A window counts for a word only if the word's sound faded at least
        ``min_tail_s`` and at most ``max_tail_s`` before the window's end (the last
        window of a stream needs no minimum, the first no maximum). A word that runs up
        to the window's end may be the start of a longer one; a window that finds a word
        long after its end decides late. The stream recognizer uses 0.05 s and 0.35 s
        (or the hop + 0.05 s if longer, so that every word has a window): on the Speech
        Commands stream the minimum cut the false alarms by 30-50% at about the same
        misses (0.1 s: 1 point more misses), the maximum moved each sensitivity along
        the same miss/false-alarm curve and brought the p95 latency from 0.72 to 0.43 s.
    max_peak_gap_db : float
        A window counts for a word only if the word's loudest frame is at most this far
        (dB) below the window's loudest frame: a keyword model that explains a fainter
        stretch (a step in the background, the run-up to a louder word) beside the
        window's main sound is not the word of that window. The stream recognizer uses
        6 dB: on the Speech Commands stream it cut the false alarms at the loosest
        sensitivity from 194 to 137 per hour with fewer misses (0.302 -> 0.271), and left
        the stricter settings as they were.
    min_posterior : float
        A window counts for a word only if the word, cut from the window with 0.1 s each
        side and classified on its own as a file is (normalised alone, scored by the
        recognizer's full models against every label, calibrated posterior), gets at least
        this posterior for the window's label (0: no such check). Classifying the word on
        its own weighs what the window's margin cannot: how the word compares with every
        other label under the models made for whole utterances. The stream recognizer
        ties it to the sensitivity (:func:`sensitivity_to_min_posterior`): on the Speech
        Commands stream (with the models of the time, before the RASTA filter) it took
        the misses with no false alarm from 0.674 to 0.552 and 0.579 at 6.6 false alarms
        per hour to 0.469 at 5.3, and on a second stream of other speakers 0.755 at 8.8
        false alarms per hour to 0.611 at 8.8.
    """

    def __init__(self, threshold: float, patience_windows: int, refractory_s: float, patience_s: float | None = None,
                 frame_s: float = 0.01, frame_len_s: float = 0.025, min_tail_s: float = 0.0,
                 max_tail_s: float = np.inf, max_peak_gap_db: float = np.inf, min_posterior: float = 0.0):
        self.frame_s = frame_s
        self.min_posterior = min_posterior
        self.max_peak_gap_db = max_peak_gap_db
        self.min_tail_s = min_tail_s
        self.max_tail_s = max_tail_s
        self.frame_len_s = frame_len_s
        self.threshold = threshold
        self.patience_windows = patience_windows
        self.refractory_s = refractory_s
        self.patience_s = patience_s
        self.reset()

    def reset(self):
        self._cand: _Candidate | None = None
        self._blocked_until = -np.inf

    def update(self, ws: WindowScore, frames: np.ndarray, now: float, align, last: bool = False,
               posterior=None, refine=None) -> list[KeywordEvent]:
        """Consider one window; return the events it completes.

        ``align(ws, frames)`` gives the (start, end) of the window's word,
        ``posterior(ws, frames, start, end)`` the posterior over labels of that word on
        its own, ``refine(ws)`` makes an inexact window's margins exact (see
        :attr:`WindowScore.exact`): each is asked only when the answer could matter.
        ``last``: the stream ends with this window (no later window can hold more of the word).
        A window with ``first_frame == 0`` is the stream's first (no earlier window saw the word).
        """
        out = []
        # a window that starts before the end of the last event (plus the refractory time)
        # still holds that word: it may not start a new event
        above = ws.best >= 0 and ws.margin > self.threshold and ws.start >= self._blocked_until
        c = self._cand
        new = None
        if above and (c is None or ws.margin > c.margin):
            start, end = align(ws, frames)
            fade = self.sound_end(ws, frames, start, end)
            tail = ws.end - fade
            if ((last or tail >= self.min_tail_s) and (ws.first_frame == 0 or tail <= self.max_tail_s)
                    and self.peak_gap_db(ws, frames, start, end) <= self.max_peak_gap_db):
                checked = (self.min_posterior <= 0 or posterior is None
                           or posterior(ws, frames, start, end)[ws.best] >= self.min_posterior)
                if checked and refine is not None:
                    refine(ws)  # the margins so far may have been upper bounds
                if checked and ws.margin > self.threshold and (c is None or ws.margin > c.margin):
                    new = _Candidate(ws.best, ws.margin, ws, start, end, fade)
        if new is not None:
            self._cand = c = new
        elif c is not None:
            c.stale += 1
        # the clock of the decision is the audio the window needed, not the chunk it came
        # in: decisions do not depend on how the stream was cut into chunks
        if c is not None and (c.stale >= self.patience_windows
                              or (self.patience_s is not None and ws.end >= c.sound_end + self.patience_s)):
            out.append(self._emit(now))
        return out

    def _word_energy(self, ws: WindowScore, frames, start: float, end: float):
        """(log energy of the window's frames, index of the word's first frame, of its last + 1)."""
        energy = np.asarray(frames)[:, 0]
        first = int(np.clip(round((start - ws.start) / self.frame_s), 0, len(energy) - 1))
        stop = int(np.clip(round((end - self.frame_len_s - ws.start) / self.frame_s) + 1, first + 1, len(energy)))
        return energy, first, stop

    def peak_gap_db(self, ws: WindowScore, frames, start: float, end: float) -> float:
        """How far (dB) the loudest frame of the aligned word is below the window's loudest frame."""
        if frames is None or len(frames) == 0:
            return 0.0
        energy, first, stop = self._word_energy(ws, frames, start, end)
        return float(energy.max() - energy[first:stop].max()) * 10.0 / np.log(10.0)

    def sound_end(self, ws: WindowScore, frames, start: float, end: float) -> float:
        """End (seconds) of the last frame of the aligned word within ``_SOUND_END_DB`` of its loudest.

        ``frames`` are the window's raw frames (column 0: log energy); ``end`` if none.
        """
        if frames is None or len(frames) == 0:
            return end
        energy, first, stop = self._word_energy(ws, frames, start, end)
        word = energy[first:stop]
        loud = np.flatnonzero(word >= word.max() - _SOUND_END_DB * np.log(10.0) / 10.0)
        return min(end, ws.start + (first + int(loud[-1])) * self.frame_s + self.frame_len_s)

    def _emit(self, now: float) -> KeywordEvent:
        c = self._cand
        self._cand = None
        self._blocked_until = c.end + self.refractory_s
        return KeywordEvent(label=str(c.label), start=c.start, end=c.end, score=c.margin, time=now)

    def flush(self, now: float) -> list[KeywordEvent]:
        out = [self._emit(now)] if self._cand is not None else []
        self.reset()
        return out


class StreamRecognizer:
    """Keyword events from a stream of audio chunks.

    Parameters
    ----------
    recognizer : HMMRecognizer (fitted)
    window_s : float or None
        Window length in seconds; ``None``: a little longer than the longest typical
        keyword in the training data (95th percentile + 0.1 s, within 0.5-2 s).
    hop_s : float
        Seconds between windows.
    sensitivity : float
        0 (fewest false alarms) to 1 (fewest misses); it sets both levels a word must
        pass, :func:`sensitivity_to_threshold` and :func:`sensitivity_to_min_posterior`.
    refractory_s : float
        Quiet time after each event.
    patience_s : float
        Seconds of audio after the word's sound has faded before its event is emitted
        (the best window that held the word by then gives the event).
    keep_history : bool
        Keep every :class:`WindowScore` in ``history`` (for plots).
    """

    def __init__(self, recognizer, window_s=None, hop_s=DEFAULT_HOP_S, sensitivity=DEFAULT_SENSITIVITY,
                 refractory_s=DEFAULT_REFRACTORY_S, patience_s=DEFAULT_PATIENCE_S, keep_history=False):
        recognizer._check_fitted()
        if window_s is None:
            window_s = default_window_s(recognizer)
        if not 0 < hop_s <= window_s:
            raise ParameterError(f"need 0 < hop_s <= window_s, got hop_s={hop_s}, window_s={window_s}")
        if refractory_s < 0 or patience_s < 0:
            raise ParameterError("refractory_s and patience_s must be >= 0")
        self.recognizer = recognizer
        self._features = FeatureStream(recognizer.feature_config_)
        self.scorer = WindowScorer(recognizer, window_s, hop_s)
        self.window_s = self.scorer.window_frames * recognizer.feature_config_.hop_s
        self.hop_s = self.scorer.hop_frames * recognizer.feature_config_.hop_s
        self.sensitivity = sensitivity
        self._refractory_s, self._patience_s = refractory_s, patience_s
        self.decider = self._decider_at(sensitivity)
        # every decider here sees the same windows; push() returns the events of the first
        # (events_at_sensitivities adds one per sensitivity)
        self._deciders = [self.decider]
        self.keep_history = keep_history
        self.reset()

    def _decider_at(self, sensitivity: float) -> Decider:
        cfg = self.recognizer.feature_config_
        return Decider(sensitivity_to_threshold(sensitivity), max(1, int(round(self._patience_s / self.hop_s))),
                       self._refractory_s, self._patience_s, frame_s=cfg.hop_s, frame_len_s=cfg.win_s,
                       min_tail_s=_MIN_TAIL_S, max_tail_s=max(_MAX_TAIL_S, _MIN_TAIL_S + self.hop_s),
                       max_peak_gap_db=_MAX_PEAK_GAP_DB, min_posterior=sensitivity_to_min_posterior(sensitivity))

    @property
    def sr(self) -> int:
        """Sample rate (Hz) that pushed chunks must have."""
        return self._features.sr

    @property
    def labels(self) -> np.ndarray:
        return self.recognizer.classes_

    @property
    def time(self) -> float:
        """Seconds of audio consumed so far."""
        return self._n_samples / self.sr

    def reset(self) -> None:
        """Start a new stream."""
        self._features.reset()
        self.scorer.reset()
        for d in self._deciders:
            d.reset()
        self._n_samples = 0
        self._pending: list[np.ndarray] = []  # samples not yet handed to the feature stream
        self.history: list[WindowScore] = []

    def _named(self, ev: KeywordEvent) -> KeywordEvent:
        return KeywordEvent(str(self.labels[int(ev.label)]), ev.start, ev.end, ev.score, ev.time)

    def push(self, chunk: np.ndarray) -> list[KeywordEvent]:
        """Add float mono samples at :attr:`sr`; return the events decided so far."""
        return self._push_all(chunk)[0]

    def flush(self) -> list[KeywordEvent]:
        """End of stream: the remaining events. The recognizer is then ready for a new stream."""
        return self._flush_all()[0]

    def _push_all(self, chunk: np.ndarray) -> list[list[KeywordEvent]]:
        """:meth:`push` for every decider: one list of events each."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 1:
            raise ParameterError(f"StreamRecognizer.push expects a 1-D chunk, got shape {chunk.shape}")
        if not np.all(np.isfinite(chunk)):
            raise ParameterError("StreamRecognizer.push: chunk contains NaN or infinite samples")
        self._n_samples += len(chunk)
        self._pending.append(chunk)
        if self._n_samples < self._samples_for_next_window():
            # no window can be complete yet: keep the samples (features of bigger pieces
            # cost less, and the frames are the same whatever the pieces)
            return [[] for _ in self._deciders]
        return self._windows_to_events(self._features.push(self._take_pending()), final=False)

    def _take_pending(self) -> np.ndarray:
        pending, self._pending = self._pending, []
        return np.concatenate(pending) if pending else np.zeros(0, np.float32)

    def _samples_for_next_window(self) -> int:
        """Samples the stream must have consumed before the scorer's next window is complete."""
        cfg = self.recognizer.feature_config_
        last_frame = self.scorer._next_end - 1 + self._features.lookahead_frames
        return last_frame * cfg.hop_samples + cfg.win_samples

    def _flush_all(self) -> list[list[KeywordEvent]]:
        frames = np.vstack([self._features.push(self._take_pending()), self._features.flush()])
        out = self._windows_to_events(frames, final=True)
        history = self.history
        self.reset()
        self.history = history
        return out

    def _windows_to_events(self, frames, final: bool) -> list[list[KeywordEvent]]:
        out = [[] for _ in self._deciders]
        # a decider asks for a window's exact margins only when it could become a decision:
        # every window is exact only for the history (plots)
        self.scorer.lazy = not self.keep_history
        windows = self.scorer.push(frames, final=final)
        for i, (ws, seg) in enumerate(windows):
            last = final and i == len(windows) - 1
            if self.keep_history:
                self.history.append(ws)
            cache = {}

            def align(w, f, seg=seg):  # one Viterbi alignment per window, whichever decider asks
                if "span" not in cache:
                    cache["span"] = self.scorer.align(w, seg)
                return cache["span"]

            def posterior(w, f, start, end, seg=seg):  # likewise one check of the word per window
                if "posterior" not in cache:
                    cache["posterior"] = self.scorer.posterior(w, seg, start, end)
                return cache["posterior"]

            for events, d in zip(out, self._deciders):
                events.extend(self._named(ev) for ev in d.update(ws, seg, self.time, align, last, posterior,
                                                                 self.scorer.refine))
        if final:
            for events, d in zip(out, self._deciders):
                events.extend(self._named(ev) for ev in d.flush(self.time))
        return out


def default_window_s(recognizer) -> float:
    """Window length fitted to the training data (see :class:`StreamRecognizer`)."""
    stats = recognizer.training_summary_.get("duration_s", {})
    p95 = [v["p95"] for k, v in stats.items() if is_keyword(k)]
    if not p95:
        return 1.0
    return float(np.clip(max(p95) + _WINDOW_MARGIN_S, _MIN_WINDOW_S, _MAX_WINDOW_S))


def stream_file(recognizer, path, chunk_s: float = 0.1, **kwargs):
    """Yield keyword events of a WAV file, reading it in chunks (bounded memory).

    ``kwargs`` go to :class:`StreamRecognizer`.
    """
    sr = recognizer.feature_config_.sr
    rec = StreamRecognizer(recognizer, **kwargs)
    for chunk in audio.iter_chunks(path, sr, max(1, int(chunk_s * sr))):
        yield from rec.push(chunk)
    yield from rec.flush()


def events_at_sensitivities(recognizer, chunks, sensitivities, **kwargs) -> dict[float, list[KeywordEvent]]:
    """The events of one stream at several sensitivities, for the price of one scoring pass.

    Every window is scored once and handed to one :class:`Decider` per sensitivity, so
    the events of each setting are exactly those of ``StreamRecognizer(recognizer,
    sensitivity=s, **kwargs)`` fed the same chunks. For miss/false-alarm curves and
    for turning the sensitivity knob after the fact.

    Parameters
    ----------
    recognizer : HMMRecognizer (fitted)
    chunks : iterable of np.ndarray
        Float mono samples at the model's rate.
    sensitivities : iterable of float
    kwargs
        ``window_s``, ``hop_s``, ``refractory_s``, ``patience_s`` as for :class:`StreamRecognizer`.
    """
    levels = sorted({float(v) for v in sensitivities})
    if not levels:
        raise ParameterError("events_at_sensitivities needs at least one sensitivity")
    stream = StreamRecognizer(recognizer, sensitivity=levels[0], **kwargs)
    stream._deciders = [stream._decider_at(v) for v in levels]  # validates every level
    out = [[] for _ in levels]
    for chunk in chunks:
        for events, new in zip(out, stream._push_all(chunk)):
            events.extend(new)
    for events, new in zip(out, stream._flush_all()):
        events.extend(new)
    return dict(zip(levels, out))
