"""End to end on real speech: the Free Spoken Digit Dataset from ../shared/datasets (FSDD official-style split)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hmmrec import HMMRecognizer
from hmmrec.corpus import load_corpus

from helpers import shared_dataset

pytestmark = pytest.mark.shared

_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory):
    """(train, test) corpora: takes 5-14 of every speaker for training, takes 0-1 for testing."""
    recordings = shared_dataset("fsdd/recordings")
    rows = ["path,label,speaker"]
    for f in sorted(recordings.glob("*.wav")):
        m = _NAME.match(f.stem)
        if m:
            rows.append(f"{f},{m.group(1)},{m.group(2)}")
    manifest = tmp_path_factory.mktemp("fsdd") / "fsdd.csv"
    manifest.write_text("\n".join(rows) + "\n")
    corpus = load_corpus(manifest)
    train = corpus.subset([i for i, u in enumerate(corpus) if 5 <= u.take <= 14])
    test = corpus.subset([i for i, u in enumerate(corpus) if u.take <= 1])
    return train, test


def test_shared_dataset_helper_skips_or_fails(monkeypatch):
    monkeypatch.delenv("HMMREC_REQUIRE_SHARED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="HMMREC_REQUIRE_SHARED=1"):
        shared_dataset("no/such/dataset")
    monkeypatch.setenv("HMMREC_REQUIRE_SHARED", "1")
    with pytest.raises(pytest.fail.Exception, match="no/such/dataset"):
        shared_dataset("no/such/dataset")


def test_fsdd_corpus_layout(fsdd):
    train, test = fsdd
    assert train.labels == test.labels == [str(d) for d in range(10)]
    assert len(train.speakers) >= 4 and train.speakers == test.speakers
    assert set(train.counts().values()) == {10 * len(train.speakers)}
    assert set(test.counts().values()) == {2 * len(test.speakers)}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fsdd_digits_accuracy(fsdd):
    # trains its own: the accuracy asserted is that of a digit model trained on FSDD
    train, test = fsdd
    rec = HMMRecognizer(n_mix=2, speeds=(), warps=(), noise_snrs=(), n_jobs=1).fit(train.paths, train.y)
    assert rec.feature_config_.sr == 8000  # FSDD is recorded at 8 kHz
    pred = rec.predict(test.paths)
    acc = float(np.mean(pred == np.array(test.y)))
    assert acc >= 0.85, f"FSDD accuracy {acc:.3f} on {len(test)} files (takes 0-1)"
