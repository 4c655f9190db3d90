"""End to end: what a user waits for, beside what the engine alone takes (``make bench``).

Each figure is the median of ``--repeats`` runs, measured in this run, with the engine-only
time of the same work beside it:

1. ``vbcsim run`` of the reference scenario with the cohort engine, 1,000 trials on two
   workers, from the command to the printed summary (target: under 2 s), and 10,000 trials
   (under 6 s); beside: ``simulate_experience`` alone, worker pool already started, and the
   same command in this environment. The target is measured on ``--default-install``, an
   interpreter with vbcsim installed without extras (``pip install vbcsim``; ``make bench``
   builds one in ``.venv-run``): where dask is installed (the dev and dask extras) xarray
   imports it, and dask.distributed, on the first dataset and the first netCDF write, about
   a second that no vbcsim code asks for. Without the option, this environment is the target's.
2. The care-management discrete-event model of the reference program (under 0.5 s).
3. ``vbcsim validate`` and ``vbcsim --help`` (under 0.5 s); beside: the interpreter alone.
4. The one-year aggregate of ``benchmarks/one_year_book.toml`` (100,000 members, 20,000
   trials), cohort engine on two workers, in a fresh process: the first call a user makes,
   worker start-up included (under 1 s); beside: the same call again (pool started). With the
   ``aggregate`` package installed (not a dependency), its FFT of the same book at the bucket
   where its mean is within 0.01% (log2 = 22, bucket $200): the engine must be 10 x faster.

Beyond the issue's targets: ``vbcsim run`` of the same book at 200,000 trials on two workers
(2,000 engine blocks, saved as 250 checkpoint files), what its checkpoints and the rest of the
command add to the engine; beside: ``simulate_experience`` alone, worker pool already started.

Usage: python benchmarks/bench_end_to_end.py [--repeats N] [--skip-10k]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "reference_global_budget.toml"
BOOK = ROOT / "benchmarks" / "one_year_book.toml"
AGGREGATE_PROGRAM = ("agg Book 85000 claims sev lognorm [840 5900 15450 40890] cv [1.249 1.292 "
                     "1.097 0.879] wts [0.5 0.3 0.15 0.05] binomial 0.85")
"""The book in the aggregate package's language: 100,000 members, 15% with no cost, so a
binomial(100,000, 0.85) count of non-zero costs from the four-band lognormal mixture."""


USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""The environment commands are timed in: Python's own default of writing the bytecode of
the modules it imports, as on a user's machine (a session that turns it off would make every
command compile vbcsim's modules again, about a tenth of a second)."""


def median_seconds(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command_seconds(args: list[str], repeats: int) -> float:
    """Median wall time of a command (standard output read and dropped), after one untimed
    run that leaves its modules' bytecode behind, as any earlier use of vbcsim would."""
    def work():
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT, env=USER_ENV)

    work()
    return median_seconds(repeats, work)


def vbcsim(python: str = sys.executable) -> list[str]:
    """The ``vbcsim`` command of the environment of ``python``, as a user types it (its console
    script), else ``python -m simulator.cli``."""
    script = Path(python).parent / "vbcsim"
    return [str(script)] if script.is_file() else [python, "-m", "simulator.cli"]


def run_command(trials: int, out: Path, python: str = sys.executable) -> list[str]:
    return vbcsim(python) + ["run", str(REFERENCE), "--engine", "cohort", "--trials", str(trials),
                             "--jobs", "2", "--out", str(out), "--force"]


def engine_seconds(trials: int, repeats: int) -> float:
    """The cohort engine alone on the reference scenario, two workers already started."""
    from simulator.experience.engine import simulate_experience
    from simulator.scenario import load_scenario

    scenario = load_scenario(REFERENCE).with_run(trials=trials, engine="cohort")
    simulate_experience(scenario.with_run(trials=200), jobs=2)  # workers up, plan cached
    return median_seconds(repeats, lambda: simulate_experience(scenario, jobs=2))


LARGE_TRIALS = 200_000


def large_run_seconds(out: Path, repeats: int, python: str) -> tuple[float, float]:
    """The book at :data:`LARGE_TRIALS` trials: ``vbcsim run`` on ``python``, and the engine
    alone in this process, pool started (median seconds of each)."""
    from simulator.experience.engine import simulate_experience
    from simulator.scenario import load_scenario

    whole = command_seconds(vbcsim(python) + ["run", str(BOOK), "--trials", str(LARGE_TRIALS),
                                              "--jobs", "2", "--out", str(out), "--force"], repeats)
    book = load_scenario(BOOK).with_run(trials=LARGE_TRIALS)
    simulate_experience(book.with_run(trials=200), jobs=2)  # workers up
    return whole, median_seconds(repeats, lambda: simulate_experience(book, jobs=2))


def discrete_event_seconds(repeats: int) -> float:
    from simulator.experience.operations import simulate_operations
    from simulator.experience.programs import expected_referrals
    from simulator.scenario import load_scenario

    s = load_scenario(REFERENCE)
    referrals = expected_referrals(s.segments.values(), s.cost_models, s.term.years, s.program)
    return median_seconds(repeats, lambda: simulate_operations(s.program, referrals, s.run.seed))


BOOK_CALL = f"""
import json, time
from simulator.experience.engine import simulate_experience
from simulator.scenario import load_scenario
book = load_scenario({str(BOOK)!r})
t0 = time.perf_counter(); simulate_experience(book, jobs=2); t1 = time.perf_counter()
simulate_experience(book, jobs=2); t2 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1]))
"""

AGGREGATE_CALL = f"""
import json, time
from aggregate import build
t0 = time.perf_counter(); a = build({AGGREGATE_PROGRAM!r}, log2=22)
print(json.dumps([time.perf_counter() - t0, a.est_m / a.agg_m - 1]))
"""


def fresh_process(code: str, repeats: int, python: str = sys.executable) -> list[float]:
    """Per figure printed by ``code`` (a JSON list), its median over fresh processes."""
    runs = [json.loads(subprocess.run([python, "-c", code], check=True, capture_output=True,
                                      text=True, cwd=ROOT, env=USER_ENV).stdout) for _ in range(repeats)]
    return [statistics.median(r[i] for r in runs) for i in range(len(runs[0]))]


def aggregate_installed() -> bool:
    return subprocess.run([sys.executable, "-c", "import aggregate"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-10k", action="store_true", help="leave out the 10,000-trial run")
    parser.add_argument("--default-install", metavar="PYTHON", default=sys.executable,
                        help="interpreter of an install without extras, for the command timings")
    args = parser.parse_args()
    n = args.repeats
    lines: list[tuple[str, float, str, bool]] = []  # (target, figure, beside, met)
    plain = args.default_install
    with tempfile.TemporaryDirectory() as tmp:
        for trials, limit in ((1000, 2.0), (10_000, 6.0))[: 1 if args.skip_10k else 2]:
            run_s = command_seconds(run_command(trials, Path(tmp) / "ref", plain), n)
            here_s = command_seconds(run_command(trials, Path(tmp) / "ref"), n)
            lines.append((f"vbcsim run, reference, cohort engine, {trials:,} trials, 2 jobs < {limit:g} s",
                          run_s, f"engine alone {engine_seconds(trials, n):.2f} s; "
                                 f"with this environment's extras {here_s:.2f} s", run_s < limit))
        large = large_run_seconds(Path(tmp) / "book", n, plain)
    first_s, again_s = fresh_process(BOOK_CALL, n, plain)
    des_s = discrete_event_seconds(max(n, 5))
    lines.append(("care-management discrete-event model, reference program < 0.5 s", des_s,
                  "once per run, in the main process", des_s < 0.5))
    python_s = command_seconds([plain, "-c", "pass"], max(n, 5))
    for what, cmd in (("vbcsim validate", ["validate", str(REFERENCE)]), ("vbcsim --help", ["--help"])):
        seconds = command_seconds(vbcsim(plain) + cmd, max(n, 5))
        lines.append((f"{what} < 0.5 s", seconds, f"python alone {python_s:.2f} s", seconds < 0.5))
    lines.append(("one-year aggregate, 100,000 members x 20,000 trials, first call < 1 s", first_s,
                  f"engine alone (pool started) {again_s:.2f} s", first_s < 1.0))
    if aggregate_installed():
        fft_s, error = fresh_process(AGGREGATE_CALL, 1)
        lines.append(("one-year aggregate: >= 10 x faster than aggregate's FFT", fft_s / first_s,
                      f"FFT {fft_s:.2f} s (mean error {error:.1e}) / ours {first_s:.2f} s",
                      fft_s >= 10 * first_s))
    else:
        print("(the aggregate package is not installed: its FFT is not measured)")
    from simulator.core.resources import processor

    cpu = processor()
    print(f"\nend to end (medians of {n} runs; the figure, then what it is beside; commands timed on "
          f"{plain}; {os.cpu_count()} cores of {cpu['model']}, "
          f"{', '.join(cpu['vector_extensions']) or 'vector instructions unknown'}; targets in seconds "
          "as issue 18 set them on the machine of its day: bench_baseline.py reads them as "
          "speed-ups over the code of that day, measured in one run):")
    for target, figure, beside, met in lines:
        unit = " x" if target.endswith("FFT") else " s"
        print(f"  {'met' if met else 'NOT MET'}: {target}: {figure:.2f}{unit} ({beside})")
    print(f"beyond the targets: vbcsim run, one-year book, {LARGE_TRIALS:,} trials, 2 jobs: "
          f"{large[0]:.2f} s (engine alone {large[1]:.2f} s)")


if __name__ == "__main__":
    main()
