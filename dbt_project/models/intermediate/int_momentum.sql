-- Oscillators (TA-Lib definitions, each null until TA-Lib's lookback has passed).
-- Incremental: 20 bars of warm-up; Wilder's averages continue from the stored ones.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
with

bars as (

    {{ bars_with_warm_up(20) }}

),

anchors as (

    {{ anchor_state(['state_avg_gain_14', 'state_avg_loss_14']) }}

),

changes as (

    select
        *,
        greatest(close - prev_close, 0) as gain,
        greatest(prev_close - close, 0) as loss,
        {{ trailing('max(high)', 14) }} as highest_14,
        {{ trailing('min(low)', 14) }} as lowest_14,
        {{ trailing('avg(typical_price)', 14) }} as typical_price_sma_14,
        {{ trailing('list(typical_price)', 14) }} as typical_prices_14,
        lag(close, 10) over (partition by symbol order by date) as close_10_ago
    from bars

),

series as (

    -- one row per symbol: its gains and losses in position order, for Wilder's averages
    {{ series_by_symbol('changes', ['gain', 'loss']) }}

),

wilder as (

    select
        symbol,
        unnest(dates) as date,
        unnest({{ ta_wilder('gain_series', 'first_change_index', 14, anchor=anchor_of('state_avg_gain_14', by_change=true)) }}) as avg_gain_14,
        unnest({{ ta_wilder('loss_series', 'first_change_index', 14, anchor=anchor_of('state_avg_loss_14', by_change=true)) }}) as avg_loss_14
    from series
    left join anchors using (symbol)

),

smoothed as (

    -- CCI's mean deviation is taken from the current window's mean; computed here so that
    -- the 14-value lists do not travel through the later window passes
    select
        changes.* exclude (typical_prices_14),
        list_avg(list_transform(typical_prices_14, p -> abs(p - typical_price_sma_14))) as mean_deviation_14,
        avg_gain_14,
        avg_loss_14,
        case when bar_index >= 13 then
            case when highest_14 <> lowest_14 then 100 * (close - lowest_14) / (highest_14 - lowest_14) else 0 end
        end as fast_k_14
    from changes
    inner join wilder using (symbol, date)

),

fast_k_lags as (

    select
        *,
        lag(fast_k_14, 1) over by_symbol as fast_k_14_lag_1,
        lag(fast_k_14, 2) over by_symbol as fast_k_14_lag_2,
        lag(fast_k_14, 3) over by_symbol as fast_k_14_lag_3,
        lag(fast_k_14, 4) over by_symbol as fast_k_14_lag_4
    from smoothed
    window by_symbol as (partition by symbol order by date)

),

oscillators as (

    -- slow %K is the 3-bar mean of fast %K and %D the 3-bar mean of slow %K: both from the
    -- last five fast %K values, in one window pass instead of one pass per average
    select
        *,
        case when bar_index >= 15 then (fast_k_14 + fast_k_14_lag_1 + fast_k_14_lag_2) / 3 end as slow_k,
        case when bar_index >= 17 then (
            (fast_k_14 + fast_k_14_lag_1 + fast_k_14_lag_2) / 3
            + (fast_k_14_lag_1 + fast_k_14_lag_2 + fast_k_14_lag_3) / 3
            + (fast_k_14_lag_2 + fast_k_14_lag_3 + fast_k_14_lag_4) / 3
        ) / 3 end as slow_d
    from fast_k_lags

)

select
    ----------  ids
    symbol,
    date,

    ----------  oscillators
    case
        when avg_gain_14 + avg_loss_14 > 0 then 100 * avg_gain_14 / (avg_gain_14 + avg_loss_14)
        when avg_gain_14 is not null then 0
    end as rsi_14,
    -- STOCH(14, 3 SMA, 3 SMA): both lines start on bar 17, TA-Lib's lookback
    case when bar_index >= 17 then slow_k end as stoch_k,
    slow_d as stoch_d,
    case when bar_index >= 13 then
        case when highest_14 <> lowest_14 then -100 * (highest_14 - close) / (highest_14 - lowest_14) else 0 end
    end as willr_14,
    case when bar_index >= 13 then
        case
            when typical_price <> typical_price_sma_14 and mean_deviation_14 <> 0
                then (typical_price - typical_price_sma_14) / (0.015 * mean_deviation_14)
            else 0
        end
    end as cci_14,

    ----------  rate of change
    case when close_10_ago <> 0 then 100 * (close / close_10_ago - 1) end as roc_10,
    close - close_10_ago as mom_10,

    ----------  recursion state that incremental runs continue from (not features)
    avg_gain_14 as state_avg_gain_14,
    avg_loss_14 as state_avg_loss_14

from oscillators
where {{ in_partition_window() }}
