"""Shared fixtures: paths to the shipped corpus, a small trained fruit model, shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
SOUNDS = REPO / "sounds"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

FRUIT_LABELS = ["apple", "banana", "kiwi", "lime", "orange", "peach", "pineapple", "_silence_"]
# the subset the session model is trained on (small, so that it trains in a few seconds)
SMALL_LABELS = ["kiwi", "orange", "pineapple", "_silence_"]
SMALL_FILES_PER_LABEL = 6


def shared_dataset(relpath: str) -> Path:
    """Path of ``../shared/datasets/<relpath>``; skip (or fail with HMMREC_REQUIRE_SHARED=1) if absent."""
    p = SHARED_DATASETS / relpath
    if p.exists():
        return p
    msg = f"../shared/datasets/{relpath} not present (fresh clone); set HMMREC_REQUIRE_SHARED=1 to require it"
    if os.environ.get("HMMREC_REQUIRE_SHARED") == "1":
        pytest.fail(f"../shared/datasets/{relpath} not present but HMMREC_REQUIRE_SHARED=1")
    pytest.skip(msg)


def sound_files(split: str, label: str, n: int | None = None) -> list[Path]:
    """Sorted WAV files of ``sounds/<split>/<label>``, the first ``n`` of them."""
    files = sorted((SOUNDS / split / label).glob("*.wav"))
    assert files, f"no files in {SOUNDS / split / label}"
    return files if n is None else files[:n]


def small_train_set() -> tuple[list[str], list[str]]:
    X, y = [], []
    for label in SMALL_LABELS:
        for f in sound_files("train", label, SMALL_FILES_PER_LABEL):
            X.append(str(f))
            y.append(label)
    return X, y


def small_test_set() -> tuple[list[str], list[str]]:
    X, y = [], []
    for label in SMALL_LABELS:
        for f in sound_files("test", label):
            X.append(str(f))
            y.append(label)
    return X, y


@pytest.fixture(scope="session")
def fruit_model():
    """An HMMRecognizer trained on a small subset of sounds/train (4 labels x 6 files).

    With the default vocal-tract-warped copies (no noisy ones, 2 Gaussians: fast): six
    examples a word are too few without them, and histogram-equalised features then
    take 5 of the 32 test words for ``_silence_`` (2 with mean and variance
    normalisation); with them, none either way.
    """
    from hmmrec import HMMRecognizer

    X, y = small_train_set()
    return HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), n_jobs=1).fit(X, y)


@pytest.fixture(scope="session")
def fruit_model_path(fruit_model, tmp_path_factory):
    """The session fruit model saved as a model file."""
    path = tmp_path_factory.mktemp("models") / "fruit.model"
    fruit_model.save(path)
    return path
