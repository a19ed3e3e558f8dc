"""Streaming on the dashboard: a file through the stream recognizer, and whether the
server has a microphone."""

from __future__ import annotations

import numpy as np

from hmmrec.errors import HmmrecError


class StreamRun:
    """A file pushed through a :class:`~hmmrec.stream.StreamRecognizer` (events + window history)."""

    def __init__(self, rec, y: np.ndarray, sensitivity: float, chunk_s: float = 0.5, progress=None):
        from hmmrec.stream import StreamRecognizer

        sr = rec.feature_config_.sr
        sr_rec = StreamRecognizer(rec, sensitivity=sensitivity, keep_history=True)
        self.window_s, self.hop_s = sr_rec.window_s, sr_rec.hop_s
        events = []
        step = max(1, int(chunk_s * sr))
        for i in range(0, len(y), step):
            events.extend(sr_rec.push(y[i:i + step]))
            if progress is not None:
                progress(min(1.0, (i + step) / max(len(y), 1)))
        events.extend(sr_rec.flush())
        self.events = events
        self.history = list(sr_rec.history)
        self.scorer = sr_rec.scorer


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
