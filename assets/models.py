"""The model zoo, the promotion gate, the champion's predictions, skill and signals.

Domain code is imported inside the functions that run it: loading the definitions
must not pay for pandas, numpy or the ml package's libraries. Their types are quoted
in hints rather than deferred by ``from __future__ import annotations``, which would
also turn each asset's ``context`` hint into a string, and Dagster refuses that.
"""

import base64
import hashlib
import json
import math
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from ml.config import DEFAULT_MARGIN, LABEL_HORIZONS, ZooConfig, scoring_label
from orchestration.project import ROOT
from orchestration.settings import Settings
from orchestration.warehouse import WAREHOUSE_POOL, Warehouse, quote_identifier

from .feature_store import training_set
from .metadata import number
from .versions import source_version

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MODEL_NAME = "alphadag_ranker"
# Bump when the training procedure changes, so a retrain registers a new version.
TRAINING_CODE_VERSION = "3"
# The assets that score with the champion run this module and the ml package.
SCORING_CODE = source_version("assets.models", "ml")
SHAP_MAX_ROWS = 50_000
"""Test rows model_evaluation explains with SHAP at most (sampled by date above it; the
default data holds about 20,000)."""


class ModelConfig(dg.Config):
    target: str = Field(
        default="fwd_ret_5d_rank",
        description=(
            "Label to learn: fwd_ret_1d, fwd_ret_5d or their cross-sectional ranks "
            "(*_rank). Ranks remove the market's common move, which dominates a raw "
            "return target; skill is always scored against the raw return."
        ),
    )
    n_trials: int = Field(default=8, description="Optuna trials per booster (studies resume).")
    n_folds: int = Field(
        default=3, description="Purged walk-forward folds the trials are scored on."
    )
    valid_dates: int = Field(default=80, description="Validation dates per fold.")
    test_frac: float = Field(default=0.25, description="Share of dates held out as the test.")
    scheme: str = Field(default="expanding", description="Folds: expanding or rolling.")
    seed: int = Field(default=7, description="Seed of the samplers and of the boosters.")
    threads: int = Field(
        default=1,
        description="Threads per fit. One by default: on a busy machine a thread that "
        "waits for a core makes the others spin (measured 5x slower with 2 of 2 cores).",
    )
    n_workers: int = Field(
        default=1, description="Optuna worker processes sharing each study (RDB storage)."
    )
    max_train_rows: int = Field(
        default=ZooConfig.max_train_rows,
        description="Development rows (training and validation) above which they are "
        "sampled by date, every date keeping the same share of its names: the model's "
        "memory then stops growing with the universe (about 1 GiB of float32 features "
        "per million rows, 3 to 4 GiB in all at the default).",
    )


class GateConfig(dg.Config):
    margin: float = Field(
        default=DEFAULT_MARGIN,
        description="Rank IC the challenger must add over the champion, on the same test rows.",
    )


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
    candidate: str

    @property
    def scoring_label(self) -> str:
        """The raw forward return the target stands for (what a portfolio earns)."""
        return scoring_label(self.target)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def registered_model(name: str, version: str) -> TrainedModel:
    """A registered version, described from its tags (a registration that a killed run
    left pending is completed first)."""
    from ml.tracking import finish_registration, version_tags

    info = finish_registration(name, version)
    tags = version_tags(name, version)
    return TrainedModel(
        name=name,
        version=info.version,
        run_id=info.run_id,
        alias=info.alias,
        target=tags["target"],
        features=tuple(json.loads(tags["features"])),
        test_start=tags["test_start"],
        test_end=tags["test_end"],
        n_trials=int(tags["n_trials"]),
        candidate=tags["candidate"],
    )


def _zoo_table(zoo: "pd.DataFrame") -> dg.TableMetadataValue:
    columns = [
        "candidate",
        "cv_rank_ic",
        "test_ic",
        "test_rank_ic",
        "icir",
        "hac_t",
        "oracle_share",
        "n_trials",
    ]
    records = [
        dg.TableRecord(
            {c: (_finite_or_none(row[c]) if c != "candidate" else row[c]) for c in columns}
        )
        for row in zoo.to_dict("records")
    ]
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, "string" if c == "candidate" else "float") for c in columns]
    )
    return dg.MetadataValue.table(records, schema=schema)


def _finite_or_none(value: float) -> float | None:
    """Dagster metadata is JSON: NaN and inf become null rather than an invalid document."""
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _oracle_values(settings: Settings, keys: "pd.DataFrame", label: str) -> "np.ndarray | None":
    """The simulator's oracle of ``label`` for each row of ``keys`` (symbol, date), None
    when the source has none.

    The oracle row of t is ``expected_<label>``: the conditional expectation of that very
    label (same horizon, same timing as ``fct_labels``) given the simulator's state at the
    close of t, the information the features are computed from. Other sources have none.
    """
    import numpy as np
    import pandas as pd

    oracle = oracle_grid(settings, f"expected_{label}")
    if oracle is None:
        return None
    # positions in the (dates x symbols) grid; a row outside it has no oracle
    row = oracle.index.get_indexer(pd.to_datetime(keys["date"]))
    col = oracle.columns.get_indexer(keys["symbol"])
    values = oracle.to_numpy()[row, col]
    values[(row < 0) | (col < 0)] = np.nan
    return values


def oracle_grid(settings: Settings, column: str) -> "pd.DataFrame | None":
    """One column of the simulator's stored oracle as a (dates x symbols) frame, read as
    numeric positions (7.8M rows at 3,000 symbols x 10 years); None for other sources
    and when none is stored."""
    if settings.source_spec.kind != "simulator":
        return None
    import duckdb
    import pandas as pd

    from ingest.lake import oracle_files
    from orchestration.warehouse import grids

    files = oracle_files(settings.lake_dir)
    if not files:
        return None
    with duckdb.connect() as con:
        dates, symbols, laid_out = grids(
            con,
            f"select symbol, date, {quote_identifier(column)} "
            "from read_parquet($files, hive_partitioning = false)",
            [column],
            {"files": files},
        )
    return pd.DataFrame(laid_out[column], index=dates, columns=symbols)


def _with_oracle(
    settings: Settings, frame: "pd.DataFrame", label: str
) -> "tuple[pd.DataFrame, str | None]":
    """``frame`` with the simulator's oracle of ``label`` as column ``oracle`` (see
    ``_oracle_values``)."""
    import pandas as pd

    values = _oracle_values(settings, frame, label)
    if values is None:
        return frame, None
    frame = frame.assign(date=pd.to_datetime(frame["date"]).astype("datetime64[ns]"))
    return frame.assign(oracle=values), "oracle"


def _file_digest(path: Path) -> str:
    """SHA-256 of a file, read in chunks (the training set is gigabytes at scale)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _rows_since(
    settings: Settings,
    features: list[str],
    start: str,
    columns: list[str],
    max_rows: int | None = None,
) -> "pd.DataFrame":
    """The training set's rows dated ``start`` or later, with float32 features; above
    ``max_rows``, a sample of them by date (``date_stratified_sample``, seed 0)."""
    import numpy as np
    import pandas as pd

    from ml.dataset import read_columns, read_training_rows
    from ml.splits import date_stratified_sample

    path = settings.training_set_path
    dates = read_columns(path, ["date"])["date"]
    rows = np.flatnonzero((dates >= pd.Timestamp(start)).to_numpy())
    if max_rows is not None:
        rows = rows[date_stratified_sample(dates.to_numpy()[rows], max_rows, seed=0)]
    return read_training_rows(path, features, rows=rows, columns=columns)


def _round_frame(
    settings: Settings, features: list[str], rows: "np.ndarray", target: str
) -> "tuple[pd.DataFrame, str | None]":
    """The rows a round uses: float32 features, the target and its scoring label, and the
    oracle (added in place: the frame is the round's only copy)."""
    from ml.dataset import read_training_rows

    label = scoring_label(target)
    frame = read_training_rows(
        settings.training_set_path,
        features,
        rows=rows,
        columns=list(dict.fromkeys([target, label])),
    )
    oracle = _oracle_values(settings, frame, label)
    if oracle is None:
        return frame, None
    frame["oracle"] = oracle
    return frame, "oracle"


@dg.asset(
    ins={"training_set": dg.AssetIn(key=training_set.key, dagster_type=dg.Nothing)},
    group_name="models",
    kinds={"lightgbm", "xgboost", "optuna", "mlflow"},
    pool=WAREHOUSE_POOL,
    # the version a retrain registers a new model for (see model_zoo's fingerprint)
    code_version=TRAINING_CODE_VERSION,
    description=(
        "Every candidate (best single feature, ridge on ranks, LightGBM and XGBoost tuned "
        "by Optuna on purged walk-forward folds, their rank-average ensemble) scored on "
        "the same folds and test rows into `model_zoo`; the best learned candidate on the "
        f"folds is registered as `{MODEL_NAME}`, alias challenger (champion if first)."
    ),
)
def model_zoo(
    context: dg.AssetExecutionContext, config: ModelConfig, settings: dg.ResourceParam[Settings]
) -> dg.Output[TrainedModel]:
    import pandas as pd

    from feature_repo.files import feature_service_of
    from ml.dataset import feature_names, read_columns
    from ml.tracking import (
        configure_mlflow,
        find_model_version,
        flatten_params,
        log_and_register,
    )
    from ml.training import round_rows, train_zoo
    from ml.tuning import SEARCH_SPACES

    zoo_config = ZooConfig(
        target=config.target,
        n_trials=config.n_trials,
        n_folds=config.n_folds,
        valid_dates=config.valid_dates,
        test_frac=config.test_frac,
        scheme=config.scheme,  # type: ignore[arg-type]
        seed=config.seed,
        threads=config.threads,
        n_workers=config.n_workers,
        max_train_rows=config.max_train_rows,
    )
    data_version = _file_digest(settings.training_set_path)
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "data": data_version,
                "config": config.model_dump(),
                "code": TRAINING_CODE_VERSION,
                "spaces": {k: {n: list(p) for n, p in v.items()} for k, v in SEARCH_SPACES.items()},
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    warehouse = Warehouse(settings.warehouse_path)

    version = find_model_version(MODEL_NAME, fingerprint)
    if version is not None:
        # same data, settings and code: the registered version and its zoo rows stand
        context.log.info(f"same data and settings as {MODEL_NAME} v{version}: reusing it")
        trained = registered_model(MODEL_NAME, version)
        zoo = warehouse.query(
            "select * from model_zoo where model_version = ? order by candidate", [version]
        )
    else:
        features = feature_names(settings.training_set_path)
        selected = round_rows(
            read_columns(settings.training_set_path, ["symbol", "date"]), zoo_config
        )
        context.log.info(
            f"reading {len(selected.rows)} rows of the training set: the development rows "
            f"{'sampled by date to ' if selected.n_sampled < selected.n_development else ''}"
            f"{selected.n_sampled} of {selected.n_development} "
            f"(max_train_rows {config.max_train_rows}), float32 features"
        )
        frame, oracle_col = _round_frame(settings, features, selected.rows, config.target)
        # handed over, not kept: the round frees the frame once it has its matrices
        handed_over = [frame]
        del frame
        outcome = train_zoo(
            handed_over.pop(),
            features,
            zoo_config,
            label_ends=selected.label_ends,
            storage=settings.optuna_storage,
            oracle_col=oracle_col,
            log=context.log.info,
        )
        zoo = outcome.zoo
        chosen = zoo.set_index("candidate").loc[outcome.chosen]
        holdout = outcome.holdout
        tags = {
            "target": config.target,
            "candidate": outcome.chosen,
            "features": json.dumps(features),
            "n_features": str(len(features)),
            "feature_service": feature_service_of(settings.training_set_path),
            "data_version": data_version,
            "code_version": _git_commit(),
            "dagster_run_id": context.run_id,
            "test_start": str(holdout.test_start.date()),
            "test_end": str(holdout.test_end.date()),
            "n_trials": str(int(chosen["n_trials"])),
        }
        registered = log_and_register(
            outcome.model,
            model_name=MODEL_NAME,
            fingerprint=fingerprint,
            params=flatten_params(outcome.params),
            metrics={
                k: float(chosen[k])
                for k in ("cv_rank_ic", "test_ic", "test_rank_ic", "icir", "hac_t", "oracle_share")
                if math.isfinite(float(chosen[k]))
            },
            tags=tags,
            # 20 rows copied out: a column selection first would copy all the test rows
            input_example=outcome.test_frame.iloc[:20][["date", *features]].copy(),
            tables={"model_zoo": zoo, "folds": pd.DataFrame(outcome.folds)},
            child_runs={
                f"optuna_{family}": (
                    {"study": s.study_name, **s.best_params},
                    {
                        "best_cv_rank_ic": s.best_value,
                        "best_hac_t": s.best_hac_t,
                        "n_trials": s.n_trials,
                    },
                    s.trials,
                )
                for family, s in outcome.studies.items()
            },
        )
        context.log.info(
            f"registered {MODEL_NAME} v{registered.version} ({outcome.chosen}, {registered.alias})"
        )
        trained = registered_model(MODEL_NAME, registered.version)
        zoo = zoo.assign(
            model_version=registered.version, created_at=datetime.now(UTC).replace(tzinfo=None)
        )
        warehouse.replace_rows("model_zoo", zoo, {"model_version": registered.version})
    return dg.Output(
        trained,
        metadata={
            "model_version": trained.version,
            "candidate": trained.candidate,
            "alias": trained.alias or "",
            "mlflow_run_id": trained.run_id,
            "fingerprint": fingerprint,
            "model_zoo": _zoo_table(zoo),
        },
        data_version=dg.DataVersion(fingerprint),
    )


@dg.asset(
    group_name="models",
    kinds={"mlflow"},
    code_version=SCORING_CODE,
    description=(
        "The promotion gate: the new version becomes `champion` only if its rank IC beats "
        "the current champion's on the same test rows by the configured margin. Outputs "
        "the champion after the decision, which every scoring asset uses."
    ),
)
def champion_model(
    context: dg.AssetExecutionContext,
    config: GateConfig,
    settings: dg.ResourceParam[Settings],
    model_zoo: TrainedModel,
) -> dg.Output[TrainedModel]:
    import pandas as pd

    from ml.gate import decide
    from ml.tracking import (
        CHALLENGER,
        CHAMPION,
        configure_mlflow,
        get_alias_version,
        load_model,
        record_on_version,
        set_alias,
        version_tags,
    )

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    champion = get_alias_version(MODEL_NAME, CHAMPION)
    challenger = model_zoo
    already = version_tags(MODEL_NAME, challenger.version).get("gate_promoted")
    if champion == challenger.version or already is not None:
        context.log.info(f"v{challenger.version} was already gated; champion is v{champion}")
        decision_tags = version_tags(MODEL_NAME, challenger.version)
    else:
        rows = _rows_since(
            settings,
            list(challenger.features),
            challenger.test_start,
            [challenger.scoring_label],
        )
        rows = rows.dropna(subset=[challenger.scoring_label])
        scored = pd.DataFrame({"date": rows["date"], "label": rows[challenger.scoring_label]})
        scored["challenger"] = load_model(MODEL_NAME, challenger.version).predict(rows)
        if champion is not None:
            incumbent = registered_model(MODEL_NAME, champion)
            # dates the champion was fitted on are not a fair test of it
            scored["champion"] = load_model(MODEL_NAME, champion).predict(rows)
            scored = scored[rows["date"] >= pd.Timestamp(incumbent.test_start)]
        decision = decide(
            scored,
            challenger_version=challenger.version,
            champion_version=champion,
            margin=config.margin,
            horizon=LABEL_HORIZONS[challenger.target],
        )
        context.log.info(f"gate: {decision.reason}")
        decision_tags = decision.as_tags()
        record_on_version(MODEL_NAME, challenger.version, decision_tags)
        if decision.promoted:
            set_alias(MODEL_NAME, CHAMPION, challenger.version)
        else:
            set_alias(MODEL_NAME, CHALLENGER, challenger.version)
    current = registered_model(
        MODEL_NAME, get_alias_version(MODEL_NAME, CHAMPION) or challenger.version
    )
    return dg.Output(
        current,
        metadata={
            "champion_version": current.version,
            "challenger_version": challenger.version,
            "mlflow_run_id": current.run_id,
            **{k: v for k, v in decision_tags.items() if k.startswith("gate_")},
        },
        # the same champion as before leaves what scores with it up to date
        data_version=dg.DataVersion(f"{current.name}:{current.version}"),
    )


@dg.asset(
    ins={"training_set": dg.AssetIn(key=training_set.key, dagster_type=dg.Nothing)},
    group_name="models",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    code_version=SCORING_CODE,
    description=(
        "Out-of-sample predictions of the champion for every (symbol, date) from the start "
        "of its test period, in the `predictions` table."
    ),
)
def predictions(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    champion_model: TrainedModel,
) -> dg.MaterializeResult:
    from ml.tracking import configure_mlflow, load_model

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    model = load_model(champion_model.name, champion_model.version)
    # Rows past the last label still get a prediction: they are tomorrow's signal.
    scoring = _rows_since(settings, list(champion_model.features), champion_model.test_start, [])
    out = scoring[["symbol", "date"]].copy()
    out["date"] = out["date"].dt.date
    out["model_name"] = champion_model.name
    out["model_version"] = champion_model.version
    out["prediction"] = model.predict(scoring)
    rows = Warehouse(settings.warehouse_path).replace_rows(
        "predictions",
        out,
        {"model_name": champion_model.name, "model_version": champion_model.version},
    )
    context.log.info(f"wrote {rows} predictions of {champion_model.name} v{champion_model.version}")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "model_version": champion_model.version,
            "mlflow_run_id": champion_model.run_id,
            "first_date": str(out["date"].min()),
            "last_date": str(out["date"].max()),
        }
    )


class WalkForwardSettings(dg.Config):
    step: int = Field(
        default=63, description="Business dates per block: the model is refitted this often."
    )
    min_train_dates: int = Field(
        default=250, description="Dates of history before the first out-of-sample date."
    )
    seed: int = Field(default=7, description="Seed of the boosters.")
    threads: int = Field(default=1, description="Threads per fit (fixed, for reproducibility).")
    max_train_rows: int = Field(
        default=ZooConfig.max_train_rows,
        description="Training rows of a block above which its boosters are fitted on a "
        "sample by date (as model_zoo's max_train_rows): every refit has the same cap.",
    )


WALK_FORWARD_COLUMNS = [
    "symbol",
    "date",
    "model_name",
    "model_version",
    "candidate",
    "block",
    "prediction",
]


def _stored_walk_forward(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    champion: TrainedModel,
    fingerprint: str,
) -> "pd.DataFrame | None":
    """The stored rows, when the last materialization had this fingerprint (None otherwise)."""
    import pandas as pd

    event = context.instance.get_latest_materialization_event(context.asset_key)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if "fingerprint" not in metadata or metadata["fingerprint"].value != fingerprint:
        return None
    rows = warehouse.query(
        "select symbol, date, block, candidate, prediction from walk_forward_predictions "
        "where model_name = ? and model_version = ? order by date, symbol, candidate",
        [champion.name, champion.version],
    )
    if rows.empty:
        return None
    return rows.assign(date=pd.to_datetime(rows["date"]))


@dg.asset(
    ins={"training_set": dg.AssetIn(key=training_set.key, dagster_type=dg.Nothing)},
    group_name="models",
    kinds={"lightgbm", "xgboost", "duckdb"},
    pool=WAREHOUSE_POOL,
    code_version=SCORING_CODE,
    description=(
        "Walk-forward out-of-sample predictions: the champion's candidate and "
        "hyperparameters refitted every `step` dates on an expanding, purged window, and "
        "the best single feature and ridge baselines refitted the same way, for every "
        "(symbol, date) after a year of burn-in, in `walk_forward_predictions`. Before the "
        "champion's test start the hyperparameters were tuned with those dates."
    ),
)
def walk_forward_predictions(
    context: dg.AssetExecutionContext,
    config: WalkForwardSettings,
    settings: dg.ResourceParam[Settings],
    champion_model: TrainedModel,
) -> dg.MaterializeResult:
    import pandas as pd

    from ml import walk_forward
    from ml.dataset import ParquetRows
    from ml.tracking import configure_mlflow, run_params

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    horizon = LABEL_HORIZONS[champion_model.target]
    label = champion_model.scoring_label
    rows = ParquetRows.open(
        settings.training_set_path,
        list(champion_model.features),
        labels=[champion_model.target, label],
    )
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "data": _file_digest(settings.training_set_path),
                "model": champion_model.run_id,
                "config": config.model_dump(),
                "code": TRAINING_CODE_VERSION,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    warehouse = Warehouse(settings.warehouse_path)
    stored = _stored_walk_forward(context, warehouse, champion_model, fingerprint)
    if stored is not None:
        context.log.info("same training set, champion and settings: reusing the stored rows")
        out = stored
    else:
        out = walk_forward.walk_forward_predictions(
            rows,
            candidate=champion_model.candidate,
            params=run_params(champion_model.run_id),
            target=champion_model.target,
            horizon=horizon,
            config=walk_forward.WalkForwardConfig(
                step=config.step,
                min_train_dates=config.min_train_dates,
                seed=config.seed,
                threads=config.threads,
                max_train_rows=config.max_train_rows,
            ),
            log=context.log.info,
        )
    labels, _ = _with_oracle(settings, rows.keys[["symbol", "date", label]], label)
    per_block, overall = walk_forward.block_rank_ic(out, labels, label, horizon)
    # from the champion's test start on, hyperparameters did not see the dates either
    _, test_period = walk_forward.block_rank_ic(
        out[out["date"] >= pd.Timestamp(champion_model.test_start)], labels, label, horizon
    )
    table = out.assign(
        # Arrow dates, not one Python date object per row (20M rows at 3,000 symbols)
        date=out["date"].astype("date32[pyarrow]"),
        model_name=champion_model.name,
        model_version=champion_model.version,
    )[WALK_FORWARD_COLUMNS]
    rows = (
        len(table)
        if stored is not None
        else warehouse.replace_rows(
            "walk_forward_predictions",
            table,
            {"model_name": champion_model.name, "model_version": champion_model.version},
        )
    )
    first, last = out["date"].min(), out["date"].max()
    years = (last - first).days / 365.25
    blocks = int(out["block"].nunique())
    context.log.info(
        f"walk-forward {first.date()}..{last.date()} ({years:.2f} years, "
        f"{blocks} blocks), mean daily rank IC: "
        + ", ".join(f"{r.candidate} {r.rank_ic:.4f}" for r in overall.itertuples())
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": champion_model.version,
            "mlflow_run_id": champion_model.run_id,
            "candidate": champion_model.candidate,
            "fingerprint": fingerprint,
            "rows": rows,
            "blocks": blocks,
            "first_oos_date": str(first.date()),
            "last_oos_date": str(last.date()),
            "years": round(years, 2),
            "hyperparameters_tuned_until": champion_model.test_start,
            "rank_ic": _table(overall),
            "rank_ic_test_period": _table(test_period),
            "rank_ic_by_block": _table(per_block.astype({"start": str, "end": str})),
        }
    )


_CHAMPION_SCORES = """
    with walk_forward as (
        select symbol, date, candidate, prediction from walk_forward_predictions
        where model_name = $name and model_version = $version
    )
    select * from walk_forward
    union all
    select symbol, date, $candidate as candidate, prediction from predictions
    where model_name = $name and model_version = $version
      and date > (select max(date) from walk_forward)
"""


def _champion_parameters(champion: TrainedModel) -> dict[str, str]:
    return {"name": champion.name, "version": champion.version, "candidate": champion.candidate}


def champion_scores(
    warehouse: Warehouse, champion: TrainedModel, candidate: str | None = None
) -> "pd.DataFrame":
    """The scores a book of ``champion`` is built from: its walk-forward predictions
    (symbol, date, candidate, prediction; baselines included), extended by its live
    scores, the `predictions` rows `signals` stores each night for the dates after the
    walk-forward's last one, under the champion's candidate. With ``candidate``, that
    candidate's rows only.

    A nightly run does not refit the walk-forward; the days it brings are scored by the
    champion as deployed, which was fitted before them, so they stay out of sample. The
    next full build refits the walk-forward over those days and the live rows drop out of
    the union. The baselines are not extended: their books hold cash on live days.
    """
    chosen = "" if candidate is None else "where candidate = $chosen"
    return warehouse.query(
        f"select * from ({_CHAMPION_SCORES}) {chosen} order by candidate, date, symbol",
        _champion_parameters(champion) | ({} if candidate is None else {"chosen": candidate}),
    )


def champion_score_grids(warehouse: Warehouse, champion: TrainedModel) -> "dict[str, pd.DataFrame]":
    """``champion_scores`` as one (dates x symbols) frame per candidate, on the dates and
    symbols of all of them (NaN where a candidate has no score), read as numeric
    positions (`Warehouse.grids`): the 21M long rows at 3,000 symbols x 10 years would
    take 3.4 GiB in pandas."""
    import pandas as pd

    from orchestration.warehouse import quote_identifier, quote_literal

    parameters = _champion_parameters(champion)
    candidates = warehouse.query(
        f"select distinct candidate from ({_CHAMPION_SCORES}) order by candidate", parameters
    )["candidate"].to_list()
    # one row per (symbol, date), a column per candidate
    columns = ", ".join(
        f"max(prediction) filter (where candidate = {quote_literal(c)}) as {quote_identifier(c)}"
        for c in candidates
    )
    dates, symbols, grids = warehouse.grids(
        f"select symbol, date, {columns} from ({_CHAMPION_SCORES}) group by symbol, date",
        candidates,
        parameters,
    )
    return {c: pd.DataFrame(grids[c], index=dates, columns=symbols) for c in candidates}


def champion_scores_digest(warehouse: Warehouse, champion: TrainedModel) -> int:
    """An order-free digest of every row ``champion_scores`` returns."""
    return int(
        warehouse.query(
            f"select bit_xor(hash(symbol, date, candidate, prediction)) as digest "
            f"from ({_CHAMPION_SCORES})",
            _champion_parameters(champion),
        ).iloc[0]["digest"]
    )


@dg.asset(
    deps=[predictions, "fct_labels", "signals"],
    group_name="models",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    code_version=SCORING_CODE,
    description=(
        "Out-of-sample skill of the model (IC, rank IC, ICIR, hit rate) in `model_metrics`, "
        "over every labelled day of `predictions` (the nightly live scores included)."
    ),
)
def model_metrics(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    champion_model: TrainedModel,
) -> dg.MaterializeResult:
    import pandas as pd

    from ml.metrics import ic_summary

    warehouse = Warehouse(settings.warehouse_path)
    scored = warehouse.query(
        f"""
        select p.symbol, p.date, p.prediction, l.{champion_model.scoring_label} as label
        from predictions p join fct_labels l using (symbol, date)
        where p.model_name = ? and p.model_version = ?
          and l.{champion_model.scoring_label} is not null
        """,
        [champion_model.name, champion_model.version],
    )
    scored, oracle_col = _with_oracle(settings, scored, champion_model.scoring_label)
    summary = ic_summary(scored, pred_col="prediction", label_col="label", oracle_col=oracle_col)
    row = pd.DataFrame(
        [
            {
                "model_name": champion_model.name,
                "model_version": champion_model.version,
                "target": champion_model.target,
                "ic": summary["ic"],
                "rank_ic": summary["rank_ic"],
                "icir": summary["icir"],
                "hit_rate": summary["hit_rate"],
                # the oracle (the label's expectation) is known only for simulated data
                "oracle_ic": summary["oracle_ic"] if oracle_col is not None else None,
                "n_dates": int(summary["n_dates"]),
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            }
        ]
    )
    row["oracle_ic"] = row["oracle_ic"].astype("float64")
    warehouse.replace_rows(
        "model_metrics",
        row,
        {"model_name": champion_model.name, "model_version": champion_model.version},
    )
    context.log.info(
        f"out-of-sample IC {summary['ic']:.4f}, rank IC {summary['rank_ic']:.4f}, "
        f"ICIR {summary['icir']:.3f} over {int(summary['n_dates'])} dates"
    )
    return dg.MaterializeResult(
        metadata={
            k: number(k, float(summary[k]))
            for k in ("ic", "rank_ic", "icir", "hit_rate", "oracle_ic")
        }
        | {"model_version": champion_model.version, "mlflow_run_id": champion_model.run_id}
    )


class SignalsConfig(dg.Config):
    top_k: int = Field(default=10, description="Names held (the backtest's construction).")
    rebalance_every: int = Field(
        default=0, description="Trading days between rebalances; 0 matches the label horizon."
    )
    n_drop: int = Field(default=5, description="Holding buffer, as in the backtest.")


@dg.asset(
    deps=["latest_features", "walk_forward_predictions", predictions],
    group_name="models",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    code_version=SCORING_CODE,
    description=(
        "Tomorrow's target weights: the champion scores the online features of every "
        "symbol (latest_features), and the backtest's construction (top k, holding buffer, "
        "rebalancing at the label's horizon) runs over its walk-forward scores up to today. "
        "One row per symbol in `signals`, dated the business day the weights are for. The "
        "scores are stored in `predictions` too (the feature date's rows of the champion), "
        "which extends the backtest and the metrics night by night without a refit."
    ),
)
def signals(
    context: dg.AssetExecutionContext,
    config: SignalsConfig,
    settings: dg.ResourceParam[Settings],
    champion_model: TrainedModel,
) -> dg.MaterializeResult:
    import pandas as pd

    from backtests.config import PortfolioSpec
    from backtests.construction import held_after, spec_book
    from ml.tracking import configure_mlflow, load_model

    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    latest = pd.read_parquet(settings.latest_features_path).dropna(subset=["date"])
    as_of = pd.Timestamp(latest["date"].max())
    # a symbol whose newest features are older than the newest date is not scored
    current = latest[latest["date"] == as_of].reset_index(drop=True)
    scored = current[["symbol", "date"]].assign(
        score=load_model(champion_model.name, champion_model.version).predict(current)
    )
    warehouse = Warehouse(settings.warehouse_path)
    live = scored[["symbol"]].assign(
        date=as_of.date(),
        model_name=champion_model.name,
        model_version=champion_model.version,
        prediction=scored["score"],
    )
    warehouse.replace_rows(
        "predictions",
        live,
        {
            "date": as_of.date(),
            "model_name": champion_model.name,
            "model_version": champion_model.version,
        },
    )
    history = champion_scores(warehouse, champion_model, champion_model.candidate)
    history = history[pd.to_datetime(history["date"]) < as_of].rename(
        columns={"prediction": "score"}
    )
    scores = pd.concat(
        [history[["symbol", "date", "score"]], scored[["symbol", "date", "score"]]],
        ignore_index=True,
    )
    scores["date"] = pd.to_datetime(scores["date"])
    wide = scores.pivot(index="date", columns="symbol", values="score").sort_index()
    spec = PortfolioSpec(
        top_k=config.top_k,
        rebalance_every=config.rebalance_every or LABEL_HORIZONS[champion_model.target],
        n_drop=config.n_drop,
    )
    weights = pd.Series(held_after(spec_book(wide.to_numpy(), spec, None)), index=wide.columns)
    for_date = (as_of + pd.offsets.BDay(1)).date()
    out = pd.DataFrame(
        {
            "symbol": scored["symbol"],
            "date": for_date,
            "model_name": champion_model.name,
            "model_version": champion_model.version,
            "score": scored["score"],
            "target_weight": scored["symbol"].map(weights).fillna(0.0).to_numpy(),
        }
    )
    warehouse.replace_rows("signals", out, {"date": for_date, "model_name": champion_model.name})
    held = out[out["target_weight"] > 0].sort_values("score", ascending=False)
    context.log.info(f"signals for {for_date}: {', '.join(held['symbol'])}")
    return dg.MaterializeResult(
        metadata={
            "for_date": str(for_date),
            "features_as_of": str(as_of.date()),
            "model_version": champion_model.version,
            "mlflow_run_id": champion_model.run_id,
            "symbols_scored": len(out),
            "holdings": dg.MetadataValue.md(held.round(4).to_markdown(index=False)),
        }
    )


def _png_md(png: bytes, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
    )


def _table(frame: "pd.DataFrame") -> dg.TableMetadataValue:
    records = [
        dg.TableRecord(
            {k: (_finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()}
        )
        for r in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records)


@dg.asset(
    deps=[predictions, "fct_labels"],
    group_name="models",
    kinds={"lightgbm", "xgboost"},
    pool=WAREHOUSE_POOL,
    code_version=SCORING_CODE,
    description=(
        "The champion's test-period evaluation: daily rank IC with its Newey-West t, mean "
        "forward return by prediction decile, gain and SHAP importance (top 20), as "
        "tables and plots."
    ),
)
def model_evaluation(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    champion_model: TrainedModel,
) -> dg.MaterializeResult:
    from ml.evaluation import decile_returns, ic_series, importance, plot_png
    from ml.tracking import configure_mlflow, load_model

    label = champion_model.scoring_label
    scored = Warehouse(settings.warehouse_path).query(
        f"""
        select p.date, p.prediction, l.{label} as label
        from predictions p join fct_labels l using (symbol, date)
        where p.model_name = ? and p.model_version = ? and l.{label} is not null
        """,
        [champion_model.name, champion_model.version],
    )
    series, hac_t = ic_series(scored, LABEL_HORIZONS[champion_model.target])
    deciles = decile_returns(scored)
    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    model = load_model(champion_model.name, champion_model.version)
    # the mean |SHAP| of a feature is an average: a sample by date estimates it, and exact
    # tree SHAP of millions of rows would take longer than the model's training
    test = _rows_since(
        settings,
        list(champion_model.features),
        champion_model.test_start,
        [],
        max_rows=SHAP_MAX_ROWS,
    )
    ranked = importance(model.members, test, list(champion_model.features))
    context.log.info(
        f"v{champion_model.version}: mean daily rank IC {series['rank_ic'].mean():.4f}, "
        f"HAC t {hac_t:.2f} over {len(series)} dates"
    )
    title = f"{champion_model.name} v{champion_model.version}"
    importance_png = plot_png("importance", ranked, f"{title}: top {len(ranked)} by SHAP")
    # the backtest's report shows it in its model section
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / f"importance_{champion_model.version}.png").write_bytes(importance_png)
    return dg.MaterializeResult(
        metadata={
            "model_version": champion_model.version,
            "mlflow_run_id": champion_model.run_id,
            "mean_rank_ic": _finite_or_none(series["rank_ic"].mean()),
            "hac_t": _finite_or_none(hac_t),
            "n_dates": len(series),
            "decile_returns": _table(deciles),
            "importance": _table(ranked),
            "ic_plot": _png_md(plot_png("ic", series, f"{title}: daily rank IC"), "daily IC"),
            "decile_plot": _png_md(
                plot_png("deciles", deciles, f"{title}: mean {label} by decile"), "deciles"
            ),
            "importance_plot": _png_md(importance_png, "SHAP"),
        }
    )
