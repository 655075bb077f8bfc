"""The walk-forward backtest: the champion's book beside baselines, the oracle, stress and a grid."""

import base64
import hashlib
import json
import math
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from backtests.config import CostModel, GridSpec, PortfolioSpec, StudyConfig
from backtests.metric_names import METRIC_NAMES
from ml.config import LABEL_HORIZONS, scoring_label
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL, Warehouse

from .metadata import number
from .models import (
    TrainedModel,
    champion_score_grids,
    champion_scores_digest,
    model_evaluation,
    oracle_grid,
    signals,
    walk_forward_predictions,
)
from .versions import source_version

if TYPE_CHECKING:
    import pandas as pd


class BacktestConfig(dg.Config):
    top_k: int = Field(default=PortfolioSpec.top_k, description="Names held per side.")
    rebalance_every: int = Field(
        default=0,
        description="Trading days between rebalances; 0 matches the model's label horizon.",
    )
    n_drop: int = Field(
        default=PortfolioSpec.n_drop,
        description="Holding buffer: a held name is sold only once its rank falls below "
        "top_k + n_drop.",
    )
    weighting: Literal["equal", "inverse_vol"] = Field(
        default="equal", description="Weights within each side: equal or inverse volatility."
    )
    vol_target: float | None = Field(
        default=None, description="Annualized volatility the book is scaled to (None: off)."
    )
    max_position: float = Field(default=1.0, description="Largest absolute weight of one name.")
    max_gross: float = Field(default=1.0, description="Largest gross exposure (1.0: no leverage).")
    execution: Literal["open", "close"] = Field(
        default="open",
        description="Fill at the next bar's open (the signal is known at the close) or close.",
    )
    commission_bps: float = Field(default=5.0, description="Commission per side, bps of notional.")
    commission_per_share: float = Field(default=0.0, description="Commission per share traded.")
    slippage_bps: float = Field(default=5.0, description="Fixed slippage per side, bps of price.")
    slippage_vol_mult: float = Field(
        default=0.0, description="Extra slippage as a multiple of the name's daily volatility."
    )
    impact_coef: float = Field(
        default=0.0,
        description="Extra slippage per unit of the trade's share of 20-day dollar volume.",
    )
    borrow_bps: float = Field(default=25.0, description="Annual borrow fee on shorts, bps.")
    init_cash: float = Field(default=1_000_000.0, description="Starting capital.")
    grid_top_k: list[int] = Field(default=list(GridSpec.top_k), description="Grid: top k values.")
    grid_rebalance_every: list[int] = Field(
        default=list(GridSpec.rebalance_every), description="Grid: rebalance frequencies."
    )
    grid_cost_scale: list[float] = Field(
        default=list(GridSpec.cost_scale), description="Grid: multiples of the trading costs."
    )
    grid_n_drop: list[int] = Field(
        default=list(GridSpec.n_drop), description="Grid: holding buffers."
    )

    def study(self, horizon: int) -> StudyConfig:
        return StudyConfig(
            spec=PortfolioSpec(
                top_k=self.top_k,
                rebalance_every=self.rebalance_every or horizon,
                n_drop=self.n_drop,
                weighting=self.weighting,
                vol_target=self.vol_target,
                max_position=self.max_position,
                max_gross=self.max_gross,
            ),
            costs=CostModel(
                commission_bps=self.commission_bps,
                commission_per_share=self.commission_per_share,
                slippage_bps=self.slippage_bps,
                slippage_vol_mult=self.slippage_vol_mult,
                impact_coef=self.impact_coef,
                borrow_bps=self.borrow_bps,
            ),
            execution=self.execution,
            init_cash=self.init_cash,
            grid=GridSpec(
                top_k=tuple(self.grid_top_k),
                rebalance_every=tuple(self.grid_rebalance_every),
                cost_scale=tuple(self.grid_cost_scale),
                n_drop=tuple(self.grid_n_drop),
            ),
        )


@dg.asset(
    deps=[walk_forward_predictions, signals, model_evaluation, "stg_ohlcv", "fct_labels"],
    group_name="backtests",
    kinds={"vectorbt", "duckdb"},
    pool=WAREHOUSE_POOL,
    code_version=source_version("assets.backtest", "backtests"),
    description=(
        "The champion's walk-forward predictions, extended by its live scores of the days "
        "since (stored by `signals`), traded as a top-k book (holding buffer, "
        "rebalanced at the label's horizon, filled at the next open with commission, "
        "slippage and borrow), beside buy-and-hold, momentum, reversal, the zoo's "
        "baselines and the oracle under the same construction and costs; stress tests and "
        "a sensitivity grid. Rows in `backtest_metrics`, `stress_tests`, `backtest_grid` "
        "and an HTML report."
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
    import pandas as pd

    from backtests.report import equity_curve_png, grid_heatmap_png, write_report
    from backtests.simulation import Market
    from backtests.study import price_baselines, run_study

    warehouse = Warehouse(settings.warehouse_path)
    study_config = config.study(LABEL_HORIZONS[champion_model.target])
    scores = _wide_scores(warehouse, champion_model)
    dates, symbols, bars = warehouse.grids(
        "select symbol, date, open, close, volume from stg_ohlcv", ["open", "close", "volume"]
    )
    market = Market(dates=dates, symbols=symbols, **bars)
    close = pd.DataFrame(market.close, index=market.dates, columns=market.symbols)
    oracle = oracle_grid(settings, f"expected_{scoring_label(champion_model.target)}")
    context.log.info(
        f"backtest of {champion_model.name} v{champion_model.version} on walk-forward "
        f"predictions {scores['model'].index.min().date()}..{scores['model'].index.max().date()}"
        f"{', with the oracle' if oracle is not None else ''}"
    )
    study = run_study(
        market,
        {**scores, **price_baselines(close)},
        "model",
        study_config,
        oracle=oracle,
        test_start=pd.Timestamp(champion_model.test_start),
        log=context.log.info,
    )

    data_version = _data_version(warehouse, champion_model)
    start_date, end_date = study.simulation.value.index[[0, -1]].date
    backtest_id = hashlib.sha256(
        json.dumps(
            [champion_model.run_id, config.model_dump(), data_version, str(start_date)],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]
    now = datetime.now(UTC).replace(tzinfo=None)
    spec, costs = study_config.spec, study_config.costs
    metrics = study.metrics.assign(
        backtest_id=backtest_id,
        model_name=champion_model.name,
        model_version=champion_model.version,
        start_date=start_date,
        end_date=end_date,
        top_k=spec.top_k,
        rebalance_every=spec.rebalance_every,
        n_drop=spec.n_drop,
        execution=study_config.execution,
        fees_bps=costs.commission_bps,
        slippage_bps=costs.slippage_bps,
        data_version=data_version,
        created_at=now,
    )
    warehouse.replace_rows("backtest_metrics", metrics, {"backtest_id": backtest_id})
    warehouse.replace_rows(
        "stress_tests", study.stress.assign(backtest_id=backtest_id), {"backtest_id": backtest_id}
    )
    warehouse.replace_rows(
        "backtest_grid", study.grid.assign(backtest_id=backtest_id), {"backtest_id": backtest_id}
    )

    model_pngs = _model_section(warehouse, champion_model, settings)
    headline = study.metrics.set_index("strategy").loc[study.headline]
    bound = study.metrics.set_index("strategy").loc["oracle"] if oracle is not None else None
    report = write_report(
        study,
        settings.reports_dir / f"backtest_{backtest_id}.html",
        title=f"{champion_model.name} v{champion_model.version}: walk-forward backtest",
        notes=[
            f"backtest {backtest_id}; data version {data_version}",
            f"top {spec.top_k} per side, rebalanced every {spec.rebalance_every} days, "
            f"holding buffer {spec.n_drop}, {spec.weighting} weights, filled at the next "
            f"{study_config.execution}; commission {costs.commission_bps:g} bps + "
            f"{costs.commission_per_share:g}/share, slippage {costs.slippage_bps:g} bps "
            f"+ {costs.slippage_vol_mult:g}x daily vol + impact {costs.impact_coef:g}, borrow "
            f"{costs.borrow_bps:g} bps/yr",
            f"deflated Sharpe counts the {len(study.grid)} grid configurations as trials",
        ],
        model_pngs=model_pngs,
    )
    context.log.info(
        f"backtest {backtest_id}: {study.headline} Sharpe {headline['sharpe']:.2f} "
        f"(buy and hold {headline['benchmark_sharpe']:.2f}"
        + (f", oracle {bound['sharpe']:.2f}" if bound is not None else "")
        + f"), CAGR {headline['cagr']:.2%}, max drawdown {headline['max_drawdown']:.2%}; {report}"
    )
    from ml.tracking import configure_mlflow, record_on_version

    # the headline numbers on the model's own MLflow run, beside its skill
    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    record_on_version(
        champion_model.name,
        champion_model.version,
        {"backtest_id": backtest_id},
        {
            f"backtest_{name}": float(headline[name])
            for name in ("sharpe", "cagr", "max_drawdown", "turnover")
            if math.isfinite(float(headline[name]))
        },
    )
    return dg.MaterializeResult(
        metadata={
            "backtest_id": backtest_id,
            "model_version": champion_model.version,
            "mlflow_run_id": champion_model.run_id,
            "data_version": data_version,
            "period": f"{start_date} .. {end_date}",
            "strategy": study.headline,
            **{name: number(name, headline[name]) for name in METRIC_NAMES if name != "n_trials"},
            "n_trials": len(study.grid),
            "strategies": _table(study.metrics, ["strategy", *_COMPARE]),
            "stress_tests": _table(study.stress, ["scenario", "days", *_COMPARE]),
            "equity_curve": _png_md(equity_curve_png(study), "equity curves"),
            "sensitivity_grid": _png_md(grid_heatmap_png(study.grid), "grid"),
            "report": dg.MetadataValue.path(str(report)),
        },
        data_version=dg.DataVersion(backtest_id),
    )


_COMPARE = ["sharpe", "cagr", "max_drawdown", "turnover", "exposure"]


def _table(frame: "pd.DataFrame", columns: list[str]) -> dg.MetadataValue:
    shown = frame[[c for c in columns if c in frame.columns]].copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].round(3)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def _png_md(png: bytes, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
    )


def _wide_scores(warehouse: Warehouse, champion: TrainedModel) -> "dict[str, pd.DataFrame]":
    """Wide scores: the champion's (``model``) and each refitted baseline's."""
    grids = champion_score_grids(warehouse, champion)
    if not grids:
        raise ValueError(
            f"no walk-forward predictions of {champion.name} v{champion.version}; "
            "materialize walk_forward_predictions first"
        )
    return {
        "model" if candidate == champion.candidate else candidate: grid
        for candidate, grid in grids.items()
    }


def _data_version(warehouse: Warehouse, champion: TrainedModel) -> str:
    """A digest of the bars and the scores (walk-forward and live) the backtest read."""
    bars = warehouse.query(
        "select bit_xor(hash(symbol, date, open, close, volume)) as bars from stg_ohlcv"
    ).iloc[0]["bars"]
    scores = champion_scores_digest(warehouse, champion)
    return hashlib.sha256(f"{bars}:{scores}".encode()).hexdigest()[:16]


def _model_section(
    warehouse: Warehouse, champion: TrainedModel, settings: Settings
) -> dict[str, bytes]:
    """The walk-forward predictions' daily rank IC and deciles (plots for the report)."""
    from ml.evaluation import decile_returns, ic_series, plot_png

    label = champion.scoring_label
    scored = warehouse.query(
        f"""
        select w.date, w.prediction, l.{label} as label
        from walk_forward_predictions w join fct_labels l using (symbol, date)
        where w.model_name = ? and w.model_version = ? and w.candidate = ?
          and l.{label} is not null
        """,
        [champion.name, champion.version, champion.candidate],
    )
    series, hac_t = ic_series(scored, LABEL_HORIZONS[champion.target])
    title = f"{champion.name} v{champion.version}"
    pngs = {
        f"Daily rank IC (walk-forward; mean {series['rank_ic'].mean():.3f}, HAC t {hac_t:.1f})": (
            plot_png("ic", series, f"{title}: daily rank IC")
        ),
        f"Mean {label} by prediction decile": plot_png(
            "deciles", decile_returns(scored), f"{title}: mean {label} by decile"
        ),
    }
    importance_png = settings.reports_dir / f"importance_{champion.version}.png"
    if importance_png.exists():
        pngs["Feature importance (mean |SHAP|, test period)"] = importance_png.read_bytes()
    return pngs
