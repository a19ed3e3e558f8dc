"""Normalisation of one segment of raw frames: an utterance, or a window of a stream.

Each segment is filtered with a RASTA filter from its first frame, then every feature's
histogram over the segment is equalised to a standard normal one (or mean and variance
normalised, as :attr:`FeatureConfig.normalization` says). A window of a stream is thus
normalised exactly as a training utterance is. Also here: the active and spoken parts
of a segment, found from its log frame energy (column 0 of raw frames).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import ndtri

from .errors import ParameterError

__all__ = ["normalize", "active_span", "spoken_span", "check_long_enough", "TRIM_DB"]

_VAR_FLOOR = 1e-6
# word models learn only the spoken part of each training utterance: frames within this
# many dB of the loudest one (see spoken_span)
TRIM_DB = 30.0
ACTIVE_PAD_FRAMES = 3


ACTIVE_OVER_FLOOR_DB = 6.0


def active_span(log_energy: np.ndarray, db: float, pad: int = ACTIVE_PAD_FRAMES,
                over_floor_db: float = ACTIVE_OVER_FLOOR_DB) -> tuple[int, int]:
    """(first, stop) frame indices of the active part of a segment.

    From the first to the last frame whose log energy is within ``db`` decibels of the
    loudest frame and at least ``over_floor_db`` above the segment's noise floor (its
    10th percentile), widened by ``pad`` frames each side; at least two frames (or
    all, if fewer).
    """
    n = len(log_energy)
    if n == 0:
        return 0, 0
    to_nats = np.log(10.0) / 10.0
    level = max(log_energy.max() - db * to_nats, np.percentile(log_energy, 10) + over_floor_db * to_nats)
    loud = np.flatnonzero(log_energy >= min(level, log_energy.max()))
    first, stop = max(0, int(loud[0]) - pad), min(n, int(loud[-1]) + 1 + pad)
    if stop - first < 2:
        first = max(0, min(first, n - 2))
        stop = min(n, first + 2)
    return first, stop


def spoken_span(raw: np.ndarray, db: float = TRIM_DB) -> tuple[int, int]:
    """(first, stop) frames of the spoken part of raw (unnormalised) features.

    Column 0 of raw features is the log frame energy; see :func:`active_span`.
    """
    return active_span(raw[:, 0], db)


def check_long_enough(frames: np.ndarray, y: np.ndarray, cfg, name: str) -> None:
    """A clear ParameterError when a signal gave fewer than two frames."""
    if len(frames) < 2:
        raise ParameterError(f"{name}: too short to recognise ({len(y) / cfg.sr * 1000:.0f} ms; "
                             f"need at least {2 * cfg.hop_s * 1000 + cfg.win_s * 1000:.0f} ms)")


def normalize(feats: np.ndarray, cfg) -> np.ndarray:
    """RASTA filtering (``cfg.rasta``) and normalisation (``cfg.normalization``: histogram
    equalisation or CMVN) of one segment of raw frames, shape kept.

    The filter starts at the segment's first frame; the statistics come from the
    segment's active part (``cfg.normalization_active_db``) and apply to all of its frames.
    """
    if cfg.rasta and len(feats):
        from ._kernels import rasta_filter

        # all columns but c0 (the log energy) and its deltas
        feats = rasta_filter(np.ascontiguousarray(feats, dtype=np.float64), float(cfg.rasta), cfg.n_mfcc)
    if cfg.normalization == "none" or len(feats) == 0:
        return feats
    ref = None  # statistics of the whole segment
    if cfg.normalization_active_db > 0:
        first, stop = active_span(feats[:, 0], cfg.normalization_active_db)
        ref = feats[first:stop]
    if cfg.normalization == "heq":
        return _normal_quantiles(len(feats) if ref is None else len(ref))[_rank_codes(feats, ref)]
    if ref is None:
        ref = feats
    out = feats - ref.mean(axis=0)
    if cfg.normalization == "mv":
        out /= np.sqrt(np.maximum(ref.var(axis=0), _VAR_FLOOR))
    return out


def _rank_codes(feats: np.ndarray, ref: np.ndarray | None) -> np.ndarray:
    """Twice each value's mean rank (plus one) among its column of ``ref`` (``None``: of
    ``feats`` itself), see :func:`hmmrec._kernels.rank_codes`."""
    from ._kernels import rank_codes, rank_codes_sorted

    feats = np.ascontiguousarray(feats, dtype=np.float64)
    if ref is not None:
        return rank_codes(feats, np.ascontiguousarray(ref, dtype=np.float64))
    xt = np.ascontiguousarray(feats.T)
    return rank_codes_sorted(xt, np.argsort(xt, axis=1))


@lru_cache(maxsize=256)
def _normal_quantiles(n: int) -> np.ndarray:
    """Standard normal quantiles of the probabilities k / (2 n), k = 0 .. 2 n, with the two
    ends pulled in to 0.5 / n and 1 - 0.5 / n (the values below or above all ``n``
    reference values; see :func:`~hmmrec._kernels.rank_codes`). Read-only."""
    p = np.clip(np.arange(2 * n + 1) / (2.0 * n), 0.5 / n, 1.0 - 0.5 / n)
    q = ndtri(p)
    q.setflags(write=False)
    return q
