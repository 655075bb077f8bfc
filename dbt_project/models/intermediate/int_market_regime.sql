-- The equal-weight market of the universe, one row per date: its trend and volatility
-- regimes and its breadth. Every value uses dates up to the row's own.
-- Incremental: a run aggregates the window's dates only; its windows look back over the
-- stored dates before it, and the index level continues from the last stored one.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['date'], on_schema_change='fail') }}
{%- set window = partition_window() %}
-- stored dates a window's rows look back over: 252 dates of market_vol_20d, each of 21 returns
{%- set look_back = 320 %}
with

returns as (select * from {{ ref('int_returns') }} where {{ in_partition_window() }}),
trend as (select * from {{ ref('int_trend') }} where {{ in_partition_window() }}),

daily as (

    -- aggregates ordered by symbol accumulate in one order on every run (bit-identical)
    select
        date,
        avg(ret_1d order by symbol) as market_ret_1d,
        avg(case when close_to_sma_50 is not null then (close_to_sma_50 > 0)::int end order by symbol) as market_breadth_50,
        stddev_samp(ret_20d order by symbol) as market_dispersion_20d
    from returns
    left join trend using (symbol, date)
    group by date

),

stored as (

    -- the last stored dates before the window (none without a window)
    {%- if window is none %}
    select null::date as date, null::double as market_ret_1d, null::double as state_market_level, null::bigint as state_date_index
    where false
    {%- else %}
    select date, market_ret_1d, state_market_level, state_date_index
    from {{ this }}
    where date < '{{ window.start }}'
    order by date desc
    limit {{ look_back }}
    {%- endif %}

),

anchor as (

    -- the index level and position of the last stored date: 1 and -1 before the first
    select
        coalesce(arg_max(state_market_level, date), 1.0) as level,
        coalesce(max(state_date_index), -1) as date_index
    from stored

),

computed as (

    -- the equal-weight index, rebalanced daily, continuing from the anchor
    select
        daily.*,
        anchor.level * exp(sum(coalesce(ln(1 + market_ret_1d), 0)) over by_date) as market_level,
        anchor.date_index + row_number() over by_date as date_index
    from daily
    cross join anchor
    window by_date as (order by date rows between unbounded preceding and current row)

),

index_level as (

    select date, market_ret_1d, market_breadth_50, market_dispersion_20d, market_level, date_index, true as is_new
    from computed
    union all
    select date, market_ret_1d, null, null, state_market_level, state_date_index, false
    from stored

),

windows as (

    select
        *,
        {{ full_window('avg(market_level)', 'date_index', 50, partition_by='1') }} as market_sma_50,
        {{ full_window('avg(market_level)', 'date_index', 200, partition_by='1') }} as market_sma_200,
        market_level / lag(market_level, 20) over (order by date) - 1 as market_ret_20d,
        {{ full_window('stddev_samp(market_ret_1d)', 'date_index - 1', 20, partition_by='1') }} * sqrt(252) as market_vol_20d,
        {{ full_window('stddev_samp(market_ret_1d)', 'date_index - 1', 60, partition_by='1') }} * sqrt(252) as market_vol_60d
    from index_level

),

regimes as (

    select
        *,
        {{ full_window('avg(market_vol_20d)', 'date_index - 20', 252, partition_by='1') }} as market_vol_20d_mean_252
    from windows

)

select
    ----------  ids
    date,

    ----------  market returns
    market_ret_1d,
    market_ret_20d,

    ----------  trend regime
    market_level / market_sma_50 - 1 as market_close_to_sma_50,
    market_level / market_sma_200 - 1 as market_close_to_sma_200,
    case when market_sma_200 is not null then (market_level > market_sma_200)::int end as market_uptrend,

    ----------  volatility regime
    market_vol_20d,
    market_vol_60d,
    market_vol_20d / market_vol_60d as market_vol_ratio_20_60,
    case when market_vol_20d_mean_252 is not null then (market_vol_20d > market_vol_20d_mean_252)::int end as market_high_vol,

    ----------  breadth and dispersion
    market_breadth_50,
    market_dispersion_20d,

    ----------  state that incremental runs continue from (not features)
    market_level as state_market_level,
    date_index as state_date_index

from regimes
where is_new
