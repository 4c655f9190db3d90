"""The scenario: one typed model of everything a run needs, loaded from TOML.

Conventions kept everywhere: a field ending in ``_pct`` is in percent
(``churn_pct = 20`` means 20%); probability vectors and transition matrices
are fractions that sum to 1; money ends in ``_usd`` (annual amounts) or
``_pmpm`` (per member per month). The JSON Schema (``vbcsim schema``) is
generated from these classes, so their field descriptions are the reference
documentation of the format.

Contract terms live in :mod:`simulator.contract`; this module assembles them
with the population, cost and run settings and checks that the parts agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Literal

import tomli_w

import numpy as np
from pydantic import Field, PrivateAttr, ValidationError, model_validator

from .settlement.contract import Contract, ContractFile, resolve_variants
from .capital.terms import CapitalTerms
from .experience.measures import QualityModel
from .experience.population import CostModel, Segment, Systemic
from .experience.programs import Program
from .core.errors import ScenarioError
from .core.toml import MAX_NESTING, nesting_depth, read_toml
from .core.plausibility import plausibility_warnings
from .core.overrides import OverrideError, apply_overrides, parse_override
from .core.inputs import (Name, StrictModel, check_per_year, deep_merge,
                    per_year_fraction, validation_problems)

STANDARD_ATTACHMENTS_USD = (100_000.0, 150_000.0, 200_000.0, 250_000.0, 300_000.0, 400_000.0,
                            500_000.0, 750_000.0, 1_000_000.0)

class Term(StrictModel):
    years: int = Field(ge=1, le=30, description="Length of the contract term in years.")
    first_year: int = Field(2019, ge=1900, le=2200, description="Calendar year of year 1 (labels only).")
    base_years: int = Field(0, ge=0, le=10, description="Years simulated before year 1 on the same "
                            "population, for a historical benchmark (kept apart in the experience).")


class RunSettings(StrictModel):
    trials: int = Field(1000, ge=1, le=10_000_000, description="Monte Carlo trials (simulated futures).")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Root seed; same scenario and seed, same numbers.")
    trials_per_block: int = Field(20, ge=1, le=100_000, description="Trials per task (performance "
                                  "only: results do not depend on it).")
    engine: Literal["member", "cohort", "auto"] = Field(
        "member", description="Experience engine: member (every member simulated, the reference), "
                              "cohort (state counts, exact tails: much faster) or auto (cohort).")
    backend: Literal["local", "dask"] = Field(
        "local", description="Where blocks run: local worker processes, or a dask.distributed "
                             "cluster (results are identical).")

    @model_validator(mode="before")
    @classmethod
    def _no_scheduler(cls, data: Any) -> Any:
        # A scenario is data people e-mail to each other: it must not name a machine to connect
        # to (dask's handshake unpickles). The address comes from --scheduler or the environment.
        if isinstance(data, dict) and "scheduler" in data:
            raise ValueError("scheduler: a scenario file may not name a dask scheduler (it would "
                             "make vbcsim connect to that address); remove this line and give "
                             "--scheduler ADDRESS or $DASK_SCHEDULER_ADDRESS instead")
        return data


class Valuation(StrictModel):
    discount_rate_pct: float = Field(3.0, ge=-5, le=50, description="Annual rate for present values.")


class Scenario(StrictModel):
    """Everything one run needs: term, population, cost model, contract and run settings."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    run: RunSettings = RunSettings()
    term: Term
    valuation: Valuation = Valuation()
    systemic: Systemic = Systemic()
    cost_models: dict[Name, CostModel] = Field(min_length=1)
    segments: dict[Name, Segment] = Field(min_length=1, max_length=64)
    quality: QualityModel | None = Field(None, description="Quality measures by group.")
    program: Program | None = Field(None, description="Care-management program (population health).")
    program_designs: dict[Name, dict[str, Any]] = Field(
        default_factory=dict, description="Alternative program designs to compare (vbcsim "
        "programs): each table replaces the [program] keys it names.")
    contract: Contract
    variants: dict[Name, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named contract variants: each table holds only the terms that differ from "
                    "[contract] and is settled on the same simulated experience.")
    capital: CapitalTerms | None = Field(None, description="Capital, cash timing and financing "
                                         "of the provider (vbcsim capital).")

    _source_text: str = PrivateAttr("")
    _source_name: str = PrivateAttr("<scenario>")
    _warnings: list[tuple[str, str]] = PrivateAttr(default_factory=list)
    _overrides: tuple[str, ...] = PrivateAttr(())
    _history_of: Any = PrivateAttr(None)  # a scenario's base years and term (experience.history)

    @model_validator(mode="after")
    def _parts_agree(self) -> Scenario:
        for name, seg in self.segments.items():
            if seg.cost_model not in self.cost_models:
                raise ValueError(f"segments.{name}.cost_model: no cost model named '{seg.cost_model}' "
                                 f"(have {sorted(self.cost_models)})")
            check_per_year(seg.cost_trend_pct, self.term.years, f"segments.{name}.cost_trend_pct")
            if seg.risk_scoring is not None and seg.risk_scoring.prospective_r2 is not None:
                from .experience.risk_scores import check_prospective_r2  # scipy: only when asked
                check_prospective_r2(seg, self.cost_models[seg.cost_model], f"segments.{name}.risk_scoring")
        self._check_quality_model()
        self._check_program()
        k = len(self.segments)
        if k > 1 and self.systemic.trend_shock_correlation < -1 / (k - 1):
            raise ValueError(f"systemic.trend_shock_correlation: with {k} segments it must be at least "
                             f"{-1 / (k - 1):.3f} to be a valid correlation")
        if k > 1 and self.systemic.pricing_correlation < -1 / (k - 1):
            raise ValueError(f"systemic.pricing_correlation: with {k} segments it must be at least "
                             f"{-1 / (k - 1):.3f} to be a valid correlation")
        self.check_contracts(self.contracts())
        if self.capital is not None:
            self.capital.check_against(list(self.segments))
        return self

    def _check_quality_model(self) -> None:
        q = self.quality
        for name, seg in self.segments.items():
            if q is None:
                if seg.group_mix is not None:
                    raise ValueError(f"segments.{name}.group_mix: needs [quality] groups")
                continue
            if seg.group_mix is None or set(seg.group_mix) != set(q.groups):
                raise ValueError(f"segments.{name}.group_mix: expected a share for each group {q.groups}")
            if seg.quality_score is not None and name in self.measured_segments():
                raise ValueError(f"segments.{name}.quality_score: give either this or [quality] measures "
                                 "with cut points for the segment, not both")
        if q is not None:
            for m, measure in q.measures.items():
                unknown = sorted(set(measure.eligible_pct) - set(self.segments))
                if unknown:
                    raise ValueError(f"quality.measures.{m}.eligible_pct: unknown segment(s) {unknown}")

    def designs(self) -> dict[str, Scenario]:
        """This scenario without a program, with its program, and with each alternative design."""
        out = {"no_program": self.model_copy(update={"program": None, "program_designs": {}})}
        if self.program is not None:
            out["base"] = self.model_copy(update={"program_designs": {}})
            for name in self.program_designs:
                out[name] = self.model_copy(update={"program": self._design(name), "program_designs": {}})
        return out

    def _design(self, name: str) -> Program:
        """A program design: the [program] keys it names replaced (validated)."""
        try:
            return Program.model_validate(self.program.model_dump() | self.program_designs[name])
        except ValidationError as err:
            detail = "; ".join(f"{p}: {m}" for p, m in validation_problems(err))
            raise ValueError(f"program_designs.{name}: {detail}") from None

    def _check_program(self) -> None:
        if self.program_designs and self.program is None:
            raise ValueError("program_designs: needs a [program] to vary")
        if self.program is None:
            return
        designs = {"program": self.program} | {
            f"program_designs.{name}": self._design(name) for name in self.program_designs}
        known = {b.name for m in self.cost_models.values() for b in m.bands}
        for where, p in designs.items():
            if isinstance(p.care_managers, list) and len(p.care_managers) != self.term.years:
                raise ValueError(f"{where}.care_managers: expected one number or {self.term.years} "
                                 f"(one per year), got {len(p.care_managers)}")
            for name, stratum in p.strata.items():
                unknown = sorted(set(stratum.bands) - known)
                if unknown:
                    raise ValueError(f"{where}.strata.{name}.bands: no cost band named {unknown}")

    def measured_segments(self) -> list[str]:
        """Segments whose composite quality score comes from the measures' cut points."""
        if self.quality is None:
            return []
        return [s for s in self.segments if any(
            m.cut_points_pct and m.eligible_pct.get(s, 0) > 0 for m in self.quality.measures.values())]

    def check_contracts(self, contracts: dict[str, Contract]) -> None:
        """Raise ``ValueError`` if a contract does not fit the segments, term or quality model."""
        scored = set(self.measured_segments()) | {
            s for s, seg in self.segments.items() if seg.quality_score is not None}
        for label, contract in contracts.items():
            where = "contract" if label == "base" else f"variants.{label}"
            contract.check_against(list(self.segments), self.term.years, label)
            for name in contract.uses_quality():
                if name not in scored:
                    raise ValueError(f"segments.{name}.quality_score: required (or [quality] measures "
                                     f"with cut points), as {where}.segments.{name}.quality uses the "
                                     "quality score")
            for name, terms in contract.segments.items():
                weighted = len(terms.historical_benchmark.base_year_weights_pct) \
                    if terms.historical_benchmark is not None else 0
                if weighted > self.term.base_years:
                    raise ValueError(f"{where}.segments.{name}.historical_benchmark.base_year_weights_pct: "
                                     f"{weighted} base years weighted; term.base_years is {self.term.base_years}")
                if terms.equity is None:
                    continue
                path = f"{where}.segments.{name}.equity"
                if self.quality is None:
                    raise ValueError(f"{path}: an equity incentive needs [quality] groups and measures")
                terms.equity.check_against(self.quality.measures, self.quality.groups, path)

    # -- derived views ---------------------------------------------------------------
    def contracts(self) -> dict[str, Contract]:
        """The base contract and every variant, fully resolved, keyed by name."""
        return resolve_variants(self.contract, self.variants)

    def stop_loss_attachments(self) -> list[float]:
        """Attachments at which the cost above is recorded: a standard grid (so that new
        terms can be settled on a stored run) plus every one a contract variant uses."""
        found = {t.stop_loss.attachment_usd for c in self.contracts().values()
                 for t in c.segments.values() if t.stop_loss is not None}
        return sorted(found | set(STANDARD_ATTACHMENTS_USD))

    def cost_trend(self, segment: str) -> np.ndarray:
        """Expected cost trend per year of the term, as fractions."""
        return per_year_fraction(self.segments[segment].cost_trend_pct, self.term.years)

    @property
    def years(self) -> list[int]:
        return list(range(self.term.first_year, self.term.first_year + self.term.years))

    @property
    def source_text(self) -> str:
        return self._source_text or self.model_dump_json(indent=1)

    @property
    def source_name(self) -> str:
        return self._source_name

    @property
    def warnings(self) -> list[tuple[str, str]]:
        """``(field path, message)`` for legal values that are probably a unit slip."""
        return list(self._warnings)

    @property
    def overrides(self) -> tuple[str, ...]:
        """The ``PATH=VALUE`` overrides applied to the file (``vbcsim run --set``)."""
        return self._overrides

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source_text.encode()).hexdigest()

    def with_run(self, **settings: Any) -> Scenario:
        """A copy with run settings replaced (``None`` values ignored); keeps the source text."""
        merged = {**self.run.model_dump(), **{k: v for k, v in settings.items() if v is not None}}
        try:
            run = RunSettings.model_validate(merged)
        except ValidationError as err:
            problems = [(f"run.{p}", m) for p, m in validation_problems(err)]
            raise ScenarioError(self.source_name, problems) from None
        return self.model_copy(update={"run": run})

    def with_changes(self, changes: dict[str, Any]) -> Scenario:
        """A validated copy with ``changes`` deep-merged in (for notebooks and tests)."""
        data = deep_merge(self.model_dump(exclude_unset=True), changes)
        return scenario_from_dict(data, f"{self.source_name} (modified)")


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>", text: str = "") -> Scenario:
    """Validate a scenario given as a dictionary; errors become :class:`ScenarioError`."""
    if nesting_depth(data) > MAX_NESTING:
        raise ScenarioError(source, [("", f"tables or arrays nested more than {MAX_NESTING} deep")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, validation_problems(err)) from None
    scenario._source_name = source
    scenario._source_text = text
    scenario._warnings = plausibility_warnings(data)
    return scenario


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read and validate a scenario TOML file, with optional ``PATH=VALUE`` overrides.

    With overrides, the scenario's text (written to a run's folder and manifest) is the
    effective scenario: the file's content with the overrides applied, as TOML.

    Raises
    ------
    ScenarioError
        Naming the file, the field (or the override) and what was expected.
    """
    text, data = read_toml(path)
    if not overrides:
        return scenario_from_dict(data, str(path), text)
    try:
        data = apply_overrides(data, [parse_override(o) for o in overrides])
    except OverrideError as err:
        raise ScenarioError(str(path), [(f"--set {err.path}", str(err))]) from None
    header = "".join(f"# --set {o}\n" for o in overrides)
    effective = f"# {Path(path).name} with overrides (vbcsim run --set):\n{header}\n{tomli_w.dumps(data)}"
    scenario = scenario_from_dict(data, f"{path} (with --set)", effective)
    scenario._overrides = tuple(overrides)
    return scenario


def load_contracts(path: str | Path, scenario: Scenario) -> dict[str, Contract]:
    """Read a contract file and resolve it against the base contract of ``scenario``.

    Raises
    ------
    ScenarioError
        Naming the file and the field, also when the terms do not fit the run's
        segments, term or quality model.
    """
    text, data = read_toml(path)
    return contracts_from_data(data, scenario, str(path))


def contracts_from_data(data: dict[str, Any], scenario: Scenario, source: str) -> dict[str, Contract]:
    """As :func:`load_contracts`, for a contract file's content already parsed (``source`` names it)."""
    try:
        contracts = ContractFile.model_validate(data).contracts(scenario.contract)
        scenario.check_contracts(contracts)
    except ValidationError as err:
        raise ScenarioError(source, validation_problems(err)) from None
    except ValueError as err:
        raise ScenarioError(source, [("", str(err))]) from None
    return contracts


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (for editors and validators)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vbcsim scenario"
    return schema
