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
def _band_forward_log(log_b, k, log_start, log_stay, log_next, log_skip, final):
    """Log-domain forward of model k (exact whatever the dynamic range; the slow path)."""
    t_len, _, s_max = log_b.shape
    a = np.empty(s_max)
    new = np.empty(s_max)
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
    return tot


@njit(cache=True)
def band_forward(log_b, log_start, log_stay, log_next, log_skip, final):
    """Log-likelihood of frames under each of K banded HMMs.

    log_b: (T, K, S) state log-densities; log_start: (K, S); log_stay/log_next/log_skip:
    (K, S) log-probabilities of entering state s from s, s-1, s-2; final: (K, S) bool.
    Returns (K,) log-likelihoods (-inf where no path ends in a final state).

    The recursion runs on probabilities scaled per model and frame (emissions relative to
    the frame's best state, forward variables renormalised to sum 1, the logs of the
    scales accumulated): one ``exp`` per state and frame instead of two log-additions.
    Should a model's forward variables underflow all the same (a frame whose reachable
    states are all hundreds of nats below its best one), that model is redone in the
    log domain, so the result is the log-domain one in every case.
    """
    t_len, n_models, s_max = log_b.shape
    out = np.empty(n_models)
    stay = np.exp(log_stay)
    nxt = np.exp(log_next)
    skip = np.exp(log_skip)
    a = np.empty(s_max)
    new = np.empty(s_max)
    for k in range(n_models):
        m = _NEG_INF
        for s in range(s_max):
            v = log_start[k, s] + log_b[0, k, s]
            a[s] = v
            if v > m:
                m = v
        ok = m > _NEG_INF
        log_scale = m
        if ok:
            tot = 0.0
            for s in range(s_max):
                a[s] = np.exp(a[s] - m)
                tot += a[s]
            for s in range(s_max):
                a[s] /= tot
            log_scale += np.log(tot)
        t = 1
        while ok and t < t_len:
            m = _NEG_INF
            for s in range(s_max):
                if log_b[t, k, s] > m:
                    m = log_b[t, k, s]
            if m == _NEG_INF:
                ok = False
                break
            tot = 0.0
            for s in range(s_max):
                v = a[s] * stay[k, s]
                if s >= 1:
                    v += a[s - 1] * nxt[k, s]
                if s >= 2:
                    v += a[s - 2] * skip[k, s]
                if v > 0.0:
                    v *= np.exp(log_b[t, k, s] - m)
                new[s] = v
                tot += v
            if not tot > 0.0:
                ok = False
                break
            for s in range(s_max):
                a[s] = new[s] / tot
            log_scale += m + np.log(tot)
            t += 1
        fin = 0.0
        if ok:
            for s in range(s_max):
                if final[k, s]:
                    fin += a[s]
        if ok and fin > 1e-250:
            out[k] = log_scale + np.log(fin)
        else:
            out[k] = _band_forward_log(log_b, k, log_start, log_stay, log_next, log_skip, final)
    return out


@njit(cache=True)
def group_sum(a, starts, sizes):
    """Sums over consecutive column groups that tile the columns: (T, C) -> (T, G), as
    ``np.add.reduceat``.

    One pass along each row, closing a group at its last column: faster than a loop per
    group or ``reduceat`` on the stream's small mixtures (see benchmarks/RESULTS.md)."""
    t_len, n_cols = a.shape
    n_groups = starts.shape[0]
    out = np.empty((t_len, n_groups))
    ends = starts + sizes
    for t in range(t_len):
        g = 0
        end = ends[0]
        tot = 0.0
        for c in range(n_cols):
            tot += a[t, c]
            if c + 1 == end:
                out[t, g] = tot
                tot = 0.0
                g += 1
                if g < n_groups:
                    end = ends[g]
    return out


@njit(cache=True)
def group_logsumexp(comp, starts, sizes):
    """log(sum(exp(...))) over consecutive column groups: (T, C) -> (T, G).

    Group g is columns ``starts[g] : starts[g] + sizes[g]`` (components of one mixture).
    """
    t_len = comp.shape[0]
    n_groups = starts.shape[0]
    out = np.empty((t_len, n_groups))
    for t in range(t_len):
        for g in range(n_groups):
            c0 = starts[g]
            c1 = c0 + sizes[g]
            m = comp[t, c0]
            for c in range(c0 + 1, c1):
                if comp[t, c] > m:
                    m = comp[t, c]
            if m == _NEG_INF:
                out[t, g] = _NEG_INF
                continue
            tot = 0.0
            for c in range(c0, c1):
                tot += np.exp(comp[t, c] - m)
            out[t, g] = m + np.log(tot)
    return out


@njit(cache=True)
def _fb_log(log_b, t0, t1, pred_ptr, pred_idx, pred_logp, alpha, beta, gamma, xi):
    """Log-domain forward-backward of one sequence (exact whatever the dynamic range)."""
    s_n = log_b.shape[1]
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
    if ll == _NEG_INF:
        return ll
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
    return ll


@njit(cache=True)
def _fb_scaled(log_b, t0, t1, pred_ptr, pred_idx, pred_p, alpha, beta, b, scale, gamma, xi_n):
    """Forward-backward of one sequence on scaled probabilities (Rabiner's scaling).

    Emissions are taken relative to each frame's best state and the forward variables
    renormalised every frame, so one ``exp`` per state and frame does the work of the
    log-domain recursion. Returns the log-likelihood, or NaN when the scaled
    quantities under- or overflow (the caller then uses :func:`_fb_log`).
    """
    s_n = log_b.shape[1]
    log_total = 0.0
    for t in range(t0, t1):
        m = _NEG_INF
        for j in range(s_n):
            if log_b[t, j] > m:
                m = log_b[t, j]
        if m == _NEG_INF:
            return np.nan
        for j in range(s_n):
            b[t, j] = np.exp(log_b[t, j] - m)
        c = 0.0
        if t == t0:
            for j in range(s_n):
                alpha[t, j] = 0.0
            alpha[t, 0] = b[t, 0]
            c = b[t, 0]
        else:
            for j in range(s_n):
                v = 0.0
                for q in range(pred_ptr[j], pred_ptr[j + 1]):
                    v += alpha[t - 1, pred_idx[q]] * pred_p[q]
                v *= b[t, j]
                alpha[t, j] = v
                c += v
        if not c > 1e-250:
            return np.nan
        for j in range(s_n):
            alpha[t, j] /= c
        scale[t] = c
        log_total += m + np.log(c)
    end = alpha[t1 - 1, s_n - 1]
    if not end > 1e-250:
        return np.nan
    for s in range(s_n):
        beta[t1 - 1, s] = 0.0
    beta[t1 - 1, s_n - 1] = 1.0
    for t in range(t1 - 2, t0 - 1, -1):
        for i in range(s_n):
            beta[t, i] = 0.0
        c = scale[t + 1]
        for j in range(s_n):
            nb = b[t + 1, j] * beta[t + 1, j] / c
            if nb == 0.0:
                continue
            for q in range(pred_ptr[j], pred_ptr[j + 1]):
                i = pred_idx[q]
                v = nb * pred_p[q]
                beta[t, i] += v
                xi_n[i, j] += alpha[t, i] * v
        for i in range(s_n):
            if not beta[t, i] < 1e250:
                return np.nan
    for t in range(t0, t1):
        tot = 0.0
        for s in range(s_n):
            gamma[t, s] = alpha[t, s] * beta[t, s] / end
            tot += gamma[t, s]
        if abs(tot - 1.0) > 1e-9:  # precision lost somewhere (tiny end probability)
            return np.nan
    for i in range(s_n):
        for j in range(s_n):
            xi_n[i, j] /= end
    return log_total + np.log(end)


@njit(cache=True)
def forward_backward(log_b, offsets, pred_ptr, pred_idx, pred_logp):
    """Forward-backward of many sequences under one left-to-right HMM.

    log_b: (F, S) state log-densities of the stacked frames; sequence n occupies rows
    ``offsets[n]:offsets[n+1]``. Transitions are given sparsely: the predecessors of
    state j are ``pred_idx[pred_ptr[j]:pred_ptr[j+1]]`` with log-probabilities
    ``pred_logp[...]``. Paths start in state 0 and end in state S-1.

    Each sequence runs on scaled probabilities (fast); one whose scaled quantities
    would under- or overflow runs again in the log domain, so the results are those of
    the log-domain recursion in every case.

    Returns gamma (F, S) state posteriors, xi (S, S) expected transition counts and the
    log-likelihood of each sequence (-inf, with zero posteriors, where a sequence
    cannot reach the last state).
    """
    n_frames, s_n = log_b.shape
    n_seq = offsets.shape[0] - 1
    gamma = np.zeros((n_frames, s_n))
    xi = np.zeros((s_n, s_n))
    xi_n = np.zeros((s_n, s_n))
    loglik = np.empty(n_seq)
    alpha = np.empty((n_frames, s_n))
    beta = np.empty((n_frames, s_n))
    b = np.empty((n_frames, s_n))
    scale = np.empty(n_frames)
    pred_p = np.exp(pred_logp)
    for n in range(n_seq):
        t0 = offsets[n]
        t1 = offsets[n + 1]
        xi_n[:, :] = 0.0
        ll = _fb_scaled(log_b, t0, t1, pred_ptr, pred_idx, pred_p, alpha, beta, b, scale, gamma, xi_n)
        if np.isnan(ll):
            for t in range(t0, t1):
                for s in range(s_n):
                    gamma[t, s] = 0.0
            ll = _fb_log(log_b, t0, t1, pred_ptr, pred_idx, pred_logp, alpha, beta, gamma, xi)
        else:
            for i in range(s_n):
                for j in range(s_n):
                    xi[i, j] += xi_n[i, j]
        loglik[n] = ll
    return gamma, xi, loglik


@njit(cache=True)
def rasta_filter(x, pole, period):
    """RASTA filter (0.1 (2 + z^-1 - z^-3 - 2 z^-4) / (1 - pole z^-1)) down each column of
    ``x`` (T, D) from rest, except columns ``j % period == 0``, which are copied.

    The same as ``scipy.signal.lfilter`` on those columns (to rounding), but cheaper on
    the small segments the stream normalises several times a second (see
    benchmarks/RESULTS.md)."""
    t_len, n_cols = x.shape
    out = x.copy()
    for j in range(n_cols):
        if j % period == 0:
            continue
        prev = 0.0
        for t in range(t_len):
            v = 2.0 * x[t, j]
            if t >= 1:
                v += x[t - 1, j]
            if t >= 3:
                v -= x[t - 3, j]
            if t >= 4:
                v -= 2.0 * x[t - 4, j]
            prev = 0.1 * v + pole * prev
            out[t, j] = prev
    return out


@njit(cache=True)
def rank_codes(x, ref):
    """Per value of ``x`` (T, D), ``lo + hi``: how many values of the same column of ``ref``
    (N, D) are below it plus how many are at most it.

    ``(lo + hi) / (2 N)`` is the value's empirical cumulative probability in ``ref`` with
    ties sharing their mean rank: ``(r + 0.5) / N`` for the r-th smallest of N distinct
    values. One sort and two binary searches per value and column: faster than numpy's
    ``searchsorted`` (both sides) column by column on stream-sized windows."""
    t_len, n_cols = x.shape
    n = ref.shape[0]
    out = np.empty((t_len, n_cols), dtype=np.int64)
    col = np.empty(n)
    for j in range(n_cols):
        for i in range(n):
            col[i] = ref[i, j]
        col.sort()
        for i in range(t_len):
            v = x[i, j]
            lo, hi = 0, n
            while lo < hi:  # first index with col >= v
                m = (lo + hi) >> 1
                if col[m] < v:
                    lo = m + 1
                else:
                    hi = m
            below = lo
            hi = n
            while lo < hi:  # first index with col > v
                m = (lo + hi) >> 1
                if col[m] <= v:
                    lo = m + 1
                else:
                    hi = m
            out[i, j] = below + lo
    return out


@njit(cache=True)
def rank_codes_sorted(xt, order):
    """``rank_codes(x, x)`` from ``xt = x.T`` (D, T) and the order that sorts each of its
    rows (``np.argsort(xt, axis=1)``): each run of equal values gets ``first + last + 1``,
    its positions in the sorted row. Returned as (T, D).

    The same codes as ``2 * scipy.stats.rankdata(x, axis=0) - 1``, several times faster
    on stream-sized windows (n log n with numpy's vectorised argsort; see
    benchmarks/RESULTS.md)."""
    n_cols, t_len = xt.shape
    out = np.empty((t_len, n_cols), dtype=np.int64)
    for j in range(n_cols):
        a = 0
        while a < t_len:
            v = xt[j, order[j, a]]
            b = a
            while b + 1 < t_len and xt[j, order[j, b + 1]] == v:
                b += 1
            for r in range(a, b + 1):
                out[order[j, r], j] = a + b + 1
            a = b + 1
    return out
