"""``benchmarks/bench_baseline.py`` runs two codes on the same inputs: the baseline must stay
reachable, today's code must read the baseline's reference scenario, and the baseline's code
today's inputs (the one-year book, the settlement variants)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from simulator.scenario import load_scenario


def bench_baseline():
    spec = importlib.util.spec_from_file_location("bench_baseline", ROOT / "benchmarks" / "bench_baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def baseline_tree(tmp_path_factory):
    bench = bench_baseline()
    if shutil.which("git") is None or subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", bench.BASELINE], capture_output=True).returncode:
        pytest.skip("no git, or this checkout has no history (the benchmark says so and skips too)")
    tree = bench.extract(bench.BASELINE, tmp_path_factory.mktemp("baseline") / "tree")
    assert tree is not None and (tree / "simulator" / "cli.py").is_file()
    return tree


def test_today_reads_the_baseline_reference_scenario(baseline_tree):
    then = load_scenario(baseline_tree / "scenarios" / "reference_global_budget.toml")
    assert sum(s.members for s in then.segments.values()) == 130_000
    assert then.term.years == 7 and then.term.base_years == 0  # the scenario as issue 18 measured it


def test_the_baseline_code_reads_todays_inputs(baseline_tree, tmp_path):
    code = (f"import sys; sys.path.insert(1, {str(ROOT / 'benchmarks')!r})\n"
            "import simulator, bench_settle\n"
            "from simulator.scenario import load_scenario\n"
            "from simulator.settlement.contract import resolve_variants\n"
            f"book = load_scenario({str(ROOT / 'benchmarks' / 'one_year_book.toml')!r})\n"
            f"ref = load_scenario({str(baseline_tree / 'scenarios' / 'reference_global_budget.toml')!r})\n"
            "print(simulator.__file__, book.segments['book'].members,\n"
            "      len(resolve_variants(ref.contract, bench_settle.variants(3))))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(baseline_tree)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=env)
    assert out.returncode == 0, out.stderr
    where, members, variants = out.stdout.split()
    assert where.startswith(str(baseline_tree)) and members == "100000" and variants == "4"
