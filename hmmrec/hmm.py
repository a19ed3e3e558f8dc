"""One word model: a left-to-right HMM with diagonal Gaussian-mixture emissions.

Topology: state ``i`` may stay, move to ``i+1`` or (with ``skip=True``) jump to ``i+2``;
a path starts in state 0 and must end in the last state. Zeros of the transition
matrix stay zero through training, because Baum-Welch only ever re-estimates
transitions that have non-zero expected counts.

Training is Baum-Welch run on *all* sequences of a word at once: sequences are padded
into one ``(n_sequences, max_len)`` batch so that each forward/backward step is a few
array operations over every sequence together. hmmlearn computes the same quantities
one sequence at a time; its per-sequence overhead made it 10-50x slower on the digit
corpus (see ``benchmarks/train_speed.py``), and ``tests/test_hmm.py`` checks our
likelihoods against hmmlearn's for the same parameters.

Initialisation is by uniform segmentation (each sequence cut into equal parts, one per
state), and mixtures grow by splitting the heaviest components (HTK's "mixing up"),
doubling at each stage, so that every stage starts from a trained model. Variances are floored at a fraction of
the global variance of the training frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import DataError, ParameterError

__all__ = ["HMMParams", "WordHMM", "ModelBank"]

_LOG2PI = np.log(2.0 * np.pi)
_TINY = 1e-300
_MIN_WEIGHT = 1e-5
_SPLIT_OFFSET = 0.2  # in standard deviations, for mixture splitting
_SELF_LOOP_INIT = 0.6
_RELATIVE_UNDERFLOW = 1e-280  # below this, exp() sums have lost their precision


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


def _gauss_weights(means: np.ndarray, variances: np.ndarray, log_weights: np.ndarray):
    """Matrix form of diagonal Gaussian log-densities.

    With ``F = [x**2, x, 1]`` for a frame ``x``, ``F @ W`` gives, for every component,
    ``log w + log N(x; mean, var)``. ``means``/``variances`` are (C, D), ``log_weights`` (C,).
    """
    inv = 1.0 / variances
    const = -0.5 * (means.shape[1] * _LOG2PI + np.log(variances).sum(1) + (means**2 * inv).sum(1))
    return np.vstack([-0.5 * inv.T, (means * inv).T, (const + log_weights)[None, :]])


def _design(x: np.ndarray) -> np.ndarray:
    return np.hstack([x * x, x, np.ones((len(x), 1))])


class _Batch:
    """Sequences padded into one array, with their frames stacked for emissions."""

    def __init__(self, seqs: list[np.ndarray]):
        self.lengths = np.array([len(s) for s in seqs])
        self.frames = np.vstack(seqs)
        self.design = _design(self.frames)
        self.squares = self.frames * self.frames
        self.n, self.t_max = len(seqs), int(self.lengths.max())
        t_idx = np.concatenate([np.arange(n) for n in self.lengths])
        s_idx = np.repeat(np.arange(self.n), self.lengths)
        self.index = (s_idx, t_idx)
        self.offsets = np.r_[0, np.cumsum(self.lengths)].astype(np.int64)
        self.mask = np.zeros((self.n, self.t_max), bool)
        self.mask[self.index] = True


def _component_loglik(batch_design: np.ndarray, p: HMMParams) -> np.ndarray:
    """(F, S, M) log of weight * density, for stacked frames."""
    s, m, d = p.means.shape
    w = _gauss_weights(p.means.reshape(s * m, d), p.variances.reshape(s * m, d),
                       np.log(np.maximum(p.weights.reshape(-1), _TINY)))
    return (batch_design @ w).reshape(-1, s, m)


def _mixture_split(comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _gaussian_stats(batch: _Batch, within: np.ndarray, gamma: np.ndarray):
    """Occupancy, first and second moments of every Gaussian, shapes (S*M,), (S*M, D), (S*M, D).

    ``within`` (F, S, M): each component's share of its state (overwritten);
    ``gamma`` (F, S): state posteriors of the stacked frames.
    """
    f, s, m = within.shape
    within *= gamma[:, :, None]  # posterior of every (state, component) per frame
    resp = within.reshape(f, s * m)
    return resp.sum(0), resp.T @ batch.frames, resp.T @ batch.squares


def _forward_backward(batch: _Batch, log_b: np.ndarray, transmat: np.ndarray):
    """Forward-backward over all sequences of a batch (compiled).

    ``log_b`` is (F, S) state log-likelihoods of the stacked frames. Returns the state
    posteriors (F, S), the expected transition counts (S, S) and the log-likelihood of
    each sequence (N,), ``-inf`` (and zero posteriors) where a sequence cannot reach the
    last state. Sequences run on scaled probabilities, and again in logs should those
    under- or overflow, so no state spread, however extreme, can underflow.
    """
    from ._kernels import forward_backward

    s = transmat.shape[0]
    ptr, idx, logp = [0], [], []
    with np.errstate(divide="ignore"):
        log_a = np.log(transmat)
    for j in range(s):
        src = np.flatnonzero(transmat[:, j] > 0)
        idx.extend(src.tolist())
        logp.extend(log_a[src, j].tolist())
        ptr.append(len(idx))
    return forward_backward(np.ascontiguousarray(log_b, dtype=np.float64), batch.offsets,
                            np.array(ptr, dtype=np.int64), np.array(idx, dtype=np.int64),
                            np.array(logp, dtype=np.float64))


class WordHMM:
    """A left-to-right GMM-HMM for one word.

    Parameters
    ----------
    n_states : int
    n_mix : int
        Gaussians per state.
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
        frames = np.vstack(seqs)
        self.var_floor_ = np.maximum(frames.var(axis=0) * self.var_floor, 1e-6)
        batch = _Batch(seqs)
        p = self._init_uniform(seqs, n_states)
        history = []
        p = self._em(batch, p, history)
        self.stages_ = {p.n_mix: p}
        while p.n_mix < self.n_mix:
            # double the mixtures at each stage (1, 2, 4, ...), as far as n_mix allows
            for _ in range(min(p.n_mix, self.n_mix - p.n_mix)):
                p = self._split(p)
            p = self._em(batch, p, history)
            self.stages_[p.n_mix] = p
        p.log_likelihood_history = history
        p.check()
        self.params_ = p
        self.n_frames_ = len(frames)
        self.n_sequences_ = len(seqs)
        return self

    def _init_uniform(self, seqs, n_states) -> HMMParams:
        seg = np.concatenate([np.minimum((np.arange(len(s)) * n_states) // len(s), n_states - 1) for s in seqs])
        x = np.vstack(seqs)
        counts = np.maximum(np.bincount(seg, minlength=n_states), 1)
        onehot = np.zeros((len(seg), n_states))
        onehot[np.arange(len(seg)), seg] = 1.0
        mean = onehot.T @ x / counts[:, None]
        var = np.maximum(onehot.T @ (x * x) / counts[:, None] - mean**2, self.var_floor_)
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

    def _em(self, batch: _Batch, p: HMMParams, history: list) -> HMMParams:
        prev = -np.inf
        for _ in range(self.n_iter):
            state_ll, within = _mixture_split(_component_loglik(batch.design, p))
            gamma, xi, loglik = _forward_backward(batch, state_ll, p.transmat)
            ok = np.isfinite(loglik)
            if not ok.any():
                raise DataError("no training sequence can be aligned to the model (too short?)")
            mean_ll = loglik[ok].sum() / batch.lengths[ok].sum()
            history.append(float(mean_ll))
            p = self._m_step(batch, p, within, gamma, xi)
            if mean_ll - prev < self.tol:
                break
            prev = mean_ll
        return p

    def _m_step(self, batch, p, within, gamma, xi) -> HMMParams:
        s, m, d = p.means.shape
        occ, sx, sxx = _gaussian_stats(batch, within, gamma)
        safe = np.maximum(occ, _TINY)[:, None]
        means = sx / safe
        var = sxx / safe - means**2
        dead = occ < 1e-3
        old_means = p.means.reshape(s * m, d)
        old_var = p.variances.reshape(s * m, d)
        means[dead], var[dead] = old_means[dead], old_var[dead]
        var = np.maximum(var, self.var_floor_)
        occ = occ.reshape(s, m)
        weights = np.maximum(occ / np.maximum(occ.sum(1, keepdims=True), _TINY), _MIN_WEIGHT)
        weights /= weights.sum(1, keepdims=True)
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
        return _mixture_split(_component_loglik(_design(x), self.params_))[0]

    def score(self, x: np.ndarray) -> float:
        """Log-likelihood of one sequence (paths start in state 0, end in the last)."""
        return float(ModelBank([self.params_]).score(x)[0])

    def decode(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Viterbi path: (log-probability, state index per frame)."""
        self._check_fitted()
        return viterbi(self.state_loglik(x), self.params_.transmat)


def occupancy_stats(p: HMMParams, seqs: list[np.ndarray], weights: np.ndarray):
    """Weighted Gaussian statistics of sequences under a model (forward-backward).

    Returns ``(occ, sum_x, sum_xx)`` per Gaussian, shapes (S*M,), (S*M, D), (S*M, D):
    the posterior occupancy of every Gaussian and its first and second moments, each
    sequence counted ``weights[i]`` times. Empty ``seqs``: zeros.
    """
    s, m, d = p.means.shape
    if not len(seqs):
        return np.zeros(s * m), np.zeros((s * m, d)), np.zeros((s * m, d))
    batch = _Batch(seqs)
    state_ll, within = _mixture_split(_component_loglik(batch.design, p))
    gamma, _, _ = _forward_backward(batch, state_ll, p.transmat)
    gamma *= np.repeat(np.asarray(weights, dtype=np.float64), batch.lengths)[:, None]
    return _gaussian_stats(batch, within, gamma)


def extended_baum_welch(p: HMMParams, num, den, var_floor: np.ndarray, e: float = 2.0, tau: float = 100.0) -> HMMParams:
    """One extended Baum-Welch update of means and variances (maximum mutual information).

    ``num`` and ``den`` are :func:`occupancy_stats` of the model's own examples and of
    the examples it competes for (weighted by their posteriors). Each Gaussian moves
    towards its own examples and away from its rivals' by ``(num - den)`` statistics,
    damped by ``D = e * den_occupancy + tau`` frames of its current self (``tau`` also
    keeps Gaussians without rivals where they are). Weights, transitions and the
    training history are kept.
    """
    s, m, d = p.means.shape
    mu = p.means.reshape(s * m, d)
    var = p.variances.reshape(s * m, d)
    damp = (e * den[0] + tau)[:, None]
    occ = (num[0] - den[0])[:, None] + damp
    means = (num[1] - den[1] + damp * mu) / occ
    variances = np.maximum((num[2] - den[2] + damp * (var + mu * mu)) / occ - means**2, var_floor)
    return replace(p, means=means.reshape(s, m, d), variances=variances.reshape(s, m, d))


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


class ModelBank:
    """Many word models scored together on the same frames.

    Every distinct emission state (a Gaussian mixture) of all models is evaluated once
    per frame, all Gaussians together in one matrix product; states shared by several
    models (such as a filler around every word) are computed once. The forward
    recursion then runs over all models in compiled code (:mod:`hmmrec._kernels`).

    Parameters
    ----------
    params : list of HMMParams
    starts : list of arrays or None
        Start probabilities per model (default: state 0).
    finals : list of bool arrays or None
        States a path may end in (default: the last state).
    single_precision : bool
        Compute the Gaussians' matrix product in single precision (1.6 times as fast:
        94 vs 150 us for a 1-s window against the Speech Commands stream models; the
        log-densities stayed within 3e-4 nats of double precision).
    """

    def __init__(self, params: list[HMMParams], starts=None, finals=None, single_precision: bool = False):
        if not params:
            raise ParameterError("ModelBank needs at least one model")
        self.params = list(params)
        self.n_models = len(params)
        self.n_states = np.array([p.n_states for p in params])
        s_max = int(self.n_states.max())
        self.s_max = s_max
        unique: dict[bytes, int] = {}
        means, variances, log_w, owner = [], [], [], []
        # column of the distinct emission state of each (model, state); -1 = padding
        self._column = np.full((self.n_models, s_max), -1, dtype=np.intp)
        for k, p in enumerate(params):
            for i in range(p.n_states):
                keep = p.weights[i] > 0
                key = b"".join(a.tobytes() for a in (p.weights[i][keep], p.means[i][keep], p.variances[i][keep]))
                if key not in unique:
                    unique[key] = len(unique)
                    means.append(p.means[i][keep])
                    variances.append(p.variances[i][keep])
                    log_w.append(np.log(p.weights[i][keep]))
                    owner.append(np.full(int(keep.sum()), unique[key]))
                self._column[k, i] = unique[key]
        self.n_emissions = len(unique)
        self._w = _gauss_weights(np.vstack(means), np.vstack(variances), np.concatenate(log_w))
        self._w32 = self._w.astype(np.float32) if single_precision else None
        owner = np.concatenate(owner)  # components are grouped by owner in order
        self._starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]).astype(np.int64)
        self._sizes = np.diff(np.r_[self._starts, len(owner)]).astype(np.int64)
        # transitions as bands (log): enter s from s, s-1, s-2
        with np.errstate(divide="ignore"):
            self._log_stay = np.full((self.n_models, s_max), -np.inf)
            self._log_next = np.full((self.n_models, s_max), -np.inf)
            self._log_skip = np.full((self.n_models, s_max), -np.inf)
            self._log_start = np.full((self.n_models, s_max), -np.inf)
            self._final = np.zeros((self.n_models, s_max), dtype=np.bool_)
            for k, p in enumerate(params):
                a, s = p.transmat, p.n_states
                if np.any(np.triu(a, 3)) or np.any(np.tril(a, -1)):
                    raise ParameterError("ModelBank supports left-to-right models with jumps of at most 2 states")
                self._log_stay[k, :s] = np.log(np.diag(a))
                self._log_next[k, 1:s] = np.log(np.diag(a, 1))
                if s > 2:
                    self._log_skip[k, 2:s] = np.log(np.diag(a, 2))
                start = np.eye(s)[0] if starts is None else np.asarray(starts[k], dtype=float)
                self._log_start[k, :s] = np.log(start)
                fin = np.eye(s, dtype=bool)[s - 1] if finals is None else np.asarray(finals[k], dtype=bool)
                self._final[k, :s] = fin

    def emission_loglik(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_emissions) log-densities of the distinct emission states."""
        from ._kernels import group_logsumexp, group_sum

        design = _design(x)
        comp = self._components(design)  # (T, C)
        # log-sum-exp per mixture, vectorised: relative to each frame's best component
        # (in place: 13% faster than with a copy, 490 vs 560 us a 1-s stream window)
        top = comp.max(axis=1, keepdims=True)
        np.subtract(comp, top, out=comp)
        with np.errstate(under="ignore"):
            sums = group_sum(np.exp(comp, out=comp), self._starts, self._sizes)
        with np.errstate(divide="ignore"):
            out = np.log(sums) + top
        # a mixture hundreds of nats below the frame's best underflows: redo those frames
        # mixture by mixture, so that the result is exact (never -inf) in every case
        redo = np.flatnonzero((sums < _RELATIVE_UNDERFLOW).any(axis=1))
        if len(redo):
            out[redo] = group_logsumexp(self._components(design[redo]), self._starts, self._sizes)
        return out

    def _components(self, design: np.ndarray) -> np.ndarray:
        """(T, C) log-densities (weighted) of every Gaussian component, a new float64 array."""
        if self._w32 is None:
            return np.ascontiguousarray(design @ self._w)
        # the product in single precision (1.6 times as fast), the rest in double
        return (design.astype(np.float32) @ self._w32).astype(np.float64)

    def state_loglik(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_models, s_max) log emission densities; padded states are -inf."""
        e = self.emission_loglik(np.asarray(x, dtype=np.float64))
        e = np.hstack([e, np.full((len(e), 1), -np.inf)])  # column -1: padding
        return e[:, self._column]

    def forward(self, log_b: np.ndarray) -> np.ndarray:
        """Log-likelihood per model of frames whose state log-densities are ``log_b``.

        ``log_b`` is (n_frames, n_models, s_max). ``-inf`` where no path can end in a
        final state.
        """
        if len(log_b) == 0:
            return np.full(self.n_models, -np.inf)
        from ._kernels import band_forward

        return band_forward(np.ascontiguousarray(log_b), self._log_start, self._log_stay, self._log_next,
                            self._log_skip, self._final)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Log-likelihood of frames ``x`` (T, D) under every model, shape (n_models,)."""
        return self.forward(self.state_loglik(np.asarray(x, dtype=np.float64)))


def _stack_states(parts: list[HMMParams], transmat: np.ndarray) -> HMMParams:
    """The emission states of ``parts`` one after another (mixtures padded with zero weights)."""
    m = max(p.n_mix for p in parts)

    def pad(arr, fill):
        out = np.full(arr.shape[:1] + (m,) + arr.shape[2:], fill, dtype=float)
        out[:, : arr.shape[1]] = arr
        return out

    return HMMParams(transmat, np.vstack([pad(p.weights, 0.0) for p in parts]),
                     np.concatenate([pad(p.means, 0.0) for p in parts]),
                     np.concatenate([pad(p.variances, 1.0) for p in parts]))


def wrap_with_filler(word: HMMParams, filler: HMMParams, p_stay: float = 0.9):
    """The word model between two copies of a one-state filler (background) model.

    The result lets a word sit anywhere inside a longer segment: paths may start in the
    leading filler or in the first word state, and end in the last word state or the
    trailing filler. Returns ``(params, start, final)`` for :class:`ModelBank`.
    """
    if filler.n_states != 1:
        raise ParameterError("the filler model must have exactly one state")
    s = word.n_states
    a = np.zeros((s + 2, s + 2))
    a[0, 0], a[0, 1] = p_stay, 1.0 - p_stay
    a[1 : s + 1, 1 : s + 1] = word.transmat
    inner = np.diag(word.transmat)[:-1]
    last_stay = float(inner.mean()) if len(inner) else 0.5
    a[s, s], a[s, s + 1] = last_stay, 1.0 - last_stay
    a[s + 1, s + 1] = 1.0
    start = np.zeros(s + 2)
    start[0], start[1] = 0.5, 0.5
    final = np.zeros(s + 2, bool)
    final[s], final[s + 1] = True, True
    return _stack_states([filler, word, filler], a), start, final


def filler_or_model(model: HMMParams, filler: HMMParams):
    """One model whose paths are either the filler alone or ``model`` from start to end.

    For labels of pure background (``_silence_``): a segment the filler explains
    throughout is background too. State 0 is the filler (it never leaves itself),
    states 1.. are ``model``'s. Returns ``(params, start, final)`` for :class:`ModelBank`.
    """
    if filler.n_states != 1:
        raise ParameterError("the filler model must have exactly one state")
    s = model.n_states
    a = np.zeros((s + 1, s + 1))
    a[0, 0] = 1.0
    a[1:, 1:] = model.transmat
    params = _stack_states([filler, model], a)
    start = np.zeros(s + 1)
    start[0], start[1] = 0.5, 0.5
    final = np.zeros(s + 1, bool)
    final[0], final[s] = True, True
    return params, start, final
