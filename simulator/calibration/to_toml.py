"""A calibration as a commented ``[cost_models.NAME]`` TOML table for a scenario file.

Every number carries a comment saying how it was estimated and on how many members (or
member-years); standard errors are given where the fit has them. The segment settings the
extract also informs (churn, cost trend, group mix) are written as comments, since they
belong to a ``[segments.X]`` table the user assembles.
"""

from __future__ import annotations

import tomllib

import numpy as np

from ..experience.population import CostModel
from .estimate import Calibration
from .latent import MAX_ITERATIONS, band_cvs, band_means

DIGITS = 6


def _probabilities(values: np.ndarray) -> list[float]:
    """Rounded to DIGITS places, the largest entry absorbing the rounding so they sum to 1."""
    out = np.round(np.clip(values, 0, None) / np.sum(values), DIGITS)
    out[np.argmax(out)] += round(1.0 - float(out.sum()), DIGITS)
    return [float(x) for x in np.round(out, DIGITS)]


def _vector(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.{DIGITS}f}" for v in values) + "]"


def _segment_comments(cal: Calibration) -> list[str]:
    seg, lines = cal.segment, ["# Segment settings the extract also informs (copy into [segments.X]):"]
    if "churn" in seg:
        rate, se, n = seg["churn"]
        lines.append(f"# churn_pct = {100 * rate:.2f}   # survivors absent the next year, "
                     f"on {n:,} survivor-years; se {100 * se:.2f}")
    if "trend" in seg:
        rate, se, years, n = seg["trend"]
        lines.append(f"# cost_trend_pct = {100 * rate:.2f}   # log-linear in cost per member-year "
                     f"of exposure, years {years[0]}-{years[-1]}, {n:,} member-years; se "
                     f"{100 * se:.2f} (sampling error only)")
    else:
        lines.append("# cost_trend_pct: not estimable (fewer than two years with usable costs)")
    if "group_mix" in seg:
        mix, n = seg["group_mix"]
        names = [g if g.isidentifier() else f'"{g}"' for g in mix]
        lines.append("# group_mix = { " + ", ".join(f"{g} = {v:.4f}" for g, v in zip(names, mix.values()))
                     + f" }}   # {n:,} members, last group recorded")
    return lines


def _band(cal: Calibration, k: int, name: str) -> list[str]:
    p, se, n = cal.params, cal.se, {key: v[k] for key, v in cal.band_counts.items()}
    mean, cv = band_means(p)[k], band_cvs(p)[k]
    return [f"\n[[cost_models.{name}.bands]]", f'name = "band_{k + 1}"',
            f"mean_annual_usd = {mean:.2f}   # maximum likelihood ({p.family[k]}, EM over latent "
            f"bands) on {n['severity']:,.0f} expected non-zero member-years; se {se.mean_usd[k]:,.2f}",
            f"cv = {cv:.4f}   # same fit; se {se.cv[k]:.4f}",
            f'severity = "{p.family[k]}"   # the family with the larger likelihood in this band',
            f"zero_cost_pct = {100 * p.zero[k]:.4f}   # posterior share of zero-cost years among "
            f"{n['zero']:,.0f} expected member-years with a usable cost; se {100 * se.zero[k]:.4f}",
            f"death_pct = {100 * p.death[k]:.4f}   # posterior share of years ending in death among "
            f"{n['death']:,.0f} expected member-years; se {100 * se.death[k]:.4f}"]


def calibration_toml(cal: Calibration, name: str, source: str) -> str:
    """The TOML text; checked to load as a :class:`CostModel` before it is returned."""
    p, se, panel = cal.params, cal.se, cal.panel
    k = len(p.zero)
    starters = int((panel.start == 0).sum())
    entrants = len(panel.start) - starters
    cost_years = panel.years[panel.cost_observed.any(axis=0)]
    lines = [f"# Calibrated by `vbcsim calibrate` from {source}: {len(panel.start):,} members, "
             f"{int(panel.present.sum()):,} member-years, years {panel.years[0]}-{panel.years[-1]} "
             f"(costs from {', '.join(str(y) for y in cost_years)}).",
             f"# Bands are latent states fitted by maximum likelihood (EM, {cal.iterations} "
             f"iterations{', the limit: not fully converged' if cal.iterations >= MAX_ITERATIONS else ''})"
             " from start edges on the annualised cost "
             f"{', '.join(f'${e:,.0f}' for e in cal.edges_usd)}; standard errors (se) from "
             "the outer product of members' scores.",
             f"# Transition rows: credibility-weighted between the fit (weight Z, shown per row) and "
             f"the prior {cal.prior_name} re-banded to these bands; Z = min(1, sqrt(n / 1082)) of "
             "the row's n expected moves.", *_segment_comments(cal), "",
             f"[cost_models.{name}]",
             f'description = "Calibrated to {source} ({len(panel.start):,} members)"',
             f"initial_mix = {_vector(_probabilities(p.initial))}   # posterior band of the "
             f"{starters:,} members present in {panel.years[0]}; se "
             f"{_vector([float(x) for x in np.round(se.initial, DIGITS)])}"]
    if entrants:
        lines.append(f"entrant_mix = {_vector(_probabilities(p.entrant))}   # posterior band of "
                     f"the first year of {entrants:,} members who joined later; se "
                     f"{_vector([float(x) for x in np.round(se.entrant, DIGITS)])}")
    else:
        lines.append(f"entrant_mix = {_vector(_probabilities(p.initial))}   # no member joined "
                     "after the first year: the initial mix")
    lines.append("transition = [")
    for i in range(k):
        lines.append(f"  {_vector(_probabilities(cal.transition[i]))},   # Z = {cal.credibility[i]:.3f} "
                     f"on {cal.row_moves[i]:,.0f} moves; fit {_vector(list(np.round(p.transition[i], 4)))}"
                     f" (se {_vector(list(np.round(se.transition[i], 4)))}); prior "
                     f"{_vector(list(np.round(cal.prior_transition[i], 4)))}")
    lines.append("]")
    for b in range(k):
        lines += _band(cal, b, name)
    text = "\n".join(lines) + "\n"
    CostModel.model_validate(tomllib.loads(text)["cost_models"][name])
    return text
