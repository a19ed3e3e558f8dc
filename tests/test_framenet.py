"""The frame classifier beside the Gaussians (hmmrec.framenet) and how files score with it."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import SMALL_LABELS, header_of, model_arrays, npz_bytes, sound_files, with_header
from hmmrec import HMMRecognizer
from hmmrec.corpus import speaker_of
from hmmrec.errors import ModelFileError, ParameterError
from hmmrec.features import FILTERBANK_CHANNELS, FeatureConfig, filterbank_frames, n_frames_for
from hmmrec.framenet import EPOCHS, FrameNet, context_index, train_frame_net
from hmmrec.recognizer import FILTERBANK_NET_MIN_SPEAKERS


def _toy(n_seqs: int, seed: int):
    """Sequences of 4-dimensional frames whose class (0, 1, 2) runs in blocks; each class
    has its own mean, so a frame and its neighbours tell the class."""
    rng = np.random.default_rng(seed)
    means = np.array([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    seqs, targets = [], []
    for _ in range(n_seqs):
        y = np.repeat(rng.permutation(3), rng.integers(5, 12, size=3))
        seqs.append(means[y] + rng.standard_normal((len(y), 4)))
        targets.append(y)
    return seqs, targets


def test_context_index_stays_within_each_sequence():
    idx = context_index([3, 2], 1)
    np.testing.assert_array_equal(idx, [[0, 0, 1], [0, 1, 2], [1, 2, 2], [3, 3, 4], [3, 4, 4]])
    assert context_index([], 2).shape == (0, 5)


def test_network_learns_frames_and_is_repeatable():
    seqs, targets = _toy(60, 0)
    net = train_frame_net(seqs, targets, 3, context=2, hidden=32, layers=2, epochs=8, batch=64, rate=3e-3)
    test_seqs, test_targets = _toy(20, 1)
    right = np.mean(np.concatenate([net.log_posteriors(x).argmax(1) == y for x, y in zip(test_seqs, test_targets)]))
    assert right > 0.9
    post = np.exp(net.log_posteriors(test_seqs[0]))
    np.testing.assert_allclose(post.sum(1), 1.0)
    # scaled likelihoods: posterior over prior (to the prior_scale power)
    np.testing.assert_allclose(net.scaled_loglik(test_seqs[0]),
                               net.log_posteriors(test_seqs[0]) - net.prior_scale * net.log_prior)
    again = train_frame_net(seqs, targets, 3, context=2, hidden=32, layers=2, epochs=8, batch=64, rate=3e-3)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, again.weights))
    other = train_frame_net(seqs, targets, 3, context=2, hidden=32, layers=2, epochs=8, batch=64, rate=3e-3, seed=1)
    assert not np.array_equal(net.weights[0], other.weights[0])


def test_network_refuses_what_does_not_fit():
    seqs, targets = _toy(3, 0)
    with pytest.raises(ParameterError, match="targets"):
        train_frame_net(seqs, [t + 3 for t in targets], 3)
    with pytest.raises(ParameterError, match="one target per frame"):
        train_frame_net(seqs, [t[:-1] for t in targets], 3)
    net = train_frame_net(seqs, targets, 3, context=1, hidden=8, layers=1, epochs=1)
    with pytest.raises(ParameterError, match="do not fit"):
        FrameNet(context=2, mean=net.mean, scale=net.scale, weights=net.weights, biases=net.biases,
                 log_prior=net.log_prior)
    with pytest.raises(ParameterError, match="weight"):
        FrameNet(context=1, mean=net.mean, scale=net.scale, weights=net.weights, biases=net.biases,
                 log_prior=net.log_prior, weight=1.5)


@pytest.fixture(scope="module")
def net_model(tmp_path_factory):
    """A small fruit model with its frame classifier (the session's fruit_model has one
    too, but these tests take it apart)."""
    X = [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab, 6)]
    y = [lab for lab in SMALL_LABELS for _ in range(6)]
    rec = HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), filterbank_net=True, n_jobs=1).fit(X, y)
    return rec, rec.save(tmp_path_factory.mktemp("net") / "net.model")


def test_two_cores_train_both_networks_at_once_to_the_same_bits(net_model):
    """With more than one worker the second network trains in a thread beside the first:
    the same weights as one after the other, and progress told from the caller's thread
    only, counting up to both networks' epochs."""
    rec, _ = net_model
    X = [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab, 6)]
    y = [lab for lab in SMALL_LABELS for _ in range(6)]
    seen, beside = [], []

    def progress(p):
        if p.stage == "network":
            seen.append((p.done, p.total, threading.current_thread() is threading.main_thread()))
            beside.append(any(t.name == "hmmrec-background" for t in threading.enumerate()))

    both = HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), filterbank_net=True, n_jobs=2).fit(X, y, progress=progress)
    for one, two in ((rec.frame_net_, both.frame_net_), (rec.filterbank_net_, both.filterbank_net_)):
        assert all(a.tobytes() == b.tobytes() for a, b in zip(one.weights + one.biases, two.weights + two.biases))
    done = [d for d, _, _ in seen]
    assert all(main for _, _, main in seen) and done == sorted(done)
    assert done[0] == 0 and done[-1] == seen[-1][1] == 2 * EPOCHS
    assert any(beside)  # (the second network did train beside the first)


def test_a_failed_fit_stops_the_network_training_beside_it(monkeypatch):
    """An error (or Ctrl-C) while the first network trains ends the second at its next
    epoch rather than leaving it to use a core to the end."""
    import hmmrec.recognizer as recognizer

    epochs = {"cepstra": 0, "filterbank": 0}
    real = recognizer.train_frame_net

    def counted(*args, progress=None, view="cepstra", **kw):
        def each(done, total, loss):
            epochs[view] = done
            progress(done, total, loss)
        return real(*args, progress=each, view=view, **kw)

    monkeypatch.setattr(recognizer, "train_frame_net", counted)

    def fail(p):
        if p.stage == "network" and p.done >= 1:
            raise RuntimeError("stopped by the caller")

    X = [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab, 6)]
    y = [lab for lab in SMALL_LABELS for _ in range(6)]
    with pytest.raises(RuntimeError, match="stopped by the caller"):
        HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), filterbank_net=True, n_jobs=2).fit(X, y, progress=fail)
    for _ in range(200):
        if not any(t.name == "hmmrec-background" for t in threading.enumerate()):
            break
        time.sleep(0.05)
    assert not any(t.name == "hmmrec-background" for t in threading.enumerate())
    assert epochs["cepstra"] == 1 and epochs["filterbank"] < EPOCHS


def test_files_score_with_both_models(net_model):
    rec, _ = net_model
    net = rec.frame_net_
    assert net is not None and net.n_outputs == rec.bank.n_emissions and net.weight == rec.net_weight
    x = rec.features([sound_files("test", "kiwi", 1)[0]])[0]
    gmm = rec.bank.score(x)
    hybrid = rec.bank.forward(rec.bank.per_state(net.scaled_loglik(x)))
    np.testing.assert_allclose(rec.loglik_features(x), (1 - net.weight) * gmm + net.weight * hybrid)
    assert not np.allclose(rec.loglik_features(x), gmm)
    # trained on the aligned states: it tells the frames of a training word's states apart
    k = list(rec.classes_).index("kiwi")
    train_x = rec.features([sound_files("train", "kiwi", 1)[0]])[0]
    path = rec.bank.best_path(rec.bank.state_loglik(train_x), k)
    states = rec.bank.emission_columns(k)[path]
    assert np.mean(net.log_posteriors(train_x).argmax(1) == states) > 0.5
    without = HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), n_jobs=1, net_weight=0).fit(
        [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab, 3)], [lab for lab in SMALL_LABELS for _ in range(3)])
    assert without.frame_net_ is None
    xw = without.features([sound_files("test", "kiwi", 1)[0]])[0]
    np.testing.assert_array_equal(without.loglik_features(xw), without.bank.score(xw))


def test_network_saved_and_checked_when_loaded(net_model, tmp_path):
    rec, path = net_model
    back = HMMRecognizer.load(path)
    y, x = rec.signal_and_features(sound_files("test", "orange", 1)[0])
    fb = rec.filterbank_of(y)
    np.testing.assert_array_equal(back.loglik_features(x, fb), rec.loglik_features(x, fb))
    assert back.filterbank_net_.view == "filterbank" and back.frame_net_.view == "cepstra"
    arrays = model_arrays(path)
    assert header_of(arrays)["frame_net"]["layers"] == len(rec.frame_net_.weights)
    assert header_of(arrays)["filterbank_net"]["layers"] == len(rec.filterbank_net_.weights)
    assert header_of(arrays)["version"] == 5
    # damaged: a missing layer, a value that is not finite, outputs that are not the model's states
    cases = {"missing": {k: v for k, v in arrays.items() if k != "net_b0"},
             "missing2": {k: v for k, v in arrays.items() if k != "fnet_mean"},
             "nan": arrays | {"net_w0": np.where(np.arange(arrays["net_w0"].size).reshape(arrays["net_w0"].shape) == 0,
                                                 np.nan, arrays["net_w0"])},
             "outputs": arrays | {"net_w1": arrays["net_w1"][:, :-1], "net_b1": arrays["net_b1"][:-1],
                                  "net_log_prior": arrays["net_log_prior"][:-1]}}
    messages = {"missing": "net_b0", "missing2": "fnet_mean", "nan": "not finite", "outputs": "outputs"}
    for name, bad in cases.items():
        (tmp_path / f"{name}.model").write_bytes(npz_bytes(**bad))
        with pytest.raises(ModelFileError, match=messages[name]):
            HMMRecognizer.load(tmp_path / f"{name}.model")
    # settings of the network that are not numbers
    header = header_of(arrays)
    (tmp_path / "h.model").write_bytes(npz_bytes(**with_header(arrays, header | {"frame_net": {"context": "7"}})))
    with pytest.raises(ModelFileError, match="frame_net"):
        HMMRecognizer.load(tmp_path / "h.model")
    # a file without a network (net_weight=0, or written before there was one) scores with the Gaussians
    plain = {k: v for k, v in arrays.items() if not k.startswith(("net_", "fnet_"))}
    (tmp_path / "plain.model").write_bytes(npz_bytes(**with_header(plain, header | {"frame_net": None,
                                                                                  "filterbank_net": None})))
    # a second network without the first is not a model hmmrec writes
    second_only = {k: v for k, v in arrays.items() if not k.startswith("net_")}
    (tmp_path / "second.model").write_bytes(npz_bytes(**with_header(second_only, header | {"frame_net": None})))
    with pytest.raises(ModelFileError, match="filterbank_net without frame_net"):
        HMMRecognizer.load(tmp_path / "second.model")
    # a file of format 4 (one network) scores with the Gaussians and that network
    one = {k: v for k, v in arrays.items() if not k.startswith("fnet_")}
    (tmp_path / "one.model").write_bytes(npz_bytes(**with_header(one, header | {"filterbank_net": None, "version": 4})))
    four = HMMRecognizer.load(tmp_path / "one.model")
    assert four.filterbank_net_ is None and four.filterbank_of(y) is None
    np.testing.assert_array_equal(four.loglik_features(x, fb), rec.loglik_features(x))
    old = HMMRecognizer.load(tmp_path / "plain.model")
    assert old.frame_net_ is None
    np.testing.assert_array_equal(old.loglik_features(x), old.bank.score(x))


def test_filterbank_frames_match_the_cepstral_frames():
    cfg = FeatureConfig()
    rng = np.random.default_rng(0)
    y = rng.standard_normal(cfg.sr) * np.sin(np.linspace(0, 30, cfg.sr)) ** 2
    fb = filterbank_frames(y, cfg)
    assert fb.shape == (n_frames_for(len(y), cfg), FILTERBANK_CHANNELS + 1) and fb.dtype == np.float32
    np.testing.assert_allclose(fb.mean(0), 0, atol=1e-4)  # standardised over the signal
    np.testing.assert_allclose(fb.std(0), 1, atol=1e-2)
    assert not np.allclose(filterbank_frames(y, FeatureConfig(warp=1.1)), fb)  # warped copies see other filters
    np.testing.assert_allclose(filterbank_frames(10 * y, cfg), fb, atol=1e-3)  # a louder copy: the same frames
    assert filterbank_frames(y[:10], cfg).shape == (0, FILTERBANK_CHANNELS + 1)


def test_the_filterbank_network_takes_part_wherever_the_signal_is_known(net_model):
    rec, _ = net_model
    second = rec.filterbank_net_
    assert second is not None and second.n_outputs == rec.bank.n_emissions and second.view == "filterbank"
    path = sound_files("test", "kiwi", 1)[0]
    y, x = rec.signal_and_features(path)
    fb = rec.filterbank_of(y)
    net = rec.frame_net_
    gmm = rec.bank.score(x)
    both = 0.5 * (net.scaled_loglik(x) + second.scaled_loglik(fb))
    expected = (1 - net.weight) * gmm + net.weight * rec.bank.forward(rec.bank.per_state(both))
    np.testing.assert_allclose(rec.loglik_features(x, fb), expected)
    assert not np.allclose(rec.loglik_features(x, fb), rec.loglik_features(x))  # without it: the first alone
    # a file, recognised or scored, reads its signal's filterbank
    np.testing.assert_allclose(rec.recognize(path).loglik, expected)
    np.testing.assert_allclose(rec.loglik([path])[0], expected)
    with pytest.raises(ParameterError, match="filterbank frames"):
        rec.loglik_features(x, fb[:-1])
    # the stream's check of a word reads the samples of the stretch it classifies
    seen = []
    models = rec.stream_models()
    check = models.word_posterior
    models = dataclasses.replace(models, word_posterior=lambda seg, filterbank=None: seen.append(filterbank)
                                 or check(seg, filterbank))
    from hmmrec.stream.scoring import WindowScorer
    from hmmrec.stream import _Windows
    windows = _Windows(models, 1.0, 0.2)
    scored = windows.push(np.concatenate([np.zeros(4000, np.float32), y, np.zeros(8000, np.float32)]), exact=True)
    ws, seg, _, _, posterior = max(scored, key=lambda w: w[0].margin)
    posterior(ws, seg, ws.start, ws.end)
    assert isinstance(windows.scorer, WindowScorer) and seen and seen[-1] is not None
    assert seen[-1].shape[1] == FILTERBANK_CHANNELS + 1


def test_no_filterbank_network_when_turned_off():
    X = [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab, 3)]
    y = [lab for lab in SMALL_LABELS for _ in range(3)]
    rec = HMMRecognizer(n_mix=2, speeds=(), noise_snrs=(), n_jobs=1, filterbank_net=False).fit(X, y)
    assert rec.frame_net_ is not None and rec.filterbank_net_ is None
    with pytest.raises(ParameterError, match="filterbank_net"):
        HMMRecognizer(filterbank_net="yes").fit(X, y)


def test_second_network_by_default_only_from_many_speakers():
    """``"auto"``: trained on a handful of voices the filterbank network learns them, so
    it comes only with ``FILTERBANK_NET_MIN_SPEAKERS`` distinct speakers, from the file
    names or given."""
    X = [str(f) for lab in SMALL_LABELS for f in sound_files("train", lab, 6)]
    y = [lab for lab in SMALL_LABELS for _ in range(6)]
    assert len(X) >= FILTERBANK_NET_MIN_SPEAKERS
    small = dict(n_mix=1, n_iter=2, warps=(), speeds=(), noise_snrs=(), mmi_iter=0, n_jobs=1)
    named = HMMRecognizer(**small).fit(X, y)
    assert named.filterbank_net == "auto" and named.frame_net_ is not None and named.filterbank_net_ is None
    voices = {Path(x).stem[len(lab) + 1:Path(x).stem.rfind("_")] for x, lab in zip(X, y)}  # <label>_<voice>_<take>
    assert named.training_summary_["speakers"] == len(voices) > 1
    assert all(speaker_of(x, lab) in voices for x, lab in zip(X, y))
    for n, second in ((FILTERBANK_NET_MIN_SPEAKERS - 1, False), (FILTERBANK_NET_MIN_SPEAKERS, True)):
        rec = HMMRecognizer(**small).fit(X, y, speakers=[f"s{i % n}" for i in range(len(X))])
        assert (rec.filterbank_net_ is not None) == second and rec.training_summary_["speakers"] == n
    with pytest.raises(ParameterError, match="speakers"):
        HMMRecognizer(**small).fit(X, y, speakers=["a"] * (len(X) - 1))
