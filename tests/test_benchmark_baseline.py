"""``benchmarks/bench_baseline.py`` compares two codes on the baseline's own reference
scenario: the baseline must stay reachable, and today's code must keep reading that file."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
from conftest import ROOT

from simulator.scenario import load_scenario


def bench_baseline():
    spec = importlib.util.spec_from_file_location("bench_baseline", ROOT / "benchmarks" / "bench_baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_baseline_tree_is_extracted_and_today_reads_its_reference_scenario(tmp_path):
    bench = bench_baseline()
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", bench.BASELINE],
                      capture_output=True).returncode:
        pytest.skip("this checkout has no git history (the benchmark says so and skips too)")
    tree = bench.extract(bench.BASELINE, tmp_path / "baseline")
    assert (tree / "simulator" / "cli.py").is_file()
    then = load_scenario(tree / "scenarios" / "reference_global_budget.toml")
    assert sum(s.members for s in then.segments.values()) == 130_000
    assert then.term.years == 7 and then.term.base_years == 0  # the scenario as issue 18 measured it
