"""The workbench's state: a stored run, the terms on the page, saved variants.

Every number comes from the library, on the run's stored experience: terms are
validated as a contract file is by ``vbcsim settle``
(:func:`simulator.scenario.contracts_from_data`), settled by
:func:`simulator.settlement.rules.settle`, and measured by
:mod:`simulator.analysis` (risk measures, comparisons, the bridge, the charts).
The run's base contract is read from its stored settlement, so the page's
differences are to exactly what the run reported.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w
import xarray as xr
from matplotlib.figure import Figure

from ..analysis import plots
from ..analysis.bridge import Bridge, result_bridge
from ..analysis.compare import compare
from ..analysis.risk import gain_horizons, risk_measures
from ..core.errors import ScenarioError
from ..run import open_run, stored_contracts
from ..scenario import contracts_from_data
from ..settlement.contract import Contract
from ..settlement.rules import settle
from .controls import RunContext

CURRENT = "current"
CARD_MEASURES = (("mean", "Expected gain"), ("p_loss", "P(loss)"), ("var_95", "VaR 95%"),
                 ("tvar_95", "TVaR 95%"), ("var_99_5", "VaR 99.5%"), ("tvar_99_5", "TVaR 99.5%"))
DIFF_MEASURES = ("mean", "p_loss", "var_95", "tvar_95", "var_99_5", "tvar_99_5")
CACHE_SIZE = 8
EXCEEDANCE_POINTS = 400
"""Points of each exceedance curve sent to the page: every trial in the far tail, fewer in the body."""


@dataclass
class Settled:
    """Terms settled on the run: the settlement (variant ``current``) and its gains by horizon,
    dims (trial, horizon, segment); ``both`` adds the base when a comparison needs it."""

    current: xr.Dataset
    gains: xr.DataArray
    both: xr.Dataset | None = None


class Workbench:
    """Terms settled on one stored run; thread-safe for a local server."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        stored = open_run(self.run_dir)
        self.scenario, self.experience = stored.scenario, stored.experience
        self.base_settlement = stored.settlement.sel(variant=["base"])
        self.base_gains = gain_horizons(self.base_settlement).sel(variant="base")
        self.run_variants = stored_contracts(self.run_dir, self.scenario)
        self.saved: dict[str, Contract] = {}
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Settled] = OrderedDict()

    @property
    def trials(self) -> int:
        return self.experience.sizes["trial"]

    def context(self) -> RunContext:
        quality = self.scenario.quality
        return RunContext([float(a) for a in self.experience["attachment"].values],
                          self.scenario.term.years,
                          list(quality.measures) if quality else [], list(quality.groups) if quality else [])

    # -- terms -------------------------------------------------------------------------
    def contract(self, terms: dict[str, Any]) -> Contract:
        """The contract of the page's terms, checked as ``vbcsim settle`` checks a contract file.

        Raises :class:`ScenarioError` naming each field that is wrong.
        """
        contract = contracts_from_data({"contract": terms}, self.scenario, "terms")["base"]
        available = set(self.context().attachments_usd)
        for name, seg in contract.segments.items():
            if seg.stop_loss is not None and seg.stop_loss.attachment_usd not in available:
                raise ScenarioError("terms", [(f"segments.{name}.stop_loss.attachment_usd",
                                               "not simulated in this run")])
        return contract

    def named(self, name: str) -> Contract:
        """A saved variant or one of the run's own variants (``base`` included)."""
        if name in self.saved:
            return self.saved[name]
        if name in self.run_variants:
            return self.run_variants[name]
        raise KeyError(name)

    def save(self, name: str, contract: Contract) -> None:
        if not name or name == "base" or not name.replace("_", "").isalnum():
            raise ValueError("a variant name is letters, digits and _, and not 'base'")
        self.saved[name] = contract

    # -- settling ----------------------------------------------------------------------
    def settled(self, contract: Contract) -> Settled:
        """``contract`` (as ``current``) settled on the stored paths, with its gains by horizon."""
        key = contract.model_dump_json()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        current = settle(self.experience, {CURRENT: contract}, self.scenario.valuation.discount_rate_pct)
        result = Settled(current, gain_horizons(current).sel(variant=CURRENT))
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def with_base(self, settled: Settled) -> xr.Dataset:
        """The run's base and the terms in one settlement (variants ``base``, ``current``)."""
        if settled.both is None:
            settled.both = xr.concat([self.base_settlement, settled.current], dim="variant")
        return settled.both

    def cards(self, settled: Settled, horizon: str) -> pd.DataFrame:
        """Headline measures by segment and total: rows (segment, measure), value and mc_se."""
        gains = settled.gains.sel(horizon=horizon).transpose("trial", "segment")
        measures = risk_measures(gains.values)
        rows = [(segment, m, float(measures[m][0][j]), float(measures[m][1][j]))
                for j, segment in enumerate(gains["segment"].values) for m, _ in CARD_MEASURES]
        return pd.DataFrame(rows, columns=["segment", "measure", "value", "mc_se"])

    def mean_differences(self, settled: Settled, horizon: str) -> pd.DataFrame:
        """Difference in expected gain to the base by segment and total, with its error on the
        common paths: the mean of the trial-by-trial differences (as ``compare`` computes it)."""
        ours = settled.gains.sel(horizon=horizon).transpose("trial", "segment")
        base = self.base_gains.sel(horizon=horizon).transpose("trial", "segment")
        diff, se = risk_measures(ours.values - base.values)["mean"]
        return pd.DataFrame({"segment": ours["segment"].values, "diff": diff, "diff_se_common": se})

    def differences(self, settled: Settled, horizon: str, segment: str) -> pd.DataFrame:
        """Every headline measure's difference to the base (bootstrap errors, as ``vbcsim compare``)."""
        table = compare(self.with_base(settled), [CURRENT], horizon=horizon, segment=segment,
                        measures=DIFF_MEASURES)
        return table[table.variant == CURRENT].reset_index(drop=True)

    def bridge(self, settled: Settled, segment: str) -> Bridge:
        return result_bridge(settled.current, self.experience["member_months"], CURRENT, segment)

    def chart_data(self, settled: Settled, horizon: str, segment: str) -> dict[str, Any]:
        """The numbers of the fan chart (the terms) and of the exceedance curves (the terms and
        the base), from :mod:`simulator.analysis.plots`, for the page to draw."""
        bands = plots.fan_bands(settled.current, CURRENT, segment)
        fan = {"years": [int(y) for y in bands.index], **{k: bands[k].tolist() for k in bands.columns}}
        curves = {}
        for name, gains in (("base", self.base_gains), (CURRENT, settled.gains)):
            loss, p = plots.exceedance_points(gains.sel(horizon=horizon, segment=segment).values,
                                              EXCEEDANCE_POINTS)
            curves[name] = {"loss": loss.tolist(), "p": p.tolist()}
        return {"fan": fan, "exceedance": curves}

    # -- saved variants side by side ------------------------------------------------------
    def compare_saved(self, horizon: str, segment: str) -> tuple[pd.DataFrame, str]:
        """Saved variants against the base: the ``vbcsim compare`` table and the comparison chart."""
        contracts = {"base": self.named("base"), **self.saved}
        settled = settle(self.experience, contracts, self.scenario.valuation.discount_rate_pct,
                         outputs=("provider_gain_usd",))
        table = compare(settled, list(self.saved), horizon=horizon, segment=segment,
                        measures=DIFF_MEASURES)
        chart = plots.variant_comparison(settled, None, horizon, segment)
        return table, svg(chart, chart.get_figwidth(), chart.get_figheight())

    # -- export ----------------------------------------------------------------------------
    def contract_file(self, contract: Contract, description: str = "") -> str:
        """The terms as a contract file that ``vbcsim settle`` accepts (every segment given)."""
        data = contract.model_dump(mode="json", exclude={"segments"})
        data["segments"] = {name: terms.model_dump(mode="json", exclude_defaults=True)
                            for name, terms in contract.segments.items()}
        head = (f"# Contract terms from vbcsim app on {self.run_dir.name} "
                f"({self.scenario.name}).\n# Settle them: vbcsim settle RUN --contract THIS_FILE\n")
        return head + tomli_w.dumps({"description": description or contract.description,
                                     "contract": _drop_none(data)})


def _drop_none(data: Any) -> Any:
    """TOML has no null: absent keys mean the model's default."""
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(v) for v in data]
    return data


def svg(fig: Figure, width_in: float = 6.4, height_in: float = 4.0) -> str:
    """A figure as inline SVG (no external files: the page works offline), drawn at a size
    whose lettering stays legible in half the page's width."""
    fig.set_size_inches(width_in, height_in)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]
