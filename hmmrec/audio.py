"""Reading WAV files into float32 mono signals at a target rate.

Any PCM or IEEE-float WAV is accepted: 8-bit unsigned, 16/24/32-bit signed integer,
32/64-bit float, plain or ``WAVE_FORMAT_EXTENSIBLE``, any number of channels (mixed
down by averaging) and any sample rate (resampled with :func:`scipy.signal.resample_poly`).

The header is parsed here rather than by :mod:`scipy.io.wavfile` so that long files can
be read in chunks (:func:`iter_chunks`) and so that every defect (empty, truncated,
not a WAV, NaN samples, ...) becomes one :class:`~hmmrec.errors.AudioError` naming the
file.
"""

from __future__ import annotations

import os
import struct
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
from scipy.signal import resample_poly

from .errors import AudioError, ParameterError

__all__ = ["WavInfo", "info", "load", "iter_chunks", "resample", "to_float_mono", "write_wav", "StreamResampler"]

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # data sizes written by streaming recorders
_MAX_RESAMPLE_DENOMINATOR = 1000
_DEFAULT_CHUNK = 16000


@dataclass(frozen=True)
class WavInfo:
    """What the header of a WAV file says.

    Attributes
    ----------
    path : str
    sr : int
        Sample rate in Hz.
    n_channels : int
    sample_width : int
        Bytes per sample of one channel.
    is_float : bool
    n_samples : int
        Samples per channel.
    data_offset : int
        Byte offset of the first sample in the file.
    """

    path: str
    sr: int
    n_channels: int
    sample_width: int
    is_float: bool
    n_samples: int
    data_offset: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sr


def _fail(path, why: str) -> AudioError:
    return AudioError(f"{path}: {why}")


def _open(path) -> BinaryIO:
    p = Path(path)
    if not p.exists():
        raise _fail(path, "no such file")
    if p.is_dir():
        raise _fail(path, "is a directory, not a WAV file")
    try:
        return open(p, "rb")
    except OSError as exc:
        raise _fail(path, f"cannot open ({exc.strerror})") from None


def _parse_header(fh: BinaryIO, path) -> WavInfo:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise _fail(path, "empty file")
    head = fh.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise _fail(path, "not a WAV file (no RIFF/WAVE header)")
    if head[:4] == b"RIFX":
        raise _fail(path, "big-endian (RIFX) WAV files are not supported")
    fmt = None
    while True:
        chunk = fh.read(8)
        if len(chunk) < 8:
            if fmt is None:
                raise _fail(path, "truncated WAV header (no 'fmt ' chunk)")
            raise _fail(path, "truncated WAV file (no 'data' chunk)")
        cid, csize = struct.unpack("<4sI", chunk)
        if cid == b"fmt ":
            body = fh.read(csize)
            if len(body) < 16:
                raise _fail(path, "truncated 'fmt ' chunk")
            tag, n_channels, sr, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, n_channels, sr, block_align, bits)
            if csize % 2:
                fh.read(1)
        elif cid == b"data":
            if fmt is None:
                raise _fail(path, "malformed WAV ('data' before 'fmt ')")
            offset = fh.tell()
            available = size - offset
            if csize in _UNKNOWN_SIZES:
                csize = available
            elif csize > available:
                raise _fail(path, f"truncated WAV file (header promises {csize} data bytes, {available} present)")
            return _make_info(path, fmt, csize, offset)
        else:
            fh.seek(csize + (csize % 2), os.SEEK_CUR)


def _make_info(path, fmt, data_bytes: int, offset: int) -> WavInfo:
    tag, n_channels, sr, block_align, bits = fmt
    if n_channels < 1:
        raise _fail(path, f"invalid channel count {n_channels}")
    if sr < 1:
        raise _fail(path, f"invalid sample rate {sr}")
    if tag == _FORMAT_PCM and bits in (8, 16, 24, 32):
        is_float = False
    elif tag == _FORMAT_FLOAT and bits in (32, 64):
        is_float = True
    else:
        raise _fail(path, f"unsupported WAV encoding (format tag {tag:#x}, {bits} bits); use PCM or float")
    width = bits // 8
    if block_align != width * n_channels:
        block_align = width * n_channels
    n_samples = data_bytes // block_align
    return WavInfo(str(path), sr, n_channels, width, is_float, n_samples, offset)


def info(path) -> WavInfo:
    """Read the header of a WAV file.

    Raises
    ------
    AudioError
        If the file is missing, not a WAV file, truncated or of an unsupported encoding.
    """
    with _open(path) as fh:
        return _parse_header(fh, path)


def _decode(raw: bytes, wi: WavInfo) -> np.ndarray:
    """Decode interleaved frames into float32 of shape (n, channels) in [-1, 1]."""
    w = wi.sample_width
    if wi.is_float:
        data = np.frombuffer(raw, dtype="<f4" if w == 4 else "<f8").astype(np.float32)
    elif w == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif w == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif w == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8  # sign-extend 24 bits
        data = ints.astype(np.float32) / 8388608.0
    else:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
        data = data.astype(np.float32)
    return data.reshape(-1, wi.n_channels)


def to_float_mono(frames: np.ndarray, name="signal") -> np.ndarray:
    """Mix a (n,) or (n, channels) array down to float32 mono and check it is finite."""
    y = np.asarray(frames)
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    elif y.ndim != 1:
        raise ParameterError(f"{name}: expected a 1-D or 2-D (samples, channels) array, got shape {y.shape}")
    if np.issubdtype(y.dtype, np.integer):
        y = y.astype(np.float32) / float(np.iinfo(y.dtype).max + 1)
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


def load(path, sr: int | None = None) -> tuple[np.ndarray, int]:
    """Read a whole WAV file as float32 mono.

    Parameters
    ----------
    path : str or Path
    sr : int or None
        Target sample rate in Hz; ``None`` keeps the file's rate.

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32
    sr : int
    """
    with _open(path) as fh:
        wi = _parse_header(fh, path)
        fh.seek(wi.data_offset)
        raw = fh.read(wi.n_samples * wi.sample_width * wi.n_channels)
    if wi.n_samples == 0:
        raise _fail(path, "contains no audio samples")
    try:
        y = to_float_mono(_decode(raw, wi), name=str(path))
    except AudioError:
        raise _fail(path, "contains NaN or infinite samples") from None
    target = wi.sr if sr is None else int(sr)
    return resample(y, wi.sr, target), target


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
    """Yield a WAV file as float32 mono chunks at rate ``sr``, reading it piece by piece.

    Memory use is bounded by ``chunk_size`` whatever the file length.

    Parameters
    ----------
    chunk_size : int
        Samples per chunk read from the file (at the file's own rate).
    """
    if chunk_size < 1:
        raise ParameterError(f"chunk_size must be >= 1, got {chunk_size}")
    with _open(path) as fh:
        wi = _parse_header(fh, path)
        if wi.n_samples == 0:
            raise _fail(path, "contains no audio samples")
        target = wi.sr if sr is None else int(sr)
        rs = StreamResampler(wi.sr, target)
        fh.seek(wi.data_offset)
        frame_bytes = wi.sample_width * wi.n_channels
        left = wi.n_samples
        while left > 0:
            n = min(chunk_size, left)
            raw = fh.read(n * frame_bytes)
            left -= n
            try:
                y = to_float_mono(_decode(raw, wi), name=str(path))
            except AudioError:
                raise _fail(path, "contains NaN or infinite samples") from None
            out = rs.process(y)
            if len(out):
                yield out
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
    pcm = np.clip(np.asarray(y, dtype=np.float64), -1.0, 32767 / 32768) * 32768.0
    p.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(np.round(pcm).astype("<i2").tobytes())
    return p
