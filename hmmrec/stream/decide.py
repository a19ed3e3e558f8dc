"""Decisions: keyword events from scored windows, and the one sensitivity knob.

:class:`Decider` turns :class:`~hmmrec.stream.scoring.WindowScore` s into
:class:`KeywordEvent` s. A keyword is a candidate while its margin over the best
non-keyword hypothesis is above the threshold set by ``sensitivity`` (and its margin
over every other keyword above the threshold less a slack) in a window that holds the
fade of the word's sound and whose loudest sound is the word's. The word is then cut
out and classified on its own as a file is: how far its label leads the next label
there, plus a share of the window's margin, is the word's *score*, which must reach
the level ``sensitivity`` sets (two opinions weighed together: the stream models'
margin over the background, the file models' lead over every other label). The best
such window is emitted once ``patience_s`` has passed since the sound faded; a
refractory time follows each event.

:func:`judge_recording` applies the same two levels to one recording of one word (the
file recognizer's answer): :class:`Verdict` says whether a keyword was heard, or why not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ParameterError
from ..labels import is_keyword, is_whole
from .scoring import WindowScore, WindowScorer

__all__ = ["KeywordEvent", "Decider", "make_decider", "sensitivity_to_threshold", "sensitivity_to_min_score",
           "word_lead", "word_score", "strictest_score", "STRICTEST_SCORE", "Verdict", "Evidence", "judge",
           "judge_recording", "recording_evidence", "recognize_and_judge", "DEFAULT_SENSITIVITY",
           "DEFAULT_REFRACTORY_S", "DEFAULT_PATIENCE_S", "MIN_TAIL_S", "MAX_TAIL_S", "MARGIN_SHARE"]

DEFAULT_SENSITIVITY = 0.5
DEFAULT_REFRACTORY_S = 0.3
DEFAULT_PATIENCE_S = 0.1
# margin (nats per frame) at sensitivity 0 and 1; the threshold moves linearly between them
_THRESHOLD_AT_0, _THRESHOLD_AT_1 = 1.0, 0.5
# ... and so does the score the word must reach (see Decider.min_score)
_SCORE_AT_0, _SCORE_AT_1 = 3.0, 0.5
# the least score a word needs at sensitivity 0 (see strictest_score); a model whose own
# training keywords score higher demands more there (the knob reaches further)
STRICTEST_SCORE = _SCORE_AT_0
# a word's score: its lead on its own plus this share of the window's margin (the ratio of
# the weights of a logistic regression of hits against false alarms on a development
# stream whose speakers are neither trained on nor tested: benchmarks/kws_dev.py)
MARGIN_SHARE = 0.25
# a word's sound has faded where its log energy stays this far below its loudest frame
_SOUND_END_DB = 15.0
# a window may only decide on a word whose sound has faded at least this long before the
# window's end (else the window may hold just the start of a longer word, which a short
# keyword may fit) ...
MIN_TAIL_S = 0.05
# ... and at most this long (or the hop plus the above, if longer): a later window only
# delays the decision
MAX_TAIL_S = 0.35
# the word a window decides on must hold the window's loudest sound (within this many dB)
_MAX_PEAK_GAP_DB = 6.0


def _check_sensitivity(sensitivity: float) -> float:
    if not 0.0 <= sensitivity <= 1.0:
        raise ParameterError(f"sensitivity must be between 0 and 1, got {sensitivity}")
    return float(sensitivity)


def _strict_end(strictest: float) -> float:
    """The sensitivity at which the score a word needs is down to :data:`STRICTEST_SCORE`
    (0 for a model whose :func:`strictest_score` is that)."""
    mid = 0.5 * (_SCORE_AT_0 + _SCORE_AT_1)  # (the score at the default, 0.5)
    return 0.5 * max(0.0, strictest - _SCORE_AT_0) / (strictest - mid)


def sensitivity_to_threshold(sensitivity: float, strictest: float = STRICTEST_SCORE) -> float:
    """The one knob: sensitivity in [0, 1] -> margin threshold in nats per frame.

    Higher sensitivity: more detections, fewer misses, more false alarms. The same knob
    sets :func:`sensitivity_to_min_score`, the level that decides most. ``strictest``:
    the model's :func:`strictest_score`; above 3.0 the threshold stays at its highest
    until the score a word needs is down to 3.0, so that every setting of the usual
    knob (``strictest`` 3.0) is one of the model's too.
    """
    s = _check_sensitivity(sensitivity)
    a = _strict_end(strictest)
    if s < a:
        return _THRESHOLD_AT_0
    if a and s < 0.5:  # (the usual knob's 0..0.5, from a)
        s = 0.5 * (s - a) / (0.5 - a)
    return _THRESHOLD_AT_0 + (_THRESHOLD_AT_1 - _THRESHOLD_AT_0) * s


def sensitivity_to_min_score(sensitivity: float, strictest: float = STRICTEST_SCORE) -> float:
    """Sensitivity in [0, 1] -> the score a word needs (see ``Decider.min_score``):
    ``strictest`` (the model's :func:`strictest_score`, at least 3.0) at sensitivity 0,
    1.75 at the default 0.5 and 0.5 at 1, linearly between those."""
    s = _check_sensitivity(sensitivity)
    # (the usual line, plus what the model's strict end adds, all of it at 0 and none from 0.5 up)
    extra = max(0.0, strictest - _SCORE_AT_0)
    return _SCORE_AT_0 + (_SCORE_AT_1 - _SCORE_AT_0) * s + extra * max(0.0, 1.0 - 2.0 * s)


def strictest_score(recognizer) -> float:
    """The score a word needs at sensitivity 0 with this recognizer: the median lead of
    its own training keywords on their own (``training_summary_["keyword_lead_p50"]``),
    or :data:`STRICTEST_SCORE` if that is higher or unknown.

    Models trained on few voices know their training words far more confidently than
    models of many voices (FSDD's five speakers against Speech Commands' hundred), and
    are as confident when they take one word of a new voice for another; a fixed strict
    end would leave such a voice no setting without false alarms. Below the default the
    knob then covers the scores from that median down; from the default up it is the
    same for every model."""
    lead = recognizer.training_summary_.get("keyword_lead_p50")  # (a number: fit, or checked when read)
    return STRICTEST_SCORE if lead is None else max(STRICTEST_SCORE, float(lead))


def word_lead(posterior, k: int) -> float:
    """How far label ``k`` leads the next label in ``posterior`` (over labels, of a word
    classified on its own): the log of their ratio. With the file models' posteriors, a
    softmax of log-likelihoods per frame, this is nats per frame (times the temperature).
    ``-inf`` when the label has no probability; ``inf`` when no other label has any."""
    p = np.asarray(posterior, dtype=float)
    others = np.delete(p, k)
    best_other = float(others.max()) if len(others) else 0.0
    with np.errstate(divide="ignore"):
        return float(np.log(p[k]) - np.log(best_other))


def word_score(margin: float, lead: float) -> float:
    """The score of a word (see ``Decider.min_score``): its ``lead`` on its own plus
    :data:`MARGIN_SHARE` of its window's ``margin``."""
    return float(lead + MARGIN_SHARE * margin)


@dataclass(frozen=True)
class KeywordEvent:
    """One detected keyword.

    Attributes
    ----------
    label : str
    start, end : float
        Seconds from the start of the stream where the word was aligned.
    score : float
        The word's score, which the level set by the sensitivity was checked against
        (``Decider.min_score``, :func:`sensitivity_to_min_score`): its lead when
        classified on its own plus a share of its window's margin (:func:`word_score`),
        as a recording's :class:`Verdict` has it. The window's margin alone where the
        decider makes no such check (``min_score`` None).
    time : float
        Seconds of audio consumed when the event was emitted (``time - end`` is the
        decision latency).
    margin : float
        The margin of the window that made the event (:attr:`WindowScore.margin`, nats
        per frame), which the threshold set by the sensitivity was checked against.
    """

    label: str
    start: float
    end: float
    score: float
    time: float
    margin: float = float("nan")

    def __post_init__(self):  # plain Python values, whatever numpy scalars made them (a readable repr)
        object.__setattr__(self, "label", str(self.label))
        for k in ("start", "end", "score", "time", "margin"):
            object.__setattr__(self, k, float(getattr(self, k)))

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("start", "end", "time"):
            d[k] = round(d[k], 3)
        for k in ("score", "margin"):
            d[k] = round(d[k], 4) if np.isfinite(d[k]) else None
        return d


@dataclass
class _Candidate:
    """The best window of the current run of above-threshold windows."""

    label: int
    margin: float
    score: float  # what the event reports (KeywordEvent.score)
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
        long after its end decides late, and is as likely a false alarm as a hit.
    max_peak_gap_db : float
        A window counts for a word only if the word's loudest frame is at most this far
        (dB) below the window's loudest frame: a keyword model that explains a fainter
        stretch (a step in the background, the run-up to a louder word) beside the
        window's main sound is not the word of that window.
    min_score : float or None
        A window counts for a word only if the word's score reaches this (None: no such
        check). The word is cut from the window with a little margin each side and
        classified on its own as a file is (normalised alone, scored by the recognizer's
        file models against every label, calibrated posterior); its score is how far the
        window's label leads the next label there (:func:`word_lead`) plus a share of
        the window's margin (:func:`word_score`). It weighs what the margin alone cannot:
        how the word compares with every other label under the models made for whole
        utterances. The lead against the next label, not the posterior: the posterior is
        shared among every near rival, so a clear word among several distant ones and a
        doubtful word between two labels can get the same.

    The values the stream recognizer uses (:func:`make_decider`): the margin's share in
    the score and the two levels' ranges were chosen on the development stream of
    ``benchmarks/kws_dev.py``, the others on the keyword stream of ``benchmarks/kws.py``;
    see benchmarks/RESULTS.md.
    """

    def __init__(self, threshold: float, patience_windows: int, refractory_s: float, patience_s: float | None = None,
                 frame_s: float = 0.01, frame_len_s: float = 0.025, min_tail_s: float = 0.0,
                 max_tail_s: float = np.inf, max_peak_gap_db: float = np.inf, min_score: float | None = None):
        self.frame_s = frame_s
        self.min_score = min_score
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
                lead = None if self.min_score is None or posterior is None else \
                    word_lead(posterior(ws, frames, start, end), ws.best)

                def score() -> float:  # (the window's margin alone where there is no check)
                    return ws.margin if lead is None else word_score(ws.margin, lead)

                def scores_enough() -> bool:
                    return lead is None or score() >= self.min_score

                checked = scores_enough()
                if checked and refine is not None:
                    refine(ws)  # the margins so far may have been upper bounds, and may fall
                    checked = scores_enough()
                if checked and ws.margin > self.threshold and (c is None or ws.margin > c.margin):
                    new = _Candidate(ws.best, ws.margin, score(), ws, start, end, fade)
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
        return KeywordEvent(label=str(c.label), start=c.start, end=c.end, score=c.score, time=now, margin=c.margin)

    def flush(self, now: float) -> list[KeywordEvent]:
        out = [self._emit(now)] if self._cand is not None else []
        self.reset()
        return out


def make_decider(sensitivity: float, hop_s: float, frame_s: float, frame_len_s: float,
                 refractory_s: float = DEFAULT_REFRACTORY_S, patience_s: float = DEFAULT_PATIENCE_S,
                 strictest: float = STRICTEST_SCORE) -> Decider:
    """The stream recognizer's decider at ``sensitivity`` for windows ``hop_s`` apart
    and frames ``frame_s`` apart and ``frame_len_s`` long (seconds); ``strictest``: the
    model's :func:`strictest_score`."""
    return Decider(sensitivity_to_threshold(sensitivity, strictest), max(1, int(round(patience_s / hop_s))),
                   refractory_s, patience_s, frame_s=frame_s, frame_len_s=frame_len_s, min_tail_s=MIN_TAIL_S,
                   max_tail_s=max(MAX_TAIL_S, MIN_TAIL_S + hop_s), max_peak_gap_db=_MAX_PEAK_GAP_DB,
                   min_score=sensitivity_to_min_score(sensitivity, strictest))


# -- one recording -----------------------------------------------------------------------
# why a recording's answer is not a keyword (Verdict.rejected_because), in the order checked
SILENT = "silent"  # nothing above the feature floor: the stream scores no such window
NOT_A_KEYWORD = "not_a_keyword"  # the best label is a non-keyword class (``_silence_``, ``_unknown_``)
LOW_MARGIN = "margin"  # the keyword does not stand out from its rivals by the threshold
LOW_SCORE = "score"  # the keyword's score (its lead on its own, with a share of its margin) is too low


@dataclass(frozen=True)
class Verdict:
    """Whether one recording holds a keyword by the stream's rules, and why not.

    Attributes
    ----------
    label : str
        The best label of the recording (:attr:`Recognition.label`), judged.
    accepted : bool
        True: ``label`` is a keyword that passes both levels of ``sensitivity``.
    margin : float
        The stream's margin of ``label`` with the whole recording as one window: over the
        best non-keyword hypothesis, and over the best other keyword plus
        ``KEYWORD_SLACK`` (nats per frame of the word; ``-inf`` for a non-keyword label or
        a silent recording). Accepted only above ``threshold``.
    posterior : float
        Calibrated posterior of ``label`` for the recording classified whole (the word on
        its own, as the stream checks it).
    lead : float
        How far ``label`` leads the next label there (:func:`word_lead`, nats per frame).
    score : float
        ``lead`` plus a share of ``margin`` (:func:`word_score`). Accepted only from
        ``min_score`` up.
    threshold, min_score : float
        The two levels at ``sensitivity`` (:func:`sensitivity_to_threshold`,
        :func:`sensitivity_to_min_score`).
    sensitivity : float
    rejected_because : str
        ``""`` when accepted, else the first rule that failed: ``"silent"``,
        ``"not_a_keyword"``, ``"margin"`` or ``"score"``.
    reason : str
        One sentence for a person: why the recording is not taken for a keyword (``""``
        when accepted).
    """

    label: str
    accepted: bool
    margin: float
    posterior: float
    lead: float
    score: float
    threshold: float
    min_score: float
    sensitivity: float
    rejected_because: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        """JSON-ready fields (``margin``, ``lead`` and ``score`` are ``None`` where not finite)."""
        d = asdict(self)
        for k in ("margin", "lead", "score"):
            d[k] = round(d[k], 4) if np.isfinite(d[k]) else None
        for k in ("posterior", "threshold", "min_score", "sensitivity"):
            d[k] = round(d[k], 4)
        return d


def judge(label: str, margin: float, posterior: float, lead: float, sensitivity: float = DEFAULT_SENSITIVITY,
          silent: bool = False, strictest: float = STRICTEST_SCORE) -> Verdict:
    """The stream's decision on one word: is ``label`` a keyword heard clearly enough?

    Parameters
    ----------
    label : str
        The best label of the recording.
    margin : float
        Its margin over its rivals, nats per frame (see :class:`Verdict`); a keyword is
        taken only above :func:`sensitivity_to_threshold`, as a stream window is.
    posterior : float
        Its posterior on its own (reported, not judged).
    lead : float
        How far it leads the next label on its own (:func:`word_lead`); with a share of
        ``margin`` (:func:`word_score`) a keyword needs :func:`sensitivity_to_min_score`.
    sensitivity : float
        The stream's knob, 0 (strictest) to 1.
    silent : bool
        The recording holds no sound above the feature floor.
    strictest : float
        The model's :func:`strictest_score`.
    """
    threshold = sensitivity_to_threshold(sensitivity, strictest)
    min_score = sensitivity_to_min_score(sensitivity, strictest)
    margin, posterior, lead, label = float(margin), float(posterior), float(lead), str(label)
    score = word_score(margin, lead) if np.isfinite(margin) else -np.inf
    if silent:
        why, reason = SILENT, "the recording is silent: there is no sound in it to recognise"
    elif not is_keyword(label):
        kind = "silence and background sound" if is_whole(label) else "sounds and words to ignore"
        why, reason = NOT_A_KEYWORD, f"it sounds most like {label}, the model's class of {kind}, not a word"
    elif not margin > threshold:
        needs = f"at sensitivity {sensitivity:.2f} a word must lead by more than {threshold:.2f}"
        if margin >= 0:
            reason = (f"“{label}” leads the other models (background sound, non-keyword classes and the other "
                      f"words) by only {margin:.2f} nats per frame; {needs}")
        else:
            reason = (f"another model (background sound, a non-keyword class or another word) fits the "
                      f"recording better than “{label}” does, by {-margin:.2f} nats per frame; {needs}")
        why = LOW_MARGIN
    elif not score >= min_score:
        why, reason = LOW_SCORE, (f"on its own “{label}” leads the next word by only {lead:.2f} nats per frame "
                                  f"(probability {posterior:.0%}), a score of {score:.2f} with its margin; at "
                                  f"sensitivity {sensitivity:.2f} a word needs {min_score:.2f}")
    else:
        why, reason = "", ""
    return Verdict(label, not why, margin, posterior, lead, score, threshold, min_score, float(sensitivity), why,
                   reason)


def judge_recording(recognizer, x, sensitivity: float = DEFAULT_SENSITIVITY, recognition=None) -> Verdict:
    """The stream's rules applied to one recording of one word.

    The recording is classified as a file is (``recognizer.recognize``), and its best
    label is taken as a keyword only if the stream would take it: the whole recording,
    scored as one stream window (:meth:`WindowScorer.score_segment`: every label's
    stream model wrapped in the background model), gives the label a margin above the
    threshold ``sensitivity`` sets, and the recording on its own (the word the stream
    would cut out and check) gives it the score ``sensitivity`` asks for.

    Parameters
    ----------
    recognizer : HMMRecognizer (fitted)
    x : path or np.ndarray
        An audio file, or float mono samples at the model's rate.
    sensitivity : float
        The stream's knob (see :func:`sensitivity_to_threshold`).
    recognition : Recognition or None
        ``recognizer.recognize(x)`` if already computed.

    Returns
    -------
    Verdict
    """
    return recognize_and_judge(recognizer, x, sensitivity, recognition)[1]


@dataclass(frozen=True)
class Evidence:
    """What the stream's rules weigh in one recording, at any sensitivity
    (:func:`recording_evidence`): the file recognizer's answer, the stream's margin for
    its best label and whether the recording is silent."""

    recognition: object  # hmmrec.recognizer.Recognition
    margin: float
    silent: bool
    strictest: float = STRICTEST_SCORE  # the model's strictest_score

    def verdict(self, sensitivity: float = DEFAULT_SENSITIVITY) -> Verdict:
        """:func:`judge_recording` at ``sensitivity``."""
        r = self.recognition
        return judge(r.label, self.margin, float(r.proba[r.best]), word_lead(r.proba, r.best), sensitivity,
                     silent=self.silent, strictest=self.strictest)


def recording_evidence(recognizer, x, recognition=None) -> Evidence:
    """:class:`Evidence` of one recording, from one reading of ``x`` and one feature
    extraction; a verdict at another sensitivity then costs nothing (a slider)."""
    from ..augment import signal_of
    from ..features import raw_features
    from ..normalization import check_long_enough, normalize

    cfg = recognizer.feature_config_
    y = signal_of(x, cfg)
    raw = raw_features(y, cfg)
    check_long_enough(raw, y, cfg, str(x) if not isinstance(x, np.ndarray) else "signal")
    r = recognition if recognition is not None else recognizer.recognize_features(
        normalize(raw, cfg), recognizer.speech(y), recognizer.filterbank_of(y))
    seconds = len(raw) * cfg.hop_s
    ws = WindowScorer(recognizer.stream_models(), seconds, seconds).score_segment(raw)
    margin = float(ws.margins[r.best]) if ws.margins is not None else -np.inf
    return Evidence(r, margin, not np.isfinite(ws.background), strictest_score(recognizer))


def recognize_and_judge(recognizer, x, sensitivity: float = DEFAULT_SENSITIVITY, recognition=None):
    """``(recognizer.recognize(x), judge_recording(recognizer, x, sensitivity))`` from one
    reading of ``x`` and one feature extraction."""
    _check_sensitivity(sensitivity)
    e = recording_evidence(recognizer, x, recognition)
    return e.recognition, e.verdict(sensitivity)
