"""Form controls for every contract term, generated from the contract model's own JSON Schema.

Nothing here lists the terms by hand: each field of
:class:`simulator.settlement.contract.SegmentTerms` (and of the models inside it)
becomes a control with the field's description as its help text, its bounds as
hard limits, and a unit read from its name (the project's convention: ``_pct``
percent, ``_pmpm`` dollars per member-month, ``_usd`` dollars). Top-level
fields are grouped as the contract is read (budget, sharing, corridors, MSR,
caps, stop-loss, quality, equity, programs and fees) by the patterns in
:data:`GROUPS`; a new field that matches none still appears, under "Other terms".

The HTML carries ``data-kind`` and ``data-key`` attributes that the page's
script reads back into the same nested dictionary the model validates.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..settlement.contract import Contract

GROUPS: tuple[tuple[str, str], ...] = (
    ("Budget", r"^(budget_|risk_adjustment$|rebasing$|historical_benchmark$|discount_|heba$)"),
    ("Sharing", r"(_share_pct$|^sharing$)"),
    ("Corridors", r"_corridors$"),
    ("Minimum savings and loss rates", r"(^min_.*_rate_pct$|^assigned_beneficiaries$)"),
    ("Caps", r"(_cap_|^revenue_pmpm$)"),
    ("Stop-loss", r"stop_loss$"),
    ("Quality", r"^quality$"),
    ("Equity", r"^equity$"),
    ("Programs and fees", r"(^program_|_fee_)"),
)
"""Title of each group and the pattern of the top-level segment fields it holds."""
OPEN_GROUPS = {"Budget", "Sharing", "Stop-loss"}
SUFFIX_UNITS = (("_pct_points", "points"), ("_pct", "%"), ("_pmpm", "$ PMPM"), ("_usd", "$"),
                ("_months", "months"))


@dataclass(frozen=True)
class RunContext:
    """What the run offers to the terms: simulated stop-loss attachments, years, quality names."""

    attachments_usd: list[float]
    years: int
    measures: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


def group_of(name: str) -> str:
    """Title of the group a top-level segment field belongs to."""
    return next((title for title, pattern in GROUPS if re.search(pattern, name)), "Other terms")


def unit_of(name: str) -> str:
    return next((unit for suffix, unit in SUFFIX_UNITS if name.endswith(suffix)), "")


def label_of(name: str) -> str:
    """``budget_trend_pct`` -> ``Budget trend``."""
    for suffix, _ in SUFFIX_UNITS:
        name = name.removesuffix(suffix)
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


class Builder:
    """Renders controls for one segment from the contract schema."""

    def __init__(self, context: RunContext):
        self.schema = Contract.model_json_schema()
        self.defs = self.schema["$defs"]
        self.context = context

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return {**self.defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items()
                                                                if k != "$ref"}}
        return node

    # -- one segment ---------------------------------------------------------------------
    def segment(self, name: str, values: dict[str, Any]) -> str:
        """The grouped controls of one segment's terms (``values``: its model dump)."""
        terms = self.defs["SegmentTerms"]
        groups: dict[str, list[str]] = {}
        for key, node in terms["properties"].items():
            if key == "equity" and not self.context.measures:
                shown = ('<p class="note">This run has no quality measures by group, so no '
                         'equity incentive can be settled on it (the scenario needs [quality]).</p>')
            else:
                shown = self.control(key, node, values.get(key))
            groups.setdefault(group_of(key), []).append(shown)
        order = [t for t, _ in GROUPS] + ["Other terms"]
        parts = [f'<details class="group"{" open" if title in OPEN_GROUPS else ""}>'
                 f"<summary>{html.escape(title)}</summary>{''.join(groups[title])}</details>"
                 for title in order if title in groups]
        return (f'<div class="segment" data-kind="obj" data-key="{html.escape(name)}" '
                f'data-segment="{html.escape(name)}">{"".join(parts)}</div>')

    # -- a control for any schema node ------------------------------------------------------
    def control(self, key: str, node: dict[str, Any], value: Any, bare: bool = False) -> str:
        """The control of one schema node; ``bare``: without its own name (a switch shows it)."""
        node = self.resolve(node)
        options = [self.resolve(o) for o in node.get("anyOf", [])]
        nullable = any(o.get("type") == "null" for o in options)
        options = [o for o in options if o.get("type") != "null"]
        if nullable:
            inner = {**options[0], "description": node.get("description", options[0].get("description"))}
            if "default" in node and node["default"] is not None:
                inner["default"] = node["default"]
            return self.optional(key, inner, value)
        if options:  # a number or a fixed word (MSR 'cms_table'), or a number or one per year
            kinds = {o.get("type") for o in options}
            if kinds == {"number", "array"}:
                return self.trend(key, node, value)
            return self.number_or_word(key, node, options, value)
        kind = node.get("type")
        if kind == "object" and "properties" in node:
            return self.obj(key, node, value or {}, box=not bare)
        if kind == "object":
            return self.mapping(key, node, value or {}, bare)
        if kind == "array":
            return self.rows(key, node, node.get("default", []) if value is None else value, bare)
        if "enum" in node or (key == "reference_group" and self.context.groups):
            return self.select(key, node, value, bare)
        if kind == "string":
            return self.text(key, node, value, bare)
        return self.number(key, node, value, bare)

    def obj(self, key: str, node: dict[str, Any], values: dict[str, Any], box: bool = False) -> str:
        inner = "".join(self.control(k, sub, values.get(k))
                        for k, sub in node["properties"].items())
        title = f'<div class="subtitle">{html.escape(label_of(key))}</div>' if box and key else ""
        return f'<div class="obj{" box" if box else ""}" data-kind="obj" data-key="{key}">{title}{inner}</div>'

    def optional(self, key: str, inner: dict[str, Any], value: Any) -> str:
        """A term that may be absent: a switch, and its control(s) when on."""
        on = value is not None
        help_text = html.escape(inner.get("description", "") or "")
        body = self.control(key, inner, value, bare=True)
        return (f'<div class="opt" data-kind="opt" data-key="{key}"><label class="switch" '
                f'title="{help_text}"><input type="checkbox" data-role="on"{" checked" if on else ""}> '
                f'{html.escape(label_of(key))}{_unit_tag(key)}</label><div class="inner">{body}</div></div>')

    def rows(self, key: str, node: dict[str, Any], values: list[Any], bare: bool = False) -> str:
        """A list of records (corridors, bonus bands) or numbers (weights): a fixed number of
        rows, each switchable."""
        item = self.resolve(node["items"])
        slots = max(len(values) + 2, 4)

        def one(i: int) -> str:
            value = values[i] if i < len(values) else None
            if "properties" in item:
                return self.obj("", item, value or {})
            return self.number(key, item, value, bare=True)

        rows = [f'<div class="row" data-kind="row"><input type="checkbox" data-role="on" '
                f'title="use this row"{" checked" if i < len(values) else ""}>{one(i)}</div>'
                for i in range(slots)]
        return (f'<div class="list" data-kind="list" data-key="{key}" title="'
                f'{html.escape(node.get("description", ""))}">{_subtitle(key, bare)}{"".join(rows)}</div>')

    def mapping(self, key: str, node: dict[str, Any], values: dict[str, Any], bare: bool = False) -> str:
        """A table keyed by name (equity measures): one switchable entry per name in the run."""
        item = self.resolve(node.get("additionalProperties")
                            or next(iter(node.get("patternProperties", {}).values())))
        names = self.context.measures if key == "measures" else list(values)
        entries = [f'<div class="row" data-kind="entry" data-name="{html.escape(n)}">'
                   f'<input type="checkbox" data-role="on"{" checked" if n in values else ""}> '
                   f'<b>{html.escape(n)}</b>{self.obj("", item, values.get(n, {}))}</div>'
                   for n in names]
        return f'<div class="list" data-kind="dict" data-key="{key}">{_subtitle(key, bare)}{"".join(entries)}</div>'

    def select(self, key: str, node: dict[str, Any], value: Any, bare: bool = False) -> str:
        choices = self.context.groups if key == "reference_group" else node["enum"]
        value = node.get("default") if value is None else value
        opts = "".join(f'<option{" selected" if c == value else ""}>{html.escape(str(c))}</option>'
                       for c in choices)
        return self._field(key, node, "enum", f'<select data-role="value">{opts}</select>', bare)

    def text(self, key: str, node: dict[str, Any], value: Any, bare: bool = False) -> str:
        value = node.get("default", "") if value is None else value
        return self._field(key, node, "text", f'<input type="text" data-role="value" '
                                              f'value="{html.escape(str(value))}">', bare)

    def number(self, key: str, node: dict[str, Any], value: Any, bare: bool = False) -> str:
        if key == "attachment_usd" and self.context.attachments_usd:
            return self._attachment(key, node, value, bare)
        lo, hi, soft_lo, soft_hi, step = number_range(key, node, value)
        if value is None:
            value = node.get("default")
        if value is None:
            value = lo if node.get("type") == "integer" else round((soft_lo + soft_hi) / 2, 6)
        kind = "int" if node.get("type") == "integer" else "num"
        limits = "".join(f' {a}="{b:g}"' for a, b in (("min", lo), ("max", hi)) if b is not None)
        slider = (f'<input type="range" data-role="slider" min="{soft_lo:g}" max="{soft_hi:g}" '
                  f'step="{step:g}" value="{value:g}">')
        box = f'<input type="number" data-role="value" step="any"{limits} value="{value:g}">'
        return self._field(key, node, kind, slider + box, bare)

    def _attachment(self, key: str, node: dict[str, Any], value: Any, bare: bool) -> str:
        """Only attachments the run simulated can be settled on its paths: a choice among them."""
        value = self.context.attachments_usd[0] if value is None else value
        opts = "".join(f'<option value="{a:g}"{" selected" if a == value else ""}>${a:,.0f}</option>'
                       for a in self.context.attachments_usd)
        return self._field(key, {**node, "description": node.get("description", "") + " Attachments "
                                 "simulated in this run."}, "num", f'<select data-role="value">{opts}</select>',
                           bare)

    def number_or_word(self, key: str, node: dict[str, Any], options: list[dict[str, Any]],
                       value: Any) -> str:
        number = next(o for o in options if o.get("type") == "number")
        words = [o["const"] for o in options if "const" in o]
        value = node.get("default", 0.0) if value is None else value
        opts = "".join(f'<option{" selected" if value == w else ""}>{html.escape(w)}</option>'
                       for w in ["number", *words])
        shown = 0.0 if isinstance(value, str) else value
        inner = self.number(key, {**number, "description": node.get("description")}, shown, bare=True)
        return (f'<div class="either" data-kind="either" data-key="{key}" title="'
                f'{html.escape(node.get("description", ""))}"><label class="switch">'
                f'{html.escape(label_of(key))} <select data-role="mode">{opts}</select></label>'
                f'<div class="inner">{inner}</div></div>')

    def trend(self, key: str, node: dict[str, Any], value: Any) -> str:
        """A trend: one number for every year, or one per year of the term."""
        years = self.context.years
        by_year = isinstance(value, list)
        first = value[0] if by_year else (0.0 if value is None else value)
        each = value if by_year else [first] * years
        single = self.number(key, {"type": "number", "description": node.get("description")}, first, bare=True)
        per = "".join(f'<label>year {y + 1}<input type="number" data-role="year" step="any" '
                      f'value="{v:g}"></label>' for y, v in enumerate(each))
        return (f'<div class="trend" data-kind="trend" data-key="{key}" title="'
                f'{html.escape(node.get("description", ""))}"><label class="switch">'
                f'{html.escape(label_of(key))}{_unit_tag(key)} <input type="checkbox" data-role="by-year"'
                f'{" checked" if by_year else ""}> by year</label><div class="inner">{single}</div>'
                f'<div class="years">{per}</div></div>')

    def _field(self, key: str, node: dict[str, Any], kind: str, inputs: str, bare: bool = False) -> str:
        help_text = html.escape(node.get("description", "") or "")
        name = (f'<span class="name">{html.escape(label_of(key))}{_unit_tag(key)}</span>'
                if key and not bare else "")
        return (f'<label class="field" data-kind="{kind}" data-key="{key}" title="{help_text}">'
                f"{name}{inputs}</label>")


def _subtitle(key: str, bare: bool) -> str:
    return "" if bare or not key else f'<div class="subtitle">{html.escape(label_of(key))}</div>'


def _unit_tag(key: str) -> str:
    unit = unit_of(key)
    return f' <span class="unit">{html.escape(unit)}</span>' if unit else ""


SOFT_SPAN = {"%": 200.0, "$ PMPM": 100.0, "$": 1e6, "months": 24.0, "points": 20.0}


def number_range(key: str, node: dict[str, Any], value: Any
                 ) -> tuple[float | None, float | None, float, float, float]:
    """Hard limits (the model's bounds), a slider range and a step for a number.

    The slider spans the bounds when they are close (percents), else zero to twice
    the current value (at least a typical span for the unit), within the bounds.
    """
    lo = node.get("minimum", node.get("exclusiveMinimum"))
    hi = node.get("maximum", node.get("exclusiveMaximum"))
    unit = unit_of(key)
    integer = node.get("type") == "integer"
    if lo is not None and hi is not None and hi - lo <= 200:
        soft_lo, soft_hi = float(lo), float(hi)
    elif lo is None and hi is None and unit == "%":  # trends: bounds live in a validator
        soft_lo, soft_hi = -5.0, 15.0
    else:
        soft_lo = float(lo) if lo is not None else 0.0
        current = abs(float(value)) if isinstance(value, (int, float)) else 0.0
        soft_hi = max(2 * current, SOFT_SPAN.get(unit, 100.0))
        soft_hi = min(soft_hi, float(hi)) if hi is not None else soft_hi
    step = 1.0 if integer else 0.1 if unit in {"%", "points"} else 1.0 if unit == "$ PMPM" else \
        1000.0 if unit == "$" else 0.1
    return lo, hi, soft_lo, soft_hi, step


def contract_controls(contract: Contract, context: RunContext) -> str:
    """Every term of every segment of ``contract``, plus the contract-wide fields."""
    builder = Builder(context)
    values = contract.model_dump(mode="json")
    top = builder.schema["properties"]
    wide = "".join(builder.control(k, top[k], values.get(k))
                   for k in top if k != "segments")
    tabs = "".join(f'<button type="button" class="tab" data-tab="{html.escape(s)}">{html.escape(s)}</button>'
                   for s in values["segments"])
    segments = "".join(builder.segment(s, v) for s, v in values["segments"].items())
    return (f'<form id="terms" data-kind="obj" data-key="" autocomplete="off">'
            f'<div class="tabs">{tabs}</div>'
            f'<div class="obj" data-kind="obj" data-key="segments">{segments}</div>'
            f'<details class="group"><summary>Contract-wide</summary>{wide}</details></form>'
            f'<script id="base-terms" type="application/json">{_json_for_script(values)}</script>')


def _json_for_script(data: Any) -> str:
    return json.dumps(data).replace("<", "\\u003c")
