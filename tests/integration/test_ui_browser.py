"""The Dagster UI of a built home, as a user sees it in a real browser: the asset graph,
the backtest's page with its metadata and equity curve, and the run that built it.

Headless Chromium from the system (Debian's `chromium` package; `.ci/run` installs it),
driven by Playwright. The screenshots are kept in the test's temporary folder, and
their paths printed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cli_runs import asset_graph, cli_env, serving_ui
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    # Without these Chromium keeps retrying its background services' refused
    # connections, and pages stall behind them.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
TIMEOUT_MS = 60_000
# the graph shows names up to this length whole, longer ones with an ellipsis inside
LONGEST_FULL_LABEL = 20
# How the graph fills a materialized asset's node (its inline style).
MATERIALIZED_NODE = re.compile(r"--minimal-bg: var\(--color-background-green\)")
# Metadata entries of the backtest that a user reads first.
BACKTEST_METADATA = ["backtest_id", "model_version", "sharpe", "max_drawdown", "equity_curve"]


def _screenshot(page: Page, path: Path, shots: list[Path]) -> None:
    # animations finished at once: a dialog is captured opened, not half faded in
    page.screenshot(path=path, animations="disabled")
    shots.append(path)


@pytest.mark.slow
def test_the_ui_in_a_browser(clean_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert Path(CHROMIUM).exists(), "needs Chromium: apt-get install chromium"
    shots: list[Path] = []
    try:
        with (
            serving_ui(cli_env(clean_run.home), tmp_path / "ui.log") as base_url,
            sync_playwright() as playwright,
        ):
            assets = sorted(key.split("/")[-1] for key in asset_graph(base_url) or {})
            (backtest_id,) = clean_run.results["backtest_metrics"]["backtest_id"].unique()
            # launch() gives Chromium a fresh profile of its own in a temporary folder
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport=VIEWPORT)
                # a busy two-core machine: the UI's live data can take many seconds
                page.set_default_timeout(TIMEOUT_MS)
                expect.set_options(timeout=TIMEOUT_MS)
                _check_asset_graph(page, base_url, assets, tmp_path, shots)
                _check_backtest_page(page, base_url, backtest_id, tmp_path, shots)
                _check_runs_page(page, base_url, tmp_path, shots)
            finally:
                browser.close()
    finally:
        with capsys.disabled():
            print("\nUI screenshots:", *(f"  {shot}" for shot in shots), sep="\n")


def _check_asset_graph(
    page: Page, base_url: str, assets: list[str], folder: Path, shots: list[Path]
) -> None:
    """Every asset of the definitions is a node of the global lineage graph."""
    page.goto(f"{base_url}/asset-groups")
    # a new instance greets its first visitor with a "Join the Dagster community" dialog
    skip = page.get_by_role("button", name="Skip")
    skip.click()
    expect(skip).to_be_hidden()
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    # the groups open collapsed; the graph's shortcut for "Expand all groups"
    expect(page.get_by_role("button", name="market_data").first).to_be_visible()
    page.keyboard.press("Alt+e")
    assert {"raw_ohlcv", "fct_features", "training_set", "champion_model", "backtest"} <= set(
        assets
    )
    page.mouse.move(0, 0)  # off the nodes: none is drawn hovered
    for asset in assets:
        name = page.get_by_text(_node_label(asset)).first
        expect(name).to_be_visible()
        # the node's status colour, filled in once the live data arrives: materialized
        expect(name.locator("..")).to_have_attribute("style", MATERIALIZED_NODE)
    _screenshot(page, folder / "asset_graph.png", shots)


def _node_label(asset: str) -> str | re.Pattern[str]:
    """What a graph node shows: the name, or for a long one (walk_forward_predictions)
    its start and end around the graph's middle ellipsis."""
    if len(asset) <= LONGEST_FULL_LABEL:
        return re.compile(f"^{re.escape(asset)}$")
    return re.compile(f"^{re.escape(asset[:4])}.*{re.escape(asset[-8:])}$")


def _check_backtest_page(
    page: Page, base_url: str, backtest_id: str, folder: Path, shots: list[Path]
) -> None:
    """The backtest's latest materialization with its metadata, and its equity curve (a
    Markdown image in the metadata) drawn."""
    page.goto(f"{base_url}/assets/backtest")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    for key in BACKTEST_METADATA:
        expect(page.get_by_role("cell", name=key, exact=True)).to_be_visible()
    # the backtest the warehouse holds
    expect(page.get_by_role("cell", name=backtest_id, exact=True)).to_be_visible()
    _screenshot(page, folder / "backtest_asset.png", shots)
    row = page.get_by_role("row").filter(has_text="equity_curve")
    row.get_by_text("[Show Markdown]").click()
    curve = page.get_by_role("dialog").get_by_role("img", name="equity curve")
    expect(curve).to_be_visible()
    width, height = curve.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert width > 200 and height > 100, f"equity curve not drawn: {width}x{height}"
    _screenshot(page, folder / "backtest_equity_curve.png", shots)
    page.keyboard.press("Escape")
    expect(curve).to_be_hidden()


def _check_runs_page(page: Page, base_url: str, folder: Path, shots: list[Path]) -> None:
    """The run that built the home is listed as a success."""
    page.goto(f"{base_url}/runs")
    expect(page.get_by_role("link", name="build_everything").first).to_be_visible()
    expect(page.get_by_role("img", name="run_success").first).to_be_visible()
    expect(page.get_by_role("img", name="run_failed")).to_have_count(0)
    _screenshot(page, folder / "runs.png", shots)
