"""Waiting that looks like progress (issue 19 item 6): no ETA extrapolated from start-up costs."""

from __future__ import annotations

import io
import re

import pytest

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.core import progress as progress_module
from simulator.core.progress import Progress, phase


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_measured_from_the_first_result_not_from_the_start(monkeypatch):
    # was: the first line said ETA 3344 s: 30 s of compiling extrapolated over 1% of the work
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", clock)
    bar = Progress(1000, "simulating trials", enabled=False)
    clock.now = 300.0                       # start-up: compiling, workers loading, program model
    bar.advance(10)
    assert bar.eta_text(clock.now, 10) == "ETA after the first results"
    for _ in range(9):                      # then 10 trials a second
        clock.now += 1.0
        bar.advance(10)
    assert bar.eta_text(clock.now, 100) == "ETA 01:30"    # 900 trials left at 10 a second
    bar.close()


def test_resumed_work_counts_but_does_not_speed_up_the_eta(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", clock)
    bar = Progress(100, "simulating trials", enabled=False, initial=50)
    clock.now = 5.0
    bar.advance(10)
    clock.now = 15.0
    bar.advance(10)
    assert bar.eta_text(clock.now, 70) == "ETA 00:30"      # 30 left at 1 a second
    bar.close()


def test_a_phase_says_what_it_does_and_how_long_it_took():
    stream = io.StringIO()
    with phase("compiling", stream=stream):
        pass
    assert re.fullmatch(r"compiling\.\.\. \d+\.\d s\n", stream.getvalue())


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    return write_toml(tmp_path_factory.mktemp("progress") / "small.toml",
                      small_dict(trials=6, trials_per_block=2))


def test_run_reports_start_up_and_compilation_on_its_own_line(scenario_file, tmp_path, capsys):
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "r"), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"simulating trials: starting: workers, program model, the \w+ engine's kernel "
                     r"\(compiled on first use, then cached\)\.\.\. first results after \d+\.\d s", err)
    assert "ETA" not in err.splitlines()[0]


def test_programs_shows_progress_per_design_and_money_in_millions(scenario_file, capsys):
    assert main(["programs", str(scenario_file), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert re.search(r"design 1 of \d+, '\w+': starting: .*first results after", captured.err)
    assert "over the term, undiscounted, $ millions" in captured.out
    assert not re.search(r"\d\.?\d*e[+-]\d", captured.out)
    assert "change in expected gain" in captured.out


def test_start_up_is_said_at_once_and_timed_when_the_first_results_come():
    stream = io.StringIO()
    bar = Progress(10, "simulating trials", stream=stream, preamble="starting workers")
    assert stream.getvalue() == "simulating trials: starting workers... "
    bar.advance(5)
    assert re.fullmatch(r"simulating trials: starting workers\.\.\. first results after \d+\.\d s\n",
                        stream.getvalue())
    bar.close()
