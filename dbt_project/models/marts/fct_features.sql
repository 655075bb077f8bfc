-- Features known after the close of `date`: every window ends at the current bar.
with

bars as (

    select
        symbol,
        date,
        close,
        volume,
        row_number() over (partition by symbol order by date) - 1 as bar_index
    from {{ ref('stg_ohlcv') }}

),

changes as (

    select
        *,
        close - lag(close) over by_symbol as change,
        close / lag(close) over by_symbol - 1 as ret_1d,
        close / lag(close, 5) over by_symbol - 1 as ret_5d,
        close / lag(close, 20) over by_symbol - 1 as ret_20d,
        -- changes start at the second bar
        bar_index - 1 as change_index
    from bars
    window by_symbol as (partition by symbol order by date)

),

gains_losses as (

    select
        *,
        greatest(change, 0) as gain,
        greatest(-change, 0) as loss
    from changes

),

indicators as (

    select
        symbol,
        date,
        close,
        ret_1d,
        ret_5d,
        ret_20d,

        ----------  trend
        {{ full_window('avg(close)', 'bar_index', 20) }} as sma_20,
        {{ ta_ema('close', 'bar_index', 12) }} as ema_12,

        ----------  momentum (Wilder-smoothed gains and losses)
        {{ ta_wilder('gain', 'change_index', 14) }} as avg_gain_14,
        {{ ta_wilder('loss', 'change_index', 14) }} as avg_loss_14,

        ----------  volatility and volume
        {{ full_window('stddev_samp(ret_1d)', 'change_index', 20) }} * sqrt(252) as vol_20d,
        volume / nullif({{ full_window('avg(volume)', 'bar_index', 20) }}, 0) as volume_ratio_20

    from gains_losses

)

select
    ----------  ids
    symbol,
    date,

    ----------  returns
    ret_1d,
    ret_5d,
    ret_20d,

    ----------  trend
    sma_20,
    ema_12,
    close / sma_20 - 1 as close_to_sma_20,
    close / ema_12 - 1 as close_to_ema_12,

    ----------  momentum
    case
        when avg_gain_14 + avg_loss_14 > 0 then 100 * avg_gain_14 / (avg_gain_14 + avg_loss_14)
        when avg_gain_14 is not null then 0
    end as rsi_14,

    ----------  volatility and volume
    vol_20d,
    volume_ratio_20

from indicators
