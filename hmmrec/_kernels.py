"""Compiled inner loops (numba): the forward recursion of banded left-to-right HMMs.

Numba compiles these on first use and caches the machine code on disk, so only the
first run after installation pays the compile time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NEG_INF = -np.inf


@njit(cache=True, inline="always")
def _lae(a, b):
    """log(exp(a) + exp(b)) without overflow."""
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@njit(cache=True)
def band_forward(log_b, log_start, log_stay, log_next, log_skip, final):
    """Log-likelihood of frames under each of K banded HMMs.

    log_b: (T, K, S) state log-densities; log_start: (K, S); log_stay/log_next/log_skip:
    (K, S) log-probabilities of entering state s from s, s-1, s-2; final: (K, S) bool.
    Returns (K,) log-likelihoods (-inf where no path ends in a final state).
    """
    t_len, n_models, s_max = log_b.shape
    out = np.empty(n_models)
    a = np.empty(s_max)
    new = np.empty(s_max)
    for k in range(n_models):
        for s in range(s_max):
            a[s] = log_start[k, s] + log_b[0, k, s]
        for t in range(1, t_len):
            for s in range(s_max):
                v = a[s] + log_stay[k, s]
                if s >= 1:
                    v = _lae(v, a[s - 1] + log_next[k, s])
                if s >= 2:
                    v = _lae(v, a[s - 2] + log_skip[k, s])
                new[s] = v + log_b[t, k, s]
            for s in range(s_max):
                a[s] = new[s]
        tot = _NEG_INF
        for s in range(s_max):
            if final[k, s]:
                tot = _lae(tot, a[s])
        out[k] = tot
    return out


@njit(cache=True)
def forward_backward(log_b, offsets, pred_ptr, pred_idx, pred_logp):
    """Log-domain forward-backward of many sequences under one left-to-right HMM.

    log_b: (F, S) state log-densities of the stacked frames; sequence n occupies rows
    ``offsets[n]:offsets[n+1]``. Transitions are given sparsely: the predecessors of
    state j are ``pred_idx[pred_ptr[j]:pred_ptr[j+1]]`` with log-probabilities
    ``pred_logp[...]``. Paths start in state 0 and end in state S-1.

    Returns gamma (F, S) state posteriors, xi (S, S) expected transition counts and the
    log-likelihood of each sequence (-inf, with zero posteriors, where a sequence
    cannot reach the last state).
    """
    n_frames, s_n = log_b.shape
    n_seq = offsets.shape[0] - 1
    gamma = np.zeros((n_frames, s_n))
    xi = np.zeros((s_n, s_n))
    loglik = np.empty(n_seq)
    alpha = np.empty((n_frames, s_n))
    beta = np.empty((n_frames, s_n))
    for n in range(n_seq):
        t0 = offsets[n]
        t1 = offsets[n + 1]
        for s in range(s_n):
            alpha[t0, s] = _NEG_INF
        alpha[t0, 0] = log_b[t0, 0]
        for t in range(t0 + 1, t1):
            for j in range(s_n):
                v = _NEG_INF
                for q in range(pred_ptr[j], pred_ptr[j + 1]):
                    v = _lae(v, alpha[t - 1, pred_idx[q]] + pred_logp[q])
                alpha[t, j] = v + log_b[t, j]
        ll = alpha[t1 - 1, s_n - 1]
        loglik[n] = ll
        if ll == _NEG_INF:
            continue
        for s in range(s_n):
            beta[t1 - 1, s] = _NEG_INF
        beta[t1 - 1, s_n - 1] = 0.0
        for t in range(t1 - 2, t0 - 1, -1):
            for i in range(s_n):
                beta[t, i] = _NEG_INF
            for j in range(s_n):
                nb = log_b[t + 1, j] + beta[t + 1, j]
                if nb == _NEG_INF:
                    continue
                for q in range(pred_ptr[j], pred_ptr[j + 1]):
                    i = pred_idx[q]
                    v = nb + pred_logp[q]
                    beta[t, i] = _lae(beta[t, i], v)
                    lx = alpha[t, i] + v - ll
                    if lx > -700.0:
                        xi[i, j] += np.exp(lx)
        for t in range(t0, t1):
            for s in range(s_n):
                g = alpha[t, s] + beta[t, s] - ll
                gamma[t, s] = np.exp(g) if g > -700.0 else 0.0
    return gamma, xi, loglik


@njit(cache=True)
def logsumexp_last(a):
    """log(sum(exp(a), axis=-1)) of a 3-D array (F, S, M); -inf rows stay -inf."""
    f_n, s_n, m_n = a.shape
    out = np.empty((f_n, s_n))
    for f in range(f_n):
        for s in range(s_n):
            m = a[f, s, 0]
            for k in range(1, m_n):
                if a[f, s, k] > m:
                    m = a[f, s, k]
            if m == _NEG_INF:
                out[f, s] = _NEG_INF
                continue
            tot = 0.0
            for k in range(m_n):
                tot += np.exp(a[f, s, k] - m)
            out[f, s] = m + np.log(tot)
    return out


@njit(cache=True)
def mixture_posteriors(comp, state_ll, gamma):
    """Posterior of every (state, component) per frame: gamma * exp(comp - state_ll), as (F, S*M)."""
    f_n, s_n, m_n = comp.shape
    out = np.zeros((f_n, s_n * m_n))
    for f in range(f_n):
        for s in range(s_n):
            g = gamma[f, s]
            if g <= 0.0:
                continue
            for k in range(m_n):
                out[f, s * m_n + k] = g * np.exp(comp[f, s, k] - state_ll[f, s])
    return out

