"""Exceptions of vbcsim; the CLI turns each into one clear line and an exit code."""

from __future__ import annotations


class VbcsimError(Exception):
    """Base class of every error vbcsim raises on purpose."""

    exit_code = 1


class ScenarioError(VbcsimError):
    """A scenario file (or dictionary) that cannot be used as it is.

    Parameters
    ----------
    source
        File name (or ``"<scenario>"`` for an in-memory scenario).
    problems
        ``(field_path, message)`` pairs; the path is dotted, e.g.
        ``segments.ppo.churn_pct``.
    """

    exit_code = 2

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.source}: {path}: {msg}" if path else f"{self.source}: {msg}"
                 for path, msg in self.problems]
        return "\n".join(lines)


class RunError(VbcsimError):
    """A run that cannot start or finish (output folder taken, unwritable, mismatched resume)."""

    exit_code = 3


class SettlementError(VbcsimError):
    """Terms that cannot be settled on an experience (a settled figure would not be a number)."""

    exit_code = 4
