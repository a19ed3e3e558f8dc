"""The acoustic front end: MFCC + deltas + delta-deltas, and their normalisation.

Two steps, kept apart on purpose:

1. :func:`raw_features` turns a signal into *raw* frames (MFCC from
   python_speech_features, then deltas and delta-deltas). :class:`FeatureStream` yields
   exactly the same frames from a signal that arrives in chunks of any size, never
   computing a frame twice.
2. :func:`~hmmrec.normalization.normalize` normalises the frames of one segment (an
   utterance when training or recognising a file, a window when streaming).

:func:`extract` does both for a signal taken as one utterance. Every setting lives in
one :class:`FeatureConfig`, which is saved inside model files so that training, file
recognition and streaming can never disagree.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np
from python_speech_features import sigproc
from python_speech_features.base import hz2mel, lifter, mel2hz
from scipy.fft import dct

from .errors import ParameterError
from .normalization import normalize

__all__ = ["FeatureConfig", "extract", "raw_features", "filterbank_frames", "floor_log_energy", "FeatureStream",
           "n_frames_for"]

_LOG_FLOOR = np.finfo(float).eps
_MIN_WARP, _MAX_WARP = 0.7, 1.3
_WARP_KNEE = 0.85  # warping is linear up to this share of the band, then bends to keep the top fixed
_WINDOWS = {"hamming": np.hamming, "rect": np.ones}
_NORMALISATIONS = ("heq", "mv", "m", "none")
_BLOCK_FRAMES = 2048
FILTERBANK_CHANNELS = 40  # mel filters of filterbank_frames (the frame classifier's second view)
# (setting, lowest, highest) accepted: wide enough for any sensible front end, narrow
# enough that no setting can ask for a division by zero or gigabytes of memory
_INT_RANGES = (("sr", 1000, 384000), ("n_mfcc", 1, 128), ("n_filt", 1, 256), ("n_fft", 16, 65536),
               ("lifter", 0, 1000), ("delta_n", 0, 20), ("order", 0, 2))
_FLOAT_RANGES = (("win_s", 1e-3, 0.5), ("hop_s", 1e-4, 0.5), ("low_hz", 0.0, 192000.0), ("high_hz", 0.0, 192000.0),
                 ("preemph", 0.0, 0.999), ("warp", _MIN_WARP, _MAX_WARP), ("floor_db", -150.0, -20.0),
                 ("normalization_active_db", 0.0, 120.0), ("rasta", 0.0, 0.999))
# names of settings in model files (format 3) -> their names here
OLD_NAMES = {"cmvn": "normalization", "cmvn_active_db": "normalization_active_db"}


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of the front end (saved in every model file).

    Attributes
    ----------
    sr : int
        Sample rate in Hz that signals are resampled to.
    win_s, hop_s : float
        Analysis window and hop in seconds.
    n_mfcc : int
        Cepstral coefficients kept (c0 replaced by log frame energy).
    n_filt : int
        Mel filters.
    n_fft : int
    low_hz, high_hz : float
        Band of the mel filterbank (``high_hz <= 0`` means ``sr / 2``).
    preemph : float
    lifter : int
    delta_n : int
        Half-width of the regression window for deltas (0: no deltas).
    order : int
        0 = static only, 1 = + deltas, 2 = + delta-deltas.
    normalization : str
        Normalisation of each feature over a segment. ``"heq"`` (default): histogram
        equalisation, each value replaced by the standard normal quantile of its rank
        among the segment's values of that feature (ties share their mean rank), so
        every feature of every segment has the same distribution, not only the same
        mean and variance: it removes more of what a new voice, microphone or room
        changes. ``"mv"``: mean and variance normalisation (CMVN); ``"m"``: mean only;
        ``"none"``. With very few examples and no augmentation ``"heq"`` takes words for
        ``_silence_`` more often (a segment of noise has the same per-feature
        distribution as a word after it). Chosen on unseen speakers: see
        benchmarks/RESULTS.md.
    normalization_active_db : float
        If positive, the normalisation statistics come from the active part of the
        segment only: from the first to the last frame within this many dB of its
        loudest frame and clearly above its noise floor (see :func:`~hmmrec.normalization.active_span`).
        ``0`` (default): statistics of all frames, which did better on unseen speakers
        and in noisy streams.
    warp : float
        Vocal tract length warping factor of the filterbank (1.0: none); training
        uses other factors to perturb the data, models are always used at 1.0.
    window : str
        Analysis window: ``"rect"`` (default, as python_speech_features) or
        ``"hamming"``. Hamming helps speakers seen in training but not new ones, which is
        what the default is chosen for.
    floor_db : float
        Level (dB re full scale) of a white-noise power floor added to every power
        spectrum. Digital silence (exact zeros) then looks like a very quiet room
        instead of ``log(0)``, which would otherwise dominate the normalised features.
    rasta : float
        Pole of a RASTA filter (Hermansky and Morgan's band-pass filter of feature
        trajectories: a 5-frame regression slope, then a leaky integrator with this
        pole), run over each segment from its first frame as part of :func:`~hmmrec.normalization.normalize`,
        on every column but the log energy and its deltas; ``0``: none. Run per segment
        rather than carried on through a stream, so that a window of a stream is
        normalised exactly as a training utterance is.
    """

    sr: int = 16000
    win_s: float = 0.025
    hop_s: float = 0.010
    n_mfcc: int = 13
    n_filt: int = 26
    n_fft: int = 512
    low_hz: float = 0.0
    high_hz: float = 0.0
    preemph: float = 0.97
    lifter: int = 22
    delta_n: int = 2
    order: int = 2
    normalization: str = "heq"
    warp: float = 1.0
    floor_db: float = -80.0
    normalization_active_db: float = 0.0
    window: str = "rect"
    rasta: float = 0.94

    def __post_init__(self):
        # types and sane ranges first: a model file's header is checked here too, and a
        # value out of range would mean a division by zero or an enormous allocation
        for name, low, high in _INT_RANGES:
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or not low <= v <= high:
                raise ParameterError(f"FeatureConfig.{name} must be a whole number from {low} to {high}, got {v!r}")
        for name, low, high in _FLOAT_RANGES:
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not low <= v <= high:  # NaN fails too
                raise ParameterError(f"FeatureConfig.{name} must be a number from {low:g} to {high:g}, got {v!r}")
        for name in ("normalization", "window"):
            if not isinstance(getattr(self, name), str):
                raise ParameterError(f"FeatureConfig.{name} must be a string, got {getattr(self, name)!r}")
        if self.high_hz > self.sr / 2:
            raise ParameterError(f"FeatureConfig.high_hz={self.high_hz:g} is above half the sample rate ({self.sr / 2:g})")
        if self.low_hz >= (self.high_hz if self.high_hz > 0 else self.sr / 2):
            raise ParameterError(f"FeatureConfig.low_hz={self.low_hz:g} must be below the top of the band")
        if self.hop_samples < 1:
            raise ParameterError(f"FeatureConfig.hop_s={self.hop_s:g} is shorter than one sample at {self.sr} Hz")
        if self.hop_s > self.win_s:
            raise ParameterError(f"FeatureConfig needs hop_s <= win_s, got hop_s={self.hop_s}, win_s={self.win_s}")
        if self.order and self.delta_n < 1:
            raise ParameterError(f"FeatureConfig.delta_n must be >= 1 with deltas, got {self.delta_n}")
        if self.normalization not in _NORMALISATIONS:
            raise ParameterError(f"FeatureConfig.normalization must be one of {', '.join(map(repr, _NORMALISATIONS))}, "
                                 f"got {self.normalization!r}")
        if self.n_mfcc > self.n_filt:
            raise ParameterError(f"FeatureConfig needs n_mfcc <= n_filt, got {self.n_mfcc}, {self.n_filt}")
        if self.window not in _WINDOWS:
            raise ParameterError(f"FeatureConfig.window must be one of {sorted(_WINDOWS)}, got {self.window!r}")
        if self.win_samples > self.n_fft:
            raise ParameterError(f"FeatureConfig.n_fft={self.n_fft} is shorter than the window ({self.win_samples} samples)")

    @property
    def win_samples(self) -> int:
        """Analysis window length in samples."""
        return int(round(self.win_s * self.sr))

    @property
    def hop_samples(self) -> int:
        """Hop between frames in samples."""
        return int(round(self.hop_s * self.sr))

    @property
    def n_features(self) -> int:
        """Dimension of one frame."""
        return self.n_mfcc * (self.order + 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        """Settings from :meth:`to_dict`, or as model files store them (older names too)."""
        d = {OLD_NAMES.get(k, k): v for k, v in d.items()}
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown FeatureConfig settings: {sorted(unknown)}")
        # settings added later: what models saved before them were trained with
        return cls(**({"rasta": 0.0} | d))


def warp_frequencies(f: np.ndarray, warp: float, high: float) -> np.ndarray:
    """Piecewise-linear vocal tract length warping of frequencies in Hz (top kept fixed)."""
    if warp == 1.0:
        return f
    knee = _WARP_KNEE * high * min(1.0, 1.0 / warp)
    return np.where(f <= knee, warp * f, warp * knee + (high - warp * knee) * (f - knee) / (high - knee))


@lru_cache(maxsize=32)
def mel_filterbank(n_filt: int, n_fft: int, sr: int, low_hz: float, high_hz: float, warp: float = 1.0) -> np.ndarray:
    """Triangular mel filters, shape (n_filt, n_fft // 2 + 1), on exact (not rounded) edges.

    Cached (read-only result): every utterance of a corpus uses the same few filterbanks.
    """
    edges = mel2hz(np.linspace(hz2mel(low_hz), hz2mel(high_hz), n_filt + 2))
    edges = warp_frequencies(edges, warp, high_hz)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs - left) / np.maximum(center - left, 1e-9)
    fall = (right - freqs) / np.maximum(right - center, 1e-9)
    out = np.maximum(0.0, np.minimum(rise, fall))
    out.setflags(write=False)
    return out


def floor_power(cfg: FeatureConfig, over_db: float = 0.0) -> float:
    """Power per FFT bin of white noise ``over_db`` above ``cfg.floor_db``, through the window."""
    w = _WINDOWS[cfg.window](cfg.win_samples)
    return float(np.sum(w * w)) / cfg.n_fft * 10.0 ** ((cfg.floor_db + over_db) / 10.0)


def floor_log_energy(cfg: FeatureConfig, over_db: float = 0.0) -> float:
    """Raw c0 (log frame energy) of white noise ``over_db`` above the floor."""
    return float(np.log((cfg.n_fft // 2 + 1) * floor_power(cfg, over_db)))


class _Cepstra:
    """MFCC of individual frames, with the filterbank computed once."""

    def __init__(self, cfg: FeatureConfig):
        self.cfg = cfg
        high = cfg.high_hz if cfg.high_hz > 0 else cfg.sr / 2
        self.fbank = mel_filterbank(cfg.n_filt, cfg.n_fft, cfg.sr, cfg.low_hz, high, cfg.warp).T
        self.window = _WINDOWS[cfg.window](cfg.win_samples)
        # power per FFT bin of white noise at floor_db seen through the window
        # (psf's powspec divides |X|^2 by n_fft)
        self.floor = floor_power(cfg)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """frames: (n, win_samples) of pre-emphasised samples -> (n, n_mfcc)."""
        cfg = self.cfg
        pspec = sigproc.powspec(frames * self.window, cfg.n_fft) + self.floor
        energy = np.maximum(pspec.sum(axis=1), _LOG_FLOOR)
        feat = np.log(np.maximum(pspec @ self.fbank, _LOG_FLOOR))
        cep = dct(feat, type=2, axis=1, norm="ortho")[:, : cfg.n_mfcc]
        cep = lifter(cep, cfg.lifter)
        cep[:, 0] = np.log(energy)
        return cep


def n_frames_for(n_samples: int, cfg: FeatureConfig) -> int:
    """Frames :func:`extract` gives for a signal of ``n_samples`` (0 if shorter than a window)."""
    if n_samples < cfg.win_samples:
        return 0
    return 1 + (n_samples - cfg.win_samples) // cfg.hop_samples


def _preemphasis(y: np.ndarray, coeff: float, prev: float = 0.0) -> np.ndarray:
    out = np.empty(len(y), dtype=np.float64)
    if len(y):
        out[0] = y[0] - coeff * prev
        out[1:] = y[1:] - coeff * y[:-1]
    return out


def _frame(y: np.ndarray, cfg: FeatureConfig, n: int) -> np.ndarray:
    idx = np.arange(cfg.win_samples)[None, :] + cfg.hop_samples * np.arange(n)[:, None]
    return y[idx]


@lru_cache(maxsize=8)
def _delta_weights(n: int) -> np.ndarray:
    k = np.arange(-n, n + 1, dtype=np.float64)
    w = k / (2.0 * np.sum(np.arange(1, n + 1) ** 2))
    w.setflags(write=False)
    return w


def _add_deltas(static: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Append deltas (and delta-deltas) computed with edge padding, as in HTK."""
    parts = [static]
    cur = static
    w = _delta_weights(cfg.delta_n)
    # edge padding by gathering rows (np.pad cost a fifth of feature extraction)
    edge = np.clip(np.arange(-cfg.delta_n, len(static) + cfg.delta_n), 0, max(len(static) - 1, 0))
    for _ in range(cfg.order):
        padded = cur[edge]
        cur = sum(w[i] * padded[i : i + len(cur)] for i in range(len(w)))
        parts.append(cur)
    return np.hstack(parts)


def raw_features(y: np.ndarray, cfg: FeatureConfig | None = None) -> np.ndarray:
    """Frames of a whole signal before normalisation (column 0: log frame energy).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono signal at ``cfg.sr``.
    cfg : FeatureConfig

    Returns
    -------
    np.ndarray, shape (n_frames, cfg.n_features), float64
        ``n_frames`` is 0 when the signal is shorter than one window.
    """
    cfg = cfg or FeatureConfig()
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ParameterError(f"extract expects a 1-D signal, got shape {y.shape}")
    n = n_frames_for(len(y), cfg)
    if n == 0:
        return np.zeros((0, cfg.n_features))
    pre = _preemphasis(y, cfg.preemph)
    cep = _Cepstra(cfg)
    # frames and spectra a block at a time: memory stays a few MB however long the signal
    static = np.empty((n, cfg.n_mfcc))
    for a in range(0, n, _BLOCK_FRAMES):
        b = min(a + _BLOCK_FRAMES, n)
        static[a:b] = cep(_frame(pre[a * cfg.hop_samples:], cfg, b - a))
    return _add_deltas(static, cfg)


def filterbank_frames(y: np.ndarray, cfg: FeatureConfig, n_filt: int = FILTERBANK_CHANNELS) -> np.ndarray:
    """Log mel filterbank energies (``n_filt`` filters, warped by ``cfg.warp``) and the log
    energy of the frames of :func:`raw_features`, each column standardised over the signal.

    The second view of the sound that a frame classifier takes (:mod:`hmmrec.framenet`):
    the spectral detail that 13 cepstra smooth away, normalised by mean and variance
    rather than by histogram, so that its mistakes differ from the cepstral view's.

    Returns (n_frames, n_filt + 1), single precision; no rows for a signal shorter than a window.
    """
    y = np.asarray(y, dtype=np.float64)
    n = n_frames_for(len(y), cfg)
    if n == 0:
        return np.zeros((0, n_filt + 1), dtype=np.float32)
    high = cfg.high_hz if cfg.high_hz > 0 else cfg.sr / 2
    bank = mel_filterbank(n_filt, cfg.n_fft, cfg.sr, cfg.low_hz, high, cfg.warp).T
    window, floor = _WINDOWS[cfg.window](cfg.win_samples), floor_power(cfg)
    pre = _preemphasis(y, cfg.preemph)
    out = np.empty((n, n_filt + 1))
    for a in range(0, n, _BLOCK_FRAMES):
        b = min(a + _BLOCK_FRAMES, n)
        pspec = sigproc.powspec(_frame(pre[a * cfg.hop_samples:], cfg, b - a) * window, cfg.n_fft) + floor
        out[a:b, :n_filt] = np.log(np.maximum(pspec @ bank, _LOG_FLOOR))
        out[a:b, n_filt] = np.log(np.maximum(pspec.sum(axis=1), _LOG_FLOOR))
    out -= out.mean(axis=0)
    out /= out.std(axis=0) + 1e-3
    return out.astype(np.float32)


def extract(y: np.ndarray, cfg: FeatureConfig | None = None) -> np.ndarray:
    """Normalised features of a whole signal taken as one utterance: :func:`normalize`
    of :func:`raw_features`, shape (n_frames, cfg.n_features)."""
    cfg = cfg or FeatureConfig()
    return normalize(raw_features(y, cfg), cfg)


class FeatureStream:
    """Raw feature frames from a signal that arrives in chunks.

    ``FeatureStream(cfg)``, then :meth:`push` each chunk (any size, float mono at
    ``cfg.sr``) and :meth:`flush` at the end. The frames returned, concatenated, equal
    ``raw_features(whole_signal, cfg)`` exactly. Deltas need ``order *
    delta_n`` frames of look-ahead, so each frame is returned that many hops after its
    samples arrive (and the last ones at :meth:`flush`).
    """

    def __init__(self, cfg: FeatureConfig | None = None):
        self._cfg = cfg or FeatureConfig()
        self._cep = _Cepstra(self._cfg)
        self.reset()

    @property
    def cfg(self) -> FeatureConfig:
        return self._cfg

    @property
    def sr(self) -> int:
        """Sample rate (Hz) the input must have."""
        return self._cfg.sr

    @property
    def lookahead_frames(self) -> int:
        """Frames of delay between a frame's samples arriving and the frame leaving."""
        return self._cfg.order * self._cfg.delta_n

    @property
    def n_frames_out(self) -> int:
        """Frames returned so far."""
        return self._n_out

    def reset(self) -> None:
        """Forget everything: the next chunk starts a new signal."""
        self._samples = np.zeros(0)
        self._last_sample = 0.0
        self._static = np.zeros((0, self._cfg.n_mfcc))  # statics from global index _s0
        self._s0 = 0
        self._n_out = 0

    def _new_static(self, chunk: np.ndarray) -> np.ndarray:
        cfg = self._cfg
        emph = _preemphasis(chunk, cfg.preemph, self._last_sample)
        if len(chunk):
            self._last_sample = float(chunk[-1])
        self._samples = np.concatenate([self._samples, emph])
        n = n_frames_for(len(self._samples), cfg)
        if n == 0:
            return np.zeros((0, cfg.n_mfcc))
        cep = self._cep(_frame(self._samples, cfg, n))
        self._samples = self._samples[n * cfg.hop_samples :]
        return cep

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add samples; return the frames that became final, shape (n, n_features)."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 1:
            raise ParameterError(f"FeatureStream.push expects a 1-D chunk, got shape {chunk.shape}")
        new = self._new_static(chunk)
        if len(new):
            self._static = np.vstack([self._static, new])
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        """Return the last frames (edge-padded deltas, as :func:`extract`) and reset."""
        out = self._emit(final=True)
        self.reset()
        return out

    def _emit(self, final: bool) -> np.ndarray:
        cfg = self._cfg
        look = self.lookahead_frames
        n_static = self._s0 + len(self._static)
        stop = n_static if final else n_static - look
        if stop <= self._n_out:
            return np.zeros((0, cfg.n_features))
        # levels are computed over the kept statics; edge padding only at the true ends
        level = self._static
        lo, hi = self._s0, n_static  # global index range the current level covers
        parts = [level]
        ranges = [(lo, hi)]
        w = _delta_weights(cfg.delta_n) if cfg.order else None
        for _ in range(cfg.order):
            n = cfg.delta_n
            pad_l = n if lo == 0 else 0
            pad_r = n if final else 0
            padded = np.pad(level, ((pad_l, pad_r), (0, 0)), mode="edge") if pad_l or pad_r else level
            m = len(padded) - 2 * n
            level = sum(w[i] * padded[i : i + m] for i in range(len(w)))
            lo, hi = lo - pad_l + n, hi + pad_r - n
            parts.append(level)
            ranges.append((lo, hi))
        out = np.hstack([p[self._n_out - a : stop - a] for p, (a, _) in zip(parts, ranges)])
        self._n_out = stop
        keep_from = max(0, stop - look)
        self._static = self._static[keep_from - self._s0 :]
        self._s0 = keep_from
        return out

