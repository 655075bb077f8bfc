-- Qlib's Alpha158 factors (names lower-cased), from its expressions:
--   * rolling windows are partial at the start of a series, as Qlib's min_periods=1;
--   * Std is the sample std; ROC is the past close over today's close;
--   * IdxMax/IdxMin count from the oldest bar of the window, 1-based, the oldest of ties;
--   * Slope, Rsquare and Resi regress the value on the bar's position in the window;
--   * daily bars carry no VWAP, so vwap0 uses the typical price (high + low + close) / 3.
-- Incremental: 60 bars of warm-up for the longest window.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['symbol', 'date'], on_schema_change='fail') }}
{%- set windows = [5, 10, 20, 30, 60] %}
{%- set eps = '1e-12' %}
with

bars as (

    {{ bars_with_warm_up(60) }}

),

steps as (

    select
        *,
        close - prev_close as close_change,
        volume - prev_volume as volume_change,
        abs(close / prev_close - 1) * volume as weighted_volume,
        ln(volume + 1) as log_volume,
        close / prev_close as close_ratio,
        ln(volume / prev_volume + 1) as log_volume_ratio,
        -- pandas compares a missing previous close as False, so the first bar counts 0
        coalesce(close > prev_close, false)::int as is_up,
        coalesce(close < prev_close, false)::int as is_down
    from bars

),

rolling as (

    select
        symbol,
        date,
        bar_index,
        open,
        high,
        low,
        close,
        volume,
        typical_price,
        {{ trailing('list(close)', 60) }} as closes_60,
        {%- for d in windows %}

        lag(close, {{ d }}) over (partition by symbol order by date) as close_lag_{{ d }},
        {{ trailing('avg(close)', d) }} as close_mean_{{ d }},
        {{ trailing('stddev_samp(close)', d) }} as close_std_{{ d }},
        {{ trailing('regr_slope(close, bar_index)', d) }} as slope_{{ d }},
        {{ trailing('regr_intercept(close, bar_index)', d) }} as intercept_{{ d }},
        {{ trailing('regr_r2(close, bar_index)', d) }} as r2_{{ d }},
        {{ trailing('max(high)', d) }} as high_max_{{ d }},
        {{ trailing('min(low)', d) }} as low_min_{{ d }},
        {{ trailing('quantile_cont(close, 0.8)', d) }} as close_q80_{{ d }},
        {{ trailing('quantile_cont(close, 0.2)', d) }} as close_q20_{{ d }},
        {{ trailing('arg_max(bar_index, (high, -bar_index))', d) }} - greatest(bar_index - {{ d - 1 }}, 0) + 1 as high_argmax_{{ d }},
        {{ trailing('arg_min(bar_index, (low, bar_index))', d) }} - greatest(bar_index - {{ d - 1 }}, 0) + 1 as low_argmin_{{ d }},
        {{ trailing('corr(close, log_volume)', d) }} as corr_close_volume_{{ d }},
        {{ trailing('corr(close_ratio, log_volume_ratio)', d) }} as corr_changes_{{ d }},
        {{ trailing('avg(is_up)', d) }} as up_share_{{ d }},
        {{ trailing('avg(is_down)', d) }} as down_share_{{ d }},
        {{ trailing('sum(greatest(close_change, 0))', d) }} as gain_sum_{{ d }},
        {{ trailing('sum(greatest(-close_change, 0))', d) }} as loss_sum_{{ d }},
        {{ trailing('sum(abs(close_change))', d) }} as move_sum_{{ d }},
        {{ trailing('avg(volume)', d) }} as volume_mean_{{ d }},
        {{ trailing('stddev_samp(volume)', d) }} as volume_std_{{ d }},
        {{ trailing('stddev_samp(weighted_volume)', d) }} as weighted_volume_std_{{ d }},
        {{ trailing('avg(weighted_volume)', d) }} as weighted_volume_mean_{{ d }},
        {{ trailing('sum(greatest(volume_change, 0))', d) }} as volume_gain_sum_{{ d }},
        {{ trailing('sum(greatest(-volume_change, 0))', d) }} as volume_loss_sum_{{ d }},
        {{ trailing('sum(abs(volume_change))', d) }} as volume_move_sum_{{ d }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from steps

)

select
    ----------  ids
    symbol,
    date,

    ----------  candlestick shape
    (close - open) / open as kmid,
    (high - low) / open as klen,
    (close - open) / (high - low + {{ eps }}) as kmid2,
    (high - greatest(open, close)) / open as kup,
    (high - greatest(open, close)) / (high - low + {{ eps }}) as kup2,
    (least(open, close) - low) / open as klow,
    (least(open, close) - low) / (high - low + {{ eps }}) as klow2,
    (2 * close - high - low) / open as ksft,
    (2 * close - high - low) / (high - low + {{ eps }}) as ksft2,

    ----------  prices relative to the close
    open / close as open0,
    high / close as high0,
    low / close as low0,
    typical_price / close as vwap0,
    {%- for d in windows %}

    ----------  rolling statistics over {{ d }} bars
    close_lag_{{ d }} / close as roc{{ d }},
    close_mean_{{ d }} / close as ma{{ d }},
    close_std_{{ d }} / close as std{{ d }},
    slope_{{ d }} / close as beta{{ d }},
    r2_{{ d }} as rsqr{{ d }},
    (close - intercept_{{ d }} - slope_{{ d }} * bar_index) / close as resi{{ d }},
    high_max_{{ d }} / close as max{{ d }},
    low_min_{{ d }} / close as min{{ d }},
    close_q80_{{ d }} / close as qtlu{{ d }},
    close_q20_{{ d }} / close as qtld{{ d }},
    {{ rolling_rank('closes_60', 'close', d) }} as rank{{ d }},
    (close - low_min_{{ d }}) / (high_max_{{ d }} - low_min_{{ d }} + {{ eps }}) as rsv{{ d }},
    high_argmax_{{ d }} / {{ d }} as imax{{ d }},
    low_argmin_{{ d }} / {{ d }} as imin{{ d }},
    (high_argmax_{{ d }} - low_argmin_{{ d }}) / {{ d }} as imxd{{ d }},
    corr_close_volume_{{ d }} as corr{{ d }},
    corr_changes_{{ d }} as cord{{ d }},
    up_share_{{ d }} as cntp{{ d }},
    down_share_{{ d }} as cntn{{ d }},
    up_share_{{ d }} - down_share_{{ d }} as cntd{{ d }},
    gain_sum_{{ d }} / (move_sum_{{ d }} + {{ eps }}) as sump{{ d }},
    loss_sum_{{ d }} / (move_sum_{{ d }} + {{ eps }}) as sumn{{ d }},
    (gain_sum_{{ d }} - loss_sum_{{ d }}) / (move_sum_{{ d }} + {{ eps }}) as sumd{{ d }},
    volume_mean_{{ d }} / (volume + {{ eps }}) as vma{{ d }},
    volume_std_{{ d }} / (volume + {{ eps }}) as vstd{{ d }},
    weighted_volume_std_{{ d }} / (weighted_volume_mean_{{ d }} + {{ eps }}) as wvma{{ d }},
    volume_gain_sum_{{ d }} / (volume_move_sum_{{ d }} + {{ eps }}) as vsump{{ d }},
    volume_loss_sum_{{ d }} / (volume_move_sum_{{ d }} + {{ eps }}) as vsumn{{ d }},
    (volume_gain_sum_{{ d }} - volume_loss_sum_{{ d }}) / (volume_move_sum_{{ d }} + {{ eps }}) as vsumd{{ d }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}

from rolling
where {{ in_partition_window() }}
