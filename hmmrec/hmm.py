"""One word model: a left-to-right HMM with diagonal Gaussian-mixture emissions.

Topology: state ``i`` may stay, move to ``i+1`` or (with ``skip=True``) jump to ``i+2``;
a path starts in state 0 and must end in the last state. Zeros of the transition
matrix stay zero through training, because Baum-Welch only ever re-estimates
transitions that have non-zero expected counts.

Training is Baum-Welch run on many sequences of a word at once: the frames of a batch of
sequences are stacked so that emissions are one matrix product and forward-backward one
compiled pass (:mod:`hmmrec._kernels`). Batches hold at most ``E_STEP_FRAMES`` frames and
their statistics are summed (:func:`expectations`), so the memory of the E-step does
not grow with the data. hmmlearn computes the same quantities one
sequence at a time; ``tests/test_hmm.py`` checks our likelihoods against its, and
``benchmarks/train_speed.py`` measures the difference (see ``benchmarks/RESULTS.md``).

Initialisation is by uniform segmentation (each sequence cut into equal parts, one per
state), and mixtures grow by splitting the heaviest components (HTK's "mixing up"),
doubling at each stage, so that every stage starts from a trained model. Variances are
floored at a fraction of the global variance of the training frames.

Scoring many models at once is :mod:`hmmrec.bank`; discriminative training is
:mod:`hmmrec.discriminative`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DataError, ParameterError

__all__ = ["HMMParams", "WordHMM", "viterbi", "viterbi_wrapped", "gaussian_weight_matrix", "design_matrix",
           "StackedFrames", "component_loglik", "mixture_posteriors", "gaussian_stats", "forward_backward",
           "Expectations", "expectations", "sequence_batches", "E_STEP_FRAMES"]

_LOG2PI = np.log(2.0 * np.pi)
_TINY = 1e-300
_MIN_WEIGHT = 1e-5
_SPLIT_OFFSET = 0.2  # in standard deviations, for mixture splitting
_SELF_LOOP_INIT = 0.6
# a state gets at most one Gaussian per this many training frames (see WordHMM)
MIN_FRAMES_PER_GAUSSIAN = 20
# frames stacked in one batch of the E-step (a word with more is done batch by batch,
# its statistics summed), so that training memory does not grow with a word's data
E_STEP_FRAMES = 1 << 16


@dataclass
class HMMParams:
    """Parameters of one left-to-right GMM-HMM.

    Attributes
    ----------
    transmat : np.ndarray, shape (n_states, n_states)
    weights : np.ndarray, shape (n_states, n_mix)
    means, variances : np.ndarray, shape (n_states, n_mix, n_features)
    """

    transmat: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    log_likelihood_history: list = field(default_factory=list)

    @property
    def n_states(self) -> int:
        return self.means.shape[0]

    @property
    def n_mix(self) -> int:
        return self.means.shape[1]

    @property
    def n_features(self) -> int:
        return self.means.shape[2]

    def check(self, name="model") -> None:
        """Raise if any parameter is non-finite or inconsistent."""
        for key in ("transmat", "weights", "means", "variances"):
            if not np.all(np.isfinite(getattr(self, key))):
                raise DataError(f"{name}: non-finite values in {key}")
        if np.any(self.variances <= 0):
            raise DataError(f"{name}: non-positive variances")


def _band_transmat(n_states: int, skip: bool) -> np.ndarray:
    """Initial left-to-right transition matrix."""
    a = np.zeros((n_states, n_states))
    for i in range(n_states):
        if i == n_states - 1:
            a[i, i] = 1.0
            continue
        nxt = [i + 1] + ([i + 2] if skip and i + 2 < n_states else [])
        a[i, i] = _SELF_LOOP_INIT
        for j in nxt:
            a[i, j] = (1.0 - _SELF_LOOP_INIT) / len(nxt)
    return a


def gaussian_weight_matrix(means: np.ndarray, variances: np.ndarray, log_weights: np.ndarray):
    """Matrix form of diagonal Gaussian log-densities.

    With ``F = [x**2, x, 1]`` for a frame ``x``, ``F @ W`` gives, for every component,
    ``log w + log N(x; mean, var)``. ``means``/``variances`` are (C, D), ``log_weights`` (C,).
    """
    inv = 1.0 / variances
    const = -0.5 * (means.shape[1] * _LOG2PI + np.log(variances).sum(1) + (means**2 * inv).sum(1))
    return np.vstack([-0.5 * inv.T, (means * inv).T, (const + log_weights)[None, :]])


def design_matrix(x: np.ndarray) -> np.ndarray:
    return np.hstack([x * x, x, np.ones((len(x), 1))])


class StackedFrames:
    """The frames of some sequences stacked into one array (``offsets``: where each begins)."""

    def __init__(self, seqs: list[np.ndarray]):
        self.lengths = np.array([len(s) for s in seqs])
        self.frames = np.vstack(seqs)
        self.design = design_matrix(self.frames)
        self.squares = self.frames * self.frames
        self.offsets = np.r_[0, np.cumsum(self.lengths)].astype(np.int64)


def component_loglik(batch_design: np.ndarray, p: HMMParams) -> np.ndarray:
    """(F, S, M) log of weight * density, for stacked frames."""
    s, m, d = p.means.shape
    w = gaussian_weight_matrix(p.means.reshape(s * m, d), p.variances.reshape(s * m, d),
                       np.log(np.maximum(p.weights.reshape(-1), _TINY)))
    return (batch_design @ w).reshape(-1, s, m)


def mixture_posteriors(comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """State log-likelihoods (F, S) and each component's share of its state (F, S, M).

    ``comp`` (F, S, M) holds log(weight * density) and is overwritten. One vectorised
    ``exp`` serves both results; relative to each state's best component nothing can
    underflow to an empty state.
    """
    # (reductions over a short last axis are slow in NumPy: loop over the components)
    top = comp[:, :, 0].copy()
    for k in range(1, comp.shape[2]):
        np.maximum(top, comp[:, :, k], out=top)
    np.subtract(comp, top[:, :, None], out=comp)
    with np.errstate(under="ignore"):
        np.exp(comp, out=comp)
    total = comp[:, :, 0].copy()
    for k in range(1, comp.shape[2]):
        total += comp[:, :, k]
    comp /= total[:, :, None]
    return top + np.log(total), comp


def gaussian_stats(batch: StackedFrames, within: np.ndarray, gamma: np.ndarray):
    """Occupancy, first and second moments of every Gaussian, shapes (S*M,), (S*M, D), (S*M, D).

    ``within`` (F, S, M): each component's share of its state (overwritten);
    ``gamma`` (F, S): state posteriors of the stacked frames.
    """
    f, s, m = within.shape
    within *= gamma[:, :, None]  # posterior of every (state, component) per frame
    resp = within.reshape(f, s * m)
    return resp.sum(0), resp.T @ batch.frames, resp.T @ batch.squares


def forward_backward(batch: StackedFrames, log_b: np.ndarray, transmat: np.ndarray):
    """Forward-backward over all sequences of a batch (compiled).

    ``log_b`` is (F, S) state log-likelihoods of the stacked frames. Returns the state
    posteriors (F, S), the expected transition counts (S, S) and the log-likelihood of
    each sequence (N,), ``-inf`` (and zero posteriors) where a sequence cannot reach the
    last state. Sequences run on scaled probabilities, and again in logs should those
    under- or overflow, so no state spread, however extreme, can underflow.
    """
    from ._kernels import forward_backward as _compiled_fb

    s = transmat.shape[0]
    ptr, idx, logp = [0], [], []
    with np.errstate(divide="ignore"):
        log_a = np.log(transmat)
    for j in range(s):
        src = np.flatnonzero(transmat[:, j] > 0)
        idx.extend(src.tolist())
        logp.extend(log_a[src, j].tolist())
        ptr.append(len(idx))
    return _compiled_fb(np.ascontiguousarray(log_b, dtype=np.float64), batch.offsets,
                            np.array(ptr, dtype=np.int64), np.array(idx, dtype=np.int64),
                            np.array(logp, dtype=np.float64))


def sequence_batches(lengths, max_frames: int | None = None) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` ranges of sequences holding at most ``max_frames``
    (default ``E_STEP_FRAMES``) frames each, a longer sequence alone. The cut depends
    only on the lengths."""
    max_frames = E_STEP_FRAMES if max_frames is None else max_frames
    out, start, total = [], 0, 0
    for i, n in enumerate(lengths):
        if total and total + n > max_frames:
            out.append((start, i))
            start, total = i, 0
        total += int(n)
    if len(lengths):
        out.append((start, len(lengths)))
    return out


@dataclass
class Expectations:
    """Summed E-step statistics of sequences under a model.

    ``occ`` (S*M,), ``sum_x`` and ``sum_xx`` (S*M, D): posterior occupancy and first and
    second moments of every Gaussian; ``xi`` (S, S): expected transition counts;
    ``loglik`` (N,): each sequence's log-likelihood (``-inf`` if it cannot be aligned).
    """

    occ: np.ndarray
    sum_x: np.ndarray
    sum_xx: np.ndarray
    xi: np.ndarray
    loglik: np.ndarray


def expectations(p: HMMParams, seqs: list[np.ndarray], weights=None, max_frames: int | None = None) -> Expectations:
    """Forward-backward statistics of ``seqs`` under ``p``, batch by batch.

    Each sequence counts ``weights[i]`` times (default once) in the Gaussian
    statistics; ``xi`` and ``loglik`` are unweighted. Batches are cut by
    :func:`sequence_batches`, so the same sequences always give the same sums.
    """
    s, m, d = p.means.shape
    occ, sum_x, sum_xx = np.zeros(s * m), np.zeros((s * m, d)), np.zeros((s * m, d))
    xi, loglik = np.zeros((s, s)), np.full(len(seqs), -np.inf)
    for a, b in sequence_batches([len(x) for x in seqs], max_frames):
        batch = StackedFrames(seqs[a:b])
        state_ll, within = mixture_posteriors(component_loglik(batch.design, p))
        gamma, xi_b, loglik[a:b] = forward_backward(batch, state_ll, p.transmat)
        del state_ll
        if weights is not None:
            gamma *= np.repeat(np.asarray(weights[a:b], dtype=np.float64), batch.lengths)[:, None]
        o, sx, sxx = gaussian_stats(batch, within, gamma)
        occ += o
        sum_x += sx
        sum_xx += sxx
        xi += xi_b
    return Expectations(occ, sum_x, sum_xx, xi, loglik)


class WordHMM:
    """A left-to-right GMM-HMM for one word.

    Parameters
    ----------
    n_states : int
    n_mix : int
        Gaussians per state, at most: a state gets no more than one per
        ``MIN_FRAMES_PER_GAUSSIAN`` training frames on average, so that the capacity of
        a word model grows with its data (a few examples make a model of few Gaussians
        instead of many that each fit a frame or two).
    skip : bool
        Allow jumps over one state (lets sequences shorter than ``n_states`` fit).
    n_iter : int
        Baum-Welch iterations per mixture stage.
    tol : float
        Stop a stage when the mean per-frame log-likelihood improves by less.
    var_floor : float
        Variances are floored at this fraction of the global per-feature variance.

    After ``fit``, ``params_`` holds the model and ``stages_`` the model as it was at
    the end of every mixture stage (Gaussians per state -> :class:`HMMParams`).
    """

    def __init__(self, n_states=8, n_mix=2, skip=True, n_iter=8, tol=1e-3, var_floor=0.05):
        self.n_states = n_states
        self.n_mix = n_mix
        self.skip = skip
        self.n_iter = n_iter
        self.tol = tol
        self.var_floor = var_floor

    # -- training ---------------------------------------------------------------
    def _validate(self, seqs):
        if self.n_states < 1 or self.n_mix < 1 or self.n_iter < 0:
            raise ParameterError(f"n_states, n_mix must be >= 1 and n_iter >= 0, got {self.n_states}, {self.n_mix}, {self.n_iter}")
        if not seqs:
            raise DataError("no training sequences")
        d = seqs[0].shape[1]
        for s in seqs:
            if s.ndim != 2 or s.shape[1] != d:
                raise DataError(f"training sequences must all be (n_frames, {d}), got {s.shape}")
            if not np.all(np.isfinite(s)):
                raise DataError("training features contain NaN or infinite values")
        seqs = [s for s in seqs if len(s) > 0]
        if not seqs:
            raise DataError("all training sequences are empty (shorter than one analysis window)")
        return seqs

    def fit(self, seqs: list[np.ndarray]) -> "WordHMM":
        """Train on a list of (n_frames, n_features) arrays; returns self."""
        seqs = self._validate(seqs)
        min_len = min(len(s) for s in seqs)
        shortest_path = self.n_states // 2 + 1 if self.skip else self.n_states  # frames to reach the last state
        n_states = self.n_states
        if min_len < shortest_path:
            # too short for this many states: use fewer rather than fail or produce NaN
            n_states = max(1, min_len * 2 - 1 if self.skip else min_len)
        self.n_states_ = n_states
        n_frames = sum(len(x) for x in seqs)
        mean = sum(x.sum(0) for x in seqs) / n_frames
        var = sum(((x - mean) ** 2).sum(0) for x in seqs) / n_frames
        self.var_floor_ = np.maximum(var * self.var_floor, 1e-6)
        p = self._init_uniform(seqs, n_states)
        history = []
        p = self._em(seqs, p, history)
        self.stages_ = {p.n_mix: p}
        # Gaussians per state grow with the data: no more than one per MIN_FRAMES_PER_GAUSSIAN
        # frames a state gets on average (a word of a few examples gets few Gaussians)
        max_mix = max(1, min(self.n_mix, n_frames // (n_states * MIN_FRAMES_PER_GAUSSIAN)))
        while p.n_mix < max_mix:
            # double the mixtures at each stage (1, 2, 4, ...), as far as the data allows
            for _ in range(min(p.n_mix, max_mix - p.n_mix)):
                p = self._split(p)
            p = self._em(seqs, p, history)
            self.stages_[p.n_mix] = p
        p.log_likelihood_history = history
        p.check()
        self.params_ = p
        self.n_frames_ = n_frames
        self.n_sequences_ = len(seqs)
        return self

    def _init_uniform(self, seqs, n_states) -> HMMParams:
        d = seqs[0].shape[1]
        counts, sum_x, sum_xx = np.zeros(n_states), np.zeros((n_states, d)), np.zeros((n_states, d))
        for a, b in sequence_batches([len(x) for x in seqs]):
            seg = np.concatenate([np.minimum((np.arange(len(x)) * n_states) // len(x), n_states - 1) for x in seqs[a:b]])
            x = np.vstack(seqs[a:b])
            onehot = np.zeros((len(seg), n_states))
            onehot[np.arange(len(seg)), seg] = 1.0
            counts += onehot.sum(0)
            sum_x += onehot.T @ x
            sum_xx += onehot.T @ (x * x)
        counts = np.maximum(counts, 1)
        mean = sum_x / counts[:, None]
        var = np.maximum(sum_xx / counts[:, None] - mean**2, self.var_floor_)
        return HMMParams(_band_transmat(n_states, self.skip), np.ones((n_states, 1)),
                         mean[:, None, :], var[:, None, :])

    def _split(self, p: HMMParams) -> HMMParams:
        """Add one Gaussian per state by splitting its heaviest component."""
        k = np.argmax(p.weights, axis=1)
        rows = np.arange(p.n_states)
        mu, var, w = p.means[rows, k], p.variances[rows, k], p.weights[rows, k] / 2
        off = _SPLIT_OFFSET * np.sqrt(var)
        means = np.concatenate([p.means, (mu + off)[:, None]], axis=1)
        means[rows, k] = mu - off
        weights = np.concatenate([p.weights, w[:, None]], axis=1)
        weights[rows, k] = w
        variances = np.concatenate([p.variances, var[:, None]], axis=1)
        return HMMParams(p.transmat, weights, means, variances)

    def _em(self, seqs: list[np.ndarray], p: HMMParams, history: list) -> HMMParams:
        prev = -np.inf
        n_frames = np.array([len(x) for x in seqs])
        for _ in range(self.n_iter):
            stats = expectations(p, seqs)
            ok = np.isfinite(stats.loglik)
            if not ok.any():
                raise DataError("no training sequence can be aligned to the model (too short?)")
            mean_ll = stats.loglik[ok].sum() / n_frames[ok].sum()
            history.append(float(mean_ll))
            p = self._m_step(p, stats)
            if mean_ll - prev < self.tol:
                break
            prev = mean_ll
        return p

    def _m_step(self, p: HMMParams, stats: Expectations) -> HMMParams:
        s, m, d = p.means.shape
        occ = stats.occ
        safe = np.maximum(occ, _TINY)[:, None]
        means = stats.sum_x / safe
        var = stats.sum_xx / safe - means**2
        dead = occ < 1e-3
        old_means = p.means.reshape(s * m, d)
        old_var = p.variances.reshape(s * m, d)
        means[dead], var[dead] = old_means[dead], old_var[dead]
        var = np.maximum(var, self.var_floor_)
        occ = occ.reshape(s, m)
        weights = np.maximum(occ / np.maximum(occ.sum(1, keepdims=True), _TINY), _MIN_WEIGHT)
        weights /= weights.sum(1, keepdims=True)
        xi = stats.xi
        rows = xi.sum(1, keepdims=True)
        trans = np.where(rows > 0, xi / np.maximum(rows, _TINY), p.transmat)
        return HMMParams(trans, weights, means.reshape(s, m, d), var.reshape(s, m, d))

    # -- use ---------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            from .errors import NotFittedError

            raise NotFittedError("this WordHMM is not fitted yet; call fit() first")

    def state_loglik(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_states) log emission densities."""
        self._check_fitted()
        return mixture_posteriors(component_loglik(design_matrix(x), self.params_))[0]

    def score(self, x: np.ndarray) -> float:
        """Log-likelihood of one sequence (paths start in state 0, end in the last)."""
        from .bank import ModelBank

        return float(ModelBank([self.params_]).score(x)[0])

    def decode(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Viterbi path: (log-probability, state index per frame)."""
        self._check_fitted()
        return viterbi(self.state_loglik(x), self.params_.transmat)


def viterbi(log_b: np.ndarray, transmat: np.ndarray) -> tuple[float, np.ndarray]:
    """Best path through a left-to-right HMM that starts in state 0 and ends in the last."""
    t_len, s = log_b.shape
    if t_len == 0:
        return -np.inf, np.zeros(0, int)
    with np.errstate(divide="ignore"):
        log_a = np.log(transmat)
    delta = np.full(s, -np.inf)
    delta[0] = log_b[0, 0]
    back = np.zeros((t_len, s), dtype=np.int32)
    for t in range(1, t_len):
        cand = delta[:, None] + log_a
        back[t] = cand.argmax(0)
        delta = cand[back[t], np.arange(s)] + log_b[t]
    path = np.zeros(t_len, dtype=np.int32)
    path[-1] = s - 1
    for t in range(t_len - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return float(delta[s - 1]), path


def viterbi_wrapped(log_b: np.ndarray, transmat: np.ndarray) -> tuple[float, np.ndarray]:
    """Best path through a filler-wrapped model (:func:`wrap_with_filler`): it starts in
    state 0 or 1 and ends in one of the last two states."""
    t_len, s = log_b.shape
    if t_len == 0:
        return -np.inf, np.zeros(0, int)
    with np.errstate(divide="ignore"):
        log_a = np.log(transmat)
    delta = np.full(s, -np.inf)
    delta[:2] = log_b[0, :2]
    back = np.zeros((t_len, s), dtype=np.int32)
    for t in range(1, t_len):
        cand = delta[:, None] + log_a
        back[t] = cand.argmax(0)
        delta = cand[back[t], np.arange(s)] + log_b[t]
    path = np.zeros(t_len, dtype=np.int32)
    path[-1] = s - 1 if delta[s - 1] >= delta[s - 2] else s - 2
    for t in range(t_len - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return float(delta[path[-1]]), path
