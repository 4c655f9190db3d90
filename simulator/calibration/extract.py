"""The claims extract: one row per member and year, read from CSV or Parquet.

Required columns: ``member_id`` (string), ``year`` (integer), ``allowed_usd`` (annual
allowed cost, >= 0), ``months`` (months of eligibility that year, 1-12). Optional:
``segment``, ``group``, ``died`` (0/1), ``age``, ``weight`` (default 1). The member export
(:mod:`simulator.calibration.members`) writes the same format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import VbcsimError

REQUIRED = ("member_id", "year", "allowed_usd", "months")
OPTIONAL = ("segment", "group", "died", "age", "weight")
NUMERIC = ("year", "allowed_usd", "months", "died", "age", "weight")


class ExtractError(VbcsimError):
    """A claims extract (or an output path for one) that cannot be used as it is."""

    exit_code = 2


def parse_columns(text: str | None) -> dict[str, str]:
    """``old=new,old2=new2`` as a mapping (empty for ``None``)."""
    if not text:
        return {}
    mapping = {}
    for pair in text.split(","):
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or new.strip() not in REQUIRED + OPTIONAL:
            raise ExtractError(f"--columns: expected old=new pairs with new one of "
                               f"{', '.join(REQUIRED + OPTIONAL)}; got {pair!r}")
        mapping[old.strip()] = new.strip()
    return mapping


def read_extract(path: Path, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read an extract, rename its columns and check their types (not their values).

    Values are checked by :func:`simulator.calibration.checks.run_checks`, which counts
    and reports every problem; here only what makes the file unreadable is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except ImportError:
            raise ExtractError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow); "
                               "or export the extract as CSV") from None
    else:
        frame = pd.read_csv(path, dtype={"member_id": str}, keep_default_na=True)
    frame = frame.rename(columns=columns or {})
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise ExtractError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                           f"{', '.join(REQUIRED)} (rename with --columns old=new,...)")
    frame = frame[[c for c in REQUIRED + OPTIONAL if c in frame]].copy()
    frame["member_id"] = frame["member_id"].fillna("").astype(str).str.strip()
    for name in NUMERIC:
        if name in frame:
            values = pd.to_numeric(frame[name], errors="coerce")
            bad = values.isna() & frame[name].notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ExtractError(f"{path}: {name}: expected a number, got "
                                   f"{frame[name].iloc[row]!r} (data row {row + 1})")
            frame[name] = values
    for name in ("segment", "group"):
        if name in frame:
            frame[name] = frame[name].astype(str)
    frame.attrs["source"] = str(path)
    return frame.reset_index(drop=True)
