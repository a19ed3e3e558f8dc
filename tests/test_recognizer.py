"""hmmrec.recognizer: scikit-learn contract, accuracy on sounds/, decoding, safe model files."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.base import clone

from hmmrec import HMMRecognizer, audio
from hmmrec.errors import HmmrecError, ModelFileError, NotFittedError, ParameterError
from hmmrec.features import FeatureConfig
from hmmrec.modelfile import FORMAT_VERSION

from helpers import SMALL_LABELS, header_of, model_arrays, npz_bytes, small_test_set, sound_files, with_header


@pytest.fixture(scope="module")
def test_set():
    return small_test_set()


@pytest.fixture(scope="module")
def test_loglik(fruit_model, test_set):
    return fruit_model.loglik(test_set[0])


# -- scikit-learn contract ---------------------------------------------------------------------
def test_init_stores_params_and_clone_works():
    rec = HMMRecognizer(n_states=5, n_mix=3, speeds=(0.9,), n_jobs=1)
    params = rec.get_params()
    assert params["n_states"] == 5 and params["n_mix"] == 3 and params["speeds"] == (0.9,)
    assert set(params) == {"n_states", "n_mix", "skip", "n_iter", "var_floor", "speeds", "warps", "noise_snrs",
                           "mmi_iter", "net_weight", "filterbank_net", "unknown_bias", "unknown_models", "stream_n_mix",
                           "feature_config", "n_jobs", "verbose"}
    twin = clone(rec)
    assert twin is not rec and twin.get_params() == params
    rec.set_params(n_mix=1)
    assert rec.n_mix == 1 and twin.n_mix == 3


def test_init_does_not_validate():
    rec = HMMRecognizer(n_mix=0, n_states="lots")  # invalid, but only fit() may complain
    with pytest.raises(ParameterError, match="n_states"):
        rec.fit(["a.wav", "b.wav"], ["x", "y"])


def test_clone_of_fitted_model_is_unfitted(fruit_model):
    twin = clone(fruit_model)
    assert twin.get_params() == fruit_model.get_params()
    assert not hasattr(twin, "models_")
    with pytest.raises(NotFittedError):
        twin.predict([sound_files("test", "apple", 1)[0]])


def test_unfitted_use_raises_not_fitted(tmp_path):
    rec = HMMRecognizer()
    f = str(sound_files("test", "apple", 1)[0])
    for call in (lambda: rec.predict([f]), lambda: rec.predict_proba([f]), lambda: rec.loglik([f]),
                 lambda: rec.decode(f), lambda: rec.save(tmp_path / "m.model"), lambda: rec.bank):
        with pytest.raises(NotFittedError):
            call()
    assert not (tmp_path / "m.model").exists()


@pytest.mark.parametrize("kwargs", [{"n_mix": 0}, {"n_mix": 1.5}, {"n_states": 0}, {"var_floor": 0.0},
                                    {"var_floor": 1.0}, {"speeds": (3.0,)}, {"warps": (1.5,)},
                                    {"warps": (0.5,)}, {"noise_snrs": (99.0,)}, {"mmi_iter": -1},
                                    {"mmi_iter": 0.5}, {"unknown_models": 0}, {"unknown_models": 2.5},
                                    {"net_weight": -0.1}, {"net_weight": 1.5}, {"net_weight": True},
                                    {"unknown_bias": 1.5}, {"unknown_bias": True}, {"unknown_bias": "0.1"}])
def test_fit_validates_params(kwargs):
    X = [str(sound_files("train", lab, 1)[0]) for lab in ("apple", "kiwi")]
    with pytest.raises(ParameterError, match=next(iter(kwargs))):  # the message names the parameter
        HMMRecognizer(**kwargs).fit(X, ["apple", "kiwi"])


def test_fit_validates_inputs():
    X = [str(sound_files("train", "apple", 1)[0])]
    with pytest.raises(ParameterError):
        HMMRecognizer().fit(X, ["apple", "kiwi"])
    with pytest.raises(ParameterError):
        HMMRecognizer().fit([], [])


# -- fitted model ------------------------------------------------------------------------------------
def test_fitted_attributes(fruit_model):
    assert list(fruit_model.classes_) == sorted(SMALL_LABELS)
    assert len(fruit_model.models_) == len(SMALL_LABELS)
    assert fruit_model.n_examples_ == {lab: 6 for lab in SMALL_LABELS}
    assert fruit_model.feature_config_ == FeatureConfig(sr=16000, n_fft=512)
    assert 0 < fruit_model.temperature_ <= 1.0
    assert list(fruit_model.keyword_mask_) == [lab != "_silence_" for lab in fruit_model.classes_]
    for m in fruit_model.models_:
        assert m.n_mix == 2 and 3 <= m.n_states <= 16 and m.n_features == 39
    summary = fruit_model.training_summary_
    assert summary["n_files"] == 24 and summary["speeds"] == []


def test_accuracy_on_held_out_sounds(fruit_model, test_set):
    X, y = test_set
    pred = fruit_model.predict(X)
    assert pred.shape == (len(X),)
    acc = float(np.mean(pred == np.array(y)))
    assert acc >= 0.9, f"accuracy {acc:.3f} on {len(X)} held-out files"
    assert fruit_model.score(X, y) == pytest.approx(acc)


def test_loglik_shape_and_predict_is_argmax(fruit_model, test_set, test_loglik):
    X, _ = test_set
    assert test_loglik.shape == (len(X), len(SMALL_LABELS))
    assert np.all(np.isfinite(test_loglik.max(axis=1)))
    np.testing.assert_array_equal(fruit_model.predict(X), fruit_model.classes_[test_loglik.argmax(1)])


def test_predict_proba_rows_sum_to_one_and_argmax_is_predict(fruit_model, test_set):
    X, y = test_set
    proba = fruit_model.predict_proba(X)
    assert proba.shape == (len(X), len(SMALL_LABELS))
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(fruit_model.classes_[proba.argmax(1)], fruit_model.predict(X))
    # confident on the files it gets right
    right = fruit_model.predict(X) == np.array(y)
    assert np.median(proba.max(1)[right]) > 0.5


def test_signals_and_paths_give_the_same_scores(fruit_model):
    f = sound_files("test", "kiwi", 1)[0]
    y, _ = audio.load(f, 16000)
    np.testing.assert_array_equal(fruit_model.loglik([y]), fruit_model.loglik([str(f)]))
    np.testing.assert_array_equal(fruit_model.loglik([Path(f)]), fruit_model.loglik([str(f)]))


def test_file_at_other_rate_is_resampled(fruit_model, tmp_path):
    f = sound_files("test", "pineapple", 1)[0]
    y, _ = audio.load(f, 16000)
    f44 = audio.write_wav(tmp_path / "pineapple44.wav", audio.resample(y, 16000, 44100), 44100)
    assert fruit_model.predict([str(f44)])[0] == fruit_model.predict([str(f)])[0]


def test_too_short_input_is_a_clear_error(fruit_model):
    with pytest.raises(ParameterError, match="too short"):
        fruit_model.predict([np.zeros(300, np.float32)])
    # in training too, naming the example
    X = [str(sound_files("train", lab, 1)[0]) for lab in ("apple", "kiwi")] + [np.zeros(300, np.float32)]
    with pytest.raises(ParameterError, match="example 2: too short"):
        HMMRecognizer(n_jobs=1).fit(X, ["apple", "kiwi", "kiwi"])


def test_nan_signal_is_rejected(fruit_model):
    from hmmrec.errors import AudioError

    y = np.zeros(8000, np.float32)
    y[100] = np.nan
    with pytest.raises(AudioError):
        fruit_model.predict([y])


def _check_word_path(path, n_states, n_frames):
    """-1 (background) before and after, the word's states 0..n-1 in order in between."""
    assert path.shape == (n_frames,)
    inside = np.flatnonzero(path >= 0)
    assert len(inside) >= 1
    assert np.all(path[inside[0]:inside[-1] + 1] >= 0), "the word is one contiguous stretch"
    word = path[inside[0]:inside[-1] + 1]
    assert word[0] == 0 and word[-1] == n_states - 1
    steps = np.diff(word)
    assert np.all(steps >= 0) and np.all(steps <= 2)
    return inside[0], inside[-1] + 1


def test_decode_gives_monotone_path_per_frame(fruit_model):
    for label in ("orange", "_silence_"):
        f = sound_files("test", label, 1)[0]
        n_frames = len(fruit_model.features([str(f)])[0])
        best, path = fruit_model.decode(str(f))
        assert best == fruit_model.predict([str(f)])[0]
        k = list(fruit_model.classes_).index(best)
        _check_word_path(path, fruit_model.models_[k].n_states, n_frames)
        # forced under another label's model
        other = "kiwi" if best != "kiwi" else "pineapple"
        lab, path2 = fruit_model.decode(str(f), label=other)
        k2 = list(fruit_model.classes_).index(other)
        assert lab == other
        _check_word_path(path2, fruit_model.models_[k2].n_states, n_frames)


def test_decode_leaves_added_silence_to_the_background(fruit_model):
    """Half a second more of the recording's background before the word: its states start after it."""
    from hmmrec import audio

    f = sound_files("test", "orange", 1)[0]
    sr = fruit_model.feature_config_.sr
    y, _ = audio.load(f, sr)
    level = np.sqrt(np.mean(y[: sr // 50] ** 2))  # the first 20 ms are background
    quiet = np.random.default_rng(0).normal(0, level, sr // 2).astype(np.float32)
    lab, path = fruit_model.decode(np.concatenate([quiet, y]))
    assert lab == "orange"
    first, _ = _check_word_path(path, fruit_model.models_[list(fruit_model.classes_).index("orange")].n_states,
                                len(path))
    assert first * fruit_model.feature_config_.hop_s >= 0.45


def test_decode_unknown_label(fruit_model):
    with pytest.raises(ParameterError, match="banana"):
        fruit_model.decode(str(sound_files("test", "kiwi", 1)[0]), label="banana")


def test_fit_on_signals_with_given_feature_config():
    # trains its own: tests fitting on signals with a given feature_config
    cfg = FeatureConfig(sr=16000, order=1)
    X, y = [], []
    for label in ("apple", "_silence_"):
        for f in sound_files("train", label, 3):
            X.append(audio.load(f, 16000)[0])
            y.append(label)
    rec = HMMRecognizer(n_states=4, n_mix=1, speeds=(), warps=(), noise_snrs=(), feature_config=cfg, n_jobs=1).fit(X, y)
    assert rec.feature_config_ is cfg and rec.models_[0].n_features == 26
    assert [m.n_states for m in rec.models_] == [4, 4]
    test = [str(sound_files("test", lab, 1)[0]) for lab in ("apple", "_silence_")]
    assert list(rec.predict(test)) == ["apple", "_silence_"]


# -- bank scores are exact (numerical range) -----------------------------------------------------
def _ref_forward_last(log_b: np.ndarray, transmat: np.ndarray, start=None, final=None) -> float:
    """Plain log-domain forward; default: start in state 0, end in the last state."""
    n = log_b.shape[1]
    start = np.eye(n)[0] if start is None else np.asarray(start, float)
    final = np.eye(n, dtype=bool)[n - 1] if final is None else np.asarray(final, bool)
    with np.errstate(divide="ignore"):
        la = np.log(transmat)
        alpha = np.log(start) + log_b[0]
    for t in range(1, len(log_b)):
        alpha = logsumexp(alpha[:, None] + la, axis=0) + log_b[t]
    return float(logsumexp(alpha[final]))


def test_bank_scores_equal_reference_forward_on_real_files(fruit_model, test_set):
    """Regression: a linear-domain forward gave -inf for wrong labels of _silence__en-029_m1_1.wav."""
    # every _silence_ file (the -inf cases were there) and the first file of each word
    files = [f for f, lab in zip(*test_set) if lab == "_silence_"]
    files += [f for lab in SMALL_LABELS if lab != "_silence_" for f in [test_set[0][test_set[1].index(lab)]]]
    bad = []
    for f in files:
        feats = fruit_model.features([f])[0]
        scores = fruit_model.bank.score(feats)
        log_b = fruit_model.bank.state_loglik(feats)
        # each label's model as the bank scores it (words between fillers, _silence_ or filler)
        for k, (m, start, final) in enumerate(fruit_model.scoring_models()):
            ref = _ref_forward_last(log_b[:, k, :m.n_states], m.transmat, start, final)
            if not np.isclose(scores[k], ref, rtol=1e-9, atol=1e-6):
                bad.append((Path(f).name, fruit_model.classes_[k], scores[k], ref))
    assert not bad, bad


# -- save / load -----------------------------------------------------------------------------------------
def test_save_load_round_trip(fruit_model, fruit_model_path, test_set, test_loglik):
    rec = HMMRecognizer.load(fruit_model_path)
    np.testing.assert_array_equal(rec.classes_, fruit_model.classes_)
    assert rec.feature_config_ == fruit_model.feature_config_
    assert rec.temperature_ == fruit_model.temperature_
    # how training ran is not saved: the loaded model has the default n_jobs and verbose
    assert rec.get_params() == {**fruit_model.get_params(), "feature_config": None, "n_jobs": -1, "verbose": 0}
    pairs = list(zip(rec.models_, fruit_model.models_))
    if hasattr(fruit_model, "background_"):  # the filler/background model used by the stream scorer
        pairs.append((rec.background_, fruit_model.background_))
    for a, b in pairs:
        for key in ("transmat", "weights", "means", "variances"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    X = test_set[0]
    np.testing.assert_array_equal(rec.loglik(X), test_loglik)
    np.testing.assert_array_equal(rec.predict_proba(X), fruit_model.predict_proba(X))
    assert rec.training_summary_["examples"] == fruit_model.training_summary_["examples"]
    assert "seconds" in fruit_model.training_summary_ and "seconds" not in rec.training_summary_
    assert {k: v for k, v in fruit_model.training_summary_.items() if k != "seconds"} == rec.training_summary_


def test_saved_file_is_plain_data(fruit_model_path):
    with zipfile.ZipFile(fruit_model_path) as z:
        names = z.namelist()
        assert "header.npy" in names and all(n.endswith(".npy") for n in names)
        for n in names:
            with z.open(n) as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                dtype = read_header(fh)[2]
                assert not dtype.hasobject, n
    header = header_of(model_arrays(fruit_model_path))
    assert header["format"] == "hmmrec-model" and header["version"] == FORMAT_VERSION
    assert header["labels"] == sorted(SMALL_LABELS)
    assert FeatureConfig.from_dict(header["feature_config"]).n_features == 39


def test_save_refuses_to_overwrite(fruit_model, tmp_path):
    target = tmp_path / "exists.model"
    target.write_bytes(b"precious")
    with pytest.raises(HmmrecError, match="exists.model"):
        fruit_model.save(target)
    assert target.read_bytes() == b"precious"
    fruit_model.save(target, overwrite=True)
    assert HMMRecognizer.load(target).classes_.tolist() == sorted(SMALL_LABELS)
    assert not list(tmp_path.glob("*.tmp"))


def _bad_model_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    arrays = model_arrays(good)
    header = header_of(arrays)
    files = {}

    def put(name, data: bytes):
        files[name] = tmp_path / f"{name}.model"
        files[name].write_bytes(data)

    # a pickle is written as bytes and never loaded by the test
    put("pickle", pickle.dumps({"format": "hmmrec-model", "classes_": ["a", "b"]}))
    put("random", np.random.default_rng(0).bytes(5000))
    put("empty", b"")
    put("text", b"hello, I am not a model\n")
    put("no_header", npz_bytes(m0_transmat=np.eye(3)))
    put("newer", npz_bytes(**with_header(arrays, {**header, "version": FORMAT_VERSION + 1})))
    put("wrong_format", npz_bytes(**with_header(arrays, {**header, "format": "something-else"})))
    put("header_not_json", npz_bytes(**{**arrays, "header": np.frombuffer(b"\xff\x00garbage", dtype=np.uint8)}))
    put("missing_array", npz_bytes(**{k: v for k, v in arrays.items() if k != "m1_means"}))
    bad_shape = dict(arrays)
    bad_shape["m0_means"] = arrays["m0_means"][:, :, :5]
    put("bad_shape", npz_bytes(**bad_shape))
    nan = dict(arrays)
    nan["m0_variances"] = np.full_like(arrays["m0_variances"], np.nan)
    put("nan_params", npz_bytes(**nan))
    neg = dict(arrays)
    neg["m0_variances"] = -arrays["m0_variances"]
    put("negative_variances", npz_bytes(**neg))
    put("truncated", good.read_bytes()[: good.stat().st_size // 2])
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("readme.txt", "a zip, not a model")
    put("plain_zip", zbuf.getvalue())
    files["directory"] = tmp_path / "a_directory.model"
    files["directory"].mkdir()
    files["missing"] = tmp_path / "missing.model"
    return files


BAD_MODELS = ["pickle", "random", "empty", "text", "no_header", "newer", "wrong_format", "header_not_json",
              "missing_array", "bad_shape", "nan_params", "negative_variances", "truncated", "plain_zip", "directory",
              "missing"]


@pytest.mark.parametrize("kind", BAD_MODELS)
def test_load_refuses_bad_files(tmp_path, fruit_model_path, kind):
    f = _bad_model_files(tmp_path, fruit_model_path)[kind]
    with pytest.raises(ModelFileError) as exc:
        HMMRecognizer.load(f)
    assert f.name in str(exc.value)
    if kind == "newer":
        assert "upgrade" in str(exc.value)


def test_load_older_version_quietly(tmp_path, fruit_model_path, recwarn):
    """An older format version is read as it was written, without a warning on the screen."""
    arrays = model_arrays(fruit_model_path)
    older = tmp_path / "older.model"
    older.write_bytes(npz_bytes(**with_header(arrays, {**header_of(arrays), "version": FORMAT_VERSION - 1})))
    assert list(HMMRecognizer.load(older).classes_) == list(HMMRecognizer.load(fruit_model_path).classes_)
    assert not recwarn.list


def test_model_from_before_rasta_and_equalisation_keeps_its_features(tmp_path, fruit_model_path):
    """A version-2 model file: CMVN and no RASTA filter, which is what it was trained with."""
    arrays = model_arrays(fruit_model_path)
    header = header_of(arrays)
    cfg = {k: v for k, v in header["feature_config"].items() if k != "rasta"} | {"cmvn": "mv"}  # as format-3 files name the setting
    old = tmp_path / "v2.model"
    old.write_bytes(npz_bytes(**with_header(arrays, {**header, "version": 2, "feature_config": cfg})))
    rec = HMMRecognizer.load(old)
    assert rec.feature_config_.normalization == "mv" and rec.feature_config_.rasta == 0.0
    assert HMMRecognizer.load(fruit_model_path).feature_config_.normalization == "heq"


class _TouchOnUnpickle:
    """Unpickling this object creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("where", ["extra", "header", "m0_means"])
def test_load_never_executes_code(tmp_path, fruit_model_path, where):
    marker = tmp_path / "pwned"
    payload = np.array([_TouchOnUnpickle(str(marker))], dtype=object)
    # make sure the payload really works when unpickled, so the test can fail
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(str(probe))))
    assert probe.exists()

    arrays = model_arrays(fruit_model_path)
    if where == "extra":
        arrays["zz_payload"] = payload
    else:
        arrays[where] = payload
    evil = tmp_path / "evil.model"
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=True, **arrays)
    evil.write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match="evil.model"):
        HMMRecognizer.load(evil)
    assert not marker.exists()


def test_warp_augmentation_adds_warped_copies_and_is_saved(tmp_path):
    """warps=(0.9, 1.1) trains on three versions of every file; the setting survives save/load."""
    # trains its own: compares a model with and without the warps option
    X = [str(p) for lab in ("apple", "kiwi") for p in sound_files("train", lab, 3)]
    y = [Path(p).parent.name for p in X]
    plain = HMMRecognizer(n_states=4, n_mix=1, speeds=(), warps=(), noise_snrs=(), n_jobs=1).fit(X, y)
    warped = HMMRecognizer(n_states=4, n_mix=1, speeds=(), warps=(0.9, 1.1), n_jobs=1).fit(X, y)
    assert warped.training_summary_["warps"] == [0.9, 1.1]
    # the background model sees all training frames (fewer than its sample cap here)
    assert not np.allclose(warped.background_.means, plain.background_.means)
    path = warped.save(tmp_path / "w.model")
    again = HMMRecognizer.load(path)
    assert again.warps == (0.9, 1.1) and again.get_params()["warps"] == (0.9, 1.1)
    np.testing.assert_allclose(again.loglik(X[:2]), warped.loglik(X[:2]))


def test_noise_augmentation_uses_the_training_backgrounds(tmp_path):
    """noise_snrs adds one noisy copy per word file, of the training backgrounds when there are any."""
    # trains its own: tests the noise_snrs training option
    from hmmrec.augment import add_noise

    y = np.sin(np.arange(8000) / 5.0).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 1, 3000).astype(np.float32)
    noisy = add_noise(y, noise, 10.0, seed=1)
    added = noisy - y
    assert 10 * np.log10(np.mean(y.astype(float) ** 2) / np.mean(added.astype(float) ** 2)) == pytest.approx(10.0, abs=0.01)
    np.testing.assert_array_equal(add_noise(y, np.zeros(100, np.float32), 10.0, 1), y)  # silent "noise": unchanged

    words = [str(p) for lab in ("apple", "kiwi") for p in sound_files("train", lab, 3)]
    silence = [str(p) for p in sound_files("train", "_silence_", 2)]
    from hmmrec.augment import noise_plan

    plan = noise_plan(words + silence, ["apple"] * 3 + ["kiwi"] * 3 + ["_silence_"] * 2, FeatureConfig(sr=16000),
                      (10.0,))
    assert [len(p) for p in plan] == [1] * 6 + [0, 0]
    assert all(10.0 <= snr <= 20.0 for p in plan[:6] for _, snr, _ in p)
    # without recorded background, white, pink and brown noise stand in for it
    from hmmrec.augment import synthetic_noises

    plan = noise_plan(words, ["apple"] * 3 + ["kiwi"] * 3, FeatureConfig(sr=16000), (10.0,))
    assert [len(p) for p in plan] == [1] * 6
    synth = synthetic_noises(16000)
    assert all(any(np.array_equal(n, s) for s in synth) for p in plan for n, _, _ in p)
    assert noise_plan(words, ["apple"] * 6, FeatureConfig(sr=16000), ()) == [[]] * 6
    rec = HMMRecognizer(n_states=4, n_mix=1, speeds=(), warps=(), noise_snrs=(10.0,), n_jobs=1)
    fitted = rec.fit(words + silence, ["apple"] * 3 + ["kiwi"] * 3 + ["_silence_"] * 2)
    assert fitted.training_summary_["noise_snrs"] == [10.0]
    assert HMMRecognizer.load(fitted.save(tmp_path / "n.model")).noise_snrs == (10.0,)


def _params_of(rec) -> list[np.ndarray]:
    models = rec.models_ + rec.stream_models_ + [rec.background_, rec.filler_]
    return [a for m in models for a in (m.means, m.variances, m.weights, m.transmat)]


def test_sample_weight_counts_an_example_as_that_many_copies():
    """Weight 3 trains exactly as three copies of the file in X (each with its own noisy
    copy), weight 0 as leaving it out; the summary counts files, not weights."""
    # trains its own: bit-identity of a weighted fit and a fit on copies, and a plain fit beside them
    X = [str(p) for lab in ("apple", "kiwi") for p in sound_files("train", lab, 3)]
    X += [str(p) for p in sound_files("train", "_silence_", 1)]
    y = [Path(p).parent.name for p in X]
    kw = dict(n_states=4, n_mix=1, speeds=(), warps=(), noise_snrs=(10.0,), mmi_iter=1, n_jobs=1)
    weights = [3, 1, 0, 1, 1, 1, 1]
    weighted = HMMRecognizer(**kw).fit(X, y, sample_weight=weights)
    copies = HMMRecognizer(**kw).fit([x for x, w in zip(X, weights) for _ in range(w)],
                                     [v for v, w in zip(y, weights) for _ in range(w)])
    for a, b in zip(_params_of(weighted), _params_of(copies)):
        np.testing.assert_array_equal(a, b)
    assert weighted.n_examples_ == {"apple": 2, "kiwi": 3, "_silence_": 1}
    assert weighted.training_summary_["n_files"] == 6
    plain = HMMRecognizer(**kw).fit(X, y)
    assert not np.allclose(plain.models_[list(plain.classes_).index("apple")].means,
                           weighted.models_[list(weighted.classes_).index("apple")].means)


@pytest.mark.parametrize("weights, message", [
    ([1, 1], "2 values for 3"), ([1, -1, 1], "whole numbers"), ([1, 0.5, 1], "whole numbers"),
    ([1, float("nan"), 1], "whole numbers"), (["a", 1, 1], "numbers"), ([0, 0, 0], "no training examples")])
def test_sample_weight_is_checked(weights, message):
    X = [str(sound_files("train", lab, 1)[0]) for lab in ("apple", "kiwi", "lime")]
    with pytest.raises(ParameterError, match=message):
        HMMRecognizer(n_jobs=1).fit(X, ["apple", "kiwi", "lime"], sample_weight=weights)


def test_synthetic_noises_are_unit_level_and_coloured():
    from hmmrec.augment import synthetic_noises

    white, pink, brown = synthetic_noises(8000)
    assert all(len(n) == 16000 and n.dtype == np.float32 and np.sqrt(np.mean(n.astype(float) ** 2)) == pytest.approx(1.0, rel=1e-3)
               for n in (white, pink, brown))
    # the share of power below 500 Hz grows from white to pink to brown
    def low_share(n):
        p = np.abs(np.fft.rfft(n)) ** 2
        f = np.fft.rfftfreq(len(n), 1 / 8000)
        return p[f < 500].sum() / p.sum()

    assert low_share(white) < low_share(pink) < low_share(brown)
    np.testing.assert_array_equal(synthetic_noises(8000)[1], pink)  # fixed seed


def test_stream_models_are_an_earlier_mixture_stage(tmp_path):
    # trains its own: tests the stream_n_mix option (4 Gaussians with a 2-Gaussian stage, and 0)
    from hmmrec.stream import StreamRecognizer

    # every training file of the small set's labels and their warped copies: frames for 4 Gaussians a state
    X = [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab)]
    y = [lab for lab in SMALL_LABELS for _ in sound_files("train", lab)]
    rec = HMMRecognizer(n_mix=4, stream_n_mix=2, speeds=(), noise_snrs=(), n_jobs=1).fit(X, y)
    assert [m.n_mix for m in rec.models_] == [4] * len(rec.classes_)
    assert [m.n_mix for m in rec.stream_models_] == [2] * len(rec.classes_)
    for full, early in zip(rec.models_, rec.stream_models_):
        assert early.n_states == full.n_states and not np.allclose(early.means[:, 0], full.means[:, 0])
    assert rec.training_summary_["stream_n_mix"] == 2
    # the stream scorer uses them: its bank holds the 2-Gaussian states
    scorer = StreamRecognizer(rec).scorer
    assert all(p.n_mix == max(2, rec.background_.n_mix) for p in scorer.bank.params)
    np.testing.assert_array_equal(scorer.bank.params[0].means[1:-1, :2], rec.stream_models_[0].means)
    # saved and loaded as they are
    back = HMMRecognizer.load(rec.save(tmp_path / "s.model"))
    for a, b in zip(back.stream_models_, rec.stream_models_):
        for key in ("transmat", "weights", "means", "variances"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    # a file without stream models (older, or stream_n_mix >= n_mix) streams with the final models
    arrays = {k: v for k, v in model_arrays(tmp_path / "s.model").items() if not k.startswith("s")}
    (tmp_path / "old.model").write_bytes(npz_bytes(**arrays))
    old = HMMRecognizer.load(tmp_path / "old.model")
    assert all(a is b for a, b in zip(old.stream_models_, old.models_))
    # a stream model whose states do not match its word model is a damaged file
    arrays = model_arrays(tmp_path / "s.model")
    for key in ("transmat", "weights", "means", "variances"):
        arrays[f"s0_{key}"] = arrays[f"s0_{key}"][:-1] if key != "transmat" else arrays["s0_transmat"][:-1, :-1]
    (tmp_path / "bad.model").write_bytes(npz_bytes(**arrays))
    with pytest.raises(ModelFileError, match="stream model"):
        HMMRecognizer.load(tmp_path / "bad.model")
    same = HMMRecognizer(n_mix=2, stream_n_mix=0, speeds=(), warps=(), noise_snrs=(), n_jobs=1).fit(X, y)
    assert all(a is b for a, b in zip(same.stream_models_, same.models_))
    with pytest.raises(ParameterError, match="stream_n_mix"):
        HMMRecognizer(stream_n_mix=-1).fit(X, y)


def test_default_features_follow_the_training_rate(tmp_path):
    """16 kHz data gets the full band; 8 kHz data stops the filterbank at 3400 Hz."""
    from hmmrec.training import resolve_config

    wide = [str(p) for p in sound_files("train", "kiwi", 2)]
    cfg = resolve_config(None, wide)
    assert cfg.sr == 16000 and cfg.high_hz == 0.0 and cfg.n_fft == 512
    narrow = []
    for i, p in enumerate(wide):
        y, _ = audio.load(p, 8000)
        narrow.append(str(audio.write_wav(tmp_path / f"n{i}.wav", y, 8000)))
    cfg = resolve_config(None, narrow)
    assert cfg.sr == 8000 and cfg.high_hz == 3400.0 and cfg.n_fft == 256
    given = FeatureConfig(sr=8000, n_fft=256)
    assert resolve_config(given, narrow) is given  # an explicit config is used as it is


def _sweeps(f0: float, n: int, seed: int, sr: int = 8000) -> list[np.ndarray]:
    """Noisy 0.4 s tone glides from f0 up by half, a little different each time."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = np.arange(int(0.4 * sr)) / sr
        f = f0 * rng.uniform(0.96, 1.04) * (1 + 0.5 * t / t[-1])
        y = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.03 * rng.standard_normal(len(t))
        out.append(np.r_[np.zeros(800), y, np.zeros(800)].astype(np.float32))
    return out


def test_discriminative_training_raises_the_posterior_of_the_right_word():
    """Two close glides: MMI moves the models apart where maximum likelihood left them confused."""
    # trains its own: compares mmi_iter=0 and 1 on synthetic glides
    from hmmrec.discriminative import MMI_KAPPA

    X = _sweeps(500, 25, 1) + _sweeps(540, 25, 2)
    y = ["low"] * 25 + ["high"] * 25
    cfg = FeatureConfig(sr=8000, rasta=0.0)  # (the RASTA filter alone tells these two apart)
    # (the Gaussians alone: the frame classifier would tell the two apart on its own)
    kw = dict(n_states=4, n_mix=2, warps=(), noise_snrs=(), stream_n_mix=1, feature_config=cfg, n_jobs=1, net_weight=0)
    ml = HMMRecognizer(mmi_iter=0, **kw).fit(X, y)
    mmi = HMMRecognizer(mmi_iter=1, **kw).fit(X, y)
    assert mmi.training_summary_["mmi_iter"] == 1 and ml.training_summary_["mmi_iter"] == 0
    truth = np.searchsorted(ml.classes_, y)

    def objective(rec):
        z = MMI_KAPPA * rec.loglik(X)
        return (z[np.arange(len(X)), truth] - logsumexp(z, axis=1)).mean()

    assert -0.69 < objective(ml) < -0.01  # confusable at the softened scale
    assert objective(mmi) > objective(ml) + 0.01
    # the stream models (a 1-Gaussian stage) are trained discriminatively too
    assert not np.allclose(mmi.stream_models_[0].means, ml.stream_models_[0].means)
    np.testing.assert_allclose(mmi.stream_models_[0].weights, ml.stream_models_[0].weights)


def _glides(f0: float, f1: float, n: int, seed: int, sr: int = 8000) -> list[np.ndarray]:
    """Noisy 0.4 s tone glides from about f0 to f1."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = np.arange(int(0.4 * sr)) / sr
        f = rng.uniform(0.96, 1.04) * (f0 + (f1 - f0) * t / t[-1])
        y = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.03 * rng.standard_normal(len(t))
        out.append(np.r_[np.zeros(800), y, np.zeros(800)].astype(np.float32))
    return out


def test_non_keyword_speech_gets_one_stream_model_per_kind_of_example(tmp_path):
    """``_unknown_`` made of two kinds of sound: two stream models, the label scores as the better one."""
    # trains its own: needs an ``_unknown_`` label and compares unknown_models=2 with 1
    from hmmrec.features import raw_features
    from hmmrec.normalization import normalize
    from hmmrec.stream import StreamRecognizer

    rising, falling = _glides(300, 450, 10, 3), _glides(1800, 1200, 10, 4)
    X = _glides(600, 900, 12, 1) + _glides(1000, 700, 12, 2) + rising + falling
    y = ["up"] * 12 + ["down"] * 12 + ["_unknown_"] * 20
    cfg = FeatureConfig(sr=8000)
    kw = dict(n_states=4, n_mix=2, warps=(), noise_snrs=(), stream_n_mix=1, feature_config=cfg, n_jobs=1)
    rec = HMMRecognizer(unknown_models=2, **kw).fit(X, y)
    one = HMMRecognizer(unknown_models=1, **kw).fit(X, y)
    k = int(np.flatnonzero(rec.classes_ == "_unknown_")[0])
    assert rec.training_summary_["stream_models_per_label"] == {"_unknown_": 2, "down": 1, "up": 1}
    assert rec.extra_labels_.tolist() == [k] and len(rec.extra_stream_models_) == 1
    assert one.extra_labels_.tolist() == [] and one.training_summary_["stream_models_per_label"]["_unknown_"] == 1
    # files are classified with one model per label, the same as without the further models
    for a, b in zip(rec.models_, one.models_):
        np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(rec.loglik(falling[:3]), one.loglik(falling[:3]))
    # in the stream, each kind of example is best explained by its own model and the label
    # scores as the better one
    scorer = StreamRecognizer(rec).scorer
    best_model = []
    for x in rising + falling:
        raw = raw_features(x, cfg)
        first, extra = scorer.bank.score(normalize(raw, cfg))[k], scorer._extra_bank.score(normalize(raw, cfg))[0]
        assert scorer._score(0, raw).loglik[k] == max(first, extra)
        best_model.append(int(extra > first))
    assert len(set(best_model[:10])) == 1 and len(set(best_model[10:])) == 1 and best_model[0] != best_model[10]
    # saved and loaded with all its models
    back = HMMRecognizer.load(rec.save(tmp_path / "u.model"))
    assert back.extra_labels_.tolist() == [k]
    for a, b in zip(back.stream_models_ + back.extra_stream_models_, rec.stream_models_ + rec.extra_stream_models_):
        np.testing.assert_array_equal(a.means, b.means)
    # the further models are scored only where a decision could need them, and the events
    # are those of scoring them everywhere
    stream_in = np.concatenate([X[0], falling[1], X[13], rising[2], X[3]])
    exact = StreamRecognizer(rec, sensitivity=0.8, keep_history=True)
    lazy = StreamRecognizer(rec, sensitivity=0.8)
    calls = []
    inner = lazy.scorer._extra_bank.score
    lazy.scorer._extra_bank.score = lambda x: calls.append(1) or inner(x)
    events = [lazy.push(stream_in) + lazy.flush(), exact.push(stream_in) + exact.flush()]
    assert events[0] == events[1] and len(events[0]) >= 2
    assert 0 < len(calls) < len(exact.history)


def test_unknown_bias_moves_files_to_unknown_but_not_the_streams_check(tmp_path):
    """``unknown_bias`` nats per frame go to ``_unknown_`` when inputs are classified; the
    stream's check of a candidate and training do not use it; model files keep it."""
    from hmmrec.features import extract

    X = _glides(600, 900, 12, 1) + _glides(1000, 700, 12, 2) + _glides(300, 450, 12, 3)
    y = ["up"] * 12 + ["down"] * 12 + ["_unknown_"] * 12
    cfg = FeatureConfig(sr=8000)
    kw = dict(n_states=4, n_mix=2, warps=(), noise_snrs=(), net_weight=0, feature_config=cfg, n_jobs=1)
    rec = HMMRecognizer(unknown_bias=0.0, **kw).fit(X, y)
    biased = HMMRecognizer(unknown_bias=0.3, **kw).fit(X, y)
    for a, b in zip(rec.models_, biased.models_):  # training does not use it
        np.testing.assert_array_equal(a.means, b.means)
    assert rec.temperature_ == biased.temperature_
    k = int(np.flatnonzero(rec.classes_ == "_unknown_")[0])
    np.testing.assert_array_equal(rec.unknown_mask_, np.arange(3) == k)
    probe = _glides(800, 800, 4, 5)  # between the words: not far from any
    for x in probe:
        feats = extract(x, cfg)
        plain, shifted = rec.recognize_features(feats), biased.recognize_features(feats)
        np.testing.assert_allclose(shifted.loglik - plain.loglik, 0.3 * len(feats) * (np.arange(3) == k))
        assert shifted.proba[k] > plain.proba[k]
        check = biased.stream_models().word_posterior
        np.testing.assert_array_equal(check(feats), rec.stream_models().word_posterior(feats))
    # the more bias, the more files it takes (from a saved model too)
    between = _glides(400, 800, 4, 7)  # nearer _unknown_ for some, nearer "up" for others
    back = HMMRecognizer.load(biased.save(tmp_path / "b.model"))
    taken = [int((back.set_params(unknown_bias=b).predict(between) == "_unknown_").sum()) for b in (-1, 0, 0.3, 1)]
    assert taken == sorted(taken) and taken[1] < taken[-1] == len(between)
    assert HMMRecognizer.load(tmp_path / "b.model").unknown_bias == 0.3


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_scoring_shared_among_workers_equals_scoring_in_turn(fruit_model, test_set, n_jobs):
    """The discriminative iteration scores every training utterance in slices on the workers."""
    from hmmrec.discriminative import score_many

    bank = fruit_model.bank
    feats = fruit_model.features(test_set[0][:7])
    got = score_many(bank, feats, n_jobs)
    np.testing.assert_array_equal(got, np.array([bank.score(f) for f in feats]))
    assert score_many(bank, [], n_jobs).shape == (0, bank.n_models)
