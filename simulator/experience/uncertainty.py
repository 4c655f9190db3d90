"""Risk beyond member noise: pricing error, trend parameter risk, shock processes, events.

The cost level of a (trial, year, segment) is the product of independent parts, each
with its own random stream so that switching one on or off moves no other draw:

- **expected trend**: the scenario's trend plus a per-trial error (parameter risk: the
  trend the budget was priced on is itself uncertain), constant over the term;
- **trend shocks**: a yearly systemic shock, correlated across segments, either
  *permanent* (each shock compounds into every later year: a random walk in the log
  level, the original model) or *AR(1)* (the log-level deviation decays by a factor
  ``phi`` a year, so the level reverts toward the expected path);
- **pricing error**: how far the provider's true expected cost sits from what the budget
  assumes, unknown at signing: a persistent per-trial level error plus an optional
  transient year-to-year part, both lognormal with mean one; each has a size-independent
  part and a part that diversifies with size (sd at 10,000 members x sqrt(10,000 / n)),
  as the MSSP's results show (:mod:`simulator.calibration.mssp`);
- **systemic event**: a rare event (probability per year) that moves the level of every
  segment by a given percent for a number of years, optionally followed by a rebound year
  (a 2020-like utilisation drop and catch-up, or a costly drug launch).

The normals of the trial-level drivers (trend error, trend shocks, pricing error) can come
from a scrambled Sobol sequence instead of the streams (``systemic.sampling = "sobol"``):
trial ``t`` is point ``t mod m`` of replicate ``t // m``, each replicate independently
scrambled, so a run is still reproducible for any block size or worker count.

Every part has a neutral default (off), so a scenario that does not name it runs as
before, bit for bit.

Hook for historical benchmarks (a later extension): a benchmark built from the population's
own base years carries their member noise, and the MSSP calibration's diversifying parts
(``practice_*``) include that noise as it was in the data. :func:`level_parts` returns the
persistent pricing level apart from the rest, so a simulated base-year benchmark can share
it; once base years are simulated, the ``practice_*`` parts must be re-estimated net of the
base-year noise the model then produces (``simulator/calibration/mssp.py``), or it is
counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from ..core.inputs import StrictModel
from .streams import Purpose, standard_normals, stream

if TYPE_CHECKING:
    from .inputs import ExperienceInputs


PRACTICE_REFERENCE_MEMBERS = 10_000
"""Members at which a pricing error that diversifies with size is stated."""


class Pricing(StrictModel):
    """Pricing (entity-level) uncertainty of a segment's expected cost."""

    level_sd_pct: float = Field(0.0, ge=0, le=50, description="Standard deviation, percent, of the "
                                "persistent error of the segment's expected cost level (one draw per "
                                "trial, held over the term; lognormal, mean one).")
    yearly_sd_pct: float = Field(0.0, ge=0, le=50, description="Standard deviation, percent, of a "
                                 "transient year-to-year part (independent each year; mean one).")
    practice_level_sd_pct: float = Field(
        0.0, ge=0, le=50, description="Standard deviation, percent, at 10,000 members, of a persistent "
        "error that diversifies with size (practice-level effects, a benchmark's base-year noise): "
        "it scales with sqrt(10,000 / members) and adds in variance to level_sd_pct.")
    practice_yearly_sd_pct: float = Field(
        0.0, ge=0, le=50, description="The same for the transient part: at 10,000 members, scaling "
        "with sqrt(10,000 / members), added in variance to yearly_sd_pct.")

    def sds(self, members: int) -> tuple[float, float]:
        """Persistent and transient standard deviations (fractions) for ``members`` members."""
        scale = PRACTICE_REFERENCE_MEMBERS / members
        return (float(np.hypot(self.level_sd_pct, self.practice_level_sd_pct * np.sqrt(scale))) / 100,
                float(np.hypot(self.yearly_sd_pct, self.practice_yearly_sd_pct * np.sqrt(scale))) / 100)


class SystemicEvent(StrictModel):
    """A rare systemic event that moves every segment's cost level for a while."""

    probability_pct: float = Field(0.0, ge=0, le=100, description="Chance per year that an event "
                                   "starts (no new event starts while one is running).")
    size_pct: float = Field(0.0, gt=-90, le=200, description="Change of the cost level in the event's "
                            "years, percent (negative: a drop, as in 2020).")
    duration_years: int = Field(1, ge=1, le=30, description="Years the event lasts.")
    rebound_pct: float = Field(0.0, gt=-90, le=200, description="Change of the level in the year "
                               "after the event (deferred care coming back), percent.")


SAMPLING_DESCRIPTION = (
    "How the trial-level drivers (trend errors, trend shocks, pricing errors) are sampled: "
    "random (pseudo-random streams), or sobol (quasi-Monte Carlo: scrambled Sobol points, in "
    "randomised replicates of sobol_points trials, independent of each other; the standard "
    "error of a mean then comes from the replicates' means).")


class TrendShocks(StrictModel):
    """How the yearly systemic trend shocks act on the cost level."""

    process: Literal["permanent", "ar1"] = Field(
        "permanent", description="permanent: every shock compounds into all later years (random "
        "walk of the log level); ar1: the log-level deviation reverts by a factor phi a year.")
    phi: float = Field(0.5, ge=0, lt=1, description="AR(1) coefficient of the log-level deviation "
                       "(0: a shock lasts one year; toward 1: permanent). Used with process = 'ar1'.")


@dataclass(frozen=True)
class LevelParts:
    """The parts of one trial's cost level, each of shape (years, segments), multiplicative."""

    trend: np.ndarray        # expected trend (with its per-trial error) and shocks, compounded
    pricing_level: np.ndarray  # persistent pricing error (the same in every year)
    pricing_yearly: np.ndarray
    event: np.ndarray

    @property
    def index(self) -> np.ndarray:
        return self.trend * self.pricing_level * self.pricing_yearly * self.event


def sqrt_psd(corr: np.ndarray) -> np.ndarray:
    """A matrix square root that also works for a singular (e.g. perfect) correlation."""
    values, vectors = np.linalg.eigh(corr)
    return vectors * np.sqrt(np.clip(values, 0, None))


def _correlated(z: np.ndarray, rho: float) -> np.ndarray:
    """Rows of independent normals made equicorrelated (``rho``) across the last axis."""
    k = z.shape[-1]
    corr = np.full((k, k), rho)
    np.fill_diagonal(corr, 1.0)
    return z @ sqrt_psd(corr).T


QMC_PURPOSES = (Purpose.TREND_PARAMETER, Purpose.TREND_SHOCK, Purpose.PRICING)
"""The trial-level drivers a Sobol sequence can sample, in the order of its coordinates."""


def _shapes(years: int, k: int) -> dict[Purpose, tuple[int, int]]:
    return {Purpose.TREND_PARAMETER: (1, k), Purpose.TREND_SHOCK: (years, k), Purpose.PRICING: (years + 1, k)}


def _normals(scenario: ExperienceInputs, trial: int, purpose: Purpose,
             shape: tuple[int, int]) -> np.ndarray:
    """Standard normals of one trial and purpose: from the purpose's own stream, or with
    ``systemic.sampling = "sobol"`` from the trial's point of a scrambled Sobol sequence."""
    systemic = scenario.systemic
    if systemic.sampling == "random":
        return standard_normals(scenario.run.seed, trial, purpose, shape)
    shapes = _shapes(scenario.term.years, len(scenario.segments))
    start = sum(int(np.prod(shapes[p])) for p in QMC_PURPOSES[:QMC_PURPOSES.index(purpose)])
    m = systemic.sobol_points
    points = _sobol_normals(scenario.run.seed, trial // m, sum(int(np.prod(v)) for v in shapes.values()), m)
    return points[trial % m, start:start + shape[0] * shape[1]].reshape(shape)


@lru_cache(maxsize=8)
def _sobol_normals(seed: int, replicate: int, dims: int, points: int) -> np.ndarray:
    """Normal scores of one randomised replicate: a scrambled Sobol point set (Owen's
    scrambling, seeded from the replicate's own stream), so replicates are independent and
    their means give honest standard errors."""
    from scipy import special  # scipy.stats is slow to import: only when sampling by Sobol
    from scipy.stats import qmc

    rng = stream(seed, replicate, Purpose.SOBOL_SCRAMBLE)
    u = qmc.Sobol(d=dims, scramble=True, seed=rng).random(points)
    return special.ndtri(np.clip(u, 1e-12, 1 - 1e-12))


def is_classic(scenario: ExperienceInputs) -> bool:
    """Whether the cost level is the original model's (expected trend and permanent shocks
    only), which :func:`simulator.experience.costs.trend_indices` draws for many trials at once."""
    systemic, segs = scenario.systemic, scenario.segments.values()
    return (systemic.trend_shocks.process == "permanent" and systemic.sampling == "random"
            and (systemic.event is None or systemic.event.probability_pct == 0)
            and not any(s.trend_sd_pct or s.pricing is not None for s in segs))


def level_parts(scenario: ExperienceInputs, trials: range) -> LevelParts:
    """The cost level parts of ``trials`` (see the module docstring), each of shape (trials,
    years, segments). Each trial's numbers come from its own streams; the arithmetic is done
    for all trials at once (per trial, as a matrix product of each trial's rows)."""
    names = list(scenario.segments)
    segs = [scenario.segments[s] for s in names]
    years, k, t_n = scenario.term.years, len(names), len(trials)
    systemic = scenario.systemic
    rho = systemic.trend_shock_correlation
    ones = np.ones((t_n, years, k))

    def normals(purpose: Purpose, shape: tuple[int, int]) -> np.ndarray:
        return np.stack([_normals(scenario, t, purpose, shape) for t in trials])

    trend = np.broadcast_to(np.column_stack([scenario.cost_trend(s) for s in names]), (t_n, years, k))
    trend_sd = np.array([seg.trend_sd_pct / 100 for seg in segs])
    if trend_sd.any():
        error = _correlated(normals(Purpose.TREND_PARAMETER, (1, k)), rho) * trend_sd
        trend = np.maximum(trend + error, -0.99)  # a normal error must not take the level below zero
    sd = np.array([seg.trend_shock_sd_pct / 100 for seg in segs])
    shocks = _correlated(normals(Purpose.TREND_SHOCK, (years, k)), rho) * sd
    log_trend = np.log1p(trend)
    if systemic.trend_shocks.process == "permanent":
        log_level = np.cumsum(log_trend + (shocks - sd**2 / 2), axis=1)
    else:
        log_level = np.cumsum(log_trend, axis=1) + _ar1_deviation(shocks, sd, systemic.trend_shocks.phi)

    sds = np.array([(0.0, 0.0) if seg.pricing is None else seg.pricing.sds(seg.members) for seg in segs])
    level_sd, yearly_sd = sds[:, 0], sds[:, 1]
    pricing_level, pricing_yearly = ones, ones
    if level_sd.any() or yearly_sd.any():
        z = _correlated(normals(Purpose.PRICING, (years + 1, k)), systemic.pricing_correlation)
        pricing_level = np.broadcast_to(np.exp(z[:, :1] * level_sd - level_sd**2 / 2), (t_n, years, k))
        pricing_yearly = np.exp(z[:, 1:] * yearly_sd - yearly_sd**2 / 2)
    events = np.stack([event_multipliers(scenario, t) for t in trials])
    return LevelParts(np.exp(log_level), pricing_level, pricing_yearly, events[:, :, None] * ones)


def _ar1_deviation(shocks: np.ndarray, sd: np.ndarray, phi: float) -> np.ndarray:
    """Log-level deviation d_y = phi d_{y-1} + shock_y, less half its variance (mean-one level);
    ``shocks`` is (trials, years, segments)."""
    d = np.zeros_like(shocks)
    var = np.zeros_like(shocks)
    for y in range(shocks.shape[1]):
        prev, prev_var = (d[:, y - 1], var[:, y - 1]) if y else (0.0, 0.0)
        d[:, y] = phi * prev + shocks[:, y]
        var[:, y] = phi**2 * prev_var + sd**2
    return d - var / 2


def event_multipliers(scenario: ExperienceInputs, trial: int) -> np.ndarray:
    """Cost level multiplier of each year from systemic events (ones when there are none)."""
    event = scenario.systemic.event
    years = scenario.term.years
    out = np.ones(years)
    if event is None or event.probability_pct == 0:
        return out
    u = stream(scenario.run.seed, trial, Purpose.SYSTEMIC_EVENT).random(years)
    y = 0
    while y < years:
        if u[y] < event.probability_pct / 100:
            out[y:y + event.duration_years] = 1 + event.size_pct / 100
            if y + event.duration_years < years:
                out[y + event.duration_years] = 1 + event.rebound_pct / 100
            y += event.duration_years + 1
        else:
            y += 1
    return out
