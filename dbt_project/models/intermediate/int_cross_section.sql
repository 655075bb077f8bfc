-- Per-date cross-sectional percentile ranks and z-scores: where a symbol stands among
-- the symbols that traded that day. Each uses that date's rows only.
{%- set ranked = [
    'ret_1d', 'ret_5d', 'ret_20d', 'ret_60d', 'close_to_sma_20', 'close_to_sma_50',
    'rsi_14', 'macd_hist_to_close', 'bb_pct_b_20', 'natr_14', 'vol_20d', 'volume_ratio_20',
] %}
-- Incremental: a date's ranks need that date's rows only.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
with

returns as (select * from {{ ref('int_returns') }}),
trend as (select * from {{ ref('int_trend') }}),
momentum as (select * from {{ ref('int_momentum') }}),
volatility as (select * from {{ ref('int_volatility') }}),
volume as (select * from {{ ref('int_volume') }}),

joined as (

    select
        symbol,
        date,
        {%- for column in ranked %}
        {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from returns
    left join trend using (symbol, date)
    left join momentum using (symbol, date)
    left join volatility using (symbol, date)
    left join volume using (symbol, date)
    where {{ in_partition_window('returns.date') }}

)

select
    ----------  ids
    symbol,
    date,
    {%- for column in ranked %}

    ----------  {{ column }}
    {{ cross_sectional_rank(column) }} as {{ column }}_cs_rank,
    {{ cross_sectional_zscore(column) }} as {{ column }}_cs_z
    {%- if not loop.last %},{% endif %}
    {%- endfor %}

from joined
