"""hmmrec.hmm: training recovers the truth, topology stays left-to-right, likelihoods are right."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from hmmrec.errors import DataError, NotFittedError, ParameterError
from hmmrec.bank import ModelBank
from hmmrec.discriminative import extended_baum_welch, occupancy_stats
from hmmrec.hmm import HMMParams, StackedFrames, WordHMM, expectations, forward_backward, sequence_batches, viterbi

TRUE_MEANS = np.array([[-4.0, 2.0, 0.0], [0.0, -3.0, 3.0], [4.0, 2.0, -2.0]])
TRUE_STD = np.array([[0.5, 1.0, 0.7], [1.0, 0.5, 0.8], [0.6, 0.9, 1.2]])


def three_segment_sequences(n: int, seed: int = 0, min_len: int = 4, max_len: int = 15) -> list[np.ndarray]:
    """Sequences made of 3 segments, each drawn from its own diagonal Gaussian."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        lens = rng.integers(min_len, max_len, size=3)
        seqs.append(np.vstack([rng.normal(TRUE_MEANS[i], TRUE_STD[i], size=(lens[i], 3)) for i in range(3)]))
    return seqs


@pytest.fixture(scope="module")
def seqs():
    return three_segment_sequences(40)


def log_transmat(a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(a)


def ref_forward(log_b: np.ndarray, transmat: np.ndarray) -> np.ndarray:
    """Plain log-domain forward pass, start in state 0; returns log alpha of the last frame (all states)."""
    la = log_transmat(transmat)
    alpha = np.full(log_b.shape[1], -np.inf)
    alpha[0] = log_b[0, 0]
    for t in range(1, len(log_b)):
        alpha = logsumexp(alpha[:, None] + la, axis=0) + log_b[t]
    return alpha


def path_score(path, log_b, transmat) -> float:
    la = log_transmat(transmat)
    return float(log_b[0, path[0]] + sum(la[path[t - 1], path[t]] + log_b[t, path[t]] for t in range(1, len(path))))


def random_params(n_states: int, n_mix: int, n_features: int, seed: int, skip: bool = True) -> HMMParams:
    """A random valid left-to-right GMM-HMM whose last state is absorbing."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n_states, n_states))
    for i in range(n_states - 1):
        targets = [i, i + 1] + ([i + 2] if skip and i + 2 < n_states else [])
        a[i, targets] = rng.dirichlet(np.ones(len(targets)))
    a[-1, -1] = 1.0
    w = rng.dirichlet(np.ones(n_mix), size=n_states)
    means = rng.normal(0, 2, size=(n_states, n_mix, n_features))
    var = rng.uniform(0.3, 2.0, size=(n_states, n_mix, n_features))
    return HMMParams(a, w, means, var)


def hmmlearn_model(p: HMMParams):
    from hmmlearn.hmm import GMMHMM

    m = GMMHMM(n_components=p.n_states, n_mix=p.n_mix, covariance_type="diag", init_params="", params="")
    m.n_features = p.n_features
    m.startprob_ = np.eye(p.n_states)[0]
    m.transmat_ = p.transmat
    m.weights_ = p.weights
    m.means_ = p.means
    m.covars_ = p.variances
    return m


# -- training recovers the truth ---------------------------------------------------------------
def test_fit_recovers_segment_means(seqs):
    m = WordHMM(n_states=3, n_mix=1, skip=False, n_iter=20, var_floor=1e-3).fit(seqs)
    p = m.params_
    assert (p.n_states, p.n_mix, p.n_features) == (3, 1, 3)
    np.testing.assert_allclose(p.means[:, 0, :], TRUE_MEANS, atol=0.25)
    np.testing.assert_allclose(np.sqrt(p.variances[:, 0, :]), TRUE_STD, atol=0.2)
    # expected stay probability for segments of mean length ~9.5 frames is ~0.9
    assert np.all((np.diag(p.transmat)[:2] > 0.8) & (np.diag(p.transmat)[:2] < 0.95))
    assert m.n_sequences_ == 40 and m.n_frames_ == sum(len(s) for s in seqs)


def test_fit_with_mixtures_recovers_state_means(seqs):
    m = WordHMM(n_states=3, n_mix=2, skip=True, n_iter=10).fit(seqs)
    p = m.params_
    assert p.n_mix == 2
    np.testing.assert_allclose(p.weights.sum(1), 1.0)
    state_means = (p.weights[:, :, None] * p.means).sum(1)
    np.testing.assert_allclose(state_means, TRUE_MEANS, atol=0.3)


def test_more_states_than_segments_still_aligns_in_order(seqs):
    m = WordHMM(n_states=6, n_mix=1, skip=True).fit(seqs)
    # Viterbi path of a training sequence visits the true segments in order
    score, path = m.decode(seqs[0])
    assert path[0] == 0 and path[-1] == 5
    first_dim = m.params_.means[path, 0, 0]
    assert np.all(np.diff(first_dim[[0, len(path) // 2, -1]]) > 0)


def test_word_models_discriminate():
    a = WordHMM(n_states=3, n_mix=1).fit(three_segment_sequences(20, seed=1))
    rev = [s[::-1] for s in three_segment_sequences(20, seed=2)]
    b = WordHMM(n_states=3, n_mix=1).fit(rev)
    for s in three_segment_sequences(5, seed=3):
        assert a.score(s) > b.score(s)
        assert b.score(s[::-1]) > a.score(s[::-1])


# -- topology stays left-to-right ----------------------------------------------------------------
@pytest.mark.parametrize("n_states, n_mix, skip", [(3, 1, False), (5, 2, True), (8, 3, True), (4, 2, False)])
def test_transmat_stays_left_to_right(seqs, n_states, n_mix, skip):
    p = WordHMM(n_states=n_states, n_mix=n_mix, skip=skip, n_iter=6).fit(seqs).params_
    a = p.transmat
    assert a.shape == (n_states, n_states)
    max_jump = 2 if skip else 1
    i, j = np.indices(a.shape)
    assert np.all(a[j < i] == 0.0), "backward transitions must be exactly zero"
    assert np.all(a[j > i + max_jump] == 0.0), "jumps beyond the topology must be exactly zero"
    assert np.all(a >= 0)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-12)
    assert a[-1, -1] == 1.0
    assert np.all(np.diag(a, 1) > 0), "every state must still be able to move on"
    np.testing.assert_allclose(p.weights.sum(1), 1.0, atol=1e-12)
    assert np.all(p.variances > 0) and np.all(np.isfinite(p.means))


@pytest.mark.parametrize("n_mix, skip", [(1, False), (2, True), (3, True)])
def test_log_likelihood_non_decreasing_within_each_stage(seqs, n_mix, skip):
    n_iter = 10
    m = WordHMM(n_states=4, n_mix=n_mix, skip=skip, n_iter=n_iter, tol=-np.inf).fit(seqs)
    hist = np.array(m.params_.log_likelihood_history)
    assert len(hist) == n_iter * n_mix  # tol=-inf: every stage runs all iterations
    assert np.all(np.isfinite(hist))
    stages = hist.reshape(n_mix, n_iter)
    assert np.all(np.diff(stages, axis=1) >= -1e-6), stages
    assert stages[-1, -1] > stages[0, 0]  # training helped


def test_early_stop_on_tolerance(seqs):
    m = WordHMM(n_states=3, n_mix=1, n_iter=50, tol=1e-2).fit(seqs)
    hist = m.params_.log_likelihood_history
    assert 2 <= len(hist) < 50
    assert hist[-1] - hist[-2] < 1e-2


# -- degenerate data ----------------------------------------------------------------------------
def test_one_training_sequence(seqs):
    m = WordHMM(n_states=5, n_mix=2).fit([seqs[0]])
    p = m.params_
    assert p.n_states == 5
    for key in ("transmat", "weights", "means", "variances"):
        assert np.all(np.isfinite(getattr(p, key)))
    assert np.all(p.variances > 0)
    assert np.isfinite(m.score(seqs[0]))


@pytest.mark.parametrize("n_states, skip, length", [
    (8, True, 3), (8, True, 1), (8, True, 2), (9, True, 4), (7, True, 3), (6, False, 3), (5, False, 1),
    (16, True, 5), (3, True, 2),
])
def test_sequences_shorter_than_states_train_with_fewer_states(n_states, skip, length):
    rng = np.random.default_rng(length)
    short = [rng.normal(size=(length, 4)) for _ in range(6)]
    m = WordHMM(n_states=n_states, n_mix=2, skip=skip).fit(short)
    p = m.params_
    assert 1 <= p.n_states <= n_states
    shortest_path = n_states // 2 + 1 if skip else n_states  # frames needed to reach the last state
    assert p.n_states < n_states or length >= shortest_path
    assert m.n_states_ == p.n_states
    for key in ("transmat", "weights", "means", "variances"):
        assert np.all(np.isfinite(getattr(p, key)))
    # every training sequence can be aligned (start in state 0, end in the last)
    for s in short:
        assert np.isfinite(m.score(s))


@pytest.mark.parametrize("n_states, length", [(8, 4), (2, 1), (16, 8)])
def test_even_states_with_skip_and_half_length_sequences(n_states, length):
    rng = np.random.default_rng(0)
    short = [rng.normal(size=(length, 4)) for _ in range(6)]
    m = WordHMM(n_states=n_states, n_mix=1, skip=True).fit(short)
    assert all(np.isfinite(m.score(s)) for s in short)


@pytest.mark.parametrize("n_states, short_len", [
    (9, 5),  # 9 states need 5 frames with skips
    (7, 4),
    (8, 4),  # 8 states need 5 frames with skips: 4 frames must shrink the model
])
def test_short_sequence_among_long_ones_not_silently_dropped(n_states, short_len):
    """A short sequence among long ones must still count (be alignable) after training."""
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(20, 3)) for _ in range(5)] + [rng.normal(size=(short_len, 3))]
    m = WordHMM(n_states=n_states, n_mix=1, skip=True).fit(seqs)
    assert np.isfinite(m.score(seqs[-1]))


def test_constant_features_give_finite_floored_variances():
    seqs = [np.full((12, 5), 3.0) for _ in range(4)]
    m = WordHMM(n_states=3, n_mix=2).fit(seqs)
    p = m.params_
    assert np.all(np.isfinite(p.means)) and np.all(np.isfinite(p.variances))
    assert np.all(p.variances > 0)
    np.testing.assert_allclose(p.means, 3.0)
    assert np.isfinite(m.score(seqs[0]))


def test_constant_dimension_among_varying_ones(seqs):
    with_const = [np.hstack([s, np.zeros((len(s), 1))]) for s in seqs]
    m = WordHMM(n_states=3, n_mix=1).fit(with_const)
    assert np.all(m.params_.variances[:, :, -1] > 0)
    assert np.all(m.params_.variances[:, :, :-1] >= m.var_floor_[:-1] - 1e-12)


def test_variance_floor_is_fraction_of_global_variance(seqs):
    m = WordHMM(n_states=3, n_mix=1, var_floor=0.5).fit(seqs)
    frames = np.vstack(seqs)
    np.testing.assert_allclose(m.var_floor_, 0.5 * frames.var(axis=0))
    assert np.all(m.params_.variances >= m.var_floor_ - 1e-12)


def test_empty_list_raises_data_error():
    with pytest.raises(DataError):
        WordHMM().fit([])


def test_all_empty_sequences_raise_data_error():
    with pytest.raises(DataError):
        WordHMM().fit([np.zeros((0, 3)), np.zeros((0, 3))])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises_data_error(seqs, bad):
    broken = [s.copy() for s in seqs[:5]]
    broken[2][3, 1] = bad
    with pytest.raises(DataError):
        WordHMM(n_states=3).fit(broken)


def test_mismatched_dimensions_raise_data_error(seqs):
    with pytest.raises(DataError):
        WordHMM(n_states=3).fit([seqs[0], seqs[1][:, :2]])


@pytest.mark.parametrize("kwargs", [{"n_states": 0}, {"n_mix": 0}, {"n_iter": -1}])
def test_bad_parameters_raise_parameter_error(seqs, kwargs):
    with pytest.raises(ParameterError):
        WordHMM(**kwargs).fit(seqs)


def test_unfitted_use_raises_not_fitted(seqs):
    with pytest.raises(NotFittedError):
        WordHMM().state_loglik(seqs[0])
    with pytest.raises(NotFittedError):
        WordHMM().decode(seqs[0])


def test_params_check_catches_bad_values():
    p = random_params(3, 1, 2, seed=0)
    p.check()
    bad = random_params(3, 1, 2, seed=0)
    bad.variances[0, 0, 0] = 0.0
    with pytest.raises(DataError):
        bad.check()
    bad = random_params(3, 1, 2, seed=0)
    bad.means[1, 0, 1] = np.nan
    with pytest.raises(DataError):
        bad.check()


# -- likelihoods against hmmlearn and a reference forward ---------------------------------------
@pytest.mark.parametrize("n_states, n_mix, n_features, seed", [(3, 1, 2, 0), (4, 3, 5, 1), (6, 2, 13, 2), (1, 2, 3, 3)])
def test_state_loglik_equals_hmmlearn(n_states, n_mix, n_features, seed):
    p = random_params(n_states, n_mix, n_features, seed)
    x = np.random.default_rng(seed + 100).normal(0, 2, size=(25, n_features))
    expected = hmmlearn_model(p)._compute_log_likelihood(x)
    w = WordHMM()
    w.params_ = p
    np.testing.assert_allclose(w.state_loglik(x), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ModelBank([p]).state_loglik(x)[:, 0, :], expected, rtol=0, atol=1e-6)


def test_trained_model_state_loglik_equals_hmmlearn(seqs):
    m = WordHMM(n_states=5, n_mix=3).fit(seqs)
    for x in seqs[:3]:
        expected = hmmlearn_model(m.params_)._compute_log_likelihood(x)
        np.testing.assert_allclose(m.state_loglik(x), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_states, n_mix, n_features, seed", [(3, 1, 2, 0), (4, 3, 5, 1), (6, 2, 13, 2), (1, 1, 3, 3),
                                                              (2, 2, 4, 4)])
def test_forward_equals_reference_ending_in_last_state(n_states, n_mix, n_features, seed):
    p = random_params(n_states, n_mix, n_features, seed)
    rng = np.random.default_rng(seed + 50)
    h = hmmlearn_model(p)
    for t_len in (1, 2, 7, 60):
        x = rng.normal(0, 2, size=(t_len, n_features))
        log_b = h._compute_log_likelihood(x)
        alpha = ref_forward(log_b, p.transmat)
        # the reference agrees with hmmlearn when summed over all end states ...
        assert logsumexp(alpha) == pytest.approx(h.score(x), abs=1e-6)
        # ... and ours is the part that ends in the last state
        ours = ModelBank([p]).score(x)[0]
        if np.isfinite(alpha[-1]):
            assert ours == pytest.approx(alpha[-1], abs=1e-6)
        else:
            assert ours == -np.inf
        assert ours <= h.score(x) + 1e-9


def test_model_bank_of_different_sizes_equals_single_models(seqs):
    models = [WordHMM(n_states=s, n_mix=k).fit(seqs[i::3]).params_ for i, (s, k) in enumerate([(3, 1), (7, 2), (5, 3)])]
    models.append(random_params(2, 2, 3, seed=9))
    bank = ModelBank(models)
    for x in seqs[:4]:
        scores = bank.score(x)
        ll = bank.state_loglik(x)
        assert ll.shape == (len(x), 4, 7)
        for k, p in enumerate(models):
            assert scores[k] == pytest.approx(ref_forward(hmmlearn_model(p)._compute_log_likelihood(x), p.transmat)[-1],
                                              abs=1e-6)
            np.testing.assert_array_equal(ll[:, k, p.n_states:], -np.inf)


def test_bank_reusing_an_older_bank_equals_a_new_one(monkeypatch):
    """Adapting moves some means; the bank built from the last one scores as a new bank
    would, recomputing only the moved states (shared and padded states included)."""
    import hmmrec.bank as bank_module
    from hmmrec.bank import wrap_with_filler

    filler = random_params(1, 3, 4, seed=1)
    words = [random_params(5, 3, 4, seed=s) for s in (2, 3, 4)]
    words[1].weights[2] = [0.6, 0.0, 0.4]  # a padded mixture: its zero-weight component is left out
    wrapped = [wrap_with_filler(w, filler) for w in words]

    def bank_args(ws):
        return [w[0] for w in ws] + [filler], dict(starts=[w[1] for w in ws] + [np.ones(1)],
                                                   finals=[w[2] for w in ws] + [np.ones(1, bool)])

    params, kw = bank_args(wrapped)
    old = ModelBank(params, **kw)
    x = np.random.default_rng(0).normal(0, 2, size=(30, 4))
    moved = HMMParams(words[1].transmat, words[1].weights, words[1].means.copy(), words[1].variances.copy())
    moved.means[2] += 0.5
    moved.variances[3] *= 1.5
    calls = []
    real = bank_module.gaussian_weight_matrix
    monkeypatch.setattr(bank_module, "gaussian_weight_matrix", lambda m, v, w: calls.append(len(m)) or real(m, v, w))
    new_params, new_kw = bank_args([wrapped[0], wrap_with_filler(moved, filler), wrapped[2]])
    reused = ModelBank.reusing(old, new_params, **new_kw)
    assert calls == [2, 3]  # the two moved states' components, nothing else
    fresh = ModelBank(new_params, **new_kw)
    assert reused.n_emissions == fresh.n_emissions == old.n_emissions
    np.testing.assert_array_equal(reused.state_loglik(x), fresh.state_loglik(x))
    np.testing.assert_array_equal(reused.score(x), fresh.score(x))
    assert reused.score(x)[1] != old.score(x)[1]
    np.testing.assert_array_equal(old.score(x), ModelBank(params, **kw).score(x))  # the old bank is untouched

    # other starts are taken anew; what it cannot reuse is built anew; all score right
    other_filler = random_params(1, 3, 4, seed=7)  # a state shared by every model moves
    cases = [bank_args([wrap_with_filler(w, other_filler) for w in words]),
             (params, dict(kw, starts=[np.eye(7)[0]] * 3 + [np.ones(1)])),  # other start probabilities
             (params[:3], dict(starts=kw["starts"][:3], finals=kw["finals"][:3]))]  # fewer models
    reweighted = HMMParams(words[0].transmat, words[0].weights[:, ::-1].copy(), words[0].means, words[0].variances)
    cases.append(bank_args([wrap_with_filler(reweighted, filler)] + wrapped[1:]))
    for p, k in cases:
        np.testing.assert_array_equal(ModelBank.reusing(old, p, **k).score(x), ModelBank(p, **k).score(x))
    assert ModelBank.reusing(None, params, **kw).n_emissions == old.n_emissions


def test_bank_scores_minus_inf_when_last_state_unreachable():
    p = random_params(5, 1, 2, seed=3, skip=False)
    x = np.zeros((3, 2))  # 3 frames cannot reach state 4 without skips
    assert ModelBank([p]).score(x)[0] == -np.inf
    assert ModelBank([p]).score(np.zeros((0, 2)))[0] == -np.inf


def test_batched_forward_backward_matches_single_sequences(seqs):
    """Padding sequences of different lengths into one batch changes nothing."""
    m = WordHMM(n_states=4, n_mix=2).fit(seqs)
    p = m.params_
    batch_seqs = [seqs[0], seqs[1][:5], seqs[2], seqs[3][:9]]
    lens = [len(s) for s in batch_seqs]
    log_b = np.vstack([m.state_loglik(s) for s in batch_seqs])
    gamma, xi, loglik = forward_backward(StackedFrames(batch_seqs), log_b, p.transmat)
    assert gamma.shape == (sum(lens), 4)
    np.testing.assert_allclose(gamma.sum(1), 1.0, atol=1e-9)
    assert xi.sum() == pytest.approx(sum(lens) - len(lens), rel=1e-9)
    i, j = np.indices(xi.shape)
    assert np.all(xi[(j < i) | (j > i + 2)] == 0)
    start = 0
    for s, ll in zip(batch_seqs, loglik):
        assert ll == pytest.approx(m.score(s), abs=1e-6)
        g1, xi1, ll1 = forward_backward(StackedFrames([s]), m.state_loglik(s), p.transmat)
        np.testing.assert_allclose(gamma[start:start + len(s)], g1, atol=1e-9)
        assert g1[0, 0] == pytest.approx(1.0) and g1[-1, -1] == pytest.approx(1.0)
        start += len(s)


def test_sequence_batches_cover_every_sequence_once_within_the_budget():
    lengths = [5, 30, 7, 7, 100, 1, 2, 60]
    batches = sequence_batches(lengths, max_frames=40)
    assert [i for a, b in batches for i in range(a, b)] == list(range(len(lengths)))
    for a, b in batches:
        assert sum(lengths[a:b]) <= 40 or b - a == 1  # a longer sequence goes alone
    assert batches == [(0, 2), (2, 4), (4, 5), (5, 7), (7, 8)]
    assert sequence_batches([]) == []


def test_statistics_summed_over_batches_equal_one_batch(seqs):
    """The E-step done batch by batch (bounded memory) gives the statistics of one batch."""
    p = WordHMM(n_states=4, n_mix=2).fit(seqs).params_
    w = np.linspace(0.5, 2.0, len(seqs))
    whole = expectations(p, seqs, w, max_frames=10**9)
    parts = expectations(p, seqs, w, max_frames=50)
    assert len(sequence_batches([len(x) for x in seqs], 50)) > 10
    for name in ("occ", "sum_x", "sum_xx", "xi", "loglik"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-10, atol=1e-8)
    assert whole.occ.sum() == pytest.approx(sum(wi * len(x) for wi, x in zip(w, seqs)))


def test_training_in_small_batches_gives_the_same_model(seqs, monkeypatch):
    import hmmrec.hmm as hmm

    one = WordHMM(n_states=3, n_mix=2).fit(seqs).params_
    monkeypatch.setattr(hmm, "E_STEP_FRAMES", 40)
    many = WordHMM(n_states=3, n_mix=2).fit(seqs).params_
    np.testing.assert_allclose(many.means, one.means, atol=1e-8)
    np.testing.assert_allclose(many.transmat, one.transmat, atol=1e-8)


# -- Viterbi ----------------------------------------------------------------------------------------
def all_paths(t_len, n_states, max_jump):
    """Every left-to-right path from state 0 to the last state (tiny models only)."""
    for steps in itertools.product(range(max_jump + 1), repeat=t_len - 1):
        path = np.concatenate([[0], np.cumsum(steps)])
        if path[-1] == n_states - 1:
            yield path


@pytest.mark.parametrize("skip", [False, True])
def test_viterbi_is_the_best_path(skip):
    p = random_params(4, 2, 3, seed=5, skip=skip)
    x = np.random.default_rng(5).normal(0, 2, size=(7, 3))
    log_b = ModelBank([p]).state_loglik(x)[:, 0, :]
    score, path = viterbi(log_b, p.transmat)
    best = max(path_score(q, log_b, p.transmat) for q in all_paths(7, 4, 2 if skip else 1))
    assert score == pytest.approx(best, abs=1e-9)
    assert path_score(path, log_b, p.transmat) == pytest.approx(score, abs=1e-9)


def test_viterbi_path_properties_and_bound(seqs):
    m = WordHMM(n_states=6, n_mix=2, skip=True).fit(seqs)
    last = m.params_.n_states - 1
    for x in seqs[:10]:
        score, path = m.decode(x)
        assert path.shape == (len(x),)
        assert path[0] == 0 and path[-1] == last
        steps = np.diff(path)
        assert np.all(steps >= 0) and np.all(steps <= 2)
        assert score <= m.score(x) + 1e-9
        assert score == pytest.approx(path_score(path, m.state_loglik(x), m.params_.transmat), abs=1e-6)


def test_viterbi_empty_input():
    p = random_params(3, 1, 2, seed=0)
    score, path = viterbi(np.zeros((0, 3)), p.transmat)
    assert score == -np.inf and len(path) == 0


# -- numerical range ----------------------------------------------------------------------------------
def _underflow_case():
    """State 1 is reachable but ~800 nats worse than state 2 on frame 1 (which it cannot yet reach)."""
    p = HMMParams(transmat=np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]), weights=np.ones((3, 1)),
                  means=np.array([0.0, 0.0, 40.0]).reshape(3, 1, 1), variances=np.ones((3, 1, 1)))
    x = np.array([[0.0], [40.0], [40.0]])
    return p, x


def test_forward_does_not_underflow():
    """Regression: a linear-domain forward scaled by the max over all states gave -inf here."""
    p, x = _underflow_case()
    log_b = ModelBank([p]).state_loglik(x)[:, 0, :]
    v_score, _ = viterbi(log_b, p.transmat)
    assert np.isfinite(v_score)
    ours = ModelBank([p]).score(x)[0]
    assert ours == pytest.approx(ref_forward(log_b, p.transmat)[-1], abs=1e-6)
    assert ours >= v_score


def test_training_forward_backward_does_not_underflow():
    p, x = _underflow_case()
    log_b = ModelBank([p]).state_loglik(x)[:, 0, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gamma, xi, loglik = forward_backward(StackedFrames([x]), log_b, p.transmat)
    assert loglik[0] == pytest.approx(ref_forward(log_b, p.transmat)[-1], abs=1e-6)
    np.testing.assert_allclose(gamma.sum(1), 1.0)


def test_one_underflowing_sequence_does_not_poison_the_batch():
    p, x = _underflow_case()
    good = np.array([[0.0], [0.1], [-0.2], [39.0], [40.5]])
    seqs = [good, x]
    log_b = np.vstack([ModelBank([p]).state_loglik(s)[:, 0, :] for s in seqs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gamma, xi, loglik = forward_backward(StackedFrames(seqs), log_b, p.transmat)
    assert np.isfinite(loglik[0])
    assert np.all(np.isfinite(xi)), xi
    assert np.all(np.isfinite(gamma))


def test_forward_of_long_sequence_is_exact():
    """Scaling keeps a long sequence (log-likelihood far below exp's range) finite and exact."""
    p = random_params(4, 2, 3, seed=11)
    x = np.random.default_rng(2).normal(0, 1, size=(3000, 3))
    log_b = ModelBank([p]).state_loglik(x)[:, 0, :]
    ours = ModelBank([p]).score(x)[0]
    ref = ref_forward(log_b, p.transmat)[-1]
    assert ref < -5000
    assert ours == pytest.approx(ref, rel=1e-9)


def test_forward_with_peaked_densities_is_exact():
    """Regression: state masses more than e^745 apart must not be lost (needs a log-domain recursion)."""
    p = random_params(4, 2, 3, seed=11)
    p.variances[:] = 1e-3
    x = np.random.default_rng(2).normal(0, 1, size=(300, 3))
    log_b = ModelBank([p]).state_loglik(x)[:, 0, :]
    ref = ref_forward(log_b, p.transmat)[-1]
    assert np.isfinite(ref)
    assert ModelBank([p]).score(x)[0] == pytest.approx(ref, rel=1e-9)


# -- the scaled recursions against the log-domain ones -------------------------------------------
@pytest.mark.parametrize("spread", [1.0, 50.0, 800.0])
def test_scaled_forward_equals_log_domain(spread):
    """Scaled-probability recursions give the log-domain results, also where they must fall back."""
    from hmmrec._kernels import _band_forward_log, _fb_log, band_forward, forward_backward
    from hmmrec.hmm import _band_transmat

    rng = np.random.default_rng(int(spread))
    for _ in range(20):
        s = int(rng.integers(2, 10))
        a = _band_transmat(s, True) * rng.uniform(0.5, 1.5, (s, s))
        a /= a.sum(1, keepdims=True)
        lengths = rng.integers(s, 50, size=4)
        offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        log_b = rng.normal(0, spread, (offsets[-1], s))
        with np.errstate(divide="ignore"):
            log_a = np.log(a)
        ptr, idx, logp = [0], [], []
        for j in range(s):
            src = np.flatnonzero(a[:, j] > 0)
            idx += src.tolist()
            logp += log_a[src, j].tolist()
            ptr.append(len(idx))
        ptr, idx, logp = np.array(ptr, np.int64), np.array(idx, np.int64), np.array(logp)
        gamma, xi, ll = forward_backward(log_b, offsets, ptr, idx, logp)
        g2, xi2 = np.zeros_like(gamma), np.zeros_like(xi)
        work = np.empty_like(gamma), np.empty_like(gamma)
        ll2 = [_fb_log(log_b, offsets[n], offsets[n + 1], ptr, idx, logp, *work, g2, xi2) for n in range(4)]
        np.testing.assert_allclose(ll, ll2, rtol=1e-10)
        np.testing.assert_allclose(gamma, g2, atol=1e-8)
        np.testing.assert_allclose(xi, xi2, rtol=1e-8, atol=1e-8)
        # the banded scorer of ModelBank, on the same sequences
        p = HMMParams(a, np.ones((s, 1)), np.zeros((s, 1, 1)), np.ones((s, 1, 1)))
        bank = ModelBank([p])
        for n in range(4):
            lb = np.ascontiguousarray(log_b[offsets[n]:offsets[n + 1], None, :])
            fast = band_forward(lb, bank._log_start, bank._log_stay, bank._log_next, bank._log_skip, bank._final)
            slow = _band_forward_log(lb, 0, bank._log_start, bank._log_stay, bank._log_next, bank._log_skip,
                                     bank._final)
            assert fast[0] == pytest.approx(slow, rel=1e-10)
            assert fast[0] == pytest.approx(ll[n], rel=1e-10)  # same model, same frames


# -- discriminative training (extended Baum-Welch) ---------------------------------------------
def test_occupancy_stats_are_weighted_gaussian_moments(seqs):
    p = WordHMM(n_states=3, n_mix=2, n_iter=5).fit(seqs).params_
    occ, sx, sxx = occupancy_stats(p, seqs, np.ones(len(seqs)))
    frames = np.vstack(seqs)
    assert occ.sum() == pytest.approx(len(frames))
    np.testing.assert_allclose(sx.sum(0), frames.sum(0), rtol=1e-9)
    np.testing.assert_allclose(sxx.sum(0), (frames**2).sum(0), rtol=1e-9)
    w = np.r_[np.full(20, 2.0), np.zeros(len(seqs) - 20)]  # twice the first 20, none of the rest
    occ2, _, _ = occupancy_stats(p, seqs, w)
    occ20, _, _ = occupancy_stats(p, seqs[:20], np.ones(20))
    np.testing.assert_allclose(occ2, 2 * occ20, rtol=1e-9)
    zero = occupancy_stats(p, [], np.zeros(0))
    assert zero[0].shape == (6,) and not zero[0].any() and not zero[2].any()


def test_extended_baum_welch_without_rivals_or_errors_keeps_the_model(seqs):
    p = WordHMM(n_states=3, n_mix=2, n_iter=5).fit(seqs).params_
    none = occupancy_stats(p, [], np.zeros(0))
    q = extended_baum_welch(p, none, none, np.full(3, 1e-6))
    np.testing.assert_allclose(q.means, p.means)
    np.testing.assert_allclose(q.variances, p.variances)
    assert q.transmat is p.transmat and q.weights is p.weights


def test_extended_baum_welch_raises_the_posterior_of_the_right_word():
    """Two close words: one iteration of MMI on both raises the mean log posterior of the truth."""
    a = three_segment_sequences(30, seed=1)
    b = [s + np.array([0.2, -0.2, 0.15]) for s in three_segment_sequences(30, seed=2)]  # a near copy
    models = [WordHMM(n_states=3, n_mix=1).fit(x).params_ for x in (a, b)]
    data, truth = a + b, np.r_[np.zeros(30, int), np.ones(30, int)]

    def posteriors(ms):
        ll = np.array([ModelBank(ms).score(x) for x in data])
        return np.exp(ll - logsumexp(ll, axis=1, keepdims=True))

    before = posteriors(models)
    assert 0.5 < before[np.arange(60), truth].mean() < 0.99  # confusable, not hopeless
    new = []
    for k, p in enumerate(models):
        own, rivals = np.flatnonzero(truth == k), np.flatnonzero(truth != k)
        num = occupancy_stats(p, [data[i] for i in own], 1 - before[own, k])
        den = occupancy_stats(p, [data[i] for i in rivals], before[rivals, k])
        new.append(extended_baum_welch(p, num, den, np.full(3, 1e-3), tau=10.0))
    after = posteriors(new)
    assert np.log(after[np.arange(60), truth]).mean() > np.log(before[np.arange(60), truth]).mean() + 0.05
    assert (after.argmax(1) == truth).mean() > (before.argmax(1) == truth).mean()


def test_gaussians_grow_with_the_frames_a_state_gets():
    """A state gets at most one Gaussian per MIN_FRAMES_PER_GAUSSIAN frames: few examples, few Gaussians."""
    from hmmrec.hmm import MIN_FRAMES_PER_GAUSSIAN

    few = three_segment_sequences(2, seed=3, min_len=8, max_len=9)  # about 17 frames a state
    many = three_segment_sequences(200, seed=4)
    small = WordHMM(n_states=3, n_mix=8, n_iter=3).fit(few)
    assert small.params_.n_mix == max(1, sum(len(s) for s in few) // (3 * MIN_FRAMES_PER_GAUSSIAN)) == 1
    assert sorted(small.stages_) == [1]
    big = WordHMM(n_states=3, n_mix=8, n_iter=3).fit(many)
    assert big.params_.n_mix == 8 and sorted(big.stages_) == [1, 2, 4, 8]
    mid = three_segment_sequences(6, seed=5, min_len=10, max_len=11)  # 180-198 frames: 3 Gaussians a state
    assert WordHMM(n_states=3, n_mix=8, n_iter=3).fit(mid).params_.n_mix == sum(len(s) for s in mid) // 60 == 3
