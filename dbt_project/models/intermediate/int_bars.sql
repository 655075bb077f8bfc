-- Each bar with its position in the symbol's series and the previous bar's values, the
-- common input of every intermediate feature model. Incremental: a run over a partition
-- window adds the window's bars, continuing positions from the last stored bar.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
{%- set window = partition_window() %}
with

bars as (

    {%- set files = lake_ohlcv_files(window.start, window.end) if window is not none else [] %}
    {%- if files | length == 0 %}
    select symbol, date, open, high, low, close, volume, null::bigint as stored_index
    from {{ ref('stg_ohlcv') }}
    {%- else %}
    -- stg_ohlcv over the window's lake folders only: no scan of the whole lake
    select symbol, date, open, high, low, close, volume, null::bigint as stored_index
    from ({{ staged_ohlcv(read_lake_files(files)) }}) as staged
    {%- endif %}
    {%- if window is not none %}
    where date between '{{ window.start }}' and '{{ window.end }}'

    union all

    -- the last stored bar before the window: the previous bar of the window's first
    select symbol, date, open, high, low, close, volume, bar_index as stored_index
    from {{ this }}
    where date < '{{ window.start }}'
    qualify row_number() over (partition by symbol order by date desc) = 1
    {%- endif %}

),

sequenced as (

    select
        *,
        row_number() over by_symbol - 1
            + coalesce(max(stored_index) over (partition by symbol), 0) as bar_index,
        lag(high) over by_symbol as prev_high,
        lag(low) over by_symbol as prev_low,
        lag(close) over by_symbol as prev_close,
        lag(volume) over by_symbol as prev_volume
    from bars
    window by_symbol as (partition by symbol order by date)

)

select
    ----------  ids
    symbol,
    date,

    ----------  bar
    open,
    high,
    low,
    close,
    volume,
    (high + low + close) / 3 as typical_price,

    ----------  position: TA-Lib counts bar-to-bar changes from the second bar
    bar_index,
    bar_index - 1 as change_index,

    ----------  previous bar
    prev_high,
    prev_low,
    prev_close,
    prev_volume

from sequenced
where stored_index is null
