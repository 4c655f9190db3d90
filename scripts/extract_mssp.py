"""Extract the MSSP columns vbcsim's calibration uses from the stacked public use files.

Run by hand, once (the project never reads the source at run or test time):

    python scripts/extract_mssp.py SOURCE.csv data/mssp/mssp_aco_years.csv.gz

SOURCE is the CMS "Performance Year Financial and Quality Results" public use files,
PY2013-2021, stacked by the open-source R package samstearns/mssp. See data/mssp/README.md.
"""

from __future__ import annotations

import re
import sys

import pandas as pd

COLUMNS = ["performance_year", "aco_id", "aco_name", "n_ab", "abtotbnchmk", "abtotexp", "minsavperc"]
SUFFIXES = r"\b(llc|inc|l l c|pllc|lp|llp|pc|the|corp|corporation|co|ltd)\b"


def normalise(name: str) -> str:
    """An ACO name without punctuation, case and legal-form words (for linking years)."""
    text = re.sub(r"[^a-z0-9 ]", " ", str(name).lower())
    return " ".join(re.sub(SUFFIXES, " ", text).split())


def aco_keys(frame: pd.DataFrame) -> pd.Series:
    """A stable key per ACO: its aco_id (given from PY2018); for earlier years the aco_id of the
    one ACO with the same normalised name, else a key from the name (unique per year)."""
    name = frame.aco_name.map(normalise)
    known = frame[frame.aco_id.notna()].groupby(name[frame.aco_id.notna()]).aco_id.agg(set)
    unique = {n: next(iter(ids)) for n, ids in known.items() if len(ids) == 1}
    codes = {n: f"N{i:04d}" for i, n in enumerate(sorted(set(name) - set(unique)))}
    key = frame.aco_id.where(frame.aco_id.notna(), name.map(unique))
    key = key.where(key.notna(), name.map(codes))
    clash = (pd.DataFrame({"k": key, "y": frame.performance_year}).duplicated(keep=False)
             & frame.aco_id.isna())
    key[clash] = key[clash] + "_" + clash[clash].index.astype(str)  # same name twice in a year
    return key


def extract(source: str) -> pd.DataFrame:
    raw = pd.read_csv(source, usecols=COLUMNS, low_memory=False)
    out = pd.DataFrame({
        "performance_year": raw.performance_year.astype(int),
        "aco_key": aco_keys(raw),
        "n_ab": raw.n_ab.astype(int),
        "benchmark_usd": raw.abtotbnchmk.round(0).astype("int64"),
        "expenditure_usd": raw.abtotexp.round(0).astype("int64"),
        # PY2014 and PY2015 store the MSR 100x too small (data/README of the source)
        "min_savings_rate": raw.minsavperc * raw.performance_year.isin([2014, 2015]).map({True: 100, False: 1}),
    })
    assert not out.duplicated(["aco_key", "performance_year"]).any()
    return out.sort_values(["performance_year", "aco_key"]).reset_index(drop=True)


if __name__ == "__main__":
    extract(sys.argv[1]).to_csv(sys.argv[2], index=False, float_format="%.6g")
