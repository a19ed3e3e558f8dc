"""Many models scored at once, and the wrappings that let a word sit inside a longer segment.

:class:`ModelBank` evaluates every distinct emission state of all its models once per
frame and runs the forward recursion over all models in compiled code. A word model is
scored between two copies of a one-state filler model (:func:`wrap_with_filler`), so
silence or noise around the word is left to the filler; labels of pure background are
the filler alone or their own model throughout (:func:`filler_or_model`).
"""

from __future__ import annotations

import copy

import numpy as np

from .errors import ParameterError
from .hmm import HMMParams, design_matrix, gaussian_weight_matrix

__all__ = ["ModelBank", "wrap_with_filler", "filler_or_model", "best_of_models", "FILLER_STAY"]

# probability that the leading filler stays in itself from one frame to the next
FILLER_STAY = 0.9
_RELATIVE_UNDERFLOW = 1e-280  # below this, exp() sums have lost their precision


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
        Compute the Gaussians' matrix product in single precision: faster, and the
        log-densities stay within a small fraction of a nat of double precision (the
        stream uses it; see benchmarks/RESULTS.md).
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
        self._w = gaussian_weight_matrix(np.vstack(means), np.vstack(variances), np.concatenate(log_w))
        self._w32 = self._w.astype(np.float32) if single_precision else None
        owner = np.concatenate(owner)  # components are grouped by owner in order
        self._starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]).astype(np.int64)
        self._sizes = np.diff(np.r_[self._starts, len(owner)]).astype(np.int64)
        self._set_transitions(params, starts, finals)

    def _set_transitions(self, params, starts, finals) -> None:
        """Transitions as bands (log: enter s from s, s-1, s-2), start and final states;
        cheap beside the emission states, so :meth:`reusing` recomputes them."""
        s_max = self.s_max
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

    @classmethod
    def reusing(cls, previous: "ModelBank | None", params: list[HMMParams], starts=None, finals=None,
                single_precision: bool = False) -> "ModelBank":
        """``ModelBank(params, starts, finals, single_precision)``, built from ``previous``
        where its models' emission states differ only in some means and variances (as
        adapting to a voice moves them): then only those states are recomputed, not every
        state of every model (transitions, starts and finals are cheap and always taken
        anew). Other emission states (shapes, weights, a shared state that moved) build
        the bank anew."""
        if previous is None or len(params) != previous.n_models or single_precision != (previous._w32 is not None):
            return cls(params, starts=starts, finals=finals, single_precision=single_precision)
        changed = []  # (column, model, state) of each emission state that moved
        for k, (p, old) in enumerate(zip(params, previous.params)):
            if p is old:
                continue
            if p.means.shape != old.means.shape or not np.array_equal(p.weights, old.weights):
                return cls(params, starts=starts, finals=finals, single_precision=single_precision)
            if np.array_equal(p.means, old.means) and np.array_equal(p.variances, old.variances):
                continue
            changed += [(previous._column[k, i], k, i) for i in range(p.n_states)
                        if not (np.array_equal(p.means[i], old.means[i])
                                and np.array_equal(p.variances[i], old.variances[i]))]
        uses = np.bincount(previous._column[previous._column >= 0], minlength=previous.n_emissions)
        if any(uses[c] != 1 for c, _, _ in changed):  # a state shared with another: the sharing changes
            return cls(params, starts=starts, finals=finals, single_precision=single_precision)
        bank = copy.copy(previous)
        bank.params = list(params)
        bank._set_transitions(params, starts, finals)
        if changed:
            bank._w = previous._w.copy()
            for c, k, i in changed:
                keep = params[k].weights[i] > 0
                first, size = previous._starts[c], previous._sizes[c]
                bank._w[:, first:first + size] = gaussian_weight_matrix(
                    params[k].means[i][keep], params[k].variances[i][keep], np.log(params[k].weights[i][keep]))
            bank._w32 = bank._w.astype(np.float32) if single_precision else None
        return bank

    def emission_loglik(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_emissions) log-densities of the distinct emission states."""
        from ._kernels import group_logsumexp, group_sum

        design = design_matrix(x)
        comp = self._components(design)  # (T, C)
        # log-sum-exp per mixture, vectorised and in place: relative to each frame's best component
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
        # the product in single precision, the rest in double
        return (design.astype(np.float32) @ self._w32).astype(np.float64)

    def state_loglik(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_models, s_max) log emission densities; padded states are -inf."""
        return self.per_state(self.emission_loglik(np.asarray(x, dtype=np.float64)))

    def per_state(self, e: np.ndarray) -> np.ndarray:
        """(n_frames, n_emissions) scores of the distinct emission states -> (n_frames,
        n_models, s_max), each model's states in place; padded states are -inf."""
        e = np.hstack([e, np.full((len(e), 1), -np.inf)])  # column -1: padding
        return e[:, self._column]

    def emission_columns(self, k: int) -> np.ndarray:
        """Distinct emission state (column of :meth:`emission_loglik`) of each state of model ``k``."""
        return self._column[k, : self.n_states[k]].copy()

    def best_path(self, log_b: np.ndarray, k: int) -> np.ndarray:
        """Viterbi state path of model ``k`` through frames whose state scores are
        ``log_b`` (n_frames, n_models, s_max), from one of its start states to one of
        its final states; ``-1`` everywhere if no path ends in a final state."""
        s, t_len = int(self.n_states[k]), len(log_b)
        b = log_b[:, k, :s]
        stay, step, skip = self._log_stay[k, :s], self._log_next[k, :s], self._log_skip[k, :s]
        delta = self._log_start[k, :s] + b[0]
        back = np.zeros((t_len, s), dtype=np.int8)  # 0 stayed, 1 came from s-1, 2 from s-2
        cand = np.full((3, s), -np.inf)
        for t in range(1, t_len):
            cand[0] = delta + stay
            cand[1, 1:] = delta[:-1] + step[1:]
            cand[2, 2:] = delta[:-2] + skip[2:]
            back[t] = cand.argmax(0)
            delta = cand.max(0) + b[t]
        end = np.where(self._final[k, :s], delta, -np.inf)
        path = np.full(t_len, -1, dtype=np.intp)
        if t_len == 0 or not np.isfinite(end.max()):
            return path
        path[-1] = int(end.argmax())
        for t in range(t_len - 1, 0, -1):
            path[t - 1] = path[t] - back[t, path[t]]
        return path

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


def wrap_with_filler(word: HMMParams, filler: HMMParams, p_stay: float = FILLER_STAY):
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


def best_of_models(rows: np.ndarray, n_labels: int, extra_labels) -> np.ndarray:
    """Scores of labels from scores of models: one model per label, then further models
    of the labels ``extra_labels`` (last axis); each label scores as its best model."""
    rows = np.asarray(rows)
    out = rows[..., :n_labels].copy()
    for j, k in enumerate(extra_labels):
        out[..., k] = np.maximum(out[..., k], rows[..., n_labels + j])
    return out
