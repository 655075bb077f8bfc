-- Forward returns, the only columns that look ahead. They match how the backtest trades:
-- the signal is formed after the close of `date` and traded at the close of the next bar,
-- so the 1-day label is the return from close(t+1) to close(t+2).
with

bars as (

    select symbol, date, close
    from {{ ref('stg_ohlcv') }}

),

forward as (

    select
        symbol,
        date,
        lead(close, 2) over by_symbol / lead(close, 1) over by_symbol - 1 as fwd_ret_1d,
        lead(close, 6) over by_symbol / lead(close, 1) over by_symbol - 1 as fwd_ret_5d
    from bars
    window by_symbol as (partition by symbol order by date)

)

select
    symbol,
    date,
    fwd_ret_1d,
    fwd_ret_5d,
    -- cross-sectional percentile ranks (0 = worst, 1 = best) among names with a label
    case when fwd_ret_1d is not null then
        percent_rank() over (partition by date, fwd_ret_1d is null order by fwd_ret_1d)
    end as fwd_ret_1d_rank,
    case when fwd_ret_5d is not null then
        percent_rank() over (partition by date, fwd_ret_5d is null order by fwd_ret_5d)
    end as fwd_ret_5d_rank
from forward
