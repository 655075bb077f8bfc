with

bars as (

    select * from {{ ref('int_bars') }}

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
