"""hmmrec.features: frame counts, dimensions, CMVN, streaming == batch, config validation."""

from __future__ import annotations

import numpy as np
import pytest

from hmmrec import audio
from hmmrec.errors import ParameterError
from hmmrec.features import FeatureConfig, FeatureStream, extract, floor_log_energy, n_frames_for, raw_features
from hmmrec.normalization import normalize

from helpers import sound_files

RNG = np.random.default_rng(7)


def noisy_tone(n: int, sr: int = 16000) -> np.ndarray:
    t = np.arange(n) / sr
    return (0.3 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * RNG.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def real_signal():
    y, sr = audio.load(sound_files("train", "pineapple", 1)[0], 16000)
    assert sr == 16000
    return y


# -- shapes ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [400, 401, 559, 560, 561, 1000, 16000, 16123])
def test_n_frames_formula(n):
    cfg = FeatureConfig()
    assert cfg.win_samples == 400 and cfg.hop_samples == 160
    expected = 1 + (n - 400) // 160
    assert n_frames_for(n, cfg) == expected
    feats = extract(noisy_tone(n), cfg)
    assert feats.shape == (expected, 39)
    assert feats.dtype == np.float64
    assert np.all(np.isfinite(feats))


@pytest.mark.parametrize("n", [0, 1, 100, 399])
def test_shorter_than_a_window_gives_zero_frames(n):
    cfg = FeatureConfig()
    assert n_frames_for(n, cfg) == 0
    feats = extract(np.zeros(n, np.float32), cfg)
    assert feats.shape == (0, 39)
    fs = FeatureStream(cfg)
    out = np.vstack([fs.push(np.zeros(n)), fs.flush()])
    assert out.shape == (0, 39)


@pytest.mark.parametrize("order, dims", [(0, 13), (1, 26), (2, 39)])
def test_order_gives_dimensions(order, dims):
    cfg = FeatureConfig(order=order)
    assert cfg.n_features == dims
    feats = extract(noisy_tone(8000), cfg)
    assert feats.shape == (n_frames_for(8000, cfg), dims)


def test_static_part_does_not_depend_on_order():
    y = noisy_tone(6000)
    f0 = raw_features(y, FeatureConfig(order=0))
    f2 = raw_features(y, FeatureConfig(order=2))
    np.testing.assert_allclose(f2[:, :13], f0, atol=1e-12)


def test_deltas_of_linear_ramp_are_slope():
    """HTK regression deltas of a feature rising by 1 per frame are exactly 1 in the interior."""
    from hmmrec.features import _add_deltas

    cfg = FeatureConfig(order=2, delta_n=2)
    static = np.tile(np.arange(20.0)[:, None], (1, 13))
    out = _add_deltas(static, cfg)
    np.testing.assert_allclose(out[2:-2, 13:26], 1.0)
    np.testing.assert_allclose(out[4:-4, 26:], 0.0, atol=1e-12)


def test_other_sample_rate_and_mfcc_count():
    cfg = FeatureConfig(sr=8000, n_fft=256, n_mfcc=20, n_filt=30)
    assert cfg.win_samples == 200 and cfg.hop_samples == 80
    feats = extract(noisy_tone(4000, 8000), cfg)
    assert feats.shape == (1 + (4000 - 200) // 80, 60)


def test_extract_rejects_2d_signal():
    with pytest.raises(ParameterError):
        extract(np.zeros((1000, 2)))


def test_silence_gives_finite_features():
    feats = extract(np.zeros(4000, np.float32))
    assert feats.shape == (n_frames_for(4000, FeatureConfig()), 39)
    assert np.all(np.isfinite(feats))


def test_louder_signal_shifts_only_energy_before_normalisation():
    """c0 is log energy: scaling the signal by 2 adds log(4) to c0 and leaves c1.. (almost) unchanged."""
    y = noisy_tone(8000)
    cfg = FeatureConfig(order=0)
    a = raw_features(y, cfg)
    b = raw_features(2 * y, cfg)
    # (up to the -80 dB noise floor added to every spectrum, far below this signal)
    np.testing.assert_allclose(b[:, 0] - a[:, 0], np.log(4.0), atol=1e-5)
    # and CMVN removes the gain (all but the floor's share)
    np.testing.assert_allclose(extract(2 * y, cfg), extract(y, cfg), atol=5e-3)


def test_digital_silence_sits_on_the_noise_floor():
    """Exact zeros give finite frames at the floor level, not log(0); a louder floor raises them."""
    cfg = FeatureConfig(sr=8000, n_fft=256, order=0)
    z = raw_features(np.zeros(4000), cfg)
    assert np.all(np.isfinite(z)) and np.ptp(z, axis=0).max() < 1e-9
    # c0 is the log of the floor's energy: n_bins * sum(window**2) / n_fft * 10**(floor_db / 10)
    expected = np.log((cfg.n_fft // 2 + 1) * cfg.win_samples / cfg.n_fft * 10 ** (cfg.floor_db / 10))
    assert floor_log_energy(cfg) == pytest.approx(expected)
    # white noise through a Hamming window has sum(w**2) of the flat window's power
    ham = FeatureConfig(sr=8000, n_fft=256, order=0, window="hamming")
    power = np.sum(np.hamming(cfg.win_samples) ** 2)
    assert floor_log_energy(ham) == pytest.approx(np.log((cfg.n_fft // 2 + 1) * power / cfg.n_fft * 1e-8))
    zh = raw_features(np.zeros(4000), ham)
    assert zh[0, 0] == pytest.approx(floor_log_energy(ham))
    assert z[0, 0] == pytest.approx(expected)
    louder = raw_features(np.zeros(4000), FeatureConfig(sr=8000, n_fft=256, order=0, floor_db=-60.0))
    assert louder[0, 0] == pytest.approx(expected + np.log(100.0))
    with pytest.raises(ParameterError, match="floor_db"):
        FeatureConfig(floor_db=0.0)


# -- CMVN ------------------------------------------------------------------------------------
def test_cmvn_zero_mean_unit_variance(real_signal):
    """Over all frames (the default) or over the active part (normalization_active_db > 0)."""
    from hmmrec.normalization import active_span

    raw = raw_features(real_signal)
    assert np.abs(raw.mean(axis=0)).max() > 1.0  # so the checks below are not vacuous
    mv = FeatureConfig(normalization="mv")
    every = extract(real_signal, mv)
    np.testing.assert_allclose(every.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(every.std(axis=0), 1.0, atol=1e-6)
    np.testing.assert_allclose(normalize(raw, mv), every, atol=1e-12)
    cfg = FeatureConfig(normalization="mv", normalization_active_db=30.0)
    feats = extract(real_signal, cfg)
    a, b = active_span(raw[:, 0], cfg.normalization_active_db)
    assert b - a < len(raw)  # the signal has quiet edges
    np.testing.assert_allclose(feats[a:b].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats[a:b].std(axis=0), 1.0, atol=1e-6)


def test_active_span_ignores_added_silence(real_signal):
    """With normalization_active_db, normalised frames of a word do not depend on the silence around it
    (without the RASTA filter, whose state carries the silence before the word into it)."""
    cfg = FeatureConfig(normalization_active_db=30.0, rasta=0.0)
    pad = np.zeros(int(1.5 * cfg.sr))
    word = extract(real_signal, cfg)
    padded = extract(np.concatenate([pad, real_signal, pad]), cfg)
    inner = slice(10, len(word) - 10)  # away from the edges, where frames and deltas straddle the padding
    shift = len(pad) // cfg.hop_samples  # the padding is a whole number of hops
    np.testing.assert_allclose(padded[shift:shift + len(word)][inner], word[inner], atol=1e-6)
    # with statistics over all frames the padding changes everything
    flat = FeatureConfig(normalization_active_db=0.0, rasta=0.0)
    assert not np.allclose(extract(np.concatenate([pad, real_signal, pad]), flat)[shift:shift + len(word)][inner],
                           extract(real_signal, flat)[inner], atol=1e-2)


def test_active_span_bounds():
    from hmmrec.normalization import active_span

    e = np.array([-30.0, -30, -2, 0, -1, -30, -30, -30, -30, -30])
    assert active_span(e, 30.0, pad=1) == (1, 6)
    assert active_span(e, 30.0, pad=0) == (2, 5)
    # a noise floor 20 dB under the word (4.6 nats) is not active although within 30 dB
    noisy = np.array([-4.6, -4.7, -4.5, -1.0, 0.0, -0.5, -4.6, -4.6, -4.5, -4.7])
    assert active_span(noisy, 30.0, pad=0) == (3, 6)
    assert active_span(np.array([5.0]), 30.0) == (0, 1)
    assert active_span(np.zeros(0), 30.0) == (0, 0)


def test_cmvn_mean_only_and_none(real_signal):
    raw = raw_features(real_signal)
    m = extract(real_signal, FeatureConfig(normalization="m", rasta=0.0))
    np.testing.assert_allclose(m.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(m.std(axis=0), raw.std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(extract(real_signal, FeatureConfig(normalization="none", rasta=0.0)), raw)


def _rasta_reference(x):
    """Hermansky and Morgan's filter 0.1 (2 + z^-1 - z^-3 - 2 z^-4) / (1 - 0.94 z^-1), from rest."""
    out = np.zeros(len(x))
    for t in range(len(x)):
        v = [x[t - k] if t >= k else 0.0 for k in range(5)]
        out[t] = 0.1 * (2 * v[0] + v[1] - v[3] - 2 * v[4]) + (0.94 * out[t - 1] if t else 0.0)
    return out


def test_rasta_filters_each_segment_from_its_start_but_not_the_energy(real_signal):
    cfg = FeatureConfig(normalization="none")
    raw = raw_features(real_signal)
    out = normalize(raw, cfg)
    energy = np.arange(raw.shape[1]) % cfg.n_mfcc == 0  # c0 and its deltas
    np.testing.assert_array_equal(out[:, energy], raw[:, energy])
    for col in (1, 5, 14, 27):  # c1, c5, delta c1, delta-delta c1
        np.testing.assert_allclose(out[:, col], _rasta_reference(raw[:, col]), atol=1e-9)
    # a segment is filtered on its own: frames cut from later on start the filter afresh
    np.testing.assert_allclose(normalize(raw[50:], cfg)[:, 1], _rasta_reference(raw[50:, 1]), atol=1e-9)
    # a steady trajectory is removed (nothing passes at zero modulation frequency) once the start has died away
    steady = normalize(np.ones((300, cfg.n_features)), cfg)
    assert np.abs(steady[200:, ~energy]).max() < 1e-4 and np.abs(steady[:5, ~energy]).max() > 0.1


@pytest.mark.parametrize("normalization", ["heq", "mv"])
def test_normalization_of_constant_feature_is_finite(normalization):
    feats = np.ones((10, 39))
    out = normalize(feats, FeatureConfig(normalization=normalization, rasta=0.0))
    assert np.all(np.isfinite(out)) and np.allclose(out, 0.0)
    assert np.all(np.isfinite(normalize(feats, FeatureConfig(normalization=normalization))))
    assert normalize(np.zeros((0, 39)), FeatureConfig(normalization=normalization)).shape == (0, 39)
    assert normalize(np.ones((1, 39)), FeatureConfig(normalization=normalization, rasta=0.0)).tolist() == [[0.0] * 39]


def _heq_reference(x, ref):
    """Each value's normal quantile of its mean rank among its column of ref: from the sorted ranks."""
    from scipy.special import ndtri

    out = np.empty_like(x)
    n = len(ref)
    for j in range(x.shape[1]):
        col = np.sort(ref[:, j])
        for i, v in enumerate(x[:, j]):
            below, at_most = np.sum(col < v), np.sum(col <= v)
            out[i, j] = ndtri(np.clip((below + at_most) / (2 * n), 0.5 / n, 1 - 0.5 / n))
    return out


@pytest.mark.parametrize("n", [2, 3, 98, 700])
def test_heq_gives_each_column_the_normal_quantiles_of_its_ranks(n):
    from scipy.special import ndtri
    from scipy.stats import rankdata

    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 39)) * rng.uniform(0.1, 10, 39) + rng.uniform(-20, 20, 39)
    x[:, 4] = 3.0  # a constant column
    x[: n // 2, 7] = 1.5  # a run of ties
    out = normalize(x, FeatureConfig(rasta=0.0))
    np.testing.assert_allclose(out, ndtri((rankdata(x, axis=0) - 0.5) / n), atol=1e-12)
    assert np.all(out[:, 4] == 0.0) and len(np.unique(out[: n // 2, 7])) == 1
    # every column of a segment without ties holds exactly the same values: the normal quantiles
    free = [j for j in range(39) if j not in (4, 7)]
    quantiles = np.sort(out[:, free[0]])
    for j in free:
        np.testing.assert_allclose(np.sort(out[:, j]), quantiles, atol=1e-12)
    # order-preserving per column, and blind to any monotonic change of a column
    squashed = x.copy()
    squashed[:, free] = np.tanh(squashed[:, free] / 30.0) * 5 + 2
    np.testing.assert_allclose(normalize(squashed, FeatureConfig(rasta=0.0)), out, atol=1e-12)


def test_heq_over_the_active_part_ranks_every_frame_among_the_active_ones(real_signal):
    from hmmrec.normalization import active_span

    cfg = FeatureConfig(normalization="heq", normalization_active_db=30.0, rasta=0.0)
    raw = raw_features(real_signal)
    a, b = active_span(raw[:, 0], cfg.normalization_active_db)
    assert 0 < a and b < len(raw)  # quiet edges, ranked against the active frames only
    np.testing.assert_allclose(normalize(raw, cfg), _heq_reference(raw, raw[a:b]), atol=1e-12)
    np.testing.assert_allclose(normalize(raw, FeatureConfig(rasta=0.0)), _heq_reference(raw, raw), atol=1e-12)


# -- streaming == batch ---------------------------------------------------------------------
def _stream(y: np.ndarray, cfg: FeatureConfig, chunk: int) -> tuple[np.ndarray, list[int]]:
    fs = FeatureStream(cfg)
    parts = [fs.push(y[i:i + chunk]) for i in range(0, len(y), chunk)]
    parts.append(fs.flush())
    for p in parts:
        assert p.ndim == 2 and p.shape[1] == cfg.n_features
    return np.vstack(parts), [len(p) for p in parts]


_CONFIGS = {"default": FeatureConfig(), "order0": FeatureConfig(order=0), "order1": FeatureConfig(order=1),
            "delta3": FeatureConfig(delta_n=3), "nopreemph": FeatureConfig(normalization="none", preemph=0.0)}
_STREAM_CASES = [("default", 1)] + [(name, chunk) for name in _CONFIGS for chunk in (160, 1000, 4096, 399, 401)]


@pytest.mark.parametrize("cfg_name, chunk", _STREAM_CASES)
def test_stream_equals_extract_real_file(real_signal, cfg_name, chunk):
    cfg = _CONFIGS[cfg_name]
    ref = raw_features(real_signal, cfg)
    got, sizes = _stream(real_signal, cfg, chunk)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    if chunk < len(real_signal) // 4:
        assert sum(sizes[:-1]) > 0, "frames must come out before flush()"


@pytest.mark.parametrize("chunk", [1, 160, 1000, 4096])
def test_stream_equals_extract_synthetic(chunk):
    y = noisy_tone(7777)
    ref = raw_features(y)
    got, _ = _stream(y, FeatureConfig(), chunk)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_stream_random_chunk_sizes_and_lookahead():
    cfg = FeatureConfig()
    y = noisy_tone(12345)
    ref = raw_features(y, cfg)
    fs = FeatureStream(cfg)
    assert fs.sr == 16000 and fs.lookahead_frames == 4
    out, i = [], 0
    while i < len(y):
        n = int(RNG.integers(0, 900))  # zero-length chunks included
        out.append(fs.push(y[i:i + n]))
        i += n
        # never more frames out than the samples so far allow, minus the look-ahead
        assert fs.n_frames_out <= max(0, n_frames_for(min(i, len(y)), cfg) - fs.lookahead_frames)
    out.append(fs.flush())
    np.testing.assert_allclose(np.vstack(out), ref, atol=1e-9)


def test_stream_reset_and_reuse(real_signal):
    cfg = FeatureConfig()
    fs = FeatureStream(cfg)
    fs.push(noisy_tone(5000))
    fs.reset()
    a = np.vstack([fs.push(real_signal), fs.flush()])
    # flush() resets too: the same object gives the same frames again
    b = np.vstack([fs.push(real_signal), fs.flush()])
    ref = raw_features(real_signal, cfg)
    np.testing.assert_allclose(a, ref, atol=1e-9)
    np.testing.assert_allclose(b, ref, atol=1e-9)


def test_stream_rejects_2d_chunk():
    with pytest.raises(ParameterError):
        FeatureStream().push(np.zeros((160, 2)))


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"sr": 0}, {"sr": -16000}, {"hop_s": 0.0}, {"hop_s": 0.03}, {"hop_s": -0.01}, {"order": 3}, {"order": -1},
    {"delta_n": 0}, {"normalization": "x"}, {"normalization": "MV"}, {"n_mfcc": 0}, {"n_mfcc": 27}, {"n_fft": 256},
    {"warp": 0.5}, {"warp": 1.5}, {"window": "hann"}, {"window": ""},
])
def test_config_validation(kwargs):
    with pytest.raises(ParameterError):
        FeatureConfig(**kwargs)


def test_config_valid_edge_cases():
    assert FeatureConfig(order=0, delta_n=0).n_features == 13  # no deltas, no delta window needed
    assert FeatureConfig(n_mfcc=26).n_features == 78
    assert FeatureConfig(hop_s=0.025).hop_samples == 400


def test_config_dict_round_trip():
    cfg = FeatureConfig(sr=8000, n_fft=256, n_mfcc=12, order=1, normalization="m", low_hz=100.0, high_hz=3800.0)
    d = cfg.to_dict()
    assert d["sr"] == 8000 and d["normalization"] == "m"
    import json

    back = FeatureConfig.from_dict(json.loads(json.dumps(d)))
    assert back == cfg
    assert FeatureConfig.from_dict(FeatureConfig().to_dict()) == FeatureConfig()


def test_config_from_dict_rejects_unknown_and_bad_values():
    d = FeatureConfig().to_dict()
    with pytest.raises(ParameterError, match="bogus"):
        FeatureConfig.from_dict({**d, "bogus": 1})
    with pytest.raises(ParameterError):
        FeatureConfig.from_dict({**d, "order": 5})


def test_config_without_window_is_a_rectangular_one():
    # model files written before the window setting existed were made with a rectangular window
    d = FeatureConfig().to_dict()
    del d["window"]
    assert FeatureConfig.from_dict(d).window == "rect" == FeatureConfig().window


def test_window_changes_features_but_not_their_shape(real_signal):
    ham = raw_features(real_signal, FeatureConfig(window="hamming"))
    rect = raw_features(real_signal, FeatureConfig(window="rect"))
    assert ham.shape == rect.shape
    assert not np.allclose(ham, rect)
    # a tapered window has less energy than a flat one (c0 is the log frame energy)
    assert np.median(ham[:, 0] - rect[:, 0]) < 0


def test_config_is_immutable():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        FeatureConfig().sr = 8000


def test_settings_saved_before_the_rasta_filter_mean_none():
    d = FeatureConfig().to_dict()
    assert d["rasta"] == FeatureConfig().rasta > 0
    del d["rasta"]
    assert FeatureConfig.from_dict(d).rasta == 0.0  # what those models were trained with
    with pytest.raises(ParameterError):
        FeatureConfig(rasta=1.0)
