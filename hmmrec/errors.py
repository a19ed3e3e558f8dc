"""The one exception family of hmmrec.

Every error a user can cause (bad arguments, unreadable audio, a file that is not a
model) is an :class:`HmmrecError`; the command line turns these into a one-line
``hmmrec: error: ...`` message.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError

__all__ = ["HmmrecError", "ParameterError", "AudioError", "ModelFileError", "DataError", "NotFittedError"]


class HmmrecError(Exception):
    """Base class of all errors raised on purpose by hmmrec."""


class ParameterError(HmmrecError, ValueError):
    """An argument has a value hmmrec cannot work with."""


class AudioError(HmmrecError):
    """A file or array could not be read or used as audio."""


class ModelFileError(HmmrecError):
    """A file is not a valid hmmrec model (or of an unsupported format version)."""


class DataError(HmmrecError):
    """A training or evaluation corpus (folder tree or manifest) is unusable."""
