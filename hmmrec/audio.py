"""Reading audio files into float32 mono signals at a target rate.

Files are read through libsndfile (:mod:`soundfile`, which bundles it): WAV of every
common kind (8-bit unsigned, 16/24/32-bit integer, 32/64-bit float, A-law and mu-law,
plain or ``WAVE_FORMAT_EXTENSIBLE``), FLAC, OGG/Vorbis and, where the bundled
libsndfile has it, MP3. Every channel is mixed down by averaging and the signal is
resampled with :func:`scipy.signal.resample_poly`; long files are read in chunks
(:func:`iter_chunks`). Every defect (missing, empty, not audio, NaN samples, ...)
becomes one :class:`~hmmrec.errors.AudioError` naming the file.

Samples are decoded in double precision and then rounded to float32, so integer PCM
gives exactly ``value / 2**(bits-1)`` (8-bit: ``(value - 128) / 128``).
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.signal import resample_poly

from .errors import AudioError, ParameterError
from .safefile import open_regular

__all__ = ["AudioInfo", "WavInfo", "info", "load", "iter_chunks", "resample", "to_float_mono", "write_wav",
           "StreamResampler", "SUFFIXES", "encode_wav"]

_MAX_RESAMPLE_DENOMINATOR = 1000
# sample rates read (telephone speech to studio rates; outside: a broken or hostile header)
MIN_SR, MAX_SR = 1000, 384000
# longest file read as one piece by load() (one utterance); longer recordings are streamed
MAX_LOAD_S = 60.0
_DEFAULT_CHUNK = 16000
# bytes per sample of libsndfile's uncompressed subtypes (0: compressed or unknown)
_WIDTH = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
          "ULAW": 1, "ALAW": 1}
# formats decoded in one piece: the bundled libsndfile's MP3 decoder gives other samples
# when a file is read in pieces than when it is read whole
_WHOLE_FORMATS = frozenset({"MP3"})
# file name endings treated as audio when a folder is read as a corpus
SUFFIXES = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au"})


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says.

    Attributes
    ----------
    path : str
    sr : int
        Sample rate in Hz.
    n_channels : int
    n_samples : int
        Samples per channel.
    format, subtype : str
        libsndfile's names, e.g. ``"WAV"`` and ``"PCM_16"``, ``"FLAC"``, ``"MP3"``.
    """

    path: str
    sr: int
    n_channels: int
    n_samples: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sr

    @property
    def sample_width(self) -> int:
        """Bytes per sample of one channel (0 for compressed formats)."""
        return _WIDTH.get(self.subtype, 0)

    @property
    def is_float(self) -> bool:
        return self.subtype in ("FLOAT", "DOUBLE")


WavInfo = AudioInfo  # the name of earlier releases


def _fail(path, why: str) -> AudioError:
    return AudioError(f"{path}: {why}")


def _soundfile():
    import soundfile

    return soundfile


def _open(path):
    """An open :class:`soundfile.SoundFile`, or an AudioError saying why not.

    Only regular files are opened (a device or FIFO would be read forever), and only
    sample rates from :data:`MIN_SR` to :data:`MAX_SR` are accepted.
    """
    fh = open_regular(path, AudioError, "an audio file")
    try:
        if os.fstat(fh.fileno()).st_size == 0:
            raise _fail(path, "empty file")
        sf = _soundfile()
        try:
            f = sf.SoundFile(fh)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise _fail(path, f"not a readable audio file ({_why(exc)})") from None
    except BaseException:
        fh.close()
        raise
    if not MIN_SR <= f.samplerate <= MAX_SR or f.channels < 1:
        f.close()
        fh.close()
        raise _fail(path, f"unsupported header ({f.samplerate} Hz, {f.channels} channel{'s' * (f.channels != 1)}; "
                          f"sample rates from {MIN_SR} to {MAX_SR} Hz are read)")
    return _closing(f, fh)


class _closing:
    """A SoundFile that also closes the file object it reads from."""

    def __init__(self, f, fh):
        self._f, self._fh = f, fh

    def __getattr__(self, name):
        return getattr(self._f, name)

    def close(self):
        try:
            self._f.close()
        finally:
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _why(exc) -> str:
    text = str(getattr(exc, "error_string", "") or exc).strip()
    if "Error opening" in text and ":" in text:
        text = text.rsplit(":", 1)[-1].strip()
    return text.rstrip(".") or type(exc).__name__


def info(path) -> AudioInfo:
    """Read the header of an audio file.

    Raises
    ------
    AudioError
        If the file is missing, not audio, or of an encoding libsndfile cannot read.
    """
    with _open(path) as f:
        return AudioInfo(str(path), int(f.samplerate), int(f.channels), max(int(f.frames), 0), f.format, f.subtype)


def _read(f, n: int, path) -> np.ndarray:
    """Up to ``n`` frames (all: -1) as float32 mono."""
    sf = _soundfile()
    try:
        data = f.read(n, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise _fail(path, f"cannot decode ({_why(exc)})") from None
    try:
        return to_float_mono(data.astype(np.float32), name=str(path))
    except AudioError:
        raise _fail(path, "contains NaN or infinite samples") from None


def to_float_mono(frames: np.ndarray, name="signal") -> np.ndarray:
    """Mix a (n,) or (n, channels) array down to float32 mono and check it is finite."""
    y = np.asarray(frames)
    if y.ndim not in (1, 2):
        raise ParameterError(f"{name}: expected a 1-D or 2-D (samples, channels) array, got shape {y.shape}")
    if np.issubdtype(y.dtype, np.integer):  # (before mixing down, which makes floats of them)
        y = y.astype(np.float32) / float(np.iinfo(y.dtype).max + 1)
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    y = y.astype(np.float32, copy=False)
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return y


def _ratio(orig_sr: int, target_sr: int) -> tuple[int, int]:
    frac = Fraction(int(target_sr), int(orig_sr)).limit_denominator(_MAX_RESAMPLE_DENOMINATOR)
    return frac.numerator, frac.denominator


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono signal from ``orig_sr`` to ``target_sr`` Hz (polyphase filter)."""
    if orig_sr == target_sr:
        return y
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be positive, got {orig_sr} and {target_sr}")
    up, down = _ratio(orig_sr, target_sr)
    return resample_poly(y, up, down).astype(np.float32)


def load(path, sr: int | None = None, max_s: float | None = MAX_LOAD_S) -> tuple[np.ndarray, int]:
    """Read a whole audio file as float32 mono.

    Parameters
    ----------
    path : str or Path
    sr : int or None
        Target sample rate in Hz; ``None`` keeps the file's rate.
    max_s : float or None
        Longest file accepted, in seconds (``None``: any length). A whole file is one
        utterance; long recordings go through :func:`iter_chunks` (``hmmrec stream``),
        whose memory stays bounded.

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32
    sr : int
    """
    with _open(path) as f:
        file_sr = int(f.samplerate)
        if max_s is not None and f.frames > max_s * file_sr:
            raise _fail(path, f"{f.frames / file_sr / 60:.1f} min long; files of more than {max_s / 60:g} min "
                              "are not read as one utterance (use 'hmmrec stream' for long recordings)")
        y = _read(f, -1, path)
    if len(y) == 0:
        raise _fail(path, "contains no audio samples")
    target = file_sr if sr is None else int(sr)
    return resample(y, file_sr, target), target


class StreamResampler:
    """Resample a signal that arrives in chunks, one chunk at a time.

    Keeps enough input history for the polyphase filter, so the concatenated output
    equals (up to the filter's edge at the very start) a resampling of the whole
    signal. Memory stays bounded whatever the stream length.

    Parameters
    ----------
    orig_sr, target_sr : int
        Input and output rates in Hz.
    """

    _HISTORY_PER_TAP = 12  # input samples kept per output phase on each side

    def __init__(self, orig_sr: int, target_sr: int):
        self.orig_sr = int(orig_sr)
        self.target_sr = int(target_sr)
        self.up, self.down = _ratio(self.orig_sr, self.target_sr)
        self._margin = self._HISTORY_PER_TAP * max(self.down // self.up, 1) * 10
        self.reset()

    def reset(self) -> None:
        """Forget all input."""
        self._buf = np.zeros(0, dtype=np.float32)
        self._consumed = 0  # input samples before self._buf
        self._emitted = 0  # output samples emitted so far

    def _emit(self, final: bool) -> np.ndarray:
        if self.up == self.down == 1:
            out, self._buf = self._buf, np.zeros(0, dtype=np.float32)
            return out
        y = resample_poly(self._buf, self.up, self.down).astype(np.float32)
        # output sample k of this call sits at input position (k * down / up) + consumed
        first = self._emitted - (self._consumed * self.up) // self.down
        stable_in = len(self._buf) if final else max(len(self._buf) - self._margin, 0)
        last = (stable_in * self.up) // self.down if not final else len(y)
        out = y[max(first, 0):max(last, first)]
        self._emitted += len(out)
        drop = max(stable_in - 2 * self._margin, 0) if not final else len(self._buf)
        drop -= drop % self.down
        self._buf = self._buf[drop:]
        self._consumed += drop
        return out

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Take a chunk of input samples, return the output samples that are final."""
        self._buf = np.concatenate([self._buf, np.asarray(chunk, dtype=np.float32)])
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        """Return the remaining output at the end of the stream."""
        out = self._emit(final=True)
        self.reset()
        return out


def iter_chunks(path, sr: int | None = None, chunk_size: int = _DEFAULT_CHUNK) -> Iterator[np.ndarray]:
    """Yield an audio file as float32 mono chunks at rate ``sr``, reading it piece by piece.

    Memory use is bounded by ``chunk_size`` whatever the file length (MP3 files excepted:
    they are decoded in one piece, as reading them in pieces is not reliable).

    Parameters
    ----------
    chunk_size : int
        Samples per chunk read from the file (at the file's own rate).
    """
    if chunk_size < 1:
        raise ParameterError(f"chunk_size must be >= 1, got {chunk_size}")
    with _open(path) as f:
        if f.format in _WHOLE_FORMATS:
            chunk_size = -1
        file_sr = int(f.samplerate)
        rs = StreamResampler(file_sr, file_sr if sr is None else int(sr))
        n_read = 0
        while True:
            y = _read(f, chunk_size, path)
            if len(y) == 0:
                break
            n_read += len(y)
            out = rs.process(y)
            if len(out):
                yield out
            if chunk_size < 0:
                break
        if n_read == 0:
            raise _fail(path, "contains no audio samples")
        tail = rs.flush()
        if len(tail):
            yield tail


def write_wav(path, y: np.ndarray, sr: int, overwrite: bool = False) -> Path:
    """Write a float mono signal as 16-bit PCM WAV.

    Refuses to replace an existing file unless ``overwrite`` is true.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise AudioError(f"{p}: already exists; not overwriting")
    p.parent.mkdir(parents=True, exist_ok=True)
    encode_wav(str(p), y, sr)
    return p


def encode_wav(target, y: np.ndarray, sr: int) -> None:
    """A float mono signal as 16-bit PCM WAV into ``target`` (a path or a binary file object)."""
    pcm = np.clip(np.asarray(y, dtype=np.float64), -1.0, 32767 / 32768) * 32768.0
    with wave.open(target, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(np.round(pcm).astype("<i2").tobytes())
