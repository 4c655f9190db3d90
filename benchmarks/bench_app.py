"""Update latency of ``vbcsim app`` at 10,000 trials, measured in a real headless Chromium.

Serves the workbench on a stored run of the reference scenario at 10,000 trials
(``results/bench-10k``, made by ``bench_settle.py`` if missing, or ``--run``),
opens the page in Debian's chromium through Selenium, and changes the PPO
surplus share ``--changes`` times to new values. For each change it reads the
page's own timing, from the moment the terms are sent to the moment the
figures are on screen: the cards, differences in expected gain, the bridge and
the two charts; then the bootstrap errors of every measure's difference. The
page waits 120 ms after the last keystroke before it sends (debounce), not
counted here. Prints the median and the worst of each, and the server-side
time of the same work without the browser.

Usage: python benchmarks/bench_app.py [--run RUN_DIR] [--changes N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from pathlib import Path

from simulator.app.server import AppServer
from simulator.app.workbench import Workbench


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def settled_page(driver, timeout_s: float = 300) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    time.sleep(0.3)  # past the debounce
    WebDriverWait(driver, timeout_s).until(lambda d: d.execute_script(
        "return document.body.dataset.state === 'ready' && "
        "document.body.dataset.settledTerms === JSON.stringify(terms())"))


def in_browser(url: str, shares: list[int]) -> tuple[list[float], list[float]]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser()
    live, details = [], []
    try:
        driver.get(url)
        settled_page(driver)
        box = driver.find_element(By.CSS_SELECTOR, '.segment[data-segment="ppo"] '
                                  '[data-key="surplus_share_pct"] input[data-role="value"]')
        for share in shares:
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(str(share))
            settled_page(driver)
            live.append(float(driver.execute_script("return document.body.dataset.liveMs")) / 1000)
            details.append(float(driver.execute_script("return document.body.dataset.detailsMs")) / 1000)
    finally:
        driver.quit()
    return live, details


def server_side(bench: Workbench, shares: list[int]) -> tuple[list[float], list[float]]:
    """The same work as the page's two requests, called directly (no HTTP, no browser)."""
    base = bench.named("base").model_dump(mode="json", exclude_none=True)
    live, details = [], []
    for share in shares:
        terms = {**base, "segments": {**base["segments"], "ppo": {**base["segments"]["ppo"],
                                                                 "surplus_share_pct": share + 0.5}}}
        t0 = time.perf_counter()
        settled = bench.settled(bench.contract(terms))
        bench.cards(settled, "term"), bench.mean_differences(settled, "term"), bench.bridge(settled, "total")
        bench.chart_data(settled, "term", "total")
        t1 = time.perf_counter()
        bench.differences(settled, "term", "total")
        live.append(t1 - t0)
        details.append(time.perf_counter() - t1)
    return live, details


def show(label: str, seconds: list[float]) -> None:
    print(f"  {label:<44} median {statistics.median(seconds):.2f} s, worst {max(seconds):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a stored run (default: results/bench-10k)")
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    if args.run is None:
        from bench_settle import RUN, stored_run
        stored_run()
        args.run = RUN
    bench = Workbench(args.run)
    shares = [100 - 3 * (i + 1) for i in range(args.changes)]
    server = AppServer(bench, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        live, details = in_browser(server.url, shares)
    finally:
        server.shutdown()
        server.server_close()
    print(f"vbcsim app on {args.run} ({bench.trials:,} trials), {args.changes} changes of the PPO surplus share:")
    show("in Chromium: cards, bridge, charts on screen", live)
    show("in Chromium: bootstrap errors of differences", details)
    live, details = server_side(bench, [s - 1 for s in shares])
    show("server only: settle, cards, bridge, charts", live)
    show("server only: bootstrap errors of differences", details)


if __name__ == "__main__":
    main()
