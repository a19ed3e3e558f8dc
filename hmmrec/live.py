"""Live audio from a microphone: device listing, the microphone source, ``listen``.

The split follows python-sounddevice's ``rec_unlimited.py`` example: the PortAudio
callback (which runs on PortAudio's own thread) only copies each block into a buffer
and counts status flags; mixing, resampling and recognition all happen in the
consumer, i.e. whoever iterates over :class:`MicrophoneSource`. The buffer is a
:class:`collections.deque` rather than a :class:`queue.Queue`: appending takes no lock,
so the audio thread never waits for the consumer's thread (a Queue's mutex can be left
held when KeyboardInterrupt lands inside ``get``, and closing the stream waits for the
audio thread).

Ctrl-C (or SIGTERM) during :func:`listen` (in the main thread) sets a flag that the loop reads
between chunks instead of raising KeyboardInterrupt wherever the main thread happens
to be: an exception raised inside recognition code (or inside a library that catches
it) could leave the recogniser half-updated or be lost altogether. A second Ctrl-C
raises KeyboardInterrupt as usual.

``sounddevice`` is imported lazily, so that ``import hmmrec`` works on machines without
PortAudio; the first use then raises a clear :class:`~hmmrec.errors.HmmrecError`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter, deque
from typing import Callable

import numpy as np

from .audio import StreamResampler
from .errors import HmmrecError, ParameterError

__all__ = ["list_input_devices", "resolve_device", "MicrophoneSource", "listen", "DEFAULT_BLOCK_S"]

DEFAULT_BLOCK_S = 0.1
DEFAULT_SR = 16000
# the consumer may fall this far behind before blocks are dropped (and counted as overflows)
MAX_BACKLOG_S = 30.0
# how often a waiting consumer wakes up to look at stop requests
POLL_S = 0.2
# how often a waiting consumer looks for a new block (the callback wakes nobody: it takes no lock)
_NAP_S = 0.005
# a running device that delivers nothing for this long is broken (unplugged, suspended server)
SILENT_DEVICE_S = 5.0
_STATUS_FLAGS = ("input_overflow", "input_underflow", "output_overflow", "output_underflow", "priming_output")

NO_PORTAUDIO = "PortAudio library not found: install it (Debian/Ubuntu: apt-get install libportaudio2)"
NO_MICROPHONE = "no microphone found: plug one in or choose one with --device (see 'hmmrec devices')"


def _sounddevice():
    """The ``sounddevice`` module, or a clear HmmrecError when it cannot be used."""
    try:
        import sounddevice
    except OSError:  # raised by sounddevice itself when libportaudio is missing
        raise HmmrecError(NO_PORTAUDIO) from None
    except ImportError:
        raise HmmrecError("the Python package 'sounddevice' is not installed: pip install sounddevice") from None
    except Exception as exc:  # sounddevice.PortAudioError: PortAudio found but failed to initialise
        raise HmmrecError(f"PortAudio could not start: {exc}") from None
    return sounddevice


def _default_input_index(sd) -> int | None:
    try:
        idx = sd.default.device[0]
    except (TypeError, IndexError):
        idx = sd.default.device
    if idx is None or int(idx) < 0:
        try:
            idx = sd.query_devices(kind="input")["index"]
        except Exception:  # PortAudioError: no default input device
            return None
    return int(idx)


def list_input_devices() -> list[dict]:
    """The audio input devices PortAudio sees.

    Returns
    -------
    list of dict
        One per device with at least one input channel: ``index`` (int, what
        ``--device`` accepts), ``name``, ``channels`` (max input channels),
        ``default_samplerate`` (Hz) and ``is_default`` (bool).
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
    except Exception as exc:  # PortAudioError when PortAudio cannot initialise
        raise HmmrecError(f"cannot list audio devices: {exc}") from None
    default = _default_input_index(sd)
    out = []
    for i, d in enumerate(devices):
        if d.get("max_input_channels", 0) < 1:
            continue
        index = int(d.get("index", i))
        out.append({"index": index, "name": str(d["name"]), "channels": int(d["max_input_channels"]),
                    "default_samplerate": float(d["default_samplerate"]), "is_default": index == default})
    return out


def _brief(devices: list[dict]) -> str:
    return ", ".join(f"{d['index']} {d['name']!r}" for d in devices)


def resolve_device(spec: str | int | None) -> int:
    """Index of the input device meant by ``spec``.

    Parameters
    ----------
    spec : int, str or None
        ``None``: the default input device. An int or a string of digits: a device
        index. Any other string: a case-insensitive part of the device name (an exact
        name wins over partial matches).

    Raises
    ------
    HmmrecError
        No input device at all, no device matching ``spec``, or several.
    """
    devices = list_input_devices()
    if not devices:
        raise HmmrecError(NO_MICROPHONE)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for d in devices:
            if d["is_default"]:
                return d["index"]
        raise HmmrecError(f"no default microphone: choose one with --device; input devices: {_brief(devices)}")
    if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        for d in devices:
            if d["index"] == index:
                return index
        raise HmmrecError(f"no input device with index {index}; input devices: {_brief(devices)}")
    if not isinstance(spec, str):
        raise ParameterError(f"device must be an index, a name or None, got {spec!r}")
    key = spec.strip().lower()
    exact = [d for d in devices if d["name"].lower() == key]
    if len(exact) == 1:
        return exact[0]["index"]
    partial = exact or [d for d in devices if key in d["name"].lower()]
    if not partial:
        raise HmmrecError(f"no input device matches {spec!r}; input devices: {_brief(devices)}")
    if len(partial) > 1:
        raise HmmrecError(f"{spec!r} matches several input devices: {_brief(partial)}; "
                          "give more of the name or the index")
    return partial[0]["index"]


class MicrophoneSource:
    """Float32 mono chunks from an input device, at a requested rate.

    Use as a context manager and iterate::

        with MicrophoneSource(sr=16000) as mic:
            for chunk in mic:   # np.ndarray (n,), float32, at mic.sr
                ...

    If the device cannot record at ``sr`` it is opened at its default rate and the
    chunks are resampled (in the consumer, never in the audio callback).

    Parameters
    ----------
    device : int, str or None
        See :func:`resolve_device`.
    sr : int
        Rate in Hz of the chunks handed out.
    block_s : float
        Seconds of audio per PortAudio callback (and roughly per chunk).
    """

    def __init__(self, device: str | int | None = None, sr: int = DEFAULT_SR, block_s: float = DEFAULT_BLOCK_S):
        if int(sr) <= 0:
            raise ParameterError(f"sr must be a positive rate in Hz, got {sr}")
        if not block_s > 0:
            raise ParameterError(f"block_s must be > 0 seconds, got {block_s}")
        self.device = device
        self._sr = int(sr)
        self.block_s = float(block_s)
        self._stream = None
        self._resampler: StreamResampler | None = None
        self._stopped = threading.Event()
        self._blocks: deque | None = None  # filled by the callback, emptied by the consumer
        self._max_blocks = 1
        self.status_counts: Counter = Counter()  # PortAudio status flags seen by the callback
        self.dropped = 0  # blocks lost because the consumer fell more than MAX_BACKLOG_S behind
        self.device_index: int | None = None
        self.device_name: str | None = None
        self.device_sr: int | None = None

    # -- read-only facts --------------------------------------------------------------
    @property
    def sr(self) -> int:
        """Rate (Hz) of the chunks this source yields."""
        return self._sr

    @property
    def overflows(self) -> int:
        """Blocks that lost audio: input overflows reported by PortAudio plus blocks dropped here."""
        return self.status_counts["input_overflow"] + self.dropped

    @property
    def active(self) -> bool:
        """True while the device is delivering audio."""
        return self._stream is not None and not self._stopped.is_set() and bool(getattr(self._stream, "active", True))

    # -- the audio thread: copy and count, nothing else -------------------------------
    def _callback(self, indata, frames, time, status) -> None:
        if status:
            for name in _STATUS_FLAGS:
                if getattr(status, name, False):
                    self.status_counts[name] += 1
        if len(self._blocks) >= self._max_blocks:
            self.dropped += 1
        else:
            self._blocks.append(indata.copy())  # atomic, takes no lock

    # -- opening and closing ----------------------------------------------------------
    def check(self) -> int:
        """The index of the device this source would open, or the HmmrecError saying why
        there is none (no PortAudio, no microphone, no such device); opens nothing."""
        _sounddevice()
        return resolve_device(self.device)

    def start(self) -> "MicrophoneSource":
        """Open the device and start recording (called by ``with``)."""
        if self._stream is not None:
            return self
        sd = _sounddevice()
        index = resolve_device(self.device)
        info = sd.query_devices(index)
        self.device_index, self.device_name = index, str(info["name"])
        try:
            sd.check_input_settings(device=index, channels=1, samplerate=self._sr, dtype="float32")
            device_sr = self._sr
        except Exception:  # PortAudioError / ValueError: rate not supported
            device_sr = int(round(float(info["default_samplerate"])))
        self.device_sr = device_sr
        self._resampler = StreamResampler(device_sr, self._sr) if device_sr != self._sr else None
        blocksize = max(1, int(device_sr * self.block_s))
        self._blocks = deque()
        self._max_blocks = max(1, int(MAX_BACKLOG_S / self.block_s))
        self._stopped.clear()
        self._last_block = time.monotonic()
        try:
            self._stream = sd.InputStream(device=index, channels=1, samplerate=device_sr, blocksize=blocksize,
                                          dtype="float32", callback=self._callback)
            self._stream.start()
        except Exception as exc:  # PortAudioError: busy, unplugged, ...
            self._close_stream()
            raise HmmrecError(f"cannot record from input device {index} ({self.device_name!r}) "
                              f"at {device_sr} Hz: {exc}") from None
        return self

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            # abort, not stop: nothing pending is wanted, and with ALSA stop waits for
            # the audio thread to notice by itself, abort cancels it
            stream.abort()
        finally:
            stream.close()

    def stop(self) -> None:
        """Stop recording and release the device. Safe to call twice and from another thread."""
        self._stopped.set()
        self._close_stream()

    def __enter__(self) -> "MicrophoneSource":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the consumer -----------------------------------------------------------------
    def _convert(self, block: np.ndarray) -> np.ndarray:
        y = np.asarray(block, dtype=np.float32)
        if y.ndim == 2:
            y = y[:, 0] if y.shape[1] == 1 else y.mean(axis=1)
        if self._resampler is not None:
            y = self._resampler.process(y)
        return np.ascontiguousarray(y, dtype=np.float32)

    def _next_block(self, timeout: float | None) -> np.ndarray | None:
        """The oldest recorded block, waiting up to ``timeout`` seconds (``None``: none came)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._blocks.popleft()
            except IndexError:
                pass
            if not self.active:  # stopped, or the stream ended
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(_NAP_S)

    def read(self, timeout: float | None = POLL_S) -> np.ndarray | None:
        """The next chunk, or ``None`` if none arrived within ``timeout`` seconds.

        Raises ``StopIteration`` once the source is stopped (or the stream ended) and
        every recorded block has been handed out, and HmmrecError if a running device
        delivers nothing for ``SILENT_DEVICE_S`` seconds.
        """
        if self._blocks is None:
            raise HmmrecError("MicrophoneSource is not started: use it in a 'with' block or call start()")
        while True:
            block = self._next_block(timeout)
            if block is None:
                if not self.active:  # stopped, or the stream ended
                    raise StopIteration from None
                if time.monotonic() - self._last_block > SILENT_DEVICE_S:
                    raise HmmrecError(f"input device {self.device_index} ({self.device_name!r}) delivered no "
                                      f"audio for {SILENT_DEVICE_S:g} s")
                return None
            self._last_block = time.monotonic()
            y = self._convert(block)
            if len(y):
                return y

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        while True:
            y = self.read(POLL_S)
            if y is not None:
                return y


def listen(recognizer, device: str | int | None = None, sensitivity: float | None = None,
           on_event: Callable | None = None, duration_s: float | None = None,
           stop_event: threading.Event | None = None, block_s: float = DEFAULT_BLOCK_S,
           on_start: Callable | None = None, **stream_kwargs) -> dict:
    """Recognise keywords live from a microphone until told to stop.

    Parameters
    ----------
    recognizer : HMMRecognizer (fitted)
    device : int, str or None
        See :func:`resolve_device`.
    sensitivity : float or None
        0..1, see :class:`~hmmrec.stream.StreamRecognizer`; ``None``: its default.
    on_event : callable or None
        Called with each :class:`~hmmrec.stream.KeywordEvent` as soon as it is decided.
    duration_s : float or None
        Stop after this many seconds of audio (``None``: run until stopped).
    stop_event : threading.Event or None
        Stop soon (within about ``POLL_S``) after it is set.
    on_start : callable or None
        Called with the :class:`MicrophoneSource` once its first audio has arrived.
    stream_kwargs
        More arguments for :class:`~hmmrec.stream.StreamRecognizer` (``window_s``, ``hop_s``...).

    Returns
    -------
    dict
        ``seconds`` (audio seconds recognised), ``events`` (count), ``overflows``
        (blocks that lost audio), ``interrupted`` (stopped by Ctrl-C), ``ended``
        (why: ``"duration"``, ``"stopped"`` (stop_event), ``"interrupted"`` or
        ``"device"``: the input stream ended by itself), ``device`` (name).

    Ctrl-C ends listening cleanly: pending events are flushed and the summary returned.
    In the main thread the first Ctrl-C only sets a flag read between chunks (so it
    never interrupts recognition half-way); a second one raises KeyboardInterrupt.
    Elsewhere a KeyboardInterrupt raised out of ``on_event`` or ``on_start`` does the same.
    """
    from .stream import StreamRecognizer

    if duration_s is not None and not duration_s > 0:
        raise ParameterError(f"duration_s must be > 0 seconds or None, got {duration_s}")
    if sensitivity is not None:
        stream_kwargs["sensitivity"] = sensitivity
    rec = StreamRecognizer(recognizer, **stream_kwargs)
    limit = None if duration_s is None else int(round(duration_s * rec.sr))
    n_samples = n_events = 0
    reason = "device"  # why listening ended, unless one of the below

    def emit(events):
        nonlocal n_events
        for ev in events:
            n_events += 1
            if on_event is not None:
                on_event(ev)

    mic = MicrophoneSource(device, rec.sr, block_s)
    started = False
    with mic, _CtrlC() as ctrl_c:
        try:
            while True:
                if ctrl_c.pressed:
                    reason = "interrupted"
                    break
                if limit is not None and n_samples >= limit:
                    reason = "duration"
                    break
                if stop_event is not None and stop_event.is_set():
                    reason = "stopped"
                    break
                try:
                    chunk = mic.read(POLL_S)
                except StopIteration:  # the stream ended by itself
                    break
                if chunk is None:
                    continue
                if not started:  # only now: devices may take a while after start() to deliver
                    started = True
                    if on_start is not None:
                        on_start(mic)
                if limit is not None:
                    chunk = chunk[: limit - n_samples]
                n_samples += len(chunk)
                emit(rec.push(chunk))
        except KeyboardInterrupt:
            reason = "interrupted"
        mic.stop()
        emit(rec.flush())
    return {"seconds": round(n_samples / rec.sr, 3), "events": n_events, "overflows": mic.overflows,
            "interrupted": reason == "interrupted", "ended": reason, "device": mic.device_name}


class _CtrlC:
    """While active (in the main thread only), the first SIGINT or SIGTERM just sets ``pressed``.

    The handler puts the previous ones back at once, so a second signal behaves as
    before (KeyboardInterrupt, or whatever the caller installed for SIGTERM). It only
    assigns attributes: a signal handler runs in the main thread between two bytecodes,
    and taking a lock there could deadlock.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.pressed = False
        self._previous = {}

    def _handler(self, signum, frame) -> None:
        self.pressed = True
        self._restore()

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handler:
                signal.signal(sig, previous)
        self._previous = {}

    def __enter__(self) -> "_CtrlC":
        if threading.current_thread() is threading.main_thread():
            for sig in self._SIGNALS:
                previous = signal.getsignal(sig)
                if previous is None or previous == signal.SIG_IGN:  # installed outside Python, or ignored
                    continue
                self._previous[sig] = previous
                signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()
