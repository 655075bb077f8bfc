"""The dbt vars a partition window becomes."""

from datetime import datetime

import dagster as dg

from assets.transform import partition_vars


def test_window_end_is_exclusive() -> None:
    window = dg.TimeWindow(datetime(2024, 3, 1), datetime(2024, 3, 4))  # Friday's partition
    assert partition_vars(window) == {"min_date": "2024-03-01", "max_date": "2024-03-03"}
