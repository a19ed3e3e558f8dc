"""Label rules, in one place.

A label is a folder name of a folder-per-label tree or the ``label`` column of a
manifest. Labels that begin with ``_`` (``_silence_``, ``_unknown_``, ``_background_``)
are *non-keyword* classes: trained, scored and evaluated like any other, but never
emitted by the stream as keyword events.
"""

from __future__ import annotations

__all__ = ["is_keyword", "is_whole", "has_several_models", "WHOLE_LABELS", "UNKNOWN"]

# the label of words a model does not know (a model need not have it)
UNKNOWN = "_unknown_"

# labels of pure background sound: modelled and scored whole, never trimmed to a spoken
# part or wrapped in filler (a recording of silence is silence from its first frame to its last)
WHOLE_LABELS = frozenset({"_silence_", "_background_", "_noise_"})


def is_keyword(label: str) -> bool:
    """False for non-keyword classes (labels beginning with ``_``)."""
    return not str(label).startswith("_")


def is_whole(label: str) -> bool:
    """True for labels of pure background sound (see ``WHOLE_LABELS``)."""
    return str(label) in WHOLE_LABELS


def has_several_models(label: str) -> bool:
    """Whether a label may be modelled by several stream models: non-keywords that are
    speech (``_unknown_`` stands for many different words)."""
    return not is_keyword(label) and not is_whole(label)
