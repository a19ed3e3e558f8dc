"""hmmrec: spoken word and keyword recognition with hidden Markov models."""

from .errors import AudioError, DataError, HmmrecError, ModelFileError, NotFittedError, ParameterError
from .features import FeatureConfig, FeatureStream, extract
from .recognizer import HMMRecognizer

__version__ = "0.1.0"

__all__ = ["HMMRecognizer", "FeatureConfig", "FeatureStream", "extract", "HmmrecError", "ParameterError",
           "AudioError", "ModelFileError", "DataError", "NotFittedError", "__version__"]
