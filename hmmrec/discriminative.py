"""Discriminative training and calibration of a bank of word models.

Maximum-likelihood training makes each word model fit its own examples; maximum mutual
information (MMI) training then moves each model's Gaussians towards its own examples
and away from the examples of other words that it scores nearly as well (extended
Baum-Welch, Povey's formulation with a damping constant per Gaussian). The temperature
of the posterior over labels is fitted afterwards on the training data
(:func:`fit_temperature`), so that confidences are calibrated rather than 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .bank import ModelBank, best_of_models
from .hmm import HMMParams, expectations
from .progress import run_jobs

__all__ = ["occupancy_stats", "extended_baum_welch", "MMITrainer", "calibration_sample", "fit_temperature",
           "true_label_leads", "MMI_KAPPA"]

# label posteriors of the training examples are softmax(MMI_KAPPA * log-likelihood),
# softened so that near rivals count, not only outright errors
MMI_KAPPA = 0.3
# examples whose weight for a model is below this are skipped
_MMI_MIN_WEIGHT = 1e-4
# frames of a Gaussian's current self that damp each update (see extended_baum_welch)
_MMI_TAU = 100.0
# the posterior is softmax(temperature * per-frame log-likelihood); training data is
# easier than new speakers, so the fitted temperature is capped at 1 (log 0)
_LOG_TEMPERATURE_BOUNDS = (-4.0, 0.0)
# training examples per label used to fit the temperature
_CALIBRATION_EXAMPLES = 30


def occupancy_stats(p: HMMParams, seqs: list[np.ndarray], weights: np.ndarray):
    """Weighted Gaussian statistics of sequences under a model (forward-backward).

    Returns ``(occ, sum_x, sum_xx)`` per Gaussian, shapes (S*M,), (S*M, D), (S*M, D):
    the posterior occupancy of every Gaussian and its first and second moments, each
    sequence counted ``weights[i]`` times. Empty ``seqs``: zeros.
    """
    st = expectations(p, seqs, np.asarray(weights, dtype=np.float64))
    return st.occ, st.sum_x, st.sum_xx


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


def _mmi_one(p: HMMParams, own, own_weights, rivals, rival_weights, var_floor) -> HMMParams:
    return extended_baum_welch(p, occupancy_stats(p, own, own_weights), occupancy_stats(p, rivals, rival_weights),
                               var_floor, tau=_MMI_TAU)


def _score_slice(bank: ModelBank, seqs: list) -> np.ndarray:
    """(len(seqs), n_models) log-likelihoods of some sequences (one job of :func:`score_many`)."""
    return np.array([bank.score(f) for f in seqs]).reshape(len(seqs), bank.n_models)


def score_many(bank: ModelBank, seqs: list, n_jobs) -> np.ndarray:
    """``bank.score`` of every sequence, (n, n_models), shared among the workers in
    contiguous slices (the scores are the same as one process would give)."""
    from .progress import effective_n_jobs

    n = effective_n_jobs(n_jobs)
    n_slices = 1 if n == 1 else 4 * n
    bounds = np.linspace(0, len(seqs), n_slices + 1).astype(int)
    jobs = [(bank, seqs[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    out = run_jobs(_score_slice, jobs, n_jobs)
    return np.vstack(out) if out else np.zeros((0, bank.n_models))


@dataclass
class MMITrainer:
    """One MMI iteration at a time over every word model of a recognizer.

    Attributes
    ----------
    labels : list of str
        The labels, in the order of the models.
    whole : dict
        Label -> whole training utterances (normalised features): scored as
        recognition scores them, for the label posteriors.
    spoken : dict
        Label -> spoken parts of the same utterances: the statistics, as in the
        maximum-likelihood training.
    floors : list of np.ndarray
        Each label's variance floor.
    make_bank : callable
        ``make_bank(models, extras)`` -> the :class:`ModelBank` that scores them as
        recognition does.
    n_jobs : int
    """

    labels: list
    whole: dict
    spoken: dict
    floors: list
    make_bank: object
    n_jobs: int = 1

    def step(self, models: list, extras=(), extra_labels=()) -> tuple[list, int]:
        """One extended Baum-Welch iteration of every word model.

        ``models``: one per label; ``extras``: further models of the labels
        ``extra_labels`` (or none). The models of those labels compete but are left as
        they are. A model's own examples count with weight ``1 - posterior`` (what it
        still has to win), the others' with their posterior for it (what it wrongly
        claims). Returns the new models and how many examples were weighed.
        """
        labels = self.labels
        n = [len(self.spoken[lab]) for lab in labels]
        truth = np.repeat(np.arange(len(labels)), n)
        parts = [f for lab in labels for f in self.spoken[lab]]
        bank = self.make_bank(models, extras)
        several = np.asarray(extra_labels if len(extras) else [], dtype=int)
        ll = best_of_models(score_many(bank, [f for lab in labels for f in self.whole[lab]], self.n_jobs),
                            len(labels), several)
        z = MMI_KAPPA * ll
        top = z.max(1, keepdims=True)
        ok = np.isfinite(top[:, 0])
        post = np.zeros_like(z)
        with np.errstate(invalid="ignore", over="ignore"):
            post[ok] = np.exp(z[ok] - top[ok])
        post[ok] /= post[ok].sum(1, keepdims=True)
        post[~ok, truth[~ok]] = 1.0  # not scorable: no weight anywhere
        jobs = []
        changed = 0
        out = list(models)
        todo = sorted(set(range(len(labels))) - set(several.tolist()))
        for k in todo:
            own = np.flatnonzero(truth == k)
            w_own = 1.0 - post[own, k]
            keep = w_own > _MMI_MIN_WEIGHT
            rivals = np.flatnonzero((truth != k) & (post[:, k] > _MMI_MIN_WEIGHT))
            changed += int(keep.sum()) + len(rivals)
            jobs.append((models[k], [parts[i] for i in own[keep]], w_own[keep],
                         [parts[i] for i in rivals], post[rivals, k], self.floors[k]))
        for k, m in zip(todo, run_jobs(_mmi_one, jobs, self.n_jobs)):
            out[k] = m
        return out, changed


def calibration_sample(score, labels, whole: dict) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihoods per frame of (a sample of) training utterances under every label,
    (n, n_labels), and each one's true label number: what :func:`fit_temperature` fits;
    ``score(x)``: log-likelihood of one utterance under every label."""
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for k, label in enumerate(labels):
        seqs = whole[label]
        for i in rng.choice(len(seqs), size=min(len(seqs), _CALIBRATION_EXAMPLES), replace=False):
            rows.append(score(seqs[i]) / len(seqs[i]))
            truth.append(k)
    z, truth = np.array(rows), np.array(truth)
    return np.where(np.isfinite(z), z, np.nanmin(np.where(np.isfinite(z), z, np.nan)) - 100), truth


def fit_temperature(z: np.ndarray, truth: np.ndarray) -> float:
    """Temperature of the posterior over labels, fitted on a :func:`calibration_sample`.

    The posterior is ``softmax(temperature * log-likelihood / n_frames)``; the
    temperature minimises the cross-entropy of the true labels, within
    ``_LOG_TEMPERATURE_BOUNDS``.
    """
    from scipy.optimize import minimize_scalar

    def loss(log_t):
        s = z * np.exp(log_t)
        s = s - s.max(1, keepdims=True)
        return -(s[np.arange(len(truth)), truth] - np.log(np.exp(s).sum(1))).mean()

    return float(np.exp(minimize_scalar(loss, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded").x))


def true_label_leads(z: np.ndarray, truth: np.ndarray, temperature: float) -> np.ndarray:
    """How far each utterance's true label leads the next label in its posterior (the log
    of their ratio, as :func:`hmmrec.stream.word_lead` measures a word on its own)."""
    s = z * temperature
    own = s[np.arange(len(truth)), truth]
    others = s.copy()
    others[np.arange(len(truth)), truth] = -np.inf
    return own - others.max(1)
