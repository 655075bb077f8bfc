"""The `retrain` job (tune, train, evaluate, gate) and the sensor that requests it.

The sensor looks at the champion and the newest training set, and asks for a retrain
when any of these holds (thresholds in ``RetrainThresholds``):

- feature drift: the largest PSI of a model feature, last ``psi_window`` dates against
  the champion's development dates, reaches ``max_psi``;
- decaying skill: the champion's mean daily rank IC over its last ``live_ic_window``
  labelled dates after its training falls below ``min_live_ic``;
- new data: at least ``min_new_dates`` dates arrived after the champion's last date.

Its cursor (JSON: champion version, newest date, last measurements) and each request's
tags (the reasons) show in the UI. A run key of champion version and newest date keeps
it from asking twice for the same situation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import dagster as dg

from orchestration.settings import Settings

RETRAIN_JOB_NAME = "retrain"
REASONS_TAG = "alphadag/retrain_reasons"
RETRAIN_ASSETS = (
    "model_zoo",
    "champion_model",
    "predictions",
    "model_metrics",
    "model_evaluation",
    "walk_forward_predictions",
    "backtest",
)


@dataclass(frozen=True)
class RetrainThresholds:
    max_psi: float = 0.25
    psi_window: int = 21
    min_live_ic: float = 0.0
    live_ic_window: int = 63
    min_new_dates: int = 21


def build_retrain_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        RETRAIN_JOB_NAME,
        selection=dg.AssetSelection.assets(*RETRAIN_ASSETS),
        description="Tune, train and evaluate the model zoo, gate the new version, rescore.",
    )


def retrain_reasons(
    settings: Settings, thresholds: RetrainThresholds
) -> tuple[list[str], dict[str, object]]:
    """Why the champion should be retrained (empty: it should not), and what was measured.

    Raises LookupError when there is no champion or no training set yet.
    """
    import pandas as pd

    from assets.models import MODEL_NAME, registered_model
    from ml.monitoring import feature_psi, rolling_live_ic
    from ml.tracking import CHAMPION, configure_mlflow, get_alias_version, load_model

    if not settings.training_set_path.exists():
        raise LookupError("no training set yet")
    configure_mlflow(settings.mlflow_tracking_uri, settings.mlflow_dir / "artifacts")
    version = get_alias_version(MODEL_NAME, CHAMPION)
    if version is None:
        raise LookupError(f"{MODEL_NAME} has no champion yet")
    champion = registered_model(MODEL_NAME, version)
    frame = pd.read_parquet(settings.training_set_path)
    features = list(champion.features)
    dates = pd.DatetimeIndex(sorted(frame["date"].unique()))
    test_start, test_end = pd.Timestamp(champion.test_start), pd.Timestamp(champion.test_end)

    new_dates = int((dates > test_end).sum())
    psi = feature_psi(
        frame[frame["date"] < test_start],
        frame[frame["date"] >= dates[-min(thresholds.psi_window, len(dates))]],
        features,
    )
    after = frame[frame["date"] >= test_start].dropna(subset=[champion.scoring_label])
    scored = pd.DataFrame(
        {
            "date": after["date"],
            "label": after[champion.scoring_label],
            "prediction": load_model(MODEL_NAME, version).predict(after),
        }
    )
    live_ic, n_live = rolling_live_ic(scored, thresholds.live_ic_window)
    measured: dict[str, object] = {
        "champion": version,
        "newest_date": str(dates[-1].date()),
        "new_dates": new_dates,
        "max_psi": round(float(psi.iloc[0]), 4) if len(psi) else None,
        "max_psi_feature": str(psi.index[0]) if len(psi) else None,
        "live_rank_ic": round(live_ic, 4),
        "live_dates": n_live,
    }
    reasons = []
    if len(psi) and psi.iloc[0] >= thresholds.max_psi:
        reasons.append(
            f"feature drift: PSI {psi.iloc[0]:.2f} on {psi.index[0]} >= {thresholds.max_psi}"
        )
    if n_live and live_ic < thresholds.min_live_ic:
        reasons.append(f"live rank IC {live_ic:.4f} over {n_live} dates < {thresholds.min_live_ic}")
    if new_dates >= thresholds.min_new_dates:
        reasons.append(f"{new_dates} new dates >= {thresholds.min_new_dates}")
    return reasons, measured


def build_retrain_sensor(
    settings: Settings,
    job: dg.UnresolvedAssetJobDefinition,
    thresholds: RetrainThresholds = RetrainThresholds(),
) -> dg.SensorDefinition:
    @dg.sensor(
        name="retrain_when_stale",
        job=job,
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Requests `retrain` on feature drift (PSI), a champion whose live rank IC "
            "decays, or enough new dates; thresholds: "
            + ", ".join(f"{k}={v}" for k, v in asdict(thresholds).items())
        ),
    )
    def retrain_when_stale(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            reasons, measured = retrain_reasons(settings, thresholds)
        except LookupError as exc:
            return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)
        cursor = json.dumps({**measured, "reasons": reasons}, sort_keys=True)
        if not reasons:
            return dg.SensorResult(
                skip_reason=f"champion v{measured['champion']} is current: {measured}",
                cursor=cursor,
            )
        context.log.info(f"retrain: {'; '.join(reasons)}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"retrain-v{measured['champion']}-{measured['newest_date']}",
                    tags={REASONS_TAG: "; ".join(reasons)[:1000]},
                )
            ],
            cursor=cursor,
        )

    return retrain_when_stale
