"""Risk scores that predict as badly as real ones, and drift with coding intensity.

The cost model's own prospective score of a member, ``m`` (expected cost of the year given
last year's band, over the mean: :meth:`CostTables.prospective_scores`), is the best possible
prediction given the band: its member-level R-squared against the year's realised cost is
``R0² = Var(m) / Var(c)`` (``c`` = cost / mean), about 0.29 commercial and 0.35 Medicare on
the shipped models. Real prospective models do worse: CMS-HCC explains about 12-13% of the
variance of a Medicare member's annual cost, commercial models about 15-20% (approx.;
domain notes section 4b). A segment may state its target R-squared; its members' scores are
then

    s = 1 + lambda (m - 1) + eps,   eps ~ N(0, sigma²) independent of everything else,

with lambda and sigma² such that the score is *calibrated* (a regression of cost on score
has slope 1, as a risk model fitted by least squares is) and reaches the target R². Because
``E[c | m] = m``, ``Cov(s, c) = lambda Var(m)`` and ``Var(s) = lambda² Var(m) + sigma²``:

    slope 1:  lambda Var(m) = lambda² Var(m) + sigma²  =>  sigma² = lambda (1 - lambda) Var(m)
    R²:       Cov(s, c)² / (Var(s) Var(c)) = lambda² Var(m)² / (lambda Var(m) Var(c)) = lambda R0²

so ``lambda = R²_target / R0²`` and ``sigma² = lambda (1 - lambda) Var(m)`` (a target above
``R0²`` is refused: the band is all the model knows).

*Coding intensity*: documentation makes scores drift up without any change in cost (section
4b): a yearly drift ``d`` multiplies every score by
``(1 + d)^(y - 1)`` in term year ``y`` (year 1 untouched; a base year ``j`` years before
year 1 gets ``(1 + d)^-j``).

Both parts act on the experience aggregate ``risk_score_member_months`` of each (trial,
year, segment), which is linear in the scores: the sum over members of ``s x months`` is
``(1 - lambda) member_months + lambda x (the sum of m x months) + (the sum of eps x months)``.
The last term is normal with variance ``sigma² x (the sum of months²)``; it is drawn at the
aggregate level from its own stream (:attr:`Purpose.RISK_SCORE_NOISE`) with the sum of
months² taken as ``12 x member_months``, exact for full-year members (decedents, with fewer
months, make it an overstatement by at most their share of months: under 3% for Medicare).
So the compiled engines are untouched and both engines get the same adjustment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .costs import MEAN_MONTHS_LOST_AT_DEATH, CostTables
from .population import CostModel, RiskScoring, Segment
from .streams import Purpose, standard_normals

if TYPE_CHECKING:
    from .inputs import ExperienceInputs


def history_member_years(tables: CostTables, churn: float) -> np.ndarray:
    """Expected member-years of the first simulated year by history (last year's band, then
    entrants), as a distribution: the member-months by history over each history's months."""
    months = tables.year_one_history_member_months(churn)
    death = np.append(tables.transition @ tables.death_prob, tables.entrant_mix @ tables.death_prob)
    years = months / (12 - MEAN_MONTHS_LOST_AT_DEATH * death)
    return years / years.sum()


def best_r2(tables: CostTables, churn: float) -> tuple[float, float]:
    """``(R0², Var(m))`` of the cost model's own scores ``m`` over the first simulated
    year's member-years (``Var(c)`` with cost relative to that year's mean; R² is scale-free).

    ``Var(c) = E[E[C² | band]] - mean²`` over the history mix, where a band's second
    moment is ``(1 - zero share) (variance + mean²)`` of its severity."""
    mix = history_member_years(tables, churn)
    to_band = np.vstack([tables.transition, tables.entrant_mix])          # (H, K)
    second = (1 - tables.zero_prob) * np.array([s.var + s.mean**2 for s in tables.severities])
    expected = to_band @ tables.expected_cost
    mean = mix @ expected
    var_cost = mix @ (to_band @ second) / mean**2 - 1
    scores = np.append(*tables.prospective_scores(churn))  # m on the scale the engines apply
    var_m = mix @ scores**2 - (mix @ scores) ** 2
    # Var(c) is of cost over the member-year mean; on the scores' scale it is that times
    # (mean score)², the scores being normalised by the member-month mean
    return float(var_m / (var_cost * (mix @ scores) ** 2)), float(var_m)


def score_noise(tables: CostTables, churn: float, r2: float) -> tuple[float, float]:
    """``(lambda, sigma²)`` reaching member-level R-squared ``r2`` with calibrated scores."""
    r0, var_m = best_r2(tables, churn)
    if r2 > r0:
        raise ValueError(f"prospective_r2: {r2:g} is above {r0:.3f}, the best a score can "
                         "reach given the cost band (the cost model's own prediction)")
    lam = r2 / r0
    return lam, lam * (1 - lam) * var_m


def check_prospective_r2(seg: Segment, model: CostModel, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` if the segment's target R² cannot be reached."""
    try:
        score_noise(CostTables.from_model(model), seg.churn_pct / 100, seg.risk_scoring.prospective_r2)
    except ValueError as err:
        raise ValueError(f"{where}.{err}") from None


def adjust_scores(scenario: ExperienceInputs, trials: range, score_months: np.ndarray,
                  member_months: np.ndarray, base_years: int = 0) -> None:
    """Apply each segment's :class:`RiskScoring` to ``score_months`` (trial, year, segment)
    in place; segments without one are left untouched, bit for bit. The arrays may start
    with ``base_years`` simulated before year 1 (coding intensity compounds from year 1)."""
    years = member_months.shape[1]
    for s, seg in enumerate(scenario.segments.values()):
        rs: RiskScoring | None = seg.risk_scoring
        if rs is None:
            continue
        if rs.prospective_r2 is not None:
            tables = CostTables.from_model(scenario.cost_models[seg.cost_model])
            lam, var_eps = score_noise(tables, seg.churn_pct / 100, rs.prospective_r2)
            noise = np.stack([standard_normals(scenario.run.seed, t, Purpose.RISK_SCORE_NOISE, years, s)
                              for t in trials])
            sd = np.sqrt(var_eps * 12.0 * member_months[:, :, s])
            score_months[:, :, s] = ((1 - lam) * member_months[:, :, s]
                                     + lam * score_months[:, :, s] + sd * noise)
        score_months[:, :, s] *= (1 + rs.coding_intensity_pct / 100) ** (np.arange(years) - base_years)

