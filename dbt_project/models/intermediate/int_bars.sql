-- Each bar with its position in the symbol's series and the previous bar's values, the
-- common input of every intermediate feature model.
with

bars as (

    select symbol, date, open, high, low, close, volume
    from {{ ref('stg_ohlcv') }}

),

sequenced as (

    select
        *,
        row_number() over by_symbol - 1 as bar_index,
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
