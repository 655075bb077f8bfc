-- Features known after the close of `date`: every window ends at the current bar.
-- One row per bar of stg_ohlcv; each intermediate model holds one family.
-- Incremental: a run over a partition window replaces the window's rows only.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
with

bars as (

    select symbol, date from {{ ref('int_bars') }}
    where {{ in_partition_window() }}

),

returns as (select * from {{ ref('int_returns') }}),
trend as (select * from {{ ref('int_trend') }}),
momentum as (select * from {{ ref('int_momentum') }}),
volatility as (select * from {{ ref('int_volatility') }}),
volume as (select * from {{ ref('int_volume') }}),
alpha158 as (select * from {{ ref('int_alpha158') }}),
cross_section as (select * from {{ ref('int_cross_section') }}),
market as (select * from {{ ref('int_market_regime') }})

select
    ----------  ids
    bars.symbol,
    bars.date,

    ----------  features, one family per model
    returns.* exclude (symbol, date),
    trend.* exclude (symbol, date, state_macd_fast_ema_12, state_plus_dm_sum_14, state_minus_dm_sum_14, state_true_range_sum_14),
    momentum.* exclude (symbol, date, state_avg_gain_14, state_avg_loss_14),
    volatility.* exclude (symbol, date),
    volume.* exclude (symbol, date),
    alpha158.* exclude (symbol, date),
    cross_section.* exclude (symbol, date),
    market.* exclude (date)

from bars
left join returns using (symbol, date)
left join trend using (symbol, date)
left join momentum using (symbol, date)
left join volatility using (symbol, date)
left join volume using (symbol, date)
left join alpha158 using (symbol, date)
left join cross_section using (symbol, date)
left join market using (date)
