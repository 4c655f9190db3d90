"""Cost bands as hidden states: maximum likelihood by EM over members' histories.

In the cost model a band is a latent state (bands' severities overlap), so a member-year
cannot be put in a band by its cost alone. The fit treats each member's years as a hidden
Markov chain: a start band from the initial mix (members present in the first year) or
the entrant mix (members who appear later), the transition matrix between consecutive
years, and per band a zero-cost probability, a severity (lognormal or gamma, whichever has
the larger likelihood) and a death probability. Gaps and years whose costs are unusable
are unobserved years of the chain. EM (Baum-Welch) climbs the likelihood from a start
given by band edges on the cost; standard errors come from the outer product of each
member's score (Fisher's identity: the expected complete-data score under the posterior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from .panel import Panel
from .severity import fit_severity, log_density

MAX_ITERATIONS = 1000
TOLERANCE = 1e-6
"""EM stops when the log-likelihood per member improves by less than this."""
FLOOR = 1e-9


@dataclass
class Params:
    """One set of the latent model's parameters (probabilities as fractions)."""

    initial: np.ndarray      # (K,)
    entrant: np.ndarray      # (K,)
    transition: np.ndarray   # (K, K)
    zero: np.ndarray         # (K,)
    death: np.ndarray        # (K,)
    family: list[str]        # (K,) "lognormal" | "gamma"
    shape: np.ndarray        # (K, 2): lognormal (mu, sigma) or gamma (shape, scale)


@dataclass
class Posterior:
    """E-step output: band probabilities per member-year and expected transitions."""

    band: np.ndarray         # (N, T, K), zero outside a member's span
    pairs: np.ndarray        # (N, K, K): expected transitions of each member, summed over years
    loglik: float


def _log_emission(panel: Panel, p: Params) -> np.ndarray:
    """log P(observations of a member-year | band), shape (N, T, K); 0 where unobserved."""
    out = np.zeros(panel.cost.shape + (len(p.zero),))
    obs = panel.cost_observed
    zero = obs & (panel.cost <= 0)
    pos = obs & (panel.cost > 0)
    out[zero] += np.log(np.maximum(p.zero, FLOOR))
    for k in range(len(p.zero)):
        out[pos, k] += np.log1p(-p.zero[k]) + log_density(p.family[k], p.shape[k], panel.cost[pos])
    if panel.died is not None:
        alive = panel.present & (panel.died == 0)
        out[alive] += np.log1p(-np.minimum(p.death, 1 - FLOOR))
        out[panel.present & (panel.died == 1)] += np.log(np.maximum(p.death, FLOOR))
    return out


def e_step(panel: Panel, p: Params) -> Posterior:
    """Scaled forward-backward over all members at once, year by year."""
    n, t_len = panel.cost.shape
    log_e = _log_emission(panel, p)
    shift = log_e.max(axis=2, keepdims=True)
    emit = np.exp(log_e - shift)
    start = np.where(panel.start[:, None] == 0, p.initial, p.entrant)
    alpha = np.zeros_like(emit)
    scale = np.ones((n, t_len))
    for t in range(t_len):
        begins, goes_on = panel.start == t, panel.in_span(t) & (panel.start < t)
        prior = np.where(begins[:, None], start, 0.0)
        if t > 0:
            prior = np.where(goes_on[:, None], alpha[:, t - 1] @ p.transition, prior)
        a = prior * emit[:, t]
        live = begins | goes_on
        scale[live, t] = a[live].sum(axis=1)
        alpha[live, t] = a[live] / scale[live, t, None]
    beta = np.ones_like(emit)
    pairs = np.zeros((n, len(p.zero), len(p.zero)))
    for t in range(t_len - 1, 0, -1):
        step = panel.in_span(t) & (panel.start < t)
        nxt = emit[step, t] * beta[step, t] / scale[step, t, None]
        beta[step, t - 1] = nxt @ p.transition.T
        pairs[step] += alpha[step, t - 1, :, None] * p.transition * nxt[:, None, :]
    band = alpha * beta
    span = np.stack([panel.in_span(t) for t in range(t_len)], axis=1)
    band[~span] = 0.0
    loglik = float(np.sum(panel.weight[:, None] * span * (np.log(scale) + shift[..., 0])))
    return Posterior(band, pairs, loglik)


def _mix(rows: np.ndarray, weight: np.ndarray) -> np.ndarray:
    total = weight @ rows
    return total / total.sum() if total.sum() > 0 else np.full(rows.shape[1], 1 / rows.shape[1])


def m_step(panel: Panel, post: Posterior, family: str | None = None) -> Params:
    """Weighted maximum-likelihood update of every parameter given the posterior."""
    w = panel.weight[:, None, None]
    band = post.band * w
    first = post.band[np.arange(len(panel.start)), panel.start]
    initial = _mix(first[panel.start == 0], panel.weight[panel.start == 0])
    entrants = panel.start > 0
    entrant = _mix(first[entrants], panel.weight[entrants]) if entrants.any() else initial.copy()
    moves = np.einsum("n,nij->ij", panel.weight, post.pairs)
    rows = moves.sum(axis=1, keepdims=True)
    transition = np.where(rows > 0, moves / np.where(rows > 0, rows, 1), np.eye(len(initial)))
    obs, pos = panel.cost_observed, panel.cost_observed & (panel.cost > 0)
    zero = band[obs & (panel.cost <= 0)].sum(0) / np.maximum(band[obs].sum(0), FLOOR)
    death = np.zeros(len(initial))
    if panel.died is not None:
        death = band[panel.present & (panel.died == 1)].sum(0) / np.maximum(band[panel.present].sum(0), FLOOR)
    fams, shapes = [], []
    cost, weights = panel.cost[pos], np.ascontiguousarray(band[pos].T)
    for k in range(len(initial)):
        fam, shape, _ = fit_severity(cost, weights[k], family)
        fams.append(fam)
        shapes.append(shape)
    return Params(initial, entrant, transition, zero, death, fams, np.array(shapes))


def hard_start(panel: Panel, edges_usd: np.ndarray, family: str | None = None) -> Params:
    """Parameters from putting each observed member-year in the band its cost falls in."""
    k = len(edges_usd) + 1
    band = np.zeros(panel.cost.shape + (k,))
    which = np.searchsorted(edges_usd, panel.cost, side="right")
    obs = panel.cost_observed
    band[obs, which[obs]] = 1.0
    hidden = np.stack([panel.in_span(t) for t in range(panel.cost.shape[1])], 1) & ~obs
    band[hidden] = 1.0 / k  # no usable cost: no opinion
    step = np.stack([panel.in_span(t) & (panel.start < t) for t in range(panel.cost.shape[1])], 1)
    pairs = np.einsum("nti,ntj->nij", band[:, :-1] * step[:, 1:, None], band[:, 1:])
    pairs += 1e-3 / k * step.sum(1)[:, None, None]  # every move possible at the start; EM decides
    p = m_step(panel, Posterior(band, pairs, 0.0), family)
    p.zero = np.clip(p.zero, 1e-3, 0.99)  # leave room for zeros in any band
    p.death = np.clip(p.death, 1e-4, 0.99)
    return p


def fit(panel: Panel, edges_usd: np.ndarray, family: str | None = None
        ) -> tuple[Params, Posterior, int]:
    """EM from the hard start; bands come out ordered by mean cost.

    Returns the parameters, the posterior at them, and the number of iterations.
    """
    p = hard_start(panel, edges_usd, family)
    post = e_step(panel, p)
    per_member = max(panel.weight.sum(), 1.0)
    for iteration in range(1, MAX_ITERATIONS + 1):
        p = m_step(panel, post, family)
        new = e_step(panel, p)
        done = (new.loglik - post.loglik) / per_member < TOLERANCE
        post = new
        if done:
            break
    return _ordered(p, post), post_order(post, p), iteration


def band_means(p: Params) -> np.ndarray:
    """Mean of a non-zero cost year by band."""
    return np.array([np.exp(s[0] + s[1] ** 2 / 2) if f == "lognormal" else s[0] * s[1]
                     for f, s in zip(p.family, p.shape)])


def band_cvs(p: Params) -> np.ndarray:
    return np.array([np.sqrt(np.expm1(s[1] ** 2)) if f == "lognormal" else 1 / np.sqrt(s[0])
                     for f, s in zip(p.family, p.shape)])


def _order(p: Params) -> np.ndarray:
    return np.argsort(band_means(p), kind="stable")


def _ordered(p: Params, post: Posterior) -> Params:
    o = _order(p)
    return Params(p.initial[o], p.entrant[o], p.transition[np.ix_(o, o)], p.zero[o], p.death[o],
                  [p.family[i] for i in o], p.shape[o])


def post_order(post: Posterior, p: Params) -> Posterior:
    o = _order(p)
    return Posterior(post.band[..., o], post.pairs[:, o][:, :, o], post.loglik)
