"""Keyword recognition on a stream: chunks of audio become keyword events.

The pieces, each doing one thing:

* :class:`~hmmrec.features.FeatureStream` turns chunks of samples into raw frames,
  each computed once.
* :class:`~hmmrec.stream.scoring.WindowScorer` scores every ``hop_s`` the last
  ``window_s`` of frames against every model (:mod:`hmmrec.stream.scoring`).
* :class:`~hmmrec.stream.decide.Decider` turns window scores into
  :class:`KeywordEvent` s, at the level the one ``sensitivity`` knob sets
  (:mod:`hmmrec.stream.decide`).
* :class:`StreamRecognizer` wires them together behind ``push(chunk)`` / ``flush()`` /
  ``reset()``. Files (:func:`stream_file`), arrays and the microphone
  (:mod:`hmmrec.live`) all feed this one object.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import audio
from ..errors import ParameterError
from ..features import FeatureStream
from .decide import (DEFAULT_PATIENCE_S, DEFAULT_REFRACTORY_S, DEFAULT_SENSITIVITY, Decider, Evidence, KeywordEvent,
                     Verdict, judge, judge_recording, make_decider, recognize_and_judge, recording_evidence,
                     STRICTEST_SCORE, sensitivity_to_min_score, sensitivity_to_threshold, strictest_score)
from .scoring import VERIFY_PAD_S, WindowScore, WindowScorer

__all__ = ["StreamRecognizer", "KeywordEvent", "stream_file", "events_at_sensitivities", "WindowScore",
           "WindowScorer", "Decider", "sensitivity_to_threshold", "sensitivity_to_min_score", "strictest_score",
           "STRICTEST_SCORE", "DEFAULT_SENSITIVITY", "DEFAULT_HOP_S", "DEFAULT_REFRACTORY_S", "DEFAULT_PATIENCE_S",
           "DEFAULT_CHUNK_S", "chunk_samples", "Verdict", "Evidence", "judge", "judge_recording", "recording_evidence",
           "recognize_and_judge"]

DEFAULT_HOP_S = 0.2
# seconds of audio a file is read and pushed in: an event's decision time is the audio
# consumed when it was decided, so whoever streams a file in these chunks (the command
# line, the dashboard) reports the same times
DEFAULT_CHUNK_S = 0.1


def chunk_samples(sr: int, chunk_s: float = DEFAULT_CHUNK_S) -> int:
    """Samples in a chunk of ``chunk_s`` seconds at ``sr`` (at least one)."""
    return max(1, int(chunk_s * sr))


# raw frames kept for adapting to the words of the last events
_RECENT_S = 4.0


class _Windows:
    """Chunks of samples -> scored windows: the feature stream and the scorer, and one
    Viterbi alignment and one check of the word per window, whichever decider asks."""

    def __init__(self, models, window_s: float, hop_s: float):
        self.cfg = models.feature_config
        self.features = FeatureStream(self.cfg)
        self.scorer = WindowScorer(models, window_s, hop_s)
        self.reset()

    def reset(self) -> None:
        self.features.reset()
        self.scorer.reset()
        self.n_samples = 0
        self._pending: list[np.ndarray] = []  # samples not yet handed to the feature stream
        self._recent = np.zeros((0, self.cfg.n_features))  # the last raw frames ...
        self._recent_first = 0  # ... from this frame of the stream on
        self._signal = np.zeros(0, np.float32)  # the last samples (for a second view of a word) ...
        self._signal_first = 0  # ... from this sample of the stream on

    def frames_between(self, start: float, end: float) -> np.ndarray:
        """The raw frames of the stretch ``start``-``end`` (seconds) still kept (may be empty)."""
        hop = self.cfg.hop_s
        first = max(int(round(start / hop)), self._recent_first)
        stop = int(round((end - self.cfg.win_s) / hop)) + 1
        return self._recent[first - self._recent_first: max(stop - self._recent_first, 0)]

    def _keep(self, frames: np.ndarray) -> None:
        keep = int(_RECENT_S / self.cfg.hop_s)
        self._recent = np.vstack([self._recent, frames])
        drop = max(len(self._recent) - keep, 0)
        self._recent, self._recent_first = self._recent[drop:], self._recent_first + drop

    def _keep_signal(self, chunk: np.ndarray) -> None:
        keep = int(_RECENT_S * self.cfg.sr)
        self._signal = np.concatenate([self._signal, chunk])
        drop = max(len(self._signal) - keep, 0)
        self._signal, self._signal_first = self._signal[drop:], self._signal_first + drop

    def signal_of_frames(self, first: int, stop: int) -> np.ndarray | None:
        """The samples of the stream's frames ``first`` to ``stop`` (exclusive), or None if
        they are no longer kept."""
        a = first * self.cfg.hop_samples - self._signal_first
        b = (stop - 1) * self.cfg.hop_samples + self.cfg.win_samples - self._signal_first
        if a < 0 or b > len(self._signal) or stop <= first:
            return None
        return self._signal[a:b]

    @property
    def time(self) -> float:
        return self.n_samples / self.cfg.sr

    def _take_pending(self) -> np.ndarray:
        pending, self._pending = self._pending, []
        return np.concatenate(pending) if pending else np.zeros(0, np.float32)

    def _samples_for_next_window(self) -> int:
        """Samples the stream must have consumed before the scorer's next window is complete."""
        last_frame = self.scorer.next_window_end - 1 + self.features.lookahead_frames
        return last_frame * self.cfg.hop_samples + self.cfg.win_samples

    def push(self, chunk: np.ndarray, exact: bool) -> list:
        """Windows completed by ``chunk``: ``(score, frames, last, align, posterior)`` each."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 1:
            raise ParameterError(f"StreamRecognizer.push expects a 1-D chunk, got shape {chunk.shape}")
        if not np.all(np.isfinite(chunk)):
            raise ParameterError("StreamRecognizer.push: chunk contains NaN or infinite samples")
        self.n_samples += len(chunk)
        self._pending.append(chunk)
        self._keep_signal(chunk)
        if self.n_samples < self._samples_for_next_window():
            # no window can be complete yet: keep the samples (features of bigger pieces
            # cost less, and the frames are the same whatever the pieces)
            return []
        return self._windows(self.features.push(self._take_pending()), final=False, exact=exact)

    def flush(self, exact: bool) -> list:
        """The last windows of the stream; then ready for a new one."""
        frames = np.vstack([self.features.push(self._take_pending()), self.features.flush()])
        return self._windows(frames, final=True, exact=exact)

    def _windows(self, frames, final: bool, exact: bool) -> list:
        self._keep(frames)
        # a decider asks for a window's exact margins only when it could become a decision
        self.scorer.lazy = not exact
        windows = self.scorer.push(frames, final=final)
        out = []
        for i, (ws, seg) in enumerate(windows):
            cache = {}

            def align(w, f, seg=seg, cache=cache):
                if "span" not in cache:
                    cache["span"] = self.scorer.align(w, seg)
                return cache["span"]

            def posterior(w, f, start, end, seg=seg, cache=cache):
                if "posterior" not in cache:
                    cache["posterior"] = self.scorer.posterior(w, seg, start, end, self.signal_of_frames)
                return cache["posterior"]

            out.append((ws, seg, final and i == len(windows) - 1, align, posterior))
        return out


class StreamRecognizer:
    """Keyword events from a stream of audio chunks.

    Parameters
    ----------
    recognizer : HMMRecognizer (fitted)
    window_s : float or None
        Window length in seconds; ``None``: a little longer than the longest typical
        keyword in the training data (``StreamModels.window_s``).
    hop_s : float
        Seconds between windows.
    sensitivity : float
        0 (fewest false alarms) to 1 (fewest misses); it sets both levels a word must
        pass, :func:`sensitivity_to_threshold` and :func:`sensitivity_to_min_score`.
    refractory_s : float
        Quiet time after each event, seconds.
    patience_s : float
        Seconds of audio after the word's sound has faded before its event is emitted
        (the best window that held the word by then gives the event).
    keep_history : bool
        Keep every :class:`WindowScore` in ``history`` (for plots).
    adapt : bool
        Adapt to the voice heard (:class:`hmmrec.adapt.OnlineAdapter`): each keyword event
        whose word is recognised confidently on its own moves its label's models towards
        it, from the next :meth:`push` on; a word the adapted models fit worse than the
        trained ones (another voice) starts the adapting afresh, and more cautiously;
        :meth:`reset` starts a new session. Whether the word check adapts too depends on
        the model (:attr:`check_adapts`).

    Feed it float mono chunks at :attr:`sr` of any size with :meth:`push`, end the
    stream with :meth:`flush`; without ``adapt`` the events do not depend on how the
    audio was cut into chunks (adapting, the models change between pushes). :meth:`push_clip` does both for a whole signal.
    """

    def __init__(self, recognizer, window_s=None, hop_s=DEFAULT_HOP_S, sensitivity=DEFAULT_SENSITIVITY,
                 refractory_s=DEFAULT_REFRACTORY_S, patience_s=DEFAULT_PATIENCE_S, keep_history=False, adapt=False):
        models = recognizer.stream_models()
        if window_s is None:
            window_s = models.window_s
        if not 0 < hop_s <= window_s:
            raise ParameterError(f"need 0 < hop_s <= window_s, got hop_s={hop_s}, window_s={window_s}")
        if refractory_s < 0 or patience_s < 0:
            raise ParameterError("refractory_s and patience_s must be >= 0")
        self.recognizer = recognizer
        self._windows = _Windows(models, window_s, hop_s)
        cfg = models.feature_config
        self.window_s = self.scorer.window_frames * cfg.hop_s
        self.hop_s = self.scorer.hop_frames * cfg.hop_s
        self.sensitivity = sensitivity
        self.strictest = strictest_score(recognizer)  # (where the knob's strict end lies for this model)
        self.decider = make_decider(sensitivity, self.hop_s, cfg.hop_s, cfg.win_s, refractory_s, patience_s,
                                    self.strictest)
        self._labels = models.labels
        self.keep_history = keep_history
        self.history: list[WindowScore] = []
        self.adapter = None
        self._trained = models
        # A model of many voices (its own keywords lead by no more than the usual strict end:
        # Speech Commands' hundreds of speakers) checks each word with its trained models while
        # its stream models adapt: the trained check already holds for new voices, and an
        # adapted one let through more false alarms at the strict settings. A model of a
        # few voices (FSDD's five, a user's own takes) is sure of its own voices and doubts a
        # new one; it needs the adapted check to let that voice's words through.
        self.check_adapts = self.strictest > STRICTEST_SCORE
        if adapt:
            from ..adapt import OnlineAdapter

            self.adapter = OnlineAdapter(recognizer)

    @property
    def scorer(self) -> WindowScorer:
        """The window scorer (its ``bank``, ``classes``, ``window_frames``...)."""
        return self._windows.scorer

    @property
    def _features(self) -> FeatureStream:
        return self._windows.features

    @property
    def sr(self) -> int:
        """Sample rate (Hz) that pushed chunks must have."""
        return self._windows.cfg.sr

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def time(self) -> float:
        """Seconds of audio consumed so far."""
        return self._windows.time

    def reset(self) -> None:
        """Start a new stream."""
        self._windows.reset()
        self.decider.reset()
        self.history = []
        if self.adapter is not None:
            moved = self.adapter.current is not self.adapter.original
            self.adapter.reset()
            if moved:
                self.scorer.set_models(self._trained)

    def _adapt(self, events: list[KeywordEvent]) -> list[KeywordEvent]:
        """Adapt to each event's word (see ``adapt``); returns the events."""
        from ..normalization import normalize

        for ev in events:
            raw = self._windows.frames_between(ev.start - VERIFY_PAD_S, ev.end + VERIFY_PAD_S)
            k = int(np.flatnonzero(self._labels == ev.label)[0])
            if len(raw) >= 2 and self.adapter.add(k, normalize(np.asarray(raw, dtype=np.float64),
                                                                self._windows.cfg)):
                self.scorer.set_models(self._adapted_models())
        return events

    def _adapted_models(self):
        """The adapter's current stream models, with the word check the model calls for
        (:attr:`check_adapts`)."""
        current = self.adapter.current
        if current is self.recognizer:  # (back to the trained models: a change of voice)
            return self._trained
        models = current.stream_models()
        if self.check_adapts:
            return models
        return replace(models, word_posterior=self._trained.word_posterior, filterbank_of=self._trained.filterbank_of)

    def set_sensitivity(self, sensitivity: float) -> None:
        """Use another sensitivity from the next window on (a live knob); the stream goes on."""
        threshold = sensitivity_to_threshold(sensitivity, self.strictest)
        min_score = sensitivity_to_min_score(sensitivity, self.strictest)
        self.sensitivity = sensitivity
        self.decider.threshold, self.decider.min_score = threshold, min_score

    def push(self, chunk: np.ndarray) -> list[KeywordEvent]:
        """Add float mono samples at :attr:`sr`; return the events decided so far."""
        events = self._decide(self._windows.push(chunk, exact=self.keep_history), [self.decider])[0]
        return self._adapt(events) if self.adapter is not None else events

    def flush(self) -> list[KeywordEvent]:
        """End of stream: the remaining events. The recognizer is then ready for a new
        stream (``history`` is kept until then)."""
        events = self._decide(self._windows.flush(exact=self.keep_history), [self.decider], final=True)[0]
        history = self.history
        self.reset()
        self.history = history
        return events

    def push_clip(self, y: np.ndarray, chunk_size: int | None = None) -> list[KeywordEvent]:
        """All events of a whole signal (float mono at :attr:`sr`) as one stream:
        :meth:`push` of its chunks of ``chunk_size`` samples (default :data:`DEFAULT_CHUNK_S`), then :meth:`flush`."""
        step = chunk_size or chunk_samples(self.sr)
        events = []
        for i in range(0, len(y), step):
            events.extend(self.push(y[i:i + step]))
        return events + self.flush()

    def _decide(self, windows, deciders, final: bool = False) -> list[list[KeywordEvent]]:
        """Each decider's events from the same windows."""
        out = [[] for _ in deciders]
        for ws, seg, last, align, posterior in windows:
            if self.keep_history:
                self.history.append(ws)
            for events, d in zip(out, deciders):
                events.extend(self._named(ev) for ev in d.update(ws, seg, self.time, align, last, posterior,
                                                                 self.scorer.refine))
        if final:
            for events, d in zip(out, deciders):
                events.extend(self._named(ev) for ev in d.flush(self.time))
        return out

    def events_of(self, chunks, deciders) -> list[list[KeywordEvent]]:
        """Each of ``deciders``' events over ``chunks`` (a stream of its own, from this one's
        start), every window scored once for them all: the deciders in place of this
        recognizer's own, e.g. one per sensitivity (:func:`events_at_sensitivities`)."""
        out = [[] for _ in deciders]
        for chunk in chunks:
            for events, new in zip(out, self._decide(self._windows.push(chunk, exact=False), deciders)):
                events.extend(new)
        for events, new in zip(out, self._decide(self._windows.flush(exact=False), deciders, final=True)):
            events.extend(new)
        return out

    def _named(self, ev: KeywordEvent) -> KeywordEvent:
        return KeywordEvent(str(self._labels[int(ev.label)]), ev.start, ev.end, ev.score, ev.time, ev.margin)


def stream_file(recognizer, path, chunk_s: float = DEFAULT_CHUNK_S, progress=None, **kwargs):
    """Yield keyword events of an audio file, reading it in chunks (bounded memory).

    ``progress(seconds)``: called after each chunk with the seconds of audio consumed so
    far (for a progress bar). ``kwargs`` go to :class:`StreamRecognizer`.
    """
    rec = StreamRecognizer(recognizer, **kwargs)
    for chunk in audio.iter_chunks(path, rec.sr, chunk_samples(rec.sr, chunk_s)):
        yield from rec.push(chunk)
        if progress is not None:
            progress(rec.time)
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
    cfg = stream._windows.cfg
    refractory_s = kwargs.get("refractory_s", DEFAULT_REFRACTORY_S)
    patience_s = kwargs.get("patience_s", DEFAULT_PATIENCE_S)
    deciders = [make_decider(v, stream.hop_s, cfg.hop_s, cfg.win_s, refractory_s, patience_s, stream.strictest)
                for v in levels]
    return dict(zip(levels, stream.events_of(chunks, deciders)))
