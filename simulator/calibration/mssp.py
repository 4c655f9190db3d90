"""Pricing and trend uncertainty estimated from the MSSP's real results, and the check.

An ACO's savings rate, after removing each year's mean (the year-level part), varies
around zero by

    Var = c^2 / n  +  A + B (10,000 / n)

- ``c^2 / n``: member noise, which the cost model predicts (``c``: the coefficient of
  variation of a member-year's cost; ``n``: beneficiaries);
- ``A``: a size-independent ACO-level part (benchmark error, regional factors, true
  performance): the pricing error that does not diversify;
- ``B (10,000 / n)``: an ACO-level part that diversifies with size as member noise does
  (practice-level effects of the ACO's participants, the base-year noise of a benchmark
  built from the ACO's own history), ``B`` being its variance at 10,000 beneficiaries.

``A`` and ``B`` come from a least-squares fit of each ACO-year's squared deviation less
its member noise on ``1`` and ``10,000 / n``. The panel by ``aco_id`` splits each into a
persistent and a transient part: the same fit on the products of an ACO's deviations in
two years (lags 1 to ``MAX_LAG``, less the member noise covariance the cost model predicts
for overlapping populations) gives the persistent parts. Standard errors by a bootstrap
over ACOs (an ACO's years stay together).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..experience.costs import CostTables
from ..experience.uncertainty import PRACTICE_REFERENCE_MEMBERS

if TYPE_CHECKING:
    from ..scenario import Scenario

DATA = Path(__file__).resolve().parents[2] / "data" / "mssp" / "mssp_aco_years.csv.gz"
SIZE_POINTS = (5_000, 10_000, 20_000, 40_000, 80_000)
"""Beneficiaries at which the model is compared with the data; the data's band around each
point runs between the geometric midpoints of its neighbours."""
MIN_BENEFICIARIES = 3_000
"""ACO-years below this are left out (13 of 3,860, down to 152 beneficiaries: partial or
aberrant years far below the program's 5,000 floor, whose leverage on a fit in 1 / n would
otherwise decide it)."""
MAX_LAG = 4
"""Years apart of the pairs that measure persistence (within an MSSP agreement period of 3-5)."""


def load_mssp(path: str | Path = DATA) -> pd.DataFrame:
    """ACO-years of at least ``MIN_BENEFICIARIES`` with ``savings_rate`` and ``deviation`` (the
    savings rate less its year's mean)."""
    frame = pd.read_csv(path)
    frame = frame[frame.n_ab >= MIN_BENEFICIARIES].reset_index(drop=True)
    frame["savings_rate"] = (frame.benchmark_usd - frame.expenditure_usd) / frame.benchmark_usd
    by_year = frame.groupby("performance_year").savings_rate
    frame["deviation"] = frame.savings_rate - by_year.transform("mean")
    frame["year_count"] = by_year.transform("size")
    return frame


@dataclass(frozen=True)
class MemberNoise:
    """Member noise the cost model predicts for a population's mean cost."""

    cv: float                       # of one member-year's cost
    lag_correlation: np.ndarray     # of the population's mean cost 1, 2, ... years apart


def member_noise(tables: CostTables, churn: float, max_lag: int = MAX_LAG) -> MemberNoise:
    """CV of a member-year's cost and the correlation of a member slot's cost ``k`` years apart
    (a slot's member is replaced by an entrant on leaving), from the stationary band mix."""
    mix = tables.start_mix(churn)
    kernel = tables.year_end_kernel(churn)
    cost = tables.expected_cost
    second = (1 - tables.zero_prob) * np.array([s.var + s.mean**2 for s in tables.severities])
    mean = mix @ cost
    var = mix @ second - mean**2
    lag = [(mix * cost) @ np.linalg.matrix_power(kernel, k) @ cost - mean**2 for k in range(1, max_lag + 1)]
    return MemberNoise(float(np.sqrt(var) / mean), np.array(lag) / var)


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float

    def __str__(self) -> str:
        return f"{self.value:.2f} ({self.se:.2f})"


@dataclass(frozen=True)
class Components:
    """Estimated parts of the savings rate's variance, as standard deviations in percent."""

    level_sd_pct: Estimate            # persistent, size-independent
    yearly_sd_pct: Estimate           # transient, size-independent
    practice_level_sd_pct: Estimate   # persistent, at 10,000 beneficiaries, diversifies
    practice_yearly_sd_pct: Estimate  # transient, at 10,000 beneficiaries, diversifies
    year_sd_pct: Estimate             # of the year means about a linear time trend
    aco_years: int
    acos: int
    pairs: int
    years: int


def _sums_by_aco(frame: pd.DataFrame, noise: MemberNoise) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ACO, the normal-equation sums X'X (2x2) and X'y (2) of the variance fit and of the
    persistence fit, stacked: arrays (acos, 2, 2, 2) and (acos, 2, 2); and the pair counts."""
    codes, acos = pd.factorize(frame.aco_key)
    k = frame.year_count / (frame.year_count - 1)           # a year's mean was removed
    n = frame.n_ab.to_numpy(float)
    y_var = frame.deviation**2 * k - noise.cv**2 / n
    x_var = np.column_stack([np.ones_like(n), PRACTICE_REFERENCE_MEMBERS / n])
    parts = frame.assign(code=codes)[["code", "performance_year", "deviation", "n_ab"]]
    pairs = parts.merge(parts, on="code")
    lag = pairs.performance_year_y - pairs.performance_year_x
    pairs = pairs[(lag >= 1) & (lag <= len(noise.lag_correlation))]
    lag = (pairs.performance_year_y - pairs.performance_year_x).to_numpy()
    root_nn = np.sqrt(pairs.n_ab_x.to_numpy(float) * pairs.n_ab_y.to_numpy(float))
    y_cov = pairs.deviation_x * pairs.deviation_y - noise.lag_correlation[lag - 1] * noise.cv**2 / root_nn
    x_cov = np.column_stack([np.ones_like(root_nn), PRACTICE_REFERENCE_MEMBERS / root_nn])
    xx = np.zeros((len(acos), 2, 2, 2))
    xy = np.zeros((len(acos), 2, 2))
    for fit, (owner, x, y) in enumerate([(codes, x_var, y_var.to_numpy()),
                                         (pairs.code.to_numpy(), x_cov, y_cov.to_numpy())]):
        for i in range(2):
            xy[:, fit, i] = np.bincount(owner, x[:, i] * y, len(acos))
            for j in range(2):
                xx[:, fit, i, j] = np.bincount(owner, x[:, i] * x[:, j], len(acos))
    return xx, xy, np.bincount(pairs.code.to_numpy(), minlength=len(acos))


def _parts(xx: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Persistent/transient, size-independent/diversifying standard deviations (percent)."""
    total = np.linalg.solve(xx[0], xy[0])
    persistent = np.linalg.solve(xx[1], xy[1])
    var = np.array([persistent[0], total[0] - persistent[0], persistent[1], total[1] - persistent[1]])
    return 100 * np.sqrt(np.clip(var, 0, None))


def estimate_components(frame: pd.DataFrame, noise: MemberNoise, n_boot: int = 300,
                        seed: int = 0) -> Components:
    """The savings rate's variance parts with bootstrap standard errors (over ACOs)."""
    xx, xy, pair_count = _sums_by_aco(frame, noise)
    point = _parts(xx.sum(0), xy.sum(0))
    rng = np.random.default_rng(seed)
    boot = np.array([_parts(xx[i].sum(0), xy[i].sum(0))
                     for i in rng.integers(0, len(xx), (n_boot, len(xx)))])
    se = boot.std(axis=0, ddof=1)
    means = frame.groupby("performance_year").savings_rate.mean()
    years = means.index.to_numpy(float)
    resid = means.to_numpy() - np.polyval(np.polyfit(years, means.to_numpy(), 1), years)
    year_sd = 100 * float(np.sqrt(resid @ resid / (len(resid) - 2)))
    est = [Estimate(float(v), float(e)) for v, e in zip(point, se)]
    return Components(*est, Estimate(year_sd, year_sd / np.sqrt(2 * (len(resid) - 2))),
                      len(frame), len(xx), int(pair_count.sum()), len(means))


def band_of(n_ab: np.ndarray, points: tuple[int, ...] = SIZE_POINTS) -> np.ndarray:
    """Index of the size point whose band holds each ``n_ab`` (edges at geometric midpoints)."""
    edges = np.sqrt(np.array(points[:-1], float) * np.array(points[1:], float))
    return np.searchsorted(edges, n_ab)


def data_band_sd(frame: pd.DataFrame, n_boot: int = 300, seed: int = 0) -> pd.DataFrame:
    """The data's savings-rate standard deviation (year means removed) by size band, percent,
    with its bootstrap standard error over ACOs, the ACO-years and their harmonic mean size."""
    band = band_of(frame.n_ab.to_numpy())
    codes, acos = pd.factorize(frame.aco_key)
    rows_of = [np.flatnonzero(codes == a) for a in range(len(acos))]
    dev = frame.deviation.to_numpy()

    def sds(rows: np.ndarray) -> np.ndarray:
        return np.array([100 * dev[rows][band[rows] == b].std(ddof=1) for b in range(len(SIZE_POINTS))])

    rng = np.random.default_rng(seed)
    boot = np.array([sds(np.concatenate([rows_of[a] for a in pick]))
                     for pick in rng.integers(0, len(acos), (n_boot, len(acos)))])
    n = frame.n_ab.to_numpy(float)
    return pd.DataFrame({
        "members": SIZE_POINTS, "aco_years": np.bincount(band, minlength=len(SIZE_POINTS)),
        "harmonic_mean_n": [1 / np.mean(1 / n[band == b]) for b in range(len(SIZE_POINTS))],
        "data_sd_pct": sds(np.arange(len(frame))), "data_sd_se": boot.std(axis=0, ddof=1)})


def model_band_sd(scenario: Scenario, segment: str, trials: int,
                  points: tuple[int, ...] = SIZE_POINTS) -> pd.DataFrame:
    """The model's savings-rate standard deviation of one performance year at each size,
    percent, with its Monte Carlo standard error (cohort engine, no trend shocks: the data's
    year means are removed). The savings rate is measured against the expected cost."""
    from ..experience.engine import simulate_experience  # the engines only when simulating

    rows = []
    for members in points:
        sc = scenario.with_changes({"term": {"years": 1},
                                    "segments": {segment: {"members": members, "trend_shock_sd_pct": 0.0,
                                                           "trend_sd_pct": 0.0}},
                                    "systemic": {"event": None}}).with_run(
            trials=trials, engine="cohort", trials_per_block=min(trials, 500))
        exp = simulate_experience(sc)
        pmpm = (exp.allowed_usd / exp.member_months).sel(segment=segment).values.ravel()
        rate = pmpm / pmpm.mean()
        sd = rate.std(ddof=1)
        m4 = np.mean((rate - rate.mean()) ** 4)
        rows.append((members, 100 * sd, 100 * np.sqrt(max(m4 - sd**4, 0) / (4 * sd**2 * rate.size))))
    return pd.DataFrame(rows, columns=["members", "model_sd_pct", "model_sd_se"])
