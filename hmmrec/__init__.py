"""hmmrec: spoken word and keyword recognition with hidden Markov models.

The public API, by job:

* training and recognising files: :class:`HMMRecognizer` (scikit-learn estimator),
  its result :class:`Recognition`, training progress :class:`TrainingProgress`;
* keywords in streams: :class:`StreamRecognizer` (``push``/``flush``/``reset``) and its
  :class:`KeywordEvent`, :func:`hmmrec.stream.stream_file`, the microphone in
  :mod:`hmmrec.live`, scoring against what was said in :mod:`hmmrec.spotting`;
* features: :class:`FeatureConfig`, :func:`extract`, :class:`FeatureStream`;
* data: :func:`hmmrec.corpus.load_corpus`, reports in :mod:`hmmrec.evaluate`;
* errors: :class:`HmmrecError` and its kinds.
"""

from .errors import AudioError, DataError, HmmrecError, ModelFileError, NotFittedError, ParameterError
from .features import FeatureConfig, FeatureStream, extract
from .progress import TrainingProgress
from .recognizer import HMMRecognizer, Recognition
from .stream import KeywordEvent, StreamRecognizer

__version__ = "0.1.0"

__all__ = ["HMMRecognizer", "Recognition", "TrainingProgress", "StreamRecognizer", "KeywordEvent", "FeatureConfig",
           "FeatureStream", "extract", "HmmrecError", "ParameterError", "AudioError", "ModelFileError", "DataError",
           "NotFittedError", "__version__"]
