"""The public objects the redesign introduced: Recognition, TrainingProgress, StreamModels, push_clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hmmrec import HMMRecognizer, Recognition, StreamRecognizer, TrainingProgress, audio

from helpers import SOUNDS, sound_files

SMALL = dict(n_mix=1, n_iter=2, speeds=(), warps=(), noise_snrs=(), n_jobs=1)


def _files(split, label, n):
    return [str(p) for p in sound_files(split, label, n)]


def test_recognize_agrees_with_predict_proba_and_loglik(fruit_model):
    files = _files("test", "kiwi", 2) + _files("test", "orange", 1)
    proba, ll = fruit_model.predict_proba(files), fruit_model.loglik(files)
    for f, p, l in zip(files, proba, ll):
        r = fruit_model.recognize(f)
        assert isinstance(r, Recognition)
        np.testing.assert_array_equal(r.proba, p)
        np.testing.assert_array_equal(r.loglik, l)
        assert r.label == fruit_model.predict([f])[0] and r.confidence == pytest.approx(p.max())
        ranked = r.ranked()
        assert [lab for lab, _, _ in ranked][0] == r.label
        # best first; labels the speech in the file rules out (here _silence_) come last
        assert r.ruled_out == {list(fruit_model.classes_).index("_silence_")}
        kept = [x for i, x in enumerate(l) if i not in r.ruled_out]
        assert [x for _, x, _ in ranked] == sorted(kept, reverse=True) + [l[i] for i in r.ruled_out]
        assert r.n_frames == len(fruit_model.features([f])[0])
    y, _ = audio.load(files[0], fruit_model.feature_config_.sr)
    np.testing.assert_array_equal(fruit_model.recognize(y).proba, proba[0])  # a signal as well as a path


def test_training_reports_progress_events_in_order(capsys):
    X = _files("train", "kiwi", 3) + _files("train", "lime", 3) + _files("train", "_silence_", 2)
    y = ["kiwi"] * 3 + ["lime"] * 3 + ["_silence_"] * 2
    events = []
    rec = HMMRecognizer(**SMALL, mmi_iter=2, filterbank_net=True).fit(X, y, progress=events.append)
    assert all(isinstance(e, TrainingProgress) for e in events)
    stages = [e.stage for e in events]
    # each input read, the features' summary, the start of the models' stage, 3 word models +
    # background + filler, the start of discriminative training and its 2 iterations, the
    # frame classifiers' start and their 10 epochs each (cepstra, then filterbank), done
    assert stages == ["files"] * 8 + ["features"] + ["model"] * 6 + ["discriminative"] * 3 + ["network"] * 21 + ["done"]
    files = [e for e in events if e.stage == "files"]
    assert [(e.done, e.total, e.item) for e in files] == [(i + 1, 8, x) for i, x in enumerate(X)]
    models = [e for e in events if e.stage == "model"]
    assert [(e.done, e.total) for e in models] == [(i, 5) for i in range(0, 6)]
    assert models[1].item == "_silence_" and models[1].message.startswith("[1/5] _silence_:")
    assert [(e.done, e.total) for e in events if e.stage == "discriminative"] == [(0, 2), (1, 2), (2, 2)]
    network = [e for e in events if e.stage == "network"]
    assert [e.done for e in network] == list(range(21)) and "frames of" in network[0].message
    assert all(e.total == 20 for e in network) and "(filterbank)" in network[-1].message
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert events[8].message.startswith("features: 8 files, 3 labels")
    assert capsys.readouterr().err == ""  # a callback given: nothing printed
    # verbose=1 without a callback prints the milestones (not each input read, nor a stage's
    # start), one line each
    HMMRecognizer(**SMALL, mmi_iter=2, filterbank_net=True, verbose=1).fit(X, y)
    lines = capsys.readouterr().err.splitlines()
    milestones = [e for e in events if e.is_milestone]
    assert [e.stage for e in milestones] == ["features"] + ["model"] * 5 + ["discriminative"] * 2 + ["network"] * 21 + ["done"]
    assert len(lines) == len(milestones) and lines[1].startswith("[1/5] _silence_:")
    assert [ln.split(",")[0] for ln in lines[1:6]] == [e.message.split(",")[0] for e in models[1:]]
    assert rec.training_summary_["mmi_iter"] == 2


def test_stream_models_is_what_the_stream_scores(fruit_model):
    models = fruit_model.stream_models()
    assert list(models.labels) == list(fruit_model.classes_)
    assert list(models.keyword) == [c != "_silence_" for c in fruit_model.classes_]
    assert len(models.wrapped) == len(models.labels) and models.feature_config == fruit_model.feature_config_
    p95 = max(v["p95"] for k, v in fruit_model.training_summary_["duration_s"].items() if k != "_silence_")
    assert models.window_s == pytest.approx(min(max(p95 + 0.1, 0.5), 2.0))
    assert StreamRecognizer(fruit_model).window_s == pytest.approx(round(models.window_s / 0.01) * 0.01)
    # each label scores as its best model; without further models the scores pass through
    rows = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(models.label_scores(rows), rows)
    # the word check is the file models' posterior of the segment
    x = fruit_model.features(_files("test", "kiwi", 1))[0]
    np.testing.assert_array_equal(models.word_posterior(x), fruit_model.recognize_features(x).proba)


def test_push_clip_equals_push_and_flush(fruit_model):
    wav = SOUNDS / "streams" / "stream1.wav"
    y, _ = audio.load(wav, fruit_model.feature_config_.sr)
    stream = StreamRecognizer(fruit_model)
    events = [e for i in range(0, len(y), 1234) for e in stream.push(y[i:i + 1234])] + stream.flush()
    assert events, "the fruit stream has keywords"
    def decided(evs):  # the decisions; `time` is when a chunk ended, so it depends on the chunks
        return [(e.label, e.start, e.end, e.score) for e in evs]

    for size in (None, 1234, 8000):
        clip = StreamRecognizer(fruit_model).push_clip(y, chunk_size=size)
        assert decided(clip) == decided(events)
        step = size or 1600
        assert all(0 <= c.time - e.end <= 1.0 + step / 16000 for c, e in zip(clip, events))
    assert StreamRecognizer(fruit_model).push_clip(y, chunk_size=1234) == events


def test_model_files_keep_the_format_3_names_of_feature_settings(fruit_model, tmp_path):
    path = fruit_model.save(tmp_path / "m.model")
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(bytes(npz["header"]).decode())
    assert header["version"] == 5  # (5: it holds two frame classifiers)
    assert header["feature_config"]["cmvn"] == fruit_model.feature_config_.normalization
    assert "normalization" not in header["feature_config"]
    assert HMMRecognizer.load(path).feature_config_ == fruit_model.feature_config_
    # a model without a frame classifier is a format-3 file, as readers of format 3 expect
    plain = HMMRecognizer(n_mix=1, n_iter=2, warps=(), noise_snrs=(), n_jobs=1, net_weight=0).fit(
        *[list(v) for v in zip(*[(str(f), lab) for lab in ("kiwi", "lime") for f in _files("train", lab, 2)])])
    with np.load(plain.save(tmp_path / "p.model"), allow_pickle=False) as npz:
        assert json.loads(bytes(npz["header"]).decode())["version"] == 3
