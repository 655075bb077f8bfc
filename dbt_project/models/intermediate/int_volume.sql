-- Volume indicators (TA-Lib definitions) and volume relative to its history.
-- Incremental: 20 bars of warm-up; OBV continues from the stored one.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
with

bars as (

    {{ bars_with_warm_up(20) }}

),

anchors as (

    {{ anchor_state(['obv']) }}

),

flows as (

    select
        *,
        -- money flow counts as positive or negative by the move of the typical price; like
        -- TA-Lib, a move within 1e-8 (rounding of (h + l + c) / 3) counts as no move. The
        -- previous typical price comes from the previous bar's values, as int_bars
        -- computes typical_price, so no window pass is needed here.
        case when typical_price - (prev_high + prev_low + prev_close) / 3 > 1e-8 then typical_price * volume else 0 end as positive_flow,
        case when typical_price - (prev_high + prev_low + prev_close) / 3 < -1e-8 then typical_price * volume else 0 end as negative_flow,
        case
            when bar_index = 0 then volume
            when close > prev_close then volume
            when close < prev_close then -volume
            else 0
        end as signed_volume
    from bars
    left join anchors using (symbol)

),

windows as (

    select
        symbol,
        date,
        volume,
        bar_index,
        {{ trailing('sum(positive_flow)', 14) }} as positive_flow_14,
        {{ trailing('sum(negative_flow)', 14) }} as negative_flow_14,
        -- from the stored value on the anchor bar when there is one, else from the first bar
        coalesce(max(anchor_obv) over (partition by symbol), 0)
            + sum(case when anchor_obv is null or bar_index > anchor_index then signed_volume end)
                over (partition by symbol order by date rows between unbounded preceding and current row) as obv,
        {{ full_window('avg(volume)', 'bar_index', 20) }} as volume_sma_20,
        {{ full_window('stddev_samp(volume)', 'bar_index', 20) }} as volume_std_20
    from flows

)

select
    ----------  ids
    symbol,
    date,

    ----------  TA-Lib
    case when bar_index >= 14 then
        case
            when positive_flow_14 + negative_flow_14 < 1 then 0
            else 100 * positive_flow_14 / (positive_flow_14 + negative_flow_14)
        end
    end as mfi_14,
    obv,

    ----------  relative volume
    volume / nullif(volume_sma_20, 0) as volume_ratio_20,
    (volume - volume_sma_20) / nullif(volume_std_20, 0) as volume_zscore_20

from windows
where {{ in_partition_window() }}
