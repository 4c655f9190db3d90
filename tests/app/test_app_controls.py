"""The page's controls come from the contract model itself: every term, its unit, its bounds."""

from __future__ import annotations

import re

import pytest

from simulator.app.controls import (GROUPS, Builder, RunContext, contract_controls, group_of,
                                    label_of, number_range, unit_of)
from simulator.settlement.contract import Contract, SegmentTerms

CONTEXT = RunContext(attachments_usd=[100_000.0, 250_000.0], years=3, measures=["cbp", "col"],
                     groups=["white", "black"])


def field_paths(builder: Builder, node: dict, prefix: str = "") -> set[str]:
    """Dotted paths of every leaf field under a schema node (records and tables included)."""
    node = builder.resolve(node)
    options = [builder.resolve(o) for o in node.get("anyOf", []) if o.get("type") != "null"]
    if options and all(o.get("type") != "object" and o.get("type") != "array" or
                       o.get("items", {}).get("type") == "number" for o in options):
        return {prefix}
    if options:
        node = options[0]
    if node.get("type") == "array":
        return field_paths(builder, node["items"], prefix)
    if node.get("type") == "object" and "properties" in node:
        return set().union(*(field_paths(builder, sub, f"{prefix}.{key}" if prefix else key)
                             for key, sub in node["properties"].items()))
    if node.get("type") == "object":
        item = node.get("additionalProperties") or next(iter(node["patternProperties"].values()))
        return field_paths(builder, item, prefix)
    return {prefix}


def rendered_paths(text: str) -> set[str]:
    """Dotted data-key paths of the controls in a segment's HTML (rows and entries keyless)."""
    paths, stack = set(), []
    for tag in re.finditer(r"<(/?)(div|label)\b([^>]*)>", text):
        closing, attrs = tag.group(1), tag.group(3)
        if closing:
            stack.pop()
            continue
        key = re.search(r'data-key="([^"]*)"', attrs)
        kind = re.search(r'data-kind="([^"]*)"', attrs)
        stack.append(key.group(1) if key and kind else None)
        if kind and kind.group(1) in {"num", "int", "enum", "text", "either", "trend"}:
            keys = [k for k in stack if k]
            paths.add(".".join(dict.fromkeys(keys)))  # an optional's control repeats its key
    return paths


def test_every_term_of_a_segment_has_a_control():
    builder = Builder(CONTEXT)
    terms = Contract.model_json_schema()["$defs"]["SegmentTerms"]
    wanted = field_paths(builder, terms)
    html = builder.segment("ppo", {"budget_pmpm": 600.0, "budget_trend_pct": 3.0})
    shown = {p.removeprefix("ppo.") for p in rendered_paths(html)}
    assert len(wanted) > 40
    assert wanted - shown == set(), "terms without a control"
    assert shown - wanted == set(), "controls for no term"


def test_every_top_level_term_has_a_group():
    groups = {name: group_of(name) for name in SegmentTerms.model_fields}
    assert "Other terms" not in groups.values(), groups
    assert groups["stop_loss"] == groups["aggregate_stop_loss"] == "Stop-loss"
    assert groups["min_savings_rate_pct"] == "Minimum savings and loss rates"
    assert groups["surplus_share_pct"] == "Sharing" and groups["surplus_corridors"] == "Corridors"
    assert groups["loss_cap_revenue_pct"] == groups["revenue_pmpm"] == "Caps"
    assert groups["assigned_beneficiaries"] == "Minimum savings and loss rates"
    assert {title for title, _ in GROUPS} == set(groups.values())
    assert group_of("a_term_added_later") == "Other terms"  # shown, never dropped


def test_units_and_labels_follow_the_names():
    assert (unit_of("budget_pmpm"), unit_of("attachment_usd"), unit_of("surplus_share_pct")) == \
        ("$ PMPM", "$", "%")
    assert unit_of("full_at_pct_points") == "points" and unit_of("payment_lag_months") == "months"
    assert label_of("budget_trend_adjustment_pct") == "Budget trend adjustment"


@pytest.mark.parametrize("name, expected", [
    ("surplus_share_pct", (0.0, 100.0)),            # a percent: its bounds
    ("budget_trend_adjustment_pct", (-50.0, 50.0)),
    ("budget_pmpm", (0.0, 1240.0)),                 # unbounded in practice: twice the value
])
def test_slider_ranges_come_from_the_bounds(name, expected):
    terms = Contract.model_json_schema()["$defs"]["SegmentTerms"]["properties"]
    node = terms[name]
    node = next((o for o in node.get("anyOf", []) if o.get("type") == "number"), node)
    lo, hi, soft_lo, soft_hi, _ = number_range(name, node, 620.0 if name == "budget_pmpm" else 50.0)
    assert (soft_lo, soft_hi) == expected
    assert lo is not None and hi is not None and lo <= soft_lo and soft_hi <= hi


def test_attachments_are_the_simulated_ones_and_values_are_shown(reference):
    html = contract_controls(reference.contract, CONTEXT)
    assert '<option value="250000" selected>$250,000</option>' in html
    assert '<option value="100000">$100,000</option>' in html
    assert 'value="620"' in html and 'value="576.6"' in html  # budgets of ppo and hmo
    for segment in reference.contract.segments:
        assert f'data-tab="{segment}"' in html
