-- One row per (symbol, date) with prices on one consistent adjusted scale.
with

source as (

    select * from {{ source('lake', 'raw_ohlcv') }}

),

with_optional_columns as (

    -- adj_close is optional in the lake: a union by name with an empty row of the full
    -- schema adds it as null when no file carries it.
    select * from source
    union all by name
    select null::double as adj_close
    where false

),

renamed as (

    select
        ----------  ids
        cast(symbol as varchar) as symbol,
        cast(date as date) as date,

        ----------  numerics
        cast(open as double) as raw_open,
        cast(high as double) as raw_high,
        cast(low as double) as raw_low,
        cast(close as double) as raw_close,
        cast(volume as double) as raw_volume,
        cast(adj_close as double) as adj_close

    from with_optional_columns

),

adjusted as (

    -- The adjusted close already holds splits and dividends: scale the other prices by
    -- the same factor so that bars stay internally consistent, and never adjust twice.
    select
        *,
        coalesce(adj_close / nullif(raw_close, 0), 1.0) as adj_factor
    from renamed

)

select
    symbol,
    date,
    raw_open * adj_factor as open,
    raw_high * adj_factor as high,
    raw_low * adj_factor as low,
    raw_close * adj_factor as close,
    raw_volume / adj_factor as volume,
    raw_close,
    adj_factor
from adjusted
