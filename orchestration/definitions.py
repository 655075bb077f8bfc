"""The one code location: every asset, check, job, schedule and resource of alphadag."""

import dagster as dg

from assets import backtest, feature_store, models
from assets.market_data import build_raw_ohlcv
from assets.transform import AlphadagDbtCli, build_dbt_models
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
    return dg.Definitions(
        assets=[
            build_raw_ohlcv(partitions_def),
            build_dbt_models(partitions_def),
            *dg.load_assets_from_modules([feature_store, models, backtest]),
        ],
        jobs=[job, refresh_job, ingest_job, retrain_job],
        schedules=[nightly_schedule(refresh_job, settings)],
        sensors=[
            build_inbox_sensor(settings, ingest_job, partitions_def),
            build_new_symbols_sensor(settings, ingest_job, partitions_def),
            build_retrain_sensor(settings, retrain_job),
        ],
        resources={
            "settings": settings,
            "dbt": AlphadagDbtCli(project_dir=DBT_PROJECT, dbt_executable=dbt_executable()),
            "io_manager": dg.FilesystemIOManager(base_dir=str(settings.dagster_home / "storage")),
        },
    )


defs = build_definitions(Settings.from_env())
