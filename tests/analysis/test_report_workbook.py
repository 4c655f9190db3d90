"""The report reads at a glance and is safe; the workbook is usable as it is (issue 19 items 3-4,
issue 14 point 9).

Each test names the problem it would catch again: a report opening on a table of
column codes, differences in e-notation, strings from a scenario injected into the
page, a report written through a planted link, a workbook of text in General format.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import numpy as np
import openpyxl
import pandas as pd
import pytest

from conftest import small_dict, write_toml
from simulator.cli import main
from simulator.core.units import percent, usd_m

HOSTILE_NAME = "=HYPERLINK(\"http://example.invalid\") <script>alert('name')</script>"
HOSTILE_TEXT = "<img src=x onerror=alert(1)> & </pre><b>bold</b>"


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """A small run whose scenario carries markup in every free-text field, and its report."""
    folder = tmp_path_factory.mktemp("report")
    data = small_dict(trials=30, trials_per_block=10)
    data["name"] = HOSTILE_NAME
    data["description"] = HOSTILE_TEXT
    data["contract"]["description"] = HOSTILE_TEXT
    data["variants"]["ppo_80_percent"]["description"] = "<i>PPO at 80%</i>"
    scenario = write_toml(folder / "hostile.toml", data)
    out = folder / "res"
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    assert main(["report", str(out)]) == 0
    return out


def _visible(page: str) -> str:
    """The page's text outside <pre> blocks and data URIs, unescaped."""
    text = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    text = re.sub(r'src="data:[^"]*"', "", text)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def test_report_opens_with_the_answer_in_dollars_and_percents(reported):
    # was: the report opened on a nine-column table headed p_loss, var_99_5
    page = (reported / "report.html").read_text()
    summary = pd.read_csv(reported / "summary.csv", dtype={"horizon": str})
    base = summary.query("variant == 'base' and segment == 'total' and horizon == 'term'"
                         ).set_index("measure")["value"]
    first_table = page.index("<table")
    for label in ("Expected result over the term", "Chance of a loss over the term",
                  "A bad year (1 in 20)", "A bad term (1 in 20)"):
        assert 0 < page.index(label) < first_table, label
    assert page.index(usd_m(base["mean"])) < first_table
    assert page.index(percent(base["p_loss"])) < first_table
    assert page.index(usd_m(-base["var_95"])) < first_table
    sentences = [html.unescape(s) for s in re.findall(r"<li>(.*?)</li>", page[:first_table], flags=re.S)]
    assert len(sentences) == 2
    assert sentences[0].startswith("'base'")
    assert "better than 'base'" in sentences[1] or "worse than 'base'" in sentences[1]


def test_report_numbers_carry_units_and_labels_are_words(reported):
    # was: differences in e-notation under a "$ millions" note; column codes as headers
    text = _visible((reported / "report.html").read_text())
    assert not re.search(r"\d\.?\d*e[+-]\d", text)
    for code in ("p_loss", "var_95", "var_99_5", "tvar_95", "mc_se", "diff_se_common"):
        assert not re.search(rf"\b{code}\b", text), code
    for words in ("expected gain ($M)", "chance of a loss (%)", "VaR 99.5%", "over the term, undiscounted",
                  "present value", "standard error, same paths"):
        assert words in text, words


def test_every_string_from_the_scenario_is_escaped(reported):
    page = (reported / "report.html").read_text()
    assert "<script" not in page and "<img src=x" not in page and "<i>PPO" not in page
    assert "<b>bold" not in page and "</pre><b>" not in page
    assert html.unescape(re.search(r"<h1>(.*?)</h1>", page).group(1)) == HOSTILE_NAME
    assert "&lt;i&gt;PPO at 80%&lt;/i&gt;" in page


@pytest.mark.parametrize("name", ["report.html", "summary.xlsx"])
def test_report_never_writes_through_a_symlink(reported, tmp_path, capsys, name):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's file")
    target = reported / name
    saved = target.read_bytes()
    target.unlink()
    target.symlink_to(victim)
    try:
        assert main(["report", str(reported)]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "symbolic link" in err and name in err
        assert victim.read_bytes() == b"the user's file"
        assert target.is_symlink()
    finally:
        target.unlink()
        target.write_bytes(saved)


def test_report_to_a_folder_that_does_not_exist_is_one_line(reported, tmp_path, capsys):
    assert main(["report", str(reported), "--out", str(tmp_path / "nowhere" / "r.html")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("vbcsim: error: cannot write") and err.count("\n") == 1


def test_report_fits_800_pixels_in_a_browser(reported, tmp_path):
    # was: nine wide columns; the page must not scroll sideways at 800 px (tables may, inside)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed")
    probe = tmp_path / "probe.html"
    probe.write_text((reported / "report.html").read_text().replace(
        "</body>", "<script>document.title = 'W' + document.documentElement.scrollWidth;</script></body>"))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=800,1200",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    width = int(re.search(r"<title>W(\d+)</title>", dom).group(1))
    assert width <= 800


def test_workbook_holds_numbers_with_formats_units_filters_and_frozen_headers(reported):
    # was: raw dollars as text in General format
    book = openpyxl.load_workbook(reported / "summary.xlsx")
    assert book.sheetnames == ["Summary", "Differences", "Trials", "Run"]
    for ws in book:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == ws.dimensions, ws.title
        assert all(isinstance(c.value, str) for c in ws[1]), ws.title      # one header row
    summary = book["Summary"]
    header = [c.value for c in summary[1]]
    assert "expected gain ($M)" in header and "chance of a loss (%)" in header
    mean_col, p_col = header.index("expected gain ($M)"), header.index("chance of a loss (%)")
    for row in summary.iter_rows(min_row=2):
        assert isinstance(row[mean_col].value, float) and row[mean_col].number_format.startswith("#,##0.00")
        assert 0 <= row[p_col].value <= 1 and row[p_col].number_format == "0.0%"
    diffs = book["Differences"]
    assert {r[2].value for r in diffs.iter_rows(min_row=2)} == {"$M", "%"}
    assert all(r[3].number_format == ("0.0%" if r[2].value == "%" else "#,##0.00;-#,##0.00")
               for r in diffs.iter_rows(min_row=2))


def test_workbook_trials_sheet_reproduces_the_summary(reported):
    book = openpyxl.load_workbook(reported / "summary.xlsx")
    rows = pd.DataFrame(list(book["Trials"].values)[1:],
                        columns=["trial", "variant", "segment", "term", "pv"])
    assert len(rows) == 30 * 2 * 4 and rows.trial.map(type).eq(int).all()
    summary = pd.read_csv(reported / "summary.csv", dtype={"horizon": str})
    for (variant, segment), g in rows.groupby(["variant", "segment"]):
        for horizon in ("term", "pv"):
            stored = summary.query("variant == @variant and segment == @segment and horizon == @horizon "
                                   "and measure == 'mean'")["value"].item()
            assert np.mean(g[horizon]) * 1e6 == pytest.approx(stored, rel=1e-5)   # csv keeps 6 digits


def test_workbook_run_sheet_names_the_run_and_keeps_text_as_text(reported):
    ws = openpyxl.load_workbook(reported / "summary.xlsx")["Run"]
    items = {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}
    assert items["seed"].value == small_dict()["run"]["seed"] and items["trials"].value == 30
    assert items["scenario"].value == HOSTILE_NAME and items["scenario"].data_type == "s"
    assert {"engine", "version: vbcsim", "version: numpy", "version: numba", "scenario sha256"} <= set(items)
    assert items["processor"].value.count("; vector instructions: ") == 1
