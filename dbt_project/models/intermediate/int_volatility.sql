-- Bollinger bands, Wilder's average true range and realized volatility.
-- Incremental: 60 bars of warm-up; the ATR continues from the stored one.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
with

bars as (

    {{ bars_with_warm_up(60) }}

),

anchors as (

    {{ anchor_state(['atr_14']) }}

),

ranges as (

    select
        *,
        greatest(high, prev_close) - least(low, prev_close) as true_range
    from bars

),

series as (

    -- one row per symbol: its true ranges in position order, for Wilder's average
    {{ series_by_symbol('ranges', ['true_range']) }}

),

wilder as (

    select
        symbol,
        unnest(dates) as date,
        unnest({{ ta_wilder('true_range_series', 'first_change_index', 14, anchor=anchor_of('atr_14', by_change=true)) }}) as atr_14
    from series
    left join anchors using (symbol)

),

windows as (

    select
        symbol,
        date,
        close,
        {{ full_window('avg(close)', 'bar_index', 20) }} as bb_middle_20,
        -- Bollinger uses the population standard deviation
        {{ full_window('stddev_pop(close)', 'bar_index', 20) }} as close_std_20,
        {{ full_window('stddev_samp(close / prev_close - 1)', 'change_index', 20) }} * sqrt(252) as vol_20d,
        {{ full_window('stddev_samp(close / prev_close - 1)', 'change_index', 60) }} * sqrt(252) as vol_60d,
        -- Parkinson's range estimator uses the high-low range, robust to the close's noise
        sqrt({{ full_window('avg(pow(ln(high / low), 2))', 'bar_index', 20) }} / (4 * ln(2)) * 252) as parkinson_vol_20d
    from ranges

),

volatility as (

    select *
    from windows
    inner join wilder using (symbol, date)
    where {{ in_partition_window('windows.date') }}

)

select
    ----------  ids
    symbol,
    date,

    ----------  Bollinger bands (20, 2)
    bb_middle_20 + 2 * close_std_20 as bb_upper_20,
    bb_middle_20,
    bb_middle_20 - 2 * close_std_20 as bb_lower_20,
    4 * close_std_20 / bb_middle_20 as bb_width_20,
    case when close_std_20 > 0 then (close - bb_middle_20 + 2 * close_std_20) / (4 * close_std_20) end as bb_pct_b_20,

    ----------  average true range (14, Wilder)
    atr_14,
    100 * atr_14 / close as natr_14,

    ----------  realized volatility (annualized)
    vol_20d,
    vol_60d,
    parkinson_vol_20d,
    vol_20d / vol_60d as vol_ratio_20_60

from volatility
