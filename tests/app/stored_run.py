"""A small finished run for the workbench's tests (the reference scenario, shrunk)."""

from __future__ import annotations

from pathlib import Path

from conftest import small_dict, write_toml
from simulator.cli import main


def make_stored_run(folder: Path, trials: int = 40) -> Path:
    """Run the shrunk reference scenario into ``folder/run`` and return the run folder."""
    scenario = write_toml(folder / "small.toml", small_dict(trials=trials, trials_per_block=10))
    out = folder / "run"
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    return out
