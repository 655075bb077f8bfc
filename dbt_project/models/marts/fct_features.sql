-- Features known after the close of `date`: every window ends at the current bar.
-- One row per bar of stg_ohlcv; each intermediate model holds one family.
-- Incremental: a run over a partition window replaces the window's rows only.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail', pre_hook='{{ bound_join_threads() }}', post_hook='{{ restore_threads() }}') }}
with

bars as (

    select symbol, date from {{ ref('int_bars') }}
    where {{ in_partition_window() }}

),

-- each family filtered to the window too, so no join builds on the whole history
returns as (select * from {{ ref('int_returns') }} where {{ in_partition_window() }}),
trend as (select * from {{ ref('int_trend') }} where {{ in_partition_window() }}),
momentum as (select * from {{ ref('int_momentum') }} where {{ in_partition_window() }}),
volatility as (select * from {{ ref('int_volatility') }} where {{ in_partition_window() }}),
volume as (select * from {{ ref('int_volume') }} where {{ in_partition_window() }}),
alpha158 as (select * from {{ ref('int_alpha158') }} where {{ in_partition_window() }}),
cross_section as (select * from {{ ref('int_cross_section') }} where {{ in_partition_window() }}),
market as (select * from {{ ref('int_market_regime') }} where {{ in_partition_window() }})

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
    market.* exclude (date, state_market_level, state_date_index)

from bars
left join returns using (symbol, date)
left join trend using (symbol, date)
left join momentum using (symbol, date)
left join volatility using (symbol, date)
left join volume using (symbol, date)
left join alpha158 using (symbol, date)
left join cross_section using (symbol, date)
left join market using (date)
