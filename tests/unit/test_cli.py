"""The command line reports bad configuration in one line, without a traceback."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ALPHADAG_SOURCE": "nowhere"}, "ALPHADAG_SOURCE"),
        ({"ALPHADAG_START": "2024-01-01", "ALPHADAG_END": "2023-01-01"}, "before ALPHADAG_START"),
    ],
)
def test_run_rejects_bad_configuration(environ: dict[str, str], expected: str, tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={"PATH": "/usr/bin:/bin", "ALPHADAG_HOME": str(tmp_path), **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert expected in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_unwritable_home_is_one_line(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run"],
        env={"PATH": "/usr/bin:/bin", "ALPHADAG_HOME": str(blocker / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "not writable" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_prepare_needs_only_the_home_and_writes_the_manifest_there(tmp_path) -> None:
    """`make setup` style: a bad run setting is `run`'s business, not `prepare`'s."""
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "prepare"],
        env={
            "PATH": "/usr/bin:/bin",
            "ALPHADAG_HOME": str(tmp_path),
            "ALPHADAG_SOURCE": "csv:/nonexistent",
            "ALPHADAG_UNIVERSE": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "dbt_target" / "manifest.json").exists()
    assert (tmp_path / "dbt_target" / "partial_parse.msgpack").exists()


@pytest.mark.parametrize(
    ("options", "host"), [([], "127.0.0.1"), (["--host", "0.0.0.0"], "0.0.0.0")]
)
def test_ui_binds_loopback_unless_told(options, host, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from orchestration import cli

    launched: list[list[str]] = []

    def exec_instead(path: str, args: list[str], env: dict[str, str]) -> None:
        launched.append(args)
        raise SystemExit(0)

    monkeypatch.chdir(tmp_path)  # `ui` changes directory and PATH before it execs
    monkeypatch.setenv("PATH", os.environ["PATH"])
    monkeypatch.setenv("ALPHADAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
    monkeypatch.setattr(cli, "_prepare", lambda: None)
    monkeypatch.setattr(cli, "_recover", lambda: None)
    monkeypatch.setattr(cli.os, "execve", exec_instead)
    CliRunner().invoke(cli.app, ["ui", *options])
    (args,) = launched
    assert args[args.index("-h") + 1] == host


def test_summary_shows_the_backtest_its_stress_tests_and_the_zoo_of_the_trained_version(
    tmp_path,
) -> None:
    from datetime import date, datetime

    import pandas as pd
    from rich.console import Console

    from orchestration.cli import summary_tables
    from orchestration.warehouse import Warehouse

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    metrics = dict.fromkeys(
        ("sharpe", "cagr", "max_drawdown", "volatility", "turnover", "deflated_sharpe"), 0.5
    )
    warehouse.replace_rows(
        "backtest_metrics",
        pd.DataFrame(
            [
                {
                    "backtest_id": "b1",
                    "strategy": "top5_long_only",
                    "model_name": "alphadag_ranker",
                    "model_version": "1",
                    "start_date": date(2023, 3, 1),
                    "end_date": date(2023, 12, 29),
                    "benchmark_sharpe": 0.25,
                    "created_at": datetime(2024, 1, 2, 3, 4, 5),
                    **metrics,
                }
            ]
        ),
        {"backtest_id": "b1"},
    )
    warehouse.replace_rows(
        "stress_tests",
        pd.DataFrame(
            {
                "backtest_id": ["b1", "b1"],
                "scenario": ["base", "slippage_x2"],
                "days": [200, 200],
                "sharpe": [1.5, 1.2],
                "cagr": [0.2, 0.15],
                "max_drawdown": [-0.1, -0.12],
                "total_return": [0.16, 0.12],
            }
        ),
        {"backtest_id": "b1"},
    )
    zoo = pd.DataFrame(
        {
            "candidate": ["oracle", "lightgbm", "ridge", "best_single_feature"],
            "model_version": ["2"] * 4,
            "cv_rank_ic": [float("nan"), 0.05, 0.04, 0.03],
            "test_ic": [0.1, 0.0857, 0.06, 0.05],
            "test_rank_ic": [0.09, 0.08, 0.05, 0.04],
            "icir": [0.5, 0.4, 0.3, 0.2],
            "hac_t": [6.0, 4.25, 3.0, 2.0],
            "oracle_share": [1.0, 0.855, 0.6, 0.5],
        }
    )
    warehouse.replace_rows("model_zoo", zoo, {"model_version": "2"})

    console = Console(width=80, record=True)
    for table in summary_tables(warehouse.path, "b1", "2"):
        console.print(table)
    text = console.export_text()
    assert "backtest b1: alphadag_ranker v1," in text and "2023-03-01..2023-12-29" in text
    assert "top5_long_only" in text
    stress = [line for line in text.splitlines() if line.startswith("slippage_x2")]
    assert stress and "1.20" in stress[0] and "-12.00%" in stress[0]
    assert "model zoo of v2" in text
    # every column name whole at 80 columns
    assert all(name in text for name in ("best_single_feature", "test_rank_ic", "oracle_share"))
    zoo_lines = [line for line in text.splitlines() if "0.086" in line]
    assert zoo_lines and "lightgbm" in zoo_lines[0] and "4.25" in zoo_lines[0]
    # baselines first, the oracle last, whatever order the table holds them in
    rows = [line.split()[0] for line in text.splitlines() if line.split()]
    candidates = [name for name in rows if name in set(zoo["candidate"])]
    assert candidates == ["best_single_feature", "ridge", "lightgbm", "oracle"]


def _store_backtest(
    warehouse_path, backtest_id: str, created_at, strategies: list[str], newer_metrics: bool
) -> None:
    """`backtest_metrics` rows as the backtest asset writes them, from real metrics."""
    from datetime import date

    import numpy as np
    import pandas as pd

    from backtests.metrics import METRIC_NAMES, performance_summary
    from orchestration.warehouse import Warehouse

    names = (
        METRIC_NAMES
        if newer_metrics
        else METRIC_NAMES[: METRIC_NAMES.index("benchmark_sharpe") + 1]
    )
    index = pd.bdate_range("2023-03-01", periods=120)
    benchmark = pd.Series(np.random.default_rng(1).normal(0.0004, 0.01, 120), index=index)
    rows = []
    for offset, strategy in enumerate(strategies):
        returns = 0.0003 * offset + 0.8 * benchmark
        metrics = performance_summary(
            returns, benchmark, gross_exposure=pd.Series(1.0, index=index)
        )
        rows.append(
            {
                "backtest_id": backtest_id,
                "strategy": strategy,
                "model_name": "alphadag_ranker",
                "model_version": "3",
                "start_date": date(2023, 3, 1),
                "end_date": date(2023, 8, 15),
                **{name: metrics[name] for name in names},
                "fees_bps": 5.0,
                "slippage_bps": 5.0,
                "created_at": created_at,
            }
        )
    Warehouse(warehouse_path).replace_rows(
        "backtest_metrics", pd.DataFrame(rows), {"backtest_id": backtest_id}
    )


def test_report_prints_the_latest_or_the_given_backtest(tmp_path, monkeypatch) -> None:
    from datetime import datetime

    from typer.testing import CliRunner

    from orchestration import cli

    home = tmp_path / "home"
    monkeypatch.setenv("ALPHADAG_HOME", str(home))
    runner = CliRunner()

    missing = runner.invoke(cli.app, ["report"])
    assert missing.exit_code == 1
    assert "no backtest yet" in missing.stderr

    home.mkdir()
    warehouse_path = home / "warehouse.duckdb"
    # an older backtest, written before the newer metrics existed, then a newer one
    _store_backtest(warehouse_path, "old111", datetime(2024, 1, 2), ["top5_long_only"], False)
    strategies = ["top5_long_only", "equal_weight", "oracle"]
    _store_backtest(warehouse_path, "new222", datetime(2024, 2, 3), strategies, True)

    latest = runner.invoke(cli.app, ["report"])
    assert latest.exit_code == 0, latest.output
    text = latest.stdout
    assert "backtest new222: alphadag_ranker v3, 2023-03-01..2023-08-15" in text
    assert "old111" not in text
    for name in ("strategy", "sharpe", "cagr", "max_drawdown", "turnover", "beta"):
        assert name in text
    assert "max_drawdown_duration" in text and "information_ratio" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()}
    assert set(strategies) <= set(lines)
    assert "100.00%" in lines["oracle"]  # the exposure column, as a percentage
    report = home / "reports" / "backtest_new222.html"
    assert f"report: {report} (missing" in text

    report.parent.mkdir()
    report.write_text("<html></html>")
    older = runner.invoke(cli.app, ["report", "old111"])
    assert older.exit_code == 0, older.output
    assert "backtest old111" in older.stdout
    assert "oracle" not in older.stdout
    assert "n/a" in older.stdout  # its newer columns are empty
    again = runner.invoke(cli.app, ["report", "new222"])
    assert f"report: {report}\n" in again.stdout

    unknown = runner.invoke(cli.app, ["report", "nope"])
    assert unknown.exit_code == 1
    assert "no backtest 'nope'" in unknown.stderr
    assert "new222, old111" in unknown.stderr
