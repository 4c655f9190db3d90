"""The page in a real headless Chromium: change a share, read back what ``vbcsim settle`` gives.

Needs Debian's ``chromium`` and ``chromium-driver`` (and the ``selenium`` package). Without
them these tests are skipped with the reason; under CI (``CI`` set) they fail instead, since
``.ci/run`` installs the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import pandas as pd
import pytest
import tomli_w

from simulator.app.views import _amount
from simulator.app.server import AppServer
from simulator.app.workbench import Workbench
from simulator.cli import main
from stored_run import make_stored_run

WAIT_S = 120


def browser_paths() -> tuple[str, str]:
    """Chromium and its driver, or a skip (a failure under CI) saying what is missing."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing.append("Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    if missing:
        reason = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + "; .ci/run should have installed them")
        pytest.skip(reason)
    return browser, driver


def chromium(width: int = 1280, height: int = 1000):
    """A headless Chromium driven by Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    browser_paths()  # skip before making a run when there is no browser
    bench = Workbench(make_stored_run(tmp_path_factory.mktemp("browser"), trials=40))
    server = AppServer(bench, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield bench, server.url
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(served):
    driver = chromium()
    try:
        driver.get(served[1])
        wait_settled(driver)
        yield driver
    finally:
        driver.quit()


def wait_settled(driver) -> None:
    """Until the page has settled the terms its form now holds (not a timing assertion)."""
    from selenium.webdriver.support.ui import WebDriverWait

    time.sleep(0.3)  # longer than the page's debounce, so the last keystroke has been sent
    WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(
        "return ['ready', 'invalid'].includes(document.body.dataset.state) && "
        "document.body.dataset.settledTerms === JSON.stringify(terms())"))


def type_into(driver, segment: str, key: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.CSS_SELECTOR, f'.tab[data-tab="{segment}"]').click()
    box = driver.find_element(By.CSS_SELECTOR, f'.segment[data-segment="{segment}"] '
                                               f'[data-key="{key}"] input[data-role="value"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text)


def cards(driver) -> pd.DataFrame:
    """Every figure of the headline cards: exact value, error, and the text shown."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('.card .measure')].map(m => {"
        " const n = m.querySelector('.num'); return [m.closest('.card').dataset.segment,"
        " m.dataset.measure, Number(n.dataset.value), Number(n.dataset.se), n.textContent]; })")
    return pd.DataFrame(rows, columns=["segment", "measure", "value", "mc_se", "text"])


def settle_with_cli(bench: Workbench, tmp_path, ppo_changes: dict) -> pd.DataFrame:
    """``vbcsim settle`` on the same run with the PPO terms changed; the base's term rows."""
    ppo = bench.named("base").segments["ppo"].model_dump(mode="json", exclude_none=True) | ppo_changes
    path = tmp_path / "terms.toml"
    path.write_text(tomli_w.dumps({"contract": {"segments": {"ppo": ppo}}}))
    out = tmp_path / "settled"
    assert main(["settle", str(bench.run_dir), "--contract", str(path), "--out", str(out), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    return summary[(summary.variant == "base") & (summary.horizon == "term")]


def test_a_changed_share_shows_what_vbcsim_settle_gives(page, served, tmp_path):
    bench, _ = served
    before = cards(page)
    type_into(page, "ppo", "surplus_share_pct", "80")
    type_into(page, "ppo", "deficit_share_pct", "80")
    wait_settled(page)
    assert page.execute_script("return terms().segments.ppo.deficit_share_pct") == 80
    shown = cards(page)
    expected = settle_with_cli(bench, tmp_path, {"surplus_share_pct": 80.0, "deficit_share_pct": 80.0})
    merged = shown.merge(expected, on=["segment", "measure"], suffixes=("", "_cli"))
    assert len(merged) == 24  # 3 segments and the total, 6 measures each
    # summary.csv keeps 6 significant digits
    pd.testing.assert_series_equal(merged.value, merged.value_cli, check_names=False, rtol=1e-5)
    pd.testing.assert_series_equal(merged.mc_se, merged.mc_se_cli, check_names=False, rtol=1e-5)
    assert all(row.text == _amount(row.value, row.measure == "p_loss") for row in shown.itertuples())
    # the PPO moved, the other segments did not
    moved = shown.set_index(["segment", "measure"]).value - before.set_index(["segment", "measure"]).value
    assert moved.loc["ppo"].abs().max() > 0 and moved.loc[["hmo", "medicare"]].abs().max() == 0
    print(f"\nupdate latency at {bench.trials} trials: numbers {page.execute_script('return document.body.dataset.liveMs')} ms, "
          f"charts {page.execute_script('return document.body.dataset.detailsMs')} ms")


def test_terms_out_of_bounds_name_the_field(page):
    from selenium.webdriver.common.by import By

    type_into(page, "hmo", "surplus_share_pct", "120")
    wait_settled(page)
    assert page.execute_script("return document.body.dataset.state") == "invalid"
    problems = page.find_element(By.ID, "problems").text
    assert "segments.hmo.surplus_share_pct" in problems and "100" in problems


def test_save_and_compare_variants(page, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    type_into(page, "medicare", "deficit_share_pct", "45")
    wait_settled(page)
    page.find_element(By.ID, "variant-name").send_keys("medicare_45")
    page.find_element(By.ID, "save").click()
    WebDriverWait(page, WAIT_S).until(lambda d: "medicare_45" in d.find_element(By.ID, "saved").text)
    assert served[0].named("medicare_45").segments["medicare"].deficit_share_pct == 45.0
    page.find_element(By.ID, "compare").click()
    WebDriverWait(page, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#comparison table"))
    head = page.find_element(By.CSS_SELECTOR, "#comparison thead").text
    assert "base" in head and "medicare_45" in head
    assert page.find_elements(By.CSS_SELECTOR, "#comparison svg")
    assert json.loads(page.execute_script("return JSON.stringify(terms())"))["segments"]["medicare"][
        "deficit_share_pct"] == 45
