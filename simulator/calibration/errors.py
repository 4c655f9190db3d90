"""Standard errors of the latent-band fit: outer product of members' scores, delta method.

By Fisher's identity a member's score (gradient of the log-likelihood of its history) is
the expected complete-data score under the posterior, which the E-step already gives: band
probabilities per year and expected transitions. Their weighted outer product estimates
the information; its pseudo-inverse (softmax parameters of a mix have one redundant
direction) is the covariance of the unconstrained parameters, mapped to the reported
quantities by the delta method. Members are the independent units, so years of one member
are not treated as independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .latent import Params, Posterior, band_cvs, band_means
from .panel import Panel


@dataclass(frozen=True)
class StandardErrors:
    """Standard errors of every reported quantity (same shapes as in :class:`Params`)."""

    mean_usd: np.ndarray
    cv: np.ndarray
    zero: np.ndarray
    death: np.ndarray
    transition: np.ndarray
    initial: np.ndarray
    entrant: np.ndarray


def _severity_scores(panel: Panel, post: Posterior, p: Params) -> list[np.ndarray]:
    """Per member and band, the score of the two severity parameters (N, K, 2) and the
    Jacobian rows of (mean, cv) with respect to them."""
    pos = panel.cost_observed & (panel.cost > 0)
    x = np.where(pos, panel.cost, 1.0)
    logx = np.log(x)
    g = post.band * pos[..., None]
    out = np.zeros((len(panel.start), len(p.zero), 2))
    for k, (fam, (a, b)) in enumerate(zip(p.family, p.shape)):
        if fam == "lognormal":  # parameters mu, log sigma
            z = (logx - a) / b
            out[:, k, 0] = np.sum(g[..., k] * z / b, axis=1)
            out[:, k, 1] = np.sum(g[..., k] * (z**2 - 1), axis=1)
        else:  # parameters log shape, log scale
            out[:, k, 0] = np.sum(g[..., k] * a * (logx - np.log(b) - special.digamma(a)), axis=1)
            out[:, k, 1] = np.sum(g[..., k] * (x / b - a), axis=1)
    return out


def _jacobian_mean_cv(p: Params) -> tuple[np.ndarray, np.ndarray]:
    """d(mean)/d(params) and d(cv)/d(params) per band, shape (K, 2) each."""
    mean, cv = band_means(p), band_cvs(p)
    d_mean, d_cv = np.zeros((len(mean), 2)), np.zeros((len(mean), 2))
    for k, (fam, (a, b)) in enumerate(zip(p.family, p.shape)):
        if fam == "lognormal":
            d_mean[k] = [mean[k], mean[k] * b**2]
            d_cv[k] = [0.0, b**2 * np.exp(b**2) / cv[k]]
        else:
            d_mean[k] = [mean[k], mean[k]]
            d_cv[k] = [-cv[k] / 2, 0.0]
    return d_mean, d_cv


def _softmax_jacobian(prob: np.ndarray) -> np.ndarray:
    return np.diag(prob) - np.outer(prob, prob)


def standard_errors(panel: Panel, post: Posterior, p: Params) -> StandardErrors:
    """Standard errors of the fitted parameters (see the module docstring)."""
    k = len(p.zero)
    n = len(panel.start)
    first = post.band[np.arange(n), panel.start]
    starters = (panel.start == 0)[:, None]
    obs, pres = panel.cost_observed, panel.present
    zero_obs = obs & (panel.cost <= 0)
    died = np.zeros_like(pres) if panel.died is None else panel.died == 1
    blocks = [
        _severity_scores(panel, post, p).reshape(n, 2 * k),
        np.einsum("ntk,nt->nk", post.band, zero_obs) - np.einsum("ntk,nt->nk", post.band, obs) * p.zero,
        np.einsum("ntk,nt->nk", post.band, died & pres) - np.einsum("ntk,nt->nk", post.band, pres) * p.death,
        (post.pairs - post.pairs.sum(axis=2, keepdims=True) * p.transition).reshape(n, k * k),
        np.where(starters, first - p.initial, 0.0),
        np.where(~starters, first - p.entrant, 0.0),
    ]
    scores = np.concatenate(blocks, axis=1)
    cov = np.linalg.pinv((scores * panel.weight[:, None]).T @ scores, rcond=1e-10, hermitian=True)
    d_mean, d_cv = _jacobian_mean_cv(p)
    jac = np.zeros((4 * k + k * k + 2 * k, cov.shape[0]))
    for b in range(k):  # rows: mean, cv, zero, death per band
        jac[b, 2 * b:2 * b + 2] = d_mean[b]
        jac[k + b, 2 * b:2 * b + 2] = d_cv[b]
        jac[2 * k + b, 2 * k + b] = p.zero[b] * (1 - p.zero[b])
        jac[3 * k + b, 3 * k + b] = p.death[b] * (1 - p.death[b])
        row0, col0 = 4 * k + b * k, 4 * k + b * k
        jac[row0:row0 + k, col0:col0 + k] = _softmax_jacobian(p.transition[b])
    at = 4 * k + k * k
    jac[at:at + k, at:at + k] = _softmax_jacobian(p.initial)
    jac[at + k:, at + k:] = _softmax_jacobian(p.entrant)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, cov, jac), 0, None))
    return StandardErrors(se[:k], se[k:2 * k], se[2 * k:3 * k], se[3 * k:4 * k],
                          se[4 * k:at].reshape(k, k), se[at:at + k], se[at + k:])
