"""The one code location: every asset, check, job, schedule and resource of alphadag."""

import dagster as dg

from assets import backtest, feature_store, models
from assets.market_data import build_raw_ohlcv
from assets.transform import DbtRunner, build_dbt_models
from orchestration.alerts import build_run_failure_sensor
from orchestration.automation import apply_policies, nightly_freshness
from orchestration.jobs import build_everything_job, daily_refresh_job, nightly_schedule
from orchestration.partitions import business_day_partitions
from orchestration.project import DBT_PROJECT, dbt_executable
from orchestration.retrain import build_retrain_job, build_retrain_sensor
from orchestration.sensors import build_inbox_sensor, build_ingest_job, build_new_symbols_sensor
from orchestration.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Assemble the graph for one configuration (tests build it on a temporary home)."""
    partitions_def = business_day_partitions(
        settings.start, None if settings.open_ended else settings.end
    )
    job = build_everything_job(partitions_def)
    refresh_job = daily_refresh_job(partitions_def)
    ingest_job = build_ingest_job(partitions_def)
    retrain_job = build_retrain_job()
    nightly = nightly_schedule(refresh_job, settings)
    # freshness only means something where new days keep arriving
    freshness = (
        nightly_freshness(str(nightly.cron_schedule), nightly.execution_timezone or "UTC")
        if settings.open_ended
        else None
    )
    return dg.Definitions(
        assets=apply_policies(
            [
                build_raw_ohlcv(partitions_def),
                build_dbt_models(partitions_def),
                *dg.load_assets_from_modules([feature_store, models, backtest]),
            ],
            freshness,
        ),
        jobs=[job, refresh_job, ingest_job, retrain_job],
        schedules=[nightly],
        sensors=[
            build_inbox_sensor(settings, ingest_job, partitions_def),
            build_new_symbols_sensor(settings, ingest_job, partitions_def),
            build_retrain_sensor(settings, retrain_job),
            build_run_failure_sensor(settings),
        ],
        resources={
            "settings": settings,
            "dbt": DbtRunner(
                project_dir=str(DBT_PROJECT.project_dir),
                profiles_dir=str(DBT_PROJECT.profiles_dir),
                dbt_executable=dbt_executable(),
            ),
            "io_manager": dg.FilesystemIOManager(base_dir=str(settings.dagster_home / "storage")),
        },
    )


defs = build_definitions(Settings.from_env())
