-- Incremental: 60 bars of warm-up for the longest lag.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
with

bars as (

    {{ bars_with_warm_up(60) }}

),

returns as (

    select
        symbol,
        date,
        close / prev_close - 1 as ret_1d,
        close / lag(close, 5) over by_symbol - 1 as ret_5d,
        close / lag(close, 20) over by_symbol - 1 as ret_20d,
        close / lag(close, 60) over by_symbol - 1 as ret_60d,
        ln(close / prev_close) as log_ret_1d
    from bars
    window by_symbol as (partition by symbol order by date)

)

select * from returns
where {{ in_partition_window() }}
