"""Fixtures only: a store folder of its own for every test (the dashboard's), the small trained
fruit model shared by the whole session, and its model file.

Plain helpers and constants (paths, the small training and test sets, ``shared_dataset``)
live in ``helpers.py``.
"""

from __future__ import annotations

import pytest

from helpers import small_train_set


@pytest.fixture(autouse=True)
def dashboard_store(tmp_path_factory, monkeypatch):
    """The dashboard's store folder (trained, uploaded models and takes) in a temporary
    folder of each test, never the user's ~/.local/share/hmmrec/dashboard."""
    store = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("HMMREC_DASHBOARD_STORE", str(store))
    return store


@pytest.fixture(scope="session")
def fruit_model():
    """An HMMRecognizer trained on a small subset of sounds/train (4 labels x 6 files).

    The one model for every test that needs just "a trained model"; a test trains its own only
    when training is what it tests or its assertions depend on that model (each says why).

    With the default vocal-tract-warped copies (no noisy ones, 2 Gaussians: fast): six
    examples a word are too few without them, and histogram-equalised features then
    take 5 of the 32 test words for ``_silence_`` (2 with mean and variance
    normalisation); with them, none either way.
    """
    from hmmrec import HMMRecognizer

    X, y = small_train_set()
    return HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), filterbank_net=True, n_jobs=1).fit(X, y)


@pytest.fixture(scope="session")
def fruit_model_path(fruit_model, tmp_path_factory):
    """The session fruit model saved as a model file."""
    path = tmp_path_factory.mktemp("models") / "fruit.model"
    fruit_model.save(path)
    return path
