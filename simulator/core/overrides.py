"""``PATH=VALUE`` overrides of a parsed TOML document (``vbcsim run --set``).

A path is dotted, as in ``vbcsim sweep --term``: ``segments.medicare.members=20000``;
``*`` stands for every entry of a table (``segments.*.churn_pct=15``). A value is written
as in TOML (``3.5``, ``"cms_table"``, ``[3.0, 3.2]``, ``{ level_sd_pct = 2 }``); a bare word
that is not TOML is taken as a string (``cms_table``).
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

NAMED_TABLES = ("segments", "cost_models", "contract.segments", "variants", "program_designs",
                "quality.measures")
"""Tables whose keys are user-given names: an override may not invent a new one (a typo
would otherwise become a half-specified segment with a screen of errors)."""


class OverrideError(ValueError):
    """An override that cannot be applied; ``path`` names it."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(message)


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=VALUE"`` as ``("a.b", value)``."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or any(not k for k in path.split(".")):
        raise OverrideError(path or text, f"expected PATH=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of ``data`` with each ``(path, value)`` set, in order."""
    out = copy.deepcopy(data)
    for path, value in overrides:
        _set(out, path, value)
    return out


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    targets: list[tuple[str, dict[str, Any]]] = [("", data)]
    for key in keys[:-1]:
        step = []
        for where, table in targets:
            if key == "*":
                if not table:
                    raise OverrideError(path, f"'*' in {path}: {where or 'the scenario'} has no entries")
                step += [(f"{where}.{k}".lstrip("."), t) for k, t in table.items()]
                continue
            here = f"{where}.{key}".lstrip(".")
            if key not in table:
                if where in NAMED_TABLES:
                    raise OverrideError(path, f"no entry named '{key}' in {where} "
                                              f"(have {', '.join(sorted(table)) or 'none'})")
                table[key] = {}
            if not isinstance(table[key], dict):
                raise OverrideError(path, f"{here} is a value, not a table")
            step.append((here, table[key]))
        targets = step
    for where, table in targets:
        if not isinstance(table, dict):
            raise OverrideError(path, f"{where} is a value, not a table")
        table[keys[-1]] = copy.deepcopy(value)
