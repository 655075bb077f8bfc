-- Moving averages, MACD and Wilder's directional movement (TA-Lib definitions).
-- Incremental: 199 bars of warm-up for the 200-bar SMA; the recursive averages continue
-- from the values stored on the last bar before the window.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
{%- set state = ['ema_12', 'ema_26', 'ema_50', 'state_macd_fast_ema_12', 'macd_signal',
                 'state_plus_dm_sum_14', 'state_minus_dm_sum_14', 'state_true_range_sum_14', 'adx_14'] %}
with

bars as (

    {{ bars_with_warm_up(199) }}

),

anchors as (

    {{ anchor_state(state) }}

),

directional as (

    -- TA-Lib's directional movement: only the larger of the two moves counts.
    select
        *,
        case
            when prev_high is null then null
            when high - prev_high > 0 and high - prev_high > prev_low - low then high - prev_high
            else 0
        end as plus_dm,
        case
            when prev_low is null then null
            when prev_low - low > 0 and high - prev_high < prev_low - low then prev_low - low
            else 0
        end as minus_dm,
        greatest(high, prev_close) - least(low, prev_close) as true_range
    from bars

),

series as (

    -- one row per symbol: its values in position order, for the recursive averages
    {{ series_by_symbol('directional', ['close', 'plus_dm', 'minus_dm', 'true_range']) }}

),

averages as (

    select
        *,
        {{ ta_ema('close_series', 'first_index', 12, anchor=anchor_of('ema_12')) }} as ema_12,
        {{ ta_ema('close_series', 'first_index', 26, anchor=anchor_of('ema_26')) }} as ema_26,
        {{ ta_ema('close_series', 'first_index', 50, anchor=anchor_of('ema_50')) }} as ema_50,
        -- TA-Lib's MACD seeds both averages on bar 25, where the 26-bar one can start:
        -- the 12-bar average starts from the mean of bars 14..25, not of bars 0..11.
        {{ ta_ema('close_series', 'first_index', 12, seed_at=25, anchor=anchor_of('state_macd_fast_ema_12')) }} as macd_fast_ema_12,
        {{ ta_wilder_sum('plus_dm_series', 'first_change_index', 14, seed_at=12, anchor=anchor_of('state_plus_dm_sum_14', by_change=true)) }} as plus_dm_sum_14,
        {{ ta_wilder_sum('minus_dm_series', 'first_change_index', 14, seed_at=12, anchor=anchor_of('state_minus_dm_sum_14', by_change=true)) }} as minus_dm_sum_14,
        {{ ta_wilder_sum('true_range_series', 'first_change_index', 14, seed_at=12, anchor=anchor_of('state_true_range_sum_14', by_change=true)) }} as true_range_sum_14
    from series
    left join anchors using (symbol)

),

directional_index as (

    -- element by element over each symbol's lists (i is the 1-based position in the list)
    select
        *,
        list_transform(macd_fast_ema_12, (fast, i) -> fast - ema_26[i]) as macd_line,
        list_transform(true_range_sum_14, (range_sum, i) ->
            case
                when first_change_index + i - 1 < 13 or range_sum is null then null
                when range_sum = 0 then 0
                when plus_dm_sum_14[i] + minus_dm_sum_14[i] <> 0
                    then 100 * abs(plus_dm_sum_14[i] - minus_dm_sum_14[i]) / (plus_dm_sum_14[i] + minus_dm_sum_14[i])
                else 0
            end
        ) as dx_14
    from averages

),

signal as (

    select
        *,
        -- the signal line starts on bar 33 from the mean of MACD over bars 25..33
        {{ ta_ema('macd_line', 'first_index', 9, seed_at=33, anchor=anchor_of('macd_signal')) }} as macd_signal,
        {{ ta_wilder('dx_14', 'first_change_index', 14, seed_at=26, anchor=anchor_of('adx_14', by_change=true)) }} as adx_14
    from directional_index

),

recursive as (

    -- back to one row per bar
    select
        symbol,
        unnest(dates) as date,
        unnest(ema_12) as ema_12,
        unnest(ema_26) as ema_26,
        unnest(ema_50) as ema_50,
        unnest(macd_line) as macd_line,
        unnest(macd_signal) as macd_signal,
        unnest(macd_fast_ema_12) as macd_fast_ema_12,
        unnest(plus_dm_sum_14) as plus_dm_sum_14,
        unnest(minus_dm_sum_14) as minus_dm_sum_14,
        unnest(true_range_sum_14) as true_range_sum_14,
        unnest(adx_14) as adx_14
    from signal

),

windows as (

    select
        symbol,
        date,
        close,
        bar_index,
        change_index,
        {{ full_window('avg(close)', 'bar_index', 5) }} as sma_5,
        {{ full_window('avg(close)', 'bar_index', 10) }} as sma_10,
        {{ full_window('avg(close)', 'bar_index', 20) }} as sma_20,
        {{ full_window('avg(close)', 'bar_index', 50) }} as sma_50,
        {{ full_window('avg(close)', 'bar_index', 200) }} as sma_200,
        -- weights 1..20 from the oldest bar: sum(w * x) = sum(i * x) - (p - 20) * sum(x)
        case when bar_index >= 19 then
            ({{ trailing('sum(close * bar_index)', 20) }} - (bar_index - 20) * {{ trailing('sum(close)', 20) }}) / 210.0
        end as wma_20
    from bars

),

indicators as (

    select
        windows.*,
        recursive.* exclude (symbol, date),
        case when change_index >= 13 and true_range_sum_14 <> 0 then 100 * plus_dm_sum_14 / true_range_sum_14 end as plus_di_14,
        case when change_index >= 13 and true_range_sum_14 <> 0 then 100 * minus_dm_sum_14 / true_range_sum_14 end as minus_di_14
    from windows
    inner join recursive using (symbol, date)
    where {{ in_partition_window('windows.date') }}

)

select
    ----------  ids
    symbol,
    date,

    ----------  moving averages (price levels)
    sma_5,
    sma_10,
    sma_20,
    sma_50,
    sma_200,
    ema_12,
    ema_26,
    ema_50,
    wma_20,

    ----------  distances to the averages (scale-free)
    close / sma_20 - 1 as close_to_sma_20,
    close / sma_50 - 1 as close_to_sma_50,
    close / sma_200 - 1 as close_to_sma_200,
    close / ema_12 - 1 as close_to_ema_12,
    close / ema_26 - 1 as close_to_ema_26,
    sma_50 / sma_200 - 1 as sma_50_to_sma_200,

    ----------  MACD (12, 26, 9), from bar 33 as TA-Lib
    case when bar_index >= 33 then macd_line end as macd,
    macd_signal,
    case when bar_index >= 33 then macd_line - macd_signal end as macd_hist,
    case when bar_index >= 33 then (macd_line - macd_signal) / close end as macd_hist_to_close,

    ----------  directional movement (14)
    adx_14,
    plus_di_14,
    minus_di_14,

    ----------  recursion state that incremental runs continue from (not features)
    macd_fast_ema_12 as state_macd_fast_ema_12,
    plus_dm_sum_14 as state_plus_dm_sum_14,
    minus_dm_sum_14 as state_minus_dm_sum_14,
    true_range_sum_14 as state_true_range_sum_14

from indicators
