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


def test_summary_shows_the_backtest_and_the_zoo_of_the_trained_version(tmp_path) -> None:
    from datetime import date

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
                    **metrics,
                }
            ]
        ),
        {"backtest_id": "b1"},
    )
    warehouse.replace_rows(
        "model_metrics",
        pd.DataFrame(
            [
                {
                    "model_name": "alphadag_ranker",
                    "model_version": "1",
                    "ic": 0.0812,
                    "rank_ic": 0.07,
                    "icir": 0.4,
                    "oracle_ic": 0.1,
                }
            ]
        ),
        {"model_version": "1"},
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
    assert "backtest b1: top5_long_only" in text and "alphadag_ranker v1" in text
    assert "0.0812" in text  # the champion's IC beside its backtest
    assert "model zoo of v2" in text
    # every column name whole at 80 columns
    assert all(name in text for name in ("best_single_feature", "test_rank_ic", "oracle_share"))
    zoo_lines = [line for line in text.splitlines() if "0.086" in line]
    assert zoo_lines and "lightgbm" in zoo_lines[0] and "4.25" in zoo_lines[0]
    # baselines first, the oracle last, whatever order the table holds them in
    rows = [line.split()[0] for line in text.splitlines() if line.split()]
    candidates = [name for name in rows if name in set(zoo["candidate"])]
    assert candidates == ["best_single_feature", "ridge", "lightgbm", "oracle"]
