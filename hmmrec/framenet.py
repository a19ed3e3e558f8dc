"""A frame classifier beside the Gaussians: the word models' states told apart by a small network.

The Gaussian mixtures of each word model are trained on that word's frames alone
(maximum likelihood, then one discriminative step); they describe each state well but
do not learn what tells one word's state from another word's. :class:`FrameNet` is a
multilayer perceptron trained on every frame of every training utterance, a window of
``2 * context + 1`` frames in, the emission state that the Viterbi alignment of the
utterance's own model gives that frame out (one output per distinct emission state of
:class:`~hmmrec.bank.ModelBank`, the filler included). Divided by the states' share of
the training frames, its posteriors are scaled likelihoods that the same left-to-right
models score as they score Gaussians (the hybrid HMM of Bourlard and Morgan), and a
label's score is a weighted sum of the two log-likelihoods: the two make different
mistakes on new voices, so their sum makes fewer.

A recognizer trains two such networks on the same targets (``view``): one reads the
cepstra the Gaussians read, the other a log mel filterbank of the signal
(:func:`~hmmrec.features.filterbank_frames`), finer in frequency and normalised
otherwise; their scaled likelihoods are averaged. Two views of the sound err on
different frames, where two networks of the same view mostly err alike.

Our own numpy code, training included (Adam, dropout, label smoothing, a cosine
learning-rate schedule): small enough to keep in the package, with no deep-learning
framework to install, and the same bits from the same data and seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ParameterError

__all__ = ["FrameNet", "train_frame_net", "context_index", "EPOCHS", "VIEWS"]

EPOCHS = 10  # passes over the training frames
VIEWS = ("cepstra", "filterbank")  # what a network reads (FrameNet.view)


def context_index(lengths, context: int) -> np.ndarray:
    """(sum(lengths), 2 * context + 1) row indices of each frame's neighbours within its
    own sequence (edge frames repeated), for sequences stacked one after another."""
    parts, start = [], 0
    offsets = np.arange(-context, context + 1)
    for n in lengths:
        parts.append(start + np.clip(np.arange(n)[:, None] + offsets[None, :], 0, n - 1))
        start += n
    return np.concatenate(parts) if parts else np.zeros((0, 2 * context + 1), dtype=np.intp)


@dataclass
class FrameNet:
    """A trained frame classifier (see the module).

    Attributes
    ----------
    context : int
        Frames on each side of the frame classified.
    mean, scale : np.ndarray, shape (n_features,)
        Input standardisation.
    weights, biases : list of np.ndarray
        Layers in order, in single precision (as trained, saved and computed); ReLU
        between them, softmax at the end.
    log_prior : np.ndarray, shape (n_outputs,)
        Log share of each output among the training frames.
    weight : float
        Share of the label scores that comes from the network (the rest from the Gaussians).
    prior_scale : float
        How much of the log prior the scaled likelihoods take off: 1 divides the
        posteriors by the prior as in the textbook hybrid, less leaves frequent states
        (the filler around every word) some of their advantage.
    view : str
        What the network reads: ``"cepstra"``, the normalised features the Gaussians
        read, or ``"filterbank"``, :func:`~hmmrec.features.filterbank_frames` of the signal.
    """

    context: int
    mean: np.ndarray
    scale: np.ndarray
    weights: list
    biases: list
    log_prior: np.ndarray
    weight: float = 0.4
    prior_scale: float = 0.7
    view: str = "cepstra"

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ParameterError(f"FrameNet.view must be one of {', '.join(VIEWS)}, got {self.view!r}")
        if not 0.0 <= self.weight <= 1.0:
            raise ParameterError(f"FrameNet.weight must be from 0 to 1, got {self.weight!r}")
        if not 0.0 <= self.prior_scale <= 1.0:
            raise ParameterError(f"FrameNet.prior_scale must be from 0 to 1, got {self.prior_scale!r}")
        dims = [w.shape for w in self.weights]
        if not dims or len(self.biases) != len(dims):
            raise ParameterError("FrameNet needs as many bias vectors as weight matrices, at least one")
        n_in = (2 * self.context + 1) * len(self.mean)
        if dims[0][0] != n_in or any(a[1] != b[0] for a, b in zip(dims, dims[1:])) \
                or any(b.shape != (d[1],) for b, d in zip(self.biases, dims)) or dims[-1][1] != len(self.log_prior) \
                or self.scale.shape != self.mean.shape:
            raise ParameterError("FrameNet layers do not fit together")
        self.weights = [np.asarray(w, dtype=np.float32) for w in self.weights]
        self.biases = [np.asarray(b, dtype=np.float32) for b in self.biases]

    @property
    def n_outputs(self) -> int:
        return len(self.log_prior)

    def describe(self) -> str:
        """One line for a person: what the network is and how much of the scores it gives."""
        sizes = " x ".join(str(w.shape[1]) for w in self.weights[:-1]) or "none"
        reads = "the cepstra" if self.view == "cepstra" else "a log mel filterbank"
        return (f"frame classifier of {reads}: {self.n_outputs} states, {2 * self.context + 1} frames in, "
                f"hidden layers {sizes}")

    def log_posteriors(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_outputs) log posteriors of one sequence of the frames it reads (``view``)."""
        x = np.asarray(x)
        if len(x) == 0:
            return np.zeros((0, self.n_outputs))
        z = ((x - self.mean) / self.scale).astype(np.float32)
        h = _layers(z[context_index([len(z)], self.context)].reshape(len(z), -1), self.weights, self.biases)[0][-1]
        h = h.astype(np.float64)  # (the log-softmax in double precision: no posterior rounds to 0)
        h -= h.max(1, keepdims=True)
        return h - np.log(np.exp(h).sum(1, keepdims=True))

    def scaled_loglik(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_outputs) log posterior minus ``prior_scale`` times the log prior:
        the hybrid's emission scores."""
        return self.log_posteriors(x) - self.prior_scale * self.log_prior


def train_frame_net(seqs, targets, n_outputs: int, *, context: int = 7, hidden: int = 256, layers: int = 2,
                    epochs: int = EPOCHS, batch: int = 512, rate: float = 1e-3, dropout: float = 0.15,
                    smoothing: float = 0.05, weight: float = 0.4, seed: int = 0, progress=None,
                    view: str = "cepstra") -> FrameNet:
    """Train a :class:`FrameNet` on feature sequences and each frame's target output.

    ``seqs``: list of (n_frames, n_features) arrays; ``targets``: list of int arrays of
    the same lengths, values below ``n_outputs``. ``progress(epoch, epochs, loss)`` after
    each epoch. Deterministic for the same inputs and ``seed``.
    """
    if not seqs or len(seqs) != len(targets):
        raise ParameterError("train_frame_net needs sequences, each with its targets")
    lengths = [len(s) for s in seqs]
    if any(len(t) != n for t, n in zip(targets, lengths)):
        raise ParameterError("train_frame_net: every sequence needs one target per frame")
    y = np.concatenate(targets).astype(np.int32)
    if len(y) == 0 or y.min() < 0 or y.max() >= n_outputs:
        raise ParameterError(f"train_frame_net: targets must be from 0 to {n_outputs - 1}")
    frames = _Frames(seqs, lengths, context)
    rng = np.random.default_rng(seed)
    sizes = [frames.x.shape[1] * (2 * context + 1)] + [hidden] * layers + [n_outputs]
    ws = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    bs = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
    adam = _Adam(ws + bs, rate, epochs * -(-len(y) // batch))
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for a in range(0, len(y), batch):
            rows = order[a:a + batch]
            acts, masks = _layers(frames.windows(rows), ws, bs, dropout, rng)
            logits = acts[-1] - acts[-1].max(1, keepdims=True)
            p = np.exp(logits)
            acts[-1] = p = p / p.sum(1, keepdims=True)
            want = np.full((len(rows), n_outputs), smoothing / n_outputs, dtype=np.float32)  # smoothed one-hot
            want[np.arange(len(rows)), y[rows]] += 1.0 - smoothing
            total += float(-(want * np.log(np.maximum(p, 1e-30))).sum())
            adam.step(_backward(acts, masks, ws, (p - want) / np.float32(len(rows))))
        if progress is not None:
            progress(epoch + 1, epochs, total / len(y))
    counts = np.bincount(y, minlength=n_outputs) + 1.0
    return FrameNet(context=context, mean=frames.mean, scale=frames.scale, weights=ws, biases=bs,
                    log_prior=np.log(counts / counts.sum()), weight=weight, view=view)


class _Frames:
    """The training frames standardised, in one single-precision array (a large corpus's
    features are already held once in double precision), and each frame's sequence
    bounds to cut its window of neighbours (not every neighbour's index: a fifteenth of
    the memory)."""

    def __init__(self, seqs, lengths, context: int):
        n, d = sum(lengths), seqs[0].shape[1]
        total, total_sq = np.zeros(d), np.zeros(d)
        for seq in seqs:
            total += seq.sum(0)
            total_sq += np.square(seq).sum(0)
        self.mean = total / n
        self.scale = np.sqrt(np.maximum(total_sq / n - self.mean * self.mean, 0.0)) + 1e-6
        self.x = np.empty((n, d), dtype=np.float32)
        ends = np.cumsum(lengths)
        for seq, end in zip(seqs, ends):
            self.x[end - len(seq):end] = (seq - self.mean) / self.scale
        self.first = np.repeat(ends - lengths, lengths)
        self.last = np.repeat(ends - 1, lengths)
        self.offsets = np.arange(-context, context + 1)

    def windows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), (2 * context + 1) * n_features): each frame with its neighbours."""
        index = np.clip(rows[:, None] + self.offsets, self.first[rows, None], self.last[rows, None])
        return self.x[index].reshape(len(rows), -1)


def _layers(x, ws, bs, dropout: float = 0.0, rng=None):
    """Activations of every layer (the input first, the logits last) and the dropout masks
    (training: ``dropout`` > 0 with ``rng``; scoring: none)."""
    keep = 1.0 - dropout
    acts, masks = [x], []
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = acts[-1] @ w + b
        if i < len(ws) - 1:
            np.maximum(h, 0, out=h)
            mask = (rng.random(h.shape, dtype=np.float32) < keep) / np.float32(keep) if dropout else None
            if mask is not None:
                h *= mask
            masks.append(mask)
        acts.append(h)
    return acts, masks


def _backward(acts, masks, ws, grad) -> list:
    """Gradients of the weights, then of the biases, from the gradient at the logits."""
    grads_w, grads_b = [None] * len(ws), [None] * len(ws)
    for i in range(len(ws) - 1, -1, -1):
        grads_w[i] = acts[i].T @ grad
        grads_b[i] = grad.sum(0)
        if i:
            grad = grad @ ws[i].T
            grad *= acts[i] > 0
            if masks[i - 1] is not None:
                grad *= masks[i - 1]
    return grads_w + grads_b


class _Adam:
    """Adam (Kingma and Ba) on a list of arrays updated in place, the learning rate
    falling from ``rate`` to 0 along a half cosine over ``steps``."""

    def __init__(self, params: list, rate: float, steps: int, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.params, self.rate, self.steps = params, rate, steps
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, 0
        self.m1 = [np.zeros_like(p) for p in params]
        self.m2 = [np.zeros_like(p) for p in params]

    def step(self, grads: list) -> None:
        self.t += 1
        lr = float(self.rate * 0.5 * (1.0 + np.cos(np.pi * (self.t - 1) / self.steps)))
        corr1, corr2 = 1.0 - self.beta1 ** self.t, 1.0 - self.beta2 ** self.t
        for p, g, m1, m2 in zip(self.params, grads, self.m1, self.m2):
            m1 *= self.beta1
            m1 += (1.0 - self.beta1) * g
            m2 *= self.beta2
            m2 += (1.0 - self.beta2) * g * g
            p -= (lr / corr1) * m1 / (np.sqrt(m2 / corr2) + self.eps)
