"""Is someone speaking? A check of recordings that does not depend on the word models.

A whole label such as ``_silence_`` is a model of what its training clips sounded like.
A voice unlike every training voice (a real person, for a model trained on synthetic
voices) can score closer to that broad model than to any word model, and the recording
would come out as silence with full confidence. So the recognizer also asks a voice
activity detector that was built on many voices (WebRTC's, a Gaussian mixture on
sub-band energies; package ``webrtcvad``) for the longest stretch of speech in the
recording. That detector takes any loud steady noise for speech, so a recording whose
level hardly changes (``STEADY_DB``) has none: speech comes and goes by syllables.
Training keeps, for each whole label, the longest stretch found in that label's own
training clips (:func:`hmmrec.training.training_data`); a recording with clearly more
speech than any of them cannot be that label (:func:`ruled_out`). A model whose silence
clips include talking or speech-like noise keeps a long limit, so the check only speaks
where the training data says such speech is not silence.

The other way round, a word is speech: for every other label training keeps the share
of its clips in which the detector heard none, and a recording without speech is not a
word whose clips nearly all held some (``NO_SPEECH_SHARE``: corpora hold a few clips of
speech buried in noise, or of none). Here the recording is first made loud (its loudest
10 ms at ``LOUD_DB``), as the detector's thresholds are absolute and a quiet microphone
is not silence; nor is it "less speech than the word's shortest clip", as a model of
synthetic voices, which speak slowly, would then rule out real people's quicker words.
A model trained on more voices than another can fit a stretch of noise better than the
broad ``_silence_`` model does; the detector does not care which label had more data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .labels import is_whole

__all__ = ["Speech", "listen", "longest_speech_s", "ruled_out", "speech_than", "MARGIN_S", "NO_SPEECH_SHARE",
           "STEADY_DB", "LOUD_DB"]

# rates the detector works at; other audio is resampled to 16 kHz for it
_VAD_RATES = (8000, 16000, 32000, 48000)
_FRAME_S = 0.01  # the detector's decision step (10, 20 or 30 ms)
_MODE = 3  # the detector's most selective setting: least noise taken for speech
# a recording must hold this much more speech than any training clip of a whole label
# for that label to be ruled out; a recording with less than this holds no speech
MARGIN_S = 0.05
# a word is ruled out for a recording without speech when at most this share of its
# training clips had none
NO_SPEECH_SHARE = 0.05
# level (dB re full scale) of the loudest 10 ms of a recording made loud to ask whether
# it holds any speech, and the most gain that may take
LOUD_DB = -20.0
_MAX_GAIN_DB = 60.0
# a recording whose 10 ms frame levels span less than this (10th to 90th percentile) is
# a steady sound, not speech, however loud
STEADY_DB = 6.0


@dataclass(frozen=True)
class Speech:
    """What the detector heard in one recording (:func:`listen`)."""

    longest_s: float  # the longest run of speech, in seconds, at the recording's own level
    heard: bool  # any speech (``MARGIN_S`` or more) with the recording made loud (``LOUD_DB``)


def listen(y: np.ndarray, sr: int) -> Speech:
    """:class:`Speech` of ``y`` (float mono samples at ``sr``)."""
    y, sr, frames, level = _frames(y, sr)
    longest = _longest_run_s(y, sr, level)
    if longest >= MARGIN_S or not len(frames):
        return Speech(longest, longest >= MARGIN_S)
    gain = min(LOUD_DB - float(level.max()), _MAX_GAIN_DB)
    return Speech(longest, gain > 0 and _longest_run_s(y * 10 ** (gain / 20), sr, level) >= MARGIN_S)


def longest_speech_s(y: np.ndarray, sr: int) -> float:
    """Longest run of speech, in seconds, that the voice activity detector finds in ``y``
    (float mono samples at ``sr``)."""
    y, sr, _, level = _frames(y, sr)
    return _longest_run_s(y, sr, level)


def _frames(y: np.ndarray, sr: int):
    """``y`` at a rate the detector works at, its 10 ms frames and their levels (dB)."""
    from .audio import resample

    if sr not in _VAD_RATES:
        y, sr = resample(y, sr, 16000), 16000
    n = round(_FRAME_S * sr)
    frames = np.asarray(y[: len(y) // n * n], dtype=np.float64).reshape(-1, n)
    level = 10 * np.log10((frames * frames).mean(1) + 1e-10)
    return y, sr, frames, level


def _longest_run_s(y: np.ndarray, sr: int, level: np.ndarray) -> float:
    import webrtcvad

    if not len(level) or np.percentile(level, 90) - np.percentile(level, 10) < STEADY_DB:
        return 0.0  # (a steady sound, however loud, is not speech)
    n = round(_FRAME_S * sr)
    pcm = np.round(np.clip(np.asarray(y, dtype=np.float64), -1.0, 1.0) * 32767).astype("<i2").tobytes()
    vad = webrtcvad.Vad(_MODE)
    best = run = 0
    for start in range(0, len(pcm) // 2 - n + 1, n):
        if vad.is_speech(pcm[2 * start: 2 * (start + n)], sr):
            run += 1
            best = max(best, run)
        else:
            run = 0
    return round(best * _FRAME_S, 3)


def ruled_out(labels, limits: dict, speech: Speech, no_speech: dict | None = None) -> frozenset:
    """Indices of the labels that a recording's :class:`Speech` rules out (see the module):
    labels of ``limits`` (label -> longest speech of its training clips) when its longest
    speech is clearly longer; labels of ``no_speech`` (label -> share of its training
    clips without speech) nearly always spoken, when it has none."""
    no_speech = no_speech or {}
    return frozenset(k for k, label in enumerate(labels)
                     if (str(label) in limits and speech.longest_s > limits[str(label)] + MARGIN_S)
                     or (not speech.heard and no_speech.get(str(label), 1.0) <= NO_SPEECH_SHARE))


def speech_than(label) -> str:
    """Why :func:`ruled_out` rules ``label`` out, as in "the file holds ... training
    clips": whole labels for more speech, the others for none."""
    return "more speech than any of its" if is_whole(label) else "no speech, unlike its"
