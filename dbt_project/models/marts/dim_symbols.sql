-- One row per symbol: its history in the warehouse and its recent liquidity.
with

bars as (

    select * from {{ ref('int_bars') }}

),

last_bars as (

    -- the newest 60 bars of each symbol
    select
        symbol,
        close * volume as dollar_volume
    from bars
    qualify row_number() over (partition by symbol order by date desc) <= 60

),

histories as (

    select
        symbol,
        min(date) as first_date,
        max(date) as last_date,
        count(*) as n_bars,
        arg_max(close, date) as last_close
    from bars
    group by symbol

),

liquidity as (

    select symbol, avg(dollar_volume) as avg_dollar_volume_60d
    from last_bars
    group by symbol

)

select
    ----------  ids
    symbol,

    ----------  history
    first_date,
    last_date,
    n_bars,
    last_date = max(last_date) over () as is_active,

    ----------  price and liquidity
    last_close,
    avg_dollar_volume_60d

from histories
left join liquidity using (symbol)
