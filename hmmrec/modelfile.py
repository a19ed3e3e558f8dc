"""The model-file format: data, never code.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding a JSON
header and the parameters of every model as plain float arrays. It is always read with
``allow_pickle=False``, so loading a file can never run code from it; anything that is
not a valid model is a :class:`~hmmrec.errors.ModelFileError`.

Header: ``format`` (``"hmmrec-model"``), ``version``, ``labels``, ``feature_config``,
``params`` (the estimator's settings), ``temperature``, ``training`` (summary) and
``extra_labels``. Arrays, each as ``<prefix>_transmat``, ``_weights``, ``_means`` and
``_variances``: ``m<k>`` the model of label ``k``, ``bg`` the background model, ``fl``
the filler, ``s<k>`` label ``k``'s stream model where it differs from ``m<k>``, and
``x<j>`` the further stream models of the labels ``extra_labels[j]``.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelFileError
from .features import OLD_NAMES, FeatureConfig
from .hmm import HMMParams
from .safefile import write_atomically

__all__ = ["ModelContents", "write_model", "read_model", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "hmmrec-model"
# 2: further stream models of non-keyword labels (x* arrays, "extra_labels")
# 3: features with a RASTA filter and histogram equalisation (a reader of 2 refuses or misreads them)
FORMAT_VERSION = 3
_KEYS = ("transmat", "weights", "means", "variances")
# feature settings under the names format 3 gives them
_FILE_NAMES = {new: old for old, new in OLD_NAMES.items()}
_BACKGROUND = "(background)"
_FILLER = "(filler)"


@dataclass
class ModelContents:
    """Everything a model file holds.

    ``stream_models[k]`` is ``models[k]`` itself where the stream uses the final model.
    """

    labels: list
    feature_config: FeatureConfig
    params: dict
    models: list
    stream_models: list
    extra_labels: list
    extra_stream_models: list
    background: HMMParams
    filler: HMMParams
    temperature: float
    training: dict = field(default_factory=dict)


def write_model(path, contents: ModelContents, overwrite: bool = False) -> Path:
    """Write ``contents`` to ``path`` (see :func:`~hmmrec.safefile.write_atomically`); refuses to
    overwrite unless ``overwrite``."""
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "labels": [str(c) for c in contents.labels],
        "feature_config": {_FILE_NAMES.get(k, k): v for k, v in contents.feature_config.to_dict().items()},
        "params": contents.params,
        "temperature": contents.temperature,
        "training": contents.training,
        "extra_labels": [int(k) for k in contents.extra_labels],
    }
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    named = [(f"m{k}", m) for k, m in enumerate(contents.models)]
    named += [("bg", contents.background), ("fl", contents.filler)]
    named += [(f"s{k}", m) for k, (m, full) in enumerate(zip(contents.stream_models, contents.models))
              if m is not full]
    named += [(f"x{j}", m) for j, m in enumerate(contents.extra_stream_models)]
    for prefix, m in named:
        for key in _KEYS:
            arrays[f"{prefix}_{key}"] = getattr(m, key)
    return write_atomically(path, lambda fh: np.savez_compressed(fh, **arrays), overwrite=overwrite)


def _read_params(data: dict, prefix: str, n_features: int, name: str, n_states: int | None = None) -> HMMParams:
    """One model's arrays from a model file, checked for shape and finite values."""
    m = HMMParams(*(np.asarray(data[f"{prefix}_{key}"], dtype=np.float64) for key in _KEYS))
    s, mix, d = m.means.shape
    if (m.transmat.shape != (s, s) or m.weights.shape != (s, mix) or m.variances.shape != (s, mix, d)
            or d != n_features or (n_states is not None and s != n_states)):
        raise ValueError(f"inconsistent shapes in {name}")
    m.check(name)
    return m


def _read_archive(path) -> tuple[dict, dict]:
    """(header, arrays) of a model file, or a ModelFileError saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{path}: no such file")
    if p.is_dir():
        raise ModelFileError(f"{path}: is a directory, not a model file")
    if not zipfile.is_zipfile(p):
        raise ModelFileError(f"{path}: not an hmmrec model file")
    try:
        with np.load(p, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zip or npy damage of any kind
        raise ModelFileError(f"{path}: not a readable hmmrec model file ({type(exc).__name__})") from None
    try:
        header = json.loads(bytes(data["header"]).decode("utf-8"))
        if header.get("format") != FORMAT_NAME:
            raise ValueError("wrong format name")
    except Exception:
        raise ModelFileError(f"{path}: not an hmmrec model file (no valid header)") from None
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version!r} is newer than this hmmrec "
                             f"understands ({FORMAT_VERSION}); upgrade hmmrec")
    if version < FORMAT_VERSION:
        warnings.warn(f"{path}: model format version {version} is older than {FORMAT_VERSION}", stacklevel=4)
    return header, data


def read_model(path) -> ModelContents:
    """Read a model file written by :func:`write_model`. Never executes code from the file."""
    header, data = _read_archive(path)
    try:
        params = dict(header["params"])
        for key in ("speeds", "warps", "noise_snrs"):
            params[key] = tuple(params.get(key, ()))
        cfg = FeatureConfig.from_dict(header["feature_config"])
        labels = list(header["labels"])
        history = header["training"].get("log_likelihood_history", {})
        has_filler = "fl_transmat" in data
        prefixes = [f"m{k}" for k in range(len(labels))] + ["bg"] + (["fl"] if has_filler else [])
        names = labels + [_BACKGROUND, _FILLER]
        models = []
        for prefix, name in zip(prefixes, names):
            m = _read_params(data, prefix, cfg.n_features, f"model {name}")
            m.log_likelihood_history = history.get(name, [])
            models.append(m)
        filler = models.pop() if has_filler else None
        background = models.pop()
        # labels with several stream models (HMMRecognizer.unknown_models)
        extra = [int(k) for k in header.get("extra_labels", [])]
        if any(not 0 <= k < len(labels) for k in extra):
            raise ValueError("extra_labels out of range")
        # the streaming stage of each word model (the same states, unless the label has
        # several stream models); absent: the final model (or an older file)
        stream = [_read_params(data, f"s{k}", cfg.n_features, f"stream model {labels[k]}",
                               n_states=None if k in extra else full.n_states)
                  if f"s{k}_transmat" in data else full for k, full in enumerate(models)]
        extra_models = [_read_params(data, f"x{j}", cfg.n_features, f"stream model {labels[k]} (further model {j})")
                        for j, k in enumerate(extra)]
        return ModelContents(labels=labels, feature_config=cfg, params=params, models=models, stream_models=stream,
                             extra_labels=extra, extra_stream_models=extra_models, background=background,
                             # files written before the filler model existed: the background doubles as filler
                             filler=background if filler is None else filler,
                             temperature=float(header["temperature"]), training=header["training"])
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: damaged hmmrec model file ({exc})") from None
