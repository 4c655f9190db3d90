"""The ``vbcsim`` command line: validate, schema, run."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .core.errors import ScenarioError, VbcsimError
from .core.units import parse_money_usd, parse_probability

if TYPE_CHECKING:  # heavy modules are imported by the commands that use them (fast --help)
    import pandas as pd

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # an error vbcsim did not foresee (EX_SOFTWARE): a bug to report


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text}")
    return value


def _jobs(text: str) -> int:
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError("expected a number of workers >= 1, or -1 for one per core")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vbcsim", description="Price the provider's risk under a "
                                "value-based (global budget) contract by Monte Carlo simulation.")
    p.add_argument("--version", action=_VersionAction)
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a scenario file")
    v.add_argument("scenario", type=Path)
    _strict_option(v)

    sub.add_parser("schema", help="print the JSON Schema of the scenario format")

    r = sub.add_parser("run", help="simulate, settle and summarise a scenario into a results folder")
    r.add_argument("scenario", type=Path)
    r.add_argument("--trials", type=_positive_int, help="Monte Carlo trials (default: the scenario's)")
    r.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    r.add_argument("--jobs", type=_jobs, default=-1, help="worker processes; -1: one per core")
    r.add_argument("--out", type=Path, help="results folder (default: results/<scenario name>)")
    r.add_argument("--engine", choices=["member", "cohort", "auto"], help="experience engine "
                   "(default: the scenario's; auto picks cohort)")
    r.add_argument("--backend", choices=["local", "dask"], help="local worker processes (default) "
                   "or a dask.distributed cluster; results are identical")
    r.add_argument("--scheduler", help="dask scheduler address (default: $DASK_SCHEDULER_ADDRESS, "
                   "else a local cluster of --jobs workers)")
    r.add_argument("--resume", action="store_true", help="resume an interrupted run of the same "
                   "command (the default: finished blocks in OUT.partial are always reused)")
    r.add_argument("--force", action="store_true", help="replace an existing results folder")
    r.add_argument("--quiet", action="store_true", help="no progress line and no summary table")
    _strict_option(r)
    r.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", dest="overrides",
                   help="override a scenario value without editing the file (repeatable), e.g. "
                        "segments.medicare.members=20000 or segments.*.churn_pct=15; recorded in "
                        "the manifest with the effective scenario")
    r.add_argument("--sources-trials", type=_non_negative_int, default=None, metavar="N",
                   help="trials of the decomposition of the risk by source (cohort engine: the "
                        "member counts once, the costs once per source); 0: skip it (default: 400, "
                        "at most the run's trials)")
    r.add_argument("--no-resource-check", action="store_true", help="simulate even when the "
                   "estimated memory or disk need exceeds what the machine has")

    st = sub.add_parser("settle", help="settle new contract terms on a stored run (no simulation)")
    st.add_argument("run_dir", type=Path, help="folder of a finished run")
    st.add_argument("--contract", type=Path, required=True, help="contract file (TOML)")
    st.add_argument("--out", type=Path, help="default: RUN_DIR/settlements/<contract file name>")
    st.add_argument("--force", action="store_true", help="replace an existing output folder")
    st.add_argument("--quiet", action="store_true", help="no summary table")

    c = sub.add_parser("compare", help="contract variants side by side, with errors of differences")
    c.add_argument("run_dir", type=Path, help="a run folder, or a settlements/NAME folder in one")
    c.add_argument("variants", nargs="*", help="variants to show (default: all)")
    _measure_options(c)
    c.add_argument("--base", default="base", help="variant the differences are taken to")

    sw = sub.add_parser("sweep", help="vary one or two contract terms over a grid on stored paths")
    sw.add_argument("run_dir", type=Path)
    sw.add_argument("--term", action="append", required=True, type=_grid, metavar="PATH=START:STOP:N",
                    help="e.g. segments.ppo.surplus_share_pct=50:100:6 (give once or twice)")
    _measure_options(sw, default_horizon="pv")
    sw.add_argument("--out", type=Path, help="default: RUN_DIR/sweeps/<terms>")
    sw.add_argument("--force", action="store_true")

    b = sub.add_parser("breakeven", help="solve for the value of one term that meets a target")
    b._negative_number_matcher = re.compile(r"^-\.?\d")  # -50M is an amount (Python 3.13's rule)
    b.add_argument("run_dir", type=Path)
    b.add_argument("--term", required=True, help="dotted path, e.g. segments.ppo.budget_trend_pct")
    b.add_argument("--between", nargs=2, type=float, required=True, metavar=("LOW", "HIGH"),
                   help="values of the term to search between, in the unit its name carries "
                   "(_usd: dollars, _pct: percent, _pmpm: dollars per member per month)")
    target = b.add_mutually_exclusive_group(required=True)
    target.add_argument("--mean", type=parse_money_usd, metavar="AMOUNT", help="expected gain "
                        "equal to this, in $ millions (-50 is a $50M loss; 250k, 1500usd also read)")
    target.add_argument("--loss-probability", nargs=2, metavar=("LOSS", "PROB"),
                        help="chance of losing more than LOSS ($ millions, or with a unit: 250k) "
                        "equal to PROB (0.05 or 5%%)")
    _measure_options(b, default_horizon="pv")

    pg = sub.add_parser("programs", help="return on care-management program designs (same paths)")
    pg.add_argument("scenario", type=Path)
    pg.add_argument("--trials", type=_positive_int, help="Monte Carlo trials (default: the scenario's)")
    pg.add_argument("--jobs", type=_jobs, default=-1, help="worker processes; -1: one per core")
    pg.add_argument("--engine", choices=["member", "cohort", "auto"], help="experience engine")

    cp = sub.add_parser("capital", help="capital, cash and survival on a stored run (no simulation)")
    cp.add_argument("run_dir", type=Path, help="a run folder, or a settlements/NAME folder in one")
    cp.add_argument("--contract", type=Path, help="contract file to settle on the run's experience first")
    cp.add_argument("--capital", type=Path, help="file with a [capital] table (default: the scenario's)")
    cp.add_argument("--out", type=Path, help="default: RUN_DIR/capital/<capital file name, or scenario>")
    cp.add_argument("--force", action="store_true", help="replace an existing output folder")

    t = sub.add_parser("tornado", help="change in expected gain as each term moves alone (stored paths)")
    t.add_argument("run_dir", type=Path)
    t.add_argument("--term", action="append", required=True, type=_range, metavar="PATH=LOW:HIGH",
                   help="e.g. segments.ppo.deficit_share_pct=80:100 (give once per term)")
    _measure_options(t, default_horizon="pv")
    t.add_argument("--out", type=Path, help="chart file (default: RUN_DIR/tornado.png)")

    rp = sub.add_parser("report", help="a self-contained HTML report and an Excel workbook of a run")
    rp.add_argument("run_dir", type=Path)
    rp.add_argument("--out", type=Path, help="default: RUN_DIR/report.html (summary.xlsx beside it)")
    _calibration_parsers(sub)

    ap = sub.add_parser("app", help="a local web page to change contract terms live on a stored run")
    ap.add_argument("run_dir", type=Path, help="folder of a finished run")
    ap.add_argument("--port", type=int, default=8765, help="default: 8765 (0: any free port)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this "
                    "machine only; another address exposes the run to the network)")
    return p


def _calibration_parsers(sub) -> None:
    ca = sub.add_parser("calibrate", help="fit a cost model to a claims extract (one row per "
                        "member and year)")
    ca.add_argument("extract", type=Path, help="CSV or Parquet: member_id, year, allowed_usd, "
                    "months [, segment, group, died, age, weight]")
    ca.add_argument("--out", type=Path, required=True, help="new TOML file for [cost_models.NAME]")
    ca.add_argument("--name", help="cost model name (default: from the file name)")
    ca.add_argument("--segment", help="fit the rows of this segment only")
    ca.add_argument("--bands", type=_positive_int, default=5, help="number of cost bands (default 5)")
    ca.add_argument("--edges", help="start band edges in $, e.g. 1000,5000,20000 (default: quantiles)")
    ca.add_argument("--columns", help="rename columns: old=new,... (e.g. COST=allowed_usd)")
    ca.add_argument("--prior", help="FILE.toml:MODEL toward which sparse transition rows are "
                    "shrunk (default: the shipped medicare or commercial model)")
    ca.add_argument("--report", type=Path, help="new folder for the fit report (PNGs + report.html)")

    me = sub.add_parser("members", help="simulated member-years of a segment's cost model, in "
                        "the extract format")
    me.add_argument("scenario", type=Path)
    me.add_argument("--segment", required=True)
    me.add_argument("--members", type=_positive_int, required=True, help="member slots")
    me.add_argument("--years", type=_positive_int, required=True)
    me.add_argument("--seed", type=int, default=0)
    me.add_argument("--out", type=Path, required=True, help="new CSV file (never overwritten)")
    me.add_argument("--churn", action="store_true", help="apply the segment's churn (default: none)")


def _calibrate(args: argparse.Namespace) -> int:
    from .calibration.commands import parse_edges, run_calibrate

    run_calibrate(args.extract, args.out, args.name, args.segment, args.bands, parse_edges(args.edges),
                  args.columns, args.prior, args.report)
    return 0


def _members(args: argparse.Namespace) -> int:
    from .calibration.commands import run_members

    frame = run_members(args.scenario, args.segment, args.members, args.years, args.seed, args.out,
                        args.churn)
    print(f"{args.out}: {len(frame):,} member-years of {frame.member_id.nunique():,} members")
    return 0


def _measure_options(p: argparse.ArgumentParser, default_horizon: str = "term") -> None:
    p.add_argument("--horizon", default=default_horizon, help="term (over the term, undiscounted), "
                   f"pv (present value), or a year (default: {default_horizon})")
    p.add_argument("--segment", default="total", help="a segment name, or total (default)")


def _strict_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="treat plausibility warnings (e.g. a "
                   "percent typed as a fraction, churn_pct = 0.2) as errors")


def _checked_scenario(args: argparse.Namespace):
    """The scenario of ``args``, its plausibility warnings printed (one line each), or
    raised as errors with ``--strict``."""
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario, getattr(args, "overrides", ()))
    if scenario.warnings and args.strict:
        raise ScenarioError(str(args.scenario), scenario.warnings)
    for path, message in scenario.warnings:
        print(f"vbcsim: warning: {args.scenario}: {path}: {message}", file=sys.stderr)
    return scenario


def _grid(text: str) -> tuple[str, list[float]]:
    try:
        path, spec = text.split("=")
        start, stop, n = spec.split(":")
        import numpy as np

        return path, [float(x) for x in np.linspace(float(start), float(stop), int(n))]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PATH=START:STOP:N, got {text!r}") from None


def _range(text: str) -> tuple[str, tuple[float, float]]:
    try:
        path, spec = text.split("=")
        low, high = spec.split(":")
        return path, (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PATH=LOW:HIGH, got {text!r}") from None


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked (the lookup imports
    importlib.metadata, a tenth of a second every other command would pay)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("vbcsim")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _run(args: argparse.Namespace) -> int:
    from .experience.engine import start_early

    scenario = _checked_scenario(args).with_run(
        trials=args.trials, seed=args.seed, engine=args.engine,
        backend=args.backend or ("dask" if args.scheduler else None))
    out = args.out or Path("results") / args.scenario.stem
    jobs = (os.cpu_count() or 1) if args.jobs == -1 else args.jobs
    start_early(scenario, jobs)  # the workers simulate while the heavy imports below run
    from .run import run_scenario
    try:
        sources = {} if args.sources_trials is None else {"sources_trials": args.sources_trials}
        result = run_scenario(scenario, out, jobs=jobs, force=args.force, progress=not args.quiet,
                              scheduler=args.scheduler or None,
                              check_resources_first=not args.no_resource_check, **sources)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished blocks are kept in {out}.partial; "
              f"run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    m = result.manifest
    extra = "" if result.capital is None else "\n\n" + _capital_headline(
        result.capital, scenario.capital.ruin_level_pct, m["trials"])
    return _show(result, args.quiet, f"{m['scenario']['name']}: {m['trials']} trials, seed {m['seed']}, "
                 f"{m['timings_s']['total']:.1f} s ({m['member_years_per_second'] / 1e6:.1f} M member-years/s)",
                 extra)


def _capital_headline(summary: pd.DataFrame, level_pct: float, trials: int) -> str:
    from .capital.stored import headline_lines

    return "\n".join([f"Capital, cash and survival ({trials} trials; Monte Carlo standard errors "
                      "in brackets; all figures in capital.csv):", *headline_lines(summary, level_pct)])


def _capital(args: argparse.Namespace) -> int:
    from .capital.stored import capital_table
    from .run import capital_stored_run

    result = capital_stored_run(args.run_dir, args.contract, args.capital, args.out, force=args.force)
    print(_capital_headline(result.summary, result.terms.ruin_level_pct, result.trials))
    print(capital_table(result.summary).to_string())
    print(f"results: {result.out} ({result.seconds:.1f} s)")
    return 0


def _show(result, quiet: bool, title: str, extra: str = "") -> int:
    if not quiet:
        from .analysis.sources import format_sources

        print(format_headline(result.summary, title) + format_sources(result.summary) + extra)
    print(f"results: {result.out}")
    return 0


def _settle(args: argparse.Namespace) -> int:
    from .run import settle_stored_run

    with _busy(f"settling {args.contract} on {args.run_dir}"):
        result = settle_stored_run(args.run_dir, args.contract, args.out, force=args.force)
    m = result.manifest
    for note in m["notes"]:
        print(note)
    return _show(result, args.quiet, f"{args.contract} on {args.run_dir} ({m['trials']} trials): "
                 f"{len(m['variants'])} variant(s) settled in {m['timings_s']['total']:.1f} s")


def _busy(label: str):
    """A line saying what a command is doing and, after, how long it took (on a terminal)."""
    from .core.progress import phase

    return phase(label, enabled=sys.stderr.isatty())


def _stored(run_dir: Path):
    from .run import open_run

    with _busy(f"reading {run_dir}"):
        return open_run(run_dir)


def _compare(args: argparse.Namespace) -> int:
    from .analysis.compare import compare
    from .analysis.tables import compare_text

    stored = _stored(args.run_dir)
    settlement = stored.settlement
    try:
        with _busy("comparing variants (bootstrap of the differences' errors)"):
            table = compare(settlement, args.variants or None, args.base, args.horizon, args.segment)
    except (KeyError, ValueError) as err:
        raise VbcsimError(str(err).strip("'\"")) from None
    print(compare_text(table, args.segment, args.horizon, args.base))
    if stored.scenario.capital is not None:
        from .capital.stored import capital_summary, capital_table
        from .run import stored_contracts

        summary = capital_summary(stored.settlement, stored.scenario.capital,
                                  stored_contracts(args.run_dir, stored.scenario),
                                  list(dict.fromkeys(table.variant)))
        print("\nCapital by variant ([capital] of the scenario; standard errors in brackets):")
        print(capital_table(summary).to_string())
    return 0


def _evaluator(args: argparse.Namespace):
    from .analysis.sweep import Evaluator

    stored = _stored(args.run_dir)
    try:
        return Evaluator(stored.experience, stored.scenario.contract,
                         stored.scenario.valuation.discount_rate_pct, str(args.horizon), args.segment)
    except ValueError as err:
        raise VbcsimError(str(err)) from None


def _sweep(args: argparse.Namespace) -> int:
    from .analysis.plots import sweep_frontier
    from .rundir import RunFolder
    from .analysis.sweep import sweep
    from .analysis.tables import sweep_text

    evaluator = _evaluator(args)
    try:
        with _busy("settling the grid"):
            table = sweep(evaluator, dict(args.term))
    except ValueError as err:
        raise VbcsimError(str(err)) from None
    slug = "_x_".join(p.split(".")[-1] if p.split(".")[1] == "*" else ".".join(p.split(".")[1:])
                      for p, _ in args.term)
    folder = RunFolder(args.out or args.run_dir / "sweeps" / slug, {"sweep": slug}, force=args.force)
    if not folder.is_complete():  # (complete: a rerun after a kill at the very end)
        table.to_csv(folder.path("sweep.csv"), index=False, float_format="%.6g")
        sweep_frontier(table).savefig(folder.path("frontier.png"), dpi=110)
    out = folder.complete()
    print(sweep_text(table, [p for p, _ in args.term], args.horizon, args.segment))
    print(f"results: {out}")
    return 0


def _breakeven(args: argparse.Namespace) -> int:
    from .analysis import sweep as sw
    from .analysis.tables import breakeven_text
    from .core.units import money_m, percent, usd_m

    if args.mean is not None:
        statistic, target, show = sw.mean_statistic, args.mean, money_m
        what = f"an expected gain of {usd_m(args.mean)}"
    else:
        try:
            loss = parse_money_usd(args.loss_probability[0])
            prob = parse_probability(args.loss_probability[1])
        except argparse.ArgumentTypeError as err:
            raise VbcsimError(f"--loss-probability: {err}") from None
        statistic, target, show = sw.loss_probability_statistic(loss), prob, percent
        what = f"a {percent(prob)} chance of losing more than {usd_m(loss)}"
    evaluator = _evaluator(args)
    solve = sw.breakeven_on_grid if sw.is_attachment(args.term) else sw.breakeven
    try:
        with _busy(f"solving for {args.term}"):
            result = solve(evaluator, args.term, tuple(args.between), statistic, target, show=show)
    except ValueError as err:
        raise VbcsimError(str(err)) from None
    print(breakeven_text(result, what, show, args.segment, args.horizon))
    return 0


def _programs(args: argparse.Namespace) -> int:
    from .analysis.roi import compare_designs
    from .analysis.tables import programs_text
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario).with_run(trials=args.trials, engine=args.engine)
    jobs = (os.cpu_count() or 1) if args.jobs == -1 else args.jobs
    table, seconds = compare_designs(scenario, jobs=jobs, progress=True)
    print(programs_text(table, scenario.run.trials))
    total = seconds["simulate"]
    print(f"discrete-event model: {seconds['discrete_event']:.1f} s of {total:.1f} s simulating "
          f"({seconds['discrete_event'] / total:.0%})")
    return 0


def _tornado(args: argparse.Namespace) -> int:
    from .analysis.plots import tornado_chart
    from .analysis.sweep import tornado
    from .analysis.tables import tornado_text

    evaluator = _evaluator(args)
    try:
        with _busy(f"settling {2 * len(args.term) + 1} contracts"):
            table = tornado(evaluator, dict(args.term))
    except ValueError as err:
        raise VbcsimError(str(err)) from None
    import io

    from .core.files import write_bytes

    png = io.BytesIO()
    tornado_chart(table).savefig(png, format="png", dpi=110)
    out = Path(args.out or args.run_dir / "tornado.png")
    write_bytes(out.parent, out.name, png.getvalue())
    print(tornado_text(table, args.horizon, args.segment))
    print(f"chart: {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .analysis.report import write_report
    from .rundir import verify_run

    verify_run(args.run_dir)
    with _busy("writing the report (charts, differences, workbook)"):
        page, workbook = write_report(args.run_dir, args.out)
    print(f"report: {page}\nworkbook: {workbook}")
    return 0


def _app(args: argparse.Namespace) -> int:
    from .app.server import AppServer
    from .app.workbench import Workbench

    try:
        server = AppServer(Workbench(args.run_dir), args.host, args.port)
    except OSError as err:
        raise VbcsimError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from None
    print(f"vbcsim app: {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def format_headline(summary: pd.DataFrame, title: str) -> str:
    """The summary a user reads after a run (``analysis.tables.headline_text``)."""
    from .analysis.tables import headline_text

    return headline_text(summary, title)


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # a terminated run stops like Ctrl-C: checkpoints kept, workers ended


def _raised_by_interrupt(err: BaseException) -> bool:
    """Whether ``err`` was raised while a Ctrl-C (or SIGTERM) was being handled: the run was
    interrupted, and what failed was cleaning up after it."""
    context = err.__context__
    while context is not None:
        if isinstance(context, KeyboardInterrupt):
            return True
        context = context.__context__
    return False


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        return _dispatch(args)
    except VbcsimError as err:
        if args.debug:
            raise
        print(f"vbcsim: error: {err}" if "\n" not in str(err) else f"vbcsim: error:\n{err}",
              file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - a bug or an unforeseen input: one line, not a traceback
        if args.debug:
            raise
        if _raised_by_interrupt(err):  # e.g. a checkpoint's zip closed mid-write by Ctrl-C
            print("\ninterrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"vbcsim: error: {type(err).__name__}: {err} (run with --debug for the traceback, "
              "and please report it)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    from .scenario import json_schema  # pydantic and numpy: after --help

    try:
        if args.command == "validate":
            scenario = _checked_scenario(args)
            n = sum(s.members for s in scenario.segments.values())
            print(f"{args.scenario}: valid ({len(scenario.segments)} segments, {n:,} members, "
                  f"{scenario.term.years} years, {len(scenario.contracts())} contract variant(s))")
            return 0
        if args.command == "schema":
            print(json.dumps(json_schema(), indent=1))
            return 0
        commands = {"programs": _programs, "settle": _settle, "compare": _compare, "sweep": _sweep,
                    "breakeven": _breakeven, "report": _report, "run": _run, "capital": _capital,
                    "calibrate": _calibrate, "members": _members, "app": _app, "tornado": _tornado}
        return commands[args.command](args)
    except OSError as err:  # a file the user named cannot be read or written
        raise VbcsimError(f"{err.filename or ''}: {err.strerror or err}".lstrip(": ")) from err


if __name__ == "__main__":
    sys.exit(main())
