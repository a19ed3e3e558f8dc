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
"""

from __future__ import annotations

import numpy as np

__all__ = ["longest_speech_s", "ruled_out", "MARGIN_S", "STEADY_DB"]

# rates the detector works at; other audio is resampled to 16 kHz for it
_VAD_RATES = (8000, 16000, 32000, 48000)
_FRAME_S = 0.01  # the detector's decision step (10, 20 or 30 ms)
_MODE = 3  # the detector's most selective setting: least noise taken for speech
# a recording must hold this much more speech than any training clip of a whole label
# for that label to be ruled out
MARGIN_S = 0.05
# a recording whose 10 ms frame levels span less than this (10th to 90th percentile) is
# a steady sound, not speech, however loud
STEADY_DB = 6.0


def longest_speech_s(y: np.ndarray, sr: int) -> float:
    """Longest run of speech, in seconds, that the voice activity detector finds in ``y``
    (float mono samples at ``sr``)."""
    import webrtcvad

    from .audio import resample

    if sr not in _VAD_RATES:
        y, sr = resample(y, sr, 16000), 16000
    n = round(_FRAME_S * sr)
    frames = np.asarray(y[: len(y) // n * n], dtype=np.float64).reshape(-1, n)
    if not len(frames):
        return 0.0
    level = 10 * np.log10((frames * frames).mean(1) + 1e-10)
    if np.percentile(level, 90) - np.percentile(level, 10) < STEADY_DB:
        return 0.0
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


def ruled_out(labels, limits: dict, speech_s: float) -> frozenset:
    """Indices of the labels that ``speech_s`` seconds of speech rule out (see the module)."""
    return frozenset(k for k, label in enumerate(labels)
                     if str(label) in limits and speech_s > limits[str(label)] + MARGIN_S)
