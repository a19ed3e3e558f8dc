"""Streaming on the dashboard: a recording through the stream recognizer exactly as
``hmmrec stream`` does it, and live sessions fed by the visitor's browser microphone
(WebRTC) or the server's own microphone."""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import numpy as np

from inputs import launch_option
from hmmrec.audio import StreamResampler, to_float_mono
from hmmrec.errors import AudioError, HmmrecError

ICE_ENV = "HMMREC_DASHBOARD_ICE"
# the Stream page's sources (here, so that other pages can send a visitor to one)
SOURCE_FILE = ":material/audio_file: Recording"
SOURCE_UPLOAD = ":material/upload: Upload a WAV"
SOURCE_LIVE = ":material/mic: Live"
SOURCE_KEY = "stream_source"  # the session-state key of the Stream page's source picker


class StreamRun:
    """A recording pushed through a :class:`~hmmrec.stream.StreamRecognizer` (events +
    window history), in the chunks :func:`hmmrec.stream.stream_file` reads (so the
    events, decision times included, are those of ``hmmrec stream``).

    ``chunks``: the recording's samples at the model's rate, in pieces (for a file on
    the server, :func:`hmmrec.audio.iter_chunks` as the command line reads it);
    ``progress(seconds)`` after each piece.
    """

    def __init__(self, rec, chunks, sensitivity: float, progress=None):
        from hmmrec.stream import StreamRecognizer

        sr_rec = StreamRecognizer(rec, sensitivity=sensitivity, keep_history=True)
        self.window_s, self.hop_s = sr_rec.window_s, sr_rec.hop_s
        events = []
        for chunk in chunks:
            events.extend(sr_rec.push(chunk))
            if progress is not None:
                progress(sr_rec.time)
        events.extend(sr_rec.flush())
        self.events = events
        self.history = list(sr_rec.history)
        self.scorer = sr_rec.scorer


def clip_chunks(y: np.ndarray, sr: int):
    """A signal in the pieces :func:`hmmrec.stream.stream_file` reads a file in."""
    from hmmrec.stream import chunk_samples

    step = chunk_samples(sr)
    return (y[i:i + step] for i in range(0, len(y), step))


def file_chunks(path, sr: int):
    """A file on the server read as ``hmmrec stream`` reads it."""
    from hmmrec import audio
    from hmmrec.stream import chunk_samples

    return audio.iter_chunks(path, sr, chunk_samples(sr))


# -- the visitor's microphone (WebRTC) -----------------------------------------------------------
def ice_servers() -> list[dict]:
    """ICE servers for WebRTC: none by default (browser and server on one host or one
    network need none, and no request leaves the machine); ``--ice-server URL`` after
    ``--`` on the ``streamlit run`` line (``hmmrec dashboard --ice-server``) or
    $HMMREC_DASHBOARD_ICE (comma-separated) adds STUN/TURN servers for visitors behind NAT."""
    urls = launch_option("--ice-server") + [u for u in os.environ.get(ICE_ENV, "").split(",") if u.strip()]
    return [{"urls": [u.strip()]} for u in urls]


class BrowserAudio:
    """Audio frames from the visitor's browser as float32 mono chunks at ``sr``.

    :meth:`feed` is streamlit-webrtc's sink callback: it runs on aiortc's event loop for
    every frame (48 kHz, any channel layout), so it only mixes down, resamples and
    queues; :meth:`read` drains the queue from the recognising thread. Arrival times
    are kept so that the page can tell how long after a word's end its event appeared.
    """

    device_name = "your browser's microphone"
    overflows = 0

    def __init__(self, sr: int):
        self.sr = int(sr)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._queue: deque = deque()
            self._resampler = None
            self._rate = None
            self.received = 0  # samples at self.sr
            self._arrivals: deque = deque(maxlen=2000)  # (samples received, monotonic time)

    def feed(self, frame) -> None:
        a = frame.to_ndarray()
        n_ch = len(frame.layout.channels)
        try:  # (samples, channels), mixed down and scaled as files are
            x = to_float_mono(a.reshape(n_ch, -1).T if frame.format.is_planar else a.reshape(-1, n_ch))
        except AudioError:
            return  # a frame of NaN or infinite samples: dropped, the stream goes on
        with self._lock:
            if frame.sample_rate != self._rate:
                self._rate = frame.sample_rate
                self._resampler = StreamResampler(self._rate, self.sr)
            y = self._resampler.process(x)
            if len(y):
                self._queue.append(y)
                self.received += len(y)
                self._arrivals.append((self.received, time.monotonic()))

    def read(self, timeout: float = 0.0):
        """The samples queued since the last call, or None after ``timeout`` seconds without any."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._queue:
                    parts, self._queue = list(self._queue), deque()
                    return np.concatenate(parts)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def arrival(self, t_s: float) -> float | None:
        """When (``time.monotonic()``) the sample at ``t_s`` seconds of audio arrived."""
        want = t_s * self.sr
        with self._lock:
            for n, t in self._arrivals:
                if n >= want:
                    return t
        return None

    def start(self):
        return self

    def stop(self) -> None:
        pass


# -- sounds no word was found in -------------------------------------------------------------------
class SoundSpans:
    """Stretches of sound (anything well above the room's noise) in a live stream, so
    that the page can say "not one of my words" for those no keyword event covers: the
    stream's rules (margin over the non-keyword models, the word-on-its-own score)
    turned them down, or they were never close.

    Frames of 10 ms; a frame is loud when it is ``over_db`` above the noise floor (a
    low percentile of the last few seconds) and above ``min_db`` (dB re full scale); a
    span is loud frames at least ``min_s`` long with gaps under ``gap_s``.
    """

    FRAME_S = 0.01

    def __init__(self, sr: int, over_db: float = 15.0, min_db: float = -50.0, min_s: float = 0.15,
                 gap_s: float = 0.25, floor_s: float = 5.0):
        self.sr = sr
        self.n = max(1, int(self.FRAME_S * sr))
        self.over_db, self.min_db, self.min_s, self.gap_s = over_db, min_db, min_s, gap_s
        self._recent = deque(maxlen=int(floor_s / self.FRAME_S))
        self._rest = np.zeros(0, np.float32)
        self._t = 0.0  # seconds of audio seen
        self._start = self._last = None  # the span being heard
        self.spans: list[tuple[float, float]] = []  # closed spans

    def push(self, y: np.ndarray) -> None:
        y = np.concatenate([self._rest, y])
        k = len(y) // self.n
        self._rest = y[k * self.n:]
        if not k:
            return
        db = 10 * np.log10(np.mean(y[:k * self.n].reshape(k, self.n).astype(np.float64) ** 2, axis=1) + 1e-12)
        for d in db:
            self._recent.append(d)
            floor = np.percentile(self._recent, 10)
            if d > self.min_db and d > floor + self.over_db:
                if self._start is None:
                    self._start = self._t
                self._last = self._t + self.FRAME_S
            elif self._start is not None and self._t - self._last > self.gap_s:
                if self._last - self._start >= self.min_s:
                    self.spans.append((self._start, self._last))
                self._start = self._last = None
            self._t += self.FRAME_S


# -- a live session ------------------------------------------------------------------------------
class LiveSession:
    """A microphone (the browser's or the server's) feeding a StreamRecognizer, kept in
    the browser session's state.

    A worker thread reads the source and recognises as the audio arrives, so events are
    decided as soon as their words end; the page only draws :meth:`snapshot`, a few times
    a second. The session stops by itself when nobody has looked at it for
    ``orphan_s`` seconds (the tab was closed) or after ``max_s``.
    """

    def __init__(self, rec, source, sensitivity: float, shown_s: float = 12.0, max_s: float = 600.0,
                 orphan_s: float = 20.0):
        from hmmrec.stream import StreamRecognizer

        self.source = source
        self.sr = rec.feature_config_.sr
        # one voice at a microphone: adapting to it, afresh when the voice changes (as 'hmmrec listen')
        self.recognizer = StreamRecognizer(rec, sensitivity=sensitivity, keep_history=True, adapt=True)
        self.sensitivity = sensitivity
        self.shown_s, self.max_s, self.orphan_s = shown_s, max_s, orphan_s
        self.audio = np.zeros(0, dtype=np.float32)  # the last shown_s seconds
        self.events = []
        self.sounds = SoundSpans(self.sr)
        self.not_words: list[tuple[float, float]] = []  # sounds no event covered: "not one of my words"
        self._judged = 0  # spans of self.sounds looked at
        self.decided_at = []  # time.monotonic() of each event's decision
        self.shown_after = {}  # event index -> seconds from its word's end (arrival) to the page
        self.seconds = 0.0  # audio recognised so far
        self.stopped = False
        self._finished = False  # the recognizer flushed (stop() may be called again)
        self.error = None
        self._lock = threading.Lock()
        self.started = self.last_seen = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hmmrec-live")

    def start(self) -> "LiveSession":
        self.source.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self.stopped:
                if time.monotonic() - self.last_seen > self.orphan_s or time.monotonic() - self.started > self.max_s:
                    break
                try:
                    chunk = self.source.read(0.05)
                except StopIteration:  # the device stopped delivering
                    break
                if chunk is not None and len(chunk):
                    self._push(chunk)
        except Exception as exc:  # shown on the page; the session ends
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._finish()

    def _push(self, y: np.ndarray) -> None:
        with self._lock:
            new = self.recognizer.push(y)
            now = time.monotonic()
            self.events.extend(new)
            self.decided_at.extend([now] * len(new))
            self.sounds.push(y)
            self._judge_sounds(final=False)
            self.audio = np.concatenate([self.audio, y])[-int(self.shown_s * self.sr):]
            self.seconds = self.recognizer.time
            cutoff = self.seconds - self.shown_s - 2.0
            self.recognizer.history[:] = [w for w in self.recognizer.history if w.end >= cutoff]

    def _finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self.source.stop()
            try:
                rest = self.source.read(0.0)
            except StopIteration:
                rest = None
        if rest is not None and len(rest):
            self._push(rest)
        with self._lock:
            new = self.recognizer.flush()
            self.events.extend(new)
            self.decided_at.extend([time.monotonic()] * len(new))
            self._judge_sounds(final=True)
            self.stopped = True

    def _judge_sounds(self, final: bool) -> None:
        """Sounds that ended long enough ago for any event of theirs to be decided, and
        that no event covers, become "not one of my words"."""
        wait = self.recognizer.window_s + 1.0  # an event comes within about a window of its word's end
        spans = self.sounds.spans
        while self._judged < len(spans) and (final or spans[self._judged][1] + wait <= self.recognizer.time):
            a, b = spans[self._judged]
            self._judged += 1
            if not any(ev.start < b + 0.2 and ev.end > a - 0.2 for ev in self.events):
                self.not_words.append((a, b))

    def stop(self) -> None:
        """Stop listening; the remaining events are decided. Returns once they are."""
        self.stopped = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._finish()

    def set_sensitivity(self, sensitivity: float) -> None:
        """Apply a new sensitivity from the next window on."""
        with self._lock:
            self.recognizer.set_sensitivity(sensitivity)
            self.sensitivity = sensitivity

    def snapshot(self, signals: bool = True) -> dict:
        """What the page draws, copied under the lock; marks the session as looked at.
        ``signals=False``: without the audio and the window history (for the words alone)."""
        now = time.monotonic()
        self.last_seen = now
        with self._lock:
            arrival = getattr(self.source, "arrival", None)
            for i, ev in enumerate(self.events):
                if i not in self.shown_after and arrival is not None:
                    t_end = arrival(ev.end)
                    if t_end is not None:
                        self.shown_after[i] = now - t_end
            return {"audio": self.audio.copy() if signals else None, "events": list(self.events),
                    "history": list(self.recognizer.history) if signals else None,
                    "seconds": self.seconds, "stopped": self.stopped, "sensitivity": self.sensitivity,
                    "shown_after": dict(self.shown_after), "error": self.error, "not_words": list(self.not_words)}


# -- live microphone ---------------------------------------------------------------------------
def microphone_problem() -> str | None:
    """Why live capture cannot work on this server (no PortAudio, no input device), or None."""
    from hmmrec.live import resolve_device

    try:
        resolve_device(None)
    except HmmrecError as exc:
        return f"{exc}."
    except Exception as exc:  # PortAudio failing to initialise in some other way
        return f"audio input is not available ({exc})."
    return None
