"""The experience dataset: what stage 1 hands to settlement.

Every engine returns the same aggregates per (trial, year, segment), never
member-level arrays. Variables are declared once here, with dims and units;
new dimensions (group, measure) and variables are added to this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the scenario assembles this stage's inputs; no import back
    import xarray as xr

    from .inputs import ExperienceInputs


ExperienceBlock = dict[str, np.ndarray]
"""Arrays of one block of trials, keyed by variable name, trial axis first."""

BASE_DIMS = ("trial", "year", "segment")


@dataclass(frozen=True)
class Variable:
    dims: tuple[str, ...]
    units: str
    description: str
    dtype: type = np.float64


VARIABLES: dict[str, Variable] = {
    "member_months": Variable(BASE_DIMS, "member-months", "Months of attributed membership"),
    "allowed_usd": Variable(BASE_DIMS, "USD", "Total allowed cost of the members"),
    "excess_usd": Variable(BASE_DIMS + ("attachment",), "USD",
                           "Sum over members of annual cost above the stop-loss attachment"),
    "claimants": Variable(BASE_DIMS + ("attachment",), "members",
                          "Members whose annual cost exceeds the attachment", np.int64),
    "deaths": Variable(BASE_DIMS, "members", "Deaths during the year", np.int64),
    "leavers": Variable(BASE_DIMS, "members",
                        "Members replaced by entrants at year end (churn and deaths)", np.int64),
    "risk_score_member_months": Variable(BASE_DIMS, "member-months",
                                         "Sum over members of prospective risk score x months "
                                         "(divide by member_months for the average score)"),
    "quality_score_pct": Variable(BASE_DIMS, "percent", "Composite quality score of the year "
                                  "(NaN where the segment has no quality model)"),
    "trend_index": Variable(BASE_DIMS, "1", "Cost level relative to the base year: expected "
                            "trend compounded with the systemic shocks (before cost_factor)"),
    "group_members": Variable(BASE_DIMS + ("group",), "members", "Members by race/ethnicity group",
                              np.int64),
    "measure_denominator": Variable(BASE_DIMS + ("measure", "group"), "members",
                                    "Eligible members of a quality measure (sampled)", np.int64),
    "measure_numerator": Variable(BASE_DIMS + ("measure", "group"), "members",
                                  "Members meeting the measure (sampled at the true rate)", np.int64),
    "measure_baseline_measured_denominator": Variable(
        ("trial", "segment", "measure", "group"), "members", "Eligible members of the baseline "
        "measurement (sampled: group counts multinomial, then binomial eligibility)", np.int64),
    "measure_baseline_measured_numerator": Variable(
        ("trial", "segment", "measure", "group"), "members", "Members meeting the measure at "
        "baseline (sampled at the baseline rate)", np.int64),
    "measure_numerator_no_change": Variable(
        BASE_DIMS + ("measure", "group"), "members", "Members the year would have shown meeting "
        "the measure had no true rate moved from baseline (same denominators; for the noise "
        "payment)", np.int64),
    "measure_rate_true_pct": Variable(("trial", "year", "measure", "group"), "percent",
                                      "Underlying rate of the measure (no sampling noise)"),
    "program_flagged": Variable(BASE_DIMS + ("stratum",), "members",
                                "Members flagged into each care-management stratum", np.int64),
    "program_engaged": Variable(BASE_DIMS + ("stratum",), "members",
                                "Flagged members engaged by the program", np.int64),
    "program_cost_usd": Variable(BASE_DIMS, "USD", "Care-management program cost (staff x cost "
                                 "per care manager), allocated to segments by members"),
}
"""Per-trial variables, filled by the engines."""

HISTORY_DIMS = ("trial", "base_year", "segment")
HISTORY_VARIABLES: dict[str, tuple[str, Variable]] = {
    "base_member_months": ("member_months", Variable(
        HISTORY_DIMS, "member-months", "Months of membership in the base years before year 1")),
    "base_allowed_usd": ("allowed_usd", Variable(
        HISTORY_DIMS, "USD", "Total allowed cost of the members in the base years")),
    "base_risk_score_member_months": ("risk_score_member_months", Variable(
        HISTORY_DIMS, "member-months", "Risk score x months summed over members in the base years")),
}
"""Base-year variables (only with ``term.base_years``) and the term variable each continues."""


def _sizes(scenario: ExperienceInputs, n_trials: int) -> dict[str, int]:
    q = scenario.quality
    return {"trial": n_trials, "year": scenario.term.years, "segment": len(scenario.segments),
            "attachment": len(scenario.stop_loss_attachments()),
            "group": 0 if q is None else len(q.groups), "measure": 0 if q is None else len(q.measures),
            "stratum": 0 if scenario.program is None else len(scenario.program.strata)}




def baseline_variables(scenario: ExperienceInputs) -> dict[str, tuple]:
    """Trial-independent measure baselines: rates, and expected denominators by segment."""
    q = scenario.quality
    if q is None:
        return {"measure_baseline_rate_pct": (("measure", "group"), np.zeros((0, 0))),
                "measure_baseline_denominator": (("segment", "measure", "group"),
                                                 np.zeros((len(scenario.segments), 0, 0)))}
    mix = np.array([[seg.group_mix[g] for g in q.groups] for seg in scenario.segments.values()])
    members = np.array([seg.members for seg in scenario.segments.values()], float)
    expected = members[:, None, None] * q.eligible(list(scenario.segments))[:, :, None] * mix[:, None, :]
    return {"measure_baseline_rate_pct": (("measure", "group"), q.table("baseline_rate_pct"),
                                          {"units": "percent", "description": "Rate before year 1"}),
            "measure_baseline_denominator": (("segment", "measure", "group"), expected,
                                             {"units": "members", "description": "Expected eligible "
                                              "members (members x eligible share x group share)"})}


def empty_block(scenario: ExperienceInputs, n_trials: int) -> ExperienceBlock:
    """Zeroed arrays for ``n_trials`` trials, to be filled by an engine."""
    sizes = _sizes(scenario, n_trials)
    return {name: np.zeros(tuple(sizes[d] for d in v.dims), v.dtype) for name, v in VARIABLES.items()}


def prepare_dataset() -> None:
    """Import xarray and build one small dataset, which the first dataset of a process pays
    for (xarray looks for dask and its array module then: most of a second with dask
    installed); done while the workers simulate, it is off the run's path."""
    import xarray as xr

    xr.Dataset({"x": ("x", np.zeros(1))}) * 1


def concatenate(blocks: list[ExperienceBlock]) -> ExperienceBlock:
    """Blocks of consecutive trials (in trial order) as one block."""
    return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


def experience_dataset(blocks: list[ExperienceBlock], scenario: ExperienceInputs,
                       first_trial: int = 0) -> xr.Dataset:
    """Concatenate blocks (in trial order) into a labelled dataset."""
    import xarray as xr  # not needed by the workers that fill blocks

    data = concatenate(blocks)
    n = len(data["member_months"])
    coords = {
        "trial": np.arange(first_trial, first_trial + n),
        "year": scenario.years,
        "segment": list(scenario.segments),
        "attachment": np.array(scenario.stop_loss_attachments(), float),
    }
    q = scenario.quality
    coords["group"] = [] if q is None else list(q.groups)
    coords["measure"] = [] if q is None else list(q.measures)
    coords["stratum"] = [] if scenario.program is None else list(scenario.program.strata)
    variables = {name: (v.dims, data[name], {"units": v.units, "description": v.description})
                 for name, v in VARIABLES.items()}
    members = np.array([seg.members for seg in scenario.segments.values()], float)
    variables["segment_members"] = ("segment", members, {
        "units": "members", "description": "Members of the segment (persons; constant over the "
        "term, leavers replaced): the assigned beneficiaries of an MSR lookup"})
    if scenario.term.base_years:
        b = scenario.term.base_years
        coords["base_year"] = list(range(scenario.term.first_year - b, scenario.term.first_year))
        variables |= {name: (v.dims, data[name], {"units": v.units, "description": v.description})
                      for name, (_, v) in HISTORY_VARIABLES.items()}
    ds = xr.Dataset(variables | baseline_variables(scenario), coords=coords)
    with np.errstate(invalid="ignore", divide="ignore"):
        measured = 100 * ds["measure_numerator"] / ds["measure_denominator"]
    ds["measure_rate_pct"] = measured.assign_attrs(units="percent", description="Measured rate "
                                                   "(numerator / denominator; NaN without eligible members)")
    ds["attachment"].attrs["units"] = "USD per member per year"
    ds.attrs["title"] = f"vbcsim experience: {scenario.name}"
    return ds
