"""The ``vbcsim`` command line: validate, schema, run."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import pandas as pd

from .analysis import headline
from .errors import VbcsimError
from .scenario import json_schema, load_scenario

EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def _jobs(text: str) -> int:
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError("expected a number of workers >= 1, or -1 for one per core")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vbcsim", description="Price the provider's risk under a "
                                "value-based (global budget) contract by Monte Carlo simulation.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario", type=Path)

    sub.add_parser("schema", help="print the JSON Schema of the scenario format")

    r = sub.add_parser("run", help="simulate, settle and summarise a scenario into a results folder")
    r.add_argument("scenario", type=Path)
    r.add_argument("--trials", type=_positive_int, help="Monte Carlo trials (default: the scenario's)")
    r.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    r.add_argument("--jobs", type=_jobs, default=-1, help="worker processes; -1: one per core")
    r.add_argument("--out", type=Path, help="results folder (default: results/<scenario name>)")
    r.add_argument("--force", action="store_true", help="replace an existing results folder")
    r.add_argument("--quiet", action="store_true", help="no progress line and no summary table")

    st = sub.add_parser("settle", help="settle new contract terms on a stored run (no simulation)")
    st.add_argument("run_dir", type=Path, help="folder of a finished run")
    st.add_argument("--contract", type=Path, required=True, help="contract file (TOML)")
    st.add_argument("--out", type=Path, help="default: RUN_DIR/settlements/<contract file name>")
    st.add_argument("--force", action="store_true", help="replace an existing output folder")
    st.add_argument("--quiet", action="store_true", help="no summary table")
    return p


def _run(args: argparse.Namespace) -> int:
    from .run import run_scenario  # heavy imports only when running

    scenario = load_scenario(args.scenario).with_run(trials=args.trials, seed=args.seed)
    out = args.out or Path("results") / args.scenario.stem
    jobs = (os.cpu_count() or 1) if args.jobs == -1 else args.jobs
    try:
        result = run_scenario(scenario, out, jobs=jobs, force=args.force, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished blocks are kept in {out}.partial; "
              f"run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        m = result.manifest
        print(format_headline(result.summary, (
            f"{m['scenario']['name']}: {m['trials']} trials, seed {m['seed']}, "
            f"{m['timings_s']['total']:.1f} s ({m['member_years_per_second'] / 1e6:.1f} M member-years/s)")))
    print(f"results: {result.out}")
    return 0


def _settle(args: argparse.Namespace) -> int:
    from .run import settle_stored_run

    result = settle_stored_run(args.run_dir, args.contract, args.out, force=args.force)
    if not args.quiet:
        m = result.manifest
        print(format_headline(result.summary, (
            f"{args.contract} on {args.run_dir} ({m['trials']} trials): "
            f"{len(m['variants'])} variant(s) settled in {m['timings_s']['total']:.1f} s")))
    print(f"results: {result.out}")
    return 0


COLUMNS = {"mean": "mean", "sd": "sd", "p_loss": "P(loss)", "var_95": "VaR95",
           "tvar_95": "TVaR95", "var_99_5": "VaR99.5", "tvar_99_5": "TVaR99.5"}


def format_headline(summary: pd.DataFrame, title: str) -> str:
    """The summary a user reads after a run, in $ millions with standard errors:
    the base contract by segment (term and present value), then every variant in total."""
    lines = [title]
    header = f"{'':<16}" + "".join(f"{c:>18}" for c in COLUMNS.values())
    for horizon, label in (("term", "over the term, undiscounted"), ("pv", "present value")):
        lines += [f"\nProvider gain (+) / loss (-) {label}, contract 'base', $ millions "
                  "(Monte Carlo standard error):", header]
        table = headline(summary, "base", horizon)
        lines += [_row(seg, row) for seg, row in table.iterrows()]
    variants = list(dict.fromkeys(summary.variant))
    if len(variants) > 1:
        lines += ["\nAll contract variants, total over the term (same simulated paths):", header]
        lines += [_row(v, headline(summary, v, "term").loc["total"]) for v in variants]
    lines.append("\nVaR/TVaR are losses: a VaR95 of 5.00 means a 5% chance of losing more than "
                 "$5.00M. n/a: too few trials in the tail for a standard error.")
    return "\n".join(lines)


def _row(label: str, row: pd.Series) -> str:
    cells = [_cell(row[("value", k)], row[("mc_se", k)], percent=k == "p_loss") for k in COLUMNS]
    return f"{label:<16}" + "".join(f"{c:>18}" for c in cells)


def _cell(value: float, se: float, percent: bool) -> str:
    fmt = (lambda x: f"{x:.1%}") if percent else (lambda x: f"{x / 1e6:,.2f}")
    return f"{fmt(value)} ({'n/a' if math.isnan(se) else fmt(se)})"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            scenario = load_scenario(args.scenario)
            n = sum(s.members for s in scenario.segments.values())
            print(f"{args.scenario}: valid ({len(scenario.segments)} segments, {n:,} members, "
                  f"{scenario.term.years} years, {len(scenario.contracts())} contract variant(s))")
            return 0
        if args.command == "schema":
            print(json.dumps(json_schema(), indent=1))
            return 0
        if args.command == "settle":
            return _settle(args)
        return _run(args)
    except VbcsimError as err:
        print(f"vbcsim: error: {err}" if "\n" not in str(err) else f"vbcsim: error:\n{err}",
              file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
