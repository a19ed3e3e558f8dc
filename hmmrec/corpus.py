"""Labelled utterances: from a folder-per-label tree or a CSV manifest, and their splits.

A *folder-per-label tree* is a folder whose subfolders are labels, each holding audio
files (WAV, FLAC, OGG, MP3: see :data:`hmmrec.audio.SUFFIXES`). A *manifest* is a CSV with a header and columns ``path,label`` and optionally
``speaker``; relative paths are relative to the CSV's folder.

Labels that begin with ``_`` (``_silence_``, ``_unknown_``, ...) are non-keyword
classes: trained and evaluated like the others, never emitted as keyword events.

Speakers of a folder tree are read from file names, in this order:
``<speaker>_nohash_<n>.wav`` (Speech Commands), ``<label>_<speaker>_<take>.wav``
(``sounds/``), ``<anything>_<speaker>_<take>.wav`` (FSDD ``7_jackson_32.wav``). A name
that fits none has no speaker. Takes are the trailing number of the name.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import SUFFIXES
from .errors import DataError, ParameterError
from .safefile import open_regular

__all__ = ["Utterance", "Corpus", "load_corpus", "audio_files", "speaker_of", "split_by_speaker", "split_by_take",
           "kfold", "leave_one_speaker_out"]

_NOHASH = re.compile(r"^(?:.*_)?([0-9a-f]{8})_nohash_(\d+)$")
_TRIPLE = re.compile(r"^(.+?)_(.+)_(\d+)$")
_TAKE = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class Utterance:
    """One labelled recording."""

    path: str
    label: str
    speaker: str | None = None
    take: int | None = None


def _speaker_and_take(stem: str, label: str) -> tuple[str | None, int | None]:
    m = _NOHASH.match(stem)
    if m:
        return m.group(1), int(m.group(2))
    m = _TRIPLE.match(stem)
    if m:
        first, middle, take = m.groups()
        if stem.startswith(label + "_"):
            middle = stem[len(label) + 1 : stem.rfind("_")]
        return middle or None, int(take)
    m = _TAKE.search(stem)
    return None, (int(m.group(1)) if m else None)


def speaker_of(x, label: str) -> str | None:
    """The speaker a training input's file name gives (the conventions above), None for a
    signal or a name that gives none."""
    if not isinstance(x, (str, Path)):
        return None
    return _speaker_and_take(Path(x).stem, str(label))[0]


class Corpus(list):
    """A list of :class:`Utterance` with a few helpers."""

    @property
    def labels(self) -> list[str]:
        """Sorted distinct labels."""
        return sorted({u.label for u in self})

    @property
    def speakers(self) -> list[str]:
        """Sorted distinct known speakers."""
        return sorted({u.speaker for u in self if u.speaker})

    @property
    def paths(self) -> list[str]:
        return [u.path for u in self]

    @property
    def y(self) -> list[str]:
        return [u.label for u in self]

    def subset(self, idx) -> "Corpus":
        return Corpus(self[i] for i in idx)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for u in self:
            out[u.label] = out.get(u.label, 0) + 1
        return dict(sorted(out.items()))


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot read the folder ({exc.strerror or exc})") from None


def audio_files(folder) -> list[Path]:
    """The audio files directly in ``folder`` (by suffix, see :data:`hmmrec.audio.SUFFIXES`), sorted."""
    folder = Path(folder)
    return [p for p in _listing(folder) if p.is_file() and p.suffix.lower() in SUFFIXES]


def _check_label(label: str, where) -> str:
    """A label as given, or a DataError if it is empty or holds control characters."""
    if not label or not label.isprintable():
        raise DataError(f"{where}: label {label!r} is empty or holds control characters")
    return label


def _load_tree(root: Path) -> Corpus:
    subdirs = [p for p in _listing(root) if p.is_dir() and not p.name.startswith(".")]
    corpus = Corpus()
    empty = []
    for d in subdirs:
        _check_label(d.name, d)
        files = audio_files(d)
        if not files:
            empty.append(d)
            continue
        for f in files:
            spk, take = _speaker_and_take(f.stem, d.name)
            corpus.append(Utterance(str(f), d.name, spk, take))
    if empty:
        nested = [d for d in empty if any(p.is_dir() for p in _listing(d))]
        if nested:
            raise DataError(f"{root}: {nested[0].name}/ holds folders, not WAV files; "
                            f"pass a folder whose subfolders are labels (e.g. {nested[0]})")
        raise DataError(f"{root}: label folder {empty[0].name}/ has no WAV files")
    if not corpus:
        raise DataError(f"{root}: no label subfolders with audio files (expected {root}/<label>/*.wav, .flac, ...); "
                        "for labels in file names, build a manifest with 'hmmrec manifest' (see its --help)")
    return corpus


def _load_manifest(path: Path) -> Corpus:
    try:
        with io.TextIOWrapper(open_regular(path, DataError, "a manifest"), newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            missing = {"path", "label"} - set(cols)
            if missing:
                raise DataError(f"{path}: manifest needs columns path,label (missing {', '.join(sorted(missing))})")
            corpus = Corpus()
            seen: dict[str, tuple[int, str]] = {}  # file -> (line, label) where it was first listed
            for line, row in enumerate(reader, start=2):
                if not row.get("path") or not row.get("label"):
                    raise DataError(f"{path}:{line}: empty path or label")
                label = _check_label(row["label"].strip(), f"{path}:{line}")
                p = Path(row["path"])
                if not p.is_absolute():
                    p = path.parent / p
                key = os.path.normpath(p)
                if key in seen:
                    first, other = seen[key]
                    again = "listed again" if other == label else f"listed under {other!r} too"
                    raise DataError(f"{path}:{line}: {row['path']} {again} (line {first}); each file once, "
                                    "under one label")
                seen[key] = (line, label)
                spk = (row.get("speaker") or "").strip() or None
                _, take = _speaker_and_take(p.stem, label)
                corpus.append(Utterance(str(p), label, spk, take))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 CSV manifest") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if not corpus:
        raise DataError(f"{path}: manifest lists no files")
    return corpus


def load_corpus(path) -> Corpus:
    """Read a folder-per-label tree or a CSV manifest.

    Raises
    ------
    DataError
        If the path is missing or holds no usable labelled audio.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder")
    corpus = _load_tree(p) if p.is_dir() else _load_manifest(p)
    return corpus


def _check_split_args(test_size: float):
    if not 0 < test_size < 1:
        raise ParameterError(f"test_size must be between 0 and 1, got {test_size}")


def split_by_speaker(corpus: Corpus, test_size: float = 0.25, seed: int = 0) -> tuple[Corpus, Corpus]:
    """Speaker-disjoint train/test split (no speaker in both)."""
    _check_split_args(test_size)
    speakers = corpus.speakers
    if len(speakers) < 2 or any(u.speaker is None for u in corpus):
        raise DataError("a speaker split needs a known speaker for every file and at least two speakers")
    rng = np.random.default_rng(seed)
    order = rng.permutation(speakers)
    n_test = max(1, int(round(len(speakers) * test_size)))
    test_spk = set(order[:n_test])
    train = Corpus(u for u in corpus if u.speaker not in test_spk)
    test = Corpus(u for u in corpus if u.speaker in test_spk)
    return train, test


def split_by_take(corpus: Corpus, test_takes: int = 5) -> tuple[Corpus, Corpus]:
    """Takes ``0 .. test_takes-1`` are the test set (FSDD's official split)."""
    if any(u.take is None for u in corpus):
        raise DataError("a take split needs a trailing take number in every file name")
    return (Corpus(u for u in corpus if u.take >= test_takes), Corpus(u for u in corpus if u.take < test_takes))


def kfold(corpus: Corpus, k: int = 5, seed: int = 0):
    """Stratified k-fold: yields (train, test) corpora."""
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise ParameterError(f"k must be >= 2, got {k}")
    y = corpus.y
    smallest = min(corpus.counts().values())
    if smallest < k:
        raise DataError(f"k={k} folds need at least {k} files per label; the smallest label has {smallest}")
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for tr, te in skf.split(np.zeros(len(y)), y):
        yield corpus.subset(tr), corpus.subset(te)


def leave_one_speaker_out(corpus: Corpus):
    """Yields (speaker, train, test) for every speaker."""
    if any(u.speaker is None for u in corpus):
        raise DataError("leave-one-speaker-out needs a known speaker for every file")
    for spk in corpus.speakers:
        yield spk, Corpus(u for u in corpus if u.speaker != spk), Corpus(u for u in corpus if u.speaker == spk)
