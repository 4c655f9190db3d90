"""Reading a TOML input file: its text and content, or one clear :class:`ScenarioError`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import ScenarioError


def read_toml(path: str | Path) -> tuple[str, dict[str, Any]]:
    """The text of a TOML file and its parsed content; problems raise :class:`ScenarioError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), [("", f"cannot read the file: {err}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(str(path), [("", f"not valid TOML: {err}")]) from None
    except RecursionError:
        data = None
    if data is None or nesting_depth(data) > MAX_NESTING:
        raise ScenarioError(str(path), [("", f"tables or arrays nested more than {MAX_NESTING} "
                                         "deep; a scenario never needs that")])
    return text, data


MAX_NESTING = 32
"""Deepest nesting of tables and arrays a scenario or contract file may have (a scenario
needs about 6); deeper input is refused before validation, whose recursion it would exhaust."""


def nesting_depth(value: Any) -> int:
    """Depth of nested dicts and lists (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if depth + 1 <= MAX_NESTING:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest
