"""Guided recording of training examples from a microphone.

:func:`record_examples` prompts for each take, records a few seconds, trims the
silence around the word (:func:`trim_silence`), rejects takes without speech and writes
``<out_dir>/<label>/<label>_<NNN>.wav`` (16-bit PCM), always at the next free number:
an existing file is never replaced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import write_wav
from .labels import is_keyword
from .errors import AudioError, HmmrecError, ParameterError
from .live import DEFAULT_SR, MicrophoneSource

__all__ = ["trim_silence", "frame_levels_db", "speech_problem", "next_free_path", "record_examples"]

FRAME_S = 0.025
HOP_S = 0.010
THRESHOLD_DB = -35.0  # frames this far below the loudest frame are silence
# kept before and after the word: the onset and fading end of a word are part of it, and
# takes cut tighter than the recordings a model later hears make worse models (see
# benchmarks/RESULTS.md, teaching words)
PAD_S = 0.25
DEFAULT_MAX_S = 3.0
# a take holds speech if its loudest frame is this loud (dBFS) ...
MIN_PEAK_DBFS = -50.0
# ... and this far above the quiet part of the take (so steady noise is not "speech") ...
MIN_DYNAMIC_DB = 12.0
# ... and the loud part lasts at least this long
MIN_SPEECH_S = 0.08
MAX_ATTEMPTS = 5
_EPS = 1e-10
_LABEL_RE = re.compile(r"^[^/\\\x00]+$")


def frame_levels_db(y: np.ndarray, sr: int, frame_s: float = FRAME_S, hop_s: float = HOP_S) -> np.ndarray:
    """RMS level of each frame in dBFS (0 dB = full-scale square wave).

    Returns
    -------
    np.ndarray, shape (n_frames,)
        Frame ``i`` covers samples ``[i * hop, i * hop + frame)`` (the last one may be short).
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ParameterError(f"expected a 1-D signal, got shape {y.shape}")
    frame = max(1, int(round(frame_s * sr)))
    hop = max(1, int(round(hop_s * sr)))
    if len(y) == 0:
        return np.zeros(0)
    n = 1 + max(0, int(np.ceil((len(y) - frame) / hop)))
    padded = np.concatenate([y, np.zeros(max(0, (n - 1) * hop + frame - len(y)))])
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(padded[idx] ** 2, axis=1))
    return 20 * np.log10(rms + _EPS)


def _active_span(levels: np.ndarray, threshold_db: float) -> tuple[int, int] | None:
    """First and last frame within ``threshold_db`` of the loudest, or None for digital silence."""
    if len(levels) == 0 or levels.max() <= 20 * np.log10(_EPS) + 1:
        return None
    active = np.flatnonzero(levels >= levels.max() + threshold_db)
    return int(active[0]), int(active[-1])


def trim_silence(y: np.ndarray, sr: int, threshold_db: float = THRESHOLD_DB,
                 pad_s: float = PAD_S) -> tuple[np.ndarray, float, float]:
    """Cut the silence before and after the loud part of a signal.

    A frame (25 ms, hop 10 ms) is loud if its RMS level is at most ``-threshold_db``
    dB below the loudest frame's. Everything from the first to the last loud frame is
    kept, plus ``pad_s`` seconds each side (within the signal).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    sr : int
        Sample rate in Hz.
    threshold_db : float
        Negative, in dB relative to the loudest frame.
    pad_s : float
        Seconds kept before the first and after the last loud frame.

    Returns
    -------
    y_trimmed : np.ndarray
    start_s, end_s : float
        Where ``y_trimmed`` starts and ends in ``y``, in seconds. An all-zero (or
        empty) signal gives an empty array and ``0.0, 0.0``.
    """
    y = np.asarray(y)
    if threshold_db >= 0:
        raise ParameterError(f"threshold_db must be negative (dB below the loudest frame), got {threshold_db}")
    if pad_s < 0:
        raise ParameterError(f"pad_s must be >= 0 seconds, got {pad_s}")
    span = _active_span(frame_levels_db(y, sr), threshold_db)
    if span is None:
        return y[:0], 0.0, 0.0
    frame, hop, pad = int(round(FRAME_S * sr)), int(round(HOP_S * sr)), int(round(pad_s * sr))
    first, last = span
    start = max(0, first * hop - pad)
    end = min(len(y), last * hop + frame + pad)
    return y[start:end], start / sr, end / sr


def speech_problem(y: np.ndarray, sr: int, threshold_db: float = THRESHOLD_DB) -> str | None:
    """Why a take is not a usable spoken word, or None if it is.

    Rejects takes that are too quiet, that hold only steady noise (no part stands
    ``MIN_DYNAMIC_DB`` above the quiet part), whose loud part is too short, and whose
    loud part runs into the end of the take (the word was probably cut off).
    """
    levels = frame_levels_db(y, sr)
    if len(levels) == 0 or levels.max() < MIN_PEAK_DBFS:
        return "no speech heard (too quiet: check the microphone or speak louder)"
    if levels.max() - np.percentile(levels, 10) < MIN_DYNAMIC_DB:
        return "no speech heard (only steady sound; is the room quiet?)"
    first, last = _active_span(levels, threshold_db)
    if (last - first) * HOP_S + FRAME_S < MIN_SPEECH_S:
        return "no speech heard (only a click)"
    if last >= len(levels) - 1:
        return "the word runs into the end of the take (start speaking right after the prompt)"
    return None


def next_free_path(folder: Path, label: str) -> Path:
    """``folder/<label>_<NNN>.wav`` with NNN one above the highest number present."""
    pattern = re.compile(rf"^{re.escape(label)}_(\d+)\.wav$")
    numbers = [int(m.group(1)) for p in folder.glob("*.wav") if (m := pattern.match(p.name))]
    n = max(numbers, default=0) + 1
    while (folder / f"{label}_{n:03d}.wav").exists():
        n += 1
    return folder / f"{label}_{n:03d}.wav"


def _capture(device, sr: int, max_samples: int, on_open: Callable[[], object]) -> np.ndarray:
    """Up to ``max_samples`` samples from the microphone; ``on_open()`` runs once audio arrives."""
    chunks, n = [], 0
    with MicrophoneSource(device, sr) as mic:
        for chunk in mic:
            if not chunks:  # prompt only once audio flows: devices may take a while to start
                on_open()
            chunks.append(chunk[: max_samples - n])
            n += len(chunks[-1])
            if n >= max_samples:
                break
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def record_examples(label: str, count: int, out_dir, device: str | int | None = None, sr: int = DEFAULT_SR,
                    max_s: float = DEFAULT_MAX_S, prompt: Callable[[str], object] = print,
                    wait: Callable[[str], object] = input, max_attempts: int = MAX_ATTEMPTS) -> list[Path]:
    """Record ``count`` examples of ``label`` into ``out_dir/label/``.

    For each take: ``wait(...)`` (e.g. :func:`input`: the speaker presses Enter), then
    ``prompt("say 'apple' (3/10)")``, then up to ``max_s`` seconds are recorded. A
    keyword take is trimmed (:func:`trim_silence`) and retried if it holds no speech
    (:func:`speech_problem`); a non-keyword label (``_silence_``, ``_background_``...)
    is kept whole.

    Parameters
    ----------
    label : str
        Folder and file name prefix.
    count : int
        Takes to record.
    out_dir : str or Path
        Corpus root (folder-per-label tree).
    device : int, str or None
        See :func:`hmmrec.live.resolve_device`.
    sr : int
        Sample rate (Hz) of the written files.
    max_s : float
        Seconds recorded per take.
    prompt, wait : callable
        Output of messages, and the pause before each take.
    max_attempts : int
        Give up (HmmrecError) after this many rejected takes in a row.

    Returns
    -------
    list of Path
        The files written, in order.
    """
    if not isinstance(label, str) or not label.strip() or not _LABEL_RE.match(label) or label.startswith("."):
        raise ParameterError(f"label must be a plain folder name, got {label!r}")
    if int(count) < 1:
        raise ParameterError(f"count must be >= 1, got {count}")
    if not max_s > 0:
        raise ParameterError(f"max_s must be > 0 seconds, got {max_s}")
    MicrophoneSource(device, sr).check()  # no microphone: say so before announcing any take
    folder = Path(out_dir) / label
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HmmrecError(f"{folder}: cannot create folder ({exc.strerror})") from None
    keyword = is_keyword(label)
    max_samples = int(round(max_s * sr))
    written: list[Path] = []
    for take in range(1, int(count) + 1):
        for attempt in range(1, max_attempts + 1):
            wait(f"press Enter to record take {take}/{count} of '{label}' ")
            say = f"say '{label}' ({take}/{count})" if keyword else f"recording '{label}' ({take}/{count}): stay quiet"
            y = _capture(device, sr, max_samples, lambda: prompt(say))
            if keyword:
                problem = speech_problem(y, sr)
                if problem is None:
                    y, _, _ = trim_silence(y, sr)
            else:
                problem = None if len(y) else "no audio recorded"
            if problem is None:
                break
            prompt(f"  {problem}; try again")
        else:
            raise HmmrecError(f"take {take} of '{label}': {max_attempts} attempts without a usable recording; "
                              "check the microphone ('hmmrec devices') and its level")
        while True:
            path = next_free_path(folder, label)
            try:
                write_wav(path, y, sr)  # refuses to overwrite, even if a file appeared meanwhile
                break
            except AudioError:
                if not path.exists():
                    raise
            except OSError as exc:
                raise HmmrecError(f"{path}: cannot write ({exc.strerror})") from None
        written.append(path)
        prompt(f"  saved {path} ({len(y) / sr:.2f} s)")
    return written
