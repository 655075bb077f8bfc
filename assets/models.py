"""Model tuning, training, registration, out-of-sample predictions and their skill."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from feature_repo.files import feature_service_of
from ingest.lake import read_oracle
from ml.metrics import ic_summary
from ml.splits import chronological_split, purge_gap, split_frame
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL, Warehouse

from .feature_store import training_set

MODEL_NAME = "alphadag_lightgbm"
LABEL_PREFIX = "fwd_"
LABEL_HORIZONS = {"fwd_ret_1d": 1, "fwd_ret_5d": 5, "fwd_ret_1d_rank": 1, "fwd_ret_5d_rank": 5}
# Bump when the training procedure changes, so a retrain registers a new version.
TRAINING_CODE_VERSION = "1"


class ModelConfig(dg.Config):
    target: str = Field(
        default="fwd_ret_5d_rank",
        description=(
            "Label to learn: fwd_ret_1d, fwd_ret_5d or their cross-sectional ranks "
            "(*_rank). Ranks remove the market's common move, which dominates a raw "
            "return target; skill is always scored against the raw return."
        ),
    )
    n_trials: int = Field(default=20, description="Optuna trials (the study resumes).")
    valid_frac: float = Field(default=0.2, description="Share of dates used to tune.")
    test_frac: float = Field(default=0.25, description="Share of dates held out for the backtest.")
    seed: int = Field(default=7, description="Seed of the sampler and of LightGBM.")


@dataclass(frozen=True)
class TrainedModel:
    """What downstream assets need to know about the model they score with."""

    name: str
    version: str
    run_id: str
    alias: str | None
    target: str
    features: tuple[str, ...]
    test_start: str
    test_end: str
    n_trials: int
    best_valid_rank_ic: float

    @property
    def scoring_label(self) -> str:
        """The raw forward return the target stands for (what a portfolio earns)."""
        return self.target.removesuffix("_rank")


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in frame.columns if c not in ("symbol", "date") and not c.startswith(LABEL_PREFIX)
    ]


@dg.asset(
    ins={"training_set": dg.AssetIn(key=training_set.key, dagster_type=dg.Nothing)},
    group_name="models",
    kinds={"lightgbm", "optuna", "mlflow"},
    description=(
        "LightGBM tuned by an Optuna study on a chronological split purged by the label "
        "horizon, refit on train+valid, logged to MLflow and registered "
        f"as `{MODEL_NAME}` (alias champion on the first version, challenger after)."
    ),
)
def lightgbm_model(
    context: dg.AssetExecutionContext, config: ModelConfig, settings: dg.ResourceParam[Settings]
) -> dg.Output[TrainedModel]:
    from ml.models import fit_lightgbm
    from ml.tracking import configure_mlflow, find_model_version, log_and_register_lightgbm
    from ml.tuning import tune_lightgbm

    if config.target not in LABEL_HORIZONS:
        raise ValueError(f"target must be one of {sorted(LABEL_HORIZONS)}, got {config.target!r}")
    frame = pd.read_parquet(settings.training_set_path)
    features = feature_columns(frame)
    gap = purge_gap(LABEL_HORIZONS[config.target])
    labelled = frame.dropna(subset=[config.target])
    split = chronological_split(
        labelled["date"].unique(), valid_frac=config.valid_frac, test_frac=config.test_frac, gap=gap
    )
    train, valid, _ = split_frame(labelled, split)
    context.log.info(f"split (purge gap {gap} days): {split.describe()}")

    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "data": hashlib.sha256(settings.training_set_path.read_bytes()).hexdigest(),
                "config": config.model_dump(),
                "code": TRAINING_CODE_VERSION,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    settings.home.joinpath("optuna.db").parent.mkdir(parents=True, exist_ok=True)
    # The study is keyed by the fingerprint: a rerun on the same data resumes (no new
    # trials) and a change of data or settings starts afresh.
    tuning = tune_lightgbm(
        train,
        valid,
        features,
        config.target,
        n_trials=config.n_trials,
        seed=config.seed,
        storage=settings.optuna_storage,
        study_name=f"{MODEL_NAME}-{fingerprint}",
        on_trial=lambda done, value, best: context.log.info(
            f"Optuna trial {done}/{config.n_trials}: validation rank IC {value:.4f} (best {best:.4f})"
        ),
    )
    context.log.info(
        f"Optuna: {tuning.n_new_trials} new trial(s), {tuning.n_trials} total, "
        f"best validation rank IC {tuning.best_value:.4f}"
    )

    version = find_model_version(MODEL_NAME, fingerprint)
    if version is None:
        model = fit_lightgbm(
            pd.concat([train, valid]), features, config.target, tuning.best_params, seed=config.seed
        )
        registered = log_and_register_lightgbm(
            model,
            model_name=MODEL_NAME,
            fingerprint=fingerprint,
            params=tuning.best_params,
            metrics={"valid_rank_ic": tuning.best_value, "n_trials": float(tuning.n_trials)},
            tags={
                "target": config.target,
                "feature_service": feature_service_of(settings.training_set_path),
                "train_start": split.describe()["train_start"],
                "test_start": split.describe()["test_start"],
                "dagster_run_id": context.run_id,
            },
            input_example=train[features].head(5),
        )
        context.log.info(f"registered {MODEL_NAME} v{registered.version} ({registered.alias})")
    else:
        from ml.tracking import model_version_info

        registered = model_version_info(MODEL_NAME, version)
        context.log.info(f"same data and settings as {MODEL_NAME} v{version}: reusing it")

    trained = TrainedModel(
        name=MODEL_NAME,
        version=registered.version,
        run_id=registered.run_id,
        alias=registered.alias,
        target=config.target,
        features=tuple(features),
        test_start=str(split.test_dates[0].date()),
        test_end=str(split.test_dates[-1].date()),
        n_trials=tuning.n_trials,
        best_valid_rank_ic=tuning.best_value,
    )
    return dg.Output(
        trained,
        metadata={
            "model_version": registered.version,
            "alias": registered.alias or "",
            "mlflow_run_id": registered.run_id,
            "fingerprint": fingerprint,
            "n_trials": tuning.n_trials,
            "best_valid_rank_ic": tuning.best_value,
            "best_params": dg.MetadataValue.json(tuning.best_params),
            "split": dg.MetadataValue.json(split.describe()),
        },
        data_version=dg.DataVersion(fingerprint),
    )


@dg.asset(
    ins={"training_set": dg.AssetIn(key=training_set.key, dagster_type=dg.Nothing)},
    group_name="models",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description=(
        "Out-of-sample predictions of the model for every (symbol, date) from the start "
        "of its test period, in the `predictions` table."
    ),
)
def predictions(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    lightgbm_model: TrainedModel,
) -> dg.MaterializeResult:
    from ml.models import predict
    from ml.tracking import configure_mlflow, load_model

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    model = load_model(lightgbm_model.name, lightgbm_model.version)
    frame = pd.read_parquet(settings.training_set_path)
    # Rows past the last label still get a prediction: they are tomorrow's signal.
    scoring = frame[frame["date"] >= pd.Timestamp(lightgbm_model.test_start)]
    out = scoring[["symbol", "date"]].copy()
    out["date"] = out["date"].dt.date
    out["model_name"] = lightgbm_model.name
    out["model_version"] = lightgbm_model.version
    out["prediction"] = predict(model, scoring, list(lightgbm_model.features))
    rows = Warehouse(settings.warehouse_path).replace_rows(
        "predictions",
        out,
        {"model_name": lightgbm_model.name, "model_version": lightgbm_model.version},
    )
    context.log.info(f"wrote {rows} predictions of {lightgbm_model.name} v{lightgbm_model.version}")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "model_version": lightgbm_model.version,
            "first_date": str(out["date"].min()),
            "last_date": str(out["date"].max()),
        }
    )


@dg.asset(
    deps=[predictions, "fct_labels"],
    group_name="models",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Out-of-sample skill of the model (IC, rank IC, ICIR, hit rate) in `model_metrics`.",
)
def model_metrics(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    lightgbm_model: TrainedModel,
) -> dg.MaterializeResult:
    warehouse = Warehouse(settings.warehouse_path)
    scored = warehouse.query(
        f"""
        select p.symbol, p.date, p.prediction, l.{lightgbm_model.scoring_label} as label
        from predictions p join fct_labels l using (symbol, date)
        where p.model_name = ? and p.model_version = ?
          and l.{lightgbm_model.scoring_label} is not null
        """,
        [lightgbm_model.name, lightgbm_model.version],
    )
    oracle = _label_oracle(settings, lightgbm_model.scoring_label)
    if oracle is not None:
        scored["date"] = pd.to_datetime(scored["date"]).astype("datetime64[ns]")
        scored = scored.merge(oracle, on=["symbol", "date"], how="left")
    summary = ic_summary(
        scored,
        pred_col="prediction",
        label_col="label",
        oracle_col="oracle" if oracle is not None else None,
    )
    row = pd.DataFrame(
        [
            {
                "model_name": lightgbm_model.name,
                "model_version": lightgbm_model.version,
                "target": lightgbm_model.target,
                "ic": summary["ic"],
                "rank_ic": summary["rank_ic"],
                "icir": summary["icir"],
                "hit_rate": summary["hit_rate"],
                # the oracle (the label's expectation) is known only for simulated data
                "oracle_ic": summary["oracle_ic"] if oracle is not None else None,
                "n_dates": int(summary["n_dates"]),
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ]
    )
    row["oracle_ic"] = row["oracle_ic"].astype("float64")
    warehouse.replace_rows(
        "model_metrics",
        row,
        {"model_name": lightgbm_model.name, "model_version": lightgbm_model.version},
    )
    context.log.info(
        f"out-of-sample IC {summary['ic']:.4f}, rank IC {summary['rank_ic']:.4f}, "
        f"ICIR {summary['icir']:.3f} over {int(summary['n_dates'])} dates"
    )
    return dg.MaterializeResult(
        metadata={k: float(summary[k]) for k in ("ic", "rank_ic", "icir", "hit_rate", "oracle_ic")}
        | {"model_version": lightgbm_model.version}
    )


def _label_oracle(settings: Settings, label: str) -> pd.DataFrame | None:
    """The simulator's oracle of ``label`` as a prediction (column ``oracle``), or None
    for sources that have none.

    The oracle row of t is ``expected_<label>``: the conditional expectation of that
    very label (same horizon, same timing as ``fct_labels``) given the simulator's state
    at the close of t, the information the model's features are computed from.
    """
    if settings.source_spec.kind != "simulator":
        return None
    oracle = read_oracle(settings.lake_dir)
    if oracle.empty:
        return None
    return oracle[["symbol", "date", f"expected_{label}"]].rename(
        columns={f"expected_{label}": "oracle"}
    )
