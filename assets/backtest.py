"""The backtest of the model's out-of-sample predictions, its report and its metrics."""

import base64
import hashlib
import json
import math
import os
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from backtests.metrics import METRIC_NAMES, performance_summary
from backtests.signals import DEFAULT_TOP_K, top_k_weights
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL, Warehouse

from .metadata import number
from .models import TrainedModel, predictions


class BacktestConfig(dg.Config):
    top_k: int = Field(
        default=DEFAULT_TOP_K, description="Names held each day (equal weight, long only)."
    )
    fees_bps: float = Field(default=5.0, description="Fees per side, basis points of notional.")
    slippage_bps: float = Field(default=5.0, description="Slippage per side, basis points.")


@dg.asset(
    deps=[predictions, "stg_ohlcv"],
    group_name="backtests",
    kinds={"vectorbt", "duckdb"},
    pool=WAREHOUSE_POOL,
    description=(
        "Top-k long-only portfolio on the champion's out-of-sample predictions, traded at "
        "the close of the bar after each signal with fees and slippage, against an "
        "equal-weight buy-and-hold; one row in `backtest_metrics` and an HTML report."
    ),
)
def backtest(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    settings: dg.ResourceParam[Settings],
    champion_model: TrainedModel,
) -> dg.MaterializeResult:
    # numba compiles vectorbt's kernels on first use; a persistent cache skips that later.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(settings.numba_cache_dir))
    from backtests.portfolio import CostModel, run_backtest
    from backtests.report import equity_curve_png, write_report

    warehouse = Warehouse(settings.warehouse_path)
    scores = warehouse.query(
        "select symbol, date, prediction from predictions "
        "where model_name = ? and model_version = ? order by date, symbol",
        [champion_model.name, champion_model.version],
    )
    scores["date"] = pd.to_datetime(scores["date"])
    prices = warehouse.query(
        "select symbol, date, close from stg_ohlcv where date >= ?",
        [scores["date"].min().date()],
    )
    close = prices.pivot(index="date", columns="symbol", values="close")
    close.index = pd.to_datetime(close.index)

    weights = top_k_weights(scores, config.top_k)
    result = run_backtest(
        close, weights, CostModel(fees_bps=config.fees_bps, slippage_bps=config.slippage_bps)
    )
    metrics = performance_summary(
        result.returns, result.benchmark_returns, result.turnover, n_trials=champion_model.n_trials
    )

    strategy = f"top{config.top_k}_long_only"
    start_date, end_date = result.returns.index[0].date(), result.returns.index[-1].date()
    # The MLflow run names the exact model (a version number repeats across homes).
    backtest_id = hashlib.sha256(
        json.dumps(
            [
                champion_model.run_id,
                config.model_dump(),
                str(start_date),
                str(end_date),
            ],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]
    row = pd.DataFrame(
        [
            {
                "backtest_id": backtest_id,
                "strategy": strategy,
                "model_name": champion_model.name,
                "model_version": champion_model.version,
                "start_date": start_date,
                "end_date": end_date,
                **{name: float(metrics[name]) for name in METRIC_NAMES},
                "fees_bps": config.fees_bps,
                "slippage_bps": config.slippage_bps,
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ]
    )
    warehouse.replace_rows("backtest_metrics", row, {"backtest_id": backtest_id})

    report = write_report(
        result,
        metrics,
        settings.reports_dir / f"backtest_{backtest_id}.html",
        title=f"{strategy} on {champion_model.name} v{champion_model.version}",
    )
    context.log.info(
        f"backtest {backtest_id}: Sharpe {metrics['sharpe']:.2f} "
        f"(benchmark {metrics['benchmark_sharpe']:.2f}), CAGR {metrics['cagr']:.2%}, "
        f"max drawdown {metrics['max_drawdown']:.2%}; report {report}"
    )
    from ml.tracking import configure_mlflow, record_on_version

    # the headline numbers on the model's own MLflow run, beside its skill
    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    record_on_version(
        champion_model.name,
        champion_model.version,
        {"backtest_id": backtest_id},
        {
            f"backtest_{name}": float(metrics[name])
            for name in ("sharpe", "cagr", "max_drawdown", "turnover")
            if math.isfinite(float(metrics[name]))
        },
    )
    png = base64.b64encode(equity_curve_png(result, title=strategy)).decode()
    return dg.MaterializeResult(
        metadata={
            "backtest_id": backtest_id,
            "model_version": champion_model.version,
            "mlflow_run_id": champion_model.run_id,
            "period": f"{start_date} .. {end_date}",
            **{name: number(name, metrics[name]) for name in METRIC_NAMES if name != "n_trials"},
            "n_trials": int(metrics["n_trials"]),
            "equity_curve": dg.MetadataValue.md(f"![equity curve](data:image/png;base64,{png})"),
            "report": dg.MetadataValue.path(str(report)),
        }
    )
