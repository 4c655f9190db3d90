"""Severity of a non-zero cost year: weighted maximum likelihood, lognormal or gamma.

The weights are a band's posterior probabilities of each member-year (times any sampling
weight), so each band's fit is the M-step of the latent-band EM. The family is the one with
the larger weighted log-likelihood (both have two parameters), unless one is imposed.
"""

from __future__ import annotations

import numpy as np
from scipy import special

MIN_WEIGHT = 1e-6


def log_density(family: str, shape: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Log density at ``x`` > 0: lognormal ``(mu, sigma)`` or gamma ``(shape, scale)``."""
    a, b = shape
    logx = np.log(x)
    if family == "lognormal":
        return -logx - np.log(b) - 0.5 * np.log(2 * np.pi) - 0.5 * ((logx - a) / b) ** 2
    return (a - 1) * logx - x / b - special.gammaln(a) - a * np.log(b)


def _gamma_shape(s: float) -> float:
    """Solve log(a) - digamma(a) = s (s > 0) by Newton from Minka's approximation."""
    a = (3 - s + np.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    for _ in range(20):
        step = (np.log(a) - special.digamma(a) - s) / (1 / a - special.polygamma(1, a))
        a = max(a - step, a / 10)
        if abs(step) < 1e-10 * a:
            break
    return float(a)


def fit_severity(x: np.ndarray, u: np.ndarray, family: str | None = None
                 ) -> tuple[str, np.ndarray, float]:
    """Weighted MLE of both families on positive costs ``x`` with weights ``u``.

    Returns
    -------
    family, parameters, weighted log-likelihood
        Lognormal ``(mu, sigma)`` of log cost, or gamma ``(shape, scale)``.
    """
    total = u.sum()
    if total < MIN_WEIGHT:  # an empty band: take the data's shape (EM moves it or not)
        u, total = np.ones_like(x), float(len(x))
    logx = np.log(x)
    mu = float(u @ logx / total)
    sigma = float(np.sqrt(max(u @ (logx - mu) ** 2 / total, 1e-8)))
    mean = float(u @ x / total)
    s = np.log(mean) - mu
    a = _gamma_shape(max(s, 1e-8))
    fits = {"lognormal": np.array([mu, sigma]), "gamma": np.array([a, mean / a])}
    loglik = {f: float(u @ log_density(f, p, x)) for f, p in fits.items()}
    chosen = family or max(loglik, key=loglik.get)
    return chosen, fits[chosen], loglik[chosen]
