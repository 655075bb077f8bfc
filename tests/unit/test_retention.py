"""`alphadag gc` on a real SQLite Dagster instance."""

from pathlib import Path

import dagster as dg
import duckdb

from orchestration.retention import collect_garbage, compact_warehouse

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-05")


@dg.asset(partitions_def=DAYS)
def bars() -> None:
    """A daily partitioned asset: its partitions' newest materializations pin their runs."""


@dg.asset
def model() -> None:
    """An unpartitioned asset: only its newest materialization pins a run."""


def _run(instance: dg.DagsterInstance, job: str, partition: str | None = None) -> str:
    defs = dg.Definitions(
        assets=[bars, model],
        jobs=[
            dg.define_asset_job("bars_job", selection=[bars], partitions_def=DAYS),
            dg.define_asset_job("model_job", selection=[model]),
        ],
    )
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition
    )
    assert result.success
    return result.run_id


def test_old_runs_go_unless_they_hold_a_partitions_newest_materialization(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    dbt_target = tmp_path / "dbt_target"
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        day_1 = _run(instance, "bars_job", "2024-01-01")
        day_2_old = _run(instance, "bars_job", "2024-01-02")
        models = [_run(instance, "model_job") for _ in range(3)]
        day_2_new = _run(instance, "bars_job", "2024-01-02")
        for run_id in (day_2_old, models[0]):
            (dbt_target / f"dbt_models-{run_id[:7]}-abcdef0").mkdir(parents=True)
        (dbt_target / f"dbt_models-{day_2_new[:7]}-abcdef0").mkdir()
        shard = home / "history" / "runs" / f"{day_2_old}.db"
        assert shard.exists()

        report = collect_garbage(instance, home, dbt_target, keep=2)

        remaining = {run.run_id for run in instance.get_runs()}
        # kept: the 2 newest, and day 1's only run; gone: a superseded partition run and
        # model runs whose materializations are no longer the newest
        assert remaining == {day_2_new, models[2], day_1}
        assert (report.deleted_runs, report.kept_runs, report.kept_for_partitions) == (3, 3, 1)
        assert not shard.exists()
        assert instance.get_run_by_id(day_2_old) is None
        indexed = instance.fetch_materializations(dg.AssetKey("bars"), limit=10).records
        assert {record.run_id for record in indexed} == {day_1, day_2_new}
        assert [p.name for p in dbt_target.iterdir()] == [f"dbt_models-{day_2_new[:7]}-abcdef0"]
        assert report.bytes_after < report.bytes_before
        latest = instance.get_latest_materialization_event(dg.AssetKey("model"))
        assert latest is not None and latest.run_id == models[2]


def test_keep_everything_deletes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        run_ids = {_run(instance, "model_job") for _ in range(2)}
        report = collect_garbage(instance, home, tmp_path / "no_dbt_target", keep=5)
        assert report.deleted_runs == 0
        assert {run.run_id for run in instance.get_runs()} == run_ids


def _rebuilt_warehouse(path: Path) -> None:
    """A table rebuilt smaller, as a run rebuilds features: its old blocks stay as free space."""
    with duckdb.connect(str(path)) as con:
        for rows in (3_000_000, 1_000_000):
            con.execute(
                "create or replace table features as "
                f"select range as i, random() as x from range({rows})"
            )
            con.execute("checkpoint")


def test_compaction_returns_the_free_blocks_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    _rebuilt_warehouse(path)
    with duckdb.connect(str(path), read_only=True) as con:
        expected = con.execute(
            "select count(*), sum(i), bit_xor(hash(i, x)) from features"
        ).fetchone()
    with dg.DagsterInstance.ephemeral() as instance:
        before, after = compact_warehouse(instance, path, min_free_bytes=1024 * 1024)
        assert after < before * 0.6
        assert compact_warehouse(instance, path, min_free_bytes=1024 * 1024) is None  # compact
    with duckdb.connect(str(path), read_only=True) as con:
        assert (
            con.execute("select count(*), sum(i), bit_xor(hash(i, x)) from features").fetchone()
            == expected
        )
    assert list(tmp_path.iterdir()) == [path]


def test_compaction_waits_while_a_run_is_active_or_the_file_is_open(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    _rebuilt_warehouse(path)
    with dg.DagsterInstance.ephemeral() as instance:
        with duckdb.connect(str(path), read_only=True):
            assert compact_warehouse(instance, path, min_free_bytes=1024 * 1024) is None
        instance.add_run(
            dg.DagsterRun(job_name="build_everything", status=dg.DagsterRunStatus.STARTED)
        )
        assert compact_warehouse(instance, path, min_free_bytes=1024 * 1024) is None
