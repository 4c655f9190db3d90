"""Member cost model: bands, persistence, severity, trend and systemic shocks.

A member sits in a cost band; each year the band sets the chance of a
zero-cost year, the severity distribution of a non-zero year and the chance
of death, and a Markov matrix moves the member to next year's band. Severity
families expose the few operations the engines need (a quantile map from a
standard normal score, the mean, the expected excess over an attachment);
adding a family does not touch the engines.

Cost level in year ``y`` of segment ``s`` is the band mean in base-year
dollars times ``cost_factor`` times the trend index, which compounds the
expected trend and a systemic shock per year (lognormal, mean one, correlated
across segments). Not modelled: seasonality within a year, claim lags.

scipy is imported where a function needs it, so that validating a scenario (which builds
:class:`CostTables`) does not pay for it; the cohort engine imports it with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .population import CostModel
from .streams import Purpose, standard_normals
from .uncertainty import is_classic, level_parts, sqrt_psd

if TYPE_CHECKING:  # the scenario assembles this stage's inputs; no import back
    from scipy import stats

    from .inputs import ExperienceInputs

MEAN_MONTHS_LOST_AT_DEATH = 5.5
"""Death month is uniform on 1..12 (mean 6.5), so a death loses 5.5 member-months on average."""


@dataclass(frozen=True)
class Severity:
    """Distribution of a non-zero annual cost, parameterised by mean and CV."""

    family: str
    mean: float
    cv: float

    @cached_property
    def dist(self) -> stats.rv_continuous:
        from scipy import stats  # slow to import; the engines need only scipy.special

        if self.family == "lognormal":
            sigma = np.sqrt(np.log1p(self.cv**2))
            return stats.lognorm(s=sigma, scale=self.mean * np.exp(-sigma**2 / 2))
        if self.family == "gamma":
            return stats.gamma(a=1 / self.cv**2, scale=self.mean * self.cv**2)
        raise ValueError(f"unknown severity family {self.family!r}")

    @property
    def var(self) -> float:
        return (self.cv * self.mean) ** 2

    def excess_mean(self, attachment: float) -> float:
        """Expected cost above ``attachment``: E[(X - a)+]."""
        from scipy import special
        a = attachment
        if self.family == "lognormal":
            sigma, scale = self.dist.kwds["s"], self.dist.kwds["scale"]
            d2 = (np.log(scale) - np.log(a)) / sigma
            return float(self.mean * special.ndtr(d2 + sigma) - a * special.ndtr(d2))
        shape, scale = self.dist.kwds["a"], self.dist.kwds["scale"]
        return float(self.mean * special.gammaincc(shape + 1, a / scale) - a * special.gammaincc(shape, a / scale))


def cumulative(probs: np.ndarray) -> np.ndarray:
    """Cumulative probabilities along the last axis, exactly 1 from the last positive entry
    on, so that a uniform draw below 1 never lands in a category of probability zero."""
    probs = np.asarray(probs, float)
    cum = np.cumsum(probs, axis=-1)
    last = probs.shape[-1] - 1 - np.argmax(probs[..., ::-1] > 0, axis=-1)
    cum[np.arange(probs.shape[-1]) >= last[..., None]] = 1.0
    return cum


@dataclass(frozen=True)
class CostTables:
    """A cost model as flat arrays for vectorised member-level simulation."""

    severities: tuple[Severity, ...]
    zero_prob: np.ndarray
    death_prob: np.ndarray
    transition: np.ndarray
    entrant_mix: np.ndarray
    initial_mix: np.ndarray | None

    @classmethod
    def from_model(cls, model: CostModel) -> CostTables:
        return cls(
            severities=tuple(Severity(b.severity, b.mean_annual_usd, b.cv) for b in model.bands),
            zero_prob=np.array([b.zero_cost_pct / 100 for b in model.bands]),
            death_prob=np.array([b.death_pct / 100 for b in model.bands]),
            transition=np.array(model.transition, float),
            entrant_mix=np.array(model.entrant_mix, float),
            initial_mix=None if model.initial_mix is None else np.array(model.initial_mix, float),
        )

    @property
    def n_bands(self) -> int:
        return len(self.severities)

    @property
    def band_means(self) -> np.ndarray:
        return np.array([s.mean for s in self.severities])


    def year_end_kernel(self, churn: float) -> np.ndarray:
        """Band-to-band matrix of a member slot over a year end: a member who dies or
        leaves is replaced by an entrant, the others move by the transition matrix."""
        stay = (1 - self.death_prob) * (1 - churn)
        return stay[:, None] * self.transition + np.outer(1 - stay, self.entrant_mix)

    def start_mix(self, churn: float) -> np.ndarray:
        """The initial band mix: given, or else the stationary mix of the slot dynamics."""
        if self.initial_mix is not None:
            return self.initial_mix
        values, vectors = np.linalg.eig(self.year_end_kernel(churn).T)
        v = np.real(vectors[:, np.argmin(np.abs(values - 1))])
        return v / v.sum()

    def band_mix_by_year(self, churn: float, years: int) -> np.ndarray:
        """Expected band mix of each year of the term, shape (years, bands): the base-year
        mix moved on by one year end per year."""
        mix = [self.start_mix(churn)]
        kernel = self.year_end_kernel(churn)
        for _ in range(years):
            mix.append(mix[-1] @ kernel)
        return np.array(mix[1:])

    @property
    def expected_cost(self) -> np.ndarray:
        """Expected annual cost of a member-year by band, zero-cost years included."""
        return (1 - self.zero_prob) * self.band_means

    def prospective_scores(self, churn: float) -> tuple[np.ndarray, float]:
        """Risk scores by last year's band, and for an entrant (no history).

        A score is the expected cost of the coming year given what is known at its start,
        relative to the cost of the year-1 population, the first scored year, normalised as
        the scores are applied: weighted by member-months, so that the expected year-1 score
        (risk score x months summed over members, divided by member-months) is exactly 1.
        Weighting by member-years instead leaves it below 1, because members who die lose
        months and sit in high-score histories (Medicare: 0.9845). Scores are perfect
        predictors given the band; the imperfection of real risk adjustment is that entrants
        get the entrant average.
        """
        raw = np.append(self.transition @ self.expected_cost, self.entrant_mix @ self.expected_cost)
        weights = self.year_one_history_member_months(churn)
        norm = weights @ raw / weights.sum()
        return raw[:-1] / norm, float(raw[-1] / norm)

    def year_one_history_member_months(self, churn: float) -> np.ndarray:
        """Expected member-months of year 1 by history (last year's band, then entrants), per
        member slot: members staying from each base-year band, and entrants replacing those
        who died or left; a death in year 1 loses MEAN_MONTHS_LOST_AT_DEATH months."""
        start = self.start_mix(churn)
        stay = start * (1 - self.death_prob) * (1 - churn)
        counts = np.append(stay, 1 - stay.sum())
        death = np.append(self.transition @ self.death_prob, self.entrant_mix @ self.death_prob)
        return counts * (12 - MEAN_MONTHS_LOST_AT_DEATH * death)


class BandSeverities:
    """Severity of every band as arrays: the operations the cohort engine needs."""

    def __init__(self, tables: CostTables):
        sev = tables.severities
        self.gamma = np.array([s.family == "gamma" for s in sev])
        cv = np.array([s.cv for s in sev])
        mean = tables.band_means
        self.sigma = np.sqrt(np.log1p(cv**2))
        self.mu = np.log(mean) - self.sigma**2 / 2
        self.shape = 1 / cv**2
        self.scale = mean * cv**2

    def sf(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        from scipy import special

        log = special.ndtr((self.mu[b] - np.log(x)) / self.sigma[b])
        if not self.gamma.any():
            return log
        return np.where(self.gamma[b], special.gammaincc(self.shape[b], x / self.scale[b]), log)

    def ppf(self, b: np.ndarray, u: np.ndarray) -> np.ndarray:
        from scipy import special

        log = np.exp(self.mu[b] + self.sigma[b] * special.ndtri(u))
        if not self.gamma.any():
            return log
        return np.where(self.gamma[b], self.scale[b] * special.gammaincinv(self.shape[b], u), log)

    def isf(self, b: np.ndarray, v: np.ndarray) -> np.ndarray:
        from scipy import special

        log = self.sigma[b] * special.ndtri(v)  # exp(mu - sigma z), then in place: the tail is long
        np.subtract(self.mu[b], log, out=log)
        np.exp(log, out=log)
        if not self.gamma.any():
            return log
        return np.where(self.gamma[b], self.scale[b] * special.gammainccinv(self.shape[b], v), log)

    def partial_moments(self, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """P(X <= x) and E[X^j; X <= x] for j = 1, 2, 3."""
        from scipy import special
        z = (np.log(x) - self.mu[b]) / self.sigma[b]
        s = self.sigma[b]
        out = [special.ndtr(z)] + [np.exp(j * self.mu[b] + j**2 * s**2 / 2) * special.ndtr(z - j * s)
                                   for j in (1, 2, 3)]
        if self.gamma.any():
            k, th = self.shape[b], self.scale[b]
            gam = [special.gammainc(k, x / th)] + [
                th**j * special.poch(k, j) * special.gammainc(k + j, x / th) for j in (1, 2, 3)]
            out = [np.where(self.gamma[b], g, o) for g, o in zip(gam, out)]
        return tuple(out)


def trend_index(scenario: ExperienceInputs, trial: int) -> np.ndarray:
    """Cost level multiplier of each (year, segment) for one trial: expected trend (with its
    per-trial error) compounded with systemic shocks, times the pricing error and any
    systemic event (:mod:`simulator.experience.uncertainty`); mean one apart from the trend
    and events.

    Returns
    -------
    ndarray, shape (years, segments)
    """
    return trend_indices(scenario, range(trial, trial + 1))[0]


def trend_indices(scenario: ExperienceInputs, trials: range) -> np.ndarray:
    """:func:`trend_index` of each trial, shape (trials, years, segments). Each trial's shocks
    come from its own stream; without shocks no stream is drawn (the same numbers)."""
    if not is_classic(scenario):  # pricing error, trend error, events, AR(1) or Sobol sampling
        return level_parts(scenario, trials).index
    names = list(scenario.segments)
    years = scenario.term.years
    sd = np.array([scenario.segments[s].trend_shock_sd_pct / 100 for s in names])
    trend = np.column_stack([np.log1p(scenario.cost_trend(s)) for s in names])
    if not sd.any():
        return np.broadcast_to(np.exp(np.cumsum(trend + 0.0 * sd, axis=0)),
                               (len(trials), years, len(names))).copy()
    rho = scenario.systemic.trend_shock_correlation
    corr = np.full((len(names), len(names)), rho)
    np.fill_diagonal(corr, 1.0)
    root = sqrt_psd(corr).T
    z = np.stack([standard_normals(scenario.run.seed, t, Purpose.TREND_SHOCK, (years, len(names)))
                  for t in trials])
    shocks = (z @ root) * sd - sd**2 / 2
    return np.exp(np.cumsum(trend + shocks, axis=1))


def expected_trend_index(scenario: ExperienceInputs, segment: str) -> np.ndarray:
    """Mean of the trend index by year, without trend parameter risk or events (shocks and
    pricing errors have mean one; a per-trial trend error and events move the mean)."""
    return np.cumprod(1 + scenario.cost_trend(segment))


def expected_segment_experience(scenario: ExperienceInputs, segment: str) -> dict[str, np.ndarray]:
    """Analytic expectations of a segment's yearly experience (no simulation).

    Returns
    -------
    dict
        ``allowed_usd`` and ``member_months`` by year; ``excess_usd`` by year and
        attachment for scenarios without systemic shocks (with shocks the excess
        is a non-linear function of the index and has no closed form here).
    """
    seg = scenario.segments[segment]
    tables = CostTables.from_model(scenario.cost_models[seg.cost_model])
    mix = tables.band_mix_by_year(seg.churn_pct / 100, scenario.term.years) * seg.members
    level = seg.cost_factor * expected_trend_index(scenario, segment)
    nonzero = mix * (1 - tables.zero_prob)
    out = {
        "allowed_usd": level * (nonzero @ tables.band_means),
        "member_months": mix @ (12 - MEAN_MONTHS_LOST_AT_DEATH * tables.death_prob),
        "deaths": mix @ tables.death_prob,
    }
    if seg.trend_shock_sd_pct == 0 and seg.pricing is None and seg.trend_sd_pct == 0:
        att = scenario.stop_loss_attachments()
        excess = np.array([[sum(n * level[y] * s.excess_mean(a / level[y])
                                for n, s in zip(nonzero[y], tables.severities)) for a in att]
                           for y in range(scenario.term.years)])
        out["excess_usd"] = excess.reshape(scenario.term.years, len(att))
    return out
