"""Python functions the dbt feature models call inside DuckDB.

TA-Lib's recursive averages (EMA, Wilder's smoothing and running sums) are a recursion over
each series, which SQL window functions cannot express directly. `recursive.py` computes
them for many series at once with numpy; `duckdb_plugin.py` registers that as the SQL
function `ta_recursive_average` on every connection dbt opens (see profiles.yml).
"""
