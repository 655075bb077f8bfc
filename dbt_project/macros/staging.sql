{#
  The lake's daily bars.

  stg_ohlcv globs every folder of the lake (`read_lake_glob`). An incremental run over a
  partition window needs only the window's bars (int_bars continues positions and previous
  values from its own last stored bar), so it reads the files of the window's date=...
  folders alone: with union_by_name, a glob over the whole lake opens every file's footer,
  a fixed cost that grows with the history instead of the partition.
#}

{#- The lake folder of raw_ohlcv (the source `lake.raw_ohlcv`), resolved when a model
    runs, so that the parsed project does not depend on the home. -#}
{% macro lake_ohlcv_root() -%}
    {{- env_var('ALPHADAG_HOME', '../data') ~ '/lake/raw/ohlcv' -}}
{%- endmacro %}

{#- The lake's files in the date folders between `start` and `end` (ISO dates, inclusive),
    listed when the model runs (an empty list at parse time). -#}
{% macro lake_ohlcv_files(start, end) -%}
    {%- set root = lake_ohlcv_root() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set listed = run_query(
        "select file from glob('" ~ root ~ "/date=*/*.parquet')"
        ~ " where file >= '" ~ root ~ "/date=" ~ start ~ "/'"
        ~ " and file < '" ~ root ~ "/date=" ~ end ~ "/~' order by file"
    ) -%}
    {{ return(listed.columns[0].values() | list) }}
{%- endmacro %}

{#- read_parquet over every file of the lake. -#}
{% macro read_lake_glob() -%}
    read_parquet('{{ lake_ohlcv_root() }}/date=*/*.parquet', hive_partitioning = false, union_by_name = true)
{%- endmacro %}

{#- read_parquet over a list of the lake's files, as read_lake_glob reads them all. -#}
{% macro read_lake_files(files) -%}
    read_parquet([{% for file in files %}'{{ file }}'{{ ', ' if not loop.last }}{% endfor %}], hive_partitioning = false, union_by_name = true)
{%- endmacro %}

{#- One row per (symbol, date) of `relation` (the lake's columns) with prices on one
    consistent adjusted scale: the body of stg_ohlcv, shared with int_bars' window read. -#}
{% macro staged_ohlcv(relation) %}
with


source as (

    select * from {{ relation }}

),

with_optional_columns as (

    -- adj_close is optional in the lake: a union by name with an empty row of the full
    -- schema adds it as null when no file carries it.
    select * from source
    union all by name
    select null::double as adj_close
    where false

),

renamed as (

    select
        ----------  ids
        cast(symbol as varchar) as symbol,
        cast(date as date) as date,

        ----------  numerics
        cast(open as double) as raw_open,
        cast(high as double) as raw_high,
        cast(low as double) as raw_low,
        cast(close as double) as raw_close,
        cast(volume as double) as raw_volume,
        cast(adj_close as double) as adj_close

    from with_optional_columns

),

adjusted as (

    -- The adjusted close already holds splits and dividends: scale the other prices by
    -- the same factor so that bars stay internally consistent, and never adjust twice.
    select
        *,
        coalesce(adj_close / nullif(raw_close, 0), 1.0) as adj_factor
    from renamed

)

select
    symbol,
    date,
    raw_open * adj_factor as open,
    raw_high * adj_factor as high,
    raw_low * adj_factor as low,
    raw_close * adj_factor as close,
    raw_volume / adj_factor as volume,
    raw_close,
    adj_factor
from adjusted
{% endmacro %}
