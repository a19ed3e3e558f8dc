"""The model-file format: data, never code.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding a JSON
header and the parameters of every model as plain float arrays. It is always read with
``allow_pickle=False``, so loading a file can never run code from it; anything that is
not a valid model is a :class:`~hmmrec.errors.ModelFileError`.

Header: ``format`` (``"hmmrec-model"``), ``version``, ``labels``, ``feature_config``,
``params`` (the estimator's settings), ``temperature``, ``training`` (summary) and
``extra_labels``, ``frame_net`` and ``filterbank_net`` (the frame classifiers' settings, or
null). Arrays,
each as ``<prefix>_transmat``, ``_weights``, ``_means`` and ``_variances``: ``m<k>`` the model of label ``k``, ``bg`` the background model, ``fl``
the filler, ``s<k>`` label ``k``'s stream model where it differs from ``m<k>``, and
``x<j>`` the further stream models of the labels ``extra_labels[j]``; the frame
classifier (:mod:`hmmrec.framenet`), where there is one, as ``net_w<i>`` and ``net_b<i>``
(its layers), ``net_mean``, ``net_scale`` and ``net_log_prior``, and the second one, which
reads a filterbank, alike with ``fnet_`` in place of ``net_``.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelFileError, ParameterError
from .features import OLD_NAMES, FeatureConfig
from .framenet import FrameNet
from .hmm import HMMParams
from .safefile import open_regular, write_atomically

__all__ = ["ModelContents", "write_model", "read_model", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "hmmrec-model"
# 2: further stream models of non-keyword labels (x* arrays, "extra_labels")
# 3: features with a RASTA filter and histogram equalisation (a reader of 2 refuses or misreads them)
# 4: a frame classifier beside the Gaussians (net_* arrays, "frame_net"); a reader of 3 would ignore it
# 5: a second frame classifier, of filterbank frames (fnet_* arrays, "filterbank_net"); a reader of 4 refuses it
FORMAT_VERSION = 5
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
    frame_net: FrameNet | None = None
    filterbank_net: FrameNet | None = None


# (header key, array prefix, what the network reads) of each frame classifier
_NETS = (("frame_net", "net", "cepstra"), ("filterbank_net", "fnet", "filterbank"))


def write_model(path, contents: ModelContents, overwrite: bool = False) -> Path:
    """Write ``contents`` to ``path`` (see :func:`~hmmrec.safefile.write_atomically`); refuses to
    overwrite unless ``overwrite``."""
    header = {
        "format": FORMAT_NAME,
        # (a file without a frame classifier stays readable by readers of format 3)
        "version": 5 if contents.filterbank_net is not None else 4 if contents.frame_net is not None else 3,
        "labels": [str(c) for c in contents.labels],
        "feature_config": {_FILE_NAMES.get(k, k): v for k, v in contents.feature_config.to_dict().items()},
        "params": contents.params,
        "temperature": contents.temperature,
        "training": contents.training,
        "extra_labels": [int(k) for k in contents.extra_labels],
        "frame_net": None,
    }
    nets = [(key, prefix, getattr(contents, key)) for key, prefix, _ in _NETS]
    for key, _, net in nets:
        if net is not None:
            header[key] = {"context": net.context, "layers": len(net.weights), "weight": net.weight,
                           "prior_scale": net.prior_scale}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    named = [(f"m{k}", m) for k, m in enumerate(contents.models)]
    named += [("bg", contents.background), ("fl", contents.filler)]
    named += [(f"s{k}", m) for k, (m, full) in enumerate(zip(contents.stream_models, contents.models))
              if m is not full]
    named += [(f"x{j}", m) for j, m in enumerate(contents.extra_stream_models)]
    for prefix, m in named:
        for key in _KEYS:
            arrays[f"{prefix}_{key}"] = getattr(m, key)
    for _, prefix, net in nets:
        if net is not None:
            # (the layers in single precision, as the network holds them)
            arrays |= {f"{prefix}_w{i}": w for i, w in enumerate(net.weights)}
            arrays |= {f"{prefix}_b{i}": b for i, b in enumerate(net.biases)}
            arrays |= {f"{prefix}_mean": net.mean, f"{prefix}_scale": net.scale, f"{prefix}_log_prior": net.log_prior}
    return write_atomically(path, lambda fh: np.savez_compressed(fh, **arrays), overwrite=overwrite)


# bounds of what a model file may hold: far above any model hmmrec trains, far below
# what could exhaust memory (every array is checked against them before it is read)
MAX_LABELS = 1000
MAX_STATES = 100
MAX_MIX = 512
MAX_NET_LAYERS, MAX_NET_WIDTH = 8, 4096
MAX_HEADER_BYTES = 4 << 20
MAX_TOTAL_BYTES = 512 << 20
_STOCHASTIC_TOLERANCE = 1e-4


def _read_params(data: dict, prefix: str, n_features: int, name: str, n_states: int | None = None) -> HMMParams:
    """One model's arrays from a model file, checked for shape, finite values, positive
    variances, and transition and mixture-weight rows that are probabilities."""
    missing = [f"{prefix}_{key}" for key in _KEYS if f"{prefix}_{key}" not in data]
    if missing:
        raise ValueError(f"{name}: missing {', '.join(missing)}")
    m = HMMParams(*(data[f"{prefix}_{key}"].astype(np.float64) for key in _KEYS))
    if m.means.ndim != 3:
        raise ValueError(f"{name}: means must have 3 dimensions, not {m.means.ndim}")
    s, mix, d = m.means.shape
    if (m.transmat.shape != (s, s) or m.weights.shape != (s, mix) or m.variances.shape != (s, mix, d)
            or d != n_features or (n_states is not None and s != n_states) or s < 1 or mix < 1):
        raise ValueError(f"{name}: inconsistent shapes")
    m.check(name)
    for key in ("transmat", "weights"):
        a = getattr(m, key)
        if np.any(a < 0) or np.any(np.abs(a.sum(axis=1) - 1.0) > _STOCHASTIC_TOLERANCE):
            raise ValueError(f"{name}: every row of {key} must be probabilities summing to 1")
    return m


def _member_limit(name: str, n_features: int) -> int:
    """Largest size in bytes a member may have (its .npy header included)."""
    key = name[:-4].rsplit("_", 1)[-1]
    per = {"transmat": MAX_STATES * MAX_STATES, "weights": MAX_STATES * MAX_MIX,
           "means": MAX_STATES * MAX_MIX * n_features, "variances": MAX_STATES * MAX_MIX * n_features}
    if name.startswith(("net_w", "fnet_w")):  # (a frame classifier: a layer ...)
        return MAX_NET_WIDTH * max(MAX_NET_WIDTH, 64 * n_features) * 8 + 4096
    if name.startswith(("net_", "fnet_")):  # (... or a vector)
        return MAX_NET_WIDTH * 8 + 4096
    return per.get(key, 0) * 8 + 4096


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, kinds: str = "f") -> np.ndarray:
    """One .npy member, refused before any of it is inflated if it is larger than
    ``limit`` bytes or its header does not describe exactly its real, numeric content."""
    if info.file_size > limit:
        raise ValueError(f"member {info.filename} is {info.file_size} bytes, more than a model holds ({limit})")
    with z.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"member {info.filename}: unsupported .npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize > 8:
            raise ValueError(f"member {info.filename}: {dtype} is not an array of real numbers")
        count = int(np.prod(shape, dtype=object))
        if count * dtype.itemsize != info.file_size - fh.tell():
            raise ValueError(f"member {info.filename}: its size does not match its header")
        raw = fh.read(count * dtype.itemsize)
    a = np.frombuffer(raw, dtype=dtype)
    return a.reshape(shape, order="F" if fortran else "C")


def _number(v, kind=(int, float)) -> bool:
    """A JSON number of ``kind`` (not a boolean, which Python counts as an int)."""
    return isinstance(v, kind) and not isinstance(v, bool)


def _check_header(header) -> None:
    """Raise ValueError naming the first field of the header that is not valid."""
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    labels = header.get("labels")
    if (not isinstance(labels, list) or not 2 <= len(labels) <= MAX_LABELS
            or not all(isinstance(x, str) and x and x.isprintable() for x in labels)):
        raise ValueError(f"labels must be a list of 2 to {MAX_LABELS} non-empty printable strings")
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be unique")
    for key in ("feature_config", "params", "training"):
        if not isinstance(header.get(key, {}), dict):
            raise ValueError(f"{key} must be a JSON object")
    for key, high, what in (("speech_s", 3600, "seconds (0 to 3600)"), ("no_speech_share", 1, "shares (0 to 1)")):
        speech = header.get("training", {}).get(key, {})  # (hmmrec.speech)
        if (not isinstance(speech, dict) or not all(
                k in labels and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= high
                for k, v in speech.items())):
            raise ValueError(f"training.{key} must map labels to {what}")
    lead = header.get("training", {}).get("keyword_lead_p50")  # (hmmrec.stream.strictest_score)
    if lead is not None and (not isinstance(lead, (int, float)) or isinstance(lead, bool) or not -1e3 <= lead <= 1e3):
        raise ValueError(f"training.keyword_lead_p50 must be a number from -1000 to 1000, got {lead!r}")
    t = header.get("temperature")
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not 1e-3 <= t <= 1e3:
        raise ValueError(f"temperature must be a number from 0.001 to 1000, got {t!r}")
    extra = header.get("extra_labels", [])
    if (not isinstance(extra, list) or len(extra) > MAX_LABELS * 64
            or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(labels) for k in extra)):
        raise ValueError("extra_labels must be a list of label numbers")
    for key, _, _ in _NETS:
        net = header.get(key)
        if net is not None and (
                not isinstance(net, dict) or not _number(net.get("context"), int) or not _number(net.get("layers"), int)
                or not 0 <= net["context"] <= 30 or not 1 <= net["layers"] <= MAX_NET_LAYERS
                or not _number(net.get("weight")) or not _number(net.get("prior_scale"))):
            raise ValueError(f"{key} must give context (0 to 30), layers (1 to "
                             f"{MAX_NET_LAYERS}), weight and prior_scale")
    if header.get("filterbank_net") is not None and header.get("frame_net") is None:
        raise ValueError("filterbank_net without frame_net")


def _read_archive(path) -> tuple[dict, dict]:
    """(header, arrays) of a model file, or a ModelFileError saying what is wrong.

    Read member by member: the header first, then only the members it calls for, each
    refused before it is inflated if it is larger than such an array can be.
    """
    with open_regular(path, ModelFileError, "a model file") as fh:
        if not zipfile.is_zipfile(fh):
            raise ModelFileError(f"{path}: not an hmmrec model file")
        try:
            z = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ModelFileError(f"{path}: not a readable hmmrec model file ({exc})") from None
        with z:
            return _read_members(path, z)


def _read_members(path, z: zipfile.ZipFile) -> tuple[dict, dict]:
    infos = {i.filename: i for i in z.infolist()}
    try:
        raw = _read_member(z, infos["header.npy"], MAX_HEADER_BYTES, kinds="u")
        header = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ValueError("wrong format name")
    except Exception:
        raise ModelFileError(f"{path}: not an hmmrec model file (no valid header)") from None
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: damaged hmmrec model file (format version {version!r} is not a positive "
                             "whole number)")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version} is newer than this hmmrec "
                             f"understands ({FORMAT_VERSION}); upgrade hmmrec")
    try:
        _check_header(header)
        cfg = header.get("feature_config")
        n_features = FeatureConfig.from_dict(cfg).n_features
        labels, extra = header["labels"], header.get("extra_labels", [])
        prefixes = ([f"m{k}" for k in range(len(labels))] + [f"s{k}" for k in range(len(labels))]
                    + ["bg", "fl"] + [f"x{j}" for j in range(len(extra))])
        allowed = {"header.npy"} | {f"{p}_{key}.npy" for p in prefixes for key in _KEYS}
        for key, prefix, _ in _NETS:
            net = header.get(key)
            if net is not None:
                allowed |= {f"{prefix}_{kind}{i}.npy" for kind in "wb" for i in range(net["layers"])}
                allowed |= {f"{prefix}_mean.npy", f"{prefix}_scale.npy", f"{prefix}_log_prior.npy"}
        unknown = sorted(set(infos) - allowed)
        if unknown:
            raise ValueError(f"unknown member {unknown[0]!r}")
        total = sum(i.file_size for i in infos.values())
        if total > MAX_TOTAL_BYTES:
            raise ValueError(f"{total} bytes of arrays, more than a model file may hold ({MAX_TOTAL_BYTES})")
        data = {name[:-4]: _read_member(z, info, _member_limit(name, n_features))
                for name, info in infos.items() if name != "header.npy"}
    except (ValueError, ParameterError, zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path}: damaged hmmrec model file ({exc})") from None
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
                             temperature=float(header["temperature"]), training=header["training"],
                             frame_net=_read_net(header.get("frame_net"), data, "net", "cepstra"),
                             filterbank_net=_read_net(header.get("filterbank_net"), data, "fnet", "filterbank"))
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: damaged hmmrec model file ({exc})") from None


def _read_net(settings: dict | None, data: dict, prefix: str, view: str) -> FrameNet | None:
    """A frame classifier of a model file (arrays ``<prefix>_*``), checked (None if it has none)."""
    if settings is None:
        return None
    n = settings["layers"]
    names = ([f"{prefix}_w{i}" for i in range(n)] + [f"{prefix}_b{i}" for i in range(n)]
             + [f"{prefix}_mean", f"{prefix}_scale", f"{prefix}_log_prior"])
    missing = [k for k in names if k not in data]
    if missing:
        raise ValueError(f"frame network: missing {', '.join(missing)}")
    arrays = {k: data[k].astype(np.float64) for k in names}
    if not all(np.all(np.isfinite(a)) for a in arrays.values()) or np.any(arrays[f"{prefix}_scale"] <= 0):
        raise ValueError("frame network: values that are not finite, or scales that are not positive")
    if any(arrays[f"{prefix}_w{i}"].ndim != 2 for i in range(n)) or any(arrays[k].ndim != 1 for k in names[n:]):
        raise ValueError("frame network: layers must be matrices and the rest vectors")
    return FrameNet(context=settings["context"], mean=arrays[f"{prefix}_mean"], scale=arrays[f"{prefix}_scale"],
                    weights=[arrays[f"{prefix}_w{i}"] for i in range(n)],
                    biases=[arrays[f"{prefix}_b{i}"] for i in range(n)], log_prior=arrays[f"{prefix}_log_prior"],
                    weight=float(settings["weight"]), prior_scale=float(settings["prior_scale"]), view=view)
